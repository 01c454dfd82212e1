"""Fixtures of the AMQP suites: pika connections to `ferry serve`'s AMQP 0-9-1 listener."""

import uuid

import pika
import pytest

from amqp_helpers import parameters


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
