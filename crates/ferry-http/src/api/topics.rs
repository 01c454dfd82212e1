//! `/api/v1/topics`: list, create, describe, change and delete topics; produce records and
//! read them from an offset or a time.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ferry_broker::topics::{CleanupPolicy, TopicConfig, TopicInfo};
use ferry_log::record::{NewRecord, decode_body, encode_batch, records_body};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::common::{
    ErrorAnswer, JsonBody, Name, Page, Params, blocking, body_of, catalog_error, fetch_error, produce_error,
    text_and_base64,
};
use crate::error::ApiError;
use crate::server::HttpContext;

/// Most records one produce takes.
const PRODUCE_MAX: usize = 1000;
/// Most records one read returns.
const READ_MAX: i64 = 1000;
/// Bytes read from the log per step of a read.
const READ_STEP_BYTES: usize = 1 << 20;

/// A topic's settings; in a request only those given are set. Durations in ms, `-1` for none.
#[derive(Clone, Debug, Default, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicSettings {
    /// Segments older than this are deleted; -1 keeps them forever.
    #[schema(minimum = -1)]
    pub retention_ms: Option<i64>,
    /// Oldest segments are deleted while a partition is larger; -1 is no limit.
    #[schema(minimum = -1)]
    pub retention_bytes: Option<i64>,
    /// `delete`, `compact` or `compact,delete`.
    pub cleanup_policy: Option<String>,
    #[schema(minimum = 1024)]
    pub segment_bytes: Option<u64>,
    /// Largest record batch accepted.
    #[schema(minimum = 1)]
    pub max_message_bytes: Option<u32>,
    #[schema(minimum = 0)]
    pub min_compaction_lag_ms: Option<u64>,
    #[schema(minimum = 0)]
    pub delete_retention_ms: Option<u64>,
}

fn policy_name(p: CleanupPolicy) -> &'static str {
    match p {
        CleanupPolicy::Delete => "delete",
        CleanupPolicy::Compact => "compact",
        CleanupPolicy::CompactDelete => "compact,delete",
    }
}

fn forever(v: Option<u64>) -> Option<i64> {
    Some(v.map_or(-1, |v| i64::try_from(v).unwrap_or(i64::MAX)))
}

impl TopicSettings {
    fn of(c: &TopicConfig) -> TopicSettings {
        TopicSettings {
            retention_ms: forever(c.retention_ms),
            retention_bytes: forever(c.retention_bytes),
            cleanup_policy: Some(policy_name(c.cleanup_policy).into()),
            segment_bytes: Some(c.segment_bytes),
            max_message_bytes: Some(c.max_message_bytes),
            min_compaction_lag_ms: Some(c.min_compaction_lag_ms),
            delete_retention_ms: Some(c.delete_retention_ms),
        }
    }

    fn apply(&self, mut c: TopicConfig) -> Result<TopicConfig, ApiError> {
        let limit = |name: &str, v: i64| match v {
            -1 => Ok(None),
            v if v >= 0 => Ok(Some(v as u64)),
            v => Err(ApiError::bad_request("invalid_config", format!("{name} must be -1 or more, not {v}"))),
        };
        if let Some(v) = self.retention_ms {
            c.retention_ms = limit("retention_ms", v)?;
        }
        if let Some(v) = self.retention_bytes {
            c.retention_bytes = limit("retention_bytes", v)?;
        }
        if let Some(p) = &self.cleanup_policy {
            c.cleanup_policy = match p.replace(' ', "").as_str() {
                "delete" => CleanupPolicy::Delete,
                "compact" => CleanupPolicy::Compact,
                "compact,delete" | "delete,compact" => CleanupPolicy::CompactDelete,
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_config",
                        format!("cleanup_policy must be delete, compact or compact,delete, not \"{other}\""),
                    ));
                }
            };
        }
        if let Some(v) = self.segment_bytes {
            if v < 1024 {
                return Err(ApiError::bad_request("invalid_config", "segment_bytes must be at least 1024"));
            }
            c.segment_bytes = v;
        }
        if let Some(v) = self.max_message_bytes {
            if v == 0 {
                return Err(ApiError::bad_request("invalid_config", "max_message_bytes must be at least 1"));
            }
            c.max_message_bytes = v;
        }
        if let Some(v) = self.min_compaction_lag_ms {
            c.min_compaction_lag_ms = v;
        }
        if let Some(v) = self.delete_retention_ms {
            c.delete_retention_ms = v;
        }
        Ok(c)
    }
}

