"""Debian's amqp-tools (librabbitmq's command-line clients) against ferry."""

import shutil
import subprocess

import pytest

pytestmark = pytest.mark.skipif(shutil.which("amqp-publish") is None, reason="amqp-tools is not installed")


def test_amqp_publish_then_amqp_get(ferry_server, channel, name):
    url = "amqp://guest:guest@" + ferry_server.amqp_address
    channel.queue_declare(name)
    subprocess.run(["amqp-publish", "--url", url, "-r", name, "-b", "hello from amqp-tools"], check=True, timeout=10)
    out = subprocess.run(["amqp-get", "--url", url, "-q", name], check=True, timeout=10, capture_output=True)
    assert out.stdout == b"hello from amqp-tools"


def test_amqp_consume_runs_a_command_per_message(ferry_server, channel, name):
    url = "amqp://guest:guest@" + ferry_server.amqp_address
    channel.queue_declare(name)
    for i in range(3):
        channel.basic_publish("", name, f"m{i}".encode())
    out = subprocess.run(
        ["amqp-consume", "--url", url, "-q", name, "-c", "3", "cat"], check=True, timeout=10, capture_output=True
    )
    assert out.stdout == b"m0m1m2"
