"""basic.qos prefetch_size, which RabbitMQ refuses and ferry honours: a consumer stops receiving
once the bodies it holds unacknowledged reach that many bytes, and always receives at least one."""

import time

import pika


def pump(connection, seconds=0.4):
    """Serves the connection's events for `seconds` (process_data_events returns at the first)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.process_data_events(time_limit=deadline - time.monotonic())


def fill(channel, queue, count, size):
    channel.queue_declare(queue)
    for n in range(count):
        channel.basic_publish("", queue, bytes([65 + n]) * size)


def test_a_consumer_stops_at_its_prefetch_size_and_goes_on_as_it_acks(connection, name):
    channel = connection.channel()
    fill(channel, name, 5, 600)
    channel.basic_qos(prefetch_size=1000)
    got = []
    channel.basic_consume(name, lambda ch, method, props, body: got.append(method.delivery_tag))
    pump(connection)
    # 600 bytes are below 1000, so a second message comes; 1200 are not, so a third does not.
    assert len(got) == 2
    channel.basic_ack(got[0])
    pump(connection)
    assert len(got) == 3
    channel.basic_ack(got[-1], multiple=True)
    pump(connection)
    assert len(got) == 5


def test_a_message_larger_than_the_prefetch_size_is_still_delivered(connection, name):
    channel = connection.channel()
    fill(channel, name, 2, 5000)
    channel.basic_qos(prefetch_size=100)
    got = []
    channel.basic_consume(name, lambda ch, method, props, body: got.append((method.delivery_tag, len(body))))
    pump(connection)
    assert [size for _, size in got] == [5000]
    channel.basic_ack(got[0][0])
    pump(connection)
    assert len(got) == 2


def test_the_prefetch_count_still_applies_beside_the_size(connection, name):
    channel = connection.channel()
    fill(channel, name, 5, 10)
    channel.basic_qos(prefetch_count=2, prefetch_size=100_000)
    got = []
    channel.basic_consume(name, lambda ch, method, props, body: got.append(method.delivery_tag))
    pump(connection)
    assert len(got) == 2


def test_a_global_prefetch_size_bounds_the_channels_consumers_together(connection, name):
    channel = connection.channel()
    fill(channel, name + "-a", 4, 600)
    fill(channel, name + "-b", 4, 600)
    channel.basic_qos(prefetch_size=1000, global_qos=True)
    got = {"a": [], "b": []}
    channel.basic_consume(name + "-a", lambda ch, m, p, b: got["a"].append(m.delivery_tag))
    pump(connection)
    assert len(got["a"]) == 2
    # The channel holds 1200 bytes: the second consumer gets its first message, and no more.
    channel.basic_consume(name + "-b", lambda ch, m, p, b: got["b"].append(m.delivery_tag))
    pump(connection)
    assert (len(got["a"]), len(got["b"])) == (2, 1)
    # Down to 600 bytes held: there is room on the channel again, and each consumer that sees it
    # may take one message (so the channel may go one message per consumer past its bound).
    channel.basic_ack(got["a"][0])
    channel.basic_ack(got["a"][1])
    pump(connection)
    assert 4 <= len(got["a"]) + len(got["b"]) <= 5
    assert len(got["b"]) <= 2


def test_a_prefetch_size_without_consumers_changes_nothing_for_get(connection, name):
    channel = connection.channel()
    fill(channel, name, 2, 600)
    channel.basic_qos(prefetch_size=100)
    assert channel.basic_get(name)[0] is not None
    assert channel.basic_get(name)[0] is not None
    assert isinstance(channel, pika.adapters.blocking_connection.BlockingChannel)
