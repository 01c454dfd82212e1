"""kill -9 of `ferry serve` while pika publishers pipeline persistent messages with publisher
confirms, a transactional publisher commits batches and a consumer holds deliveries.

What ferry promises, and what these tests hold it to:

- A confirm (basic.ack) is sent only once the message is durable in every queue it was routed
  to, so every confirmed message is there after the restart, exactly once in each such queue,
  and in the order its publisher published it. An unconfirmed message may or may not be there;
  nothing is republished here, so it is there at most once.
- A consumer's basic.ack has no answer in AMQP. ferry's queues (classic and quorum alike: both
  are standard ferry queues) apply an ack at once and make it durable in a background journal
  sync a few milliseconds later (`QueueAttributes::sync_settlements` is off for them, see
  ARCHITECTURE.md), so a crash can bring back a message acked in the last milliseconds before
  it, never lose one. Acks older than that are durable: those messages do not come back.
  Deliveries not yet acked come back.
- `tx.commit` answers commit-ok only once every publish of the transaction is durable in its
  queues, so a committed batch survives whole. A commit cut by the crash may leave part of its
  batch (`tx.commit` applies the publishes one after another); nothing here asserts on
  uncommitted batches beyond "at most once".
"""

import threading
import time
from collections import deque
from contextlib import suppress

import pika

from amqp_helpers import parameters

CYCLES = 2
LOAD_S = 1.5
WINDOW = 200
PERSISTENT = pika.BasicProperties(delivery_mode=2)

CLASSIC = "kill-classic"
QUORUM = "kill-quorum"
FANOUT = "kill-fanout"
FANOUT_QUEUES = ["kill-fan-classic-1", "kill-fan-quorum", "kill-fan-classic-2"]
STREAM = "kill-stream"
TX = "kill-tx"
PRELOAD = 200
ACK_FIRST = 100
HOLD = 20


class Publisher(threading.Thread):
    """A pika SelectConnection publishing `<id>:<seq>` with confirms, at most WINDOW unconfirmed,
    until stopped or disconnected. `confirmed` and `nacked` hold sequence numbers."""

    def __init__(self, server, ident, exchange, routing_key):
        super().__init__(daemon=True)
        self.params = parameters(server, heartbeat=0)
        self.label, self.exchange, self.routing_key = ident, exchange, routing_key
        self.published = 0
        self.unsettled = deque()
        self.confirmed = set()
        self.nacked = set()
        self.stop_requested = threading.Event()
        self.conn = None
        self.channel = None

    def run(self):
        self.conn = pika.SelectConnection(
            self.params,
            on_open_callback=lambda c: c.channel(on_open_callback=self.on_channel),
            on_open_error_callback=lambda c, e: c.ioloop.stop(),
            on_close_callback=lambda c, e: c.ioloop.stop(),
        )
        self.conn.ioloop.start()

    def on_channel(self, channel):
        self.channel = channel
        channel.confirm_delivery(self.on_confirm, callback=lambda _frame: self.pump())

    def pump(self):
        try:
            while not self.stop_requested.is_set() and len(self.unsettled) < WINDOW:
                body = f"{self.label}:{self.published}".encode()
                self.channel.basic_publish(self.exchange, self.routing_key, body, PERSISTENT)
                # Delivery tags count publishes from 1.
                self.unsettled.append(self.published + 1)
                self.published += 1
        except Exception:
            return

    def on_confirm(self, frame):
        method = frame.method
        into = self.confirmed if isinstance(method, pika.spec.Basic.Ack) else self.nacked
        if method.multiple:
            while self.unsettled and self.unsettled[0] <= method.delivery_tag:
                into.add(self.unsettled.popleft() - 1)
        else:
            self.unsettled.remove(method.delivery_tag)
            into.add(method.delivery_tag - 1)
        self.pump()


class TxPublisher(threading.Thread):
    """Commits batches of ten `<id>:<batch>:<i>` to TX until stopped; `committed` holds batches."""

    BATCH = 10

    def __init__(self, server, ident):
        super().__init__(daemon=True)
        self.server, self.label = server, ident
        self.committed = set()
        self.batches = 0
        self.stop_requested = threading.Event()

    def run(self):
        try:
            conn = pika.BlockingConnection(parameters(self.server, heartbeat=0))
            channel = conn.channel()
            channel.tx_select()
            while not self.stop_requested.is_set():
                batch = self.batches
                self.batches += 1
                for i in range(self.BATCH):
                    channel.basic_publish("", TX, f"{self.label}:{batch}:{i}".encode(), PERSISTENT)
                channel.tx_commit()
                self.committed.add(batch)
        except Exception:
            return


def declare(server):
    conn = pika.BlockingConnection(parameters(server))
    ch = conn.channel()
    for queue in [CLASSIC, FANOUT_QUEUES[0], FANOUT_QUEUES[2], TX]:
        ch.queue_declare(queue, durable=True)
    for queue in [QUORUM, FANOUT_QUEUES[1]]:
        ch.queue_declare(queue, durable=True, arguments={"x-queue-type": "quorum"})
    ch.queue_declare(STREAM, durable=True, arguments={"x-queue-type": "stream"})
    ch.exchange_declare(FANOUT, "fanout", durable=True)
    for queue in FANOUT_QUEUES:
        ch.queue_bind(queue, FANOUT)
    conn.close()


