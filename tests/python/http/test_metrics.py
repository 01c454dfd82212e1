"""`/metrics` read by Prometheus's exposition parser while real clients move messages: queue
depth, in-flight and dead-letter depth, consumer lag, connections, request latencies, fsyncs."""

import json
import urllib.request
import uuid

import boto3
import pika
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from metrics_helpers import scrape, value, wait_for_metric


def sqs_client(server):
    return boto3.client(
        "sqs",
        endpoint_url=server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


@pytest.fixture(scope="module")
def sqs(ferry_server):
    return sqs_client(ferry_server)


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def test_depth_rises_on_send_and_falls_on_ack(ferry_server, sqs):
    queue = unique("m-depth")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}")
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_queue_messages", queue=queue, state="ready") == 5
    ready_bytes = value(samples, "ferry_queue_bytes", queue=queue, state="ready")
    assert ready_bytes >= 5 * len("m0")
    assert value(samples, "ferry_queue_enqueued_total", queue=queue) == 5

    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3)["Messages"]
    assert len(received) == 3
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_queue_messages", queue=queue, state="ready") == 2
    assert value(samples, "ferry_queue_messages", queue=queue, state="in_flight") == 3
    assert value(samples, "ferry_queue_delivered_total", queue=queue) == 3
    assert value(samples, "ferry_queue_bytes", queue=queue, state="in_flight") == ready_bytes * 3 / 5
    assert value(samples, "ferry_queue_bytes", queue=queue, state="ready") == ready_bytes * 2 / 5

    for m in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_queue_messages", queue=queue, state="in_flight") == 0
    assert value(samples, "ferry_queue_acked_total", queue=queue) == 3


def test_oldest_ready_age_grows_while_a_message_waits(ferry_server, sqs):
    queue = unique("m-age")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    age = wait_for_metric(ferry_server, "ferry_queue_oldest_ready_age_seconds", lambda v: v >= 1.0, queue=queue)
    assert age < 60


def test_delayed_messages_are_counted_apart(ferry_server, sqs):
    queue = unique("m-delay")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=600)
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_queue_messages", queue=queue, state="delayed") == 1
    assert value(samples, "ferry_queue_messages", queue=queue, state="ready") == 0
    assert value(samples, "ferry_queue_bytes", queue=queue, state="delayed") >= len("later")
    assert value(samples, "ferry_queue_bytes", queue=queue, state="ready") == 0


def test_dead_letter_depth_rises_on_a_poison_message(ferry_server, sqs):
    dlq = unique("m-dlq")
    dlq_url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = unique("m-src")
    url = sqs.create_queue(
        QueueName=source,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})},
    )["QueueUrl"]
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_dead_letter_queue_messages", queue=dlq) == 0
    assert value(samples, "ferry_dead_letter_queue_messages", queue=source) is None

    sqs.send_message(QueueUrl=url, MessageBody="poison")
    # The consumer fails twice: each receive lets the lease end at once.
    for _ in range(2):
        got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=0, WaitTimeSeconds=5)["Messages"]
        assert len(got) == 1
    # The third receive finds it over its limit and dead-letters it.
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    wait_for_metric(ferry_server, "ferry_dead_letter_queue_messages", lambda v: v == 1, queue=dlq)
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_queue_dead_lettered_total", queue=source) == 1
    assert value(samples, "ferry_queue_redelivered_total", queue=source) >= 1


def test_lag_falls_as_a_group_consumes(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("m-lag"), unique("m-group")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(timeout=10)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(20):
        producer.produce(topic, value=f"r{i}".encode())
    assert producer.flush(10) == 0

    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, "auto.offset.reset": "earliest"}
    )
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        read = 0
        while read < 5:
            m = consumer.poll(5)
            assert m is not None and m.error() is None
            read += 1
        consumer.commit(asynchronous=False)
        samples, _ = scrape(ferry_server)
        assert value(samples, "ferry_partition_end_offset", topic=topic, partition=0) == 20
        assert value(samples, "ferry_group_committed_offset", group=group, topic=topic, partition=0) == 5
        assert value(samples, "ferry_group_lag", group=group, topic=topic, partition=0) == 15

        while read < 20:
            m = consumer.poll(5)
            assert m is not None and m.error() is None
            read += 1
        consumer.commit(asynchronous=False)
        samples, _ = scrape(ferry_server)
        assert value(samples, "ferry_group_lag", group=group, topic=topic, partition=0) == 0
        assert value(samples, "ferry_partition_bytes", topic=topic, partition=0) > 0
    finally:
        consumer.close()


