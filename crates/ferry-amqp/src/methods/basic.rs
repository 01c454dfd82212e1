//! The `basic` class: publishing, consumers (`consume`, `cancel`, `qos`), fetching one message
//! (`get`), and settling deliveries.

use std::sync::Arc;

use amq_protocol::protocol::{AMQPClass, basic};
use ferry_broker::queues::{NackMode, ReceiveOptions, SubscribeOptions};
use tokio::time::Instant;

use crate::ack_timeout::{backstop_lease_ms, timed_out_text};
use crate::channel::{Channel, Content, Held, Settlement, TX_BYTES_MAX, TX_MESSAGES_MAX, Unacked};
use crate::consumer::{ByteWindow, Consumer, Credit, Pushed, requeue};
use crate::errors::{AmqpError, ChannelError, MethodId, ReplyCode, queue_error};
use crate::errors::{ConnectionError, publish_error};
use crate::message;
use crate::methods::queue::{check_owner, consumer_timeout_ms, named, requeue_mode};
use crate::session::Session;

const PUBLISH: MethodId = MethodId::new(60, 40);
const GET: MethodId = MethodId::new(60, 70);
const ACK: MethodId = MethodId::new(60, 80);
const CONSUME: MethodId = MethodId::new(60, 20);
const REJECT: MethodId = MethodId::new(60, 90);

/// How each queue takes back a batch of deliveries of one kind (see [`requeue_mode`]), looked
/// up once per queue.
pub(crate) struct RequeueModes<'a> {
    failed: bool,
    by_queue: std::collections::HashMap<&'a str, NackMode>,
}

impl<'a> RequeueModes<'a> {
    /// For deliveries that failed (reject, a closed channel) or were returned (nack, recover).
    pub(crate) fn new(failed: bool) -> Self {
        RequeueModes { failed, by_queue: std::collections::HashMap::new() }
    }

    /// How `queue` takes one back.
    pub(crate) fn of(&mut self, queues: &ferry_broker::queues::QueueService, queue: &'a str) -> NackMode {
        let failed = self.failed;
        *self.by_queue.entry(queue).or_insert_with(|| {
            queues.queue_attributes(queue).map_or(NackMode::Requeue, |a| requeue_mode(&a, failed))
        })
    }
}

/// `basic.qos`: the prefetch of consumers started on the channel from now on. A global
/// prefetch (shared by a channel's consumers) is accepted and applied per consumer, as
/// RabbitMQ 4 does for quorum queues, because deployed clients (Celery, kombu) still ask for it.
pub(crate) fn qos(session: &mut Session, id: u16, method: basic::Qos) -> Result<(), AmqpError> {
    if method.global {
        tracing::info!(
            channel = id,
            prefetch = method.prefetch_count,
            "global QoS requested; applied per consumer"
        );
    }
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.prefetch = method.prefetch_count;
    }
    session.send(id, AMQPClass::Basic(basic::AMQPMethod::QosOk(basic::QosOk {})));
    Ok(())
}

/// The `prefetch-size` of a `basic.qos` (read from the frame: amq-protocol drops it). RabbitMQ
/// refuses a non-zero one; ferry bounds the body bytes held unacknowledged by each consumer
/// started from now on, or with `global` by the channel's consumers together (at least one
/// message is always delivered, so a large message cannot stall a consumer).
pub(crate) fn qos_size(channel: &mut Channel, global: bool, prefetch_size: u32) {
    if global {
        channel.bytes.max.store(u64::from(prefetch_size), std::sync::atomic::Ordering::Release);
    } else {
        channel.prefetch_size = prefetch_size;
    }
}

/// `basic.publish`: the content header and body follow on the channel.
pub(crate) fn publish(session: &mut Session, id: u16, method: basic::Publish) -> Result<(), AmqpError> {
    if method.immediate {
        // RabbitMQ has refused `immediate` since 3.0, and clients no longer send it.
        return Err(ChannelError::new(ReplyCode::NotImplemented, PUBLISH, "immediate=true").into());
    }
    session.published = true;
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.start_content(method);
    }
    Ok(())
}

