"""Setting up a Celery worker and a client app of `celery_amqp_app` (or `celery_sqs_app`)
against one broker."""

import socket
import uuid

import celery_amqp_app
import celery_sqs_app
from framework_helpers import Worker, marks


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


def celery_worker(settings, *options, name=None, app="celery_amqp_app"):
    """A `celery worker` process of `app` (not started yet); threads pool of 2 unless `options`
    say otherwise."""
    pool = [] if any(o.startswith(("-P", "--pool")) for o in options) else ["-P", "threads", "-c", "2"]
    node = f"{name or 'w-' + uuid.uuid4().hex[:8]}@{socket.gethostname()}"
    argv = ["celery", "-A", app, "worker", "-n", node, "--loglevel=INFO", *pool, *options]
    worker = Worker(argv, env=settings)
    worker.node = node
    return worker


def client_app(settings, app="celery_amqp_app"):
    """The app a test submits tasks through (by name, the worker registers them)."""
    return {"celery_amqp_app": celery_amqp_app, "celery_sqs_app": celery_sqs_app}[app].make_app(settings)


def read_marks(settings, name):
    """The lines a task left in the state file `name` of a test's FERRY_STATE_DIR."""
    return marks(settings["FERRY_STATE_DIR"], name)


def task(app, name, *args, **options):
    """A signature of `celery_tasks.<name>`."""
    return app.signature(f"celery_tasks.{name}", args=args, options=options)
