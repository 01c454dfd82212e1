//! The query protocol's form parameters (`Attribute.1.Name=…&Attribute.1.Value=…`), rewritten into
//! the JSON shape of the same request so that one parser serves both protocols.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::{ErrorCode, SqsError, SqsResult};

/// Splits `application/x-www-form-urlencoded` bytes into decoded pairs. Unlike a lossy decoder it
/// refuses bytes that are not UTF-8 once percent-decoded: in a message body or string value that
/// is `InvalidMessageContents` (as the JSON protocol answers), elsewhere `InvalidParameterValue`.
pub fn parse_form(bytes: &[u8]) -> SqsResult<Vec<(String, String)>> {
    let mut pairs = Vec::new();
    for field in bytes.split(|&b| b == b'&').filter(|f| !f.is_empty()) {
        let (key, value) = match field.iter().position(|&b| b == b'=') {
            Some(i) => (&field[..i], &field[i + 1..]),
            None => (field, &field[field.len()..]),
        };
        let key = String::from_utf8(percent_decode(key)).map_err(|_| {
            SqsError::new(ErrorCode::MalformedRequest, "A query parameter name is not UTF-8.")
        })?;
        let value = String::from_utf8(percent_decode(value)).map_err(|_| {
            if key.ends_with("MessageBody") || key.ends_with("StringValue") {
                crate::message::invalid_contents()
            } else {
                SqsError::new(
                    ErrorCode::InvalidParameterValue,
                    format!("Value for parameter {key} is not UTF-8."),
                )
            }
        })?;
        pairs.push((key, value));
    }
    Ok(pairs)
}

/// Decodes `+` and `%XX`; a `%` not followed by two hex digits stays as it is.
fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(high), Some(low)) => {
                    out.push(high << 4 | low);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    out
}

