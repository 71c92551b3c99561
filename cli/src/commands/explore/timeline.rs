//! `timeline`: the activity chart of a bucket (the engine's [`chart`]) with its suspected
//! incidents, drawn in the terminal ([`render_text`]) and, with `--svg`, as a picture
//! ([`super::svg`]).

use crate::args::TimelineArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::listing::list_bucket;
use crate::output::Printer;
use crate::pipeline::detect as scan;
use crate::pipeline::{App, require_versioned, rfc3339};
use s3rewind_engine::explore::chart::{
    IncidentSpan, TimeBucket, TimelineReport, activity, chart, fmt_width,
};
use s3rewind_engine::parse_s3_uri;

/// `s3rewind timeline`.
pub async fn timeline_cmd(app: &App, args: &TimelineArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    let quiet = Printer {
        quiet: true,
        ..printer.clone()
    };
    let opts = scan::options(&quiet, &args.detect)?;
    if let Some(e) = args.every
        && e < 1
    {
        return Err(CliError::usage("--every must be at least 1s"));
    }
    if let Some(svg) = &args.svg {
        crate::outputs::file("--svg", svg, crate::outputs::Parent::MustExist)?;
    }
    require_versioned(&app.endpoint, &source.bucket).await?;
    let timeline = list_bucket(
        &app.endpoint.bucket(&source.bucket),
        printer,
        &source.prefix,
        args.listing.page_size,
        args.listing.streams(),
    )
    .await?;
    let changes = activity(&timeline);
    let mut report = chart(&source, &changes, opts.since, opts.until, args.every)
        .map_err(|e| CliError::usage(e.to_string()))?;
    if report.buckets.is_empty() {
        printer.line(format!("{source}: no changes in the range."));
        printer.json_value(&report);
        return Ok(Exit::Ok);
    }
    if !args.no_incidents {
        let scanned =
            scan::detect(&app.endpoint, printer, &source, &timeline, &args.detect).await?;
        if scanned.stats.restore_writes_ignored > 0 {
            printer.info(format!(
                "{} entries that put older versions' bytes back in a burst (a restore's writes, s3rewind's or another tool's) were left out of incident detection",
                scanned.stats.restore_writes_ignored
            ));
        }
        report.incidents = scanned.incidents.iter().map(IncidentSpan::of).collect();
    }
    if let Some(path) = &args.svg {
        let svg = super::svg::render_svg(&report)
            .map_err(|e| CliError::failure(format!("cannot draw the SVG picture: {e}")))?;
        std::fs::write(path, svg)
            .map_err(|e| CliError::failure(format!("cannot write {}: {e}", path.display())))?;
        printer.info(format!("wrote {}", path.display()));
        report.svg = Some(path.to_string_lossy().into_owned());
    }
    for line in render_text(&report) {
        printer.line(line);
    }
    printer.json_value(&report);
    Ok(Exit::Ok)
}

/// How a bucket's start is labelled: only what changes between buckets.
fn time_format(every: i64, one_day: bool) -> &'static str {
    match (every, one_day) {
        (e, true) if e < 60 => "%H:%M:%S",
        (_, true) => "%H:%M",
        (e, false) if e < 60 => "%Y-%m-%d %H:%M:%S",
        (e, false) if e < 86_400 => "%Y-%m-%d %H:%M",
        _ => "%Y-%m-%d",
    }
}

/// Width of the longest bar in characters.
const BAR_WIDTH: usize = 50;

/// Characters of the three series in the terminal chart (readable without colour).
const PUT_CHAR: char = '+';

const OVERWRITE_CHAR: char = '#';

const DELETE_CHAR: char = 'x';

