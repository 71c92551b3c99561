//! Reading a ListObjectVersions response body ourselves, in document order.
//!
//! The SDK parses `<Version>` and `<DeleteMarker>` into two separate lists and so loses
//! their interleaving, which on S3 and radosgw *is* the list order (the only order that
//! is right when timestamps disagree with it). The adapter keeps the SDK for signing,
//! retries and errors, captures the raw body of a successful response, and reads it here
//! with `roxmltree`. Keys, markers and prefixes are returned exactly as sent (still
//! URL-encoded when the server encoded them); the caller decides how to decode.

use chrono::{DateTime, Utc};
use s3rewind_engine::{ETag, Entry, OwnerId, StorageClass, Version, VersionId};

pub use crate::bucket::wire::Listing;

/// Parse a ListObjectVersions body (a `ListVersionsResult` document).
pub fn parse(body: &[u8]) -> Result<Listing, String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("body is not UTF-8: {e}"))?;
    let doc = roxmltree::Document::parse(text).map_err(|e| format!("body is not XML: {e}"))?;
    let root = doc.root_element();
    if root.tag_name().name() != "ListVersionsResult" {
        return Err(format!(
            "unexpected XML root <{}> (expected <ListVersionsResult>)",
            root.tag_name().name()
        ));
    }
    let mut out = Listing::default();
    for node in root.children().filter(|n| n.is_element()) {
        match node.tag_name().name() {
            "Version" => out.document.push(entry(node, false)?),
            "DeleteMarker" => out.document.push(entry(node, true)?),
            "CommonPrefixes" => {
                if let Some(p) = child_text(node, "Prefix") {
                    out.common_prefixes.push(p);
                }
            }
            "EncodingType" => out.encoded = text_of(node).eq_ignore_ascii_case("url"),
            "IsTruncated" => out.truncated = text_of(node).trim() == "true",
            "NextKeyMarker" => out.next_key_marker = Some(text_of(node)).filter(|s| !s.is_empty()),
            "NextVersionIdMarker" => {
                out.next_version_id_marker = Some(text_of(node)).filter(|s| !s.is_empty())
            }
            _ => {}
        }
    }
    Ok(out)
}

fn text_of(node: roxmltree::Node<'_, '_>) -> String {
    // Text and CDATA children concatenated; entities are already resolved by roxmltree.
    node.children()
        .filter(|c| c.is_text())
        .filter_map(|c| c.text())
        .collect()
}

fn child<'a, 'i>(node: roxmltree::Node<'a, 'i>, name: &str) -> Option<roxmltree::Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    child(node, name).map(text_of)
}

