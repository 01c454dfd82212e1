//! XML rendering of responses for the query protocol: the JSON shape of a result, written with the
//! element names of SQS's query model (flattened lists and maps).

use serde_json::{Map, Value};

/// The XML namespace of SQS responses.
pub const NAMESPACE: &str = "http://queue.amazonaws.com/doc/2012-11-05/";

/// Appends `text` escaped for element content or attribute values.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A literal CR would be normalised to LF by the client's XML parser.
            '\r' => out.push_str("&#xD;"),
            c => out.push(c),
        }
    }
}

fn element(out: &mut String, name: &str, text: &str) {
    out.push('<');
    out.push_str(name);
    out.push('>');
    escape_into(out, text);
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

/// Element name of one item of a flattened list member, given the member and the action.
fn list_item_name(member: &str, action: &str) -> String {
    match member {
        "QueueUrls" | "queueUrls" => "QueueUrl".to_owned(),
        "Messages" => "Message".to_owned(),
        "Failed" => "BatchResultErrorEntry".to_owned(),
        "Successful" => format!("{action}ResultEntry"),
        "Results" => "ListMessageMoveTasksResultEntry".to_owned(),
        "StringListValues" => "StringListValue".to_owned(),
        "BinaryListValues" => "BinaryListValue".to_owned(),
        other => other.to_owned(),
    }
}

/// Element names of a flattened map member: (entry, key, value).
fn map_names(member: &str) -> Option<(&'static str, &'static str, &'static str)> {
    match member {
        "Attributes" => Some(("Attribute", "Name", "Value")),
        "MessageAttributes" => Some(("MessageAttribute", "Name", "Value")),
        "Tags" => Some(("Tag", "Key", "Value")),
        _ => None,
    }
}

/// Writes the members of a result structure.
pub fn write_struct(out: &mut String, fields: &Map<String, Value>, action: &str) {
    for (name, value) in fields {
        write_member(out, name, value, action);
    }
}

fn write_member(out: &mut String, name: &str, value: &Value, action: &str) {
    match value {
        Value::Null => {}
        Value::Array(items) => {
            let item_name = list_item_name(name, action);
            for item in items {
                write_value(out, &item_name, item, action);
            }
        }
        Value::Object(map) => match map_names(name) {
            Some((entry, key_name, value_name)) => {
                for (key, item) in map {
                    out.push('<');
                    out.push_str(entry);
                    out.push('>');
                    element(out, key_name, key);
                    write_value(out, value_name, item, action);
                    out.push_str("</");
                    out.push_str(entry);
                    out.push('>');
                }
            }
            None => write_value(out, name, value, action),
        },
        scalar => write_value(out, name, scalar, action),
    }
}

fn write_value(out: &mut String, name: &str, value: &Value, action: &str) {
    match value {
        Value::Null => {}
        Value::String(text) => element(out, name, text),
        Value::Bool(b) => element(out, name, if *b { "true" } else { "false" }),
        Value::Number(n) => element(out, name, &n.to_string()),
        Value::Object(fields) => {
            out.push('<');
            out.push_str(name);
            out.push('>');
            write_struct(out, fields, action);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        }
        Value::Array(_) => write_member(out, name, value, action),
    }
}

/// A whole successful response: `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>…`.
pub fn response(action: &str, result: Option<&Map<String, Value>>, request_id: &str) -> String {
    let mut out = String::with_capacity(512);
    out.push_str("<?xml version=\"1.0\"?>");
    out.push_str(&format!("<{action}Response xmlns=\"{NAMESPACE}\">"));
    if let Some(fields) = result {
        out.push_str(&format!("<{action}Result>"));
        write_struct(&mut out, fields, action);
        out.push_str(&format!("</{action}Result>"));
    }
    out.push_str("<ResponseMetadata>");
    element(&mut out, "RequestId", request_id);
    out.push_str("</ResponseMetadata>");
    out.push_str(&format!("</{action}Response>"));
    out
}

/// An error response: `<ErrorResponse><Error><Type/><Code/><Message/><Detail/></Error><RequestId/>`.
pub fn error(kind: &str, code: &str, message: &str, request_id: &str) -> String {
    let mut out = String::with_capacity(256);
    out.push_str("<?xml version=\"1.0\"?>");
    out.push_str(&format!("<ErrorResponse xmlns=\"{NAMESPACE}\"><Error>"));
    element(&mut out, "Type", kind);
    element(&mut out, "Code", code);
    element(&mut out, "Message", message);
    out.push_str("<Detail/></Error>");
    element(&mut out, "RequestId", request_id);
    out.push_str("</ErrorResponse>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(action: &str, v: Value) -> String {
        let Value::Object(map) = v else { panic!("object") };
        response(action, Some(&map), "rid")
    }

    #[test]
    fn receive_renders_flattened_messages_attributes_and_message_attributes() {
        let xml = render(
            "ReceiveMessage",
            json!({"Messages": [{
                "MessageId": "m1",
                "Body": "a<b & \r",
                "Attributes": {"SentTimestamp": "1"},
                "MessageAttributes": {"k": {"StringValue": "v", "DataType": "String"}},
            }]}),
        );
        assert!(xml.contains("<ReceiveMessageResult><Message>"));
        assert!(xml.contains("<MessageId>m1</MessageId>"));
        assert!(xml.contains("<Body>a&lt;b &amp; &#xD;</Body>"));
        assert!(xml.contains("<Attribute><Name>SentTimestamp</Name><Value>1</Value></Attribute>"));
        // serde_json keeps object members sorted; XML readers look members up by name.
        assert!(xml.contains("<MessageAttribute><Name>k</Name><Value><DataType>String</DataType><StringValue>v</StringValue></Value></MessageAttribute>"));
        assert!(xml.ends_with(
            "<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></ReceiveMessageResponse>"
        ));
    }

    #[test]
    fn batch_results_use_action_specific_entry_names() {
        let xml = render(
            "DeleteMessageBatch",
            json!({"Successful": [{"Id": "a"}], "Failed": [{"Id": "b", "SenderFault": true, "Code": "ReceiptHandleIsInvalid"}]}),
        );
        assert!(xml.contains("<DeleteMessageBatchResultEntry><Id>a</Id></DeleteMessageBatchResultEntry>"));
        assert!(xml.contains("<BatchResultErrorEntry><Code>ReceiptHandleIsInvalid</Code><Id>b</Id><SenderFault>true</SenderFault></BatchResultErrorEntry>"));
    }

    #[test]
    fn list_queues_renders_one_queue_url_element_per_queue() {
        let xml = render("ListQueues", json!({"QueueUrls": ["u1", "u2"]}));
        assert!(
            xml.contains(
                "<ListQueuesResult><QueueUrl>u1</QueueUrl><QueueUrl>u2</QueueUrl></ListQueuesResult>"
            )
        );
    }

    #[test]
    fn action_without_result_has_only_metadata() {
        let xml = response("DeleteQueue", None, "r");
        assert_eq!(
            xml,
            format!(
                "<?xml version=\"1.0\"?><DeleteQueueResponse xmlns=\"{NAMESPACE}\"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteQueueResponse>"
            )
        );
    }

    #[test]
    fn error_response_has_type_code_message() {
        let xml = error("Sender", "AWS.SimpleQueueService.NonExistentQueue", "gone", "r");
        assert!(xml.contains("<Error><Type>Sender</Type><Code>AWS.SimpleQueueService.NonExistentQueue</Code><Message>gone</Message><Detail/></Error><RequestId>r</RequestId></ErrorResponse>"));
    }
}
