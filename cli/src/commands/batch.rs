//! `batch submit`, `batch status`, `batch reconcile`: the S3 Batch Operations half of a
//! restore prepared with `plan --emit batch-ops DIR`.
//!
//! - `submit DIR` checks every `create-job-CLASS.json` and its manifest (nothing is
//!   written when one is wrong), asks for confirmation, uploads each manifest
//!   (PutObject; the request gets the upload's real ETag), creates each job (CreateJob,
//!   with an idempotency token derived from the request, so a submission interrupted
//!   between the two is repeated without a second job) and records it in `DIR/jobs.json`.
//! - `status JOB|DIR` shows DescribeJob's status, progress and failure reasons.
//! - `reconcile DIR` reads each finished job's completion report, finds the version each
//!   succeeded copy created with one listing of the destination keys' range (the report
//!   does not name it), appends those copies to the restore's journal as a local run
//!   would, and writes `DIR/remaining.json`: the plan minus what the jobs did (failed
//!   tasks, the actions Batch Operations cannot do), for `s3rewind apply`.

use crate::args::{
    BatchArgs, BatchCommand, BatchReconcileArgs, BatchStatusArgs, BatchSubmitArgs, ControlArgs,
};
use crate::batch::reconcile as reconcile_chunks;
use crate::batch::{
    JobFiles, JobsFile, PLAN_FILE, REMAINING_FILE, SubmittedJob, bucket_of_arn, is_placeholder,
    object_of_arn, read_requests,
};
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::journal::{self, Done, Journal, Line, Op};
use crate::output::{JsonObject, Printer, human_bytes};
use crate::pipeline::plan_file::{read_plan_file, write_plan_file};
use crate::pipeline::{App, rfc3339};
use crate::s3::{Control, ErrorKind, JobInfo, JobRequest, S3Error};
use crate::spill::{ActionSpool, Spilled};
use chrono::Utc;
use s3rewind_engine::batch::reconcile::{self, Comparison, JobReport, Outcome};
use s3rewind_engine::batch::report::{parse_report_manifest, parse_report_rows};
use s3rewind_engine::keys::form_decode;
use s3rewind_engine::timeline::KeyHistory;
use s3rewind_engine::{Action, RestorePlan, parse_s3_uri};
use serde_json::json;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// The name and version of `batch submit --output json`'s document.
pub const BATCH_SUBMIT_SCHEMA: &str = "s3rewind.batch-submit/v1";
/// The name and version of `batch status --output json`'s document.
pub const BATCH_STATUS_SCHEMA: &str = "s3rewind.batch-status/v1";
/// The name and version of `batch reconcile --output json`'s document.
pub const BATCH_RECONCILE_SCHEMA: &str = "s3rewind.batch-reconcile/v1";

/// `s3rewind batch …`.
pub async fn batch_cmd(app: &App, args: &BatchArgs) -> CliResult<Exit> {
    match &args.command {
        BatchCommand::Submit(a) => submit_cmd(app, a).await,
        BatchCommand::Status(a) => status_cmd(app, a).await,
        BatchCommand::Reconcile(a) => reconcile_cmd(app, a).await,
    }
}

/// An S3 Control error, with the exit code of its class.
fn from_control(e: S3Error) -> CliError {
    if e.status == Some(404) {
        return CliError::new(Exit::NotFound, format!("{e}"));
    }
    match e.kind {
        ErrorKind::AccessDenied => CliError::new(
            Exit::Access,
            format!(
                "access denied by S3 Control ({e}); the caller needs s3:CreateJob and iam:PassRole on the job's role (submit), s3:DescribeJob (status, reconcile)"
            ),
        ),
        ErrorKind::Unreachable => CliError::new(
            Exit::Network,
            format!(
                "cannot reach the S3 Control endpoint ({e}); check --control-endpoint-url, --region and the network"
            ),
        ),
        ErrorKind::NoCredentials => from_s3(e, ""),
        ErrorKind::NotFound | ErrorKind::NoSuchBucket => {
            CliError::new(Exit::NotFound, format!("{e}"))
        }
        _ => CliError::failure(format!("{e}")),
    }
}

fn check_account(account: &str, whence: &str) -> CliResult<()> {
    if account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(CliError::usage(format!(
            "account id {account:?} ({whence}) is not a 12-digit AWS account id; nothing was written"
        )))
    }
}

/// The control client of the batch options. Batch Operations jobs (CreateJob,
/// DescribeJob) are S3 Control requests, not requests to a bucket: `batch submit` and
/// `batch status` keep this client of their own, outside the [`Endpoint`] and
/// [`Bucket`] traits. Everything they read or write in a bucket (manifests, completion
/// reports) goes through those traits.
///
/// [`Endpoint`]: crate::bucket::Endpoint
/// [`Bucket`]: crate::bucket::Bucket
async fn control(app: &App, c: &ControlArgs) -> Control {
    Control::connect(&app.connect, c.control_endpoint_url.as_deref()).await
}

/// `s3://BUCKET[/PREFIX]` → (`arn:aws:s3:::BUCKET`, the prefix without a trailing `/`).
fn report_location(uri: &str) -> CliResult<(String, Option<String>)> {
    let loc = parse_s3_uri(uri)?;
    let prefix = loc.prefix.trim_end_matches('/').to_owned();
    Ok((
        format!("arn:aws:s3:::{}", loc.bucket),
        Some(prefix).filter(|p| !p.is_empty()),
    ))
}

/// An idempotency token for one job: the same request and manifest give the same
/// token, so CreateJob repeated after an interruption returns the job it created.
fn request_token(parts: &[&str]) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("s3rewind-{hex}")
}

/// One job, ready to submit.
struct ToSubmit {
    files: JobFiles,
    account: String,
    role_arn: String,
    report_bucket: String,
    report_prefix: Option<String>,
    manifest_arn: String,
    manifest_bucket: String,
    manifest_key: String,
    already: Option<SubmittedJob>,
}

