"""kafka-python 3.x against ferry, with its defaults (idempotent producer) and pinned to older versions."""

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from kafka_helpers import expected_values, unique_topic

COUNT = 100


@pytest.mark.parametrize(
    "api_version",
    [None, (0, 11), (1, 1), (2, 5)],
    ids=["defaults", "api-0.11", "api-1.1", "api-2.5"],
)
def test_kafka_python_produces_exactly_once_and_consumes(ferry_server, api_version):
    topic = unique_topic("kafka-python")
    pinned = {} if api_version is None else {"api_version": api_version}
    producer = KafkaProducer(bootstrap_servers=ferry_server.kafka_bootstrap, **pinned)
    futures = [
        producer.send(topic, value=value, key=f"k{i}".encode(), headers=[("i", str(i).encode())], partition=0)
        for i, value in enumerate(expected_values("kp", COUNT))
    ]
    producer.flush(timeout=30)
    offsets = [f.get(timeout=30).offset for f in futures]
    producer.close()
    assert offsets == list(range(COUNT))

    consumer = KafkaConsumer(
        bootstrap_servers=ferry_server.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        consumer_timeout_ms=10_000,
        **pinned,
    )
    partition = TopicPartition(topic, 0)
    consumer.assign([partition])
    consumer.seek_to_beginning(partition)
    received = []
    for message in consumer:
        received.append(message)
        if len(received) == COUNT:
            break
    end = consumer.end_offsets([partition])[partition]
    consumer.close()
    assert [m.value for m in received] == expected_values("kp", COUNT)
    assert [m.offset for m in received] == list(range(COUNT))
    assert received[3].key == b"k3"
    assert received[3].headers == [("i", b"3")]
    assert end == COUNT, "the log holds each message exactly once"
