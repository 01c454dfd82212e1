//! The `connection` class: the handshake (start, tune, open) and close both ways.
//!
//! Authentication follows RabbitMQ: PLAIN and AMQPLAIN are checked against the configured
//! users, a loopback-only user (the default `guest`) is refused from any other address, and a
//! refused login is answered with `connection.close` 403 ACCESS_REFUSED only when the client
//! advertised the `authentication_failure_close` capability; others see the socket close.

use amq_protocol::protocol::{AMQPClass, connection};
use amq_protocol::types::{AMQPValue, FieldTable};

use crate::config::AmqpConfig;
use crate::errors::{AmqpError, ConnectionError, MethodId, ReplyCode};
use crate::session::{Phase, Session, Tuning};

const START_OK: MethodId = MethodId::new(10, 11);
const TUNE_OK: MethodId = MethodId::new(10, 31);
const OPEN: MethodId = MethodId::new(10, 40);

/// The only virtual host.
pub(crate) const VHOST: &str = "/";

/// Capabilities advertised in `connection.start`, each `true`; clients enable features by them.
const CAPABILITIES: &[&str] = &[
    "publisher_confirms",
    "exchange_exchange_bindings",
    "basic.nack",
    "consumer_cancel_notify",
    "connection.blocked",
    "authentication_failure_close",
    "per_consumer_qos",
    "direct_reply_to",
];

/// The `connection.start` a client receives after its protocol header.
pub(crate) fn start() -> connection::Start {
    let mut capabilities = FieldTable::default();
    for capability in CAPABILITIES {
        capabilities.insert((*capability).into(), AMQPValue::Boolean(true));
    }
    let mut properties = FieldTable::default();
    properties.insert("product".into(), long_string("ferry"));
    properties.insert("version".into(), long_string(env!("CARGO_PKG_VERSION")));
    properties.insert("platform".into(), long_string("Rust"));
    properties.insert("information".into(), long_string("https://github.com/ferry-broker/ferry"));
    properties.insert("capabilities".into(), AMQPValue::FieldTable(capabilities));
    connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: properties,
        mechanisms: "PLAIN AMQPLAIN".into(),
        locales: "en_US".into(),
    }
}

fn long_string(s: &str) -> AMQPValue {
    AMQPValue::LongString(s.into())
}

/// `connection.start-ok`: the client's properties and credentials. Accepted: `connection.tune`.
pub(crate) fn start_ok(session: &mut Session, method: connection::StartOk) -> Result<(), AmqpError> {
    session.client_properties = method.client_properties;
    session.wants_blocked = client_capability(&session.client_properties, "connection.blocked");
    session.cancel_notify = client_capability(&session.client_properties, "consumer_cancel_notify");
    let mechanism = method.mechanism.as_str();
    let credentials = match mechanism {
        "PLAIN" => plain(method.response.as_bytes()),
        "AMQPLAIN" => amqplain(method.response.as_bytes()),
        other => {
            return Err(ConnectionError::new(
                ReplyCode::CommandInvalid,
                START_OK,
                format!("unknown authentication mechanism '{other}'; this server offers PLAIN and AMQPLAIN"),
            )
            .into());
        }
    };
    let refusal = match credentials {
        Some((user, password)) => match check(&session.config, session.peer.ip(), &user, &password) {
            Ok(()) => {
                tracing::debug!(%user, mechanism, "client logged in");
                session.user = Some(user);
                None
            }
            Err(refusal) => Some(refusal),
        },
        None => Some(format!("{mechanism} response is malformed")),
    };
    if let Some(detail) = refusal {
        tracing::warn!(peer = %session.peer, mechanism, reason = %detail, "login refused");
        if !client_capability(&session.client_properties, "authentication_failure_close") {
            session.phase = Phase::Closed;
            return Ok(());
        }
        return Err(ConnectionError::new(
            ReplyCode::AccessRefused,
            START_OK,
            format!("Login was refused using authentication mechanism {mechanism}. For details see the broker logfile."),
        )
        .into());
    }
    let config = &session.config;
    let tune = connection::Tune {
        channel_max: config.channel_max,
        frame_max: config.frame_max_bytes,
        heartbeat: config.heartbeat_s,
    };
    session.send(0, AMQPClass::Connection(connection::AMQPMethod::Tune(tune)));
    session.phase = Phase::AwaitTuneOk;
    Ok(())
}

/// PLAIN's response: `authzid NUL user NUL password`.
fn plain(response: &[u8]) -> Option<(String, String)> {
    let mut parts = response.split(|b| *b == 0);
    let (_authzid, user, password) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some((String::from_utf8(user.to_vec()).ok()?, String::from_utf8(password.to_vec()).ok()?))
}

