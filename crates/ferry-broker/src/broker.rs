//! [`Broker`]: the one handle `ferry serve` builds and hands to every front-end. It owns the
//! topics, queues, consumer groups, router and alarms, and publishes a message to wherever the
//! router sends it: queues (enqueued) and topics (appended as a stream), durable in every one
//! before the publish completes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::alarms::{DiskAlarm, MemoryAlarm};
use crate::groups::GroupCoordinator;
use crate::message::{Value, lookup};
use crate::queues::{
    AttrValue, CreateOutcome, DeadLetterRouter, MessageAttribute, NewMessage, QueueAttributes, QueueError,
    QueueService,
};
use crate::routing::{Destination, Router, RoutingError, Target};
use crate::telemetry::Telemetry;
use crate::topics::TopicService;

/// Every service of one node.
pub struct Broker {
    topics: Arc<TopicService>,
    queues: Arc<QueueService>,
    groups: Arc<GroupCoordinator>,
    disk_alarm: Arc<DiskAlarm>,
    memory_alarm: Arc<MemoryAlarm>,
    router: Arc<Router>,
    telemetry: Arc<Telemetry>,
    /// Share groups, when the Kafka front-end serves them (for metrics).
    shares: Option<Arc<crate::shares::ShareCoordinator>>,
    /// Exclusive queues and the connection that owns each.
    exclusive: Mutex<HashMap<String, OwnerId>>,
    next_owner: AtomicU64,
}

/// A connection that may own exclusive queues (see [`Broker::new_owner`]).
pub type OwnerId = u64;

impl std::fmt::Debug for Broker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Broker").finish_non_exhaustive()
    }
}

/// Where one published message went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Published {
    /// Queues the message is now durable in.
    pub queues: Vec<String>,
    /// Streams (topics) it is now durable in, with its offset in each.
    pub streams: Vec<(String, u64)>,
}

impl Published {
    /// True when no target took the message.
    pub fn unroutable(&self) -> bool {
        self.queues.is_empty() && self.streams.is_empty()
    }
}

