//! `undelete`: bring back keys whose current version is a delete marker.
//!
//! Two ways (see S3_SEMANTICS §5):
//!
//! - **Copy back** (default): the key's last version (the newest entry that is not a
//!   delete marker) is copied on top, as a new version. The target state is the current
//!   state plus those keys at their last version, and the normal planner and executor do
//!   the rest, so the journal, drift checks, confirmation, progress, summary and exit
//!   codes are those of `restore`. Append-only: nothing is deleted, and it works under
//!   MFA Delete and Object Lock.
//! - **Remove the delete markers** (`--remove-delete-markers`): the markers above the last
//!   version are deleted by version id, so the original version (its id, date, ACL, tags
//!   and storage class) is current again. This rewrites history (a removed marker can
//!   only be re-created with a new id), needs `s3:DeleteObjectVersion`, is refused while
//!   MFA Delete is enabled, and asks for confirmation unless `--yes`. Only delete markers
//!   are ever deleted, never an object version.
//!
//! A key is *deleted at* the time of the oldest marker above its last version (the
//! moment it disappeared; later markers stacked on an already deleted key do not count),
//! and `--since` keeps the keys deleted at or after TIME. Keys that only ever had delete
//! markers have nothing to bring back and are skipped with a note.

use crate::args::UndeleteArgs;
use crate::bucket::Bucket;
use crate::commands::restore::{
    Clients, RESTORE_SCHEMA, check_buckets, exec_config, print_plan, rfc3339, run_plan,
};
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::execute::{ExecReport, KeyIssue};
use crate::journal::{self, Done, Journal, Line, Op};
use crate::output::{Printer, human_bytes};
use crate::pipeline::App;
use crate::pipeline::resolve_time;
use crate::run::{Items, Job, Probe, RunOptions, Step};
use crate::s3::{BucketVersioning, ErrorKind};
use chrono::{DateTime, SubsecRound, Utc};
use s3rewind_engine::{
    Destination, ListOrder, Location, PlanOptions, TimelineBuilder, Version, parse_s3_uri, plan,
};
use serde::Serialize;
use serde_json::json;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use s3rewind_engine::undelete::{
    DeletedKey, EntryRef, Found, Skipped, find_deleted, undelete_target,
};

/// Removing delete markers is a permanent delete: refused while MFA Delete is enabled
/// (every such delete would need an MFA token; copying back works instead).
pub fn check_marker_removal(bucket: &str, v: &BucketVersioning) -> CliResult<()> {
    if v.mfa_delete {
        return Err(CliError::refused(format!(
            "MFA Delete is enabled on bucket {bucket:?}: removing delete markers would need an MFA token for each one; run `s3rewind undelete` without --remove-delete-markers to copy the last versions back instead; nothing was written"
        )));
    }
    Ok(())
}

fn note_found(printer: &Printer, source: &Location, found: &Found) {
    if !found.skipped.is_empty() {
        let shown: Vec<String> = found
            .skipped
            .iter()
            .take(5)
            .map(|s| format!("{:?}", s.key))
            .collect();
        printer.info(format!(
            "{} deleted key(s) only ever had delete markers (no version to bring back); skipped: {}{}",
            found.skipped.len(),
            shown.join(", "),
            if found.skipped.len() > 5 { ", …" } else { "" }
        ));
    }
    if found.before_since > 0 {
        printer.info(format!(
            "{} key(s) deleted before --since left alone",
            found.before_since
        ));
    }
    if found.keys.is_empty() {
        printer.line(format!(
            "Nothing to undelete: no key under {source} has a delete marker (deleted in the given window) above a version."
        ));
    }
}

/// The name and version of `undelete --remove-delete-markers --output json`'s document
/// (a copying undelete prints `restore`'s, [`RESTORE_SCHEMA`], or with `--dry-run` its
/// plan): `{"schema", "source", "mode", "dry_run", "keys", "skipped", "report",
/// "journal"}`.
pub const UNDELETE_SCHEMA: &str = "s3rewind.undelete/v1";

