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
//! A bucket is bound to one bucket name. A server-side copy is sent to the destination
//! bucket and names its source by bucket name, as S3 does: both must live behind the same
//! endpoint (one [`MemStore`] in memory).
//!
//! Writes never remove a version, except [`Bucket::delete_version`], which only the
//! explicitly permanent modes call (`undelete --remove-delete-markers`, `drill --cleanup`).

use async_trait::async_trait;
use std::fmt;
pub use types::{
    Acl, ArchiveRestoreState, BucketVersioning, COPY_LIMIT, CopyRequest, CurrentObject, ErrorKind,
    Head, ListRequest, MIN_PART, ObjectAttrs, ObjectsPage, RawPage, S3Error, part_ranges,
};

pub mod conformance;
mod faulty;
#[cfg(test)]
pub(crate) mod histories;
mod mem;
mod types;
pub mod wire;

pub use faulty::{Faults, Faulty};
pub use mem::{MemBucket, MemStore, Op, PageLayout, Personality, Requests};

/// The operations s3rewind sends to one bucket.
#[async_trait]
pub trait Bucket: Send + Sync + fmt::Debug {
    /// The bucket's name.
    fn name(&self) -> &str;

    /// GetBucketVersioning.
    async fn versioning(&self) -> Result<BucketVersioning, S3Error>;

    /// One ListObjectVersions page, entries in the server's document order, keys decoded
    /// (through [`wire::decode`]). Only the pager ([`crate::pager`]) calls it.
    async fn list_page(&self, request: &ListRequest<'_>) -> Result<RawPage, S3Error>;

    /// One ListObjectsV2 page under `prefix`: the current objects, keys decoded. The
    /// listing's cross-check ([`crate::pager::cross_check`]) reads it: another API than
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

    /// UploadPartCopy of an inclusive byte range of `source` (bucket, key, version).
    async fn upload_part_copy(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        source: (&str, &str, &str),
        range: (u64, u64),
    ) -> Result<String, S3Error>;

    /// UploadPart of bytes.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Vec<u8>,
    ) -> Result<String, S3Error>;

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
}
