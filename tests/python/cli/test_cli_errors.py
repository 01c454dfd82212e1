"""Exit codes and error lines scripts and people rely on: 1 the server refused, 2 usage, 3 unreachable."""

from cli_helpers import run_ferry


def test_unknown_queue_exits_1_with_one_line(ferry, name):
    result = ferry("queue", "describe", name, expect=1)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("ferry: ")
    assert name in lines[0]
    assert lines[0].endswith("(queue_not_found)")


def test_sending_to_an_unknown_queue_exits_1(ferry, name):
    result = ferry("send", name, "x", expect=1)
    assert "(queue_not_found)" in result.stderr


def test_reading_an_unknown_topic_exits_1(ferry, name):
    result = ferry("consume", name, "--from-beginning", expect=1)
    assert "(topic_not_found)" in result.stderr
    assert ferry("topic", "describe", name, expect=1).stderr.startswith("ferry: ")


def test_an_unknown_group_exits_1(ferry, name):
    assert "not_found" in ferry("group", "describe", name, expect=1).stderr


def test_creating_a_queue_with_other_settings_exits_1(ferry, name):
    ferry("queue", "create", name, "--visibility-timeout-ms", "1000")
    ferry("queue", "create", name, "--visibility-timeout-ms", "1000")
    result = ferry("queue", "create", name, "--visibility-timeout-ms", "2000", expect=1)
    assert "(already_exists)" in result.stderr or "(conflict)" in result.stderr


def test_server_down_exits_3_and_says_how_to_start_it(closed_url):
    result = run_ferry("queue", "list", url=closed_url, expect=3)
    assert result.stderr.strip() == (
        f"ferry: cannot reach ferry at {closed_url} (connection refused); "
        "start it with `ferry serve` or pass --url"
    )


def test_url_flag_wins_over_the_environment(ferry_server, closed_url):
    run_ferry("queue", "list", "--url", ferry_server.http_url, url=closed_url)
    run_ferry("queue", "--url", closed_url, "list", url=ferry_server.http_url, expect=3)
    run_ferry("--url", ferry_server.http_url, "queue", "list", url=closed_url)
    # After the command word wins over before it.
    run_ferry("--url", closed_url, "queue", "list", "--url", ferry_server.http_url)
    listed = run_ferry("-o", "json", "--url", ferry_server.http_url, "queue", "list").json()
    assert isinstance(listed, list)


def test_client_options_are_refused_by_serve(closed_url):
    result = run_ferry("--url", closed_url, "serve", expect=2)
    assert "client commands" in result.stderr


def test_usage_errors_exit_2(ferry, name):
    assert "Usage" in ferry("queue", expect=2).stderr
    ferry("queue", "frobnicate", expect=2)
    ferry("receive", name, "--max", "0", expect=2)
    ferry("send", name, "x", "--header", "no-equals-sign", expect=2)
    ferry("consume", name, "--offset", "1", "--timestamp", "2", expect=2)
    ferry("queue", "list", "-o", "yaml", expect=2)
    bad_url = run_ferry("queue", "list", "--url", "ftp://nowhere", expect=2)
    assert "http://" in bad_url.stderr


def test_bad_json_on_stdin_exits_2_naming_the_line(ferry, name):
    ferry("topic", "create", name)
    result = ferry("produce", name, "--json", input='{"value": "ok"}\n{oops\n', expect=2)
    assert "stdin line 2" in result.stderr


def test_help_documents_the_exit_codes():
    out = run_ferry("--help").stdout
    assert "Exit codes" in out
    for code in ("0", "1", "2", "3"):
        assert f"\n  {code}  " in out
