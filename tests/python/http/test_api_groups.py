"""`/api/v1/groups` against the real server: a confluent-kafka consumer group's members, committed
offsets and lag; reset-offsets (earliest, latest, offset, timestamp) changing where a consumer of
the group starts; refusals while the group has members; deletion."""

import time

import pytest
from confluent_kafka import OFFSET_INVALID, Consumer, TopicPartition

from api_helpers import Api, assert_error, unique, wait_until


@pytest.fixture
def api(ferry_server):
    return Api(ferry_server)


def consumer_of(server, group, **extra):
    return Consumer(
        {
            "bootstrap.servers": server.kafka_bootstrap,
            "group.id": group,
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            **extra,
        }
    )


def poll_values(consumer, count, timeout_s=20):
    got = []
    deadline = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        assert msg.error() is None, msg.error()
        got.append(msg)
    assert len(got) == count, f"{len(got)} of {count} records arrived"
    return got


def first_offset_for(server, group, topic, partition=0):
    """The offset a consumer of `group`, assigned `topic`/`partition` at its committed offset, reads first."""
    consumer = consumer_of(server, group)
    try:
        consumer.assign([TopicPartition(topic, partition, OFFSET_INVALID)])
        return poll_values(consumer, 1)[0].offset()
    finally:
        consumer.close()


def reset(api, group, **body):
    return api.ok("POST", f"/groups/{group}/reset-offsets", 200, json=body)["offsets"]


@pytest.fixture
def topic_with_records(api):
    topic = unique("gt")
    api.create_topic(topic)
    api.produce(topic, [{"value": f"v{i}"} for i in range(10)])
    return topic


def test_live_group_shows_members_and_lag_and_refuses_reset_and_delete(api, ferry_server, topic_with_records):
    topic, group = topic_with_records, unique("g-live")
    consumer = consumer_of(ferry_server, group, **{"client.id": "api-test-client"})
    try:
        consumer.subscribe([topic])
        got = poll_values(consumer, 4)
        assert [m.offset() for m in got] == [0, 1, 2, 3]
        consumer.commit(offsets=[TopicPartition(topic, 0, 4)], asynchronous=False)

        described = wait_until(
            lambda: (g := api.ok("GET", f"/groups/{group}", 200))["state"] == "Stable" and g, what="a stable group"
        )
        assert described["group_id"] == group
        assert described["protocol_type"] == "consumer"
        [member] = described["members"]
        assert member["client_id"] == "api-test-client"
        assert member["member_id"]
        assert described["offsets"] == [
            {"topic": topic, "partition": 0, "committed_offset": 4, "end_offset": 10, "lag": 6}
        ]
        listed = [g for g in api.ok("GET", "/groups", 200, params={"limit": 1000})["items"] if g["group_id"] == group]
        assert listed == [{"group_id": group, "state": "Stable", "protocol_type": "consumer", "members": 1}]

        assert_error(api.post(f"/groups/{group}/reset-offsets", {"topic": topic, "to": "earliest"}), 409, "group_active")
        assert_error(api.delete(f"/groups/{group}"), 409, "group_active")

        # Lag follows the log's end.
        api.produce(topic, [{"value": "more"}, {"value": "more"}])
        assert api.ok("GET", f"/groups/{group}", 200)["offsets"][0]["lag"] == 8
    finally:
        consumer.close()

    wait_until(lambda: api.ok("GET", f"/groups/{group}", 200)["members"] == [], what="the member to leave")
    assert api.ok("GET", f"/groups/{group}", 200)["state"] == "Empty"

    # Once it is empty, a reset moves where a subscribing consumer of the group starts.
    assert reset(api, group, topic=topic, to="offset", offset=2)[0]["committed_offset"] == 2
    again = consumer_of(ferry_server, group)
    try:
        again.subscribe([topic])
        assert poll_values(again, 1)[0].offset() == 2
    finally:
        again.close()
    wait_until(lambda: api.ok("GET", f"/groups/{group}", 200)["members"] == [], what="the member to leave")
    assert api.delete(f"/groups/{group}").status_code == 204
    assert_error(api.get(f"/groups/{group}"), 404, "group_not_found")


def test_reset_offsets_moves_where_the_group_starts(api, ferry_server, topic_with_records):
    topic, group = topic_with_records, unique("g-reset")
    consumer = consumer_of(ferry_server, group)
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        poll_values(consumer, 5)
        consumer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
    finally:
        consumer.close()
    assert first_offset_for(ferry_server, group, topic) == 5

    assert reset(api, group, topic=topic, to="earliest") == [
        {"topic": topic, "partition": 0, "committed_offset": 0, "end_offset": 10, "lag": 10}
    ]
    assert first_offset_for(ferry_server, group, topic) == 0

    assert reset(api, group, topic=topic, to="offset", offset=7)[0]["committed_offset"] == 7
    assert first_offset_for(ferry_server, group, topic) == 7
    described = api.ok("GET", f"/groups/{group}", 200)["offsets"][0]
    assert (described["committed_offset"], described["end_offset"], described["lag"]) == (7, 10, 3)

    # An offset past the end is clamped to the end, as kafka-consumer-groups does.
    assert reset(api, group, topic=topic, to="offset", offset=999)[0]["committed_offset"] == 10

    assert reset(api, group, topic=topic, to="latest")[0]["committed_offset"] == 10
    later = api.produce(topic, [{"value": "after-latest"}])
    assert first_offset_for(ferry_server, group, topic) == later[0]["offset"] == 10


