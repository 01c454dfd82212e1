"""Measures one task-framework or SNS workload against a running broker and prints one JSON line.

  bench_tasks.py celery --broker URL [--backend rpc://] --pool threads|prefork --tasks N --system NAME
  bench_tasks.py sns --endpoint URL --queues 5 --messages N --system NAME

celery: starts one worker (`--concurrency 2`) of bench_tasks_app on a queue of its own, sends N
no-op tasks through Celery's API and waits until every result is back (with a result backend) or
the queue is empty and nothing is in flight (sqs:// without one). The time runs from the first
send to the last result; the worker is started and ready before it.
sns: creates a topic with N queues subscribed (raw delivery), publishes N messages with
PublishBatch from 4 threads, and receives them from every queue; reports publish and delivery rates.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent


def wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench_tasks: timed out waiting for {what}")
        time.sleep(0.05)


def sqs_client(endpoint):
    import boto3

    return boto3.client(
        "sqs", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench"
    )


def celery(args):
    queue = "bench-" + uuid.uuid4().hex[:10]
    env = dict(os.environ, BENCH_BROKER=args.broker, BENCH_BACKEND=args.backend or "", BENCH_QUEUE=queue)
    env["PYTHONPATH"] = str(HERE)
    log = open(f"{args.log_dir}/worker-{args.system}-{args.pool}.log", "w")
    worker = subprocess.Popen(
        [str(BIN / "celery"), "-A", "bench_tasks_app", "worker", "-P", args.pool, "-c", "2", "-Q", queue,
         "--loglevel=WARNING", "-n", f"{queue}@%h"],
        env=env, cwd=HERE, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    os.environ.update(env)
    sys.path.insert(0, str(HERE))
    from bench_tasks_app import app, noop

    try:
        wait(lambda: app.control.inspect(destination=[f"{queue}@{os.uname().nodename}"], timeout=1).ping()
             if args.broker.startswith("amqp") else True, 120, "the worker")
        if not args.broker.startswith("amqp"):
            # No remote control over SQS: the worker is ready once it has created its queue.
            client = sqs_client(args.sqs_endpoint)
            wait(lambda: queue in str(client.list_queues(QueueNamePrefix=queue).get("QueueUrls", [])), 120, "the queue")
        start = time.perf_counter()
        results = [noop.delay() for _ in range(args.tasks)]
        sent = time.perf_counter() - start
        if args.backend:
            for r in results:
                r.get(timeout=600)
        else:
            client = sqs_client(args.sqs_endpoint)
            url = client.get_queue_url(QueueName=queue)["QueueUrl"]

            def drained():
                a = client.get_queue_attributes(
                    QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
                )["Attributes"]
                return a["ApproximateNumberOfMessages"] == "0" and a["ApproximateNumberOfMessagesNotVisible"] == "0"

            wait(drained, 600, "the queue to drain")
        seconds = time.perf_counter() - start
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
    return {
        "workload": "celery", "system": args.system, "transport": args.broker.split(":")[0],
        "backend": args.backend or "none", "pool": args.pool, "concurrency": 2, "tasks": args.tasks,
        "send_seconds": round(sent, 3), "seconds": round(seconds, 3), "tasks_per_s": round(args.tasks / seconds, 1),
    }


def sns(args):
    import boto3

    session = dict(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    topics = boto3.client("sns", endpoint_url=args.endpoint, **session)
    queues = sqs_client(args.endpoint)
    name = "bench-" + uuid.uuid4().hex[:10]
    topic = topics.create_topic(Name=name)["TopicArn"]
    urls = []
    for i in range(args.queues):
        url = queues.create_queue(QueueName=f"{name}-{i}")["QueueUrl"]
        arn = queues.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        topics.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
        urls.append(url)
    body = "x" * 100
    threads, per_thread = 4, args.messages // 4
    received = [0] * len(urls)

    def publish():
        client = boto3.client("sns", endpoint_url=args.endpoint, **session)
        for start in range(0, per_thread, 10):
            entries = [{"Id": str(j), "Message": body} for j in range(min(10, per_thread - start))]
            client.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)

    def drain(i):
        client = sqs_client(args.endpoint)
        while received[i] < per_thread * threads:
            got = client.receive_message(QueueUrl=urls[i], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
            if got:
                client.delete_message_batch(
                    QueueUrl=urls[i], Entries=[{"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(got)]
                )
                received[i] += len(got)

    start = time.perf_counter()
    publishers = [threading.Thread(target=publish) for _ in range(threads)]
    drainers = [threading.Thread(target=drain, args=(i,)) for i in range(len(urls))]
    for t in publishers + drainers:
        t.start()
    for t in publishers:
        t.join()
    published = time.perf_counter() - start
    for t in drainers:
        t.join()
    delivered = time.perf_counter() - start
    total = per_thread * threads
    return {
        "workload": "sns-fanout", "system": args.system, "queues": args.queues, "messages": total,
        "publish_per_s": round(total / published, 1), "deliveries_per_s": round(total * len(urls) / delivered, 1),
        "seconds": round(delivered, 3),
    }


def main():
    parser = argparse.ArgumentParser()
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--log-dir", default=".", help="where worker logs go")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("celery", parents=[common])
    c.add_argument("--broker", required=True)
    c.add_argument("--backend")
    c.add_argument("--sqs-endpoint")
    c.add_argument("--pool", choices=["threads", "prefork"], required=True)
    c.add_argument("--tasks", type=int, default=10000)
    c.add_argument("--system", required=True)
    s = sub.add_parser("sns", parents=[common])
    s.add_argument("--endpoint", required=True)
    s.add_argument("--queues", type=int, default=5)
    s.add_argument("--messages", type=int, default=20000)
    s.add_argument("--system", required=True)
    args = parser.parse_args()
    print(json.dumps(celery(args) if args.command == "celery" else sns(args)), flush=True)


if __name__ == "__main__":
    main()
