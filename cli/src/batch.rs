//! `plan --emit batch-ops DIR`: the files that hand a plan's copies to S3 Batch
//! Operations, and the rest to `s3rewind apply`.
//!
//! For each storage class among the copies (a job has one): `manifest-CLASS.csv` (the
//! `Bucket,Key,VersionId` CSV manifest, keys URL-encoded) and `create-job-CLASS.json` (a
//! CreateJob request for `aws s3control create-job --cli-input-json`: an
//! `S3PutObjectCopy` onto the same keys of the destination bucket, metadata copied,
//! tags copied by leaving `NewObjectTagging` out, and a completion report of all tasks).
//! `remainder.json` is the plan of what Batch Operations cannot do (delete markers,
//! copies over 5 GiB, archived versions, copies to another key), for `s3rewind apply`;
//! `plan.json` is the whole plan, which `batch reconcile` reads (the source ETag and
//! size of each task, the version each key held) when it brings the jobs' results back.
//! The engine decides the split ([`s3rewind_engine::batch`]); this module only writes,
//! and reads back what `batch submit` needs ([`read_request`]) and the record of the
//! submitted jobs ([`JobsFile`]).

use crate::args::PlanArgs;
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::pipeline::plan_file::write_plan_file;
use crate::spill::{ActionSpool, PlanActions};
use s3rewind_engine::batch::{
    ActionCounts, Kept, Route, manifest_line, recounted, route, target_bucket,
};
use s3rewind_engine::{RestorePlan, StorageClass, parse_s3_uri};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

pub mod reconcile;
use std::path::{Path, PathBuf};

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

/// The ARN of manifest `file` uploaded under `s3://BUCKET/PREFIX` (`--manifest-uri`; the
/// prefix is a folder: a `/` is added when it has none).
pub fn manifest_object_arn(uri: &str, file: &str) -> CliResult<String> {
    let loc = parse_s3_uri(uri)?;
    let prefix = if loc.prefix.is_empty() || loc.prefix.ends_with('/') {
        loc.prefix
    } else {
        format!("{}/", loc.prefix)
    };
    Ok(format!("arn:aws:s3:::{}/{prefix}{file}", loc.bucket))
}

fn class_name(storage_class: Option<StorageClass>) -> &'static str {
    storage_class.map_or("DEFAULT", |c| c.as_str())
}

/// The CreateJob request (AWS CLI `--cli-input-json` shape) for the job of
/// `storage_class`, of `copies` copies.
pub fn create_job(
    plan: &RestorePlan,
    target_bucket: &str,
    storage_class: Option<StorageClass>,
    copies: u64,
    options: &JobOptions,
) -> CliResult<serde_json::Value> {
    let class = class_name(storage_class);
    let manifest_file = format!("manifest-{class}.csv");
    let manifest_arn = match &options.manifest_uri {
        Some(uri) => manifest_object_arn(uri, &manifest_file)?,
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
    if let Some(c) = &storage_class {
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
            copies
        ),
    }))
}

