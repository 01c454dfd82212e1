"""Kafka transactions through confluent-kafka (librdkafka) and kafka-python: what read_committed and
read_uncommitted consumers see of committed, aborted and open transactions, fencing, and offsets
committed inside transactions."""

import time

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient

from group_helpers import create_topic, produce, unique

DEADLINE_S = 30


def txn_producer(bootstrap, txn_id, **extra):
    config = {"bootstrap.servers": bootstrap, "transactional.id": txn_id, "linger.ms": 5}
    config.update(extra)
    producer = Producer(config)
    producer.init_transactions(DEADLINE_S)
    return producer


def read_all(bootstrap, topic, isolation, settle_s=3.0):
    """Every value in `topic` as a consumer at `isolation` sees it, once nothing new arrives for `settle_s`."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("reader"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "fetch.wait.max.ms": 100,
        }
    )
    consumer.subscribe([topic])
    values = []
    quiet_since = time.monotonic()
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() - quiet_since < settle_s and time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is None or message.error() is not None:
                continue
            values.append(message.value().decode())
            quiet_since = time.monotonic()
    finally:
        consumer.close()
    return values


def test_read_committed_sees_committed_transactions_and_read_uncommitted_sees_everything(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic = unique("txn-basic")
    create_topic(bootstrap, topic, 3)
    producer = txn_producer(bootstrap, unique("txn"))
    producer.begin_transaction()
    for i in range(30):
        producer.produce(topic, key=str(i), value=f"committed-{i}")
    producer.commit_transaction(DEADLINE_S)
    producer.begin_transaction()
    for i in range(30):
        producer.produce(topic, key=str(i), value=f"aborted-{i}")
    assert producer.flush(DEADLINE_S) == 0, "the aborted records reached the broker first"
    producer.abort_transaction(DEADLINE_S)
    producer.begin_transaction()
    for i in range(10):
        producer.produce(topic, key=str(i), value=f"second-{i}")
    producer.commit_transaction(DEADLINE_S)

    committed = read_all(bootstrap, topic, "read_committed")
    assert sorted(committed) == sorted([f"committed-{i}" for i in range(30)] + [f"second-{i}" for i in range(10)])
    uncommitted = read_all(bootstrap, topic, "read_uncommitted")
    assert len(uncommitted) == 70
    assert sum(v.startswith("aborted-") for v in uncommitted) == 30


def test_open_transaction_is_invisible_to_read_committed_until_it_commits(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic = unique("txn-open")
    create_topic(bootstrap, topic, 1)
    producer = txn_producer(bootstrap, unique("txn"))
    producer.begin_transaction()
    for i in range(5):
        producer.produce(topic, value=f"open-{i}")
    assert producer.flush(DEADLINE_S) == 0
    # A plain record after the open transaction's: read_committed consumers stop at the last stable
    # offset, before both.
    produce(bootstrap, topic, ["plain"], 1)

    assert read_all(bootstrap, topic, "read_committed", settle_s=2.0) == []
    assert sorted(read_all(bootstrap, topic, "read_uncommitted")) == ["open-0", "open-1", "open-2", "open-3", "open-4", "plain"]

    producer.commit_transaction(DEADLINE_S)
    assert read_all(bootstrap, topic, "read_committed") == [f"open-{i}" for i in range(5)] + ["plain"]


def test_latest_offset_of_a_read_committed_consumer_is_the_last_stable_offset(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic = unique("txn-lso")
    create_topic(bootstrap, topic, 1)
    produce(bootstrap, topic, ["a", "b"], 1)
    producer = txn_producer(bootstrap, unique("txn"))
    producer.begin_transaction()
    producer.produce(topic, value="open")
    assert producer.flush(DEADLINE_S) == 0

    def watermarks(isolation):
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("w"), "isolation.level": isolation})
        try:
            return consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=DEADLINE_S)
        finally:
            consumer.close()

    assert watermarks("read_uncommitted") == (0, 3)
    assert watermarks("read_committed") == (0, 2)
    producer.commit_transaction(DEADLINE_S)
    assert watermarks("read_committed") == (0, 4), "records and the commit marker"


def test_a_new_producer_with_the_same_transactional_id_fences_the_old_one(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic = unique("txn-fence")
    create_topic(bootstrap, topic, 2)
    txn_id = unique("txn")
    old = txn_producer(bootstrap, txn_id)
    old.begin_transaction()
    for i in range(10):
        old.produce(topic, value=f"old-{i}")
    assert old.flush(DEADLINE_S) == 0

    new = txn_producer(bootstrap, txn_id)
    with pytest.raises(KafkaException) as refused:
        old.commit_transaction(DEADLINE_S)
    assert refused.value.args[0].fatal(), f"the old producer is fenced for good: {refused.value}"

    new.begin_transaction()
    new.produce(topic, value="new")
    new.commit_transaction(DEADLINE_S)
    assert read_all(bootstrap, topic, "read_committed") == ["new"]
    assert len(read_all(bootstrap, topic, "read_uncommitted")) == 11


def test_offsets_sent_to_a_transaction_are_committed_with_it_and_dropped_on_abort(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    source, sink, group = unique("txn-in"), unique("txn-out"), unique("txn-group")
    create_topic(bootstrap, source, 1)
    create_topic(bootstrap, sink, 1)
    produce(bootstrap, source, [f"in-{i}" for i in range(20)], 1)
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([source])
    messages = []
    deadline = time.monotonic() + DEADLINE_S
    while len(messages) < 10 and time.monotonic() < deadline:
        messages += [m for m in consumer.consume(10 - len(messages), 0.5) if m.error() is None]
    assert len(messages) == 10
    producer = txn_producer(bootstrap, unique("txn"))

    def committed():
        return consumer.committed([TopicPartition(source, 0)], timeout=DEADLINE_S)[0].offset

    producer.begin_transaction()
    producer.produce(sink, value="dropped")
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, 10)], consumer.consumer_group_metadata(), DEADLINE_S
    )
    producer.abort_transaction(DEADLINE_S)
    assert committed() < 0, "an aborted transaction's offsets are not committed"

    producer.begin_transaction()
    producer.produce(sink, value="kept")
    producer.send_offsets_to_transaction(
        [TopicPartition(source, 0, 10)], consumer.consumer_group_metadata(), DEADLINE_S
    )
    producer.commit_transaction(DEADLINE_S)
    assert committed() == 10
    consumer.close()
    assert read_all(bootstrap, sink, "read_committed") == ["kept"]


def test_kafka_python_transactional_producer(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic = unique("txn-kp")
    create_topic(bootstrap, topic, 2)
    txn_id = unique("txn")
    producer = KafkaProducer(bootstrap_servers=bootstrap, transactional_id=txn_id)
    producer.init_transactions()
    producer.begin_transaction()
    for i in range(10):
        producer.send(topic, value=f"kp-committed-{i}".encode())
    producer.commit_transaction()
    producer.begin_transaction()
    for i in range(10):
        producer.send(topic, value=f"kp-aborted-{i}".encode())
    producer.flush()
    producer.abort_transaction()
    producer.close()

    def read(isolation):
        consumer = KafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            isolation_level=isolation,
            consumer_timeout_ms=3000,
        )
        try:
            return sorted(m.value.decode() for m in consumer)
        finally:
            consumer.close()

    assert read("read_committed") == sorted(f"kp-committed-{i}" for i in range(10))
    assert len(read("read_uncommitted")) == 20

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        # ListTransactions answers per broker: {node id: [TransactionListing, ...]}.
        listings = [t for per_broker in admin.list_transactions().values() for t in per_broker]
        mine = [t for t in listings if t.transactional_id == txn_id]
        assert len(mine) == 1 and mine[0].state.value == "CompleteAbort", listings
        described = admin.describe_transactions([txn_id])
        assert txn_id in str(described) and "CompleteAbort" in str(described), described
    finally:
        admin.close()