/// A published message is complete: the broker routes it and appends it to every queue it
/// reaches; the connection goes on reading while the disk makes it durable (publishes share
/// fsyncs). Unroutable and `mandatory`: returned with 312 NO_ROUTE at once. In confirm mode,
/// acknowledged once durable, in publish order (or refused by a full queue: `basic.nack`).
pub(crate) async fn published(session: &mut Session, id: u16, content: Content) -> Result<(), AmqpError> {
    if let Some(tx) = session.channels.get_mut(&id).and_then(|c| c.tx.as_mut()) {
        let bytes = tx.bytes + content.body.len() as u64;
        if tx.publishes.len() >= TX_MESSAGES_MAX || bytes > TX_BYTES_MAX {
            return Err(ChannelError::new(
                ReplyCode::PreconditionFailed,
                PUBLISH,
                format!("a transaction holds at most {TX_MESSAGES_MAX} messages and {TX_BYTES_MAX} bytes; commit sooner"),
            )
            .into());
        }
        tx.bytes = bytes;
        tx.publishes.push(content);
        return Ok(());
    }
    publish_now(session, id, content).await
}

/// Publishes a complete message (outside a transaction, or at its commit): routed and appended
/// now, in the order the channel sent it; the session waits for the disk beside the frames that
/// follow and confirms in publish order.
pub(crate) async fn publish_now(session: &mut Session, id: u16, content: Content) -> Result<(), AmqpError> {
    let Content { publish, properties, body } = content;
    let sequence = session.channels.get_mut(&id).and_then(|c| {
        let next = c.confirms.map(|n| n + 1);
        c.confirms = next.or(c.confirms);
        next
    });
    let exchange = publish.exchange.as_str();
    let routing_key = publish.routing_key.as_str();
    let mut msg = message::new_message(properties.clone(), body.clone());
    if msg.envelope.properties.reply_to.as_deref() == Some(REPLY_TO) {
        // Direct reply-to: the reply goes to the queue behind this channel's reply consumer.
        let queue = session.channels.get(&id).and_then(|c| c.reply_to.clone()).ok_or_else(|| {
            AmqpError::from(ChannelError::new(
                ReplyCode::PreconditionFailed,
                PUBLISH,
                "fast reply consumer does not exist; consume from amq.rabbitmq.reply-to first".to_owned(),
            ))
        })?;
        msg.envelope.properties.reply_to = Some(queue);
    }
    let pending = match session.broker().begin_publish(exchange, routing_key, msg).await {
        Ok(pending) => pending,
        Err(e) => return Err(publish_error(e, PUBLISH, routing_key)),
    };
    if pending.unroutable() && publish.mandatory {
        let returned = basic::Return {
            reply_code: ReplyCode::NoRoute.code(),
            reply_text: "NO_ROUTE".into(),
            exchange: publish.exchange.clone(),
            routing_key: publish.routing_key.clone(),
        };
        session.send_content(id, AMQPClass::Basic(basic::AMQPMethod::Return(returned)), properties, &body);
    }
    session.await_durable(id, sequence, routing_key, pending).await;
    Ok(())
}

/// `basic.get`: one ready message, leased to the channel until settled (settled at once with
/// `no-ack`), or `get-empty`.
pub(crate) async fn get(session: &mut Session, id: u16, method: basic::Get) -> Result<(), AmqpError> {
    let name = named(session, id, method.queue.as_str(), GET)?;
    check_owner(session, &name, GET)?;
    let queues = session.broker().queues();
    let timeout_ms = queues
        .queue_attributes(&name)
        .ok()
        .and_then(|a| consumer_timeout_ms(&a))
        .unwrap_or(session.config.consumer_timeout_ms);
    let options = ReceiveOptions {
        max_messages: 1,
        lease_ms: Some(backstop_lease_ms(timeout_ms)),
        wait_ms: Some(0),
        receive_request_attempt_id: None,
    };
    let mut deliveries = queues.receive(&name, options).await.map_err(|e| queue_error(e, GET, &name))?;
    let Some(delivery) = deliveries.pop() else {
        let empty = basic::GetEmpty {};
        session.send(id, AMQPClass::Basic(basic::AMQPMethod::GetEmpty(empty)));
        return Ok(());
    };
    if method.no_ack {
        queues.ack(&name, delivery.receipt).await.map_err(|e| queue_error(e, GET, &name))?;
    }
    let remaining = queues.queue_stats(&name).map(|s| s.ready).unwrap_or(0);
    let limited = delivery.delivery_count > 1 && queues.delivery_limit(&name).is_some();
    let Some(channel) = session.channels.get_mut(&id) else { return Ok(()) };
    let delivery_tag = if method.no_ack {
        channel.next_tag()
    } else {
        let unacked =
            Unacked { queue: name.clone(), held: Held::Queue(delivery.receipt), consumer: None, bytes: 0 };
        let tag = channel.track(unacked);
        session.ack_timeouts.start(id, tag, timeout_ms, Instant::now(), |t| channel.holds(t));
        tag
    };
    let ok = basic::GetOk {
        delivery_tag,
        redelivered: delivery.redelivered,
        exchange: delivery.envelope.exchange.as_deref().unwrap_or("").into(),
        routing_key: delivery.envelope.routing_key.as_deref().unwrap_or(&name).into(),
        message_count: u32::try_from(remaining).unwrap_or(u32::MAX),
    };
    let properties = message::properties(&delivery, limited);
    session.send_content(id, AMQPClass::Basic(basic::AMQPMethod::GetOk(ok)), properties, &delivery.body);
    Ok(())
}

