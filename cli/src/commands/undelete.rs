//! `undelete`: bring back keys whose current version is a delete marker.
//!
//! Two ways (the project's shared semantics notes, §5):
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
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::execute::ExecReport;
use crate::journal::{self, Journal};
use crate::output::{JsonObject, Printer, human_bytes};
use crate::pipeline::App;
use crate::pipeline::execute::remove_markers::{
    RemoveReport, RemovedMarker, RemovedOfKey, execute_removal,
};
use crate::pipeline::execute::{exec_config, execute_plan};
use crate::pipeline::gates::check_buckets;
use crate::pipeline::report::{print_plan_json, restore_doc};
use crate::pipeline::resolve_time_noted;
use crate::pipeline::{Clients, rfc3339};
use crate::s3::BucketVersioning;
use crate::source::SourceSpec;
use crate::spill::{ActionSpool, Spilled};
use chrono::{DateTime, SubsecRound, Utc};
use s3rewind_engine::{
    Destination, ListOrder, Location, PlanOptions, Planner, RestorePlan, parse_s3_uri,
};
use std::path::Path;

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

fn note_found(printer: &Printer, source: &Location, found: &Counted) {
    if found.skipped > 0 {
        let shown: Vec<String> = found
            .skipped_first
            .iter()
            .map(|k| format!("{k:?}"))
            .collect();
        printer.info(format!(
            "{} deleted key(s) only ever had delete markers (no version to bring back); skipped: {}{}",
            found.skipped,
            shown.join(", "),
            if found.skipped > shown.len() as u64 { ", …" } else { "" }
        ));
    }
    if found.before_since > 0 {
        printer.info(format!(
            "{} key(s) deleted before --since left alone",
            found.before_since
        ));
    }
    if found.keys == 0 {
        printer.line(format!(
            "Nothing to undelete: no key under {source} has a delete marker (deleted in the given window) above a version."
        ));
    }
}

/// The name and version of `undelete --remove-delete-markers --output json`'s document
/// (a copying undelete prints `restore`'s, [`RESTORE_SCHEMA`](crate::pipeline::report::RESTORE_SCHEMA), or with `--dry-run` its
/// plan): `{"schema", "source", "mode", "dry_run", "keys", "skipped", "report",
/// "journal"}`.
pub const UNDELETE_SCHEMA: &str = "s3rewind.undelete/v1";

