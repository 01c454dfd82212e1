"""The tasks of the Celery tests, shared by the AMQP and the SQS apps (`shared_task` registers
each with whichever app the worker runs). They leave marks in FERRY_STATE_DIR that the tests read."""

import os
import time
from pathlib import Path

from celery import shared_task

import framework_helpers

STATE = Path(os.environ.get("FERRY_STATE_DIR", "."))


def mark(name, text=""):
    framework_helpers.mark(STATE, name, text)


def marks(name):
    return framework_helpers.marks(STATE, name)


@shared_task
def add(x, y):
    return x + y


@shared_task
def tsum(numbers):
    return sum(numbers)


@shared_task
def boom(text):
    raise ValueError(text)


@shared_task
def stamp(tag):
    """Records when it ran, for countdown and eta checks."""
    mark("stamps", f"{tag} {time.time()}")
    return tag


@shared_task
def record(tag):
    """Records the order tasks ran in."""
    mark("order", tag)
    return tag


@shared_task(bind=True, autoretry_for=(RuntimeError,), retry_backoff=1, retry_backoff_max=4, retry_jitter=False,
          max_retries=5)
def flaky(self, key, failures):
    """Fails `failures` times, then succeeds; each attempt is recorded with its time."""
    mark(key, f"{self.request.retries} {time.time()}")
    if self.request.retries < failures:
        raise RuntimeError(f"attempt {self.request.retries} fails")
    return self.request.retries


@shared_task
def hold(key, seconds):
    """The first run records its pid and holds on for `seconds` (long enough to be killed); a
    later run returns at once. Used with acks_late to see a task run again."""
    runs = marks(key)
    mark(key, str(os.getpid()))
    if not runs:
        time.sleep(seconds)
    return len(runs) + 1


@shared_task
def wait_for(path, timeout=120):
    """Runs until the file `path` exists (the test creates it to let tasks finish)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)
    return path


@shared_task
def fails_until(key, attempts):
    """Raises on its first `attempts - 1` runs, recording the time of each run."""
    runs = marks(key)
    mark(key, str(time.time()))
    if len(runs) + 1 < attempts:
        raise RuntimeError(f"run {len(runs) + 1} fails")
    return len(runs) + 1
