"""kombu's SQS transport with `supports_fanout`: a fanout exchange becomes an SNS topic, each
bound queue a subscription with raw delivery and a queue policy, and a publish reaches every
queue. Every SNS and SQS call kombu makes for it must succeed."""

import socket
import time

import pytest
from kombu import Connection, Exchange, Queue

from sns_helpers import topic_arn


@pytest.fixture
def kombu_connection(ferry_server):
    host, port = ferry_server.sqs_endpoint.removeprefix("http://").rsplit(":", 1)
    options = {"is_secure": False, "region": "us-east-1", "supports_fanout": True, "wait_time_seconds": 1}
    with Connection(f"sqs://AKIDEXAMPLE:secret@{host}:{port}", transport_options=options) as conn:
        yield conn


def test_a_kombu_fanout_exchange_is_an_sns_topic_feeding_every_bound_queue(kombu_connection, sns, sqs, name):
    exchange = Exchange(name, type="fanout")
    queues = [Queue(f"{name}-{i}", exchange) for i in range(2)]
    received = []

    def on_message(body, message):
        received.append((message.delivery_info.get("routing_key"), body))
        message.ack()

    # kombu subscribes a queue to its fanout exchange's topic when it starts consuming.
    with kombu_connection.Consumer(queues, callbacks=[on_message]):
        subs = sns.list_subscriptions_by_topic(TopicArn=topic_arn(name))["Subscriptions"]
        assert sorted(s["Endpoint"].rsplit(":", 1)[1] for s in subs) == [q.name for q in queues]
        for s in subs:
            attrs = sns.get_subscription_attributes(SubscriptionArn=s["SubscriptionArn"])["Attributes"]
            assert attrs["RawMessageDelivery"] == "true"
        url = sqs.get_queue_url(QueueName=queues[0].name)["QueueUrl"]
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["Policy"])["Attributes"]["Policy"]
        assert topic_arn(name) in policy

        producer = kombu_connection.Producer()
        producer.publish({"hello": "fanout"}, exchange=exchange, declare=[exchange])
        deadline = time.monotonic() + 15
        while len(received) < 2 and time.monotonic() < deadline:
            try:
                kombu_connection.drain_events(timeout=1)
            except socket.timeout:
                pass
    assert [body for _, body in received] == [{"hello": "fanout"}] * 2


def test_kombu_unsubscribes_a_deleted_queue_and_cleans_up_stale_subscriptions(kombu_connection, sns, sqs, name):
    exchange = Exchange(name, type="fanout")
    queues = [Queue(f"{name}-{i}", exchange) for i in range(3)]
    with kombu_connection.Consumer(queues, callbacks=[lambda body, message: message.ack()]):
        assert len(sns.list_subscriptions_by_topic(TopicArn=topic_arn(name))["Subscriptions"]) == 3
    # Deleted through kombu: its subscription goes with it (Unsubscribe).
    queues[0](kombu_connection).delete()
    # Deleted behind kombu's back: the next bind to the exchange finds the stale subscription
    # (ListSubscriptionsByTopic, then GetQueueUrl answering QueueDoesNotExist) and removes it.
    sqs.delete_queue(QueueUrl=sqs.get_queue_url(QueueName=queues[1].name)["QueueUrl"])
    Queue(f"{name}-new", exchange)(kombu_connection).declare()
    left = sns.list_subscriptions_by_topic(TopicArn=topic_arn(name))["Subscriptions"]
    assert [s["Endpoint"].rsplit(":", 1)[1] for s in left] == [queues[2].name]
