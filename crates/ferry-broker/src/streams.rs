//! Streams: a single-partition topic read like a queue whose messages stay (AMQP's stream
//! queues). Messages go in as the queue codec writes them (system properties in `ferry.`
//! headers, user headers as Kafka headers), so Kafka consumers read what AMQP publishers sent and
//! stream consumers read what Kafka producers sent, compressed batches included.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::{Semaphore, mpsc, watch};

use crate::broker::Broker;
use crate::message::Envelope;
use crate::queues::codec::{self, StoredMessage};
use crate::queues::{MessageAttribute, NewMessage};
use crate::topics::{Appended, CatalogError, FetchError, ProduceError, TopicService};

/// Most bytes one read of a stream takes from its log.
const READ_BYTES: usize = 1 << 20;
/// Most deliveries handed over ahead of the consumer taking them.
const CHANNEL_CAPACITY: usize = 256;
/// Most unsettled deliveries of one stream consumer (a prefetch of 0 means this many).
pub const MAX_STREAM_PREFETCH: u32 = 65_535;

/// Where a stream consumer starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamStart {
    /// The oldest message kept.
    First,
    /// The newest message (the next one when the stream is empty).
    Last,
    /// Only messages appended from now on.
    Next,
    /// This offset (clamped into what the stream keeps).
    Offset(u64),
    /// The first message stored at or after this time, ms since the epoch.
    Timestamp(i64),
}

