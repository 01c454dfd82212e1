"""Celery 5.7 over `sqs://` (kombu's SQS transport) against ferry's SQS endpoint, with the
settings of a project on AWS apart from the broker URL: tasks, retries, countdowns, FIFO queues
with message groups, predefined queues with a backoff policy, a worker killed mid-task, and
broadcast through SNS. SQS stores no results, so a `file://` result backend carries them."""

import json
import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest

from celery_helpers import celery_settings, celery_worker, client_app, read_marks, task
from framework_helpers import wait_until

READY = "ready."
APP = "celery_sqs_app"


def sqs_settings(server, tmp_path, **overrides):
    results = tmp_path / "results"
    results.mkdir(exist_ok=True)
    return celery_settings(
        server,
        tmp_path,
        FERRY_BROKER_URL=f"sqs://test:test@{server.listeners['sqs']}",
        FERRY_RESULT_BACKEND=f"file://{results}",
        **overrides,
    )


def boto(server, service):
    return boto3.client(
        service,
        endpoint_url=server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


@pytest.fixture(scope="module")
def shared(ferry_server, tmp_path_factory):
    settings = sqs_settings(ferry_server, tmp_path_factory.mktemp("celery-sqs"))
    with celery_worker(settings, app=APP) as worker:
        worker.start(READY)
        app = client_app(settings, APP)
        yield settings, app
        app.close()


def test_tasks_results_and_failures(shared):
    _, app = shared
    assert task(app, "add", 2, 3).delay().get(timeout=30) == 5
    results = [task(app, "add", i, i).delay() for i in range(100)]
    assert [r.get(timeout=60) for r in results] == [2 * i for i in range(100)]
    with pytest.raises(ValueError, match="no luck"):
        task(app, "boom", "no luck").delay().get(timeout=30)


def test_autoretry_with_backoff(shared):
    settings, app = shared
    key = f"flaky-{time.time_ns()}"
    assert task(app, "flaky", key, 2).delay().get(timeout=60) == 2
    runs = [float(line.split()[1]) for line in read_marks(settings, key)]
    assert len(runs) == 3
    assert runs[1] - runs[0] >= 1 - 0.05 and runs[2] - runs[1] >= 2 - 0.05


def test_countdown_and_eta(shared):
    settings, app = shared
    sent = time.time()
    by_countdown = task(app, "stamp", "sqs-countdown").apply_async(countdown=2)
    by_eta = task(app, "stamp", "sqs-eta").apply_async(eta=datetime.now(timezone.utc) + timedelta(seconds=3))
    assert by_countdown.get(timeout=30) == "sqs-countdown"
    assert by_eta.get(timeout=30) == "sqs-eta"
    ran = dict(line.split() for line in read_marks(settings, "stamps"))
    assert float(ran["sqs-countdown"]) - sent >= 2 - 0.05
    assert float(ran["sqs-eta"]) - sent >= 3 - 0.05


def test_fifo_queue_runs_each_group_in_order(ferry_server, tmp_path):
    settings = sqs_settings(ferry_server, tmp_path, FERRY_ACKS_LATE=1)
    settings["FERRY_TASK_QUEUE"] += ".fifo"
    app = client_app(settings, APP)
    results = []
    for i in range(10):
        for group in ("a", "b"):
            results.append(task(app, "record", f"{group}-{i}").apply_async(MessageGroupId=group))
    # One task at a time: SQS hands out several messages of a group in one receive, in order, and
    # a pool of two would run them side by side.
    with celery_worker(settings, "-P", "threads", "-c", "1", app=APP) as worker:
        worker.start(READY)
        for r in results:
            r.get(timeout=60)
    order = read_marks(settings, "order")
    for group in ("a", "b"):
        assert [tag for tag in order if tag.startswith(group)] == [f"{group}-{i}" for i in range(10)]
    app.close()


def test_predefined_queue_with_a_backoff_policy(ferry_server, tmp_path):
    settings = sqs_settings(ferry_server, tmp_path, FERRY_ACKS_LATE=1, FERRY_ACKS_ON_FAILURE=0)
    name = settings["FERRY_TASK_QUEUE"]
    url = boto(ferry_server, "sqs").create_queue(QueueName=name)["QueueUrl"]
    settings["FERRY_PREDEFINED_QUEUES"] = json.dumps(
        {
            name: {
                "url": url,
                "access_key_id": "test",
                "secret_access_key": "test",
                # After the n-th failed receive, the message comes back after policy[n] seconds
                # (the queue's own visibility timeout is 30 s).
                "backoff_policy": {1: 1, 2: 2},
                "backoff_tasks": ["celery_tasks.fails_until"],
            }
        }
    )
    app = client_app(settings, APP)
    with celery_worker(settings, app=APP) as worker:
        worker.start(READY)
        task(app, "fails_until", "backoff", 3).delay()
        runs = wait_until(lambda: len(read_marks(settings, "backoff")) == 3 and read_marks(settings, "backoff"), 20,
                          "three runs")
    times = [float(t) for t in runs]
    assert 1 - 0.05 <= times[1] - times[0] < 10
    assert 2 - 0.05 <= times[2] - times[1] < 10
    app.close()


def test_acks_late_task_runs_again_after_its_worker_is_killed(ferry_server, tmp_path):
    settings = sqs_settings(ferry_server, tmp_path, FERRY_ACKS_LATE=1, FERRY_VISIBILITY_TIMEOUT=3)
    app = client_app(settings, APP)
    with celery_worker(settings, "-P", "threads", "-c", "1", app=APP) as first:
        first.start(READY)
        result = task(app, "hold", "held", 300).delay()
        wait_until(lambda: read_marks(settings, "held"), 30, "the task to start")
        first.kill()
    with celery_worker(settings, "-P", "threads", "-c", "1", app=APP) as second:
        second.start(READY)
        # The message was never deleted: it is received again once its visibility timeout ends.
        assert result.get(timeout=60) == 2
    assert len(read_marks(settings, "held")) == 2
    app.close()


def test_broadcast_reaches_every_worker_through_sns(ferry_server, tmp_path):
    broadcast = "bcast-" + str(time.time_ns())
    settings = sqs_settings(ferry_server, tmp_path, FERRY_BROADCAST=broadcast)
    app = client_app(settings, APP)
    with celery_worker(settings, app=APP) as one, celery_worker(settings, app=APP) as two:
        one.start(READY)
        two.start(READY)
        topics = boto(ferry_server, "sns")

        def subscribed():
            arns = [t["TopicArn"] for t in topics.list_topics()["Topics"] if t["TopicArn"].endswith(broadcast)]
            return arns and len(topics.list_subscriptions_by_topic(TopicArn=arns[0])["Subscriptions"]) == 2

        wait_until(subscribed, 30, "both workers' queues subscribed to the broadcast topic")
        # kombu's SQS transport keeps exchange types in the process, and Celery does not declare a
        # broadcast queue when it publishes to it: the publisher declares the fanout exchange
        # once, as on AWS, so that its publishes go to the SNS topic.
        with app.connection_for_write() as connection:
            app.amqp.queues[broadcast].exchange(connection.default_channel).declare()
            task(app, "record", "everyone").apply_async(queue=broadcast, connection=connection)
        wait_until(lambda: read_marks(settings, "order").count("everyone") == 2, 30, "the task on both workers")
    app.close()
