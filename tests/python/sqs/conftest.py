"""Fixtures of the SQS suites: clients of both SQS wire protocols pointed at `ferry serve`."""

import uuid

import pytest

from sqs_helpers import sqs_client
from sqs_query_model import query_client


@pytest.fixture(scope="session")
def sqs(ferry_server):
    """boto3's SQS client: AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Action>`)."""
    return sqs_client(ferry_server)


@pytest.fixture(scope="session")
def sqs_query(ferry_server):
    """A botocore SQS client speaking the query protocol; records each response's content type."""
    client = query_client(ferry_server.sqs_endpoint)
    client.content_types = []

    def record(http_response, **_):
        client.content_types.append(http_response.headers.get("content-type"))

    client.meta.events.register("after-call.sqs", record)
    return client


@pytest.fixture
def name():
    """A queue name no other test uses."""
    return "t-" + uuid.uuid4().hex[:12]
