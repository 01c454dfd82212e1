"""confluent-kafka (librdkafka) against ferry: admin, ACL calls, idempotent produce, consume with assign."""

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBinding,
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from kafka_helpers import expected_values, unique_topic

COUNT = 200


def test_confluent_kafka_round_trip_with_keys_and_headers(ferry_server):
    topic = unique_topic("confluent")
    admin = AdminClient({"bootstrap.servers": ferry_server.kafka_bootstrap})
    futures = admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    futures[topic].result(timeout=30)

    producer = Producer(
        {"bootstrap.servers": ferry_server.kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    delivered = []
    for i, value in enumerate(expected_values("confluent", COUNT)):
        producer.produce(
            topic,
            value=value,
            key=f"k{i}".encode(),
            partition=0,
            headers=[("seq", str(i).encode())],
            on_delivery=lambda err, msg: delivered.append((err, msg.offset())),
        )
    assert producer.flush(30) == 0
    assert [err for err, _ in delivered if err is not None] == []
    assert sorted(offset for _, offset in delivered) == list(range(COUNT))

    consumer = Consumer(
        {
            "bootstrap.servers": ferry_server.kafka_bootstrap,
            "group.id": "unused-assign-only",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, 0, 0)])
    received = []
    while len(received) < COUNT:
        msg = consumer.poll(10)
        assert msg is not None, f"only {len(received)} of {COUNT} messages arrived"
        assert msg.error() is None, msg.error()
        received.append(msg)
    consumer.close()
    assert [m.value() for m in received] == expected_values("confluent", COUNT)
    assert [m.key() for m in received] == [f"k{i}".encode() for i in range(COUNT)]
    assert received[7].headers() == [("seq", b"7")]
    assert [m.offset() for m in received] == list(range(COUNT))

    low, high = Consumer(
        {"bootstrap.servers": ferry_server.kafka_bootstrap, "group.id": "unused-watermarks"}
    ).get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, COUNT)


def test_acl_admin_calls_report_security_disabled(ferry_server):
    admin = AdminClient({"bootstrap.servers": ferry_server.kafka_bootstrap})
    binding = AclBinding(
        ResourceType.TOPIC,
        "orders",
        ResourcePatternType.LITERAL,
        "User:alice",
        "*",
        AclOperation.READ,
        AclPermissionType.ALLOW,
    )
    every = AclBindingFilter(
        ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY, AclPermissionType.ANY
    )
    for future in [admin.create_acls([binding])[binding], admin.delete_acls([every])[every]]:
        with pytest.raises(KafkaException) as refused:
            future.result(timeout=30)
        assert refused.value.args[0].code() == KafkaError.SECURITY_DISABLED
    # The broker answers DescribeAcls with SECURITY_DISABLED too (tests/protocol.rs checks the
    # wire); this client reports that answer as a list holding no ACL.
    assert admin.describe_acls(every).result(timeout=30) == []
