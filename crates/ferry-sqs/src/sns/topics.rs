//! CreateTopic, DeleteTopic, ListTopics, GetTopicAttributes, SetTopicAttributes.

use std::collections::BTreeMap;

use ferry_broker::routing::{DeclareOutcome, ExchangeDef, ExchangeKind};

use super::catalog::{MAX_TAGS, Topic, TopicState};
use super::params::Params;
use super::xml::{attributes, el};
use super::{SnsCtx, SnsError, SnsResult, routing_error};

/// Topics per ListTopics page, as SNS pages them.
const PAGE: usize = 100;

/// Attributes a topic may be given, besides the feedback settings of each protocol.
const SETTABLE: &[&str] = &[
    "DisplayName",
    "Policy",
    "DeliveryPolicy",
    "KmsMasterKeyId",
    "SignatureVersion",
    "TracingConfig",
    "ContentBasedDeduplication",
    "FifoThroughputScope",
    "ArchivePolicy",
    "DataProtectionPolicy",
];

fn settable(name: &str) -> bool {
    SETTABLE.contains(&name) || name.ends_with("FeedbackRoleArn") || name.ends_with("FeedbackSampleRate")
}

fn boolean(name: &str, value: &str) -> SnsResult<String> {
    match value.to_ascii_lowercase().as_str() {
        v @ ("true" | "false") => Ok(v.to_owned()),
        _ => Err(SnsError::invalid(format!(
            "Invalid parameter: Attributes Reason: {name} must be true or false"
        ))),
    }
}

/// Checks one attribute of a topic (`fifo` says which kind) and gives the value kept.
fn check_attribute(fifo: bool, name: &str, value: &str) -> SnsResult<String> {
    match name {
        "ContentBasedDeduplication" => {
            if !fifo {
                return Err(SnsError::invalid(
                    "Invalid parameter: Attributes Reason: ContentBasedDeduplication is only valid for FIFO topics",
                ));
            }
            boolean(name, value)
        }
        "DisplayName" if value.len() > 100 => {
            Err(SnsError::invalid("Invalid parameter: DisplayName: at most 100 characters"))
        }
        "Policy" | "DeliveryPolicy" | "ArchivePolicy" | "DataProtectionPolicy" if !value.is_empty() => {
            match serde_json::from_str::<serde_json::Value>(value) {
                Ok(serde_json::Value::Object(_)) => Ok(value.to_owned()),
                _ => Err(SnsError::invalid(format!("Invalid parameter: {name}: not a JSON object"))),
            }
        }
        "SignatureVersion" if !matches!(value, "1" | "2") => {
            Err(SnsError::invalid("Invalid parameter: SignatureVersion: must be 1 or 2"))
        }
        _ if settable(name) => Ok(value.to_owned()),
        _ => Err(SnsError::invalid("Invalid parameter: AttributeName")),
    }
}

fn valid_name(name: &str, fifo: bool) -> bool {
    let base = if fifo { name.strip_suffix(".fifo") } else { Some(name) };
    base.is_some_and(|b| {
        !b.is_empty()
            && name.len() <= 256
            && b.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    })
}

pub(crate) async fn create_topic(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let name = params.required("Name")?;
    let given = params.map("Attributes")?;
    let fifo = match given.get("FifoTopic") {
        Some(v) => boolean("FifoTopic", v)? == "true",
        None => false,
    };
    if !valid_name(name, fifo) {
        let reason = if fifo || name.ends_with(".fifo") {
            "Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long."
        } else {
            "Topic Name"
        };
        return Err(SnsError::invalid(format!("Invalid parameter: {reason}")));
    }
    let mut state = TopicState::default();
    for (key, value) in &given {
        let kept = if key == "FifoTopic" { boolean(key, value)? } else { check_attribute(fifo, key, value)? };
        state.attributes.insert(key.clone(), kept);
    }
    if fifo {
        state.attributes.insert("FifoTopic".to_owned(), "true".to_owned());
        state.attributes.entry("ContentBasedDeduplication".to_owned()).or_insert_with(|| "false".to_owned());
    } else {
        state.attributes.remove("FifoTopic");
    }
    let tags = params.tags("Tags")?;
    check_tags(&tags)?;
    state.tags = tags.into_iter().collect();
    let _catalog = ctx.catalog.lock().await;
    let router = ctx.broker.router();
    if router.exchange(name).is_some() {
        let Some(topic) = ctx.topic(name) else {
            return Err(SnsError::invalid(format!(
                "Invalid parameter: Name Reason: an exchange named {name} exists and is not a topic"
            )));
        };
        // FifoTopic=false is how a standard topic is asked for too (kombu does).
        let differs = topic.fifo() != fifo
            || given.iter().filter(|(k, _)| *k != "FifoTopic").any(|(k, v)| {
                let current = topic.state.attributes.get(k).map(String::as_str);
                let wanted =
                    if k == "ContentBasedDeduplication" { v.to_ascii_lowercase() } else { v.clone() };
                current != Some(wanted.as_str())
            });
        if differs {
            return Err(SnsError::invalid(
                "Invalid parameter: Attributes Reason: Topic already exists with different attributes",
            ));
        }
        if state.tags.iter().any(|(k, v)| topic.state.tags.get(k) != Some(v)) {
            return Err(SnsError::invalid(
                "Invalid parameter: Tags Reason: Topic already exists with different tags",
            ));
        }
        return Ok(el("TopicArn", &ctx.topic_arn(name)));
    }
    if ctx.topics().len() >= ctx.config.sns_max_topics {
        return Err(SnsError::new(
            "TopicLimitExceeded",
            403,
            format!("Topic limit exceeded: at most {} topics (sns_max_topics)", ctx.config.sns_max_topics),
        ));
    }
    let topic = Topic { name: name.to_owned(), state };
    let def = ExchangeDef { arguments: topic.arguments(), ..ExchangeDef::new(name, ExchangeKind::Fanout) };
    match router.declare_exchange(def, false).map_err(routing_error)? {
        DeclareOutcome::Created => tracing::info!(topic = %name, fifo, "topic created"),
        DeclareOutcome::Existed => {}
    }
    Ok(el("TopicArn", &ctx.topic_arn(name)))
}

