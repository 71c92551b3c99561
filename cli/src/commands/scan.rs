//! `scan`: find suspected incidents (the detection itself is
//! [`crate::pipeline::detect`]).

use crate::args::ScanArgs;
use crate::error::{CliResult, Exit};
use crate::output::Printer;
use crate::pipeline::detect::{detect, options};
use crate::pipeline::report::scales_and_coverage;
use crate::pipeline::{App, require_versioned, rfc3339, timeline_of};
use s3rewind_engine::detect::{DetectOptions, ScanReport, restore_point};
use s3rewind_engine::{Location, parse_s3_uri};

/// `s3rewind scan`.
pub async fn scan_cmd(app: &App, args: &ScanArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    // Check the options before any S3 call, so a bad TIME is a usage error first.
    let opts = options(
        &crate::output::Printer {
            quiet: true,
            ..printer.clone()
        },
        &args.detect,
    )?;
    require_versioned(&app.endpoint, &source.bucket).await?;
    let timeline = timeline_of(app, &source, &args.listing, &args.snapshot, None).await?;
    let report = detect(&app.endpoint, printer, &source, &timeline, &args.detect).await?;
    print_report(
        printer,
        &source,
        &report,
        &opts,
        if app.verbose {
            usize::MAX
        } else {
            args.show_keys
        },
    );
    printer.json_value(&report);
    // Not an all-clear either way: an incident, or too little of the recent writes read.
    Ok(if report.found() || report.inconclusive(&opts) {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

fn short(id: &str) -> String {
    if id.chars().count() > 16 {
        let head: String = id.chars().take(16).collect();
        format!("{head}…")
    } else {
        id.to_owned()
    }
}

/// The human report: a summary, then every incident with its evidence and keys. About
/// 120 lines: one report printed top to bottom, in the order a reader reads it.
pub fn print_report(
    printer: &Printer,
    source: &Location,
    report: &ScanReport,
    opts: &DetectOptions,
    show_keys: usize,
) {
    let s = &report.stats;
    let window = match (report.since, report.until) {
        (None, None) => "the whole history".to_owned(),
        (Some(a), None) => format!("changes since {}", rfc3339(a)),
        (None, Some(b)) => format!("changes until {}", rfc3339(b)),
        (Some(a), Some(b)) => format!("changes from {} to {}", rfc3339(a), rfc3339(b)),
    };
    printer.line(format!(
        "Scanned {source}: {} keys, {} versions and delete markers; judged {window}",
        s.keys, s.entries
    ));
    printer.line(format!(
        "  {} creates, {} overwrites, {} deletes; {} content samples, {} judged, {} looked damaged",
        s.creates, s.overwrites, s.deletes, s.samples, s.samples_judged, s.samples_bad
    ));
    for line in scales_and_coverage(report) {
        printer.line(line);
    }
    let rules_out = report
        .guarantee
        .as_ref()
        .map(|g| format!("What the reads rule out: {}", g.statement));
    if report.incidents.is_empty() {
        let c = &report.coverage;
        if report.inconclusive(opts) {
            printer.line(format!(
                "Not an all-clear: no incident found, but only {} of the {} overwrites since {} could be judged by content; read them all with --deep (or more with --sample N).",
                c.recent_judged,
                c.recent_overwrites,
                c.recent_from.map_or_else(|| "?".to_owned(), rfc3339)
            ));
        } else if s.samples == 0 && c.versions_written > 0 {
            printer.line(
                "No incident found. From metadata alone: no content was read (--sample 0), so damage that keeps sizes irregular or unchanged cannot show.",
            );
        } else {
            printer.line(format!(
                "No incident found. Covered: {} of {} written versions judged by content, {} keys never sampled.",
                c.versions_judged, c.versions_written, c.keys_never_sampled
            ));
        }
        if let Some(line) = rules_out {
            printer.line(line);
        }
        return;
    }
    if let Some(line) = rules_out {
        printer.line(format!("  {line}"));
    }
    printer.line(format!(
        "{} suspected incident{}:",
        report.incidents.len(),
        if report.incidents.len() == 1 { "" } else { "s" }
    ));
    for i in &report.incidents {
        let kinds: Vec<&str> = i.kinds.iter().map(|k| k.name()).collect();
        printer.line("");
        printer.line(format!(
            "Incident {}: {} .. {}  {}  confidence {} (score {:.2}), {} keys",
            i.id,
            rfc3339(i.start),
            rfc3339(i.end),
            kinds.join(", "),
            i.confidence,
            i.score,
            i.keys.len()
        ));
        if !i.writers.is_empty() {
            let w: Vec<String> = i.writers.iter().map(|w| short(w)).collect();
            printer.line(format!("  writers: {}", w.join(", ")));
        }
        if i.content_checked > 0 {
            printer.line(format!(
                "  content: {} of {} sampled versions looked damaged",
                i.content_bad, i.content_checked
            ));
        }
        let shown = show_keys.min(i.keys.len());
        printer.line(format!(
            "  affected keys{}:",
            if shown < i.keys.len() {
                format!(" (first {shown} of {}; -v for all)", i.keys.len())
            } else {
                String::new()
            }
        ));
        for k in i.keys.iter().take(shown) {
            let good = match (&k.last_good_version, k.last_good_at) {
                (Some(v), Some(at)) => format!("last good {} ({})", short(v), rfc3339(at)),
                (Some(v), None) => format!("last good {}", short(v)),
                (None, _) => "no earlier version: restoring removes it".to_owned(),
            };
            printer.line(format!(
                "    {:?}  {}  first bad {} at {}; {good}",
                k.key,
                k.kind,
                short(&k.first_bad_version),
                rfc3339(k.first_bad_at),
            ));
            if let Some(c) = &k.content {
                printer.line(format!("        content: {c}"));
            }
        }
        printer.line("  evidence:");
        for e in &i.evidence {
            printer.line(format!("    - {e}"));
        }
    }
    if let Some(at) = restore_point(report) {
        printer.line("");
        printer.line(format!(
            "To undo: `s3rewind plan {source} --before-corruption` (everything back to {}) or `--per-key` (only the affected keys), with the same detection options.",
            rfc3339(at)
        ));
    }
}
