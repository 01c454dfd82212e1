"""The web console in a real browser (headless Chromium driven by Playwright): every page renders
its headings and tables, live figures move as messages flow through real clients without a
reload, send / peek / purge / redrive work from a queue's page, and errors reach the person."""

import re
import threading
import time
import urllib.error
import urllib.request

import pika
from confluent_kafka import Consumer, Producer, TopicPartition
from playwright.sync_api import expect

from console_helpers import api_error_message, create_topic, quote, wait_for

PAGES = [
    ("/#/", "Overview"),
    ("/#/queues", "Queues"),
    ("/#/topics", "Topics"),
    ("/#/groups", "Consumer groups"),
    ("/#/exchanges", "Exchanges"),
]


def queue_row(page, name):
    return page.locator(f'#queues tbody tr[data-key="{name}"]')


def test_assets_are_served_with_their_type_and_revalidated_by_etag(ferry_server):
    base = ferry_server.http_url
    for path, content_type in [("/", "text/html"), ("/console/app.js", "text/javascript"), ("/console/console.css", "text/css")]:
        with urllib.request.urlopen(base + path) as response:
            assert response.headers["content-type"].startswith(content_type), path
            assert response.headers["cache-control"] == "no-cache"
            etag = response.headers["etag"]
            assert re.fullmatch(r'"[0-9a-f]{16}"', etag), etag
            assert "default-src 'none'" in response.headers["content-security-policy"]
        request = urllib.request.Request(base + path, headers={"If-None-Match": etag})
        try:
            urllib.request.urlopen(request)
            raise AssertionError(f"{path} answered 200 to its own ETag")
        except urllib.error.HTTPError as e:
            assert e.code == 304, path
    try:
        urllib.request.urlopen(base + "/console/missing.js")
        raise AssertionError("a missing asset was served")
    except urllib.error.HTTPError as e:
        assert e.code == 404
        assert e.headers["content-type"].startswith("application/json")


def test_every_page_renders_its_heading_and_tables_without_errors(page):
    loaded = []
    page.on("requestfinished", lambda request: loaded.append(request.url))
    for path, heading in PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        expect(page.get_by_role("navigation", name="Sections").get_by_role("link", name=heading.split()[-1].capitalize())).to_have_attribute(
            "aria-current", "page"
        )
        # The first poll has answered: the updated stamp is set and no error is shown.
        expect(page.locator("#updated")).to_contain_text("Updated")
        expect(page.locator("main .error[role=alert]").first).to_be_empty()
        if heading != "Consumer groups":
            assert page.locator("main table th[scope=col]").count() > 0, path
    page.goto("/#/nowhere")
    expect(page.get_by_role("heading", level=1)).to_have_text("Not found")
    # Nothing is loaded from anywhere but the server itself.
    origin = page.evaluate("location.origin")
    assert loaded and all(url.startswith(origin) for url in loaded), loaded


def test_queue_depth_rises_and_falls_on_the_queues_page_without_a_reload(page, sqs, unique):
    name = unique("live")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    page.goto("/#/queues")
    row = queue_row(page, name)
    ready, in_flight, oldest = row.locator("td").nth(0), row.locator("td").nth(1), row.locator("td").nth(3)
    expect(ready).to_have_text("0")
    page.evaluate("window.sameDocument = true")

    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"message {i}")
    expect(ready).to_have_text("3")
    expect(oldest).not_to_have_text("—")

    received = []
    while len(received) < 3:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60)
        received += answer.get("Messages", [])
    expect(ready).to_have_text("0")
    expect(in_flight).to_have_text("3")

    for message in received:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    expect(in_flight).to_have_text("0")

    chart = row.locator("svg.spark")
    expect(chart).to_have_attribute("data-last", "0")
    assert "3" in re.findall(r"\d+", chart.get_attribute("aria-label")), "the chart's range includes the peak of 3"
    assert int(chart.get_attribute("data-samples")) >= 3
    assert page.evaluate("window.sameDocument") is True, "the page was reloaded"


def test_the_queue_list_narrows_to_names_with_a_prefix(page, sqs, unique):
    prefix = unique("narrow")
    for suffix in ("a", "b"):
        sqs.create_queue(QueueName=f"{prefix}-{suffix}")
    page.goto("/#/queues")
    page.get_by_label("Names starting with").fill(prefix)
    expect(page.locator("#queues tbody tr")).to_have_count(2)
    expect(page.locator("#queues tbody th")).to_have_text([f"{prefix}-a", f"{prefix}-b"])
    page.get_by_label("Names starting with").fill(prefix + "-none")
    expect(page.locator("#queues tbody")).to_contain_text(f"No queue's name starts with {prefix}-none.")


