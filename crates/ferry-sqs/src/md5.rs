//! The MD5 digests SQS returns and SDKs verify: of the body, of the message attributes and of the
//! message system attributes.
//!
//! The attribute digest covers the attributes sorted by name; each contributes its name and its
//! data type, both length-prefixed (4-byte big-endian), a transport byte (1 = string, 2 = binary)
//! and its length-prefixed value.

use md5::{Digest, Md5};

/// The value of an attribute as the digest sees it.
#[derive(Clone, Copy, Debug)]
pub enum AttrBytes<'a> {
    /// A `String` or `Number` attribute (transport type 1).
    Text(&'a str),
    /// A `Binary` attribute (transport type 2).
    Binary(&'a [u8]),
}

/// Lowercase hex MD5 of a message body, as in `MD5OfMessageBody`/`MD5OfBody`.
pub fn md5_of_body(body: &[u8]) -> String {
    hex::encode(Md5::digest(body))
}

/// Lowercase hex MD5 of message attributes, as in `MD5OfMessageAttributes`; `None` when there are
/// none (SQS then omits the field).
pub fn md5_of_attributes<'a>(
    attributes: impl IntoIterator<Item = (&'a str, &'a str, AttrBytes<'a>)>,
) -> Option<String> {
    let mut sorted: Vec<_> = attributes.into_iter().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut digest = Md5::new();
    for (name, data_type, value) in sorted {
        update_length_prefixed(&mut digest, name.as_bytes());
        update_length_prefixed(&mut digest, data_type.as_bytes());
        match value {
            AttrBytes::Text(text) => {
                digest.update([1u8]);
                update_length_prefixed(&mut digest, text.as_bytes());
            }
            AttrBytes::Binary(bytes) => {
                digest.update([2u8]);
                update_length_prefixed(&mut digest, bytes);
            }
        }
    }
    Some(hex::encode(digest.finalize()))
}

fn update_length_prefixed(digest: &mut Md5, bytes: &[u8]) {
    // Attribute parts are bounded far below 4 GiB by the message size limit.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    digest.update(len.to_be_bytes());
    digest.update(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_digest_is_hex_md5() {
        assert_eq!(md5_of_body(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_of_body(b"hello"), "5d41402abc4b2a76b9719d911017c592");
    }

    #[test]
    fn no_attributes_have_no_digest() {
        assert_eq!(md5_of_attributes([]), None);
    }

    // Digests that public SQS test suites pin as what AWS returns for a Number attribute.
    #[test]
    fn number_attribute_digests_as_on_aws() {
        for (name, value, want) in [
            ("timestamp", "1493147359900", "235c5c510d26fb653d073faed50ae77c"),
            ("timestamp", "1493147359901", "994258b45346a2cc3f9cbb611aa7af30"),
            ("SOME_Valid.attribute-Name", "1493147359900", "36655e7e9d7c0e8479fa3f3f42247ae7"),
        ] {
            let got = md5_of_attributes([(name, "Number", AttrBytes::Text(value))]);
            assert_eq!(got.as_deref(), Some(want), "{name}={value}");
        }
    }

    // Expected values computed by an independent implementation of the SDKs' algorithm.
    #[test]
    fn attributes_are_digested_in_name_order_whatever_the_input_order() {
        let a = md5_of_attributes([
            ("ccc", "String", AttrBytes::Text("testjunk")),
            ("aaa", "Binary", AttrBytes::Binary(&[2, 3, 4])),
            ("zzz", "Number", AttrBytes::Text("0230.01")),
        ]);
        let b = md5_of_attributes([
            ("zzz", "Number", AttrBytes::Text("0230.01")),
            ("aaa", "Binary", AttrBytes::Binary(&[2, 3, 4])),
            ("ccc", "String", AttrBytes::Text("testjunk")),
        ]);
        assert_eq!(a, b);
        assert_eq!(a.as_deref(), Some("9574cdd218ec0162f58a24bdbb81853a"));
    }

    #[test]
    fn string_attribute_digest_differs_from_binary_of_same_bytes() {
        let text = md5_of_attributes([("City", "String", AttrBytes::Text("Any City"))]);
        let binary = md5_of_attributes([("City", "String", AttrBytes::Binary(b"Any City"))]);
        assert_eq!(text.as_deref(), Some("0c32cb5c844c01fbd5b6b434b52cf670"));
        assert_ne!(text, binary);
    }

    #[test]
    fn trace_header_system_attribute_digest_matches_sdk_algorithm() {
        let got = md5_of_attributes([(
            "AWSTraceHeader",
            "String",
            AttrBytes::Text("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"),
        )]);
        assert_eq!(got.as_deref(), Some("5f48eef650c1d0207456969c85af2fdd"));
    }
}
