"""`ferry topic …`, `ferry produce`, `ferry consume` and `ferry group …` against a running broker."""

import signal
import subprocess
import time

from cli_helpers import FERRY_BIN


def partitions(ferry, topic):
    return ferry("topic", "describe", topic, "-o", "json").json()["partitions"]


def test_topic_create_list_describe_alter_delete(ferry, name):
    assert ferry("topic", "create", name, "--partitions", "2").stdout.strip() == f"created topic {name} (2 partitions)"
    listed = ferry("topic", "list", "-o", "json").json()
    mine = [t for t in listed if t["name"] == name]
    assert len(mine) == 1 and mine[0]["partitions"] == 2
    table = ferry("topic", "list").stdout.splitlines()
    assert table[0].split() == ["NAME", "PARTITIONS", "RECORDS", "BYTES"]
    assert any(line.split()[:2] == [name, "2"] for line in table[1:])

    assert [p["partition"] for p in partitions(ferry, name)] == [0, 1]
    human = ferry("topic", "describe", name).stdout
    assert "partitions:" in human and "END_OFFSET" in human

    ferry("topic", "alter", name, "--partitions", "3")
    assert len(partitions(ferry, name)) == 3
    ferry("topic", "alter", name, "--config", "retention_ms=3600000")
    config = ferry("topic", "describe", name, "-o", "json").json()["config"]
    assert config["retention_ms"] == 3600000

    ferry("topic", "delete", name)
    gone = ferry("topic", "describe", name, expect=1)
    assert "not_found" in gone.stderr


def test_topic_create_with_config(ferry, name):
    ferry("topic", "create", name, "--config", "retention_ms=60000", "--config", "cleanup_policy=compact")
    config = ferry("topic", "describe", name, "-o", "json").json()["config"]
    assert config["retention_ms"] == 60000
    assert config["cleanup_policy"] == "compact"


def test_produce_then_consume_lines(ferry, name):
    ferry("topic", "create", name)
    produced = ferry("produce", name, input="a\nb\nc\n")
    assert produced.stdout.startswith(f"produced 3 records to {name}")
    assert ferry("consume", name, "--from-beginning").stdout == "a\nb\nc\n"
    assert ferry("consume", name, "--offset", "1").stdout == "b\nc\n"
    assert ferry("consume", name, "--from-beginning", "--max", "2").stdout == "a\nb\n"
    assert ferry("consume", name, "--timestamp", "0").stdout == "a\nb\nc\n"
    future = str(int(time.time() * 1000) + 3_600_000)
    assert ferry("consume", name, "--timestamp", future).stdout == ""

    from_end = ferry("consume", name)
    assert from_end.stdout == ""
    assert "--from-beginning" in from_end.stderr

    records = ferry("consume", name, "--from-beginning", "-o", "json").json_lines()
    assert [(r["offset"], r["value"]) for r in records] == [(0, "a"), (1, "b"), (2, "c")]


def test_produce_json_lines_with_keys_and_headers(ferry, name):
    ferry("topic", "create", name)
    lines = '{"key": "k1", "value": "v1", "headers": {"h": "1"}}\n{"value": {"n": 2}}\n\n[3]\n'
    answer = ferry("produce", name, "--json", "-H", "src=cli", "-o", "json", input=lines).json()
    assert [o["offset"] for o in answer["offsets"]] == [0, 1, 2]
    records = ferry("consume", name, "--from-beginning", "-o", "json").json_lines()
    assert records[0]["key"] == "k1"
    assert records[0]["value"] == "v1"
    assert records[0]["headers"] == {"h": "1", "src": "cli"}
    assert records[1]["value"] == '{"n":2}'
    assert records[2]["value"] == "[3]"


def test_produce_key_and_partition_flags(ferry, name):
    ferry("topic", "create", name, "-p", "3")
    ferry("produce", name, "--partition", "2", "--key", "k", input="x\ny\n")
    ends = {p["partition"]: p["end_offset"] for p in partitions(ferry, name)}
    assert ends == {0: 0, 1: 0, 2: 2}
    records = ferry("consume", name, "--from-beginning", "--partition", "2", "-o", "json").json_lines()
    assert [(r["partition"], r["key"], r["value"]) for r in records] == [(2, "k", "x"), (2, "k", "y")]
    assert ferry("consume", name, "--from-beginning", "--partition", "0").stdout == ""


