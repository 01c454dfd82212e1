"""`ferry queue …`, `ferry send` and `ferry receive` against a running broker."""

import base64
import time


def queue_stats(ferry, queue):
    """The figures of a queue as `queue describe -o json` gives them."""
    described = ferry("queue", "describe", queue, "-o", "json").json()
    assert described["name"] == queue
    return described["stats"]


def test_create_list_describe_delete(ferry, name):
    created = ferry("queue", "create", name)
    assert created.stdout.strip() == f"created queue {name}"

    listed = ferry("queue", "list", "-o", "json").json()
    assert name in [q["name"] for q in listed]
    table = ferry("queue", "list", "--prefix", name).stdout.splitlines()
    assert table[0].split()[:3] == ["NAME", "READY", "IN_FLIGHT"]
    assert [line.split()[0] for line in table[1:]] == [name]

    described = ferry("queue", "describe", name, "-o", "json").json()
    assert described["name"] == name
    assert "settings" in described
    human = ferry("queue", "describe", name).stdout
    assert "name" in human and name in human

    deleted = ferry("queue", "delete", name, "-o", "json")
    assert deleted.json() == {}
    gone = ferry("queue", "describe", name, expect=1)
    assert "not_found" in gone.stderr


def test_create_with_settings_and_alter(ferry, name):
    dlq = name + "-dlq"
    ferry("queue", "create", dlq)
    answer = ferry(
        "queue", "create", name,
        "--visibility-timeout-ms", "5000",
        "--max-deliveries", "3",
        "--dead-letter-queue", dlq,
        "-o", "json",
    ).json()
    assert answer["name"] == name
    settings = ferry("queue", "describe", name, "-o", "json").json()["settings"]
    assert settings["visibility_timeout_ms"] == 5000
    assert settings["max_deliveries"] == 3
    assert settings["dead_letter_queue"] == dlq

    ferry("queue", "alter", name, "--visibility-timeout-ms", "7000")
    settings = ferry("queue", "describe", name, "-o", "json").json()["settings"]
    assert settings["visibility_timeout_ms"] == 7000
    assert settings["max_deliveries"] == 3


def test_send_receive_round_trip_empties_the_queue(ferry, name):
    ferry("queue", "create", name)
    sent = ferry("send", name, "hello", "-o", "json").json()
    assert sent["message_id"]
    ferry("send", name, input="from stdin\n")
    assert queue_stats(ferry, name)["ready"] == 2

    received = ferry("receive", name, "--max", "10", "--wait-ms", "1000", "-o", "json").json()
    bodies = sorted(m["body"] for m in received["messages"])
    assert bodies == ["from stdin", "hello"]

    again = ferry("receive", name, "-o", "json").json()
    assert again["messages"] == []
    stats = queue_stats(ferry, name)
    assert (stats["ready"], stats["in_flight"]) == (0, 0)


def test_receive_prints_a_table_for_people(ferry, name):
    ferry("queue", "create", name)
    ferry("send", name, "hi there", "-H", "trace=abc")
    out = ferry("receive", name).stdout.splitlines()
    assert out[0].split() == ["MESSAGE_ID", "DELIVERIES", "HEADERS", "BODY"]
    assert out[1].endswith("hi there")
    assert "trace=abc" in out[1]
    empty = ferry("receive", name)
    assert empty.stdout == ""
    assert "no message" in empty.stderr


def test_send_options_reach_the_message(ferry, name):
    ferry("queue", "create", name)
    ferry("send", name, "with headers", "--header", "a=1", "-H", "b=x=y")
    message = ferry("receive", name, "-o", "json").json()["messages"][0]
    assert message["headers"] == {"a": "1", "b": "x=y"}
    assert message["delivery_count"] == 1

    ferry("send", name, "later", "--delay-ms", "60000")
    assert ferry("receive", name, "-o", "json").json()["messages"] == []
    assert queue_stats(ferry, name)["delayed"] == 1


