//! The second stage: what is checked before anything is written. The buckets'
//! versioning ([`check_buckets`]: the engine's `preflight` refuses or warns), the
//! blast radius ([`check_blast_radius`]), a plan file's digest ([`check_digest`]),
//! confirmation ([`confirm`]), archived sources ([`annotate_archived`]), and the safety
//! gates read as plan warnings ([`gate_warnings`]):
//!
//! - a lifecycle rule that expires noncurrent versions inside the restore window (the
//!   versions a restore needs may already be gone, or go soon);
//! - Object Lock default retention on the destination (restored copies get locked);
//! - MFA Delete (the default restore still works: it never deletes a version).
//!
//! The refusals (no versioning, Suspended in place) are in the engine's `preflight`.
//! A gate that cannot be read (no permission for the configuration) is logged and
//! skipped rather than stopping the restore.

use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
use crate::pipeline::prepare::plan_digest_of;
use crate::pipeline::report::print_plan_of;
use crate::pipeline::{Clients, rfc3339};
use crate::s3::{ErrorKind, S3Error};
use crate::spill::{ActionSpool, PlanActions};
use chrono::{DateTime, Utc};
use s3rewind_engine::{
    Action, DeleteLimit, Destination, Location, PlanError, RestorePlan, Selection, Warning,
    preflight,
};
use std::path::Path;

fn tolerate<T: Default>(what: &str, r: Result<T, S3Error>) -> CliResult<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::AccessDenied | ErrorKind::NotImplemented | ErrorKind::Other
            ) =>
        {
            tracing::info!(error = %e, "{what} not checked");
            Ok(T::default())
        }
        Err(e) => Err(crate::error::from_s3(e, what)),
    }
}

/// Check the gates for a restore of `source` as of `at` into `dest_bucket` (`None` for a
/// directory).
pub async fn check(
    clients: &Clients,
    source: &Location,
    dest_bucket: Option<&str>,
    at: DateTime<Utc>,
) -> CliResult<Vec<Warning>> {
    let mut out = Vec::new();
    let window_days = (Utc::now() - at).num_days();
    let rules = tolerate(
        "lifecycle rules",
        clients
            .source_endpoint
            .config(&source.bucket)
            .noncurrent_expirations()
            .await,
    )?;
    for (rule, prefix, days) in rules {
        let overlaps = prefix.starts_with(&source.prefix) || source.prefix.starts_with(&prefix);
        if overlaps {
            out.push(Warning::NoncurrentExpiration {
                bucket: source.bucket.clone(),
                rule,
                prefix,
                days,
                window_days,
            });
        }
    }
    if let Some(bucket) = dest_bucket {
        let retention = tolerate(
            "object lock configuration",
            clients
                .dest_endpoint
                .config(bucket)
                .default_retention()
                .await,
        )?;
        if let Some((mode, days, years)) = retention {
            out.push(Warning::DefaultRetention {
                bucket: bucket.to_owned(),
                mode,
                days,
                years,
            });
        }
        if let Ok(v) = clients.dest_endpoint.bucket(bucket).versioning().await
            && v.mfa_delete
        {
            out.push(Warning::MfaDelete {
                bucket: bucket.to_owned(),
            });
        }
    }
    Ok(out)
}

