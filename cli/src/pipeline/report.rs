//! What the stages print: a plan ([`print_plan`]), an execution ([`report_exec`], and
//! the JSON document of a restore, [`restore_doc`]), a verification
//! ([`print_verification`]) and how a scan judged ([`scales_and_coverage`]). Commands
//! print their own results on top of these.

use crate::error::{CliError, CliResult, Exit};
use crate::execute::ExecReport;
use crate::output::{Printer, human_bytes};
use crate::pipeline::rfc3339;
use crate::pipeline::verify::VerifyReport;
use crate::spill::{ActionSpool, PlanActions};
use s3rewind_engine::detect::ScanReport;
use s3rewind_engine::verify::Outcome;
use s3rewind_engine::{Action, Destination, RestorePlan, Selection, UncertainHandling, Warning};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// The name and version of the JSON result of `restore`, `apply` and `undo`:
/// `{"schema", "source", "destination", "at", "plan": {…stats…}, "report": {…execution…},
/// "journal", "verification": {…the verify report…}}` (`verification` after `restore` and
/// `apply` unless `--no-verify`).
pub const RESTORE_SCHEMA: &str = "s3rewind.restore/v1";

/// What a plan brings back, in words.
fn describe_target(p: &RestorePlan) -> String {
    match p.selection {
        Selection::AtTime => format!("restore {} to its state at {}", p.source, rfc3339(p.at)),
        Selection::BeforeCorruption => format!(
            "restore {} to its state at {}, just before the first suspected incident",
            p.source,
            rfc3339(p.at)
        ),
        Selection::PerKey => format!(
            "take each damaged key of {} back to its last good version (other keys untouched)",
            p.source
        ),
        Selection::Undelete => format!("undelete the deleted keys of {}", p.source),
        Selection::Undo => format!("undo a restore on {}", p.source),
    }
}

fn describe_destination(p: &RestorePlan) -> String {
    match &p.destination {
        Destination::InPlace => "in place".to_owned(),
        Destination::Bucket { location } => format!("into {location}"),
        Destination::Directory { path } => format!("into directory {path}"),
    }
}

/// The human summary of a plan: what it restores, its counts, estimate and warnings.
/// Alone it is what a restore that wrote as it listed prints after its copies: it
/// handed its actions to the runner without keeping them, and its report and journal
/// say what was done.
pub fn print_plan_summary(printer: &Printer, p: &RestorePlan) {
    let s = &p.stats;
    printer.line(format!(
        "Plan: {} ({})",
        describe_target(p),
        describe_destination(p)
    ));
    printer.line(format!("  keys at that time: {:>10}", s.keys_at_target));
    printer.line(format!("  unchanged:         {:>10}", s.unchanged));
    printer.line(format!(
        "  copies:            {:>10} ({})",
        s.copies,
        human_bytes(s.bytes_to_copy)
    ));
    printer.line(format!("  delete markers:    {:>10}", s.delete_markers));
    if let Some(e) = &p.estimate {
        let r = &e.requests;
        printer.line(format!(
            "  estimate:          {:>10} requests ({} copy, {} delete, {} listing, {} HEAD, {} GET), {} at {} prices, about {} at concurrency {}",
            r.total(),
            r.copy,
            r.delete,
            r.list_versions + r.list_objects,
            r.head,
            r.get,
            usd(e.cost_usd),
            e.region,
            crate::output::human_secs(e.seconds.ceil() as u64),
            e.concurrency
        ));
    }
    if s.left_alone > 0 {
        printer.line(format!("  left alone:        {:>10}", s.left_alone));
    }
    if s.archived > 0 {
        printer.line(format!("  archived sources:  {:>10}", s.archived));
    }
    print_warnings(printer, &p.warnings);
}

/// A plan for people: [`print_plan_summary`], then its actions (the first 20, all when
/// `verbose`) when `list_actions`, or "Nothing to do".
pub fn print_plan(printer: &Printer, p: &RestorePlan, verbose: bool, list_actions: bool) {
    print_plan_of(printer, p, PlanActions::of(p, None), verbose, list_actions)
        .expect("a plan's own actions are in memory");
}

