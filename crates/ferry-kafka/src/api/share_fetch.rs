//! ShareFetch: acknowledgements piggy-backed on the fetch, then records acquired for the member
//! from the partitions of its share session, long-polling until some are acquired or
//! `max_wait_ms` passes.
//!
//! The session (epoch 0 opens it, each request adds partitions and forgets others, -1 closes it
//! and releases what the member holds) lives in the share coordinator. The wait is a
//! registration on the session's partitions (new records) and on the group (records released
//! or whose lock ran out), made before each attempt, so nothing re-reads on a timer.

use std::collections::BTreeMap;
use std::sync::Arc;

use ferry_broker::shares::{AckBatches, AckError, AckKind, TopicPartition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ShareFetchRequest, ShareFetchResponse};

use super::shares::{TopicIds, share_error};
use super::{RequestContext, share_configs, str_bytes};
use crate::connection::ConnectionError;

/// Longest wait a client may ask for.
const MAX_WAIT_MS_MAX: i64 = 60_000;
/// Most records one fetch acquires, whatever it asks for.
const MAX_RECORDS_MAX: usize = 10_000;
/// The session epoch that closes a share session.
pub(crate) const FINAL_EPOCH: i32 = -1;

/// What one partition's answer carries.
#[derive(Default)]
struct Answer {
    error: Option<ResponseError>,
    ack_error: Option<ResponseError>,
    records: bytes::Bytes,
    acquired: Vec<AcquiredRecords>,
}

/// Acknowledgement batches of the protocol as the coordinator takes them; `None` when a type
/// is unknown.
pub(crate) fn ack_batches<'a>(batches: impl Iterator<Item = (i64, i64, &'a [i8])>) -> Option<AckBatches> {
    let mut out = Vec::new();
    for (first, last, types) in batches {
        if first < 0 || last < first || types.is_empty() {
            return None;
        }
        let kinds = types.iter().map(|&t| AckKind::from_code(t)).collect::<Option<Vec<_>>>()?;
        if kinds.len() != 1 && kinds.len() as i64 != last - first + 1 {
            return None;
        }
        out.push((first as u64, last as u64, kinds));
    }
    Some(out)
}

/// Applies acknowledgements of `tp`; the partition's acknowledge error, if any.
pub(crate) async fn acknowledge(
    ctx: &RequestContext,
    group: &str,
    member: &str,
    tp: TopicPartition,
    batches: Option<AckBatches>,
) -> Result<Option<ResponseError>, ConnectionError> {
    let Some(batches) = batches else { return Ok(Some(ResponseError::InvalidRequest)) };
    let (group, member) = (group.to_owned(), member.to_owned());
    let done = ctx.share_blocking(move |s| s.acknowledge_blocking(&group, &member, tp, &batches)).await?;
    Ok(match done {
        Ok(None) => None,
        Ok(Some(AckError::NotAcquired)) => Some(ResponseError::InvalidRecordState),
        Err(e) => Some(share_error(&e)),
    })
}

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: ShareFetchRequest,
) -> Result<ShareFetchResponse, ConnectionError> {
    let group = request.group_id.as_ref().map(|g| g.0.to_string()).unwrap_or_default();
    let member = request.member_id.as_ref().map(|m| m.to_string()).unwrap_or_default();
    let config = share_configs::config_of(ctx, &group);
    let lock_ms = i32::try_from(config.record_lock_duration_ms).unwrap_or(i32::MAX);
    let ids = TopicIds::of(ctx);
    let epoch = request.share_session_epoch;

    let mut answers: BTreeMap<TopicPartition, Answer> = BTreeMap::new();
    let mut add = Vec::new();
    let mut acks = Vec::new();
    for t in &request.topics {
        let id = t.topic_id.as_u128();
        for p in &t.partitions {
            let tp = (id, p.partition_index.max(0) as u32);
            if !ids.names.contains_key(&id) {
                answers.entry(tp).or_default().error = Some(ResponseError::UnknownTopicId);
                continue;
            }
            add.push(tp);
            if !p.acknowledgement_batches.is_empty() {
                let batches = ack_batches(
                    p.acknowledgement_batches
                        .iter()
                        .map(|b| (b.first_offset, b.last_offset, &b.acknowledge_types[..])),
                );
                acks.push((tp, batches));
            }
        }
    }
    let forget: Vec<TopicPartition> = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id.as_u128(), p.max(0) as u32)))
        .collect();

    let session = if epoch == FINAL_EPOCH {
        Ok(Vec::new())
    } else {
        ctx.shares().update_session(&group, &member, epoch, &add, &forget, config.clone())
    };
    let session = match session {
        Ok(s) => s,
        Err(e) => {
            return Ok(ShareFetchResponse::default()
                .with_error_code(share_error(&e).code())
                .with_error_message(Some(str_bytes(e.to_string())))
                .with_acquisition_lock_timeout_ms(lock_ms));
        }
    };
    for (tp, batches) in acks {
        answers.entry(tp).or_default().ack_error = acknowledge(ctx, &group, &member, tp, batches).await?;
    }
    if epoch == FINAL_EPOCH {
        let (g, m) = (group.clone(), member.clone());
        if let Err(e) = ctx.share_blocking(move |s| s.close_session_blocking(&g, &m)).await? {
            tracing::warn!(group, member, error = %e, "closing a share session");
        }
    } else if request.max_records > 0 && !session.is_empty() {
        acquire(ctx, &request, &group, &member, &session, &mut answers).await?;
    }
    Ok(respond(ctx, answers, lock_ms))
}