/// Write the Batch Operations files for `plan` into `dir`, its actions `spool`'s where
/// one is given: read once in key order, each routed by the engine
/// ([`s3rewind_engine::batch::route`]) to its job's manifest (written as it goes) or to
/// the remainder (on disk), so that no list of a plan's size is held.
pub fn emit(
    printer: &Printer,
    plan: &RestorePlan,
    spool: Option<&ActionSpool>,
    dir: &Path,
    options: &JobOptions,
) -> CliResult<()> {
    use std::io::Write;
    let target_bucket = target_bucket(plan).map_err(CliError::usage)?;
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", dir.display())))?;
    let cannot_write = |path: &Path, e: std::io::Error| {
        CliError::failure(format!("cannot write {}: {e}", path.display()))
    };
    let manifest =
        |class: Option<StorageClass>| dir.join(format!("manifest-{}.csv", class_name(class)));
    /// A job's manifest as it is written.
    struct Job {
        file: std::io::BufWriter<std::fs::File>,
        copies: u64,
        bytes: u64,
    }
    let mut jobs: BTreeMap<Option<StorageClass>, Job> = BTreeMap::new();
    let mut kept: BTreeMap<Kept, u64> = BTreeMap::new();
    let mut rest = ActionSpool::new()?;
    let mut counts = ActionCounts::default();
    let mut line = String::new();
    PlanActions::of(plan, spool).each(|a| {
        match route(&plan.source.bucket, a) {
            Route::Task {
                task,
                storage_class,
                bytes,
            } => {
                let job = match jobs.entry(storage_class) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        let path = manifest(storage_class);
                        let file =
                            std::fs::File::create(&path).map_err(|e| cannot_write(&path, e))?;
                        v.insert(Job {
                            file: std::io::BufWriter::with_capacity(1 << 16, file),
                            copies: 0,
                            bytes: 0,
                        })
                    }
                };
                line.clear();
                manifest_line(&task, &mut line);
                job.file
                    .write_all(line.as_bytes())
                    .map_err(|e| cannot_write(&manifest(storage_class), e))?;
                job.copies += 1;
                job.bytes += bytes;
            }
            Route::Kept(why) => {
                *kept.entry(why).or_default() += 1;
                counts.add(a);
                rest.push(a)?;
            }
        }
        Ok(true)
    })?;
    let write = |name: &str, text: String| {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| cannot_write(&path, e))
    };
    let any_task = !jobs.is_empty();
    for (storage_class, mut job) in jobs {
        let class = class_name(storage_class);
        job.file
            .flush()
            .map_err(|e| cannot_write(&manifest(storage_class), e))?;
        let request = create_job(plan, &target_bucket, storage_class, job.copies, options)?;
        write(
            &format!("create-job-{class}.json"),
            serde_json::to_string_pretty(&request).expect("JSON") + "\n",
        )?;
        printer.info(format!(
            "{}: {} copies ({}) for a Batch Operations job, request in {}",
            manifest(storage_class).display(),
            job.copies,
            crate::output::human_bytes(job.bytes),
            dir.join(format!("create-job-{class}.json")).display(),
        ));
    }
    rest.seal()?;
    let remainder = recounted(plan, counts);
    write_plan_file(&dir.join("remainder.json"), &remainder, Some(&rest))?;
    write_plan_file(&dir.join(PLAN_FILE), plan, spool)?;
    let why = |k: Kept| kept.get(&k).copied().unwrap_or(0);
    printer.info(format!(
        "{}: {} actions Batch Operations cannot do ({} delete markers, {} copies over 5 GiB, {} archived, {} to another key); run `s3rewind apply {}` after the jobs",
        dir.join("remainder.json").display(),
        rest.len(),
        why(Kept::DeleteMarker),
        why(Kept::TooLarge),
        why(Kept::Archived),
        why(Kept::OtherKey),
        dir.join("remainder.json").display(),
    ));
    if any_task {
        printer.warn(
            "Batch Operations copies without checking the destination first: a key written after this plan is overwritten by its job (apply checks and skips such keys); submit soon after planning",
        );
    }
    Ok(())
}

/// The whole plan, in DIR, for `batch reconcile`.
pub const PLAN_FILE: &str = "plan.json";
/// The record of the submitted jobs, in DIR.
pub const JOBS_FILE: &str = "jobs.json";
/// The schema of [`JOBS_FILE`].
pub const JOBS_SCHEMA: &str = "s3rewind.batch-jobs/v1";
/// What is left after the jobs, in DIR, written by `batch reconcile`.
pub const REMAINING_FILE: &str = "remaining.json";

/// True for a value `plan --emit` left for submission to fill (`<ROLE_ARN>`).
pub fn is_placeholder(v: &str) -> bool {
    v.contains('<') && v.contains('>')
}

/// A `create-job-CLASS.json` as `plan --emit batch-ops` writes it (the AWS CLI's
/// `--cli-input-json` shape). Unknown fields are refused rather than dropped.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CreateJobFile {
    /// The account.
    pub account_id: String,
    /// Hold the job until confirmed.
    pub confirmation_required: bool,
    /// The operation.
    pub operation: OperationFile,
    /// The completion report.
    pub report: ReportFile,
    /// The manifest.
    pub manifest: ManifestFile,
    /// The priority.
    pub priority: i32,
    /// The role.
    pub role_arn: String,
    /// The description.
    #[serde(default)]
    pub description: Option<String>,
    /// The idempotency token.
    #[serde(default)]
    pub client_request_token: Option<String>,
}

/// `Operation`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationFile {
    /// The only operation s3rewind emits.
    #[serde(rename = "S3PutObjectCopy")]
    pub s3_put_object_copy: CopyFile,
}

