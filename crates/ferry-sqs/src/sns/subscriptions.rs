//! Subscribe, Unsubscribe, ConfirmSubscription, ListSubscriptions, ListSubscriptionsByTopic,
//! GetSubscriptionAttributes, SetSubscriptionAttributes. Only the `sqs` protocol is served, and
//! its subscriptions are confirmed at once.

use std::collections::BTreeMap;

use super::catalog::{
    Subscription, check_policy_scope, check_subscription_attribute, subscription_arguments,
    subscription_binding,
};
use super::params::Params;
use super::xml::{attributes, el};
use super::{SnsCtx, SnsError, SnsResult, routing_error};
use crate::names;

/// Subscriptions per List page, as SNS pages them.
const PAGE: usize = 100;

pub(crate) async fn subscribe(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic_arn = params.required("TopicArn")?;
    let protocol = params.required("Protocol")?;
    let topic = ctx.require_topic("TopicArn", topic_arn)?;
    if protocol != "sqs" {
        return Err(SnsError::invalid(format!(
            "Invalid parameter: Protocol Reason: ferry serves only the sqs protocol, not {protocol}"
        )));
    }
    let endpoint = params.required("Endpoint")?;
    let queue = names::queue_name_from_arn(endpoint, &ctx.config.region, &ctx.config.account_id)
        .filter(|q| !q.contains(':'))
        .ok_or_else(|| {
            SnsError::invalid(
                "Invalid parameter: SQS endpoint ARN: the ARN of an SQS queue of this region and account",
            )
        })?;
    if queue.ends_with(".fifo") && !topic.fifo() {
        return Err(SnsError::invalid(
            "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics",
        ));
    }
    let mut wanted = BTreeMap::new();
    for (name, value) in params.map("Attributes")? {
        if let Some(kept) = check_subscription_attribute(ctx, &name, &value)? {
            wanted.insert(name, kept);
        }
    }
    check_policy_scope(&wanted)?;
    let _catalog = ctx.catalog.lock().await;
    let existing = ctx.subscriptions_of(&topic.name).into_iter().find(|s| s.queue == queue);
    if let Some(existing) = existing {
        if !wanted.is_empty() && wanted != existing.attributes {
            return Err(SnsError::invalid(
                "Invalid parameter: Attributes Reason: Subscription already exists with different attributes",
            ));
        }
        return Ok(el("SubscriptionArn", &ctx.subscription_arn(&existing)));
    }
    if ctx.subscription_count() >= ctx.config.sns_max_subscriptions {
        return Err(SnsError::new(
            "SubscriptionLimitExceeded",
            403,
            format!(
                "Subscription limit exceeded: at most {} subscriptions (sns_max_subscriptions)",
                ctx.config.sns_max_subscriptions
            ),
        ));
    }
    let id = uuid::Uuid::new_v4().to_string();
    let binding = subscription_binding(&topic.name, queue, &id, &wanted);
    ctx.broker
        .router()
        .bind(&binding.source, binding.destination.clone(), "", binding.arguments.clone())
        .map_err(routing_error)?;
    let subscription =
        Subscription { topic: topic.name.clone(), id, queue: queue.to_owned(), attributes: wanted, binding };
    tracing::info!(topic = %topic.name, queue = %queue, "subscription created");
    Ok(el("SubscriptionArn", &ctx.subscription_arn(&subscription)))
}

pub(crate) async fn unsubscribe(ctx: &SnsCtx, params: &Params) -> SnsResult<()> {
    let arn = params.required("SubscriptionArn")?;
    let _catalog = ctx.catalog.lock().await;
    let subscription = ctx.require_subscription(arn)?;
    let b = &subscription.binding;
    ctx.broker
        .router()
        .unbind(&b.source, b.destination.clone(), &b.routing_key, b.arguments.clone())
        .map_err(routing_error)?;
    tracing::info!(topic = %subscription.topic, queue = %subscription.queue, "subscription deleted");
    Ok(())
}