/// Acquires records from `session`'s partitions, waiting up to the request's `max_wait_ms`
/// for some to become available.
async fn acquire(
    ctx: &RequestContext,
    request: &ShareFetchRequest,
    group: &str,
    member: &str,
    session: &[TopicPartition],
    answers: &mut BTreeMap<TopicPartition, Answer>,
) -> Result<(), ConnectionError> {
    let clock = Arc::clone(ctx.shares().clock());
    let deadline = clock.now_ms() + i64::from(request.max_wait_ms).clamp(0, MAX_WAIT_MS_MAX);
    let max_records = (request.max_records.max(1) as usize).min(MAX_RECORDS_MAX);
    let max_bytes = if request.max_bytes <= 0 { usize::MAX } else { request.max_bytes as usize };
    let ids = TopicIds::of(ctx);
    let watched: Vec<_> = session
        .iter()
        .filter_map(|(id, p)| ids.names.get(id).and_then(|name| ctx.topics().partition(name, *p)))
        .collect();
    let watch = ctx.topics().watch(&watched);
    let available = ctx.shares().available(group);
    loop {
        let notified = available.as_ref().map(|n| n.notified());
        tokio::pin!(notified);
        if let Some(n) = notified.as_mut().as_pin_mut() {
            n.enable();
        }
        let (g, m, mut tps) = (group.to_owned(), member.to_owned(), session.to_vec());
        // Each attempt starts at another partition, so that one with a backlog does not take
        // every fetch's record budget from the others.
        let first = clock.now_ms().rem_euclid(tps.len() as i64) as usize;
        tps.rotate_left(first);
        let got = ctx
            .share_blocking(move |s| {
                let mut got = Vec::new();
                let (mut records, mut bytes) = (0usize, 0usize);
                for tp in tps {
                    if records >= max_records || bytes >= max_bytes {
                        break;
                    }
                    let result = s.acquire_blocking(&g, &m, tp, max_records - records);
                    if let Ok(a) = &result {
                        records += a.ranges.iter().map(|r| (r.last - r.first + 1) as usize).sum::<usize>();
                        bytes += a.records.len();
                    }
                    got.push((tp, result));
                }
                got
            })
            .await?;
        let mut any = false;
        for (tp, result) in got {
            match result {
                Ok(a) if a.ranges.is_empty() => {}
                Ok(a) => {
                    any = true;
                    let answer = answers.entry(tp).or_default();
                    answer.records = a.records;
                    answer.acquired = a
                        .ranges
                        .iter()
                        .map(|r| {
                            AcquiredRecords::default()
                                .with_first_offset(r.first as i64)
                                .with_last_offset(r.last as i64)
                                .with_delivery_count(i16::try_from(r.delivery_count).unwrap_or(i16::MAX))
                        })
                        .collect();
                }
                Err(e) => {
                    any = true;
                    answers.entry(tp).or_default().error = Some(share_error(&e));
                }
            }
        }
        if any || clock.now_ms() >= deadline {
            return Ok(());
        }
        match notified.as_mut().as_pin_mut() {
            Some(n) => {
                tokio::select! {
                    _ = watch.wait(deadline) => {}
                    _ = n => {}
                }
            }
            None => {
                watch.wait(deadline).await;
            }
        }
    }
}

fn respond(
    ctx: &RequestContext,
    answers: BTreeMap<TopicPartition, Answer>,
    lock_ms: i32,
) -> ShareFetchResponse {
    let leader = LeaderIdAndEpoch::default().with_leader_id(ctx.shared.config.node_id).with_leader_epoch(0);
    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    for ((id, p), a) in answers {
        let data = PartitionData::default()
            .with_partition_index(p as i32)
            .with_error_code(a.error.map_or(0, |e| e.code()))
            .with_acknowledge_error_code(a.ack_error.map_or(0, |e| e.code()))
            .with_current_leader(leader.clone())
            .with_records(Some(a.records))
            .with_acquired_records(a.acquired);
        match topics.last_mut() {
            Some(t) if t.topic_id.as_u128() == id => t.partitions.push(data),
            _ => topics.push(
                ShareFetchableTopicResponse::default()
                    .with_topic_id(uuid::Uuid::from_u128(id))
                    .with_partitions(vec![data]),
            ),
        }
    }
    ShareFetchResponse::default().with_acquisition_lock_timeout_ms(lock_ms).with_responses(topics)
}