/// `Operation.S3PutObjectCopy`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CopyFile {
    /// `arn:aws:s3:::BUCKET`.
    pub target_resource: String,
    /// `COPY`.
    #[serde(default)]
    pub metadata_directive: Option<String>,
    /// The copies' class.
    #[serde(default)]
    pub storage_class: Option<String>,
}

/// `Report`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ReportFile {
    /// `arn:aws:s3:::BUCKET`.
    pub bucket: String,
    /// `Report_CSV_20180820`.
    pub format: String,
    /// A report is written.
    pub enabled: bool,
    /// Its prefix.
    #[serde(default)]
    pub prefix: Option<String>,
    /// `AllTasks` or `FailedTasksOnly`.
    pub report_scope: String,
}

/// `Manifest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ManifestFile {
    /// `Spec`.
    pub spec: SpecFile,
    /// `Location`.
    pub location: LocationFile,
}

/// `Manifest.Spec`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct SpecFile {
    /// `S3BatchOperations_CSV_20180820`.
    pub format: String,
    /// `Bucket`, `Key`, `VersionId`.
    pub fields: Vec<String>,
}

/// `Manifest.Location`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct LocationFile {
    /// `arn:aws:s3:::BUCKET/KEY`.
    pub object_arn: String,
    /// The ETag (a placeholder until submission).
    #[serde(rename = "ETag")]
    pub etag: String,
    /// The manifest object's version.
    #[serde(default)]
    pub object_version_id: Option<String>,
}

/// One job to submit: its request and its manifest, from DIR.
#[derive(Debug, Clone)]
pub struct JobFiles {
    /// The storage class part of the names (`STANDARD`, `DEFAULT`…).
    pub class: String,
    /// `create-job-CLASS.json`.
    pub request_path: PathBuf,
    /// `manifest-CLASS.csv`.
    pub manifest_path: PathBuf,
    /// The request.
    pub request: CreateJobFile,
    /// The manifest's rows.
    pub tasks: u64,
}

/// The jobs prepared in DIR, checked: each request parses, is an `S3PutObjectCopy`
/// of a CSV manifest, and has its manifest beside it with rows of three fields. Reads
/// only; any problem is a usage error naming the file. The manifests are read a line at
/// a time, never held (a job of 40 million tasks has a manifest of gigabytes).
pub fn read_requests(dir: &Path) -> CliResult<Vec<JobFiles>> {
    let not_ours = |why: String| {
        CliError::usage(format!(
            "{}: {why}; give the directory `s3rewind plan --emit batch-ops DIR` wrote; nothing was written",
            dir.display()
        ))
    };
    let entries = std::fs::read_dir(dir).map_err(|e| not_ours(format!("cannot read it ({e})")))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("create-job-") && n.ends_with(".json"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(not_ours(
            "it holds no create-job-CLASS.json (a plan without copies Batch Operations can do emits none: run `s3rewind apply DIR/remainder.json`)".to_owned(),
        ));
    }
    let mut out = Vec::new();
    for name in names {
        let class = name["create-job-".len()..name.len() - ".json".len()].to_owned();
        let request_path = dir.join(&name);
        let manifest_path = dir.join(format!("manifest-{class}.csv"));
        let text = std::fs::read_to_string(&request_path)
            .map_err(|e| not_ours(format!("cannot read {name} ({e})")))?;
        let request = read_request(&text).map_err(|e| not_ours(format!("{name}: {e}")))?;
        let missing = |e: std::io::Error| {
            not_ours(format!(
                "{name} has no manifest-{class}.csv beside it ({e})"
            ))
        };
        let reader = std::io::BufReader::new(std::fs::File::open(&manifest_path).map_err(missing)?);
        let mut tasks = 0u64;
        for (i, line) in std::io::BufRead::lines(reader).enumerate() {
            let line = line.map_err(|e| {
                not_ours(if e.kind() == std::io::ErrorKind::InvalidData {
                    format!("manifest-{class}.csv is not UTF-8 text")
                } else {
                    format!("cannot read manifest-{class}.csv ({e})")
                })
            })?;
            if line.split(',').count() != 3 {
                return Err(not_ours(format!(
                    "manifest-{class}.csv line {} is not Bucket,Key,VersionId",
                    i + 1
                )));
            }
            tasks += 1;
        }
        if tasks == 0 {
            return Err(not_ours(format!("manifest-{class}.csv is empty")));
        }
        out.push(JobFiles {
            class,
            request_path,
            manifest_path,
            request,
            tasks,
        });
    }
    Ok(out)
}

