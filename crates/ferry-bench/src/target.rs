//! What a broker under test must offer the workloads: destinations (a topic, queue or stream),
//! producers whose sends are acknowledged, and consumers that acknowledge what they receive.
//!
//! Every broker is driven through the client its users run; a target translates the workloads'
//! three verbs into that client's calls and nothing more, so the harness in `run` measures all
//! brokers alike.

use std::time::Duration;

use anyhow::{Result, bail};
use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};

/// The shape of one run, fixed before it starts.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Prefix of every name the run creates, unique per run.
    pub run: String,
    /// How many destinations (topics, queues, streams) the run uses.
    pub destinations: usize,
    /// Independent subscriptions per destination, each receiving every message (fan-out).
    pub subscriptions: usize,
    /// Partitions per destination where the broker has them.
    pub partitions: usize,
    /// Messages a consumer may hold unacknowledged.
    pub prefetch: usize,
    /// Message size in bytes.
    pub size: usize,
}

impl Plan {
    /// The broker-side name of destination `index`.
    pub fn destination(&self, index: usize) -> String {
        format!("{}-{index}", self.run)
    }

    /// The broker-side names of every destination, in order.
    pub fn destination_names(&self) -> Vec<String> {
        (0..self.destinations).map(|d| self.destination(d)).collect()
    }

    /// The broker-side name of subscription `subscription` of destination `index`.
    pub fn subscription(&self, index: usize, subscription: usize) -> String {
        format!("{}-{index}-s{subscription}", self.run)
    }
}

/// Completes once the broker acknowledged every message of one send.
pub type Ack = BoxFuture<'static, Result<()>>;

/// A broker reached through its usual client.
#[async_trait]
pub trait Target: Send + Sync {
    /// Creates the plan's destinations and subscriptions, so that nothing published is missed.
    async fn prepare(&self, plan: &Plan) -> Result<()>;
    /// A new producer (its own connection).
    async fn producer(&self, plan: &Plan) -> Result<Box<dyn Producer>>;
    /// A new consumer of one subscription of one destination (its own connection); consumers of
    /// the same subscription share its messages.
    async fn consumer(
        &self,
        plan: &Plan,
        destination: usize,
        subscription: usize,
    ) -> Result<Box<dyn Consumer>>;
    /// Deletes what `prepare` created.
    async fn cleanup(&self, plan: &Plan) -> Result<()>;
}

#[async_trait]
pub trait Producer: Send {
    /// Hands `payloads` for `destination` to the client, waiting only while the client pushes
    /// back; the returned future completes when the broker acknowledged all of them.
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack>;
}

#[async_trait]
pub trait Consumer: Send {
    /// Waits up to about `wait` for messages, hands each payload to `seen` and acknowledges it
    /// the way the protocol does one message at a time; returns how many it received.
    async fn receive(
        &mut self,
        wait: Duration,
        seen: &mut (dyn for<'p> FnMut(&'p [u8]) + Send),
    ) -> Result<usize>;
}

/// What a client's delivery stream holds within `wait`: its first item, then the items already
/// there, up to `max`. Empty when nothing came in time; an error when the stream ended.
pub async fn ready_items<S>(stream: &mut S, wait: Duration, max: usize) -> Result<Vec<S::Item>>
where
    S: Stream + Unpin,
{
    let first = match tokio::time::timeout(wait, stream.next()).await {
        Err(_) => return Ok(Vec::new()),
        Ok(None) => bail!("the broker ended the subscription"),
        Ok(Some(item)) => item,
    };
    let mut items = vec![first];
    while items.len() < max {
        match stream.next().now_or_never() {
            Some(Some(item)) => items.push(item),
            Some(None) | None => break,
        }
    }
    Ok(items)
}
