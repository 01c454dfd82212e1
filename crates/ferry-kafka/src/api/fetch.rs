//! Fetch: whole stored batches up to the high watermark, long-polling until `min_bytes` or `max_wait_ms`.
//!
//! The answer stays within the request's `max_bytes` and each partition's `partition_max_bytes`,
//! except that the first batch of the first partition with data is sent whole even when larger
//! (Kafka's rule, so that a consumer always makes progress).
//!
//! The wait is a registration on every requested partition, made before the first read, so an append
//! landing between a read and the wait still wakes the fetch; nothing re-reads on a timer.

use std::sync::Arc;

use bytes::Bytes;
use ferry_broker::topics::{FetchError, Isolation, Partition};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse, ProducerId};

use super::RequestContext;
use crate::connection::ConnectionError;
use crate::errors::fetch_error;

/// Longest wait a client may ask for; a bound so that a request cannot pin a task forever.
const MAX_WAIT_MS_MAX: i64 = 60_000;

struct Wanted {
    topic: usize,
    partition_index: i32,
    partition: Option<Arc<Partition>>,
    offset: i64,
    max_bytes: usize,
}

pub(crate) async fn handle(
    ctx: &RequestContext,
    request: FetchRequest,
) -> Result<FetchResponse, ConnectionError> {
    let topics = ctx.topics();
    let clock = Arc::clone(topics.clock());
    let deadline = clock.now_ms() + i64::from(request.max_wait_ms).clamp(0, MAX_WAIT_MS_MAX);
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_bytes = if request.max_bytes <= 0 { usize::MAX } else { request.max_bytes as usize };

    let mut wanted = Vec::new();
    let mut names = Vec::with_capacity(request.topics.len());
    for (t, topic) in request.topics.iter().enumerate() {
        names.push(topic.topic.clone());
        for p in &topic.partitions {
            let partition = u32::try_from(p.partition).ok().and_then(|i| topics.partition(&topic.topic.0, i));
            wanted.push(Wanted {
                topic: t,
                partition_index: p.partition,
                partition,
                offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(1) as usize,
            });
        }
    }
    let watched: Vec<Arc<Partition>> = wanted.iter().filter_map(|w| w.partition.clone()).collect();
    let watch = topics.watch(&watched);
    let wanted = Arc::new(wanted);
    let version = ctx.version();
    let isolation =
        if request.isolation_level == 1 { Isolation::ReadCommitted } else { Isolation::ReadUncommitted };
    // Reads touch the disk: they run on the blocking pool, never on a worker of the runtime.
    let read = || {
        let wanted = Arc::clone(&wanted);
        async move {
            tokio::task::spawn_blocking(move || read_all(&wanted, max_bytes, version, isolation))
                .await
                .map_err(|e| ConnectionError::Internal(format!("fetch read task failed: {e}")))
        }
    };

    loop {
        let (results, total, errors) = read().await?;
        let timed_out = clock.now_ms() >= deadline;
        if total >= min_bytes || errors || timed_out || watched.is_empty() {
            return Ok(respond(names, &wanted, results));
        }
        if !watch.wait(deadline).await {
            let (results, _, _) = read().await?;
            return Ok(respond(names, &wanted, results));
        }
    }
}

fn read_all(
    wanted: &[Wanted],
    max_bytes: usize,
    version: i16,
    isolation: Isolation,
) -> (Vec<PartitionData>, usize, bool) {
    let mut total = 0usize;
    let mut errors = false;
    let mut results = Vec::with_capacity(wanted.len());
    for w in wanted {
        let mut data = PartitionData::default()
            .with_partition_index(w.partition_index)
            .with_aborted_transactions(Some(Vec::new()));
        let Some(partition) = &w.partition else {
            errors = true;
            results.push(
                data.with_error_code(ResponseError::UnknownTopicOrPartition.code())
                    .with_high_watermark(-1)
                    .with_last_stable_offset(-1)
                    .with_records(Some(Bytes::new())),
            );
            continue;
        };
        let budget = max_bytes.saturating_sub(total).min(w.max_bytes);
        // As in Kafka, only the first batch of the first partition with data may go over the
        // limits; after it, a batch that does not fit waits for the next fetch.
        let first_may_exceed = total == 0;
        let outcome = if w.offset < 0 {
            Err(FetchError::OffsetOutOfRange {
                offset: 0,
                log_start_offset: partition.offsets().log_start_offset,
                high_watermark: partition.high_watermark(),
            })
        } else if budget == 0 {
            Ok(None)
        } else {
            partition.read_isolated(w.offset as u64, budget, first_may_exceed, isolation).map(Some)
        };
        data = match outcome {
            Ok(Some(read)) => {
                total += read.records.len();
                let aborted = read
                    .aborted
                    .iter()
                    .map(|a| {
                        AbortedTransaction::default()
                            .with_producer_id(ProducerId(a.producer_id))
                            .with_first_offset(a.first_offset as i64)
                    })
                    .collect();
                data.with_high_watermark(read.high_watermark as i64)
                    .with_last_stable_offset(read.last_stable_offset as i64)
                    .with_aborted_transactions(Some(aborted))
                    .with_log_start_offset(read.log_start_offset as i64)
                    .with_records(Some(read.records))
            }
            Ok(None) => {
                let offsets = partition.offsets();
                data.with_high_watermark(offsets.high_watermark as i64)
                    .with_last_stable_offset(offsets.last_stable_offset as i64)
                    .with_log_start_offset(offsets.log_start_offset as i64)
                    .with_records(Some(Bytes::new()))
            }
            Err(e) => {
                errors = true;
                let offsets = partition.offsets();
                data.with_error_code(fetch_error(&e).code())
                    .with_high_watermark(offsets.high_watermark as i64)
                    .with_last_stable_offset(offsets.last_stable_offset as i64)
                    .with_log_start_offset(offsets.log_start_offset as i64)
                    .with_records(Some(Bytes::new()))
            }
        };
        if version < 5 {
            // log_start_offset exists from v5 on.
            data.log_start_offset = -1;
        }
        results.push(data);
    }
    (results, total, errors)
}

fn respond(
    names: Vec<kafka_protocol::messages::TopicName>,
    wanted: &[Wanted],
    results: Vec<PartitionData>,
) -> FetchResponse {
    let mut topics: Vec<FetchableTopicResponse> =
        names.into_iter().map(|name| FetchableTopicResponse::default().with_topic(name)).collect();
    for (w, data) in wanted.iter().zip(results) {
        topics[w.topic].partitions.push(data);
    }
    FetchResponse::default().with_responses(topics)
}
