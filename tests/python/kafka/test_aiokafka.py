"""aiokafka against ferry: produce and consume with assign."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kafka_helpers import expected_values, unique_topic

COUNT = 100


async def _round_trip(bootstrap, topic):
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    await producer.start()
    try:
        for i, value in enumerate(expected_values("aio", COUNT)):
            await producer.send(topic, value=value, key=f"k{i}".encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        await consumer.seek_to_beginning(partition)
        received = []
        while len(received) < COUNT:
            batches = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), timeout=30)
            for messages in batches.values():
                received.extend(messages)
        return received
    finally:
        await consumer.stop()


def test_aiokafka_round_trip(ferry_server):
    topic = unique_topic("aiokafka")
    received = asyncio.run(_round_trip(ferry_server.kafka_bootstrap, topic))
    assert [m.value for m in received] == expected_values("aio", COUNT)
    assert [m.offset for m in received] == list(range(COUNT))
    assert received[5].key == b"k5"