/// A plan for people, and its JSON (its actions read from `spool` where given).
pub fn print_plan_json(
    printer: &Printer,
    p: &RestorePlan,
    spool: Option<&ActionSpool>,
    verbose: bool,
) -> CliResult<()> {
    print_plan_of(printer, p, PlanActions::of(p, spool), verbose, true)?;
    printer
        .json_write(|w| write_plan_json(w, p, spool, true))
        .map_err(|e| CliError::failure(format!("cannot write the plan: {e}")))
}

/// [`print_plan`] of a plan whose actions may be on disk (`actions`).
pub fn print_plan_of(
    printer: &Printer,
    p: &RestorePlan,
    actions: PlanActions<'_>,
    verbose: bool,
    list_actions: bool,
) -> CliResult<()> {
    print_plan_summary(printer, p);
    let count = actions.len();
    if count == 0 {
        printer.line("Nothing to do: the destination already matches.");
        return Ok(());
    }
    if !list_actions || printer.json() {
        return Ok(());
    }
    let shown = if verbose { count } else { 20 };
    printer.line(format!(
        "Actions{}:",
        if count > shown {
            format!(" (first {shown} of {count}; -v for all, --output json for the full plan)")
        } else {
            String::new()
        }
    ));
    let mut left = shown;
    actions.each(|a| {
        match a {
            Action::Copy(c) => printer.line(format!(
                "  copy    {:?} <- {:?} version {} ({}, {})",
                c.key,
                c.source_key,
                c.source_version_id,
                human_bytes(c.size),
                rfc3339(c.last_modified)
            )),
            Action::DeleteMarker(d) => printer.line(format!("  delete  {:?}", d.key)),
        }
        left -= 1;
        Ok(left > 0)
    })?;
    Ok(())
}

/// Write a plan's JSON to `w`, byte for byte as serde_json writes the whole plan
/// (`pretty` or compact), its actions read from `spool` as they are written when it is
/// given (the plan then holds none): a plan of millions of actions is never one value
/// in memory. `actions` is the plan's last field, so the rest is written from the plan
/// with no actions, and the actions spliced in where its empty list stands.
pub fn write_plan_json(
    w: &mut dyn std::io::Write,
    p: &RestorePlan,
    spool: Option<&ActionSpool>,
    pretty: bool,
) -> std::io::Result<()> {
    let whole = |w: &mut dyn std::io::Write| {
        if pretty {
            serde_json::to_writer_pretty(w, p)
        } else {
            serde_json::to_writer(w, p)
        }
        .map_err(std::io::Error::from)
    };
    let Some(spool) = spool else {
        return whole(w);
    };
    let (rest, empty, open, close) = if pretty {
        (
            serde_json::to_string_pretty(p)?,
            "\"actions\": []\n}",
            "\"actions\": [",
            "\n  ]\n}",
        )
    } else {
        (
            serde_json::to_string(p)?,
            "\"actions\":[]}",
            "\"actions\":[",
            "]}",
        )
    };
    let Some(head) = rest.strip_suffix(empty).filter(|_| p.actions.is_empty()) else {
        return Err(std::io::Error::other(
            "internal error: a spooled plan does not end with its empty actions; please report this",
        ));
    };
    w.write_all(head.as_bytes())?;
    if spool.is_empty() {
        return w.write_all(empty.as_bytes());
    }
    w.write_all(open.as_bytes())?;
    let mut first = true;
    let mut buf = Vec::with_capacity(512);
    let mut one = Vec::with_capacity(512);
    let mut failed = None;
    let read = spool.scan(|a| {
        buf.clear();
        if !first {
            buf.push(b',');
        }
        first = false;
        if pretty {
            // One level deeper than an action alone: four more spaces after each line
            // break (JSON strings hold none of their own).
            buf.extend_from_slice(b"\n    ");
            one.clear();
            serde_json::to_writer_pretty(&mut one, &a).expect("an action serialises");
            for &byte in &one {
                match byte {
                    b'\n' => buf.extend_from_slice(b"\n    "),
                    _ => buf.push(byte),
                }
            }
        } else {
            serde_json::to_writer(&mut buf, &a).expect("an action serialises");
        }
        if let Err(e) = w.write_all(&buf) {
            failed = Some(e);
            return Ok(false);
        }
        Ok(true)
    });
    if let Some(e) = failed {
        return Err(e);
    }
    read.map_err(|e: CliError| std::io::Error::other(e.message))?;
    w.write_all(close.as_bytes())
}

