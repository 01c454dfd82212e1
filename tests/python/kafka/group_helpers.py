"""Helpers for the consumer-group suites: unique names, topics, and producing known values."""

import time
import uuid

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic

DEADLINE_S = 30


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_topic(bootstrap, name, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    futures[name].result(timeout=DEADLINE_S)


def produce(bootstrap, topic, values, partitions):
    """Sends `values` round-robin over `partitions` partitions and waits for every ack."""
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 5})
    for i, value in enumerate(values):
        producer.produce(topic, value=value.encode(), partition=i % partitions)
    assert producer.flush(DEADLINE_S) == 0, "some messages were not acknowledged"


def wait_until(condition, what, step=None, deadline_s=DEADLINE_S):
    """Calls `step` (e.g. a poll) until `condition()` holds; fails with `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        if step is not None:
            step()
        else:
            time.sleep(0.05)
