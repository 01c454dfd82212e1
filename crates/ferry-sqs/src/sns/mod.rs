//! The Amazon SNS API (query protocol, `Version=2010-03-31`) on the AWS listener.
//!
//! SNS is a thin layer over the broker's router, so that AMQP and SNS see one model:
//!
//! - a topic is a durable fanout exchange of the same name; its SNS attributes and tags are
//!   kept in the exchange's `x-sns-topic` argument (JSON), so the router stores them;
//! - a subscription is a binding of that exchange to a queue, carrying `x-subscription` (its
//!   id), its SNS attributes (`x-sns-attributes`, JSON) and, when it has one, its filter policy
//!   (`x-filter-policy`, `x-filter-policy-scope`), which the router evaluates;
//! - a publish asks the router which bindings take the message and writes to each queue: the
//!   SNS envelope (or the raw message) for a subscription, the raw message with its attributes
//!   as headers for a queue an AMQP client bound itself. It is answered once every delivery is
//!   durable.
//!
//! Only the `sqs` protocol is served; signatures in envelopes are not real ones.
//!
//! Layout: `params` (reading form parameters), `xml` (answers), `catalog` (topics and
//! subscriptions in the router), `topics`, `subscriptions`, `tags`, `publish` (one module per
//! group of actions), `envelope` (the notification SNS delivers).

mod catalog;
mod envelope;
mod params;
mod publish;
mod subscriptions;
mod tags;
mod topics;
mod xml;

use std::sync::Arc;

use ferry_broker::Broker;
use ferry_broker::routing::RoutingError;
use tracing::Instrument;

use crate::config::SqsConfig;
use crate::protocol::{Rendered, XML_CONTENT_TYPE, query};
use params::Params;

/// What an SNS action needs.
pub struct SnsCtx {
    /// The broker: its router holds topics and subscriptions, its queues take deliveries.
    pub broker: Arc<Broker>,
    /// Listener settings (region, account, limits).
    pub config: Arc<SqsConfig>,
    /// `host[:port]` for the URLs written into envelopes.
    pub host: String,
    /// Held by every change of topics or subscriptions, each a read then a write of the router.
    pub catalog: Arc<tokio::sync::Mutex<()>>,
}

/// An SNS error: its query code, HTTP status and message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnsError {
    /// The `<Code>` of the error response, as botocore's model names it.
    pub code: &'static str,
    /// HTTP status.
    pub status: u16,
    /// What went wrong, worded as SNS words it where known.
    pub message: String,
}

impl SnsError {
    fn new(code: &'static str, status: u16, message: impl Into<String>) -> SnsError {
        SnsError { code, status, message: message.into() }
    }

    /// `InvalidParameter`: a parameter is missing or wrong.
    pub fn invalid(message: impl Into<String>) -> SnsError {
        SnsError::new("InvalidParameter", 400, message)
    }

    /// `ParameterValueInvalid` (botocore's `InvalidParameterValueException`).
    pub fn invalid_value(message: impl Into<String>) -> SnsError {
        SnsError::new("ParameterValueInvalid", 400, message)
    }

    /// `NotFound`: the topic or subscription does not exist.
    pub fn not_found(message: impl Into<String>) -> SnsError {
        SnsError::new("NotFound", 404, message)
    }

    /// `AuthorizationError`: a resource of another account.
    pub fn unauthorized(message: impl Into<String>) -> SnsError {
        SnsError::new("AuthorizationError", 403, message)
    }

    /// `InternalError`: the broker failed.
    pub fn internal(message: impl Into<String>) -> SnsError {
        SnsError::new("InternalError", 500, message)
    }

    fn sender_fault(&self) -> bool {
        self.status < 500
    }

    /// `<ErrorResponse>` with this error.
    fn render(&self, request_id: &str) -> Rendered {
        let kind = if self.sender_fault() { "Sender" } else { "Receiver" };
        Rendered {
            status: self.status,
            content_type: XML_CONTENT_TYPE,
            query_error: None,
            body: xml::error(kind, self.code, &self.message, request_id).into_bytes(),
        }
    }
}

type SnsResult<T> = Result<T, SnsError>;

/// A router failure as SNS answers it.
pub(crate) fn routing_error(error: RoutingError) -> SnsError {
    match error {
        RoutingError::ExchangeNotFound { .. } => SnsError::not_found("Topic does not exist"),
        RoutingError::InvalidArgument { reason, .. } => {
            SnsError::invalid(format!("Invalid parameter: {reason}"))
        }
        RoutingError::TooManyExchanges { .. } => {
            SnsError::new("TopicLimitExceeded", 403, "Topic limit exceeded (the broker's limit of exchanges)")
        }
        RoutingError::TooManyBindings { .. } => SnsError::new(
            "SubscriptionLimitExceeded",
            403,
            "Subscription limit exceeded (the broker's limit of bindings)",
        ),
        other => {
            tracing::warn!(error = %other, "router failed an SNS action");
            SnsError::internal(format!("The broker failed: {other}"))
        }
    }
}

