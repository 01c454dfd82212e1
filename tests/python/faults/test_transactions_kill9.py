"""Exactly-once consume-transform-produce through confluent-kafka while the broker is killed with
SIGKILL twice and every fifth transaction is aborted on purpose: the read_committed output holds
each input record exactly once."""

import sys
import threading
import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kafka"))
from group_helpers import create_topic, produce, unique  # noqa: E402

RECORDS = 3000
PARTITIONS = 4
BATCH = 40
# Each transaction takes at least this long (its "processing"), so that the kills land while
# transactions are still being made rather than after the input ran out.
PROCESSING_S = 0.1
DEADLINE_S = 240


# librdkafka ≥ 2.10 re-bootstraps when every broker is down and forgets the brokers it knew; a
# send_offsets_to_transaction() waiting on the forgotten group coordinator then never returns
# (librdkafka issue 5511). With one broker, each kill is "every broker down": keep the brokers.
CLIENT_RECOVERY = {"metadata.recovery.strategy": "none"}


class App:
    """The application under test: reads `source`, writes `sink`, one transaction per batch."""

    def __init__(self, bootstrap, source, sink, group, txn_id):
        self.bootstrap, self.source, self.sink, self.group, self.txn_id = bootstrap, source, sink, group, txn_id
        self.stop = threading.Event()
        self.committed = 0
        self.aborted = 0
        self.restarts = 0
        self.errors = []
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            consumer = producer = None
            try:
                consumer = Consumer(
                    {
                        "bootstrap.servers": self.bootstrap,
                        "group.id": self.group,
                        "auto.offset.reset": "earliest",
                        "enable.auto.commit": False,
                        "isolation.level": "read_committed",
                        "session.timeout.ms": 6000,
                        "fetch.wait.max.ms": 100,
                        **CLIENT_RECOVERY,
                    }
                )
                producer = Producer(
                    {
                        "bootstrap.servers": self.bootstrap,
                        "transactional.id": self.txn_id,
                        "transaction.timeout.ms": 20000,
                        "linger.ms": 5,
                        **CLIENT_RECOVERY,
                    }
                )
                producer.init_transactions(60)
                consumer.subscribe([self.source])
                self.loop(consumer, producer)
            except KafkaException as e:
                # Whatever failed (the broker went away, the producer was fenced, a commit's outcome
                # is unknown): start over from the group's committed offsets with a new producer,
                # whose InitProducerId aborts anything left open.
                self.errors.append(str(e))
                self.restarts += 1
                time.sleep(0.5)
            finally:
                if consumer is not None:
                    try:
                        consumer.close()
                    except KafkaException:
                        pass

    def loop(self, consumer, producer):
        transactions = 0
        while not self.stop.is_set():
            messages = [m for m in consumer.consume(BATCH, 0.3) if m.error() is None]
            if not messages:
                continue
            transactions += 1
            producer.begin_transaction()
            for m in messages:
                producer.produce(self.sink, key=m.key(), value=b"out:" + m.value(), partition=m.partition())
            time.sleep(PROCESSING_S)
            if transactions % 5 == 0:
                producer.flush(30)
                producer.abort_transaction(30)
                self.aborted += 1
                self.rewind(consumer)
                continue
            positions = consumer.position(consumer.assignment())
            producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
            producer.commit_transaction(30)
            self.committed += 1

    def rewind(self, consumer):
        """After an abort, reads again from the last committed offsets."""
        for tp in consumer.committed(consumer.assignment(), timeout=30):
            consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING))


def read_committed(bootstrap, topic, until_count, deadline_s):
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": unique("verify"),
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    consumer.subscribe([topic])
    values = []
    deadline = time.monotonic() + deadline_s
    quiet_since = time.monotonic()
    try:
        while time.monotonic() < deadline:
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                values.append(message.value().decode())
                quiet_since = time.monotonic()
            elif len(values) >= until_count and time.monotonic() - quiet_since > 3:
                break
    finally:
        consumer.close()
    return values


def test_exactly_once_through_aborts_and_two_kill9_restarts(ferry_server_in, tmp_path):
    server = ferry_server_in(tmp_path / "data")
    bootstrap = server.kafka_bootstrap
    source, sink = unique("eos-in"), unique("eos-out")
    create_topic(bootstrap, source, PARTITIONS)
    create_topic(bootstrap, sink, PARTITIONS)
    expected = [f"v-{i:05d}" for i in range(RECORDS)]
    produce(bootstrap, source, expected, PARTITIONS)

    app = App(bootstrap, source, sink, unique("eos-group"), unique("eos-txn"))
    app.thread.start()
    committed_at_kills = []
    try:
        for kill in range(2):
            target = app.committed + 8
            deadline = time.monotonic() + DEADLINE_S
            while app.committed < target:
                assert time.monotonic() < deadline, f"the application made no progress: {app.errors[-3:]}"
                time.sleep(0.05)
            committed_at_kills.append(app.committed)
            server.kill()
            time.sleep(0.5)
            server.start()
        output = read_committed(bootstrap, sink, RECORDS, DEADLINE_S)
    finally:
        app.stop.set()
        app.thread.join(60)

    values = [v.removeprefix("out:") for v in output]
    duplicates = sorted({v for v in values if values.count(v) > 1})
    assert not duplicates, f"{len(duplicates)} records appear more than once, e.g. {duplicates[:5]}"
    missing = sorted(set(expected) - set(values))
    assert not missing, f"{len(missing)} records are missing, e.g. {missing[:5]}"
    assert len(values) == RECORDS
    assert app.aborted >= 2, "the injected aborts happened"
    assert app.committed > committed_at_kills[-1], "the application went on committing after the last kill"
