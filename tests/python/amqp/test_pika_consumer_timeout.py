"""Delivery acknowledgement timeouts, as RabbitMQ 4.3's consumer timeout: a delivery held
unacknowledged too long goes back to its queue; its consumer is cancelled with a server-sent
basic.cancel when the client takes one (pika announces `consumer_cancel_notify`), otherwise (and
for basic.get deliveries) the channel is closed with 406."""

import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from amqp_helpers import parameters


def wait_closed(connection, channel, timeout_s=5.0):
    """Pumps the connection until the broker closes `channel`; returns the close's code and text."""
    reasons = []
    # pika's blocking channel keeps the broker's reason to itself; its underlying channel tells.
    channel._impl.add_on_close_callback(lambda _, reason: reasons.append(reason))
    deadline = time.monotonic() + timeout_s
    while not reasons and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    assert reasons, "the channel was not closed in time"
    assert isinstance(reasons[0], ChannelClosedByBroker), reasons[0]
    return reasons[0].reply_code, reasons[0].reply_text


def redelivered(connection, queue):
    """Takes the message back from `queue` on a new channel: its body and redelivered flag."""
    channel = connection.channel()
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if method:
            channel.close()
            return body, method.redelivered
        time.sleep(0.05)
    raise AssertionError("the message did not come back")


def without_cancel_notify(server):
    """A pika connection whose client does not take a server-sent basic.cancel."""
    capabilities = {"publisher_confirms": True, "basic.nack": True, "connection.blocked": True}
    return pika.BlockingConnection(parameters(server, client_properties={"capabilities": capabilities}))


def test_a_timed_out_consumer_is_cancelled_and_its_channel_stays_open(connection, name):
    channel = connection.channel()
    channel.queue_declare(name, arguments={"x-consumer-timeout": 300})
    channel.basic_publish("", name, b"slow")
    held, cancelled = [], []
    channel.add_on_cancel_callback(lambda method: cancelled.append(method.method.consumer_tag))
    tag = channel.basic_consume(name, lambda ch, method, props, body: held.append(method.delivery_tag))
    deadline = time.monotonic() + 5.0
    while not cancelled and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    assert held, "nothing was delivered"
    assert cancelled == [tag]
    assert redelivered(connection, name) == (b"slow", True)
    # The channel is open, and a late ack of the returned delivery is accepted and does nothing.
    channel.basic_ack(held[0])
    channel.basic_publish("", name, b"next")
    assert channel.basic_get(name, auto_ack=True)[2] == b"next"
    assert channel.is_open


def test_a_queue_x_consumer_timeout_closes_the_channel_of_a_client_without_cancel_notify(ferry_server, name):
    connection = without_cancel_notify(ferry_server)
    channel = connection.channel()
    channel.queue_declare(name, arguments={"x-consumer-timeout": 300})
    channel.basic_publish("", name, b"slow")
    held = []
    channel.basic_consume(name, lambda ch, method, props, body: held.append(method.delivery_tag))
    code, text = wait_closed(connection, channel)
    assert held, "nothing was delivered"
    assert code == 406
    assert text.startswith("PRECONDITION_FAILED - delivery acknowledgement on channel")
    assert "Timeout value used: 300 ms" in text
    assert redelivered(connection, name) == (b"slow", True)
    connection.close()


def test_acked_deliveries_do_not_time_out(connection, name):
    channel = connection.channel()
    channel.queue_declare(name, arguments={"x-consumer-timeout": 300})
    for n in range(5):
        channel.basic_publish("", name, b"m%d" % n)
    channel.basic_consume(name, lambda ch, method, props, body: ch.basic_ack(method.delivery_tag))
    connection.process_data_events(time_limit=0.8)
    assert channel.is_open
    assert channel.queue_declare(name, passive=True).method.message_count == 0


def test_the_consumer_argument_sets_the_timeout_when_the_queue_has_none(ferry_server, name):
    connection = without_cancel_notify(ferry_server)
    channel = connection.channel()
    channel.queue_declare(name)
    channel.basic_publish("", name, b"x")
    channel.basic_consume(name, lambda *_: None, arguments={"x-consumer-timeout": 250})
    code, text = wait_closed(connection, channel)
    assert code == 406 and "Timeout value used: 250 ms" in text
    connection.close()


def test_the_consumer_argument_wins_over_the_queues(ferry_server, name):
    connection = without_cancel_notify(ferry_server)
    channel = connection.channel()
    channel.queue_declare(name, arguments={"x-consumer-timeout": 60_000})
    channel.basic_publish("", name, b"x")
    channel.basic_consume(name, lambda *_: None, arguments={"x-consumer-timeout": 200})
    code, text = wait_closed(connection, channel, timeout_s=3.0)
    assert code == 406 and "Timeout value used: 200 ms" in text
    connection.close()


def test_a_basic_get_delivery_times_out_too(connection, name):
    channel = connection.channel()
    channel.queue_declare(name, arguments={"x-consumer-timeout": 200})
    channel.basic_publish("", name, b"got")
    method, _, _ = channel.basic_get(name)
    assert method is not None
    code, _ = wait_closed(connection, channel)
    assert code == 406
    assert redelivered(connection, name) == (b"got", True)


def test_an_invalid_timeout_argument_is_refused(connection, name):
    channel = connection.channel()
    with pytest.raises(ChannelClosedByBroker) as e:
        channel.queue_declare(name, arguments={"x-consumer-timeout": 0})
    assert e.value.reply_code == 406
    channel = connection.channel()
    channel.queue_declare(name)
    with pytest.raises(ChannelClosedByBroker) as e:
        channel.basic_consume(name, lambda *_: None, arguments={"x-consumer-timeout": -5})
        connection.process_data_events(time_limit=0.5)
    assert e.value.reply_code == 406


def test_the_server_default_applies_without_arguments(ferry_server_with):
    server = ferry_server_with(["--amqp-consumer-timeout-ms", "300"])
    connection = without_cancel_notify(server)
    try:
        channel = connection.channel()
        channel.queue_declare("work")
        channel.basic_publish("", "work", b"x")
        channel.basic_consume("work", lambda *_: None)
        code, text = wait_closed(connection, channel)
        assert code == 406 and "Timeout value used: 300 ms" in text
        assert redelivered(connection, "work") == (b"x", True)
    finally:
        connection.close()
