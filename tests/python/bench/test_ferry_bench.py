"""`ferry bench` against a real `ferry serve`: every measured message is accounted for, the fixed
rate follows its schedule, fan-out reaches every subscription, and the report writes its tables
and charts. Figures are not asserted (they depend on the machine); what is asserted is that the
tool counts what it claims to count.

`ferry bench` runs the `ferry-bench` binary found beside `ferry` (scripts/test builds both).
"""

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
FERRY = os.environ.get("FERRY_BIN", str(ROOT / "target" / "debug" / "ferry"))
RUN_TIMEOUT_S = 180


def bench(*args):
    done = subprocess.run(
        [FERRY, "bench", *args], capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    assert done.returncode == 0, f"ferry bench {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def run_json(*args):
    return json.loads(bench(*args, "--json"))


def addr(server, target):
    return server.kafka_bootstrap if target == "kafka" else server.sqs_endpoint


def test_ferry_bench_help_names_every_workload():
    text = bench("--help")
    for workload in ("produce", "consume", "e2e", "fanout", "queues", "report"):
        assert workload in text
    assert "--rate" in bench("e2e", "--help")


@pytest.mark.parametrize("target", ["kafka", "sqs"])
def test_every_measured_message_of_a_closed_loop_run_arrives(ferry_server, target):
    out = run_json(
        "e2e", "--target", target, "--addr", addr(ferry_server, target),
        "--duration", "1", "--warmup", "0.5", "--batch", "10", "--inflight", "20",
    )
    assert out["workload"] == "e2e" and out["target"] == target
    assert out["messages"] > 0
    assert out["missing"] == 0
    latency = out["latency"]
    assert latency["kind"] == "end_to_end"
    assert latency["samples"] > 0
    assert latency["p50_us"] <= latency["p99_us"] <= latency["max_us"]


@pytest.mark.parametrize("target", ["kafka", "sqs"])
def test_a_fixed_rate_run_sends_on_its_schedule_and_times_every_message(ferry_server, target):
    rate, secs = 200, 2
    out = run_json(
        "e2e", "--target", target, "--addr", addr(ferry_server, target),
        "--rate", str(rate), "--duration", str(secs), "--warmup", "0.5",
    )
    # The schedule puts rate × secs sends in the window (±1 at each edge); each is received once.
    assert abs(out["latency"]["samples"] - rate * secs) <= 2
    assert out["missing"] == 0
    assert out["rate"] == rate


def test_produce_times_each_acknowledgement(ferry_server):
    out = run_json("produce", "--addr", ferry_server.kafka_bootstrap, "--duration", "1", "--warmup", "0.2")
    assert out["latency"]["kind"] == "publish_ack"
    # Acknowledgements after the window close still get timed, but are not counted in it.
    assert out["latency"]["samples"] >= out["messages"] > 0


def test_fanout_delivers_each_message_to_every_subscription(ferry_server):
    rate, secs, fanout = 100, 1, 3
    out = run_json(
        "fanout", "--addr", ferry_server.kafka_bootstrap, "--fanout", str(fanout),
        "--rate", str(rate), "--duration", str(secs), "--warmup", "0.5",
    )
    assert out["subscriptions"] == fanout and out["consumers"] == fanout
    assert abs(out["latency"]["samples"] - fanout * rate * secs) <= 2 * fanout
    assert out["missing"] == 0


def test_consume_drains_what_it_filled(ferry_server):
    out = run_json("consume", "--target", "sqs", "--addr", ferry_server.sqs_endpoint, "--count", "500",
                   "--batch", "10")
    assert out["messages"] == 500 and out["missing"] == 0


def test_queues_reads_the_servers_memory(ferry_server):
    out = run_json(
        "queues", "--target", "sqs", "--addr", ferry_server.sqs_endpoint, "--queues", "5",
        "--per-queue", "10", "--batch", "5", "--server-pid", str(ferry_server.proc.pid),
    )
    assert out["messages"] == 50 and out["destinations"] == 5
    memory = out["memory"]
    assert memory["rss_start_bytes"] > 0 and memory["rss_with_messages_bytes"] > 0


def test_a_refused_run_fails_with_a_message():
    done = subprocess.run(
        [FERRY, "bench", "produce", "--addr", "127.0.0.1:1", "--batch", "0"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_S,
    )
    assert done.returncode != 0
    assert "--batch" in done.stderr


def test_report_writes_a_table_per_workload_and_its_chart(ferry_server, tmp_path):
    lines = [
        bench("produce", "--addr", ferry_server.kafka_bootstrap, "--duration", "0.5", "--warmup", "0.2",
              "--label", "ferry (Kafka API)", "--durability", "fsync before ack", "--json"),
        bench("produce", "--target", "sqs", "--addr", ferry_server.sqs_endpoint, "--duration", "0.5",
              "--warmup", "0.2", "--label", "peer", "--durability", "none", "--json"),
    ]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(lines))
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nKept as it is.\n")
    charts = tmp_path / "bench"
    for _ in range(2):  # a second report replaces the first section instead of adding one
        bench("report", "--input", str(results), "--doc", str(doc), "--charts", str(charts),
              "--command", "the command")
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nKept as it is.\n")
    assert text.count("ferry-bench report: begin") == 1
    assert "| ferry (Kafka API) | fsync before ack |" in text
    assert "| peer | none |" in text
    assert "`the command`" in text
    chart = charts / "produce-100.svg"
    assert "](bench/produce-100.svg)" in text
    root = ET.parse(chart).getroot()
    assert root.tag.endswith("svg")
    assert "ferry (Kafka API)" in chart.read_text()


@pytest.mark.parametrize("workload", ["produce", "e2e"])
def test_a_counted_run_measures_exactly_its_messages(ferry_server, workload):
    out = run_json(workload, "--addr", ferry_server.kafka_bootstrap, "--count", "300", "--warmup", "0.3",
                   "--producers", "2")
    assert out["messages"] == 300
    assert out["latency"]["samples"] == 300
    assert out["missing"] == 0
