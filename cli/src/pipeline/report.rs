//! What the stages print: a plan ([`print_plan`]), an execution ([`report_exec`], and
//! the JSON document of a restore, [`restore_doc`]), a verification
//! ([`print_verification`]) and how a scan judged ([`scales_and_coverage`]). Commands
//! print their own results on top of these.

use crate::error::Exit;
use crate::execute::ExecReport;
use crate::output::{Printer, human_bytes};
use crate::pipeline::rfc3339;
use crate::pipeline::verify::VerifyReport;
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
    print_plan_summary(printer, p);
    if p.actions.is_empty() {
        printer.line("Nothing to do: the destination already matches.");
        return;
    }
    if !list_actions {
        return;
    }
    let shown = if verbose { p.actions.len() } else { 20 };
    printer.line(format!(
        "Actions{}:",
        if p.actions.len() > shown {
            format!(
                " (first {shown} of {}; -v for all, --output json for the full plan)",
                p.actions.len()
            )
        } else {
            String::new()
        }
    ));
    for a in p.actions.iter().take(shown) {
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
    }
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
    r: &ExecReport,
    journal: &Path,
) -> (Exit, serde_json::Value) {
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
pub fn restore_doc(p: &RestorePlan, r: &ExecReport, journal: Option<&Path>) -> serde_json::Value {
    json!({
        "schema": RESTORE_SCHEMA,
        "source": p.source,
        "destination": p.destination,
        "at": p.at,
        "plan": p.stats,
        "report": r,
        "journal": journal,
    })
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
    for d in &r.differences[..shown] {
        printer.line(format!(
            "  {:<10} {:?}: {}",
            label(d.reason),
            d.key,
            d.detail
        ));
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
