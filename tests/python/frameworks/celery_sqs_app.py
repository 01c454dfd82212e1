"""The Celery application the sqs:// tests run (kombu's SQS transport against ferry's SQS
endpoint). Configured only through environment variables, as `celery_amqp_app` is:

- FERRY_BROKER_URL: `sqs://KEY:SECRET@HOST:PORT` (the only setting that differs from AWS)
- FERRY_RESULT_BACKEND: a result backend; SQS has none of its own (tests use `file://`)
- FERRY_TASK_QUEUE: the test's queue (a name ending in `.fifo` is a FIFO queue)
- FERRY_VISIBILITY_TIMEOUT: the transport's visibility timeout in seconds
- FERRY_PREDEFINED_QUEUES: JSON of kombu's `predefined_queues` option
- FERRY_BROADCAST: a broadcast queue name; kombu fans out to it through an SNS topic
- FERRY_ACKS_LATE, FERRY_ACKS_ON_FAILURE (default 1)
"""

import json
import os

from celery import Celery
from kombu import Queue
from kombu.common import Broadcast


def make_app(settings):
    get = settings.get
    app = Celery(
        "celery_sqs_app", broker=get("FERRY_BROKER_URL"), backend=get("FERRY_RESULT_BACKEND"), include=["celery_tasks"]
    )
    options = {"region": "us-east-1", "polling_interval": 0.1, "wait_time_seconds": 1}
    if get("FERRY_VISIBILITY_TIMEOUT"):
        options["visibility_timeout"] = int(get("FERRY_VISIBILITY_TIMEOUT"))
    if get("FERRY_PREDEFINED_QUEUES"):
        predefined = json.loads(get("FERRY_PREDEFINED_QUEUES"))
        for queue in predefined.values():
            # JSON keys are text; kombu looks the policy up by the receive count, a number.
            if "backoff_policy" in queue:
                queue["backoff_policy"] = {int(k): v for k, v in queue["backoff_policy"].items()}
        options["predefined_queues"] = predefined
    queue_name = get("FERRY_TASK_QUEUE", "celery")
    queues = [Queue(queue_name, routing_key=queue_name)]
    if get("FERRY_BROADCAST"):
        options["supports_fanout"] = True
        queues.append(Broadcast(get("FERRY_BROADCAST")))
    app.conf.update(
        broker_transport_options=options,
        task_default_queue=queue_name,
        task_queues=queues,
        task_acks_late=get("FERRY_ACKS_LATE") == "1",
        task_acks_on_failure_or_timeout=get("FERRY_ACKS_ON_FAILURE", "1") == "1",
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        result_expires=None,
        worker_hijack_root_logger=False,
    )
    return app


app = make_app(os.environ)
