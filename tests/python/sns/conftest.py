"""Fixtures of the SNS suites: boto3 `sns` and `sqs` clients pointed at `ferry serve`."""

import uuid

import pytest

from sns_helpers import client


@pytest.fixture(scope="session")
def sns(ferry_server):
    """boto3's SNS client (query protocol, signed for `sns`)."""
    return client("sns", ferry_server)


@pytest.fixture(scope="session")
def sqs(ferry_server):
    """boto3's SQS client on the same endpoint."""
    return client("sqs", ferry_server)


@pytest.fixture
def name():
    """A topic or queue name no other test uses."""
    return "t-" + uuid.uuid4().hex[:12]
