//! Reading SNS's form parameters: plain ones, lists (`Name.member.N`), maps
//! (`Name.entry.N.key` / `.value`, message attributes `Name.entry.N.Name` /
//! `.Value.DataType` / `.Value.StringValue` / `.Value.BinaryValue`), and structures of a list
//! (`PublishBatchRequestEntries.member.N.Field`).

use std::collections::BTreeMap;

use base64::Engine;

use super::{SnsError, SnsResult};

/// Most members read from one list or map: more than any SNS request may carry.
const MAX_MEMBERS: usize = 1_000;

/// The parameters of one request (a later duplicate of a name wins, as in SNS).
#[derive(Clone, Debug, Default)]
pub(crate) struct Params {
    values: BTreeMap<String, String>,
}

/// A message attribute as published.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attribute {
    pub(crate) name: String,
    /// `String`, `String.Array`, `Number` or `Binary`, with an optional `.custom` suffix.
    pub(crate) data_type: String,
    pub(crate) value: AttributeValue,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AttributeValue {
    Text(String),
    Binary(Vec<u8>),
}

impl Params {
    pub(crate) fn new(pairs: Vec<(String, String)>) -> Params {
        Params { values: pairs.into_iter().collect() }
    }

    /// The parameters under `prefix.` (for one entry of a batch).
    pub(crate) fn nested(&self, prefix: &str) -> Params {
        let dotted = format!("{prefix}.");
        Params {
            values: self
                .values
                .range(dotted.clone()..)
                .take_while(|(k, _)| k.starts_with(&dotted))
                .map(|(k, v)| (k[dotted.len()..].to_owned(), v.clone()))
                .collect(),
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required parameter, present and not empty.
    pub(crate) fn required(&self, name: &str) -> SnsResult<&str> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(SnsError::invalid(format!("Invalid parameter: {name}"))),
        }
    }

    /// The indexes `N` present under `prefix.` (`prefix.N…`), in numeric order.
    fn indexes(&self, prefix: &str) -> SnsResult<Vec<u32>> {
        let dotted = format!("{prefix}.");
        let mut found: Vec<u32> = self
            .values
            .range(dotted.clone()..)
            .take_while(|(k, _)| k.starts_with(&dotted))
            .filter_map(|(k, _)| k[dotted.len()..].split('.').next()?.parse().ok())
            .collect();
        found.sort_unstable();
        found.dedup();
        if found.len() > MAX_MEMBERS {
            return Err(SnsError::invalid(format!("Invalid parameter: {prefix} has too many members")));
        }
        Ok(found)
    }

    /// `Name.member.N` values.
    pub(crate) fn list(&self, name: &str) -> SnsResult<Vec<String>> {
        let prefix = format!("{name}.member");
        Ok(self
            .indexes(&prefix)?
            .into_iter()
            .filter_map(|i| self.get(&format!("{prefix}.{i}")).map(str::to_owned))
            .collect())
    }

    /// The prefixes `Name.member.N` of a list of structures.
    pub(crate) fn members(&self, name: &str) -> SnsResult<Vec<String>> {
        let prefix = format!("{name}.member");
        Ok(self.indexes(&prefix)?.into_iter().map(|i| format!("{prefix}.{i}")).collect())
    }

    /// A map `Name.entry.N.key` / `Name.entry.N.value`.
    pub(crate) fn map(&self, name: &str) -> SnsResult<BTreeMap<String, String>> {
        let prefix = format!("{name}.entry");
        let mut out = BTreeMap::new();
        for i in self.indexes(&prefix)? {
            let key = self.get(&format!("{prefix}.{i}.key")).ok_or_else(|| {
                SnsError::invalid(format!("Invalid parameter: {name}: an entry has no key"))
            })?;
            let value = self.get(&format!("{prefix}.{i}.value")).unwrap_or_default();
            out.insert(key.to_owned(), value.to_owned());
        }
        Ok(out)
    }

    /// Tags: `Tags.member.N.Key` / `.Value`, in order.
    pub(crate) fn tags(&self, name: &str) -> SnsResult<Vec<(String, String)>> {
        let mut out = Vec::new();
        for member in self.members(name)? {
            let key = self
                .get(&format!("{member}.Key"))
                .ok_or_else(|| SnsError::invalid("Invalid parameter: Tags: a tag has no Key"))?;
            let value = self.get(&format!("{member}.Value")).unwrap_or_default();
            out.push((key.to_owned(), value.to_owned()));
        }
        Ok(out)
    }