def test_connections_and_channels_are_counted_per_protocol(ferry_server):
    host, port = ferry_server.amqp_address.rsplit(":", 1)
    before, _ = scrape(ferry_server)
    base_connections = value(before, "ferry_connections", protocol="amqp")
    base_channels = value(before, "ferry_channels", protocol="amqp")
    connection = pika.BlockingConnection(
        pika.ConnectionParameters(host=host, port=int(port), credentials=pika.PlainCredentials("guest", "guest"))
    )
    try:
        connection.channel()
        connection.channel()
        samples, _ = scrape(ferry_server)
        assert value(samples, "ferry_connections", protocol="amqp") == base_connections + 1
        assert value(samples, "ferry_channels", protocol="amqp") == base_channels + 2
    finally:
        connection.close()
    wait_for_metric(ferry_server, "ferry_connections", lambda v: v == base_connections, protocol="amqp")
    # The scrape itself holds an HTTP connection.
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_connections", protocol="http") >= 1


def test_request_latencies_are_histograms_per_operation(ferry_server, sqs):
    queue = unique("m-lat")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    samples, _ = scrape(ferry_server)
    count = value(samples, "ferry_request_duration_seconds_count", protocol="sqs", operation="SendMessage")
    assert count >= 1
    inf = value(samples, "ferry_request_duration_seconds_bucket", protocol="sqs", operation="SendMessage", le="+Inf")
    assert inf == count
    assert value(samples, "ferry_request_duration_seconds_sum", protocol="sqs", operation="SendMessage") > 0
    # A durable send fsyncs the queue's log.
    assert value(samples, "ferry_fsync_duration_seconds_count", file="log") >= 1
    assert value(samples, "ferry_group_commit_records_count") >= 1
    for _ in range(5):
        sqs.list_queues()
    samples, _ = scrape(ferry_server)
    assert value(samples, "ferry_request_duration_seconds_count", protocol="sqs", operation="ListQueues") >= 5


def test_process_and_storage_figures(ferry_server):
    samples, _ = scrape(ferry_server)
    assert value(samples, "process_resident_memory_bytes") > 1 << 20
    assert value(samples, "process_open_fds") > 3
    assert value(samples, "ferry_disk_free_bytes") > 0
    assert value(samples, "ferry_alarm", resource="disk") == 0
    assert value(samples, "ferry_exchanges") >= 6


def test_openmetrics_when_the_scraper_asks(ferry_server, sqs):
    queue = unique("m-om")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    samples, content_type = scrape(ferry_server, openmetrics=True)
    assert content_type.startswith("application/openmetrics-text")
    assert value(samples, "ferry_queue_messages", queue=queue, state="ready") == 1
    assert value(samples, "ferry_queue_enqueued_total", queue=queue) == 1
    _, plain = scrape(ferry_server)
    assert plain.startswith("text/plain; version=0.0.4")


def test_a_scrape_of_many_queues_sees_each_of_them(ferry_server, sqs):
    prefix = unique("m-many")
    names = [f"{prefix}-{i}" for i in range(50)]
    for n in names:
        sqs.create_queue(QueueName=n)
    samples, _ = scrape(ferry_server)
    seen = {l["queue"] for (l, _) in samples["ferry_queue_messages"] if l["queue"].startswith(prefix)}
    assert seen == set(names)


def test_health_and_readiness(ferry_server):
    for path, body in (("/healthz", "ok"), ("/readyz", "ready")):
        with urllib.request.urlopen(ferry_server.http_url + path, timeout=5) as response:
            assert response.status == 200
            assert response.read().decode().strip() == body


def test_unknown_paths_and_large_bodies_get_json_errors(ferry_server):
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(ferry_server.http_url + "/nothing-here", timeout=5)
    assert missing.value.code == 404
    assert json.loads(missing.value.read())["error"]["code"] == "not_found"

    big = urllib.request.Request(ferry_server.http_url + "/api/v1/overview", data=b"x" * (5 << 20), method="POST")
    with pytest.raises(urllib.error.HTTPError) as too_large:
        urllib.request.urlopen(big, timeout=10)
    assert too_large.value.code == 413
    assert json.loads(too_large.value.read())["error"]["code"] == "payload_too_large"


def test_overview_counts_and_totals_move(ferry_server, sqs):
    def overview():
        with urllib.request.urlopen(ferry_server.http_url + "/api/v1/overview", timeout=5) as response:
            return json.loads(response.read())

    before = overview()
    url = sqs.create_queue(QueueName=unique("m-ov"))["QueueUrl"]
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    after = overview()
    assert after["counts"]["queues"] == before["counts"]["queues"] + 1
    assert after["totals"]["enqueued"] >= before["totals"]["enqueued"] + 3
    assert after["messages"]["ready"] >= 3
    assert set(after["connections"]) == {"kafka", "sqs", "amqp", "http"}
    assert after["disk_free_bytes"] > 0
