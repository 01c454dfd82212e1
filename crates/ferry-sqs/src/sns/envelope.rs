//! The notification SNS delivers into a queue unless raw delivery is on: a JSON document with
//! the message and its metadata, in SNS's member order.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// One message attribute as the envelope shows it: its type and its value as text (binary
/// values in base64).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct EnvelopeAttribute {
    #[serde(rename = "Type")]
    pub(crate) kind: String,
    #[serde(rename = "Value")]
    pub(crate) value: String,
}

/// The `Notification` document.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Notification<'a> {
    #[serde(rename = "Type")]
    pub(crate) kind: &'static str,
    pub(crate) message_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sequence_number: Option<&'a str>,
    pub(crate) topic_arn: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subject: Option<&'a str>,
    pub(crate) message: &'a str,
    pub(crate) timestamp: &'a str,
    pub(crate) signature_version: &'static str,
    pub(crate) signature: String,
    #[serde(rename = "SigningCertURL")]
    pub(crate) signing_cert_url: String,
    #[serde(rename = "UnsubscribeURL")]
    pub(crate) unsubscribe_url: String,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) message_attributes: &'a BTreeMap<String, EnvelopeAttribute>,
}

/// What every subscription's envelope of one message shares.
pub(crate) struct Common<'a> {
    pub(crate) message_id: &'a str,
    pub(crate) sequence_number: Option<&'a str>,
    pub(crate) topic_arn: &'a str,
    pub(crate) subject: Option<&'a str>,
    pub(crate) message: &'a str,
    pub(crate) timestamp: &'a str,
    pub(crate) attributes: &'a BTreeMap<String, EnvelopeAttribute>,
    pub(crate) region: &'a str,
    /// `host[:port]` of this listener, for the unsubscribe URL.
    pub(crate) host: &'a str,
}

/// The envelope for one subscription. Its signature has the form of SNS's (base64 of 256
/// bytes) but is a digest of the message, not an RSA signature: nothing can verify it.
pub(crate) fn render(common: &Common<'_>, subscription_arn: &str) -> String {
    let mut digest = Sha256::new();
    for part in [common.message_id, common.topic_arn, common.message, common.timestamp] {
        digest.update(part.as_bytes());
        digest.update([0]);
    }
    let block = digest.finalize();
    let signature_bytes: Vec<u8> = block.iter().copied().cycle().take(256).collect();
    let notification = Notification {
        kind: "Notification",
        message_id: common.message_id,
        sequence_number: common.sequence_number,
        topic_arn: common.topic_arn,
        subject: common.subject,
        message: common.message,
        timestamp: common.timestamp,
        signature_version: "1",
        signature: base64::engine::general_purpose::STANDARD.encode(signature_bytes),
        signing_cert_url: format!(
            "https://sns.{}.amazonaws.com/SimpleNotificationService-ferry.pem",
            common.region
        ),
        unsubscribe_url: format!(
            "http://{}/?Action=Unsubscribe&SubscriptionArn={subscription_arn}",
            common.host
        ),
        message_attributes: common.attributes,
    };
    serde_json::to_string(&notification).unwrap_or_default()
}

/// Now in ISO 8601 with milliseconds, UTC: `2024-01-02T03:04:05.678Z`.
pub(crate) fn timestamp_now() -> String {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    iso8601_ms(ms)
}

/// `ms` since the epoch in ISO 8601 with milliseconds, UTC.
pub(crate) fn iso8601_ms(ms: i64) -> String {
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1_000 % 60,
        rem % 1_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_iso8601_with_milliseconds() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn the_envelope_keeps_sns_member_order_and_omits_what_is_absent() {
        let attributes = BTreeMap::new();
        let common = Common {
            message_id: "m",
            sequence_number: None,
            topic_arn: "arn:aws:sns:us-east-1:0:t",
            subject: None,
            message: "hi",
            timestamp: "2024-01-01T00:00:00.000Z",
            attributes: &attributes,
            region: "us-east-1",
            host: "localhost:9324",
        };
        let text = render(&common, "arn:aws:sns:us-east-1:0:t:s");
        assert!(text.starts_with(r#"{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:0:t","Message":"hi","Timestamp""#), "{text}");
        assert!(
            !text.contains("Subject")
                && !text.contains("MessageAttributes")
                && !text.contains("SequenceNumber")
        );
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(json["Signature"].as_str().unwrap().len(), 344);
        assert_eq!(
            json["UnsubscribeURL"],
            "http://localhost:9324/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:0:t:s"
        );
    }
}
