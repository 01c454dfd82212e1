"""The Celery application the AMQP tests run: a worker imports it (`celery -A celery_amqp_app
worker`) and so do the tests that submit tasks. It is configured only through environment
variables, so each test points it at its own broker, queue and result backend:

- FERRY_BROKER_URL: `amqp://guest:guest@HOST:PORT//`
- FERRY_RESULT_BACKEND: `rpc://` unless set (e.g. `file:///dir` for chords)
- FERRY_TASK_QUEUE: the test's queue; FERRY_QUEUE_TYPE: classic (default) or quorum
- FERRY_EXCHANGE_TYPE: direct (default) or topic (what native delayed delivery needs)
- FERRY_MAX_PRIORITY: declare the queue with x-max-priority
- FERRY_STATE_DIR: where the tasks (`celery_tasks`) leave marks the tests read
- FERRY_ACKS_LATE, FERRY_REJECT_ON_WORKER_LOST, FERRY_PREFETCH_MULTIPLIER
"""

import os

from celery import Celery
from kombu import Exchange, Queue


def make_app(settings):
    """A Celery app configured from `settings` (the variables above); the worker's app and
    the tests' client apps are made the same way, so they agree on queues and backends."""
    get = settings.get
    app = Celery(
        "celery_amqp_app",
        broker=get("FERRY_BROKER_URL"),
        backend=get("FERRY_RESULT_BACKEND", "rpc://"),
        include=["celery_tasks"],
    )
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