def test_send_from_the_queue_page_and_peek_it_back(page, rest, sqs, unique):
    name = unique("send")
    sqs.create_queue(QueueName=name)
    page.goto(f"/#/queues/{quote(name)}")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Queue {name}")

    page.get_by_label("Body").fill('{"order": 42}')
    page.get_by_label("Headers").fill("content-type: application/json\nsource: console")
    page.get_by_role("button", name="Send", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Sent message")).to_be_visible()
    expect(page.locator("#queue-figures dd").first).to_have_text("1")

    peeked = rest.get(f"/queues/{quote(name)}/messages?limit=10")
    messages = peeked["messages"] if isinstance(peeked, dict) else peeked
    assert [m["body"] for m in messages] == ['{"order": 42}']
    assert messages[0]["headers"].get("source") == "console"

    page.get_by_role("button", name="Peek", exact=True).click()
    peek_row = page.locator("#peeked tbody tr")
    expect(peek_row).to_have_count(1)
    expect(peek_row).to_contain_text('{"order": 42}')
    expect(peek_row).to_contain_text("source: console")

    got = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], WaitTimeSeconds=1)
    assert got["Messages"][0]["Body"] == '{"order": 42}', "peeking leased nothing"


def test_purge_from_the_page_asks_first(page, rest, sqs, unique):
    name = unique("purge")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    for i in range(2):
        sqs.send_message(QueueUrl=url, MessageBody=f"doomed {i}")
    page.goto(f"/#/queues/{quote(name)}")
    expect(page.locator("#queue-figures dd").first).to_have_text("2")

    page.get_by_role("button", name="Purge…").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(name)
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_have_count(0)
    assert rest.queue(name)["stats"]["ready"] == 2, "cancel purged nothing"

    page.get_by_role("button", name="Purge…").click()
    page.get_by_role("dialog").get_by_role("button", name="Purge", exact=True).click()
    expect(page.get_by_role("status").filter(has_text=f"Purged {name}")).to_be_visible()
    wait_for(lambda: rest.queue(name)["stats"]["ready"] == 0, "the purge")
    expect(page.locator("#queue-figures dd").first).to_have_text("0")


def test_redrive_a_dead_letter_queue_from_its_page(page, rest, unique):
    dlq, source = unique("dlq"), unique("work")
    rest.post("/queues", {"name": dlq})
    rest.post("/queues", {"name": source, "settings": {"dead_letter_queue": dlq, "max_deliveries": 1}})
    rest.post(f"/queues/{quote(source)}/messages", {"body": "poison"})
    leased = rest.post(f"/queues/{quote(source)}/receive", {"max": 1, "lease_ms": 30_000})["messages"]
    rest.post(f"/queues/{quote(source)}/nack", {"receipt": leased[0]["receipt"], "requeue": False})
    wait_for(lambda: rest.queue(dlq)["stats"]["ready"] == 1, "the dead-lettered message")

    page.goto(f"/#/queues/{quote(dlq)}")
    expect(page.get_by_role("form", name="Redrive")).to_contain_text(f"dead-letter queue of {source}")
    page.get_by_role("button", name="Redrive", exact=True).click()
    page.get_by_role("dialog").get_by_role("button", name="Redrive", exact=True).click()
    expect(page.get_by_role("status").filter(has_text=f"Redrive of {dlq}")).to_be_visible()

    wait_for(lambda: rest.queue(source)["stats"]["ready"] == 1, "the message back in its source queue")
    assert rest.queue(dlq)["stats"]["ready"] == 0
    expect(page.locator("#queue-figures dd").first).to_have_text("0")


def test_api_errors_are_shown_with_the_servers_message(page, rest, unique):
    missing = unique("missing")
    message = api_error_message(rest, "GET", f"/queues/{missing}")
    page.goto(f"/#/queues/{missing}")
    expect(page.locator("main > .error[role=alert]")).to_contain_text(message)

    page.goto("/#/queues")
    invalid = "q" * 300  # longer than any protocol allows (AMQP: 255 bytes, SQS: 80 characters)
    message = api_error_message(rest, "POST", "/queues", {"name": invalid})
    page.get_by_label("Name", exact=True).fill(invalid)
    page.get_by_role("button", name="Create queue").click()
    expect(page.get_by_role("form", name="Create a queue").get_by_role("alert")).to_contain_text(message)


