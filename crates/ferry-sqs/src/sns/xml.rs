//! SNS's XML answers: `<{Action}Response><{Action}Result>…</{Action}Result><ResponseMetadata>`
//! and `<ErrorResponse>`, in SNS's namespace.

use std::collections::BTreeMap;

/// The namespace of every SNS answer.
pub(crate) const NAMESPACE: &str = "http://sns.amazonaws.com/doc/2010-03-31/";

/// Escapes text for an element, as the SQS answers do.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    crate::protocol::xml::escape_into(&mut out, text);
    out
}

/// `<name>text</name>`, escaped.
pub(crate) fn el(name: &str, text: &str) -> String {
    format!("<{name}>{}</{name}>", escape(text))
}

/// An attributes map: `<Attributes><entry><key/><value/></entry>…</Attributes>`.
pub(crate) fn attributes(map: &BTreeMap<String, String>) -> String {
    let mut out = String::from("<Attributes>");
    for (k, v) in map {
        out.push_str("<entry>");
        out.push_str(&el("key", k));
        out.push_str(&el("value", v));
        out.push_str("</entry>");
    }
    out.push_str("</Attributes>");
    out
}

/// A whole successful answer; `result` is the inside of the result element, `None` for an
/// action answered with metadata only.
pub(crate) fn response(action: &str, result: Option<&str>, request_id: &str) -> String {
    let mut out = format!("<?xml version=\"1.0\"?><{action}Response xmlns=\"{NAMESPACE}\">");
    if let Some(inner) = result {
        out.push_str(&format!("<{action}Result>{inner}</{action}Result>"));
    }
    out.push_str(&format!(
        "<ResponseMetadata>{}</ResponseMetadata></{action}Response>",
        el("RequestId", request_id)
    ));
    out
}

/// An error answer.
pub(crate) fn error(kind: &str, code: &str, message: &str, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NAMESPACE}\"><Error>{}{}{}</Error>{}</ErrorResponse>",
        el("Type", kind),
        el("Code", code),
        el("Message", message),
        el("RequestId", request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_wrapped_in_action_elements_with_the_namespace() {
        let xml = response("CreateTopic", Some(&el("TopicArn", "arn")), "r");
        assert_eq!(
            xml,
            format!(
                "<?xml version=\"1.0\"?><CreateTopicResponse xmlns=\"{NAMESPACE}\"><CreateTopicResult><TopicArn>arn</TopicArn></CreateTopicResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></CreateTopicResponse>"
            )
        );
        let e = error("Sender", "NotFound", "a<b", "r");
        assert!(e.contains("<Error><Type>Sender</Type><Code>NotFound</Code><Message>a&lt;b</Message></Error><RequestId>r</RequestId>"));
    }
}
