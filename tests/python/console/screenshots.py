"""Takes the screenshots of the console in docs/img/ (run by hand, not part of the test suite):

    FERRY_BIN=target/debug/ferry target/python-venv/bin/python tests/python/console/screenshots.py

Starts a broker on free ports with a temporary data directory, fills it with queues, a
dead-letter queue, topics, a consumer group and bindings, lets messages flow for a minute and a half so
the live charts have a history, then saves one PNG per page.
"""

import importlib.util
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import boto3
import pika
from confluent_kafka import Consumer, Producer, TopicPartition
from playwright.sync_api import sync_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
OUT = ROOT / "docs" / "img"
CHROMIUM = os.environ.get("FERRY_CHROMIUM", "/usr/bin/chromium")
FLOW_S = 30

sys.path.insert(0, str(HERE))
from console_helpers import Rest, create_topic, quote  # noqa: E402


def load_ferry_server():
    spec = importlib.util.spec_from_file_location("python_suite_conftest", ROOT / "tests" / "python" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FerryServer


def populate(server, rest):
    sqs = boto3.client(
        "sqs", endpoint_url=server.sqs_endpoint, region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    rest.post("/queues", {"name": "orders-dlq"})
    rest.post("/queues", {"name": "orders", "settings": {"dead_letter_queue": "orders-dlq", "max_deliveries": 3}})
    rest.post("/queues", {"name": "emails"})
    rest.post("/queues", {"name": "thumbnails", "settings": {"visibility_timeout_ms": 120000}})
    for i in range(4):
        rest.post("/queues/orders/messages", {"body": f'{{"order": {1000 + i}, "total": {19.5 + i}}}', "headers": {"content-type": "application/json"}})
    for i in range(3):
        rest.post("/queues/orders/messages", {"body": f'{{"order": {900 + i}, "total": "n/a"}}'})
        leased = rest.post("/queues/orders/receive", {"max": 1})["messages"]
        rest.post("/queues/orders/nack", {"receipt": leased[0]["receipt"], "requeue": False})

    bootstrap = server.kafka_bootstrap
    create_topic(bootstrap, "page-views", 3)
    create_topic(bootstrap, "payments", 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(300):
        producer.produce("page-views", key=f"user-{i % 17}".encode(), value=f'{{"path": "/p/{i}"}}'.encode())
    for i in range(40):
        producer.produce("payments", value=f'{{"payment": {i}}}'.encode())
    producer.flush(10)
    ends = {p["partition"]: p["end_offset"] for p in rest.get("/topics/page-views")["partitions"]}
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "analytics", "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition("page-views", p, max(0, ends[p] - 30 * p)) for p in range(3)], asynchronous=False)
    consumer.close()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "billing", "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition("payments", 0, 38)], asynchronous=False)
    consumer.close()

    host, port = server.amqp_address.rsplit(":", 1)
    connection = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=int(port)))
    channel = connection.channel()
    channel.exchange_declare("events", exchange_type="topic", durable=True)
    channel.exchange_declare("notifications", exchange_type="fanout", durable=True)
    channel.queue_bind("emails", "notifications")
    channel.queue_bind("thumbnails", "events", routing_key="image.uploaded")
    channel.queue_bind("orders", "events", routing_key="order.*")
    connection.close()
    return sqs


def flow(sqs, stop):
    """Sends to emails faster than it consumes, and to thumbnails in bursts, so depths move."""
    emails = sqs.get_queue_url(QueueName="emails")["QueueUrl"]
    thumbs = sqs.get_queue_url(QueueName="thumbnails")["QueueUrl"]
    tick = 0
    while not stop.is_set():
        sqs.send_message(QueueUrl=emails, MessageBody=f"mail {tick}")
        if tick % 3 == 0:
            got = sqs.receive_message(QueueUrl=emails, MaxNumberOfMessages=1).get("Messages", [])
            for m in got:
                sqs.delete_message(QueueUrl=emails, ReceiptHandle=m["ReceiptHandle"])
        if (tick // 40) % 2 == 0:
            sqs.send_message(QueueUrl=thumbs, MessageBody=f"image {tick}")
        else:
            sqs.receive_message(QueueUrl=thumbs, MaxNumberOfMessages=2)
        tick += 1
        time.sleep(0.1)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ferry-screens-") as data_dir:
        server = load_ferry_server()(Path(data_dir)).start()
        stop = threading.Event()
        sender = None
        try:
            rest = Rest(server.http_url)
            sqs = populate(server, rest)
            sender = threading.Thread(target=flow, args=(sqs, stop), daemon=True)
            sender.start()
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                page = browser.new_page(base_url=server.http_url, viewport={"width": 1200, "height": 760}, color_scheme="light")
                # The console keeps the charts' history while it stays open: a minute on the
                # queues page fills their charts, half a minute on the overview its rates.
                page.goto("/#/queues")
                page.wait_for_timeout(FLOW_S * 2000)
                page.goto("/#/")
                page.wait_for_timeout(FLOW_S * 1000)
                shots = [
                    ("#/", "console-overview.png"),
                    ("#/queues", "console-queues.png"),
                    (f"#/queues/{quote('orders')}", "console-queue.png"),
                    (f"#/queues/{quote('orders-dlq')}", "console-dead-letter-queue.png"),
                    ("#/topics", "console-topics.png"),
                    ("#/groups", "console-groups.png"),
                    ("#/exchanges", "console-exchanges.png"),
                ]
                for route, name in shots:
                    page.goto("/" + route)
                    page.wait_for_timeout(2500)
                    clip = None
                    if name == "console-queue.png":
                        # The figures, the peeked messages and the send form.
                        page.get_by_role("button", name="Peek", exact=True).click()
                        page.wait_for_timeout(500)
                        clip = {"x": 0, "y": 0, "width": 1200, "height": 1280}
                    if name == "console-dead-letter-queue.png":
                        page.get_by_role("form", name="Redrive").scroll_into_view_if_needed()
                    page.screenshot(path=str(OUT / name), clip=clip, full_page=clip is not None)
                    print("wrote", (OUT / name).relative_to(ROOT))
                browser.close()
        finally:
            stop.set()
            if sender is not None:
                sender.join()
            server.stop()


if __name__ == "__main__":
    main()