/// Why a stream operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// No stream (topic) has that name.
    #[error("stream {0} does not exist")]
    NoSuchStream(String),
    /// Creating the topic failed.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Appending failed.
    #[error(transparent)]
    Produce(#[from] ProduceError),
    /// Reading failed.
    #[error(transparent)]
    Fetch(#[from] FetchError),
}

/// One message of a stream.
#[derive(Clone, Debug)]
pub struct StreamDelivery {
    /// Its offset in the stream.
    pub offset: u64,
    /// When it was stored, ms since the epoch.
    pub timestamp_ms: i64,
    /// Record key, if the producer gave one.
    pub key: Option<Bytes>,
    /// The payload.
    pub body: Bytes,
    /// Headers.
    pub attributes: Vec<MessageAttribute>,
    /// Properties, exchange and routing key.
    pub envelope: Envelope,
}

/// A consumer of a stream: deliveries in offset order while credit lasts; settling one gives
/// its credit back and removes nothing.
#[derive(Debug)]
pub struct StreamSubscription {
    rx: mpsc::Receiver<StreamDelivery>,
    credit: Arc<Semaphore>,
    _stop: watch::Sender<bool>,
}

impl StreamSubscription {
    /// The next message; `None` when the stream is deleted. Cancellation-safe.
    pub async fn next(&mut self) -> Option<StreamDelivery> {
        self.rx.recv().await
    }

    /// Gives back the credit of `n` settled deliveries.
    pub fn settled(&self, n: u32) {
        self.credit.add_permits(n as usize);
    }
}

impl Broker {
    /// True when a stream (a topic) named `name` exists.
    pub fn stream_exists(&self, name: &str) -> bool {
        self.topics().topic(name).is_some()
    }

    /// Creates a single-partition topic for the stream `name`; false when it exists already.
    pub fn declare_stream(&self, name: &str) -> Result<bool, StreamError> {
        if self.stream_exists(name) {
            return Ok(false);
        }
        let topics = self.topics();
        match topics.create_topic(name, 1, topics.default_config().clone()) {
            Ok(_) => Ok(true),
            Err(CatalogError::AlreadyExists(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Appends `msg` to the stream and returns its offset once it is durable.
    pub async fn append_stream(&self, name: &str, msg: NewMessage) -> Result<u64, StreamError> {
        Ok(self.begin_append_stream(name, msg).await?.durable().await?.base_offset)
    }

    /// Appends `msg` to the stream (a write into the page cache on the caller's task, in the order
    /// of calls) and returns the append, whose `durable` waits for the fsync on the blocking pool.
    pub async fn begin_append_stream(&self, name: &str, msg: NewMessage) -> Result<Appended, StreamError> {
        let now = self.topics().clock().now_ms();
        let stored = StoredMessage {
            timestamp_ms: now,
            message_id: msg.message_id.unwrap_or_default(),
            body: msg.body,
            attributes: msg.attributes,
            system_attributes: msg.system_attributes,
            priority: msg.priority.unwrap_or(0),
            envelope: msg.envelope,
            ..StoredMessage::default()
        };
        let batch = codec::encode_batch(std::slice::from_ref(&stored));
        // The append is a write into the page cache, done on the caller's task as a queue's is
        // (a hop to the blocking pool per message bounds a publisher to one hop per message,
        // which under load is milliseconds); the fsync runs on the blocking pool.
        self.topics().produce(name, 0, &batch).map_err(|e| match e {
            ProduceError::UnknownTopicOrPartition => StreamError::NoSuchStream(name.to_string()),
            other => other.into(),
        })
    }

    /// Subscribes to the stream from `start` with `prefetch` unsettled deliveries at most.
    pub fn subscribe_stream(
        &self,
        name: &str,
        start: StreamStart,
        prefetch: u32,
    ) -> Result<StreamSubscription, StreamError> {
        let topics = Arc::clone(self.topics());
        let partition =
            topics.partition(name, 0).ok_or_else(|| StreamError::NoSuchStream(name.to_string()))?;
        let offsets = partition.offsets();
        let (first, next) = (offsets.log_start_offset, offsets.high_watermark);
        let position = match start {
            StreamStart::First => first,
            StreamStart::Last => next.saturating_sub(1).max(first),
            StreamStart::Next => next,
            StreamStart::Offset(o) => o.clamp(first, next),
            StreamStart::Timestamp(ts) => partition.offset_for_timestamp(ts)?.map_or(next, |(o, _)| o),
        };
        let prefetch = if prefetch == 0 { MAX_STREAM_PREFETCH } else { prefetch.min(MAX_STREAM_PREFETCH) };
        let credit = Arc::new(Semaphore::new(prefetch as usize));
        let (tx, rx) = mpsc::channel(CHANNEL_CAPACITY);
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(read_on(topics, name.to_string(), position, Arc::clone(&credit), tx, stopped));
        Ok(StreamSubscription { rx, credit, _stop: stop })
    }
}

/// The stream consumer's task: read from `position`, hand messages over one credit each, and
/// wait for appends at the end.
async fn read_on(
    topics: Arc<TopicService>,
    name: String,
    mut position: u64,
    credit: Arc<Semaphore>,
    tx: mpsc::Sender<StreamDelivery>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let Some(partition) = topics.partition(&name, 0) else { return };
        let watch = topics.watch(std::slice::from_ref(&partition));
        let read = {
            let p = Arc::clone(&partition);
            match tokio::task::spawn_blocking(move || p.read(position, READ_BYTES, true)).await {
                Ok(Ok(read)) => read,
                Ok(Err(FetchError::OffsetOutOfRange { log_start_offset, .. }))
                    if position < log_start_offset =>
                {
                    // Retention removed what this consumer had not read yet: go on from what is kept.
                    position = log_start_offset;
                    continue;
                }
                Ok(Err(e)) => {
                    tracing::warn!(stream = %name, error = %e, "stream read failed; consumer stopped");
                    return;
                }
                Err(_) => return,
            }
        };
        let mut msgs = Vec::new();
        if let Err(e) = codec::decode_batches(&read.records, position, &mut msgs) {
            tracing::warn!(stream = %name, offset = position, error = %e, "undecodable stream batch; consumer stopped");
            return;
        }
        if msgs.is_empty() {
            let deadline = topics.clock().now_ms().saturating_add(1_000);
            tokio::select! {
                _ = watch.wait(deadline) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
            continue;
        }
        for m in msgs {
            let permit = tokio::select! {
                p = Arc::clone(&credit).acquire_owned() => p,
                _ = stopped.wait_for(|s| *s) => return,
            };
            let Ok(permit) = permit else { return };
            permit.forget();
            position = m.offset + 1;
            let d = StreamDelivery {
                offset: m.offset,
                timestamp_ms: m.timestamp_ms,
                key: m.key,
                body: m.body,
                attributes: m.attributes,
                envelope: m.envelope,
            };
            if tx.send(d).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::broker::tests::broker;
    use crate::message::{Properties, Value};
    use crate::queues::{AttrValue, TYPED};

    async fn next(s: &mut StreamSubscription) -> StreamDelivery {
        tokio::time::timeout(Duration::from_secs(5), s.next()).await.expect("within 5 s").expect("open")
    }

    fn text(body: &str) -> NewMessage {
        NewMessage { body: Bytes::from(body.to_string()), ..NewMessage::default() }
    }

    #[tokio::test]
    async fn stream_consumers_start_where_their_offset_spec_says_and_read_without_removing() {
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        assert!(b.declare_stream("s").unwrap());
        assert!(!b.declare_stream("s").unwrap());
        for i in 0..3 {
            assert_eq!(b.append_stream("s", text(&format!("m{i}"))).await.unwrap(), i);
        }
        let body = |d: StreamDelivery| String::from_utf8(d.body.to_vec()).unwrap();
        let mut first = b.subscribe_stream("s", StreamStart::First, 10).unwrap();
        assert_eq!(body(next(&mut first).await), "m0");
        let mut again = b.subscribe_stream("s", StreamStart::First, 10).unwrap();
        assert_eq!(body(next(&mut again).await), "m0", "reading removed the message");
        let mut last = b.subscribe_stream("s", StreamStart::Last, 10).unwrap();
        assert_eq!(body(next(&mut last).await), "m2");
        let mut at = b.subscribe_stream("s", StreamStart::Offset(1), 10).unwrap();
        assert_eq!(body(next(&mut at).await), "m1");
        let mut fresh = b.subscribe_stream("s", StreamStart::Next, 10).unwrap();
        b.append_stream("s", text("m3")).await.unwrap();
        let d = next(&mut fresh).await;
        assert_eq!((d.offset, body(d)), (3, "m3".to_string()));
    }

    #[tokio::test]
    async fn a_stream_consumer_waits_for_credit() {
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.declare_stream("s").unwrap();
        for i in 0..3 {
            b.append_stream("s", text(&i.to_string())).await.unwrap();
        }
        let mut s = b.subscribe_stream("s", StreamStart::First, 1).unwrap();
        next(&mut s).await;
        assert!(tokio::time::timeout(Duration::from_millis(100), s.next()).await.is_err());
        s.settled(1);
        assert_eq!(next(&mut s).await.offset, 1);
    }

    #[tokio::test]
    async fn properties_and_typed_headers_survive_a_stream() {
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.declare_stream("s").unwrap();
        let envelope = Envelope {
            properties: Properties { content_type: Some("text/plain".into()), ..Properties::default() },
            exchange: Some(String::new()),
            routing_key: Some("s".into()),
            deaths: Vec::new(),
        };
        let attributes = vec![MessageAttribute {
            name: "n".into(),
            data_type: TYPED.into(),
            value: AttrValue::Typed(Value::I32(-5)),
        }];
        b.append_stream(
            "s",
            NewMessage { attributes: attributes.clone(), envelope: envelope.clone(), ..text("x") },
        )
        .await
        .unwrap();
        let d = next(&mut b.subscribe_stream("s", StreamStart::First, 1).unwrap()).await;
        assert_eq!((d.attributes, d.envelope), (attributes, envelope));
    }
}