fn resolve_job(
    files: JobFiles,
    args: &BatchSubmitArgs,
    recorded: &JobsFile,
) -> CliResult<ToSubmit> {
    let name = files
        .request_path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let r = &files.request;
    let missing = |what: &str, option: &str| {
        CliError::usage(format!(
            "{name} has no {what} (a placeholder): give {option}; nothing was written"
        ))
    };
    // A job recorded as submitted needs nothing more: it is not submitted again.
    if let Some(a) = recorded.jobs.iter().find(|j| j.class == files.class) {
        let (manifest_bucket, manifest_key) = object_of_arn(&a.manifest_arn).unwrap_or_default();
        return Ok(ToSubmit {
            account: a.account_id.clone(),
            role_arn: String::new(),
            report_bucket: a.report_bucket.clone(),
            report_prefix: a.report_prefix.clone(),
            manifest_arn: a.manifest_arn.clone(),
            manifest_bucket,
            manifest_key,
            already: Some(a.clone()),
            files,
        });
    }
    let account = match &args.control.account_id {
        Some(a) => a.clone(),
        None if is_placeholder(&r.account_id) => {
            return Err(missing("account id", "--account-id ID"));
        }
        None => r.account_id.clone(),
    };
    check_account(&account, &name)?;
    let role_arn = match &args.role_arn {
        Some(a) => a.clone(),
        None if is_placeholder(&r.role_arn) => return Err(missing("role", "--role-arn ARN")),
        None => r.role_arn.clone(),
    };
    if !role_arn.starts_with("arn:") || !role_arn.contains(":role/") {
        return Err(CliError::usage(format!(
            "{role_arn:?} is not an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME); nothing was written"
        )));
    }
    let (report_bucket, report_prefix) = match &args.report_uri {
        Some(uri) => report_location(uri)?,
        None if is_placeholder(&r.report.bucket) => {
            return Err(missing(
                "report location",
                "--report-uri s3://BUCKET[/PREFIX]",
            ));
        }
        None => (r.report.bucket.clone(), r.report.prefix.clone()),
    };
    let manifest_arn = match &args.manifest_uri {
        Some(uri) => {
            crate::batch::manifest_object_arn(uri, &format!("manifest-{}.csv", files.class))?
        }
        None if is_placeholder(&r.manifest.location.object_arn) => {
            return Err(missing(
                "manifest location",
                "--manifest-uri s3://BUCKET/PREFIX",
            ));
        }
        None => r.manifest.location.object_arn.clone(),
    };
    let (manifest_bucket, manifest_key) = object_of_arn(&manifest_arn).ok_or_else(|| {
        CliError::usage(format!(
            "{name}: the manifest location {manifest_arn:?} is not arn:aws:s3:::BUCKET/KEY; nothing was written"
        ))
    })?;
    Ok(ToSubmit {
        files,
        account,
        role_arn,
        report_bucket,
        report_prefix,
        manifest_arn,
        manifest_bucket,
        manifest_key,
        already: None,
    })
}

/// Ask S3 Control about a job that does not exist: any answer from the service (not
/// found, invalid, even access denied) shows it is reachable with these credentials;
/// an unreachable endpoint (exit 6) or no credentials (exit 8) is refused.
async fn probe(control: &Control, account: &str) -> CliResult<()> {
    match control
        .describe_job(account, "s3rewind-reachability-check")
        .await
    {
        Err(e) if matches!(e.kind, ErrorKind::Unreachable | ErrorKind::NoCredentials) => {
            let e = from_control(e);
            Err(CliError::new(
                e.exit,
                format!("{}; nothing was written", e.message),
            ))
        }
        _ => Ok(()),
    }
}

/// `s3rewind batch submit`.
async fn submit_cmd(app: &App, args: &BatchSubmitArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let dir = &args.dir;
    if !dir.is_dir() {
        return Err(CliError::usage(format!(
            "{} is not a directory: give the directory `s3rewind plan --emit batch-ops DIR` wrote; nothing was written",
            dir.display()
        )));
    }
    // DIR/jobs.json records each job as it is created.
    crate::outputs::dir("DIR", dir)?;
    let mut recorded = JobsFile::read(dir)?;
    let jobs = read_requests(dir)?
        .into_iter()
        .map(|f| resolve_job(f, args, &recorded))
        .collect::<CliResult<Vec<_>>>()?;
    let new: Vec<&ToSubmit> = jobs.iter().filter(|j| j.already.is_none()).collect();
    for j in jobs.iter().filter(|j| j.already.is_some()) {
        let a = j.already.as_ref().expect("filtered");
        printer.info(format!(
            "{}: already submitted as job {} (recorded in {}); not submitted again",
            j.files.class,
            a.job_id,
            dir.join(crate::batch::JOBS_FILE).display()
        ));
    }
    let hold = !args.run_now;
    if !new.is_empty() && !args.yes {
        confirm_submission(printer, &new, hold)?;
    }
    let control = if new.is_empty() {
        None
    } else {
        let control = control(app, &args.control).await;
        // S3 Control must answer before any manifest is uploaded (an upload followed by
        // an unreachable endpoint or no credentials would leave objects for nothing).
        probe(&control, &new[0].account).await?;
        Some(control)
    };
    let mut docs = Vec::new();
    for j in &jobs {
        let r = &j.files.request;
        let copy = &r.operation.s3_put_object_copy;
        let (job_id, etag, submitted) = match (&j.already, &control) {
            (Some(a), _) => (a.job_id.clone(), a.manifest_etag.clone(), false),
            (None, Some(control)) => {
                let (job_id, etag) = submit(app, control, j, hold, &mut recorded, dir).await?;
                (job_id, etag, true)
            }
            (None, None) => unreachable!("a client exists when a job is new"),
        };
        printer.line(format!(
            "{}: job {job_id}{} — {} copies onto {}, manifest {} (ETag {etag})",
            j.files.class,
            if submitted { "" } else { " (submitted before)" },
            j.files.tasks,
            copy.target_resource,
            j.manifest_arn,
        ));
        docs.push(json!({
            "job_id": job_id,
            "class": j.files.class,
            "tasks": j.files.tasks,
            "target": copy.target_resource,
            "manifest_arn": j.manifest_arn,
            "manifest_etag": etag,
            "report_bucket": j.report_bucket,
            "report_prefix": j.report_prefix,
            "confirmation_required": r.confirmation_required && hold,
            "submitted": submitted,
        }));
    }
    let account = jobs.first().map(|j| j.account.clone());
    if !new.is_empty() {
        if hold {
            printer.line(format!(
                "The jobs wait for confirmation: confirm each in the S3 console, or `aws s3control update-job-status --account-id {} --job-id JOB --requested-job-status Ready`.",
                account.as_deref().unwrap_or_default()
            ));
        }
        printer.line(format!(
            "Follow them with `s3rewind batch status {}`; when they are Complete, `s3rewind batch reconcile {}`.",
            dir.display(),
            dir.display()
        ));
    }
    printer.json_value(&json!({
        "schema": BATCH_SUBMIT_SCHEMA,
        "dir": dir,
        "account_id": account,
        "jobs": docs,
        "jobs_file": dir.join(crate::batch::JOBS_FILE),
    }));
    Ok(Exit::Ok)
}

