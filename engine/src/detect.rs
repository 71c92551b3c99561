/*!
Corruption detection: finds incidents (ransomware, wipes, bad jobs) in a bucket's history
and says, for every damaged key, which version was the last good one.

Detection is pure: it reads a [`Timeline`] and, optionally, content samples that the CLI
fetched (the first [`SAMPLE_BYTES`] of chosen versions: a [`Sampler`] names them round by
round, [`sample_plan`] in one go). It returns a [`ScanReport`]: data, never errors; a
[`Sampler`]'s report also states what its reads rule out ([`Guarantee`]). The report feeds the two restore modes:
[`restore_point`] (`--before-corruption`: the whole bucket back to just before the first
incident) and [`per_key_target`] (`--per-key`: each damaged key back to its own last good
version, every other key left as it is now).

```
use s3rewind_engine::detect::{DamageKind, DetectOptions, detect, per_key_target, restore_point, sample_plan};
use s3rewind_engine::{Destination, Location, PlanOptions, plan};
use s3rewind_testkit::scenarios;

// A week of office activity, then a sync client uploads empty files over the documents.
let s = scenarios::by_name("truncation").unwrap();
let timeline = s.timeline();
let options = DetectOptions::default();
// The CLI fetches the first SAMPLE_BYTES of the versions the plan names (here: the
// simulator's bytes), at most 50 ranged GETs.
let wanted = sample_plan(&timeline, &options, Some(50), false);
let samples = scenarios::samples_for(&s.bucket, &wanted);
let report = detect(&timeline, &samples, &options);
assert!(report.found());
let incident = &report.incidents[0];
assert_eq!(incident.kinds, [DamageKind::Truncated]);

let place = Location { bucket: "office".into(), prefix: String::new() };
// --before-corruption: the whole bucket as it was just before the first bad write.
let at = restore_point(&report).unwrap();
assert!(at < incident.start);
let whole = plan(&timeline.current(), &timeline.state_at(at),
                 &PlanOptions::new(place.clone(), Destination::InPlace, at));
// --per-key: each damaged key back to its last good version, nothing else touched.
let per_key = plan(&timeline.current(), &per_key_target(&timeline, &report),
                   &PlanOptions::new(place, Destination::InPlace, incident.end));
assert_eq!(per_key.actions.len(), incident.keys.len());
assert!(whole.actions.len() >= per_key.actions.len());
```

# Method

Every entry of the timeline becomes a *change* of its key: a creation, an overwrite (a
version over a live version), a delete (a delete marker over a live version) or a
repeated delete. Changes inside the scan window (`since..=until`, inclusive) are judged;
everything before the window is the bucket's baseline.

**Time scales** (the burst bin, the gap, the age of an established object, the history a
new writer needs) are derived from the timeline's own span and pauses unless given (see
[`Scales`]); below, `gap_secs`, `bin_secs`, `established_secs` and
`new_owner_history_secs` name the resolved values.

**Signals** are groups of changes that share a damage signature. A group is split into
*runs* wherever two consecutive changes are more than [`DetectOptions::gap_secs`] apart,
and a run counts only with at least [`DetectOptions::min_keys`] distinct keys. From
metadata alone (no GET):

| signal | signature | kind | weight |
|---|---|---|---|
| cipher overhead | overwrites that all grew by the same number of bytes (1..=`max_overhead`), or were padded to 16-byte blocks plus the same header; at least `common_fraction` of the overwrites in the run's span | [`Encrypted`](DamageKind::Encrypted) | 0.5 (0.4 for an unusual constant; 0.3 for `+N` when at least 90% of the keys are line-oriented text: `.log`, `.txt`, `.csv`, `.tsv`, `.jsonl`, `.ndjson`) |
| truncation | overwrites to 0 bytes, or to ≤ `tiny_size` bytes from ≥ 128 | [`Truncated`](DamageKind::Truncated) | 0.5 |
| size collapse | overwrites that changed size ≥ 4× and landed in one narrow size band (about 19% wide), their new sizes much closer together than the originals' (new spread² ≤ old spread, old spread ≥ 1.5×) | [`WrongType`](DamageKind::WrongType) | 0.35 |
| same content | distinct keys given one identical ETag (not rewritten with their own content) | [`WrongType`](DamageKind::WrongType) for overwrites ([`Overwritten`](DamageKind::Overwritten) when fewer than `min_keys`), [`Planted`](DamageKind::Planted) for new keys | 0.4 / 0.15 |
| rename | new keys `X<suffix>` with one common suffix while `X` got a delete marker within `gap_secs` (copies with the original's ETag are moves and do not count) | [`Renamed`](DamageKind::Renamed) + [`Planted`](DamageKind::Planted) | 0.55 (0.65 when sizes grew by ≤ `max_overhead`; 0.3 for backup/compression suffixes; compression suffixes whose files shrank are ignored) |
| wipe | a run of delete markers in a prefix (bucket, first or second `/` level; when one writer made at least 80% of it, the run starts at that writer's first delete) hitting ≥ `min_keys` established objects (older than `established_secs`), more than `wipe_factor` × the prefix's largest earlier run of such deletes, and removing (net of new keys) ≥ `wipe_fraction` of its live keys; deletes of objects whose bytes (ETag and size, above `tiny_size`) reappeared under a new key within `gap_secs` are moves and do not count; a run that deleted exactly the prefix's oldest objects (some survive, all newer, and enough of them that this is not chance: at least 100 ways C(n, k) to pick the k survivors of n) looks like a retention cleanup and is treated as routine | [`Deleted`](DamageKind::Deleted) | 0.45 to 0.6 |
| new writer | an owner id first seen in the window, after ≥ `new_owner_history_secs` of history, overwriting or deleting others' objects | per change | 0.3 |

A constant growth is what a cipher's nonce and tag or a ransomware footer look like, but
also what a job appending one fixed-size record to each of many logs or CSV files looks
like, and sizes cannot tell the two apart. On line-oriented text files the append is the
likelier story, so there the signal weighs 0.3: below the default `min_score` on its own,
reported (at low confidence) only with another signal or modifier, such as a burst, and
settled by content samples either way (appended text stays text). The price: ransomware
that encrypts *only* such files, with a constant overhead, is not reported from
metadata alone unless something else (a burst, a new writer) points at it.

A signature that already had a comparable bulk run before (at least `min_keys` keys and
more than 1/`burst_factor` of this run's; for cipher overhead also `common_fraction` of the
overwrites in its span) is *routine* (a nightly job appending fixed-size records) and its
weight is cut to 30%. Comparable size matters in big buckets, where a few coincidences
(five unrelated files that grew by 28 bytes within an hour) happen every day.

From content (samples), each sampled version is judged against what it should be: its
key's extension, the previous version's Content-Type or sniffed type, its own
Content-Type (see [`content`]); samples under 16 bytes are not judged. Near-random
bytes (entropy within `0.15 + 20/n` bits/byte of what `n` random bytes reach on average) without
a file signature where something else is expected, or behind the intact signature of a
format whose head is never random (PDF, ELF, PE, SQLite), are
[`Encrypted`](DamageKind::Encrypted); bytes of another
type are [`WrongType`](DamageKind::WrongType); a validator failure is
[`Invalid`](DamageKind::Invalid). A version that created its key (a `.locked` copy, a
dropped file) is labelled [`Planted`](DamageKind::Planted) instead, whatever its bytes look
like (the evidence and the key's `content` say what they look like): an affected key is
`planted` exactly when the incident created it, so a rename incident's kinds are
`renamed` (the originals) and `planted` (the copies), with `encrypted` only for files
encrypted in place. A run of such versions is a signal of weight 0.75
(encrypted) or 0.6 (wrong type) once it has `min_content_keys` keys, and of 0.5 (one or
two) or 0.8 (three or more) when it is validator failures.

**Incidents** are signals whose spans overlap or lie within `gap_secs` of each other.
Their score is the noisy-or `1 − Π(1 − w)` of the strongest weight per signal type and of
three modifiers: a **burst** (0.25: a `bin_secs` bin of at least `min_keys` overwrites
and deletes and `burst_factor` × the busiest earlier bin, the earlier bins being those
that ended more than `gap_secs` before it), a **new writer** among the damaging changes
(0.3), and **storage class changes** on at least half the incident's overwrites (0.15).
A burst needs a baseline: at least 3 of those earlier bins must have seen a change of
any kind (creates too). Without one (a bucket's first upload, a history of seconds) a
busy bin says nothing about the bucket's normal activity: it is not scored, only read
by a [`Sampler`]'s suspicion share.
If at least three of the versions that metadata called encrypted, wrong-typed or
overwritten were sampled and fewer than 20% of them look damaged, the *weak* part of the
score (the noisy-or of the weak signals and the modifiers) is multiplied by 0.4 (the
content contradicts the metadata; content says nothing about truncation, deletes or new
keys); the strong signals (content, rename, wipe, truncation) count in full, so a run of
damaged samples is an incident on its own. Incidents scoring below
[`DetectOptions::min_score`] are dropped. Ordinary edits change sizes alike all the time:
when several common-growth or size-collapse signals in an incident are not backed by
content (fewer than `min_content_keys` of their sampled versions look damaged, fewer
than half of those judged, or most of their changes outside the span of the damaged
ones), their evidence is folded into one line (how many, over how many
overwrites, and the largest); three or more that content backs are folded likewise.

**Start.** Strong evidence sets an incident's start: damaged samples (once the incident
has `min_content_keys` of them), rename pairs, wipes, truncation, and the unsampled
overwrites that join them by their size change (below). Changes only weak signals flagged
(common growth, size collapse, same content, a new writer) before the earliest strongly
supported write are left out, so a restore to just before the incident keeps them. An
incident with no strong evidence (metadata alone) starts at its earliest flagged change.

Five rules widen an incident beyond its signals: when one new writer made at least half
of its changes, all of that writer's changes within `gap_secs` join it; when at least
80% of its content-confirmed overwrites share one size change (the same size, `+N`
bytes, or 16-byte padding plus `N`), the *unsampled* overwrites by the same writers
with that size change join it: all of them within the span of the strong evidence, and
beyond it (up to `gap_secs` either side) only an unbroken stretch of them, up to the first
overwrite by those writers that does not match or that content judged, so that a sampling budget does not leave
victims, or the true start, out; and rename pairs join whole, however few they are (the
rename signal needs `min_keys` of them): for a key `X<suffix>` in the incident whose `X`
got a delete marker within `gap_secs` of the incident's changes (inside the scan
window), `X` joins as [`Renamed`](DamageKind::Renamed), from its oldest change there but not
from an overwrite before the incident's first strongly supported write (so its last good
version is the one before the incident touched it), and for a key `X` in
the incident, a copy `X<suffix>` created while `X` got its marker joins as
[`Planted`](DamageKind::Planted) (a copy of an already encrypted file looks like its
original to content analysis). A `--per-key` restore that removes a copy therefore always
brings its original back. Last, new keys named like ransom notes (`decrypt`, `ransom`,
`recover`, `restore`, `unlock` or `encrypted` in a text file's name, at most 64 KiB)
created within `gap_secs` of the incident's changes join it as
[`Planted`](DamageKind::Planted). Delete markers written within the incident's span by
one of its writers (anyone's when no owner is listed) join it as
[`Deleted`](DamageKind::Deleted), except moves and the deletes of rename pairs, so that
`--per-key` brings them back. No rule starts an incident, and the last three (deletes,
rename pairs, notes) are applied after it is scored.

**Confidence**: [`High`](Confidence::High) needs content confirmation (at least
`min_content_keys` damaged samples, at least half of those checked) and one more
independent signal; [`Medium`](Confidence::Medium) is a score ≥ 0.6 or content
confirmation alone; everything else reported is [`Low`](Confidence::Low). Metadata alone
never reaches High.

**Last good version**: for each affected key, its first bad version is its oldest
flagged change in *list order* (the order restores follow); the last good version is the
entry right after it in list order when that is an object version, and absent (`None`)
when the key did not exist before (a `.locked` copy, a ransom note).

# Sampling

A [`Sampler`] splits its budget so that no kind of evidence can spend it all: a uniform
share stratified by time bin and writer (the [`Guarantee`] is derived from it), a share
for the newest versions, a capped share for what metadata finds suspicious, and a
reserve read around damaged samples, in rounds, until the incident's first and last
damaged writes are found to the bin.

# Cost

One pass over the timeline builds the changes; signals group them with hash maps and
sort each group by time, so detection is O(n log n) in the number of versions, with
memory for one small record per version.
*/

