//! S3 Control (Batch Operations): CreateJob and DescribeJob, for `batch submit` and
//! `batch status`/`reconcile`. Like the rest of this module it is the only place that
//! uses its SDK (`aws_sdk_s3control`); the commands see [`JobRequest`] and [`JobInfo`].
//!
//! # Endpoints
//!
//! S3 Control's endpoint rules put the account id in front of the host:
//! `https://{AccountId}.s3-control.{Region}.amazonaws.com`, and with an explicit endpoint
//! URL `{scheme}://{AccountId}.{authority}` (so `http://127.0.0.1:9000` becomes
//! `http://123456789012.127.0.0.1:9000`; AWS's own VPC endpoints for S3 Control answer
//! under such names). The SDK offers no switch to leave the label out. So when
//! `--control-endpoint-url` is given, the client's resolver looks up `ACCOUNT.HOST` as
//! `HOST` (any single label in front of the endpoint's host): requests still carry the
//! `Host` header the rules chose and are signed for it, and they reach the endpoint that
//! was named. The global `--endpoint-url` (an S3-compatible server) is never used for
//! S3 Control.

use super::{ConnectOptions, S3Error, classify};
use aws_sdk_s3control::Client;
use aws_sdk_s3control::types::{
    JobManifest, JobManifestFieldName, JobManifestFormat, JobManifestLocation, JobManifestSpec,
    JobOperation, JobReport, JobReportFormat, JobReportScope, S3CopyObjectOperation,
    S3MetadataDirective, S3StorageClass,
};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt;
use std::net::IpAddr;

/// The S3 Control client.
#[derive(Clone)]
pub struct Control {
    client: Client,
}

impl fmt::Debug for Control {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Control { .. }")
    }
}

/// Resolves `LABEL.HOST` (one label in front of the explicit endpoint's host, where the
/// endpoint rules put the account id) as `HOST`; any other name as usual.
#[derive(Debug, Clone)]
struct AccountLabelResolver {
    host: String,
}

impl AccountLabelResolver {
    /// The name to look up for `name`.
    fn target(&self, name: &str) -> String {
        match name
            .strip_suffix(self.host.as_str())
            .and_then(|p| p.strip_suffix('.'))
        {
            Some(label) if !label.is_empty() && !label.contains('.') => self.host.clone(),
            _ => name.to_owned(),
        }
    }
}

impl ResolveDns for AccountLabelResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let target = self.target(name);
        DnsFuture::new(async move {
            let bare = target.trim_start_matches('[').trim_end_matches(']');
            if let Ok(ip) = bare.parse::<IpAddr>() {
                return Ok(vec![ip]);
            }
            tokio::net::lookup_host((bare, 0))
                .await
                .map(|addrs| addrs.map(|a| a.ip()).collect())
                .map_err(ResolveDnsError::new)
        })
    }
}

/// The host of an endpoint URL (`http://h:9000/x` → `h`).
fn url_host(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| h)
            .trim_start_matches('[')
            .to_owned();
    }
    authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(h, _)| h)
        .to_ascii_lowercase()
}

/// A CreateJob request of an `S3PutObjectCopy` job, as `plan --emit batch-ops` writes it
/// (with the manifest's real ETag filled in).
#[derive(Debug, Clone)]
pub struct JobRequest {
    /// The account that runs the job.
    pub account_id: String,
    /// Idempotency token: the same token gives the same job.
    pub client_request_token: String,
    /// The job waits for a confirmation before it runs.
    pub confirmation_required: bool,
    /// The job's description.
    pub description: Option<String>,
    /// Its priority.
    pub priority: i32,
    /// The role Batch Operations assumes.
    pub role_arn: String,
    /// `arn:aws:s3:::BUCKET` the copies go to.
    pub target_resource: String,
    /// `COPY` or `REPLACE`.
    pub metadata_directive: Option<String>,
    /// The copies' storage class.
    pub storage_class: Option<String>,
    /// The manifest object's ARN.
    pub manifest_arn: String,
    /// The manifest object's ETag.
    pub manifest_etag: String,
    /// The manifest object's version id, when the bucket keeps versions.
    pub manifest_version_id: Option<String>,
    /// The manifest's fields (`Bucket`, `Key`, `VersionId`).
    pub manifest_fields: Vec<String>,
    /// `arn:aws:s3:::BUCKET` of the completion report.
    pub report_bucket: String,
    /// The report's prefix.
    pub report_prefix: Option<String>,
    /// `AllTasks` or `FailedTasksOnly`.
    pub report_scope: String,
}

