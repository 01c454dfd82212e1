//! Cost-allocation tags: TagQueue, UntagQueue, ListQueueTags. Kept opaque by the engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Ctx, Output, map_queue_error, output};
use crate::error::{ErrorCode, SqsError, SqsResult};
use crate::params::{parse, required};

/// Most tags a queue carries.
pub const MAX_TAGS: usize = 50;

/// Checks tag keys (1–128 characters, not `aws:`), values (at most 256) and the count.
pub(crate) fn validate_tags(tags: &BTreeMap<String, String>) -> SqsResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(SqsError::new(
            ErrorCode::InvalidParameterValue,
            format!("Too many tags added for queue. A queue may have at most {MAX_TAGS} tags."),
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.chars().count() > 128 || key.to_ascii_lowercase().starts_with("aws:") {
            return Err(SqsError::invalid_value(
                "Tag.Key",
                key,
                "Tag keys must be 1 to 128 characters and must not start with aws:.",
            ));
        }
        if value.chars().count() > 256 {
            return Err(SqsError::invalid_value(
                "Tag.Value",
                value,
                "Tag values must be at most 256 characters.",
            ));
        }
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagQueueRequest {
    queue_url: Option<String>,
    tags: Option<BTreeMap<String, String>>,
}

pub(super) async fn tag_queue(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: TagQueueRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let tags = required(req.tags, "Tags")?;
    if tags.is_empty() {
        return Err(SqsError::missing("Tags"));
    }
    let name = ctx.queue_name(&url)?;
    let mut attrs = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    attrs.tags.extend(tags);
    validate_tags(&attrs.tags)?;
    ctx.queues.set_queue_attributes(name, attrs).await.map_err(map_queue_error)?;
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagQueueRequest {
    queue_url: Option<String>,
    tag_keys: Option<Vec<String>>,
}

pub(super) async fn untag_queue(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: UntagQueueRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let keys = required(req.tag_keys, "TagKeys")?;
    let name = ctx.queue_name(&url)?;
    let mut attrs = ctx.queues.queue_attributes(name).map_err(map_queue_error)?;
    for key in &keys {
        attrs.tags.remove(key);
    }
    ctx.queues.set_queue_attributes(name, attrs).await.map_err(map_queue_error)?;
    Ok(None)
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueueTagsRequest {
    queue_url: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ListQueueTagsResult {
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
}

pub(super) fn list_queue_tags(ctx: &Ctx, params: Map<String, Value>) -> SqsResult<Output> {
    let req: ListQueueTagsRequest = parse(params)?;
    let url = required(req.queue_url, "QueueUrl")?;
    let attrs = ctx.queues.queue_attributes(ctx.queue_name(&url)?).map_err(map_queue_error)?;
    output(ListQueueTagsResult { tags: attrs.tags })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_limits_are_enforced() {
        let ok: BTreeMap<_, _> = (0..50).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(validate_tags(&ok).is_ok());
        let many: BTreeMap<_, _> = (0..51).map(|i| (format!("k{i}"), "v".to_owned())).collect();
        assert!(validate_tags(&many).is_err());
        assert!(validate_tags(&BTreeMap::from([("aws:x".to_owned(), "v".to_owned())])).is_err());
        assert!(validate_tags(&BTreeMap::from([(String::new(), "v".to_owned())])).is_err());
        assert!(validate_tags(&BTreeMap::from([("k".to_owned(), "v".repeat(257))])).is_err());
    }
}