mod analysis;
pub mod content;
mod guarantee;
mod incident;
mod restore;
mod sample;
mod scales;
mod signals;

pub use content::{FileType, entropy, near_random, random_entropy, sniff};
pub use guarantee::Guarantee;
pub use restore::{per_key_target, rename_gaps, restore_point};
pub use sample::{Budget, Sampler, sample_plan, scan};

use crate::timeline::Timeline;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// How many leading bytes of a version the CLI should fetch (ranged GET `bytes=0-4095`)
/// for content analysis.
pub const SAMPLE_BYTES: usize = 4096;

/// The schema name written into every scan report; bumped on incompatible changes.
pub const SCAN_SCHEMA: &str = "s3rewind.scan/v1";

/// What to scan and how sensitive to be. [`Default`] gives the documented thresholds
/// (and fills in the fields a serialised form leaves out).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DetectOptions {
    /// Judge only changes at or after this instant (earlier history is the baseline).
    pub since: Option<DateTime<Utc>>,
    /// Judge only changes at or before this instant (later ones are ignored).
    pub until: Option<DateTime<Utc>>,
    /// Fewest distinct keys for a metadata signal (default 5).
    pub min_keys: usize,
    /// Fewest distinct keys with damaged content for a content signal (default 3).
    pub min_content_keys: usize,
    /// Changes further apart than this are not one run, and signals further apart are
    /// not one incident (seconds; `None`, the default: derived from the history, see
    /// [`Scales`]).
    pub gap_secs: Option<i64>,
    /// Width of the bins in which bursts are counted (seconds; `None`, the default:
    /// derived from the history).
    pub bin_secs: Option<i64>,
    /// A bin is a burst when it has this many times the overwrites and deletes of the
    /// busiest earlier bin (default 3.0).
    pub burst_factor: f64,
    /// Largest size growth still taken for cipher overhead (bytes, default 4096).
    pub max_overhead: u64,
    /// Sizes up to this count as truncated (bytes, default 32).
    pub tiny_size: u64,
    /// A common size growth must cover at least this share of the overwrites in its
    /// span (default 0.3).
    pub common_fraction: f64,
    /// A wipe removes at least this share of a prefix's live keys (default 0.5).
    pub wipe_fraction: f64,
    /// A wipe deletes more than this many times the prefix's largest earlier delete run
    /// (default 3.0).
    pub wipe_factor: f64,
    /// Objects younger than this when deleted are temporary and do not count towards a
    /// wipe (seconds; `None`, the default: derived from the history).
    pub established_secs: Option<i64>,
    /// An owner id counts as new only when the bucket has at least this much history
    /// before its first write (seconds; `None`, the default: derived from the history).
    pub new_owner_history_secs: Option<i64>,
    /// Incidents scoring below this are not reported (default 0.4).
    pub min_score: f64,
    /// The probability a scan's [`Guarantee`] is stated with, and the confidence the
    /// sequential search around damaged samples works to (default 0.95).
    pub confidence: f64,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions {
            since: None,
            until: None,
            min_keys: 5,
            min_content_keys: 3,
            gap_secs: None,
            bin_secs: None,
            burst_factor: 3.0,
            max_overhead: 4096,
            tiny_size: 32,
            common_fraction: 0.3,
            wipe_fraction: 0.5,
            wipe_factor: 3.0,
            established_secs: None,
            new_owner_history_secs: None,
            min_score: 0.4,
            confidence: 0.95,
        }
    }
}