/// Check the source (and destination) bucket before planning. `executing` turns the
/// suspended-versioning refusal into an error; `plan` only warns.
pub async fn check_buckets(
    clients: &Clients,
    printer: &Printer,
    source: &Location,
    destination: &Destination,
    executing: bool,
) -> CliResult<Vec<Warning>> {
    let sv = clients
        .source
        .versioning()
        .await
        .map_err(|e| from_s3(e, &source.bucket))?;
    let dv = match destination {
        Destination::Bucket { location } => Some(
            clients
                .dest
                .versioning()
                .await
                .map_err(|e| from_s3(e, &location.bucket))?
                .status,
        ),
        _ => None,
    };
    let warnings = match preflight(&source.bucket, sv.status, destination, dv) {
        Ok(w) => w,
        Err(e @ PlanError::Suspended { .. }) if !executing => {
            printer.warn(format!(
                "{e} (this plan cannot be applied in place until then)"
            ));
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(warnings)
}

/// The safety-gate warnings for a plan (lifecycle, Object Lock, MFA Delete).
pub async fn gate_warnings(
    clients: &Clients,
    source: &Location,
    destination: &Destination,
    at: DateTime<Utc>,
) -> CliResult<Vec<Warning>> {
    let dest_bucket = match destination {
        Destination::InPlace => Some(source.bucket.as_str()),
        Destination::Bucket { location } => Some(location.bucket.as_str()),
        Destination::Directory { .. } => None,
    };
    check(clients, source, dest_bucket, at).await
}

/// Intelligent-Tiering versions show no archive tier in a listing: HEAD each one a plan
/// copies, and list those in an archive tier as [`Warning::Archived`].
/// The plan's actions are `spool`'s where one is given.
pub async fn annotate_archived(
    clients: &Clients,
    p: &mut RestorePlan,
    spool: Option<&ActionSpool>,
) -> CliResult<()> {
    let mut candidates: Vec<(String, String, String)> = Vec::new();
    PlanActions::of(p, spool).each(|a| {
        if let Action::Copy(c) = a
            && c.storage_class.as_ref().map(|s| s.as_str()) == Some("INTELLIGENT_TIERING")
        {
            candidates.push((
                c.key.clone(),
                c.source_key.clone(),
                c.source_version_id.to_string(),
            ));
        }
        Ok(true)
    })?;
    let heads = crate::bucket::head_versions(
        &clients.source,
        candidates
            .iter()
            .map(|(_, source_key, vid)| (source_key.clone(), Some(vid.clone())))
            .collect(),
        16,
    )
    .await
    .map_err(|e| from_s3(e, &p.source.bucket))?;
    // In the plan's key order.
    for ((key, _, version_id), head) in candidates.into_iter().zip(heads) {
        if let Some(tier) = head.and_then(|h| h.archive_status) {
            p.stats.archived += 1;
            p.warnings.push(Warning::Archived {
                key,
                version_id,
                storage_class: s3rewind_engine::StorageClass::new(&format!(
                    "INTELLIGENT_TIERING/{tier}"
                )),
            });
        }
    }
    Ok(())
}

/// The blast-radius guard before executing (see [`DeleteLimit`]): refused, with the
/// plan's warning printed, when its delete markers hide too many current keys.
pub fn check_blast_radius(
    printer: &Printer,
    p: &mut RestorePlan,
    spool: Option<&ActionSpool>,
    limit: DeleteLimit,
) -> CliResult<()> {
    if p.selection == Selection::Undo {
        return Ok(());
    }
    let Some(w) = p.exceeds(limit) else {
        return Ok(());
    };
    p.warnings.insert(0, w);
    print_plan_of(printer, p, PlanActions::of(p, spool), false, false)?;
    Err(CliError::refused(format!(
        "the plan would hide {} of the {} keys that exist now under {} behind delete markers (limit --max-delete-markers {limit}): check TIME and the prefix; if the plan is right, re-run with --max-delete-markers {}; nothing was written",
        p.stats.delete_markers, p.stats.keys_now, p.source, p.stats.delete_markers
    )))
}

/// Ask before an in-place restore, or one that overwrites objects in a destination
/// that keeps no history (nothing there to undo), unless `--yes`.
/// The plan's actions are `actions` (in memory or on disk).
pub fn confirm(
    printer: &Printer,
    p: &RestorePlan,
    actions: PlanActions<'_>,
    yes: bool,
) -> CliResult<()> {
    if yes || actions.is_empty() {
        return Ok(());
    }
    let question = match &p.destination {
        Destination::InPlace => format!(
            "Restore {} in place to {}: {} copies and {} delete markers (nothing is deleted permanently). Proceed?",
            p.source,
            rfc3339(p.at),
            p.stats.copies,
            p.stats.delete_markers
        ),
        Destination::Bucket { location } => {
            let unversioned = p
                .warnings
                .iter()
                .any(|w| matches!(w, Warning::DestinationKeepsNoHistory { .. }));
            let mut overwrites = 0u64;
            actions.each(|a| {
                overwrites += u64::from(matches!(a, Action::Copy(c) if c.expect.is_some()));
                Ok(true)
            })?;
            if !unversioned || overwrites == 0 {
                return Ok(());
            }
            format!(
                "Overwrite {overwrites} existing object(s) in s3://{}/{}, which keeps no versions (they cannot be brought back)? Proceed?",
                location.bucket, location.prefix
            )
        }
        Destination::Directory { .. } => return Ok(()),
    };
    let question = match &p.estimate {
        Some(e) => {
            format!(
                "{} (about {} requests, {}, {})",
                question.trim_end_matches(" Proceed?"),
                e.requests.total(),
                crate::pipeline::report::usd(e.cost_usd),
                crate::output::human_secs(e.seconds.ceil() as u64)
            ) + " Proceed?"
        }
        None => question,
    };
    match printer.confirm(&question) {
        Some(true) => Ok(()),
        Some(false) => Err(CliError::refused("not confirmed; nothing was written")),
        None => Err(CliError::refused(
            "this restore writes over existing objects and needs confirmation, and stdin is not a terminal; review with `s3rewind plan` and re-run with --yes; nothing was written",
        )),
    }
}

/// A plan file's digest checked: against `--expect-digest` (refused when it differs:
/// the plan is not the one reviewed), and against the digest it records (a plan changed
/// after `plan --out` wrote it is said so).
/// The plan's actions are `spool`'s where one is given.
pub fn check_digest(
    printer: &Printer,
    path: &Path,
    p: &mut RestorePlan,
    spool: Option<&ActionSpool>,
    expect: Option<&str>,
) -> CliResult<()> {
    let actual = plan_digest_of(p, spool)?;
    if let Some(want) = expect
        && want.trim() != actual
    {
        return Err(CliError::refused(format!(
            "plan {} has digest {actual}, not the expected {}: it is not the plan that was reviewed; review this one (`s3rewind plan` again) or give its digest; nothing was written",
            path.display(),
            want.trim()
        )));
    }
    match &p.digest {
        Some(recorded) if *recorded != actual => printer.warn(format!(
            "plan {} was changed after it was written: it records digest {recorded}, its content has {actual}",
            path.display()
        )),
        _ => printer.info(format!("plan {}: digest {actual}", path.display())),
    }
    Ok(())
}