/// A topic in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicSummary {
    pub name: String,
    pub partitions: u32,
    /// Sum of the partitions' end offsets (records written, kept or not).
    pub end_offset_total: u64,
    /// Bytes of every partition's segments.
    pub bytes: u64,
}

/// A page of topics.
#[derive(Debug, Serialize, ToSchema)]
pub struct TopicList {
    pub items: Vec<TopicSummary>,
    pub next: Option<String>,
}

/// A partition's offsets.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartitionInfo {
    pub partition: u32,
    /// First offset still in the log.
    pub start_offset: u64,
    /// Offset after the last record written.
    pub end_offset: u64,
    /// Consumers read below this.
    pub high_watermark: u64,
    pub bytes: u64,
}

/// A topic described.
#[derive(Debug, Serialize, ToSchema)]
pub struct Topic {
    pub name: String,
    pub config: TopicSettings,
    pub partitions: Vec<PartitionInfo>,
}

/// A topic to create.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTopic {
    pub name: String,
    /// Default 1.
    #[schema(minimum = 1)]
    pub partitions: Option<u32>,
    #[serde(default)]
    pub config: TopicSettings,
}

/// Changes to a topic.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TopicUpdate {
    /// The new partition count (more than now; never fewer).
    #[schema(minimum = 1)]
    pub partitions: Option<u32>,
    pub config: Option<TopicSettings>,
}

/// A record to produce: `value` (text) or `value_base64`, and so for the key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRecordBody {
    pub key: Option<String>,
    pub key_base64: Option<String>,
    pub value: Option<String>,
    pub value_base64: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Without one, a keyed record goes to its key's partition (Kafka's partitioner), an
    /// unkeyed one round-robin.
    pub partition: Option<u32>,
}

/// Records to produce.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProduceRequest {
    pub records: Vec<NewRecordBody>,
}

/// Where a record landed.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordOffset {
    pub partition: u32,
    pub offset: u64,
}

/// Where the records landed, in the order sent.
#[derive(Debug, Serialize, ToSchema)]
pub struct Produced {
    pub offsets: Vec<RecordOffset>,
}

/// A record read.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordBody {
    pub partition: u32,
    pub offset: u64,
    pub timestamp_ms: i64,
    /// The key, when it is UTF-8.
    pub key: Option<String>,
    pub key_base64: Option<String>,
    /// The value, when it is UTF-8 (null for a tombstone).
    pub value: Option<String>,
    pub value_base64: Option<String>,
    /// Headers whose values are UTF-8 (others as base64).
    pub headers: BTreeMap<String, String>,
}

/// Records read.
#[derive(Debug, Serialize, ToSchema)]
pub struct Records {
    pub records: Vec<RecordBody>,
    /// Where the next read continues.
    pub next_offset: u64,
}

/// Query of a read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReadQuery {
    /// The partition (default 0).
    pub partition: Option<u32>,
    /// Read from this offset.
    pub offset: Option<u64>,
    /// Read from the first record at or after this time (ms since the epoch).
    pub timestamp_ms: Option<i64>,
    /// Most records (1–1000, default 100).
    pub limit: Option<i64>,
}

fn summary(ctx: &HttpContext, info: &TopicInfo) -> TopicSummary {
    let (mut end, mut bytes) = (0, 0);
    for p in 0..info.partitions {
        if let Some(part) = ctx.broker.topics().partition(&info.name, p) {
            end += part.offsets().log_end_offset;
            bytes += part.size_bytes();
        }
    }
    TopicSummary { name: info.name.clone(), partitions: info.partitions, end_offset_total: end, bytes }
}