/// What DescribeJob says of a job.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    /// The job id.
    pub job_id: String,
    /// `New`, `Preparing`, `Suspended` (awaiting confirmation), `Ready`, `Active`,
    /// `Pausing`, `Paused`, `Complete`, `Cancelling`, `Cancelled`, `Failing`, `Failed`.
    pub status: String,
    /// The description given at creation.
    pub description: Option<String>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub terminated_at: Option<DateTime<Utc>>,
    /// Why the status last changed.
    pub status_update_reason: Option<String>,
    /// Tasks in all.
    pub tasks_total: u64,
    /// Tasks that succeeded.
    pub tasks_succeeded: u64,
    /// Tasks that failed.
    pub tasks_failed: u64,
    /// Why the job failed (code, reason).
    pub failure_reasons: Vec<(String, String)>,
    /// `arn:aws:s3:::BUCKET` of the completion report, when one is enabled.
    pub report_bucket: Option<String>,
    /// The report's prefix.
    pub report_prefix: Option<String>,
    /// The report is enabled.
    pub report_enabled: bool,
    /// `AllTasks` or `FailedTasksOnly`.
    pub report_scope: Option<String>,
    /// `arn:aws:s3:::BUCKET` the copies go to (an `S3PutObjectCopy` job).
    pub target_resource: Option<String>,
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

fn build_error(context: &str, e: impl fmt::Display) -> S3Error {
    S3Error::other(context.to_owned(), e.to_string())
}

impl Control {
    /// A client from the standard credential chain and the global options (profile,
    /// region, retries; never the global `--endpoint-url`), sending to `endpoint` when
    /// given (see the module docs for the account-id label).
    pub async fn connect(opts: &ConnectOptions, endpoint: Option<&str>) -> Control {
        let without_s3_endpoint = ConnectOptions {
            endpoint_url: None,
            ..opts.clone()
        };
        let shared = super::loader(&without_s3_endpoint).load().await;
        let mut conf = aws_sdk_s3control::config::Builder::from(&shared);
        if let Some(url) = endpoint {
            let resolver = AccountLabelResolver {
                host: url_host(url),
            };
            let http = aws_smithy_http_client::Builder::new()
                .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                    aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_with_resolver(resolver);
            conf = conf.endpoint_url(url).http_client(http);
        }
        Control {
            client: Client::from_conf(conf.build()),
        }
    }

    /// CreateJob; returns the job id.
    pub async fn create_job(&self, r: &JobRequest) -> Result<String, S3Error> {
        let ctx = "CreateJob";
        let mut copy = S3CopyObjectOperation::builder().target_resource(&r.target_resource);
        if let Some(d) = &r.metadata_directive {
            copy = copy.metadata_directive(S3MetadataDirective::from(d.as_str()));
        }
        if let Some(c) = &r.storage_class {
            copy = copy.storage_class(S3StorageClass::from(c.as_str()));
        }
        let mut spec =
            JobManifestSpec::builder().format(JobManifestFormat::S3BatchOperationsCsv20180820);
        for f in &r.manifest_fields {
            spec = spec.fields(JobManifestFieldName::from(f.as_str()));
        }
        let manifest = JobManifest::builder()
            .spec(spec.build().map_err(|e| build_error(ctx, e))?)
            .location(
                JobManifestLocation::builder()
                    .object_arn(&r.manifest_arn)
                    .e_tag(&r.manifest_etag)
                    .set_object_version_id(r.manifest_version_id.clone())
                    .build()
                    .map_err(|e| build_error(ctx, e))?,
            )
            .build();
        let report = JobReport::builder()
            .bucket(&r.report_bucket)
            .format(JobReportFormat::ReportCsv20180820)
            .enabled(true)
            .set_prefix(r.report_prefix.clone())
            .report_scope(JobReportScope::from(r.report_scope.as_str()))
            .build();
        let out = self
            .client
            .create_job()
            .account_id(&r.account_id)
            .client_request_token(&r.client_request_token)
            .confirmation_required(r.confirmation_required)
            .set_description(r.description.clone())
            .priority(r.priority)
            .role_arn(&r.role_arn)
            .operation(
                JobOperation::builder()
                    .s3_put_object_copy(copy.build())
                    .build(),
            )
            .manifest(manifest)
            .report(report)
            .send()
            .await
            .map_err(|e| classify(format!("CreateJob in account {}", r.account_id), e))?;
        out.job_id()
            .map(str::to_owned)
            .ok_or_else(|| build_error(ctx, "the reply names no job id"))
    }

