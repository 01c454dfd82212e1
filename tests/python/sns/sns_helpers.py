"""Helpers of the SNS suites: clients pointed at a broker, queues with their ARNs, and waiting
for deliveries with a deadline."""

import json
import time

import boto3
import pika

REGION = "us-east-1"
ACCOUNT = "000000000000"


def client(service, server):
    """A boto3 client of `service` (`sns` or `sqs`) for `server`: SNS goes to the same endpoint
    as SQS and is told apart by its SigV4 credential scope."""
    return boto3.client(
        service,
        endpoint_url=server.sqs_endpoint,
        region_name=REGION,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )


def topic_arn(name):
    return f"arn:aws:sns:{REGION}:{ACCOUNT}:{name}"


def queue_arn(name):
    return f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"


def make_queue(sqs, name, attributes=None):
    """Creates queue `name`; returns (url, arn)."""
    url = sqs.create_queue(QueueName=name, Attributes=attributes or {})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def receive(sqs, url, count, timeout_s=10.0):
    """Receives and deletes messages until `count` have arrived or the deadline passes;
    returns them (with their message attributes)."""
    deadline = time.monotonic() + timeout_s
    got = []
    while len(got) < count and time.monotonic() < deadline:
        out = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
            AttributeNames=["All"],
        )
        for m in out.get("Messages", []):
            got.append(m)
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return got


def receive_none(sqs, url):
    """Asserts that nothing is waiting in the queue. A publish is answered once every delivery
    is durable and receivable, so nothing more can arrive later."""
    out = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    assert out.get("Messages", []) == [], out.get("Messages")


def envelope(message):
    """The SNS envelope of a delivered SQS message, parsed."""
    return json.loads(message["Body"])


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def amqp_parameters(server):
    """pika's connection parameters for `server`'s AMQP listener (guest/guest)."""
    host, port = server.amqp_address.rsplit(":", 1)
    return pika.ConnectionParameters(host=host, port=int(port), credentials=pika.PlainCredentials("guest", "guest"))


def basic_get(channel, queue, timeout_s=10.0):
    """The next message of `queue` over AMQP (acknowledged), waiting up to the deadline; None if none."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        method, properties, body = channel.basic_get(queue, auto_ack=True)
        if method is not None:
            return method, properties, body
        channel.connection.sleep(0.05)
    return None