fn describe_topic(ctx: &HttpContext, name: &str) -> Result<Topic, ApiError> {
    let info = ctx
        .broker
        .topics()
        .topic(name)
        .ok_or_else(|| ApiError::not_found("topic_not_found", format!("no topic named \"{name}\"")))?;
    let partitions = (0..info.partitions)
        .filter_map(|p| ctx.broker.topics().partition(name, p))
        .map(|part| {
            let o = part.offsets();
            PartitionInfo {
                partition: part.index(),
                start_offset: o.log_start_offset,
                end_offset: o.log_end_offset,
                high_watermark: o.high_watermark,
                bytes: part.size_bytes(),
            }
        })
        .collect();
    Ok(Topic { name: info.name, config: TopicSettings::of(&info.config), partitions })
}

/// List topics
#[utoipa::path(get, path = "/api/v1/topics", tag = "topics", params(Page),
    responses((status = 200, body = TopicList), (status = 400, body = ErrorAnswer)))]
pub async fn list(
    State(ctx): State<Arc<HttpContext>>,
    Params(page): Params<Page>,
) -> Result<Json<TopicList>, ApiError> {
    let infos = ctx.broker.topics().topics();
    let (names, next) = page.slice(infos.iter().map(|t| t.name.clone()).collect())?;
    let items = names
        .iter()
        .filter_map(|n| infos.iter().find(|t| &t.name == n))
        .map(|info| summary(&ctx, info))
        .collect();
    Ok(Json(TopicList { items, next }))
}

/// Create a topic
#[utoipa::path(post, path = "/api/v1/topics", tag = "topics", request_body = NewTopic,
    responses((status = 201, body = Topic), (status = 400, body = ErrorAnswer), (status = 409, body = ErrorAnswer),
        (status = 415, body = ErrorAnswer)))]
pub async fn create(
    State(ctx): State<Arc<HttpContext>>,
    JsonBody(new): JsonBody<NewTopic>,
) -> Result<(StatusCode, Json<Topic>), ApiError> {
    let config = new.config.apply(ctx.broker.topics().default_config().clone())?;
    let partitions = new.partitions.unwrap_or(1);
    let topic = blocking(&ctx, move |ctx| {
        let topics = ctx.broker.topics();
        topics.validate_new_topic(&new.name, partitions, &config).map_err(catalog_error)?;
        topics.create_topic(&new.name, partitions, config).map_err(catalog_error)?;
        describe_topic(ctx, &new.name)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(topic)))
}

/// Describe a topic
#[utoipa::path(get, path = "/api/v1/topics/{name}", tag = "topics", params(("name" = String, Path)),
    responses((status = 200, body = Topic),
        (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn describe(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
) -> Result<Json<Topic>, ApiError> {
    describe_topic(&ctx, &name).map(Json)
}

/// Change a topic: more partitions, other settings
#[utoipa::path(patch, path = "/api/v1/topics/{name}", tag = "topics", params(("name" = String, Path)),
    request_body = TopicUpdate,
    responses((status = 200, body = Topic), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 415, body = ErrorAnswer)))]
pub async fn update(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(update): JsonBody<TopicUpdate>,
) -> Result<Json<Topic>, ApiError> {
    let info = ctx
        .broker
        .topics()
        .topic(&name)
        .ok_or_else(|| ApiError::not_found("topic_not_found", format!("no topic named \"{name}\"")))?;
    let config = match &update.config {
        Some(settings) => Some(settings.apply(info.config.clone())?),
        None => None,
    };
    if let Some(total) = update.partitions
        && total < info.partitions
    {
        return Err(ApiError::bad_request(
            "invalid_partitions",
            format!("a topic's partitions can only grow: it has {}, not fewer", info.partitions),
        ));
    }
    blocking(&ctx, move |ctx| {
        let topics = ctx.broker.topics();
        if let Some(total) = update.partitions.filter(|&t| t > info.partitions) {
            topics.validate_new_partitions(&name, total).map_err(catalog_error)?;
            topics.create_partitions(&name, total).map_err(catalog_error)?;
        }
        if let Some(config) = config {
            topics.set_config(&name, config).map_err(catalog_error)?;
        }
        describe_topic(ctx, &name)
    })
    .await
    .map(Json)
}

