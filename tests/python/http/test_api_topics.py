"""`/api/v1/topics` against the real server: every endpoint and its errors, records produced over
REST read by Kafka clients (in order, in the partition Kafka's partitioner picks) and records
produced by Kafka clients read over REST, from an offset or a time."""

import base64
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from kafka import KafkaProducer
from kafka.partitioner.default import murmur2

from api_helpers import Api, assert_error, unique


@pytest.fixture
def api(ferry_server):
    return Api(ferry_server)


def kafka_partition(key, partitions):
    """The partition Kafka's default partitioner gives a keyed record."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def test_create_describe_change_and_delete_a_topic(api):
    name = unique("t")
    created = api.create_topic(name, partitions=2, retention_ms=3_600_000, cleanup_policy="delete")
    assert created["name"] == name
    assert [p["partition"] for p in created["partitions"]] == [0, 1]
    assert all(p["start_offset"] == 0 and p["end_offset"] == 0 for p in created["partitions"])
    assert created["config"]["retention_ms"] == 3_600_000
    assert created["config"]["cleanup_policy"] == "delete"

    described = api.ok("GET", f"/topics/{name}", 200)
    assert described["config"] == created["config"]

    changed = api.ok("PATCH", f"/topics/{name}", 200, json={"partitions": 4, "config": {"retention_ms": -1}})
    assert len(changed["partitions"]) == 4
    assert changed["config"]["retention_ms"] == -1
    assert changed["config"]["cleanup_policy"] == "delete"
    assert api.ok("PATCH", f"/topics/{name}", 200, json={"partitions": 4})["partitions"][3]["partition"] == 3

    assert api.delete(f"/topics/{name}").status_code == 204
    assert_error(api.get(f"/topics/{name}"), 404, "topic_not_found")


def test_create_errors(api):
    name = unique("t")
    api.create_topic(name)
    assert_error(api.post("/topics", {"name": name}), 409, "already_exists")
    assert_error(api.post("/topics", {"name": "bad name"}), 400, "invalid_name")
    assert_error(api.post("/topics", {"name": "x" * 300}), 400, "invalid_name")
    assert_error(api.post("/topics", {"name": unique("t"), "partitions": 0}), 400, "invalid_partitions")
    assert_error(api.post("/topics", {"name": unique("t"), "config": {"cleanup_policy": "shred"}}), 400, "invalid_config")
    assert_error(api.post("/topics", {"name": unique("t"), "config": {"retention_ms": -2}}), 400, "invalid_config")
    assert_error(api.post("/topics", {"name": unique("t"), "config": {"segment_bytes": 10}}), 400, "invalid_config")
    assert_error(api.post("/topics", {"name": unique("t"), "config": {"colour": "red"}}), 400, "invalid_body")
    assert_error(api.post("/topics", data="{", headers={"Content-Type": "application/json"}), 400, "invalid_body")
    assert_error(
        api.post("/topics", data='{"name": "x"}', headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"
    )


def test_patch_errors(api):
    name = unique("t")
    api.create_topic(name, partitions=3)
    assert_error(api.patch(f"/topics/{name}", {"partitions": 2}), 400, "invalid_partitions")
    assert_error(api.patch(f"/topics/{name}", {"config": {"cleanup_policy": "x"}}), 400, "invalid_config")
    assert_error(api.patch(f"/topics/{unique('none')}", {"partitions": 5}), 404, "topic_not_found")


def test_unknown_topic_is_404_on_every_endpoint(api):
    t = unique("ghost")
    assert_error(api.get(f"/topics/{t}"), 404, "topic_not_found")
    assert_error(api.delete(f"/topics/{t}"), 404, "topic_not_found")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "x"}]}), 404, "topic_not_found")
    assert_error(api.get(f"/topics/{t}/records"), 404, "topic_not_found")


def test_list_pages_over_topics(api):
    prefix = unique("tp")
    names = sorted(f"{prefix}-{i}" for i in range(5))
    for n in names:
        api.create_topic(n)
    seen, after = [], prefix
    # Page through the topics after `prefix`, two at a time, until past ours.
    while True:
        page = api.ok("GET", "/topics", 200, params={"limit": 2, "after": after})
        assert len(page["items"]) <= 2
        seen += [t["name"] for t in page["items"] if t["name"].startswith(prefix)]
        if page["next"] is None or not page["items"][-1]["name"].startswith(prefix):
            break
        after = page["next"]
    assert seen == names
    item = api.ok("GET", "/topics", 200, params={"limit": 1, "after": prefix})["items"][0]
    assert item == {"name": names[0], "partitions": 1, "end_offset_total": 0, "bytes": 0}
    for limit in ("0", "1001"):
        assert_error(api.get("/topics", params={"limit": limit}), 400, "invalid_limit")


def test_produce_errors(api):
    t = unique("t")
    api.create_topic(t, partitions=2)
    assert_error(api.post(f"/topics/{t}/records", {"records": []}), 400, "invalid_records")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "x"}] * 1001}), 400, "invalid_records")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "x", "partition": 2}]}), 404, "partition_not_found")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "x", "value_base64": "eA=="}]}), 400, "invalid_body")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"key_base64": "!!"}]}), 400, "invalid_body")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "x", "extra": 1}]}), 400, "invalid_body")
    assert_error(api.post(f"/topics/{t}/records", {}), 400, "invalid_body")
    # Nothing was written by the refused requests.
    assert all(p["end_offset"] == 0 for p in api.ok("GET", f"/topics/{t}", 200)["partitions"])
    # 1000 records is the most, and fine.
    assert len(api.produce(t, [{"value": f"v{i}", "partition": 0} for i in range(1000)])) == 1000


def test_read_errors(api):
    t = unique("t")
    api.create_topic(t)
    assert_error(api.get(f"/topics/{t}/records", params={"partition": 1}), 404, "partition_not_found")
    assert_error(api.get(f"/topics/{t}/records", params={"offset": 0, "timestamp_ms": 0}), 400, "invalid_query")
    assert_error(api.get(f"/topics/{t}/records", params={"limit": 0}), 400, "invalid_limit")
    assert_error(api.get(f"/topics/{t}/records", params={"limit": 1001}), 400, "invalid_limit")
    assert_error(api.get(f"/topics/{t}/records", params={"offset": "first"}), 400, "invalid_query")
    assert_error(api.get(f"/topics/{t}/records", params={"partition": -1}), 400, "invalid_query")


def test_produce_and_read_back_with_offsets_keys_and_headers(api):
    t = unique("t")
    api.create_topic(t)
    offsets = api.produce(
        t,
        [
            {"key": "k0", "value": "v0", "headers": {"h": "0"}},
            {"value": "v1"},
            {"key_base64": base64.b64encode(b"\xff").decode(), "value_base64": base64.b64encode(b"\x00\xfe").decode()},
            {"key": "tombstone"},
        ],
    )
    assert offsets == [{"partition": 0, "offset": i} for i in range(4)]
    read = api.read(t)
    records = read["records"]
    assert [r["offset"] for r in records] == [0, 1, 2, 3]
    assert read["next_offset"] == 4
    assert (records[0]["key"], records[0]["value"], records[0]["headers"]) == ("k0", "v0", {"h": "0"})
    assert records[1]["key"] is None and records[1]["value"] == "v1"
    assert records[2]["key"] is None and base64.b64decode(records[2]["key_base64"]) == b"\xff"
    assert records[2]["value"] is None and base64.b64decode(records[2]["value_base64"]) == b"\x00\xfe"
    assert records[3]["value"] is None and records[3]["value_base64"] is None
    assert all(abs(r["timestamp_ms"] - time.time() * 1000) < 60_000 for r in records)

    page = api.read(t, offset=1, limit=2)
    assert [r["value"] for r in page["records"]] == ["v1", None]
    assert page["next_offset"] == 3
    assert api.read(t, offset=page["next_offset"])["records"][0]["offset"] == 3
    end = api.read(t, offset=4)
    assert end["records"] == [] and end["next_offset"] == 4

    described = api.ok("GET", f"/topics/{t}", 200)["partitions"][0]
    assert (described["start_offset"], described["end_offset"]) == (0, 4)
    assert described["bytes"] > 0


def test_unkeyed_records_spread_over_partitions(api):
    t = unique("t")
    api.create_topic(t, partitions=3)
    offsets = api.produce(t, [{"value": f"v{i}"} for i in range(6)])
    assert {o["partition"] for o in offsets} == {0, 1, 2}


def test_keyed_records_land_in_the_partition_kafkas_partitioner_picks(api, ferry_server):
    t = unique("t")
    partitions = 5
    api.create_topic(t, partitions=partitions)
    keys = [f"key-{i}" for i in range(40)]
    offsets = api.produce(t, [{"key": k, "value": k} for k in keys])
    for key, placed in zip(keys, offsets):
        assert placed["partition"] == kafka_partition(key.encode(), partitions), key
    placed_by_rest = {key: placed["partition"] for key, placed in zip(keys, offsets)}
    assert len(set(placed_by_rest.values())) > 1
    # kafka-python, with its default partitioner, puts the same keys in the same partitions.
    producer = KafkaProducer(bootstrap_servers=ferry_server.kafka_bootstrap)
    try:
        for key in keys[:10]:
            meta = producer.send(t, key=key.encode(), value=b"again").get(timeout=30)
            assert meta.partition == kafka_partition(key.encode(), partitions)
    finally:
        producer.close()
    # So does librdkafka with Kafka's partitioner (murmur2_random).
    delivered = []
    confluent = Producer({"bootstrap.servers": ferry_server.kafka_bootstrap, "partitioner": "murmur2_random"})
    for key in keys[10:20]:
        confluent.produce(t, key=key.encode(), value=b"again",
                          on_delivery=lambda err, msg: delivered.append((err, msg.key().decode(), msg.partition())))
    assert confluent.flush(30) == 0
    assert len(delivered) == 10
    for err, key, partition in delivered:
        assert err is None, err
        assert partition == placed_by_rest[key], key


def test_rest_records_are_read_in_order_by_confluent_kafka(api, ferry_server):
    t = unique("t")
    api.create_topic(t, partitions=2)
    values = [f"r{i}" for i in range(50)]
    api.produce(t, [{"key": "k", "value": v, "headers": {"seq": str(i)}, "partition": 1} for i, v in enumerate(values)])
    consumer = Consumer({"bootstrap.servers": ferry_server.kafka_bootstrap, "group.id": unique("g-assign"),
                         "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(t, 1, 0)])
        got = []
        deadline = time.monotonic() + 20
        while len(got) < len(values) and time.monotonic() < deadline:
            msg = consumer.poll(1)
            if msg is None:
                continue
            assert msg.error() is None, msg.error()
            got.append(msg)
    finally:
        consumer.close()
    assert [m.value().decode() for m in got] == values
    assert [m.offset() for m in got] == list(range(50))
    assert all(m.key() == b"k" for m in got)
    assert got[9].headers() == [("seq", b"9")]


def test_kafka_records_are_read_over_rest_with_keys_and_headers(api, ferry_server):
    t = unique("t")
    api.create_topic(t)
    producer = KafkaProducer(bootstrap_servers=ferry_server.kafka_bootstrap)
    try:
        for i in range(5):
            producer.send(t, key=f"k{i}".encode(), value=f"v{i}".encode(), headers=[("n", str(i).encode())],
                          partition=0)
        producer.flush(30)
    finally:
        producer.close()
    records = api.read(t)["records"]
    assert [(r["offset"], r["key"], r["value"], r["headers"]) for r in records] == [
        (i, f"k{i}", f"v{i}", {"n": str(i)}) for i in range(5)
    ]


def test_read_by_timestamp_starts_at_the_first_record_at_or_after_it(api):
    t = unique("t")
    api.create_topic(t)
    for i in range(3):
        api.produce(t, [{"value": f"a{i}"}])
    time.sleep(0.02)
    api.produce(t, [{"value": "b0"}, {"value": "b1"}])
    records = api.read(t)["records"]
    b_ts = records[3]["timestamp_ms"]
    assert records[2]["timestamp_ms"] < b_ts
    from_b = api.read(t, timestamp_ms=b_ts)["records"]
    assert [r["value"] for r in from_b] == ["b0", "b1"]
    assert [r["value"] for r in api.read(t, timestamp_ms=0)["records"]] == ["a0", "a1", "a2", "b0", "b1"]
    after_all = api.read(t, timestamp_ms=b_ts + 60_000)
    assert after_all["records"] == [] and after_all["next_offset"] == 5


def test_a_compacted_topic_refuses_records_without_a_key(api):
    t = unique("t-compact")
    api.create_topic(t, cleanup_policy="compact")
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "no key"}]}), 400, "key_required")
    assert api.produce(t, [{"key": "k", "value": "keyed"}])[0]["offset"] == 0


def test_a_record_over_max_message_bytes_is_413(api):
    t = unique("t-small")
    api.create_topic(t, max_message_bytes=1024)
    assert_error(api.post(f"/topics/{t}/records", {"records": [{"value": "x" * 2000}]}), 413, "message_too_large")
    assert api.ok("GET", f"/topics/{t}", 200)["partitions"][0]["end_offset"] == 0