/// AMQPLAIN's response: a field table without its length prefix, with LOGIN and PASSWORD.
fn amqplain(response: &[u8]) -> Option<(String, String)> {
    let mut table = Vec::with_capacity(response.len() + 4);
    table.extend_from_slice(&u32::try_from(response.len()).ok()?.to_be_bytes());
    table.extend_from_slice(response);
    let (rest, table) = amq_protocol::types::parsing::parse_field_table(&table[..]).ok()?;
    if !rest.is_empty() {
        return None;
    }
    let text = |key: &str| match table.inner().get(key)? {
        AMQPValue::LongString(s) => String::from_utf8(s.as_bytes().to_vec()).ok(),
        AMQPValue::ShortString(s) => Some(s.as_str().to_owned()),
        _ => None,
    };
    Some((text("LOGIN")?, text("PASSWORD")?))
}

/// Checks `user`'s password and where it connects from; the error is for the log only.
fn check(config: &AmqpConfig, from: std::net::IpAddr, user: &str, password: &str) -> Result<(), String> {
    let Some(known) = config.users.iter().find(|u| u.name == user) else {
        return Err(format!("user '{user}' - invalid credentials"));
    };
    if known.password != password {
        return Err(format!("user '{user}' - invalid credentials"));
    }
    if known.loopback_only && !from.to_canonical().is_loopback() {
        return Err(format!("user '{user}' can only connect via localhost"));
    }
    Ok(())
}

/// Whether the client's `capabilities` table holds `name = true`.
fn client_capability(properties: &FieldTable, name: &str) -> bool {
    match properties.inner().get("capabilities") {
        Some(AMQPValue::FieldTable(capabilities)) => {
            matches!(capabilities.inner().get(name), Some(AMQPValue::Boolean(true)))
        }
        _ => false,
    }
}

/// `connection.tune-ok`: the client's limits, each at most the server's; 0 for `channel_max` or
/// `frame_max` takes the server's, 0 for `heartbeat` turns heartbeats off (the client decides
/// the heartbeat, as with RabbitMQ).
pub(crate) fn tune_ok(session: &mut Session, method: connection::TuneOk) -> Result<(), AmqpError> {
    let config = &session.config;
    let channel_max = negotiate("channel_max", method.channel_max.into(), config.channel_max.into(), 1)?;
    let frame_max =
        negotiate("frame_max", method.frame_max, config.frame_max_bytes, AmqpConfig::FRAME_MIN_BYTES)?;
    session.tuning = Tuning { frame_max, channel_max: channel_max as u16, heartbeat_s: method.heartbeat };
    tracing::debug!(frame_max, channel_max, heartbeat_s = method.heartbeat, "connection tuned");
    session.phase = Phase::AwaitOpen;
    Ok(())
}

fn negotiate(name: &str, client: u32, server: u32, min: u32) -> Result<u32, ConnectionError> {
    if client == 0 {
        return Ok(server);
    }
    if client > server {
        return Err(ConnectionError::new(
            ReplyCode::NotAllowed,
            TUNE_OK,
            format!("negotiated {name} = {client} is higher than the maximum allowed value ({server})"),
        ));
    }
    if client < min {
        return Err(ConnectionError::new(
            ReplyCode::NotAllowed,
            TUNE_OK,
            format!("negotiated {name} = {client} is lower than the minimum allowed value ({min})"),
        ));
    }
    Ok(client)
}

/// `connection.open`: the virtual host, `/` only. Answered `open-ok`; channels may open.
pub(crate) fn open(session: &mut Session, method: connection::Open) -> Result<(), AmqpError> {
    let vhost = method.virtual_host.as_str();
    if vhost != VHOST {
        return Err(ConnectionError::new(
            ReplyCode::NotAllowed,
            OPEN,
            format!("vhost '{vhost}' not found; this server has only '{VHOST}'"),
        )
        .into());
    }
    session.send(0, AMQPClass::Connection(connection::AMQPMethod::OpenOk(connection::OpenOk {})));
    session.phase = Phase::Open;
    tracing::info!(user = session.user.as_deref().unwrap_or(""), vhost, "connection open");
    Ok(())
}

/// `connection.close` from the client: answered `close-ok`, then the socket closes.
/// `connection.update-secret`: accepted, as RabbitMQ's internal user store accepts it (a
/// password login has no token that expires); the connection keeps its user.
pub(crate) fn update_secret(
    session: &mut Session,
    method: connection::UpdateSecret,
) -> Result<(), AmqpError> {
    tracing::info!(reason = %method.reason, "client updated its secret");
    session.send(
        0,
        AMQPClass::Connection(connection::AMQPMethod::UpdateSecretOk(connection::UpdateSecretOk {})),
    );
    Ok(())
}