/// Delete a topic
#[utoipa::path(delete, path = "/api/v1/topics/{name}", tag = "topics", params(("name" = String, Path)),
    responses((status = 204), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn delete(State(ctx): State<Arc<HttpContext>>, Name(name): Name) -> Result<StatusCode, ApiError> {
    blocking(&ctx, move |ctx| ctx.broker.topics().delete_topic(&name).map_err(catalog_error)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Kafka's murmur2 hash, with which its default partitioner places a keyed record.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition Kafka's default partitioner gives `key` among `partitions`.
fn partition_of_key(key: &[u8], partitions: u32) -> u32 {
    (murmur2(key) & 0x7fff_ffff) % partitions
}

/// Round-robin position for unkeyed records.
static ROUND_ROBIN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Produce records
#[utoipa::path(post, path = "/api/v1/topics/{name}/records", tag = "topics", params(("name" = String, Path)),
    request_body = ProduceRequest,
    responses((status = 201, body = Produced), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer),
        (status = 413, body = ErrorAnswer), (status = 415, body = ErrorAnswer), (status = 503, body = ErrorAnswer)))]
pub async fn produce(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    JsonBody(request): JsonBody<ProduceRequest>,
) -> Result<(StatusCode, Json<Produced>), ApiError> {
    if request.records.is_empty() || request.records.len() > PRODUCE_MAX {
        return Err(ApiError::bad_request("invalid_records", format!("give 1 to {PRODUCE_MAX} records")));
    }
    if ctx.broker.disk_alarm().is_raised() {
        return Err(ApiError::unavailable(
            "the disk is nearly full: produces are refused until space is freed",
        ));
    }
    let info = ctx
        .broker
        .topics()
        .topic(&name)
        .ok_or_else(|| ApiError::not_found("topic_not_found", format!("no topic named \"{name}\"")))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    // Decoded records with their partition, in the order sent.
    let mut decoded = Vec::with_capacity(request.records.len());
    for r in request.records {
        let key = match (r.key, r.key_base64) {
            (None, None) => None,
            (k, k64) => Some(body_of(k, k64, "key")?),
        };
        let value = match (r.value, r.value_base64) {
            (None, None) => None,
            (v, v64) => Some(body_of(v, v64, "value")?),
        };
        let partition = match (r.partition, &key) {
            (Some(p), _) if p >= info.partitions => {
                return Err(ApiError::not_found(
                    "partition_not_found",
                    format!("topic \"{name}\" has partitions 0 to {}, not {p}", info.partitions - 1),
                ));
            }
            (Some(p), _) => p,
            (None, Some(k)) => partition_of_key(k, info.partitions),
            (None, None) => ROUND_ROBIN.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % info.partitions,
        };
        decoded.push((partition, key, value, r.headers));
    }
    let mut by_partition: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, (p, ..)) in decoded.iter().enumerate() {
        by_partition.entry(*p).or_default().push(i);
    }
    let mut offsets = vec![0u64; decoded.len()];
    let mut pending = Vec::new();
    for (partition, indexes) in &by_partition {
        let records: Vec<NewRecord<'_>> = indexes
            .iter()
            .map(|&i| {
                let (_, key, value, headers) = &decoded[i];
                NewRecord {
                    timestamp: now,
                    key: key.as_deref(),
                    value: value.as_deref(),
                    headers: headers.iter().map(|(k, v)| (k.as_bytes(), Some(v.as_bytes()))).collect(),
                }
            })
            .collect();
        let batch = encode_batch(&records);
        let appended = ctx.broker.topics().produce(&name, *partition, &batch).map_err(produce_error)?;
        pending.push((indexes.clone(), appended));
    }
    for (indexes, appended) in pending {
        let outcome = appended.durable().await.map_err(produce_error)?;
        for (k, &i) in indexes.iter().enumerate() {
            offsets[i] = outcome.base_offset + k as u64;
        }
    }
    let offsets = decoded
        .iter()
        .zip(offsets)
        .map(|((partition, ..), offset)| RecordOffset { partition: *partition, offset })
        .collect();
    Ok((StatusCode::CREATED, Json(Produced { offsets })))
}

/// Read records
///
/// From `offset`, or from the first record at or after `timestamp_ms`, or from the start.
#[utoipa::path(get, path = "/api/v1/topics/{name}/records", tag = "topics", params(("name" = String, Path), ReadQuery),
    responses((status = 200, body = Records), (status = 400, body = ErrorAnswer), (status = 404, body = ErrorAnswer)))]
