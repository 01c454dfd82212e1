"""Share groups (KIP-932) through confluent-kafka's ShareConsumer (librdkafka): a topic consumed as a
work queue. Consumers divide a partition's records, acknowledgements accept, release and reject,
locks run out, and records at the delivery limit go to the group's dead-letter queue."""

import time
import urllib.request

import boto3
import pytest
from prometheus_client.parser import text_string_to_metric_families
from confluent_kafka import AcknowledgeType, Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

from group_helpers import DEADLINE_S, create_topic, produce, unique


def sqs_client(server):
    return boto3.client(
        "sqs",
        endpoint_url=server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def share_metric(server, name, **labels):
    """The value of `name` with `labels` on /metrics, or None."""
    with urllib.request.urlopen(server.http_url + "/metrics", timeout=10) as response:
        text = response.read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
    return None


def configure_group(bootstrap, group, **settings):
    """Sets share-group configs (`share_auto_offset_reset="earliest"` -> share.auto.offset.reset)."""
    entries = [
        ConfigEntry(name.replace("_", "."), str(value), incremental_operation=AlterConfigOpType.SET)
        for name, value in settings.items()
    ]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.GROUP, group, incremental_configs=entries)
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=DEADLINE_S)


def share_consumer(bootstrap, group, topic, **extra):
    config = {"bootstrap.servers": bootstrap, "group.id": group}
    config.update(extra)
    consumer = ShareConsumer(config)
    consumer.subscribe([topic])
    return consumer


def explicit(bootstrap, group, topic, **extra):
    return share_consumer(bootstrap, group, topic, **{"share.acknowledgement.mode": "explicit", **extra})


def poll_records(consumer, want, deadline_s=DEADLINE_S):
    """Polls until `want` records came back (or the deadline); returns them."""
    got = []
    deadline = time.monotonic() + deadline_s
    while len(got) < want and time.monotonic() < deadline:
        for m in consumer.poll(0.5):
            assert m.error() is None, m.error()
            got.append(m)
    return got


def poll_nothing(consumer, for_s):
    """Polls for `for_s` seconds and returns whatever arrived (expected: nothing)."""
    got = []
    deadline = time.monotonic() + for_s
    while time.monotonic() < deadline:
        got.extend(m for m in consumer.poll(0.2) if m.error() is None)
    return got


def setup(ferry_server, records, **group_settings):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("work"), unique("workers")
    create_topic(bootstrap, topic, 1)
    configure_group(bootstrap, group, share_auto_offset_reset="earliest", **group_settings)
    produce(bootstrap, topic, [f"job-{i}" for i in range(records)], 1)
    return bootstrap, topic, group


def test_consumers_divide_a_partition_and_every_accepted_record_is_delivered_once(ferry_server):
    bootstrap, topic, group = setup(ferry_server, 300)
    consumers = [share_consumer(bootstrap, group, topic, **{"max.poll.records": 20}) for _ in range(3)]
    try:
        seen = {}
        deadline = time.monotonic() + DEADLINE_S
        while len(seen) < 300 and time.monotonic() < deadline:
            for n, c in enumerate(consumers):
                for m in c.poll(0.1):
                    assert m.error() is None, m.error()
                    assert m.offset() not in seen, f"offset {m.offset()} delivered twice"
                    seen[m.offset()] = (n, m.value(), m.delivery_count())
        assert sorted(seen) == list(range(300))
        assert {v for _, v, _ in seen.values()} == {f"job-{i}".encode() for i in range(300)}
        assert all(count == 1 for _, _, count in seen.values())
        assert len({n for n, _, _ in seen.values()}) >= 2, "the records were not divided among the consumers"
        # Implicitly accepted on the next poll: nothing comes back.
        for c in consumers:
            assert poll_nothing(c, 1.0) == []
    finally:
        for c in consumers:
            c.close()


def test_released_records_are_delivered_again_with_a_higher_delivery_count(ferry_server):
    bootstrap, topic, group = setup(ferry_server, 5)
    consumer = explicit(bootstrap, group, topic)
    try:
        first = poll_records(consumer, 5)
        assert [m.delivery_count() for m in first] == [1] * 5
        for m in first:
            consumer.acknowledge(m, AcknowledgeType.RELEASE)
        consumer.commit_sync()
        again = poll_records(consumer, 5)
        assert sorted(m.offset() for m in again) == sorted(m.offset() for m in first)
        assert [m.delivery_count() for m in again] == [2] * 5
        for m in again:
            consumer.acknowledge(m, AcknowledgeType.ACCEPT)
        consumer.commit_sync()
        assert poll_nothing(consumer, 1.0) == []
    finally:
        consumer.close()


def test_rejected_records_are_archived_and_never_delivered_again(ferry_server):
    bootstrap, topic, group = setup(ferry_server, 4)
    consumer = explicit(bootstrap, group, topic)
    try:
        got = poll_records(consumer, 4)
        for m in got:
            kind = AcknowledgeType.REJECT if m.offset() % 2 == 0 else AcknowledgeType.ACCEPT
            consumer.acknowledge(m, kind)
        consumer.commit_sync()
        assert poll_nothing(consumer, 1.5) == []
    finally:
        consumer.close()
    # A new member of the group finds nothing either: rejected is archived, not released.
    other = explicit(bootstrap, group, topic)
    try:
        assert poll_nothing(other, 1.5) == []
    finally:
        other.close()


