"""Share-group consume throughput: msg/s of 1 and of 4 confluent-kafka ShareConsumers (implicit
acknowledgement: each poll accepts the records of the one before) draining one topic.

Not a test (pytest does not collect it) and not run by CI: a figure for docs/BENCHMARKS.md.

    python tests/python/bench/share_group_consume.py --bootstrap 127.0.0.1:9092 \
        [--messages 200000] [--partitions 1] [--size 100] [--consumers 1 4]

Each case produces `--messages` records into a fresh topic first, then starts the consumers (one
process each, so the client's GIL does not bound them), all in one new share group that starts at
the earliest offset, and times from the first record received to the last. A case whose consumers
together receive another number of records than was produced is reported as a mismatch.
"""

import argparse
import multiprocessing as mp
import time
import uuid

from confluent_kafka import Producer, ShareConsumer
from confluent_kafka.admin import AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, NewTopic, ResourceType

DEADLINE_S = 300


def produce(bootstrap, topic, messages, size):
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.size": 1_000_000})
    payload = b"x" * size
    for i in range(messages):
        while True:
            try:
                producer.produce(topic, value=payload, key=str(i).encode())
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(DEADLINE_S) == 0


def consume(bootstrap, group, topic, total, counts, start_times, end_times, index, go):
    consumer = ShareConsumer({"bootstrap.servers": bootstrap, "group.id": group, "max.poll.records": 500})
    consumer.subscribe([topic])
    go.wait()
    first = None
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        batch = consumer.poll(0.2)
        n = sum(1 for m in batch if m.error() is None)
        if n:
            first = first or time.monotonic()
            end_times[index] = time.monotonic()
            with counts.get_lock():
                counts.value += n
        with counts.get_lock():
            if counts.value >= total:
                break
    consumer.poll(0.1)  # accepts the last batch
    consumer.close()
    start_times[index] = first or 0.0


def run_case(bootstrap, consumers, messages, partitions, size):
    topic, group = f"share-bench-{uuid.uuid4().hex[:8]}", f"share-bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(30)
    entry = ConfigEntry("share.auto.offset.reset", "earliest", incremental_operation=AlterConfigOpType.SET)
    for f in admin.incremental_alter_configs([ConfigResource(ResourceType.GROUP, group, incremental_configs=[entry])]).values():
        f.result(30)
    produce(bootstrap, topic, messages, size)
    counts = mp.Value("q", 0)
    starts = mp.Array("d", consumers)
    ends = mp.Array("d", consumers)
    go = mp.Event()
    procs = [
        mp.Process(target=consume, args=(bootstrap, group, topic, messages, counts, starts, ends, i, go))
        for i in range(consumers)
    ]
    for p in procs:
        p.start()
    go.set()
    for p in procs:
        p.join(DEADLINE_S)
    received = counts.value
    first = min(s for s in starts if s > 0)
    last = max(ends)
    rate = received / (last - first) if last > first else float("nan")
    return received, rate


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--consumers", type=int, nargs="+", default=[1, 4])
    args = parser.parse_args()
    print(f"{args.messages} records of {args.size} B, {args.partitions} partition(s)")
    for n in args.consumers:
        received, rate = run_case(args.bootstrap, n, args.messages, args.partitions, args.size)
        status = "ok" if received == args.messages else f"MISMATCH: {received} received"
        print(f"{n} consumer(s): {rate:,.0f} msg/s ({status})")


if __name__ == "__main__":
    main()
