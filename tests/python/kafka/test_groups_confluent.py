"""Consumer groups through confluent-kafka (librdkafka): split, rebalance, commit, resume, restart."""

import pytest
from confluent_kafka import Consumer, TopicPartition

from group_helpers import create_topic, produce, unique, wait_until


def consumer(bootstrap, group, **extra):
    config = {
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.wait.max.ms": 100,
    }
    config.update(extra)
    return Consumer(config)


def poll_into(consumers, received):
    for n, c in enumerate(consumers):
        message = c.poll(0.05)
        if message is not None and message.error() is None:
            received.append((n, message))


def partitions_of(c):
    return {tp.partition for tp in c.assignment()}


@pytest.mark.parametrize("assignor", ["range", "cooperative-sticky"])
def test_two_consumers_split_partitions_then_one_takes_over_from_the_commits(ferry_server, assignor):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("orders"), unique("billing")
    create_topic(bootstrap, topic, 4)
    strategy = {"partition.assignment.strategy": assignor}
    a, b = consumer(bootstrap, group, **strategy), consumer(bootstrap, group, **strategy)
    a.subscribe([topic])
    b.subscribe([topic])
    received = []
    wait_until(
        lambda: len(partitions_of(a)) == 2 and len(partitions_of(b)) == 2,
        "both members to get two partitions",
        step=lambda: poll_into([a, b], received),
    )
    assert partitions_of(a).isdisjoint(partitions_of(b))

    produce(bootstrap, topic, [f"first-{i}" for i in range(40)], 4)
    wait_until(lambda: len(received) >= 40, "40 messages", step=lambda: poll_into([a, b], received))
    assert sorted(m.value().decode() for _, m in received) == sorted(f"first-{i}" for i in range(40))
    a.commit(asynchronous=False)
    b.commit(asynchronous=False)
    committed = a.committed([TopicPartition(topic, p) for p in partitions_of(a)], timeout=10)
    assert all(tp.offset == 10 for tp in committed), committed

    a.close()
    after = []
    wait_until(lambda: len(partitions_of(b)) == 4, "b to take every partition", step=lambda: poll_into([b], after))
    produce(bootstrap, topic, [f"second-{i}" for i in range(8)], 4)
    wait_until(lambda: len(after) >= 8, "8 new messages", step=lambda: poll_into([b], after))
    assert sorted(m.value().decode() for _, m in after) == sorted(f"second-{i}" for i in range(8))
    b.commit(asynchronous=False)
    b.close()

    c = consumer(bootstrap, group, **strategy)
    c.subscribe([topic])
    produce(bootstrap, topic, [f"third-{i}" for i in range(4)], 4)
    resumed = []
    wait_until(lambda: len(resumed) >= 4, "the resumed consumer", step=lambda: poll_into([c], resumed))
    assert sorted(m.value().decode() for _, m in resumed) == sorted(f"third-{i}" for i in range(4))
    assert {m.offset() for _, m in resumed} == {12}
    c.close()


def test_committed_offsets_and_metadata_survive_a_broker_restart(fresh_ferry_server):
    server = fresh_ferry_server
    topic, group = unique("audit"), unique("auditors")
    create_topic(server.kafka_bootstrap, topic, 1)
    produce(server.kafka_bootstrap, topic, [f"m-{i}" for i in range(10)], 1)
    c = consumer(server.kafka_bootstrap, group)
    c.subscribe([topic])
    received = []
    wait_until(lambda: len(received) >= 6, "six messages", step=lambda: poll_into([c], received))
    c.commit(offsets=[TopicPartition(topic, 0, 6, metadata="checkpoint-6")], asynchronous=False)
    c.close()

    server.restart()
    c = consumer(server.kafka_bootstrap, group)
    [committed] = c.committed([TopicPartition(topic, 0)], timeout=10)
    assert committed.offset == 6
    assert committed.metadata == "checkpoint-6"
    c.subscribe([topic])
    resumed = []
    wait_until(lambda: resumed, "a message after the restart", step=lambda: poll_into([c], resumed))
    assert resumed[0][1].offset() == 6
    assert resumed[0][1].value() == b"m-6"
    c.close()


def test_static_members_join_consume_and_commit(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("static"), unique("static-group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"s-{i}" for i in range(6)], 2)
    c = consumer(bootstrap, group, **{"group.instance.id": "worker-1"})
    c.subscribe([topic])
    received = []
    wait_until(lambda: len(received) >= 6, "six messages", step=lambda: poll_into([c], received))
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    assert [tp.offset for tp in committed] == [3, 3]
    c.close()


def test_a_restarted_static_member_gets_its_partitions_back(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("static-split"), unique("static-split-group")
    create_topic(bootstrap, topic, 2)
    w1 = consumer(bootstrap, group, **{"group.instance.id": "w1"})
    w2 = consumer(bootstrap, group, **{"group.instance.id": "w2"})
    w1.subscribe([topic])
    w2.subscribe([topic])
    received = []
    wait_until(
        lambda: len(partitions_of(w1)) == 1 and len(partitions_of(w2)) == 1,
        "one partition each",
        step=lambda: poll_into([w1, w2], received),
    )
    before = partitions_of(w2)
    # A static member does not leave the group when it closes: its place waits for it.
    w2.close()
    w2 = consumer(bootstrap, group, **{"group.instance.id": "w2"})
    w2.subscribe([topic])
    wait_until(lambda: len(partitions_of(w2)) == 1, "w2 back in its place", step=lambda: poll_into([w1, w2], received))
    assert partitions_of(w2) == before
    assert len(partitions_of(w1)) == 1
    w1.close()
    w2.close()
