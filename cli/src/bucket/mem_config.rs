//! A [`MemStore`] as an [`Endpoint`]: its buckets by name, their configurations (set by
//! tests; none by default, as on a new S3 bucket) and the server's flags, so the safety
//! gates, `audit` and every command run in memory.

use super::endpoint::{BucketConfig, Endpoint};
use super::mem::{MemStore, Op};
use super::{Bucket, ErrorKind, S3Error};
use async_trait::async_trait;
use s3rewind_engine::audit::{
    Encryption, LifecycleRule, ObjectLock, PublicAccessBlock, ReplicationRule,
};
use std::collections::HashMap;
use std::sync::{Arc, MutexGuard};

/// The configurations of one bucket in memory. `None`: not set (the read answers
/// `Ok(None)`, as S3 does for a configuration never put).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemConfig {
    /// Lifecycle rules.
    pub lifecycle: Option<Vec<LifecycleRule>>,
    /// Replication rules.
    pub replication: Option<Vec<ReplicationRule>>,
    /// Object Lock, with its default retention (`mode` and `days`).
    pub object_lock: Option<ObjectLock>,
    /// The bucket policy's JSON text.
    pub policy: Option<String>,
    /// The public access block.
    pub public_access_block: Option<PublicAccessBlock>,
    /// Default encryption.
    pub encryption: Option<Encryption>,
    /// The region GetBucketLocation answers.
    pub region: Option<String>,
}

/// What a [`MemStore`] keeps besides its buckets.
#[derive(Debug, Default)]
pub(super) struct Settings {
    configs: HashMap<String, MemConfig>,
    /// Conditional writes are not honoured (the default is that they are, as on AWS).
    no_conditional_writes: bool,
}

impl MemStore {
    fn settings(&self) -> MutexGuard<'_, Settings> {
        self.settings.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Set the configurations of the bucket `name` (replacing what was set).
    pub fn set_config(&self, name: &str, config: MemConfig) {
        self.settings().configs.insert(name.to_owned(), config);
    }

    /// The configurations set for the bucket `name` (none by default).
    pub fn config_of(&self, name: &str) -> MemConfig {
        self.settings()
            .configs
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    /// Whether the store honours conditional writes (the default, as AWS does). Off, its
    /// buckets say so in their capabilities and CopyObject ignores `If-Match` and
    /// `If-None-Match`, as moto and radosgw do: the executor's other path.
    pub fn set_conditional_writes(&self, on: bool) {
        self.settings().no_conditional_writes = !on;
    }

    /// See [`MemStore::set_conditional_writes`].
    pub fn conditional_writes(&self) -> bool {
        !self.settings().no_conditional_writes
    }

    /// This store as an endpoint.
    pub fn endpoint(self: &Arc<Self>) -> Arc<dyn Endpoint> {
        Arc::new(self.clone())
    }
}

/// The store behind an `Arc`, since its buckets hold one.
impl Endpoint for Arc<MemStore> {
    fn bucket(&self, name: &str) -> Arc<dyn Bucket> {
        Arc::new(MemStore::bucket(self, name))
    }

    fn config(&self, name: &str) -> Arc<dyn BucketConfig> {
        Arc::new(MemBucketConfig {
            store: self.clone(),
            name: name.to_owned(),
        })
    }

    fn list_calls(&self) -> u64 {
        self.requests().of(Op::List)
    }
}

/// The configuration reads of one bucket of a [`MemStore`].
#[derive(Debug)]
struct MemBucketConfig {
    store: Arc<MemStore>,
    name: String,
}

impl MemBucketConfig {
    /// The bucket's configurations, or NoSuchBucket as S3 answers for a missing bucket.
    fn read(&self, what: &str) -> Result<MemConfig, S3Error> {
        if !self.store.exists(&self.name) {
            return Err(S3Error {
                kind: ErrorKind::NoSuchBucket,
                context: format!("{what} on {:?}", self.name),
                code: Some("NoSuchBucket".to_owned()),
                status: Some(404),
                message: format!("the bucket {:?} does not exist", self.name),
            });
        }
        Ok(self.store.config_of(&self.name))
    }
}

#[async_trait]
impl BucketConfig for MemBucketConfig {
    fn name(&self) -> &str {
        &self.name
    }

    async fn lifecycle_rules(&self) -> Result<Option<Vec<LifecycleRule>>, S3Error> {
        Ok(self.read("GetBucketLifecycleConfiguration")?.lifecycle)
    }

    async fn replication_rules(&self) -> Result<Option<Vec<ReplicationRule>>, S3Error> {
        Ok(self.read("GetBucketReplication")?.replication)
    }

    async fn object_lock(&self) -> Result<Option<ObjectLock>, S3Error> {
        Ok(self.read("GetObjectLockConfiguration")?.object_lock)
    }

    async fn default_retention(&self) -> Result<Option<(String, i32, i32)>, S3Error> {
        let lock = self.read("GetObjectLockConfiguration")?.object_lock;
        Ok(lock.and_then(|l| Some((l.mode?, l.days.unwrap_or(0), 0))))
    }

    async fn policy(&self) -> Result<Option<String>, S3Error> {
        Ok(self.read("GetBucketPolicy")?.policy)
    }

    async fn public_access_block(&self) -> Result<Option<PublicAccessBlock>, S3Error> {
        Ok(self.read("GetPublicAccessBlock")?.public_access_block)
    }

    async fn encryption(&self) -> Result<Option<Encryption>, S3Error> {
        Ok(self.read("GetBucketEncryption")?.encryption)
    }

    async fn region(&self) -> Result<Option<String>, S3Error> {
        Ok(self.read("GetBucketLocation")?.region)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3rewind_engine::Versioning;

    #[tokio::test]
    async fn configurations_are_none_until_set_and_a_missing_bucket_is_an_error() {
        let store = MemStore::new();
        store.create("b", Versioning::Enabled);
        let endpoint = store.endpoint();
        let c = endpoint.config("b");
        assert_eq!(c.lifecycle_rules().await.unwrap(), None);
        assert_eq!(c.default_retention().await.unwrap(), None);
        assert!(c.noncurrent_expirations().await.unwrap().is_empty());
        store.set_config(
            "b",
            MemConfig {
                lifecycle: Some(vec![LifecycleRule {
                    id: "old".into(),
                    prefix: "logs/".into(),
                    enabled: true,
                    noncurrent_days: Some(30),
                    ..LifecycleRule::default()
                }]),
                object_lock: Some(ObjectLock {
                    enabled: true,
                    mode: Some("GOVERNANCE".into()),
                    days: Some(7),
                }),
                ..MemConfig::default()
            },
        );
        assert_eq!(
            c.noncurrent_expirations().await.unwrap(),
            vec![("old".into(), "logs/".into(), 30)]
        );
        assert_eq!(
            c.default_retention().await.unwrap(),
            Some(("GOVERNANCE".into(), 7, 0))
        );
        let missing = endpoint.config("nope").region().await.unwrap_err();
        assert_eq!(missing.kind, ErrorKind::NoSuchBucket);
        assert!(endpoint.bucket("b").capabilities().conditional_writes);
        store.set_conditional_writes(false);
        assert!(!endpoint.bucket("b").capabilities().conditional_writes);
    }
}
