"""Stream queues (x-queue-type stream): single-partition topics read from an offset spec by AMQP
consumers without removing anything, and shared with Kafka producers and consumers."""

import datetime
import time

import pika
import pytest
from confluent_kafka import Consumer, Producer


def consume(connection, channel, queue, count, offset, prefetch=100, timeout_s=5.0):
    """Up to `count` (body, headers) pairs from `queue` starting at `offset`, each acked."""
    channel.basic_qos(prefetch_count=prefetch)
    got = []

    def on_message(ch, method, props, body):
        got.append((body, props.headers or {}))
        ch.basic_ack(method.delivery_tag)

    tag = channel.basic_consume(queue, on_message, arguments={"x-stream-offset": offset})
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    channel.basic_cancel(tag)
    return got


def declare_stream(channel, name):
    channel.queue_declare(name, durable=True, arguments={"x-queue-type": "stream"})


def test_a_stream_is_read_from_first_again_and_again(connection, channel, name):
    declare_stream(channel, name)
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("", name, f"m{i}".encode())
    first = consume(connection, channel, name, 3, "first")
    again = consume(connection, channel, name, 3, "first")
    assert [b for b, _ in first] == [b"m0", b"m1", b"m2"] == [b for b, _ in again]
    assert [h["x-stream-offset"] for _, h in first] == [0, 1, 2]


@pytest.mark.parametrize("spec,expected", [("last", [b"m2"]), (1, [b"m1", b"m2"]), ("next", [])])
def test_stream_offset_specs(connection, channel, name, spec, expected):
    declare_stream(channel, name)
    channel.confirm_delivery()
    for i in range(3):
        channel.basic_publish("", name, f"m{i}".encode())
    got = consume(connection, channel, name, len(expected) or 1, spec, timeout_s=1.0)
    assert [b for b, _ in got] == expected


def test_a_timestamp_offset_skips_older_messages(connection, channel, name):
    declare_stream(channel, name)
    channel.confirm_delivery()
    channel.basic_publish("", name, b"old")
    time.sleep(1.5)
    since = int(time.time())
    time.sleep(0.1)
    channel.basic_publish("", name, b"new")
    # pika encodes a datetime as an AMQP timestamp (seconds), as RabbitMQ expects it.
    got = consume(connection, channel, name, 1, datetime.datetime.fromtimestamp(since, datetime.timezone.utc))
    assert [b for b, _ in got] == [b"new"]


def test_kafka_records_reach_an_amqp_stream_consumer(ferry_server, connection, channel, name):
    declare_stream(channel, name)
    producer = Producer({"bootstrap.servers": ferry_server.kafka_bootstrap, "compression.type": "lz4"})
    for i in range(3):
        producer.produce(name, value=f"k{i}".encode(), key=b"key", headers=[("origin", b"kafka")])
    assert producer.flush(10) == 0
    got = consume(connection, channel, name, 3, "first")
    assert [b for b, _ in got] == [b"k0", b"k1", b"k2"]
    assert all(h["origin"] == "kafka" for _, h in got)


def test_amqp_publishes_to_a_stream_reach_a_kafka_consumer(ferry_server, channel, name):
    declare_stream(channel, name)
    channel.confirm_delivery()
    channel.basic_publish("", name, b"from amqp", pika.BasicProperties(headers={"colour": "blue"}, content_type="text/plain"))
    consumer = Consumer(
        {
            "bootstrap.servers": ferry_server.kafka_bootstrap,
            "group.id": name,
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([name])
    try:
        deadline = time.monotonic() + 20
        msg = None
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                break
        assert msg is not None and msg.value() == b"from amqp"
        headers = dict(msg.headers())
        assert headers["colour"] == b"blue"
        assert headers["ferry.p.content_type"] == b"text/plain"
    finally:
        consumer.close()