def test_send_binary_stdin_round_trips_as_base64(ferry, name):
    ferry("queue", "create", name)
    data = bytes([0xFF, 0x00, 0x80, 0x0A])
    ferry("send", name, input=data)
    message = ferry("receive", name, "-o", "json").json()["messages"][0]
    assert base64.b64decode(message["body_base64"]) == data
    assert "body" not in message or message["body"] is None


def test_fifo_send_with_group_and_dedup(ferry, name):
    queue = name + ".fifo"
    ferry("queue", "create", queue, "--fifo")
    ferry("send", queue, "one", "--group-id", "g1", "--dedup-id", "d1")
    ferry("send", queue, "one again", "--group-id", "g1", "--dedup-id", "d1")
    messages = ferry("receive", queue, "--max", "10", "-o", "json").json()["messages"]
    assert [m["body"] for m in messages] == ["one"]


def test_no_ack_leaves_the_message_leased(ferry, name):
    ferry("queue", "create", name)
    ferry("send", name, "keep me")
    out = ferry("receive", name, "--no-ack").stdout.splitlines()
    assert out[0].split()[-1] == "RECEIPT"
    stats = queue_stats(ferry, name)
    assert (stats["ready"], stats["in_flight"]) == (0, 1)


def test_nack_returns_and_reject_dead_letters(ferry, name):
    dlq = name + "-dlq"
    ferry("queue", "create", dlq)
    ferry("queue", "create", name, "--dead-letter-queue", dlq)
    ferry("send", name, "bad")
    ferry("receive", name, "--nack")
    message = ferry("receive", name, "--reject", "-o", "json").json()["messages"][0]
    assert (message["body"], message["delivery_count"]) == ("bad", 2)
    assert queue_stats(ferry, name)["ready"] == 0
    assert queue_stats(ferry, dlq)["ready"] == 1
    ferry("receive", name, "--nack", "--reject", expect=2)


def test_purge(ferry, name):
    ferry("queue", "create", name)
    for i in range(3):
        ferry("send", name, f"m{i}")
    assert queue_stats(ferry, name)["ready"] == 3
    assert ferry("queue", "purge", name).stdout.strip() == f"purged queue {name}"
    assert queue_stats(ferry, name)["ready"] == 0


def test_redrive_moves_dead_letters_back(ferry, name):
    dlq = name + "-dlq"
    ferry("queue", "create", dlq)
    ferry("queue", "create", name, "--dead-letter-queue", dlq, "--max-deliveries", "1")
    ferry("send", name, "poison")
    ferry("receive", name, "--no-ack", "--lease-ms", "100")
    # The lease ends; the next receive finds the message past its deliveries and dead-letters it.
    deadline = time.monotonic() + 10
    while queue_stats(ferry, dlq)["ready"] < 1:
        assert time.monotonic() < deadline, "the message never reached the dead-letter queue"
        ferry("receive", name, "--no-ack", "--wait-ms", "200")
    redriven = ferry("queue", "redrive", dlq, "-o", "json").json()
    assert "handle" in redriven or "moved" in redriven
    deadline = time.monotonic() + 10
    while queue_stats(ferry, name)["ready"] < 1:
        assert time.monotonic() < deadline, "the redrive never moved the message back"
        time.sleep(0.1)
    assert queue_stats(ferry, dlq)["ready"] == 0


def test_peek_leaves_messages_ready(ferry, name):
    ferry("queue", "create", name)
    ferry("send", name, "look at me")
    out = ferry("queue", "peek", name).stdout.splitlines()
    assert out[0].split() == ["MESSAGE_ID", "DELIVERIES", "HEADERS", "BODY"]
    assert out[1].endswith("look at me")
    ferry("queue", "peek", name, "-o", "json").json()
    stats = queue_stats(ferry, name)
    assert (stats["ready"], stats["in_flight"]) == (1, 0)
