//! The message model every protocol maps onto: typed header values and the system properties.
//!
//! AMQP field tables carry booleans, integers of each width and sign, floats, decimals,
//! timestamps, byte arrays, nested tables and arrays; a message must come back exactly as sent,
//! so [`Value`] keeps each kind apart. [`encode_value`] / [`decode_value`] are the stored form
//! (a tag byte, then big-endian payload), bounded in depth and checked in length on decode.

use bytes::Bytes;

/// A typed header value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value (AMQP's void field).
    Void,
    /// A boolean.
    Bool(bool),
    /// Signed 8-bit integer.
    I8(i8),
    /// Unsigned 8-bit integer.
    U8(u8),
    /// Signed 16-bit integer.
    I16(i16),
    /// Unsigned 16-bit integer.
    U16(u16),
    /// Signed 32-bit integer.
    I32(i32),
    /// Unsigned 32-bit integer.
    U32(u32),
    /// Signed 64-bit integer.
    I64(i64),
    /// Unsigned 64-bit integer.
    U64(u64),
    /// 32-bit float.
    F32(f32),
    /// 64-bit float.
    F64(f64),
    /// `value / 10^scale`.
    Decimal {
        /// Decimal places.
        scale: u8,
        /// Unscaled value.
        value: u32,
    },
    /// Seconds since the epoch.
    Timestamp(u64),
    /// UTF-8 text (AMQP long and short strings).
    Text(String),
    /// Raw bytes.
    Bytes(Bytes),
    /// A list of values.
    Array(Vec<Value>),
    /// A nested table, in the order sent.
    Table(Table),
}

/// Named values in the order sent (a table may repeat a name; the first one wins on lookup).
pub type Table = Vec<(String, Value)>;

/// The first value named `name` in `table`.
pub fn lookup<'a>(table: &'a [(String, Value)], name: &str) -> Option<&'a Value> {
    table.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

impl Value {
    /// The value as a signed integer when it is an integer of any width that fits.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::I8(v) => Some(v.into()),
            Value::U8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::I64(v) => Some(v),
            Value::U64(v) => i64::try_from(v).ok(),
            _ => None,
        }
    }

    /// The value as text when it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Deepest nesting of arrays and tables accepted on decode.
pub const MAX_DEPTH: usize = 32;

/// Why stored value bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The bytes end inside a value.
    #[error("truncated value")]
    Truncated,
    /// An unknown tag byte.
    #[error("unknown value tag {0:#04x}")]
    UnknownTag(u8),
    /// Nested deeper than [`MAX_DEPTH`].
    #[error("values nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// Text that is not UTF-8.
    #[error("text is not UTF-8")]
    NotUtf8,
    /// Bytes left after the value.
    #[error("trailing bytes after a value")]
    Trailing,
}

const T_VOID: u8 = b'V';
const T_BOOL: u8 = b't';
const T_I8: u8 = b'b';
const T_U8: u8 = b'B';
const T_I16: u8 = b's';
const T_U16: u8 = b'u';
const T_I32: u8 = b'I';
const T_U32: u8 = b'i';
const T_I64: u8 = b'l';
const T_U64: u8 = b'L';
const T_F32: u8 = b'f';
const T_F64: u8 = b'd';
const T_DECIMAL: u8 = b'D';
const T_TIMESTAMP: u8 = b'T';
const T_TEXT: u8 = b'S';
const T_BYTES: u8 = b'x';
const T_ARRAY: u8 = b'A';
const T_TABLE: u8 = b'F';