pub async fn read(
    State(ctx): State<Arc<HttpContext>>,
    Name(name): Name,
    Params(q): Params<ReadQuery>,
) -> Result<Json<Records>, ApiError> {
    let limit = match q.limit {
        None => 100,
        Some(n) if (1..=READ_MAX).contains(&n) => n as usize,
        Some(n) => {
            return Err(ApiError::bad_request(
                "invalid_limit",
                format!("limit must be 1 to {READ_MAX}, not {n}"),
            ));
        }
    };
    if q.offset.is_some() && q.timestamp_ms.is_some() {
        return Err(ApiError::bad_request("invalid_query", "give offset or timestamp_ms, not both"));
    }
    let index = q.partition.unwrap_or(0);
    if ctx.broker.topics().topic(&name).is_none() {
        return Err(ApiError::not_found("topic_not_found", format!("no topic named \"{name}\"")));
    }
    let part = ctx.broker.topics().partition(&name, index).ok_or_else(|| {
        ApiError::not_found("partition_not_found", format!("topic \"{name}\" has no partition {index}"))
    })?;
    blocking(&ctx, move |_| {
        let offsets = part.offsets();
        let mut from = match (q.offset, q.timestamp_ms) {
            (Some(o), _) => o,
            (None, Some(ts)) => {
                part.offset_for_timestamp(ts).map_err(fetch_error)?.map_or(offsets.high_watermark, |(o, _)| o)
            }
            (None, None) => offsets.log_start_offset,
        };
        if from < offsets.log_start_offset || from > offsets.log_end_offset {
            return Err(ApiError::bad_request(
                "offset_out_of_range",
                format!(
                    "offset {from} is outside partition {index}'s log, which holds offsets {} to {}",
                    offsets.log_start_offset, offsets.log_end_offset
                ),
            ));
        }
        let mut records = Vec::new();
        while records.len() < limit && from < part.high_watermark() {
            let read = part.read(from, READ_STEP_BYTES, true).map_err(fetch_error)?;
            if read.records.is_empty() {
                break;
            }
            let mut next = from;
            for batch in ferry_log::batch::batches(&read.records) {
                let (header, bytes) =
                    batch.map_err(|e| ApiError::internal(format!("a stored batch is unreadable: {e}")))?;
                next = next.max(header.last_offset() as u64 + 1);
                if header.is_control() {
                    continue;
                }
                let body = records_body(bytes)
                    .map_err(|e| ApiError::internal(format!("a stored batch is unreadable: {e}")))?;
                let decoded = decode_body(&body, header.record_count)
                    .map_err(|e| ApiError::internal(format!("a stored batch is unreadable: {e}")))?;
                for r in decoded {
                    let offset = (header.base_offset + i64::from(r.offset_delta)) as u64;
                    if offset < from || records.len() >= limit {
                        continue;
                    }
                    let (key, key_base64) = match r.key {
                        Some(k) => {
                            let (t, b) = text_and_base64(k);
                            (t, Some(b))
                        }
                        None => (None, None),
                    };
                    let (value, value_base64) = match r.value {
                        Some(v) => {
                            let (t, b) = text_and_base64(v);
                            (t, Some(b))
                        }
                        None => (None, None),
                    };
                    let headers = r
                        .headers
                        .iter()
                        .map(|(k, v)| {
                            let v = v.map(text_and_base64).map(|(t, b)| t.unwrap_or(b)).unwrap_or_default();
                            (String::from_utf8_lossy(k).into_owned(), v)
                        })
                        .collect();
                    records.push(RecordBody {
                        partition: index,
                        offset,
                        timestamp_ms: header.base_timestamp + r.timestamp_delta,
                        key,
                        key_base64,
                        value,
                        value_base64,
                        headers,
                    });
                }
            }
            if next <= from {
                break;
            }
            from = next;
        }
        let next_offset = records.last().map_or(from, |r| r.offset + 1);
        Ok(Json(Records { records, next_offset }))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas() {
        // Kafka's own test vectors (org.apache.kafka.common.utils.UtilsTest).
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58_897_971),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(murmur2(key) as i32, expected, "{}", String::from_utf8_lossy(key));
        }
    }
}
