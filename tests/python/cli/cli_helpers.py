"""Running the `ferry` binary as a person or a script would, and reading what it did."""

import json
import os
import subprocess
from pathlib import Path

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
