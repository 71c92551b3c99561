//! ListObjectVersions: one page, read from the raw response body in document order; and
//! ListObjectsV2, the current objects, for the listing's cross-check.

use super::list_xml;
use super::{ListRequest, ObjectsPage, RawPage, S3, S3Error, classify};
use crate::bucket::CurrentObject;
use crate::bucket::wire;
use aws_sdk_s3::types::EncodingType;
use s3rewind_engine::keys::form_decode;
use std::sync::{Arc, Mutex};

/// Parses each ListObjectVersions page **once**: the SDK signs, sends, retries and
/// classifies errors, but its own deserializer (which parses every entry into its two
/// lists, the interleaving lost, and costs as much CPU as our read of the page) is
/// replaced for successful responses by one that keeps the raw body and returns an empty
/// output; the body is read once, in document order, by [`list_xml`]. Error responses
/// (and S3's "200 with an `<Error>` body") go to the SDK's deserializer as before.
#[derive(Debug, Clone, Default)]
struct RawListing(Arc<Mutex<Option<Vec<u8>>>>);

impl RawListing {
    fn take(&self) -> Option<Vec<u8>> {
        self.0.lock().ok()?.take()
    }
}

/// The SDK's deserializer of ListObjectVersions (held through the operation's own
/// configuration layer: the type itself is private to the SDK).
fn sdk_deserializer() -> aws_smithy_types::config_bag::FrozenLayer {
    use aws_smithy_runtime_api::client::runtime_plugin::RuntimePlugin;
    aws_sdk_s3::operation::list_object_versions::ListObjectVersions::new()
        .config()
        .expect("the operation configures its deserializer")
}

#[derive(Debug)]
struct KeepBody {
    slot: RawListing,
    sdk: aws_smithy_types::config_bag::FrozenLayer,
}

/// True when a 200's body is an `<Error>` document (S3 can answer so).
fn body_is_error(body: &[u8]) -> bool {
    let mut rest = body;
    loop {
        let Some(i) = rest.iter().position(|b| *b == b'<') else {
            return false;
        };
        rest = &rest[i + 1..];
        if !matches!(rest.first(), Some(b'?' | b'!')) {
            return rest.starts_with(b"Error")
                && matches!(rest.get(5), Some(b'>' | b' ' | b'\n' | b'\r' | b'\t'));
        }
    }
}

impl aws_smithy_runtime_api::client::ser_de::DeserializeResponse for KeepBody {
    fn deserialize_nonstreaming_with_config(
        &self,
        response: &aws_smithy_runtime_api::client::orchestrator::HttpResponse,
        cfg: &aws_smithy_types::config_bag::ConfigBag,
    ) -> aws_smithy_runtime_api::client::interceptors::context::OutputOrError {
        let body = response.body().bytes().unwrap_or_default();
        if response.status().is_success() && !body_is_error(body) {
            if let Ok(mut slot) = self.slot.0.lock() {
                *slot = Some(body.to_vec());
            }
            let empty =
                aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput::builder()
                    .build();
            return Ok(aws_smithy_runtime_api::client::interceptors::context::Output::erase(empty));
        }
        match self
            .sdk
            .load::<aws_smithy_runtime_api::client::ser_de::SharedResponseDeserializer>()
        {
            Some(d) => d.deserialize_nonstreaming_with_config(response, cfg),
            None => Err(
                aws_smithy_runtime_api::client::orchestrator::OrchestratorError::other(
                    "the SDK's ListObjectVersions deserializer is missing",
                ),
            ),
        }
    }
}

/// Installs [`KeepBody`] as this request's deserializer (the top of the configuration
/// bag wins over the operation's own layer).
#[derive(Debug, Clone)]
struct ParseOnce(RawListing);

impl aws_smithy_runtime_api::client::interceptors::Intercept for ParseOnce {
    fn name(&self) -> &'static str {
        "s3rewind::ParseOnce"
    }

    fn read_before_execution(
        &self,
        _context: &aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        cfg.interceptor_state().store_put(
            aws_smithy_runtime_api::client::ser_de::SharedResponseDeserializer::new(KeepBody {
                slot: self.0.clone(),
                sdk: sdk_deserializer(),
            }),
        );
        Ok(())
    }
}

impl S3 {
    /// One ListObjectVersions page (with `EncodingType=url` unless the request says
    /// otherwise, so any key survives XML).
    ///
    /// The SDK signs, sends and retries the request; the entries are read from the raw
    /// body ([`list_xml`], once: see [`ParseOnce`]) so that versions and delete markers
    /// keep the server's document order, and decoded by [`wire::decode`], which the
    /// in-memory bucket's server personalities go through too.
    pub(crate) async fn list_page(
        &self,
        bucket: &str,
        r: &ListRequest<'_>,
    ) -> Result<RawPage, S3Error> {
        let body = RawListing::default();
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
        let other = |message: String| S3Error::other(ctx(), message);
        self.list_calls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        req.customize()
            .interceptor(ParseOnce(body.clone()))
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
                form_decode(key).map_err(|e| S3Error::other(ctx(), e.to_string()))?
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

#[cfg(test)]
mod tests {
    use super::body_is_error;

    #[test]
    fn a_200_error_body_is_recognised() {
        assert!(body_is_error(
            b"<?xml version=\"1.0\"?>\n<Error><Code>InternalError</Code></Error>"
        ));
        assert!(body_is_error(b"<Error>"));
        assert!(!body_is_error(
            b"<?xml version=\"1.0\"?><ListVersionsResult><Name>Error</Name></ListVersionsResult>"
        ));
        assert!(!body_is_error(b"<ErrorDocument/>"));
        assert!(!body_is_error(b""));
    }

    #[test]
    fn the_sdk_deserializer_is_reachable() {
        let layer = super::sdk_deserializer();
        assert!(
            layer
                .load::<aws_smithy_runtime_api::client::ser_de::SharedResponseDeserializer>()
                .is_some()
        );
    }
}
