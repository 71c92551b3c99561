//! Where: a bucket and prefix ([`Location`], parsed from `s3://BUCKET[/PREFIX]` by
//! [`parse_s3_uri`]), where restored objects go ([`Destination`]), and the key a source
//! key is restored to ([`destination_key`]).

use crate::error::UriError;
use serde::{Deserialize, Serialize};

/// A bucket and a key prefix (possibly empty).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The bucket name.
    pub bucket: String,
    /// The key prefix; a byte prefix, so `logs` also matches `logs-old/x`.
    #[serde(default)]
    pub prefix: String,
}

impl Location {
    /// The whole of `bucket` (no prefix).
    pub fn whole(bucket: &str) -> Location {
        Location {
            bucket: bucket.to_owned(),
            prefix: String::new(),
        }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Where restored objects go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Destination {
    /// Back into the source bucket, under the source prefix.
    InPlace,
    /// Into another bucket and/or prefix.
    Bucket {
        /// The destination bucket and prefix.
        #[serde(flatten)]
        location: Location,
    },
    /// Into a local directory (keys below the source prefix become relative paths).
    Directory {
        /// The directory.
        path: String,
    },
}

/// Map a source key (under `source_prefix`) to its destination key.
pub fn destination_key(source_prefix: &str, destination: &Destination, key: &str) -> String {
    match destination {
        Destination::InPlace => key.to_owned(),
        Destination::Bucket { location } => {
            let rest = key.strip_prefix(source_prefix).unwrap_or(key);
            format!("{}{}", location.prefix, rest)
        }
        Destination::Directory { .. } => crate::paths::relative_key(source_prefix, key)
            .unwrap_or(key)
            .to_owned(),
    }
}

/// Parse `s3://BUCKET`, `s3://BUCKET/` or `s3://BUCKET/PREFIX`.
///
/// The prefix is kept byte for byte (it is a byte prefix of keys, so `s3://b/logs`
/// matches `logs/…` and `logs-old/…`; write `s3://b/logs/` for the folder only).
/// Bucket names are checked loosely (letters, digits, `.`, `-`, `_`; 3 to 255
/// characters) so that legacy and S3-compatible names still work.
pub fn parse_s3_uri(input: &str) -> Result<Location, UriError> {
    let rest = input
        .strip_prefix("s3://")
        .ok_or_else(|| UriError::Syntax {
            input: input.to_owned(),
        })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(UriError::Syntax {
            input: input.to_owned(),
        });
    }
    let valid = (3..=255).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        && bucket.as_bytes()[0].is_ascii_alphanumeric();
    if !valid {
        return Err(UriError::BucketName {
            input: input.to_owned(),
            bucket: bucket.to_owned(),
        });
    }
    Ok(Location {
        bucket: bucket.to_owned(),
        prefix: prefix.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let l = parse_s3_uri("s3://my-bucket/logs/2026 +x").unwrap();
        assert_eq!(
            (l.bucket.as_str(), l.prefix.as_str()),
            ("my-bucket", "logs/2026 +x")
        );
        assert_eq!(parse_s3_uri("s3://my-bucket/").unwrap().prefix, "");
        assert_eq!(parse_s3_uri("s3://my-bucket").unwrap().prefix, "");
    }

    #[test]
    fn rejects_bad_locations() {
        for bad in ["my-bucket", "s3://", "s3:///x", "http://b/x", "S3://bucket"] {
            assert!(
                matches!(parse_s3_uri(bad), Err(UriError::Syntax { .. })),
                "{bad}"
            );
        }
        for bad in ["s3://a", "s3://bad bucket/x", "s3://-x-/", "s3://b!x"] {
            assert!(
                matches!(parse_s3_uri(bad), Err(UriError::BucketName { .. })),
                "{bad}"
            );
        }
    }
}