/// Appends the stored form of `v` to `out`.
pub fn encode_value(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Void => out.push(T_VOID),
        Value::Bool(b) => out.extend([T_BOOL, u8::from(*b)]),
        Value::I8(x) => out.extend([T_I8, *x as u8]),
        Value::U8(x) => out.extend([T_U8, *x]),
        Value::I16(x) => tagged(out, T_I16, &x.to_be_bytes()),
        Value::U16(x) => tagged(out, T_U16, &x.to_be_bytes()),
        Value::I32(x) => tagged(out, T_I32, &x.to_be_bytes()),
        Value::U32(x) => tagged(out, T_U32, &x.to_be_bytes()),
        Value::I64(x) => tagged(out, T_I64, &x.to_be_bytes()),
        Value::U64(x) => tagged(out, T_U64, &x.to_be_bytes()),
        Value::F32(x) => tagged(out, T_F32, &x.to_bits().to_be_bytes()),
        Value::F64(x) => tagged(out, T_F64, &x.to_bits().to_be_bytes()),
        Value::Decimal { scale, value } => {
            out.extend([T_DECIMAL, *scale]);
            out.extend(value.to_be_bytes());
        }
        Value::Timestamp(x) => tagged(out, T_TIMESTAMP, &x.to_be_bytes()),
        Value::Text(s) => sized(out, T_TEXT, s.as_bytes()),
        Value::Bytes(b) => sized(out, T_BYTES, b),
        Value::Array(items) => {
            out.push(T_ARRAY);
            out.extend((items.len() as u32).to_be_bytes());
            for item in items {
                encode_value(item, out);
            }
        }
        Value::Table(t) => {
            out.push(T_TABLE);
            encode_table(t, out);
        }
    }
}

/// Appends a table: its entry count, then each name (length-prefixed) and value.
pub fn encode_table(t: &[(String, Value)], out: &mut Vec<u8>) {
    out.extend((t.len() as u32).to_be_bytes());
    for (k, v) in t {
        out.extend((k.len() as u32).to_be_bytes());
        out.extend(k.as_bytes());
        encode_value(v, out);
    }
}

fn tagged(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend_from_slice(payload);
}

fn sized(out: &mut Vec<u8>, tag: u8, payload: &[u8]) {
    out.push(tag);
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Decodes exactly one value from `bytes`.
pub fn decode_value(bytes: &[u8]) -> Result<Value, ValueError> {
    let mut r = Reader { bytes, pos: 0 };
    let v = r.value(0)?;
    if r.pos == bytes.len() { Ok(v) } else { Err(ValueError::Trailing) }
}

/// Decodes exactly one table (as written by [`encode_table`]) from `bytes`.
pub fn decode_table(bytes: &[u8]) -> Result<Table, ValueError> {
    let mut r = Reader { bytes, pos: 0 };
    let t = r.table(0)?;
    if r.pos == bytes.len() { Ok(t) } else { Err(ValueError::Trailing) }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ValueError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()).ok_or(ValueError::Truncated)?;
        let s = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ValueError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    fn len(&mut self) -> Result<usize, ValueError> {
        Ok(u32::from_be_bytes(self.array()?) as usize)
    }

    fn text(&mut self) -> Result<String, ValueError> {
        let n = self.len()?;
        let s = self.take(n)?;
        std::str::from_utf8(s).map(str::to_owned).map_err(|_| ValueError::NotUtf8)
    }

    fn table(&mut self, depth: usize) -> Result<Table, ValueError> {
        if depth > MAX_DEPTH {
            return Err(ValueError::TooDeep);
        }
        let n = self.len()?;
        // Every entry takes at least five bytes (a name length and a tag): a forged count
        // cannot reserve more than the input could hold.
        let mut t = Vec::with_capacity(n.min((self.bytes.len() - self.pos) / 5));
        for _ in 0..n {
            let k = self.text()?;
            let v = self.value(depth + 1)?;
            t.push((k, v));
        }
        Ok(t)
    }

    fn value(&mut self, depth: usize) -> Result<Value, ValueError> {
        if depth > MAX_DEPTH {
            return Err(ValueError::TooDeep);
        }
        let [tag] = self.array()?;
        Ok(match tag {
            T_VOID => Value::Void,
            T_BOOL => Value::Bool(self.array::<1>()?[0] != 0),
            T_I8 => Value::I8(self.array::<1>()?[0] as i8),
            T_U8 => Value::U8(self.array::<1>()?[0]),
            T_I16 => Value::I16(i16::from_be_bytes(self.array()?)),
            T_U16 => Value::U16(u16::from_be_bytes(self.array()?)),
            T_I32 => Value::I32(i32::from_be_bytes(self.array()?)),
            T_U32 => Value::U32(u32::from_be_bytes(self.array()?)),
            T_I64 => Value::I64(i64::from_be_bytes(self.array()?)),
            T_U64 => Value::U64(u64::from_be_bytes(self.array()?)),
            T_F32 => Value::F32(f32::from_bits(u32::from_be_bytes(self.array()?))),
            T_F64 => Value::F64(f64::from_bits(u64::from_be_bytes(self.array()?))),
            T_DECIMAL => {
                let [scale] = self.array()?;
                Value::Decimal { scale, value: u32::from_be_bytes(self.array()?) }
            }
            T_TIMESTAMP => Value::Timestamp(u64::from_be_bytes(self.array()?)),
            T_TEXT => Value::Text(self.text()?),
            T_BYTES => {
                let n = self.len()?;
                Value::Bytes(Bytes::copy_from_slice(self.take(n)?))
            }
            T_ARRAY => {
                let n = self.len()?;
                let mut items = Vec::with_capacity(n.min(self.bytes.len() - self.pos));
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                Value::Array(items)
            }
            T_TABLE => Value::Table(self.table(depth + 1)?),
            other => return Err(ValueError::UnknownTag(other)),
        })
    }
}

