//! [`S3Bucket`]: the [`Bucket`] and [`BucketConfig`] traits over the SDK client ([`S3`]).
//! Outside this module a bucket is only ever reached through them (see
//! [`Endpoint`](crate::bucket::Endpoint), which `S3` implements).

use super::{
    Acl, ArchiveRestoreState, BucketVersioning, CopyRequest, Head, ListRequest, ObjectAttrs,
    ObjectsPage, RawPage, S3, S3Error,
};
use crate::bucket::{Bucket, BucketConfig, Capabilities, FirstBytes, Part, PartCopy, PutReply};
use async_trait::async_trait;
use s3rewind_engine::audit::{
    Encryption, LifecycleRule, ObjectLock, PublicAccessBlock, ReplicationRule,
};

/// One bucket behind an S3 endpoint.
#[derive(Debug, Clone)]
pub struct S3Bucket {
    s3: S3,
    name: String,
}

impl S3Bucket {
    /// The bucket `name` reached through `s3`.
    pub(super) fn new(s3: S3, name: impl Into<String>) -> Self {
        S3Bucket {
            s3,
            name: name.into(),
        }
    }
}

#[async_trait]
impl Bucket for S3Bucket {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.s3.capabilities()
    }

    async fn versioning(&self) -> Result<BucketVersioning, S3Error> {
        self.s3.versioning(&self.name).await
    }

    async fn list_page(&self, request: &ListRequest<'_>) -> Result<RawPage, S3Error> {
        self.s3.list_page(&self.name, request).await
    }

    async fn list_objects(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: i32,
    ) -> Result<ObjectsPage, S3Error> {
        self.s3
            .list_objects(&self.name, prefix, continuation, max_keys)
            .await
    }

    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>, S3Error> {
        self.s3.head(&self.name, key, version_id).await
    }

    async fn get(
        &self,
        key: &str,
        version_id: &str,
        range: Option<&str>,
    ) -> Result<Vec<u8>, S3Error> {
        self.s3.get(&self.name, key, version_id, range).await
    }

    async fn download(
        &self,
        key: &str,
        version_id: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        self.s3.download(&self.name, key, version_id, out).await
    }

    async fn tags(&self, key: &str, version_id: &str) -> Result<Vec<(String, String)>, S3Error> {
        self.s3.tags(&self.name, key, version_id).await
    }

    async fn put_tags(
        &self,
        key: &str,
        version_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), S3Error> {
        self.s3.put_tags(&self.name, key, version_id, tags).await
    }

    async fn acl(&self, key: &str, version_id: &str) -> Result<Acl, S3Error> {
        self.s3.acl(&self.name, key, version_id).await
    }

    async fn copy(&self, r: &CopyRequest<'_>) -> Result<String, S3Error> {
        let r = CopyRequest {
            bucket: &self.name,
            ..r.clone()
        };
        self.s3.copy(&r).await
    }

    async fn put_with_attrs(
        &self,
        key: &str,
        body: Vec<u8>,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        self.s3.put_with_attrs(&self.name, key, body, attrs).await
    }

    async fn add_delete_marker(&self, key: &str) -> Result<String, S3Error> {
        self.s3.add_delete_marker(&self.name, key).await
    }

    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), S3Error> {
        self.s3.delete_version(&self.name, key, version_id).await
    }

    async fn create_multipart(
        &self,
        key: &str,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        self.s3.create_multipart(&self.name, key, attrs).await
    }

    async fn upload_part_copy(&self, p: PartCopy<'_>) -> Result<String, S3Error> {
        self.s3.upload_part_copy(&self.name, p).await
    }

    async fn upload_part(&self, part: Part<'_>, body: Vec<u8>) -> Result<String, S3Error> {
        self.s3.upload_part(&self.name, part, body).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, S3Error> {
        self.s3
            .complete_multipart(&self.name, key, upload_id, parts)
            .await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        self.s3.abort_multipart(&self.name, key, upload_id).await
    }

    async fn request_archive_restore(
        &self,
        key: &str,
        version_id: &str,
        days: Option<i32>,
        tier: &str,
    ) -> Result<ArchiveRestoreState, S3Error> {
        self.s3
            .request_archive_restore(&self.name, key, version_id, days, tier)
            .await
    }

    async fn download_current(
        &self,
        key: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        // An empty version id reads the current object, in one request.
        self.s3.download(&self.name, key, "", out).await
    }

    async fn first_bytes(
        &self,
        key: &str,
        version_id: &str,
        len: usize,
    ) -> Result<FirstBytes, S3Error> {
        self.s3.first_bytes(&self.name, key, version_id, len).await
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<PutReply, S3Error> {
        let (etag, version_id) = self
            .s3
            .put_plain(&self.name, key, body, content_type)
            .await?;
        Ok(PutReply { etag, version_id })
    }
}

#[async_trait]
impl BucketConfig for S3Bucket {
    fn name(&self) -> &str {
        &self.name
    }

    async fn lifecycle_rules(&self) -> Result<Option<Vec<LifecycleRule>>, S3Error> {
        self.s3.lifecycle_rules(&self.name).await
    }

    async fn replication_rules(&self) -> Result<Option<Vec<ReplicationRule>>, S3Error> {
        self.s3.replication_rules(&self.name).await
    }

    async fn object_lock(&self) -> Result<Option<ObjectLock>, S3Error> {
        self.s3.object_lock(&self.name).await
    }

    async fn default_retention(&self) -> Result<Option<(String, i32, i32)>, S3Error> {
        self.s3.default_retention(&self.name).await
    }

    async fn policy(&self) -> Result<Option<String>, S3Error> {
        self.s3.bucket_policy(&self.name).await
    }

    async fn public_access_block(&self) -> Result<Option<PublicAccessBlock>, S3Error> {
        self.s3.public_access_block(&self.name).await
    }

    async fn encryption(&self) -> Result<Option<Encryption>, S3Error> {
        self.s3.encryption(&self.name).await
    }

    async fn region(&self) -> Result<Option<String>, S3Error> {
        self.s3.bucket_region(&self.name).await
    }
}
