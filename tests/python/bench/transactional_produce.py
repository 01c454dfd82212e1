"""Transactional produce throughput against non-transactional, measured side by side in one run.

Not a test (pytest does not collect it) and not run by CI: a figure for docs/BENCHMARKS.md.

    python tests/python/bench/transactional_produce.py --bootstrap 127.0.0.1:9092 \
        [--seconds 10] [--size 100] [--transaction-ms 100] [--rounds 2]

Each case is one confluent-kafka producer (librdkafka) sending `--size`-byte records as fast as it
can to a one-partition topic for `--seconds`: "idempotent" with `enable.idempotence=true` (what a
transactional producer is underneath), "transactional" committing a transaction every
`--transaction-ms` and beginning the next. The clock stops once every record is acknowledged (and,
transactional, the last transaction committed); only records whose delivery succeeded count. The
cases alternate for `--rounds` rounds so that both see the same machine.
"""

import argparse
import time
import uuid

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def run(bootstrap, topic, seconds, size, transaction_ms):
    config = {
        "bootstrap.servers": bootstrap,
        "linger.ms": 5,
        "queue.buffering.max.messages": 1_000_000,
    }
    if transaction_ms:
        config["transactional.id"] = f"bench-{uuid.uuid4().hex[:8]}"
    else:
        config["enable.idempotence"] = True
    delivered = [0, 0]

    def report(err, _msg):
        delivered[0 if err is None else 1] += 1

    producer = Producer(config)
    if transaction_ms:
        producer.init_transactions(30)
        producer.begin_transaction()
    payload = b"x" * size
    commits = 0
    started = time.monotonic()
    next_commit = started + (transaction_ms or 0) / 1000
    while time.monotonic() - started < seconds:
        for _ in range(1000):
            try:
                producer.produce(topic, payload, on_delivery=report)
            except BufferError:
                producer.poll(0.001)
        producer.poll(0)
        if transaction_ms and time.monotonic() >= next_commit:
            producer.commit_transaction(30)
            producer.begin_transaction()
            commits += 1
            next_commit = time.monotonic() + transaction_ms / 1000
    if transaction_ms:
        producer.commit_transaction(60)
        commits += 1
    else:
        producer.flush(60)
    elapsed = time.monotonic() - started
    if delivered[1]:
        raise KafkaException(f"{delivered[1]} records failed")
    return delivered[0] / elapsed, commits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--transaction-ms", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    topic = f"txn-bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    print("| round | idempotent msg/s | transactional msg/s | transactions | ratio |")
    print("|---|---|---|---|---|")
    for n in range(args.rounds):
        plain, _ = run(args.bootstrap, topic, args.seconds, args.size, 0)
        txn, commits = run(args.bootstrap, topic, args.seconds, args.size, args.transaction_ms)
        print(f"| {n + 1} | {plain:.0f} | {txn:.0f} | {commits} | {txn / plain:.2f}× |")


if __name__ == "__main__":
    main()
