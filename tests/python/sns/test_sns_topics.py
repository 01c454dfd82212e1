"""Topics through boto3: CreateTopic (standard and FIFO, idempotent), DeleteTopic, ListTopics
with paging, Get/SetTopicAttributes, tags, and the errors of each."""

import json

import pytest
from botocore.exceptions import ClientError

from sns_helpers import ACCOUNT, error_code, topic_arn


def test_create_topic_answers_its_arn_and_is_idempotent(sns, name):
    arn = sns.create_topic(Name=name)["TopicArn"]
    assert arn == topic_arn(name)
    assert sns.create_topic(Name=name)["TopicArn"] == arn
    # kombu asks for a standard topic with FifoTopic=false and its tags, every time.
    tags = [{"Key": "ManagedBy", "Value": "Celery/Kombu"}]
    other = name + "-k"
    for _ in range(2):
        got = sns.create_topic(Name=other, Attributes={"FifoTopic": "false"}, Tags=tags)
        assert got["TopicArn"] == topic_arn(other)


def test_create_topic_with_other_attributes_or_tags_is_refused(sns, name):
    sns.create_topic(Name=name, Attributes={"DisplayName": "one"}, Tags=[{"Key": "k", "Value": "v"}])
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Attributes={"DisplayName": "two"})
    assert error_code(e) == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.create_topic(Name=name, Tags=[{"Key": "k", "Value": "other"}])
    assert error_code(e) == "InvalidParameter"


def test_fifo_topics_need_the_suffix_and_the_attribute(sns, name):
    arn = sns.create_topic(Name=name + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["FifoTopic"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    for bad in [
        {"Name": name + "-x.fifo"},
        {"Name": name + "-y", "Attributes": {"FifoTopic": "true"}},
        {"Name": "bad name!"},
        {"Name": "x" * 257},
    ]:
        with pytest.raises(ClientError) as e:
            sns.create_topic(**bad)
        assert error_code(e) == "InvalidParameter", bad


def test_topic_attributes_have_sns_defaults_and_can_be_set(sns, name):
    arn = sns.create_topic(Name=name)["TopicArn"]
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn
    assert attrs["Owner"] == ACCOUNT
    assert attrs["DisplayName"] == ""
    assert attrs["SubscriptionsConfirmed"] == "0"
    assert attrs["SubscriptionsPending"] == "0"
    assert attrs["SubscriptionsDeleted"] == "0"
    assert json.loads(attrs["Policy"])["Statement"][0]["Resource"] == arn
    assert "http" in json.loads(attrs["EffectiveDeliveryPolicy"])
    assert "FifoTopic" not in attrs
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Orders")
    policy = json.dumps({"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}}})
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DeliveryPolicy", AttributeValue=policy)
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["DisplayName"] == "Orders"
    assert attrs["DeliveryPolicy"] == policy
    assert attrs["EffectiveDeliveryPolicy"] == policy


def test_set_topic_attributes_errors(sns, name):
    arn = sns.create_topic(Name=name)["TopicArn"]
    for attribute, value in [
        ("NoSuchAttribute", "x"),
        ("FifoTopic", "true"),
        ("ContentBasedDeduplication", "true"),
        ("Policy", "not json"),
    ]:
        with pytest.raises(ClientError) as e:
            sns.set_topic_attributes(TopicArn=arn, AttributeName=attribute, AttributeValue=value)
        assert error_code(e) == "InvalidParameter", attribute
    fifo = sns.create_topic(Name=name + ".fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    sns.set_topic_attributes(TopicArn=fifo, AttributeName="ContentBasedDeduplication", AttributeValue="true")
    assert sns.get_topic_attributes(TopicArn=fifo)["Attributes"]["ContentBasedDeduplication"] == "true"
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=fifo, AttributeName="ContentBasedDeduplication", AttributeValue="maybe")
    assert error_code(e) == "InvalidParameter"


def test_a_missing_or_foreign_topic_is_an_error(sns, name):
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=topic_arn(name))
    assert error_code(e) == "NotFound"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn=f"arn:aws:sns:us-east-1:111122223333:{name}")
    assert error_code(e) == "AuthorizationError"
    with pytest.raises(ClientError) as e:
        sns.get_topic_attributes(TopicArn="not-an-arn")
    assert error_code(e) == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.set_topic_attributes(TopicArn=topic_arn(name), AttributeName="DisplayName", AttributeValue="x")
    assert error_code(e) == "NotFound"


def test_delete_topic_is_idempotent_and_takes_its_subscriptions(sns, sqs, name):
    arn = sns.create_topic(Name=name)["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=f"arn:aws:sqs:us-east-1:{ACCOUNT}:{name}")
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)
    with pytest.raises(ClientError) as e:
        sns.list_subscriptions_by_topic(TopicArn=arn)
    assert error_code(e) == "NotFound"
    listed = [s["TopicArn"] for s in sns.list_subscriptions()["Subscriptions"]]
    assert arn not in listed
    with pytest.raises(ClientError) as e:
        sns.delete_topic(TopicArn="arn:aws:sns:bad")
    assert error_code(e) == "InvalidParameter"


def test_list_topics_pages_by_one_hundred(sns, name):
    created = {sns.create_topic(Name=f"{name}-{i:03}")["TopicArn"] for i in range(105)}
    pages, seen, token = 0, [], None
    while True:
        out = sns.list_topics(NextToken=token) if token else sns.list_topics()
        pages += 1
        assert len(out["Topics"]) <= 100
        seen.extend(t["TopicArn"] for t in out["Topics"])
        token = out.get("NextToken")
        if not token:
            break
    assert pages >= 2
    assert created <= set(seen)
    assert len(seen) == len(set(seen)), "no topic is listed twice"
    paginated = [t["TopicArn"] for p in sns.get_paginator("list_topics").paginate() for t in p["Topics"]]
    assert paginated == seen


def test_tags_are_added_listed_and_removed(sns, name):
    arn = sns.create_topic(Name=name, Tags=[{"Key": "team", "Value": "a"}])["TopicArn"]
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "b"}])
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"team": "b", "env": "prod"}
    sns.untag_resource(ResourceArn=arn, TagKeys=["team", "absent"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_tag_errors(sns, name):
    missing = topic_arn(name + "-missing")
    for call in [
        lambda: sns.tag_resource(ResourceArn=missing, Tags=[{"Key": "k", "Value": "v"}]),
        lambda: sns.untag_resource(ResourceArn=missing, TagKeys=["k"]),
        lambda: sns.list_tags_for_resource(ResourceArn=missing),
    ]:
        with pytest.raises(ClientError) as e:
            call()
        assert error_code(e) == "ResourceNotFound"
    arn = sns.create_topic(Name=name)["TopicArn"]
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])
    assert error_code(e) == "TagLimitExceeded"
    with pytest.raises(ClientError) as e:
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "aws:reserved", "Value": "v"}])
    assert error_code(e) == "InvalidParameter"
