"""`/api/v1/queues` against the real server: every endpoint and its errors, and the properties a
user relies on across protocols (a message sent over REST is received by boto3 and pika, one sent
with boto3 is received over REST; leases, ack, nack, dead-lettering, redrive, peek, FIFO)."""

import base64
import threading
import time
import urllib.parse

import boto3
import pytest

from api_helpers import Api, amqp_connection, assert_error, unique, wait_until


@pytest.fixture
def api(ferry_server):
    return Api(ferry_server)


@pytest.fixture
def sqs(ferry_server):
    return boto3.client(
        "sqs",
        endpoint_url=ferry_server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


# Create, describe, list, change, delete.


def test_create_describe_and_delete_a_queue(api):
    name = unique("q")
    created = api.create_queue(name, visibility_timeout_ms=5000, max_deliveries=3)
    assert created["name"] == name
    assert created["settings"]["visibility_timeout_ms"] == 5000
    assert created["settings"]["max_deliveries"] == 3
    assert created["settings"]["fifo"] is False
    assert created["stats"]["ready"] == 0 and created["stats"]["in_flight"] == 0
    assert created["dead_letter_sources"] == []

    described = api.queue(name)
    assert described["settings"] == created["settings"]

    assert api.delete(f"/queues/{name}").status_code == 204
    assert_error(api.get(f"/queues/{name}"), 404, "queue_not_found")
    assert_error(api.delete(f"/queues/{name}"), 404, "queue_not_found")


def test_creating_a_queue_twice_is_200_with_the_same_settings_and_409_with_others(api):
    name = unique("q-twice")
    api.create_queue(name, visibility_timeout_ms=7000)
    again = api.post("/queues", {"name": name, "settings": {"visibility_timeout_ms": 7000}})
    assert again.status_code == 200, again.text
    assert again.json()["name"] == name
    assert_error(api.post("/queues", {"name": name, "settings": {"visibility_timeout_ms": 8000}}), 409, "already_exists")


@pytest.mark.parametrize("name", ["has space", "a/b", "x" * 256, "", ".."])
def test_an_invalid_queue_name_is_400(api, name):
    assert_error(api.post("/queues", {"name": name}), 400, "invalid_name")


def test_create_refuses_bad_bodies(api):
    assert_error(api.post("/queues", data="{not json", headers={"Content-Type": "application/json"}), 400, "invalid_body")
    assert_error(api.post("/queues", {"name": unique("q"), "colour": "red"}), 400, "invalid_body")
    assert_error(api.post("/queues", {"name": unique("q"), "settings": {"visibility": 1}}), 400, "invalid_body")
    assert_error(api.post("/queues", {"name": unique("q"), "settings": {"visibility_timeout_ms": -1}}), 400, "invalid_body")
    assert_error(api.post("/queues", {}), 400, "invalid_body")
    assert_error(
        api.post("/queues", data='{"name": "x"}', headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"
    )


def test_a_dead_letter_queue_must_exist(api):
    message = assert_error(
        api.post("/queues", {"name": unique("q"), "settings": {"dead_letter_queue": unique("nowhere")}}),
        400,
        "invalid_settings",
    )
    assert "create" in message


def test_patch_changes_only_the_settings_given(api):
    name = unique("q-patch")
    api.create_queue(name, visibility_timeout_ms=5000, delay_ms=0)
    changed = api.ok("PATCH", f"/queues/{name}", 200, json={"settings": {"delay_ms": 250}})
    assert changed["settings"]["delay_ms"] == 250
    assert changed["settings"]["visibility_timeout_ms"] == 5000
    assert api.queue(name)["settings"]["delay_ms"] == 250


def test_patch_errors(api):
    name = unique("q-patch")
    api.create_queue(name)
    for settings in (
        {"visibility_timeout_ms": 12 * 3600 * 1000 + 1},
        {"delay_ms": 7 * 86400 * 1000 + 1},
        {"receive_wait_ms": 20001},
    ):
        assert_error(api.patch(f"/queues/{name}", {"settings": settings}), 400, "invalid_settings")
    assert_error(api.patch(f"/queues/{name}", {"settings": {"fifo": True}}), 400, "invalid_settings")
    assert_error(api.patch(f"/queues/{name}", {"settings": {"dead_letter_queue": unique("none")}}), 400, "invalid_settings")
    assert_error(api.patch(f"/queues/{name}", {"settings": {"nope": 1}}), 400, "invalid_body")
    assert_error(api.patch(f"/queues/{unique('none')}", {"settings": {"delay_ms": 1}}), 404, "queue_not_found")
    # fifo given unchanged is accepted.
    assert api.patch(f"/queues/{name}", {"settings": {"fifo": False}}).status_code == 200


def test_list_pages_over_many_queues(api):
    prefix = unique("page") + "-"
    names = sorted(f"{prefix}{i:02}" for i in range(25))
    for name in names:
        api.create_queue(name)
    seen, after, pages = [], None, 0
    while True:
        params = {"prefix": prefix, "limit": 10}
        if after:
            params["after"] = after
        page = api.ok("GET", "/queues", 200, params=params)
        pages += 1
        assert len(page["items"]) <= 10
        seen += [q["name"] for q in page["items"]]
        after = page["next"]
        if after is None:
            break
        assert after == page["items"][-1]["name"]
    assert seen == names
    assert pages == 3
    one = api.ok("GET", "/queues", 200, params={"prefix": prefix, "limit": 1000})
    assert [q["name"] for q in one["items"]] == names and one["next"] is None
    item = one["items"][0]
    assert set(item) >= {"name", "fifo", "durable", "ready", "in_flight", "delayed", "ready_bytes",
                         "oldest_ready_age_ms", "dead_letter_queue"}


@pytest.mark.parametrize("limit", ["0", "1001", "-1"])
def test_list_limit_out_of_range_is_400(api, limit):
    assert_error(api.get("/queues", params={"limit": limit}), 400, "invalid_limit")


def test_list_limit_not_a_number_is_400(api):
    assert_error(api.get("/queues", params={"limit": "ten"}), 400, "invalid_query")


def test_unknown_queue_is_404_on_every_endpoint(api):
    q = unique("ghost")
    assert_error(api.get(f"/queues/{q}"), 404, "queue_not_found")
    assert_error(api.post(f"/queues/{q}/messages", {"body": "x"}), 404, "queue_not_found")
    assert_error(api.get(f"/queues/{q}/messages"), 404, "queue_not_found")
    assert_error(api.post(f"/queues/{q}/receive", {}), 404, "queue_not_found")
    assert_error(api.post(f"/queues/{q}/purge"), 404, "queue_not_found")
    assert_error(api.post(f"/queues/{q}/redrive", {}), 404, "queue_not_found")


# Send, peek, receive, ack, nack.


def test_send_errors(api):
    q = unique("q-send")
    api.create_queue(q, max_message_bytes=1024)
    assert_error(api.post(f"/queues/{q}/messages", {}), 400, "invalid_body")
    assert_error(api.post(f"/queues/{q}/messages", {"body": "a", "body_base64": "YQ=="}), 400, "invalid_body")
    assert_error(api.post(f"/queues/{q}/messages", {"body_base64": "!!not base64"}), 400, "invalid_body")
    assert_error(api.post(f"/queues/{q}/messages", {"body": "a", "headers": {"n": 1}}), 400, "invalid_body")
    assert_error(api.post(f"/queues/{q}/messages", {"body": "x" * 2000}), 413, "message_too_large")
    assert_error(api.post(f"/queues/{q}/messages", {"body": "a", "delay_ms": 8 * 24 * 3600 * 1000}), 400, "invalid_message")
    assert_error(
        api.post(f"/queues/{q}/messages", data="body", headers={"Content-Type": "text/plain"}), 415, "unsupported_media_type"
    )


def test_send_then_receive_then_ack(api):
    q = unique("q-rt")
    api.create_queue(q)
    sent = api.send(q, "hello", headers={"kind": "greeting"})
    assert sent["message_id"] and sent["duplicate"] is False
    assert api.queue(q)["stats"]["ready"] == 1

    m = api.receive_one(q)
    assert m["message_id"] == sent["message_id"]
    assert m["body"] == "hello"
    assert base64.b64decode(m["body_base64"]) == b"hello"
    assert m["headers"] == {"kind": "greeting"}
    assert m["delivery_count"] == 1
    assert m["receipt"]
    assert abs(m["enqueued_at_ms"] - time.time() * 1000) < 60_000
    stats = api.queue(q)["stats"]
    assert (stats["ready"], stats["in_flight"]) == (0, 1)

    assert api.ack(q, m["receipt"]).status_code == 204
    stats = api.queue(q)["stats"]
    assert (stats["ready"], stats["in_flight"], stats["acked_total"]) == (0, 0, 1)
    assert api.receive(q) == []


def test_binary_bodies_travel_as_base64(api):
    q = unique("q-bin")
    api.create_queue(q)
    raw = bytes([0, 0xFF, 0xFE, 10])
    api.ok("POST", f"/queues/{q}/messages", 201, json={"body_base64": base64.b64encode(raw).decode()})
    m = api.receive_one(q)
    assert m["body"] is None
    assert base64.b64decode(m["body_base64"]) == raw


@pytest.mark.parametrize(
    "body,code",
    [({"max": 0}, "invalid_max"), ({"max": 101}, "invalid_max"), ({"wait_ms": 20001}, "invalid_wait"),
     ({"lease_ms": 12 * 3600 * 1000 + 1}, "invalid_lease")],
)
def test_receive_refuses_out_of_range_fields(api, body, code):
    q = unique("q-recv")
    api.create_queue(q)
    assert_error(api.post(f"/queues/{q}/receive", body), 400, code)


def test_receive_returns_at_most_max(api):
    q = unique("q-max")
    api.create_queue(q)
    for i in range(5):
        api.send(q, f"m{i}")
    got = api.receive(q, max=3)
    assert len(got) == 3
    got += api.receive(q, max=100)
    assert sorted(m["body"] for m in got) == [f"m{i}" for i in range(5)]


def test_an_empty_receive_body_uses_the_defaults(api):
    q = unique("q-empty")
    api.create_queue(q)
    api.send(q, "x")
    response = api.post(f"/queues/{q}/receive")  # no body at all
    assert response.status_code == 200, response.text
    assert [m["body"] for m in response.json()["messages"]] == ["x"]


def test_a_lease_hides_the_message_until_it_ends(api):
    q = unique("q-lease")
    api.create_queue(q)
    api.send(q, "leased")
    first = api.receive(q, lease_ms=500)
    assert len(first) == 1
    started = time.monotonic()
    assert api.receive(q) == []
    again = api.receive_one(q, timeout_s=5)
    assert time.monotonic() - started >= 0.3
    assert again["message_id"] == first[0]["message_id"]
    assert again["delivery_count"] == 2
    assert again["receipt"] != first[0]["receipt"]
    # The first receipt belongs to a delivery that is over.
    assert_error(api.ack(q, first[0]["receipt"]), 409, "receipt_expired")
    assert api.ack(q, again["receipt"]).status_code == 204


def test_ack_errors(api):
    q = unique("q-ack")
    api.create_queue(q)
    assert_error(api.ack(q, "not-a-receipt"), 400, "invalid_receipt")
    assert_error(api.post(f"/queues/{q}/ack", {}), 400, "invalid_body")
    assert_error(api.ack(unique("ghost"), "not-a-receipt"), 400, "invalid_receipt")
    api.send(q, "x")
    m = api.receive_one(q)
    assert_error(api.ack(unique("ghost"), m["receipt"]), 404, "queue_not_found")
    assert api.ack(q, m["receipt"]).status_code == 204
    # Acked twice: acks are idempotent, as SQS's DeleteMessage is; the message stays gone.
    assert api.ack(q, m["receipt"]).status_code == 204
    stats = api.queue(q)["stats"]
    assert (stats["ready"], stats["in_flight"]) == (0, 0)
    # A receipt of another queue is refused.
    other = unique("q-ack-other")
    api.create_queue(other)
    api.send(other, "y")
    theirs = api.receive_one(other)
    assert_error(api.ack(q, theirs["receipt"]), 400, "invalid_receipt")


def test_acking_twice_counts_one_ack(api):
    q = unique("q-ack-count")
    api.create_queue(q)
    api.send(q, "x")
    m = api.receive_one(q)
    assert api.ack(q, m["receipt"]).status_code == 204
    assert api.ack(q, m["receipt"]).status_code == 204
    assert api.queue(q)["stats"]["acked_total"] == 1


def test_nack_requeue_makes_the_message_receivable_again(api):
    q = unique("q-nack")
    api.create_queue(q)
    api.send(q, "again")
    m = api.receive_one(q)
    assert api.post(f"/queues/{q}/nack", {"receipt": m["receipt"]}).status_code == 204
    again = api.receive_one(q)
    assert again["message_id"] == m["message_id"]
    assert again["delivery_count"] == 2
    assert api.queue(q)["stats"]["nacked_total"] >= 1
    assert_error(api.post(f"/queues/{q}/nack", {"receipt": m["receipt"]}), 409, "receipt_expired")
    assert_error(api.post(f"/queues/{q}/nack", {"receipt": "bogus"}), 400, "invalid_receipt")
    assert_error(
        api.post(f"/queues/{q}/nack", {"receipt": again["receipt"], "requeue": False, "delay_ms": 10}), 400, "invalid_nack"
    )
    assert_error(
        api.post(f"/queues/{q}/nack", {"receipt": again["receipt"], "delay_ms": 8 * 24 * 3600 * 1000}), 400, "invalid_nack"
    )


def test_nack_with_a_delay_holds_the_message_back(api):
    q = unique("q-nack-delay")
    api.create_queue(q)
    api.send(q, "later")
    m = api.receive_one(q)
    assert api.post(f"/queues/{q}/nack", {"receipt": m["receipt"], "delay_ms": 400}).status_code == 204
    assert api.receive(q) == []
    assert api.receive_one(q, timeout_s=5)["message_id"] == m["message_id"]


def test_nack_without_requeue_dead_letters_and_redrive_moves_it_back(api):
    dlq = unique("q-dlq")
    source = unique("q-src")
    api.create_queue(dlq)
    created = api.create_queue(source, dead_letter_queue=dlq)
    assert created["settings"]["dead_letter_queue"] == dlq
    assert api.queue(dlq)["dead_letter_sources"] == [source]
    listed = api.ok("GET", "/queues", 200, params={"prefix": source})["items"]
    assert listed[0]["dead_letter_queue"] == dlq

    api.send(source, "poison", headers={"h": "v"})
    m = api.receive_one(source)
    assert api.post(f"/queues/{source}/nack", {"receipt": m["receipt"], "requeue": False}).status_code == 204
    wait_until(lambda: api.queue(dlq)["stats"]["ready"] == 1, what="the dead-lettered message")
    assert api.queue(source)["stats"]["dead_lettered_total"] == 1
    assert api.queue(source)["stats"]["ready"] == 0
    [dead] = api.ok("GET", f"/queues/{dlq}/messages", 200)["messages"]
    assert dead["body"] == "poison"

    redrive = api.ok("POST", f"/queues/{dlq}/redrive", 202, json={})
    assert redrive["handle"] and redrive["status"] in {"running", "completed"}
    assert redrive["total"] == 1
    wait_until(lambda: api.queue(source)["stats"]["ready"] == 1, what="the redriven message")
    assert api.queue(dlq)["stats"]["ready"] == 0
    back = api.receive_one(source)
    assert back["body"] == "poison"
    assert back["headers"]["h"] == "v"


def test_redrive_to_a_destination(api):
    dlq, source, other = unique("q-dlq"), unique("q-src"), unique("q-other")
    api.create_queue(dlq)
    api.create_queue(source, dead_letter_queue=dlq)
    api.create_queue(other)
    api.send(source, "p")
    m = api.receive_one(source)
    api.ok("POST", f"/queues/{source}/nack", 204, json={"receipt": m["receipt"], "requeue": False})
    wait_until(lambda: api.queue(dlq)["stats"]["ready"] == 1)
    assert_error(api.post(f"/queues/{dlq}/redrive", {"destination": unique("none")}), 404, "queue_not_found")
    assert_error(api.post(f"/queues/{dlq}/redrive", {"to": other}), 400, "invalid_body")
    api.ok("POST", f"/queues/{dlq}/redrive", 202, json={"destination": other})
    wait_until(lambda: api.queue(other)["stats"]["ready"] == 1, what="the message in the destination")
    assert api.queue(source)["stats"]["ready"] == 0


def test_nack_without_requeue_and_without_dead_letter_queue_drops(api):
    q = unique("q-drop")
    api.create_queue(q)
    api.send(q, "bye")
    m = api.receive_one(q)
    api.ok("POST", f"/queues/{q}/nack", 204, json={"receipt": m["receipt"], "requeue": False})
    stats = api.queue(q)["stats"]
    assert (stats["ready"], stats["in_flight"]) == (0, 0)


def test_peek_does_not_lease_or_count_deliveries(api):
    q = unique("q-peek")
    api.create_queue(q)
    for i in range(3):
        api.send(q, f"p{i}")
    for _ in range(2):
        peeked = api.ok("GET", f"/queues/{q}/messages", 200, params={"limit": 2})["messages"]
        assert [m["body"] for m in peeked] == ["p0", "p1"]
        assert [(m["receipt"], m["delivery_count"]) for m in peeked] == [(None, 0), (None, 0)]
    stats = api.queue(q)["stats"]
    assert (stats["ready"], stats["in_flight"], stats["delivered_total"]) == (3, 0, 0)
    got = api.receive(q, max=10)
    assert [m["delivery_count"] for m in got] == [1, 1, 1]
    assert api.ok("GET", f"/queues/{q}/messages", 200)["messages"] == []


@pytest.mark.parametrize("limit", ["0", "101"])
def test_peek_limit_out_of_range_is_400(api, limit):
    q = unique("q-peek")
    api.create_queue(q)
    assert_error(api.get(f"/queues/{q}/messages", params={"limit": limit}), 400, "invalid_limit")


def test_purge_removes_ready_messages(api):
    q = unique("q-purge")
    api.create_queue(q)
    for i in range(4):
        api.send(q, f"m{i}")
    assert api.post(f"/queues/{q}/purge").status_code == 204
    wait_until(lambda: api.queue(q)["stats"]["ready"] == 0, what="the purge")
    assert api.receive(q) == []


def test_delayed_messages_count_as_delayed(api):
    q = unique("q-delay")
    api.create_queue(q)
    api.send(q, "soon", delay_ms=400)
    stats = api.queue(q)["stats"]
    assert (stats["ready"], stats["delayed"]) == (0, 1)
    assert api.receive(q) == []
    assert api.receive_one(q, timeout_s=5)["body"] == "soon"


# FIFO.


def test_fifo_keeps_order_per_group_and_deduplicates(api):
    q = unique("q") + ".fifo"
    created = api.create_queue(q, fifo=True)
    assert created["settings"]["fifo"] is True
    assert_error(api.post(f"/queues/{q}/messages", {"body": "no group", "deduplication_id": "d"}), 400, "invalid_message")
    for i in range(4):
        for group in ("a", "b"):
            sent = api.send(q, f"{group}{i}", group_id=group, deduplication_id=f"{group}-{i}")
            assert sent["duplicate"] is False
    dup = api.send(q, "a0 again", group_id="a", deduplication_id="a-0")
    assert dup["duplicate"] is True
    assert api.queue(q)["stats"]["ready"] == 8

    received = []
    deadline = time.monotonic() + 10
    while len(received) < 8 and time.monotonic() < deadline:
        got = api.receive(q, max=10)
        for m in got:
            received.append(m)
            api.ok("POST", f"/queues/{q}/ack", 204, json={"receipt": m["receipt"]})
    for group in ("a", "b"):
        assert [m["body"] for m in received if m["group_id"] == group] == [f"{group}{i}" for i in range(4)]
    assert len(received) == 8


@pytest.mark.parametrize("suffix,fifo", [("", True), (".fifo", False)])
def test_fifo_needs_the_fifo_suffix_and_the_suffix_needs_fifo(api, suffix, fifo):
    response = api.post("/queues", {"name": unique("q-suffix") + suffix, "settings": {"fifo": fifo}})
    assert response.status_code == 400, response.text


def test_fifo_holds_a_group_back_while_its_message_is_leased(api):
    q = unique("q-hold") + ".fifo"
    api.create_queue(q, fifo=True)
    api.send(q, "first", group_id="g", deduplication_id="1")
    api.send(q, "second", group_id="g", deduplication_id="2")
    api.send(q, "other", group_id="h", deduplication_id="3")
    [first] = api.receive(q, max=1)
    assert first["body"] == "first"
    assert [m["body"] for m in api.receive(q, max=10)] == ["other"]
    api.ok("POST", f"/queues/{q}/ack", 204, json={"receipt": first["receipt"]})
    assert [m["body"] for m in api.receive(q, max=10)] == ["second"]


def test_fifo_content_based_dedup(api):
    q = unique("q-cbd") + ".fifo"
    api.create_queue(q, fifo=True, content_based_dedup=True)
    assert api.send(q, "same", group_id="g")["duplicate"] is False
    assert api.send(q, "same", group_id="g")["duplicate"] is True
    assert api.queue(q)["stats"]["ready"] == 1


# Across protocols.


def test_rest_send_is_received_by_boto3_with_headers_as_attributes(api, sqs):
    q = unique("q-x-sqs")
    api.create_queue(q)
    api.send(q, "to sqs", headers={"colour": "blue", "n": "7"})
    url = sqs.get_queue_url(QueueName=q)["QueueUrl"]
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=2)["Messages"]
    assert got[0]["Body"] == "to sqs"
    attributes = got[0]["MessageAttributes"]
    assert attributes["colour"] == {"StringValue": "blue", "DataType": "String"}
    assert attributes["n"]["StringValue"] == "7"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    assert api.queue(q)["stats"]["acked_total"] == 1


def test_boto3_send_is_received_over_rest(api, sqs):
    q = unique("q-from-sqs")
    url = sqs.create_queue(QueueName=q)["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="from sqs",
        MessageAttributes={"who": {"DataType": "String", "StringValue": "boto3"}},
    )
    m = api.receive_one(q)
    assert m["body"] == "from sqs"
    assert m["headers"]["who"] == "boto3"
    assert api.ack(q, m["receipt"]).status_code == 204


def test_rest_send_is_received_by_pika(api, ferry_server):
    q = unique("q-x-amqp")
    api.create_queue(q)
    api.send(q, "to amqp", headers={"k": "v"})
    connection = amqp_connection(ferry_server)
    try:
        channel = connection.channel()
        method, properties, body = channel.basic_get(q, auto_ack=False)
        assert method is not None
        assert body == b"to amqp"
        assert (properties.headers or {}).get("k") in ("v", b"v")
        channel.basic_ack(method.delivery_tag)
    finally:
        connection.close()
    wait_until(lambda: api.queue(q)["stats"]["acked_total"] == 1, what="the AMQP ack")


def test_max_deliveries_dead_letters_a_message_whose_leases_keep_ending(api):
    dlq, source = unique("q-dlq"), unique("q-maxd")
    api.create_queue(dlq)
    api.create_queue(source, dead_letter_queue=dlq, max_deliveries=2)
    api.send(source, "never acked")
    assert api.receive_one(source, lease_ms=200)["delivery_count"] == 1
    assert api.receive_one(source, lease_ms=200)["delivery_count"] == 2
    wait_until(lambda: api.queue(dlq)["stats"]["ready"] == 1, what="the message in the dead-letter queue")
    assert api.receive(source) == []
    assert api.queue(source)["stats"]["dead_lettered_total"] == 1


def test_patch_with_an_empty_dead_letter_queue_removes_it(api):
    dlq, source = unique("q-dlq"), unique("q-src")
    api.create_queue(dlq)
    api.create_queue(source, dead_letter_queue=dlq)
    changed = api.ok("PATCH", f"/queues/{source}", 200, json={"settings": {"dead_letter_queue": ""}})
    assert changed["settings"]["dead_letter_queue"] is None
    assert api.queue(dlq)["dead_letter_sources"] == []


def test_names_are_percent_decoded_path_segments(api):
    name = unique("orders") + ".eu:é"
    api.create_queue(name)
    encoded = urllib.parse.quote(name, safe="")
    assert api.queue(encoded)["name"] == name
    api.send(encoded, "x")
    assert api.ok("GET", "/queues/" + encoded.replace(".", "%2E"), 200)["stats"]["ready"] == 1


def test_a_waiting_receive_returns_when_a_message_arrives(api):
    q = unique("q-wait")
    api.create_queue(q)
    sender = threading.Timer(0.3, lambda: api.send(q, "late"))
    started = time.monotonic()
    sender.start()
    try:
        got = api.receive(q, wait_ms=10_000)
    finally:
        sender.join()
    elapsed = time.monotonic() - started
    assert [m["body"] for m in got] == ["late"]
    assert 0.2 <= elapsed < 5, elapsed


def test_a_priority_queue_delivers_the_highest_priority_first(api):
    q = unique("q-prio")
    api.create_queue(q, max_priority=9)
    for body, priority in (("low", 1), ("high", 9), ("mid", 5)):
        api.send(q, body, priority=priority)
    got = api.receive(q, max=3)
    assert [(m["body"], m["priority"]) for m in got] == [("high", 9), ("mid", 5), ("low", 1)]


def test_a_queue_named_by_a_long_number_pages_like_any_other(api):
    digits = "9" * 20
    api.create_queue(digits)
    page = api.ok("GET", "/queues", 200, params={"prefix": digits, "after": "0" * 20})
    assert [q["name"] for q in page["items"]] == [digits]
    assert_error(api.get("/queues", params={"limit": "9" * 20}), 400, "invalid_query")
