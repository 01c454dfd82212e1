//! TagResource, UntagResource, ListTagsForResource: a topic's tags, kept with its attributes.

use super::catalog::{MAX_TAGS, Topic};
use super::params::Params;
use super::topics::check_tags;
use super::xml::el;
use super::{SnsCtx, SnsError, SnsResult};

/// The topic a `ResourceArn` names; a missing one is `ResourceNotFound`, as SNS answers.
fn resource(ctx: &SnsCtx, params: &Params) -> SnsResult<Topic> {
    let arn = params.required("ResourceArn")?;
    let name = ctx.topic_name("ResourceArn", arn)?;
    ctx.topic(name).ok_or_else(|| SnsError::new("ResourceNotFound", 404, "Resource does not exist"))
}

pub(crate) async fn tag_resource(ctx: &SnsCtx, params: &Params) -> SnsResult<()> {
    let tags = params.tags("Tags")?;
    if tags.is_empty() {
        return Err(SnsError::invalid("Invalid parameter: Tags"));
    }
    check_tags(&tags)?;
    let _catalog = ctx.catalog.lock().await;
    let mut topic = resource(ctx, params)?;
    topic.state.tags.extend(tags);
    if topic.state.tags.len() > MAX_TAGS {
        return Err(SnsError::new(
            "TagLimitExceeded",
            400,
            format!("Could not complete request: tag quota of per resource exceeded (at most {MAX_TAGS})"),
        ));
    }
    ctx.save_topic(&topic)
}

pub(crate) async fn untag_resource(ctx: &SnsCtx, params: &Params) -> SnsResult<()> {
    let keys = params.list("TagKeys")?;
    let _catalog = ctx.catalog.lock().await;
    let mut topic = resource(ctx, params)?;
    for key in keys {
        topic.state.tags.remove(&key);
    }
    ctx.save_topic(&topic)
}

pub(crate) fn list_tags_for_resource(ctx: &SnsCtx, params: &Params) -> SnsResult<String> {
    let topic = resource(ctx, params)?;
    let mut out = String::from("<Tags>");
    for (key, value) in &topic.state.tags {
        out.push_str(&format!("<member>{}{}</member>", el("Key", key), el("Value", value)));
    }
    out.push_str("</Tags>");
    Ok(out)
}
