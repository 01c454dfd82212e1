"""Malformed and hostile input on the AMQP listener, sent over raw sockets: each gets the
connection.close RabbitMQ sends (501 FRAME_ERROR, 504 CHANNEL_ERROR, 505 UNEXPECTED_FRAME...),
closes only its own connection, and a pika client connected at the same time keeps working.

Cases already pinned by crates/ferry-amqp/tests (foreign protocol header, frame over frame_max,
bad end octet, unknown frame type, body without method, method inside content, channel above
channel_max) are not repeated here."""

import socket
import struct
import time
from pathlib import Path

import pika
import pika.frame
import pika.spec

from amqp_helpers import parameters

TIMEOUT_S = 10


class Raw:
    """A hand-driven AMQP 0-9-1 client: frames encoded and decoded with pika's codec."""

    def __init__(self, server):
        host, port = server.amqp_address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=TIMEOUT_S)
        self.buffer = b""

    def send(self, data):
        self.sock.sendall(data)

    def method(self, channel, method):
        self.send(pika.frame.Method(channel, method).marshal())

    def recv_frame(self):
        """The next frame, or None once the server closed the socket."""
        while True:
            consumed, frame = pika.frame.decode_frame(self.buffer)
            if frame is not None:
                self.buffer = self.buffer[consumed:]
                return frame
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk

    def recv_method(self):
        while True:
            frame = self.recv_frame()
            if frame is None or isinstance(frame, pika.frame.Method):
                return frame

    def handshake(self, frame_max=131072, channel_max=2047):
        self.send(b"AMQP\x00\x00\x09\x01")
        assert isinstance(self.recv_method().method, pika.spec.Connection.Start)
        self.method(0, pika.spec.Connection.StartOk({}, "PLAIN", b"\0guest\0guest", "en_US"))
        tune = self.recv_method().method
        assert isinstance(tune, pika.spec.Connection.Tune)
        self.method(0, pika.spec.Connection.TuneOk(channel_max, frame_max, 0))
        self.method(0, pika.spec.Connection.Open("/"))
        assert isinstance(self.recv_method().method, pika.spec.Connection.OpenOk)
        return self

    def open_channel(self, channel):
        self.method(channel, pika.spec.Channel.Open())
        assert isinstance(self.recv_method().method, pika.spec.Channel.OpenOk)

    def expect_connection_close(self):
        """The connection.close the server sent (skipping other frames), after which it must
        close the socket once close-ok is sent."""
        while True:
            frame = self.recv_method()
            assert frame is not None, "the server closed the socket without connection.close"
            if isinstance(frame.method, pika.spec.Connection.Close):
                close = frame.method
                break
        self.method(0, pika.spec.Connection.CloseOk())
        deadline = time.monotonic() + TIMEOUT_S
        while self.recv_frame() is not None:
            assert time.monotonic() < deadline, "the socket stayed open after close-ok"
        return close

    def close(self):
        self.sock.close()


def raw_frame(kind, channel, payload, end=b"\xce"):
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + end


def bystander_works(server, name):
    """A pika client still declares, publishes and gets."""
    conn = pika.BlockingConnection(parameters(server))
    try:
        ch = conn.channel()
        ch.queue_declare(name)
        ch.basic_publish("", name, b"still here")
        assert ch.basic_get(name, auto_ack=True)[2] == b"still here"
        ch.queue_delete(name)
    finally:
        conn.close()


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_a_channel_method_on_channel_0_is_a_channel_error(ferry_server, name):
    bystander = pika.BlockingConnection(parameters(ferry_server))
    raw = Raw(ferry_server).handshake()
    raw.method(0, pika.spec.Queue.Declare(queue=name))
    close = raw.expect_connection_close()
    assert (close.reply_code, close.class_id, close.method_id) == (504, 50, 10), close
    assert bystander.channel().queue_declare(name, auto_delete=True).method.queue == name
    bystander.close()


def test_a_content_header_without_its_method_is_an_unexpected_frame(ferry_server, name):
    raw = Raw(ferry_server).handshake()
    raw.open_channel(1)
    raw.send(pika.frame.Header(1, 5, pika.BasicProperties()).marshal())
    close = raw.expect_connection_close()
    assert close.reply_code == 505, close
    bystander_works(ferry_server, name)


def test_a_content_header_on_channel_0_is_an_unexpected_frame(ferry_server, name):
    raw = Raw(ferry_server).handshake()
    raw.send(pika.frame.Header(0, 5, pika.BasicProperties()).marshal())
    assert raw.expect_connection_close().reply_code == 505
    bystander_works(ferry_server, name)


