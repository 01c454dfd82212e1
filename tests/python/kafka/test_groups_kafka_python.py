"""Consumer groups through kafka-python, with its defaults and pinned to older protocol versions."""

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from group_helpers import create_topic, produce, unique, wait_until

# None: negotiate with ApiVersions; the others pin the protocol versions of those Kafka releases.
API_VERSIONS = [None, (0, 11), (1, 1), (2, 5)]


def consumer(bootstrap, group, topic, api_version):
    kwargs = {} if api_version is None else {"api_version": api_version}
    return KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
        **kwargs,
    )


def poll_into(consumers, received):
    for n, c in enumerate(consumers):
        for records in c.poll(timeout_ms=50).values():
            received.extend((n, r) for r in records)


@pytest.mark.parametrize("api_version", API_VERSIONS, ids=lambda v: "default" if v is None else "%d.%d" % v)
def test_group_consumer_commits_and_a_new_one_resumes(ferry_server, api_version):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("kp-orders"), unique("kp-group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"first-{i}" for i in range(10)], 2)

    c = consumer(bootstrap, group, topic, api_version)
    received = []
    wait_until(lambda: len(received) >= 10, "ten messages", step=lambda: poll_into([c], received))
    assert sorted(r.value.decode() for _, r in received) == sorted(f"first-{i}" for i in range(10))
    c.commit()
    assert c.committed(TopicPartition(topic, 0)) == 5
    c.close()

    produce(bootstrap, topic, [f"second-{i}" for i in range(4)], 2)
    c = consumer(bootstrap, group, topic, api_version)
    resumed = []
    wait_until(lambda: len(resumed) >= 4, "the new messages", step=lambda: poll_into([c], resumed))
    assert sorted(r.value.decode() for _, r in resumed) == sorted(f"second-{i}" for i in range(4))
    c.close()


def test_two_members_split_partitions_and_one_leaving_rebalances(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("kp-split"), unique("kp-split-group")
    create_topic(bootstrap, topic, 4)
    a = consumer(bootstrap, group, topic, None)
    b = consumer(bootstrap, group, topic, None)
    received = []
    wait_until(
        lambda: len(a.assignment()) == 2 and len(b.assignment()) == 2,
        "both members to get two partitions",
        step=lambda: poll_into([a, b], received),
    )
    assert not (a.assignment() & b.assignment())
    a.close()
    wait_until(lambda: len(b.assignment()) == 4, "b to take every partition", step=lambda: poll_into([b], received))
    b.close()


def test_commit_keeps_metadata(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("kp-meta"), unique("kp-meta-group")
    create_topic(bootstrap, topic, 1)
    c = consumer(bootstrap, group, topic, None)
    received = []
    wait_until(lambda: c.assignment(), "an assignment", step=lambda: poll_into([c], received))
    tp = TopicPartition(topic, 0)
    c.commit({tp: OffsetAndMetadata(3, "kept", -1)})
    fetched = c.committed(tp, metadata=True)
    assert fetched.offset == 3
    assert fetched.metadata == "kept"
    c.close()