/// Ask before creating jobs (unless `--yes`): how many, in which account, onto which
/// buckets, and whether they start at once.
fn confirm_submission(printer: &Printer, new: &[&ToSubmit], hold: bool) -> CliResult<()> {
    let tasks: u64 = new.iter().map(|j| j.files.tasks).sum();
    let targets: BTreeSet<String> = new
        .iter()
        .map(|j| bucket_of_arn(&j.files.request.operation.s3_put_object_copy.target_resource))
        .collect();
    let question = format!(
        "Create {} S3 Batch Operations job(s) in account {}: {tasks} copies onto s3://{} (Batch Operations copies without checking the destination first){}. Proceed?",
        new.len(),
        new[0].account,
        targets.into_iter().collect::<Vec<_>>().join(", s3://"),
        if hold {
            "; each job then waits for your confirmation"
        } else {
            "; the jobs start at once (--run-now)"
        }
    );
    match printer.confirm(&question) {
        Some(true) => Ok(()),
        Some(false) => Err(CliError::refused("not confirmed; nothing was written")),
        None => Err(CliError::refused(
            "creating Batch Operations jobs needs confirmation, and stdin is not a terminal; review DIR's create-job-*.json and re-run with --yes; nothing was written",
        )),
    }
}

/// The part of a manifest held while it is uploaded: a manifest up to this size goes in
/// one PutObject, a larger one in parts of this size (a job of 40 million tasks has a
/// manifest of about 4 GB).
const MANIFEST_PART: u64 = 64 << 20;

/// Upload the manifest file at `path` to `key` of `bucket`, holding at most `part` bytes
/// of it: its ETag (the one the job request must name) and version, as stored.
async fn upload_manifest(
    bucket: &dyn crate::bucket::Bucket,
    key: &str,
    path: &Path,
    part: u64,
) -> CliResult<crate::bucket::PutReply> {
    use std::io::Read;
    let cannot =
        |e: std::io::Error| CliError::failure(format!("cannot read {}: {e}", path.display()));
    let failed = |e: S3Error| from_s3(e, bucket.name());
    let mut file = std::fs::File::open(path).map_err(cannot)?;
    let size = file.metadata().map_err(cannot)?.len();
    let mut read_part = |n: u64| -> CliResult<Vec<u8>> {
        let mut body = Vec::with_capacity(n as usize);
        (&mut file).take(n).read_to_end(&mut body).map_err(cannot)?;
        Ok(body)
    };
    if size <= part {
        return bucket
            .put(key, read_part(size)?, "text/csv")
            .await
            .map_err(failed);
    }
    let head = crate::bucket::Head {
        content_type: Some("text/csv".to_owned()),
        ..crate::bucket::Head::default()
    };
    let upload_id = bucket
        .create_multipart(key, &crate::bucket::ObjectAttrs::plain(&head))
        .await
        .map_err(failed)?;
    let mut parts = Vec::new();
    let mut sent = 0u64;
    let uploaded: CliResult<String> = async {
        while sent < size {
            let body = read_part(part.min(size - sent))?;
            sent += body.len() as u64;
            let number = parts.len() as i32 + 1;
            let p = crate::bucket::Part {
                key,
                upload_id: &upload_id,
                number,
            };
            let etag = bucket.upload_part(p, body).await.map_err(failed)?;
            parts.push((number, etag));
        }
        bucket
            .complete_multipart(key, &upload_id, &parts)
            .await
            .map_err(failed)
    }
    .await;
    let version_id = match uploaded {
        Ok(v) => v,
        Err(e) => {
            let _ = bucket.abort_multipart(key, &upload_id).await;
            return Err(e);
        }
    };
    let stored = bucket.head(key, Some(&version_id)).await.map_err(failed)?;
    Ok(crate::bucket::PutReply {
        etag: stored.map(|h| h.etag).unwrap_or_default(),
        version_id: Some(version_id).filter(|v| v != "null"),
    })
}

/// Submit one job: upload its manifest (the request gets the upload's real ETag), create
/// the job (its idempotency token derived from the request, so a submission interrupted
/// between the two is repeated without a second job) and record it in `DIR/jobs.json`.
/// Returns the job id and the manifest's ETag.
async fn submit(
    app: &App,
    control: &Control,
    j: &ToSubmit,
    hold: bool,
    recorded: &mut JobsFile,
    dir: &Path,
) -> CliResult<(String, String)> {
    let printer = &app.printer;
    let r = &j.files.request;
    let copy = &r.operation.s3_put_object_copy;
    let crate::bucket::PutReply { etag, version_id } = upload_manifest(
        app.endpoint.bucket(&j.manifest_bucket).as_ref(),
        &j.manifest_key,
        &j.files.manifest_path,
        MANIFEST_PART,
    )
    .await?;
    printer.info(format!(
        "uploaded {} to s3://{}/{} (ETag {etag})",
        j.files.manifest_path.display(),
        j.manifest_bucket,
        j.manifest_key
    ));
    let token = r.client_request_token.clone().unwrap_or_else(|| {
        request_token(&[
            &j.account,
            &j.manifest_arn,
            &etag,
            &j.files.class,
            &copy.target_resource,
        ])
    });
    let request = JobRequest {
        account_id: j.account.clone(),
        client_request_token: token.clone(),
        confirmation_required: r.confirmation_required && hold,
        description: r.description.clone(),
        priority: r.priority,
        role_arn: j.role_arn.clone(),
        target_resource: copy.target_resource.clone(),
        metadata_directive: copy.metadata_directive.clone(),
        storage_class: copy.storage_class.clone(),
        manifest_arn: j.manifest_arn.clone(),
        manifest_etag: etag.clone(),
        manifest_version_id: version_id,
        manifest_fields: r.manifest.spec.fields.clone(),
        report_bucket: j.report_bucket.clone(),
        report_prefix: j.report_prefix.clone(),
        report_scope: r.report.report_scope.clone(),
    };
    let job_id = control.create_job(&request).await.map_err(from_control)?;
    recorded.jobs.push(SubmittedJob {
        job_id: job_id.clone(),
        account_id: j.account.clone(),
        class: j.files.class.clone(),
        manifest_file: j
            .files
            .manifest_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        manifest_arn: j.manifest_arn.clone(),
        manifest_etag: etag.clone(),
        tasks: j.files.tasks,
        report_bucket: j.report_bucket.clone(),
        report_prefix: j.report_prefix.clone(),
        client_request_token: token,
        submitted_at: Utc::now(),
    });
    recorded.write(dir)?;
    Ok((job_id, etag))
}

