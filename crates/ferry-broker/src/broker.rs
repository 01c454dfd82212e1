//! [`Broker`]: the one handle `ferry serve` builds and hands to every front-end. It owns the
//! topics, queues, consumer groups and alarms, and publishes a message to wherever it is routed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::alarms::DiskAlarm;
use crate::groups::GroupCoordinator;
use crate::queues::{CreateOutcome, NewMessage, QueueAttributes, QueueError, QueueService};
use crate::topics::TopicService;

/// Every service of one node.
pub struct Broker {
    topics: Arc<TopicService>,
    queues: Arc<QueueService>,
    groups: Arc<GroupCoordinator>,
    disk_alarm: Arc<DiskAlarm>,
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
    /// Queues the message is now durable in; empty when it was unroutable.
    pub queues: Vec<String>,
}

impl Published {
    /// True when no target took the message.
    pub fn unroutable(&self) -> bool {
        self.queues.is_empty()
    }
}

impl Broker {
    /// Puts the opened services together.
    pub fn new(
        topics: Arc<TopicService>,
        queues: Arc<QueueService>,
        groups: Arc<GroupCoordinator>,
        disk_alarm: Arc<DiskAlarm>,
    ) -> Broker {
        Broker {
            topics,
            queues,
            groups,
            disk_alarm,
            exclusive: Mutex::new(HashMap::new()),
            next_owner: AtomicU64::new(1),
        }
    }

    /// A new owner id for a connection; hand it back with [`Broker::release_owner`] when the
    /// connection ends.
    pub fn new_owner(&self) -> OwnerId {
        self.next_owner.fetch_add(1, Ordering::Relaxed)
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
            Some(_) if self.queues.queue_stats(queue).is_err() => {
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

    /// Publishes `msg` through `exchange` with `routing_key` and returns once it is durable in
    /// every queue it was routed to. The default exchange `""` routes to the queue named by the
    /// routing key.
    pub async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        mut msg: NewMessage,
    ) -> Result<Published, QueueError> {
        msg.envelope.exchange = Some(exchange.to_string());
        msg.envelope.routing_key = Some(routing_key.to_string());
        let targets: Vec<String> = if exchange.is_empty() && self.queues.queue_stats(routing_key).is_ok() {
            vec![routing_key.to_string()]
        } else {
            Vec::new()
        };
        let mut published = Published::default();
        for queue in targets {
            let mut results = self.queues.enqueue(&queue, vec![msg.clone()]).await?;
            match results.pop() {
                Some(Ok(_)) => published.queues.push(queue),
                Some(Err(e)) => return Err(e),
                None => {}
            }
        }
        Ok(published)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::clock::{Clock, SystemClock};
    use crate::groups::GroupConfig;
    use crate::metadata::{MemoryStore, MetadataStore};
    use crate::queues::QueueServiceConfig;
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
        let groups = GroupCoordinator::open(meta, clock, GroupConfig::default()).unwrap();
        Broker::new(Arc::new(topics), queues, groups, Arc::new(DiskAlarm::new(dir, 0)))
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
}