/// `basic.ack`: the deliveries are done with and leave their queues.
pub(crate) async fn ack(session: &mut Session, id: u16, method: basic::Ack) -> Result<(), AmqpError> {
    let Some(channel) = session.channels.get_mut(&id) else { return Ok(()) };
    if channel.tx.is_some() {
        channel.check_tag(method.delivery_tag, method.multiple, ACK)?;
        let settlement = Settlement::Ack { tag: method.delivery_tag, multiple: method.multiple };
        if let Some(tx) = channel.tx.as_mut() {
            tx.settlements.push(settlement);
        }
        return Ok(());
    }
    ack_now(session, id, method).await
}

/// Settles acknowledged deliveries (outside a transaction, or at its commit).
pub(crate) async fn ack_now(session: &mut Session, id: u16, method: basic::Ack) -> Result<(), AmqpError> {
    let Some(channel) = session.channels.get_mut(&id) else { return Ok(()) };
    let settled = channel.settle(method.delivery_tag, method.multiple, ACK)?;
    channel.credit(&settled);
    let queues = session.broker().queues();
    for delivery in &settled {
        let Held::Queue(receipt) = delivery.held else { continue };
        if let Err(e) = queues.ack(&delivery.queue, receipt).await {
            // The queue went, or the lease ran out and the message was delivered again.
            tracing::debug!(queue = %delivery.queue, error = %e, "ack of a delivery no longer held");
        }
    }
    Ok(())
}

/// `basic.nack` and `basic.reject`: back to the queue (`requeue`, flagged redelivered), or
/// dead-lettered (dropped when the queue has no dead-letter target).
pub(crate) async fn settle_back(
    session: &mut Session,
    id: u16,
    method: MethodId,
    delivery_tag: u64,
    multiple: bool,
    requeue: bool,
) -> Result<(), AmqpError> {
    let Some(channel) = session.channels.get_mut(&id) else { return Ok(()) };
    if channel.tx.is_some() {
        channel.check_tag(delivery_tag, multiple, method)?;
        let settlement = Settlement::Back { method, tag: delivery_tag, multiple, requeue };
        if let Some(tx) = channel.tx.as_mut() {
            tx.settlements.push(settlement);
        }
        return Ok(());
    }
    settle_back_now(session, id, method, delivery_tag, multiple, requeue).await
}

/// Gives deliveries back or dead-letters them (outside a transaction, or at its commit).
pub(crate) async fn settle_back_now(
    session: &mut Session,
    id: u16,
    method: MethodId,
    delivery_tag: u64,
    multiple: bool,
    requeue: bool,
) -> Result<(), AmqpError> {
    let Some(channel) = session.channels.get_mut(&id) else { return Ok(()) };
    let settled = channel.settle(delivery_tag, multiple, method)?;
    channel.credit(&settled);
    let queues = session.broker().queues();
    // A reject is a failed delivery, a nack a return (RabbitMQ 4.3's delayed retry types).
    let mut modes = RequeueModes::new(method == REJECT);
    for delivery in &settled {
        let Held::Queue(receipt) = delivery.held else { continue };
        let mode = if requeue { modes.of(queues, &delivery.queue) } else { NackMode::DeadLetter };
        if let Err(e) = queues.nack(&delivery.queue, receipt, mode).await {
            tracing::debug!(queue = %delivery.queue, error = %e, "nack of a delivery no longer held");
        }
    }
    Ok(())
}