/// The system properties every protocol maps onto (AMQP basic properties, SQS system attributes,
/// Kafka headers). `None` means "not set", which protocols tell apart from empty.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Properties {
    /// The id the publisher gave the message (the engine's own id is `NewMessage::message_id`,
    /// which front-ends set from this one when it is present).
    pub message_id: Option<String>,
    /// MIME type of the body.
    pub content_type: Option<String>,
    /// Encoding of the body (e.g. `gzip`, `utf-8`).
    pub content_encoding: Option<String>,
    /// 1 transient, 2 persistent (AMQP); ferry stores both alike, on disk.
    pub delivery_mode: Option<u8>,
    /// Application correlation id (request-reply).
    pub correlation_id: Option<String>,
    /// Where replies go (a queue name or `amq.rabbitmq.reply-to...`).
    pub reply_to: Option<String>,
    /// Per-message TTL as the publisher wrote it (AMQP: milliseconds as decimal text).
    pub expiration: Option<String>,
    /// Application message type.
    pub message_type: Option<String>,
    /// Publishing user, as the publisher claimed it.
    pub user_id: Option<String>,
    /// Publishing application.
    pub app_id: Option<String>,
    /// Publisher's timestamp, seconds since the epoch.
    pub timestamp_s: Option<u64>,
    /// Deprecated AMQP cluster id, kept as sent.
    pub cluster_id: Option<String>,
}

impl Properties {
    /// True when no property is set.
    pub fn is_empty(&self) -> bool {
        *self == Properties::default()
    }
}

/// Why a message left a queue for its dead-letter target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeathCause {
    /// Rejected or nacked without requeue by a consumer.
    Rejected,
    /// Its TTL (the queue's or its own) ran out.
    Expired,
    /// Pushed out by a newer message past the queue's length or byte limit.
    MaxLength,
    /// Delivered as often as the queue allows.
    DeliveryLimit,
}

impl DeathCause {
    /// The name RabbitMQ gives the reason (`x-death`'s `reason`).
    pub fn name(self) -> &'static str {
        match self {
            DeathCause::Rejected => "rejected",
            DeathCause::Expired => "expired",
            DeathCause::MaxLength => "maxlen",
            DeathCause::DeliveryLimit => "delivery_limit",
        }
    }

    /// The cause named `name`, if any.
    pub fn from_name(name: &str) -> Option<DeathCause> {
        [DeathCause::Rejected, DeathCause::Expired, DeathCause::MaxLength, DeathCause::DeliveryLimit]
            .into_iter()
            .find(|c| c.name() == name)
    }
}

