"""The SQS API through boto3, which speaks AWS JSON 1.0 to ferry."""

import json
import threading
import time

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import md5_hex, md5_of_attributes

ACCOUNT = "000000000000"


def arn(queue_name):
    return f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue_name}"


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_queue_lifecycle_and_queue_errors(sqs, name, ferry_server):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    assert url == f"{ferry_server.sqs_endpoint}/{ACCOUNT}/{name}"
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert url in sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert sqs.create_queue(QueueName=name)["QueueUrl"] == url
    with pytest.raises(ClientError) as e:
        sqs.create_queue(QueueName=name, Attributes={"DelaySeconds": "7"})
    assert error_code(e) == "QueueAlreadyExists"
    sqs.delete_queue(QueueUrl=url)
    with pytest.raises(sqs.exceptions.QueueDoesNotExist) as e:
        sqs.get_queue_url(QueueName=name)
    assert error_code(e) == "AWS.SimpleQueueService.NonExistentQueue"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert error_code(e) == "AWS.SimpleQueueService.NonExistentQueue"


def test_list_queues_pages_with_next_token(sqs, name):
    for i in range(3):
        sqs.create_queue(QueueName=f"{name}-{i}")
    first = sqs.list_queues(QueueNamePrefix=name, MaxResults=2)
    assert len(first["QueueUrls"]) == 2
    second = sqs.list_queues(QueueNamePrefix=name, MaxResults=2, NextToken=first["NextToken"])
    assert len(second["QueueUrls"]) == 1
    assert "NextToken" not in second


def test_message_round_trip_with_attributes_and_digests(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = {
        "city": {"DataType": "String", "StringValue": "Any City"},
        "count": {"DataType": "Number.int", "StringValue": "42"},
        "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    }
    sent = sqs.send_message(
        QueueUrl=url,
        MessageBody="héllo\r\nferry",
        MessageAttributes=attributes,
        MessageSystemAttributes={"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}},
    )
    assert sent["MD5OfMessageBody"] == md5_hex("héllo\r\nferry")
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_attributes(
        {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-abc"}}
    )

    got = sqs.receive_message(
        QueueUrl=url, MessageAttributeNames=["All"], MessageSystemAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"]
    assert len(got) == 1
    m = got[0]
    assert m["MessageId"] == sent["MessageId"]
    assert m["Body"] == "héllo\r\nferry"
    assert m["MD5OfBody"] == md5_hex(m["Body"])
    assert m["MessageAttributes"] == attributes
    assert m["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    assert m["Attributes"]["AWSTraceHeader"] == "Root=1-abc"
    assert int(m["Attributes"]["SentTimestamp"]) > 1_600_000_000_000

    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


def test_older_attribute_names_parameter_selects_system_attributes(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="b", MessageAttributes={"a.b": {"DataType": "String", "StringValue": "v"}})
    m = sqs.receive_message(QueueUrl=url, AttributeNames=["SentTimestamp"], MessageAttributeNames=["a.*"])["Messages"][0]
    assert set(m["Attributes"]) == {"SentTimestamp"}
    assert set(m["MessageAttributes"]) == {"a.b"}


def test_batches_of_ten(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    entries = [{"Id": f"m{i}", "MessageBody": f"body {i}"} for i in range(10)]
    sent = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert len(sent["Successful"]) == 10
    assert {s["Id"]: s["MD5OfMessageBody"] for s in sent["Successful"]}["m4"] == md5_hex("body 4")
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == sorted(e["MessageBody"] for e in entries)
    changed = sqs.change_message_visibility_batch(
        QueueUrl=url,
        Entries=[{"Id": "c0", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 60},
                 {"Id": "c1", "ReceiptHandle": "garbage", "VisibilityTimeout": 60}],
    )
    assert [s["Id"] for s in changed["Successful"]] == ["c0"]
    assert changed["Failed"][0]["Code"] == "ReceiptHandleIsInvalid"
    deleted = sqs.delete_message_batch(
        QueueUrl=url, Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
    )
    assert len(deleted["Successful"]) == 10
    assert deleted.get("Failed", []) == []


@pytest.mark.parametrize(
    "entries, code",
    [
        ([{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)], "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
        ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
        ([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}], "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
        ([{"Id": "not valid!", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
        ([{"Id": "a", "MessageBody": "x" * 600_000}, {"Id": "b", "MessageBody": "y" * 600_000}],
         "AWS.SimpleQueueService.BatchRequestTooLong"),
    ],
)
def test_batch_errors(sqs, name, entries, code):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    with pytest.raises(ClientError) as e:
        sqs.send_message_batch(QueueUrl=url, Entries=entries)
    assert error_code(e) == code


def test_limits_are_enforced(sqs, name):
    url = sqs.create_queue(QueueName=name, Attributes={"MaximumMessageSize": "2048"})["QueueUrl"]
    calls = [
        lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=43_201),
        lambda: sqs.receive_message(QueueUrl=url, WaitTimeSeconds=21),
        lambda: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11),
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901),
        lambda: sqs.send_message(QueueUrl=url, MessageBody="x" * 2049),
        lambda: sqs.send_message(
            QueueUrl=url,
            MessageBody="x",
            MessageAttributes={f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)},
        ),
        lambda: sqs.send_message(
            QueueUrl=url, MessageBody="x", MessageAttributes={"AWS.reserved": {"DataType": "String", "StringValue": "v"}}
        ),
    ]
    for call in calls:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="bell \x07")
    assert error_code(e) == "InvalidMessageContents"
    with pytest.raises(ClientError) as e:
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle="garbage", VisibilityTimeout=10)
    assert error_code(e) == "ReceiptHandleIsInvalid"
    with pytest.raises(ClientError) as e:
        sqs.delete_message(QueueUrl=url, ReceiptHandle="garbage")
    assert error_code(e) == "ReceiptHandleIsInvalid"


def test_visibility_timeout_redelivers_and_can_be_extended(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="lease me")
    m = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    again = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5, VisibilityTimeout=30,
                                MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    assert again["MessageId"] == m["MessageId"]
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=again["ReceiptHandle"], VisibilityTimeout=0)
    third = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"][0]
    assert third["MessageId"] == m["MessageId"]


def test_long_poll_wakes_when_a_message_arrives(sqs, name):
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    timer = threading.Timer(0.5, lambda: sqs.send_message(QueueUrl=url, MessageBody="late"))
    timer.start()
    started = time.monotonic()
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    elapsed = time.monotonic() - started
    timer.join()
    assert [m["Body"] for m in got["Messages"]] == ["late"]
    assert elapsed < 5


def test_queue_attributes_and_unknown_names(sqs, name):
    url = sqs.create_queue(
        QueueName=name, Attributes={"VisibilityTimeout": "45", "MessageRetentionPeriod": "3600"}
    )["QueueUrl"]
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "3", "ReceiveMessageWaitTimeSeconds": "1"})
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "45"
    assert attrs["MessageRetentionPeriod"] == "3600"
    assert attrs["DelaySeconds"] == "3"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "1"
    assert attrs["QueueArn"] == arn(name)
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Bogus": "1"})
    assert error_code(e) == "InvalidAttributeName"
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "true"})
    assert error_code(e) in ("InvalidAttributeName", "InvalidAttributeValue")
    with pytest.raises(ClientError) as e:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"MaximumMessageSize": "10"})
    assert error_code(e) == "InvalidAttributeValue"
    with pytest.raises(ClientError) as e:
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Bogus"])
    assert error_code(e) == "InvalidAttributeName"


