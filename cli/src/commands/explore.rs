//! `history`, `diff` and `timeline`: exploring a bucket's history before deciding what
//! to restore.
//!
//! All three are read-only: one listing (ListObjectVersions) into a [`Timeline`], then
//! pure computations on it. `timeline` also runs detection (which may read the first
//! bytes of suspicious versions, see [`crate::commands::scan`]) to mark the suspected
//! incidents, and can draw an SVG picture with `plotters`.

use crate::args::{DiffArgs, HistoryArgs, LsArgs, TimelineArgs};
use crate::commands::scan;
use crate::error::{CliError, CliResult, Exit};
use crate::listing::list_bucket;
use crate::output::{Printer, human_bytes};
use crate::pipeline::App;
use crate::pipeline::{require_versioned, resolve_time, rfc3339};
use chrono::{DateTime, Utc};
use s3rewind_engine::detect::{Confidence, DamageKind, Incident};
use s3rewind_engine::{Anomaly, Destination, Location, Timeline, Version, parse_s3_uri};
use serde::Serialize;

// ---------------------------------------------------------------------------------------
// history

/// One entry of a key's history, as `history --output json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// The version id (`null` for the null version).
    pub version_id: String,
    /// When it was written.
    pub last_modified: DateTime<Utc>,
    /// True for a delete marker.
    pub delete_marker: bool,
    /// The server said it is the key's current entry.
    pub is_latest: bool,
    /// What it did to the key: `create`, `overwrite`, `delete` or `delete_again`.
    pub change: &'static str,
    /// Size in bytes (0 for a delete marker).
    pub size: u64,
    /// ETag without quotes (absent for a delete marker).
    pub etag: Option<String>,
    /// Storage class (absent for a delete marker).
    pub storage_class: Option<String>,
    /// The writer's canonical id, when listed.
    pub owner_id: Option<String>,
    /// For a version that put back the bytes (ETag and size) of an older version than
    /// the one it replaced: that older version's id. What a restore (s3rewind's or
    /// another tool's) or a manual revert writes; not new content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
}

/// The older version (than the one it replaced) whose ETag and size entry `i` repeats.
fn restores_of(entries: &[Version], i: usize) -> Option<String> {
    let v = &entries[i];
    if v.delete_marker || v.etag.is_empty() {
        return None;
    }
    if entries
        .get(i + 1)
        .is_some_and(|p| !p.delete_marker && p.etag == v.etag)
    {
        return None;
    }
    entries
        .iter()
        .skip(i + 2)
        .find(|o| !o.delete_marker && o.etag == v.etag && o.size == v.size)
        .map(|o| o.version_id.to_string())
}

/// The name and version of `history --output json`'s document ([`HistoryReport`]).
pub const HISTORY_SCHEMA: &str = "s3rewind.history/v1";

/// `history --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// Always [`HISTORY_SCHEMA`].
    pub schema: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Every version and delete marker, newest first (list order).
    pub entries: Vec<HistoryEntry>,
    /// What could not be ordered with certainty (same-second ties, timestamps out of
    /// list order).
    pub anomalies: Vec<Anomaly>,
}

fn change_of(entries: &[Version], i: usize) -> &'static str {
    let prev_live = entries.get(i + 1).is_some_and(|p| !p.delete_marker);
    match (entries[i].delete_marker, prev_live) {
        (false, false) => "create",
        (false, true) => "overwrite",
        (true, true) => "delete",
        (true, false) => "delete_again",
    }
}

/// The name and version of `ls --output json`'s document.
pub const LS_SCHEMA: &str = "s3rewind.ls/v1";