/// `s3rewind undelete`.
pub async fn undelete_cmd(app: &App, args: &UndeleteArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    let since = match &args.since {
        Some(s) => {
            let (t, note) = resolve_time(s)?;
            if let Some(note) = note {
                printer.info(note);
            }
            Some(t)
        }
        None => None,
    };
    if !args.dry_run {
        crate::outputs::of_exec(&args.exec, &journal::default_dir())?;
    }
    let clients = Clients::new(app, &source, &Destination::InPlace, None).await;
    // Never versioned: refused; Suspended: refused unless only looking (as for restore).
    let warnings = check_buckets(
        &clients,
        printer,
        &source,
        &Destination::InPlace,
        !args.dry_run,
    )
    .await?;
    if args.remove_delete_markers {
        let v = clients
            .source
            .versioning()
            .await
            .map_err(|e| from_s3(e, &source.bucket))?;
        match check_marker_removal(&source.bucket, &v) {
            Err(e) if args.dry_run => printer.warn(e.message),
            other => other?,
        }
    }
    // The instant of the listing: what the plan is "at" (the state now, plus the keys).
    let now = Utc::now().trunc_subsecs(0);
    let timeline = crate::crosscheck::list_checked(
        &clients.source,
        printer,
        &source.prefix,
        args.listing.page_size,
        args.listing.streams(),
    )
    .await?;
    let found = find_deleted(&timeline, &source.prefix, since);
    note_found(printer, &source, &found);
    if args.remove_delete_markers {
        return remove_markers_cmd(app, args, &source, &found, now, timeline.layout()).await;
    }

    let current = timeline.current();
    let target = undelete_target(&current, &found);
    let mut options = PlanOptions::new(source.clone(), Destination::InPlace, now);
    options.selection = s3rewind_engine::Selection::Undelete;
    let mut p = plan(&current, &target, &options);
    p.created_at = Some(Utc::now());
    let mut all = warnings;
    all.append(&mut p.warnings);
    p.warnings = all;
    if !found.keys.is_empty() {
        printer.line(format!(
            "Undelete: {} deleted key(s) under {} come back as copies of their last version ({}); the delete markers stay in the history",
            found.keys.len(),
            source,
            human_bytes(found.keys.iter().map(|k| k.size).sum())
        ));
    }
    if args.dry_run {
        print_plan(printer, &p, app.verbose, true);
        printer.json_value(&p);
        return Ok(Exit::Ok);
    }
    if p.actions.is_empty() {
        // The same document as run_plan's (a copying undelete executes a plan like
        // `restore`), without printing an empty plan's text.
        printer.json_value(&json!({
            "schema": RESTORE_SCHEMA,
            "source": p.source,
            "destination": p.destination,
            "at": p.at,
            "plan": p.stats,
            "report": ExecReport::default(),
            "journal": null,
        }));
        return Ok(Exit::Ok);
    }
    let journal_path = args
        .exec
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&source, &Destination::InPlace, now));
    let run = journal::Run::of_plan(&p);
    run_plan(app, &clients, &p, &args.exec, &journal_path, 0, &run).await
}

/// A delete marker that was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedMarker {
    /// The key.
    pub key: String,
    /// The removed marker's version id.
    pub version_id: String,
    /// When the marker was made.
    pub last_modified: DateTime<Utc>,
}

/// What `--remove-delete-markers` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RemoveReport {
    /// Keys whose last version is current again.
    pub undeleted: u64,
    /// Every marker removed.
    pub removed: Vec<RemovedMarker>,
    /// Keys found already back (an earlier run, or someone else, removed the markers).
    pub already_done: u64,
    /// Keys that changed since the listing: not touched.
    pub drifted: Vec<KeyIssue>,
    /// Keys that could not be brought back.
    pub failed: Vec<KeyIssue>,
    /// True when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