/// Content evidence for one version, gathered by the CLI (or by
/// `s3rewind_testkit::scenarios::samples_for` in tests).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContentSample {
    /// The key.
    pub key: String,
    /// The version id.
    pub version_id: String,
    /// The version's first bytes, at most [`SAMPLE_BYTES`] (fewer for a smaller object).
    pub head: Vec<u8>,
    /// The Content-Type the version was stored with, if known.
    pub content_type: Option<String>,
    /// The user's validator's verdict (`--validate-cmd`): `Some(false)` = bad.
    pub validator_ok: Option<bool>,
}

/// What happened to an affected key.
///
/// Variants are ordered from the most to the least specific; an incident lists its kinds
/// in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DamageKind {
    /// Overwritten with encrypted (random-looking) content, or grown by a cipher's
    /// overhead.
    Encrypted,
    /// Overwritten with content of another type than the key's (magic bytes, size
    /// collapse, one content written over many keys).
    WrongType,
    /// Truncated to zero or a few bytes.
    Truncated,
    /// Rejected by the user's validator.
    Invalid,
    /// Deleted while a copy with a suspicious suffix appeared (`x.docx` →
    /// `x.docx.locked`).
    Renamed,
    /// Deleted (delete marker) in bulk.
    Deleted,
    /// Created by the incident (an encrypted copy, a ransom note): should not exist.
    /// Exactly the affected keys without a last good version have this label, whatever
    /// their content looks like; keys that existed before the incident never do.
    Planted,
    /// Overwritten by the incident, with no more specific signature.
    Overwritten,
}