pub(crate) async fn close(session: &mut Session, method: connection::Close) -> Result<(), AmqpError> {
    if method.reply_code == 200 {
        tracing::debug!("client closed the connection");
    } else {
        tracing::info!(code = method.reply_code, reason = %method.reply_text, "client closed the connection");
    }
    session.release_channels().await;
    session.send(0, AMQPClass::Connection(connection::AMQPMethod::CloseOk(connection::CloseOk {})));
    session.phase = Phase::Closed;
    Ok(())
}

/// `connection.close-ok`: the client acknowledges the broker's close.
pub(crate) fn close_ok(session: &mut Session) -> Result<(), AmqpError> {
    if session.phase == Phase::Closing {
        session.phase = Phase::Closed;
    }
    Ok(())
}

/// The resource alarms raised now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Alarm {
    pub(crate) disk: bool,
    pub(crate) memory: bool,
}

impl Alarm {
    /// True when publishers are blocked.
    pub(crate) fn raised(self) -> bool {
        self.disk || self.memory
    }

    /// The reason `connection.blocked` gives, in RabbitMQ's words.
    pub(crate) fn reason(self) -> &'static str {
        match (self.memory, self.disk) {
            (true, true) => "low on memory and disk",
            (true, false) => "low on memory",
            _ => "low on disk",
        }
    }
}

/// Tells the client publishing is blocked (the disk or memory alarm is raised) or unblocked
/// again, when it asked to know and the news is new.
pub(crate) fn tell_blocked(session: &mut Session, alarm: Alarm) {
    let blocked = alarm.raised();
    if !session.wants_blocked || session.told_blocked == blocked || session.phase != Phase::Open {
        return;
    }
    session.told_blocked = blocked;
    let method = if blocked {
        connection::AMQPMethod::Blocked(connection::Blocked { reason: alarm.reason().into() })
    } else {
        connection::AMQPMethod::Unblocked(connection::Unblocked {})
    };
    session.send(0, AMQPClass::Connection(method));
}

#[cfg(test)]
mod tests {
    use amq_protocol::auth::Credentials;
    use amq_protocol::uri::SASLMechanism;

    use super::*;

    #[test]
    fn plain_and_amqplain_responses_are_read() {
        let credentials = Credentials::new("guest".into(), "secret".into());
        let want = Some(("guest".to_owned(), "secret".to_owned()));
        assert_eq!(plain(credentials.sasl_auth_string(SASLMechanism::Plain).as_bytes()), want);
        assert_eq!(amqplain(credentials.sasl_auth_string(SASLMechanism::AMQPlain).as_bytes()), want);
        assert_eq!(plain(b"admin\0a\0b"), Some(("a".into(), "b".into())));
        assert_eq!(plain(b"\0only-user"), None);
        assert_eq!(amqplain(b"\x05LOGINS\0\0\0"), None);
    }

    #[test]
    fn guest_is_accepted_from_loopback_only() {
        let config = AmqpConfig::default();
        assert!(check(&config, "127.0.0.1".parse().unwrap(), "guest", "guest").is_ok());
        assert!(check(&config, "::ffff:127.0.0.1".parse().unwrap(), "guest", "guest").is_ok());
        let remote = check(&config, "10.0.0.7".parse().unwrap(), "guest", "guest").unwrap_err();
        assert!(remote.contains("localhost"), "{remote}");
        assert!(check(&config, "127.0.0.1".parse().unwrap(), "guest", "wrong").is_err());
        assert!(check(&config, "127.0.0.1".parse().unwrap(), "nobody", "guest").is_err());
    }

    #[test]
    fn tuning_takes_the_servers_limit_for_zero_and_refuses_more() {
        assert_eq!(negotiate("frame_max", 0, 131_072, 4096).unwrap(), 131_072);
        assert_eq!(negotiate("frame_max", 8192, 131_072, 4096).unwrap(), 8192);
        let above = negotiate("channel_max", 4000, 2047, 1).unwrap_err();
        assert_eq!(above.code, ReplyCode::NotAllowed);
        assert_eq!(
            above.text,
            "negotiated channel_max = 4000 is higher than the maximum allowed value (2047)"
        );
        assert_eq!(negotiate("frame_max", 100, 131_072, 4096).unwrap_err().code, ReplyCode::NotAllowed);
    }

    #[test]
    fn start_advertises_the_capabilities_clients_look_for() {
        let start = start();
        let Some(AMQPValue::FieldTable(capabilities)) = start.server_properties.inner().get("capabilities")
        else {
            panic!("no capabilities");
        };
        for name in ["publisher_confirms", "basic.nack", "authentication_failure_close", "direct_reply_to"] {
            assert_eq!(capabilities.inner().get(name), Some(&AMQPValue::Boolean(true)), "{name}");
        }
        assert_eq!(start.mechanisms.to_string(), "PLAIN AMQPLAIN");
    }
}