/// `basic.recover` (and its async form): every unsettled delivery of the channel goes back to
/// its queue. ferry always requeues: redelivering to the same consumer (`requeue = false`) is
/// what RabbitMQ does not support either.
pub(crate) async fn recover(
    session: &mut Session,
    id: u16,
    requeue: bool,
    answer: bool,
) -> Result<(), AmqpError> {
    if !requeue {
        return Err(
            ChannelError::new(ReplyCode::NotImplemented, MethodId::new(60, 110), "requeue=false").into()
        );
    }
    let held = session
        .channels
        .get_mut(&id)
        .map(|c| {
            let held = c.take_unacked();
            c.credit(&held);
            held
        })
        .unwrap_or_default();
    session.requeue_returned(held, false).await;
    if answer {
        session.send(id, AMQPClass::Basic(basic::AMQPMethod::RecoverOk(basic::RecoverOk {})));
    }
    Ok(())
}

/// `basic.consume`: a push consumer of the queue with the channel's prefetch (bounded by
/// `max_unacked_per_channel`). `consume-ok` goes out before its first delivery.
pub(crate) async fn consume(session: &mut Session, id: u16, method: basic::Consume) -> Result<(), AmqpError> {
    let mut name = named(session, id, method.queue.as_str(), CONSUME)?;
    if name == REPLY_TO {
        name = reply_queue(session, id, &method).await?;
    }
    check_owner(session, &name, CONSUME)?;
    let tag = if method.consumer_tag.as_str().is_empty() {
        format!("amq.ctag-{:032x}", rand::random::<u128>())
    } else {
        method.consumer_tag.to_string()
    };
    let limit = session.config.max_unacked_per_channel;
    let consumers: usize = session.channels.values().map(|c| c.consumers.len()).sum();
    let consumers_max = session.config.max_consumers_per_connection;
    if consumers >= consumers_max {
        // RabbitMQ's words for its per-channel bound (which it sends as 530, closing the connection).
        return Err(ChannelError::new(
            ReplyCode::PreconditionFailed,
            CONSUME,
            format!("reached maximum ({consumers_max}) of consumers per connection; cancel some first"),
        )
        .into());
    }
    let Some(channel) = session.channels.get(&id) else { return Ok(()) };
    if channel.consumers.contains_key(&tag) {
        return Err(ConnectionError::new(
            ReplyCode::NotAllowed,
            CONSUME,
            format!("attempt to reuse consumer tag '{tag}'"),
        )
        .into());
    }
    let prefetch = match u32::from(channel.prefetch) {
        0 => limit,
        n => n.min(limit),
    };
    let priority = method
        .arguments
        .inner()
        .get("x-priority")
        .and_then(|v| message::from_amqp(v).as_i64())
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(0);
    if !session.broker().queues().exists(&name) && session.broker().stream_exists(&name) {
        return super::stream::consume(session, id, &method, &name, tag, prefetch);
    }
    let queues = Arc::clone(session.broker().queues());
    let timeout_ms = ack_timeout_ms(session, &name, &method)?;
    let lease_ms = Some(backstop_lease_ms(timeout_ms));
    let window =
        ByteWindow { consumer_max: u64::from(channel.prefetch_size), channel: Arc::clone(&channel.bytes) };
    // A consumer bounded by bytes takes one message at a time, so none waits leased for it.
    let bounded = window.is_bounded();
    let subscribed = if bounded { 1 } else { prefetch };
    let options = SubscribeOptions { prefetch: subscribed, exclusive: method.exclusive, priority, lease_ms };
    let subscription = queues.subscribe(&name, options).map_err(|e| queue_error(e, CONSUME, &name))?;
    if !method.nowait {
        let ok = basic::ConsumeOk { consumer_tag: tag.as_str().into() };
        session.send(id, AMQPClass::Basic(basic::AMQPMethod::ConsumeOk(ok)));
    }
    let to = session.pushed.clone();
    let mut consumer = if bounded {
        Consumer::start_bounded(
            subscription,
            (id, tag.clone()),
            (method.no_ack, prefetch),
            window,
            to,
            queues,
        )
    } else {
        Consumer::start(subscription, id, tag.clone(), method.no_ack, to, queues)
    };
    consumer.ack_timeout_ms = Some(timeout_ms);
    tracing::debug!(channel = id, queue = %name, consumer = %tag, prefetch, "consumer started");
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.consumers.insert(tag, consumer);
    }
    Ok(())
}

