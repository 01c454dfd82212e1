"""`/api/v1/exchanges` and `/api/v1/bindings` against the real server: exchanges and bindings made
over REST route a REST publish and a pika publish; unroutable publishes say so; removing a
binding stops routing; the errors of each endpoint."""

import pytest

from api_helpers import Api, amqp_connection, assert_error, unique, wait_until


@pytest.fixture
def api(ferry_server):
    return Api(ferry_server)


def create_exchange(api, name, kind, **fields):
    return api.ok("POST", "/exchanges", 201, json={"name": name, "type": kind, **fields})


def bind(api, source, destination, routing_key="", destination_type="queue", **fields):
    return api.ok(
        "POST",
        "/bindings",
        201,
        json={"source": source, "destination": destination, "destination_type": destination_type,
              "routing_key": routing_key, **fields},
    )


def publish(api, exchange, routing_key, body, **fields):
    return api.ok("POST", f"/exchanges/{exchange}/publish", 200,
                  json={"routing_key": routing_key, "body": body, **fields})


def test_create_describe_and_delete_an_exchange(api):
    name = unique("x")
    created = create_exchange(api, name, "topic", durable=False)
    assert created == {"name": name, "type": "topic", "durable": False, "auto_delete": False, "internal": False,
                       "arguments": {}}
    again = api.post("/exchanges", {"name": name, "type": "topic", "durable": False})
    assert again.status_code == 200, again.text
    assert_error(api.post("/exchanges", {"name": name, "type": "fanout", "durable": False}), 409, "conflict")

    described = api.ok("GET", f"/exchanges/{name}", 200)
    assert described["type"] == "topic" and described["bindings"] == []

    assert api.delete(f"/exchanges/{name}").status_code == 204
    assert_error(api.get(f"/exchanges/{name}"), 404, "exchange_not_found")
    assert_error(api.delete(f"/exchanges/{name}"), 404, "exchange_not_found")


