"""Subscriptions through boto3: Subscribe (sqs only), Unsubscribe, ConfirmSubscription,
ListSubscriptions(ByTopic) with paging, Get/SetSubscriptionAttributes, and their errors."""

import json

import pytest
from botocore.exceptions import ClientError

from sns_helpers import ACCOUNT, error_code, make_queue, queue_arn, topic_arn


@pytest.fixture
def topic(sns, name):
    return sns.create_topic(Name=name)["TopicArn"]


def test_subscribe_answers_an_arn_under_the_topic_and_again_the_same(sns, sqs, topic, name):
    _, arn = make_queue(sqs, name)
    first = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True)
    sub = first["SubscriptionArn"]
    assert sub.startswith(topic + ":") and len(sub) > len(topic) + 1
    assert sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)["SubscriptionArn"] == sub
    raw = {"RawMessageDelivery": "true"}
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=raw)
    assert error_code(e) == "InvalidParameter"
    attrs = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attrs["SubscriptionsConfirmed"] == "1"


def test_subscribe_errors(sns, topic, name):
    cases = [
        (dict(TopicArn=topic, Protocol="email", Endpoint="a@example.com"), "InvalidParameter"),
        (dict(TopicArn=topic, Protocol="http", Endpoint="http://example.com"), "InvalidParameter"),
        (dict(TopicArn=topic, Protocol="sqs", Endpoint="not-an-arn"), "InvalidParameter"),
        (dict(TopicArn=topic, Protocol="sqs", Endpoint=f"arn:aws:sqs:eu-west-1:{ACCOUNT}:q"), "InvalidParameter"),
        (dict(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name + ".fifo")), "InvalidParameter"),
        (dict(TopicArn=topic_arn(name + "-gone"), Protocol="sqs", Endpoint=queue_arn(name)), "NotFound"),
        (dict(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name),
              Attributes={"RawMessageDelivery": "yes"}), "InvalidParameter"),
        (dict(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name),
              Attributes={"FilterPolicy": "{\"k\": \"not a list\"}"}), "InvalidParameter"),
        (dict(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name),
              Attributes={"Unknown": "x"}), "InvalidParameter"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as e:
            sns.subscribe(**kwargs)
        assert error_code(e) == code, kwargs
    with pytest.raises(ClientError) as e:
        sns.subscribe(TopicArn=topic, Protocol="sms", Endpoint="+15555550100")
    assert "sqs" in e.value.response["Error"]["Message"]


def test_unsubscribe_removes_it_once(sns, topic, name):
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name))["SubscriptionArn"]
    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn=sub)
    assert error_code(e) == "NotFound"
    with pytest.raises(ClientError) as e:
        sns.unsubscribe(SubscriptionArn="garbage")
    assert error_code(e) == "InvalidParameter"


def test_confirm_subscription_answers_the_arn_for_its_token(sns, topic, name):
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name))["SubscriptionArn"]
    token = sub.rsplit(":", 1)[1]
    assert sns.confirm_subscription(TopicArn=topic, Token=token)["SubscriptionArn"] == sub
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic, Token="bogus")
    assert error_code(e) == "InvalidParameter"
    with pytest.raises(ClientError) as e:
        sns.confirm_subscription(TopicArn=topic_arn(name + "-gone"), Token=token)
    assert error_code(e) == "NotFound"


def test_list_subscriptions_show_every_field_and_page(sns, topic, name):
    subs = [
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(f"{name}-{i:03}"))["SubscriptionArn"]
        for i in range(101)
    ]
    first = sns.list_subscriptions_by_topic(TopicArn=topic)
    assert len(first["Subscriptions"]) == 100 and first.get("NextToken")
    listed = [s for p in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
              for s in p["Subscriptions"]]
    assert sorted(s["SubscriptionArn"] for s in listed) == sorted(subs)
    one = next(s for s in listed if s["Endpoint"] == queue_arn(f"{name}-000"))
    assert one["Protocol"] == "sqs" and one["Owner"] == ACCOUNT and one["TopicArn"] == topic
    everywhere = [s["SubscriptionArn"] for p in sns.get_paginator("list_subscriptions").paginate()
                  for s in p["Subscriptions"]]
    assert set(subs) <= set(everywhere)
    with pytest.raises(ClientError) as e:
        sns.list_subscriptions_by_topic(TopicArn=topic_arn(name + "-gone"))
    assert error_code(e) == "NotFound"


def test_subscription_attributes_have_defaults_and_can_be_set(sns, topic, name):
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name))["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["SubscriptionArn"] == sub
    assert attrs["TopicArn"] == topic
    assert attrs["Protocol"] == "sqs"
    assert attrs["Endpoint"] == queue_arn(name)
    assert attrs["Owner"] == ACCOUNT
    assert attrs["RawMessageDelivery"] == "false"
    assert attrs["PendingConfirmation"] == "false"
    assert attrs["ConfirmationWasAuthenticated"] == "true"
    assert "FilterPolicy" not in attrs
    policy = json.dumps({"color": ["red"]})
    redrive = json.dumps({"deadLetterTargetArn": queue_arn(name + "-dlq")})
    for attribute, value in [
        ("RawMessageDelivery", "true"),
        ("FilterPolicy", policy),
        ("FilterPolicyScope", "MessageBody"),
        ("RedrivePolicy", redrive),
    ]:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=attribute, AttributeValue=value)
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true"
    assert json.loads(attrs["FilterPolicy"]) == {"color": ["red"]}
    assert attrs["FilterPolicyScope"] == "MessageBody"
    assert json.loads(attrs["RedrivePolicy"]) == {"deadLetterTargetArn": queue_arn(name + "-dlq")}
    # The subscription keeps its ARN through changes.
    assert [s["SubscriptionArn"] for s in sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]] == [sub]


def test_subscription_attribute_errors(sns, topic, name):
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(name))["SubscriptionArn"]
    for attribute, value in [
        ("RawMessageDelivery", "perhaps"),
        ("FilterPolicy", "not json"),
        ("FilterPolicy", json.dumps({"k": [{"numeric": [">", 5, "<", 1]}]})),
        ("FilterPolicyScope", "Headers"),
        ("RedrivePolicy", json.dumps({"deadLetterTargetArn": "nope"})),
        ("Protocol", "http"),
    ]:
        with pytest.raises(ClientError) as e:
            sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName=attribute, AttributeValue=value)
        assert error_code(e) == "InvalidParameter", (attribute, value)
    # A nested policy needs the body scope.
    nested = json.dumps({"order": {"status": ["paid"]}})
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=nested)
    assert error_code(e) == "InvalidParameter"
    missing = topic + ":00000000-0000-0000-0000-000000000000"
    with pytest.raises(ClientError) as e:
        sns.get_subscription_attributes(SubscriptionArn=missing)
    assert error_code(e) == "NotFound"
    with pytest.raises(ClientError) as e:
        sns.set_subscription_attributes(SubscriptionArn=missing, AttributeName="RawMessageDelivery",
                                        AttributeValue="true")
    assert error_code(e) == "NotFound"