/// How long a consumer's deliveries may stay unacknowledged: the consumer's
/// `x-consumer-timeout`, else the queue's, else the configured default (RabbitMQ's order).
fn ack_timeout_ms(session: &Session, queue: &str, method: &basic::Consume) -> Result<u64, AmqpError> {
    if let Some(value) = method.arguments.inner().get("x-consumer-timeout") {
        return match message::from_amqp(value).as_i64().and_then(|n| u64::try_from(n).ok()) {
            Some(ms) if ms > 0 => Ok(ms),
            _ => Err(ChannelError::new(
                ReplyCode::PreconditionFailed,
                CONSUME,
                "invalid arg 'x-consumer-timeout': must be a positive integer (milliseconds)",
            )
            .into()),
        };
    }
    let of_queue =
        session.broker().queues().queue_attributes(queue).ok().and_then(|a| consumer_timeout_ms(&a));
    Ok(of_queue.unwrap_or(session.config.consumer_timeout_ms))
}

/// Acts on deliveries held past their acknowledgement timeout, as RabbitMQ 4.3 does: a
/// consumer's delivery cancels that consumer with a server-sent `basic.cancel` when the client
/// takes one (`consumer_cancel_notify`), its deliveries going back to their queues and the
/// channel staying open; otherwise (a `basic.get` delivery, or a client without the
/// capability) the channel is closed with 406 PRECONDITION_FAILED and what it held goes back.
pub(crate) async fn close_timed_out(session: &mut Session) {
    let now = Instant::now();
    let mut expired = Vec::new();
    // A cancelled consumer's deliveries are no longer held: look again for the next ones.
    loop {
        let channels = &session.channels;
        let found =
            session.ack_timeouts.expired(now, |id, tag| channels.get(&id).is_some_and(|c| c.holds(tag)));
        if found.is_empty() {
            break;
        }
        let mut cancelled_any = false;
        for (id, timeout_ms, tag) in found {
            let consumer = session.channels.get(&id).and_then(|c| c.consumer_of(tag)).map(str::to_owned);
            let live = consumer
                .as_deref()
                .is_some_and(|c| session.channels.get(&id).is_some_and(|ch| ch.consumers.contains_key(c)));
            match consumer {
                Some(consumer_tag) if session.cancel_notify && live => {
                    tracing::warn!(channel = id, consumer = %consumer_tag, timeout_ms, "delivery acknowledgement timed out; cancelling the consumer");
                    let held = session
                        .channels
                        .get_mut(&id)
                        .map(|c| c.cancel_timed_out(&consumer_tag))
                        .unwrap_or_default();
                    session.requeue_returned(held, false).await;
                    let cancel = basic::Cancel { consumer_tag: consumer_tag.as_str().into(), nowait: true };
                    session.send(id, AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel)));
                    cancelled_any = true;
                }
                _ => {
                    session.ack_timeouts.forget_channel(id);
                    expired.push((id, timeout_ms));
                }
            }
        }
        if !cancelled_any {
            break;
        }
    }
    for (id, timeout_ms) in expired {
        tracing::warn!(channel = id, timeout_ms, "delivery acknowledgement timed out; closing the channel");
        let error =
            ChannelError::new(ReplyCode::PreconditionFailed, MethodId::NONE, timed_out_text(id, timeout_ms));
        // Its deliveries come back as returned, not failed, as RabbitMQ 4.3 counts a timeout.
        let held = session.channels.get_mut(&id).map(Channel::take_unacked).unwrap_or_default();
        session.requeue_returned(held, false).await;
        session.close_channel(id, &error).await;
    }
}

/// The pseudo-queue of direct reply-to: consuming from it (no-ack) gives the channel a reply
/// queue, and a publish whose `reply-to` names it is rewritten to that queue's name.
const REPLY_TO: &str = ferry_broker::broker::DIRECT_REPLY_TO;