/// An `sqs` subscription needs no confirmation; the token of a subscription is its id (the
/// last part of its ARN), and confirming with it answers the ARN.
pub(crate) fn confirm_subscription(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic = ctx.require_topic("TopicArn", params.required("TopicArn")?)?;
    let token = params.required("Token")?;
    let subscription = ctx
        .subscriptions_of(&topic.name)
        .into_iter()
        .find(|s| s.id == token)
        .ok_or_else(|| SnsError::invalid("Invalid token"))?;
    Ok(el("SubscriptionArn", &ctx.subscription_arn(&subscription)))
}

fn member(ctx: &SnsCtx, s: &Subscription) -> String {
    format!(
        "<member>{}{}{}{}{}</member>",
        el("SubscriptionArn", &ctx.subscription_arn(s)),
        el("Owner", &ctx.config.account_id),
        el("Protocol", "sqs"),
        el("Endpoint", &ctx.queue_arn(&s.queue)),
        el("TopicArn", &ctx.topic_arn(&s.topic)),
    )
}

/// One page of `all`, after the subscription whose ARN is the token.
fn page(ctx: &SnsCtx, all: Vec<Subscription>, params: &Params) -> String {
    let after = params.get("NextToken").filter(|t| !t.is_empty());
    let start = match after {
        Some(token) => all.iter().position(|s| ctx.subscription_arn(s) == token).map_or(all.len(), |i| i + 1),
        None => 0,
    };
    let rest = &all[start.min(all.len())..];
    let mut out = String::from("<Subscriptions>");
    for s in rest.iter().take(PAGE) {
        out.push_str(&member(ctx, s));
    }
    out.push_str("</Subscriptions>");
    if rest.len() > PAGE {
        out.push_str(&el("NextToken", &ctx.subscription_arn(&rest[PAGE - 1])));
    }
    out
}

pub(crate) fn list_subscriptions(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let all: Vec<Subscription> = ctx.topics().iter().flat_map(|t| ctx.subscriptions_of(&t.name)).collect();
    Ok(page(ctx, all, params))
}

pub(crate) fn list_subscriptions_by_topic(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic = ctx.require_topic("TopicArn", params.required("TopicArn")?)?;
    Ok(page(ctx, ctx.subscriptions_of(&topic.name), params))
}

pub(crate) fn get_subscription_attributes(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let s = ctx.require_subscription(params.required("SubscriptionArn")?)?;
    let mut map = s.attributes.clone();
    if map.contains_key("FilterPolicy") {
        map.entry("FilterPolicyScope".to_owned()).or_insert_with(|| "MessageAttributes".to_owned());
    }
    map.entry("RawMessageDelivery".to_owned()).or_insert_with(|| "false".to_owned());
    for (k, v) in [
        ("SubscriptionArn", ctx.subscription_arn(&s)),
        ("TopicArn", ctx.topic_arn(&s.topic)),
        ("Owner", ctx.config.account_id.clone()),
        ("Protocol", "sqs".to_owned()),
        ("Endpoint", ctx.queue_arn(&s.queue)),
        ("ConfirmationWasAuthenticated", "true".to_owned()),
        ("PendingConfirmation", "false".to_owned()),
        ("SubscriptionPrincipal", format!("arn:aws:iam::{}:root", ctx.config.account_id)),
    ] {
        map.insert(k.to_owned(), v);
    }
    Ok(attributes(&map))
}

pub(crate) async fn set_subscription_attributes(ctx: &SnsCtx, params: &Params) -> SnsResult<()> {
    let arn = params.required("SubscriptionArn")?;
    let name = params.required("AttributeName")?;
    let value = params.get("AttributeValue").unwrap_or_default();
    let _catalog = ctx.catalog.lock().await;
    let s = ctx.require_subscription(arn)?;
    let kept = check_subscription_attribute(ctx, name, value)?;
    let mut attributes = s.attributes.clone();
    match kept {
        Some(v) => attributes.insert(name.to_owned(), v),
        None => attributes.remove(name),
    };
    check_policy_scope(&attributes)?;
    let new = ferry_broker::routing::Binding {
        arguments: subscription_arguments(&s.id, &attributes),
        ..s.binding.clone()
    };
    ctx.broker.router().replace_binding(&s.binding, new).map_err(routing_error)?;
    Ok(())
}
