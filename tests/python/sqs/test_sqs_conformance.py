"""Details where SQS's documented or observed behaviour is the contract, through boto3 in both
wire protocols: attribute-name wildcards, millisecond timestamps, FIFO delays and batch checks,
bare queue names as QueueUrl, and the wording of errors."""

import time

import pytest
from botocore.exceptions import ClientError


@pytest.fixture(params=["sqs", "sqs_query"])
def client(request):
    """The JSON client, then the query-protocol client."""
    return request.getfixturevalue(request.param)


def error(excinfo):
    return excinfo.value.response["Error"]["Code"], excinfo.value.response["Error"]["Message"]


def text(value):
    return {"DataType": "String", "StringValue": value}


def test_a_prefix_wildcard_returns_every_attribute_starting_with_it(client, name):
    url = client.create_queue(QueueName=name)["QueueUrl"]
    attributes = {"Custom.Id": text("1"), "Customer": text("2"), "Other": text("3")}
    client.send_message(QueueUrl=url, MessageBody="b", MessageAttributes=attributes)
    got = client.receive_message(QueueUrl=url, MessageAttributeNames=["Custom.*"], WaitTimeSeconds=1)["Messages"]
    assert sorted(got[0]["MessageAttributes"]) == ["Custom.Id", "Customer"]


def test_timestamps_are_in_milliseconds(client, name):
    url = client.create_queue(QueueName=name)["QueueUrl"]
    before_ms = int(time.time() * 1000)
    client.send_message(QueueUrl=url, MessageBody="b")
    got = client.receive_message(QueueUrl=url, AttributeNames=["All"], WaitTimeSeconds=1)["Messages"][0]
    sent = int(got["Attributes"]["SentTimestamp"])
    first = int(got["Attributes"]["ApproximateFirstReceiveTimestamp"])
    assert before_ms - 1000 < sent <= first <= int(time.time() * 1000)


def test_fifo_takes_an_explicit_zero_delay_only(client, name):
    url = client.create_queue(
        QueueName=name + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    client.send_message(QueueUrl=url, MessageBody="a", MessageGroupId="g", DelaySeconds=0)
    with pytest.raises(ClientError) as e:
        client.send_message(QueueUrl=url, MessageBody="b", MessageGroupId="g", DelaySeconds=5)
    assert error(e)[0] == "InvalidParameterValue"
    got = client.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in got] == ["a"]


def test_a_bare_queue_name_is_a_queue_url(client, name):
    client.create_queue(QueueName=name)
    client.send_message(QueueUrl=name, MessageBody="by name")
    got = client.receive_message(QueueUrl=name, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in got] == ["by name"]


def test_a_fifo_batch_entry_without_its_ids_refuses_the_request(client, name):
    url = client.create_queue(QueueName=name + ".fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    complete = {"Id": "ok", "MessageBody": "ok", "MessageGroupId": "g", "MessageDeduplicationId": "d"}
    with pytest.raises(ClientError) as e:
        client.send_message_batch(QueueUrl=url, Entries=[complete, {"Id": "x", "MessageBody": "x"}])
    assert error(e) == ("MissingParameter", "The request must contain the parameter MessageGroupId.")
    with pytest.raises(ClientError) as e:
        client.send_message_batch(QueueUrl=url, Entries=[complete, {"Id": "x", "MessageBody": "x", "MessageGroupId": "g"}])
    assert error(e)[0] == "InvalidParameterValue"
    assert "MessageDeduplicationId" in error(e)[1]
    assert "Messages" not in client.receive_message(QueueUrl=url, WaitTimeSeconds=0)


def test_errors_are_worded_as_sqs_words_them(client, name):
    url = client.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as e:
        client.delete_message(QueueUrl=url, ReceiptHandle="unknown-stuff")
    assert error(e) == (
        "ReceiptHandleIsInvalid",
        'The input receipt handle "unknown-stuff" is not a valid receipt handle.',
    )
    for call, entry_type in [
        (client.send_message_batch, "SendMessageBatchRequestEntry"),
        (client.delete_message_batch, "DeleteMessageBatchRequestEntry"),
        (client.change_message_visibility_batch, "ChangeMessageVisibilityBatchRequestEntry"),
    ]:
        with pytest.raises(ClientError) as e:
            call(QueueUrl=url, Entries=[])
        assert error(e) == (
            "AWS.SimpleQueueService.EmptyBatchRequest",
            f"There should be at least one {entry_type} in the request.",
        )


def test_a_fair_queue_serves_a_quiet_tenant_ahead_of_a_noisy_backlog(client, name):
    url = client.create_queue(QueueName=name)["QueueUrl"]
    for chunk in range(20):
        entries = [
            {"Id": f"n{i}", "MessageBody": f"noisy-{chunk * 10 + i}", "MessageGroupId": "noisy"} for i in range(10)
        ]
        client.send_message_batch(QueueUrl=url, Entries=entries)
    # Workers are busy with 30 of the noisy tenant's messages when a quiet tenant sends one.
    busy = []
    for _ in range(3):
        busy += client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert len(busy) == 30 and all(m["Body"].startswith("noisy-") for m in busy)
    client.send_message(QueueUrl=url, MessageBody="quiet-0", MessageGroupId="quiet")
    got = client.receive_message(
        QueueUrl=url, MaxNumberOfMessages=1, MessageSystemAttributeNames=["MessageGroupId"]
    )["Messages"]
    assert [(m["Body"], m["Attributes"]["MessageGroupId"]) for m in got] == [("quiet-0", "quiet")]
