"""Fixtures of the command-line suite: the `ferry` binary run as a person or a script would."""

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FERRY_BIN = os.environ.get("FERRY_BIN", str(ROOT / "target" / "debug" / "ferry"))
RUN_TIMEOUT_S = 60


class Run:
    """What one `ferry` command did: returncode, stdout (text, and raw as stdout_bytes), stderr."""

    def __init__(self, proc):
        self.returncode = proc.returncode
        self.stdout_bytes = proc.stdout
        self.stdout = proc.stdout.decode("utf-8", errors="replace")
        self.stderr = proc.stderr.decode("utf-8", errors="replace")

    def json(self):
        return json.loads(self.stdout)

    def json_lines(self):
        return [json.loads(line) for line in self.stdout.splitlines() if line.strip()]

    def __repr__(self):
        return f"Run(rc={self.returncode}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def run_ferry(*args, url=None, input=None, expect=0, env=None):
    """Runs `ferry ARGS` with FERRY_URL set to `url`, `input` (str or bytes) on stdin; checks the
    exit code unless `expect` is None."""
    full_env = dict(os.environ)
    full_env.pop("FERRY_URL", None)
    if url is not None:
        full_env["FERRY_URL"] = url
    full_env.update(env or {})
    proc = subprocess.run(
        [FERRY_BIN, *args],
        input=input.encode() if isinstance(input, str) else input,
        capture_output=True,
        env=full_env,
        timeout=RUN_TIMEOUT_S,
    )
    result = Run(proc)
    if expect is not None:
        assert result.returncode == expect, result
    return result


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