/// The jobs a `JOB|DIR` argument names, with their accounts.
fn jobs_named(job_or_dir: &str, control: &ControlArgs) -> CliResult<Vec<(String, String)>> {
    let path = Path::new(job_or_dir);
    if path.is_dir() {
        let f = JobsFile::read(path)?;
        if f.jobs.is_empty() {
            return Err(CliError::usage(format!(
                "{} records no submitted job ({} is written by `s3rewind batch submit`)",
                path.display(),
                crate::batch::JOBS_FILE
            )));
        }
        return Ok(f
            .jobs
            .into_iter()
            .map(|j| {
                let account = control.account_id.clone().unwrap_or(j.account_id);
                (j.job_id, account)
            })
            .collect());
    }
    let Some(account) = &control.account_id else {
        return Err(CliError::usage(format!(
            "give --account-id: job {job_or_dir:?} is a job id (not a directory with a jobs.json), and S3 Control needs the account that runs it"
        )));
    };
    check_account(account, "--account-id")?;
    Ok(vec![(job_or_dir.to_owned(), account.clone())])
}

fn progress_percent(j: &JobInfo) -> f64 {
    if j.tasks_total == 0 {
        0.0
    } else {
        ((j.tasks_succeeded + j.tasks_failed) as f64 * 1000.0 / j.tasks_total as f64).round() / 10.0
    }
}

/// `s3rewind batch status`.
async fn status_cmd(app: &App, args: &BatchStatusArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let named = jobs_named(&args.job, &args.control)?;
    let control = control(app, &args.control).await;
    let mut docs = Vec::new();
    let mut exit = Exit::Ok;
    for (job_id, account) in named {
        let j = control
            .describe_job(&account, &job_id)
            .await
            .map_err(from_control)?;
        let pct = progress_percent(&j);
        printer.line(format!(
            "job {}: {} — {} of {} tasks succeeded, {} failed ({pct:.1}% done)",
            j.job_id, j.status, j.tasks_succeeded, j.tasks_total, j.tasks_failed
        ));
        if let Some(d) = &j.description {
            printer.line(format!("  {d}"));
        }
        printer.line(format!(
            "  created {}{}",
            j.created_at.map(rfc3339).unwrap_or_else(|| "?".to_owned()),
            j.terminated_at
                .map(|t| format!(", ended {}", rfc3339(t)))
                .unwrap_or_default()
        ));
        if let Some(r) = &j.status_update_reason {
            printer.line(format!("  status reason: {r}"));
        }
        for (code, reason) in &j.failure_reasons {
            printer.line(format!("  failure: {code}: {reason}"));
        }
        if j.status == "Suspended" {
            printer.line(format!(
                "  waiting for confirmation: `aws s3control update-job-status --account-id {account} --job-id {} --requested-job-status Ready`",
                j.job_id
            ));
        }
        if matches!(j.status.as_str(), "Failed" | "Cancelled") || j.tasks_failed > 0 {
            exit = Exit::Partial;
        }
        docs.push(json!({
            "job_id": j.job_id,
            "account_id": account,
            "status": j.status,
            "description": j.description,
            "created_at": j.created_at,
            "terminated_at": j.terminated_at,
            "status_update_reason": j.status_update_reason,
            "tasks_total": j.tasks_total,
            "tasks_succeeded": j.tasks_succeeded,
            "tasks_failed": j.tasks_failed,
            "progress_percent": pct,
            "failure_reasons": j.failure_reasons.iter().map(|(code, reason)| json!({"code": code, "reason": reason})).collect::<Vec<_>>(),
            "report": j.report_enabled.then(|| json!({
                "bucket": j.report_bucket,
                "prefix": j.report_prefix,
                "scope": j.report_scope,
            })),
        }));
    }
    printer.json_value(&json!({
        "schema": BATCH_STATUS_SCHEMA,
        "jobs": docs,
    }));
    Ok(exit)
}

/// Download one object into memory.
async fn get_bytes(app: &App, bucket: &str, key: &str) -> CliResult<Vec<u8>> {
    let mut buf: Vec<u8> = Vec::new();
    app.endpoint
        .bucket(bucket)
        .download_current(key, &mut buf)
        .await
        .map_err(|e| from_s3(e, bucket))?;
    Ok(buf)
}

/// Read a finished job's completion report (its manifest.json, then each result file,
/// checked against its MD5), handing each row to `row` (one result file is held at a
/// time).
async fn read_report(
    app: &App,
    info: &JobInfo,
    fallback: Option<&SubmittedJob>,
    mut row: impl FnMut(s3rewind_engine::batch::report::ReportRow) -> CliResult<()>,
) -> CliResult<()> {
    let bucket = info
        .report_bucket
        .clone()
        .or_else(|| fallback.map(|f| f.report_bucket.clone()))
        .map(|b| bucket_of_arn(&b))
        .ok_or_else(|| {
            CliError::usage(format!(
                "job {} has no completion report: reconcile reads it; run the rest with `s3rewind apply` and verify instead",
                info.job_id
            ))
        })?;
    let prefix = info
        .report_prefix
        .clone()
        .or_else(|| fallback.and_then(|f| f.report_prefix.clone()))
        .map(|p| format!("{}/", p.trim_end_matches('/')))
        .unwrap_or_default();
    let manifest_key = format!("{prefix}job-{}/manifest.json", info.job_id);
    let bytes = get_bytes(app, &bucket, &manifest_key).await.map_err(|e| {
        CliError::new(
            e.exit,
            format!(
                "cannot read job {}'s completion report s3://{bucket}/{manifest_key}: {}",
                info.job_id, e.message
            ),
        )
    })?;
    let manifest = parse_report_manifest(&bytes)
        .map_err(|e| CliError::failure(format!("s3://{bucket}/{manifest_key}: {e}")))?;
    for f in &manifest.results {
        let data = get_bytes(app, &f.bucket, &f.key).await?;
        if let Some(want) = &f.md5_checksum {
            use md5::Digest as _;
            let got: String = md5::Md5::digest(&data)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            if !got.eq_ignore_ascii_case(want) {
                return Err(CliError::failure(format!(
                    "s3://{}/{}: MD5 {got}, but the report's manifest says {want}; the report is incomplete or damaged; nothing was written",
                    f.bucket, f.key
                )));
            }
        }
        let text = String::from_utf8_lossy(&data);
        let rows = parse_report_rows(&text).map_err(|e| {
            CliError::failure(format!(
                "s3://{}/{}: {e}; nothing was written",
                f.bucket, f.key
            ))
        })?;
        drop(data);
        for r in rows {
            row(r)?;
        }
    }
    Ok(())
}