/// `s3rewind ls --at TIME`: the keys that existed at TIME with the version each had.
///
/// JSON: `{"schema": "s3rewind.ls/v1", "source", "at", "keys", "bytes", "objects":
/// [{"key", "version_id", "size", "etag", "last_modified", "storage_class"}],
/// "uncertain": [...], "ambiguous": [...]}`.
pub async fn ls_cmd(app: &App, args: &LsArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let loc = parse_s3_uri(&args.source)?;
    let at = match &args.at {
        Some(t) => {
            let (at, note) = resolve_time(t)?;
            if let Some(note) = note {
                printer.info(note);
            }
            Some(at)
        }
        None => None,
    };
    require_versioned(&app.endpoint, &loc.bucket).await?;
    let spec = crate::source::SourceSpec::of(&args.listing, &args.snapshot);
    let timeline = if spec.is_snapshot() {
        crate::source::load_timeline(&app.endpoint, printer, &loc.bucket, &loc.prefix, &spec, at)
            .await?
    } else {
        list_bucket(
            &app.endpoint.bucket(&loc.bucket),
            printer,
            &loc.prefix,
            args.listing.page_size,
            args.listing.streams(),
        )
        .await?
    };
    let state = match at {
        Some(at) => timeline.state_at(at),
        None => timeline.current(),
    };
    for e in &state.objects {
        let v = &e.version;
        let id = if args.versions {
            format!("  {}", v.version_id)
        } else {
            String::new()
        };
        printer.line(format!(
            "{}  {:>12}  {}{id}",
            v.last_modified.format("%Y-%m-%d %H:%M:%S"),
            v.size,
            e.key
        ));
    }
    printer.info(format!(
        "{} key(s), {} at {}",
        state.len(),
        human_bytes(state.total_bytes()),
        at.map_or_else(|| "now".to_owned(), rfc3339)
    ));
    for (what, keys) in [
        (
            "a `null` version was rewritten after TIME: what these keys held then may be gone (the newest surviving version is shown)",
            state
                .uncertain
                .iter()
                .map(|u| u.key.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "the state depends on a same-second version/delete-marker tie",
            state.ambiguous.clone(),
        ),
    ] {
        if !keys.is_empty() {
            printer.warn(format!("{} key(s): {what}", keys.len()));
        }
    }
    printer.json_value(&serde_json::json!({
        "schema": LS_SCHEMA,
        "source": loc,
        "at": at,
        "keys": state.len(),
        "bytes": state.total_bytes(),
        "objects": state.objects.iter().map(|e| serde_json::json!({
            "key": e.key,
            "version_id": e.version.version_id,
            "size": e.version.size,
            "etag": e.version.etag,
            "last_modified": e.version.last_modified,
            "storage_class": e.version.storage_class,
        })).collect::<Vec<_>>(),
        "uncertain": state.uncertain.iter().map(|u| &u.key).collect::<Vec<_>>(),
        "ambiguous": state.ambiguous,
    }));
    Ok(Exit::Ok)
}

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
    let timeline =
        crate::source::load_timeline(&app.endpoint, printer, &loc.bucket, key, &spec, None).await?;
    let Some(h) = timeline.get(key) else {
        let others: Vec<String> = timeline
            .keys()
            .iter()
            .take(3)
            .map(|h| format!("{:?}", h.key))
            .collect();
        let hint = if others.is_empty() {
            String::new()
        } else {
            format!(
                "; keys starting with it: {}{}",
                others.join(", "),
                if timeline.keys().len() > 3 {
                    ", …"
                } else {
                    ""
                }
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
    let entries: Vec<HistoryEntry> = h
        .entries
        .iter()
        .enumerate()
        .map(|(i, v)| HistoryEntry {
            version_id: v.version_id.to_string(),
            last_modified: v.last_modified,
            delete_marker: v.delete_marker,
            is_latest: v.is_latest,
            change: change_of(&h.entries, i),
            size: v.size,
            etag: (!v.delete_marker).then(|| v.etag.to_string()),
            storage_class: v.storage_class.as_ref().map(|c| c.as_str().to_owned()),
            owner_id: v.owner_id.map(String::from),
            restores: restores_of(&h.entries, i),
        })
        .collect();
    let anomalies: Vec<Anomaly> = timeline
        .anomalies()
        .iter()
        .filter(|a| a.key() == key)
        .cloned()
        .collect();
    let report = HistoryReport {
        schema: HISTORY_SCHEMA,
        bucket: loc.bucket.clone(),
        key: key.to_owned(),
        entries,
        anomalies,
    };
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

// ---------------------------------------------------------------------------------------
// diff

/// A key's version on one side of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSide {
    /// The version id.
    pub version_id: String,
    /// When it was written.
    pub last_modified: DateTime<Utc>,
    /// Its size.
    pub size: u64,
    /// Its ETag.
    pub etag: String,
}

impl DiffSide {
    fn of(v: &Version) -> Self {
        DiffSide {
            version_id: v.version_id.to_string(),
            last_modified: v.last_modified,
            size: v.size,
            etag: v.etag.to_string(),
        }
    }
}

/// A key present at both times with different versions.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// The key.
    pub key: String,
    /// Its version at `from`.
    pub from: DiffSide,
    /// Its version at `to`.
    pub to: DiffSide,
}

/// A key present at only one of the times.
#[derive(Debug, Clone, Serialize)]
pub struct OneSide {
    /// The key.
    pub key: String,
    /// Its version (at `to` for an added key, at `from` for a deleted one).
    #[serde(flatten)]
    pub version: DiffSide,
}

/// Counts of a diff.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffSummary {
    /// Keys absent at `from` and present at `to`.
    pub added: usize,
    /// Keys present at both with different versions.
    pub changed: usize,
    /// Keys present at `from` and absent at `to`.
    pub deleted: usize,
    /// Keys with the same version at both.
    pub unchanged: usize,
}

/// The name and version of `diff --output json`'s document ([`DiffReport`]).
pub const DIFF_SCHEMA: &str = "s3rewind.diff/v1";

/// `diff --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// Always [`DIFF_SCHEMA`].
    pub schema: &'static str,
    /// What was compared.
    pub source: Location,
    /// The earlier instant.
    pub from: DateTime<Utc>,
    /// The later instant.
    pub to: DateTime<Utc>,
    /// Counts.
    pub summary: DiffSummary,
    /// Keys added between the two times.
    pub added: Vec<OneSide>,
    /// Keys whose version changed.
    pub changed: Vec<Changed>,
    /// Keys deleted between the two times.
    pub deleted: Vec<OneSide>,
    /// Keys whose state at either time depends on a same-second tie between a version
    /// and a delete marker (see `history`).
    pub ambiguous: Vec<String>,
}