def test_a_body_longer_than_its_header_announced_is_a_frame_error(ferry_server, name):
    raw = Raw(ferry_server).handshake()
    raw.open_channel(1)
    raw.method(1, pika.spec.Basic.Publish(exchange="", routing_key=name))
    raw.send(pika.frame.Header(1, 5, pika.BasicProperties()).marshal())
    raw.send(pika.frame.Body(1, b"more than five").marshal())
    close = raw.expect_connection_close()
    assert close.reply_code == 501, close
    bystander_works(ferry_server, name)


def test_a_huge_field_table_is_kept_whole_and_one_longer_than_its_frame_is_refused(ferry_server, channel, name):
    # 6,000 headers, about 100 KB: within the default frame_max (131,072), so legal.
    headers = {f"h{i:05}": i for i in range(6000)}
    channel.queue_declare(name)
    channel.basic_publish("", name, b"big table", pika.BasicProperties(headers=headers))
    _, props, body = channel.basic_get(name, auto_ack=True)
    assert body == b"big table" and props.headers == headers

    # A queue.declare whose arguments table claims 1 GiB inside a frame of a few bytes.
    raw = Raw(ferry_server).handshake()
    raw.open_channel(1)
    fields = struct.pack(">HB", 0, 1) + b"q" + b"\x00" + struct.pack(">I", 1 << 30) + b"\x01x"
    raw.send(raw_frame(1, 1, struct.pack(">HH", 50, 10) + fields))
    close = raw.expect_connection_close()
    assert close.reply_code in (501, 502), close
    bystander_works(ferry_server, name)


def test_ten_thousand_channel_opens_end_at_channel_max_and_cost_bounded_memory(ferry_server, name):
    pid = ferry_server.proc.pid
    before = rss_kib(pid)
    bystander = pika.BlockingConnection(parameters(ferry_server))
    raw = Raw(ferry_server).handshake()
    raw.send(b"".join(pika.frame.Method(n, pika.spec.Channel.Open()).marshal() for n in range(1, 10001)))
    opened = 0
    while True:
        frame = raw.recv_method()
        assert frame is not None, "closed without connection.close"
        if isinstance(frame.method, pika.spec.Channel.OpenOk):
            opened += 1
            continue
        assert isinstance(frame.method, pika.spec.Connection.Close), frame
        close = frame.method
        break
    assert opened == 2047, opened
    # RabbitMQ answers 530 NOT_ALLOWED ("number of channels opened (2047) has reached the
    # negotiated channel_max"); ferry checks the channel number and answers 504.
    assert close.reply_code in (504, 530), close
    raw.close()
    grown_kib = rss_kib(pid) - before
    assert grown_kib < 64 * 1024, f"2047 channels cost {grown_kib} KiB"
    ch = bystander.channel()
    ch.queue_declare(name, auto_delete=True)
    bystander.close()


def test_a_consumer_that_stops_reading_does_not_make_the_broker_buffer_without_bound(ferry_server, name):
    """A no-ack consumer (no prefetch bound at all) that never reads: deliveries stop at the
    socket buffers and the broker's own bounded queue, they do not pile up in its memory."""
    pid = ferry_server.proc.pid
    body = b"m" * 65536
    count = 1500  # 96 MiB queued
    publisher = pika.BlockingConnection(parameters(ferry_server))
    ch = publisher.channel()
    ch.queue_declare(name)
    ch.confirm_delivery()
    for _ in range(count):
        ch.basic_publish("", name, body)
    before = rss_kib(pid)

    raw = Raw(ferry_server).handshake()
    raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    raw.open_channel(1)
    raw.method(1, pika.spec.Basic.Consume(queue=name, no_ack=True))
    # Never read again; give the broker time to push whatever it would.
    peak = before
    for _ in range(20):
        time.sleep(0.25)
        peak = max(peak, rss_kib(pid))
    grown_kib = peak - before
    assert grown_kib < 32 * 1024, f"the broker grew by {grown_kib} KiB for a consumer that does not read"
    # Others are served meanwhile.
    assert ch.queue_declare(name, passive=True).method.queue == name
    bystander_works(ferry_server, name + "-other")
    raw.close()
    publisher.close()


def test_a_connection_that_never_sends_the_protocol_header_is_closed_after_the_handshake_timeout(
    ferry_server_with, tmp_path, name
):
    config = tmp_path / "ferry.toml"
    config.write_text("[amqp]\nhandshake_timeout_ms = 500\n")
    server = ferry_server_with(["--config", str(config)])
    silent = Raw(server)
    started = time.monotonic()
    bystander_works(server, name)
    assert silent.sock.recv(1) == b"", "the broker should close a silent connection without a word"
    assert 0.4 < time.monotonic() - started < 5
    bystander_works(server, name)