/// `s3rewind batch reconcile`: read (the plan, its jobs, their manifests' tasks and
/// completion reports, each sorted by key onto disk), compare (the engine's
/// [`Comparison`] a chunk of tasks at a time, with one listing of the destination kept on
/// disk), apply (the copies found journaled, `remaining.json` written a chunk at a time),
/// report. Nothing of a plan's size is held (see [`crate::batch::reconcile`]).
async fn reconcile_cmd(app: &App, args: &BatchReconcileArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let dir = &args.dir;
    let (plan, actions, plan_path) = read_batch_plan(dir)?;
    let Some(target) = plan.destination_location().cloned() else {
        return Err(CliError::usage(format!(
            "{}: a plan into a directory has no Batch Operations jobs",
            plan_path.display()
        )));
    };
    // It writes DIR/remaining.json and the journal: refused now if it cannot.
    crate::outputs::dir("DIR", dir)?;
    if let Some(j) = &args.journal {
        crate::outputs::file("--journal", j, crate::outputs::Parent::Created)?;
    } else {
        crate::outputs::dir("the journal directory", &app.journal_dir)?;
    }
    let named = jobs_to_reconcile(args, &JobsFile::read(dir)?)?;
    let tasks = read_tasks(dir, &actions, &plan_path)?;
    let (jobs, rows) = read_finished_jobs(app, args, &named, &tasks).await?;
    if rows.stray > 0 {
        printer.warn(format!(
            "{} report rows name no task of {}'s manifests (another job's report?); ignored",
            rows.stray,
            dir.display()
        ));
    }
    let prefix = listing_prefix(&tasks, &rows, &jobs.reports)?;
    let (histories, list_calls) =
        list_destination(app, &target.bucket, prefix.as_deref(), &args.listing).await?;
    let journal = args.journal.clone().unwrap_or_else(|| {
        journal::default_path(&app.journal_dir, &plan.source, &plan.destination, plan.at)
    });
    let (mut out, remaining) = journal_copies(
        printer, &plan, &actions, &target, journal, &tasks, &rows, &jobs, &histories,
    )?;
    let remaining_path = dir.join(REMAINING_FILE);
    let (remaining_plan, remaining_actions) = remaining.finish(&plan)?;
    write_plan_file(&remaining_path, &remaining_plan, Some(&remaining_actions))?;

    let listed = format!(
        "{list_calls} ListObjectVersions calls for s3://{}/{}",
        target.bucket,
        prefix.unwrap_or_default()
    );
    print_reconciled(
        printer,
        &jobs,
        &mut out,
        &listed,
        (&remaining_plan, &remaining_path),
    )?;
    let written = (remaining_path.as_path(), remaining_actions.len());
    write_reconciled_json(printer, dir, &jobs, &mut out, list_calls, written)?;
    Ok(if remaining_actions.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    })
}

/// The range of destination keys a reconcile lists: the common prefix of every chunk's.
fn listing_prefix(
    tasks: &reconcile_chunks::Tasks,
    rows: &reconcile_chunks::Rows,
    reports: &[JobReport],
) -> CliResult<Option<String>> {
    let mut prefix: Option<String> = None;
    reconcile_chunks::each_chunk(tasks, rows, reports, |c| {
        if let Some(p) = Comparison::new(&c.tasks, &c.jobs).listing_prefix() {
            prefix = Some(match prefix.take() {
                None => p,
                Some(q) => reconcile::common_prefix([q.as_str(), p.as_str()].into_iter()),
            });
        }
        Ok(())
    })?;
    Ok(prefix)
}

/// One listing of the destination under `prefix` (none without one), onto disk a part at
/// a time; with the ListObjectVersions calls it took.
async fn list_destination(
    app: &App,
    bucket: &str,
    prefix: Option<&str>,
    listing: &crate::args::Listing,
) -> CliResult<(Spilled<KeyHistory>, u64)> {
    let printer = &app.printer;
    let calls_before = app.endpoint.list_calls();
    let mut histories = Spilled::<KeyHistory>::new()?;
    if let Some(prefix) = prefix {
        let bucket = app.endpoint.bucket(bucket);
        let (tx, mut rx) = tokio::sync::mpsc::channel(4);
        let listed = crate::listing::stream_bucket(
            &bucket,
            printer,
            prefix,
            listing.page_size,
            listing.streams(),
            tx,
        );
        let keep = async {
            while let Some(part) = rx.recv().await {
                histories.push_part(part.keys(), "the destination's listing")?;
            }
            Ok::<(), CliError>(())
        };
        let (listed, kept) = tokio::join!(listed, keep);
        listed?;
        kept?;
    }
    histories.seal()?;
    Ok((histories, app.endpoint.list_calls() - calls_before))
}

