//! A ListObjectVersions response as it comes over the wire, and how it is decoded into a
//! [`RawPage`]: the one decoding that both the S3 adapter and the in-memory bucket's
//! server personalities go through, so that every habit a server has with markers and
//! encodings is met by the same code in memory as against a real server.

use super::RawPage;
use s3rewind_engine::Entry;
use s3rewind_engine::keys::form_decode;

/// The error code a bucket gives for a page asked for without URL encoding that XML cannot
/// carry exactly (a key with a control character or a carriage return); the pager then
/// asks for it URL-encoded.
pub const UNREADABLE_RAW: &str = "UnreadableRawPage";

/// One response, in document order, undecoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Listing {
    /// Versions and delete markers in the order the body has them (keys as sent).
    pub document: Vec<Entry>,
    /// Common prefixes as sent, in document order.
    pub common_prefixes: Vec<String>,
    /// `<EncodingType>url</EncodingType>` was in the body.
    pub encoded: bool,
    /// `<IsTruncated>true</IsTruncated>`.
    pub truncated: bool,
    /// `<NextKeyMarker>` as sent (empty counts as absent).
    pub next_key_marker: Option<String>,
    /// `<NextVersionIdMarker>` as sent (empty counts as absent).
    pub next_version_id_marker: Option<String>,
}

/// True when URL-encoding changes `key` (anything but unreserved characters and `/`):
/// a server that sends `<NextKeyMarker>` raw under `EncodingType=url` may compare its
/// encoded keys with such a raw marker (see [`RawPage::marker_raw`]).
pub fn encoding_changes(key: &str) -> bool {
    !key.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/'))
}

/// The next key marker to send, from the one the server sent, and whether the server
/// sent it raw although it encoded its keys.
///
/// Under `EncodingType=url` S3 encodes `<NextKeyMarker>` like `<Key>`; radosgw (and other
/// servers) send it raw. Decoding a raw marker corrupts it (`+` becomes a space, `%39`
/// becomes `9`) and the next page then skips or repeats keys. So: a marker that decoding
/// leaves unchanged is taken as it is; otherwise the reading that equals the page's last
/// key (or common prefix) wins; a marker that matches neither is an error, never a guess.
pub fn resolve_key_marker(
    raw: &str,
    encoded: bool,
    last_key: Option<&str>,
) -> Result<(String, bool), String> {
    if !encoded {
        return Ok((raw.to_owned(), false));
    }
    // Sent as the key itself, though encoding would change the key: the server sends its
    // markers raw.
    let sent_raw = |k: &str| raw == k && encoding_changes(k);
    let decoded = form_decode(raw).ok();
    if decoded.as_deref() == Some(raw) {
        // Decoding changes nothing: raw or encoded, it names the same key.
        return Ok((raw.to_owned(), sent_raw(raw)));
    }
    match last_key {
        Some(k) if decoded.as_deref() == Some(k) => Ok((k.to_owned(), false)),
        Some(k) if raw == k => Ok((k.to_owned(), true)),
        _ => Err(format!(
            "the server's NextKeyMarker {raw:?} is neither the page's last key {:?} nor its URL-encoding; \
             the listing cannot continue without risking skipped keys",
            last_key.unwrap_or_default()
        )),
    }
}

/// Decode a response: keys and prefixes only when the server says it encoded them, the
/// next key marker checked against the page's own last key.
pub fn decode(listing: Listing) -> Result<RawPage, String> {
    let encoded = listing.encoded;
    let decode = |s: &str| -> Result<String, String> {
        if encoded {
            form_decode(s).map_err(|e| e.to_string())
        } else {
            Ok(s.to_owned())
        }
    };
    let mut document = Vec::with_capacity(listing.document.len());
    for mut e in listing.document {
        e.key = decode(&e.key)?;
        document.push(e);
    }
    let common_prefixes: Vec<String> = listing
        .common_prefixes
        .iter()
        .map(|p| decode(p))
        .collect::<Result<_, _>>()?;
    let last_key = document
        .iter()
        .map(|e| e.key.as_str())
        .chain(common_prefixes.iter().map(String::as_str))
        .max();
    let (next_key_marker, marker_raw) = match &listing.next_key_marker {
        Some(k) => {
            let (k, raw) = resolve_key_marker(k, encoded, last_key)?;
            (Some(k), raw)
        }
        None => (None, false),
    };
    Ok(RawPage {
        document,
        common_prefixes,
        truncated: listing.truncated,
        next_key_marker,
        next_version_id_marker: listing.next_version_id_marker,
        marker_raw,
    })
}

/// Form-style URL-encoding as S3 applies it to keys under `EncodingType=url` (a space is
/// `+`, everything but unreserved characters and `/` is `%XX`): what the in-memory
/// bucket sends when asked to encode.
pub fn form_encode(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b' ' => out.push('+'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') => {
                out.push(b as char)
            }
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_and_encoded_markers_resolve_to_the_page_key() {
        // S3: encoded like the keys.
        assert_eq!(
            resolve_key_marker("d%2Be%2539+f", true, Some("d+e%39 f")).unwrap(),
            ("d+e%39 f".to_owned(), false)
        );
        // radosgw: raw.
        assert_eq!(
            resolve_key_marker("d+e%39 f", true, Some("d+e%39 f")).unwrap(),
            ("d+e%39 f".to_owned(), true)
        );
        assert_eq!(
            resolve_key_marker("plain/key", true, Some("plain/key")).unwrap(),
            ("plain/key".to_owned(), false)
        );
        // A key that decoding leaves alone but encoding changes, sent as it is: raw.
        assert_eq!(
            resolve_key_marker("k a", true, Some("k a")).unwrap(),
            ("k a".to_owned(), true)
        );
        assert_eq!(
            resolve_key_marker("é", true, Some("é")).unwrap(),
            ("é".to_owned(), true)
        );
        assert!(resolve_key_marker("x%41", true, Some("y")).is_err());
        assert_eq!(
            resolve_key_marker("a+b", false, None).unwrap(),
            ("a+b".to_owned(), false)
        );
    }

    #[test]
    fn next_key_marker_is_read_the_way_the_server_wrote_it() {
        let read = |raw, encoded, last| resolve_key_marker(raw, encoded, last).unwrap().0;
        // S3: encoded like the keys.
        assert_eq!(read("a%2Bb%20c", true, Some("a+b c")), "a+b c");
        // radosgw: raw although the keys were encoded.
        assert_eq!(read("a+b", true, Some("a+b")), "a+b");
        assert_eq!(read("x%39", true, Some("x%39")), "x%39");
        // Not encoded at all (moto ignores EncodingType): taken as sent.
        assert_eq!(read("x%39", false, Some("zzz")), "x%39");
        // Nothing to decode: taken as sent, whatever the last key.
        assert_eq!(read("plain/key", true, Some("other")), "plain/key");
        // A marker with escapes that matches no reading of the last key: refuse.
        assert!(resolve_key_marker("q%20r", true, Some("zzz")).is_err());
    }

    #[test]
    fn form_encoding_round_trips_and_names_the_keys_it_changes() {
        for k in ["a", "a/b", "k%a", "k+b", "k a", "é/ü", "x!y:z", "~._-"] {
            assert_eq!(form_decode(&form_encode(k)).unwrap(), k);
            assert_eq!(encoding_changes(k), form_encode(k) != k, "{k}");
        }
    }
}