/// `s3rewind undelete`.
pub async fn undelete_cmd(app: &App, args: &UndeleteArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    let since = resolve_time_noted(printer, args.since.as_deref())?;
    if !args.dry_run {
        crate::outputs::of_exec(&args.exec, &app.journal_dir)?;
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
    if args.remove_delete_markers {
        let found = find_on_disk(&clients, printer, args, &source, since).await?;
        note_found(printer, &source, &found.counted);
        return remove_markers_cmd(app, args, &source, found, now).await;
    }
    let (mut p, spool, counted) =
        plan_streamed(&clients, printer, args, &source, since, now).await?;
    note_found(printer, &source, &counted);
    let mut all = warnings;
    all.append(&mut p.warnings);
    p.warnings = all;
    if counted.keys > 0 {
        printer.line(format!(
            "Undelete: {} deleted key(s) under {} come back as copies of their last version ({}); the delete markers stay in the history",
            counted.keys,
            source,
            human_bytes(counted.bytes)
        ));
    }
    if args.dry_run {
        print_plan_json(printer, &p, Some(&spool), app.verbose)?;
        return Ok(Exit::Ok);
    }
    if spool.is_empty() {
        // The same document as a restore's (a copying undelete executes a plan like
        // `restore`), without printing an empty plan's text.
        printer.json_value(&restore_doc(&p, ExecReport::default(), None));
        return Ok(Exit::Ok);
    }
    let journal_path = args.exec.journal.clone().unwrap_or_else(|| {
        journal::default_path(&app.journal_dir, &source, &Destination::InPlace, now)
    });
    let run = journal::Run::of_plan(&p);
    let (exit, doc) = execute_plan(
        app,
        &clients,
        &mut p,
        Some(spool),
        &args.exec,
        &journal_path,
        0,
        &run,
    )
    .await?;
    printer.json_value(&doc);
    Ok(exit)
}

/// What the listing found, counted: all a copying undelete keeps of [`Found`] (the keys
/// themselves are planned as each part of the listing arrives, onto disk).
#[derive(Debug, Default)]
struct Counted {
    /// Keys to bring back.
    keys: u64,
    /// Their last versions' bytes.
    bytes: u64,
    /// Deleted keys with only delete markers: how many, and the first few.
    skipped: u64,
    skipped_first: Vec<String>,
    /// Deleted keys left alone because they were deleted before `--since`.
    before_since: u64,
}

impl Counted {
    /// The names shown of the keys skipped.
    const SHOWN: usize = 5;

    fn add(&mut self, found: &Found) {
        self.keys += found.keys.len() as u64;
        self.bytes += found.keys.iter().map(|k| k.size).sum::<u64>();
        self.skipped += found.skipped.len() as u64;
        let room = Self::SHOWN.saturating_sub(self.skipped_first.len());
        self.skipped_first
            .extend(found.skipped.iter().take(room).map(|s| s.key.clone()));
        self.before_since += found.before_since;
    }
}

/// The source's listing, cross-checked, given to `f` a part at a time as it arrives
/// (parts in any order, each key whole): both ways of undeleting find the keys so.
async fn each_listed_part(
    clients: &Clients,
    printer: &Printer,
    args: &UndeleteArgs,
    source: &Location,
    f: impl FnMut(s3rewind_engine::Timeline) -> CliResult<()>,
) -> CliResult<()> {
    let spec = SourceSpec::listing(args.listing.page_size, args.listing.streams());
    crate::source::each_part(
        &clients.source_endpoint,
        printer,
        &source.bucket,
        &source.prefix,
        &spec,
        None,
        f,
    )
    .await?;
    Ok(())
}

/// The copy-back plan, made as the listing streams (cross-checked as every listing is):
/// each part's deleted keys are found ([`find_deleted`]) and planned toward
/// [`undelete_target`], and the actions go to disk as they are planned. Neither the
/// history nor the plan is ever held whole: an undelete after a mass delete of millions
/// of keys needs no more memory than one of a few.
async fn plan_streamed(
    clients: &Clients,
    printer: &Printer,
    args: &UndeleteArgs,
    source: &Location,
    since: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> CliResult<(RestorePlan, ActionSpool, Counted)> {
    let mut options = PlanOptions::new(source.clone(), Destination::InPlace, now);
    options.selection = s3rewind_engine::Selection::Undelete;
    let mut planner = Planner::new(&options);
    let mut spool = ActionSpool::new()?;
    let mut counted = Counted::default();
    let mut versions = 0u64;
    each_listed_part(clients, printer, args, source, |part| {
        versions += part.len() as u64;
        let found = find_deleted(&part, &source.prefix, since);
        counted.add(&found);
        let current = part.current();
        planner.add(&current, &undelete_target(&current, &found));
        spool.push_run(&planner.take_planned())
    })
    .await?;
    let mut p = planner.finish();
    spool.push_run(&std::mem::take(&mut p.actions))?;
    spool.seal()?;
    p.stats.versions_now = versions;
    p.created_at = Some(Utc::now());
    Ok((p, spool, counted))
}

/// What `--remove-delete-markers`' listing found, on disk: the keys to bring back and
/// the keys skipped, each in key order, and their counts.
struct FoundOnDisk {
    keys: Spilled<DeletedKey>,
    skipped: Spilled<Skipped>,
    counted: Counted,
    /// Delete markers above the keys' last versions: what would be removed.
    markers: u64,
    /// The page layout the listing proved: each key is re-read the same way.
    layout: ListOrder,
}

/// The deleted keys under `source`, found as the listing streams (cross-checked as every
/// listing is): each part's ([`find_deleted`]) go to disk as they are found, so that an
/// undelete after a mass delete of millions of keys holds no more than one of a few.
async fn find_on_disk(
    clients: &Clients,
    printer: &Printer,
    args: &UndeleteArgs,
    source: &Location,
    since: Option<DateTime<Utc>>,
) -> CliResult<FoundOnDisk> {
    let mut keys = Spilled::<DeletedKey>::new()?;
    let mut skipped = Spilled::<Skipped>::new()?;
    let mut counted = Counted::default();
    let mut markers = 0u64;
    let mut layout = args.listing.streams().layout;
    each_listed_part(clients, printer, args, source, |part| {
        layout = layout
            .and(part.layout())
            .map_err(|e| CliError::failure(e.to_string()))?;
        let found = find_deleted(&part, &source.prefix, since);
        counted.add(&found);
        markers += found
            .keys
            .iter()
            .map(|k| k.markers.len() as u64)
            .sum::<u64>();
        keys.push_part(&found.keys, "the listing")?;
        skipped.push_part(&found.skipped, "the listing")
    })
    .await?;
    keys.seal()?;
    skipped.seal()?;
    // The keys skipped that are named: the first in key order (parts come in any order).
    counted.skipped_first.clear();
    skipped.scan(|s| {
        counted.skipped_first.push(s.key);
        Ok(counted.skipped_first.len() < Counted::SHOWN)
    })?;
    Ok(FoundOnDisk {
        keys,
        skipped,
        counted,
        markers,
        layout,
    })
}

fn print_keys(printer: &Printer, found: &FoundOnDisk, verbose: bool) -> CliResult<()> {
    let keys = found.counted.keys;
    printer.line(format!(
        "Remove {} delete marker(s) of {keys} key(s); their last versions become current again (no object version is deleted)",
        found.markers
    ));
    if printer.json() {
        return Ok(());
    }
    let shown = if verbose { keys } else { keys.min(20) };
    let mut left = shown;
    if left > 0 {
        found.keys.scan(|k| {
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
            left -= 1;
            Ok(left > 0)
        })?;
    }
    if keys > shown {
        printer.line(format!(
            "  … and {} more (-v for all, --output json for the full list)",
            keys - shown
        ));
    }
    Ok(())
}

async fn remove_markers_cmd(
    app: &App,
    args: &UndeleteArgs,
    source: &Location,
    found: FoundOnDisk,
    now: DateTime<Utc>,
) -> CliResult<Exit> {
    let printer = &app.printer;
    let keys = found.counted.keys;
    if keys == 0 || args.dry_run {
        if keys > 0 {
            print_keys(printer, &found, app.verbose || args.dry_run)?;
        }
        let doc = UndeleteDoc {
            source,
            dry_run: args.dry_run,
            keys: &found.keys,
            skipped: &found.skipped,
            report: &RemoveReport::default(),
            removed: None,
            journal: None,
        };
        return doc.print(printer);
    }
    print_keys(printer, &found, app.verbose)?;
    if !args.exec.yes {
        let question = format!(
            "Permanently delete {} delete marker(s) of {keys} key(s) in {source}? (The versions below them become current again; a removed marker cannot be put back with its id.) Proceed?",
            found.markers
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
    let journal_path = args.exec.journal.clone().unwrap_or_else(|| {
        journal::default_path(&app.journal_dir, source, &Destination::InPlace, now)
    });
    let run = journal::Run {
        kind: journal::RunKind::Undelete,
        ..journal::Run::restore(source, &Destination::InPlace, now)
    };
    let journal = Journal::begin(&journal_path, &run, printer)?;
    let config = exec_config(app, &args.exec);
    let FoundOnDisk {
        keys,
        skipped,
        layout,
        ..
    } = found;
    let (r, removed, keys, exit) =
        execute_removal(app, source, keys, config.concurrency, journal, layout).await?;
    report_removal(printer, source, &r, &removed, &journal_path)?;
    UndeleteDoc {
        source,
        dry_run: false,
        keys: &keys,
        skipped: &skipped,
        report: &r,
        removed: Some(&removed),
        journal: Some(&journal_path),
    }
    .print(printer)?;
    Ok(exit)
}

fn report_removal(
    printer: &Printer,
    source: &Location,
    r: &RemoveReport,
    removed: &Spilled<RemovedOfKey>,
    journal: &Path,
) -> CliResult<()> {
    if !printer.json() {
        removed.scan(|k| {
            for m in newest_first(&k) {
                printer.line(format!(
                    "  removed delete marker {} of {:?} (made {})",
                    m.version_id,
                    m.key,
                    rfc3339(m.last_modified)
                ));
            }
            Ok(true)
        })?;
    }
    printer.line(format!(
        "Undeleted {} key(s) in {source}: {} delete marker(s) removed, {} already back, {:.1} s",
        r.undeleted, r.removed, r.already_done, r.seconds
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
    Ok(())
}

/// A key's removed markers as the report lists them: newest first.
fn newest_first(k: &RemovedOfKey) -> Vec<RemovedMarker> {
    let mut all: Vec<RemovedMarker> = k.each().collect();
    all.sort_by_key(|m| std::cmp::Reverse(m.last_modified));
    all
}

/// `undelete --remove-delete-markers --output json` ([`UNDELETE_SCHEMA`]), its lists read
/// from disk as they are written.
struct UndeleteDoc<'a> {
    source: &'a Location,
    dry_run: bool,
    keys: &'a Spilled<DeletedKey>,
    skipped: &'a Spilled<Skipped>,
    report: &'a RemoveReport,
    /// The markers removed (none before a run).
    removed: Option<&'a Spilled<RemovedOfKey>>,
    journal: Option<&'a Path>,
}

impl UndeleteDoc<'_> {
    fn print(&self, printer: &Printer) -> CliResult<Exit> {
        printer
            .json_write(|w| self.write(w))
            .map_err(|e| CliError::failure(format!("cannot write the report: {e}")))?;
        Ok(Exit::Ok)
    }

    fn write(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        let mut doc = JsonObject::new(w)?;
        doc.field("schema", UNDELETE_SCHEMA)?;
        doc.field("source", self.source)?;
        doc.field("mode", "remove_delete_markers")?;
        doc.field("dry_run", &self.dry_run)?;
        self.keys.write_array(&mut doc, "keys")?;
        self.skipped.write_array(&mut doc, "skipped")?;
        let r = self.report;
        let mut report = doc.object("report")?;
        report.field("undeleted", &r.undeleted)?;
        let mut list = report.array("removed")?;
        if let Some(removed) = self.removed {
            let mut written = Ok(());
            removed
                .scan(|k| {
                    for m in newest_first(&k) {
                        written = list.push(&m);
                        if written.is_err() {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })
                .map_err(|e| std::io::Error::other(e.message))?;
            written?;
        }
        list.end()?;
        report.field("already_done", &r.already_done)?;
        report.field("drifted", &r.drifted)?;
        report.field("failed", &r.failed)?;
        report.field("interrupted", &r.interrupted)?;
        report.field("seconds", &r.seconds)?;
        report.end()?;
        doc.field("journal", &self.journal)?;
        doc.end()
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