def test_create_errors(api):
    assert_error(api.post("/exchanges", {"name": unique("x"), "type": "bogus"}), 400, "invalid_type")
    assert_error(api.post("/exchanges", {"name": "", "type": "direct"}), 400, "invalid_name")
    assert_error(api.post("/exchanges", {"name": "x" * 256, "type": "direct"}), 400, "invalid_name")
    assert_error(api.post("/exchanges", {"name": "amq.mine", "type": "direct"}), 403, "forbidden")
    assert_error(api.post("/exchanges", {"name": unique("x")}), 400, "invalid_body")
    assert_error(api.post("/exchanges", {"name": unique("x"), "type": "direct", "colour": 1}), 400, "invalid_body")
    assert_error(
        api.post("/exchanges", data='{"name": "x", "type": "direct"}', headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )


def test_the_amq_exchanges_are_listed_and_cannot_be_deleted(api):
    names = [x["name"] for x in api.ok("GET", "/exchanges", 200, params={"limit": 1000})["items"]]
    for builtin in ("amq.direct", "amq.fanout", "amq.topic", "amq.headers"):
        assert builtin in names
        assert_error(api.delete(f"/exchanges/{builtin}"), 403, "forbidden")
    assert api.ok("GET", "/exchanges/amq.topic", 200)["type"] == "topic"


def test_list_pages_over_exchanges(api):
    prefix = unique("xp")
    names = sorted(f"{prefix}-{i}" for i in range(3))
    for n in names:
        create_exchange(api, n, "direct")
    first = api.ok("GET", "/exchanges", 200, params={"limit": 2, "after": prefix})
    assert [x["name"] for x in first["items"]] == names[:2] and first["next"] == names[1]
    second = api.ok("GET", "/exchanges", 200, params={"limit": 2, "after": first["next"]})
    assert second["items"][0]["name"] == names[2]
    for limit in ("0", "1001", "x"):
        assert_error(api.get("/exchanges", params={"limit": limit}), 400,
                     "invalid_query" if limit == "x" else "invalid_limit")


def test_a_topic_exchange_routes_rest_and_pika_publishes_to_the_bound_queue(api, ferry_server):
    exchange, queue = unique("x-topic"), unique("q-bound")
    create_exchange(api, exchange, "topic")
    api.create_queue(queue)
    binding = bind(api, exchange, queue, "orders.*")
    assert binding == {"source": exchange, "destination": queue, "destination_type": "queue",
                       "routing_key": "orders.*", "arguments": {}}
    assert api.ok("GET", f"/exchanges/{exchange}", 200)["bindings"] == [binding]
    assert api.ok("GET", "/bindings", 200, params={"source": exchange})["items"] == [binding]
    assert api.ok("GET", "/bindings", 200, params={"destination": queue})["items"] == [binding]

    result = publish(api, exchange, "orders.eu", "over rest", headers={"region": "eu"})
    assert result["routed"] is True and result["queues"] == [queue]
    m = api.receive_one(queue)
    assert (m["body"], m["headers"]) == ("over rest", {"region": "eu"})
    api.ok("POST", f"/queues/{queue}/ack", 204, json={"receipt": m["receipt"]})

    connection = amqp_connection(ferry_server)
    try:
        channel = connection.channel()
        channel.basic_publish(exchange, "orders.us", b"over amqp")
        channel.basic_publish(exchange, "payments.us", b"not routed")
    finally:
        connection.close()
    m = api.receive_one(queue)
    assert m["body"] == "over amqp"
    api.ok("POST", f"/queues/{queue}/ack", 204, json={"receipt": m["receipt"]})

    unrouted = publish(api, exchange, "payments.eu", "nowhere")
    assert unrouted == {"routed": False, "queues": [], "topics": []}
    assert publish(api, exchange, "orders.eu.extra", "nowhere")["routed"] is False

    response = api.delete("/bindings", params={"source": exchange, "destination": queue,
                                               "destination_type": "queue", "routing_key": "orders.*"})
    assert response.status_code == 204, response.text
    assert publish(api, exchange, "orders.eu", "after unbind")["routed"] is False
    assert api.ok("GET", f"/exchanges/{exchange}", 200)["bindings"] == []
    assert api.receive(queue) == []
    assert api.queue(queue)["stats"]["ready"] == 0


def test_fanout_and_direct_exchanges(api):
    fanout, direct = unique("x-fan"), unique("x-dir")
    q1, q2 = unique("q-a"), unique("q-b")
    create_exchange(api, fanout, "fanout")
    create_exchange(api, direct, "direct")
    api.create_queue(q1)
    api.create_queue(q2)
    bind(api, fanout, q1)
    bind(api, fanout, q2, "ignored")
    bind(api, direct, q1, "one")
    assert sorted(publish(api, fanout, "anything", "all")["queues"]) == sorted([q1, q2])
    assert publish(api, direct, "one", "to one")["queues"] == [q1]
    assert publish(api, direct, "two", "to none")["routed"] is False
    wait_until(lambda: api.queue(q1)["stats"]["ready"] == 2 and api.queue(q2)["stats"]["ready"] == 1)


def test_an_exchange_bound_to_a_topic_appends_records(api):
    exchange, topic = unique("x-log"), unique("t-log")
    create_exchange(api, exchange, "direct")
    api.create_topic(topic)
    bind(api, exchange, topic, "log", destination_type="topic")
    result = publish(api, exchange, "log", "into the log")
    assert result["routed"] is True and result["topics"] == [topic]
    records = wait_until(lambda: api.read(topic)["records"], what="the record in the topic")
    assert records[0]["value"] == "into the log"


def test_exchange_to_exchange_binding(api):
    front, back, queue = unique("x-front"), unique("x-back"), unique("q-e2e")
    create_exchange(api, front, "fanout")
    create_exchange(api, back, "direct")
    api.create_queue(queue)
    bind(api, front, back, destination_type="exchange")
    bind(api, back, queue, "k")
    assert publish(api, front, "k", "twice routed")["queues"] == [queue]
    assert api.receive_one(queue)["body"] == "twice routed"


def test_binding_errors(api):
    exchange, queue = unique("x-err"), unique("q-err")
    create_exchange(api, exchange, "direct")
    api.create_queue(queue)
    assert_error(api.post("/bindings", {"source": unique("none"), "destination": queue}), 404, "exchange_not_found")
    assert_error(api.post("/bindings", {"source": exchange, "destination": unique("none")}), 404, "queue_not_found")
    assert_error(api.post("/bindings", {"source": exchange, "destination": unique("none"),
                                        "destination_type": "exchange"}), 404, "exchange_not_found")
    assert_error(api.post("/bindings", {"source": exchange, "destination": unique("none"),
                                        "destination_type": "topic"}), 404, "topic_not_found")
    assert_error(api.post("/bindings", {"source": exchange, "destination": queue, "destination_type": "bucket"}),
                 400, "invalid_destination_type")
    assert_error(api.post("/bindings", {"source": exchange}), 400, "invalid_body")
    assert_error(api.delete("/bindings", params={"source": exchange, "destination": queue, "routing_key": "k"}),
                 404, "binding_not_found")
    assert_error(api.delete("/bindings", params={"source": exchange, "destination": queue,
                                                 "destination_type": "bucket"}), 400, "invalid_destination_type")
    assert_error(api.delete("/bindings", params={"source": exchange}), 400, "invalid_query")


def test_publish_errors(api):
    exchange = unique("x-pub")
    create_exchange(api, exchange, "direct")
    assert_error(api.post(f"/exchanges/{unique('none')}/publish", {"routing_key": "k", "body": "x"}), 404,
                 "exchange_not_found")
    assert_error(api.post(f"/exchanges/{exchange}/publish", {"routing_key": "k"}), 400, "invalid_body")
    assert_error(api.post(f"/exchanges/{exchange}/publish", {"routing_key": "k", "body": "x", "body_base64": "eA=="}),
                 400, "invalid_body")
    assert_error(api.post(f"/exchanges/{exchange}/publish", {"routing_key": "k", "body": "x", "mandatory": True}),
                 400, "invalid_body")


def test_delete_if_unused_refuses_an_exchange_with_bindings(api):
    exchange, queue = unique("x-used"), unique("q-used")
    create_exchange(api, exchange, "direct")
    api.create_queue(queue)
    bind(api, exchange, queue, "k")
    assert_error(api.delete(f"/exchanges/{exchange}", params={"if_unused": "true"}), 409, "conflict")
    assert api.delete(f"/exchanges/{exchange}").status_code == 204
    assert api.ok("GET", "/bindings", 200, params={"destination": queue})["items"] == []
    assert api.queue(queue)["name"] == queue


def test_a_headers_exchange_matches_the_published_headers(api):
    exchange, queue = unique("x-hdr"), unique("q-hdr")
    create_exchange(api, exchange, "headers")
    api.create_queue(queue)
    binding = bind(api, exchange, queue, arguments={"x-match": "all", "region": "eu"})
    assert binding["arguments"] == {"x-match": "all", "region": "eu"}
    assert publish(api, exchange, "", "eu", headers={"region": "eu", "extra": "1"})["queues"] == [queue]
    assert publish(api, exchange, "", "us", headers={"region": "us"})["routed"] is False
    assert publish(api, exchange, "", "none")["routed"] is False
    assert api.receive_one(queue)["body"] == "eu"


def test_deleting_a_queue_removes_its_bindings(api):
    exchange, queue = unique("x-gone"), unique("q-gone")
    create_exchange(api, exchange, "direct")
    api.create_queue(queue)
    bind(api, exchange, queue, "k")
    assert api.delete(f"/queues/{queue}").status_code == 204
    assert api.ok("GET", f"/exchanges/{exchange}", 200)["bindings"] == []
    assert publish(api, exchange, "k", "nowhere")["routed"] is False


def test_the_default_exchange_routes_by_queue_name_and_takes_no_bindings(api):
    queue = unique("q-default")
    api.create_queue(queue)
    listed = api.ok("GET", "/exchanges", 200, params={"limit": 1})["items"]
    assert listed[0]["name"] == "" and listed[0]["type"] == "direct"
    assert publish(api, "", queue, "by name")["queues"] == [queue]
    assert api.receive_one(queue)["body"] == "by name"
    assert_error(api.post("/bindings", {"source": "", "destination": queue, "routing_key": "x"}), 403, "forbidden")
    # In a path the default exchange is amq.default, as in RabbitMQ's management API.
    assert publish(api, "amq.default", queue, "by its path name")["queues"] == [queue]
    assert api.ok("GET", "/exchanges/amq.default", 200)["name"] == ""
    assert_error(api.delete("/exchanges/amq.default"), 403, "forbidden")


def test_publishing_to_an_internal_exchange_is_forbidden(api):
    exchange = unique("x-internal")
    created = create_exchange(api, exchange, "direct", internal=True)
    assert created["internal"] is True
    assert_error(api.post(f"/exchanges/{exchange}/publish", {"routing_key": "k", "body": "x"}), 403, "forbidden")


def test_binding_twice_keeps_one_binding(api):
    exchange, queue = unique("x-twice"), unique("q-twice")
    create_exchange(api, exchange, "direct")
    api.create_queue(queue)
    bind(api, exchange, queue, "k")
    bind(api, exchange, queue, "k")
    assert len(api.ok("GET", "/bindings", 200, params={"source": exchange})["items"]) == 1
    assert publish(api, exchange, "k", "once")["queues"] == [queue]
    assert api.queue(queue)["stats"]["ready"] == 1


def test_deleting_an_exchange_removes_the_bindings_to_it(api):
    front, back = unique("x-front"), unique("x-back")
    create_exchange(api, front, "fanout")
    create_exchange(api, back, "fanout")
    bind(api, front, back, destination_type="exchange")
    assert api.delete(f"/exchanges/{back}").status_code == 204
    assert api.ok("GET", f"/exchanges/{front}", 200)["bindings"] == []
    assert publish(api, front, "k", "nowhere")["routed"] is False


def test_deleting_a_topic_removes_the_bindings_to_it(api):
    exchange, topic = unique("x-tgone"), unique("t-gone")
    create_exchange(api, exchange, "direct")
    api.create_topic(topic)
    bind(api, exchange, topic, "k", destination_type="topic")
    assert api.delete(f"/topics/{topic}").status_code == 204
    response = api.post(f"/exchanges/{exchange}/publish", {"routing_key": "k", "body": "x"})
    assert response.status_code == 200, response.text
    assert response.json()["routed"] is False
    assert api.ok("GET", f"/exchanges/{exchange}", 200)["bindings"] == []
