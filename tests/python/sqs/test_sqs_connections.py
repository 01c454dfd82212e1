"""The SQS listener's connections under load from silent clients: boto3 (both protocols) is
still answered at once when more idle connections are open than `max_connections` allows,
and silent connections are closed after `idle_timeout_ms`."""

import resource
import socket
import time

import pytest
from botocore.config import Config

from sqs_helpers import sqs_client
from sqs_query_model import query_client

IDLE_TIMEOUT_MS = 3000


@pytest.fixture
def server(ferry_server_with, tmp_path):
    """A broker with the default `max_connections` (1024) and a short idle timeout. Both this
    process and the broker (which inherits the limit) need more than 1,034 descriptors."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    config = tmp_path / "ferry.toml"
    config.write_text(f"[sqs]\nidle_timeout_ms = {IDLE_TIMEOUT_MS}\n")
    return ferry_server_with(["--config", str(config)])


def json_client(server):
    return sqs_client(server, Config(connect_timeout=5, read_timeout=5, retries={"max_attempts": 1}))


def silent_connections(server, count):
    host, port = server.listeners["sqs"].rsplit(":", 1)
    sockets = []
    for _ in range(count):
        s = socket.create_connection((host, int(port)), timeout=5)
        sockets.append(s)
    return sockets


def test_silent_connections_beyond_the_limit_do_not_starve_boto3(server):
    sockets = silent_connections(server, 1034)
    try:
        started = time.monotonic()
        url = json_client(server).create_queue(QueueName="starved")["QueueUrl"]
        query_client(server.sqs_endpoint).send_message(QueueUrl=url, MessageBody="still served")
        assert time.monotonic() - started < 5
        got = json_client(server).receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
        assert [m["Body"] for m in got] == ["still served"]
    finally:
        for s in sockets:
            s.close()


def test_a_silent_connection_is_closed_after_idle_timeout(server):
    (s,) = silent_connections(server, 1)
    try:
        s.settimeout(IDLE_TIMEOUT_MS / 1000 + 5)
        started = time.monotonic()
        assert s.recv(1) == b""
        assert time.monotonic() - started >= IDLE_TIMEOUT_MS / 1000 - 0.5
    finally:
        s.close()
