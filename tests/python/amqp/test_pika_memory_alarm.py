"""The memory alarm: above the high watermark, publishers get connection.blocked naming memory."""

import pika

from amqp_helpers import parameters


def blocked_reasons(server, wait_s):
    """The reasons of the connection.blocked a new connection is sent within `wait_s` of opening.
    pika's select adapter, so the callback is in place before any frame after open-ok is read."""
    reasons = []

    def on_open(conn):
        conn.add_on_connection_blocked_callback(lambda _, frame: reasons.append(frame.method.reason))
        conn.ioloop.call_later(wait_s, conn.close)

    conn = pika.SelectConnection(
        parameters(server), on_open_callback=on_open, on_close_callback=lambda *_: conn.ioloop.stop()
    )
    conn.ioloop.start()
    return reasons


def test_above_the_memory_high_watermark_publishers_are_blocked(ferry_server_with):
    # Any broker's resident memory is above one byte: the alarm is raised at its first check.
    server = ferry_server_with(["--memory-high-watermark-bytes", "1"])
    assert blocked_reasons(server, 1.5) == ["low on memory"]


def test_below_the_memory_high_watermark_nothing_is_blocked(ferry_server_with):
    server = ferry_server_with(["--memory-high-watermark-bytes", str(1 << 40)])
    assert blocked_reasons(server, 1.5) == []
