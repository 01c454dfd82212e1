"""Quorum queue delayed retry (RabbitMQ 4.3's x-delayed-retry-type/-min/-max): a message given
back is ready again after min(x-delayed-retry-min * deliveries, x-delayed-retry-max)."""

import time

import pytest
from pika.exceptions import ChannelClosedByBroker


def ready_after(channel, queue, timeout_s=5.0):
    """Seconds until `queue` hands out a message (then held unacknowledged), and its method."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        method, _, _ = channel.basic_get(queue)
        if method:
            return time.monotonic() - start, method
        time.sleep(0.02)
    raise AssertionError("no message came back")


def declare(channel, name, kind, **extra):
    args = {"x-queue-type": "quorum", "x-delayed-retry-type": kind, "x-delayed-retry-min": 300, **extra}
    channel.queue_declare(name, durable=True, arguments=args)
    channel.basic_publish("", name, b"retry me")


def test_a_requeued_message_comes_back_after_a_delay_growing_to_the_max(channel, name):
    declare(channel, name, "all", **{"x-delayed-retry-max": 500})
    _, method = ready_after(channel, name)
    delays = []
    for _ in range(3):
        channel.basic_nack(method.delivery_tag, requeue=True)
        waited, method = ready_after(channel, name)
        assert method.redelivered
        delays.append(waited)
    # 300 ms after the first delivery, 600 capped to 500 after the second and the third.
    assert 0.25 <= delays[0] < 0.45, delays
    assert 0.45 <= delays[1] < 0.7, delays
    assert 0.45 <= delays[2] < 0.7, delays


def test_failed_delays_rejects_and_not_nacks(channel, name):
    declare(channel, name, "failed")
    _, method = ready_after(channel, name)
    channel.basic_nack(method.delivery_tag, requeue=True)
    waited, method = ready_after(channel, name)
    assert waited < 0.2
    channel.basic_reject(method.delivery_tag, requeue=True)
    waited, _ = ready_after(channel, name)
    assert waited >= 0.25


def test_returned_delays_nacks_and_not_rejects(channel, name):
    declare(channel, name, "returned")
    _, method = ready_after(channel, name)
    channel.basic_reject(method.delivery_tag, requeue=True)
    waited, method = ready_after(channel, name)
    assert waited < 0.2
    channel.basic_nack(method.delivery_tag, requeue=True)
    waited, _ = ready_after(channel, name)
    assert waited >= 0.25


def test_what_a_closed_channel_held_is_a_failed_delivery(connection, name):
    first = connection.channel()
    declare(first, name, "failed")
    assert first.basic_get(name)[0] is not None
    first.close()
    waited, _ = ready_after(connection.channel(), name)
    assert waited >= 0.25


@pytest.mark.parametrize(
    "args",
    [
        {"x-delayed-retry-type": "sometimes", "x-delayed-retry-min": 100},
        {"x-delayed-retry-type": "all"},
        {"x-delayed-retry-type": "all", "x-delayed-retry-min": 500, "x-delayed-retry-max": 100},
    ],
)
def test_invalid_delayed_retry_arguments_are_refused(connection, name, args):
    channel = connection.channel()
    with pytest.raises(ChannelClosedByBroker) as e:
        channel.queue_declare(name, durable=True, arguments={"x-queue-type": "quorum", **args})
    assert e.value.reply_code == 406


def test_a_consumer_timeout_returns_its_deliveries_as_returned_not_failed(connection, name):
    channel = connection.channel()
    declare(channel, name, "returned", **{"x-consumer-timeout": 200, "x-delayed-retry-min": 600})
    cancelled = []
    channel.add_on_cancel_callback(lambda *_: cancelled.append(time.monotonic()))
    channel.basic_consume(name, lambda *_: None)
    deadline = time.monotonic() + 5.0
    while not cancelled and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.05)
    assert cancelled, "the consumer timeout did not cancel the consumer"
    waited, _ = ready_after(connection.channel(), name)
    assert waited >= 0.45, waited