fn print_warnings(printer: &Printer, warnings: &[Warning]) {
    if warnings.is_empty() {
        return;
    }
    // Group per kind, with a few example keys each.
    let mut groups: BTreeMap<&str, (String, Vec<&str>)> = BTreeMap::new();
    for w in warnings {
        let (kind, text, key): (&str, String, &str) = match w {
            Warning::NullRewritten { key, handling, .. } => (
                match handling {
                    UncertainHandling::LeftAlone => "null-left",
                    _ => "null",
                },
                match handling {
                    UncertainHandling::LeftAlone => "a `null` version was written after T and no earlier version survives, so the key's state at T is unknown: left as it is".to_owned(),
                    _ => "a `null` version was rewritten after T: what the key held at T may be gone; the newest surviving version at or before T is used".to_owned(),
                },
                key,
            ),
            Warning::SameSecondTie { key } => (
                "tie",
                "a version and a delete marker share the decisive second; the tie rule (version first) decided".to_owned(),
                key,
            ),
            Warning::OrderUnknown { key } => (
                "unknown",
                "its state at T depends on an order nothing shows (two versions in one second in a snapshot, a page that proved no layout) and the live bucket did not settle it: left as it is; check it with `s3rewind history`".to_owned(),
                key,
            ),
            Warning::OutOfOrder { key } => (
                "order",
                "timestamps disagree with the server's list order (a concurrent PUT and DELETE, a late multipart completion, a replica); list order decided".to_owned(),
                key,
            ),
            Warning::ExtraAtDestination { key } => (
                "extra",
                "exists at the destination but not at T; left alone".to_owned(),
                key,
            ),
            Warning::Unrestorable { key, version_id, delete_marker, removed_at, why, from_replica } => match from_replica {
                Some(r) => (
                    "replica",
                    format!("the version current at T was removed from this bucket since; `restore` copies it (the same version id) from the replica {r:?}"),
                    key,
                ),
                None => (
                    "unrestorable",
                    format!(
                        "cannot be restored from this bucket: the {} current at T ({version_id}) was {why} at {}; the key is left as it is (with a replica: --from-replica s3://REPLICA)",
                        if *delete_marker { "delete marker" } else { "version" },
                        rfc3339(*removed_at)
                    ),
                    key,
                ),
            },
            Warning::Archived { key, storage_class, .. } => (
                "archived",
                format!("source version is archived ({storage_class}); it must be restored from the archive before it can be copied"),
                key,
            ),
            Warning::NoncurrentExpiration { bucket, rule, days, window_days, .. } => (
                "lifecycle",
                if *window_days >= i64::from(*days) {
                    format!("lifecycle rule {rule:?} on {bucket:?} expires noncurrent versions after {days} days and T is {window_days} days ago: versions replaced soon after T may already be gone, so some keys may come back older than they were at T")
                } else {
                    format!("lifecycle rule {rule:?} on {bucket:?} expires noncurrent versions after {days} days (T is {window_days} days ago): restore before they expire")
                },
                "",
            ),
            Warning::DefaultRetention { bucket, mode, days, years } => (
                "retention",
                format!("bucket {bucket:?} has Object Lock default retention {mode} for {}: every restored copy will be locked{}",
                    if *years > 0 { format!("{years} year(s)") } else { format!("{days} day(s)") },
                    if mode == "COMPLIANCE" { " and cannot be deleted early by anyone" } else { "" }),
                "",
            ),
            Warning::MfaDelete { bucket } => (
                "mfa",
                format!("MFA Delete is enabled on {bucket:?}: fine, a restore only adds versions and delete markers"),
                "",
            ),
            Warning::HidesMostKeys { delete_markers, keys_now, limit } => (
                "blast",
                format!("the plan hides {delete_markers} of the {keys_now} keys that exist now behind delete markers, more than --max-delete-markers {limit} allows: check TIME and the prefix; if it is right, re-run with --max-delete-markers {delete_markers}"),
                "",
            ),
            Warning::DestinationKeepsNoHistory { bucket, versioning } => (
                "nohistory",
                format!("destination bucket {bucket:?} is not versioned (versioning: {versioning}): restored objects keep no history and existing objects there are overwritten"),
                "",
            ),
        };
        let entry = groups.entry(kind).or_insert_with(|| (text, Vec::new()));
        if !key.is_empty() {
            entry.1.push(key);
        }
    }
    printer.line(format!("Warnings ({}):", warnings.len()));
    for (text, keys) in groups.values() {
        if keys.is_empty() {
            printer.line(format!("  - {text}"));
        } else {
            let examples: Vec<String> = keys.iter().take(5).map(|k| format!("{k:?}")).collect();
            printer.line(format!(
                "  - {} key(s): {text}: {}{}",
                keys.len(),
                examples.join(", "),
                if keys.len() > 5 { ", …" } else { "" }
            ));
        }
    }
}

