"""pika's select adapter (callbacks on an I/O loop, as asynchronous services use it): confirms,
consuming with prefetch and acks, requeue with the redelivered flag, dead-lettering with x-death,
and mandatory returns."""

import pika

from amqp_helpers import parameters


def run(server, scenario, timeout_s=10.0):
    """Opens a select connection and a channel, hands the channel and a `finish` callback to
    `scenario`, and runs the I/O loop until `finish` is called (or the time is up)."""
    outcome = {"finished": False}

    def finish():
        outcome["finished"] = True
        conn.close()

    def on_channel(channel):
        scenario(channel, finish)

    def on_open(c):
        c.channel(on_open_callback=on_channel)
        c.ioloop.call_later(timeout_s, c.close)

    conn = pika.SelectConnection(
        parameters(server), on_open_callback=on_open, on_close_callback=lambda *_: conn.ioloop.stop()
    )
    conn.ioloop.start()
    assert outcome["finished"], "the scenario did not finish in time"


def test_confirmed_publishes_are_consumed_in_order_with_prefetch_and_acks(ferry_server, name):
    count = 50
    confirms, received, in_flight = [], [], {"max": 0, "now": 0, "acked": 0}

    def scenario(channel, finish):
        def on_delivery(ch, method, _props, body):
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            received.append(int(body))
            # Ack later on the loop, so unacknowledged deliveries pile up to the prefetch.
            def ack():
                in_flight["now"] -= 1
                ch.basic_ack(method.delivery_tag)
                in_flight["acked"] += 1
                if in_flight["acked"] == count:
                    finish()

            ch.connection.ioloop.call_later(0.01, ack)

        def on_confirm(frame):
            confirms.append((type(frame.method).__name__, frame.method.delivery_tag, frame.method.multiple))
            last = frame.method.delivery_tag
            if last == count:
                channel.basic_qos(prefetch_count=5, callback=lambda _: channel.basic_consume(name, on_delivery))

        def on_declared(_):
            channel.confirm_delivery(on_confirm)
            for i in range(count):
                channel.basic_publish("", name, str(i).encode(), pika.BasicProperties(delivery_mode=2))

        channel.queue_declare(name, durable=True, callback=on_declared)

    run(ferry_server, scenario)
    assert received == list(range(count))
    assert in_flight["max"] <= 5, in_flight
    # Every publish is acked, in order: one basic.ack per publish or a `multiple` run of them.
    assert all(kind == "Ack" for kind, _, _ in confirms)
    tags = [tag for _, tag, _ in confirms]
    assert tags == sorted(tags) and tags[-1] == count


def test_a_nacked_delivery_comes_back_redelivered_and_a_rejected_one_is_dead_lettered(ferry_server, name):
    dead = name + ".dead"
    seen = []

    def scenario(channel, finish):
        def on_dead(ch, method, props, body):
            death = props.headers["x-death"][0]
            seen.append(("dead", body, death["reason"], death["queue"]))
            ch.basic_ack(method.delivery_tag)
            finish()

        def on_delivery(ch, method, _props, body):
            seen.append(("work", body, method.redelivered))
            if not method.redelivered:
                ch.basic_nack(method.delivery_tag, requeue=True)
            else:
                ch.basic_reject(method.delivery_tag, requeue=False)

        def start(_):
            channel.basic_consume(dead, on_dead)
            channel.basic_consume(name, on_delivery)
            channel.basic_publish("", name, b"job")

        def on_work(_):
            channel.queue_declare(dead, callback=start)

        channel.queue_declare(
            name,
            arguments={"x-dead-letter-exchange": "", "x-dead-letter-routing-key": dead},
            callback=on_work,
        )

    run(ferry_server, scenario)
    assert seen == [("work", b"job", False), ("work", b"job", True), ("dead", b"job", "rejected", name)]


def test_an_unroutable_mandatory_publish_is_returned(ferry_server, name):
    returned = []

    def scenario(channel, finish):
        def on_return(_ch, method, _props, body):
            returned.append((method.reply_code, method.reply_text, method.routing_key, body))
            finish()

        channel.add_on_return_callback(on_return)
        channel.basic_publish("amq.direct", name, b"nowhere", mandatory=True)

    run(ferry_server, scenario)
    assert returned == [(312, "NO_ROUTE", name, b"nowhere")]
