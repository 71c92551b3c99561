//! The S3 adapter: the only module that talks to `aws_sdk_s3`.
//!
//! It turns SDK calls into the engine's plain data ([`s3rewind_engine::Entry`], [`Versioning`]) and SDK
//! errors into one classified [`S3Error`], so the rest of the CLI never matches on SDK
//! types. Every request is made with path-style addressing when an endpoint URL is given,
//! and with request checksums only where an operation requires one, so S3-compatible
//! servers that reject the SDK's default checksums still work.
//!
//! [`S3`] is an [`Endpoint`]: its buckets ([`S3Bucket`]) are reached only through the
//! [`Bucket`] and [`BucketConfig`] traits, and its per-object methods are private to this
//! module. `batch submit` and `batch status` keep an S3 Control client ([`Control`]) of
//! their own: jobs are not requests to a bucket.

use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    BucketVersioningStatus, GlacierJobParameters, MfaDeleteStatus, RestoreRequest, Tier,
};
use chrono::{DateTime, Utc};
use s3rewind_engine::Versioning;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

mod bucket;
mod config;
mod control;
mod error;
mod list;
mod list_xml;
pub mod notify;
mod sqs;
mod write;

pub use crate::bucket::{
    Acl, ArchiveRestoreState, BucketVersioning, ConnectOptions, CopyRequest, ErrorKind, Head,
    ListRequest, ObjectAttrs, ObjectsPage, RawPage, RetryMode, S3Error, SharedEndpoint,
};
use crate::bucket::{Bucket, BucketConfig, Capabilities, Connector, Endpoint, FirstBytes};
use async_trait::async_trait;
pub use bucket::S3Bucket;
pub use control::{Control, JobInfo, JobRequest};
use error::classify;
pub use sqs::{Sqs, queue_origin};

/// Read a GetBucketVersioning body whose root element the SDK does not accept.
fn lenient_versioning(body: &[u8]) -> Option<BucketVersioning> {
    let text = std::str::from_utf8(body).ok()?;
    if !text.contains("GetBucketVersioningResponse") && !text.contains("VersioningConfiguration") {
        return None;
    }
    let field = |name: &str| -> Option<String> {
        let open = format!("<{name}>");
        let start = text.find(&open)? + open.len();
        let end = start + text[start..].find('<')?;
        Some(text[start..end].trim().to_owned())
    };
    let status = match field("Status").as_deref() {
        Some("Enabled") => Versioning::Enabled,
        Some("Suspended") => Versioning::Suspended,
        None => Versioning::Unversioned,
        Some(_) => return None,
    };
    Some(BucketVersioning {
        status,
        mfa_delete: field("MfaDelete").as_deref() == Some("Enabled"),
    })
}

/// The SDK configuration loader for the given options: the standard credential and
/// configuration chain (environment, profiles, SSO, assume-role) with the overrides.
pub(crate) fn loader(opts: &ConnectOptions) -> aws_config::ConfigLoader {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(p) = &opts.profile {
        // An explicit profile wins over credentials in the environment (as with the
        // AWS CLI's --profile); the default chain would try the environment first.
        loader = loader.profile_name(p).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(p)
                .build(),
        );
    }
    if let Some(e) = &opts.endpoint_url {
        loader = loader.endpoint_url(e);
    }
    let region = RegionProviderChain::first_try(opts.region.clone().map(Region::new))
        .or_default_provider()
        .or_else(Region::from_static("us-east-1"));
    loader = loader.region(region);
    let rc = match opts.retry_mode {
        Some(RetryMode::Adaptive) => RetryConfig::adaptive(),
        _ => RetryConfig::standard(),
    };
    loader.retry_config(rc.with_max_attempts(opts.max_attempts.unwrap_or(READ_ATTEMPTS).max(1)))
}

/// Attempts per read (listing, HEAD, GET, configuration) unless `--max-attempts` says
/// otherwise. The SDK's default of 3 let one listing call that met three transient
/// errors in a row end a restore (seen through the fault-injecting proxy at 9% faults
/// per request); reads are idempotent, so they are tried longer. Writes are never
/// retried by the SDK (see `no_retries`).
pub const READ_ATTEMPTS: u32 = 5;

