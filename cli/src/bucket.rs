//! One bucket, whatever stores it: the operations s3rewind sends, as one trait.
//!
//! The shape follows object_store's `ObjectStore`: one trait, an implementation per
//! backend, and one conformance suite that every implementation runs
//! (`tests/integration/conformance.rs` on moto and radosgw, `bucket::mem` tests in memory).
//!
//! - `S3Bucket` (in the `s3` module, which implements this trait): a bucket behind an S3
//!   endpoint (the SDK).
//! - [`MemBucket`]: a bucket in memory, on the engine's simulator, counting its requests
//!   per operation; tests run the executor against it by the thousand.
//! - [`Faulty`]: wraps any bucket and injects faults (throttling, 500s, resets, lost
//!   replies, latency, a crash after the N-th call, a concurrent writer).
//!
//! `MemBucket`, `Faulty` and the conformance suite are test tools: they compile under
//! `cfg(test)` or the `testing` feature (which the cli's own tests, the integration suite
//! and the benches turn on), never into the binary `cargo install` builds.
//!
//! A bucket is bound to one bucket name. A server-side copy is sent to the destination
//! bucket and names its source by bucket name, as S3 does: both must live behind the same
//! endpoint (one [`MemStore`] in memory). An [`Endpoint`] hands out its buckets by name,
//! and their configuration reads behind the narrow [`BucketConfig`] trait beside this
//! one; what a server can do (conditional writes, a version id in a copy's reply) is data,
//! [`Bucket::capabilities`].
//!
//! Writes never remove a version, except [`Bucket::delete_version`], which only the
//! explicitly permanent modes call (`undelete --remove-delete-markers`, `drill --cleanup`).

use async_trait::async_trait;
use std::fmt;
pub use types::{
    Acl, ArchiveRestoreState, BucketVersioning, COPY_LIMIT, Capabilities, CopyRequest,
    CurrentObject, ErrorKind, FirstBytes, Head, ListRequest, MIN_PART, ObjectAttrs, ObjectsPage,
    Part, PartCopy, PutReply, RawPage, S3Error, part_ranges,
};

mod capped;
#[cfg(any(test, feature = "testing"))]
pub mod conformance;
mod endpoint;
#[cfg(any(test, feature = "testing"))]
mod faulty;
#[cfg(test)]
pub(crate) mod histories;
mod layer;
#[cfg(any(test, feature = "testing"))]
mod mem;
#[cfg(any(test, feature = "testing"))]
mod mem_config;
mod queue;
mod types;
pub mod wire;

pub use capped::{Capped, CappedConnector, CappedEndpoint, Caps, Spent};
pub use endpoint::{BucketConfig, ConnectOptions, Connector, Endpoint, RetryMode, SharedEndpoint};
#[cfg(any(test, feature = "testing"))]
pub use faulty::{Faults, Faulty, Injected};
pub use layer::Call;
pub(crate) use layer::{layered_bucket, moved};
#[cfg(any(test, feature = "testing"))]
pub use mem::{MemBucket, MemStore, Op, PageLayout, Personality, Requests};
#[cfg(any(test, feature = "testing"))]
pub use mem_config::MemConfig;
pub use queue::{Message, Queue};

/// The operations s3rewind sends to one bucket.
#[async_trait]
pub trait Bucket: Send + Sync + fmt::Debug {
    /// The bucket's name.
    fn name(&self) -> &str;

    /// What the server behind this bucket can do (no request is sent).
    fn capabilities(&self) -> Capabilities;

    /// GetBucketVersioning.
    async fn versioning(&self) -> Result<BucketVersioning, S3Error>;

