"""A connection holds at most amqp.max_consumers_per_connection consumers over all its channels."""

import pika
import pytest
from pika.exceptions import ChannelClosedByBroker

from amqp_helpers import parameters


def test_one_consumer_too_many_closes_its_channel_and_the_connection_goes_on(ferry_server_with, tmp_path):
    config = tmp_path / "ferry.toml"
    config.write_text("[amqp]\nmax_consumers_per_connection = 3\n")
    server = ferry_server_with(["--config", str(config)])
    connection = pika.BlockingConnection(parameters(server))
    try:
        first, second = connection.channel(), connection.channel()
        first.queue_declare("work")
        first.basic_consume("work", lambda *_: None)
        first.basic_consume("work", lambda *_: None)
        tag = second.basic_consume("work", lambda *_: None)
        with pytest.raises(ChannelClosedByBroker) as e:
            first.basic_consume("work", lambda *_: None)
        assert e.value.reply_code == 406
        assert "reached maximum (3) of consumers per connection" in e.value.reply_text
        # The first channel's consumers went with it: there is room again.
        second.basic_cancel(tag)
        third = connection.channel()
        for _ in range(3):
            third.basic_consume("work", lambda *_: None)
        assert connection.is_open
    finally:
        connection.close()