/// The S3 client.
#[derive(Clone)]
pub struct S3 {
    client: Client,
    /// The endpoint is AWS's own (the default one, or a VPC, FIPS, dual-stack or
    /// regional one): conditional writes are supported there.
    aws: bool,
    /// ListObjectVersions calls made through this client (and its clones), for commands
    /// that say what a listing cost.
    list_calls: Arc<AtomicU64>,
}

impl fmt::Debug for S3 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("S3 { .. }")
    }
}

/// Is this endpoint URL one of AWS's own S3 endpoints (`*.amazonaws.com`, also the
/// FIPS, dual-stack, VPC-interface and China ones)? Decided from the host, not from
/// whether an endpoint was configured.
pub fn endpoint_is_aws(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["amazonaws.com", "amazonaws.com.cn"]
        .iter()
        .any(|d| host.ends_with(&format!(".{d}")))
}

/// A write that adds a version (CopyObject, PutObject, DeleteObject adding a marker) is
/// sent once: a retry after a reply lost on the way back would add a second version. The
/// runner retries it instead, after reading the key again (see the `run` module), and sees
/// SlowDown itself, so its concurrency adapts.
fn no_retries() -> aws_sdk_s3::config::Builder {
    aws_sdk_s3::config::Builder::default().retry_config(RetryConfig::disabled())
}

/// What a request of one version names in an error: `GetObject s3://b/k?versionId=v`.
fn of_version(op: &str, bucket: &str, key: &str, version_id: &str) -> String {
    format!("{op} s3://{bucket}/{key}?versionId={version_id}")
}

