"""Answers that client libraries rely on, as RabbitMQ (3.10, 4.x) gives them; aio-pika's own
suite and its RPC pattern depend on each of these."""

import time

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker


def test_unbinding_from_exchanges_that_are_gone_succeeds(connection, channel, name):
    # aio-pika's RPC unbinds its reply queue from an auto-delete exchange that the queue's own
    # auto-deletion has already taken away.
    channel.queue_declare(name)
    channel.exchange_declare(name + "-x", "direct")
    channel.queue_unbind(name, name + "-missing", "k")
    channel.queue_unbind(name + "-missing", name + "-missing", "k")
    channel.queue_unbind(name + "-missing", name + "-x", "k")
    channel.exchange_unbind(name + "-x", name + "-missing", "k")
    channel.exchange_unbind(name + "-missing", name + "-x", "k")
    channel.exchange_unbind(name + "-missing", name + "-missing-too", "k")
    assert channel.is_open


def test_an_auto_delete_reply_queue_and_exchange_go_with_the_last_consumer_and_unbind_still_succeeds(channel, name):
    queue = channel.queue_declare("", auto_delete=True).method.queue
    channel.exchange_declare(name, "headers", auto_delete=True)
    channel.queue_bind(queue, name, "", arguments={"From": queue, "x-match": "any"})
    tag = channel.basic_consume(queue, lambda *a: None, auto_ack=True, exclusive=True)
    channel.basic_cancel(tag)
    channel.queue_unbind(queue, name, "", arguments={"From": queue, "x-match": "any"})
    with pytest.raises(ChannelClosedByBroker) as e:
        channel.exchange_declare(name, passive=True)
    assert e.value.reply_code == 404


def test_delete_if_empty_counts_ready_messages_not_unacknowledged_deliveries(connection, channel, name):
    channel.queue_declare(name)
    channel.basic_publish("", name, b"taken")
    method, _, _ = channel.basic_get(name)
    assert method is not None
    assert channel.queue_delete(name, if_empty=True).method.message_count == 0
    with pytest.raises(ChannelClosedByBroker) as e:
        connection.channel().queue_declare(name, passive=True)
    assert e.value.reply_code == 404


def test_a_per_message_expiration_becomes_original_expiration_in_x_death(channel, name):
    channel.exchange_declare(name + "-dlx", "direct")
    channel.queue_declare(name + "-dlq")
    channel.queue_bind(name + "-dlq", name + "-dlx", "dead")
    channel.queue_declare(
        name, arguments={"x-dead-letter-exchange": name + "-dlx", "x-dead-letter-routing-key": "dead"}
    )
    channel.basic_publish("", name, b"short-lived", pika.BasicProperties(expiration="300"))
    deadline = time.monotonic() + 10
    while True:
        method, props, body = channel.basic_get(name + "-dlq", auto_ack=True)
        if method is not None or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert body == b"short-lived"
    assert props.expiration is None
    death = props.headers["x-death"][0]
    assert death["reason"] == "expired" and death["original-expiration"] == "300"
