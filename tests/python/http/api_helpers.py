"""Helpers of the REST API suites (`/api/v1`): a small client and assertions on error answers."""

import json as jsonlib
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pika


def unique(prefix):
    """A name no other test uses (the session broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Response:
    """What an answer carries: status_code, headers, text and json()."""

    def __init__(self, status_code, headers, body):
        self.status_code = status_code
        self.headers = headers
        self.text = body.decode("utf-8", "replace")

    def json(self):
        return jsonlib.loads(self.text)


class Api:
    """Requests against `/api/v1` of a running broker; every call returns a `Response`, whatever
    its status. `json=` sends a JSON body; `data=` sends bytes or text as they are, with the
    `headers=` given; `params=` become the query."""

    def __init__(self, server):
        self.base = server.http_url + "/api/v1"

    def request(self, method, path, json=None, data=None, params=None, headers=None, timeout=30):
        url = self.base + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = dict(headers or {})
        if json is not None:
            data = jsonlib.dumps(json)
            headers.setdefault("Content-Type", "application/json")
        if isinstance(data, str):
            data = data.encode()
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                return Response(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, error.headers, error.read())

    def get(self, path, **kwargs):
        return self.request("GET", path, **kwargs)

    def post(self, path, json=None, **kwargs):
        return self.request("POST", path, json=json, **kwargs)

    def patch(self, path, json=None, **kwargs):
        return self.request("PATCH", path, json=json, **kwargs)

    def delete(self, path, **kwargs):
        return self.request("DELETE", path, **kwargs)

    def ok(self, method, path, status=None, **kwargs):
        """The JSON of a successful answer (None for 204); asserts the status when given."""
        response = self.request(method, path, **kwargs)
        if status is not None:
            assert response.status_code == status, f"{method} {path}: {response.status_code} {response.text}"
        else:
            assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}"
        return None if response.status_code == 204 else response.json()

    # Queues.
    def create_queue(self, name, **settings):
        body = {"name": name, "settings": settings} if settings else {"name": name}
        return self.ok("POST", "/queues", 201, json=body)

    def send(self, queue, body, **fields):
        return self.ok("POST", f"/queues/{queue}/messages", 201, json={"body": body, **fields})

    def receive(self, queue, **fields):
        return self.ok("POST", f"/queues/{queue}/receive", 200, json=fields)["messages"]

    def receive_one(self, queue, timeout_s=10, **fields):
        """The first message a receive returns, waiting up to `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            got = self.receive(queue, wait_ms=500, **fields)
            if got:
                return got[0]
        raise AssertionError(f"no message arrived on {queue} within {timeout_s}s")

    def ack(self, queue, receipt):
        return self.request("POST", f"/queues/{queue}/ack", json={"receipt": receipt})

    def queue(self, name):
        return self.ok("GET", f"/queues/{name}", 200)

    # Topics.
    def create_topic(self, name, partitions=1, **config):
        body = {"name": name, "partitions": partitions}
        if config:
            body["config"] = config
        return self.ok("POST", "/topics", 201, json=body)

    def produce(self, topic, records):
        return self.ok("POST", f"/topics/{topic}/records", 201, json={"records": records})["offsets"]

    def read(self, topic, **params):
        return self.ok("GET", f"/topics/{topic}/records", 200, params=params)


def assert_error(response, status, code):
    """`response` is the API's error answer with this status and code, and a message for a person."""
    assert response.status_code == status, f"expected {status} {code}, got {response.status_code}: {response.text}"
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    error = response.json()["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"], error
    return error["message"]


def wait_until(predicate, timeout_s=10, interval_s=0.05, what="the condition"):
    """Calls `predicate` until it returns a true value (returned), failing after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout_s}s (last: {value!r})")
        time.sleep(interval_s)


def amqp_connection(server):
    host, port = server.amqp_address.rsplit(":", 1)
    return pika.BlockingConnection(
        pika.ConnectionParameters(
            host=host, port=int(port), credentials=pika.PlainCredentials("guest", "guest")
        )
    )
