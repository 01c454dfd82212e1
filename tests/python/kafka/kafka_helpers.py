"""Shared helpers of the Kafka client suites."""

import uuid


def unique_topic(prefix):
    """A topic name no other test uses (the session broker is shared)."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def expected_values(prefix, count):
    return [f"{prefix}-{i}".encode() for i in range(count)]