impl DamageKind {
    /// The kind's name as in JSON (`encrypted`, `wrong_type`, …).
    pub fn name(self) -> &'static str {
        match self {
            DamageKind::Encrypted => "encrypted",
            DamageKind::WrongType => "wrong_type",
            DamageKind::Truncated => "truncated",
            DamageKind::Invalid => "invalid",
            DamageKind::Renamed => "renamed",
            DamageKind::Deleted => "deleted",
            DamageKind::Planted => "planted",
            DamageKind::Overwritten => "overwritten",
        }
    }
}

impl fmt::Display for DamageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How sure the detector is that an incident is real.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// Weak or single metadata evidence: worth a look.
    Low,
    /// Strong metadata evidence, or content evidence alone.
    Medium,
    /// Content confirmed it, and other signals agree.
    High,
}

impl fmt::Display for Confidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        })
    }
}

/// One key an incident damaged, and how to undo it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AffectedKey {
    /// The key.
    pub key: String,
    /// What happened to it (at its first bad version).
    pub kind: DamageKind,
    /// Its first damaged entry (a version or a delete marker): the oldest flagged change
    /// in list order.
    pub first_bad_version: String,
    /// When that entry was written.
    pub first_bad_at: DateTime<Utc>,
    /// The version right before the first bad one in list order; `None` when the key did
    /// not exist before (restoring means making it absent).
    pub last_good_version: Option<String>,
    /// When the last good version was written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_good_at: Option<DateTime<Utc>>,
    /// What content analysis said about the first bad version, when it was sampled and
    /// looked damaged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