/// How a flattened query member maps onto its JSON member.
enum Flattened {
    /// `Name.N` → `"Json": [..]`.
    List(&'static str),
    /// `Name.N.Key` + `Name.N.Value` → `"Json": {key: value}`.
    Map(&'static str, &'static str, &'static str),
}

/// The flattened members of SQS's query model (member name → JSON shape).
fn flattened(name: &str) -> Option<Flattened> {
    use Flattened::{List, Map};
    Some(match name {
        "Attribute" => Map("Attributes", "Name", "Value"),
        "Tag" => Map("Tags", "Key", "Value"),
        "MessageAttribute" => Map("MessageAttributes", "Name", "Value"),
        "MessageSystemAttribute" => Map("MessageSystemAttributes", "Name", "Value"),
        "AttributeName" => List("AttributeNames"),
        "MessageAttributeName" => List("MessageAttributeNames"),
        "MessageSystemAttributeName" => List("MessageSystemAttributeNames"),
        "TagKey" => List("TagKeys"),
        "AWSAccountId" => List("AWSAccountIds"),
        "ActionName" => List("Actions"),
        "SendMessageBatchRequestEntry"
        | "DeleteMessageBatchRequestEntry"
        | "ChangeMessageVisibilityBatchRequestEntry" => List("Entries"),
        "StringListValue" => List("StringListValues"),
        "BinaryListValue" => List("BinaryListValues"),
        _ => return None,
    })
}

/// True for the JSON name of a flattened list.
fn is_list(json_name: &str) -> bool {
    matches!(
        json_name,
        "AttributeNames"
            | "MessageAttributeNames"
            | "MessageSystemAttributeNames"
            | "TagKeys"
            | "AWSAccountIds"
            | "Actions"
            | "Entries"
            | "StringListValues"
            | "BinaryListValues"
    )
}

/// Parameters that belong to the envelope (action, version, signature), not to the request.
fn is_envelope(name: &str) -> bool {
    matches!(
        name,
        "Action"
            | "Version"
            | "AWSAccessKeyId"
            | "Signature"
            | "SignatureMethod"
            | "SignatureVersion"
            | "Timestamp"
            | "Expires"
            | "SecurityToken"
    ) || name.starts_with("X-Amz-")
}

enum Node {
    Leaf(String),
    Branch(BTreeMap<String, Node>),
}

fn malformed(key: &str) -> SqsError {
    SqsError::new(ErrorCode::MalformedRequest, format!("The query parameter {key} is malformed."))
}

/// Rewrites decoded query parameters into the JSON request shape; returns the action name too.
///
/// Later duplicates of a key win, as they do for SQS.
pub fn params_to_json(pairs: &[(String, String)]) -> SqsResult<(Option<String>, Map<String, Value>)> {
    let mut action = None;
    let mut root = BTreeMap::new();
    for (key, value) in pairs {
        if key == "Action" {
            action = Some(value.clone());
            continue;
        }
        if is_envelope(key) {
            continue;
        }
        insert(&mut root, key, value.clone())?;
    }
    Ok((action, convert_struct(root, "")?))
}

fn insert(root: &mut BTreeMap<String, Node>, key: &str, value: String) -> SqsResult<()> {
    let mut parts = key.split('.').peekable();
    let mut branch = root;
    while let Some(part) = parts.next() {
        if part.is_empty() {
            return Err(malformed(key));
        }
        if parts.peek().is_none() {
            if let Some(Node::Branch(_)) = branch.get(part) {
                return Err(malformed(key));
            }
            branch.insert(part.to_owned(), Node::Leaf(value));
            return Ok(());
        }
        let entry = branch.entry(part.to_owned()).or_insert_with(|| Node::Branch(BTreeMap::new()));
        match entry {
            Node::Branch(next) => branch = next,
            Node::Leaf(_) => return Err(malformed(key)),
        }
    }
    Ok(())
}

fn convert_struct(branch: BTreeMap<String, Node>, path: &str) -> SqsResult<Map<String, Value>> {
    let mut out = Map::new();
    for (key, node) in branch {
        let here = if path.is_empty() { key.clone() } else { format!("{path}.{key}") };
        match (flattened(&key), node) {
            (Some(rule), Node::Branch(children)) => {
                let items = numbered(children, &here)?;
                match rule {
                    Flattened::List(json) => {
                        let list = items
                            .into_iter()
                            .map(|(i, item)| convert_value(item, &format!("{here}.{i}")))
                            .collect::<SqsResult<Vec<_>>>()?;
                        out.insert(json.to_owned(), Value::Array(list));
                    }
                    Flattened::Map(json, key_name, value_name) => {
                        let mut map = Map::new();
                        for (i, item) in items {
                            let item_path = format!("{here}.{i}");
                            let Node::Branch(mut fields) = item else {
                                return Err(malformed(&item_path));
                            };
                            let Some(Node::Leaf(name)) = fields.remove(key_name) else {
                                return Err(SqsError::missing(&format!("{item_path}.{key_name}")));
                            };
                            let value = fields
                                .remove(value_name)
                                .ok_or_else(|| SqsError::missing(&format!("{item_path}.{value_name}")))?;
                            map.insert(name, convert_value(value, &item_path)?);
                        }
                        out.insert(json.to_owned(), Value::Object(map));
                    }
                }
            }
            // An empty list is sent as its bare name with no value (`Entries=`), by its member
            // name or by its JSON name.
            (Some(Flattened::List(json)), Node::Leaf(text)) if text.is_empty() => {
                out.insert(json.to_owned(), Value::Array(Vec::new()));
            }
            (None, Node::Leaf(text)) if text.is_empty() && is_list(&key) => {
                out.insert(key, Value::Array(Vec::new()));
            }
            (_, node) => {
                out.insert(key, convert_value(node, &here)?);
            }
        }
    }
    Ok(out)
}

fn convert_value(node: Node, path: &str) -> SqsResult<Value> {
    match node {
        Node::Leaf(text) => Ok(Value::String(text)),
        Node::Branch(children) => Ok(Value::Object(convert_struct(children, path)?)),
    }
}

/// Children of a flattened member, ordered by their 1-based index.
fn numbered(children: BTreeMap<String, Node>, path: &str) -> SqsResult<Vec<(u32, Node)>> {
    let mut items = children
        .into_iter()
        .map(|(index, node)| match index.parse::<u32>() {
            Ok(i) => Ok((i, node)),
            Err(_) => Err(malformed(&format!("{path}.{index}"))),
        })
        .collect::<SqsResult<Vec<_>>>()?;
    items.sort_by_key(|(i, _)| *i);
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn form_fields_are_percent_decoded_and_a_body_that_is_not_utf8_is_invalid_contents() {
        let decoded = parse_form(b"Action=SendMessage&MessageBody=a+b%26c%25&Empty&Odd=%zz%4").unwrap();
        assert_eq!(
            decoded,
            pairs(&[("Action", "SendMessage"), ("MessageBody", "a b&c%"), ("Empty", ""), ("Odd", "%zz%4")])
        );
        assert_eq!(parse_form(b"MessageBody=%C3%A9").unwrap(), pairs(&[("MessageBody", "\u{e9}")]));
        let refused = parse_form(b"Action=SendMessage&MessageBody=%ff%fe%fd").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidMessageContents);
        let refused = parse_form(b"SendMessageBatchRequestEntry.1.MessageBody=%ff").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidMessageContents);
        let refused = parse_form(b"QueueName=%ff").unwrap_err();
        assert_eq!(refused.code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn an_empty_list_is_its_bare_name() {
        let (_, params) =
            params_to_json(&pairs(&[("Action", "SendMessageBatch"), ("SendMessageBatchRequestEntry", "")]))
                .unwrap();
        assert_eq!(Value::Object(params), json!({"Entries": []}));
    }

    #[test]
    fn send_message_with_attributes_becomes_json_shape() {
        let (action, params) = params_to_json(&pairs(&[
            ("Action", "SendMessage"),
            ("Version", "2012-11-05"),
            ("QueueUrl", "http://h/000000000000/q"),
            ("MessageBody", "hi"),
            ("DelaySeconds", "5"),
            ("MessageAttribute.2.Name", "b"),
            ("MessageAttribute.2.Value.DataType", "Binary"),
            ("MessageAttribute.2.Value.BinaryValue", "AAE="),
            ("MessageAttribute.1.Name", "a"),
            ("MessageAttribute.1.Value.DataType", "String"),
            ("MessageAttribute.1.Value.StringValue", "x"),
        ]))
        .unwrap();
        assert_eq!(action.as_deref(), Some("SendMessage"));
        assert_eq!(
            Value::Object(params),
            json!({
                "QueueUrl": "http://h/000000000000/q",
                "MessageBody": "hi",
                "DelaySeconds": "5",
                "MessageAttributes": {
                    "a": {"DataType": "String", "StringValue": "x"},
                    "b": {"DataType": "Binary", "BinaryValue": "AAE="},
                }
            })
        );
    }

    #[test]
    fn batch_entries_are_ordered_by_index_not_text() {
        let (_, params) = params_to_json(&pairs(&[
            ("DeleteMessageBatchRequestEntry.10.Id", "ten"),
            ("DeleteMessageBatchRequestEntry.10.ReceiptHandle", "r10"),
            ("DeleteMessageBatchRequestEntry.2.Id", "two"),
            ("DeleteMessageBatchRequestEntry.2.ReceiptHandle", "r2"),
        ]))
        .unwrap();
        assert_eq!(
            params["Entries"],
            json!([{"Id": "two", "ReceiptHandle": "r2"}, {"Id": "ten", "ReceiptHandle": "r10"}])
        );
    }

    #[test]
    fn attribute_names_and_queue_attributes_become_list_and_map() {
        let (_, params) = params_to_json(&pairs(&[
            ("AttributeName.1", "All"),
            ("MessageAttributeName.1", "foo.*"),
            ("Attribute.1.Name", "VisibilityTimeout"),
            ("Attribute.1.Value", "60"),
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "core"),
        ]))
        .unwrap();
        assert_eq!(params["AttributeNames"], json!(["All"]));
        assert_eq!(params["MessageAttributeNames"], json!(["foo.*"]));
        assert_eq!(params["Attributes"], json!({"VisibilityTimeout": "60"}));
        assert_eq!(params["Tags"], json!({"team": "core"}));
    }

    #[test]
    fn signature_parameters_are_dropped() {
        let (_, params) = params_to_json(&pairs(&[
            ("X-Amz-Signature", "abc"),
            ("AWSAccessKeyId", "key"),
            ("QueueName", "q"),
        ]))
        .unwrap();
        assert_eq!(Value::Object(params), json!({"QueueName": "q"}));
    }

    #[test]
    fn key_used_as_leaf_and_branch_is_malformed() {
        let err = params_to_json(&pairs(&[("Attribute.1", "x"), ("Attribute.1.Name", "y")])).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedRequest);
        let err = params_to_json(&pairs(&[("AttributeName.first", "All")])).unwrap_err();
        assert_eq!(err.code, ErrorCode::MalformedRequest);
    }

    #[test]
    fn map_entry_without_name_is_a_missing_parameter() {
        let err = params_to_json(&pairs(&[("Attribute.1.Value", "60")])).unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingParameter);
    }
}