/// Each chunk of tasks settled against the destination's listing: the copies the jobs
/// made journaled (those an earlier reconcile journaled are not written again), the
/// tasks left and the notes gathered, and the plan that remains.
#[allow(clippy::too_many_arguments)]
fn journal_copies<'a>(
    printer: &Printer,
    plan: &RestorePlan,
    actions: &'a ActionSpool,
    target: &s3rewind_engine::Location,
    path: PathBuf,
    tasks: &reconcile_chunks::Tasks,
    rows: &reconcile_chunks::Rows,
    jobs: &Jobs,
    histories: &Spilled<KeyHistory>,
) -> CliResult<(Journaled, Remaining<'a>)> {
    let run = journal::Run::restore(&plan.source, &plan.destination, plan.at);
    let mut previous = journal::by_key::DoneByKey::read(
        &path,
        Some(&run),
        printer,
        "its copy, if made, is found by the listing of the destination like any other",
    )?;
    let j = Journal::begin_since(
        &path,
        &run,
        printer,
        jobs.reports
            .iter()
            .map(|r| r.created)
            .min()
            .unwrap_or_else(Utc::now),
    )?;
    let mut out = Journaled {
        path,
        copies: 0,
        bytes: 0,
        new: 0,
        failed: JsonLines::new()?,
        notes: JsonLines::new()?,
    };
    let mut remaining = Remaining::new(actions)?;
    reconcile_chunks::each_chunk(tasks, rows, &jobs.reports, |c| {
        let settled = c.settle(histories, &target.bucket)?;
        // The copies earlier reconciles journaled of these keys.
        let mut keys: Vec<&str> = c.tasks.iter().map(|t| t.key.as_str()).collect();
        keys.dedup();
        let journaled: HashSet<(String, String)> = previous
            .lookup(&keys)?
            .into_iter()
            .flatten()
            .filter(|d| d.op == Op::Copy)
            .map(|d| (d.key, d.new_version_id))
            .collect();
        let mut done: HashSet<(String, String)> = HashSet::new();
        for (i, o) in &settled.outcome {
            let t = &c.tasks[*i];
            match o {
                Outcome::Remains(why) => out.failed.push(&json!({"key": t.key, "detail": why}))?,
                Outcome::Done {
                    new_version_id,
                    previous_version_id,
                    time,
                } => {
                    out.copies += 1;
                    out.bytes += t.size;
                    done.insert((t.key.clone(), t.source_version_id.clone()));
                    if journaled.contains(&(t.key.clone(), new_version_id.clone())) {
                        continue;
                    }
                    j.append(&Line::Done(Done {
                        op: Op::Copy,
                        bucket: target.bucket.clone(),
                        key: t.key.clone(),
                        source_bucket: Some(plan.source.bucket.clone()),
                        source_key: Some(t.key.clone()),
                        source_version_id: Some(t.source_version_id.clone()),
                        previous_version_id: previous_version_id.clone(),
                        new_version_id: new_version_id.clone(),
                        etag: None,
                        size: Some(t.size),
                        time: *time,
                    }))?;
                    out.new += 1;
                }
            }
        }
        for (key, detail) in &settled.notes {
            out.notes.push(&json!({"key": key, "detail": detail}))?;
        }
        remaining.upto(Some(&c.last_key), &done, &mut previous)
    })?;
    remaining.upto(None, &HashSet::new(), &mut previous)?;
    Ok((out, remaining))
}

/// The reconcile's JSON document (`--output json`), its fields in the order a JSON
/// object's keys sort (as before); the lists it names are read back from disk.
fn write_reconciled_json(
    printer: &Printer,
    dir: &Path,
    jobs: &Jobs,
    out: &mut Journaled,
    list_calls: u64,
    (remaining_path, remaining_actions): (&Path, u64),
) -> CliResult<()> {
    printer
        .json_write(|w| {
            // The fields in the order a JSON object's keys sort (as before).
            let mut doc = JsonObject::new(w)?;
            doc.field("copies_found", &out.copies)?;
            doc.field("dir", dir)?;
            out.failed.write_array(&mut doc, "failed")?;
            let mut list = doc.array("jobs")?;
            for (r, reported) in jobs.reports.iter().zip(&jobs.reported) {
                list.push(&json!({
                    "job_id": r.job_id,
                    "status": r.status,
                    "created_at": r.created,
                    "reported_tasks": reported,
                }))?;
            }
            list.end()?;
            doc.field("journal", &out.path)?;
            doc.field("journaled", &out.new)?;
            doc.field("list_calls", &list_calls)?;
            out.notes.write_array(&mut doc, "notes")?;
            doc.field("remaining", &remaining_path)?;
            doc.field("remaining_actions", &remaining_actions)?;
            doc.field("schema", BATCH_RECONCILE_SCHEMA)?;
            doc.end()
        })
        .map_err(|e| CliError::failure(format!("cannot write the result: {e}")))
}

/// JSON values written to a temporary file a line each and read back in order: a list
/// of a report's size (the tasks left, the notes), never held.
struct JsonLines {
    file: std::io::BufWriter<std::fs::File>,
    len: u64,
}

impl JsonLines {
    fn new() -> CliResult<JsonLines> {
        let file = tempfile::tempfile().map_err(crate::spill::io_error)?;
        Ok(JsonLines {
            file: std::io::BufWriter::new(file),
            len: 0,
        })
    }

    fn push(&mut self, v: &serde_json::Value) -> CliResult<()> {
        use std::io::Write;
        serde_json::to_writer(&mut self.file, v)
            .map_err(std::io::Error::from)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(crate::spill::io_error)?;
        self.len += 1;
        Ok(())
    }

    /// Each value, in the order pushed, for as long as `f` says go on.
    fn each(
        &mut self,
        mut f: impl FnMut(serde_json::Value) -> std::io::Result<bool>,
    ) -> std::io::Result<()> {
        use std::io::{BufRead, Seek, Write};
        self.file.flush()?;
        let mut file = self.file.get_ref().try_clone()?;
        file.rewind()?;
        for line in std::io::BufReader::new(file).lines() {
            if !f(serde_json::from_str(&line?)?)? {
                break;
            }
        }
        // Written on after the end.
        self.file
            .get_ref()
            .try_clone()?
            .seek(std::io::SeekFrom::End(0))?;
        Ok(())
    }

    fn write_array(&mut self, doc: &mut JsonObject<'_>, name: &str) -> std::io::Result<()> {
        let mut list = doc.array(name)?;
        self.each(|v| list.push(&v).map(|()| true))?;
        list.end()
    }
}

/// The plan's actions less the copies done, written to disk in key order as the chunks
/// of tasks are settled.
struct Remaining<'a> {
    actions: &'a ActionSpool,
    after: Option<String>,
    out: ActionSpool,
    counts: s3rewind_engine::batch::ActionCounts,
}

