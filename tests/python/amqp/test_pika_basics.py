"""AMQP 0-9-1 through pika's blocking adapter: queues, the default exchange, get, consume, acks."""

import datetime
import decimal
import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, ProbableAccessDeniedError, ProbableAuthenticationError

from amqp_helpers import parameters


def pump(connection, seconds):
    """Dispatches what arrives for `seconds` (one call returns after the first dispatch)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.process_data_events(time_limit=max(0.0, deadline - time.monotonic()))


def get_body(channel, queue):
    method, _, body = channel.basic_get(queue, auto_ack=True)
    return body if method else None


def test_publish_to_the_default_exchange_and_get_it_back(channel, name):
    ok = channel.queue_declare(name, durable=True)
    assert ok.method.queue == name and ok.method.message_count == 0
    channel.basic_publish("", name, b"hello", pika.BasicProperties(delivery_mode=2))
    method, props, body = channel.basic_get(name)
    assert body == b"hello" and props.delivery_mode == 2 and not method.redelivered
    assert method.message_count == 0
    channel.basic_ack(method.delivery_tag)
    assert channel.basic_get(name) == (None, None, None)


def test_get_ok_reports_the_messages_left(channel, name):
    channel.queue_declare(name)
    for i in range(3):
        channel.basic_publish("", name, str(i).encode())
    method, _, body = channel.basic_get(name, auto_ack=True)
    assert body == b"0" and method.message_count == 2
    assert channel.queue_declare(name, passive=True).method.message_count == 2


def test_server_named_queues_are_exclusive_and_start_with_amq_gen(channel):
    ok = channel.queue_declare("", exclusive=True)
    assert ok.method.queue.startswith("amq.gen-")


def test_consume_respects_the_prefetch_count_until_acks_arrive(connection, channel, name):
    channel.queue_declare(name)
    for i in range(5):
        channel.basic_publish("", name, str(i).encode())
    channel.basic_qos(prefetch_count=2)
    got = []
    channel.basic_consume(name, lambda ch, m, p, b: got.append((m.delivery_tag, b)))
    # process_data_events returns once something was dispatched: keep calling it for the window.
    pump(connection, 0.5)
    assert [b for _, b in got] == [b"0", b"1"]
    channel.basic_ack(got[-1][0], multiple=True)
    pump(connection, 0.5)
    assert [b for _, b in got] == [b"0", b"1", b"2", b"3"]


def test_nack_with_requeue_redelivers_with_the_redelivered_flag(channel, name):
    channel.queue_declare(name)
    channel.basic_publish("", name, b"again")
    method, _, _ = channel.basic_get(name)
    channel.basic_nack(method.delivery_tag, requeue=True)
    method, _, body = channel.basic_get(name)
    assert body == b"again" and method.redelivered
    channel.basic_ack(method.delivery_tag)


def test_reject_without_requeue_drops_a_message_with_no_dead_letter_exchange(channel, name):
    channel.queue_declare(name)
    channel.basic_publish("", name, b"gone")
    method, _, _ = channel.basic_get(name)
    channel.basic_reject(method.delivery_tag, requeue=False)
    assert get_body(channel, name) is None


def test_unacked_messages_return_when_their_channel_closes(connection, name):
    ch = connection.channel()
    ch.queue_declare(name)
    ch.basic_publish("", name, b"held")
    method, _, _ = ch.basic_get(name)
    assert method is not None
    ch.close()
    ch2 = connection.channel()
    method, _, body = ch2.basic_get(name, auto_ack=True)
    assert body == b"held" and method.redelivered


def test_unacked_messages_return_when_their_connection_closes(ferry_server, channel, name):
    channel.queue_declare(name)
    # Confirmed: another connection's get must find it (ferry shows a message once durable).
    channel.confirm_delivery()
    channel.basic_publish("", name, b"held")
    other = pika.BlockingConnection(parameters(ferry_server))
    method, _, _ = other.channel().basic_get(name)
    assert method is not None
    other.close()
    method, _, body = channel.basic_get(name, auto_ack=True)
    assert body == b"held" and method.redelivered


def test_a_passive_declare_of_a_missing_queue_closes_the_channel_with_404(connection, name):
    ch = connection.channel()
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.queue_declare(name, passive=True)
    assert e.value.reply_code == 404
    assert connection.channel().is_open


def test_redeclaring_a_queue_with_other_properties_fails_with_406(connection, name):
    ch = connection.channel()
    ch.queue_declare(name, durable=True)
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.queue_declare(name, durable=False)
    assert e.value.reply_code == 406


def test_purge_and_delete_report_message_counts(channel, name):
    channel.queue_declare(name)
    for _ in range(3):
        channel.basic_publish("", name, b"x")
    assert channel.queue_purge(name).method.message_count == 3
    channel.basic_publish("", name, b"y")
    assert channel.queue_delete(name).method.message_count == 1


def test_delete_if_empty_refuses_a_queue_with_messages(connection, name):
    ch = connection.channel()
    ch.queue_declare(name)
    ch.basic_publish("", name, b"x")
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.queue_delete(name, if_empty=True)
    assert e.value.reply_code == 406


def test_wrong_credentials_are_refused(ferry_server):
    with pytest.raises(ProbableAuthenticationError):
        pika.BlockingConnection(parameters(ferry_server, credentials=pika.PlainCredentials("guest", "wrong")))


def test_a_virtual_host_other_than_the_default_is_not_allowed(ferry_server):
    with pytest.raises(ProbableAccessDeniedError) as e:
        pika.BlockingConnection(parameters(ferry_server, virtual_host="elsewhere"))
    # pika wraps the broker's close, sent in answer to connection.open.
    assert "(530) \"NOT_ALLOWED - vhost 'elsewhere' not found" in str(e.value), str(e.value)


def test_properties_and_typed_headers_come_back_as_sent(channel, name):
    channel.queue_declare(name)
    headers = {
        "str": "text",
        "int": 42,
        "neg": -7,
        "big": 2**40,
        "flag": True,
        "decimal": decimal.Decimal("1.50"),
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "bytes": b"\x00\xff",
        "list": [1, "two", False],
        "table": {"nested": {"deeper": 3}},
        "none": None,
    }
    props = pika.BasicProperties(
        content_type="application/json",
        content_encoding="utf-8",
        headers=headers,
        delivery_mode=2,
        priority=3,
        correlation_id="corr-1",
        reply_to="replies",
        expiration="60000",
        message_id="msg-1",
        timestamp=1_700_000_000,
        type="order.created",
        user_id="guest",
        app_id="shop",
    )
    channel.basic_publish("", name, b"{}", props)
    _, got, body = channel.basic_get(name, auto_ack=True)
    assert body == b"{}"
    for field in (
        "content_type",
        "content_encoding",
        "delivery_mode",
        "priority",
        "correlation_id",
        "reply_to",
        "expiration",
        "message_id",
        "timestamp",
        "type",
        "user_id",
        "app_id",
    ):
        assert getattr(got, field) == getattr(props, field), field
    assert got.headers == headers


def test_consumers_of_a_queue_get_its_messages_in_turn_one_at_a_time(connection, channel, name):
    channel.queue_declare(name)
    got = {tag: [] for tag in ("a", "b", "c")}
    for tag in got:
        channel.basic_consume(name, lambda ch, m, p, b: got[m.consumer_tag].append(int(b)), consumer_tag=tag)
    channel.confirm_delivery()
    for i in range(30):
        channel.basic_publish("", name, str(i).encode())
    pump(connection, 1.0)
    shares = sorted(got.values())
    assert shares == [list(range(k, 30, 3)) for k in range(3)], got


def test_a_consumer_of_higher_x_priority_receives_while_it_has_room(connection, name):
    ch = connection.channel()
    ch.queue_declare(name)
    ch.confirm_delivery()
    low, high = connection.channel(), connection.channel()
    low.basic_qos(prefetch_count=10)
    high.basic_qos(prefetch_count=2)
    got = {"low": [], "high": []}
    low.basic_consume(name, lambda c, m, p, b: got["low"].append(b))
    high.basic_consume(name, lambda c, m, p, b: got["high"].append(b), arguments={"x-priority": 5})
    for i in range(5):
        ch.basic_publish("", name, str(i).encode())
    pump(connection, 1.0)
    # The higher one fills its prefetch first; only the overflow goes to the lower one.
    assert got == {"high": [b"0", b"1"], "low": [b"2", b"3", b"4"]}