/// Why a publish failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The exchange is missing or may not be published to (AMQP 404 / 403).
    #[error(transparent)]
    Routing(#[from] RoutingError),
    /// A target queue refused the message (full with reject-publish: AMQP nacks it) or failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// A target stream failed.
    #[error(transparent)]
    Stream(#[from] crate::streams::StreamError),
}

/// The AMQP header a delayed-message exchange reads the delay from, in milliseconds.
pub const X_DELAY: &str = "x-delay";
/// The pseudo-queue of direct reply-to (RabbitMQ's name, which clients know): a requester
/// consumes from it, and a `reply-to` naming it stands for the requester's reply queue.
pub const DIRECT_REPLY_TO: &str = "amq.rabbitmq.reply-to";

impl Broker {
    /// Puts the opened services together.
    ///
    /// Installs what ties them together: the default exchange routes to the queue or stream
    /// named by the routing key, dead-letters sent to an exchange go through the router, and a
    /// deleted queue's or topic's bindings go with it.
    pub fn new(
        topics: Arc<TopicService>,
        queues: Arc<QueueService>,
        groups: Arc<GroupCoordinator>,
        router: Arc<Router>,
        disk_alarm: Arc<DiskAlarm>,
    ) -> Broker {
        let (q, t) = (Arc::downgrade(&queues), Arc::downgrade(&topics));
        router.set_default_exchange_resolver(move |key| {
            if key.is_empty() {
                None
            } else if q.upgrade().is_some_and(|q| q.exists(key)) {
                Some(Target::Queue(key.to_string()))
            } else if t.upgrade().is_some_and(|t| t.topic(key).is_some()) {
                Some(Target::Topic(key.to_string()))
            } else {
                None
            }
        });
        queues.set_dead_letter_router(Arc::new(RouterForDeadLetters(Arc::downgrade(&router))));
        let r = Arc::downgrade(&router);
        queues.set_deletion_listener(Arc::new(move |name: &str| {
            if let Some(router) = r.upgrade()
                && let Err(e) = router.remove_destination(&Destination::Queue(name.to_string()))
            {
                tracing::warn!(queue = %name, error = %e, "bindings of a deleted queue not removed");
            }
        }));
        let r = Arc::downgrade(&router);
        topics.set_deletion_listener(Arc::new(move |name: &str| {
            if let Some(router) = r.upgrade()
                && let Err(e) = router.remove_destination(&Destination::Topic(name.to_string()))
            {
                tracing::warn!(topic = %name, error = %e, "bindings of a deleted topic not removed");
            }
        }));
        Broker {
            topics,
            queues,
            groups,
            disk_alarm,
            memory_alarm: Arc::new(MemoryAlarm::new(0)),
            router,
            telemetry: Telemetry::new(),
            shares: None,
            exclusive: Mutex::new(HashMap::new()),
            next_owner: AtomicU64::new(1),
        }
    }

    /// Every service over `dir` with default settings (the queues' are `queues`) and an
    /// in-memory metadata store, the disk alarm raised below `disk_free_limit_bytes` free (0:
    /// never): the broker the front-ends' tests and benchmarks run against. `ferry serve`
    /// builds its own from the configuration.
    pub async fn open_for_tests(
        dir: &std::path::Path,
        clock: Arc<dyn crate::clock::Clock>,
        disk_free_limit_bytes: u64,
        queues: crate::queues::QueueServiceConfig,
    ) -> Result<Broker, Box<dyn std::error::Error + Send + Sync>> {
        use crate::metadata::{MemoryStore, MetadataStore};
        use crate::topics::TopicServiceConfig;
        let store: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let topics = TopicService::open(
            TopicServiceConfig {
                data_dir: dir.join("topics"),
                durability: ferry_log::Durability::Always,
                default_config: Default::default(),
                limits: Default::default(),
            },
            Arc::clone(&store),
            Arc::clone(&clock),
        )?;
        let groups = GroupCoordinator::open(Arc::clone(&store), Arc::clone(&clock), Default::default())?;
        let queues = QueueService::open(dir.join("queues"), Arc::clone(&store), clock, queues).await?;
        let router = Arc::new(Router::open(store)?);
        let alarm = Arc::new(DiskAlarm::new(dir, disk_free_limit_bytes));
        Ok(Broker::new(Arc::new(topics), queues, groups, router, alarm))
    }

    /// Exchanges and bindings.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// The connections, channels and request latencies front-ends report.
    pub fn telemetry(&self) -> &Arc<Telemetry> {
        &self.telemetry
    }

    /// Share groups, if the Kafka front-end serves them.
    pub fn shares(&self) -> Option<&Arc<crate::shares::ShareCoordinator>> {
        self.shares.as_ref()
    }

    /// Makes the share groups' figures readable through the broker (metrics).
    pub fn with_shares(mut self, shares: Arc<crate::shares::ShareCoordinator>) -> Broker {
        self.shares = Some(shares);
        self
    }

    /// Shares `telemetry` with front-ends that are not given the broker (Kafka's).
    pub fn with_telemetry(mut self, telemetry: Arc<Telemetry>) -> Broker {
        self.telemetry = telemetry;
        self
    }

    /// A new owner id for a connection; hand it back with [`Broker::release_owner`] when the
    /// connection ends.
    pub fn new_owner(&self) -> OwnerId {
        self.next_owner.fetch_add(1, Ordering::Relaxed)
    }

    /// A new reply queue for `owner` (direct reply-to): transient, exclusive to it and gone
    /// with it, named `amq.rabbitmq.reply-to.<random>` as RabbitMQ names replies, so that any
    /// front-end can hand it out as a reply address.
    pub async fn reply_queue(&self, owner: OwnerId) -> Result<String, QueueError> {
        let name = format!("{DIRECT_REPLY_TO}.{}", uuid::Uuid::new_v4().simple());
        let attrs = QueueAttributes { durable: false, ..QueueAttributes::default() };
        self.declare_queue(&name, attrs, Some(owner)).await?;
        Ok(name)
    }

    /// Declares a queue; with `owner`, exclusive to that connection (and transient: it ends
    /// with the connection or the broker). Another connection's exclusive queue of that name
    /// is [`QueueError::ExclusiveToAnother`].
    pub async fn declare_queue(
        &self,
        name: &str,
        mut attrs: QueueAttributes,
        owner: Option<OwnerId>,
    ) -> Result<CreateOutcome, QueueError> {
        self.check_owner(name, owner)?;
        if owner.is_some() {
            attrs.durable = false;
        }
        let outcome = self.queues.create_queue(name, attrs).await?;
        if let (CreateOutcome::Created, Some(owner)) = (outcome, owner) {
            self.lock_exclusive().insert(name.to_string(), owner);
        }
        Ok(outcome)
    }

    /// Fails when `queue` is exclusive to a connection other than `owner`.
    pub fn check_owner(&self, queue: &str, owner: Option<OwnerId>) -> Result<(), QueueError> {
        let mut map = self.lock_exclusive();
        match map.get(queue) {
            // Gone by other means (auto-delete, expiry): the name is free again.
            Some(_) if !self.queues.exists(queue) => {
                map.remove(queue);
                Ok(())
            }
            Some(o) if Some(*o) != owner => Err(QueueError::ExclusiveToAnother(queue.to_string())),
            _ => Ok(()),
        }
    }

    /// True when `queue` is exclusive to some connection.
    pub fn is_exclusive(&self, queue: &str) -> bool {
        self.lock_exclusive().contains_key(queue)
    }

    /// Deletes the exclusive queues of a connection that ended.
    pub async fn release_owner(&self, owner: OwnerId) {
        let owned: Vec<String> = {
            let mut map = self.lock_exclusive();
            let names = map.iter().filter(|(_, o)| **o == owner).map(|(n, _)| n.clone()).collect::<Vec<_>>();
            names.iter().for_each(|n| {
                map.remove(n);
            });
            names
        };
        for name in owned {
            if let Err(e) = self.queues.delete_queue(&name).await {
                tracing::debug!(queue = %name, error = %e, "exclusive queue already gone");
            }
        }
    }

    /// Deletes a queue, forgetting its owner.
    pub async fn delete_queue(&self, name: &str) -> Result<(), QueueError> {
        self.queues.delete_queue(name).await?;
        self.lock_exclusive().remove(name);
        Ok(())
    }

    fn lock_exclusive(&self) -> std::sync::MutexGuard<'_, HashMap<String, OwnerId>> {
        self.exclusive.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Topics, partitions, produce and fetch.
    pub fn topics(&self) -> &Arc<TopicService> {
        &self.topics
    }

    /// Work queues: declare, enqueue, receive, settle, subscribe.
    pub fn queues(&self) -> &Arc<QueueService> {
        &self.queues
    }

    /// Consumer groups and committed offsets.
    pub fn groups(&self) -> &Arc<GroupCoordinator> {
        &self.groups
    }

    /// Raised while the data directory is short of free space; publishers should wait.
    pub fn disk_alarm(&self) -> &Arc<DiskAlarm> {
        &self.disk_alarm
    }

    /// The memory alarm front-ends follow (never raised unless one is given with
    /// [`Broker::with_memory_alarm`]).
    pub fn memory_alarm(&self) -> &Arc<MemoryAlarm> {
        &self.memory_alarm
    }

    /// The broker following `alarm` for its memory use.
    pub fn with_memory_alarm(mut self, alarm: Arc<MemoryAlarm>) -> Broker {
        self.memory_alarm = alarm;
        self
    }

    /// Publishes `msg` through `exchange` with `routing_key` and returns once it is durable in
    /// every queue and stream it was routed to. Nothing routed is [`Published::unroutable`],
    /// not an error. Through an `x-delayed-message` exchange, the `x-delay` header
    /// (milliseconds) delays the message in each queue it reaches.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        msg: NewMessage,
    ) -> Result<Published, PublishError> {
        self.begin_publish(exchange, routing_key, msg).await?.durable().await
    }

    /// The first half of [`Broker::publish`]: routes the message and appends it to every target
    /// (publishes begun one after the other are stored in that order), without waiting for the
    /// disk. [`PendingPublish::durable`] waits; it must be awaited (the message stays invisible
    /// in its queues until then), and pending publishes wait together, sharing fsyncs.
    pub async fn begin_publish(
        &self,
        exchange: &str,
        routing_key: &str,
        mut msg: NewMessage,
    ) -> Result<PendingPublish, PublishError> {
        let headers = typed_headers(&msg.attributes);
        let routed = self.router.route_message(exchange, &[routing_key], &headers, &msg.body)?;
        if routed.delayed
            && let Some(delay) = lookup(&headers, X_DELAY).and_then(Value::as_i64)
        {
            msg.delay_ms = Some(delay.max(0) as u64);
        }
        msg.envelope.exchange = Some(exchange.to_string());
        msg.envelope.routing_key = Some(routing_key.to_string());
        let mut pending = PendingPublish { writes: Vec::with_capacity(routed.targets.len()), refused: None };
        for target in routed.targets {
            match target {
                Target::Queue(q) => match self.queues.begin_enqueue(&q, vec![msg.clone()]).await {
                    Ok(p) => {
                        if let Some(Err(e)) = p.results().first() {
                            pending.refused.get_or_insert_with(|| e.clone());
                        }
                        pending.writes.push(Write::Queue(q, p));
                    }
                    // Bound or named, but deleted meanwhile: not a target after all.
                    Err(QueueError::NoSuchQueue(_)) => {}
                    Err(e) => {
                        pending.refused.get_or_insert(e);
                    }
                },
                Target::Topic(t) => {
                    let appended = self.begin_append_stream(&t, msg.clone()).await?;
                    pending.writes.push(Write::Stream(t, appended));
                }
            }
        }
        Ok(pending)
    }
}

