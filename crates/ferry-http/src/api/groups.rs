//! `/api/v1/groups`: consumer groups with their members, committed offsets and lag; offsets
//! reset as `kafka-consumer-groups --reset-offsets` does; groups deleted.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ferry_broker::groups::{
    CommitError, DeleteGroupError, GroupState, MemberRef, OffsetCommit, TopicPartition,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::common::{ErrorAnswer, JsonBody, Name, Page, Params, fetch_error};
use crate::error::ApiError;
use crate::server::HttpContext;

/// A group in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupSummary {
    pub group_id: String,
    /// Empty, PreparingRebalance, CompletingRebalance or Stable.
    pub state: String,
    /// `consumer` for Kafka consumers; empty for a group that only holds offsets.
    pub protocol_type: String,
    pub members: u64,
}

/// A page of groups.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupList {
    pub items: Vec<GroupSummary>,
    pub next: Option<String>,
}

/// A member of a group.
#[derive(Debug, Serialize, ToSchema)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
}

/// A group's committed offset on one partition and how far behind it is.
#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOffset {
    pub topic: String,
    pub partition: i32,
    pub committed_offset: i64,
    /// The partition's high watermark (null when the topic is gone).
    pub end_offset: Option<u64>,
    /// Records between the committed offset and the end.
    pub lag: Option<u64>,
}

/// A group described.
#[derive(Debug, Serialize, ToSchema)]
pub struct Group {
    pub group_id: String,
    pub state: String,
    pub protocol_type: String,
    pub members: Vec<Member>,
    pub offsets: Vec<GroupOffset>,
}

/// Where to move a group's offsets.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetOffsets {
    pub topic: String,
    /// The partitions (at least one); every partition of the topic when left out.
    #[schema(min_items = 1)]
    pub partitions: Option<Vec<u32>>,
    /// `earliest`, `latest`, `timestamp` (with `timestamp_ms`) or `offset` (with `offset`).
    pub to: String,
    pub timestamp_ms: Option<i64>,
    pub offset: Option<u64>,
}

/// The offsets a reset committed.
#[derive(Debug, Serialize, ToSchema)]
pub struct ResetResult {
    pub offsets: Vec<GroupOffset>,
}

fn state_name(s: GroupState) -> String {
    s.name().to_owned()
}

