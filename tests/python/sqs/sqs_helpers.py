"""Helpers of the SQS suites: clients pointed at a broker, and the digests SQS SDKs verify."""

import hashlib
import struct

import boto3


def sqs_client(server, config=None):
    """boto3's SQS client (AWS JSON 1.0) for `server`, with an optional botocore `Config`."""
    return boto3.client(
        "sqs",
        endpoint_url=server.sqs_endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
        config=config,
    )


def md5_of_attributes(attributes):
    """MD5OfMessageAttributes as the Java and Go SDKs verify it."""
    digest = hashlib.md5()
    for key in sorted(attributes):
        value = attributes[key]
        for part in (key.encode(), value["DataType"].encode()):
            digest.update(struct.pack(">I", len(part)) + part)
        if "StringValue" in value:
            data = value["StringValue"].encode()
            digest.update(b"\x01")
        else:
            data = value["BinaryValue"]
            digest.update(b"\x02")
        digest.update(struct.pack(">I", len(data)) + data)
    return digest.hexdigest()


def md5_hex(text):
    return hashlib.md5(text.encode()).hexdigest()
