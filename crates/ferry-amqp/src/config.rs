//! Settings of the AMQP listener.

use std::net::SocketAddr;

use serde::Deserialize;

/// Settings of the AMQP 0-9-1 listener (`[amqp]` in the configuration file). The defaults are
/// RabbitMQ's, so a client tuned for RabbitMQ negotiates the same limits here.
#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmqpConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Connections open at once; further ones are closed at accept.
    pub max_connections: usize,
    /// Largest frame, header and end octet included, offered in `connection.tune`; a client may
    /// ask for less, never more. A larger frame closes its connection with 501 FRAME_ERROR.
    pub frame_max_bytes: u32,
    /// Highest channel number offered in `connection.tune` (channels are 1..=channel_max).
    pub channel_max: u16,
    /// Heartbeat interval offered in `connection.tune`, in seconds; the client's `tune-ok`
    /// decides (0 there turns heartbeats off). A peer silent for two intervals is closed.
    pub heartbeat_s: u16,
    /// From accept to `connection.open`: a client slower than this is disconnected.
    pub handshake_timeout_ms: u64,
    /// Deliveries a channel may hold unacknowledged; beyond it the broker waits for acks
    /// even when the client asked for no prefetch limit.
    pub max_unacked_per_channel: u32,
    /// Consumers one connection may have over all its channels; one more `basic.consume` closes
    /// its channel with 406 (RabbitMQ's `consumer_max_per_channel` bounds a channel instead).
    pub max_consumers_per_connection: usize,
    /// How long a client may hold a delivery unacknowledged before its channel is closed with
    /// 406 PRECONDITION_FAILED (RabbitMQ's `consumer_timeout`, 30 minutes by default), unless
    /// the queue or the consumer sets `x-consumer-timeout`.
    pub consumer_timeout_ms: u64,
    /// Largest message body accepted by `basic.publish`; a larger one closes its channel with
    /// 406 PRECONDITION_FAILED, as RabbitMQ's `max_message_size` does. At most 16 MiB, the
    /// largest message a queue stores (RabbitMQ 4's default; 3.x allowed 128 MiB).
    pub max_message_bytes: u64,
    /// Who may connect, checked for PLAIN and AMQPLAIN.
    pub users: Vec<AmqpUser>,
}

/// A user who may connect.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AmqpUser {
    /// Login name.
    pub name: String,
    /// Password, compared as given.
    pub password: String,
    /// Accepted only from a loopback address (127.0.0.0/8, ::1), as RabbitMQ accepts `guest`.
    #[serde(default)]
    pub loopback_only: bool,
}

impl Default for AmqpConfig {
    fn default() -> Self {
        AmqpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5672)),
            // With Kafka's and SQS's defaults, within a 20,000 open-files limit.
            max_connections: 4096,
            frame_max_bytes: 131_072,
            channel_max: 2047,
            heartbeat_s: 60,
            handshake_timeout_ms: 10_000,
            max_unacked_per_channel: 10_000,
            consumer_timeout_ms: 30 * 60_000,
            max_consumers_per_connection: 10_000,
            // RabbitMQ 4's default max_message_size.
            max_message_bytes: 16 * 1024 * 1024,
            users: vec![AmqpUser { name: "guest".into(), password: "guest".into(), loopback_only: true }],
        }
    }
}

impl AmqpConfig {
    /// The smallest frame_max AMQP allows (`frame-min-size`); every peer must accept frames this large.
    pub const FRAME_MIN_BYTES: u32 = 4096;

    /// Checks the settings make sense together; the error says which one to change.
    pub fn validate(&self) -> Result<(), String> {
        if self.frame_max_bytes < Self::FRAME_MIN_BYTES {
            return Err(format!(
                "amqp.frame_max_bytes = {} is below AMQP's minimum frame size of {}",
                self.frame_max_bytes,
                Self::FRAME_MIN_BYTES
            ));
        }
        if self.channel_max == 0 {
            return Err("amqp.channel_max must be at least 1".into());
        }
        if self.max_connections == 0 {
            return Err("amqp.max_connections must be at least 1".into());
        }
        if self.max_consumers_per_connection == 0 {
            return Err("amqp.max_consumers_per_connection must be at least 1".into());
        }
        if self.consumer_timeout_ms == 0 {
            return Err("amqp.consumer_timeout_ms must be at least 1".into());
        }
        let queue_max = u64::from(ferry_broker::queues::service::MAX_MESSAGE_BYTES_LIMIT);
        if self.max_message_bytes == 0 || self.max_message_bytes > queue_max {
            return Err(format!(
                "amqp.max_message_bytes = {} must be between 1 and {queue_max}, the largest message a queue stores",
                self.max_message_bytes
            ));
        }
        if self.users.is_empty() {
            return Err("amqp.users is empty: no client could log in".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_rabbitmqs_and_valid() {
        let config = AmqpConfig::default();
        assert_eq!(config.listen.port(), 5672);
        assert_eq!((config.frame_max_bytes, config.channel_max, config.heartbeat_s), (131_072, 2047, 60));
        assert!(config.users[0].loopback_only);
        config.validate().unwrap();
    }

    #[test]
    fn the_readme_section_is_the_defaults() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("[amqp]\n").expect("an [amqp] section in the README");
        let section = &readme[start + "[amqp]\n".len()..];
        let section = &section[..section.find("\n\n").unwrap_or(section.len())];
        let parsed: AmqpConfig = toml::from_str(section).unwrap();
        let defaults = AmqpConfig::default();
        assert_eq!(parsed.listen, defaults.listen);
        assert_eq!(parsed.users, defaults.users);
        assert_eq!(
            (parsed.max_connections, parsed.frame_max_bytes, parsed.channel_max, parsed.heartbeat_s),
            (defaults.max_connections, defaults.frame_max_bytes, defaults.channel_max, defaults.heartbeat_s)
        );
        assert_eq!(
            (parsed.handshake_timeout_ms, parsed.max_unacked_per_channel, parsed.max_message_bytes),
            (defaults.handshake_timeout_ms, defaults.max_unacked_per_channel, defaults.max_message_bytes)
        );
        assert_eq!(parsed.consumer_timeout_ms, defaults.consumer_timeout_ms);
        assert_eq!(parsed.max_consumers_per_connection, defaults.max_consumers_per_connection);
    }

    #[test]
    fn a_max_message_size_no_queue_could_store_is_refused() {
        let config = AmqpConfig { max_message_bytes: 128 << 20, ..AmqpConfig::default() };
        assert!(config.validate().unwrap_err().contains("max_message_bytes"));
        let config = AmqpConfig { max_message_bytes: 16 << 20, ..AmqpConfig::default() };
        assert!(config.validate().is_ok());
    }

    #[test]
    fn frame_max_below_the_protocol_minimum_is_refused() {
        let config = AmqpConfig { frame_max_bytes: 1024, ..AmqpConfig::default() };
        assert!(config.validate().unwrap_err().contains("frame_max_bytes"));
    }
}
