//! Topics and subscriptions as the router holds them: a topic is a fanout exchange whose
//! `x-sns-topic` argument keeps its attributes and tags (JSON); a subscription is a binding
//! of it to a queue with `x-subscription` (its id), `x-sns-attributes` (JSON) and, when it has
//! one, its filter policy in the router's own arguments. ARNs are made and read here.

use std::collections::BTreeMap;

use ferry_broker::message::{Table, Value, lookup};
use ferry_broker::routing::{
    Binding, Destination, ExchangeDef, FilterPolicy, FilterScope, X_FILTER_POLICY, X_FILTER_POLICY_SCOPE,
    X_SUBSCRIPTION,
};
use serde::{Deserialize, Serialize};

use super::{SnsCtx, SnsError, SnsResult, routing_error};
use crate::names;

/// The exchange argument holding a topic's attributes and tags.
pub(crate) const X_SNS_TOPIC: &str = "x-sns-topic";
/// The binding argument holding a subscription's attributes.
pub(crate) const X_SNS_ATTRIBUTES: &str = "x-sns-attributes";
/// Most tags on one topic, as SNS allows.
pub(crate) const MAX_TAGS: usize = 50;

/// What a topic keeps besides its name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TopicState {
    /// The attributes set at creation or since (`DisplayName`, `Policy`, `FifoTopic`...).
    pub(crate) attributes: BTreeMap<String, String>,
    pub(crate) tags: BTreeMap<String, String>,
}

/// A topic: its exchange's name and its state.
#[derive(Clone, Debug)]
pub(crate) struct Topic {
    pub(crate) name: String,
    pub(crate) state: TopicState,
}

impl Topic {
    pub(crate) fn fifo(&self) -> bool {
        self.state.attributes.get("FifoTopic").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub(crate) fn content_based_dedup(&self) -> bool {
        self.state.attributes.get("ContentBasedDeduplication").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The exchange arguments that hold this state.
    pub(crate) fn arguments(&self) -> Table {
        let json = serde_json::to_string(&self.state).unwrap_or_default();
        vec![(X_SNS_TOPIC.to_owned(), Value::Text(json))]
    }
}

/// A subscription: its binding and what its arguments say.
#[derive(Clone, Debug)]
pub(crate) struct Subscription {
    pub(crate) topic: String,
    pub(crate) id: String,
    pub(crate) queue: String,
    /// Attributes set by the subscriber (`RawMessageDelivery`, `FilterPolicy`...).
    pub(crate) attributes: BTreeMap<String, String>,
    pub(crate) binding: Binding,
}

impl Subscription {
    pub(crate) fn raw(&self) -> bool {
        self.attributes.get("RawMessageDelivery").is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// The queue its `RedrivePolicy` names as dead-letter target, if any.
    pub(crate) fn dead_letter_arn(&self) -> Option<String> {
        let policy: serde_json::Value = serde_json::from_str(self.attributes.get("RedrivePolicy")?).ok()?;
        policy.get("deadLetterTargetArn")?.as_str().map(str::to_owned)
    }

    /// Reads a binding, if it is a subscription.
    pub(crate) fn of_binding(binding: &Binding) -> Option<Subscription> {
        let id = lookup(&binding.arguments, X_SUBSCRIPTION)?.as_str()?.to_owned();
        let Destination::Queue(queue) = &binding.destination else { return None };
        let attributes = lookup(&binding.arguments, X_SNS_ATTRIBUTES)
            .and_then(Value::as_str)
            .and_then(|text| serde_json::from_str(text).ok())
            .unwrap_or_default();
        Some(Subscription {
            topic: binding.source.clone(),
            id,
            queue: queue.clone(),
            attributes,
            binding: binding.clone(),
        })
    }
}

/// The binding arguments of a subscription with these attributes.
pub(crate) fn subscription_arguments(id: &str, attributes: &BTreeMap<String, String>) -> Table {
    let mut table = vec![
        (X_SUBSCRIPTION.to_owned(), Value::Text(id.to_owned())),
        (X_SNS_ATTRIBUTES.to_owned(), Value::Text(serde_json::to_string(attributes).unwrap_or_default())),
    ];
    if let Some(policy) = attributes.get("FilterPolicy") {
        table.push((X_FILTER_POLICY.to_owned(), Value::Text(policy.clone())));
        let scope = attributes.get("FilterPolicyScope").map_or("MessageAttributes", String::as_str);
        table.push((X_FILTER_POLICY_SCOPE.to_owned(), Value::Text(scope.to_owned())));
    }
    table
}

/// A new binding of `topic` to `queue` as subscription `id`.
pub(crate) fn subscription_binding(
    topic: &str,
    queue: &str,
    id: &str,
    attributes: &BTreeMap<String, String>,
) -> Binding {
    Binding {
        source: topic.to_owned(),
        destination: Destination::Queue(queue.to_owned()),
        routing_key: String::new(),
        arguments: subscription_arguments(id, attributes),
    }
}

/// Checks a subscription attribute and gives the value to keep (`None`: remove it).
pub(crate) fn check_subscription_attribute(
    ctx: &SnsCtx,
    name: &str,
    value: &str,
) -> SnsResult<Option<String>> {
    let invalid = |reason: &str| SnsError::invalid(format!("Invalid parameter: {name}: {reason}"));
    match name {
        "RawMessageDelivery" => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(Some(value.to_ascii_lowercase())),
            _ => Err(invalid("must be true or false")),
        },
        "FilterPolicy" => {
            if value.is_empty() || value.trim() == "{}" {
                return Ok(None);
            }
            if value.len() > 256 * 1024 {
                return Err(SnsError::invalid("Invalid parameter: FilterPolicy: longer than 256 KB"));
            }
            // Checked in both scopes' terms here; the scope it runs in is checked on binding.
            FilterPolicy::parse(value, FilterScope::MessageBody)
                .map_err(|e| SnsError::invalid(format!("Invalid parameter: FilterPolicy: {e}")))?;
            Ok(Some(value.to_owned()))
        }
        "FilterPolicyScope" => match FilterScope::parse(value) {
            Some(_) => Ok(Some(value.to_owned())),
            None => Err(invalid("must be MessageAttributes or MessageBody")),
        },
        "RedrivePolicy" => {
            if value.is_empty() {
                return Ok(None);
            }
            let json: serde_json::Value =
                serde_json::from_str(value).map_err(|_| invalid("not valid JSON"))?;
            let arn = json
                .get("deadLetterTargetArn")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| invalid("deadLetterTargetArn is missing"))?;
            if names::queue_name_from_arn(arn, &ctx.config.region, &ctx.config.account_id).is_none() {
                return Err(invalid(
                    "deadLetterTargetArn must be the ARN of an SQS queue of this region and account",
                ));
            }
            Ok(Some(value.to_owned()))
        }
        "DeliveryPolicy" | "SubscriptionRoleArn" | "ReplayPolicy" => {
            if value.is_empty() {
                Ok(None)
            } else {
                Ok(Some(value.to_owned()))
            }
        }
        _ => Err(SnsError::invalid("Invalid parameter: AttributeName")),
    }
}

/// The scope a subscription's policy runs in must accept it (nesting only on the body).
pub(crate) fn check_policy_scope(attributes: &BTreeMap<String, String>) -> SnsResult<()> {
    if let Some(policy) = attributes.get("FilterPolicy") {
        let scope =
            attributes.get("FilterPolicyScope").and_then(|s| FilterScope::parse(s)).unwrap_or_default();
        FilterPolicy::parse(policy, scope)
            .map_err(|e| SnsError::invalid(format!("Invalid parameter: FilterPolicy: {e}")))?;
    }
    Ok(())
}

impl SnsCtx {
    pub(crate) fn topic_arn(&self, name: &str) -> String {
        format!("arn:aws:sns:{}:{}:{name}", self.config.region, self.config.account_id)
    }

