"""kill -9 of `ferry serve` while boto3 clients send, receive and delete: no acknowledged send is
lost, and FIFO sends retried after the crash with the same deduplication ids are stored once."""

import threading
import time

from botocore.config import Config
from sqs_helpers import sqs_client

CYCLES = 4
LOAD_S = 1.0


def client(server):
    return sqs_client(server, Config(retries={"total_max_attempts": 1}, connect_timeout=2, read_timeout=10))


class Load:
    """What the clients were told: acknowledged sends, and deletes attempted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.sent = set()
        self.deleted = set()
        self.fifo_sent = set()
        self.next_id = 0
        self.next_fifo = 0
        self.stop = threading.Event()

    def take(self, attr, n):
        with self.lock:
            first = getattr(self, attr)
            setattr(self, attr, first + n)
            return range(first, first + n)


def send(sqs, url, load, counter, entry, acked):
    """Sends batches until stopped or refused; `entry(i)` makes message i, acknowledged bodies go
    to the set named `acked`."""
    while not load.stop.is_set():
        entries = [entry(i) for i in load.take(counter, 10 if counter == "next_id" else 5)]
        try:
            out = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        except Exception:
            return
        bodies = {e["Id"]: e["MessageBody"] for e in entries}
        with load.lock:
            getattr(load, acked).update(bodies[e["Id"]] for e in out.get("Successful", []))


def standard_entry(i):
    return {"Id": str(i), "MessageBody": f"s{i}"}


def fifo_entry(i):
    return {"Id": str(i), "MessageBody": f"f{i}", "MessageGroupId": f"g{i % 3}", "MessageDeduplicationId": f"f{i}"}


def consume_standard(sqs, url, load):
    while not load.stop.is_set():
        try:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            for m in got:
                # A delete whose answer is lost in the kill may still have happened.
                with load.lock:
                    load.deleted.add(m["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        except Exception:
            return


def drain(sqs, url):
    bodies = []
    empty = 0
    while empty < 3:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        empty = 0 if got else empty + 1
        for m in got:
            bodies.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def test_kill_9_under_load_loses_no_acknowledged_send_and_stores_fifo_retries_once(fresh_ferry_server):
    server = fresh_ferry_server
    sqs = client(server)
    url = sqs.create_queue(QueueName="crash-std")["QueueUrl"]
    fifo = sqs.create_queue(QueueName="crash.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    load = Load()
    for _ in range(CYCLES):
        load.stop.clear()
        workers = [
            threading.Thread(target=send, args=(client(server), url, load, "next_id", standard_entry, "sent")),
            threading.Thread(target=send, args=(client(server), url, load, "next_id", standard_entry, "sent")),
            threading.Thread(target=send, args=(client(server), fifo, load, "next_fifo", fifo_entry, "fifo_sent")),
            threading.Thread(target=consume_standard, args=(client(server), url, load)),
        ]
        for w in workers:
            w.start()
        time.sleep(LOAD_S)
        server.kill()
        load.stop.set()
        for w in workers:
            w.join(timeout=30)
        server.start()
        # The FIFO producer retries every send it was not told about, with the same ids.
        sqs = client(server)
        for i in range(load.next_fifo):
            body = f"f{i}"
            if body not in load.fifo_sent:
                sqs.send_message(
                    QueueUrl=fifo, MessageBody=body, MessageGroupId=f"g{i % 3}", MessageDeduplicationId=body
                )
                load.fifo_sent.add(body)

    left = drain(sqs, url)
    lost = load.sent - load.deleted - set(left)
    assert load.sent, "the load should have had sends acknowledged"
    assert not lost, f"{len(lost)} acknowledged sends lost, e.g. {sorted(lost)[:5]}"

    fifo_bodies = drain(sqs, fifo)
    duplicates = {b for b in fifo_bodies if fifo_bodies.count(b) > 1}
    assert not duplicates, f"FIFO messages stored twice: {sorted(duplicates)[:5]}"
    assert set(fifo_bodies) == load.fifo_sent
