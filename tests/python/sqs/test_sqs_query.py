"""The SQS API through botocore speaking the query protocol (form-encoded requests, XML answers),
the protocol of boto3 before 1.34 and of older AWS SDKs."""

import json

import pytest
from botocore.exceptions import ClientError

from sqs_helpers import md5_hex, md5_of_attributes

ACCOUNT = "000000000000"


def error_code(excinfo):
    return excinfo.value.response["Error"]["Code"]


def test_client_really_speaks_the_query_protocol(sqs_query, name):
    assert sqs_query.meta.service_model.protocol == "query"
    sqs_query.content_types.clear()
    sqs_query.create_queue(QueueName=name)
    assert sqs_query.content_types == ["text/xml"]


def test_lifecycle_and_errors_in_xml(sqs_query, name, ferry_server):
    url = sqs_query.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "40"}, tags={"a": "b"})["QueueUrl"]
    assert url == f"{ferry_server.sqs_endpoint}/{ACCOUNT}/{name}"
    assert sqs_query.get_queue_url(QueueName=name)["QueueUrl"] == url
    assert sqs_query.list_queues(QueueNamePrefix=name)["QueueUrls"] == [url]
    attrs = sqs_query.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "40"
    assert sqs_query.list_queue_tags(QueueUrl=url)["Tags"] == {"a": "b"}
    with pytest.raises(ClientError) as e:
        sqs_query.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "41"})
    assert error_code(e) == "QueueAlreadyExists"
    with pytest.raises(ClientError) as e:
        sqs_query.set_queue_attributes(QueueUrl=url, Attributes={"Nope": "1"})
    assert error_code(e) == "InvalidAttributeName"
    sqs_query.delete_queue(QueueUrl=url)
    with pytest.raises(sqs_query.exceptions.QueueDoesNotExist) as e:
        sqs_query.get_queue_url(QueueName=name)
    assert error_code(e) == "AWS.SimpleQueueService.NonExistentQueue"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_messages_with_attributes_round_trip_with_digests(sqs_query, name):
    url = sqs_query.create_queue(QueueName=name)["QueueUrl"]
    attributes = {
        "kind": {"DataType": "String", "StringValue": "a <b> & c"},
        "n": {"DataType": "Number", "StringValue": "-1.5"},
        "bin": {"DataType": "Binary.gz", "BinaryValue": b"\x1f\x8b\x00"},
    }
    body = 'xml <special> & "chars"\r\n'
    sent = sqs_query.send_message(QueueUrl=url, MessageBody=body, MessageAttributes=attributes)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    m = sqs_query.receive_message(
        QueueUrl=url, AttributeNames=["All"], MessageAttributeNames=["All"], WaitTimeSeconds=1
    )["Messages"][0]
    assert m["Body"] == body
    assert m["MD5OfBody"] == md5_hex(body)
    assert m["MessageAttributes"] == attributes
    assert m["MD5OfMessageAttributes"] == md5_of_attributes(attributes)
    assert m["Attributes"]["ApproximateReceiveCount"] == "1"
    sqs_query.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"], VisibilityTimeout=60)
    sqs_query.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in sqs_query.receive_message(QueueUrl=url)


def test_batches_and_batch_errors(sqs_query, name):
    url = sqs_query.create_queue(QueueName=name)["QueueUrl"]
    entries = [
        {"Id": f"m{i}", "MessageBody": f"b{i}", "MessageAttributes": {"i": {"DataType": "Number", "StringValue": str(i)}}}
        for i in range(10)
    ]
    sent = sqs_query.send_message_batch(QueueUrl=url, Entries=entries)
    assert sorted(s["Id"] for s in sent["Successful"]) == sorted(e["Id"] for e in entries)
    got = sqs_query.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["i"])["Messages"]
    assert len(got) == 10
    assert all(m["MD5OfMessageAttributes"] == md5_of_attributes(m["MessageAttributes"]) for m in got)
    result = sqs_query.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": f"d{i}", "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got[:9])]
        + [{"Id": "bad", "ReceiptHandle": "garbage"}],
    )
    assert len(result["Successful"]) == 9
    assert result["Failed"] == [
        {"Id": "bad", "SenderFault": True, "Code": "ReceiptHandleIsInvalid", "Message": result["Failed"][0]["Message"]}
    ]
    with pytest.raises(ClientError) as e:
        sqs_query.send_message_batch(QueueUrl=url, Entries=[{"Id": f"e{i}", "MessageBody": "x"} for i in range(11)])
    assert error_code(e) == "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    with pytest.raises(ClientError) as e:
        sqs_query.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[{"Id": "a", "ReceiptHandle": "r", "VisibilityTimeout": 1}, {"Id": "a", "ReceiptHandle": "r"}],
        )
    assert error_code(e) == "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"
    with pytest.raises(ClientError) as e:
        sqs_query.receive_message(QueueUrl=url, WaitTimeSeconds=21)
    assert error_code(e) == "InvalidParameterValue"


def test_fifo_and_dead_letter_listing(sqs_query, name):
    url = sqs_query.create_queue(
        QueueName=name + ".fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"}
    )["QueueUrl"]
    for body in ["x", "y", "x"]:
        sqs_query.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    got = sqs_query.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["SequenceNumber"])["Messages"]
    assert [m["Body"] for m in got] == ["x", "y"]

    dlq = sqs_query.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}-dlq"
    src = sqs_query.create_queue(
        QueueName=name + "-src",
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})},
    )["QueueUrl"]
    assert sqs_query.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]
    handle = sqs_query.start_message_move_task(SourceArn=arn)["TaskHandle"]
    assert handle
    assert sqs_query.list_message_move_tasks(SourceArn=arn, MaxResults=10)["Results"][0]["SourceArn"] == arn
    with pytest.raises(ClientError) as e:
        sqs_query.cancel_message_move_task(TaskHandle="none")
    assert error_code(e) == "ResourceNotFoundException"


def test_permissions_tags_and_purge(sqs_query, name):
    url = sqs_query.create_queue(QueueName=name)["QueueUrl"]
    sqs_query.add_permission(QueueUrl=url, Label="l1", AWSAccountIds=["111122223333"], Actions=["ReceiveMessage", "SendMessage"])
    policy = json.loads(sqs_query.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Action"] == ["SQS:ReceiveMessage", "SQS:SendMessage"]
    sqs_query.remove_permission(QueueUrl=url, Label="l1")
    sqs_query.tag_queue(QueueUrl=url, Tags={"k1": "v1", "k2": "v2"})
    sqs_query.untag_queue(QueueUrl=url, TagKeys=["k1"])
    assert sqs_query.list_queue_tags(QueueUrl=url)["Tags"] == {"k2": "v2"}
    sqs_query.send_message(QueueUrl=url, MessageBody="x")
    sqs_query.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs_query.receive_message(QueueUrl=url)
