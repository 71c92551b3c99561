//! Reads of bucket configurations for `audit`: lifecycle, replication, Object Lock, the
//! bucket policy, the public access block, default encryption and the bucket's region.
//!
//! Each read answers `Ok(None)` when the configuration is not set: the server's
//! "not found" code for it (NoSuchLifecycleConfiguration…), any 404, or a 501 / other
//! "not implemented" answer from a server that lacks the feature. Anything else (access
//! denied, no such bucket, an unreachable endpoint) is an error for the caller to judge.

use super::{ErrorKind, S3, S3Error, classify};
use aws_sdk_s3::types::ObjectLockConfiguration;
use s3rewind_engine::audit::{
    Encryption, LifecycleRule, ObjectLock, PublicAccessBlock, ReplicationRule,
};

/// `Ok(None)` when the error only says the configuration is not set, else the error.
fn not_set<T>(e: S3Error, codes: &[&str]) -> Result<Option<T>, S3Error> {
    let absent = e.code.as_deref().is_some_and(|c| codes.contains(&c))
        || matches!(e.kind, ErrorKind::NotFound | ErrorKind::NotImplemented)
        || matches!(e.status, Some(404 | 501));
    if absent && e.kind != ErrorKind::NoSuchBucket {
        Ok(None)
    } else {
        Err(e)
    }
}

/// The bucket name in `arn:aws:s3:::NAME` (or the text itself when it is no ARN).
fn bucket_of_arn(arn: &str) -> String {
    arn.rsplit(":::").next().unwrap_or(arn).to_owned()
}