/// The human summary of an execution; returns its exit status and its JSON document.
pub fn report_exec(
    printer: &Printer,
    p: &RestorePlan,
    r: ExecReport,
    journal: &Path,
) -> (Exit, RunDoc) {
    let actions = r.copied + r.delete_markers + r.already_done;
    printer.line(format!(
        "{}: {} ({}): {} copied ({}), {} delete markers, {} unchanged, {} already done",
        if r.stopped.is_some() {
            "Stopped"
        } else if r.interrupted {
            "Interrupted"
        } else {
            "Done"
        },
        describe_target(p),
        describe_destination(p),
        r.copied,
        human_bytes(r.bytes_copied),
        r.delete_markers,
        p.stats.unchanged,
        r.already_done
    ));
    printer.line(format!(
        "  {:.1} s, {:.0} actions/s, concurrency {}{}{}",
        r.seconds,
        if r.seconds > 0.0 {
            actions as f64 / r.seconds
        } else {
            0.0
        },
        r.final_concurrency,
        if r.throttled > 0 {
            format!(" (throttled {} times)", r.throttled)
        } else {
            String::new()
        },
        if r.while_listing > 0 {
            format!(
                ", {} done while the source was still being listed",
                r.while_listing
            )
        } else {
            String::new()
        }
    ));
    crate::execute::print_issues(
        printer,
        &[
            ("Failed", &r.failed),
            ("Drifted (changed since the plan; not touched)", &r.drifted),
            ("Waiting for archive restore", &r.waiting),
            ("Skipped", &r.skipped),
        ],
    );
    printer.line(format!("Journal: {}", journal.display()));
    if let Some(why) = &r.stopped {
        printer.line(format!(
            "Stopped: {why}; what was done is journaled: raise the cap (or leave it out) and run the same command again to resume."
        ));
    } else if r.interrupted {
        printer.line("Interrupted: run the same command again to resume.");
    }
    (r.exit(), restore_doc(p, r, Some(journal)))
}

/// The JSON document of a restore, `apply`, `undo` or copying `undelete`
/// ([`RESTORE_SCHEMA`]), before its verification: the plan's stats, the execution's
/// report, the journal (`null` when nothing ran).
pub fn restore_doc(p: &RestorePlan, r: ExecReport, journal: Option<&Path>) -> RunDoc {
    RunDoc {
        doc: json!({
            "schema": RESTORE_SCHEMA,
            "source": p.source,
            "destination": p.destination,
            "at": p.at,
            "plan": p.stats,
            "journal": journal,
        }),
        report: r,
    }
}