impl<'a> Remaining<'a> {
    fn new(actions: &'a ActionSpool) -> CliResult<Remaining<'a>> {
        Ok(Remaining {
            actions,
            after: None,
            out: ActionSpool::new()?,
            counts: Default::default(),
        })
    }

    /// Pass on the actions up to key `upto` (all that are left for `None`), less the
    /// copies in `done` (key, source version) and those an earlier reconcile journaled
    /// (`previous`).
    fn upto(
        &mut self,
        upto: Option<&str>,
        done: &HashSet<(String, String)>,
        previous: &mut journal::by_key::DoneByKey,
    ) -> CliResult<()> {
        loop {
            let mut batch: Vec<Action> = Vec::new();
            self.actions.scan_from(self.after.as_deref(), |a| {
                if upto.is_some_and(|u| a.key() > u) {
                    return Ok(false);
                }
                batch.push(a);
                Ok(batch.len() < crate::batch::reconcile::CHUNK)
            })?;
            let Some(last) = batch.last() else {
                return Ok(());
            };
            self.after = Some(last.key().to_owned());
            let keys: Vec<&str> = batch.iter().map(Action::key).collect();
            let earlier: HashSet<(String, String)> = previous
                .lookup(&keys)?
                .into_iter()
                .flatten()
                .filter(|d| d.op == Op::Copy)
                .filter_map(|d| d.source_version_id.map(|sv| (d.key, sv)))
                .collect();
            for a in &batch {
                if let Action::Copy(c) = a {
                    let id = (c.key.to_string(), c.source_version_id.to_string());
                    if done.contains(&id) || earlier.contains(&id) {
                        continue;
                    }
                }
                self.counts.add(a);
                self.out.push(a)?;
            }
        }
    }

    /// The remaining plan (its statistics counted again) and its actions.
    fn finish(mut self, plan: &RestorePlan) -> CliResult<(RestorePlan, ActionSpool)> {
        self.out.seal()?;
        Ok((
            s3rewind_engine::batch::recounted(plan, self.counts),
            self.out,
        ))
    }
}

/// The plan `plan --emit batch-ops DIR` wrote beside its jobs, its actions on disk in
/// key order (a plan file edited out of order is read whole, then put there sorted).
fn read_batch_plan(dir: &Path) -> CliResult<(RestorePlan, ActionSpool, PathBuf)> {
    let plan_path = dir.join(PLAN_FILE);
    if !plan_path.is_file() {
        return Err(CliError::usage(format!(
            "cannot read {}: give the directory `s3rewind plan --emit batch-ops DIR` wrote (an older s3rewind did not write plan.json there: emit it again)",
            plan_path.display()
        )));
    }
    let (mut plan, spool) = read_plan_file(&plan_path)?;
    let spool = match spool {
        Some(s) => s,
        None => {
            let mut actions = std::mem::take(&mut plan.actions);
            actions.sort_by(|a, b| a.key().cmp(b.key()));
            let mut s = ActionSpool::new()?;
            s.push_run(&actions).map_err(|_| {
                CliError::usage(format!(
                    "{}: the plan names a key twice; emit it again",
                    plan_path.display()
                ))
            })?;
            s.seal()?;
            s
        }
    };
    Ok((plan, spool, plan_path))
}

/// The manifests' tasks, read a line at a time, each tied to the plan's copy (its source
/// ETag and size), on disk by key.
fn read_tasks(
    dir: &Path,
    actions: &ActionSpool,
    plan_path: &Path,
) -> CliResult<reconcile_chunks::Tasks> {
    use std::io::BufRead;
    let files = read_requests(dir)?;
    let mut each = files.into_iter().flat_map(|f| {
        let name = f
            .manifest_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let reader = std::fs::File::open(&f.manifest_path)
            .map(std::io::BufReader::new)
            .map_err(|e| {
                CliError::usage(format!("cannot read {}: {e}", f.manifest_path.display()))
            });
        let lines: Box<dyn Iterator<Item = CliResult<(String, String, String)>>> = match reader {
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(r) => Box::new(r.lines().map(move |line| {
                let line = line.map_err(|e| CliError::usage(format!("cannot read {name}: {e}")))?;
                let fields: Vec<&str> = line.split(',').collect();
                if fields.len() != 3 {
                    return Err(CliError::usage(format!(
                        "{name}: a line is not Bucket,Key,VersionId"
                    )));
                }
                let key = form_decode(fields[1])
                    .map_err(|e| CliError::usage(format!("{name}: key {:?}: {e}", fields[1])))?;
                Ok((name.clone(), key, fields[2].to_owned()))
            })),
        };
        lines
    });
    // The plan's copies of a batch of keys, read after the last batch's.
    let mut after: Option<String> = None;
    let mut copies = |keys: &[&str]| -> CliResult<HashMap<(String, String), (String, u64)>> {
        let mut out = HashMap::new();
        let Some(last) = keys.last().map(|k| (*k).to_owned()) else {
            return Ok(out);
        };
        let wanted: HashSet<&str> = keys.iter().copied().collect();
        actions.scan_from(after.as_deref(), |a| {
            if a.key() > last.as_str() {
                return Ok(false);
            }
            if let Action::Copy(c) = &a
                && wanted.contains(c.key.as_str())
            {
                out.insert(
                    (c.key.to_string(), c.source_version_id.to_string()),
                    (c.etag.to_string(), c.size),
                );
            }
            Ok(true)
        })?;
        after = Some(last);
        Ok(out)
    };
    reconcile_chunks::Tasks::read(&mut each, &mut copies, |name, key, version| {
        CliError::usage(format!(
            "{name}: {key:?} version {version} is not a copy of {}; the directory's files do not belong together",
            plan_path.display()
        ))
    })
}

/// The jobs reconciled (their reports' rows are on disk, in [`reconcile_chunks::Rows`]).
struct Jobs {
    /// Each job, its `rows` empty.
    reports: Vec<JobReport>,
    /// The rows each job's report holds.
    reported: Vec<u64>,
}

/// Each job described and its completion report read, its rows tied to `tasks` on disk;
/// every job must be finished before anything is written.
async fn read_finished_jobs(
    app: &App,
    args: &BatchReconcileArgs,
    named: &[(String, String, Option<SubmittedJob>)],
    tasks: &reconcile_chunks::Tasks,
) -> CliResult<(Jobs, reconcile_chunks::Rows)> {
    let control = control(app, &args.control).await;
    let mut jobs = Jobs {
        reports: Vec::new(),
        reported: Vec::new(),
    };
    let mut rows = reconcile_chunks::RowsBuilder::new()?;
    for (job_id, account, rec) in named {
        let info = control
            .describe_job(account, job_id)
            .await
            .map_err(from_control)?;
        if !matches!(info.status.as_str(), "Complete" | "Failed" | "Cancelled") {
            return Err(CliError::refused(format!(
                "job {job_id} is {}: its completion report is written when it ends; follow it with `s3rewind batch status {}`; nothing was written",
                info.status,
                args.dir.display()
            )));
        }
        let created = info.created_at.ok_or_else(|| {
            CliError::failure(format!("DescribeJob of {job_id} gives no creation time"))
        })?;
        let job = jobs.reports.len();
        let (mut reported, mut succeeded) = (0u64, 0u64);
        read_report(app, &info, rec.as_ref(), |row| {
            reported += 1;
            succeeded += u64::from(row.succeeded);
            rows.add(job, &row)
        })
        .await?;
        app.printer.info(format!(
            "job {job_id}: {}, report of {reported} tasks ({succeeded} succeeded, {} failed)",
            info.status,
            reported - succeeded
        ));
        jobs.reports.push(JobReport {
            job_id: job_id.clone(),
            status: info.status.clone(),
            created,
            manifest: rec.as_ref().map(|r| r.manifest_file.clone()),
            all_tasks: info.report_scope.as_deref() != Some("FailedTasksOnly"),
            rows: Vec::new(),
        });
        jobs.reported.push(reported);
    }
    Ok((jobs, rows.tie(tasks)?))
}

/// What reconcile wrote to the journal, and what it found left.
struct Journaled {
    /// The journal (the one a local restore or apply of this plan writes).
    path: PathBuf,
    /// Copies the jobs made.
    copies: u64,
    /// Bytes they copied.
    bytes: u64,
    /// Lines appended now (earlier reconciles journaled the others).
    new: u64,
    /// The tasks that remain, with why: `{"key", "detail"}`.
    failed: JsonLines,
    /// What a reader should know of some keys: `{"key", "detail"}`.
    notes: JsonLines,
}

/// The human summary of a reconcile.
fn print_reconciled(
    printer: &Printer,
    jobs: &Jobs,
    out: &mut Journaled,
    listed: &str,
    (remaining, remaining_path): (&RestorePlan, &Path),
) -> CliResult<()> {
    printer.line(format!(
        "Reconciled {} job(s): {} copies found ({}) and journaled in {} ({} new), {} tasks left; {listed}.",
        jobs.reports.len(),
        out.copies,
        human_bytes(out.bytes),
        out.path.display(),
        out.new,
        out.failed.len,
    ));
    let cannot =
        |e: std::io::Error| CliError::failure(format!("cannot read the tasks left back: {e}"));
    out.failed
        .each(|f| {
            printer.line(format!(
                "  left: {}: {}",
                f["key"],
                f["detail"].as_str().unwrap_or_default()
            ));
            Ok(true)
        })
        .map_err(cannot)?;
    out.notes
        .each(|n| {
            printer.line(format!(
                "  note: {}: {}",
                n["key"],
                n["detail"].as_str().unwrap_or_default()
            ));
            Ok(true)
        })
        .map_err(cannot)?;
    printer.line(format!(
        "{}: {} copies and {} delete markers remain; run `s3rewind apply {}` (it resumes the same journal), then `s3rewind verify`; `s3rewind undo {}` undoes the jobs' copies.",
        remaining_path.display(),
        remaining.stats.copies,
        remaining.stats.delete_markers,
        remaining_path.display(),
        out.path.display()
    ));
    Ok(())
}

/// The jobs to reconcile: `--job`, else every recorded one; each with its account and
/// what `batch submit` recorded of it.
fn jobs_to_reconcile(
    args: &BatchReconcileArgs,
    recorded: &JobsFile,
) -> CliResult<Vec<(String, String, Option<SubmittedJob>)>> {
    let dir = &args.dir;
    let mut named = Vec::new();
    if args.jobs.is_empty() {
        if recorded.jobs.is_empty() {
            return Err(CliError::usage(format!(
                "{} records no submitted job: run `s3rewind batch submit {}` first, or name jobs created another way with --job JOB_ID --account-id ID",
                dir.join(crate::batch::JOBS_FILE).display(),
                dir.display()
            )));
        }
        for j in &recorded.jobs {
            let account = args
                .control
                .account_id
                .clone()
                .unwrap_or(j.account_id.clone());
            named.push((j.job_id.clone(), account, Some(j.clone())));
        }
        return Ok(named);
    }
    for id in &args.jobs {
        let rec = recorded.jobs.iter().find(|j| &j.job_id == id).cloned();
        let account = match (&args.control.account_id, &rec) {
            (Some(a), _) => a.clone(),
            (None, Some(r)) => r.account_id.clone(),
            (None, None) => {
                return Err(CliError::usage(format!(
                    "give --account-id: job {id} is not recorded in {}",
                    dir.join(crate::batch::JOBS_FILE).display()
                )));
            }
        };
        check_account(&account, "--account-id")?;
        named.push((id.clone(), account, rec));
    }
    Ok(named)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A manifest larger than a part goes up in parts, never held whole; a smaller one in
    /// one PutObject. Either way the object holds the file's bytes, and the ETag returned
    /// is the stored object's (the one a job request must name).
    #[tokio::test]
    async fn a_manifest_is_uploaded_a_part_at_a_time() {
        use crate::bucket::{Bucket, MemStore, Op};
        let store = MemStore::new();
        let bucket = store.insert(
            "ops",
            s3rewind_engine::SimBucket::new(s3rewind_engine::Versioning::Enabled, "o"),
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifest-STANDARD.csv");
        let line = "src,data/part%20000001.bin,3HL4kqtJlcpXroDTDmJ\n";
        let text: String = line.repeat((11 << 20) / line.len() + 1);
        std::fs::write(&path, &text).unwrap();
        let part = crate::bucket::MIN_PART;
        for (name, parts) in [("big.csv", 3), ("small.csv", 0)] {
            let size = if parts == 0 { part } else { text.len() as u64 };
            std::fs::write(&path, &text.as_bytes()[..size as usize]).unwrap();
            store.reset_requests();
            let reply = upload_manifest(&bucket, name, &path, part).await.unwrap();
            assert_eq!(store.requests().of(Op::UploadPart), parts, "{name}");
            assert_eq!(
                store.requests().of(Op::Put),
                u64::from(parts == 0),
                "{name}"
            );
            let mut stored = Vec::new();
            bucket.download_current(name, &mut stored).await.unwrap();
            assert_eq!(stored, &text.as_bytes()[..size as usize], "{name}");
            let head = bucket.head(name, None).await.unwrap().unwrap();
            assert_eq!(reply.etag, head.etag, "{name}");
            assert_eq!(reply.version_id.as_deref(), Some(head.version_id.as_str()));
        }
    }

    #[test]
    fn tokens_are_stable_and_distinct() {
        let a = request_token(&["1", "arn", "e"]);
        assert_eq!(a, request_token(&["1", "arn", "e"]));
        assert_ne!(a, request_token(&["1", "arn", "f"]));
        assert_ne!(request_token(&["ab", "c"]), request_token(&["a", "bc"]));
        assert!(a.len() <= 64);
    }
}