impl S3 {
    /// GetBucketLifecycleConfiguration: every rule, enabled or not.
    pub(super) async fn lifecycle_rules(
        &self,
        bucket: &str,
    ) -> Result<Option<Vec<LifecycleRule>>, S3Error> {
        let out = match self
            .client
            .get_bucket_lifecycle_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let e = classify(format!("GetBucketLifecycleConfiguration on {bucket:?}"), e);
                return not_set(e, &["NoSuchLifecycleConfiguration"]);
            }
        };
        Ok(Some(
            out.rules()
                .iter()
                .map(|r| {
                    #[allow(deprecated)]
                    let prefix = r
                        .filter()
                        .and_then(|f| f.prefix().or(f.and().and_then(|a| a.prefix())))
                        .or(r.prefix())
                        .unwrap_or_default()
                        .to_owned();
                    LifecycleRule {
                        id: r.id().unwrap_or_default().to_owned(),
                        prefix,
                        enabled: r.status().as_str() == "Enabled",
                        noncurrent_days: r
                            .noncurrent_version_expiration()
                            .and_then(|n| n.noncurrent_days()),
                        newer_noncurrent_versions: r
                            .noncurrent_version_expiration()
                            .and_then(|n| n.newer_noncurrent_versions()),
                        expiration_days: r.expiration().and_then(|x| x.days()),
                        expired_object_delete_marker: r
                            .expiration()
                            .and_then(|x| x.expired_object_delete_marker())
                            .unwrap_or(false),
                        abort_incomplete_upload_days: r
                            .abort_incomplete_multipart_upload()
                            .and_then(|a| a.days_after_initiation()),
                    }
                })
                .collect(),
        ))
    }

    /// GetBucketReplication: every rule (the destination's region is not filled in).
    pub(super) async fn replication_rules(
        &self,
        bucket: &str,
    ) -> Result<Option<Vec<ReplicationRule>>, S3Error> {
        let out = match self
            .client
            .get_bucket_replication()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                let e = classify(format!("GetBucketReplication on {bucket:?}"), e);
                return not_set(e, &["ReplicationConfigurationNotFoundError"]);
            }
        };
        let Some(conf) = out.replication_configuration() else {
            return Ok(None);
        };
        Ok(Some(
            conf.rules()
                .iter()
                .map(|r| {
                    let filter = r.filter();
                    #[allow(deprecated)]
                    let prefix = filter
                        .and_then(|f| f.prefix().or(f.and().and_then(|a| a.prefix())))
                        .or(r.prefix())
                        .unwrap_or_default()
                        .to_owned();
                    let tag_filter = filter.is_some_and(|f| {
                        f.tag().is_some() || f.and().is_some_and(|a| !a.tags().is_empty())
                    });
                    ReplicationRule {
                        id: r.id().unwrap_or_default().to_owned(),
                        enabled: r.status().as_str() == "Enabled",
                        prefix,
                        tag_filter,
                        destination_bucket: r
                            .destination()
                            .map(|d| bucket_of_arn(d.bucket()))
                            .unwrap_or_default(),
                        destination_account: r
                            .destination()
                            .and_then(|d| d.account())
                            .map(str::to_owned),
                        destination_region: None,
                        delete_marker_replication: r
                            .delete_marker_replication()
                            .and_then(|d| d.status())
                            .is_some_and(|s| s.as_str() == "Enabled"),
                        // Read by the audit, from the destination bucket itself.
                        replica: None,
                    }
                })
                .collect(),
        ))
    }

    /// GetObjectLockConfiguration (`None`: not set, or not implemented by the server).
    async fn lock_configuration(
        &self,
        bucket: &str,
    ) -> Result<Option<ObjectLockConfiguration>, S3Error> {
        match self
            .client
            .get_object_lock_configuration()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(o) => Ok(o.object_lock_configuration),
            Err(e) => {
                let e = classify(format!("GetObjectLockConfiguration on {bucket:?}"), e);
                not_set(e, &["ObjectLockConfigurationNotFoundError"])
            }
        }
    }

    /// GetObjectLockConfiguration: whether Object Lock is on, and its default retention.
    pub(super) async fn object_lock(&self, bucket: &str) -> Result<Option<ObjectLock>, S3Error> {
        let Some(c) = self.lock_configuration(bucket).await? else {
            return Ok(None);
        };
        let retention = c.rule().and_then(|r| r.default_retention());
        Ok(Some(ObjectLock {
            enabled: c
                .object_lock_enabled()
                .is_some_and(|e| e.as_str() == "Enabled"),
            mode: retention
                .and_then(|d| d.mode())
                .map(|m| m.as_str().to_owned()),
            days: retention.and_then(|d| match (d.days(), d.years()) {
                (Some(days), _) => Some(days),
                (None, Some(years)) => Some(years.saturating_mul(365)),
                (None, None) => None,
            }),
        }))
    }

    /// The bucket's Object Lock default retention: (mode, days, years), if any.
    pub(super) async fn default_retention(
        &self,
        bucket: &str,
    ) -> Result<Option<(String, i32, i32)>, S3Error> {
        let c = self.lock_configuration(bucket).await?;
        Ok(c.as_ref()
            .and_then(|c| c.rule())
            .and_then(|r| r.default_retention())
            .map(|d| {
                (
                    d.mode().map(|m| m.as_str().to_owned()).unwrap_or_default(),
                    d.days().unwrap_or(0),
                    d.years().unwrap_or(0),
                )
            }))
    }

    /// GetBucketPolicy: the policy's JSON text.
    pub(super) async fn bucket_policy(&self, bucket: &str) -> Result<Option<String>, S3Error> {
        match self.client.get_bucket_policy().bucket(bucket).send().await {
            Ok(o) => Ok(o.policy().map(str::to_owned)),
            Err(e) => {
                let e = classify(format!("GetBucketPolicy on {bucket:?}"), e);
                not_set(e, &["NoSuchBucketPolicy"])
            }
        }
    }

    /// GetPublicAccessBlock.
    pub(super) async fn public_access_block(
        &self,
        bucket: &str,
    ) -> Result<Option<PublicAccessBlock>, S3Error> {
        match self
            .client
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(o) => Ok(o
                .public_access_block_configuration()
                .map(|c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                })),
            Err(e) => {
                let e = classify(format!("GetPublicAccessBlock on {bucket:?}"), e);
                not_set(e, &["NoSuchPublicAccessBlockConfiguration"])
            }
        }
    }

    /// GetBucketEncryption: the first rule's default.
    pub(super) async fn encryption(&self, bucket: &str) -> Result<Option<Encryption>, S3Error> {
        match self
            .client
            .get_bucket_encryption()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(o) => Ok(o
                .server_side_encryption_configuration()
                .and_then(|c| c.rules().first())
                .and_then(|r| r.apply_server_side_encryption_by_default())
                .map(|d| Encryption {
                    algorithm: d.sse_algorithm().as_str().to_owned(),
                    kms_key_id: d.kms_master_key_id().map(str::to_owned),
                })),
            Err(e) => {
                let e = classify(format!("GetBucketEncryption on {bucket:?}"), e);
                not_set(e, &["ServerSideEncryptionConfigurationNotFoundError"])
            }
        }
    }

    /// GetBucketLocation: the region (`us-east-1` for an empty constraint, `eu-west-1`
    /// for the legacy `EU`).
    pub(super) async fn bucket_region(&self, bucket: &str) -> Result<Option<String>, S3Error> {
        match self
            .client
            .get_bucket_location()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(o) => Ok(Some(
                match o.location_constraint().map(|c| c.as_str()).unwrap_or("") {
                    "" => "us-east-1".to_owned(),
                    "EU" => "eu-west-1".to_owned(),
                    r => r.to_owned(),
                },
            )),
            Err(e) => {
                let e = classify(format!("GetBucketLocation on {bucket:?}"), e);
                not_set(e, &[])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind, code: Option<&str>, status: Option<u16>) -> S3Error {
        S3Error {
            kind,
            context: "test".into(),
            code: code.map(Into::into),
            status,
            message: String::new(),
        }
    }

    #[test]
    fn missing_configurations_are_not_set_other_errors_are_errors() {
        let codes = &["NoSuchBucketPolicy"];
        for absent in [
            err(ErrorKind::Other, Some("NoSuchBucketPolicy"), Some(404)),
            err(ErrorKind::NotFound, None, Some(404)),
            err(ErrorKind::NotImplemented, Some("NotImplemented"), Some(501)),
            err(ErrorKind::Other, Some("XNotHere"), Some(404)),
        ] {
            assert!(matches!(not_set::<()>(absent, codes), Ok(None)));
        }
        for error in [
            err(ErrorKind::AccessDenied, Some("AccessDenied"), Some(403)),
            err(ErrorKind::NoSuchBucket, Some("NoSuchBucket"), Some(404)),
            err(ErrorKind::Unreachable, None, None),
            err(ErrorKind::Other, Some("InternalError"), Some(500)),
        ] {
            assert!(not_set::<()>(error, codes).is_err());
        }
    }

    #[test]
    fn destination_bucket_names_come_from_arns() {
        assert_eq!(bucket_of_arn("arn:aws:s3:::replica-eu"), "replica-eu");
        assert_eq!(bucket_of_arn("replica"), "replica");
    }
}