/// Parse one `create-job-CLASS.json`.
pub fn read_request(text: &str) -> Result<CreateJobFile, String> {
    let r: CreateJobFile = serde_json::from_str(text).map_err(|e| {
        format!("not a CreateJob request `plan --emit batch-ops` writes ({e}); submit other requests with `aws s3control create-job`")
    })?;
    if r.manifest.spec.format != "S3BatchOperations_CSV_20180820" {
        return Err(format!(
            "manifest format {:?}: s3rewind submits CSV manifests only",
            r.manifest.spec.format
        ));
    }
    if r.report.format != s3rewind_engine::batch::report::REPORT_FORMAT || !r.report.enabled {
        return Err(
            "the completion report must be enabled (Report_CSV_20180820): `batch reconcile` reads it"
                .to_owned(),
        );
    }
    Ok(r)
}

/// `arn:PARTITION:s3:::BUCKET/KEY` → (BUCKET, KEY).
pub fn object_of_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:")?;
    let (_, rest) = rest.split_once(":s3:::")?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then(|| (bucket.to_owned(), key.to_owned()))
}

/// `arn:PARTITION:s3:::BUCKET` → BUCKET.
pub fn bucket_of_arn(arn: &str) -> String {
    arn.rsplit(":::").next().unwrap_or(arn).to_owned()
}

/// A job `batch submit` created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmittedJob {
    /// The job id.
    pub job_id: String,
    /// The account it runs in.
    pub account_id: String,
    /// The class part of its files' names.
    pub class: String,
    /// Its manifest file in DIR.
    pub manifest_file: String,
    /// Where the manifest was uploaded.
    pub manifest_arn: String,
    /// The uploaded manifest's ETag.
    pub manifest_etag: String,
    /// Tasks (manifest rows).
    pub tasks: u64,
    /// `arn:aws:s3:::BUCKET` of its completion report.
    pub report_bucket: String,
    /// The report's prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_prefix: Option<String>,
    /// The idempotency token it was created with.
    pub client_request_token: String,
    /// When it was submitted.
    pub submitted_at: chrono::DateTime<chrono::Utc>,
}

/// `DIR/jobs.json`: the jobs `batch submit` created from DIR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsFile {
    /// Always [`JOBS_SCHEMA`].
    pub schema: String,
    /// The jobs, in submission order.
    pub jobs: Vec<SubmittedJob>,
}

