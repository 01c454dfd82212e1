//! JoinGroup: joins a member to its group; the answer is held until the rebalance completes.

use bytes::Buf;
use ferry_broker::groups::{JoinError, JoinRequest, JoinResponse, MemberProtocol};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ConsumerProtocolSubscription, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::{RequestContext, client_host, client_id, str_bytes};

/// The protocol type of Kafka consumers, whose subscriptions name their topics.
const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Joins now; the returned future waits for the rebalance and answers.
pub(crate) fn handle(
    ctx: &RequestContext,
    request: JoinGroupRequest,
) -> impl Future<Output = JoinGroupResponse> + Send + 'static {
    let version = ctx.version();
    let protocol_type = request.protocol_type.to_string();
    let protocols = request
        .protocols
        .into_iter()
        .map(|p| MemberProtocol {
            topics: subscribed_topics(&protocol_type, &p.metadata),
            name: p.name.to_string(),
            metadata: p.metadata,
        })
        .collect();
    let session_timeout_ms = i64::from(request.session_timeout_ms);
    let join = JoinRequest {
        group_id: request.group_id.0.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.to_string()),
        client_id: client_id(ctx),
        client_host: client_host(ctx),
        session_timeout_ms,
        // v0 has no rebalance timeout: Kafka used the session timeout for both.
        rebalance_timeout_ms: if version >= 1 {
            i64::from(request.rebalance_timeout_ms)
        } else {
            session_timeout_ms
        },
        protocol_type,
        protocols,
        require_known_member_id: version >= 4,
    };
    let joined = ctx.groups().join(join);
    async move {
        match joined.await {
            Ok(joined) => response(version, joined),
            Err(e) => refused(version, &e),
        }
    }
}

fn response(version: i16, joined: JoinResponse) -> JoinGroupResponse {
    let members = joined
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(str_bytes))
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_generation_id(joined.generation_id)
        .with_protocol_type(joined.protocol_type.map(str_bytes))
        .with_protocol_name(protocol_name(version, joined.protocol_name))
        .with_leader(str_bytes(joined.leader_id))
        .with_member_id(str_bytes(joined.member_id))
        .with_members(members)
}

fn refused(version: i16, e: &JoinError) -> JoinGroupResponse {
    let member_id = match e {
        JoinError::MemberIdRequired { member_id } => str_bytes(member_id.clone()),
        _ => StrBytes::default(),
    };
    JoinGroupResponse::default()
        .with_error_code(join_error(e).code())
        .with_generation_id(-1)
        .with_protocol_name(protocol_name(version, None))
        .with_member_id(member_id)
}

/// Before v7 the protocol name is a non-nullable string.
fn protocol_name(version: i16, name: Option<String>) -> Option<StrBytes> {
    match name {
        Some(name) => Some(str_bytes(name)),
        None if version < 7 => Some(StrBytes::default()),
        None => None,
    }
}

fn join_error(e: &JoinError) -> ResponseError {
    match e {
        JoinError::InvalidGroupId => ResponseError::InvalidGroupId,
        JoinError::InvalidSessionTimeout => ResponseError::InvalidSessionTimeout,
        JoinError::InconsistentGroupProtocol => ResponseError::InconsistentGroupProtocol,
        JoinError::UnknownMemberId => ResponseError::UnknownMemberId,
        JoinError::MemberIdRequired { .. } => ResponseError::MemberIdRequired,
        JoinError::GroupMaxSizeReached => ResponseError::GroupMaxSizeReached,
        JoinError::FencedInstanceId => ResponseError::FencedInstanceId,
        JoinError::CoordinatorNotAvailable => ResponseError::CoordinatorNotAvailable,
        _ => ResponseError::UnknownServerError,
    }
}

/// The topics a consumer subscribes to, read from its protocol metadata (a version, then a
/// ConsumerProtocolSubscription); `None` for other group types or metadata we cannot read.
fn subscribed_topics(protocol_type: &str, metadata: &bytes::Bytes) -> Option<Vec<String>> {
    if protocol_type != CONSUMER_PROTOCOL_TYPE {
        return None;
    }
    let mut buf = metadata.clone();
    if buf.remaining() < 2 {
        return None;
    }
    // Newer clients may write versions we do not know; their first fields are the same.
    let version = buf.get_i16().clamp(0, 3);
    let subscription = ConsumerProtocolSubscription::decode(&mut buf, version).ok()?;
    Some(subscription.topics.into_iter().map(|t| t.to_string()).collect())
}

#[cfg(test)]
mod tests {
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::protocol::Encodable;

    use super::*;

    #[test]
    fn consumer_subscriptions_name_their_topics() {
        let subscription = ConsumerProtocolSubscription::default()
            .with_topics(vec![StrBytes::from_static_str("orders"), StrBytes::from_static_str("payments")]);
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        subscription.encode(&mut buf, 1).unwrap();
        let topics = subscribed_topics("consumer", &buf.freeze());
        assert_eq!(topics, Some(vec!["orders".to_string(), "payments".to_string()]));
    }

    #[test]
    fn unreadable_or_foreign_metadata_names_no_topics() {
        assert_eq!(subscribed_topics("consumer", &bytes::Bytes::from_static(b"\x00")), None);
        assert_eq!(
            subscribed_topics("connect", &bytes::Bytes::from_static(b"\x00\x00\x00\x00\x00\x00")),
            None
        );
    }
}
