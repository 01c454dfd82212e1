"""A full disk under `ferry serve`: writes are refused in each protocol's terms while it is full,
and everything works again once there is room, without a restart. The data directory is a
small tmpfs (mounting one needs root; the test is skipped where that is not allowed)."""

import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3
import pika
import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition


TMPFS_BYTES = 48 << 20


@pytest.fixture
def small_disk():
    mount = Path(tempfile.mkdtemp(prefix="ferry-full-"))
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_BYTES}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def fill(path):
    """Writes until the disk is full; returns the filler file."""
    filler = path / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        for size in (1 << 20, 4096, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return filler


def produce(bootstrap, topic, values, **extra):
    """Produces `values`, returning the delivery errors (None for each success)."""
    errors = []
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": 5000, **extra})
    for v in values:
        producer.produce(topic, v, on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    return errors


def sqs_client(server):
    return boto3.client(
        "sqs",
        endpoint_url=server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )


def test_a_broker_whose_disk_filled_up_works_again_once_there_is_room(small_disk, ferry_server_in):
    server = ferry_server_in(small_disk / "data")
    try:
        bootstrap = server.kafka_bootstrap
        topic = f"full-{uuid.uuid4().hex[:8]}"
        assert produce(bootstrap, topic, [b"before"]) == [None]
        sqs = sqs_client(server)
        url = sqs.create_queue(QueueName="full-disk")["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody="before")

        filler = fill(small_disk)
        big = b"x" * 65536
        errors = produce(bootstrap, topic, [big] * 64)
        assert any(e is not None for e in errors), "a full disk must refuse some produce"
        with pytest.raises(Exception):
            for _ in range(64):
                sqs.send_message(QueueUrl=url, MessageBody="y" * 65536)
        # A metadata write on the full disk (redb refuses every later one until reopened).
        with pytest.raises(Exception):
            for i in range(64):
                sqs.create_queue(QueueName=f"while-full-{i}", tags={"pad": "p" * 200})

        os.remove(filler)
        # Room again: every kind of write works without a restart.
        assert produce(bootstrap, topic, [b"after-1", b"after-2"]) == [None, None]
        assert produce(bootstrap, topic, [b"idempotent"], **{"enable.idempotence": True}) == [None]
        consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": f"g-{topic}", "auto.offset.reset": "earliest"}
        )
        try:
            consumer.assign([TopicPartition(topic, 0, 0)])
            got = []
            for _ in range(200):
                m = consumer.poll(0.1)
                if m is not None and m.error() is None:
                    got.append(m.value())
                    if m.value() == b"idempotent":
                        break
            assert got[0] == b"before" and got[-3:] == [b"after-1", b"after-2", b"idempotent"]
            consumer.commit(offsets=[TopicPartition(topic, 0, len(got))], asynchronous=False)
            committed = consumer.committed([TopicPartition(topic, 0)], timeout=10)
            assert committed[0].offset == len(got)
        except KafkaException as e:
            pytest.fail(f"kafka after room was freed: {e}")
        finally:
            consumer.close()
        sqs.send_message(QueueUrl=url, MessageBody="after")
        sqs.create_queue(QueueName="after-full")
        bodies = []
        for _ in range(10):
            for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                bodies.append(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
            if "after" in bodies:
                break
        assert "before" in bodies and "after" in bodies

        # A restart while the disk is full starts, serves reads, and takes writes once there is room.
        filler = fill(small_disk)
        server.restart()
        sqs = sqs_client(server)
        with pytest.raises(Exception):
            for _ in range(64):
                sqs.send_message(QueueUrl=url, MessageBody="y" * 65536)
        os.remove(filler)
        assert produce(server.kafka_bootstrap, topic, [b"after-restart"]) == [None]
        sqs.send_message(QueueUrl=url, MessageBody="after-restart")
    finally:
        server.stop()


def amqp_parameters(server):
    host, port = server.amqp_address.rsplit(":", 1)
    return pika.ConnectionParameters(
        host=host, port=int(port), credentials=pika.PlainCredentials("guest", "guest"), heartbeat=0
    )


def amqp_get_all(server, queue):
    """Every body in `queue`, taken with basic.get and acknowledged."""
    conn = pika.BlockingConnection(amqp_parameters(server))
    try:
        ch = conn.channel()
        bodies = []
        while True:
            method, _, body = ch.basic_get(queue, auto_ack=True)
            if method is None:
                return bodies
            bodies.append(body)
    finally:
        conn.close()


AMQP_QUEUES = {"full-classic": "classic", "full-quorum": "quorum"}


def amqp_publisher(server):
    conn = pika.BlockingConnection(amqp_parameters(server))
    ch = conn.channel()
    ch.confirm_delivery()
    for queue, kind in AMQP_QUEUES.items():
        ch.queue_declare(queue, durable=True, arguments={"x-queue-type": kind})
    return conn, ch


def publish_all(ch, body):
    for queue in AMQP_QUEUES:
        ch.basic_publish("", queue, body, pika.BasicProperties(delivery_mode=2))


def test_an_amqp_publisher_on_a_full_disk_without_the_alarm_is_nacked_and_publishes_again_after(
    small_disk, ferry_server_in, tmp_path
):
    """With the disk-free alarm off, a confirmed publish that meets a full disk is nacked: the
    publisher learns it is not stored, and its connection stays open. What was confirmed stays
    readable, and once there is room the same connection's publishes are confirmed again,
    without a restart."""
    config = tmp_path / "ferry.toml"
    config.write_text("[storage]\ndisk_free_limit_bytes = 0\n")
    server = ferry_server_in(small_disk / "data", ["--config", str(config)])
    conn, ch = amqp_publisher(server)
    publish_all(ch, b"before")
    filler = fill(small_disk)
    with pytest.raises(pika.exceptions.NackError):
        for _ in range(64):
            publish_all(ch, b"y" * 65536)
    assert conn.is_open and ch.is_open
    # Readable while the disk is still full.
    for queue in AMQP_QUEUES:
        reader = pika.BlockingConnection(amqp_parameters(server))
        method, _, body = reader.channel().basic_get(queue, auto_ack=False)
        assert body == b"before", queue
        reader.close()

    os.remove(filler)
    publish_all(ch, b"after")
    conn.close()
    for queue in AMQP_QUEUES:
        assert amqp_get_all(server, queue) == [b"before", b"after"], queue


def test_an_amqp_publisher_is_blocked_by_the_disk_alarm_and_its_publish_confirmed_once_there_is_room(
    small_disk, ferry_server_in, tmp_path
):
    """With the disk-free alarm on (as by default), a full disk raises it within a second: a
    publishing connection gets connection.blocked and is not read, so its publish waits (not
    confirmed, not lost) while another connection reads; once there is room it gets
    connection.unblocked and the waiting publish is confirmed, without a restart."""
    config = tmp_path / "ferry.toml"
    config.write_text(f"[storage]\ndisk_free_limit_bytes = {8 << 20}\n")
    server = ferry_server_in(small_disk / "data", ["--config", str(config)])
    conn, ch = amqp_publisher(server)
    events = []
    conn.add_on_connection_blocked_callback(lambda _conn, frame: events.append(type(frame.method).__name__))
    conn.add_on_connection_unblocked_callback(lambda _conn, frame: events.append(type(frame.method).__name__))
    publish_all(ch, b"before")
    filler = fill(small_disk)
    # The alarm is checked every second; a connection that has published hears of it.
    deadline = time.monotonic() + 10
    while "Blocked" not in events and time.monotonic() < deadline:
        conn.process_data_events(time_limit=0.1)
    assert "Blocked" in events, "the publisher should have been told connection.blocked"
    outcome = []

    def waiting_publish():
        try:
            publish_all(ch, b"while-full")
            outcome.append("confirmed")
        except Exception as e:
            outcome.append(e)

    publisher = threading.Thread(target=waiting_publish, daemon=True)
    publisher.start()
    time.sleep(1)
    assert outcome == [], f"a publish on a full disk should wait, got {outcome}"
    reader = pika.BlockingConnection(amqp_parameters(server))
    for queue in AMQP_QUEUES:
        method, _, body = reader.channel().basic_get(queue, auto_ack=False)
        assert body == b"before", queue
    reader.close()

    os.remove(filler)
    publisher.join(15)
    assert outcome == ["confirmed"], outcome
    # pika's blocking adapter hands connection events over in process_data_events only.
    conn.process_data_events(time_limit=0)
    assert events == ["Blocked", "Unblocked"], events
    publish_all(ch, b"after")
    conn.close()
    for queue in AMQP_QUEUES:
        assert amqp_get_all(server, queue) == [b"before", b"while-full", b"after"], queue
