"""The Celery application the AMQP tests run: a worker imports it (`celery -A celery_amqp_app
worker`) and so do the tests that submit tasks. It is configured only through environment
variables, so each test points it at its own broker, queue and result backend:

- FERRY_BROKER_URL: `amqp://guest:guest@HOST:PORT//`
- FERRY_RESULT_BACKEND: `rpc://` unless set (e.g. `file:///dir` for chords)
- FERRY_TASK_QUEUE: the test's queue; FERRY_QUEUE_TYPE: classic (default) or quorum
- FERRY_EXCHANGE_TYPE: direct (default) or topic (what native delayed delivery needs)
- FERRY_MAX_PRIORITY: declare the queue with x-max-priority
- FERRY_STATE_DIR: where tasks leave marks the tests read
- FERRY_ACKS_LATE, FERRY_REJECT_ON_WORKER_LOST, FERRY_PREFETCH_MULTIPLIER
"""

import os
import time
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue


def make_app(settings):
    """A Celery app configured from `settings` (the variables above); the worker's app and
    the tests' client apps are made the same way, so they agree on queues and backends."""
    get = settings.get
    app = Celery("celery_amqp_app", broker=get("FERRY_BROKER_URL"), backend=get("FERRY_RESULT_BACKEND", "rpc://"))
    queue_name = get("FERRY_TASK_QUEUE", "celery")
    queue_type = get("FERRY_QUEUE_TYPE", "classic")
    queue_arguments = {"x-queue-type": queue_type}
    if get("FERRY_MAX_PRIORITY"):
        queue_arguments["x-max-priority"] = int(get("FERRY_MAX_PRIORITY"))
    app.conf.update(
        task_default_queue=queue_name,
        task_default_queue_type=queue_type,
        task_queues=[
            Queue(
                queue_name,
                Exchange(queue_name, type=get("FERRY_EXCHANGE_TYPE", "direct")),
                routing_key=queue_name,
                queue_arguments=queue_arguments,
            )
        ],
        task_acks_late=get("FERRY_ACKS_LATE") == "1",
        task_reject_on_worker_lost=get("FERRY_REJECT_ON_WORKER_LOST") == "1",
        worker_prefetch_multiplier=int(get("FERRY_PREFETCH_MULTIPLIER", "4")),
        broker_connection_retry_on_startup=True,
        # Quorum queues need publisher confirms for native delayed delivery (Celery's documentation).
        broker_transport_options={"confirm_publish": True} if queue_type == "quorum" else {},
        result_expires=None,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(os.environ)

STATE = Path(os.environ.get("FERRY_STATE_DIR", "."))


def mark(name, text=""):
    """Appends a line to the state file `name`; the tests read these to see what ran."""
    with open(STATE / name, "a") as f:
        f.write(f"{text}\n")
        f.flush()
        os.fsync(f.fileno())


def marks(name):
    path = STATE / name
    return path.read_text().splitlines() if path.exists() else []


@app.task
def add(x, y):
    return x + y


@app.task
def tsum(numbers):
    return sum(numbers)


@app.task
def boom(text):
    raise ValueError(text)


@app.task
def stamp(tag):
    """Records when it ran, for countdown and eta checks."""
    mark("stamps", f"{tag} {time.time()}")
    return tag


@app.task
def record(tag):
    """Records the order tasks ran in."""
    mark("order", tag)
    return tag


@app.task(bind=True, autoretry_for=(RuntimeError,), retry_backoff=1, retry_backoff_max=4, retry_jitter=False,
          max_retries=5)
def flaky(self, key, failures):
    """Fails `failures` times, then succeeds; each attempt is recorded with its time."""
    mark(key, f"{self.request.retries} {time.time()}")
    if self.request.retries < failures:
        raise RuntimeError(f"attempt {self.request.retries} fails")
    return self.request.retries


@app.task
def hold(key, seconds):
    """The first run records its pid and holds on for `seconds` (long enough to be killed); a
    later run returns at once. Used with acks_late to see a task run again."""
    runs = marks(key)
    mark(key, str(os.getpid()))
    if not runs:
        time.sleep(seconds)
    return len(runs) + 1


@app.task
def wait_for(path, timeout=120):
    """Runs until the file `path` exists (the test creates it to let tasks finish)."""
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.02)
    return path
