//! [`Broker`]: the one handle `ferry serve` builds and hands to every front-end. It owns the
//! topics, queues, consumer groups and alarms, and publishes a message to wherever it is routed.

use std::sync::Arc;

use crate::alarms::DiskAlarm;
use crate::groups::GroupCoordinator;
use crate::queues::{NewMessage, QueueError, QueueService};
use crate::topics::TopicService;

/// Every service of one node.
pub struct Broker {
    topics: Arc<TopicService>,
    queues: Arc<QueueService>,
    groups: Arc<GroupCoordinator>,
    disk_alarm: Arc<DiskAlarm>,
}

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
        Broker { topics, queues, groups, disk_alarm }
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
