"""AMQP 0-9-1 through aio-pika (asyncio, on aiormq): robust connections, confirms, consumers."""

import asyncio

import aio_pika
import pytest


def url(server):
    host, port = server.amqp_address.rsplit(":", 1)
    return f"amqp://guest:guest@{host}:{port}/"


def test_publish_consume_and_ack_with_confirms(ferry_server, name):
    async def run():
        conn = await aio_pika.connect_robust(url(ferry_server))
        async with conn:
            ch = await conn.channel(publisher_confirms=True)
            await ch.set_qos(prefetch_count=10)
            q = await ch.declare_queue(name, durable=True)
            x = await ch.declare_exchange(name + "-x", aio_pika.ExchangeType.TOPIC, durable=True)
            await q.bind(x, "orders.*")
            for i in range(20):
                await x.publish(
                    aio_pika.Message(str(i).encode(), headers={"n": i}, delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
                    routing_key="orders.new",
                )
            got = []
            async with q.iterator() as it:
                async for message in it:
                    async with message.process():
                        got.append((message.body, message.headers["n"]))
                    if len(got) == 20:
                        break
            assert got == [(str(i).encode(), i) for i in range(20)]

    asyncio.run(asyncio.wait_for(run(), 30))


def test_a_rejected_message_comes_back_redelivered(ferry_server, name):
    async def run():
        conn = await aio_pika.connect(url(ferry_server))
        async with conn:
            ch = await conn.channel()
            q = await ch.declare_queue(name)
            await ch.default_exchange.publish(aio_pika.Message(b"again"), routing_key=name)
            first = await q.get(timeout=5)
            assert not first.redelivered
            await first.reject(requeue=True)
            second = await q.get(timeout=5)
            assert second.body == b"again" and second.redelivered
            await second.ack()

    asyncio.run(asyncio.wait_for(run(), 30))


def test_a_missing_queue_raises_channel_not_found(ferry_server, name):
    async def run():
        conn = await aio_pika.connect(url(ferry_server))
        async with conn:
            ch = await conn.channel()
            with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
                await ch.declare_queue(name, passive=True)

    asyncio.run(asyncio.wait_for(run(), 30))
