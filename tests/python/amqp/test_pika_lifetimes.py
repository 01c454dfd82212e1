"""Queue lifetimes, restarts, transactions, request-reply and delayed delivery through pika."""

import threading
import time
import uuid

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from amqp_helpers import parameters


def test_an_exclusive_queue_is_refused_to_other_connections_and_gone_with_its_owner(ferry_server, name):
    owner = pika.BlockingConnection(parameters(ferry_server))
    owner.channel().queue_declare(name, exclusive=True)
    other = pika.BlockingConnection(parameters(ferry_server))
    try:
        with pytest.raises(ChannelClosedByBroker) as e:
            other.channel().queue_declare(name, passive=True)
        assert e.value.reply_code == 405
        owner.close()
        time.sleep(0.2)
        with pytest.raises(ChannelClosedByBroker) as e:
            other.channel().queue_declare(name, passive=True)
        assert e.value.reply_code == 404
    finally:
        other.close()


def test_an_auto_delete_queue_goes_when_its_last_consumer_cancels(connection, channel, name):
    channel.queue_declare(name, auto_delete=True)
    tag = channel.basic_consume(name, lambda *a: None)
    channel.basic_cancel(tag)
    time.sleep(0.2)
    with pytest.raises(ChannelClosedByBroker) as e:
        connection.channel().queue_declare(name, passive=True)
    assert e.value.reply_code == 404


def test_x_expires_deletes_an_unused_queue(connection, channel, name):
    channel.queue_declare(name, arguments={"x-expires": 300})
    time.sleep(1.0)
    with pytest.raises(ChannelClosedByBroker) as e:
        connection.channel().queue_declare(name, passive=True)
    assert e.value.reply_code == 404


def test_durable_queues_and_persistent_messages_survive_a_restart(fresh_ferry_server, name):
    conn = pika.BlockingConnection(parameters(fresh_ferry_server))
    ch = conn.channel()
    ch.confirm_delivery()
    ch.exchange_declare(name + "-x", "direct", durable=True)
    ch.queue_declare(name, durable=True)
    ch.queue_bind(name, name + "-x", "k")
    ch.queue_declare(name + "-transient", durable=False)
    ch.basic_publish(name + "-x", "k", b"kept", pika.BasicProperties(delivery_mode=2))
    conn.close()
    fresh_ferry_server.restart()
    conn = pika.BlockingConnection(parameters(fresh_ferry_server))
    ch = conn.channel()
    method, _, body = ch.basic_get(name, auto_ack=True)
    assert body == b"kept"
    ch.basic_publish(name + "-x", "k", b"still bound")
    assert ch.basic_get(name, auto_ack=True)[2] == b"still bound"
    with pytest.raises(ChannelClosedByBroker) as e:
        conn.channel().queue_declare(name + "-transient", passive=True)
    assert e.value.reply_code == 404
    conn.close()


def test_tx_commit_publishes_and_rollback_discards(channel, name):
    channel.queue_declare(name)
    channel.tx_select()
    channel.basic_publish("", name, b"rolled back")
    channel.tx_rollback()
    channel.basic_publish("", name, b"committed")
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)
    channel.tx_commit()
    assert channel.basic_get(name, auto_ack=True)[2] == b"committed"


def test_request_reply_with_a_reply_queue_and_correlation_id(ferry_server, connection, channel, name):
    channel.queue_declare(name)
    replies = channel.queue_declare("", exclusive=True).method.queue

    def serve():
        conn = pika.BlockingConnection(parameters(ferry_server))
        ch = conn.channel()
        method, props, body = None, None, None
        deadline = time.monotonic() + 5
        while method is None and time.monotonic() < deadline:
            method, props, body = ch.basic_get(name, auto_ack=True)
            time.sleep(0.02)
        ch.basic_publish("", props.reply_to, body.upper(), pika.BasicProperties(correlation_id=props.correlation_id))
        conn.close()

    t = threading.Thread(target=serve)
    t.start()
    corr = str(uuid.uuid4())
    channel.basic_publish("", name, b"ping", pika.BasicProperties(reply_to=replies, correlation_id=corr))
    t.join(10)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        method, props, body = channel.basic_get(replies, auto_ack=True)
        if method:
            break
        time.sleep(0.02)
    assert body == b"PING" and props.correlation_id == corr


def test_direct_reply_to(ferry_server, connection, channel, name):
    channel.queue_declare(name)
    got = []
    channel.basic_consume("amq.rabbitmq.reply-to", lambda ch, m, p, b: got.append((p.correlation_id, b)), auto_ack=True)
    channel.basic_publish("", name, b"ping", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to", correlation_id="c1"))
    server = pika.BlockingConnection(parameters(ferry_server))
    sch = server.channel()
    method, props, body = sch.basic_get(name, auto_ack=True)
    assert props.reply_to.startswith("amq.rabbitmq.reply-to.")
    sch.basic_publish("", props.reply_to, b"pong", pika.BasicProperties(correlation_id=props.correlation_id))
    server.close()
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    assert got == [("c1", b"pong")]


def test_x_delayed_message_exchange_delivers_after_the_delay(channel, name):
    channel.exchange_declare(name, "x-delayed-message", arguments={"x-delayed-type": "direct"})
    channel.queue_declare(name)
    channel.queue_bind(name, name, "k")
    start = time.monotonic()
    channel.basic_publish(name, "k", b"later", pika.BasicProperties(headers={"x-delay": 500}))
    channel.basic_publish(name, "k", b"now")
    assert channel.basic_get(name, auto_ack=True)[2] == b"now"
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)
    while time.monotonic() - start < 5:
        method, _, body = channel.basic_get(name, auto_ack=True)
        if method:
            assert body == b"later" and time.monotonic() - start >= 0.5
            return
        time.sleep(0.05)
    pytest.fail("the delayed message never arrived")


def test_a_single_active_consumer_takes_everything_until_it_cancels(connection, channel, name):
    channel.queue_declare(name, arguments={"x-single-active-consumer": True})
    for i in range(4):
        channel.basic_publish("", name, str(i).encode())
    channel.basic_qos(prefetch_count=10)
    first, second = [], []
    tag = channel.basic_consume(name, lambda ch, m, p, b: (first.append(b), ch.basic_ack(m.delivery_tag)))
    channel.basic_consume(name, lambda ch, m, p, b: (second.append(b), ch.basic_ack(m.delivery_tag)))
    deadline = time.monotonic() + 2
    while len(first) < 4 and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    assert first == [b"0", b"1", b"2", b"3"] and second == []
    channel.basic_cancel(tag)
    channel.basic_publish("", name, b"after")
    deadline = time.monotonic() + 2
    while not second and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    assert second == [b"after"]