pub(crate) fn check_tags(tags: &[(String, String)]) -> SnsResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(SnsError::new(
            "TagLimitExceeded",
            400,
            format!("Could not complete request: tag quota of per resource exceeded (at most {MAX_TAGS})"),
        ));
    }
    for (key, value) in tags {
        if key.is_empty() || key.len() > 128 || value.len() > 256 {
            return Err(SnsError::invalid(
                "Invalid parameter: Tags: a key has 1 to 128 characters, a value at most 256",
            ));
        }
        if key.starts_with("aws:") {
            return Err(SnsError::invalid("Invalid parameter: Tags: keys starting with aws: are reserved"));
        }
    }
    Ok(())
}

pub(crate) async fn delete_topic(ctx: &SnsCtx, params: &Params) -> SnsResult<()> {
    let arn = params.required("TopicArn")?;
    let name = ctx.topic_name("TopicArn", arn)?;
    let _catalog = ctx.catalog.lock().await;
    // Deleting a topic that does not exist succeeds, as in SNS.
    if ctx.topic(name).is_some() {
        ctx.broker.router().delete_exchange(name, false).map_err(routing_error)?;
        tracing::info!(topic = %name, "topic deleted");
    }
    Ok(())
}

pub(crate) fn list_topics(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let after = params.get("NextToken").filter(|t| !t.is_empty());
    let topics: Vec<Topic> =
        ctx.topics().into_iter().filter(|t| after.is_none_or(|a| t.name.as_str() > a)).collect();
    let mut out = String::from("<Topics>");
    for topic in topics.iter().take(PAGE) {
        out.push_str(&format!("<member>{}</member>", el("TopicArn", &ctx.topic_arn(&topic.name))));
    }
    out.push_str("</Topics>");
    if topics.len() > PAGE {
        out.push_str(&el("NextToken", &topics[PAGE - 1].name));
    }
    Ok(out)
}

/// SNS's default access policy of a topic: the owner may do everything.
fn default_policy(ctx: &SnsCtx, arn: &str) -> String {
    serde_json::json!({
        "Version": "2008-10-17",
        "Id": "__default_policy_ID",
        "Statement": [{
            "Sid": "__default_statement_ID",
            "Effect": "Allow",
            "Principal": {"AWS": "*"},
            "Action": [
                "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission",
                "SNS:RemovePermission", "SNS:DeleteTopic", "SNS:Subscribe",
                "SNS:ListSubscriptionsByTopic", "SNS:Publish"
            ],
            "Resource": arn,
            "Condition": {"StringEquals": {"AWS:SourceOwner": ctx.config.account_id}}
        }]
    })
    .to_string()
}

/// The delivery policy SNS applies when a topic sets none.
const DEFAULT_DELIVERY_POLICY: &str = r#"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#;

pub(crate) fn get_topic_attributes(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic = ctx.require_topic("TopicArn", params.required("TopicArn")?)?;
    let arn = ctx.topic_arn(&topic.name);
    let mut map: BTreeMap<String, String> = topic.state.attributes.clone();
    let confirmed = ctx.subscriptions_of(&topic.name).len();
    map.insert("TopicArn".to_owned(), arn.clone());
    map.insert("Owner".to_owned(), ctx.config.account_id.clone());
    map.entry("DisplayName".to_owned()).or_default();
    map.entry("Policy".to_owned()).or_insert_with(|| default_policy(ctx, &arn));
    let effective = map.get("DeliveryPolicy").cloned().unwrap_or_else(|| DEFAULT_DELIVERY_POLICY.to_owned());
    map.insert("EffectiveDeliveryPolicy".to_owned(), effective);
    map.insert("SubscriptionsConfirmed".to_owned(), confirmed.to_string());
    map.insert("SubscriptionsPending".to_owned(), "0".to_owned());
    map.insert("SubscriptionsDeleted".to_owned(), "0".to_owned());
    if !topic.fifo() {
        map.remove("FifoTopic");
    }
    Ok(attributes(&map))
}

pub(crate) async fn set_topic_attributes(ctx: &SnsCtx, params: &Params) -> SnsResult<()> {
    let arn = params.required("TopicArn")?;
    let name = params.required("AttributeName")?;
    let value = params.get("AttributeValue").unwrap_or_default();
    let _catalog = ctx.catalog.lock().await;
    let mut topic = ctx.require_topic("TopicArn", arn)?;
    if name == "FifoTopic" {
        return Err(SnsError::invalid(
            "Invalid parameter: AttributeName Reason: FifoTopic cannot be changed",
        ));
    }
    let kept = check_attribute(topic.fifo(), name, value)?;
    if kept.is_empty() && name != "DisplayName" {
        topic.state.attributes.remove(name);
    } else {
        topic.state.attributes.insert(name.to_owned(), kept);
    }
    ctx.save_topic(&topic)?;
    tracing::debug!(topic = %topic.name, attribute = %name, "topic attribute set");
    Ok(())
}
