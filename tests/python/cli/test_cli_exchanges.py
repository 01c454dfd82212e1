"""`ferry exchange …`, `ferry bind`, `ferry unbind` and `ferry bindings` against a running broker."""


def test_exchange_create_list_describe_delete(ferry, name):
    assert ferry("exchange", "create", name, "--type", "fanout").stdout.strip() == f"created fanout exchange {name}"
    listed = ferry("exchange", "list", "-o", "json").json()
    mine = [x for x in listed if x["name"] == name]
    assert len(mine) == 1 and mine[0]["type"] == "fanout"
    assert any(line.split()[:2] == [name, "fanout"] for line in ferry("exchange", "list").stdout.splitlines())
    described = ferry("exchange", "describe", name, "-o", "json").json()
    assert described["name"] == name
    ferry("exchange", "delete", name)
    assert "not_found" in ferry("exchange", "describe", name, expect=1).stderr


def test_bind_routes_and_unbind_removes(ferry, name):
    exchange, queue = name + "-x", name + "-q"
    ferry("exchange", "create", exchange, "-t", "direct")
    ferry("queue", "create", queue)
    bound = ferry("bind", exchange, queue, "--routing-key", "rk")
    assert bound.stdout.strip() == f'bound queue {queue} to {exchange} (routing key "rk")'

    bindings = ferry("bindings", "--source", exchange, "-o", "json").json()
    assert [(b["destination"], b["routing_key"]) for b in bindings] == [(queue, "rk")]
    table = ferry("bindings", "--source", exchange).stdout.splitlines()
    assert table[0].split()[:4] == ["SOURCE", "DESTINATION", "DESTINATION_TYPE", "ROUTING_KEY"]
    described = ferry("exchange", "describe", exchange).stdout
    assert queue in described

    assert ferry("publish", exchange, "routed", "-k", "rk", "-o", "json").json()["routed"] is True
    assert ferry("publish", exchange, "-k", "other", input="dropped\n").stdout.strip().endswith("dropped")
    messages = ferry("receive", queue, "--max", "10", "-o", "json").json()["messages"]
    assert [m["body"] for m in messages] == ["routed"]

    ferry("unbind", exchange, queue, "-k", "rk")
    assert ferry("bindings", "--source", exchange, "-o", "json").json() == []