    /// One ListObjectVersions page, entries in the server's document order, keys decoded
    /// (through [`wire::decode`]). Only the pager ([`crate::pager`]) calls it.
    async fn list_page(&self, request: &ListRequest<'_>) -> Result<RawPage, S3Error>;

    /// One ListObjectsV2 page under `prefix`: the current objects, keys decoded. The
    /// listing's cross-check ([`crate::crosscheck`]) reads it: another API than
    /// ListObjectVersions, so it does not share that listing's paging.
    async fn list_objects(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: i32,
    ) -> Result<ObjectsPage, S3Error>;

    /// HeadObject of one version, or of the current one. `Ok(None)` when the key (or
    /// version) does not exist or its current version is a delete marker.
    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>, S3Error>;

    /// GetObject of one version, optionally a byte range (`bytes=A-B`).
    async fn get(
        &self,
        key: &str,
        version_id: &str,
        range: Option<&str>,
    ) -> Result<Vec<u8>, S3Error>;

    /// GetObject of one version streamed into `out`; returns the bytes written.
    async fn download(
        &self,
        key: &str,
        version_id: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error>;

    /// GetObjectTagging of one version.
    async fn tags(&self, key: &str, version_id: &str) -> Result<Vec<(String, String)>, S3Error>;

    /// PutObjectTagging on one version (`None`: the current one).
    async fn put_tags(
        &self,
        key: &str,
        version_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), S3Error>;

    /// GetObjectAcl of one version, as the grants that re-create it.
    async fn acl(&self, key: &str, version_id: &str) -> Result<Acl, S3Error>;

    /// CopyObject of a version into this bucket (`r.bucket` is ignored: this bucket is
    /// the destination). Returns the new version id (`null` when the server names none).
    async fn copy(&self, r: &CopyRequest<'_>) -> Result<String, S3Error>;

    /// PutObject with the attributes a faithful copy carries. Returns the new version id.
    async fn put_with_attrs(
        &self,
        key: &str,
        body: Vec<u8>,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error>;

    /// DeleteObject without a version id: adds a delete marker. Returns its version id.
    async fn add_delete_marker(&self, key: &str) -> Result<String, S3Error>;

    /// DeleteObject with a version id: removes that version **permanently**.
    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), S3Error>;

    /// CreateMultipartUpload with the attributes of a copy. Returns the upload id.
    async fn create_multipart(&self, key: &str, attrs: &ObjectAttrs<'_>)
    -> Result<String, S3Error>;

    /// UploadPartCopy of an inclusive byte range of a source version. Returns the part's
    /// ETag.
    async fn upload_part_copy(&self, p: PartCopy<'_>) -> Result<String, S3Error>;

    /// UploadPart of bytes.
    async fn upload_part(&self, part: Part<'_>, body: Vec<u8>) -> Result<String, S3Error>;

    /// CompleteMultipartUpload. Returns the new version id.
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, S3Error>;

    /// AbortMultipartUpload.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error>;

    /// RestoreObject of an archived version.
    async fn request_archive_restore(
        &self,
        key: &str,
        version_id: &str,
        days: Option<i32>,
        tier: &str,
    ) -> Result<ArchiveRestoreState, S3Error>;

    /// GetObject of the current version (as a user's GET without a version id) streamed
    /// into `out`; returns the bytes written. [`ErrorKind::NotFound`] when the key does
    /// not exist or its current version is a delete marker. By default a HEAD, then a GET
    /// of the version it names; S3 sends one GET.
    async fn download_current(
        &self,
        key: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        match self.head(key, None).await? {
            Some(h) => self.download(key, &h.version_id, out).await,
            None => Err(S3Error {
                kind: ErrorKind::NotFound,
                context: format!("GetObject s3://{}/{key}", self.name()),
                code: Some("NoSuchKey".to_owned()),
                status: Some(404),
                message: "the key does not exist".to_owned(),
            }),
        }
    }

    /// The first `len` bytes of one version (a ranged GetObject, `bytes=0-{len-1}`) and
    /// the Content-Type it was stored with, for content sampling. Not for empty objects:
    /// a range of an empty object is unsatisfiable (416). By default a ranged GET and a
    /// HEAD; S3 sends one ranged GET.
    async fn first_bytes(
        &self,
        key: &str,
        version_id: &str,
        len: usize,
    ) -> Result<FirstBytes, S3Error> {
        let range = format!("bytes=0-{}", len.max(1) - 1);
        let mut bytes = self.get(key, version_id, Some(&range)).await?;
        // A server that ignores Range sends the whole object.
        bytes.truncate(len);
        let content_type = self
            .head(key, Some(version_id))
            .await?
            .and_then(|h| h.content_type);
        Ok(FirstBytes {
            bytes,
            content_type,
        })
    }

    /// PutObject of plain bytes with a Content-Type and nothing else (a Batch Operations
    /// manifest): what was stored, ETag included. By default a write with
    /// [`ObjectAttrs::plain`] and a HEAD of the version it made; S3 sends one PutObject.
    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<PutReply, S3Error> {
        let head = Head {
            content_type: Some(content_type.to_owned()),
            ..Head::default()
        };
        let version_id = self
            .put_with_attrs(key, body, &ObjectAttrs::plain(&head))
            .await?;
        let stored = self.head(key, Some(&version_id)).await?;
        Ok(PutReply {
            etag: stored.map(|h| h.etag).unwrap_or_default(),
            version_id: Some(version_id).filter(|v| v != "null"),
        })
    }
}

/// HeadObject of many versions of one bucket (`(key, version id)` each, `None`: the
/// key's current version), `width` at a time: answers in the order asked, the first
/// error ends it. One after another, the millions an undo of a large restore (or a
/// resumed one) reads would take days.
pub async fn head_versions(
    bucket: &std::sync::Arc<dyn Bucket>,
    versions: Vec<(String, Option<String>)>,
    width: usize,
) -> Result<Vec<Option<Head>>, S3Error> {
    each_version(
        bucket,
        versions,
        width,
        "HeadObject",
        |b, key, id| async move { b.head(&key, id.as_deref()).await },
    )
    .await
}

/// DeleteObject of each version named (`(key, version id)`), `width` at a time (the
/// first error ends it): removing what a drill copied into its scratch location.
pub async fn delete_versions(
    bucket: &std::sync::Arc<dyn Bucket>,
    versions: Vec<(String, String)>,
    width: usize,
) -> Result<(), S3Error> {
    each_version(
        bucket,
        versions,
        width,
        "DeleteObject",
        |b, key, id| async move { b.delete_version(&key, &id).await },
    )
    .await
    .map(drop)
}

/// `call` on each of `items` (a key and what names its version), `width` tasks at a
/// time, each going through its share in order: the answers in the order asked, the
/// first error ends it (`what` names the call in an internal error).
async fn each_version<V, R, F, Fut>(
    bucket: &std::sync::Arc<dyn Bucket>,
    items: Vec<(String, V)>,
    width: usize,
    what: &'static str,
    call: F,
) -> Result<Vec<R>, S3Error>
where
    V: Send + 'static,
    R: Send + 'static,
    F: Fn(std::sync::Arc<dyn Bucket>, String, V) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<R, S3Error>> + Send,
{
    let per_task = items.len().div_ceil(width.max(1)).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    let mut items = items.into_iter();
    for first in (0..items.len()).step_by(per_task) {
        let (bucket, chunk, call) = (
            bucket.clone(),
            items.by_ref().take(per_task).collect::<Vec<_>>(),
            call.clone(),
        );
        tasks.spawn(async move {
            let mut answers = Vec::with_capacity(chunk.len());
            for (key, v) in chunk {
                answers.push(call(bucket.clone(), key, v).await?);
            }
            Ok::<_, S3Error>((first, answers))
        });
    }
    let mut chunks = Vec::new();
    while let Some(done) = tasks.join_next().await {
        chunks.push(done.map_err(|e| S3Error::other(what, format!("internal error: {e}")))??);
    }
    chunks.sort_unstable_by_key(|c| c.0);
    Ok(chunks.into_iter().flat_map(|c| c.1).collect())
}

#[cfg(test)]
mod head_versions_tests {
    use super::*;
    use chrono::{TimeDelta, Utc};
    use s3rewind_engine::{SimBucket, Versioning};
    use std::sync::Arc;

    /// Many versions read `width` at a time come back in the order asked, each the
    /// answer a HEAD of it alone gives; a version that does not exist is `None` in its
    /// place.
    #[tokio::test]
    async fn answers_come_back_in_the_order_asked() {
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        let t = Utc::now();
        let mut asked = Vec::new();
        for k in 0..40 {
            let key = format!("k/{k:02}");
            for n in 0..=(k % 3) {
                let body = format!("{k}-{n}-{}", "x".repeat(n));
                let id = sim.put(&key, body.as_bytes(), t + TimeDelta::seconds(n as i64));
                asked.push((key.clone(), Some(id)));
            }
            if k % 5 == 0 {
                asked.push((key.clone(), Some("no-such-version".to_owned())));
            }
            if k % 4 == 0 {
                asked.push((key.clone(), None));
            }
        }
        // Not in key order: answers follow the order asked, not the bucket's.
        asked.reverse();
        let bucket: Arc<dyn Bucket> = Arc::new(MemStore::new().insert("b", sim));
        let mut one_by_one = Vec::new();
        for (key, id) in &asked {
            one_by_one.push(bucket.head(key, id.as_deref()).await.unwrap());
        }
        assert_eq!(one_by_one.iter().filter(|h| h.is_none()).count(), 8);
        for width in [1, 3, 7, 500] {
            let heads = head_versions(&bucket, asked.clone(), width).await.unwrap();
            assert_eq!(heads, one_by_one, "width {width}");
        }
        assert!(
            head_versions(&bucket, Vec::new(), 4)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
