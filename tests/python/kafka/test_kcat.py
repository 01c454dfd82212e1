"""kcat (Debian's package) against ferry: produce lines with keys, read them back."""

import shutil
import subprocess

import pytest

from kafka_helpers import unique_topic

KCAT = shutil.which("kcat") or shutil.which("kafkacat")


@pytest.mark.skipif(KCAT is None, reason="kcat is not installed (Debian package `kcat`); scripts/test installs it")
def test_kcat_round_trip(ferry_server):
    topic = unique_topic("kcat")
    lines = [f"key{i}:value {i}" for i in range(50)]
    subprocess.run(
        [KCAT, "-b", ferry_server.kafka_bootstrap, "-t", topic, "-P", "-K:", "-p", "0"],
        input="\n".join(lines) + "\n",
        text=True,
        check=True,
        timeout=60,
    )
    out = subprocess.run(
        [KCAT, "-b", ferry_server.kafka_bootstrap, "-t", topic, "-C", "-e", "-o", "beginning", "-f", "%k=%s@%o\n"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert out.stdout.splitlines() == [f"key{i}=value {i}@{i}" for i in range(50)]

    listing = subprocess.run(
        [KCAT, "-b", ferry_server.kafka_bootstrap, "-L", "-t", topic],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert f'topic "{topic}" with 1 partitions' in listing.stdout