def test_a_banner_says_so_when_the_server_stops_answering(page):
    page.goto("/#/")
    queues = page.locator("#summary dt", has_text=re.compile(r"^Queues$")).locator("xpath=following-sibling::dd")
    expect(queues).to_have_text(re.compile(r"^[0-9,]+$"))
    banner = page.locator("#server-down")
    expect(banner).to_be_hidden()

    page.route("**/api/v1/**", lambda route: route.abort("connectionrefused"))
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("not answering")
    expect(queues).to_have_text(re.compile(r"^[0-9,]+$"))  # the last figures stay

    page.unroute("**/api/v1/**")
    expect(banner).to_be_hidden()


def test_overview_rates_move_as_messages_flow(page, sqs, unique):
    url = sqs.create_queue(QueueName=unique("rates"))["QueueUrl"]
    page.goto("/#/")
    expect(page.locator("#summary")).to_contain_text("Queues")
    expect(page.locator("#connections tbody")).to_contain_text("sqs")
    enqueued = page.locator('#rates tbody tr[data-key="enqueued"]')
    per_second, total = enqueued.locator("td").nth(0), enqueued.locator("td").nth(1)
    expect(per_second).to_have_text(re.compile(r"/s$"))
    before = int(total.inner_text().replace(",", ""))

    stop = threading.Event()

    def flow():
        while not stop.is_set():
            sqs.send_message(QueueUrl=url, MessageBody="tick")
            time.sleep(0.02)

    sender = threading.Thread(target=flow, daemon=True)
    sender.start()
    try:
        expect(per_second).to_have_text(re.compile(r"^[0-9.,]*[1-9][0-9.,]*/s$"))
        wait_for(lambda: int(total.inner_text().replace(",", "")) > before, "the enqueued total to grow")
    finally:
        stop.set()
        sender.join()
    expect(enqueued.locator("svg.spark")).to_be_visible()


def test_topics_show_partitions_and_offsets_live(page, ferry_server, unique):
    topic = unique("events")
    bootstrap = ferry_server.kafka_bootstrap
    create_topic(bootstrap, topic, 2)
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(3):
        producer.produce(topic, value=f"v{i}".encode(), partition=0)
    assert producer.flush(10) == 0

    page.goto("/#/topics")
    rows = page.locator("#topics tbody tr").filter(has=page.locator("th", has_text=topic))
    expect(rows).to_have_count(2)
    # Partition, start offset, end offset, records.
    expect(rows.nth(0).locator("td").nth(0)).to_have_text("0")
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("3")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("0")

    producer.produce(topic, value=b"more", partition=1)
    assert producer.flush(10) == 0
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("1")


def test_groups_show_lag_per_partition(page, ferry_server, unique):
    topic, group = unique("lagged"), unique("group")
    bootstrap = ferry_server.kafka_bootstrap
    create_topic(bootstrap, topic, 1)
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(5):
        producer.produce(topic, value=f"v{i}".encode(), partition=0)
    assert producer.flush(10) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)

        page.goto("/#/groups")
        section = page.locator(f'section[data-group="{group}"]')
        expect(section.get_by_role("heading")).to_have_text(f"Group {group}")
        row = section.locator("tbody tr").filter(has=page.locator("th", has_text=topic))
        # Partition, committed, end, lag.
        expect(row.locator("td")).to_have_text(["0", "2", "5", "3"])

        consumer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        expect(row.locator("td").nth(3)).to_have_text("0")
    finally:
        consumer.close()


def test_exchanges_show_their_bindings(page, ferry_server, unique):
    exchange, queue = unique("ex"), unique("bound")
    host, port = ferry_server.amqp_address.rsplit(":", 1)
    connection = pika.BlockingConnection(pika.ConnectionParameters(host=host, port=int(port)))
    try:
        channel = connection.channel()
        channel.exchange_declare(exchange, exchange_type="topic", durable=True)
        channel.queue_declare(queue, durable=True)
        channel.queue_bind(queue, exchange, routing_key="orders.*")

        page.goto("/#/exchanges")
        row = page.locator("#exchanges tbody tr").filter(has=page.locator("th", has_text=exchange))
        expect(row.locator("td").nth(0)).to_have_text("topic")
        expect(row.locator("td").nth(4)).to_have_text("1")
        bindings = page.locator("#bindings section").filter(has=page.get_by_role("heading", name=f"From {exchange}"))
        expect(bindings.locator("tbody tr")).to_contain_text([re.compile(f"{queue}.*orders\\.\\*")])
    finally:
        connection.close()
