"""Fixtures of the command-line suite: the `ferry` binary against the session's broker."""

import socket
import uuid

import pytest

from cli_helpers import run_ferry


@pytest.fixture(scope="session")
def ferry(ferry_server):
    """`ferry(*args, input=None, expect=0)`: runs a client command against the session's broker."""

    def run(*args, **kwargs):
        kwargs.setdefault("url", ferry_server.http_url)
        return run_ferry(*args, **kwargs)

    return run


@pytest.fixture
def name():
    """A name no other test uses."""
    return "cli-" + uuid.uuid4().hex[:10]


@pytest.fixture
def closed_url():
    """The URL of a loopback port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
