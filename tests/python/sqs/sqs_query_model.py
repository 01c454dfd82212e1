"""A botocore client for SQS that speaks the query protocol (form-encoded `Action=...`, XML
answers), as boto3 did before SQS moved to JSON and as older SDKs still do.

botocore ships SQS's model for JSON only. The query protocol needs the model's XML names
(flattened lists and maps, `Attribute.N.Name`, `<Message>` ...), so this module rewrites the
installed model: protocol `query`, the element names SQS's query model gives each shape, a result
wrapper per operation and the query error codes. The rewritten model is loaded from a temporary
data directory ahead of botocore's own, so botocore's real query serializer and XML parser run.
"""

import copy
import json
import os
import tempfile

import botocore.session

# Element names of SQS's query model, per shape: a list's member, a map's key and value,
# a structure's members, or the shape's own name.
LOCATION_NAMES = {
    "AWSAccountIdList": {"member": "AWSAccountId"},
    "ActionNameList": {"member": "ActionName"},
    "AttributeNameList": {"member": "AttributeName"},
    "MessageSystemAttributeList": {"member": "MessageSystemAttributeName"},
    "BatchResultErrorEntryList": {"member": "BatchResultErrorEntry"},
    "BinaryList": {"member": "BinaryListValue"},
    "ChangeMessageVisibilityBatchRequestEntryList": {"member": "ChangeMessageVisibilityBatchRequestEntry"},
    "ChangeMessageVisibilityBatchResultEntryList": {"member": "ChangeMessageVisibilityBatchResultEntry"},
    "CreateQueueRequest": {"members": {"Attributes": "Attribute", "tags": "Tag"}},
    "DeleteMessageBatchRequestEntryList": {"member": "DeleteMessageBatchRequestEntry"},
    "DeleteMessageBatchResultEntryList": {"member": "DeleteMessageBatchResultEntry"},
    "GetQueueAttributesResult": {"members": {"Attributes": "Attribute"}},
    "ListMessageMoveTasksResultEntryList": {"member": "ListMessageMoveTasksResultEntry"},
    "ListQueueTagsResult": {"members": {"Tags": "Tag"}},
    "Message": {"members": {"Attributes": "Attribute", "MessageAttributes": "MessageAttribute"}},
    "MessageAttributeNameList": {"member": "MessageAttributeName"},
    "MessageAttributeValue": {"members": {"StringListValues": "StringListValue", "BinaryListValues": "BinaryListValue"}},
    "MessageBodyAttributeMap": {"key": "Name", "value": "Value"},
    "MessageBodySystemAttributeMap": {"key": "Name", "value": "Value"},
    "MessageList": {"member": "Message"},
    "MessageSystemAttributeMap": {"locationName": "Attribute", "key": "Name", "value": "Value"},
    "MessageSystemAttributeValue": {"members": {"StringListValues": "StringListValue", "BinaryListValues": "BinaryListValue"}},
    "QueueAttributeMap": {"locationName": "Attribute", "key": "Name", "value": "Value"},
    "QueueUrlList": {"member": "QueueUrl"},
    "SendMessageBatchRequestEntry": {"members": {"MessageAttributes": "MessageAttribute", "MessageSystemAttributes": "MessageSystemAttribute"}},
    "SendMessageBatchRequestEntryList": {"member": "SendMessageBatchRequestEntry"},
    "SendMessageBatchResultEntryList": {"member": "SendMessageBatchResultEntry"},
    "SendMessageRequest": {"members": {"MessageAttributes": "MessageAttribute", "MessageSystemAttributes": "MessageSystemAttribute"}},
    "SetQueueAttributesRequest": {"members": {"Attributes": "Attribute"}},
    "StringList": {"member": "StringListValue"},
    "TagKeyList": {"member": "TagKey"},
    "TagMap": {"locationName": "Tag", "key": "Key", "value": "Value"},
}

# Query error codes of the modeled exceptions (status 400 unless given).
ERROR_CODES = {
    "QueueDoesNotExist": ("AWS.SimpleQueueService.NonExistentQueue", 400),
    "QueueNameExists": ("QueueAlreadyExists", 400),
    "QueueDeletedRecently": ("AWS.SimpleQueueService.QueueDeletedRecently", 400),
    "MessageNotInflight": ("AWS.SimpleQueueService.MessageNotInflight", 400),
    "BatchEntryIdsNotDistinct": ("AWS.SimpleQueueService.BatchEntryIdsNotDistinct", 400),
    "BatchRequestTooLong": ("AWS.SimpleQueueService.BatchRequestTooLong", 400),
    "EmptyBatchRequest": ("AWS.SimpleQueueService.EmptyBatchRequest", 400),
    "InvalidBatchEntryId": ("AWS.SimpleQueueService.InvalidBatchEntryId", 400),
    "TooManyEntriesInBatchRequest": ("AWS.SimpleQueueService.TooManyEntriesInBatchRequest", 400),
    "PurgeQueueInProgress": ("AWS.SimpleQueueService.PurgeQueueInProgress", 403),
    "UnsupportedOperation": ("AWS.SimpleQueueService.UnsupportedOperation", 400),
    "OverLimit": ("OverLimit", 403),
    "ResourceNotFoundException": ("ResourceNotFoundException", 404),
}


def query_model(json_model):
    """The query-protocol model of SQS, derived from botocore's JSON model."""
    model = copy.deepcopy(json_model)
    meta = model["metadata"]
    for key in ("jsonVersion", "targetPrefix", "awsQueryCompatible"):
        meta.pop(key, None)
    meta["protocol"] = "query"
    meta["protocols"] = ["query"]
    meta["xmlNamespace"] = "http://queue.amazonaws.com/doc/2012-11-05/"
    shapes = model["shapes"]
    for name, names in LOCATION_NAMES.items():
        shape = shapes[name]
        if "locationName" in names:
            shape["locationName"] = names["locationName"]
        for part in ("member", "key", "value"):
            if part in names:
                shape[part]["locationName"] = names[part]
        for member, location in names.get("members", {}).items():
            shape["members"][member]["locationName"] = location
    for name, (code, status) in ERROR_CODES.items():
        shapes[name]["error"] = {"code": code, "httpStatusCode": status, "senderFault": True}
    for op_name, op in model["operations"].items():
        if "output" in op:
            op["output"]["resultWrapper"] = op_name + "Result"
    return model


def query_client(endpoint):
    """A botocore SQS client that sends query-protocol requests to `endpoint`."""
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    json_model = loader.load_service_model("sqs", "service-2")
    api_version = json_model["metadata"]["apiVersion"]
    data_dir = tempfile.mkdtemp(prefix="sqs-query-model-")
    model_dir = os.path.join(data_dir, "sqs", api_version)
    os.makedirs(model_dir)
    with open(os.path.join(model_dir, "service-2.json"), "w") as f:
        json.dump(query_model(json_model), f)
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, data_dir)
    return session.create_client(
        "sqs",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
