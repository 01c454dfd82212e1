"""Helpers of the console's browser tests: a small client of the REST API, and waiting."""

import json
import time
import urllib.error
import urllib.parse
import urllib.request

from confluent_kafka.admin import AdminClient, NewTopic


class Rest:
    """The REST API under /api/v1, answering parsed JSON; raises RestError on an error status."""

    def __init__(self, base_url):
        self.base = base_url + "/api/v1"

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            request.add_header("content-type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                text = response.read()
        except urllib.error.HTTPError as e:
            raise RestError(e.code, e.read().decode(errors="replace")) from None
        return json.loads(text) if text else None

    def get(self, path):
        return self.call("GET", path)

    def post(self, path, body=None):
        return self.call("POST", path, body)

    def queue(self, name):
        return self.get(f"/queues/{urllib.parse.quote(name, safe='')}")


class RestError(Exception):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body}")
        self.status = status
        self.body = body


def quote(name):
    """A name as a path segment."""
    return urllib.parse.quote(name, safe="")


def wait_for(condition, what, deadline_s=10):
    """Polls `condition()` until it holds; fails naming `what` after the deadline."""
    deadline = time.monotonic() + deadline_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def api_error_message(rest, method, path, body=None):
    """The `error.message` the API answers to a request that must fail."""
    try:
        rest.call(method, path, body)
    except RestError as e:
        return json.loads(e.body)["error"]["message"]
    raise AssertionError(f"{method} {path} did not fail")


def create_topic(bootstrap, name, partitions):
    """Creates a topic with a Kafka admin client and waits for the answer."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])[name].result(10)
