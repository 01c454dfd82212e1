"""Shared fixtures: a real `ferry serve` process on free loopback ports with a temporary data dir.

The binary is taken from $FERRY_BIN, else target/debug/ferry (scripts/test builds it first).
Each listener prints a line `<name> listening on <host:port>` on stdout; the fixture reads them.
"""

import ctypes
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTENING = re.compile(r"^(\w+) listening on (\S+)$")
READY = "serving from"
START_TIMEOUT_S = 60


def _die_with_parent():
    """Make the broker receive SIGTERM if the test process dies, so it never outlives the run."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


class FerryServer:
    """A running broker. Attributes: kafka_bootstrap, sqs_endpoint, amqp_address, http_url, data_dir, listeners."""

    def __init__(self, data_dir, extra_args=()):
        self.data_dir = data_dir
        self.extra_args = list(extra_args)
        self.binary = os.environ.get("FERRY_BIN", str(ROOT / "target" / "debug" / "ferry"))
        self.listeners = {}
        self.proc = None
        self.output = []

    def _listen_args(self):
        # On restart, keep the ports the clients already know.
        kafka = self.listeners.get("kafka", "127.0.0.1:0")
        sqs = self.listeners.get("sqs", "127.0.0.1:0")
        amqp = self.listeners.get("amqp", "127.0.0.1:0")
        http = self.listeners.get("http", "127.0.0.1:0")
        return ["--kafka-listen", kafka, "--sqs-listen", sqs, "--amqp-listen", amqp, "--http-listen", http]

    def start(self):
        args = [self.binary, "serve", "--data-dir", str(self.data_dir), *self._listen_args(), *self.extra_args]
        env = dict(os.environ, FERRY_LOG=os.environ.get("FERRY_LOG", "warn"))
        self.proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            preexec_fn=_die_with_parent,
        )
        ready = threading.Event()

        def pump():
            for line in self.proc.stdout:
                line = line.rstrip("\n")
                self.output.append(line)
                m = LISTENING.match(line)
                if m:
                    self.listeners[m.group(1)] = m.group(2)
                if READY in line:
                    ready.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ready.is_set():
            if self.proc.poll() is not None:
                raise RuntimeError("ferry serve exited early:\n" + "\n".join(self.output))
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("ferry serve did not become ready:\n" + "\n".join(self.output))
            ready.wait(0.05)
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def kill(self):
        """kill -9: no shutdown, nothing synced beyond what was acknowledged."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    @property
    def kafka_bootstrap(self):
        return self.listeners["kafka"]

    @property
    def sqs_endpoint(self):
        return "http://" + self.listeners["sqs"]

    @property
    def http_url(self):
        """Base URL of the HTTP listener (REST API, metrics, console)."""
        return "http://" + self.listeners["http"]

    @property
    def amqp_address(self):
        """host:port of the AMQP 0-9-1 listener."""
        return self.listeners["amqp"]


@pytest.fixture(scope="session")
def ferry_server():
    """One broker for the whole session (tests use unique topic/queue names)."""
    with tempfile.TemporaryDirectory(prefix="ferry-test-") as data_dir:
        server = FerryServer(Path(data_dir)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def fresh_ferry_server():
    """A broker of the test's own, for tests that restart it or need an empty broker."""
    with tempfile.TemporaryDirectory(prefix="ferry-test-") as data_dir:
        server = FerryServer(Path(data_dir)).start()
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture
def ferry_server_in():
    """Starts a broker of the test's own on a data directory the test chooses:
    `ferry_server_in(path, extra_args=())`; stopped at the end of the test."""
    started = []

    def start(data_dir, extra_args=()):
        server = FerryServer(Path(data_dir), extra_args)
        started.append(server)
        return server.start()

    try:
        yield start
    finally:
        for server in started:
            server.stop()


@pytest.fixture
def ferry_server_with(ferry_server_in, tmp_path_factory):
    """Starts brokers of the test's own with extra `ferry serve` arguments: `ferry_server_with(args)`."""
    return lambda extra_args: ferry_server_in(tmp_path_factory.mktemp("ferry-data"), extra_args)
