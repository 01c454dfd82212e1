//! STS `GetCallerIdentity` on the SQS endpoint, which SDK tooling and test fixtures call first to
//! learn whom their credentials belong to. ferry has no IAM yet: the caller is the access key
//! that signed the request, a user of the configured account (`UserId` is the access key id,
//! `Arn` is `arn:aws:iam::<account_id>:user/<access key id>`).
//!
//! SDKs send it as the query protocol (`Action=GetCallerIdentity&Version=2011-06-15`, an XML
//! answer); a JSON request (`X-Amz-Target: AWSSecurityTokenServiceV20110615.GetCallerIdentity`)
//! is answered in JSON.

use serde_json::json;

use crate::protocol::query::parse_form;
use crate::protocol::xml::escape_into;
use crate::protocol::{Protocol, Rendered, XML_CONTENT_TYPE};

/// The query-protocol action.
pub const ACTION: &str = "GetCallerIdentity";
/// The JSON target.
pub const TARGET: &str = "AWSSecurityTokenServiceV20110615.GetCallerIdentity";
/// The XML namespace of STS responses.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// The content type of STS's JSON answers.
const JSON_CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// Whom a request's credentials name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The configured account id.
    pub account: String,
    /// `arn:aws:iam::<account>:user/<access key id>`.
    pub arn: String,
    /// The access key id.
    pub user_id: String,
}

/// The access key id of a request: the `Credential=` of a SigV4 `Authorization` header, else an
/// `X-Amz-Credential` (presigned) or `AWSAccessKeyId` (SigV2) parameter.
pub fn access_key(authorization: Option<&str>, query_string: Option<&str>, body: &[u8]) -> Option<String> {
    if let Some(credential) = authorization.and_then(|a| a.split_once("Credential=")).map(|(_, rest)| rest) {
        return key_of_credential(credential);
    }
    let mut pairs = parse_form(query_string.unwrap_or("").as_bytes()).unwrap_or_default();
    pairs.extend(parse_form(body).unwrap_or_default());
    pairs.into_iter().find_map(|(name, value)| match name.as_str() {
        "X-Amz-Credential" => key_of_credential(&value),
        "AWSAccessKeyId" if !value.is_empty() => Some(value),
        _ => None,
    })
}

/// The key id of a SigV4 credential scope, `<key id>/<date>/<region>/<service>/aws4_request`.
fn key_of_credential(credential: &str) -> Option<String> {
    let key = credential.split(['/', ',', ' ']).next()?;
    (!key.is_empty()).then(|| key.to_owned())
}

/// The identity of `access_key` in `account_id`.
pub fn identity(account_id: &str, access_key: &str) -> Identity {
    Identity {
        account: account_id.to_owned(),
        arn: format!("arn:aws:iam::{account_id}:user/{access_key}"),
        user_id: access_key.to_owned(),
    }
}

/// The answer to GetCallerIdentity; `None` (no credentials) is STS's `MissingAuthenticationToken`.
pub fn render(protocol: Protocol, identity: Option<&Identity>, request_id: &str) -> Rendered {
    let message = "Request is missing Authentication Token";
    match (protocol, identity) {
        (Protocol::Json, Some(id)) => Rendered {
            status: 200,
            content_type: JSON_CONTENT_TYPE,
            query_error: None,
            body: json!({"Account": id.account, "Arn": id.arn, "UserId": id.user_id})
                .to_string()
                .into_bytes(),
        },
        (Protocol::Json, None) => Rendered {
            status: 403,
            content_type: JSON_CONTENT_TYPE,
            query_error: Some("MissingAuthenticationToken;Sender".to_owned()),
            body: json!({"__type": "MissingAuthenticationToken", "message": message})
                .to_string()
                .into_bytes(),
        },
        (Protocol::Query, Some(id)) => {
            let mut out = format!(
                "<?xml version=\"1.0\"?><GetCallerIdentityResponse xmlns=\"{NAMESPACE}\"><GetCallerIdentityResult>"
            );
            for (name, value) in [("Arn", &id.arn), ("UserId", &id.user_id), ("Account", &id.account)] {
                out.push_str(&format!("<{name}>"));
                escape_into(&mut out, value);
                out.push_str(&format!("</{name}>"));
            }
            out.push_str("</GetCallerIdentityResult><ResponseMetadata><RequestId>");
            escape_into(&mut out, request_id);
            out.push_str("</RequestId></ResponseMetadata></GetCallerIdentityResponse>");
            Rendered {
                status: 200,
                content_type: XML_CONTENT_TYPE,
                query_error: None,
                body: out.into_bytes(),
            }
        }
        (Protocol::Query, None) => {
            let mut out = format!(
                "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>Sender</Type>\
                 <Code>MissingAuthenticationToken</Code><Message>{message}</Message></Error><RequestId>"
            );
            escape_into(&mut out, request_id);
            out.push_str("</RequestId></ErrorResponse>");
            Rendered {
                status: 403,
                content_type: XML_CONTENT_TYPE,
                query_error: None,
                body: out.into_bytes(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_access_key_comes_from_the_signature() {
        let header = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20250101/us-east-1/sts/aws4_request, \
                      SignedHeaders=host;x-amz-date, Signature=abc";
        assert_eq!(access_key(Some(header), None, b""), Some("AKIDEXAMPLE".to_owned()));
        let presigned =
            "Action=GetCallerIdentity&X-Amz-Credential=AKIDQ%2F20250101%2Fus-east-1%2Fsts%2Faws4_request";
        assert_eq!(access_key(None, Some(presigned), b""), Some("AKIDQ".to_owned()));
        assert_eq!(
            access_key(None, None, b"Action=GetCallerIdentity&AWSAccessKeyId=V2KEY"),
            Some("V2KEY".to_owned())
        );
        assert_eq!(access_key(None, None, b"Action=GetCallerIdentity"), None);
    }

    #[test]
    fn the_identity_is_a_user_of_the_configured_account() {
        let id = identity("123456789012", "AKIDEXAMPLE");
        assert_eq!(id.arn, "arn:aws:iam::123456789012:user/AKIDEXAMPLE");
        assert_eq!(id.user_id, "AKIDEXAMPLE");
        let xml = String::from_utf8(render(Protocol::Query, Some(&id), "r").body).unwrap();
        assert!(xml.contains("<Account>123456789012</Account>"), "{xml}");
        let refused = render(Protocol::Query, None, "r");
        assert_eq!(refused.status, 403);
    }
}
