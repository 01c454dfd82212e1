"""The HTTP listener's limits against clients that misbehave: a full listener still answers
(closing its longest idle connection, or 503 in the API's JSON), headers that stop arriving and
bodies that stall end their connection, and the broker serves everyone else meanwhile."""

import json
import socket
import time
import urllib.error
import urllib.request

import pytest

MAX_CONNECTIONS = 8


@pytest.fixture
def server(ferry_server_with, tmp_path):
    config = tmp_path / "ferry.toml"
    config.write_text(
        "[http]\n"
        f"max_connections = {MAX_CONNECTIONS}\n"
        "idle_timeout_ms = 2000\n"
        "header_read_timeout_ms = 1000\n"
        "body_read_timeout_ms = 1000\n"
    )
    return ferry_server_with(["--config", str(config)])


def address(server):
    host, port = server.listeners["http"].rsplit(":", 1)
    return host, int(port)


def healthy(server, within_s=5):
    """Whether /healthz answers 200 within `within_s` (connections just closed may hold their
    places for a moment)."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with urllib.request.urlopen(server.http_url + "/healthz", timeout=5) as response:
                return response.status == 200
        except urllib.error.HTTPError as e:
            if e.code != 503 or time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def read_all(s, timeout=5):
    s.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = s.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_idle_connections_beyond_the_limit_do_not_starve_a_client(server):
    sockets = [socket.create_connection(address(server), timeout=5) for _ in range(MAX_CONNECTIONS + 4)]
    try:
        started = time.monotonic()
        assert healthy(server)
        assert time.monotonic() - started < 3
    finally:
        for s in sockets:
            s.close()


def test_a_full_listener_of_busy_connections_answers_503_in_json(server):
    # Connections that are mid-request (headers begun) are not idle, so none can be evicted.
    busy = []
    try:
        for _ in range(MAX_CONNECTIONS):
            s = socket.create_connection(address(server), timeout=5)
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            busy.append(s)
        time.sleep(0.2)
        s = socket.create_connection(address(server), timeout=5)
        s.sendall(b"GET /api/v1/overview HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = read_all(s, timeout=5)
        s.close()
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503"), answer[:200]
        assert json.loads(body)["error"]["code"] == "unavailable"
    finally:
        for s in busy:
            s.close()
    assert healthy(server)


def test_headers_that_stop_arriving_close_the_connection(server):
    s = socket.create_connection(address(server), timeout=5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    assert read_all(s, timeout=5) == b""
    assert 0.5 < time.monotonic() - started < 4.5
    s.close()
    assert healthy(server)


def test_a_body_that_stalls_is_answered_408(server):
    s = socket.create_connection(address(server), timeout=5)
    s.sendall(
        b"POST /api/v1/queues HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n{\"name\":"
    )
    answer = read_all(s, timeout=5)
    s.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408"), answer[:200]
    assert json.loads(body)["error"]["code"] == "request_timeout"
    assert healthy(server)


def test_garbage_gets_400_and_the_broker_carries_on(server):
    s = socket.create_connection(address(server), timeout=5)
    s.sendall(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
    answer = read_all(s, timeout=5)
    s.close()
    assert answer == b"" or answer.startswith(b"HTTP/1.1 400")
    assert healthy(server)