/// Compare the states of a timeline at two instants.
pub fn diff_states(
    source: &Location,
    timeline: &Timeline,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DiffReport {
    let a = timeline.state_at(from);
    let b = timeline.state_at(to);
    let mut r = DiffReport {
        schema: DIFF_SCHEMA,
        source: source.clone(),
        from,
        to,
        summary: DiffSummary::default(),
        added: Vec::new(),
        changed: Vec::new(),
        deleted: Vec::new(),
        ambiguous: Vec::new(),
    };
    // The engine's one comparison of two states: the state at `to` as the target, the
    // state at `from` as what is there, in place.
    let whole = Destination::InPlace;
    for pair in s3rewind_engine::pairs::pairs("", &whole, &b, &a) {
        let key = pair.key.as_str();
        let sides = (
            pair.current.map(|e| &e.version),
            pair.target.map(|e| &e.version),
        );
        match sides {
            (None, Some(v)) => r.added.push(OneSide {
                key: key.to_owned(),
                version: DiffSide::of(v),
            }),
            (Some(v), None) => r.deleted.push(OneSide {
                key: key.to_owned(),
                version: DiffSide::of(v),
            }),
            (Some(x), Some(y)) if x.version_id != y.version_id => r.changed.push(Changed {
                key: key.to_owned(),
                from: DiffSide::of(x),
                to: DiffSide::of(y),
            }),
            (Some(_), Some(_)) => r.summary.unchanged += 1,
            (None, None) => {}
        }
    }
    let mut ambiguous: Vec<String> = a.ambiguous.iter().chain(&b.ambiguous).cloned().collect();
    ambiguous.sort();
    ambiguous.dedup();
    r.ambiguous = ambiguous;
    r.summary.added = r.added.len();
    r.summary.changed = r.changed.len();
    r.summary.deleted = r.deleted.len();
    r
}

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
    let timeline = crate::source::load_timeline(
        &app.endpoint,
        printer,
        &source.bucket,
        &source.prefix,
        &crate::source::SourceSpec::of(&args.listing, &args.snapshot),
        Some(to),
    )
    .await?;
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

// ---------------------------------------------------------------------------------------
// timeline

/// What one entry did to its key, for the activity chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    /// A version where the key did not exist (a new key, or a re-creation).
    Put,
    /// A version over a live version.
    Overwrite,
    /// A delete marker.
    Delete,
}

