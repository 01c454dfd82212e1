"""What an SQS client sees across a restart of `ferry serve`: queues, attributes, messages,
message attributes and FIFO deduplication survive; leases do not."""


from sqs_helpers import md5_of_attributes, sqs_client


def client(server):
    return sqs_client(server)


def test_queues_and_messages_survive_a_restart(fresh_ferry_server):
    sqs = client(fresh_ferry_server)
    url = sqs.create_queue(QueueName="durable", Attributes={"VisibilityTimeout": "300"}, tags={"k": "v"})["QueueUrl"]
    fifo = sqs.create_queue(QueueName="durable.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    attributes = {"n": {"DataType": "Number", "StringValue": "7"}, "b": {"DataType": "Binary", "BinaryValue": b"\x01"}}
    sqs.send_message(QueueUrl=url, MessageBody="leased", MessageAttributes=attributes)
    sqs.send_message(QueueUrl=url, MessageBody="waiting")
    first = sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="d1")
    leased = sqs.receive_message(QueueUrl=url)["Messages"][0]
    assert leased["Body"] == "leased"

    fresh_ferry_server.restart()
    sqs = client(fresh_ferry_server)

    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "300"
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"k": "v"}
    got = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    by_body = {m["Body"]: m for m in got}
    assert set(by_body) == {"leased", "waiting"}
    assert by_body["leased"]["MessageAttributes"] == attributes
    assert by_body["leased"]["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert int(by_body["leased"]["Attributes"]["ApproximateReceiveCount"]) >= 2

    dup = sqs.send_message(QueueUrl=fifo, MessageBody="f", MessageGroupId="g", MessageDeduplicationId="d1")
    assert dup["MessageId"] == first["MessageId"]
    fifo_got = sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in fifo_got] == ["f"]
