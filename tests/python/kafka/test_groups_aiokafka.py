"""Consumer groups through aiokafka: subscribe, commit, resume."""

import asyncio

from aiokafka import AIOKafkaConsumer, TopicPartition

from group_helpers import DEADLINE_S, create_topic, produce, unique


async def read(consumer, count):
    values = []
    async with asyncio.timeout(DEADLINE_S):
        while len(values) < count:
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                values.extend(r.value.decode() for r in records)
    return values


def make_consumer(bootstrap, group, topic):
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=10000,
        heartbeat_interval_ms=500,
        fetch_max_wait_ms=100,
    )


def test_aiokafka_group_commits_and_resumes(ferry_server):
    bootstrap = ferry_server.kafka_bootstrap
    topic, group = unique("aio-orders"), unique("aio-group")
    create_topic(bootstrap, topic, 2)
    produce(bootstrap, topic, [f"first-{i}" for i in range(10)], 2)

    async def scenario():
        c = make_consumer(bootstrap, group, topic)
        await c.start()
        try:
            first = await read(c, 10)
            await c.commit()
            assert await c.committed(TopicPartition(topic, 1)) == 5
        finally:
            await c.stop()
        produce(bootstrap, topic, [f"second-{i}" for i in range(4)], 2)
        c = make_consumer(bootstrap, group, topic)
        await c.start()
        try:
            resumed = await read(c, 4)
        finally:
            await c.stop()
        return first, resumed

    first, resumed = asyncio.run(scenario())
    assert sorted(first) == sorted(f"first-{i}" for i in range(10))
    assert sorted(resumed) == sorted(f"second-{i}" for i in range(4))
