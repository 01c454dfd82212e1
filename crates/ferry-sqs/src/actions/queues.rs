//! Queue lifecycle: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, PurgeQueue,
//! ListDeadLetterSourceQueues.

use std::collections::BTreeMap;

use ferry_broker::queues::{CreateOutcome, QueueAttributes};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::attributes::{Mode, apply};
use super::tags::validate_tags;
use super::{Ctx, Output, map_queue_error, output};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::names::validate_queue_name;
use crate::params::{in_range, opt_int, parse, required};

/// Most queue URLs one ListQueues or ListDeadLetterSourceQueues page returns.
const MAX_PAGE: i64 = 1000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateQueueRequest {
    queue_name: Option<String>,
    attributes: Option<BTreeMap<String, String>>,
    // JSON spells it `tags`; the query protocol's `Tag.N` arrives as `Tags`.
    #[serde(rename = "tags", alias = "Tags")]
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlResult {
    queue_url: String,
}

pub(super) async fn create_queue(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: CreateQueueRequest = parse(params)?;
    let name = required(req.queue_name, "QueueName")?;
    let sqs = req.attributes.unwrap_or_default();
    let fifo = sqs.get("FifoQueue").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    validate_queue_name(&name, fifo)?;
    let found = QueueUrlResult { queue_url: ctx.queue_url(&name) };
    if let Ok(existing) = ctx.queues.queue_attributes(&name) {
        // SQS compares only the attributes the caller names; a re-create that names none succeeds.
        let mut probe = existing.clone();
        apply(ctx, &name, &mut probe, &sqs, Mode::Create)?;
        if probe != existing {
            return Err(map_queue_error(ferry_broker::queues::QueueError::QueueExists(name)));
        }
        return output(found);
    }
    let mut attrs = QueueAttributes::default();
    apply(ctx, &name, &mut attrs, &sqs, Mode::Create)?;
    if let Some(tags) = req.tags {
        validate_tags(&tags)?;
        attrs.tags = tags;
    }
    match ctx.queues.create_queue(&name, attrs).await.map_err(map_queue_error)? {
        CreateOutcome::Created | CreateOutcome::Exists { same_attributes: true } => output(found),
        CreateOutcome::Exists { same_attributes: false } => {
            Err(map_queue_error(ferry_broker::queues::QueueError::QueueExists(name)))
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GetQueueUrlRequest {
    queue_name: Option<String>,
    #[serde(rename = "QueueOwnerAWSAccountId")]
    queue_owner_aws_account_id: Option<String>,
}

pub(super) fn get_queue_url(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: GetQueueUrlRequest = parse(params)?;
    let name = required(req.queue_name, "QueueName")?;
    if req.queue_owner_aws_account_id.is_some_and(|a| a != ctx.config.account_id) {
        return Err(SqsError::no_such_queue());
    }
    ctx.queues.queue_attributes(&name).map_err(map_queue_error)?;
    output(QueueUrlResult { queue_url: ctx.queue_url(&name) })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesRequest {
    queue_name_prefix: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    max_results: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueuesResult {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    queue_urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

/// One page of sorted `names` after the token's name; the token is the hex of the last name given.
fn page(
    mut names: Vec<String>,
    next_token: Option<String>,
    max_results: Option<i64>,
) -> SqsResult<(Vec<String>, Option<String>)> {
    names.sort();
    let max = max_results.map(|m| in_range("MaxResults", m, 1, MAX_PAGE)).transpose()?;
    let after = match next_token.filter(|t| !t.is_empty()) {
        Some(token) => {
            if max.is_none() {
                return Err(SqsError::new(
                    ErrorCode::InvalidParameterValue,
                    "MaxResults is a mandatory parameter when you provide a value for NextToken.",
                ));
            }
            let bytes = hex::decode(&token)
                .map_err(|_| SqsError::invalid_value("NextToken", &token, "Invalid token."))?;
            Some(
                String::from_utf8(bytes)
                    .map_err(|_| SqsError::invalid_value("NextToken", &token, "Invalid token."))?,
            )
        }
        None => None,
    };
    let rest: Vec<String> = names.into_iter().filter(|n| after.as_ref().is_none_or(|a| n > a)).collect();
    let limit = max.unwrap_or(MAX_PAGE) as usize;
    let more = max.is_some() && rest.len() > limit;
    let page: Vec<String> = rest.into_iter().take(limit).collect();
    let token = if more { page.last().map(hex::encode) } else { None };
    Ok((page, token))
}

pub(super) fn list_queues(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: ListQueuesRequest = parse(params)?;
    let names = ctx.queues.list_queues(req.queue_name_prefix.as_deref().filter(|p| !p.is_empty()));
    let (names, next_token) = page(names, req.next_token, req.max_results)?;
    output(ListQueuesResult { queue_urls: names.iter().map(|n| ctx.queue_url(n)).collect(), next_token })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct QueueUrlRequest {
    queue_url: Option<String>,
}

pub(super) async fn delete_queue(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: QueueUrlRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let name = ctx.queue_name(&url)?;
    ctx.queues.delete_queue(name).await.map_err(map_queue_error)?;
    Ok(None)
}

pub(super) async fn purge_queue(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: QueueUrlRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let name = ctx.queue_name(&url)?;
    ctx.queues.purge(name).await.map_err(map_queue_error)?;
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListDeadLetterSourceQueuesRequest {
    queue_url: Option<String>,
    next_token: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    max_results: Option<i64>,
}

#[derive(Serialize)]
struct ListDeadLetterSourceQueuesResult {
    #[serde(rename = "queueUrls")]
    queue_urls: Vec<String>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
}

pub(super) fn list_dead_letter_source_queues(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: ListDeadLetterSourceQueuesRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let name = ctx.queue_name(&url)?;
    ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    let (names, next_token) = page(ctx.queues.dead_letter_sources(name), req.next_token, req.max_results)?;
    output(ListDeadLetterSourceQueuesResult {
        queue_urls: names.iter().map(|n| ctx.queue_url(n)).collect(),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("q{i:02}")).rev().collect()
    }

    #[test]
    fn pages_follow_each_other_by_token() {
        let (first, token) = page(names(5), None, Some(2)).unwrap();
        assert_eq!(first, ["q00", "q01"]);
        let (second, token) = page(names(5), token, Some(2)).unwrap();
        assert_eq!(second, ["q02", "q03"]);
        let (third, token) = page(names(5), token, Some(2)).unwrap();
        assert_eq!(third, ["q04"]);
        assert_eq!(token, None);
    }

    #[test]
    fn without_max_results_everything_comes_without_token() {
        let (all, token) = page(names(5), None, None).unwrap();
        assert_eq!(all.len(), 5);
        assert_eq!(token, None);
    }

    #[test]
    fn token_without_max_results_and_bad_bounds_are_rejected() {
        assert!(page(names(3), Some(hex::encode("q00")), None).is_err());
        assert!(page(names(3), None, Some(0)).is_err());
        assert!(page(names(3), None, Some(1001)).is_err());
        assert!(page(names(3), Some("zz".into()), Some(1)).is_err());
    }
}