def test_reset_offsets_to_a_timestamp(api, ferry_server):
    topic, group = unique("gt-ts"), unique("g-ts")
    api.create_topic(topic)
    api.produce(topic, [{"value": "old0"}, {"value": "old1"}])
    time.sleep(0.02)
    api.produce(topic, [{"value": "new0"}, {"value": "new1"}])
    records = api.read(topic)["records"]
    ts = records[2]["timestamp_ms"]
    assert records[1]["timestamp_ms"] < ts
    assert reset(api, group, topic=topic, to="timestamp", timestamp_ms=ts)[0]["committed_offset"] == 2
    assert first_offset_for(ferry_server, group, topic) == 2
    # A time after every record: the end.
    assert reset(api, group, topic=topic, to="timestamp", timestamp_ms=ts + 60_000)[0]["committed_offset"] == 4


def test_reset_offsets_of_chosen_partitions(api):
    topic, group = unique("gt-parts"), unique("g-parts")
    api.create_topic(topic, partitions=3)
    api.produce(topic, [{"value": "x", "partition": p} for p in (0, 1, 1, 2, 2, 2)])
    offsets = reset(api, group, topic=topic, to="latest", partitions=[1, 2])
    assert [(o["partition"], o["committed_offset"], o["lag"]) for o in offsets] == [(1, 2, 0), (2, 3, 0)]
    offsets = reset(api, group, topic=topic, to="earliest")
    assert [(o["partition"], o["committed_offset"], o["lag"]) for o in offsets] == [(0, 0, 1), (1, 0, 2), (2, 0, 3)]


def test_reset_offsets_errors(api, topic_with_records):
    topic, group = topic_with_records, unique("g-err")
    path = f"/groups/{group}/reset-offsets"
    assert_error(api.post(path, {"topic": topic, "to": "sideways"}), 400, "invalid_reset")
    assert_error(api.post(path, {"topic": topic, "to": "offset"}), 400, "invalid_reset")
    assert_error(api.post(path, {"topic": topic, "to": "timestamp"}), 400, "invalid_reset")
    assert_error(api.post(path, {"topic": topic, "to": "earliest", "offset": 3}), 400, "invalid_reset")
    assert_error(api.post(path, {"topic": topic, "to": "timestamp", "timestamp_ms": 1, "offset": 3}), 400, "invalid_reset")
    assert_error(api.post(path, {"topic": unique("none"), "to": "earliest"}), 404, "topic_not_found")
    assert_error(api.post(path, {"topic": topic, "to": "earliest", "partitions": [1]}), 404, "partition_not_found")
    assert_error(api.post(path, {"topic": topic, "to": "earliest", "partitions": []}), 400, "invalid_reset")
    assert_error(api.post(path, {"to": "earliest"}), 400, "invalid_body")
    assert_error(api.post(path, {"topic": topic, "to": "earliest", "when": 1}), 400, "invalid_body")
    assert_error(
        api.post(path, data='{"topic": "x"}', headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"
    )
    # None of the refused requests created the group.
    assert_error(api.get(f"/groups/{group}"), 404, "group_not_found")


def test_unknown_group_is_404(api):
    group = unique("g-none")
    assert_error(api.get(f"/groups/{group}"), 404, "group_not_found")
    assert_error(api.delete(f"/groups/{group}"), 404, "group_not_found")


def test_list_pages_over_groups(api, topic_with_records):
    prefix = unique("g-page")
    groups = sorted(f"{prefix}-{i}" for i in range(3))
    for g in groups:
        reset(api, g, topic=topic_with_records, to="earliest")
    first = api.ok("GET", "/groups", 200, params={"limit": 2, "after": prefix})
    assert [g["group_id"] for g in first["items"]] == groups[:2]
    assert first["next"] == groups[1]
    second = api.ok("GET", "/groups", 200, params={"limit": 2, "after": first["next"]})
    assert second["items"][0]["group_id"] == groups[2]
    assert second["items"][0]["members"] == 0
    for limit in ("0", "1001"):
        assert_error(api.get("/groups", params={"limit": limit}), 400, "invalid_limit")
    # A group with only committed offsets and no members is deleted.
    assert api.delete(f"/groups/{groups[0]}").status_code == 204
    assert_error(api.get(f"/groups/{groups[0]}"), 404, "group_not_found")