def test_dotted_names_are_one_path_segment(ferry, name):
    topic = name + ".events.v1"
    assert ferry("topic", "create", topic).stdout.strip() == f"created topic {topic} (1 partition)"
    ferry("produce", topic, input="x\n")
    assert ferry("consume", topic, "--from-beginning").stdout == "x\n"


def test_a_reader_that_goes_away_ends_consume_quietly(ferry_server, name):
    topic = name
    subprocess.run([FERRY_BIN, "topic", "create", topic, "--url", ferry_server.http_url], check=True, capture_output=True)
    lines = "".join(f"line {i}\n" for i in range(5000))
    subprocess.run([FERRY_BIN, "produce", topic, "--url", ferry_server.http_url], input=lines, text=True, check=True, capture_output=True)
    consume = subprocess.Popen(
        [FERRY_BIN, "consume", topic, "--from-beginning", "--url", ferry_server.http_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert consume.stdout.readline() == b"line 0\n"
    consume.stdout.close()
    _, stderr = consume.communicate(timeout=30)
    assert consume.returncode == 0
    assert b"panicked" not in stderr


def test_consume_follow_prints_records_as_they_arrive(ferry, ferry_server, name):
    ferry("topic", "create", name)
    ferry("produce", name, input="before\n")
    follower = subprocess.Popen(
        [FERRY_BIN, "consume", name, "--from-beginning", "--follow", "--url", ferry_server.http_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout.readline() == "before\n"
        ferry("produce", name, input="after\n")
        assert follower.stdout.readline() == "after\n"
        assert follower.poll() is None
    finally:
        # SIGTERM, not SIGINT: a suite started in the background inherits SIGINT ignored.
        follower.send_signal(signal.SIGTERM)
        follower.wait(timeout=10)


def test_consume_with_a_group_resumes_where_it_stopped(ferry, name):
    topic, group = name, name + "-g"
    ferry("topic", "create", topic)
    ferry("produce", topic, input="a\nb\nc\n")
    assert ferry("consume", topic, "--group", group, "--from-beginning", "--max", "2").stdout == "a\nb\n"
    assert ferry("consume", topic, "--group", group).stdout == "c\n"
    assert ferry("consume", topic, "--group", group).stdout == ""

    offsets = ferry("group", "describe", group, "-o", "json").json()["offsets"]
    assert [(o["topic"], o["partition"], o["committed_offset"], o["lag"]) for o in offsets] == [(topic, 0, 3, 0)]
    assert group in [g["group_id"] for g in ferry("group", "list", "-o", "json").json()]
    assert any(line.split()[0] == group for line in ferry("group", "list").stdout.splitlines()[1:])
    assert "committed_offset" in ferry("group", "describe", group).stdout.lower()


def test_group_reset_offsets(ferry, name):
    topic, group = name, name + "-g"
    ferry("topic", "create", topic)
    ferry("produce", topic, input="a\nb\nc\n")
    ferry("consume", topic, "--group", group, "--from-beginning")

    def committed():
        offsets = ferry("group", "describe", group, "-o", "json").json()["offsets"]
        return [o["committed_offset"] for o in offsets if o["topic"] == topic]

    assert committed() == [3]
    ferry("group", "reset-offsets", group, "--topic", topic, "--to-earliest")
    assert committed() == [0]
    ferry("group", "reset-offsets", group, "--topic", topic, "--to-offset", "2", "-o", "json")
    assert committed() == [2]
    assert ferry("consume", topic, "--group", group).stdout == "c\n"
    ferry("group", "reset-offsets", group, "--topic", topic, "--to-timestamp", "0")
    assert committed() == [0]
    table = ferry("group", "reset-offsets", group, "--topic", topic, "--to-latest").stdout
    assert table.splitlines()[0].split() == ["TOPIC", "PARTITION", "OFFSET"]
    assert committed() == [3]

    usage = ferry("group", "reset-offsets", group, "--topic", topic, expect=2)
    assert "--to-earliest" in usage.stderr

    ferry("group", "delete", group)
    assert group not in [g["group_id"] for g in ferry("group", "list", "-o", "json").json()]
