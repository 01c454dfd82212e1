"""Celery over `amqp://` with quorum queues (`task_default_queue_type = "quorum"`) and its native
delayed delivery: the worker declares a ladder of 28 topic exchanges and TTL queues
(`celery_delayed_0` … `celery_delayed_27`, 2^level seconds each) bound exchange to exchange, and
a countdown travels down it, waiting in the levels whose bit of the delay is set. ferry runs the
ladder as RabbitMQ does (no special case), so these tests check its TTL, dead-lettering and
exchange-to-exchange routing as Celery uses them, including across a kill -9 of the broker."""

import time

import pytest

from celery_helpers import celery_settings, celery_worker, client_app, read_marks, task
from framework_helpers import ready_count, wait_until

READY = "ready."


@pytest.fixture
def quorum(fresh_ferry_server, tmp_path):
    """A broker of the test's own (the ladder's names are global), a worker of a quorum queue on
    a topic exchange (native delayed delivery does not serve direct exchanges), a client app."""
    settings = celery_settings(fresh_ferry_server, tmp_path, FERRY_QUEUE_TYPE="quorum", FERRY_EXCHANGE_TYPE="topic")
    with celery_worker(settings, "-P", "threads", "-c", "2", "--loglevel=DEBUG") as worker:
        worker.start(READY)
        app = client_app(settings)
        yield fresh_ferry_server, settings, worker, app
        app.close()


def stamps(settings):
    return dict(line.split() for line in read_marks(settings, "stamps"))


def test_worker_declares_the_delay_ladder_and_runs_tasks(quorum):
    server, _, worker, app = quorum
    worker.wait_for_output("Setting up delayed delivery")
    for level in range(28):
        assert ready_count(server, f"celery_delayed_{level}") == 0
    assert task(app, "add", 2, 2).delay().get(timeout=30) == 4


def test_countdowns_travel_the_ladder_and_arrive_on_time(quorum):
    server, settings, _, app = quorum
    sent = time.time()
    results = {c: task(app, "stamp", f"c{c}").apply_async(countdown=c) for c in (1, 3, 6)}
    # 6 s = 110 in binary: it waits 4 s at level 2, then 2 s at level 1.
    wait_until(lambda: ready_count(server, "celery_delayed_2") >= 1, 5, "the 6 s countdown at level 2")
    for countdown, result in results.items():
        assert result.get(timeout=30) == f"c{countdown}"
    ran = stamps(settings)
    for countdown in results:
        late = float(ran[f"c{countdown}"]) - sent - countdown
        assert -0.05 <= late < 2.0, (countdown, late)


def test_a_countdown_of_days_waits_in_the_level_of_its_highest_bit(quorum):
    server, _, _, app = quorum
    two_days = 2 * 24 * 3600  # 0b101010001100000000: highest bit 17
    task(app, "stamp", "later").apply_async(countdown=two_days)
    wait_until(lambda: ready_count(server, "celery_delayed_17") == 1, 10, "the message at level 17")
    assert all(ready_count(server, f"celery_delayed_{level}") == 0 for level in (0, 1, 16, 18, 27))


def test_a_countdown_survives_a_broker_killed_while_it_waits(quorum):
    server, settings, worker, app = quorum
    sent = time.time()
    result = task(app, "stamp", "survivor").apply_async(countdown=8)
    # 8 s = level 3; the publish was confirmed, so the message is on disk.
    wait_until(lambda: ready_count(server, "celery_delayed_3") == 1, 5, "the message at level 3")
    app.pool.force_close_all()
    server.kill()
    server.start()
    # The worker reconnects by itself (Celery retries the broker connection).
    wait_until(lambda: worker.output().count("Connected to amqp://") >= 2, 60, "the worker to reconnect")
    assert result.get(timeout=60) == "survivor"
    ran = float(stamps(settings)["survivor"])
    assert ran - sent >= 8 - 0.05
