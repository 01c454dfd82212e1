"""Celery 5.7 over `amqp://` (py-amqp) with the `rpc://` result backend, unmodified, against
`ferry serve`: a real worker process per test group, tasks submitted through Celery's API."""

import subprocess
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from celery import chain, chord, group

from celery_helpers import celery_settings, celery_worker, client_app, read_marks, task
from framework_helpers import HERE, VENV_BIN, Worker, wait_until

READY = "ready."


@pytest.fixture(scope="module")
def shared(ferry_server, tmp_path_factory):
    """One worker (threads, 2) with task events on, and a client app, for the tests that
    only submit tasks."""
    state = tmp_path_factory.mktemp("celery-state")
    settings = celery_settings(ferry_server, state)
    with celery_worker(settings, "-E") as worker:
        worker.start(READY)
        app = client_app(settings)
        yield settings, worker, app
        app.close()


def test_task_result_reaches_the_caller(shared):
    _, _, app = shared
    assert task(app, "add", 2, 3).delay().get(timeout=30) == 5


def test_many_tasks_at_once(shared):
    _, _, app = shared
    results = [task(app, "add", i, i).delay() for i in range(300)]
    assert [r.get(timeout=60) for r in results] == [2 * i for i in range(300)]


def test_failing_task_raises_in_the_caller(shared):
    _, _, app = shared
    result = task(app, "boom", "no luck").delay()
    with pytest.raises(ValueError, match="no luck"):
        result.get(timeout=30)
    assert result.state == "FAILURE"


def test_autoretry_with_backoff_succeeds_after_failures(shared):
    settings, _, app = shared
    key = "flaky-" + str(time.time_ns())
    assert task(app, "flaky", key, 3).delay().get(timeout=60) == 3
    attempts = [float(line.split()[1]) for line in read_marks(settings, key)]
    assert len(attempts) == 4
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    # retry_backoff=1 without jitter: countdowns of 1, 2 and 4 seconds.
    for gap, countdown in zip(gaps, [1, 2, 4]):
        assert gap >= countdown - 0.05, gaps


def test_chain_and_group(shared):
    _, _, app = shared
    assert chain(task(app, "add", 1, 2), task(app, "add", 10)).delay().get(timeout=30) == 13
    assert group(task(app, "add", i, 1) for i in range(10)).delay().get(timeout=30) == list(range(1, 11))


def test_chord_with_a_chord_capable_backend(ferry_server, tmp_path):
    # rpc:// sends results only to the caller, so a chord needs a backend the worker reads
    # back (Celery's documentation); the file system backend needs no other server.
    results = tmp_path / "results"
    results.mkdir()
    settings = celery_settings(ferry_server, tmp_path, FERRY_RESULT_BACKEND=f"file://{results}")
    with celery_worker(settings) as worker:
        worker.start(READY)
        app = client_app(settings)
        header = [task(app, "add", i, i) for i in range(10)]
        assert chord(header)(task(app, "tsum")).get(timeout=60) == 90
        app.close()


def test_countdown_and_eta_arrive_on_time(shared):
    settings, _, app = shared
    sent = time.time()
    by_countdown = task(app, "stamp", "countdown").apply_async(countdown=2)
    eta = datetime.now(timezone.utc) + timedelta(seconds=3)
    by_eta = task(app, "stamp", "eta").apply_async(eta=eta)
    assert by_countdown.get(timeout=30) == "countdown"
    assert by_eta.get(timeout=30) == "eta"
    ran = dict(line.split() for line in read_marks(settings, "stamps"))
    assert float(ran["countdown"]) - sent >= 2 - 0.05
    assert float(ran["eta"]) >= eta.timestamp() - 0.05


def test_remote_control_ping_and_inspect(shared):
    settings, worker, app = shared
    node = worker.node
    replies = app.control.inspect(destination=[node], timeout=10).ping()
    assert replies == {node: {"ok": "pong"}}
    active_queues = app.control.inspect(destination=[node], timeout=10).active_queues()
    assert [q["name"] for q in active_queues[node]] == [settings["FERRY_TASK_QUEUE"]]
    # The command line a user types, through the pidbox fanout exchange and its reply queue.
    out = subprocess.run(
        [str(VENV_BIN / "celery"), "-A", "celery_amqp_app", "inspect", "ping", "-d", node, "--timeout", "10"],
        cwd=HERE,
        env=worker.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "pong" in out.stdout


def test_task_events_reach_a_receiver(shared):
    _, _, app = shared
    seen = []
    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": seen.append})
        listening = threading.Thread(
            target=receiver.capture, kwargs={"limit": None, "timeout": None, "wakeup": True}, daemon=True
        )
        listening.start()
        try:
            # The worker's heartbeats (every 2 s with -E) show the receiver's queue is bound.
            wait_until(lambda: any(e["type"] == "worker-heartbeat" for e in list(seen)), 30, "a worker heartbeat")
            result = task(app, "add", 20, 22).delay()
            assert result.get(timeout=30) == 42
            wait_until(
                lambda: any(e["type"] == "task-succeeded" and e.get("uuid") == result.id for e in list(seen)),
                30,
                "a task-succeeded event",
            )
        finally:
            receiver.should_stop = True
            listening.join(timeout=10)
    kinds = {e["type"] for e in seen if e.get("uuid") == result.id}
    assert {"task-received", "task-started", "task-succeeded"} <= kinds


def test_celery_events_command_dumps_task_events(shared):
    settings, _, app = shared
    with Worker(["celery", "-A", "celery_amqp_app", "events", "--dump"], env=settings) as dump:
        dump.start()
        # The dump prints the worker's heartbeats once its queue is bound.
        dump.wait_for_output("heartbeat:", timeout=30)
        result = task(app, "add", 5, 6).delay()
        assert result.get(timeout=30) == 11
        wait_until(
            lambda: any(result.id in line and "succeeded" in line for line in dump.output().splitlines()),
            30,
            "the task's succeeded event in the dump",
        )