/// One suspected incident.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// 1-based number, in order of `start`.
    pub id: usize,
    /// The first bad write (the earliest `first_bad_at` of its keys).
    pub start: DateTime<Utc>,
    /// The last change that is part of the incident.
    pub end: DateTime<Utc>,
    /// The kinds of damage, most specific first.
    pub kinds: Vec<DamageKind>,
    /// How sure the detector is.
    pub confidence: Confidence,
    /// The combined score in `0..=1` (see the module docs).
    pub score: f64,
    /// Human-readable reasons, strongest first.
    pub evidence: Vec<String>,
    /// Owner ids that made the damaging changes, sorted.
    pub writers: Vec<String>,
    /// How many of the incident's versions had content samples that could be judged.
    pub content_checked: usize,
    /// How many of those looked damaged.
    pub content_bad: usize,
    /// The affected keys, sorted by key.
    pub keys: Vec<AffectedKey>,
}

/// Counts of what was scanned.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanStats {
    /// Keys in the timeline.
    pub keys: usize,
    /// Versions and delete markers in the timeline.
    pub entries: usize,
    /// New keys (and re-creations after a delete) in the window.
    pub creates: usize,
    /// Versions written over a live version in the window.
    pub overwrites: usize,
    /// Delete markers over a live version in the window.
    pub deletes: usize,
    /// Content samples given.
    pub samples: usize,
    /// Samples that matched a change in the window and could be judged.
    pub samples_judged: usize,
    /// Judged samples that looked damaged.
    pub samples_bad: usize,
    /// Entries recognised as a restore's writes (the bytes of an older version of the
    /// key put back, in a burst, and the delete markers written with them): left out of
    /// the judgement, so that a restore is not taken for part of the incident it undid.
    #[serde(default)]
    pub restore_writes_ignored: usize,
}