/// The channel's direct reply-to queue, made on its first consume (`Broker::reply_queue`:
/// transient and exclusive to the connection).
async fn reply_queue(session: &mut Session, id: u16, method: &basic::Consume) -> Result<String, AmqpError> {
    if !method.no_ack {
        return Err(ChannelError::new(
            ReplyCode::PreconditionFailed,
            CONSUME,
            "reply consumer cannot acknowledge; consume amq.rabbitmq.reply-to with no-ack".to_owned(),
        )
        .into());
    }
    if let Some(queue) = session.channels.get(&id).and_then(|c| c.reply_to.clone()) {
        return Ok(queue);
    }
    let queue =
        session.broker().reply_queue(session.id).await.map_err(|e| queue_error(e, CONSUME, REPLY_TO))?;
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.reply_to = Some(queue.clone());
    }
    Ok(queue)
}

/// `basic.cancel`: the consumer stops; what it was delivered stays unacknowledged on the
/// channel until settled or the channel closes. An unknown tag is answered all the same.
pub(crate) fn cancel(session: &mut Session, id: u16, method: basic::Cancel) -> Result<(), AmqpError> {
    if let Some(channel) = session.channels.get_mut(&id) {
        channel.consumers.remove(method.consumer_tag.as_str());
    }
    if !method.nowait {
        let ok = basic::CancelOk { consumer_tag: method.consumer_tag };
        session.send(id, AMQPClass::Basic(basic::AMQPMethod::CancelOk(ok)));
    }
    Ok(())
}

/// Writes what a consumer task pushed: a delivery as `basic.deliver` under a new delivery tag
/// (settled at once for a `no-ack` consumer), or the consumer's end as a server-sent
/// `basic.cancel`. A delivery for a consumer no longer there goes back to its queue.
pub(crate) async fn pushed(session: &mut Session, pushed: Pushed) {
    let queues = Arc::clone(session.broker().queues());
    match pushed {
        Pushed::Delivery { channel: id, consumer_tag, queue, delivery, held, bytes } => {
            let Some(channel) = session.channels.get_mut(&id) else {
                return requeue(&queues, &queue, held).await;
            };
            if !channel.flow_active {
                channel.paused.push_back(Pushed::Delivery {
                    channel: id,
                    consumer_tag,
                    queue,
                    delivery,
                    held,
                    bytes,
                });
                return;
            }
            let Some(consumer) = channel.consumers.get(&consumer_tag) else {
                channel.bytes.release(bytes);
                return requeue(&queues, &queue, held).await;
            };
            let delivery_tag = if consumer.no_ack {
                consumer.settled(Credit { count: 1, bytes });
                channel.bytes.release(bytes);
                if let Held::Queue(receipt) = held
                    && let Err(e) = queues.ack(&queue, receipt).await
                {
                    tracing::debug!(%queue, error = %e, "settling a no-ack delivery failed");
                }
                channel.next_tag()
            } else {
                let timeout_ms = consumer.ack_timeout_ms;
                let tag = channel.track(Unacked {
                    queue: queue.clone(),
                    held,
                    consumer: Some(consumer_tag.clone()),
                    bytes,
                });
                if let Some(timeout_ms) = timeout_ms {
                    session.ack_timeouts.start(id, tag, timeout_ms, Instant::now(), |t| channel.holds(t));
                }
                tag
            };
            let deliver = basic::Deliver {
                consumer_tag: consumer_tag.as_str().into(),
                delivery_tag,
                redelivered: delivery.redelivered,
                exchange: delivery.envelope.exchange.as_deref().unwrap_or("").into(),
                routing_key: delivery.envelope.routing_key.as_deref().unwrap_or(&queue).into(),
            };
            let limited =
                delivery.delivery_count > 1 && session.broker().queues().delivery_limit(&queue).is_some();
            let properties = message::properties(&delivery, limited);
            session.send_content(
                id,
                AMQPClass::Basic(basic::AMQPMethod::Deliver(deliver)),
                properties,
                &delivery.body,
            );
        }
        Pushed::Cancelled { channel: id, consumer_tag } => {
            let Some(channel) = session.channels.get_mut(&id) else { return };
            if channel.consumers.remove(&consumer_tag).is_some() {
                tracing::info!(channel = id, consumer = %consumer_tag, "queue deleted; cancelling its consumer");
                let cancel = basic::Cancel { consumer_tag: consumer_tag.as_str().into(), nowait: true };
                session.send(id, AMQPClass::Basic(basic::AMQPMethod::Cancel(cancel)));
            }
        }
    }
}