def test_purge_tags_and_permissions(sqs, name):
    url = sqs.create_queue(QueueName=name, tags={"team": "core"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x")
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)

    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "tier": "1"})
    sqs.untag_queue(QueueUrl=url, TagKeys=["tier"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "core", "env": "test"}

    sqs.add_permission(QueueUrl=url, Label="p1", AWSAccountIds=["123456789012"], Actions=["SendMessage"])
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert [s["Sid"] for s in policy["Statement"]] == ["p1"]
    sqs.remove_permission(QueueUrl=url, Label="p1")
    with pytest.raises(ClientError) as e:
        sqs.remove_permission(QueueUrl=url, Label="p1")
    assert error_code(e) == "InvalidParameterValue"


def fifo_queue(sqs, name, **attributes):
    attrs = {"FifoQueue": "true", **attributes}
    return sqs.create_queue(QueueName=name + ".fifo", Attributes=attrs)["QueueUrl"]


def test_fifo_group_blocks_while_its_oldest_message_is_in_flight(sqs, name):
    url = fifo_queue(sqs, name)
    for group, body in [("a", "a1"), ("a", "a2"), ("b", "b1")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=body)
    first = sqs.receive_message(QueueUrl=url)["Messages"]
    assert [m["Body"] for m in first] == ["a1"]
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]] == ["a2"]


def test_fifo_order_holds_across_retries(sqs, name):
    url = fifo_queue(sqs, name, ContentBasedDeduplication="true")
    for body in ["1", "2", "3"]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]] == ["1"]
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=5,
                              MessageSystemAttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["1", "2", "3"]
    assert got[0]["Attributes"]["ApproximateReceiveCount"] == "2"
    assert got[0]["Attributes"]["MessageGroupId"] == "g"
    seqs = [int(m["Attributes"]["SequenceNumber"]) for m in got]
    assert seqs == sorted(seqs)


def test_fifo_dedup_outlives_deletion_and_per_message_delay_is_rejected(sqs, name):
    url = fifo_queue(sqs, name)
    first = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="k")
    m = sqs.receive_message(QueueUrl=url)["Messages"][0]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    dup = sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="k")
    assert dup["MessageId"] == first["MessageId"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="d", DelaySeconds=5)
    assert error_code(e) == "InvalidParameterValue"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert error_code(e) == "MissingParameter"
    with pytest.raises(ClientError) as e:
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g")
    assert error_code(e) == "InvalidParameterValue"


def test_redrive_to_dead_letter_queue_and_move_back(sqs, name):
    dlq_url = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    policy = json.dumps({"deadLetterTargetArn": arn(name + "-dlq"), "maxReceiveCount": 1})
    url = sqs.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    assert sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"][0]["Body"] == "poison"
    time.sleep(1.2)
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    dead = sqs.receive_message(QueueUrl=dlq_url, WaitTimeSeconds=5, VisibilityTimeout=0,
                               MessageSystemAttributeNames=["DeadLetterQueueSourceArn"])["Messages"][0]
    assert dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == arn(name)
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq_url)["queueUrls"] == [url]

    task = sqs.start_message_move_task(SourceArn=arn(name + "-dlq"))
    assert task["TaskHandle"]
    back = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=10)["Messages"]
    assert [m["Body"] for m in back] == ["poison"]
    tasks = sqs.list_message_move_tasks(SourceArn=arn(name + "-dlq"))["Results"]
    assert tasks[0]["SourceArn"] == arn(name + "-dlq")
    with pytest.raises(ClientError) as e:
        sqs.cancel_message_move_task(TaskHandle="no-such-task")
    assert error_code(e) == "ResourceNotFoundException"
