//! Dispatch on the API key, and one module per Kafka API.
//!
//! To add an API: a module with `pub(crate) async fn handle(ctx: &RequestContext, request: XRequest)
//! -> Result<XResponse, ConnectionError>`, a line in [`SUPPORTED`], and an arm in [`dispatch`].
//!
//! [`dispatch`] returns once the request has taken effect; a request that then waits (for the
//! disk, a rebalance, a long poll) hands that wait back as a [`Reply::Later`], which the connection
//! runs beside the requests that follow (see `connection.rs` for why that keeps Kafka's ordering).

mod acls;
mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
pub(crate) mod api_versions;
mod broker_configs;
mod consumer_group_describe;
mod consumer_group_heartbeat;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_configs;
mod describe_groups;
mod describe_transactions;
mod end_txn;
mod fetch;
mod find_coordinator;
mod group_configs;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod produce;
mod share_acknowledge;
mod share_configs;
mod share_fetch;
mod share_group_describe;
mod share_group_heartbeat;
mod share_group_offsets;
mod shares;
mod sync_group;
mod topic_configs;
mod txn_offset_commit;

pub(crate) use offset_commit::commit_error as offset_commit_error;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ferry_broker::groups::GroupCoordinator;
use ferry_broker::topics::TopicService;
use ferry_broker::transactions::TransactionCoordinator;
use kafka_protocol::messages::{ApiKey, RequestHeader};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::connection::ConnectionError;
use crate::server::Shared;

/// APIs this broker answers, with the versions it speaks (min, max). ApiVersions advertises exactly
/// these. Fetch stops before v13, which addresses topics by id only; Produce stops at v9 (v10 on add
/// the leader hints of KIP-951, v12 the transaction protocol of Kafka 4, v13 topic ids).
/// ListOffsets stops at v7, which adds MAX_TIMESTAMP: v8 and later add lookups in tiered storage
/// (EARLIEST_LOCAL, LATEST_TIERED, a remote-read timeout), which ferry does not have.
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 7),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    // No authorizer yet: answered SECURITY_DISABLED. Kafka 4 dropped v0 of all three.
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    // Consumer groups, classic protocol. OffsetCommit and OffsetFetch start where kafka-protocol
    // does (v2, v1): Kafka 4 dropped the older ones, and every client named in the tests sends
    // newer versions. DescribeGroups stops before v6, whose missing-group answer differs.
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    // Transactions, the classic protocol (KIP-98 with KIP-360/447/588). The newer versions belong
    // to transactions v2 (KIP-890: TRANSACTION_ABORTABLE, EndTxn returning a bumped epoch,
    // partitions added by Produce v12), which ferry does not speak yet; AddPartitionsToTxn v4+
    // is the batched form brokers send each other.
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    // Consumer groups, consumer protocol (KIP-848). librdkafka asks for ConsumerGroupHeartbeat v1
    // (client-chosen member ids, regex subscriptions) and gives up on the group without it.
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 1),
    // Share groups (KIP-932), the versions kafka-protocol knows: ShareAcknowledge v1 has no
    // renew (v2, KIP-1222).
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 1),
    (ApiKey::ShareAcknowledge, 1, 1),
    (ApiKey::DescribeShareGroupOffsets, 0, 0),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
];

/// The versions of `api` this broker speaks, if any.
pub(crate) fn supported_versions(api: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED.iter().find(|(key, _, _)| *key == api).map(|(_, min, max)| (*min, *max))
}

/// What a handler knows about the request beyond its body.
pub(crate) struct RequestContext {
    pub(crate) shared: Arc<Shared>,
    pub(crate) header: RequestHeader,
    /// The address the client connected to (advertised when no host/port is configured).
    pub(crate) local_addr: SocketAddr,
    pub(crate) peer: SocketAddr,
}

impl RequestContext {
    pub(crate) fn version(&self) -> i16 {
        self.header.request_api_version
    }

    pub(crate) fn topics(&self) -> &Arc<TopicService> {
        &self.shared.ctx.topics
    }

    pub(crate) fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.shared.ctx.groups
    }

    pub(crate) fn transactions(&self) -> &Arc<TransactionCoordinator> {
        &self.shared.ctx.transactions
    }

    /// Runs blocking broker work (catalog changes, disk scans) off the async threads.
    pub(crate) async fn blocking<T, F>(&self, f: F) -> Result<T, ConnectionError>
    where
        T: Send + 'static,
        F: FnOnce(&TopicService) -> T + Send + 'static,
    {
        let topics = Arc::clone(self.topics());
        tokio::task::spawn_blocking(move || f(&topics))
            .await
            .map_err(|e| ConnectionError::Internal(format!("blocking task failed: {e}")))
    }
}

