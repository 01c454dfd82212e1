"""kombu 5.7 (py-amqp underneath) used directly against `ferry serve`: the SimpleQueue API,
producers and consumers over a topic exchange, `Connection.ensure` across a broker restart,
and heartbeats both ways."""

import socket
import time
import uuid

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue
from kombu.exceptions import OperationalError

from framework_helpers import wait_until


def url(server):
    return f"amqp://guest:guest@{server.amqp_address}//"


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_simple_queue_round_trip(ferry_server):
    name = unique("simple")
    with Connection(url(ferry_server)) as conn:
        queue = conn.SimpleQueue(name)
        for i in range(20):
            queue.put({"n": i, "text": "héllo"})
        got = []
        for _ in range(20):
            message = queue.get(block=True, timeout=10)
            got.append(message.payload)
            message.ack()
        assert got == [{"n": i, "text": "héllo"} for i in range(20)]
        with pytest.raises(queue.Empty):
            queue.get(block=True, timeout=0.5)
        queue.close()


def test_producer_and_consumer_over_a_topic_exchange(ferry_server):
    exchange = Exchange(unique("events"), type="topic", durable=True)
    orders = Queue(unique("orders"), exchange, routing_key="order.*")
    audit = Queue(unique("audit"), exchange, routing_key="#")
    with Connection(url(ferry_server)) as conn:
        channel = conn.channel()
        producer = Producer(channel, exchange=exchange, serializer="json")
        for queue in (orders, audit):
            queue(channel).declare()
        keys = ["order.created", "order.paid", "user.signup", "order.created.eu"]
        for key in keys:
            producer.publish({"key": key}, routing_key=key, declare=[exchange], retry=True)
        received = {orders.name: [], audit.name: []}

        def on_message(queue_name):
            def handle(body, message):
                received[queue_name].append(body["key"])
                message.ack()

            return handle

        consumers = [
            Consumer(conn.channel(), queues=[queue], callbacks=[on_message(queue.name)], accept=["json"])
            for queue in (orders, audit)
        ]
        for consumer in consumers:
            consumer.consume()

        def drained():
            try:
                conn.drain_events(timeout=0.2)
            except socket.timeout:
                pass
            return len(received[orders.name]) == 2 and len(received[audit.name]) == 4

        wait_until(drained, 20, "both queues to receive their messages")
        assert received[orders.name] == ["order.created", "order.paid"]
        assert received[audit.name] == keys
        for consumer in consumers:
            consumer.cancel()


def test_connection_ensure_republishes_after_a_broker_restart(fresh_ferry_server):
    name = unique("ensured")
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name, durable=True)
    with Connection(url(fresh_ferry_server), transport_options={"confirm_publish": True}) as conn:
        producer = Producer(conn)
        publish = conn.ensure(producer, producer.publish, max_retries=20, interval_start=0.2, interval_step=0.5)
        publish({"n": 1}, exchange=queue.exchange, routing_key=name, declare=[queue])
        fresh_ferry_server.restart()
        # The connection is gone; ensure reconnects, reopens the channel and publishes again.
        publish({"n": 2}, exchange=queue.exchange, routing_key=name, declare=[queue])
    with Connection(url(fresh_ferry_server)) as conn:
        simple = conn.SimpleQueue(queue)
        got = []
        for _ in range(2):
            message = simple.get(block=True, timeout=10)
            got.append(message.payload)
            message.ack()
        assert got == [{"n": 1}, {"n": 2}]
        simple.close()


def test_heartbeats_keep_an_idle_connection_open(ferry_server):
    name = unique("beats")
    with Connection(url(ferry_server), heartbeat=2) as conn:
        conn.connect()
        assert conn.connection.heartbeat == 2
        simple = conn.SimpleQueue(name)
        deadline = time.monotonic() + 7
        while time.monotonic() < deadline:
            conn.heartbeat_check()
            try:
                conn.drain_events(timeout=0.3)
            except socket.timeout:
                pass
        # Several heartbeat periods passed with no other traffic; the broker kept the connection.
        simple.put("still here")
        message = simple.get(block=True, timeout=5)
        assert message.payload == "still here"
        message.ack()
        simple.close()


def test_broker_closes_a_connection_whose_heartbeats_stop(ferry_server):
    with Connection(url(ferry_server), heartbeat=1) as conn:
        conn.connect()
        conn.channel()
        # No heartbeat_check: the client stays silent, and the broker gives up after two
        # missed heartbeat periods, as RabbitMQ does.
        def closed():
            try:
                conn.connection.drain_events(timeout=0.2)
            except socket.timeout:
                return False
            except (OSError, OperationalError, ConnectionError) + conn.connection_errors:
                return True
            return False

        wait_until(closed, 15, "the broker to close the silent connection")
