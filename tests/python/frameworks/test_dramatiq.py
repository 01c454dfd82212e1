"""Dramatiq 2.x with its RabbitMQ broker (pika underneath), unmodified, against ferry's AMQP
listener: actors, retries with backoff through Dramatiq's delay queue (`<queue>.DQ`), messages
that exhaust their retries in its dead-letter queue (`<queue>.XQ`), delayed messages, and a
worker killed mid-message. Dramatiq's Results middleware needs Redis or Memcached (it has no
backend on the broker), so it is not covered here."""

import importlib
import sys
import time
import uuid

import pytest

from framework_helpers import Worker, ready_count, wait_until

READY = "Worker process is ready for action."


@pytest.fixture
def dramatiq_env(ferry_server, tmp_path, monkeypatch):
    """The environment of one test's actors (its own queue), and the actors module loaded with it
    so the test enqueues through Dramatiq's own API."""
    settings = {
        "FERRY_BROKER_URL": f"amqp://guest:guest@{ferry_server.amqp_address}",
        "FERRY_DRAMATIQ_QUEUE": "dq-" + uuid.uuid4().hex[:10],
        "FERRY_STATE_DIR": str(tmp_path),
    }
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    sys.modules.pop("dramatiq_actors", None)
    actors = importlib.import_module("dramatiq_actors")
    actors.server = ferry_server
    yield settings, actors
    actors.broker.close()
    sys.modules.pop("dramatiq_actors", None)


def dramatiq_worker(settings, threads=2):
    return Worker(["dramatiq", "dramatiq_actors", "--processes", "1", "--threads", str(threads),
                   "--queues", settings["FERRY_DRAMATIQ_QUEUE"]], env=settings)


def test_actors_process_every_message(dramatiq_env):
    settings, actors = dramatiq_env
    for i in range(200):
        actors.record.send(f"m-{i}")
    with dramatiq_worker(settings) as worker:
        worker.start(READY)
        wait_until(lambda: len(actors.marks("order")) >= 200, 60, "200 messages processed")
    assert sorted(actors.marks("order")) == sorted(f"m-{i}" for i in range(200))


def test_retries_wait_in_the_delay_queue_and_then_succeed(dramatiq_env):
    settings, actors = dramatiq_env
    with dramatiq_worker(settings) as worker:
        worker.start(READY)
        actors.fails_until.send("flaky", 3)
        runs = wait_until(lambda: len(actors.marks("flaky")) >= 3 and actors.marks("flaky"), 30, "three runs")
    times = [float(t) for t in runs]
    # Dramatiq's backoff: at least min_backoff (200 ms) before each retry.
    assert all(b - a >= 0.2 - 0.05 for a, b in zip(times, times[1:])), times
    assert len(runs) == 3
    assert ready_count_of(actors, ".XQ") == 0


def test_a_message_out_of_retries_lands_in_the_dead_letter_queue(dramatiq_env):
    settings, actors = dramatiq_env
    with dramatiq_worker(settings) as worker:
        worker.start(READY)
        actors.fails_until.send("doomed", 100)
        # One run and three retries (max_retries=3), then Dramatiq moves it to <queue>.XQ.
        wait_until(lambda: ready_count_of(actors, ".XQ") == 1, 60, "the message in the dead-letter queue")
    assert len(actors.marks("doomed")) == 4


def test_delayed_message_runs_after_its_delay(dramatiq_env):
    settings, actors = dramatiq_env
    with dramatiq_worker(settings) as worker:
        worker.start(READY)
        sent = time.time()
        actors.stamp.send_with_options(args=("later",), delay=1500)
        wait_until(lambda: ready_count_of(actors, ".DQ") + len(actors.marks("stamps")) >= 1, 5,
                   "the message in the delay queue")
        line = wait_until(lambda: actors.marks("stamps"), 30, "the delayed message to run")[0]
    assert float(line.split()[1]) - sent >= 1.5 - 0.05


def test_message_runs_again_when_its_worker_is_killed(dramatiq_env):
    settings, actors = dramatiq_env
    actors.hold.send("held", 300)
    with dramatiq_worker(settings, threads=1) as first:
        first.start(READY)
        wait_until(lambda: actors.marks("held"), 30, "the message to start")
        first.kill()
    with dramatiq_worker(settings, threads=1) as second:
        second.start(READY)
        # Unacknowledged, it went back to the queue with its dead connection.
        wait_until(lambda: len(actors.marks("held")) == 2, 30, "the message to run again")



def ready_count_of(actors, suffix):
    return ready_count(actors.server, actors.QUEUE + suffix)