struct RemoveCtx {
    bucket: Arc<dyn Bucket>,
    keys: Vec<DeletedKey>,
    journal: Journal,
    /// Every marker removed so far.
    removed: Mutex<Vec<RemovedMarker>>,
    /// The page layout the listing proved: a key is re-read the same way.
    layout: ListOrder,
}

impl RemoveCtx {
    /// The key's entries now, in list order (the one pager, with the key as prefix, more
    /// pages only while the key itself continues), read with the layout the listing
    /// proved. A key whose order this server's pages do not prove is not acted on: a
    /// permanent delete is never decided on a guess.
    async fn entries(&self, key: &str) -> Result<Vec<Version>, String> {
        let pages = crate::pager::key_pages(self.bucket.as_ref(), key)
            .await
            .map_err(|e| e.message)?;
        let mut builder = TimelineBuilder::new();
        let mut order = self.layout;
        for document in pages {
            builder
                .push_document(document, &mut order)
                .map_err(|e| e.to_string())?;
        }
        let timeline = builder.finish();
        if timeline.anomalies().iter().any(|a| a.is_guess()) {
            return Err(format!(
                "the order of {key:?}'s versions and delete markers is not proven on this server's pages (a same-second tie, or a layout no page proved); left as it is"
            ));
        }
        Ok(timeline
            .get(key)
            .map(|h| h.entries.clone())
            .unwrap_or_default())
    }

    async fn undelete(&self, k: &DeletedKey) -> Step {
        let entries = match self.entries(&k.key).await {
            Ok(e) => e,
            Err(e) => return Step::Failed(e),
        };
        let top = entries.iter().take_while(|v| v.delete_marker).count();
        let below = entries.get(top).map(|v| v.version_id.as_str());
        let planned = |id: &str| k.markers.iter().any(|m| m.version_id == id);
        if below != Some(k.last.version_id.as_str())
            || !entries[..top]
                .iter()
                .all(|m| planned(&m.version_id.as_str()))
        {
            return Step::Drifted(format!(
                "changed since the listing (now: {}); left as it is; run again to re-plan",
                entries
                    .first()
                    .map(|v| format!(
                        "{} {}",
                        if v.delete_marker {
                            "delete marker"
                        } else {
                            "version"
                        },
                        v.version_id
                    ))
                    .unwrap_or_else(|| "no entries".to_owned())
            ));
        }
        if top == 0 {
            return Step::AlreadyDone;
        }
        // Remove one marker at a time, and only while it is the key's *current* entry
        // (the server marks it IsLatest): a marker below a live version is never touched,
        // whatever the timestamps say. Each removal re-reads the key.
        let mut entries = entries;
        let mut removed_here = 0usize;
        loop {
            let Some(head) = entries.first() else {
                return Step::Failed("the key has no entries any more".into());
            };
            if !head.delete_marker {
                break;
            }
            if !head.is_latest || !planned(&head.version_id.as_str()) {
                return Step::Drifted(format!(
                    "delete marker {} is {}; left as it is; run again to re-plan",
                    head.version_id,
                    if head.is_latest {
                        "not one of the planned markers"
                    } else {
                        "not marked current by the server"
                    }
                ));
            }
            if removed_here >= k.markers.len() {
                return Step::Failed("more delete markers than planned; stopped".into());
            }
            let m = head.clone();
            if let Err(e) = self
                .bucket
                .delete_version(&k.key, &m.version_id.as_str())
                .await
            {
                let hint = if e.kind == ErrorKind::AccessDenied {
                    " (removing delete markers needs s3:DeleteObjectVersion)"
                } else {
                    ""
                };
                return Step::Failed(format!(
                    "removing delete marker {}: {e}{hint}",
                    m.version_id
                ));
            }
            removed_here += 1;
            self.removed
                .lock()
                .expect("removed markers lock")
                .push(RemovedMarker {
                    key: k.key.clone(),
                    version_id: m.version_id.to_string(),
                    last_modified: m.last_modified,
                });
            entries = match self.entries(&k.key).await {
                Ok(e) => e,
                Err(e) => {
                    return Step::Failed(format!("marker removed, re-reading the key: {e}"));
                }
            };
            let done = Done {
                op: Op::RemoveDeleteMarker,
                bucket: self.bucket.name().to_owned(),
                key: k.key.clone(),
                source_bucket: None,
                source_key: None,
                source_version_id: None,
                previous_version_id: Some(m.version_id.to_string()),
                new_version_id: entries
                    .first()
                    .map(|v| v.version_id.to_string())
                    .unwrap_or_default(),
                etag: None,
                size: None,
                time: Utc::now(),
            };
            if let Err(e) = self.journal.append(&Line::Done(done)) {
                return Step::Failed(e.to_string());
            }
        }
        // Check the result: the last version must be current again.
        match self.bucket.head(&k.key, None).await {
            Ok(Some(h)) if h.version_id == k.last.version_id => Step::Undeleted,
            Ok(h) => Step::Failed(format!(
                "after removing the delete markers the current version is {} instead of {}",
                h.map_or_else(|| "a delete marker".to_owned(), |h| h.version_id),
                k.last.version_id
            )),
            Err(e) => Step::Failed(format!("markers removed, but checking the key failed: {e}")),
        }
    }
}

