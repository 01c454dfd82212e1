"""`ferry stats` and `ferry completions`."""

import pytest

from cli_helpers import run_ferry


def test_stats_once_lists_a_queue_with_its_depth(ferry, name):
    ferry("queue", "create", name)
    ferry("send", name, "one")
    ferry("send", name, "two")
    frame = ferry("stats", "--once").stdout
    lines = frame.splitlines()
    assert lines[0].startswith("ferry")
    header = next(line for line in lines if line.startswith("NAME"))
    assert header.split()[:2] == ["NAME", "READY"]
    row = next(line for line in lines if line.split() and line.split()[0] == name)
    assert row.split()[1] == "2"
    assert any(line.startswith("GROUP") for line in lines)


def test_stats_once_as_json(ferry, name):
    ferry("queue", "create", name)
    ferry("send", name, "one")
    doc = ferry("stats", "--once", "-o", "json").json()
    mine = [q for q in doc["queues"] if q["name"] == name]
    assert mine and mine[0]["ready"] == 1
    assert isinstance(doc["groups"], list)


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completions(shell):
    out = run_ferry("completions", shell).stdout
    assert len(out) > 1000
    assert "ferry" in out
    assert "receive" in out


def test_completions_for_an_unknown_shell_is_a_usage_error():
    run_ferry("completions", "tcsh", expect=2)