/// An encoded answer; `None` when the request gets none (Produce with acks=0).
pub(crate) type Answer = Result<Option<Bytes>, ConnectionError>;

/// What [`dispatch`] hands back once the request has taken effect.
pub(crate) enum Reply {
    /// The answer.
    Now(Answer),
    /// The rest of the request: it only waits, then answers.
    Later {
        /// Whether the request's effects become visible (durable) only when this completes, so
        /// that a later read on the connection must wait for it ([`reads_settled_state`]).
        settles: bool,
        rest: Pin<Box<dyn Future<Output = Answer> + Send>>,
    },
}

impl Reply {
    fn later(settles: bool, rest: impl Future<Output = Answer> + Send + 'static) -> Reply {
        Reply::Later { settles, rest: Box::pin(rest) }
    }
}

/// The name of `api` as a metric label (`Produce`, `Fetch`, ...), as Kafka spells it.
pub(crate) fn name(api: ApiKey) -> &'static str {
    static NAMES: std::sync::OnceLock<Vec<(ApiKey, String)>> = std::sync::OnceLock::new();
    let names =
        NAMES.get_or_init(|| SUPPORTED.iter().map(|(key, _, _)| (*key, format!("{key:?}"))).collect());
    names.iter().find(|(key, _)| *key == api).map_or("Unsupported", |(_, name)| name.as_str())
}

/// Whether `api` reads what earlier requests of the connection wrote (records, committed
/// offsets), so that it must not start before their [`Reply::Later`]s with `settles` complete.
pub(crate) fn reads_settled_state(api: ApiKey) -> bool {
    matches!(api, ApiKey::Fetch | ApiKey::ListOffsets | ApiKey::OffsetFetch | ApiKey::ShareFetch)
}

/// Decodes the body and calls the API's handler; returns once the request has taken effect.
pub(crate) async fn dispatch(ctx: Arc<RequestContext>, api_key: ApiKey, mut body: Bytes) -> Reply {
    let v = ctx.version();
    let b = &mut body;
    let answer = match api_key {
        ApiKey::Produce => {
            let produced = match decode(b, v, api_key) {
                Ok(request) => produce::handle(&ctx, request).await,
                Err(e) => return Reply::Now(Err(e)),
            };
            return Reply::later(true, async move {
                match produced.await? {
                    Some(response) => encode(&response, v),
                    None => Ok(None),
                }
            });
        }
        ApiKey::OffsetCommit => {
            let committed = match decode(b, v, api_key) {
                Ok(request) => offset_commit::handle(&ctx, request).await,
                Err(e) => return Reply::Now(Err(e)),
            };
            return Reply::later(true, async move { encode(&committed.await, v) });
        }
        ApiKey::JoinGroup => {
            let joined = match decode(b, v, api_key) {
                Ok(request) => join_group::handle(&ctx, request),
                Err(e) => return Reply::Now(Err(e)),
            };
            return Reply::later(false, async move { encode(&joined.await, v) });
        }
        ApiKey::SyncGroup => {
            let synced = match decode(b, v, api_key) {
                Ok(request) => sync_group::handle(&ctx, request),
                Err(e) => return Reply::Now(Err(e)),
            };
            return Reply::later(false, async move { encode(&synced.await, v) });
        }
        ApiKey::Fetch => {
            let request = match decode(b, v, api_key) {
                Ok(request) => request,
                Err(e) => return Reply::Now(Err(e)),
            };
            // Nothing to take effect: the whole fetch, long poll included, is the wait.
            return Reply::later(false, async move { encode(&fetch::handle(&ctx, request).await?, v) });
        }
        ApiKey::ShareFetch => {
            let request = match decode(b, v, api_key) {
                Ok(request) => request,
                Err(e) => return Reply::Now(Err(e)),
            };
            return Reply::later(false, async move { encode(&share_fetch::handle(&ctx, request).await?, v) });
        }
        _ => ready(&ctx, api_key, b).await,
    };
    Reply::Now(answer)
}

