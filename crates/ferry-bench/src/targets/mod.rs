//! One module per broker protocol and the client its users run.

mod kafka;
mod nats;
mod rabbitmq;
mod redis;
mod sqs;

use anyhow::Result;
use clap::ValueEnum;

use crate::target::Target;
use rabbitmq::QueueType;

/// The brokers and protocols `ferry-bench` can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// The Kafka protocol (librdkafka): ferry's Kafka listener, or Kafka itself.
    Kafka,
    /// The SQS API (AWS JSON 1.0 over HTTP): ferry's SQS listener.
    Sqs,
    /// RabbitMQ (lapin, AMQP 0-9-1) with durable classic queues.
    RabbitmqClassic,
    /// RabbitMQ (lapin, AMQP 0-9-1) with quorum queues.
    RabbitmqQuorum,
    /// RabbitMQ (lapin, AMQP 0-9-1) with stream queues.
    RabbitmqStream,
    /// NATS JetStream (async-nats) with file storage.
    Nats,
    /// Redis Streams (the redis crate) with consumer groups.
    Redis,
}

impl Kind {
    /// Where the target listens unless `--addr` says otherwise (each system's default port).
    pub fn default_addr(self) -> &'static str {
        match self {
            Kind::Kafka => "127.0.0.1:9092",
            Kind::Sqs => "http://127.0.0.1:9324",
            Kind::RabbitmqClassic | Kind::RabbitmqQuorum | Kind::RabbitmqStream => {
                "amqp://guest:guest@127.0.0.1:5672/%2f"
            }
            Kind::Nats => "nats://127.0.0.1:4222",
            Kind::Redis => "redis://127.0.0.1:6379",
        }
    }

    /// The name `--target` takes.
    pub fn name(self) -> String {
        self.to_possible_value().map(|v| v.get_name().to_owned()).unwrap_or_default()
    }
}

/// Settings a target needs when it is built.
pub struct Settings<'a> {
    pub addr: &'a str,
    pub inflight: usize,
    pub batch: usize,
}

pub fn connect(kind: Kind, settings: &Settings<'_>) -> Result<Box<dyn Target>> {
    Ok(match kind {
        Kind::Kafka => Box::new(kafka::Kafka::new(settings.addr)),
        Kind::Sqs => Box::new(sqs::Sqs::new(settings.addr, settings.inflight, settings.batch)?),
        Kind::RabbitmqClassic => Box::new(rabbitmq::Rabbitmq::new(settings.addr, QueueType::Classic)),
        Kind::RabbitmqQuorum => Box::new(rabbitmq::Rabbitmq::new(settings.addr, QueueType::Quorum)),
        Kind::RabbitmqStream => Box::new(rabbitmq::Rabbitmq::new(settings.addr, QueueType::Stream)),
        Kind::Nats => Box::new(nats::Nats::new(settings.addr)),
        Kind::Redis => Box::new(redis::Redis::new(settings.addr)?),
    })
}