fn strip_quotes(etag: &str) -> String {
    etag.trim_matches('"').to_owned()
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl S3 {
    /// Build a client from the standard credential and configuration chain (environment,
    /// profiles, SSO, assume-role) and the given overrides.
    pub async fn connect(opts: &ConnectOptions) -> S3 {
        let shared = loader(opts).load().await;
        let custom_endpoint = shared.endpoint_url().is_some();
        let aws = shared.endpoint_url().is_none_or(endpoint_is_aws);
        let conf = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(custom_endpoint)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .build();
        S3 {
            client: Client::from_conf(conf),
            aws,
            list_calls: Arc::default(),
        }
    }

    /// What the servers behind this client can do. On AWS's own endpoints conditional
    /// writes (`If-Match` and `If-None-Match` on CopyObject) are supported and a copy's
    /// reply names its version; other servers may ignore or reject the conditions (the
    /// check right before each write covers them) and may name no version (radosgw).
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            conditional_writes: self.aws,
            copy_names_version: self.aws,
        }
    }

    /// A client around an SDK client built elsewhere (tests, tools); it is not taken to
    /// be AWS's own endpoint, so no conditional writes are sent.
    pub fn from_client(client: Client) -> S3 {
        S3 {
            client,
            aws: false,
            list_calls: Arc::default(),
        }
    }

    /// GetBucketVersioning.
    async fn versioning(&self, bucket: &str) -> Result<BucketVersioning, S3Error> {
        let out = match self
            .client
            .get_bucket_versioning()
            .bucket(bucket)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                // Some S3-compatible servers (moto 5.2) name the XML root
                // `GetBucketVersioningResponse` instead of `VersioningConfiguration`, which
                // the SDK rejects although the content is right: read the body leniently.
                if let Some(raw) = e.raw_response()
                    && raw.status().as_u16() == 200
                    && let Some(v) = raw.body().bytes().and_then(lenient_versioning)
                {
                    return Ok(v);
                }
                return Err(classify(
                    format!("GetBucketVersioning on bucket {bucket:?}"),
                    e,
                ));
            }
        };
        let status = match out.status() {
            Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
            Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
            _ => Versioning::Unversioned,
        };
        Ok(BucketVersioning {
            status,
            mfa_delete: out.mfa_delete() == Some(&MfaDeleteStatus::Enabled),
        })
    }

    /// HeadObject, of one version or of the current one. `Ok(None)` when the key (or
    /// version) does not exist or its current version is a delete marker.
    async fn head(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
    ) -> Result<Option<Head>, S3Error> {
        let mut req = self.client.head_object().bucket(bucket).key(key);
        if let Some(v) = version_id {
            req = req.version_id(v);
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) => {
                let e = classify(format!("HeadObject on s3://{bucket}/{key}"), e);
                // HEAD of a delete marker's version id: 405 on S3, 404 on others.
                if e.kind == ErrorKind::NotFound || e.status == Some(405) {
                    return Ok(None);
                }
                return Err(e);
            }
        };
        if out.delete_marker() == Some(true) {
            return Ok(None);
        }
        Ok(Some(Head {
            version_id: out.version_id().unwrap_or("null").to_owned(),
            etag: strip_quotes(out.e_tag().unwrap_or_default()),
            size: out.content_length().unwrap_or(0).max(0) as u64,
            storage_class: out
                .storage_class()
                .map_or("STANDARD", |s| s.as_str())
                .to_owned(),
            archive_status: out.archive_status().map(|s| s.as_str().to_owned()),
            restore: out.restore().map(str::to_owned),
            content_type: out.content_type().map(str::to_owned),
            content_encoding: out.content_encoding().map(str::to_owned),
            content_disposition: out.content_disposition().map(str::to_owned),
            content_language: out.content_language().map(str::to_owned),
            cache_control: out.cache_control().map(str::to_owned),
            expires: out.expires_string().map(str::to_owned),
            metadata: out.metadata().cloned().unwrap_or_default(),
            sse: out.server_side_encryption().map(|s| s.as_str().to_owned()),
            sse_kms_key_id: out.ssekms_key_id().map(str::to_owned),
            bucket_key_enabled: out.bucket_key_enabled(),
            website_redirect: out.website_redirect_location().map(str::to_owned),
            last_modified: out.last_modified().and_then(to_chrono),
        }))
    }

    /// GetObjectTagging of one version (`""`: of the current version).
    async fn tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<Vec<(String, String)>, S3Error> {
        let out = self
            .client
            .get_object_tagging()
            .bucket(bucket)
            .key(key)
            .set_version_id(Some(version_id.to_owned()).filter(|v| !v.is_empty()))
            .send()
            .await;
        match out {
            Ok(out) => Ok(out
                .tag_set()
                .iter()
                .map(|t| (t.key().to_owned(), t.value().to_owned()))
                .collect()),
            // radosgw answers an object without tags with a 200 and an empty body.
            Err(e)
                if e.raw_response().is_some_and(|r| {
                    r.status().as_u16() == 200
                        && r.body()
                            .bytes()
                            .is_some_and(|b| b.iter().all(u8::is_ascii_whitespace))
                }) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(classify(
                of_version("GetObjectTagging", bucket, key, version_id),
                e,
            )),
        }
    }

    /// PutObjectTagging on one version (replaces its tag set).
    async fn put_tags(
        &self,
        bucket: &str,
        key: &str,
        version_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), S3Error> {
        let set = tags
            .iter()
            .map(|(k, v)| {
                aws_sdk_s3::types::Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| {
                        S3Error::other(
                            format!("PutObjectTagging s3://{bucket}/{key}"),
                            e.to_string(),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .set_tag_set(Some(set))
            .build()
            .map_err(|e| {
                S3Error::other(
                    format!("PutObjectTagging s3://{bucket}/{key}"),
                    e.to_string(),
                )
            })?;
        self.client
            .put_object_tagging()
            .bucket(bucket)
            .key(key)
            .set_version_id(version_id.filter(|v| *v != "null").map(str::to_owned))
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| classify(format!("PutObjectTagging s3://{bucket}/{key}"), e))?;
        Ok(())
    }

    /// GetObject of one version streamed into `out`; returns the bytes written.
    async fn download<W>(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        out: &mut W,
    ) -> Result<u64, S3Error>
    where
        W: tokio::io::AsyncWrite + Unpin + ?Sized,
    {
        use tokio::io::AsyncWriteExt;
        let ctx = || of_version("GetObject", bucket, key, version_id);
        let resp = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            // An empty version id reads the current object, as a user's GET does.
            .set_version_id(Some(version_id.to_owned()).filter(|v| !v.is_empty()))
            .send()
            .await
            .map_err(|e| classify(ctx(), e))?;
        let io_err = |message: String| S3Error {
            kind: ErrorKind::Unreachable,
            context: ctx(),
            code: None,
            status: None,
            message,
        };
        let mut body = resp.body;
        let mut written = 0u64;
        while let Some(chunk) = body.try_next().await.map_err(|e| io_err(e.to_string()))? {
            out.write_all(&chunk)
                .await
                .map_err(|e| io_err(format!("writing: {e}")))?;
            written += chunk.len() as u64;
        }
        Ok(written)
    }

    /// RestoreObject for one archived version. `days` is omitted for
    /// Intelligent-Tiering archive tiers (they take none). Returns what happened.
    async fn request_archive_restore(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        days: Option<i32>,
        tier: &str,
    ) -> Result<ArchiveRestoreState, S3Error> {
        let mut rr = RestoreRequest::builder();
        if let Some(d) = days {
            rr = rr.days(d).glacier_job_parameters(
                GlacierJobParameters::builder()
                    .tier(Tier::from(tier))
                    .build()
                    .map_err(|e| S3Error::other("RestoreObject".to_owned(), e.to_string()))?,
            );
        }
        match self
            .client
            .restore_object()
            .bucket(bucket)
            .key(key)
            .version_id(version_id)
            .restore_request(rr.build())
            .send()
            .await
        {
            Ok(_) => Ok(ArchiveRestoreState::Requested),
            Err(e) => {
                let e = classify(of_version("RestoreObject", bucket, key, version_id), e);
                if e.kind == ErrorKind::RestoreInProgress {
                    Ok(ArchiveRestoreState::InProgress)
                } else {
                    Err(e)
                }
            }
        }
    }

    /// GetObjectAcl of one version, as grant headers to re-apply on a write.
    async fn acl(&self, bucket: &str, key: &str, version_id: &str) -> Result<Acl, S3Error> {
        let out = self
            .client
            .get_object_acl()
            .bucket(bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| classify(of_version("GetObjectAcl", bucket, key, version_id), e))?;
        let mut acl = Acl::default();
        for g in out.grants() {
            let Some(grantee) = g.grantee() else { continue };
            let who = if let Some(id) = grantee.id() {
                format!("id=\"{id}\"")
            } else if let Some(uri) = grantee.uri() {
                format!("uri=\"{uri}\"")
            } else if let Some(email) = grantee.email_address() {
                format!("emailAddress=\"{email}\"")
            } else {
                continue;
            };
            let slot = match g.permission().map(|p| p.as_str()) {
                Some("FULL_CONTROL") => &mut acl.full_control,
                Some("READ") => &mut acl.read,
                Some("READ_ACP") => &mut acl.read_acp,
                Some("WRITE_ACP") => &mut acl.write_acp,
                _ => continue,
            };
            slot.push(who);
        }
        Ok(acl)
    }

    /// GetObject of one version, whole or a byte range (`bytes=0-4095`).
    async fn get(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        range: Option<&str>,
    ) -> Result<Vec<u8>, S3Error> {
        let ctx = || of_version("GetObject", bucket, key, version_id);
        let mut req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(version_id);
        if let Some(r) = range {
            req = req.range(r);
        }
        let out = req.send().await.map_err(|e| classify(ctx(), e))?;
        collect_body(out.body).await.map_err(|message| S3Error {
            kind: ErrorKind::Unreachable,
            context: ctx(),
            code: None,
            status: None,
            message,
        })
    }
}

impl S3 {
    /// A ranged GetObject of one version (`bytes=0-{len-1}`) that also returns the
    /// version's Content-Type, for content sampling. Do not call it for empty objects: a
    /// range of an empty object is unsatisfiable (416).
    async fn first_bytes(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        len: usize,
    ) -> Result<FirstBytes, S3Error> {
        let ctx = || of_version("GetObject", bucket, key, version_id);
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .version_id(version_id)
            .range(format!("bytes=0-{}", len.max(1) - 1))
            .send()
            .await
            .map_err(|e| classify(ctx(), e))?;
        let content_type = out.content_type().map(str::to_owned);
        let mut bytes = collect_body(out.body).await.map_err(|message| S3Error {
            kind: ErrorKind::Unreachable,
            context: ctx(),
            code: None,
            status: None,
            message,
        })?;
        // A server that ignores Range sends the whole object.
        bytes.truncate(len);
        Ok(FirstBytes {
            bytes,
            content_type,
        })
    }
}

async fn collect_body(body: ByteStream) -> Result<Vec<u8>, String> {
    body.collect()
        .await
        .map(|b| b.into_bytes().to_vec())
        .map_err(|e| e.to_string())
}

/// The endpoint's buckets are [`S3Bucket`]s: every per-object request goes through the
/// [`Bucket`] trait, every configuration read through [`BucketConfig`].
impl Endpoint for S3 {
    fn bucket(&self, name: &str) -> Arc<dyn Bucket> {
        Arc::new(S3Bucket::new(self.clone(), name))
    }

    fn config(&self, name: &str) -> Arc<dyn BucketConfig> {
        Arc::new(S3Bucket::new(self.clone(), name))
    }

    fn list_calls(&self) -> u64 {
        self.list_calls.load(Ordering::Relaxed)
    }
}

/// Opens S3 endpoints ([`S3::connect`]): the destination of a restore with options of its
/// own, a client for another region.
#[derive(Debug, Clone, Copy, Default)]
pub struct S3Connector;

#[async_trait]
impl Connector for S3Connector {
    async fn connect(&self, opts: &ConnectOptions) -> Arc<dyn Endpoint> {
        Arc::new(S3::connect(opts).await)
    }
}

/// Time to wait before retrying after a throttled request (used by the executor).
pub const THROTTLE_PAUSE: Duration = Duration::from_millis(200);

#[cfg(test)]
mod tests {
    #[test]
    fn aws_endpoints_are_told_from_the_host() {
        use super::endpoint_is_aws;
        for aws in [
            "https://s3.us-east-1.amazonaws.com",
            "https://s3-fips.us-gov-west-1.amazonaws.com/",
            "https://bucket.vpce-0a1b2c3d-abcd.s3.us-east-1.vpce.amazonaws.com",
            "https://s3.dualstack.eu-west-1.amazonaws.com:443",
            "https://s3.cn-north-1.amazonaws.com.cn",
        ] {
            assert!(endpoint_is_aws(aws), "{aws}");
        }
        for other in [
            "http://127.0.0.1:9000",
            "http://localhost:7480",
            "https://minio.example.com",
            "https://amazonaws.com.evil.example",
            "https://notamazonaws.com",
            "https://storage.googleapis.com",
        ] {
            assert!(!endpoint_is_aws(other), "{other}");
        }
    }

    use super::*;

    #[test]
    fn lenient_versioning_reads_moto_bodies() {
        let moto = br#"<?xml version="1.0" encoding="utf-8"?>
<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Suspended</Status></GetBucketVersioningResponse>"#;
        assert_eq!(
            lenient_versioning(moto).unwrap().status,
            Versioning::Suspended
        );
        let never =
            br#"<GetBucketVersioningResponse xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>"#;
        assert_eq!(
            lenient_versioning(never).unwrap().status,
            Versioning::Unversioned
        );
        assert!(lenient_versioning(b"<Error><Code>x</Code></Error>").is_none());
        assert!(
            lenient_versioning(
                b"<VersioningConfiguration><Status>Weird</Status></VersioningConfiguration>"
            )
            .is_none()
        );
    }
}
