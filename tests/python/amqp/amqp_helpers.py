"""Helpers of the AMQP suites (a module of its own: the suites' conftest modules shadow each other)."""

import pika


def parameters(server, **kwargs):
    """pika's connection parameters for `server` with the default guest/guest user."""
    host, port = server.amqp_address.rsplit(":", 1)
    kwargs.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    return pika.ConnectionParameters(host=host, port=int(port), **kwargs)
