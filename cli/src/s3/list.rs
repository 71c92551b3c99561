//! ListObjectVersions: one page, read from the raw response body in document order.

use super::list_xml;
use super::{ErrorKind, RawPage, S3, S3Error, classify};
use aws_sdk_s3::types::EncodingType;
use s3rewind_engine::keys::form_decode;
use std::sync::{Arc, Mutex};

/// Keeps the raw body of a successful response (for ListObjectVersions, whose element
/// order the SDK's parsed output loses). On retries the last attempt's body wins.
#[derive(Debug, Clone, Default)]
struct CaptureBody(Arc<Mutex<Option<Vec<u8>>>>);

impl CaptureBody {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.take()
    }
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for CaptureBody {
    fn name(&self) -> &'static str {
        "s3rewind::CaptureBody"
    }

    fn read_after_deserialization(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        _cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        if let Some(bytes) = context.response().body().bytes()
            && let Ok(mut slot) = self.0.lock()
        {
            *slot = Some(bytes.to_vec());
        }
        Ok(())
    }
}

/// The next key marker to send, from the one the server sent.
///
/// Under `EncodingType=url` S3 encodes `<NextKeyMarker>` like `<Key>`; radosgw sends it
/// raw. Decoding a raw marker corrupts it (`+` becomes a space, `%39` becomes `9`) and
/// the next page then skips or repeats keys. So: a marker that decoding leaves unchanged
/// is taken as it is; otherwise the reading that equals the page's last key (or common
/// prefix) wins; a marker that matches neither is an error, never a guess.
pub(super) fn resolve_key_marker(
    raw: &str,
    encoded: bool,
    last_key: Option<&str>,
) -> Result<String, String> {
    if !encoded {
        return Ok(raw.to_owned());
    }
    let decoded = form_decode(raw).ok();
    if decoded.as_deref() == Some(raw) {
        return Ok(raw.to_owned());
    }
    match last_key {
        Some(k) if decoded.as_deref() == Some(k) => Ok(k.to_owned()),
        Some(k) if raw == k => Ok(k.to_owned()),
        _ => Err(format!(
            "the server's NextKeyMarker {raw:?} is neither the page's last key {:?} nor its URL-encoding; \
             the listing cannot continue without risking skipped keys (nothing was written)",
            last_key.unwrap_or_default()
        )),
    }
}

impl S3 {
    /// One ListObjectVersions page, with `EncodingType=url` so any key survives XML.
    ///
    /// The SDK signs, sends and retries the request; the entries are read from the raw
    /// body ([`list_xml`]) so that versions and delete markers keep the server's
    /// document order. Keys are decoded only when the server says it encoded them, and
    /// the next key marker is checked against the page's own last key, because some
    /// servers (radosgw) encode `<Key>` but send `<NextKeyMarker>` raw.
    pub async fn list_page(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        markers: (Option<&str>, Option<&str>),
        max_keys: i32,
    ) -> Result<RawPage, S3Error> {
        let (key_marker, version_id_marker) = markers;
        let body = CaptureBody::default();
        let mut req = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .encoding_type(EncodingType::Url)
            .set_delimiter(delimiter.map(str::to_owned))
            .max_keys(max_keys);
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        if let Some(k) = key_marker {
            req = req.key_marker(k);
        }
        if let Some(v) = version_id_marker {
            req = req.version_id_marker(v);
        }
        let ctx = || format!("ListObjectVersions on s3://{bucket}/{prefix}");
        let other = |message: String| S3Error {
            kind: ErrorKind::Other,
            context: ctx(),
            code: None,
            status: None,
            message,
        };
        self.list_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        req.customize()
            .interceptor(body.clone())
            .send()
            .await
            .map_err(|e| classify(ctx(), e))?;
        let raw = body
            .take()
            .ok_or_else(|| other("the response body was not available to read".into()))?;
        let listing = list_xml::parse(&raw).map_err(other)?;
        let decode = |s: &str| -> Result<String, S3Error> {
            if listing.encoded {
                form_decode(s).map_err(|e| other(e.to_string()))
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
        let next_key_marker = match &listing.next_key_marker {
            Some(k) => Some(resolve_key_marker(k, listing.encoded, last_key).map_err(other)?),
            None => None,
        };
        Ok(RawPage {
            document,
            common_prefixes,
            truncated: listing.truncated,
            next_key_marker,
            next_version_id_marker: listing.next_version_id_marker,
        })
    }
}
