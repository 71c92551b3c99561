//! `history`: every version and delete marker of one key (the engine's
//! [`HistoryReport`]), printed as a table.

use crate::args::HistoryArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::output::{Printer, human_bytes};
use crate::pipeline::{App, require_versioned, rfc3339};
use s3rewind_engine::explore::history::{HistoryEntry, HistoryReport};
use s3rewind_engine::{Anomaly, Timeline, parse_s3_uri};

/// Keys named in the hint when the key itself has no entry.
const HINTED: usize = 3;

/// `s3rewind history`.
pub async fn history_cmd(app: &App, args: &HistoryArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let loc = parse_s3_uri(&args.key)?;
    if loc.prefix.is_empty() {
        return Err(CliError::usage(format!(
            "{:?} names no key: give s3://BUCKET/KEY",
            args.key
        )));
    }
    require_versioned(&app.endpoint, &loc.bucket).await?;
    let key = loc.prefix.as_str();
    let mut spec = crate::source::SourceSpec::of(&args.listing, &args.snapshot);
    spec.streams = crate::listing::Streams::ONE;
    // The listing of the key as a prefix holds every key that starts with it: only the
    // part that holds the key itself is kept, and of the others the first few names (for
    // the hint) and their number.
    let mut found: Option<Timeline> = None;
    let mut others: Vec<String> = Vec::new();
    let mut more = 0u64;
    crate::source::each_part(
        &app.endpoint,
        printer,
        &loc.bucket,
        key,
        &spec,
        None,
        |part| {
            for h in part.keys().iter().filter(|h| h.key != key) {
                more += 1;
                let at = others.partition_point(|o| *o < h.key);
                if at < HINTED {
                    others.insert(at, h.key.clone());
                    others.truncate(HINTED);
                }
            }
            if part.get(key).is_some() {
                found = Some(part);
            }
            Ok(())
        },
    )
    .await?;
    let Some((timeline, h)) = found.as_ref().and_then(|t| Some((t, t.get(key)?))) else {
        let shown: Vec<String> = others.iter().map(|k| format!("{k:?}")).collect();
        let hint = if shown.is_empty() {
            String::new()
        } else {
            format!(
                "; keys starting with it: {}{}",
                shown.join(", "),
                if more > HINTED as u64 { ", …" } else { "" }
            )
        };
        return Err(CliError::new(
            Exit::NotFound,
            format!(
                "key {key:?} has no versions or delete markers in bucket {:?}{hint}",
                loc.bucket
            ),
        ));
    };
    let report = HistoryReport::of(&loc.bucket, h, timeline);
    print_history(printer, &report, app.verbose);
    printer.json_value(&report);
    Ok(Exit::Ok)
}

fn print_history(printer: &Printer, r: &HistoryReport, verbose: bool) {
    let versions = r.entries.iter().filter(|e| !e.delete_marker).count();
    let markers = r.entries.len() - versions;
    let now = match r.entries.first() {
        Some(e) if e.delete_marker => "deleted (its current entry is a delete marker)".to_owned(),
        Some(e) => format!("version {} ({})", e.version_id, human_bytes(e.size)),
        None => "nothing".to_owned(),
    };
    printer.line(format!(
        "s3://{}/{}: {versions} version{}, {markers} delete marker{}; now: {now}",
        r.bucket,
        r.key,
        if versions == 1 { "" } else { "s" },
        if markers == 1 { "" } else { "s" },
    ));
    let id_width = r
        .entries
        .iter()
        .map(|e| e.version_id.chars().count())
        .max()
        .unwrap_or(10)
        .max(10);
    printer.line(format!(
        "  {:<20}  {:<12}  {:<id_width$}  {:>10}  {:<32}  {:<12}  OWNER",
        "LAST MODIFIED (UTC)", "CHANGE", "VERSION ID", "SIZE", "ETAG", "CLASS"
    ));
    for e in &r.entries {
        let owner = e.owner_id.as_deref().unwrap_or("-");
        let owner = if verbose || owner.chars().count() <= 14 {
            owner.to_owned()
        } else {
            format!("{}…", owner.chars().take(12).collect::<String>())
        };
        let flags = match (e.is_latest, e.delete_marker) {
            (true, true) => "  (latest, delete marker)",
            (true, false) => "  (latest)",
            (false, true) => "  (delete marker)",
            (false, false) => "",
        };
        printer.line(format!(
            "  {:<20}  {:<12}  {:<id_width$}  {:>10}  {:<32}  {:<12}  {owner}{flags}",
            e.last_modified.format("%Y-%m-%d %H:%M:%S").to_string(),
            e.change,
            e.version_id,
            if e.delete_marker {
                "-".to_owned()
            } else {
                human_bytes(e.size)
            },
            e.etag.as_deref().unwrap_or("-"),
            e.storage_class.as_deref().unwrap_or("-"),
        ));
    }
    let restored: Vec<&HistoryEntry> = r.entries.iter().filter(|e| e.restores.is_some()).collect();
    if !restored.is_empty() {
        printer.line(format!(
            "Put back, not new content ({}): a restore (s3rewind's or another tool's) or a revert wrote an older version's bytes again; `scan` and `timeline` do not count such writes, in a burst, as part of an incident:",
            restored.len()
        ));
        for e in restored {
            printer.line(format!(
                "  - {} repeats {}",
                e.version_id,
                e.restores.as_deref().unwrap_or("?")
            ));
        }
    }
    if !r.anomalies.is_empty() {
        printer.line(format!("Anomalies ({}):", r.anomalies.len()));
        for a in &r.anomalies {
            printer.line(format!("  - {}", describe_anomaly(a)));
        }
    }
}

fn describe_anomaly(a: &Anomaly) -> String {
    match a {
        Anomaly::SameSecondTie {
            at,
            version_id,
            delete_marker_id,
            ..
        } => format!(
            "version {version_id} and delete marker {delete_marker_id} share the second {}: their order cannot be told from the listing; the version was taken as the newer",
            rfc3339(*at)
        ),
        Anomaly::NonMonotonic {
            version_id,
            at,
            previous,
            ..
        } => format!(
            "version {version_id} ({}) is listed after an older entry ({}): timestamps out of list order (a concurrent PUT and DELETE, a late multipart completion or a replica); list order decides",
            rfc3339(*at),
            rfc3339(*previous)
        ),
        Anomaly::OrderUnknown { .. } => "the listing page did not show whether the server interleaves versions and delete markers; the two readings order this key differently, the IsLatest-then-timestamp rule was used".to_owned(),
    }
}