fn offsets_of(ctx: &HttpContext, group: &str) -> Vec<GroupOffset> {
    let mut out: Vec<GroupOffset> = ctx
        .broker
        .groups()
        .fetch_offsets(group, None)
        .into_iter()
        .filter_map(|(tp, committed)| {
            let committed = committed?;
            let end = u32::try_from(tp.partition)
                .ok()
                .and_then(|p| ctx.broker.topics().partition(&tp.topic, p))
                .map(|p| p.high_watermark());
            let lag = end.map(|e| e.saturating_sub(u64::try_from(committed.offset).unwrap_or(0)));
            Some(GroupOffset {
                topic: tp.topic,
                partition: tp.partition,
                committed_offset: committed.offset,
                end_offset: end,
                lag,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
    out
}

fn group_not_found(group: &str) -> ApiError {
    ApiError::not_found("group_not_found", format!("no consumer group named \"{group}\""))
}

/// List consumer groups
#[utoipa::path(get, path = "/api/v1/groups", tag = "groups", params(Page),
    responses((status = 200, body = GroupList), (status = 400, body = ErrorAnswer)))]
pub async fn list(
    State(ctx): State<Arc<HttpContext>>,
    Params(page): Params<Page>,
) -> Result<Json<GroupList>, ApiError> {
    let listings = ctx.broker.groups().list();
    let (ids, next) = page.slice(listings.iter().map(|g| g.group_id.clone()).collect())?;
    let items = ids
        .iter()
        .filter_map(|id| listings.iter().find(|g| &g.group_id == id))
        .map(|g| GroupSummary {
            group_id: g.group_id.clone(),
            state: state_name(g.state),
            protocol_type: g.protocol_type.clone(),
            members: ctx.broker.groups().describe(&g.group_id).map_or(0, |d| d.members.len() as u64),
        })
        .collect();
    Ok(Json(GroupList { items, next }))
}

/// Describe a consumer group: members, committed offsets, lag
#[utoipa::path(get, path = "/api/v1/groups/{group}", tag = "groups", params(("group" = String, Path)),
    responses((status = 200, body = Group),
        (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn describe(
    State(ctx): State<Arc<HttpContext>>,
    Name(group): Name,
) -> Result<Json<Group>, ApiError> {
    let d = ctx.broker.groups().describe(&group).ok_or_else(|| group_not_found(&group))?;
    Ok(Json(Group {
        group_id: d.group_id,
        state: state_name(d.state),
        protocol_type: d.protocol_type.unwrap_or_default(),
        members: d
            .members
            .into_iter()
            .map(|m| Member {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
            })
            .collect(),
        offsets: offsets_of(&ctx, &group),
    }))
}

/// Reset a group's offsets on a topic
///
/// Refused (409) while the group has members, as `kafka-consumer-groups --reset-offsets` is.
/// An offset beyond the partition's ends is moved to the nearest end.
#[utoipa::path(post, path = "/api/v1/groups/{group}/reset-offsets", tag = "groups", params(("group" = String, Path)),
    request_body = ResetOffsets,
    responses((status = 200, body = ResetResult), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 409, body = ErrorAnswer), (status = 415, body = ErrorAnswer)))]
pub async fn reset_offsets(
    State(ctx): State<Arc<HttpContext>>,
    Name(group): Name,
    JsonBody(r): JsonBody<ResetOffsets>,
) -> Result<Json<ResetResult>, ApiError> {
    if group.is_empty() {
        return Err(ApiError::bad_request("invalid_group", "the group id is empty"));
    }
    if let Some(d) = ctx.broker.groups().describe(&group)
        && !d.members.is_empty()
    {
        return Err(ApiError::conflict(
            "group_active",
            format!("group \"{group}\" has {} member(s): stop its consumers first", d.members.len()),
        ));
    }
    let info =
        ctx.broker.topics().topic(&r.topic).ok_or_else(|| {
            ApiError::not_found("topic_not_found", format!("no topic named \"{}\"", r.topic))
        })?;
    let partitions: Vec<u32> = match r.partitions {
        Some(ps) if ps.is_empty() => {
            return Err(ApiError::bad_request(
                "invalid_reset",
                "partitions, when given, must name at least one; leave it out to reset every partition",
            ));
        }
        Some(ps) => {
            if let Some(p) = ps.iter().find(|&&p| p >= info.partitions) {
                return Err(ApiError::not_found(
                    "partition_not_found",
                    format!("topic \"{}\" has no partition {p}", r.topic),
                ));
            }
            ps
        }
        None => (0..info.partitions).collect(),
    };
    let mut commits = Vec::new();
    for p in partitions {
        let part = ctx
            .broker
            .topics()
            .partition(&r.topic, p)
            .ok_or_else(|| ApiError::not_found("partition_not_found", format!("no partition {p}")))?;
        let o = part.offsets();
        let target = match (r.to.as_str(), r.timestamp_ms, r.offset) {
            ("earliest", None, None) => o.log_start_offset,
            ("latest", None, None) => o.high_watermark,
            ("timestamp", Some(ts), None) => {
                part.offset_for_timestamp(ts).map_err(fetch_error)?.map_or(o.high_watermark, |(off, _)| off)
            }
            ("offset", None, Some(off)) => off.clamp(o.log_start_offset, o.high_watermark),
            _ => {
                return Err(ApiError::bad_request(
                    "invalid_reset",
                    "to must be earliest, latest, timestamp (with timestamp_ms) or offset (with offset), \
                     and only the field it names may be given",
                ));
            }
        };
        let offset = i64::try_from(target).unwrap_or(i64::MAX);
        commits.push((
            TopicPartition { topic: r.topic.clone(), partition: p as i32 },
            OffsetCommit { offset, leader_epoch: None, metadata: None },
        ));
    }
    let admin = MemberRef { member_id: String::new(), group_instance_id: None, generation_id: -1 };
    let results =
        ctx.broker.groups().commit_offsets(&group, &admin, None, commits).await.map_err(|e| match e {
            CommitError::RebalanceInProgress
            | CommitError::IllegalGeneration
            | CommitError::UnknownMemberId => ApiError::conflict(
                "group_active",
                format!("group \"{group}\" has members: stop its consumers first"),
            ),
            other => ApiError::unavailable(format!("the offsets could not be committed: {other}")),
        })?;
    if let Some((tp, Err(e))) = results.iter().find(|(_, r)| r.is_err()) {
        return Err(ApiError::bad_request("invalid_reset", format!("{}-{}: {e}", tp.topic, tp.partition)));
    }
    let offsets = offsets_of(&ctx, &group).into_iter().filter(|o| o.topic == r.topic).collect();
    Ok(Json(ResetResult { offsets }))
}

/// Delete a consumer group and its offsets
#[utoipa::path(delete, path = "/api/v1/groups/{group}", tag = "groups", params(("group" = String, Path)),
    responses((status = 204),
        (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer), (status = 409, body = ErrorAnswer)))]
pub async fn delete(State(ctx): State<Arc<HttpContext>>, Name(group): Name) -> Result<StatusCode, ApiError> {
    ctx.broker.groups().delete_group(&group).await.map_err(|e| match e {
        DeleteGroupError::GroupIdNotFound | DeleteGroupError::InvalidGroupId => group_not_found(&group),
        DeleteGroupError::NonEmptyGroup => ApiError::conflict(
            "group_active",
            format!("group \"{group}\" has members: stop its consumers first"),
        ),
        other => ApiError::internal(other.to_string()),
    })?;
    Ok(StatusCode::NO_CONTENT)
}
