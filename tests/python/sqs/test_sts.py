"""STS GetCallerIdentity on the SQS endpoint, through boto3's STS client (query protocol)."""

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError


def sts(ferry_server, **kwargs):
    return boto3.client("sts", endpoint_url=ferry_server.sqs_endpoint, region_name="us-east-1", **kwargs)


def test_get_caller_identity_names_the_access_key_in_the_configured_account(ferry_server):
    client = sts(ferry_server, aws_access_key_id="AKIDCALLER", aws_secret_access_key="secret")
    identity = client.get_caller_identity()
    assert identity["Account"] == "000000000000"
    assert identity["UserId"] == "AKIDCALLER"
    assert identity["Arn"] == "arn:aws:iam::000000000000:user/AKIDCALLER"


def test_get_caller_identity_without_credentials_is_refused(ferry_server):
    client = sts(ferry_server, config=Config(signature_version=UNSIGNED))
    with pytest.raises(ClientError) as e:
        client.get_caller_identity()
    assert e.value.response["Error"]["Code"] == "MissingAuthenticationToken"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