fn entry(node: roxmltree::Node<'_, '_>, delete_marker: bool) -> Result<Entry, String> {
    let key = child_text(node, "Key").ok_or("an entry without <Key>")?;
    let last_modified = child_text(node, "LastModified")
        .ok_or_else(|| format!("entry of key {key:?} without <LastModified>"))?;
    let last_modified = DateTime::parse_from_rfc3339(last_modified.trim())
        .map_err(|e| format!("entry of key {key:?}: bad LastModified {last_modified:?}: {e}"))?
        .with_timezone(&Utc);
    let version_id = child_text(node, "VersionId")
        .filter(|v| !v.is_empty())
        .map_or(VersionId::NULL, VersionId::from);
    let owner_id = child(node, "Owner")
        .and_then(|o| child_text(o, "ID"))
        .filter(|s| !s.is_empty())
        .map(OwnerId::from);
    let is_latest = child_text(node, "IsLatest").is_some_and(|s| s.trim() == "true");
    let version = if delete_marker {
        Version {
            version_id,
            last_modified,
            delete_marker: true,
            etag: Default::default(),
            size: 0,
            storage_class: None,
            owner_id,
            is_latest,
        }
    } else {
        Version {
            version_id,
            last_modified,
            delete_marker: false,
            etag: ETag::new(
                child_text(node, "ETag")
                    .unwrap_or_default()
                    .trim_matches('"'),
            ),
            size: child_text(node, "Size")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0),
            storage_class: Some(
                child_text(node, "StorageClass")
                    .filter(|s| !s.is_empty())
                    .map_or_else(StorageClass::standard, StorageClass::from),
            ),
            owner_id,
            is_latest,
        }
    };
    Ok(Entry { key, version })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RADOSGW: &str = r#"<?xml version="1.0" encoding="UTF-8"?><ListVersionsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix></Prefix><KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker><NextKeyMarker>d+e%39 f</NextKeyMarker><NextVersionIdMarker>x2</NextVersionIdMarker><MaxKeys>4</MaxKeys><IsTruncated>true</IsTruncated><EncodingType>url</EncodingType><Version><Key>a</Key><VersionId>a2</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-29T22:20:01.123Z</LastModified><ETag>&quot;e2&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass><Owner><ID>test</ID><DisplayName>test</DisplayName></Owner></Version><DeleteMarker><Key>a</Key><VersionId>ad</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-29T22:20:01.200Z</LastModified><Owner><ID>test</ID></Owner></DeleteMarker><Version><Key>a</Key><VersionId>null</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-29T22:20:00.000Z</LastModified><ETag>"e1"</ETag><Size>7</Size><StorageClass>GLACIER</StorageClass></Version><Version><Key>d%2Be%2539%20f</Key><VersionId>x2</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-29T22:20:02.000Z</LastModified><ETag>"e3"</ETag><Size>2</Size></Version></ListVersionsResult>"#;

    #[test]
    fn keeps_document_order_and_raw_fields() {
        let l = parse(RADOSGW.as_bytes()).unwrap();
        let order: Vec<(&str, String, bool)> = l
            .document
            .iter()
            .map(|e| {
                (
                    e.key.as_str(),
                    e.version.version_id.to_string(),
                    e.version.delete_marker,
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("a", "a2", false),
                ("a", "ad", true),
                ("a", "null", false),
                ("d%2Be%2539%20f", "x2", false),
            ]
            .map(|(k, v, d)| (k, v.to_owned(), d))
        );
        assert!(l.encoded && l.truncated);
        assert_eq!(l.next_key_marker.as_deref(), Some("d+e%39 f"));
        assert_eq!(l.next_version_id_marker.as_deref(), Some("x2"));
        let a2 = &l.document[0].version;
        assert!(a2.is_latest);
        assert_eq!(a2.etag, "e2");
        assert_eq!(a2.owner_id.as_deref(), Some("test"));
        assert_eq!(a2.last_modified.timestamp_subsec_millis(), 123);
        assert_eq!(l.document[2].version.size, 7);
        assert_eq!(
            l.document[2]
                .version
                .storage_class
                .as_ref()
                .unwrap()
                .as_str(),
            "GLACIER"
        );
        assert!(l.document[1].version.storage_class.is_none());
    }

    #[test]
    fn common_prefixes_and_missing_markers() {
        let body = r#"<ListVersionsResult><IsTruncated>false</IsTruncated><NextKeyMarker></NextKeyMarker><CommonPrefixes><Prefix>dir/</Prefix></CommonPrefixes><CommonPrefixes><Prefix>e%20f/</Prefix></CommonPrefixes></ListVersionsResult>"#;
        let l = parse(body.as_bytes()).unwrap();
        assert_eq!(l.common_prefixes, ["dir/", "e%20f/"]);
        assert!(!l.truncated && !l.encoded);
        assert_eq!(l.next_key_marker, None);
        assert!(l.document.is_empty());
    }

    #[test]
    fn rejects_other_documents() {
        assert!(parse(b"<Error><Code>X</Code></Error>").is_err());
        assert!(parse(b"not xml").is_err());
        let no_time = r#"<ListVersionsResult><Version><Key>a</Key></Version></ListVersionsResult>"#;
        assert!(
            parse(no_time.as_bytes())
                .unwrap_err()
                .contains("LastModified")
        );
    }
}
