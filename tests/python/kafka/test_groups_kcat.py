"""Consumer groups through kcat, i.e. the librdkafka that the distribution ships (2.0 on Debian 12)."""

import shutil
import subprocess

import pytest

from group_helpers import DEADLINE_S, create_topic, produce, unique

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
pytestmark = pytest.mark.skipif(KCAT is None, reason="kcat is not installed (apt package kcat)")


def kcat_group_read(bootstrap, group, topic):
    """Reads the group's share of `topic` up to its end (-e), committing on exit.

    No `-o`: in group mode kcat would start every assigned partition there, ignoring commits.
    """
    done = subprocess.run(
        [KCAT, "-b", bootstrap, "-G", group, "-e", "-q", "-f", "%s\n", "-X", "auto.offset.reset=earliest",
         "-X", "session.timeout.ms=6000", "-X", "auto.commit.interval.ms=100", topic],
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
    )
    assert done.returncode == 0, done.stderr
    return sorted(line for line in done.stdout.splitlines() if line)


def test_kcat_group_consumer_resumes_from_its_commits(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("kcat-orders"), unique("kcat-group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"first-{i}" for i in range(6)], 2)
    assert kcat_group_read(bootstrap, group, topic) == sorted(f"first-{i}" for i in range(6))
    produce(bootstrap, topic, [f"second-{i}" for i in range(4)], 2)
    assert kcat_group_read(bootstrap, group, topic) == sorted(f"second-{i}" for i in range(4))