def test_an_expired_lock_hands_the_records_to_another_consumer(ferry_server):
    bootstrap, topic, group = setup(ferry_server, 3, share_record_lock_duration_ms=1000)
    slow = explicit(bootstrap, group, topic)
    fast = explicit(bootstrap, group, topic)
    try:
        held = poll_records(slow, 3)
        assert len(held) == 3
        # `slow` neither acknowledges nor polls: its locks run out after a second.
        again = poll_records(fast, 3, deadline_s=10)
        assert sorted(m.offset() for m in again) == sorted(m.offset() for m in held)
        assert [m.delivery_count() for m in again] == [2] * 3
        for m in again:
            fast.acknowledge(m, AcknowledgeType.ACCEPT)
        fast.commit_sync()
    finally:
        fast.close()
        slow.close()


def test_records_at_the_delivery_limit_are_archived_into_the_dead_letter_queue(ferry_server):
    sqs = sqs_client(ferry_server)
    dlq = unique("share-dlq")
    url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
    bootstrap, topic, group = setup(
        ferry_server, 2, share_delivery_count_limit=2, ferry_share_dead_letter_queue=dlq
    )
    consumer = explicit(bootstrap, group, topic)
    try:
        for delivery in (1, 2):
            got = poll_records(consumer, 2)
            assert [m.delivery_count() for m in got] == [delivery] * 2
            for m in got:
                consumer.acknowledge(m, AcknowledgeType.RELEASE)
            consumer.commit_sync()
        # The second release reached the limit: archived, never delivered again.
        assert poll_nothing(consumer, 1.5) == []
    finally:
        consumer.close()
    bodies = []
    deadline = time.monotonic() + DEADLINE_S
    while len(bodies) < 2 and time.monotonic() < deadline:
        for msg in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
            bodies.append(msg["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert sorted(bodies) == ["job-0", "job-1"]
    labels = {"group": group, "topic": topic, "partition": "0"}
    assert share_metric(ferry_server, "ferry_share_archived_total", reason="dead_lettered", **labels) == 2
    assert share_metric(ferry_server, "ferry_share_lag", **labels) == 0
    assert share_metric(ferry_server, "ferry_share_acquired_records", **labels) == 0


def test_transaction_markers_are_skipped_as_gaps_and_archived(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("txn-work"), unique("txn-workers")
    create_topic(bootstrap, topic, 1)
    configure_group(bootstrap, group, share_auto_offset_reset="earliest")
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": unique("share-txn")})
    producer.init_transactions(DEADLINE_S)
    for batch in (range(0, 3), range(3, 5)):
        producer.begin_transaction()
        for i in batch:
            producer.produce(topic, value=f"job-{i}".encode())
        producer.commit_transaction(DEADLINE_S)
    consumer = explicit(bootstrap, group, topic)
    try:
        got = poll_records(consumer, 5)
        # Offsets 3 and 6 hold the commit markers: acquired, never handed to the application.
        assert [(m.offset(), m.value()) for m in got] == [
            (0, b"job-0"), (1, b"job-1"), (2, b"job-2"), (4, b"job-3"), (5, b"job-4")
        ]
        for m in got:
            consumer.acknowledge(m, AcknowledgeType.ACCEPT)
        consumer.commit_sync()
        assert poll_nothing(consumer, 1.0) == []
    finally:
        consumer.close()
    labels = {"group": group, "topic": topic, "partition": "0"}
    assert share_metric(ferry_server, "ferry_share_lag", **labels) == 0


def test_the_share_group_configs_are_described_and_checked(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    group = unique("configured")
    configure_group(bootstrap, group, share_record_lock_duration_ms=15000, share_auto_offset_reset="earliest")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    resource = ConfigResource(ResourceType.GROUP, group)
    described = admin.describe_configs([resource])[resource].result(timeout=DEADLINE_S)
    assert described["share.record.lock.duration.ms"].value == "15000"
    assert described["share.auto.offset.reset"].value == "earliest"
    assert described["share.delivery.count.limit"].value == "5"
    with pytest.raises(Exception, match="share.delivery.count.limit"):
        configure_group(bootstrap, group, share_delivery_count_limit=1)


def test_a_restart_keeps_what_was_accepted_and_redelivers_what_was_in_flight(fresh_ferry_server):
    bootstrap, topic, group = setup(fresh_ferry_server, 6)
    consumer = explicit(bootstrap, group, topic)
    try:
        got = poll_records(consumer, 6)
        for m in got[:3]:
            consumer.acknowledge(m, AcknowledgeType.ACCEPT)
        consumer.commit_sync()
    finally:
        # Leaving releases the other three (their first delivery counted).
        consumer.close()
    fresh_ferry_server.kill()
    fresh_ferry_server.start()
    bootstrap = fresh_ferry_server.kafka_bootstrap
    # Group configs live in memory: the group's start offset is in its journal, so the reset
    # policy of a fresh broker does not move it.
    after = explicit(bootstrap, group, topic)
    try:
        again = poll_records(after, 3)
        assert sorted(m.offset() for m in again) == sorted(m.offset() for m in got[3:])
        assert [m.delivery_count() for m in again] == [2] * 3
        for m in again:
            after.acknowledge(m, AcknowledgeType.ACCEPT)
        after.commit_sync()
    finally:
        after.close()