/// One entry of a message's death history: it died `count` times in `queue` for `cause`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Death {
    /// The queue it was dead-lettered from.
    pub queue: String,
    /// Why.
    pub cause: DeathCause,
    /// How many times, for this queue and cause.
    pub count: u64,
    /// Exchange it had been published to before it died (the first time).
    pub exchange: Option<String>,
    /// Routing keys it had been published with.
    pub routing_keys: Vec<String>,
    /// When it died the last time, ms since the epoch.
    pub time_ms: i64,
}

/// Records a death in `history` (newest first): an existing entry for the same queue and cause
/// is counted up and moved to the front, as RabbitMQ keeps `x-death`.
pub fn record_death(history: &mut Vec<Death>, death: Death) {
    if let Some(i) = history.iter().position(|d| d.queue == death.queue && d.cause == death.cause) {
        let mut d = history.remove(i);
        d.count += death.count.max(1);
        d.time_ms = death.time_ms;
        history.insert(0, d);
    } else {
        history.insert(0, death);
    }
}

/// True when dead-lettering a message with `history` into `target` would close a cycle that no
/// consumer takes part in: it died in `target` before, and never by rejection. RabbitMQ drops
/// such messages instead of circling them forever.
pub fn is_dead_letter_cycle(history: &[Death], target: &str) -> bool {
    history.iter().any(|d| d.queue == target) && history.iter().all(|d| d.cause != DeathCause::Rejected)
}

/// The stored form of a death history: an array of tables.
pub fn deaths_to_value(history: &[Death]) -> Value {
    Value::Array(
        history
            .iter()
            .map(|d| {
                let mut t: Table = vec![
                    ("queue".into(), Value::Text(d.queue.clone())),
                    ("reason".into(), Value::Text(d.cause.name().into())),
                    ("count".into(), Value::U64(d.count)),
                    ("time_ms".into(), Value::I64(d.time_ms)),
                    (
                        "routing_keys".into(),
                        Value::Array(d.routing_keys.iter().cloned().map(Value::Text).collect()),
                    ),
                ];
                if let Some(x) = &d.exchange {
                    t.push(("exchange".into(), Value::Text(x.clone())));
                }
                Value::Table(t)
            })
            .collect(),
    )
}

/// A death history read back from [`deaths_to_value`]'s form; malformed entries are skipped.
pub fn deaths_from_value(v: &Value) -> Vec<Death> {
    let Value::Array(items) = v else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let Value::Table(t) = item else { return None };
            let text = |k: &str| lookup(t, k).and_then(Value::as_str).map(str::to_owned);
            Some(Death {
                queue: text("queue")?,
                cause: DeathCause::from_name(&text("reason")?)?,
                count: match lookup(t, "count") {
                    Some(Value::U64(n)) => *n,
                    _ => 1,
                },
                exchange: text("exchange"),
                routing_keys: match lookup(t, "routing_keys") {
                    Some(Value::Array(keys)) => {
                        keys.iter().filter_map(|k| k.as_str().map(str::to_owned)).collect()
                    }
                    _ => Vec::new(),
                },
                time_ms: lookup(t, "time_ms").and_then(Value::as_i64).unwrap_or(0),
            })
        })
        .collect()
}

