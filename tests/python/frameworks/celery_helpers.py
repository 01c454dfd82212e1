"""Setting up a Celery worker and a client app of `celery_amqp_app` against one broker."""

import os
import socket
import uuid

from celery_amqp_app import make_app
from framework_helpers import Worker


def celery_settings(server, state_dir, **overrides):
    """The environment that configures `celery_amqp_app` for one test: its own queue on
    `server`'s AMQP listener, marks in `state_dir`."""
    settings = {
        "FERRY_BROKER_URL": f"amqp://guest:guest@{server.amqp_address}//",
        "FERRY_TASK_QUEUE": "celery-" + uuid.uuid4().hex[:10],
        "FERRY_STATE_DIR": str(state_dir),
    }
    settings.update({key: str(value) for key, value in overrides.items()})
    return settings


def celery_worker(settings, *options, name=None):
    """A `celery worker` process of `celery_amqp_app` (not started yet); threads pool of 2
    unless `options` say otherwise."""
    pool = [] if any(o.startswith(("-P", "--pool")) for o in options) else ["-P", "threads", "-c", "2"]
    node = f"{name or 'w-' + uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    argv = ["celery", "-A", "celery_amqp_app", "worker", "-n", node, "--loglevel=INFO", *pool, *options]
    worker = Worker(argv, env=settings)
    worker.node = node
    return worker


def client_app(settings):
    """The app a test submits tasks through (by name, the worker registers them)."""
    return make_app(settings)


def read_marks(settings, name):
    """The lines a task left in the state file `name` of a test's FERRY_STATE_DIR."""
    path = os.path.join(settings["FERRY_STATE_DIR"], name)
    return open(path).read().splitlines() if os.path.exists(path) else []


def task(app, name, *args, **options):
    """A signature of `celery_tasks.<name>`."""
    return app.signature(f"celery_tasks.{name}", args=args, options=options)