    /// Message attributes, checked as SNS checks them (`ParameterValueInvalid` otherwise).
    pub(crate) fn message_attributes(&self, name: &str) -> SnsResult<Vec<Attribute>> {
        let prefix = format!("{name}.entry");
        let mut out: Vec<Attribute> = Vec::new();
        for i in self.indexes(&prefix)? {
            let entry = format!("{prefix}.{i}");
            let attr_name = self.get(&format!("{entry}.Name")).unwrap_or_default();
            let bad = |reason: &str| {
                SnsError::invalid_value(format!("The message attribute '{attr_name}' {reason}."))
            };
            if attr_name.is_empty() || attr_name.len() > 256 {
                return Err(SnsError::invalid_value(
                    "A message attribute name must have 1 to 256 characters.",
                ));
            }
            if attr_name.starts_with('.')
                || attr_name.ends_with('.')
                || attr_name.contains("..")
                || !attr_name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(bad("has an invalid name: use letters, digits, '-', '_' and '.'"));
            }
            if out.iter().any(|a| a.name == attr_name) {
                return Err(bad("is given more than once"));
            }
            let data_type = self.get(&format!("{entry}.Value.DataType")).unwrap_or_default();
            let base = data_type.split('.').next().unwrap_or_default();
            let string = self.get(&format!("{entry}.Value.StringValue"));
            let binary = self.get(&format!("{entry}.Value.BinaryValue"));
            let value = match (base, string, binary) {
                ("String", Some(s), None) if !s.is_empty() => {
                    if data_type.starts_with("String.Array") && !is_json_array(s) {
                        return Err(bad(
                            "must have a String.Array value: a JSON array of strings, numbers, true, false or null",
                        ));
                    }
                    AttributeValue::Text(s.to_owned())
                }
                ("Number", Some(s), None) => {
                    if s.trim().parse::<f64>().map_or(true, |n| !n.is_finite()) {
                        return Err(bad("must have a numeric value"));
                    }
                    AttributeValue::Text(s.to_owned())
                }
                ("Binary", None, Some(b)) => match base64::engine::general_purpose::STANDARD.decode(b) {
                    Ok(bytes) if !bytes.is_empty() => AttributeValue::Binary(bytes),
                    _ => return Err(bad("must have a base64-encoded binary value")),
                },
                ("String" | "Number" | "Binary", _, _) => {
                    return Err(bad(&format!(
                        "must have a value that is valid for its data type {data_type}"
                    )));
                }
                _ => return Err(bad("must have a data type of String, String.Array, Number or Binary")),
            };
            out.push(Attribute { name: attr_name.to_owned(), data_type: data_type.to_owned(), value });
        }
        Ok(out)
    }
}

fn is_json_array(text: &str) -> bool {
    match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Array(items)) => items.iter().all(|i| !i.is_array() && !i.is_object()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn lists_maps_and_tags_read_in_numeric_order() {
        let p = params(&[
            ("TagKeys.member.10", "j"),
            ("TagKeys.member.2", "b"),
            ("Attributes.entry.1.key", "DisplayName"),
            ("Attributes.entry.1.value", "d"),
            ("Tags.member.1.Key", "k"),
            ("Tags.member.1.Value", "v"),
        ]);
        assert_eq!(p.list("TagKeys").unwrap(), ["b", "j"]);
        assert_eq!(p.map("Attributes").unwrap().get("DisplayName").map(String::as_str), Some("d"));
        assert_eq!(p.tags("Tags").unwrap(), [("k".to_owned(), "v".to_owned())]);
    }

    #[test]
    fn message_attributes_are_checked_by_type() {
        let p = params(&[
            ("MessageAttributes.entry.1.Name", "n"),
            ("MessageAttributes.entry.1.Value.DataType", "Number"),
            ("MessageAttributes.entry.1.Value.StringValue", "12.5"),
            ("MessageAttributes.entry.2.Name", "b"),
            ("MessageAttributes.entry.2.Value.DataType", "Binary"),
            ("MessageAttributes.entry.2.Value.BinaryValue", "AAE="),
        ]);
        let attrs = p.message_attributes("MessageAttributes").unwrap();
        assert_eq!(attrs[1].value, AttributeValue::Binary(vec![0, 1]));
        let bad = params(&[
            ("MessageAttributes.entry.1.Name", "n"),
            ("MessageAttributes.entry.1.Value.DataType", "Number"),
            ("MessageAttributes.entry.1.Value.StringValue", "twelve"),
        ]);
        assert_eq!(bad.message_attributes("MessageAttributes").unwrap_err().code, "ParameterValueInvalid");
    }

    #[test]
    fn nested_params_of_a_batch_entry() {
        let p = params(&[("E.member.1.Id", "a"), ("E.member.1.Message", "m"), ("E.member.2.Id", "b")]);
        let members = p.members("E").unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(p.nested(&members[0]).get("Message"), Some("m"));
        assert_eq!(p.nested(&members[1]).get("Message"), None);
    }
}
