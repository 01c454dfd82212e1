"""Publish and PublishBatch through boto3: the envelope exactly as SNS delivers it, raw
delivery with attributes, MessageStructure=json, filter policies on attributes and on the
body, FIFO topics into FIFO queues, fan-out, dead subscriptions, and the errors."""

import base64
import hashlib
import datetime
import json
import re
import urllib.request

import pytest
from botocore.exceptions import ClientError

from sns_helpers import envelope, error_code, make_queue, queue_arn, receive, receive_none, topic_arn


def subscribed(sns, sqs, topic, queue_name, attributes=None, queue_attributes=None):
    """A queue subscribed to `topic`; returns (queue url, subscription arn)."""
    url, arn = make_queue(sqs, queue_name, queue_attributes)
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes or {})
    return url, sub["SubscriptionArn"]


def attr(value, data_type="String"):
    if data_type.startswith("Binary"):
        return {"DataType": data_type, "BinaryValue": value}
    return {"DataType": data_type, "StringValue": value}


def test_the_envelope_has_every_field_sns_delivers_in_its_order(sns, sqs, ferry_server, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, sub = subscribed(sns, sqs, topic, name)
    before = datetime.datetime.now(datetime.timezone.utc)
    out = sns.publish(
        TopicArn=topic,
        Message="hello <world> & \"you\"",
        Subject="greeting",
        MessageAttributes={
            "s": attr("text"),
            "n": attr("12.5", "Number"),
            "b": attr(b"\x00\x01", "Binary"),
            "a": attr('["x", 1]', "String.Array"),
        },
    )
    [message] = receive(sqs, url, 1)
    body = json.loads(message["Body"], object_pairs_hook=lambda pairs: pairs)
    keys = [k for k, _ in body]
    assert keys == [
        "Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
        "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes",
    ]
    e = envelope(message)
    assert e["Type"] == "Notification"
    assert e["MessageId"] == out["MessageId"]
    assert re.fullmatch(r"[0-9a-f-]{36}", e["MessageId"])
    assert e["TopicArn"] == topic
    assert e["Subject"] == "greeting"
    assert e["Message"] == "hello <world> & \"you\""
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["Timestamp"])
    stamp = datetime.datetime.strptime(e["Timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    assert abs((stamp - before).total_seconds()) < 60
    assert e["SignatureVersion"] == "1"
    assert len(base64.b64decode(e["Signature"])) == 256
    assert e["SigningCertURL"].startswith("https://sns.us-east-1.amazonaws.com/") and e["SigningCertURL"].endswith(".pem")
    assert e["UnsubscribeURL"] == f"{ferry_server.sqs_endpoint}/?Action=Unsubscribe&SubscriptionArn={sub}"
    assert e["MessageAttributes"] == {
        "s": {"Type": "String", "Value": "text"},
        "n": {"Type": "Number", "Value": "12.5"},
        "b": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01").decode()},
        "a": {"Type": "String.Array", "Value": '["x", 1]'},
    }
    assert "MessageAttributes" not in message, "an enveloped delivery carries no SQS attributes"


def test_an_envelope_without_subject_or_attributes_omits_them(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name)
    sns.publish(TopicArn=topic, Message="plain")
    e = envelope(receive(sqs, url, 1)[0])
    assert "Subject" not in e and "MessageAttributes" not in e and "SequenceNumber" not in e


def test_the_unsubscribe_url_unsubscribes(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name)
    sns.publish(TopicArn=topic, Message="once")
    e = envelope(receive(sqs, url, 1)[0])
    with urllib.request.urlopen(e["UnsubscribeURL"]) as answer:
        assert answer.status == 200
        assert b"UnsubscribeResponse" in answer.read()
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_raw_delivery_gives_the_message_and_its_attributes(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name, {"RawMessageDelivery": "true"})
    sns.publish(
        TopicArn=topic,
        Message="raw body",
        MessageAttributes={
            "s": attr("text"),
            "n": attr("7", "Number"),
            "b": attr(b"\xff", "Binary"),
            "a": attr('["x"]', "String.Array"),
        },
    )
    [m] = receive(sqs, url, 1)
    assert m["Body"] == "raw body"
    assert m["MessageAttributes"]["s"] == {"StringValue": "text", "DataType": "String"}
    assert m["MessageAttributes"]["n"] == {"StringValue": "7", "DataType": "Number"}
    assert m["MessageAttributes"]["b"] == {"BinaryValue": b"\xff", "DataType": "Binary"}
    assert m["MessageAttributes"]["a"] == {"StringValue": '["x"]', "DataType": "String"}


def test_message_structure_json_delivers_the_sqs_or_default_member(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name, {"RawMessageDelivery": "true"})
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "d", "sqs": "for sqs"}))
    sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"default": "only default"}))
    assert [m["Body"] for m in receive(sqs, url, 2)] == ["for sqs", "only default"]
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"sqs": "x"}))
    assert error_code(e) == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.publish(TopicArn=topic, MessageStructure="json", Message="not json")
    assert error_code(e) == "InvalidParameter"


