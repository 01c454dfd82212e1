"""SNS and AMQP over one router: a topic is an exchange, so a queue an AMQP client binds to it
gets what SNS publishes (the raw message, attributes as headers), an AMQP publish to it reaches
the SNS subscribers, and an AMQP binding may carry an SNS filter policy."""

import json

import pika
import pytest

from sns_helpers import amqp_parameters, basic_get, make_queue, receive, receive_none


@pytest.fixture
def channel(ferry_server):
    conn = pika.BlockingConnection(amqp_parameters(ferry_server))
    try:
        yield conn.channel()
    finally:
        if conn.is_open:
            conn.close()


def test_an_amqp_queue_bound_to_the_topic_exchange_receives_an_sns_publish(sns, channel, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    channel.exchange_declare(name, exchange_type="fanout", passive=True)
    channel.queue_declare(name + "-amqp", durable=True)
    channel.queue_bind(name + "-amqp", name)
    sns.publish(TopicArn=topic, Message="from sns", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "order"},
        "n": {"DataType": "Number", "StringValue": "3"},
    })
    got = basic_get(channel, name + "-amqp")
    assert got is not None, "the SNS publish reached the AMQP queue"
    method, properties, body = got
    assert body == b"from sns"
    assert method.exchange == name
    assert properties.headers["kind"] == "order"
    assert str(properties.headers["n"]) == "3"


def test_an_amqp_publish_to_the_topic_exchange_reaches_the_sns_subscribers(sns, sqs, channel, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, arn = make_queue(sqs, name)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    channel.confirm_delivery()
    channel.basic_publish(name, "", b"from amqp", pika.BasicProperties(headers={"k": "v"}))
    [m] = receive(sqs, url, 1)
    assert m["Body"] == "from amqp"


def test_an_amqp_binding_may_carry_an_sns_filter_policy(sns, channel, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    channel.queue_declare(name + "-red", durable=True)
    policy = json.dumps({"color": ["red"]})
    channel.queue_bind(name + "-red", name, arguments={"x-filter-policy": policy})
    for color in ["blue", "red"]:
        sns.publish(TopicArn=topic, Message=color,
                    MessageAttributes={"color": {"DataType": "String", "StringValue": color}})
    _, _, body = basic_get(channel, name + "-red")
    assert body == b"red"
    assert channel.basic_get(name + "-red", auto_ack=True)[0] is None
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
        channel.queue_bind(name + "-red", name, arguments={"x-filter-policy": "{\"k\": 1}"})
    assert e.value.reply_code == 406


def test_an_sns_filter_on_a_subscription_also_filters_amqp_publishes(sns, sqs, channel, name):
    topic = sns.create_topic(Name=name)["TopicArn"]
    url, arn = make_queue(sqs, name)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"color": ["red"]})})
    channel.confirm_delivery()
    channel.basic_publish(name, "", b"blue", pika.BasicProperties(headers={"color": "blue"}))
    channel.basic_publish(name, "", b"red", pika.BasicProperties(headers={"color": "red"}))
    assert [m["Body"] for m in receive(sqs, url, 1)] == ["red"]
    receive_none(sqs, url)