/// A publish appended to its targets, not yet durable (see [`Broker::begin_publish`]).
#[derive(Debug)]
#[must_use = "a pending publish stays invisible in its queues until it is made durable"]
pub struct PendingPublish {
    writes: Vec<Write>,
    /// The first refusal by a target (a full queue with reject-publish); the other targets
    /// still take the message, as in RabbitMQ, and the publisher is told no.
    refused: Option<QueueError>,
}

#[derive(Debug)]
enum Write {
    Queue(String, crate::queues::PendingEnqueue),
    Stream(String, crate::topics::Appended),
}

impl PendingPublish {
    /// True when the message reached no target.
    pub fn unroutable(&self) -> bool {
        self.writes.is_empty() && self.refused.is_none()
    }

    /// Waits until the message is durable in every target. A target's refusal is the error,
    /// once every other target has it durably.
    pub async fn durable(self) -> Result<Published, PublishError> {
        let waits = self.writes.into_iter().map(|w| async move {
            match w {
                Write::Queue(q, p) => match p.finish().await {
                    Ok(_) => Ok(Written::Queue(q)),
                    Err(e) => Err(PublishError::Queue(e)),
                },
                Write::Stream(t, appended) => {
                    let outcome = appended.durable().await.map_err(crate::streams::StreamError::from)?;
                    Ok(Written::Stream(t, outcome.base_offset))
                }
            }
        });
        let mut published = Published::default();
        let mut first_error = self.refused.map(PublishError::Queue);
        for outcome in futures::future::join_all(waits).await {
            match outcome {
                Ok(Written::Queue(q)) => published.queues.push(q),
                Ok(Written::Stream(t, offset)) => published.streams.push((t, offset)),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(published),
        }
    }
}

/// One target a publish wrote to.
enum Written {
    Queue(String),
    Stream(String, u64),
}

/// The headers of a message as the router matches them: typed values as they are, text and
/// bytes as text and bytes.
pub fn typed_headers(attributes: &[MessageAttribute]) -> Vec<(String, Value)> {
    attributes
        .iter()
        .map(|a| {
            let v = match &a.value {
                AttrValue::Typed(v) => v.clone(),
                AttrValue::Text(t) => Value::Text(t.clone()),
                AttrValue::Binary(b) => Value::Bytes(b.clone()),
            };
            (a.name.clone(), v)
        })
        .collect()
}

/// Dead-letters published to an exchange, routed by the broker's router (queues only: a stream
/// is not a dead-letter target).
struct RouterForDeadLetters(std::sync::Weak<Router>);

impl DeadLetterRouter for RouterForDeadLetters {
    fn route(&self, exchange: &str, routing_key: &str, attributes: &[MessageAttribute]) -> Vec<String> {
        let Some(router) = self.0.upgrade() else { return Vec::new() };
        match router.route(exchange, routing_key, &typed_headers(attributes)) {
            Ok(routed) => routed
                .targets
                .into_iter()
                .filter_map(|t| match t {
                    Target::Queue(q) => Some(q),
                    Target::Topic(_) => None,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(%exchange, error = %e, "dead-letter exchange cannot route; messages dropped");
                Vec::new()
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::groups::GroupConfig;
    use crate::metadata::{MemoryStore, MetadataStore};
    use crate::queues::QueueServiceConfig;
    use crate::routing::ExchangeKind;
    use crate::topics::{TopicConfig, TopicServiceConfig};

    /// A broker over a temporary directory and an in-memory metadata store.
    pub(crate) async fn broker(dir: &std::path::Path) -> Broker {
        let meta: Arc<dyn MetadataStore> = Arc::new(MemoryStore::new());
        let clock: Arc<dyn Clock> = SystemClock::shared();
        let topics = TopicService::open(
            TopicServiceConfig {
                data_dir: dir.to_path_buf(),
                durability: ferry_log::Durability::Always,
                default_config: TopicConfig::default(),
                limits: Default::default(),
            },
            meta.clone(),
            clock.clone(),
        )
        .unwrap();
        let queues =
            QueueService::open(dir.to_path_buf(), meta.clone(), clock.clone(), QueueServiceConfig::default())
                .await
                .unwrap();
        let groups = GroupCoordinator::open(meta.clone(), clock, GroupConfig::default()).unwrap();
        let router = Arc::new(Router::open(meta).unwrap());
        Broker::new(Arc::new(topics), queues, groups, router, Arc::new(DiskAlarm::new(dir, 0)))
    }

    #[tokio::test]
    async fn an_exclusive_queue_is_refused_to_other_owners_and_deleted_with_its_owner() {
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        let (mine, theirs) = (b.new_owner(), b.new_owner());
        b.declare_queue("q", QueueAttributes::default(), Some(mine)).await.unwrap();
        assert!(b.check_owner("q", Some(mine)).is_ok());
        assert_eq!(b.check_owner("q", Some(theirs)), Err(QueueError::ExclusiveToAnother("q".into())));
        assert_eq!(b.check_owner("q", None), Err(QueueError::ExclusiveToAnother("q".into())));
        assert!(!b.queues().queue_attributes("q").unwrap().durable, "exclusive queues are transient");
        b.release_owner(mine).await;
        assert!(b.queues().queue_stats("q").is_err());
        b.declare_queue("q", QueueAttributes::default(), Some(theirs)).await.unwrap();
    }

    #[tokio::test]
    async fn publishing_to_the_default_exchange_reaches_the_queue_named_by_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.declare_queue("q", QueueAttributes::default(), None).await.unwrap();
        let p = b.publish("", "q", NewMessage { body: "x".into(), ..NewMessage::default() }).await.unwrap();
        assert_eq!(p.queues, ["q"]);
        assert!(b.publish("", "nowhere", NewMessage::default()).await.unwrap().unroutable());
        let d = b.queues().peek("q", 1).await.unwrap();
        assert_eq!(d[0].envelope.routing_key.as_deref(), Some("q"));
        assert_eq!(d[0].envelope.exchange.as_deref(), Some(""));
    }

    fn msg(body: &str) -> NewMessage {
        NewMessage { body: bytes::Bytes::from(body.to_string()), ..NewMessage::default() }
    }

    #[tokio::test]
    async fn a_publish_reaches_every_bound_queue_and_stream_durably() {
        use crate::routing::ExchangeDef;
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.router().declare_exchange(ExchangeDef::new("logs", ExchangeKind::Fanout), false).unwrap();
        b.declare_queue("q1", QueueAttributes::default(), None).await.unwrap();
        b.declare_queue("q2", QueueAttributes::default(), None).await.unwrap();
        b.declare_stream("s").unwrap();
        for d in
            [Destination::Queue("q1".into()), Destination::Queue("q2".into()), Destination::Topic("s".into())]
        {
            b.router().bind("logs", d, "", Vec::new()).unwrap();
        }
        let p = b.publish("logs", "any", msg("line")).await.unwrap();
        assert_eq!(p.queues, ["q1", "q2"]);
        assert_eq!(p.streams, [("s".to_string(), 0)]);
        assert_eq!(b.queues().queue_stats("q1").unwrap().ready, 1);
        assert!(matches!(
            b.publish("missing", "k", msg("x")).await,
            Err(PublishError::Routing(RoutingError::ExchangeNotFound { .. }))
        ));
    }

    #[tokio::test]
    async fn a_filter_policy_on_a_binding_reads_the_body_of_a_publish() {
        use crate::routing::{ExchangeDef, X_FILTER_POLICY, X_FILTER_POLICY_SCOPE};
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.router().declare_exchange(ExchangeDef::new("orders", ExchangeKind::Fanout), false).unwrap();
        b.declare_queue("paid", QueueAttributes::default(), None).await.unwrap();
        let filter = vec![
            (X_FILTER_POLICY.to_string(), Value::Text(r#"{"status": ["paid"]}"#.into())),
            (X_FILTER_POLICY_SCOPE.to_string(), Value::Text("MessageBody".into())),
        ];
        b.router().bind("orders", Destination::Queue("paid".into()), "", filter).unwrap();
        assert!(b.publish("orders", "", msg(r#"{"status": "open"}"#)).await.unwrap().unroutable());
        assert_eq!(b.publish("orders", "", msg(r#"{"status": "paid"}"#)).await.unwrap().queues, ["paid"]);
    }

    #[tokio::test]
    async fn a_deleted_queue_loses_its_bindings() {
        use crate::routing::ExchangeDef;
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.router().declare_exchange(ExchangeDef::new("x", ExchangeKind::Direct), false).unwrap();
        b.declare_queue("q", QueueAttributes::default(), None).await.unwrap();
        b.router().bind("x", Destination::Queue("q".into()), "k", Vec::new()).unwrap();
        b.delete_queue("q").await.unwrap();
        assert!(b.router().bindings_of(&Destination::Queue("q".into())).is_empty());
        b.declare_queue("q", QueueAttributes::default(), None).await.unwrap();
        assert!(b.publish("x", "k", msg("stale binding")).await.unwrap().unroutable());
    }

    #[tokio::test]
    async fn a_delayed_message_exchange_holds_a_message_for_its_x_delay() {
        use crate::queues::TYPED;
        use crate::routing::ExchangeDef;
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        let args = vec![("x-delayed-type".to_string(), Value::Text("direct".into()))];
        let kind = ExchangeKind::parse("x-delayed-message", &args).unwrap();
        let def = ExchangeDef { arguments: args, ..ExchangeDef::new("later", kind) };
        b.router().declare_exchange(def, false).unwrap();
        b.declare_queue("q", QueueAttributes::default(), None).await.unwrap();
        b.router().bind("later", Destination::Queue("q".into()), "k", Vec::new()).unwrap();
        let delay = MessageAttribute {
            name: X_DELAY.into(),
            data_type: TYPED.into(),
            value: AttrValue::Typed(Value::I32(60_000)),
        };
        b.publish("later", "k", NewMessage { attributes: vec![delay], ..msg("held") }).await.unwrap();
        let s = b.queues().queue_stats("q").unwrap();
        assert_eq!((s.ready, s.delayed), (0, 1));
    }

    #[tokio::test]
    async fn dead_letters_go_through_the_dead_letter_exchange_of_the_router() {
        use crate::queues::{NackMode, ReceiveOptions};
        use crate::routing::ExchangeDef;
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.router().declare_exchange(ExchangeDef::new("dlx", ExchangeKind::Topic), false).unwrap();
        b.declare_queue("dead", QueueAttributes::default(), None).await.unwrap();
        b.router().bind("dlx", Destination::Queue("dead".into()), "orders.#", Vec::new()).unwrap();
        let attrs =
            QueueAttributes { dead_letter_exchange: Some("dlx".into()), ..QueueAttributes::default() };
        b.declare_queue("orders", attrs, None).await.unwrap();
        b.publish("", "orders", msg("bad")).await.unwrap();
        // Dead-lettered with its own routing key ("orders"), which "orders.#" matches.
        let d = b
            .queues()
            .receive("orders", ReceiveOptions { max_messages: 1, ..Default::default() })
            .await
            .unwrap();
        b.queues().nack("orders", d[0].receipt, NackMode::DeadLetter).await.unwrap();
        let dead = b
            .queues()
            .receive("dead", ReceiveOptions { max_messages: 1, ..Default::default() })
            .await
            .unwrap();
        assert_eq!(&dead[0].body[..], b"bad");
        assert_eq!(dead[0].envelope.deaths[0].queue, "orders");
    }

    #[tokio::test]
    async fn pipelined_publishes_keep_their_order_and_show_only_once_durable() {
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.declare_queue("q", QueueAttributes::default(), None).await.unwrap();
        let first = b.begin_publish("", "q", msg("a")).await.unwrap();
        let second = b.begin_publish("", "q", msg("b")).await.unwrap();
        assert_eq!(b.queues().queue_stats("q").unwrap().ready, 0, "visible before durable");
        // Finishing the later one first makes both durable (one prefix of the log) and visible.
        second.durable().await.unwrap();
        first.durable().await.unwrap();
        let d = b.queues().peek("q", 2).await.unwrap();
        let bodies: Vec<&[u8]> = d.iter().map(|d| &d.body[..]).collect();
        assert_eq!(bodies, [b"a", b"b"]);
    }

    #[tokio::test]
    async fn a_full_queue_refuses_a_publish_that_other_targets_still_take() {
        use crate::queues::OverflowPolicy;
        use crate::routing::ExchangeDef;
        let dir = tempfile::tempdir().unwrap();
        let b = broker(dir.path()).await;
        b.router().declare_exchange(ExchangeDef::new("all", ExchangeKind::Fanout), false).unwrap();
        let full = QueueAttributes {
            max_length: Some(0),
            overflow: OverflowPolicy::RejectNew,
            ..Default::default()
        };
        b.declare_queue("full", full, None).await.unwrap();
        b.declare_queue("open", QueueAttributes::default(), None).await.unwrap();
        for q in ["full", "open"] {
            b.router().bind("all", Destination::Queue(q.into()), "", Vec::new()).unwrap();
        }
        let refused = b.publish("all", "", msg("x")).await;
        assert!(matches!(refused, Err(PublishError::Queue(QueueError::Overflow(_)))), "{refused:?}");
        assert_eq!(b.queues().queue_stats("open").unwrap().ready, 1);
    }
}