/// Where a message was published and with which properties: what a consumer of any protocol
/// sees besides the body and headers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Envelope {
    /// The system properties.
    pub properties: Properties,
    /// Exchange the message was published to (`""` is the default exchange); `None` when it
    /// was sent to the queue directly (SQS).
    pub exchange: Option<String>,
    /// Routing key it was published with.
    pub routing_key: Option<String>,
    /// Its deaths, newest first (empty unless it was dead-lettered).
    pub deaths: Vec<Death>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Void),
            any::<bool>().prop_map(Value::Bool),
            any::<i8>().prop_map(Value::I8),
            any::<u8>().prop_map(Value::U8),
            any::<i16>().prop_map(Value::I16),
            any::<u16>().prop_map(Value::U16),
            any::<i32>().prop_map(Value::I32),
            any::<u32>().prop_map(Value::U32),
            any::<i64>().prop_map(Value::I64),
            any::<u64>().prop_map(Value::U64),
            // Compared by value below, so NaN (never equal to itself) is left out.
            (-1e30f32..1e30).prop_map(Value::F32),
            (-1e300f64..1e300).prop_map(Value::F64),
            (any::<u8>(), any::<u32>()).prop_map(|(scale, value)| Value::Decimal { scale, value }),
            any::<u64>().prop_map(Value::Timestamp),
            ".{0,12}".prop_map(Value::Text),
            proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| Value::Bytes(b.into())),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::vec(("[a-z-]{0,8}", inner), 0..6).prop_map(Value::Table),
            ]
        })
    }

    proptest! {
        #[test]
        fn every_value_comes_back_exactly_as_encoded(v in value()) {
            let mut out = Vec::new();
            encode_value(&v, &mut out);
            prop_assert_eq!(decode_value(&out)?, v);
        }

        #[test]
        fn any_bytes_decode_to_a_value_or_an_error_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..256)
        ) {
            let _ = decode_value(&bytes);
            let _ = decode_table(&bytes);
        }
    }

    #[test]
    fn forged_counts_fail_as_truncated_without_reserving_them() {
        let mut b = vec![T_ARRAY];
        b.extend(u32::MAX.to_be_bytes());
        assert_eq!(decode_value(&b), Err(ValueError::Truncated));
        let mut t = Vec::new();
        t.extend(u32::MAX.to_be_bytes());
        assert_eq!(decode_table(&t), Err(ValueError::Truncated));
    }

    #[test]
    fn nesting_beyond_the_limit_is_refused() {
        let mut v = Value::Void;
        for _ in 0..=MAX_DEPTH + 1 {
            v = Value::Array(vec![v]);
        }
        let mut out = Vec::new();
        encode_value(&v, &mut out);
        assert_eq!(decode_value(&out), Err(ValueError::TooDeep));
    }

    #[test]
    fn a_repeated_death_is_counted_and_moved_to_the_front() {
        let death = |queue: &str, cause, time_ms| Death {
            queue: queue.into(),
            cause,
            count: 1,
            exchange: Some("x".into()),
            routing_keys: vec!["k".into()],
            time_ms,
        };
        let mut h = Vec::new();
        record_death(&mut h, death("a", DeathCause::Rejected, 1));
        record_death(&mut h, death("b", DeathCause::Expired, 2));
        record_death(&mut h, death("a", DeathCause::Rejected, 3));
        assert_eq!(
            h.iter().map(|d| (d.queue.as_str(), d.count, d.time_ms)).collect::<Vec<_>>(),
            [("a", 2, 3), ("b", 1, 2)]
        );
        assert_eq!(deaths_from_value(&deaths_to_value(&h)), h);
    }

    #[test]
    fn a_cycle_without_a_rejection_is_detected() {
        let d = |queue: &str, cause| Death {
            queue: queue.into(),
            cause,
            count: 1,
            exchange: None,
            routing_keys: vec![],
            time_ms: 0,
        };
        assert!(is_dead_letter_cycle(&[d("a", DeathCause::Expired)], "a"));
        assert!(!is_dead_letter_cycle(&[d("a", DeathCause::Expired)], "b"));
        assert!(!is_dead_letter_cycle(&[d("a", DeathCause::Rejected), d("b", DeathCause::Expired)], "a"));
    }

    #[test]
    fn lookup_returns_the_first_of_repeated_names() {
        let t: Table = vec![("a".into(), Value::I8(1)), ("a".into(), Value::I8(2))];
        assert_eq!(lookup(&t, "a"), Some(&Value::I8(1)));
        assert_eq!(lookup(&t, "b"), None);
    }
}
