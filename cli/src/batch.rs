//! `plan --emit batch-ops DIR`: the files that hand a plan's copies to S3 Batch
//! Operations, and the rest to `s3rewind apply`.
//!
//! For each storage class among the copies (a job has one): `manifest-CLASS.csv` (the
//! `Bucket,Key,VersionId` CSV manifest, keys URL-encoded) and `create-job-CLASS.json` (a
//! CreateJob request for `aws s3control create-job --cli-input-json`: an
//! `S3PutObjectCopy` onto the same keys of the destination bucket, metadata copied,
//! tags copied by leaving `NewObjectTagging` out, and a completion report of all tasks).
//! `remainder.json` is the plan of what Batch Operations cannot do (delete markers,
//! copies over 5 GiB, archived versions, copies to another key), for `s3rewind apply`.
//! The engine decides the split ([`s3rewind_engine::batch`]); this module only writes.

use crate::args::PlanArgs;
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use s3rewind_engine::batch::{BatchGroup, Kept, manifest_csv, split_for_batch};
use s3rewind_engine::{RestorePlan, parse_s3_uri};
use serde_json::json;
use std::path::Path;

/// What stands in the job request for what only submission knows.
pub const ETAG_PLACEHOLDER: &str = "<ETag of the uploaded manifest: filled at submit>";

/// The options of the job requests.
#[derive(Debug, Clone, Default)]
pub struct JobOptions {
    /// `s3://BUCKET/PREFIX` the manifests will be uploaded under.
    pub manifest_uri: Option<String>,
    /// `s3://BUCKET/PREFIX` for the completion reports.
    pub report_uri: Option<String>,
    /// The IAM role Batch Operations assumes.
    pub role_arn: Option<String>,
    /// The account that runs the job.
    pub account_id: Option<String>,
}

impl JobOptions {
    /// From `plan`'s options.
    pub fn of(args: &PlanArgs) -> JobOptions {
        JobOptions {
            manifest_uri: args.batch_manifest_uri.clone(),
            report_uri: args.batch_report_uri.clone(),
            role_arn: args.batch_role_arn.clone(),
            account_id: args.batch_account_id.clone(),
        }
    }
}

fn class_name(g: &BatchGroup) -> &str {
    g.storage_class.as_ref().map_or("DEFAULT", |c| c.as_str())
}

/// The CreateJob request (AWS CLI `--cli-input-json` shape) for one group.
pub fn create_job(
    plan: &RestorePlan,
    target_bucket: &str,
    group: &BatchGroup,
    options: &JobOptions,
) -> CliResult<serde_json::Value> {
    let class = class_name(group);
    let manifest_file = format!("manifest-{class}.csv");
    let manifest_arn = match &options.manifest_uri {
        Some(uri) => {
            let loc = parse_s3_uri(uri)?;
            let prefix = if loc.prefix.is_empty() || loc.prefix.ends_with('/') {
                loc.prefix
            } else {
                format!("{}/", loc.prefix)
            };
            format!("arn:aws:s3:::{}/{prefix}{manifest_file}", loc.bucket)
        }
        None => format!("arn:aws:s3:::<MANIFEST_BUCKET>/<PREFIX>/{manifest_file}"),
    };
    let mut report = json!({
        "Bucket": "arn:aws:s3:::<REPORT_BUCKET>",
        "Format": "Report_CSV_20180820",
        "Enabled": true,
        "ReportScope": "AllTasks",
    });
    if let Some(uri) = &options.report_uri {
        let loc = parse_s3_uri(uri)?;
        report["Bucket"] = json!(format!("arn:aws:s3:::{}", loc.bucket));
        if !loc.prefix.is_empty() {
            report["Prefix"] = json!(loc.prefix.trim_end_matches('/'));
        }
    }
    let mut copy = json!({
        "TargetResource": format!("arn:aws:s3:::{target_bucket}"),
        "MetadataDirective": "COPY",
    });
    if let Some(c) = &group.storage_class {
        copy["StorageClass"] = json!(c.as_str());
    }
    Ok(json!({
        "AccountId": options.account_id.as_deref().unwrap_or("<ACCOUNT_ID>"),
        "ConfirmationRequired": true,
        "Operation": { "S3PutObjectCopy": copy },
        "Report": report,
        "Manifest": {
            "Spec": {
                "Format": "S3BatchOperations_CSV_20180820",
                "Fields": ["Bucket", "Key", "VersionId"],
            },
            "Location": { "ObjectArn": manifest_arn, "ETag": ETAG_PLACEHOLDER },
        },
        "Priority": 10,
        "RoleArn": options.role_arn.as_deref().unwrap_or("<ROLE_ARN>"),
        "Description": format!(
            "s3rewind: restore {} to {} ({} {class} copies)",
            plan.source,
            plan.at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            group.tasks.len()
        ),
    }))
}

/// Write the Batch Operations files for `plan` into `dir`.
pub fn emit(
    printer: &Printer,
    plan: &RestorePlan,
    dir: &Path,
    options: &JobOptions,
) -> CliResult<()> {
    let split = split_for_batch(plan).map_err(CliError::usage)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
    };
    for g in &split.groups {
        let class = class_name(g);
        write(&format!("manifest-{class}.csv"), manifest_csv(&g.tasks))?;
        let job = create_job(plan, &split.target_bucket, g, options)?;
        write(
            &format!("create-job-{class}.json"),
            serde_json::to_string_pretty(&job).expect("JSON") + "\n",
        )?;
        printer.info(format!(
            "{}: {} copies ({}) for a Batch Operations job, request in {}",
            dir.join(format!("manifest-{class}.csv")).display(),
            g.tasks.len(),
            crate::output::human_bytes(g.bytes),
            dir.join(format!("create-job-{class}.json")).display(),
        ));
    }
    write("remainder.json", split.remainder.to_json() + "\n")?;
    let why = |k: Kept| split.kept.get(&k).copied().unwrap_or(0);
    printer.info(format!(
        "{}: {} actions Batch Operations cannot do ({} delete markers, {} copies over 5 GiB, {} archived, {} to another key); run `s3rewind apply {}` after the jobs",
        dir.join("remainder.json").display(),
        split.remainder.actions.len(),
        why(Kept::DeleteMarker),
        why(Kept::TooLarge),
        why(Kept::Archived),
        why(Kept::OtherKey),
        dir.join("remainder.json").display(),
    ));
    if split.groups.iter().any(|g| !g.tasks.is_empty()) {
        printer.warn(
            "Batch Operations copies without checking the destination first: a key written after this plan is overwritten by its job (apply checks and skips such keys); submit soon after planning",
        );
    }
    Ok(())
}