def ack_some_and_hold_some(server, cycle):
    """Fills a classic and a quorum queue of the cycle, acks the first ACK_FIRST messages of each
    and holds HOLD more unacknowledged on a connection that the kill ends. Returns that
    connection and what each queue must keep."""
    conn = pika.BlockingConnection(parameters(server, heartbeat=0))
    ch = conn.channel()
    ch.confirm_delivery()
    classic, quorum = f"kill-acked-classic-{cycle}", f"kill-acked-quorum-{cycle}"
    ch.queue_declare(classic, durable=True)
    ch.queue_declare(quorum, durable=True, arguments={"x-queue-type": "quorum"})
    kept = {}
    for queue in [classic, quorum]:
        bodies = [f"a{cycle}:{i}".encode() for i in range(PRELOAD)]
        for body in bodies:
            ch.basic_publish("", queue, body, PERSISTENT)
        got = []
        for _ in range(ACK_FIRST + HOLD):
            method, _, body = ch.basic_get(queue)
            got.append((method.delivery_tag, body))
        assert [b for _, b in got] == bodies[: ACK_FIRST + HOLD], "the queue should give back what it was given"
        for tag, _ in got[:ACK_FIRST]:
            ch.basic_ack(tag)
        kept[queue] = bodies[ACK_FIRST:]
    # A round trip after the acks (the broker handles a channel's frames in order), then time
    # for the background journal sync, which runs every few milliseconds.
    ch.queue_declare(classic, passive=True)
    time.sleep(0.5)
    return conn, kept


def drain(server, queue, stream=False):
    """Every body left in `queue`, in delivery order, acknowledged (a stream is read from first)."""
    conn = pika.BlockingConnection(parameters(server))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=1000)
    bodies = []
    last = [time.monotonic()]

    def on_message(channel, method, _props, body):
        bodies.append(body)
        last[0] = time.monotonic()
        channel.basic_ack(method.delivery_tag)

    arguments = {"x-stream-offset": "first"} if stream else None
    ch.basic_consume(queue, on_message, arguments=arguments)
    while time.monotonic() - last[0] < 1.5:
        conn.process_data_events(time_limit=0.1)
    conn.close()
    return bodies


def check_publisher(queue, bodies, publisher):
    """In `queue`, `publisher`'s messages are in publish order, each once, the confirmed all there."""
    prefix = publisher.label + ":"
    seqs = [int(b.decode()[len(prefix) :]) for b in bodies if b.decode().startswith(prefix)]
    assert seqs == sorted(set(seqs)), f"{queue}: {publisher.label} out of order or duplicated"
    lost = publisher.confirmed - set(seqs)
    assert not lost, f"{queue}: {len(lost)} confirmed messages of {publisher.label} lost, e.g. {sorted(lost)[:5]}"
    assert not publisher.nacked, f"{publisher.label}: nacked {sorted(publisher.nacked)[:5]}"
    assert set(seqs) <= set(range(publisher.published)), f"{queue}: {publisher.label} has unknown messages"


def test_kill_9_under_pipelined_confirmed_publishes_loses_nothing_confirmed_and_keeps_order(fresh_ferry_server):
    server = fresh_ferry_server
    declare(server)
    publishers, tx_publishers, kept = [], [], {}
    for cycle in range(CYCLES):
        holder, kept_now = ack_some_and_hold_some(server, cycle)
        kept.update(kept_now)
        now = [
            Publisher(server, f"c{cycle}classic1", "", CLASSIC),
            Publisher(server, f"c{cycle}classic2", "", CLASSIC),
            Publisher(server, f"c{cycle}quorum1", "", QUORUM),
            Publisher(server, f"c{cycle}quorum2", "", QUORUM),
            Publisher(server, f"c{cycle}fanout", FANOUT, ""),
            Publisher(server, f"c{cycle}stream", "", STREAM),
        ]
        tx = TxPublisher(server, f"c{cycle}tx")
        for p in [*now, tx]:
            p.start()
        time.sleep(LOAD_S)
        server.kill()
        for p in [*now, tx]:
            p.stop_requested.set()
            p.join(timeout=30)
            assert not p.is_alive(), "a client hung after the broker died"
        with suppress(Exception):
            holder.close()
        publishers.extend(now)
        tx_publishers.append(tx)
        server.start()

    figures = {p.label: (p.published, len(p.confirmed)) for p in publishers}
    assert all(p.confirmed for p in publishers), f"confirms per publisher: {figures}"
    assert all(t.committed for t in tx_publishers), "the transactional publisher should have committed"
    by_queue = {
        CLASSIC: [p for p in publishers if "classic" in p.label],
        QUORUM: [p for p in publishers if "quorum" in p.label],
        **{q: [p for p in publishers if "fanout" in p.label] for q in FANOUT_QUEUES},
    }
    for queue, its_publishers in by_queue.items():
        bodies = drain(server, queue)
        for p in its_publishers:
            check_publisher(queue, bodies, p)
    stream = drain(server, STREAM, stream=True)
    for p in publishers:
        if "stream" in p.label:
            check_publisher(STREAM, stream, p)

    tx_bodies = [b.decode() for b in drain(server, TX)]
    assert len(tx_bodies) == len(set(tx_bodies)), "a transactional publish stored twice"
    for t in tx_publishers:
        for batch in t.committed:
            missing = [i for i in range(TxPublisher.BATCH) if f"{t.label}:{batch}:{i}" not in tx_bodies]
            assert not missing, f"committed batch {t.label}:{batch} lost messages {missing}"

    for queue in kept:
        bodies = drain(server, queue)
        assert len(bodies) == len(set(bodies)), f"{queue}: a message came back twice"
        assert sorted(bodies) == sorted(kept[queue]), (
            f"{queue}: acked messages came back ({sorted(set(bodies) - set(kept[queue]))[:5]}) "
            f"or unacked ones were lost ({sorted(set(kept[queue]) - set(bodies))[:5]})"
        )
