"""The RabbitMQ management API subset, read by the tools that read RabbitMQ's: Flower's broker
tab, `rabbitmqadmin` (when installed) and plain HTTP with basic authentication."""

import asyncio
import base64
import json
import os
import shutil
import subprocess
import urllib.error
import urllib.request
import uuid

import pika
import pytest


def get(server, path, user="guest", password="guest"):
    request = urllib.request.Request(server.http_url + path)
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture
def channel(ferry_server):
    host, port = ferry_server.amqp_address.rsplit(":", 1)
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(host=host, port=int(port), credentials=pika.PlainCredentials("guest", "guest"))
    )
    try:
        yield connection.channel()
    finally:
        connection.close()


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_queues_show_depth_and_unacked_as_rabbitmq_names_them(ferry_server, channel):
    queue = unique("mg-q")
    channel.queue_declare(queue, durable=True, arguments={"x-max-priority": 5, "x-message-ttl": 60000})
    for i in range(4):
        channel.basic_publish("", queue, f"m{i}".encode())
    method, _, _ = channel.basic_get(queue, auto_ack=False)
    assert method is not None

    listed = {q["name"]: q for q in get(ferry_server, "/api/queues")}
    q = listed[queue]
    assert (q["messages"], q["messages_ready"], q["messages_unacknowledged"]) == (4, 3, 1)
    assert q["vhost"] == "/" and q["durable"] is True
    assert q["arguments"]["x-max-priority"] == 5 and q["arguments"]["x-message-ttl"] == 60000

    one = get(ferry_server, f"/api/queues/%2F/{queue}")
    assert one["name"] == queue and one["messages_ready"] == 3
    assert [x["name"] for x in get(ferry_server, "/api/queues/%2F")].count(queue) == 1


def test_exchanges_and_bindings(ferry_server, channel):
    exchange, queue = unique("mg-x"), unique("mg-bq")
    channel.exchange_declare(exchange, "topic", durable=True)
    channel.queue_declare(queue, durable=True)
    channel.queue_bind(queue, exchange, routing_key="orders.*")

    exchanges = {x["name"]: x for x in get(ferry_server, "/api/exchanges")}
    assert exchanges[exchange]["type"] == "topic" and exchanges[exchange]["durable"] is True
    assert get(ferry_server, f"/api/exchanges/%2F/{exchange}")["name"] == exchange
    assert get(ferry_server, "/api/exchanges/%2F/amq.default")["name"] == ""

    bindings = get(ferry_server, "/api/bindings")
    assert {
        "source": exchange,
        "destination": queue,
        "destination_type": "queue",
        "routing_key": "orders.*",
    }.items() <= next(b for b in bindings if b["source"] == exchange and b["destination"] == queue).items()
    # Every queue is bound from the default exchange by its name, as RabbitMQ lists it.
    assert any(b["source"] == "" and b["destination"] == queue and b["routing_key"] == queue for b in bindings)


def test_overview_and_connections(ferry_server, channel):
    overview = get(ferry_server, "/api/overview")
    assert overview["product_name"] == "ferry"
    assert overview["object_totals"]["queues"] >= 0
    assert {"amqp", "kafka", "sqs", "http"} <= {l["protocol"] for l in overview["listeners"]}
    host, port = ferry_server.amqp_address.rsplit(":", 1)
    connections = get(ferry_server, "/api/connections")
    amqp = [c for c in connections if c["protocol"] == "AMQP 0-9-1"]
    assert any(c["port"] == int(port) for c in amqp)


def test_missing_objects_and_vhosts_are_404(ferry_server):
    for path in ("/api/queues/%2F/no-such-queue", "/api/queues/other-vhost", "/api/exchanges/%2F/no-such-x"):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(ferry_server, path)
        assert err.value.code == 404
        assert json.loads(err.value.read())["error"] == "Object Not Found"


def test_basic_authentication_is_required(ferry_server):
    for user, password in ((None, None), ("guest", "wrong"), ("nobody", "guest")):
        with pytest.raises(urllib.error.HTTPError) as err:
            get(ferry_server, "/api/queues", user=user, password=password)
        assert err.value.code == 401
        assert err.value.headers["WWW-Authenticate"].startswith("Basic")


def test_flower_reads_queue_depths(ferry_server, channel):
    from flower.utils.broker import Broker

    queue = unique("mg-flower")
    channel.queue_declare(queue, durable=True)
    for i in range(3):
        channel.basic_publish("", queue, b"task")
    broker_url = f"amqp://guest:guest@{ferry_server.amqp_address}//"
    broker = Broker(broker_url, http_api=ferry_server.http_url.replace("http://", "http://guest:guest@") + "/api/")
    queues = asyncio.run(broker.queues([queue, "absent"]))
    assert [(q["name"], q["messages"], q["messages_ready"], q["messages_unacknowledged"]) for q in queues] == [
        (queue, 3, 3, 0)
    ]


@pytest.mark.skipif(shutil.which("rabbitmqadmin") is None, reason="rabbitmqadmin (Debian's rabbitmq-server) absent")
def test_rabbitmqadmin_lists_queues(ferry_server, channel):
    queue = unique("mg-admin")
    channel.queue_declare(queue, durable=True)
    channel.basic_publish("", queue, b"x")
    host, port = ferry_server.http_url.removeprefix("http://").rsplit(":", 1)
    args = ["rabbitmqadmin", "-H", host, "-P", port, "-u", "guest", "-p", "guest", "-f", "raw_json"]
    out = subprocess.run([*args, "list", "queues"], capture_output=True, text=True, timeout=30, env=dict(os.environ))
    assert out.returncode == 0, out.stderr
    listed = {q["name"]: q for q in json.loads(out.stdout)}
    assert listed[queue]["messages"] == 1
    out = subprocess.run([*args, "list", "exchanges"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "amq.topic" in out.stdout
