//! `timeline`: the activity chart. Every entry counted as a put, an overwrite or a
//! delete, per bucket of time ([`bucketize`], width chosen by [`auto_width`] unless
//! given), with the suspected incidents as spans ([`IncidentSpan`]). The CLI draws it
//! (text, or SVG).

use crate::detect::{Confidence, DamageKind, Incident};
use crate::{Change, Location, Timeline};
use chrono::{DateTime, Utc};
use serde::Serialize;

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
            let kind = match h.change(i) {
                Change::Create => Activity::Put,
                Change::Overwrite => Activity::Overwrite,
                Change::Delete | Change::DeleteAgain => Activity::Delete,
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
    /// Every change in it.
    pub fn total(&self) -> usize {
        self.puts + self.overwrites + self.deletes
    }

    /// The (bottom, top) of the puts, overwrites and deletes in a stacked bar.
    pub fn stack(&self) -> [(usize, usize); 3] {
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
    /// The span of a scan's incident.
    pub fn of(i: &Incident) -> Self {
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

    /// `incident N: kinds`.
    pub fn label(&self) -> String {
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        format!("incident {}: {}", self.id, kinds.join(", "))
    }

    /// Whether it overlaps the seconds `start..end_exclusive`.
    pub fn overlaps(&self, start: i64, end_exclusive: i64) -> bool {
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
pub const MAX_AUTO_BUCKETS: i64 = 48;

/// Most buckets at all (a tiny --every over years of history).
pub const MAX_BUCKETS: i64 = 10_000;

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

/// Activity counted a part of a timeline at a time ([`add`](Self::add)), for a chart of
/// a range too large to hold: [`bins`](Self::bins) gives what [`bucketize`] gives for the
/// whole timeline's [`activity`] with the automatic width ([`auto_width`]), holding a
/// count per second rather than an entry per version.
///
/// Seconds with changes are counted apart while they are few; past `limit` of them the
/// counts are merged into minutes, then hours, then days. That loses nothing: a range
/// with more than `limit` distinct seconds (minutes, hours) spans at least `limit` of
/// them, so the automatic width, which fits the span into at most [`MAX_AUTO_BUCKETS`]
/// buckets, is at least `limit / MAX_AUTO_BUCKETS` of them: with `limit` at least
/// `MAX_AUTO_BUCKETS * 60`, a whole multiple of the next coarser unit (every nice width
/// from a minute up is a whole number of minutes, from an hour up of hours, from a day
/// up of days), and buckets aligned alike.
#[derive(Debug, Clone)]
pub struct ActivityCounts {
    /// The seconds each count covers: 1, 60, 3,600 or 86,400.
    width: i64,
    /// By the first second of each `width`: puts, overwrites, deletes.
    counts: std::collections::BTreeMap<i64, [usize; 3]>,
    /// The first and last change (unix seconds).
    span: Option<(i64, i64)>,
    limit: usize,
}

/// The units counts are merged into, finest first.
const COUNT_UNITS: [i64; 4] = [1, 60, 3600, 86_400];

impl Default for ActivityCounts {
    fn default() -> Self {
        ActivityCounts::with_limit(100_000)
    }
}

impl ActivityCounts {
    /// Counts merged into a coarser unit past `limit` distinct ones (at least
    /// `MAX_AUTO_BUCKETS * 60`, so that merging never changes the chart).
    pub fn with_limit(limit: usize) -> Self {
        assert!(
            limit as i64 >= MAX_AUTO_BUCKETS * 60,
            "a limit below MAX_AUTO_BUCKETS * 60 could merge counts the chart keeps apart"
        );
        ActivityCounts {
            width: 1,
            counts: Default::default(),
            span: None,
            limit,
        }
    }

    /// Count one part's entries (each key whole: a change depends on the entries below it).
    pub fn add(&mut self, part: &Timeline) {
        for h in part.keys() {
            for (i, v) in h.entries.iter().enumerate() {
                let slot = match h.change(i) {
                    Change::Create => 0,
                    Change::Overwrite => 1,
                    Change::Delete | Change::DeleteAgain => 2,
                };
                let t = v.last_modified.timestamp();
                self.span = Some(self.span.map_or((t, t), |(lo, hi)| (lo.min(t), hi.max(t))));
                self.counts
                    .entry(t.div_euclid(self.width) * self.width)
                    .or_default()[slot] += 1;
            }
            while self.counts.len() > self.limit && self.width < COUNT_UNITS[3] {
                self.coarsen();
            }
        }
    }

    /// Merge the counts into the next unit.
    fn coarsen(&mut self) {
        let next = COUNT_UNITS
            .iter()
            .copied()
            .find(|&u| u > self.width)
            .expect("a coarser unit");
        let mut merged = std::collections::BTreeMap::<i64, [usize; 3]>::new();
        for (start, c) in std::mem::take(&mut self.counts) {
            let into = merged.entry(start.div_euclid(next) * next).or_default();
            for (into, c) in into.iter_mut().zip(c) {
                *into += c;
            }
        }
        self.counts = merged;
        self.width = next;
    }

    /// The chart's buckets over the changes and `at` (as [`bucketize`] over
    /// `min(first change, at)..=max(last change, at)` with [`auto_width`]); none when
    /// nothing changed.
    pub fn bins(&self, at: i64) -> Vec<TimeBucket> {
        let Some((first, last)) = self.span else {
            return Vec::new();
        };
        let (lo, hi) = (first.min(at), last.max(at));
        let every = auto_width(lo, hi);
        debug_assert_eq!(every % self.width, 0, "merged counts fit the chart's width");
        let start = lo.div_euclid(every) * every;
        let mut out = bucketize(&[], lo, hi, every);
        for (&t, c) in &self.counts {
            let b = &mut out[((t - start) / every) as usize];
            let [puts, overwrites, deletes] = *c;
            b.puts += puts;
            b.overwrites += overwrites;
            b.deletes += deletes;
        }
        out
    }
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

/// A chart that would have more than [`MAX_BUCKETS`] buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyBuckets {
    /// The bucket width, seconds.
    pub every: i64,
    /// The span charted, seconds.
    pub span: i64,
}

impl std::fmt::Display for TooManyBuckets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "--every {} over {} gives more than {MAX_BUCKETS} buckets; choose a larger --every or a shorter --since/--until",
            fmt_width(self.every),
            fmt_width(self.span)
        )
    }
}

/// The chart of `changes` (sorted by time, as [`activity`] gives them) between `since` and `until`, per `every`
/// seconds (chosen by [`auto_width`] when `None`), without incidents. No change in the
/// range: no buckets (and `every_secs` as given, or 0).
pub fn chart(
    source: &Location,
    changes: &[(i64, Activity)],
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    every: Option<i64>,
) -> Result<TimelineReport, TooManyBuckets> {
    let mut report = TimelineReport {
        schema: TIMELINE_SCHEMA,
        source: source.clone(),
        every_secs: every.unwrap_or(0),
        since,
        until,
        totals: ActivityTotals::default(),
        buckets: Vec::new(),
        incidents: Vec::new(),
        svg: None,
    };
    let in_range = |t: i64| {
        since.is_none_or(|s| t >= s.timestamp()) && until.is_none_or(|u| t <= u.timestamp())
    };
    let first = changes.iter().map(|c| c.0).find(|&t| in_range(t));
    let last = changes.iter().rev().map(|c| c.0).find(|&t| in_range(t));
    let (Some(first), Some(last)) = (first, last) else {
        return Ok(report);
    };
    let lo = since.map_or(first, |s| s.timestamp().min(first));
    let hi = until.map_or(last, |u| u.timestamp().max(last));
    let every = every.unwrap_or_else(|| auto_width(lo, hi));
    let first_bucket = lo.div_euclid(every) * every;
    if (hi - first_bucket) / every + 1 > MAX_BUCKETS {
        return Err(TooManyBuckets {
            every,
            span: hi - lo,
        });
    }
    report.every_secs = every;
    report.buckets = bucketize(changes, lo, hi, every);
    report.totals = report
        .buckets
        .iter()
        .fold(ActivityTotals::default(), |t, b| ActivityTotals {
            puts: t.puts + b.puts,
            overwrites: t.overwrites + b.overwrites,
            deletes: t.deletes + b.deletes,
        });
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(s, 0).unwrap()
    }

    proptest::proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(12))]
        /// Counted a part at a time, merged into minutes, hours or days when the seconds
        /// are many, the activity gives the chart of the whole timeline's activity, for
        /// spans from minutes to years and any instant inside or outside them.
        #[test]
        fn activity_counted_by_parts_is_the_whole_timelines_chart(
            ops in proptest::collection::vec((0u8..6, 0u16..40, proptest::bool::ANY, 0i64..6000), 1..4000),
            unit in proptest::sample::select(vec![1i64, 7, 60, 3600, 86_400]),
            at_offset in -100i64..7000,
        ) {
            use crate::{SimBucket, TimelineBuilder, Versioning};
            use proptest::prelude::prop_assert_eq;
            let base = 1_700_000_000i64;
            let mut sim = SimBucket::new(Versioning::Enabled, "v");
            let mut sorted = ops.clone();
            sorted.sort_by_key(|o| o.3);
            for (group, key, delete, at) in sorted {
                let key = format!("g{group}/k{key}");
                let when = t(base + at * unit);
                if delete {
                    sim.delete(&key, when);
                } else {
                    sim.put(&key, b"x", when);
                }
            }
            let list = |prefix: &str| {
                let mut b = TimelineBuilder::new();
                for page in sim.list_pages(prefix, 1000) {
                    b.push_page(page).unwrap();
                }
                b.finish()
            };
            let whole = list("");
            let changes = activity(&whole);
            let at = base + at_offset * unit;
            let want = match (changes.first(), changes.last()) {
                (Some(first), Some(last)) => {
                    let (lo, hi) = (first.0.min(at), last.0.max(at));
                    bucketize(&changes, lo, hi, auto_width(lo, hi))
                }
                _ => Vec::new(),
            };
            // The parts in reverse order (parallel listing streams end in any order).
            let mut counts = ActivityCounts::with_limit((MAX_AUTO_BUCKETS * 60) as usize);
            for group in (0..6).rev() {
                counts.add(&list(&format!("g{group}/")));
            }
            prop_assert_eq!(counts.bins(at), want);
        }
    }

    #[test]
    fn activity_counts_merge_past_their_limit_and_keep_the_chart() {
        use crate::{SimBucket, TimelineBuilder, Versioning};
        // 4,000 seconds with a change each, a day apart: past the limit, merged to days.
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        let base = 1_700_000_000i64;
        for i in 0..4000i64 {
            sim.put(
                &format!("k{:04}", i % 50),
                b"x",
                t(base + i * 86_400 + i % 7),
            );
        }
        let mut b = TimelineBuilder::new();
        for page in sim.list_pages("", 1000) {
            b.push_page(page).unwrap();
        }
        let whole = b.finish();
        let mut counts = ActivityCounts::with_limit((MAX_AUTO_BUCKETS * 60) as usize);
        counts.add(&whole);
        assert_eq!(counts.width, 86_400, "merged into days");
        assert!(counts.counts.len() <= 4000);
        let changes = activity(&whole);
        let (lo, hi) = (changes[0].0, changes.last().unwrap().0);
        assert_eq!(
            counts.bins(lo),
            bucketize(&changes, lo, hi, auto_width(lo, hi))
        );
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
}