/// A run's JSON document ([`restore_doc`]): its fields, and the execution's report, which
/// is serialised in its place as the document is written (its lists of keys, which may be
/// millions long, read from disk then).
#[derive(Debug)]
pub struct RunDoc {
    /// Every field but `report`.
    pub doc: serde_json::Value,
    /// The execution's report.
    pub report: ExecReport,
}

/// A large field of a document, serialised as it is written (see [`RunDoc`]).
pub enum DocField<'a> {
    /// An execution's report.
    Exec(&'a ExecReport),
    /// A verification's report.
    Verification(&'a crate::pipeline::verify::VerifyReport),
}

impl serde::Serialize for DocField<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            DocField::Exec(r) => r.serialize(s),
            DocField::Verification(r) => r.serialize(s),
        }
    }
}

impl RunDoc {
    /// Write it with `verification` (a restore's check at the end) among its fields.
    pub fn print_with(
        &self,
        printer: &Printer,
        verification: Option<&crate::pipeline::verify::VerifyReport>,
    ) {
        let mut fields = vec![("report", DocField::Exec(&self.report))];
        if let Some(v) = verification {
            fields.push(("verification", DocField::Verification(v)));
        }
        printer.json_value(&crate::output::WithFields {
            doc: &self.doc,
            fields: &fields,
        });
    }
}

impl serde::Serialize for RunDoc {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::output::WithFields {
            doc: &self.doc,
            fields: &[("report", DocField::Exec(&self.report))],
        }
        .serialize(s)
    }
}

/// The verification's summary for people.
pub fn print_verification(printer: &Printer, verbose: bool, r: &VerifyReport) {
    for (what, keys) in [
        (
            "a `null` version was rewritten after TIME, so the state at TIME is not known for sure; compared with the newest surviving version",
            &r.uncertain,
        ),
        (
            "the state at TIME depends on a version and a delete marker in the same second; the tie rule decided",
            &r.ambiguous,
        ),
    ] {
        if !keys.is_empty() {
            let shown: Vec<String> = keys.iter().take(5).map(|k| format!("{k:?}")).collect();
            printer.warn(format!(
                "{} key(s): {what}: {}{}",
                keys.len(),
                shown.join(", "),
                if keys.len() > 5 { ", …" } else { "" }
            ));
        }
    }
    let m = &r.matched;
    let how = {
        let mut parts = vec![format!("{} same version", m.same_version)];
        if m.same_size_and_etag > 0 {
            parts.push(format!("{} same size and ETag", m.same_size_and_etag));
        }
        if m.known_copy > 0 {
            parts.push(format!(
                "{} multipart copies made by this restore, same size (--deep-verify reads them)",
                m.known_copy
            ));
        }
        if r.deep {
            parts.push(format!(
                "{} same content ({} objects read, {})",
                m.same_content,
                r.objects_read,
                human_bytes(r.bytes_read)
            ));
        }
        parts.join(", ")
    };
    if r.ok {
        printer.line(format!(
            "OK: {} at {}: {} keys ({how}){}",
            matches_what(r),
            rfc3339(r.at),
            r.keys_at_target,
            if r.extra > 0 {
                format!("; {} other key(s) there, left alone", r.extra)
            } else {
                String::new()
            }
        ));
        return;
    }
    printer.line(format!(
        "DIFFERENT: {} at {}: {} key(s) differ ({} keys then, {} now; {} match: {how})",
        matches_what(r).replacen(" matches ", " does not match ", 1),
        rfc3339(r.at),
        r.differences.len(),
        r.keys_at_target,
        r.keys_now,
        m.total()
    ));
    let shown = if verbose {
        r.differences.len()
    } else {
        r.differences.len().min(50)
    };
    // Printed as they are read back (with -v, every one: never all held).
    let mut left = shown;
    let read = r.differences.each(|d| {
        if left == 0 {
            return Ok(false);
        }
        left -= 1;
        printer.line(format!(
            "  {:<10} {:?}: {}",
            label(d.reason),
            d.key,
            d.detail
        ));
        Ok(true)
    });
    if let Err(e) = read {
        printer.warn(format!("cannot read the differences back: {}", e.message));
    }
    if shown < r.differences.len() {
        printer.line(format!(
            "  … and {} more (-v for all, --output json for the full report)",
            r.differences.len() - shown
        ));
    }
}

