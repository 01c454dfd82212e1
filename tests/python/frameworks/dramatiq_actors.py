"""The Dramatiq actors the tests run with `dramatiq dramatiq_actors`, on Dramatiq's own RabbitMQ
broker pointed at ferry. FERRY_BROKER_URL names the broker, FERRY_DRAMATIQ_QUEUE the actors'
queue (one per test), FERRY_STATE_DIR where the actors leave marks the tests read."""

import os
import time
from pathlib import Path

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker

import framework_helpers

broker = RabbitmqBroker(url=os.environ.get("FERRY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672"))
dramatiq.set_broker(broker)

QUEUE = os.environ.get("FERRY_DRAMATIQ_QUEUE", "default")
STATE = Path(os.environ.get("FERRY_STATE_DIR", "."))


def mark(name, text=""):
    framework_helpers.mark(STATE, name, text)


def marks(name):
    return framework_helpers.marks(STATE, name)


@dramatiq.actor(queue_name=QUEUE)
def record(tag):
    mark("order", tag)


@dramatiq.actor(queue_name=QUEUE)
def stamp(tag):
    mark("stamps", f"{tag} {time.time()}")


@dramatiq.actor(queue_name=QUEUE, max_retries=3, min_backoff=200, max_backoff=1000)
def fails_until(key, attempts):
    """Raises on its first `attempts - 1` runs (each retry waits in the delay queue)."""
    runs = marks(key)
    mark(key, str(time.time()))
    if len(runs) + 1 < attempts:
        raise RuntimeError(f"run {len(runs) + 1} fails")


@dramatiq.actor(queue_name=QUEUE, max_retries=0)
def hold(key, seconds):
    """The first run records itself and holds on (to be killed); a later one returns at once."""
    runs = marks(key)
    mark(key, str(os.getpid()))
    if not runs:
        time.sleep(seconds)
