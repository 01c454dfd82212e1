//! ShareAcknowledge: acknowledgements without a fetch (a commit of the share consumer); epoch -1
//! also closes the member's share session, releasing what it still holds.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};

use super::RequestContext;
use super::share_fetch::{FINAL_EPOCH, ack_batches, acknowledge};
use super::shares::TopicIds;
use crate::connection::ConnectionError;

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ShareAcknowledgeRequest,
) -> Result<ShareAcknowledgeResponse, ConnectionError> {
    let group = request.group_id.as_ref().map(|g| g.0.to_string()).unwrap_or_default();
    let member = request.member_id.as_ref().map(|m| m.to_string()).unwrap_or_default();
    let ids = TopicIds::of(ctx);
    let mut results: BTreeMap<(u128, u32), Option<ResponseError>> = BTreeMap::new();
    for t in &request.topics {
        let id = t.topic_id.as_u128();
        for p in &t.partitions {
            let tp = (id, p.partition_index.max(0) as u32);
            let error = if ids.names.contains_key(&id) {
                let batches = ack_batches(
                    p.acknowledgement_batches
                        .iter()
                        .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types[..])),
                );
                acknowledge(ctx, &group, &member, tp, batches).await?
            } else {
                Some(ResponseError::UnknownTopicId)
            };
            results.insert(tp, error);
        }
    }
    if request.share_session_epoch == FINAL_EPOCH {
        let (g, m) = (group.clone(), member.clone());
        if let Err(e) = ctx.share_blocking(move |s| s.close_session_blocking(&g, &m)).await? {
            tracing::warn!(group, member, error = %e, "closing a share session");
        }
    }
    let leader = LeaderIdAndEpoch::default().with_leader_id(ctx.shared.config.node_id).with_leader_epoch(0);
    let mut topics: Vec<ShareAcknowledgeTopicResponse> = Vec::new();
    for ((id, p), error) in results {
        let data = PartitionData::default()
            .with_partition_index(p as i32)
            .with_error_code(error.map_or(0, |e| e.code()))
            .with_current_leader(leader.clone());
        match topics.last_mut() {
            Some(t) if t.topic_id.as_u128() == id => t.partitions.push(data),
            _ => topics.push(
                ShareAcknowledgeTopicResponse::default()
                    .with_topic_id(uuid::Uuid::from_u128(id))
                    .with_partitions(vec![data]),
            ),
        }
    }
    Ok(ShareAcknowledgeResponse::default().with_responses(topics))
}