    pub(crate) fn subscription_arn(&self, subscription: &Subscription) -> String {
        format!("{}:{}", self.topic_arn(&subscription.topic), subscription.id)
    }

    pub(crate) fn queue_arn(&self, queue: &str) -> String {
        names::queue_arn(&self.config.region, &self.config.account_id, queue)
    }

    /// The topic name an ARN names: a malformed ARN or another region is `InvalidParameter`,
    /// another account `AuthorizationError`.
    pub(crate) fn topic_name<'a>(&self, parameter: &str, arn: &'a str) -> SnsResult<&'a str> {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            ["arn", _, "sns", region, account, name] if !name.is_empty() && !name.contains(':') => {
                if *region != self.config.region {
                    return Err(SnsError::invalid(format!("Invalid parameter: {parameter}")));
                }
                if *account != self.config.account_id {
                    return Err(SnsError::unauthorized("User is not authorized to access this resource"));
                }
                Ok(name)
            }
            _ => Err(SnsError::invalid(format!("Invalid parameter: {parameter}"))),
        }
    }

    /// The topic of that name, if one exists (an exchange that is not a topic is not one).
    pub(crate) fn topic(&self, name: &str) -> Option<Topic> {
        let def = self.broker.router().exchange(name)?;
        topic_of(&def)
    }

    /// The topic `arn` names, or `NotFound`.
    pub(crate) fn require_topic(&self, parameter: &str, arn: &str) -> SnsResult<Topic> {
        let name = self.topic_name(parameter, arn)?;
        self.topic(name).ok_or_else(|| SnsError::not_found("Topic does not exist"))
    }

    /// Every topic, by name.
    pub(crate) fn topics(&self) -> Vec<Topic> {
        self.broker.router().list_exchanges().iter().filter_map(topic_of).collect()
    }

    pub(crate) fn save_topic(&self, topic: &Topic) -> SnsResult<()> {
        self.broker.router().set_exchange_arguments(&topic.name, topic.arguments()).map_err(routing_error)
    }

    /// The subscriptions of a topic, in a stable order.
    pub(crate) fn subscriptions_of(&self, topic: &str) -> Vec<Subscription> {
        self.broker.router().bindings_from(topic).iter().filter_map(Subscription::of_binding).collect()
    }

    /// How many subscriptions exist over every topic.
    pub(crate) fn subscription_count(&self) -> usize {
        self.topics().iter().map(|t| self.subscriptions_of(&t.name).len()).sum()
    }

    /// The subscription `arn` names: malformed is `InvalidParameter`, missing `NotFound`.
    pub(crate) fn require_subscription(&self, arn: &str) -> SnsResult<Subscription> {
        let malformed = || SnsError::invalid("Invalid parameter: SubscriptionArn");
        let (topic_arn, id) = arn.rsplit_once(':').ok_or_else(malformed)?;
        if id.is_empty() {
            return Err(malformed());
        }
        let topic = self
            .topic_name("SubscriptionArn", topic_arn)
            .map_err(|e| if e.code == "InvalidParameter" { malformed() } else { e })?;
        self.subscriptions_of(topic)
            .into_iter()
            .find(|s| s.id == id)
            .ok_or_else(|| SnsError::not_found("Subscription does not exist"))
    }
}

fn topic_of(def: &ExchangeDef) -> Option<Topic> {
    let text = lookup(&def.arguments, X_SNS_TOPIC)?.as_str()?;
    let state = serde_json::from_str(text).ok()?;
    Some(Topic { name: def.name.clone(), state })
}
