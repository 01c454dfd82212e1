"""Topics, subscriptions (with their attributes) and tags survive a broker restart, and a
publish after it is delivered and filtered as before."""

import json

from sns_helpers import client, envelope, make_queue, receive, receive_none


def test_topics_subscriptions_and_tags_survive_a_restart(fresh_ferry_server):
    sns, sqs = client("sns", fresh_ferry_server), client("sqs", fresh_ferry_server)
    topic = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"},
                             Tags=[{"Key": "team", "Value": "shop"}])["TopicArn"]
    fifo = sns.create_topic(Name="events.fifo", Attributes={"FifoTopic": "true",
                                                            "ContentBasedDeduplication": "true"})["TopicArn"]
    raw_url, raw_arn = make_queue(sqs, "raw")
    env_url, env_arn = make_queue(sqs, "env")
    raw_sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=raw_arn, Attributes={
        "RawMessageDelivery": "true", "FilterPolicy": json.dumps({"color": ["red"]})})["SubscriptionArn"]
    env_sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=env_arn)["SubscriptionArn"]
    before = {
        "topics": sns.list_topics()["Topics"],
        "subs": sns.list_subscriptions()["Subscriptions"],
        "attrs": sns.get_topic_attributes(TopicArn=topic)["Attributes"],
        "fifo": sns.get_topic_attributes(TopicArn=fifo)["Attributes"],
        "raw": sns.get_subscription_attributes(SubscriptionArn=raw_sub)["Attributes"],
        "tags": sns.list_tags_for_resource(ResourceArn=topic)["Tags"],
    }

    fresh_ferry_server.restart()
    sns, sqs = client("sns", fresh_ferry_server), client("sqs", fresh_ferry_server)
    after = {
        "topics": sns.list_topics()["Topics"],
        "subs": sns.list_subscriptions()["Subscriptions"],
        "attrs": sns.get_topic_attributes(TopicArn=topic)["Attributes"],
        "fifo": sns.get_topic_attributes(TopicArn=fifo)["Attributes"],
        "raw": sns.get_subscription_attributes(SubscriptionArn=raw_sub)["Attributes"],
        "tags": sns.list_tags_for_resource(ResourceArn=topic)["Tags"],
    }
    assert after == before
    assert after["attrs"]["DisplayName"] == "Orders"
    assert after["fifo"]["ContentBasedDeduplication"] == "true"
    assert after["raw"]["RawMessageDelivery"] == "true"

    for color in ["blue", "red"]:
        sns.publish(TopicArn=topic, Message=color,
                    MessageAttributes={"color": {"DataType": "String", "StringValue": color}})
    assert [m["Body"] for m in receive(sqs, raw_url, 1)] == ["red"]
    receive_none(sqs, raw_url)
    got = [envelope(m) for m in receive(sqs, env_url, 2)]
    assert sorted(e["Message"] for e in got) == ["blue", "red"]
    assert got[0]["UnsubscribeURL"].endswith(env_sub)
