"""Consumer groups of the KIP-848 protocol through confluent-kafka (`group.protocol=consumer`):
the broker assigns partitions, members reconcile through heartbeats."""

import importlib.util
import tempfile
import time
from pathlib import Path

import pytest
from confluent_kafka import (
    Consumer,
    ConsumerGroupState,
    ConsumerGroupType,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewPartitions

from group_helpers import DEADLINE_S, create_topic, produce, unique, wait_until

# The suite's root conftest, by path: other directories have a conftest module of their own, and
# whichever pytest imported first answers to the name `conftest`.
_spec = importlib.util.spec_from_file_location("ferry_suite_root_conftest", Path(__file__).parents[1] / "conftest.py")
_root = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_root)
FerryServer = _root.FerryServer

# Heartbeats every 500 ms instead of Kafka's 5 s, so that each step of a rebalance is quick.
GROUP_SETTINGS = """
[groups]
consumer_group_heartbeat_interval_ms = 500
consumer_group_session_timeout_ms = 6000
"""


@pytest.fixture(scope="module")
def server():
    with tempfile.TemporaryDirectory(prefix="ferry-test-") as data_dir:
        config = Path(data_dir) / "ferry.toml"
        config.write_text(GROUP_SETTINGS)
        started = FerryServer(Path(data_dir) / "data", ["--config", str(config)]).start()
        try:
            yield started
        finally:
            started.stop()


def consumer(bootstrap, group, **extra):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "group.protocol": "consumer",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "fetch.wait.max.ms": 100,
    }
    config.update(extra)
    return Consumer(config)


def partitions_of(c):
    return {(tp.topic, tp.partition) for tp in c.assignment()}


class Reader:
    """Polls consumers, committing each record before taking the next, so a record read is never
    handed to another member: what a member reads is committed before it can revoke it."""

    def __init__(self, consumers):
        self.consumers = list(consumers)
        self.read = []  # (consumer index, value)

    def step(self):
        for n, c in enumerate(self.consumers):
            if c is None:
                continue
            message = c.poll(0.05)
            if message is None or message.error() is not None:
                continue
            self.read.append((n, message.value().decode()))
            commit(c, message)

    def values(self):
        return [v for _, v in self.read]


def commit(c, message):
    # A commit sent with the epoch just replaced by a heartbeat is STALE_MEMBER_EPOCH; the
    # partition is still the member's, so the commit is sent again with the new epoch.
    for _ in range(20):
        try:
            c.commit(message=message, asynchronous=False)
            return
        except KafkaException:
            time.sleep(0.1)
    raise AssertionError("a commit kept failing")


def balanced(consumers, total):
    sizes = [len(partitions_of(c)) for c in consumers]
    union = set().union(*(partitions_of(c) for c in consumers))
    return sum(sizes) == total and len(union) == total and max(sizes) - min(sizes) <= 1


def test_members_split_a_topic_and_rebalance_as_they_come_and_go_reading_each_record_once(server):
    bootstrap = server.kafka_bootstrap
    topic, group = unique("orders"), unique("billing")
    create_topic(bootstrap, topic, 6)
    a, b = consumer(bootstrap, group), consumer(bootstrap, group)
    a.subscribe([topic])
    b.subscribe([topic])
    reader = Reader([a, b])
    wait_until(lambda: balanced([a, b], 6), "two members with three partitions each", step=reader.step)

    produce(bootstrap, topic, [f"first-{i}" for i in range(60)], 6)
    wait_until(lambda: len(reader.read) >= 60, "60 records", step=reader.step)
    assert {n for n, _ in reader.read} == {0, 1}, "both members read"

    c = consumer(bootstrap, group)
    c.subscribe([topic])
    reader.consumers.append(c)
    produce(bootstrap, topic, [f"second-{i}" for i in range(60)], 6)
    wait_until(
        lambda: balanced([a, b, c], 6) and len(reader.read) >= 120,
        "three members with two partitions each, and 120 records",
        step=reader.step,
    )

    a.close()
    reader.consumers[0] = None
    produce(bootstrap, topic, [f"third-{i}" for i in range(60)], 6)
    wait_until(
        lambda: balanced([b, c], 6) and len(reader.read) >= 180,
        "the two remaining members to share all six partitions, and 180 records",
        step=reader.step,
    )
    expected = [f"{r}-{i}" for r in ("first", "second", "third") for i in range(60)]
    assert sorted(reader.values()) == sorted(expected), "every record read, none twice"
    b.close()
    c.close()