/// "s3://b/p/ matches its state" or "DEST matches the state of s3://b/p/".
fn matches_what(r: &VerifyReport) -> String {
    if r.destination == "in_place" {
        format!("{} matches its state", r.source)
    } else {
        format!("{} matches the state of {}", r.destination, r.source)
    }
}

fn label(o: Outcome) -> &'static str {
    match o {
        Outcome::Missing => "missing",
        Outcome::Unexpected => "unexpected",
        Outcome::DifferentSize => "size",
        Outcome::DifferentEtag => "etag",
        Outcome::DifferentContent => "content",
        Outcome::Unreadable => "unreadable",
        _ => "other",
    }
}

/// A probability as a percentage (`95%`, `99.9%`).
pub fn percent(p: f64) -> String {
    let s = format!("{:.2}", p * 100.0);
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// A duration in seconds as the DURATION options take it (`1s`, `90s`, `10m`, `6h`,
/// `1d`): the largest unit that divides it.
pub fn duration(secs: i64) -> String {
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

/// The lines that say how a scan judged: the time scales it used (and where they came
/// from) and what its content samples covered.
pub fn scales_and_coverage(report: &ScanReport) -> Vec<String> {
    let sc = &report.scales;
    let given = |name: &str| sc.overridden.iter().any(|o| o == name);
    let scale = |name: &str, flag: &str, secs: i64| {
        format!(
            "{flag} {}{}",
            duration(secs),
            if given(name) { " (given)" } else { "" }
        )
    };
    let c = &report.coverage;
    let mut lines = vec![format!(
        "  time scales{}: {}, {}, {}, {}",
        if sc.overridden.len() == 4 {
            String::new()
        } else {
            format!(
                " (from the history: it spans {}, 90% of its pauses are at most {})",
                duration(sc.span_secs),
                duration(sc.pause_p90_secs)
            )
        },
        scale("window", "--window", sc.bin_secs),
        scale("gap", "--gap", sc.gap_secs),
        scale("established", "--established", sc.established_secs),
        scale(
            "new_writer_after",
            "--new-writer-after",
            sc.new_writer_after_secs
        ),
    )];
    if let (Some(a), Some(b)) = (c.judged_from, c.judged_to) {
        lines.push(format!(
            "  covered: changes from {} to {}; {} of {} versions written there judged by content; {} of {} keys written there never sampled",
            rfc3339(a),
            rfc3339(b),
            c.versions_judged,
            c.versions_written,
            c.keys_never_sampled,
            c.keys_written
        ));
    }
    if let Some(from) = c.recent_from {
        lines.push(format!(
            "  recent writes (since {}): {} of {} overwrites judged by content",
            rfc3339(from),
            c.recent_judged,
            c.recent_overwrites
        ));
    }
    lines
}

/// A price in USD: cents, or four decimals below a cent (a small restore is not free).
pub fn usd(v: f64) -> String {
    if v > 0.0 && v < 0.01 {
        format!("${v:.4}")
    } else {
        format!("${v:.2}")
    }
}

#[cfg(test)]
mod usd_tests {
    #[test]
    fn a_price_below_a_cent_is_not_shown_as_free() {
        assert_eq!(super::usd(0.00084), "$0.0008");
        assert_eq!(super::usd(0.0), "$0.00");
        assert_eq!(super::usd(2.5), "$2.50");
    }
}

#[cfg(test)]
pub(crate) mod plan_json_tests {
    use super::*;
    use crate::pipeline::prepare::{plan_digest, plan_digest_of};
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use s3rewind_engine::{
        CopyAction, DeleteMarkerAction, Expect, Location, PlanOptions, Planner, StorageClass,
    };

    /// An in-place plan of bucket `b` under `prefix` to a fixed instant, of `actions`.
    pub(crate) fn plan_of(prefix: &str, actions: Vec<Action>) -> RestorePlan {
        let options = PlanOptions::new(
            Location {
                bucket: "b".into(),
                prefix: prefix.into(),
            },
            Destination::InPlace,
            DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
        );
        s3rewind_engine::batch::with_actions(&Planner::new(&options).finish(), actions)
    }

    /// One action for `key`: a copy (of every optional field's form) or a delete marker.
    pub(crate) fn action(key: &str, n: u64) -> Action {
        let at = DateTime::<Utc>::from_timestamp(1_700_000_000 + n as i64, (n % 7) as u32 * 1000)
            .unwrap();
        let expect = Expect {
            version_id: format!("v\"{n}\n").as_str().into(),
            etag: if n.is_multiple_of(3) { "" } else { "abc" }.into(),
        };
        if n % 4 == 3 {
            return Action::DeleteMarker(DeleteMarkerAction {
                key: key.to_owned(),
                expect,
            });
        }
        Action::Copy(CopyAction {
            key: key.to_owned(),
            source_key: format!("src/{key}"),
            source_version_id: if n.is_multiple_of(5) {
                "null"
            } else {
                "3HL4kqtJlcpXroDTDmJ"
            }
            .into(),
            etag: format!("{n:032x}").as_str().into(),
            size: n * 1000,
            storage_class: n.is_multiple_of(2).then(|| StorageClass::new("GLACIER")),
            last_modified: at,
            expect: (n % 3 != 1).then_some(expect),
        })
    }

    proptest! {
        #![proptest_config(crate::proptest_config(64))]
        /// A plan whose actions are on disk, written in runs in any order and some taken
        /// out, writes the JSON the plan holding those actions writes, byte for byte, in
        /// both layouts, with the same digest; and its first actions and count are the
        /// plan's (what the printed plan and the confirmation read).
        #[test]
        fn a_spooled_plan_writes_the_json_of_the_plan_in_memory(
            keys in proptest::collection::btree_set("[a-c/é\"\\\\\n ]{1,5}", 0..300),
            every in 1usize..60,
            removed in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
            warned in proptest::collection::vec(any::<prop::sample::Index>(), 0..3),
            digest: bool,
        ) {
            let actions: Vec<Action> = keys.iter().enumerate().map(|(n, k)| action(k, n as u64)).collect();
            let mut whole = plan_of("src/", actions.clone());
            for i in &warned {
                if !actions.is_empty() {
                    whole.warnings.push(Warning::SameSecondTie { key: actions[i.index(actions.len())].key().to_owned() });
                }
            }
            whole.created_at = Some(DateTime::<Utc>::from_timestamp(1_700_000_500, 1).unwrap());
            let mut spool = ActionSpool::new().unwrap();
            for run in actions.chunks(every).rev() {
                spool.push_run(run).unwrap();
            }
            spool.seal().unwrap();
            let gone: Vec<String> = removed
                .iter()
                .filter(|_| !actions.is_empty())
                .map(|i| actions[i.index(actions.len())].key().to_owned())
                .chain(["not a key of the plan".to_owned()])
                .collect();
            let taken = spool.remove(&gone).unwrap();
            whole.actions.retain(|a| !gone.iter().any(|g| g == a.key()));
            prop_assert_eq!(taken, (actions.len() - whole.actions.len()) as u64);
            // Taken out again: nothing more is.
            prop_assert_eq!(spool.remove(&gone).unwrap(), 0);
            prop_assert_eq!(spool.len(), whole.actions.len() as u64);
            let mut bare = whole.clone();
            bare.actions.clear();
            if digest {
                whole.digest = Some(plan_digest(&mut whole));
                bare.digest = whole.digest.clone();
            }
            prop_assert_eq!(plan_digest_of(&mut bare, Some(&spool)).unwrap(), plan_digest(&mut whole));
            for pretty in [true, false] {
                let mut got = Vec::new();
                write_plan_json(&mut got, &bare, Some(&spool), pretty).unwrap();
                let want = if pretty {
                    serde_json::to_vec_pretty(&whole).unwrap()
                } else {
                    serde_json::to_vec(&whole).unwrap()
                };
                prop_assert_eq!(String::from_utf8(got).unwrap(), String::from_utf8(want).unwrap());
            }
            let view = PlanActions::of(&bare, Some(&spool));
            prop_assert_eq!(view.len(), whole.actions.len() as u64);
            for n in [0, 1, 20, 1000] {
                let first = view.first(n).unwrap();
                prop_assert_eq!(&first[..], &whole.actions[..n.min(whole.actions.len())]);
            }
        }
    }

    /// The printed plan lists the first 20 actions of a spool (all with `-v`), in key
    /// order, and says how many there are; a spool that holds none is "Nothing to do".
    #[test]
    fn a_spooled_plan_prints_its_first_actions_and_its_count() {
        let bare = plan_of("", Vec::new());
        let actions: Vec<Action> = (0..30).map(|n| action(&format!("k{n:02}"), n)).collect();
        let mut spool = ActionSpool::new().unwrap();
        for run in actions.chunks(7).rev() {
            spool.push_run(run).unwrap();
        }
        spool.seal().unwrap();
        for (verbose, shown) in [(false, 20), (true, 30)] {
            let (printer, capture) =
                crate::output::Printer::capturing(crate::output::OutputFormat::Text, false);
            print_plan_of(
                &printer,
                &bare,
                PlanActions::of(&bare, Some(&spool)),
                verbose,
                true,
            )
            .unwrap();
            let out = capture.stdout();
            let listed: Vec<&str> = out
                .lines()
                .filter(|l| l.starts_with("  copy ") || l.starts_with("  delete  \""))
                .collect();
            assert_eq!(listed.len(), shown, "{out}");
            for (line, a) in listed.iter().zip(&actions) {
                assert!(line.contains(&format!("{:?}", a.key())), "{line}");
            }
            assert_eq!(out.contains("(first 20 of 30;"), !verbose, "{out}");
        }
        let empty = ActionSpool::new().map(|mut s| {
            s.seal().unwrap();
            s
        });
        let empty = empty.unwrap();
        let (printer, capture) =
            crate::output::Printer::capturing(crate::output::OutputFormat::Text, false);
        print_plan_of(
            &printer,
            &bare,
            PlanActions::of(&bare, Some(&empty)),
            false,
            true,
        )
        .unwrap();
        assert!(capture.stdout().contains("Nothing to do"));
    }

    /// An empty spool writes the empty list serde writes, in both layouts (the spliced
    /// list's brackets are not those of a list with actions).
    #[test]
    fn an_empty_spool_writes_an_empty_list() {
        let bare = plan_of("", Vec::new());
        let mut spool = ActionSpool::new().unwrap();
        spool.seal().unwrap();
        for pretty in [true, false] {
            let mut got = Vec::new();
            write_plan_json(&mut got, &bare, Some(&spool), pretty).unwrap();
            let want = if pretty {
                serde_json::to_vec_pretty(&bare).unwrap()
            } else {
                serde_json::to_vec(&bare).unwrap()
            };
            assert_eq!(
                String::from_utf8(got).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }

    /// A plan that holds actions beside its spool is refused, never written as half of
    /// each.
    #[test]
    fn a_plan_with_actions_beside_its_spool_is_refused() {
        let p = plan_of("", vec![action("k", 1)]);
        let mut spool = ActionSpool::new().unwrap();
        spool.push_run(&[action("j", 2)]).unwrap();
        spool.seal().unwrap();
        assert!(write_plan_json(&mut Vec::new(), &p, Some(&spool), true).is_err());
        assert!(PlanActions::of(&p, Some(&spool)).first(5).is_err());
    }
}