/// Every entry of a timeline as (unix seconds, activity).
pub fn activity(timeline: &Timeline) -> Vec<(i64, Activity)> {
    let mut out = Vec::with_capacity(timeline.len());
    for h in timeline.keys() {
        for (i, v) in h.entries.iter().enumerate() {
            let kind = if v.delete_marker {
                Activity::Delete
            } else if h.entries.get(i + 1).is_some_and(|p| !p.delete_marker) {
                Activity::Overwrite
            } else {
                Activity::Put
            };
            out.push((v.last_modified.timestamp(), kind));
        }
    }
    out.sort_unstable_by_key(|&(t, _)| t);
    out
}

/// Counts in one time bucket.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct TimeBucket {
    /// The bucket's first second.
    pub start: DateTime<Utc>,
    /// New keys (and re-creations after a delete).
    pub puts: usize,
    /// Versions written over a live version.
    pub overwrites: usize,
    /// Delete markers.
    pub deletes: usize,
}

impl TimeBucket {
    fn total(&self) -> usize {
        self.puts + self.overwrites + self.deletes
    }

    /// The (bottom, top) of the puts, overwrites and deletes in a stacked bar.
    fn stack(&self) -> [(usize, usize); 3] {
        let (p, o) = (self.puts, self.puts + self.overwrites);
        [(0, p), (p, o), (o, self.total())]
    }
}

/// An incident as the timeline shows it.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentSpan {
    /// The incident's number in the scan report.
    pub id: usize,
    /// First bad write.
    pub start: DateTime<Utc>,
    /// Last change of the incident.
    pub end: DateTime<Utc>,
    /// Kinds of damage.
    pub kinds: Vec<DamageKind>,
    /// How sure detection is.
    pub confidence: Confidence,
    /// Score, 0 to 1.
    pub score: f64,
    /// How many keys it affected.
    pub keys: usize,
}

impl IncidentSpan {
    fn of(i: &Incident) -> Self {
        IncidentSpan {
            id: i.id,
            start: i.start,
            end: i.end,
            kinds: i.kinds.clone(),
            confidence: i.confidence,
            score: i.score,
            keys: i.keys.len(),
        }
    }

    fn label(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        format!("incident {}: {}", self.id, kinds.join(", "))
    }

    fn overlaps(&self, start: i64, end_exclusive: i64) -> bool {
        self.start.timestamp() < end_exclusive && self.end.timestamp() >= start
    }
}

/// Totals of a timeline.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ActivityTotals {
    /// New keys.
    pub puts: usize,
    /// Overwrites.
    pub overwrites: usize,
    /// Delete markers.
    pub deletes: usize,
}

/// The name and version of `timeline --output json`'s document ([`TimelineReport`]).
pub const TIMELINE_SCHEMA: &str = "s3rewind.timeline/v1";

/// `timeline --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct TimelineReport {
    /// Always [`TIMELINE_SCHEMA`].
    pub schema: &'static str,
    /// What was charted.
    pub source: Location,
    /// Width of one bucket in seconds.
    pub every_secs: i64,
    /// Only changes at or after this (as asked).
    pub since: Option<DateTime<Utc>>,
    /// Only changes at or before this (as asked).
    pub until: Option<DateTime<Utc>>,
    /// Totals over the charted range.
    pub totals: ActivityTotals,
    /// Every bucket from the first change to the last, empty ones included.
    pub buckets: Vec<TimeBucket>,
    /// Suspected incidents (empty with `--no-incidents`).
    pub incidents: Vec<IncidentSpan>,
    /// The SVG file written, if any.
    pub svg: Option<String>,
}

/// Bucket widths `timeline` chooses from, in seconds.
const NICE_WIDTHS: &[i64] = &[
    1,
    2,
    5,
    10,
    15,
    30,
    60,
    2 * 60,
    5 * 60,
    10 * 60,
    15 * 60,
    30 * 60,
    3600,
    2 * 3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86_400,
    2 * 86_400,
    7 * 86_400,
    14 * 86_400,
    30 * 86_400,
    91 * 86_400,
    365 * 86_400,
];

/// Most buckets an automatically chosen width gives.
const MAX_AUTO_BUCKETS: i64 = 48;

/// Most buckets at all (a tiny --every over years of history).
const MAX_BUCKETS: i64 = 10_000;

/// The smallest nice width that covers `lo..=hi` (seconds) in at most
/// `MAX_AUTO_BUCKETS` buckets.
pub fn auto_width(lo: i64, hi: i64) -> i64 {
    for &w in NICE_WIDTHS {
        let first = lo.div_euclid(w) * w;
        if (hi - first) / w < MAX_AUTO_BUCKETS {
            return w;
        }
    }
    *NICE_WIDTHS.last().expect("not empty")
}