    /// DescribeJob.
    pub async fn describe_job(&self, account_id: &str, job_id: &str) -> Result<JobInfo, S3Error> {
        let out = self
            .client
            .describe_job()
            .account_id(account_id)
            .job_id(job_id)
            .send()
            .await
            .map_err(|e| classify(format!("DescribeJob {job_id} in account {account_id}"), e))?;
        let job = out
            .job()
            .ok_or_else(|| build_error("DescribeJob", "the reply describes no job"))?;
        let progress = job.progress_summary();
        let count = |n: Option<i64>| n.unwrap_or(0).max(0) as u64;
        let report = job.report();
        Ok(JobInfo {
            job_id: job.job_id().unwrap_or(job_id).to_owned(),
            status: job.status().map_or("Unknown", |s| s.as_str()).to_owned(),
            description: job.description().map(str::to_owned),
            created_at: job.creation_time().and_then(to_chrono),
            terminated_at: job.termination_date().and_then(to_chrono),
            status_update_reason: job.status_update_reason().map(str::to_owned),
            tasks_total: count(progress.and_then(|p| p.total_number_of_tasks())),
            tasks_succeeded: count(progress.and_then(|p| p.number_of_tasks_succeeded())),
            tasks_failed: count(progress.and_then(|p| p.number_of_tasks_failed())),
            failure_reasons: job
                .failure_reasons()
                .iter()
                .map(|f| {
                    (
                        f.failure_code().unwrap_or_default().to_owned(),
                        f.failure_reason().unwrap_or_default().to_owned(),
                    )
                })
                .collect(),
            report_bucket: report.and_then(|r| r.bucket()).map(str::to_owned),
            report_prefix: report.and_then(|r| r.prefix()).map(str::to_owned),
            report_enabled: report.is_some_and(|r| r.enabled()),
            report_scope: report
                .and_then(|r| r.report_scope())
                .map(|s| s.as_str().to_owned()),
            target_resource: job
                .operation()
                .and_then(|o| o.s3_put_object_copy())
                .and_then(|c| c.target_resource())
                .map(str::to_owned),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_label_resolves_as_the_endpoint_host() {
        let r = AccountLabelResolver {
            host: url_host("http://127.0.0.1:9000/"),
        };
        assert_eq!(r.host, "127.0.0.1");
        assert_eq!(r.target("123456789012.127.0.0.1"), "127.0.0.1");
        assert_eq!(r.target("127.0.0.1"), "127.0.0.1");
        // Only one label, and only in front of that host.
        assert_eq!(r.target("a.b.127.0.0.1"), "a.b.127.0.0.1");
        assert_eq!(r.target("x.example.com"), "x.example.com");
        let v = AccountLabelResolver {
            host: url_host("https://control.vpce-1a2b.s3.us-west-2.vpce.amazonaws.com"),
        };
        assert_eq!(
            v.target("111122223333.control.vpce-1a2b.s3.us-west-2.vpce.amazonaws.com"),
            "control.vpce-1a2b.s3.us-west-2.vpce.amazonaws.com"
        );
        assert_eq!(url_host("http://[::1]:80"), "::1");
        assert_eq!(url_host("http://user@Host.Example:1"), "host.example");
    }
}
