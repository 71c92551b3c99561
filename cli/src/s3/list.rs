//! ListObjectVersions: one page, read from the raw response body in document order; and
//! ListObjectsV2, the current objects, for the listing's cross-check.

use super::list_xml;
use super::{ErrorKind, ListRequest, ObjectsPage, RawPage, S3, S3Error, classify};
use crate::bucket::CurrentObject;
use crate::bucket::wire;
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

impl S3 {
    /// One ListObjectVersions page (with `EncodingType=url` unless the request says
    /// otherwise, so any key survives XML).
    ///
    /// The SDK signs, sends and retries the request; the entries are read from the raw
    /// body ([`list_xml`]) so that versions and delete markers keep the server's
    /// document order, and decoded by [`wire::decode`], which the in-memory bucket's
    /// server personalities go through too.
    pub(crate) async fn list_page(
        &self,
        bucket: &str,
        r: &ListRequest<'_>,
    ) -> Result<RawPage, S3Error> {
        let body = CaptureBody::default();
        let mut req = self
            .client
            .list_object_versions()
            .bucket(bucket)
            .set_delimiter(r.delimiter.map(str::to_owned))
            .max_keys(r.max_keys);
        if r.url_encoding {
            req = req.encoding_type(EncodingType::Url);
        }
        if !r.prefix.is_empty() {
            req = req.prefix(r.prefix);
        }
        if let Some(k) = r.key_marker {
            req = req.key_marker(k);
        }
        if let Some(v) = r.version_id_marker {
            req = req.version_id_marker(v);
        }
        let prefix = r.prefix;
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
        let unreadable = |message: String| S3Error {
            code: Some(crate::bucket::wire::UNREADABLE_RAW.to_owned()),
            ..other(message)
        };
        if !r.url_encoding && raw.contains(&b'\r') {
            // XML turns a carriage return into a line feed: a raw key holding one would
            // be read as another key.
            return Err(unreadable(
                "a page asked for without URL encoding holds a carriage return, which XML cannot carry exactly".into(),
            ));
        }
        let listing = match list_xml::parse(&raw) {
            Err(e) if !r.url_encoding => return Err(unreadable(e)),
            other_result => other_result.map_err(other)?,
        };
        wire::decode(listing).map_err(other)
    }

    /// One ListObjectsV2 page: the current objects under `prefix` (keys URL-encoded on
    /// the wire and decoded here).
    pub(crate) async fn list_objects(
        &self,
        bucket: &str,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: i32,
    ) -> Result<ObjectsPage, S3Error> {
        let mut req = self
            .client
            .list_objects_v2()
            .bucket(bucket)
            .encoding_type(EncodingType::Url)
            .max_keys(max_keys)
            .set_continuation_token(continuation.map(str::to_owned));
        if !prefix.is_empty() {
            req = req.prefix(prefix);
        }
        let ctx = || format!("ListObjectsV2 on s3://{bucket}/{prefix}");
        let out = req.send().await.map_err(|e| classify(ctx(), e))?;
        let encoded = out.encoding_type() == Some(&EncodingType::Url);
        let mut objects = Vec::with_capacity(out.contents().len());
        for o in out.contents() {
            let key = o.key().unwrap_or_default();
            let key = if encoded {
                form_decode(key).map_err(|e| S3Error {
                    kind: ErrorKind::Other,
                    context: ctx(),
                    code: None,
                    status: None,
                    message: e.to_string(),
                })?
            } else {
                key.to_owned()
            };
            let last_modified = o
                .last_modified()
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                .unwrap_or_default();
            objects.push(CurrentObject {
                key,
                etag: o.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
                size: o.size().unwrap_or(0).max(0) as u64,
                last_modified,
            });
        }
        Ok(ObjectsPage {
            objects,
            next: out.next_continuation_token().map(str::to_owned),
            truncated: out.is_truncated() == Some(true),
        })
    }
}