/// Count activity per bucket of `every` seconds over `lo..=hi`.
pub fn bucketize(changes: &[(i64, Activity)], lo: i64, hi: i64, every: i64) -> Vec<TimeBucket> {
    let first = lo.div_euclid(every) * every;
    let n = ((hi - first) / every + 1).max(1) as usize;
    let mut out: Vec<TimeBucket> = (0..n)
        .map(|i| TimeBucket {
            start: DateTime::from_timestamp(first + i as i64 * every, 0).unwrap_or_default(),
            ..TimeBucket::default()
        })
        .collect();
    for &(t, kind) in changes {
        if t < lo || t > hi {
            continue;
        }
        let b = &mut out[((t - first) / every) as usize];
        match kind {
            Activity::Put => b.puts += 1,
            Activity::Overwrite => b.overwrites += 1,
            Activity::Delete => b.deletes += 1,
        }
    }
    out
}

/// A width in seconds as a short duration (`90s` → `1m30s`).
pub fn fmt_width(secs: i64) -> String {
    let mut out = String::new();
    let mut rest = secs;
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if rest >= n {
            out.push_str(&format!("{}{unit}", rest / n));
            rest %= n;
        }
    }
    if out.is_empty() { "0s".to_owned() } else { out }
}

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
    let in_range: Vec<i64> = changes
        .iter()
        .map(|c| c.0)
        .filter(|&t| {
            opts.since.is_none_or(|s| t >= s.timestamp())
                && opts.until.is_none_or(|u| t <= u.timestamp())
        })
        .collect();
    let (Some(&first), Some(&last)) = (in_range.first(), in_range.last()) else {
        printer.line(format!("{source}: no changes in the range."));
        printer.json_value(&TimelineReport {
            schema: TIMELINE_SCHEMA,
            source: source.clone(),
            every_secs: args.every.unwrap_or(0),
            since: opts.since,
            until: opts.until,
            totals: ActivityTotals::default(),
            buckets: Vec::new(),
            incidents: Vec::new(),
            svg: None,
        });
        return Ok(Exit::Ok);
    };
    let lo = opts.since.map_or(first, |s| s.timestamp().min(first));
    let hi = opts.until.map_or(last, |u| u.timestamp().max(last));
    let every = args.every.unwrap_or_else(|| auto_width(lo, hi));
    let first_bucket = lo.div_euclid(every) * every;
    if (hi - first_bucket) / every + 1 > MAX_BUCKETS {
        return Err(CliError::usage(format!(
            "--every {} over {} gives more than {MAX_BUCKETS} buckets; choose a larger --every or a shorter --since/--until",
            fmt_width(every),
            fmt_width(hi - lo)
        )));
    }
    let buckets = bucketize(&changes, lo, hi, every);
    let incidents: Vec<IncidentSpan> = if args.no_incidents {
        Vec::new()
    } else {
        let report = scan::detect(&app.endpoint, printer, &source, &timeline, &args.detect).await?;
        if report.stats.restore_writes_ignored > 0 {
            printer.info(format!(
                "{} entries that put older versions' bytes back in a burst (a restore's writes, s3rewind's or another tool's) were left out of incident detection",
                report.stats.restore_writes_ignored
            ));
        }
        report.incidents.iter().map(IncidentSpan::of).collect()
    };
    let totals = buckets
        .iter()
        .fold(ActivityTotals::default(), |t, b| ActivityTotals {
            puts: t.puts + b.puts,
            overwrites: t.overwrites + b.overwrites,
            deletes: t.deletes + b.deletes,
        });
    let mut report = TimelineReport {
        schema: TIMELINE_SCHEMA,
        source: source.clone(),
        every_secs: every,
        since: opts.since,
        until: opts.until,
        totals,
        buckets,
        incidents,
        svg: None,
    };
    if let Some(path) = &args.svg {
        let svg = render_svg(&report)
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

/// The SVG picture: stacked bars of puts, overwrites and deletes per bucket, with the
/// suspected incidents shaded and labelled.
pub fn render_svg(r: &TimelineReport) -> Result<String, String> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};
    let e = |e: &dyn std::fmt::Display| e.to_string();
    let (Some(first), Some(last)) = (r.buckets.first(), r.buckets.last()) else {
        return Err("nothing to draw".to_owned());
    };
    let x0 = first.start.timestamp();
    let every = r.every_secs as f64;
    let span = (last.start.timestamp() - x0) as f64 + every;
    let max = r.buckets.iter().map(TimeBucket::total).max().unwrap_or(0) as i64;
    // Room above the tallest bar for the incident labels.
    let ymax = ((max as f64 * 1.3).ceil() as i64).max(max + 2).max(4);
    let one_day = first.start.date_naive()
        == (last.start + chrono::TimeDelta::seconds(r.every_secs - 1)).date_naive();
    let tick_fmt = match (span, one_day) {
        (s, true) if s <= 3600.0 * 2.0 => "%H:%M:%S",
        (_, true) => "%H:%M",
        (s, false) if s <= 86_400.0 * 4.0 => "%m-%d %H:%M",
        _ => "%Y-%m-%d",
    };
    let x_desc = if one_day {
        format!("time (UTC), {}", first.start.format("%Y-%m-%d"))
    } else {
        "time (UTC)".to_owned()
    };
    let put_color = RGBColor(0x00, 0x72, 0xB2);
    let over_color = RGBColor(0xE6, 0x9F, 0x00);
    let del_color = RGBColor(0xD5, 0x5E, 0x00);
    let incident_color = RGBColor(0xC0, 0x00, 0x00);

    let series: [(&str, RGBColor); 3] = [
        ("puts (new keys)", put_color),
        ("overwrites", over_color),
        ("deletes (delete markers)", del_color),
    ];
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        // A header with the title and a legend row, so the legend never covers a bar.
        let (header, body) = root.split_vertically(72);
        header
            .draw(&Text::new(
                format!("Activity of {} per {}", r.source, fmt_width(r.every_secs)),
                (500, 12),
                TextStyle::from(("sans-serif", 22).into_font())
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            ))
            .map_err(|x| e(&x))?;
        let mut legend: Vec<(String, ShapeStyle)> = series
            .iter()
            .map(|(name, color)| ((*name).to_owned(), color.filled()))
            .collect();
        if !r.incidents.is_empty() {
            legend.push((
                "suspected incident".to_owned(),
                incident_color.mix(0.25).filled(),
            ));
        }
        let label_font = TextStyle::from(("sans-serif", 14).into_font());
        let widths: Vec<i32> = legend
            .iter()
            .map(|(name, _)| {
                header
                    .estimate_text_size(name, &label_font)
                    .map_or(8 * name.len() as i32, |(w, _)| w as i32)
            })
            .collect();
        let total: i32 = widths.iter().map(|w| w + 14 + 6 + 28).sum::<i32>() - 28;
        let mut x = (1000 - total) / 2;
        for ((name, style), w) in legend.iter().zip(&widths) {
            header
                .draw(&Rectangle::new([(x, 45), (x + 14, 59)], *style))
                .map_err(|x| e(&x))?;
            header
                .draw(&Text::new(
                    name.as_str(),
                    (x + 20, 52),
                    label_font.pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(|x| e(&x))?;
            x += w + 14 + 6 + 28;
        }

        let mut chart = ChartBuilder::on(&body)
            .margin(18)
            .margin_top(6)
            .x_label_area_size(50)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..span, 0i64..ymax)
            .map_err(|x| e(&x))?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(WHITE.mix(0.0))
            .bold_line_style(BLACK.mix(0.12))
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|x| {
                DateTime::from_timestamp(x0 + x.round() as i64, 0)
                    .map(|t| t.format(tick_fmt).to_string())
                    .unwrap_or_default()
            })
            .y_label_formatter(&|y| y.to_string())
            .x_desc(x_desc)
            .y_desc(format!("changes per {}", fmt_width(r.every_secs)))
            .axis_desc_style(("sans-serif", 15))
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(|x| e(&x))?;

        // Incidents first, so the bars are drawn over the shading. Each spans from the
        // start of the bucket it starts in to the end of the bucket it ends in, so a
        // one-second incident is still visible.
        let spans: Vec<(f64, f64, &IncidentSpan)> = r
            .incidents
            .iter()
            .map(|i| {
                let s = (i.start.timestamp() - x0).div_euclid(r.every_secs) as f64 * every;
                let t = ((i.end.timestamp() - x0).div_euclid(r.every_secs) + 1) as f64 * every;
                (s.clamp(0.0, span), t.clamp(0.0, span), i)
            })
            .collect();
        chart
            .draw_series(spans.iter().map(|&(s, t, _)| {
                Rectangle::new([(s, 0), (t, ymax)], incident_color.mix(0.14).filled())
            }))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(
                spans
                    .iter()
                    .map(|&(s, t, _)| Rectangle::new([(s, 0), (t, ymax)], incident_color.mix(0.6))),
            )
            .map_err(|x| e(&x))?;
        chart
            .draw_series(spans.iter().map(|&(s, t, i)| {
                // Labels of incidents in the right quarter hang to the left of the end.
                let (at, dx, h) = if s > span * 0.75 {
                    (t, -4, HPos::Right)
                } else {
                    (s, 4, HPos::Left)
                };
                EmptyElement::at((at, ymax))
                    + Text::new(
                        i.label(),
                        (dx, 4),
                        TextStyle::from(("sans-serif", 14).into_font())
                            .color(&incident_color)
                            .pos(Pos::new(h, VPos::Top)),
                    )
            }))
            .map_err(|x| e(&x))?;

        let inset = every * 0.12;
        for (n, (_, color)) in series.iter().enumerate() {
            chart
                .draw_series(r.buckets.iter().filter_map(|b| {
                    let (lo, hi) = b.stack()[n];
                    (hi > lo).then(|| {
                        let x = (b.start.timestamp() - x0) as f64;
                        Rectangle::new(
                            [(x + inset, lo as i64), (x + every - inset, hi as i64)],
                            color.filled(),
                        )
                    })
                }))
                .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    #[test]
    fn auto_width_keeps_the_chart_short() {
        let base = 1_800_000_000;
        assert_eq!(auto_width(base, base + 10), 1);
        assert_eq!(auto_width(base, base + 47), 1);
        assert_eq!(auto_width(base, base + 90), 2);
        assert_eq!(auto_width(base, base + 3600), 2 * 60);
        assert_eq!(auto_width(base, base + 30 * 86_400), 86_400);
        for span in [0, 1, 59, 61, 1000, 99_999, 10_000_000] {
            let w = auto_width(base, base + span);
            let n = bucketize(&[], base, base + span, w).len() as i64;
            assert!(n <= MAX_AUTO_BUCKETS, "span {span}: {n} buckets of {w}");
        }
    }

    #[test]
    fn buckets_count_each_kind_and_include_the_edges() {
        let changes = vec![
            (100, Activity::Put),
            (101, Activity::Put),
            (105, Activity::Overwrite),
            (109, Activity::Delete),
            (110, Activity::Delete),
        ];
        let b = bucketize(&changes, 100, 110, 5);
        assert_eq!(b.len(), 3);
        assert_eq!((b[0].puts, b[0].overwrites, b[0].deletes), (2, 0, 0));
        assert_eq!((b[1].puts, b[1].overwrites, b[1].deletes), (0, 1, 1));
        assert_eq!((b[2].puts, b[2].overwrites, b[2].deletes), (0, 0, 1));
        assert_eq!(b[1].start, t(105));
    }

    #[test]
    fn widths_print_as_durations() {
        assert_eq!(fmt_width(1), "1s");
        assert_eq!(fmt_width(90), "1m30s");
        assert_eq!(fmt_width(86_400), "1d");
        assert_eq!(fmt_width(3 * 3600), "3h");
    }

    fn report(incidents: Vec<IncidentSpan>) -> TimelineReport {
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

    #[test]
    fn svg_has_bars_legend_and_incident_shading() {
        let r = report(vec![IncidentSpan {
            id: 1,
            start: t(1_800_000_030),
            end: t(1_800_000_030),
            kinds: vec![DamageKind::Encrypted, DamageKind::Planted],
            confidence: Confidence::Medium,
            score: 0.7,
            keys: 30,
        }]);
        let svg = render_svg(&r).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for needle in [
            "incident 1: encrypted, planted",
            "suspected incident",
            "overwrites",
            "puts (new keys)",
            "deletes (delete markers)",
        ] {
            assert!(svg.contains(needle), "missing {needle:?}");
        }
        assert!(render_svg(&report(Vec::new())).unwrap().contains("<rect"));
    }
}
