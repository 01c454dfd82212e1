"""Celery over `amqp://` with workers of each test's own: priorities, the prefetch a worker
takes, and tasks that outlive their worker (acks_late, a killed worker, a killed pool child)."""

import json
import os
import signal
import socket
import urllib.request

import pytest

from celery_helpers import celery_settings, celery_worker, client_app, read_marks, task
from framework_helpers import Worker, ready_count, wait_until

READY = "ready."


def test_priority_queue_runs_urgent_tasks_first(ferry_server, tmp_path):
    settings = celery_settings(ferry_server, tmp_path, FERRY_MAX_PRIORITY=10, FERRY_PREFETCH_MULTIPLIER=1,
                               FERRY_ACKS_LATE=1)
    app = client_app(settings)
    # Everything is queued before a worker exists, so only priority decides the order.
    results = []
    for i in range(5):
        results.append(task(app, "record", f"low-{i}").apply_async(priority=0))
        results.append(task(app, "record", f"high-{i}").apply_async(priority=9))
    with celery_worker(settings, "-P", "solo") as worker:
        worker.start(READY)
        for r in results:
            r.get(timeout=60)
    order = read_marks(settings, "order")
    assert order == [f"high-{i}" for i in range(5)] + [f"low-{i}" for i in range(5)]
    app.close()


@pytest.mark.parametrize("multiplier", [1, 3])
def test_prefetch_multiplier_bounds_what_a_worker_takes(ferry_server, tmp_path, multiplier):
    settings = celery_settings(ferry_server, tmp_path, FERRY_PREFETCH_MULTIPLIER=multiplier, FERRY_ACKS_LATE=1)
    queue = settings["FERRY_TASK_QUEUE"]
    release = tmp_path / "release"
    app = client_app(settings)
    with celery_worker(settings, "-P", "threads", "-c", "1") as worker:
        worker.start(READY)
        results = [task(app, "wait_for", str(release)).delay() for _ in range(10)]
        # One task runs and multiplier - 1 more wait reserved in the worker; the rest stay queued.
        wait_until(lambda: ready_count(ferry_server, queue) == 10 - multiplier, 30, f"{10 - multiplier} ready")
        reserved = app.control.inspect(destination=[worker.node], timeout=10).reserved()[worker.node]
        active = app.control.inspect(destination=[worker.node], timeout=10).active()[worker.node]
        assert (len(active), len(reserved)) == (1, multiplier - 1)
        assert ready_count(ferry_server, queue) == 10 - multiplier
        release.touch()
        assert [r.get(timeout=60) for r in results] == [str(release)] * 10
    app.close()


def test_acks_late_task_runs_again_when_its_worker_is_killed(ferry_server, tmp_path):
    settings = celery_settings(ferry_server, tmp_path, FERRY_ACKS_LATE=1)
    app = client_app(settings)
    with celery_worker(settings, "-P", "threads", "-c", "1") as first:
        first.start(READY)
        result = task(app, "hold", "held", 300).delay()
        wait_until(lambda: read_marks(settings, "held"), 30, "the task to start")
        first.kill()
    with celery_worker(settings, "-P", "threads", "-c", "1") as second:
        second.start(READY)
        # The unacknowledged delivery went back to the queue when the connection died.
        assert result.get(timeout=60) == 2
    assert len(read_marks(settings, "held")) == 2
    app.close()


def test_reject_on_worker_lost_requeues_a_task_whose_pool_child_died(ferry_server, tmp_path):
    settings = celery_settings(ferry_server, tmp_path, FERRY_ACKS_LATE=1, FERRY_REJECT_ON_WORKER_LOST=1)
    app = client_app(settings)
    with celery_worker(settings, "-P", "prefork", "-c", "1") as worker:
        worker.start(READY)
        result = task(app, "hold", "held", 300).delay()
        child = int(wait_until(lambda: read_marks(settings, "held"), 30, "the task to start")[0])
        os.kill(child, signal.SIGKILL)
        # The worker rejects the delivery with requeue; a new pool child runs it again.
        assert result.get(timeout=60) == 2
    assert len(read_marks(settings, "held")) == 2
    app.close()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_flower_lists_tasks_from_the_worker_events(ferry_server, tmp_path):
    settings = celery_settings(ferry_server, tmp_path)
    port = free_port()
    app = client_app(settings)
    flower_env = dict(settings, FLOWER_UNAUTHENTICATED_API="true")
    flower_argv = ["celery", "-A", "celery_amqp_app", "flower", "--address=127.0.0.1", f"--port={port}"]
    with celery_worker(settings, "-E") as worker, Worker(flower_argv, env=flower_env) as flower:
        worker.start(READY)
        flower.start()

        def tasks():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/tasks", timeout=5) as response:
                    return json.load(response)
            except OSError:
                return None

        wait_until(lambda: tasks() is not None, 60, "Flower's API")
        # Flower starts listening for events when its web server does; tasks sent from here on count.
        ids = []

        def listed():
            ids.append(task(app, "add", 1, len(ids)).delay().id)
            listed_tasks = tasks() or {}
            return any(listed_tasks.get(i, {}).get("state") == "SUCCESS" for i in ids)

        wait_until(listed, 60, "a task in Flower's task list", interval=0.5)
    app.close()