fn print_keys(printer: &Printer, found: &Found, verbose: bool) {
    let markers: usize = found.keys.iter().map(|k| k.markers.len()).sum();
    printer.line(format!(
        "Remove {markers} delete marker(s) of {} key(s); their last versions become current again (no object version is deleted)",
        found.keys.len()
    ));
    let shown = if verbose { found.keys.len() } else { 20 };
    for k in found.keys.iter().take(shown) {
        printer.line(format!(
            "  {:?}: deleted {}, {} marker(s) ({}), back to version {} ({})",
            k.key,
            rfc3339(k.deleted_at),
            k.markers.len(),
            k.markers
                .iter()
                .map(|m| m.version_id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            k.last.version_id,
            human_bytes(k.size)
        ));
    }
    if found.keys.len() > shown {
        printer.line(format!(
            "  … and {} more (-v for all, --output json for the full list)",
            found.keys.len() - shown
        ));
    }
}

async fn remove_markers_cmd(
    app: &App,
    args: &UndeleteArgs,
    source: &Location,
    found: &Found,
    now: DateTime<Utc>,
    layout: ListOrder,
) -> CliResult<Exit> {
    let printer = &app.printer;
    if found.keys.is_empty() || args.dry_run {
        if !found.keys.is_empty() {
            print_keys(printer, found, app.verbose || args.dry_run);
        }
        printer.json_value(&json!({
            "schema": UNDELETE_SCHEMA,
            "source": source,
            "mode": "remove_delete_markers",
            "dry_run": args.dry_run,
            "keys": found.keys,
            "skipped": found.skipped,
            "report": RemoveReport::default(),
            "journal": null,
        }));
        return Ok(Exit::Ok);
    }
    print_keys(printer, found, app.verbose);
    let markers: usize = found.keys.iter().map(|k| k.markers.len()).sum();
    if !args.exec.yes {
        let question = format!(
            "Permanently delete {markers} delete marker(s) of {} key(s) in {source}? (The versions below them become current again; a removed marker cannot be put back with its id.) Proceed?",
            found.keys.len()
        );
        match printer.confirm(&question) {
            Some(true) => {}
            Some(false) => return Err(CliError::refused("not confirmed; nothing was written")),
            None => {
                return Err(CliError::refused(
                    "removing delete markers needs confirmation and stdin is not a terminal; review with --dry-run and re-run with --yes; nothing was written",
                ));
            }
        }
    }
    let journal_path = args
        .exec
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(source, &Destination::InPlace, now));
    let run = journal::Run {
        kind: journal::RunKind::Undelete,
        ..journal::Run::restore(source, &Destination::InPlace, now)
    };
    let journal = Journal::begin(&journal_path, &run, printer)?;
    let config = exec_config(&args.exec);
    let r = execute_removal(app, source, found, config.concurrency, journal, layout).await;
    Ok(report_removal(printer, source, found, &r, &journal_path))
}