def test_a_new_member_resumes_from_the_committed_offsets(server):
    bootstrap = server.kafka_bootstrap
    topic, group = unique("ledger"), unique("audit")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"v-{i}" for i in range(20)], 2)
    first = consumer(bootstrap, group)
    first.subscribe([topic])
    reader = Reader([first])
    wait_until(lambda: len(reader.read) >= 10, "ten records", step=reader.step)
    read_first = reader.values()
    first.close()

    second = consumer(bootstrap, group)
    second.subscribe([topic])
    rest = Reader([second])
    wait_until(lambda: len(read_first) + len(rest.read) >= 20, "the other records", step=rest.step)
    assert sorted(read_first + rest.values()) == sorted(f"v-{i}" for i in range(20))
    committed = second.committed([TopicPartition(topic, p) for p in range(2)], timeout=10)
    assert sorted(tp.offset for tp in committed) == [10, 10]
    second.close()


def test_a_regex_subscription_picks_up_a_topic_created_later(server):
    bootstrap = server.kafka_bootstrap
    prefix, group = unique("metrics"), unique("dashboards")
    create_topic(bootstrap, f"{prefix}-cpu", 1)
    create_topic(bootstrap, unique("unrelated"), 1)
    c = consumer(bootstrap, group, **{"topic.metadata.refresh.interval.ms": 1000})
    c.subscribe([f"^{prefix}-.*"])
    reader = Reader([c])
    wait_until(lambda: partitions_of(c) == {(f"{prefix}-cpu", 0)}, "the first matching topic", step=reader.step)

    create_topic(bootstrap, f"{prefix}-disk", 2)
    wait_until(
        lambda: partitions_of(c) == {(f"{prefix}-cpu", 0), (f"{prefix}-disk", 0), (f"{prefix}-disk", 1)},
        "the topic created later",
        step=reader.step,
    )
    produce(bootstrap, f"{prefix}-disk", ["full", "ok"], 2)
    wait_until(lambda: len(reader.read) >= 2, "the new topic's records", step=reader.step)
    assert sorted(reader.values()) == ["full", "ok"]
    c.close()


def test_the_range_assignor_can_be_asked_for(server):
    bootstrap = server.kafka_bootstrap
    topic, group = unique("events"), unique("ranged")
    create_topic(bootstrap, topic, 4)
    members = [consumer(bootstrap, group, **{"group.remote.assignor": "range"}) for _ in range(2)]
    for m in members:
        m.subscribe([topic])
    reader = Reader(members)
    wait_until(lambda: balanced(members, 4), "two partitions each", step=reader.step)
    ranges = sorted(sorted(p for _, p in partitions_of(m)) for m in members)
    assert ranges == [[0, 1], [2, 3]], "consecutive ranges"
    client = admin(bootstrap)
    description = client.describe_consumer_groups([group])[group].result(timeout=DEADLINE_S)
    assert description.partition_assignor == "range"
    for m in members:
        m.close()


def admin(bootstrap):
    return AdminClient({"bootstrap.servers": bootstrap})


