"""Helpers of the SQS suites: the digests SQS SDKs verify."""

import hashlib
import struct


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