async fn execute_removal(
    app: &App,
    source: &Location,
    found: &Found,
    concurrency: usize,
    journal: Journal,
    layout: ListOrder,
) -> RemoveReport {
    let started = Instant::now();
    let ctx = Arc::new(RemoveCtx {
        bucket: app.endpoint.bucket(&source.bucket),
        keys: found.keys.clone(),
        journal,
        removed: Mutex::new(Vec::new()),
        layout,
    });
    let options = RunOptions {
        concurrency,
        // Each attempt re-reads the key; a failed removal is reported, not retried.
        attempts: 1,
        throttle_pause: crate::s3::THROTTLE_PAUSE,
        label: "undeleting",
        caps: None,
    };
    let count = ctx.keys.len();
    let run = crate::run::run(ctx.clone(), Items::All(count), &options, &app.printer, None).await;
    let mut removed = std::mem::take(&mut *ctx.removed.lock().expect("removed markers lock"));
    removed.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then(b.last_modified.cmp(&a.last_modified))
    });
    RemoveReport {
        undeleted: run.undeleted,
        removed,
        already_done: run.already_done,
        drifted: run.drifted,
        failed: run.failed,
        interrupted: run.interrupted,
        seconds: started.elapsed().as_secs_f64(),
    }
}

impl Job for RemoveCtx {
    fn key(&self, i: usize) -> String {
        self.keys[i].key.clone()
    }

    fn attempt(
        self: Arc<Self>,
        i: usize,
        _attempt: u32,
        _probe: Probe,
    ) -> Pin<Box<dyn Future<Output = Step> + Send>> {
        Box::pin(async move { self.undelete(&self.keys[i]).await })
    }
}

fn report_removal(
    printer: &Printer,
    source: &Location,
    found: &Found,
    r: &RemoveReport,
    journal: &Path,
) -> Exit {
    for m in &r.removed {
        printer.line(format!(
            "  removed delete marker {} of {:?} (made {})",
            m.version_id,
            m.key,
            rfc3339(m.last_modified)
        ));
    }
    printer.line(format!(
        "Undeleted {} key(s) in {source}: {} delete marker(s) removed, {} already back, {:.1} s",
        r.undeleted,
        r.removed.len(),
        r.already_done,
        r.seconds
    ));
    crate::execute::print_issues(
        printer,
        &[
            (
                "Drifted (changed since the listing; not touched)",
                &r.drifted,
            ),
            ("Failed", &r.failed),
        ],
    );
    printer.line(format!("Journal: {}", journal.display()));
    if r.interrupted {
        printer.line("Interrupted: run the same command again to resume.");
    }
    printer.json_value(&json!({
        "schema": UNDELETE_SCHEMA,
        "source": source,
        "mode": "remove_delete_markers",
        "dry_run": false,
        "keys": found.keys,
        "skipped": found.skipped,
        "report": r,
        "journal": journal,
    }));
    if r.interrupted {
        Exit::Interrupted
    } else if r.drifted.is_empty() && r.failed.is_empty() {
        Exit::Ok
    } else {
        Exit::Partial
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3rewind_engine::Versioning;

    #[test]
    fn marker_removal_is_refused_under_mfa_delete() {
        let on = BucketVersioning {
            status: Versioning::Enabled,
            mfa_delete: true,
        };
        let e = check_marker_removal("bkt", &on).unwrap_err();
        assert_eq!(e.exit, Exit::Refused);
        assert!(e.message.contains("MFA Delete is enabled"), "{}", e.message);
        assert!(e.message.contains("nothing was written"));
        let off = BucketVersioning {
            status: Versioning::Enabled,
            mfa_delete: false,
        };
        assert!(check_marker_removal("bkt", &off).is_ok());
    }
}
