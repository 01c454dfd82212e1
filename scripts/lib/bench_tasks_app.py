"""The Celery app `scripts/bench-tasks` measures: one no-op task. The broker, the result backend
and the queue come from BENCH_BROKER, BENCH_BACKEND and BENCH_QUEUE."""

import os

from celery import Celery

app = Celery("bench_tasks_app", broker=os.environ["BENCH_BROKER"], backend=os.environ.get("BENCH_BACKEND") or None)
app.conf.update(
    task_default_queue=os.environ["BENCH_QUEUE"],
    broker_transport_options={"region": "us-east-1", "is_secure": False, "polling_interval": 0.1},
    worker_hijack_root_logger=False,
)


@app.task
def noop():
    return None
