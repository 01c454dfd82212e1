"""One queue, two protocols: SQS sends reach AMQP consumers and AMQP publishes reach SQS
receivers, with attributes and headers mapped both ways."""

import sys
import time
from pathlib import Path

import pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sqs"))
from sqs_helpers import sqs_client  # noqa: E402


def test_sqs_send_reaches_amqp_get_and_consume(ferry_server, connection, channel, name):
    sqs = sqs_client(ferry_server)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="from sqs",
        MessageAttributes={
            "colour": {"DataType": "String", "StringValue": "blue"},
            "size": {"DataType": "Number", "StringValue": "42"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x01\x02"},
        },
    )
    method, props, body = channel.basic_get(name, auto_ack=True)
    assert body == b"from sqs"
    assert props.headers["colour"] == "blue"
    assert props.headers["size"] == 42
    assert props.headers["blob"] == b"\x01\x02"

    sqs.send_message(QueueUrl=url, MessageBody="pushed")
    got = []
    channel.basic_consume(name, lambda ch, m, p, b: (got.append(b), ch.basic_ack(m.delivery_tag)))
    deadline = time.monotonic() + 5
    while not got and time.monotonic() < deadline:
        connection.process_data_events(time_limit=0.1)
    assert got == [b"pushed"]


def test_amqp_publish_reaches_sqs_receive_with_headers_as_attributes(ferry_server, channel, name):
    sqs = sqs_client(ferry_server)
    channel.queue_declare(name)
    channel.basic_publish(
        "",
        name,
        b"from amqp",
        pika.BasicProperties(headers={"colour": "red", "count": 7, "ok": True, "raw": b"\xff"}, message_id="m-1"),
    )
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    msgs = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=2)["Messages"]
    m = msgs[0]
    assert m["Body"] == "from amqp" and m["MessageId"] == "m-1"
    attrs = m["MessageAttributes"]
    assert attrs["colour"] == {"DataType": "String", "StringValue": "red"}
    assert attrs["count"] == {"DataType": "Number", "StringValue": "7"}
    assert attrs["ok"] == {"DataType": "String", "StringValue": "true"}
    assert attrs["raw"] == {"DataType": "Binary", "BinaryValue": b"\xff"}
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
