//! Where buckets live: an [`Endpoint`] hands out any of its buckets behind the
//! [`Bucket`] trait, and their configurations behind the narrow [`BucketConfig`] trait
//! beside it (as object_store keeps `MultipartStore` beside `ObjectStore`: a caller that
//! only copies objects never sees the configuration API).
//!
//! - `S3` (in the `s3` module) is an endpoint reached through the SDK.
//! - [`MemStore`](super::MemStore) is an endpoint in memory; its configurations are set
//!   by tests (none by default).
//!
//! Commands hold an `Arc<dyn Endpoint>` for the source side and open the destination
//! side, when it has options of its own (`--dest-profile`, `--dest-endpoint-url`,
//! `--dest-region`), or a client for another region, through a [`Connector`]. So every
//! command runs on any implementation, the in-memory one included.

use super::{Bucket, S3Error};
use async_trait::async_trait;
use s3rewind_engine::audit::{
    Encryption, LifecycleRule, ObjectLock, PublicAccessBlock, ReplicationRule,
};
use std::fmt;
use std::sync::Arc;

/// One endpoint (an S3 service, an S3-compatible server, a store in memory): its buckets
/// by name.
pub trait Endpoint: Send + Sync + fmt::Debug {
    /// The bucket `name` behind this endpoint. Nothing is sent: a bucket that does not
    /// exist answers its first request with [`ErrorKind::NoSuchBucket`](super::ErrorKind).
    fn bucket(&self, name: &str) -> Arc<dyn Bucket>;

    /// The configuration reads of the bucket `name` (lifecycle, replication, Object
    /// Lock…). Nothing is sent until one is read.
    fn config(&self, name: &str) -> Arc<dyn BucketConfig>;

    /// ListObjectVersions calls made so far through this endpoint (and its clones), for
    /// commands that say what a listing cost.
    fn list_calls(&self) -> u64;
}

/// An endpoint shared by the tasks of a command.
pub type SharedEndpoint = Arc<dyn Endpoint>;

/// Reads by bucket name, for code that holds an endpoint and a bucket name rather than a
/// bucket (content sampling in `scan`).
impl dyn Endpoint {
    /// The first `len` bytes of one version and its Content-Type (see
    /// [`Bucket::first_bytes`]).
    pub async fn first_bytes(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        len: usize,
    ) -> Result<super::FirstBytes, S3Error> {
        self.bucket(bucket).first_bytes(key, version_id, len).await
    }

    /// One version streamed into `out` (see [`Bucket::download`]); returns the bytes
    /// written.
    pub async fn download(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        self.bucket(bucket).download(key, version_id, out).await
    }
}

/// The configuration reads of one bucket, beside [`Bucket`] (what the safety gates and
/// `audit` read; the versioning configuration is [`Bucket::versioning`], which every
/// command reads).
///
/// Each read answers `Ok(None)` when the configuration is not set (S3's "not found" code
/// for it, a 404, or a server that lacks the feature); any other error is the caller's to
/// judge.
#[async_trait]
pub trait BucketConfig: Send + Sync + fmt::Debug {
    /// The bucket's name.
    fn name(&self) -> &str;

    /// GetBucketLifecycleConfiguration: every rule, enabled or not.
    async fn lifecycle_rules(&self) -> Result<Option<Vec<LifecycleRule>>, S3Error>;

    /// GetBucketReplication: every rule (the destination's region is not filled in).
    async fn replication_rules(&self) -> Result<Option<Vec<ReplicationRule>>, S3Error>;

    /// GetObjectLockConfiguration.
    async fn object_lock(&self) -> Result<Option<ObjectLock>, S3Error>;

    /// The Object Lock default retention: (mode, days, years), if any.
    async fn default_retention(&self) -> Result<Option<(String, i32, i32)>, S3Error>;

    /// GetBucketPolicy: the policy's JSON text.
    async fn policy(&self) -> Result<Option<String>, S3Error>;

    /// GetPublicAccessBlock.
    async fn public_access_block(&self) -> Result<Option<PublicAccessBlock>, S3Error>;

    /// GetBucketEncryption: the first rule's default.
    async fn encryption(&self) -> Result<Option<Encryption>, S3Error>;

    /// GetBucketLocation: the region (`us-east-1` for an empty constraint).
    async fn region(&self) -> Result<Option<String>, S3Error>;

    /// Lifecycle rules that expire noncurrent versions: (rule id, prefix, days). The
    /// enabled ones of [`BucketConfig::lifecycle_rules`], so the configuration is read
    /// one way.
    async fn noncurrent_expirations(&self) -> Result<Vec<(String, String, i32)>, S3Error> {
        Ok(self
            .lifecycle_rules()
            .await?
            .unwrap_or_default()
            .into_iter()
            .filter(|r| r.enabled)
            .filter_map(|r| Some((r.id, r.prefix, r.noncurrent_days?)))
            .collect())
    }
}

/// How to reach an endpoint: the global options that shape a client (and the
/// `--dest-*` ones for a destination of its own).
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// A custom endpoint (S3-compatible server); implies path-style addressing.
    pub endpoint_url: Option<String>,
    /// A named profile from the shared config/credentials files.
    pub profile: Option<String>,
    /// The region; otherwise the standard chain, then `us-east-1`.
    pub region: Option<String>,
    /// Maximum attempts per request (the SDK's retry configuration).
    pub max_attempts: Option<u32>,
    /// Retry mode: `standard` or `adaptive`.
    pub retry_mode: Option<RetryMode>,
}

/// The SDK retry modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryMode {
    /// Exponential backoff with jitter.
    Standard,
    /// Standard plus a client-side rate limiter that adapts to throttling.
    Adaptive,
}

/// Opens endpoints other than the one a command starts with: the destination of a
/// restore with `--dest-profile` / `--dest-endpoint-url` / `--dest-region`, or a client
/// for a replica's region (`audit`). The S3 connector builds an SDK client; tests hand
/// out endpoints in memory.
#[async_trait]
pub trait Connector: Send + Sync + fmt::Debug {
    /// The endpoint `opts` describe.
    async fn connect(&self, opts: &ConnectOptions) -> Arc<dyn Endpoint>;
}
