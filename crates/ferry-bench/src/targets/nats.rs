//! NATS JetStream through async-nats, as its users run durable work: a file-stored stream per
//! destination, every publish awaited for its PublishAck, durable pull consumers that
//! acknowledge each message explicitly.
//!
//! Every producer and consumer has its own connection.

use std::time::Duration;

use anyhow::{Context, Result, anyhow};
use async_nats::jetstream::{self, consumer, stream};
use async_trait::async_trait;
use futures::FutureExt;

use crate::target::{Ack, Consumer, Plan, Producer, Target, ready_items};

pub struct Nats {
    url: String,
}

impl Nats {
    pub fn new(url: &str) -> Nats {
        Nats { url: url.to_owned() }
    }

    async fn context(&self) -> Result<jetstream::Context> {
        let client =
            async_nats::connect(&self.url).await.with_context(|| format!("connecting to {}", self.url))?;
        Ok(jetstream::new(client))
    }
}

/// A work queue lets the first acknowledgement remove a message; a fan-out keeps messages
/// (up to the stream's limits) so that every subscription's consumer reads them all.
fn retention(plan: &Plan) -> stream::RetentionPolicy {
    if plan.subscriptions > 1 { stream::RetentionPolicy::Limits } else { stream::RetentionPolicy::WorkQueue }
}

#[async_trait]
impl Target for Nats {
    async fn prepare(&self, plan: &Plan) -> Result<()> {
        let js = self.context().await?;
        // The consumer holds at most a prefetch window unacknowledged, as AMQP's prefetch does.
        let max_ack_pending = i64::try_from(plan.prefetch.max(1))?;
        for d in 0..plan.destinations {
            let name = plan.destination(d);
            let created = js
                .create_stream(stream::Config {
                    name: name.clone(),
                    subjects: vec![name.clone()],
                    retention: retention(plan),
                    storage: stream::StorageType::File,
                    ..stream::Config::default()
                })
                .await
                .with_context(|| format!("creating stream {name}"))?;
            for s in 0..plan.subscriptions {
                let durable = plan.subscription(d, s);
                created
                    .create_consumer(consumer::pull::Config {
                        durable_name: Some(durable.clone()),
                        ack_policy: consumer::AckPolicy::Explicit,
                        max_ack_pending,
                        ..consumer::pull::Config::default()
                    })
                    .await
                    .with_context(|| format!("creating consumer {durable} on {name}"))?;
            }
        }
        Ok(())
    }

    async fn producer(&self, plan: &Plan) -> Result<Box<dyn Producer>> {
        let js = self.context().await?;
        let subjects = plan.destination_names();
        Ok(Box::new(NatsProducer { js, subjects }))
    }

    async fn consumer(
        &self,
        plan: &Plan,
        destination: usize,
        subscription: usize,
    ) -> Result<Box<dyn Consumer>> {
        let js = self.context().await?;
        let name = plan.destination(destination);
        let durable = plan.subscription(destination, subscription);
        let pull: consumer::PullConsumer = js
            .get_stream(&name)
            .await
            .with_context(|| format!("looking up stream {name}"))?
            .get_consumer(&durable)
            .await
            .map_err(|e| anyhow!("looking up consumer {durable}: {e}"))?;
        // Pull requests of up to a prefetch window each, kept outstanding by the client, so a
        // message is handed over as soon as it arrives rather than when a batch is full.
        let messages = pull
            .stream()
            .max_messages_per_batch(plan.prefetch.max(1))
            .messages()
            .await
            .with_context(|| format!("pulling from consumer {durable}"))?;
        Ok(Box::new(NatsConsumer { messages, prefetch: plan.prefetch.max(1) }))
    }

    async fn cleanup(&self, plan: &Plan) -> Result<()> {
        let js = self.context().await?;
        for d in 0..plan.destinations {
            let name = plan.destination(d);
            js.delete_stream(&name).await.with_context(|| format!("deleting stream {name}"))?;
        }
        Ok(())
    }
}

struct NatsProducer {
    js: jetstream::Context,
    /// Subject by destination: each stream takes the subject named after it.
    subjects: Vec<String>,
}

#[async_trait]
impl Producer for NatsProducer {
    async fn send(&mut self, destination: usize, payloads: Vec<Vec<u8>>) -> Result<Ack> {
        let subject = &self.subjects[destination];
        let mut acks = Vec::with_capacity(payloads.len());
        for payload in payloads {
            // Returns once the client took the message; the PublishAck comes later.
            let ack = self.js.publish(subject.clone(), payload.into()).await.context("publishing")?;
            acks.push(ack);
        }
        Ok(async move {
            for ack in acks {
                ack.await.context("waiting for the PublishAck")?;
            }
            Ok(())
        }
        .boxed())
    }
}

struct NatsConsumer {
    messages: consumer::pull::Stream,
    prefetch: usize,
}

#[async_trait]
impl Consumer for NatsConsumer {
    async fn receive(
        &mut self,
        wait: Duration,
        seen: &mut (dyn for<'p> FnMut(&'p [u8]) + Send),
    ) -> Result<usize> {
        let received = ready_items(&mut self.messages, wait, self.prefetch).await?;
        for message in &received {
            let message = message.as_ref().map_err(|e| anyhow!("pulling: {e}"))?;
            seen(&message.payload);
            message.ack().await.map_err(|e| anyhow!("acknowledging: {e}"))?;
        }
        Ok(received.len())
    }
}
