//! Key encodings on the wire: decoding `EncodingType=url` listings and building the
//! `x-amz-copy-source` header.
//!
//! Both are pure string functions, so they are unit-, property- and fuzz-tested here
//! rather than in the S3 adapter.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use thiserror::Error;

/// Characters left as they are in a copy source: RFC 3986 unreserved, and `/`.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// Characters left as they are in a query value (unreserved only).
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A URL-encoded key from a listing that does not decode to UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("listed key {encoded:?} is not valid URL-encoded UTF-8")]
pub struct DecodeError {
    /// The key as listed.
    pub encoded: String,
}

/// Decode a key (or marker) from a listing made with `EncodingType=url`.
///
/// S3 encodes form-style, like botocore's `unquote_plus`: `+` stands for a space and a
/// literal `+` arrives as `%2B`.
pub fn form_decode(encoded: &str) -> Result<String, DecodeError> {
    let plus_as_space = encoded.replace('+', " ");
    percent_decode_str(&plus_as_space)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| DecodeError {
            encoded: encoded.to_owned(),
        })
}

/// Percent-encode a key for a path or header, keeping `/` and unreserved characters.
pub fn encode_key(key: &str) -> String {
    utf8_percent_encode(key, COPY_SOURCE).to_string()
}

/// The `x-amz-copy-source` value for one version: `bucket/<encoded key>?versionId=<id>`.
///
/// The key is percent-encoded (UTF-8 bytes, keeping unreserved characters and `/`; so a
/// `+` becomes `%2B` and a space `%20`); the version id is encoded once, as a query value,
/// and the `?versionId=` separator itself is not encoded.
pub fn copy_source(bucket: &str, key: &str, version_id: &str) -> String {
    format!(
        "{bucket}/{}?versionId={}",
        encode_key(key),
        utf8_percent_encode(version_id, QUERY_VALUE)
    )
}

/// Decode a `copy_source` built by [`copy_source`] back into its parts (used by tests and
/// the fuzz target to check that encoding loses nothing).
pub fn parse_copy_source(s: &str) -> Option<(String, String, String)> {
    let (path, query) = s.rsplit_once("?versionId=")?;
    let (bucket, key) = path.split_once('/')?;
    let key = percent_decode_str(key).decode_utf8().ok()?.into_owned();
    let vid = percent_decode_str(query).decode_utf8().ok()?.into_owned();
    Some((bucket.to_owned(), key, vid))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn copy_source_encodes_awkward_keys_once() {
        assert_eq!(
            copy_source(
                "b",
                "dir a/ü+&?=%#.txt",
                "3sL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY"
            ),
            "b/dir%20a/%C3%BC%2B%26%3F%3D%25%23.txt?versionId=3sL4kqtJlcpXroDTDmJ%2BrmSpXd3dIbrHY"
        );
        assert_eq!(
            copy_source("b", "plain/key-1_~.x", "null"),
            "b/plain/key-1_~.x?versionId=null"
        );
    }

    #[test]
    fn form_decoding_matches_unquote_plus() {
        assert_eq!(
            form_decode("a+b%2Bc%20d%0D%0A%C3%A9").unwrap(),
            "a b+c d\r\né"
        );
        assert!(form_decode("%FF").is_err());
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        #[test]
        fn copy_source_round_trips(key in "\\PC*", vid in "[A-Za-z0-9._+/=-]{1,40}") {
            let s = copy_source("bucket", &key, &vid);
            prop_assert_eq!(parse_copy_source(&s), Some(("bucket".to_owned(), key.clone(), vid)));
            // Only unreserved characters, '/', '%', and the one '?' separator remain.
            let query_at = s.rfind('?').unwrap();
            prop_assert!(s[..query_at].bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)));
        }

        #[test]
        fn form_decode_inverts_form_encoding(key in "\\PC*") {
            // What S3 sends for EncodingType=url: percent-encoding with space as '+'.
            let encoded: String = utf8_percent_encode(&key, QUERY_VALUE).to_string().replace("%20", "+");
            prop_assert_eq!(form_decode(&encoded).unwrap(), key);
        }
    }
}