/// The APIs whose whole handling is their effect.
async fn ready(ctx: &RequestContext, api_key: ApiKey, b: &mut Bytes) -> Answer {
    let v = ctx.version();
    match api_key {
        ApiKey::ApiVersions => encode(&api_versions::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::Metadata => encode(&metadata::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::ListOffsets => encode(&list_offsets::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::CreateTopics => encode(&create_topics::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::DeleteTopics => encode(&delete_topics::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::CreatePartitions => encode(&create_partitions::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::DeleteRecords => encode(&delete_records::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::InitProducerId => encode(&init_producer_id::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::DescribeConfigs => encode(&describe_configs::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::AlterConfigs => encode(&alter_configs::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::IncrementalAlterConfigs => {
            encode(&incremental_alter_configs::handle(ctx, decode(b, v, api_key)?).await?, v)
        }
        ApiKey::DescribeAcls => encode(&acls::describe(decode(b, v, api_key)?), v),
        ApiKey::CreateAcls => encode(&acls::create(decode(b, v, api_key)?), v),
        ApiKey::DeleteAcls => encode(&acls::delete(decode(b, v, api_key)?), v),
        ApiKey::FindCoordinator => encode(&find_coordinator::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::Heartbeat => encode(&heartbeat::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::LeaveGroup => encode(&leave_group::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::OffsetFetch => encode(&offset_fetch::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::DescribeGroups => encode(&describe_groups::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::ListGroups => encode(&list_groups::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::DeleteGroups => encode(&delete_groups::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::OffsetDelete => encode(&offset_delete::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::AddPartitionsToTxn => {
            encode(&add_partitions_to_txn::handle(ctx, decode(b, v, api_key)?).await, v)
        }
        ApiKey::AddOffsetsToTxn => encode(&add_offsets_to_txn::handle(ctx, decode(b, v, api_key)?).await, v),
        ApiKey::EndTxn => encode(&end_txn::handle(ctx, decode(b, v, api_key)?).await, v),
        ApiKey::TxnOffsetCommit => encode(&txn_offset_commit::handle(ctx, decode(b, v, api_key)?).await, v),
        ApiKey::DescribeTransactions => {
            encode(&describe_transactions::handle(ctx, decode(b, v, api_key)?).await, v)
        }
        ApiKey::ListTransactions => encode(&list_transactions::handle(ctx, decode(b, v, api_key)?).await, v),
        ApiKey::ConsumerGroupHeartbeat => {
            encode(&consumer_group_heartbeat::handle(ctx, decode(b, v, api_key)?), v)
        }
        ApiKey::ConsumerGroupDescribe => {
            encode(&consumer_group_describe::handle(ctx, decode(b, v, api_key)?), v)
        }
        ApiKey::ShareGroupHeartbeat => {
            encode(&share_group_heartbeat::handle(ctx, decode(b, v, api_key)?).await?, v)
        }
        ApiKey::ShareGroupDescribe => encode(&share_group_describe::handle(ctx, decode(b, v, api_key)?), v),
        ApiKey::ShareAcknowledge => encode(&share_acknowledge::handle(ctx, decode(b, v, api_key)?).await?, v),
        ApiKey::DescribeShareGroupOffsets => {
            encode(&share_group_offsets::describe(ctx, decode(b, v, api_key)?).await?, v)
        }
        ApiKey::AlterShareGroupOffsets => {
            encode(&share_group_offsets::alter(ctx, decode(b, v, api_key)?).await?, v)
        }
        ApiKey::DeleteShareGroupOffsets => {
            encode(&share_group_offsets::delete(ctx, decode(b, v, api_key)?).await?, v)
        }
        other => Err(ConnectionError::UnsupportedVersion { api: other, version: v }),
    }
}

fn decode<T: Decodable>(body: &mut Bytes, version: i16, api: ApiKey) -> Result<T, ConnectionError> {
    T::decode(body, version).map_err(|e| ConnectionError::Malformed(format!("{api:?} v{version}: {e}")))
}

fn encode<T: Encodable>(response: &T, version: i16) -> Answer {
    let mut out = BytesMut::new();
    response
        .encode(&mut out, version)
        .map_err(|e| ConnectionError::Internal(format!("encoding a v{version} response: {e}")))?;
    Ok(Some(out.freeze()))
}

/// The client id the request header names (empty when absent).
pub(crate) fn client_id(ctx: &RequestContext) -> String {
    ctx.header.client_id.as_ref().map(|s| s.to_string()).unwrap_or_default()
}

/// The client's address as Kafka shows it in group descriptions (`/127.0.0.1`).
pub(crate) fn client_host(ctx: &RequestContext) -> String {
    format!("/{}", ctx.peer.ip())
}

/// A protocol string from a Rust one.
pub(crate) fn str_bytes(s: impl Into<String>) -> StrBytes {
    StrBytes::from_string(s.into())
}