def test_groups_of_both_protocols_are_listed_and_described_with_their_type(server):
    bootstrap = server.kafka_bootstrap
    topic = unique("shipments")
    create_topic(bootstrap, topic, 2)
    new_group, classic_group = unique("new"), unique("classic")
    new = consumer(bootstrap, new_group)
    classic = consumer(
        bootstrap, classic_group, **{"group.protocol": "classic", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500}
    )
    new.subscribe([topic])
    classic.subscribe([topic])
    wait_until(
        lambda: len(partitions_of(new)) == 2 and len(partitions_of(classic)) == 2,
        "both groups to assign both partitions",
        step=lambda: (new.poll(0.05), classic.poll(0.05)),
    )
    client = admin(bootstrap)

    listed = client.list_consumer_groups().result(timeout=DEADLINE_S).valid
    types = {g.group_id: g.type for g in listed}
    assert types[new_group] == ConsumerGroupType.CONSUMER
    assert types[classic_group] == ConsumerGroupType.CLASSIC
    only_new = client.list_consumer_groups(types={ConsumerGroupType.CONSUMER}).result(timeout=DEADLINE_S).valid
    assert new_group in {g.group_id for g in only_new}
    assert classic_group not in {g.group_id for g in only_new}

    described = client.describe_consumer_groups([new_group, classic_group])
    d = described[new_group].result(timeout=DEADLINE_S)
    assert d.type == ConsumerGroupType.CONSUMER
    assert d.state == ConsumerGroupState.STABLE
    assert d.partition_assignor == "uniform"
    [member] = d.members
    assert {(tp.topic, tp.partition) for tp in member.assignment.topic_partitions} == {(topic, 0), (topic, 1)}
    c = described[classic_group].result(timeout=DEADLINE_S)
    assert c.type == ConsumerGroupType.CLASSIC
    assert len(c.members) == 1

    # Committed offsets keep a group without members (one holding nothing is forgotten at once).
    for c in (new, classic):
        c.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
        c.close()
    wait_until(
        lambda: client.describe_consumer_groups([new_group])[new_group].result(timeout=DEADLINE_S).state
        == ConsumerGroupState.EMPTY,
        "the group to be empty",
    )
    deleted = client.delete_consumer_groups([new_group, classic_group])
    for group in (new_group, classic_group):
        deleted[group].result(timeout=DEADLINE_S)
    remaining = {g.group_id for g in client.list_consumer_groups().result(timeout=DEADLINE_S).valid}
    assert new_group not in remaining and classic_group not in remaining