/// The bucket's own normal activity, which bursts are measured against.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// The first change in the timeline.
    pub history_start: Option<DateTime<Utc>>,
    /// Width of a burst bin in seconds.
    pub bin_secs: i64,
    /// Overwrites and deletes per day before the window (whole history without a
    /// window start).
    pub changes_per_day: f64,
    /// The most overwrites and deletes in one bin before the window.
    pub peak_per_bin: usize,
    /// Distinct owner ids seen before the window.
    pub writers: usize,
}

/// The time scales a scan used: given as options, or derived from the history.
///
/// A bucket's history may span seconds (a test bucket, a demo) or years; fixed time
/// scales suit only one of them. Unless given, each scale comes from the history's own
/// span `S` (first to last entry) and the pauses between its writes:
///
/// - **bin** (`--window`): the largest of 1, 2, 5, 10, 15, 30 s, 1, 2, 5, 10 min not
///   above `S / 1000` (a week of history: 10 minutes; a minute: 1 second);
/// - **gap** (`--gap`): 6 bins, or the 90th percentile of the pauses between
///   consecutive distinct write seconds when that is longer (a slow, steady bucket),
///   between 2 s and 1 h;
/// - **established** (`--established`): `S / 28`, at most 6 h;
/// - **new writer after** (`--new-writer-after`): `S / 7`, at least one bin, at most 24 h.
///
/// Histories of a week or more get exactly the former fixed defaults (10 min, 1 h, 6 h,
/// 24 h).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scales {
    /// Width of a burst bin, seconds.
    pub bin_secs: i64,
    /// Changes further apart are separate runs and incidents, seconds.
    pub gap_secs: i64,
    /// Objects younger than this when deleted do not count towards a wipe, seconds.
    pub established_secs: i64,
    /// History needed before a writer counts as new, seconds.
    pub new_writer_after_secs: i64,
    /// The history's span, first to last entry, seconds.
    pub span_secs: i64,
    /// The 90th percentile of the pauses between consecutive distinct write seconds.
    pub pause_p90_secs: i64,
    /// The scales given as options (`window`, `gap`, `established`,
    /// `new_writer_after`); the others were derived.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overridden: Vec<String>,
}

/// What a scan could judge: without this, "no incident found" cannot be told from "not
/// looked at".
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// The first change in the window (the judged time range starts here).
    pub judged_from: Option<DateTime<Utc>>,
    /// The last change in the window.
    pub judged_to: Option<DateTime<Utc>>,
    /// Versions written in the window (creates and overwrites).
    pub versions_written: usize,
    /// Of those, how many had a content sample that could be judged.
    pub versions_judged: usize,
    /// Keys with versions written in the window none of which was judged.
    pub keys_never_sampled: usize,
    /// Keys with versions written in the window.
    pub keys_written: usize,
    /// The recent writes start here: the last run of changes (no pause longer than the
    /// gap), at most the last 24 hours of the window.
    pub recent_from: Option<DateTime<Utc>>,
    /// Overwrites since `recent_from`.
    pub recent_overwrites: usize,
    /// Of those, how many were judged by content.
    pub recent_judged: usize,
}

impl Coverage {
    /// True when content samples were taken but fewer than half of the recent overwrites
    /// (at least `min_keys` of them) could be judged: an empty report then is not an
    /// all-clear. Metadata-only scans (no samples) say so themselves.
    pub fn recent_mostly_unjudged(&self, min_keys: usize) -> bool {
        self.recent_overwrites >= min_keys.max(1) && self.recent_judged * 2 < self.recent_overwrites
    }
}

/// The result of a scan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanReport {
    /// Always [`SCAN_SCHEMA`].
    pub schema: String,
    /// The window's start, as asked.
    pub since: Option<DateTime<Utc>>,
    /// The window's end, as asked.
    pub until: Option<DateTime<Utc>>,
    /// What was scanned.
    pub stats: ScanStats,
    /// The bucket's normal activity.
    pub baseline: Baseline,
    /// The time scales used (derived from the history unless given).
    #[serde(default)]
    pub scales: Scales,
    /// What the scan could judge.
    #[serde(default)]
    pub coverage: Coverage,
    /// What the content reads rule out, when they were planned by a [`Sampler`]
    /// (`None` from [`detect`] alone).
    #[serde(default)]
    pub guarantee: Option<Guarantee>,
    /// Suspected incidents, in order of start.
    pub incidents: Vec<Incident>,
}