impl JobsFile {
    /// Read DIR's jobs file; an empty record when there is none.
    pub fn read(dir: &Path) -> CliResult<JobsFile> {
        let path = dir.join(JOBS_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let f: JobsFile = serde_json::from_str(&text).map_err(|e| {
                    CliError::usage(format!(
                        "{} is not a jobs record of `batch submit`: {e}",
                        path.display()
                    ))
                })?;
                if f.schema != JOBS_SCHEMA {
                    return Err(CliError::usage(format!(
                        "{} has schema {:?}, not {JOBS_SCHEMA}",
                        path.display(),
                        f.schema
                    )));
                }
                Ok(f)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(JobsFile {
                schema: JOBS_SCHEMA.to_owned(),
                jobs: Vec::new(),
            }),
            Err(e) => Err(CliError::failure(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// Write it (atomically: a temporary file renamed over it).
    pub fn write(&self, dir: &Path) -> CliResult<()> {
        let path = dir.join(JOBS_FILE);
        let tmp = dir.join(format!("{JOBS_FILE}.tmp"));
        std::fs::write(
            &tmp,
            serde_json::to_string_pretty(self).expect("JSON") + "\n",
        )
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use s3rewind_engine::batch::{BATCH_COPY_LIMIT, manifest_csv, split_for_batch};
    use s3rewind_engine::{Action, CopyAction, DeleteMarkerAction, Expect};

    /// Every file in `dir`, by name.
    fn files(dir: &Path) -> BTreeMap<String, String> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read_to_string(e.path()).unwrap(),
                )
            })
            .collect()
    }

    proptest! {
        #![proptest_config(crate::proptest_config(32))]
        /// The files `plan --emit batch-ops` writes, from a plan in memory or on disk, are
        /// the engine's split of the whole plan written out: one manifest and one request
        /// per storage class with exactly the copies Batch Operations can do, the rest (delete
        /// markers, copies over 5 GiB, archived, to another key) in `remainder.json` with
        /// its counts, and the whole plan in `plan.json`.
        #[test]
        fn batch_files_from_a_spool_are_the_engine_s_split_written_out(
            kinds in proptest::collection::vec(0u8..6, 0..120),
        ) {
            let at = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
            let actions: Vec<Action> = kinds
                .iter()
                .enumerate()
                .map(|(n, kind)| {
                    let key = format!("k/{n:04} +,é");
                    let expect = Expect { version_id: "old".into(), etag: "e".into() };
                    let copy = |class: Option<&str>, size: u64, source_key: &str| {
                        Action::Copy(CopyAction {
                            key: key.clone(),
                            source_key: source_key.to_owned(),
                            source_version_id: format!("v{n}").as_str().into(),
                            etag: "0123456789abcdef0123456789abcdef".into(),
                            size,
                            storage_class: class.map(StorageClass::new),
                            last_modified: at,
                            expect: Some(expect.clone()),
                        })
                    };
                    match kind {
                        0 => copy(None, n as u64, &key),
                        1 => copy(Some("STANDARD_IA"), 7, &key),
                        2 => copy(Some("GLACIER"), 7, &key),
                        3 => copy(None, BATCH_COPY_LIMIT + 1, &key),
                        4 => copy(None, 7, "k/elsewhere"),
                        _ => Action::DeleteMarker(DeleteMarkerAction { key: key.clone(), expect }),
                    }
                })
                .collect();
            let plan = crate::pipeline::report::plan_json_tests::plan_of("", actions.clone());
            // The oracle: the engine's split of the plan in memory, written as the files.
            let split = split_for_batch(&plan).unwrap();
            let options = JobOptions::default();
            let mut want = BTreeMap::new();
            for g in &split.groups {
                let class = class_name(g.storage_class);
                want.insert(format!("manifest-{class}.csv"), manifest_csv(&g.tasks));
                let job = create_job(&plan, &split.target_bucket, g.storage_class, g.tasks.len() as u64, &options).unwrap();
                want.insert(format!("create-job-{class}.json"), serde_json::to_string_pretty(&job).unwrap() + "\n");
            }
            want.insert("remainder.json".to_owned(), split.remainder.to_json() + "\n");
            want.insert(PLAN_FILE.to_owned(), plan.to_json() + "\n");
            let (printer, said) = Printer::capturing(crate::output::OutputFormat::Text, false);
            let held = tempfile::tempdir().unwrap();
            emit(&printer, &plan, None, held.path(), &options).unwrap();
            prop_assert_eq!(files(held.path()), want.clone());
            // What it says: each job's copies and bytes, the remainder's reasons, and the
            // warning that jobs copy unchecked only when there is a job.
            let said = said.stderr();
            for g in &split.groups {
                let line = format!(
                    "{} copies ({}) for a Batch Operations job",
                    g.tasks.len(),
                    crate::output::human_bytes(g.bytes)
                );
                prop_assert!(said.contains(&line), "{}\n{}", line, said);
            }
            let why = |k: Kept| split.kept.get(&k).copied().unwrap_or(0);
            let rest = format!(
                "{} actions Batch Operations cannot do ({} delete markers, {} copies over 5 GiB, {} archived, {} to another key)",
                split.remainder.actions.len(),
                why(Kept::DeleteMarker),
                why(Kept::TooLarge),
                why(Kept::Archived),
                why(Kept::OtherKey)
            );
            prop_assert!(said.contains(&rest), "{}\n{}", rest, said);
            prop_assert_eq!(said.contains("copies without checking"), !split.groups.is_empty());
            let printer = Printer::capturing(crate::output::OutputFormat::Text, true).0;
            let mut spool = ActionSpool::new().unwrap();
            for run in actions.chunks(17).rev() {
                spool.push_run(run).unwrap();
            }
            spool.seal().unwrap();
            let mut bare = plan.clone();
            bare.actions.clear();
            let spooled = tempfile::tempdir().unwrap();
            emit(&printer, &bare, Some(&spool), spooled.path(), &options).unwrap();
            prop_assert_eq!(files(spooled.path()), want);
        }
    }
}
