"""Exchanges and bindings through pika: every exchange type, exchange-to-exchange bindings,
alternate exchanges, mandatory returns and publisher confirms."""

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker, UnroutableError


def bodies(channel, queue):
    out = []
    while True:
        method, _, body = channel.basic_get(queue, auto_ack=True)
        if not method:
            return out
        out.append(body)


def queues(channel, prefix, n):
    names = [f"{prefix}-q{i}" for i in range(n)]
    for q in names:
        channel.queue_declare(q, auto_delete=False)
    return names


def test_direct_exchange_routes_by_exact_key(channel, name):
    channel.exchange_declare(name, "direct")
    a, b = queues(channel, name, 2)
    channel.queue_bind(a, name, "red")
    channel.queue_bind(b, name, "blue")
    channel.basic_publish(name, "red", b"r")
    channel.basic_publish(name, "blue", b"b")
    channel.basic_publish(name, "green", b"g")
    assert bodies(channel, a) == [b"r"] and bodies(channel, b) == [b"b"]


def test_fanout_exchange_copies_to_every_bound_queue(channel, name):
    channel.exchange_declare(name, "fanout")
    qs = queues(channel, name, 3)
    for q in qs:
        channel.queue_bind(q, name)
    channel.basic_publish(name, "ignored", b"all")
    assert [bodies(channel, q) for q in qs] == [[b"all"]] * 3


@pytest.mark.parametrize(
    "pattern,key,matches",
    [
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.c", False),
        ("a.#", "a", True),
        ("a.#", "a.b.c", True),
        ("#.c", "c", True),
        ("#", "", True),
        ("*", "", False),
        ("a.#.c", "a.c", True),
        ("a.#.c", "a.x.y.c", True),
        ("a.*", "a.b.c", False),
    ],
)
def test_topic_exchange_matches_star_and_hash(channel, name, pattern, key, matches):
    channel.exchange_declare(name, "topic")
    (q,) = queues(channel, name, 1)
    channel.queue_bind(q, name, pattern)
    channel.basic_publish(name, key, b"m")
    assert bodies(channel, q) == ([b"m"] if matches else [])


def test_headers_exchange_all_and_any(channel, name):
    channel.exchange_declare(name, "headers")
    all_q, any_q = queues(channel, name, 2)
    channel.queue_bind(all_q, name, arguments={"x-match": "all", "format": "pdf", "type": "report"})
    channel.queue_bind(any_q, name, arguments={"x-match": "any", "format": "pdf", "type": "report"})
    channel.basic_publish(name, "", b"both", pika.BasicProperties(headers={"format": "pdf", "type": "report"}))
    channel.basic_publish(name, "", b"one", pika.BasicProperties(headers={"format": "pdf", "type": "log"}))
    assert bodies(channel, all_q) == [b"both"]
    assert bodies(channel, any_q) == [b"both", b"one"]


def test_predeclared_exchanges_exist(channel):
    for x, kind in [("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
                    ("amq.headers", "headers"), ("amq.match", "headers")]:
        channel.exchange_declare(x, kind, passive=True)


def test_exchange_to_exchange_bindings_route_onward(channel, name):
    channel.exchange_declare(name + "-front", "topic")
    channel.exchange_declare(name + "-back", "fanout")
    channel.exchange_bind(name + "-back", name + "-front", "logs.#")
    (q,) = queues(channel, name, 1)
    channel.queue_bind(q, name + "-back")
    channel.basic_publish(name + "-front", "logs.error", b"e")
    channel.basic_publish(name + "-front", "metrics.cpu", b"m")
    assert bodies(channel, q) == [b"e"]


def test_alternate_exchange_takes_what_routes_nowhere(channel, name):
    channel.exchange_declare(name + "-ae", "fanout")
    channel.exchange_declare(name, "direct", arguments={"alternate-exchange": name + "-ae"})
    main, spare = queues(channel, name, 2)
    channel.queue_bind(main, name, "k")
    channel.queue_bind(spare, name + "-ae")
    channel.basic_publish(name, "k", b"routed")
    channel.basic_publish(name, "other", b"unrouted")
    assert bodies(channel, main) == [b"routed"] and bodies(channel, spare) == [b"unrouted"]


def test_unbind_stops_routing(channel, name):
    channel.exchange_declare(name, "direct")
    (q,) = queues(channel, name, 1)
    channel.queue_bind(q, name, "k")
    channel.queue_unbind(q, name, "k")
    channel.basic_publish(name, "k", b"x")
    assert bodies(channel, q) == []


def test_mandatory_unroutable_publish_is_returned_under_confirms(channel, name):
    channel.exchange_declare(name, "direct")
    channel.confirm_delivery()
    with pytest.raises(UnroutableError):
        channel.basic_publish(name, "nowhere", b"x", mandatory=True)


def test_confirms_ack_routed_publishes(channel, name):
    channel.queue_declare(name, durable=True)
    channel.confirm_delivery()
    for i in range(20):
        channel.basic_publish("", name, str(i).encode(), pika.BasicProperties(delivery_mode=2))
    assert len(bodies(channel, name)) == 20


def test_publishing_to_a_missing_exchange_closes_the_channel_with_404(connection, name):
    ch = connection.channel()
    ch.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.basic_publish(name + "-missing", "k", b"x")
    assert e.value.reply_code == 404


def test_declaring_an_amq_prefixed_exchange_is_refused_with_403(connection):
    ch = connection.channel()
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.exchange_declare("amq.custom", "direct")
    assert e.value.reply_code == 403


def test_redeclaring_an_exchange_with_another_type_fails_with_406(connection, name):
    ch = connection.channel()
    ch.exchange_declare(name, "direct")
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.exchange_declare(name, "fanout")
    assert e.value.reply_code == 406


def test_delete_if_unused_refuses_an_exchange_with_bindings(connection, name):
    ch = connection.channel()
    ch.exchange_declare(name, "fanout")
    (q,) = queues(ch, name, 1)
    ch.queue_bind(q, name)
    with pytest.raises(ChannelClosedByBroker) as e:
        ch.exchange_delete(name, if_unused=True)
    assert e.value.reply_code == 406


def test_an_unknown_exchange_type_closes_the_channel_with_406(connection, name):
    with pytest.raises(ChannelClosedByBroker) as e:
        connection.channel().exchange_declare(name, "x-no-such-type")
    assert e.value.reply_code == 406
    assert connection.is_open


def test_update_secret_is_accepted(connection):
    channel = connection.channel()
    connection.update_secret("new-secret", "rotation")
    assert connection.is_open and channel.is_open
