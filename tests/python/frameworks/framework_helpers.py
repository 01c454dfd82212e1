"""Worker processes of task frameworks (Celery, Dramatiq) run against `ferry serve`, and waiting
for outcomes with deadlines instead of fixed sleeps."""

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pika

HERE = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def _own_group_dying_with_parent():
    """Start the worker in its own process group (so its pool children can be killed with it)
    and have it receive SIGTERM if the test process dies, so it never outlives the run."""
    os.setsid()
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def wait_until(predicate, timeout, what, interval=0.05):
    """Polls `predicate` until it returns a true value (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def mark(state_dir, name, text=""):
    """Appends a line to the file `name` in `state_dir`, synced: tasks and actors leave these
    for the tests to read, and a worker killed right after must not lose one."""
    with open(Path(state_dir) / name, "a") as f:
        f.write(f"{text}\n")
        f.flush()
        os.fsync(f.fileno())


def marks(state_dir, name):
    """The lines left in the file `name` of `state_dir` (none if it does not exist)."""
    path = Path(state_dir) / name
    return path.read_text().splitlines() if path.exists() else []


def ready_count(server, queue):
    """How many messages of `queue` are ready (queue.declare, passive, over pika)."""
    host, port = server.amqp_address.rsplit(":", 1)
    connection = pika.BlockingConnection(pika.ConnectionParameters(host, int(port)))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


class Worker:
    """A framework's worker process started from its own command line, e.g.
    `Worker(["celery", "-A", "app", "worker"], env={...})`; its output goes to a log file
    that `output()` reads, and `stop()` / `kill()` end it by its process id."""

    def __init__(self, argv, env=None, cwd=HERE):
        self.argv = [str(VENV_BIN / argv[0]), *argv[1:]]
        self.env = dict(os.environ, **(env or {}))
        self.env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(cwd), self.env.get("PYTHONPATH")]))
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.cwd = cwd
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="ferry-worker-", suffix=".log", delete=False)

    def start(self, ready_text=None, timeout=60):
        """Starts the process; with `ready_text`, waits until its output shows it."""
        self.proc = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_own_group_dying_with_parent,
        )
        if ready_text is not None:
            self.wait_for_output(ready_text, timeout)
        return self

    def output(self):
        return Path(self.log.name).read_text(errors="replace")

    def wait_for_output(self, text, timeout=60):
        def seen():
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            return text in self.output()

        try:
            wait_until(seen, timeout, f"worker output {text!r}")
        except AssertionError as e:
            raise AssertionError(f"{e}\n--- worker output ---\n{self.output()[-4000:]}") from None

    def stop(self, timeout=30):
        """SIGTERM (a warm shutdown for Celery and Dramatiq), then SIGKILL if it lingers."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        self._reap_group()
        self.proc = None

    def kill(self):
        """kill -9 of the worker and every process of its group (its pool children)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.proc = None

    def _reap_group(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.stop()
        os.unlink(self.log.name)
