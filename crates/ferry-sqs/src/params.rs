//! Typed access to a request's parameters: serde structs per action, integers that arrive as JSON
//! numbers or as query-protocol text, and SQS's wording for a missing or malformed parameter.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_json::{Map, Value};

use crate::error::{ErrorCode, SqsError, SqsResult};

/// Deserializes an action's request struct from its parameters.
pub fn parse<T: DeserializeOwned>(params: Map<String, Value>) -> SqsResult<T> {
    serde_json::from_value(Value::Object(params)).map_err(|e| {
        SqsError::new(
            ErrorCode::InvalidParameterValue,
            format!("The request has a malformed parameter: {e}."),
        )
    })
}

/// A required parameter, or SQS's `MissingParameter`.
pub fn required<T>(value: Option<T>, name: &str) -> SqsResult<T> {
    value.ok_or_else(|| SqsError::missing(name))
}

/// An integer parameter that is a JSON number or (query protocol) decimal text.
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum IntOrText {
        Int(i64),
        Text(String),
    }
    match Option::<IntOrText>::deserialize(d)? {
        None => Ok(None),
        Some(IntOrText::Int(i)) => Ok(Some(i)),
        Some(IntOrText::Text(t)) => t
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("{t:?} is not an integer"))),
    }
}

/// Checks `value` lies in `min..=max`, with SQS's message for parameters that must.
pub fn in_range(name: &str, value: i64, min: i64, max: i64) -> SqsResult<i64> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(SqsError::invalid_value(name, value, &format!("Must be between {min} and {max}, if provided.")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct Probe {
        #[serde(default, deserialize_with = "opt_int")]
        delay_seconds: Option<i64>,
        queue_url: Option<String>,
    }

    fn probe(v: Value) -> SqsResult<Probe> {
        let Value::Object(map) = v else { panic!() };
        parse(map)
    }

    #[test]
    fn integers_arrive_as_numbers_or_text() {
        assert_eq!(probe(json!({"DelaySeconds": 5})).unwrap().delay_seconds, Some(5));
        assert_eq!(probe(json!({"DelaySeconds": "7"})).unwrap().delay_seconds, Some(7));
        assert_eq!(probe(json!({})).unwrap().delay_seconds, None);
    }

    #[test]
    fn malformed_integer_is_invalid_parameter_value() {
        let err = probe(json!({"DelaySeconds": "soon"})).err().unwrap();
        assert_eq!(err.code, ErrorCode::InvalidParameterValue);
    }

    #[test]
    fn missing_required_parameter_is_named() {
        let p = probe(json!({})).unwrap();
        let err = required(p.queue_url, "QueueUrl").unwrap_err();
        assert_eq!(err.code, ErrorCode::MissingParameter);
        assert!(err.message.contains("QueueUrl"));
    }

    #[test]
    fn range_check_words_the_bounds() {
        let err = in_range("WaitTimeSeconds", 21, 0, 20).unwrap_err();
        assert_eq!(
            err.message,
            "Value 21 for parameter WaitTimeSeconds is invalid. Reason: Must be between 0 and 20, if provided."
        );
        assert_eq!(in_range("WaitTimeSeconds", 20, 0, 20).unwrap(), 20);
    }
}
