//! `diff`: the keys added, changed and deleted between two instants (the engine's
//! [`DiffReport`]).

use crate::args::DiffArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::output::JsonObject;
use crate::output::{Printer, human_bytes};
use crate::pipeline::{App, require_versioned, resolve_time, rfc3339};
use crate::spill::Spilled;
use s3rewind_engine::explore::diff::{
    Changed, DIFF_SCHEMA, DiffReport, DiffSide, DiffSummary, OneSide, diff_states,
};
use s3rewind_engine::parse_s3_uri;

/// `s3rewind diff`.
///
/// The history is never held whole: each part of the listing (or snapshot) is compared
/// at the two instants as it arrives ([`diff_states`]; a part holds each of its keys
/// whole), its added, changed and deleted keys go to disk, and the report is printed
/// from there in key order, the JSON document an entry at a time.
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
    let spec = crate::source::SourceSpec::of(&args.listing, &args.snapshot);
    let mut d = Spilled3::new()?;
    crate::source::each_part(
        &app.endpoint,
        printer,
        &source.bucket,
        &source.prefix,
        &spec,
        Some(to),
        |part| d.add(diff_states(&source, &part, from, to)),
    )
    .await?;
    d.seal()?;
    let r = DiffReport {
        schema: DIFF_SCHEMA,
        source,
        from,
        to,
        summary: d.summary.clone(),
        added: Vec::new(),
        changed: Vec::new(),
        deleted: Vec::new(),
        ambiguous: std::mem::take(&mut d.ambiguous),
    };
    if !printer.json() {
        print_diff(printer, &r, &d, app.verbose)?;
    }
    printer
        .json_write(|w| write_diff(w, &r, &d))
        .map_err(|e| CliError::failure(format!("cannot write the diff: {e}")))?;
    let s = &r.summary;
    Ok(if s.added + s.changed + s.deleted > 0 {
        Exit::Partial
    } else {
        Exit::Ok
    })
}

/// A diff's three lists on disk, and what is held of the rest: the counts and the keys
/// whose state is a guess.
struct Spilled3 {
    added: Spilled<OneSide>,
    changed: Spilled<Changed>,
    deleted: Spilled<OneSide>,
    summary: DiffSummary,
    ambiguous: Vec<String>,
}

impl Spilled3 {
    fn new() -> CliResult<Spilled3> {
        Ok(Spilled3 {
            added: Spilled::new()?,
            changed: Spilled::new()?,
            deleted: Spilled::new()?,
            summary: DiffSummary::default(),
            ambiguous: Vec::new(),
        })
    }

    /// One part's diff.
    fn add(&mut self, part: DiffReport) -> CliResult<()> {
        let s = &mut self.summary;
        s.added += part.summary.added;
        s.changed += part.summary.changed;
        s.deleted += part.summary.deleted;
        s.unchanged += part.summary.unchanged;
        self.ambiguous.extend(part.ambiguous);
        self.added.push_part(&part.added, "the listing")?;
        self.changed.push_part(&part.changed, "the listing")?;
        self.deleted.push_part(&part.deleted, "the listing")
    }

    fn seal(&mut self) -> CliResult<()> {
        // The order a whole diff keeps them in (parts arrive in any order).
        self.ambiguous.sort();
        self.ambiguous.dedup();
        self.added.seal()?;
        self.changed.seal()?;
        self.deleted.seal()
    }
}

/// `diff --output json`: `r` (which holds no list) with its three lists read from `d` as
/// they are written, byte for byte the document of the whole report.
fn write_diff(w: &mut dyn std::io::Write, r: &DiffReport, d: &Spilled3) -> std::io::Result<()> {
    let mut doc = JsonObject::new(w)?;
    doc.field("schema", r.schema)?;
    doc.field("source", &r.source)?;
    doc.field("from", &r.from)?;
    doc.field("to", &r.to)?;
    doc.field("summary", &r.summary)?;
    d.added.write_array(&mut doc, "added")?;
    d.changed.write_array(&mut doc, "changed")?;
    d.deleted.write_array(&mut doc, "deleted")?;
    doc.field("ambiguous", &r.ambiguous)?;
    doc.end()
}

/// A version as a line of the text diff names it: id, size and when it was written.
fn described(v: &DiffSide) -> String {
    let (id, size) = (&v.version_id, human_bytes(v.size));
    format!("{id} ({size}, {})", rfc3339(v.last_modified))
}

/// A line for each record of `list`, in key order, while fewer than `limit` are shown.
fn each_line<R: crate::spill::Record + Clone>(
    list: &Spilled<R>,
    shown: &mut usize,
    limit: usize,
    printer: &Printer,
    mut line: impl FnMut(R) -> String,
) -> CliResult<()> {
    if *shown >= limit {
        return Ok(());
    }
    list.scan(|r| {
        printer.line(line(r));
        *shown += 1;
        Ok(*shown < limit)
    })
}

fn print_diff(printer: &Printer, r: &DiffReport, d: &Spilled3, verbose: bool) -> CliResult<()> {
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
    let mut shown = 0usize;
    each_line(&d.added, &mut shown, limit, printer, |a| {
        format!("  + {:?}  {}", a.key, described(&a.version))
    })?;
    each_line(&d.changed, &mut shown, limit, printer, |c| {
        let same = !c.from.etag.is_empty() && c.from.etag == c.to.etag;
        format!(
            "  ~ {:?}  {} ({}) -> {}{}",
            c.key,
            c.from.version_id,
            human_bytes(c.from.size),
            described(&c.to),
            if same { "  same ETag" } else { "" }
        )
    })?;
    each_line(&d.deleted, &mut shown, limit, printer, |d| {
        format!("  - {:?}  was {}", d.key, described(&d.version))
    })?;
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
    Ok(())
}
