//! `diff`: the keys added, changed and deleted between two instants (the engine's
//! [`DiffReport`]).

use crate::args::DiffArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::output::{Printer, human_bytes};
use crate::pipeline::{App, require_versioned, resolve_time, rfc3339, timeline_of};
use s3rewind_engine::explore::diff::{DiffReport, diff_states};
use s3rewind_engine::parse_s3_uri;

/// `s3rewind diff`.
pub async fn diff_cmd(app: &App, args: &DiffArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    let (from, from_note) = resolve_time(&args.from)?;
    let (to, to_note) = resolve_time(&args.to)?;
    if from > to {
        return Err(CliError::usage(format!(
            "--from {} is after --to {}: give the earlier time first",
            rfc3339(from),
            rfc3339(to)
        )));
    }
    require_versioned(&app.endpoint, &source.bucket).await?;
    for note in [from_note, to_note].into_iter().flatten() {
        printer.info(note);
    }
    let timeline = timeline_of(app, &source, &args.listing, &args.snapshot, Some(to)).await?;
    let r = diff_states(&source, &timeline, from, to);
    print_diff(printer, &r, app.verbose);
    printer.json_value(&r);
    let s = &r.summary;
    Ok(if s.added + s.changed + s.deleted > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

fn print_diff(printer: &Printer, r: &DiffReport, verbose: bool) {
    let s = &r.summary;
    printer.line(format!(
        "{} from {} to {}: {} added, {} changed, {} deleted ({} unchanged)",
        r.source,
        rfc3339(r.from),
        rfc3339(r.to),
        s.added,
        s.changed,
        s.deleted,
        s.unchanged
    ));
    let limit = if verbose { usize::MAX } else { 100 };
    let total = s.added + s.changed + s.deleted;
    let added = r.added.iter().map(|a| {
        format!(
            "  + {:?}  {} ({}, {})",
            a.key,
            a.version.version_id,
            human_bytes(a.version.size),
            rfc3339(a.version.last_modified)
        )
    });
    let changed = r.changed.iter().map(|c| {
        format!(
            "  ~ {:?}  {} ({}) -> {} ({}, {}){}",
            c.key,
            c.from.version_id,
            human_bytes(c.from.size),
            c.to.version_id,
            human_bytes(c.to.size),
            rfc3339(c.to.last_modified),
            if !c.from.etag.is_empty() && c.from.etag == c.to.etag {
                "  same ETag"
            } else {
                ""
            }
        )
    });
    let deleted = r.deleted.iter().map(|d| {
        format!(
            "  - {:?}  was {} ({}, {})",
            d.key,
            d.version.version_id,
            human_bytes(d.version.size),
            rfc3339(d.version.last_modified)
        )
    });
    let mut shown = 0usize;
    for line in added.chain(changed).chain(deleted).take(limit) {
        printer.line(line);
        shown += 1;
    }
    if shown < total {
        printer.line(format!(
            "  … {} more (-v for all, --output json for the full list)",
            total - shown
        ));
    }
    if !r.ambiguous.is_empty() {
        printer.line(format!(
            "Ambiguous ({}): a version and a delete marker share the deciding second, so the state of these keys at one of the times is a guess (see `s3rewind history`): {}",
            r.ambiguous.len(),
            r.ambiguous
                .iter()
                .take(5)
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
}