impl ScanReport {
    /// True when at least one incident was found (the CLI's exit code).
    pub fn found(&self) -> bool {
        !self.incidents.is_empty()
    }

    /// True when nothing was found but the scan could not judge most of the recent
    /// writes (see [`Coverage::recent_mostly_unjudged`]): not an all-clear.
    pub fn inconclusive(&self, options: &DetectOptions) -> bool {
        !self.found()
            && self.stats.samples > 0
            && self.coverage.recent_mostly_unjudged(options.min_keys)
    }

    /// Serialise as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serialises")
    }

    /// A short human summary: one line per incident with its window, kinds, confidence
    /// and key count, followed by its evidence.
    pub fn summary(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for ScanReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        writeln!(
            f,
            "scanned {} keys, {} entries ({} creates, {} overwrites, {} deletes in the window; {} samples judged, {} bad)",
            s.keys, s.entries, s.creates, s.overwrites, s.deletes, s.samples_judged, s.samples_bad
        )?;
        let sc = &self.scales;
        writeln!(
            f,
            "time scales: bins {}, gap {}, established {}, new writer after {}",
            signals::fmt_duration(sc.bin_secs * 1000),
            signals::fmt_duration(sc.gap_secs * 1000),
            signals::fmt_duration(sc.established_secs * 1000),
            signals::fmt_duration(sc.new_writer_after_secs * 1000)
        )?;
        let c = &self.coverage;
        writeln!(
            f,
            "coverage: {} of {} versions written in the window judged by content; {} of {} keys never sampled; recent overwrites judged: {} of {}",
            c.versions_judged,
            c.versions_written,
            c.keys_never_sampled,
            c.keys_written,
            c.recent_judged,
            c.recent_overwrites
        )?;
        if s.restore_writes_ignored > 0 {
            writeln!(
                f,
                "{} entries that put back older versions' bytes in a burst (a restore's writes) were not judged",
                s.restore_writes_ignored
            )?;
        }
        if let Some(g) = &self.guarantee {
            writeln!(f, "guarantee: {}", g.statement)?;
        }
        if self.incidents.is_empty() {
            return writeln!(f, "no incident found");
        }
        for i in &self.incidents {
            let kinds: Vec<&str> = i.kinds.iter().map(|k| k.name()).collect();
            writeln!(
                f,
                "incident {}: {} .. {}  {}  confidence {} (score {:.2}), {} keys",
                i.id,
                i.start.format("%Y-%m-%dT%H:%M:%SZ"),
                i.end.format("%Y-%m-%dT%H:%M:%SZ"),
                kinds.join("+"),
                i.confidence,
                i.score,
                i.keys.len()
            )?;
            for e in &i.evidence {
                writeln!(f, "  - {e}")?;
            }
        }
        Ok(())
    }
}

/// Scan a timeline for incidents, using whatever content samples were gathered (none is
/// fine: metadata signals alone). The report has no [`guarantee`](ScanReport::guarantee):
/// only a [`Sampler`] that planned the reads can state one.
pub fn detect(
    timeline: &Timeline,
    samples: &[ContentSample],
    options: &DetectOptions,
) -> ScanReport {
    detect_in(&analysis::Ctx::new(timeline, options), samples)
}

fn detect_in(ctx: &analysis::Ctx<'_>, samples: &[ContentSample]) -> ScanReport {
    let judged = ctx.judge(samples);
    let mut found = signals::metadata(ctx);
    found.extend(signals::content(ctx, &judged));
    let incidents = incident::assemble(ctx, &judged, found);
    ScanReport {
        schema: SCAN_SCHEMA.to_owned(),
        since: ctx.opts.since,
        until: ctx.opts.until,
        stats: ScanStats {
            samples: samples.len(),
            samples_judged: judged.judged(),
            samples_bad: judged.bad(),
            ..ctx.stats()
        },
        baseline: ctx.baseline(),
        scales: ctx.scales.clone(),
        coverage: ctx.coverage(&judged),
        guarantee: None,
        incidents,
    }
}