def classic_consumer(bootstrap, group):
    return consumer(bootstrap, group, **{"group.protocol": "classic", "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})


def first_error(member, other):
    """Polls both until `member` reports an error; returns it."""
    errors = []

    def poll():
        other.poll(0.05)
        message = member.poll(0.05)
        if message is not None and message.error() is not None:
            errors.append(message.error())

    wait_until(lambda: errors, "an error", step=poll)
    return errors[0]


def test_a_group_id_in_use_by_one_protocol_is_refused_to_the_other(server):
    bootstrap = server.kafka_bootstrap
    topic = unique("payments")
    create_topic(bootstrap, topic, 1)

    classic_group = unique("classic-owned")
    classic = classic_consumer(bootstrap, classic_group)
    classic.subscribe([topic])
    wait_until(lambda: len(partitions_of(classic)) == 1, "the classic member's partition", step=lambda: classic.poll(0.05))
    intruder = consumer(bootstrap, classic_group)
    intruder.subscribe([topic])
    error = first_error(intruder, classic)
    # GROUP_ID_NOT_FOUND to a heartbeat, which librdkafka treats as fatal.
    assert error.code() == KafkaError._FATAL and "group id does not exist" in error.str(), error
    assert len(partitions_of(classic)) == 1, "the classic member kept its partition"
    intruder.close()
    classic.close()

    new_group = unique("consumer-owned")
    new = consumer(bootstrap, new_group)
    new.subscribe([topic])
    wait_until(lambda: len(partitions_of(new)) == 1, "the new member's partition", step=lambda: new.poll(0.05))
    intruder = classic_consumer(bootstrap, new_group)
    intruder.subscribe([topic])
    error = first_error(intruder, new)
    assert error.code() == KafkaError.INCONSISTENT_GROUP_PROTOCOL, error
    assert len(partitions_of(new)) == 1, "the consumer-protocol member kept its partition"
    intruder.close()
    new.close()


def test_partitions_added_to_a_topic_are_assigned(server):
    bootstrap = server.kafka_bootstrap
    topic, group = unique("growing"), unique("growers")
    create_topic(bootstrap, topic, 2)
    members = [consumer(bootstrap, group, **{"topic.metadata.refresh.interval.ms": 1000}) for _ in range(2)]
    for m in members:
        m.subscribe([topic])
    reader = Reader(members)
    wait_until(lambda: balanced(members, 2), "one partition each", step=reader.step)
    client = admin(bootstrap)
    client.create_partitions([NewPartitions(topic, 4)])[topic].result(timeout=DEADLINE_S)
    wait_until(lambda: balanced(members, 4), "two partitions each", step=reader.step)
    produce(bootstrap, topic, [f"p-{i}" for i in range(8)], 4)
    wait_until(lambda: len(reader.read) >= 8, "the records of every partition", step=reader.step)
    assert sorted(reader.values()) == sorted(f"p-{i}" for i in range(8))
    for m in members:
        m.close()


def test_a_static_member_that_restarts_gets_its_partitions_back_without_a_rebalance(server):
    bootstrap = server.kafka_bootstrap
    topic, group = unique("inventory"), unique("static")
    create_topic(bootstrap, topic, 4)
    a = consumer(bootstrap, group, **{"group.instance.id": "worker-a"})
    b = consumer(bootstrap, group, **{"group.instance.id": "worker-b"})
    a.subscribe([topic])
    b.subscribe([topic])
    reader = Reader([a, b])
    wait_until(lambda: balanced([a, b], 4), "two partitions each", step=reader.step)
    held_by_a, held_by_b = partitions_of(a), partitions_of(b)

    a.close()
    again = consumer(bootstrap, group, **{"group.instance.id": "worker-a"})
    again.subscribe([topic])
    changes = []

    def step():
        again.poll(0.05)
        b.poll(0.05)
        if partitions_of(b) != held_by_b:
            changes.append(partitions_of(b))

    wait_until(lambda: partitions_of(again) == held_by_a, "the same partitions for the same instance", step=step)
    for _ in range(10):
        step()
    assert changes == [], "the other member kept its partitions throughout"
    again.close()
    b.close()


def test_a_deleted_topic_leaves_the_assignment(server):
    bootstrap = server.kafka_bootstrap
    kept, dropped, group = unique("kept"), unique("dropped"), unique("pruned")
    create_topic(bootstrap, kept, 2)
    create_topic(bootstrap, dropped, 2)
    c = consumer(bootstrap, group, **{"topic.metadata.refresh.interval.ms": 1000})
    c.subscribe([kept, dropped])
    reader = Reader([c])
    wait_until(lambda: len(partitions_of(c)) == 4, "both topics", step=reader.step)
    client = admin(bootstrap)
    client.delete_topics([dropped])[dropped].result(timeout=DEADLINE_S)
    wait_until(lambda: partitions_of(c) == {(kept, 0), (kept, 1)}, "only the topic left", step=reader.step)
    produce(bootstrap, kept, ["still", "here"], 2)
    wait_until(lambda: len(reader.read) >= 2, "the remaining topic's records", step=reader.step)
    c.close()


def test_members_join_again_after_a_broker_restart_and_resume_from_their_commits(ferry_server_in, tmp_path):
    config = tmp_path / "ferry.toml"
    config.write_text(GROUP_SETTINGS)
    broker = ferry_server_in(tmp_path / "data", ["--config", str(config)])
    bootstrap = broker.kafka_bootstrap
    topic, group = unique("restarted"), unique("survivors")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"before-{i}" for i in range(10)], 2)
    c = consumer(bootstrap, group)
    c.subscribe([topic])
    reader = Reader([c])
    wait_until(lambda: len(reader.read) >= 10, "the records before the restart", step=reader.step)

    broker.restart()
    produce(bootstrap, topic, [f"after-{i}" for i in range(10)], 2)
    wait_until(lambda: len(reader.read) >= 20, "the records after the restart", step=reader.step)
    for _ in range(20):
        reader.step()
    expected = [f"{when}-{i}" for when in ("before", "after") for i in range(10)]
    assert sorted(reader.values()) == sorted(expected), "nothing read twice"
    c.close()
