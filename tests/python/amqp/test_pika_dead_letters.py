"""Dead-lettering, TTLs, length limits and priorities through pika, with RabbitMQ's x-death."""

import time

import pika
import pytest
from pika.exceptions import NackError


def wait_get(channel, queue, timeout_s=5.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        method, props, body = channel.basic_get(queue, auto_ack=True)
        if method:
            return props, body
        time.sleep(0.05)
    return None, None


def dlx_pair(channel, name, **args):
    """A work queue whose dead-letters go through a fanout exchange to `<name>-dead`."""
    channel.exchange_declare(name + "-dlx", "fanout")
    channel.queue_declare(name + "-dead")
    channel.queue_bind(name + "-dead", name + "-dlx")
    channel.queue_declare(name, arguments={"x-dead-letter-exchange": name + "-dlx", **args})


def test_a_rejected_message_is_dead_lettered_with_x_death(channel, name):
    dlx_pair(channel, name)
    channel.basic_publish("", name, b"bad")
    method, _, _ = channel.basic_get(name)
    channel.basic_reject(method.delivery_tag, requeue=False)
    props, body = wait_get(channel, name + "-dead")
    assert body == b"bad"
    death = props.headers["x-death"][0]
    assert death["queue"] == name and death["reason"] == "rejected" and death["count"] == 1
    assert death["exchange"] == "" and death["routing-keys"] == [name]
    assert props.headers["x-first-death-queue"] == name
    assert props.headers["x-first-death-reason"] == "rejected"


def test_queue_ttl_dead_letters_expired_messages(channel, name):
    dlx_pair(channel, name, **{"x-message-ttl": 200})
    channel.basic_publish("", name, b"stale")
    props, body = wait_get(channel, name + "-dead")
    assert body == b"stale" and props.headers["x-death"][0]["reason"] == "expired"


def test_per_message_expiration_dead_letters_it(channel, name):
    dlx_pair(channel, name)
    channel.basic_publish("", name, b"short", pika.BasicProperties(expiration="200"))
    props, body = wait_get(channel, name + "-dead")
    assert body == b"short" and props.headers["x-death"][0]["reason"] == "expired"


def test_expired_messages_without_a_dead_letter_exchange_are_dropped(channel, name):
    channel.queue_declare(name, arguments={"x-message-ttl": 100})
    channel.basic_publish("", name, b"gone")
    time.sleep(0.4)
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)


def test_dead_letter_routing_key_replaces_the_original(channel, name):
    channel.queue_declare(name + "-parked")
    channel.queue_declare(name, arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": name + "-parked"})
    channel.basic_publish("", name, b"park me")
    method, _, _ = channel.basic_get(name)
    channel.basic_nack(method.delivery_tag, requeue=False)
    _, body = wait_get(channel, name + "-parked")
    assert body == b"park me"


def test_max_length_drop_head_keeps_the_newest(channel, name):
    channel.queue_declare(name, arguments={"x-max-length": 2, "x-overflow": "drop-head"})
    for i in range(4):
        channel.basic_publish("", name, str(i).encode())
    assert [wait_get(channel, name)[1] for _ in range(2)] == [b"2", b"3"]


def test_max_length_drop_head_dead_letters_with_maxlen(channel, name):
    dlx_pair(channel, name, **{"x-max-length": 1})
    channel.basic_publish("", name, b"old")
    channel.basic_publish("", name, b"new")
    props, body = wait_get(channel, name + "-dead")
    assert body == b"old" and props.headers["x-death"][0]["reason"] == "maxlen"


def test_reject_publish_nacks_the_publish_under_confirms(channel, name):
    channel.queue_declare(name, arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    channel.confirm_delivery()
    channel.basic_publish("", name, b"fits")
    with pytest.raises(NackError):
        channel.basic_publish("", name, b"refused")


def test_reject_publish_dlx_nacks_the_publish_and_dead_letters_it_with_maxlen(channel, name):
    dlx_pair(channel, name, **{"x-max-length": 1, "x-overflow": "reject-publish-dlx"})
    channel.confirm_delivery()
    channel.basic_publish("", name, b"fits")
    with pytest.raises(NackError):
        channel.basic_publish("", name, b"refused", pika.BasicProperties(headers={"k": "v"}))
    props, body = wait_get(channel, name + "-dead")
    assert body == b"refused" and props.headers["k"] == "v"
    death = props.headers["x-death"][0]
    assert death["reason"] == "maxlen" and death["queue"] == name and death["routing-keys"] == [name]
    assert props.headers["x-first-death-reason"] == "maxlen"
    assert wait_get(channel, name)[1] == b"fits"


def test_reject_publish_drops_what_it_refuses(channel, name):
    dlx_pair(channel, name, **{"x-max-length": 1, "x-overflow": "reject-publish"})
    channel.basic_publish("", name, b"fits")
    channel.basic_publish("", name, b"refused")
    time.sleep(0.3)
    assert channel.queue_declare(name + "-dead", passive=True).method.message_count == 0


def test_priorities_deliver_the_highest_first(channel, name):
    channel.queue_declare(name, arguments={"x-max-priority": 10})
    for body, prio in [(b"low", 1), (b"high", 9), (b"mid", 5)]:
        channel.basic_publish("", name, body, pika.BasicProperties(priority=prio))
    assert [wait_get(channel, name)[1] for _ in range(3)] == [b"high", b"mid", b"low"]


def test_delivery_limit_dead_letters_after_the_limit_with_a_delivery_count(channel, name):
    dlx_pair(channel, name, **{"x-queue-type": "quorum", "x-delivery-limit": 1})
    channel.basic_publish("", name, b"poison")
    for expected in (0, 1):
        method, props, _ = channel.basic_get(name)
        assert (props.headers or {}).get("x-delivery-count", 0) == expected
        channel.basic_nack(method.delivery_tag, requeue=True)
    props, body = wait_get(channel, name + "-dead")
    assert body == b"poison" and props.headers["x-death"][0]["reason"] == "delivery_limit"


def test_a_deduplicating_queue_stores_a_header_id_once(channel, name):
    channel.queue_declare(name, arguments={"x-message-deduplication": True})
    channel.confirm_delivery()
    for body in (b"first", b"again"):
        channel.basic_publish("", name, body, pika.BasicProperties(headers={"x-deduplication-header": "order-7"}))
    channel.basic_publish("", name, b"other", pika.BasicProperties(headers={"x-deduplication-header": "order-8"}))
    assert [wait_get(channel, name)[1] for _ in range(2)] == [b"first", b"other"]
    assert channel.basic_get(name, auto_ack=True) == (None, None, None)


def test_a_queue_without_deduplication_keeps_every_copy(channel, name):
    channel.queue_declare(name)
    for _ in range(2):
        channel.basic_publish("", name, b"copy", pika.BasicProperties(headers={"x-deduplication-header": "same"}))
    assert [wait_get(channel, name)[1] for _ in range(2)] == [b"copy", b"copy"]