/// The terminal chart: one line per bucket with its counts and a stacked bar; runs of
/// three or more empty buckets collapse into one line; buckets an incident overlaps are
/// marked.
pub fn render_text(r: &TimelineReport) -> Vec<String> {
    let mut out = Vec::new();
    let (Some(first), Some(last)) = (r.buckets.first(), r.buckets.last()) else {
        return out;
    };
    let one_day = first.start.date_naive()
        == (last.start + chrono::TimeDelta::seconds(r.every_secs - 1)).date_naive()
        && r.every_secs < 86_400;
    let fmt = time_format(r.every_secs, one_day);
    let max = r.buckets.iter().map(TimeBucket::total).max().unwrap_or(0);
    let per_char = max.div_ceil(BAR_WIDTH).max(1);
    let t = &r.totals;
    out.push(format!(
        "Activity of {} per {}{}: {} puts (new keys), {} overwrites, {} deletes",
        r.source,
        fmt_width(r.every_secs),
        if one_day {
            format!(", {} (UTC)", first.start.format("%Y-%m-%d"))
        } else {
            " (UTC)".to_owned()
        },
        t.puts,
        t.overwrites,
        t.deletes
    ));
    out.push(format!(
        "  {PUT_CHAR} put   {OVERWRITE_CHAR} overwrite   {DELETE_CHAR} delete   (one character = {per_char} change{})",
        if per_char == 1 { "" } else { "s" }
    ));
    let label_width = first.start.format(fmt).to_string().chars().count();
    out.push(format!(
        "  {:<label_width$} {:>6} {:>6} {:>6}",
        "TIME", "PUTS", "OVERWR", "DELETE"
    ));
    let seg = |n: usize, c: char| -> String {
        if n == 0 {
            return String::new();
        }
        let chars = ((n as f64 / per_char as f64).round() as usize).max(1);
        std::iter::repeat_n(c, chars).collect()
    };
    let mut i = 0;
    while i < r.buckets.len() {
        let b = &r.buckets[i];
        let start = b.start.timestamp();
        let marks: Vec<String> = r
            .incidents
            .iter()
            .filter(|x| x.overlaps(start, start + r.every_secs))
            .map(|x| format!("incident {}", x.id))
            .collect();
        if b.total() == 0 && marks.is_empty() {
            let mut j = i;
            while j < r.buckets.len()
                && r.buckets[j].total() == 0
                && !r.incidents.iter().any(|x| {
                    let s = r.buckets[j].start.timestamp();
                    x.overlaps(s, s + r.every_secs)
                })
            {
                j += 1;
            }
            if j - i >= 3 {
                out.push(format!(
                    "  {:<label_width$}   … {} empty buckets (to {})",
                    "",
                    j - i,
                    r.buckets[j - 1].start.format(fmt)
                ));
                i = j;
                continue;
            }
        }
        let bar = format!(
            "{}{}{}",
            seg(b.puts, PUT_CHAR),
            seg(b.overwrites, OVERWRITE_CHAR),
            seg(b.deletes, DELETE_CHAR)
        );
        let mark = if marks.is_empty() {
            String::new()
        } else {
            format!(
                "{:pad$}  <- {}",
                "",
                marks.join(", "),
                pad = (BAR_WIDTH + 2).saturating_sub(bar.chars().count())
            )
        };
        out.push(
            format!(
                "  {:<label_width$} {:>6} {:>6} {:>6} |{bar}{mark}",
                b.start.format(fmt).to_string(),
                b.puts,
                b.overwrites,
                b.deletes
            )
            .trim_end()
            .to_owned(),
        );
        i += 1;
    }
    for x in &r.incidents {
        out.push(format!(
            "  {}: {} .. {}, {} keys, confidence {} (`s3rewind scan` for the evidence)",
            x.label(),
            rfc3339(x.start),
            rfc3339(x.end),
            x.keys,
            x.confidence
        ));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use s3rewind_engine::Location;
    use s3rewind_engine::detect::{Confidence, DamageKind};
    use s3rewind_engine::explore::chart::{
        Activity, ActivityTotals, IncidentSpan, TIMELINE_SCHEMA, TimelineReport, bucketize,
    };

    pub(crate) fn t(s: i64) -> chrono::DateTime<chrono::Utc> {
        chrono::DateTime::from_timestamp(s, 0).unwrap()
    }

    pub(crate) fn report(incidents: Vec<IncidentSpan>) -> TimelineReport {
        let changes: Vec<(i64, Activity)> = (0..20)
            .map(|i| (1_800_000_000 + i, Activity::Put))
            .chain((0..30).map(|_| (1_800_000_030, Activity::Overwrite)))
            .chain((0..4).map(|_| (1_800_000_031, Activity::Delete)))
            .collect();
        let buckets = bucketize(&changes, 1_800_000_000, 1_800_000_031, 1);
        TimelineReport {
            schema: TIMELINE_SCHEMA,
            source: Location {
                bucket: "b".into(),
                prefix: String::new(),
            },
            every_secs: 1,
            since: None,
            until: None,
            totals: ActivityTotals {
                puts: 20,
                overwrites: 30,
                deletes: 4,
            },
            buckets,
            incidents,
            svg: None,
        }
    }

    #[test]
    fn text_chart_marks_incidents_and_collapses_empty_runs() {
        let r = report(vec![IncidentSpan {
            id: 1,
            start: t(1_800_000_030),
            end: t(1_800_000_031),
            kinds: vec![DamageKind::Encrypted],
            confidence: Confidence::High,
            score: 0.9,
            keys: 30,
        }]);
        let text = render_text(&r).join("\n");
        assert!(text.contains("… 10 empty buckets"), "{text}");
        let line = text
            .lines()
            .find(|l| l.contains(&"#".repeat(30)))
            .expect("a bar of 30 overwrites");
        assert!(line.contains("<- incident 1"), "{line}");
        assert!(text.contains("incident 1: encrypted"), "{text}");
    }
}