def test_filter_policies_on_attributes(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    policies = {
        "exact": {"store": ["shop"]},
        "prefix": {"region": [{"prefix": "eu-"}]},
        "anything_but": {"store": [{"anything-but": ["shop"]}]},
        "numeric": {"price": [{"numeric": [">=", 10, "<", 100]}]},
        "exists_not": {"store": [{"exists": False}]},
        "ignore_case": {"store": [{"equals-ignore-case": "SHOP"}]},
        "or": {"$or": [{"store": ["mall"]}, {"price": [5]}]},
        "array": {"tags": ["b"]},
    }
    urls = {}
    for key, policy in policies.items():
        urls[key], _ = subscribed(sns, sqs, topic, f"{name}-{key}",
                                  {"RawMessageDelivery": "true", "FilterPolicy": json.dumps(policy)})
    messages = {
        "m1": {"store": attr("shop"), "region": attr("eu-west-1"), "price": attr("50", "Number")},
        "m2": {"store": attr("mall"), "price": attr("5", "Number")},
        "m3": {"region": attr("us-east-1"), "tags": attr('["a", "b"]', "String.Array")},
    }
    for body, attrs in messages.items():
        sns.publish(TopicArn=topic, Message=body, MessageAttributes=attrs)
    expected = {
        "exact": ["m1"],
        "prefix": ["m1"],
        "anything_but": ["m2"],
        "numeric": ["m1"],
        "exists_not": ["m3"],
        "ignore_case": ["m1"],
        "or": ["m2"],
        "array": ["m3"],
    }
    for key, bodies in expected.items():
        got = sorted(m["Body"] for m in receive(sqs, urls[key], len(bodies)))
        assert got == bodies, key
        receive_none(sqs, urls[key])


def test_filter_policies_on_the_body(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    policy = {"order": {"status": ["paid"], "total": [{"numeric": [">", 100]}]}}
    url, _ = subscribed(sns, sqs, topic, name, {
        "RawMessageDelivery": "true",
        "FilterPolicyScope": "MessageBody",
        "FilterPolicy": json.dumps(policy),
    })
    bodies = [
        {"order": {"status": "paid", "total": 150}},
        {"order": {"status": "paid", "total": 50}},
        {"order": {"status": "open", "total": 150}},
    ]
    for b in bodies:
        sns.publish(TopicArn=topic, Message=json.dumps(b))
    sns.publish(TopicArn=topic, Message="not json at all")
    [m] = receive(sqs, url, 1)
    assert json.loads(m["Body"]) == bodies[0]
    receive_none(sqs, url)


def test_fifo_topic_into_fifo_queues_keeps_groups_and_drops_duplicates(sns, sqs, name):
    topic = sns.create_topic(Name=name + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    fifo = {"FifoQueue": "true"}
    url, _ = subscribed(sns, sqs, topic, name + ".fifo", {"RawMessageDelivery": "true"}, fifo)
    enveloped, _ = subscribed(sns, sqs, topic, name + "-env.fifo", None, fifo)
    sequence = []
    for i, (group, dedup) in enumerate([("a", "1"), ("b", "2"), ("a", "3"), ("a", "1")]):
        out = sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId=group, MessageDeduplicationId=dedup)
        assert re.fullmatch(r"\d{20}", out["SequenceNumber"])
        sequence.append(int(out["SequenceNumber"]))
    assert sequence == sorted(sequence) and len(set(sequence)) == 4
    got = receive(sqs, url, 3)
    by_group = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(
            (m["Body"], m["Attributes"]["MessageDeduplicationId"]))
    assert by_group == {"a": [("m0", "1"), ("m2", "3")], "b": [("m1", "2")]}, "in order within a group"
    receive_none(sqs, url)
    e = [envelope(m) for m in receive(sqs, enveloped, 3)]
    assert sorted(x["Message"] for x in e) == ["m0", "m1", "m2"]
    assert all(re.fullmatch(r"\d{20}", x["SequenceNumber"]) for x in e)
    with pytest.raises(ClientError) as err:
        sns.publish(TopicArn=topic, Message="x", MessageDeduplicationId="9")
    assert error_code(err) == "InvalidParameter"
    with pytest.raises(ClientError) as err:
        sns.publish(TopicArn=topic, Message="x", MessageGroupId="g")
    assert error_code(err) == "InvalidParameter"


def test_content_based_deduplication_on_the_topic_hashes_the_message(sns, sqs, name):
    topic = sns.create_topic(
        Name=name + ".fifo", Attributes={"FifoTopic": "true", "ContentBasedDeduplication": "true"}
    )["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name + ".fifo", {"RawMessageDelivery": "true"}, {"FifoQueue": "true"})
    for body in ["same", "same", "other"]:
        sns.publish(TopicArn=topic, Message=body, MessageGroupId="g")
    got = receive(sqs, url, 2)
    assert [m["Body"] for m in got] == ["same", "other"]
    assert got[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"same").hexdigest()
    receive_none(sqs, url)


def test_a_publish_fans_out_to_five_queues(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    urls = [subscribed(sns, sqs, topic, f"{name}-{i}")[0] for i in range(5)]
    ids = [sns.publish(TopicArn=topic, Message=f"n{i}")["MessageId"] for i in range(3)]
    for url in urls:
        got = receive(sqs, url, 3)
        assert sorted(envelope(m)["MessageId"] for m in got) == sorted(ids)


def test_a_dead_subscription_goes_to_its_redrive_queue_or_is_dropped(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    dlq, dlq_arn = make_queue(sqs, name + "-dlq")
    gone, _ = subscribed(sns, sqs, topic, name + "-gone",
                         {"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn})})
    dropped, _ = subscribed(sns, sqs, topic, name + "-dropped")
    alive, _ = subscribed(sns, sqs, topic, name + "-alive")
    sqs.delete_queue(QueueUrl=gone)
    sqs.delete_queue(QueueUrl=dropped)
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 3
    sns.publish(TopicArn=topic, Message="still answered")
    assert envelope(receive(sqs, alive, 1)[0])["Message"] == "still answered"
    assert envelope(receive(sqs, dlq, 1)[0])["Message"] == "still answered"


def test_publish_errors(sns, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    cases = [
        (dict(TopicArn=topic_arn(name + "-gone"), Message="x"), "NotFound"),
        (dict(TopicArn=topic, Message=""), "InvalidParameter"),
        (dict(TopicArn=topic, Message="x", Subject="a\nb"), "InvalidParameter"),
        (dict(TopicArn=topic, Message="x", Subject="s" * 101), "InvalidParameter"),
        (dict(TopicArn=topic, Message="x" * 262_145), "InvalidParameter"),
        (dict(TopicArn=topic, Message="x", MessageDeduplicationId="d"), "InvalidParameter"),
        (dict(TopicArn=topic, TargetArn=topic, Message="x"), "InvalidParameter"),
        (dict(PhoneNumber="+15555550100", Message="x"), "InvalidParameter"),
        (dict(Message="x"), "InvalidParameter"),
        (dict(TopicArn=topic, Message="x", MessageAttributes={"n": attr("ten", "Number")}), "ParameterValueInvalid"),
        (dict(TopicArn=topic, Message="x", MessageAttributes={"n": attr("v", "Float")}), "ParameterValueInvalid"),
        (dict(TopicArn=topic, Message="x", MessageAttributes={"a": attr("x", "String.Array")}), "ParameterValueInvalid"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as e:
            sns.publish(**kwargs)
        assert error_code(e) == code, kwargs
    assert sns.publish(TargetArn=topic, Message="by target")["MessageId"]


def test_publish_batch_answers_successful_and_failed_entries(sns, sqs, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name, {"RawMessageDelivery": "true"})
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "a", "Message": "first", "MessageAttributes": {"k": attr("v")}},
        {"Id": "b", "Message": ""},
        {"Id": "c", "Message": "third", "Subject": "s"},
    ])
    assert [s["Id"] for s in out["Successful"]] == ["a", "c"]
    assert all(s["MessageId"] for s in out["Successful"])
    assert out["Failed"] == [
        {"Id": "b", "Code": "InvalidParameter", "Message": "Invalid parameter: Empty message", "SenderFault": True}
    ]
    got = receive(sqs, url, 2)
    assert [m["Body"] for m in got] == ["first", "third"]
    assert got[0]["MessageAttributes"]["k"]["StringValue"] == "v"


def test_publish_batch_on_a_fifo_topic_answers_sequence_numbers(sns, sqs, name):
    topic = sns.create_topic(Name=name + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    url, _ = subscribed(sns, sqs, topic, name + ".fifo", {"RawMessageDelivery": "true"}, {"FifoQueue": "true"})
    out = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": str(i), "Message": f"m{i}", "MessageGroupId": "g", "MessageDeduplicationId": str(i)} for i in range(3)
    ] + [{"Id": "nogroup", "Message": "x", "MessageDeduplicationId": "x"}])
    assert [s["Id"] for s in out["Successful"]] == ["0", "1", "2"]
    assert all(re.fullmatch(r"\d{20}", s["SequenceNumber"]) for s in out["Successful"])
    assert [f["Id"] for f in out["Failed"]] == ["nogroup"]
    assert [m["Body"] for m in receive(sqs, url, 3)] == ["m0", "m1", "m2"]


def test_publish_batch_errors(sns, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    cases = [
        ([], "EmptyBatchRequest"),
        ([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequest"),
        ([{"Id": "a", "Message": "m"}, {"Id": "a", "Message": "m"}], "BatchEntryIdsNotDistinct"),
        ([{"Id": "bad id!", "Message": "m"}], "InvalidBatchEntryId"),
        ([{"Id": str(i), "Message": "x" * 100_000} for i in range(3)], "BatchRequestTooLong"),
    ]
    for entries, code in cases:
        with pytest.raises(ClientError) as e:
            sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)
        assert error_code(e) == code
    with pytest.raises(ClientError) as e:
        sns.publish_batch(TopicArn=topic_arn(name + "-gone"), PublishBatchRequestEntries=[{"Id": "a", "Message": "m"}])
    assert error_code(e) == "NotFound"


def test_a_queue_subscribed_on_another_topic_is_not_reached(sns, sqs, name):
    a = sns.create_topic(Name=name + "-a")["TopicArn"]
    b = sns.create_topic(Name=name + "-b")["TopicArn"]
    url, _ = subscribed(sns, sqs, a, name)
    sns.publish(TopicArn=b, Message="elsewhere")
    receive_none(sqs, url)
    assert queue_arn(name).endswith(name)