/// The actions of SNS that ferry serves (and so, for an unsigned request, the names that
/// address SNS rather than SQS: no SQS action has one of them).
const ACTIONS: &[&str] = &[
    "CreateTopic",
    "DeleteTopic",
    "ListTopics",
    "GetTopicAttributes",
    "SetTopicAttributes",
    "Subscribe",
    "Unsubscribe",
    "ConfirmSubscription",
    "ListSubscriptions",
    "ListSubscriptionsByTopic",
    "GetSubscriptionAttributes",
    "SetSubscriptionAttributes",
    "Publish",
    "PublishBatch",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

/// The service a SigV4-signed request is for: the fourth part of its credential scope
/// (`<key>/<date>/<region>/<service>/aws4_request`), from the `Authorization` header or a
/// presigned URL's `X-Amz-Credential`.
pub fn signed_service(authorization: Option<&str>, query_string: Option<&str>) -> Option<String> {
    let credential = match authorization.and_then(|a| a.split_once("Credential=")) {
        Some((_, rest)) => rest.split([',', ' ']).next()?.to_owned(),
        None => query::parse_form(query_string.unwrap_or("").as_bytes())
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == "X-Amz-Credential").then_some(v))?,
    };
    credential.split('/').nth(3).map(str::to_owned)
}

/// The form parameters of a request addressed to SNS, or `None` when it is not: signed for
/// `sns`, or unsigned (or signed for no known service) with an SNS action name.
pub fn addressed(
    service: Option<&str>,
    query_string: Option<&str>,
    body: &[u8],
) -> Option<Vec<(String, String)>> {
    if service.is_some_and(|s| s != "sns" && (s == "sqs" || s == "sts")) {
        return None;
    }
    let mut pairs = query::parse_form(query_string.unwrap_or("").as_bytes()).unwrap_or_default();
    match query::parse_form(body) {
        Ok(more) => pairs.extend(more),
        // Undecodable form: SNS answers it if the request was signed for it.
        Err(_) if service == Some("sns") => {}
        Err(_) => return None,
    }
    let action = pairs.iter().rev().find(|(k, _)| k == "Action").map(|(_, v)| v.as_str());
    if service == Some("sns") || action.is_some_and(|a| ACTIONS.contains(&a)) { Some(pairs) } else { None }
}

/// Answers one SNS request.
pub async fn handle(ctx: &SnsCtx, pairs: Vec<(String, String)>, request_id: &str) -> Rendered {
    let params = Params::new(pairs);
    let action = params.get("Action").unwrap_or_default().to_owned();
    let span = tracing::info_span!("sns", action = %action, request_id = %request_id);
    let result = dispatch(ctx, &action, &params).instrument(span).await;
    match result {
        Ok(inner) => Rendered {
            status: 200,
            content_type: XML_CONTENT_TYPE,
            query_error: None,
            body: xml::response(&action, inner.as_deref(), request_id).into_bytes(),
        },
        Err(error) => {
            if error.sender_fault() {
                tracing::debug!(code = error.code, message = %error.message, "SNS request refused");
            } else {
                tracing::warn!(code = error.code, message = %error.message, "SNS request failed");
            }
            error.render(request_id)
        }
    }
}

/// Runs one action; the answer is the XML inside `<{Action}Result>`, or `None` for actions
/// whose answer has no result element.
async fn dispatch(ctx: &SnsCtx, action: &str, params: &Params) -> SnsResult<Option<String>> {
    match action {
        "CreateTopic" => topics::create_topic(ctx, params).await.map(Some),
        "DeleteTopic" => topics::delete_topic(ctx, params).await.map(|()| None),
        "ListTopics" => topics::list_topics(ctx, params).map(Some),
        "GetTopicAttributes" => topics::get_topic_attributes(ctx, params).map(Some),
        "SetTopicAttributes" => topics::set_topic_attributes(ctx, params).await.map(|()| None),
        "Subscribe" => subscriptions::subscribe(ctx, params).await.map(Some),
        "Unsubscribe" => subscriptions::unsubscribe(ctx, params).await.map(|()| None),
        "ConfirmSubscription" => subscriptions::confirm_subscription(ctx, params).map(Some),
        "ListSubscriptions" => subscriptions::list_subscriptions(ctx, params).map(Some),
        "ListSubscriptionsByTopic" => subscriptions::list_subscriptions_by_topic(ctx, params).map(Some),
        "GetSubscriptionAttributes" => subscriptions::get_subscription_attributes(ctx, params).map(Some),
        "SetSubscriptionAttributes" => {
            subscriptions::set_subscription_attributes(ctx, params).await.map(|()| None)
        }
        "Publish" => publish::publish(ctx, params).await.map(Some),
        "PublishBatch" => publish::publish_batch(ctx, params).await.map(Some),
        "TagResource" => tags::tag_resource(ctx, params).await.map(|()| Some(String::new())),
        "UntagResource" => tags::untag_resource(ctx, params).await.map(|()| Some(String::new())),
        "ListTagsForResource" => tags::list_tags_for_resource(ctx, params).map(Some),
        "" => Err(SnsError::invalid("The request must contain the parameter Action.")),
        other => Err(SnsError::new(
            "InvalidAction",
            400,
            format!(
                "The action {other} is not valid for this web service (ferry serves the sqs protocol of SNS)."
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_credential_scope_names_the_service() {
        let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=x";
        assert_eq!(signed_service(Some(auth), None).as_deref(), Some("sns"));
        let presigned = "X-Amz-Credential=AKID%2F20240101%2Fus-east-1%2Fsqs%2Faws4_request";
        assert_eq!(signed_service(None, Some(presigned)).as_deref(), Some("sqs"));
        assert_eq!(signed_service(None, None), None);
    }

    #[test]
    fn unsigned_requests_are_told_apart_by_their_action() {
        assert!(addressed(None, None, b"Action=CreateTopic&Name=t").is_some());
        assert!(addressed(None, None, b"Action=CreateQueue&QueueName=q").is_none());
        assert!(addressed(Some("sqs"), None, b"Action=CreateTopic").is_none());
        assert!(addressed(Some("sns"), None, b"Action=Whatever").is_some());
    }
}
