"""Fixtures of the AMQP suites: pika connections to `ferry serve`'s AMQP 0-9-1 listener."""

import uuid

import pika
import pytest


def parameters(server, **kwargs):
    """pika's connection parameters for `server` with the default guest/guest user."""
    host, port = server.amqp_address.rsplit(":", 1)
    kwargs.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    return pika.ConnectionParameters(host=host, port=int(port), **kwargs)


@pytest.fixture
def connection(ferry_server):
    """A blocking pika connection, closed at the end of the test."""
    conn = pika.BlockingConnection(parameters(ferry_server))
    try:
        yield conn
    finally:
        if conn.is_open:
            conn.close()


@pytest.fixture
def channel(connection):
    return connection.channel()


@pytest.fixture
def name():
    """A queue or exchange name no other test uses."""
    return "t-" + uuid.uuid4().hex[:12]
