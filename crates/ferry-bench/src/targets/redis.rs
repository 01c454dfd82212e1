//! Redis Streams through the redis crate, as its users run durable work: XADD to a stream per
//! destination, a consumer group per subscription read with XREADGROUP and settled with XACK.
//!
//! How durable an acknowledged XADD is depends on the server's `appendfsync`: with `always`
//! Redis replies only after the append-only file is fsynced. Every producer and consumer has its
//! own multiplexed connection; a consumer needs one of its own anyway, as a blocking XREADGROUP
//! holds up every other command on its connection.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use async_trait::async_trait;
use futures::FutureExt;
use redis::aio::MultiplexedConnection;
use redis::streams::StreamReadReply;

use crate::target::{Ack, Consumer, Plan, Producer, Target};

/// The field of a stream entry that carries the payload.
const FIELD: &str = "d";
/// Streams are deleted this many per DEL.
const DELETE_CHUNK: usize = 100;

pub struct Redis {
    client: redis::Client,
    /// Numbers the consumers of a run, whose names a group tells apart.
    consumers: AtomicUsize,
}

impl Redis {
    pub fn new(url: &str) -> Result<Redis> {
        let client = redis::Client::open(url).with_context(|| format!("the Redis URL {url}"))?;
        Ok(Redis { client, consumers: AtomicUsize::new(0) })
    }

    async fn connect(&self) -> Result<MultiplexedConnection> {
        self.client.get_multiplexed_async_connection().await.context("connecting to Redis")
    }
}

#[async_trait]
impl Target for Redis {
    async fn prepare(&self, plan: &Plan) -> Result<()> {
        let mut conn = self.connect().await?;
        for d in 0..plan.destinations {
            let key = plan.destination(d);
            for s in 0..plan.subscriptions {
                let group = plan.subscription(d, s);
                // From id 0, so that the group sees everything; MKSTREAM creates the stream.
                redis::cmd("XGROUP")
                    .arg("CREATE")
                    .arg(&key)
                    .arg(&group)
                    .arg("0")
                    .arg("MKSTREAM")
                    .query_async::<()>(&mut conn)
                    .await
                    .with_context(|| format!("creating group {group} on {key}"))?;
            }
        }
        Ok(())
    }

    async fn producer(&self, plan: &Plan) -> Result<Box<dyn Producer>> {
        let conn = self.connect().await?;
        let keys = plan.destination_names();
        Ok(Box::new(RedisProducer { conn, keys }))
    }

    async fn consumer(
        &self,
        plan: &Plan,
        destination: usize,
        subscription: usize,
    ) -> Result<Box<dyn Consumer>> {
        let conn = self.connect().await?;
        let number = self.consumers.fetch_add(1, Ordering::Relaxed);
        Ok(Box::new(RedisConsumer {
            conn,
            key: plan.destination(destination),
            group: plan.subscription(destination, subscription),
            name: format!("c{number}"),
            count: plan.prefetch.max(1),
        }))
    }

    async fn cleanup(&self, plan: &Plan) -> Result<()> {
        let mut conn = self.connect().await?;
        let keys = plan.destination_names();
        for chunk in keys.chunks(DELETE_CHUNK) {
            redis::cmd("DEL").arg(chunk).query_async::<()>(&mut conn).await.context("deleting streams")?;
        }
        Ok(())
    }
}

struct RedisProducer {
    conn: MultiplexedConnection,
    keys: Vec<String>,
}

#[async_trait]
impl Producer for RedisProducer {
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack> {
        let mut pipe = redis::pipe();
        for payload in &payloads {
            pipe.cmd("XADD").arg(&self.keys[destination]).arg("*").arg(FIELD).arg(payload);
        }
        let sent = payloads.len();
        let mut conn = self.conn.clone();
        // The request runs on its own task, so that it goes out while the caller sends more;
        // the multiplexed connection keeps many in flight. One message is one XADD, a batch one
        // pipeline of them.
        let request = tokio::spawn(async move { pipe.query_async::<Vec<String>>(&mut conn).await });
        Ok(async move {
            let ids = request.await.map_err(|e| anyhow!("Redis send task failed: {e}"))?.context("XADD")?;
            anyhow::ensure!(ids.len() == sent, "XADD answered {} ids for {sent}", ids.len());
            Ok(())
        }
        .boxed())
    }
}

struct RedisConsumer {
    conn: MultiplexedConnection,
    key: String,
    group: String,
    name: String,
    /// Entries per XREADGROUP, the prefetch window.
    count: usize,
}

#[async_trait]
impl Consumer for RedisConsumer {
    async fn receive(
        &mut self,
        wait: Duration,
        seen: &mut (dyn for<'p> FnMut(&'p [u8]) + Send),
    ) -> Result<usize> {
        // BLOCK 0 would wait forever.
        let block_ms = wait.as_millis().max(1) as u64;
        let reply: Option<StreamReadReply> = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&self.group)
            .arg(&self.name)
            .arg("COUNT")
            .arg(self.count)
            .arg("BLOCK")
            .arg(block_ms)
            .arg("STREAMS")
            .arg(&self.key)
            .arg(">")
            .query_async(&mut self.conn)
            .await
            .context("XREADGROUP")?;
        let Some(reply) = reply else { return Ok(0) };
        let mut ids = Vec::new();
        for entry in reply.keys.iter().flat_map(|k| &k.ids) {
            match entry.map.get(FIELD) {
                Some(redis::Value::BulkString(payload)) => seen(payload),
                _ => seen(&[]),
            }
            ids.push(entry.id.as_str());
        }
        if ids.is_empty() {
            return Ok(0);
        }
        // One XACK names every id read; Redis settles each of them on its own, as one
        // acknowledgement per message would.
        let acked: usize = redis::cmd("XACK")
            .arg(&self.key)
            .arg(&self.group)
            .arg(&ids)
            .query_async(&mut self.conn)
            .await
            .context("XACK")?;
        anyhow::ensure!(acked == ids.len(), "XACK settled {acked} of {} entries", ids.len());
        Ok(ids.len())
    }
}
