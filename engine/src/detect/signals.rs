//! Signals: groups of changes that share a damage signature, one finder per signature.
//! The method and every weight are described in the [module docs](super); the
//! [`incident`](super::incident) module merges signals into incidents.

use super::DamageKind;
use super::analysis::{Change, Ctx, Judged, Ms, to_time};
use super::content::Verdict;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::BuildHasher;

/// The type of a signal; an incident counts the strongest signal of each type once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Family {
    CommonDelta,
    Truncation,
    SizeCollapse,
    SameContent,
    Rename,
    Wipe,
    NewWriter,
    Content,
}

/// A group of changes with one damage signature.
#[derive(Debug, Clone)]
pub(crate) struct Signal {
    pub family: Family,
    /// Contribution to the incident score (0 = only joins incidents made by others).
    pub weight: f64,
    /// The first and last change (ms).
    pub start: Ms,
    pub end: Ms,
    /// The changes (event ids) and what each did.
    pub events: Vec<(usize, DamageKind)>,
    /// Why, for humans.
    pub evidence: String,
}

/// Below this many changes the signal finders run on the calling thread.
const PARALLEL_THRESHOLD: usize = 64 * 1024;

/// Weight kept by a signature already seen in bulk before (a routine job).
const ROUTINE: f64 = 0.3;
/// Weight of a common `+N` growth on line-oriented text files (see [`APPENDABLE`]):
/// below the default `min_score` on its own.
const APPEND: f64 = 0.3;
/// Extensions of files that jobs append records to (logs, CSV, JSON lines).
const APPENDABLE: &[&str] = &["log", "txt", "csv", "tsv", "jsonl", "ndjson"];
/// Size growths typical of ciphers and ransomware footers.
const CIPHER_OVERHEADS: &[u64] = &[16, 28, 32, 48, 64, 128, 256, 512, 1024, 2048, 4096];
/// Suffixes of legitimate compression (a compressed copy replacing the original).
const COMPRESS_SUFFIXES: &[&str] = &[
    "gz", "bz2", "xz", "zst", "zip", "7z", "tgz", "lz4", "br", "z",
];
/// Suffixes of legitimate backups and rotations.
const BACKUP_SUFFIXES: &[&str] = &[
    "bak", "old", "orig", "backup", "tmp", "copy", "save", "prev",
];

pub(crate) fn fmt_t(ms: Ms) -> String {
    to_time(ms).format("%Y-%m-%d %H:%M:%S").to_string()
}

/// A duration in the largest unit that divides it (`1 second`, `90 seconds`, `10
/// minutes`, `2 hours`, `1 day`).
pub(crate) fn fmt_duration(ms: Ms) -> String {
    let secs = ms / 1000;
    let (n, unit) = match secs {
        0 => return format!("{ms} ms"),
        s if s % 86_400 == 0 => (s / 86_400, "day"),
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

/// The start of a bin of `bin` ms: to the minute when bins are whole minutes, else to
/// the second.
pub(crate) fn fmt_bin_start(start: Ms, bin: Ms) -> String {
    let format = if bin % 60_000 == 0 {
        "%Y-%m-%d %H:%M"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    to_time(start).format(format).to_string()
}

fn fmt_span(start: Ms, end: Ms) -> String {
    format!("between {} and {}", fmt_t(start), fmt_t(end))
}

/// A run of one signature: consecutive changes at most `gap` apart.
struct Run<S> {
    sig: S,
    /// In-window event ids, in time order.
    ids: Vec<usize>,
    /// Distinct keys among `ids`.
    keys: usize,
    start: Ms,
    end: Ms,
    /// The signature already had a comparable bulk run earlier (see [`signature_runs`]).
    routine: bool,
    /// The largest earlier bulk run of this signature (distinct keys).
    earlier_bulk: usize,
}

/// Distinct keys among `ids` whose name passes `f`.
fn distinct_keys_where(ctx: &Ctx<'_>, ids: &[usize], f: impl Fn(&str) -> bool) -> usize {
    let mut ks: Vec<usize> = ids
        .iter()
        .map(|&id| ctx.events[id].key)
        .filter(|&k| f(&ctx.tl.keys()[k].key))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    ks.len()
}

/// True for a key with an [`APPENDABLE`] extension.
fn appendable(key: &str) -> bool {
    key.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && !stem.ends_with('/')
            && APPENDABLE.iter().any(|a| a.eq_ignore_ascii_case(ext))
    })
}

fn distinct_keys(ctx: &Ctx<'_>, ids: &[usize]) -> usize {
    let mut ks: Vec<usize> = ids.iter().map(|&id| ctx.events[id].key).collect();
    ks.sort_unstable();
    ks.dedup();
    ks.len()
}

/// Group events by signature, split each group into runs, and return the runs with at
/// least `min` distinct in-window keys.
///
/// Every event, in the window or not, counts for the runs and for the routine check: a
/// run is *routine* when an earlier run of the same signature was a bulk run (at least
/// `min_keys` keys, and `qualifies(ids, start, end)`) with more than 1/`burst_factor` of
/// its keys.
/// Comparable size matters: in a big bucket a handful of coincidences (five overwrites
/// that happened to grow by 28 bytes within an hour) must not make an attack on
/// thousands of keys look routine.
fn signature_runs<S: Eq + Ord + Clone>(
    ctx: &Ctx<'_>,
    items: Vec<(S, usize)>,
    min: usize,
    qualifies: impl Fn(&[usize], Ms, Ms) -> bool,
) -> Vec<Run<S>> {
    // Sorting beats a hash map of vectors when most signatures occur once (ETags); the
    // time rides along so the comparisons stay in cache.
    let mut items: Vec<(S, Ms, usize)> = items
        .into_iter()
        .map(|(s, id)| (s, ctx.events[id].t, id))
        .collect();
    items.sort_unstable();
    let mut out = Vec::new();
    let mut g = 0;
    while g < items.len() {
        let mut h = g + 1;
        while h < items.len() && items[h].0 == items[g].0 {
            h += 1;
        }
        let group = &items[g..h];
        g = h;
        if group.len() < min.max(1) {
            continue;
        }
        let mut earlier_bulk = 0usize;
        let mut i = 0;
        while i < group.len() {
            let mut j = i + 1;
            while j < group.len() && group[j].1 - group[j - 1].1 <= ctx.gap {
                j += 1;
            }
            let run: Vec<usize> = group[i..j].iter().map(|x| x.2).collect();
            i = j;
            let in_window: Vec<usize> = run
                .iter()
                .copied()
                .filter(|&id| ctx.events[id].in_window)
                .collect();
            let keys = distinct_keys(ctx, &in_window);
            if keys >= min && keys > 0 {
                out.push(Run {
                    sig: group[0].0.clone(),
                    start: ctx.events[in_window[0]].t,
                    end: ctx.events[in_window[in_window.len() - 1]].t,
                    ids: in_window,
                    keys,
                    routine: earlier_bulk >= ctx.opts.min_keys
                        && earlier_bulk as f64 * ctx.opts.burst_factor > keys as f64,
                    earlier_bulk,
                });
            }
            if run.len() >= ctx.opts.min_keys {
                let all_keys = distinct_keys(ctx, &run);
                let (start, end) = (ctx.events[run[0]].t, ctx.events[run[run.len() - 1]].t);
                if all_keys >= ctx.opts.min_keys && qualifies(&run, start, end) {
                    earlier_bulk = earlier_bulk.max(all_keys);
                }
            }
        }
    }
    out
}

fn routine_note<S>(r: &Run<S>) -> String {
    if r.routine {
        format!(
            "; routine: the same pattern already hit {} keys earlier",
            r.earlier_bulk
        )
    } else {
        String::new()
    }
}

fn is_truncation(ctx: &Ctx<'_>, size: u64, prev: u64) -> bool {
    let tiny = ctx.opts.tiny_size;
    (size == 0 && prev > 0) || (size <= tiny && prev >= tiny.max(1).saturating_mul(4).max(128))
}

/// Overwrites that changed the bytes (not a rewrite of the same content).
fn real_overwrites<'c>(ctx: &'c Ctx<'_>) -> impl Iterator<Item = (usize, u64, u64)> + 'c {
    ctx.events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.change == Change::Overwrite && !e.same_bytes)
        .filter_map(move |(id, _)| Some((id, ctx.ver(id).size, ctx.prev(id)?.size)))
}

/// Every metadata signal.
pub(crate) fn metadata(ctx: &Ctx<'_>) -> Vec<Signal> {
    type Finder = fn(&Ctx<'_>, &mut Vec<Signal>);
    const FINDERS: [Finder; 7] = [
        common_delta,
        truncation,
        size_collapse,
        same_content,
        renames,
        wipes,
        new_writers,
    ];
    let run = |f: &Finder| {
        let mut v = Vec::new();
        f(ctx, &mut v);
        v
    };
    // The finders are independent; on big timelines run them on rayon's pool (results
    // keep the finders' order either way).
    let found: Vec<Vec<Signal>> = if ctx.events.len() >= PARALLEL_THRESHOLD {
        FINDERS.par_iter().map(run).collect()
    } else {
        FINDERS.iter().map(run).collect()
    };
    drop_subsumed(found.into_iter().flatten().collect())
}

/// Drop a signal whose changes are all in a bigger (or equally big but stronger) signal
/// of the same type: the same wipe seen from a prefix and from its parent, the same
/// overwrites seen as `+16` and as "padded plus 0", one collapse in two size bands.
fn drop_subsumed(mut signals: Vec<Signal>) -> Vec<Signal> {
    signals.sort_by(|a, b| {
        (a.family, std::cmp::Reverse(a.events.len()))
            .cmp(&(b.family, std::cmp::Reverse(b.events.len())))
            .then_with(|| b.weight.total_cmp(&a.weight))
            .then_with(|| a.evidence.cmp(&b.evidence))
    });
    let mut kept: Vec<Signal> = Vec::new();
    let mut covered: HashMap<Family, HashSet<usize>> = HashMap::new();
    for s in signals {
        let seen = covered.entry(s.family).or_default();
        if !s.events.is_empty() && s.events.iter().all(|(id, _)| seen.contains(id)) {
            continue;
        }
        seen.extend(s.events.iter().map(|&(id, _)| id));
        kept.push(s);
    }
    kept
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum DeltaSig {
    Exact(u64),
    Padded16(u64),
}

fn common_delta(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    let max = ctx.opts.max_overhead;
    let mut items = Vec::new();
    for (id, size, prev) in real_overwrites(ctx) {
        if is_truncation(ctx, size, prev) {
            continue;
        }
        if size > prev && size - prev <= max {
            items.push((DeltaSig::Exact(size - prev), id));
        }
        if prev > 0 {
            let padded = (prev / 16 + 1).saturating_mul(16);
            if size >= padded && size - padded <= max {
                items.push((DeltaSig::Padded16(size - padded), id));
            }
        }
    }
    for r in signature_runs(ctx, items, ctx.opts.min_keys, |ids, start, end| {
        ids.len() as f64 >= ctx.opts.common_fraction * ctx.overwrites_all_between(start, end) as f64
    }) {
        let total = ctx.overwrites_in(r.start, r.end).len().max(1);
        let share = r.ids.len() as f64 / total as f64;
        if share < ctx.opts.common_fraction {
            continue;
        }
        let (what, typical) = match r.sig {
            DeltaSig::Exact(d) => (
                format!("grew by exactly {d} bytes"),
                d <= 64 || CIPHER_OVERHEADS.contains(&d),
            ),
            DeltaSig::Padded16(h) => (
                format!("were padded to 16-byte blocks plus {h} bytes"),
                true,
            ),
        };
        let mut weight = if typical { 0.5 } else { 0.4 };
        // Line-oriented text files that all grew by the same amount are more often
        // appended to (a job adding a record) than encrypted: alone, not worth a report.
        let text = match r.sig {
            DeltaSig::Exact(_) => distinct_keys_where(ctx, &r.ids, appendable),
            DeltaSig::Padded16(_) => 0,
        };
        let append = text * 10 >= r.keys * 9;
        if append {
            weight = APPEND;
        }
        if r.routine {
            weight *= ROUTINE;
        }
        out.push(Signal {
            family: Family::CommonDelta,
            weight,
            start: r.start,
            end: r.end,
            events: r.ids.iter().map(|&id| (id, DamageKind::Encrypted)).collect(),
            evidence: format!(
                "{} keys overwritten {} {what} ({:.0}% of the overwrites in that span), {}{}",
                r.keys,
                fmt_span(r.start, r.end),
                share * 100.0,
                if append {
                    format!(
                        "{} of them line-oriented text files (.{}): as typical of appending records as of cipher overhead (content tells them apart)",
                        if text == r.keys { "all".to_owned() } else { text.to_string() },
                        APPENDABLE.join(", .")
                    )
                } else {
                    "typical of cipher overhead".to_owned()
                },
                routine_note(&r)
            ),
        });
    }
}

fn truncation(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    let items: Vec<((), usize)> = real_overwrites(ctx)
        .filter(|&(_, size, prev)| is_truncation(ctx, size, prev))
        .map(|(id, _, _)| ((), id))
        .collect();
    for r in signature_runs(ctx, items, ctx.opts.min_keys, |_, _, _| true) {
        let sizes: Vec<u64> = r.ids.iter().map(|&id| ctx.ver(id).size).collect();
        let max = sizes.iter().copied().max().unwrap_or(0);
        let zero = sizes.iter().filter(|&&s| s == 0).count();
        out.push(Signal {
            family: Family::Truncation,
            weight: if r.routine { 0.5 * ROUTINE } else { 0.5 },
            start: r.start,
            end: r.end,
            events: r
                .ids
                .iter()
                .map(|&id| (id, DamageKind::Truncated))
                .collect(),
            evidence: format!(
                "{} keys truncated {} ({} to 0 bytes, the rest to at most {} bytes){}",
                r.keys,
                fmt_span(r.start, r.end),
                zero,
                max,
                routine_note(&r)
            ),
        });
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum SizeBand {
    /// `floor(4 log2 size)`: bands about 19% wide.
    Even(i64),
    /// The same bands shifted by half a band (so no cluster is split by a boundary).
    Odd(i64),
}

fn size_collapse(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    let mut items = Vec::new();
    for (id, size, prev) in real_overwrites(ctx) {
        if size <= ctx.opts.tiny_size || prev == 0 || is_truncation(ctx, size, prev) {
            continue;
        }
        let ratio = size as f64 / prev as f64;
        if ratio > 0.25 && ratio < 4.0 {
            continue;
        }
        let l = 4.0 * (size as f64).log2();
        items.push((SizeBand::Even(l.floor() as i64), id));
        items.push((SizeBand::Odd((l + 0.5).floor() as i64), id));
    }
    for r in signature_runs(ctx, items, ctx.opts.min_keys, |_, _, _| true) {
        let prevs: Vec<u64> = r
            .ids
            .iter()
            .filter_map(|&id| ctx.prev(id).map(|p| p.size))
            .collect();
        let (pmin, pmax) = (
            prevs.iter().copied().min().unwrap_or(0),
            prevs.iter().copied().max().unwrap_or(0),
        );
        let sizes: Vec<u64> = r.ids.iter().map(|&id| ctx.ver(id).size).collect();
        let (smin, smax) = (
            sizes.iter().copied().min().unwrap_or(0),
            sizes.iter().copied().max().unwrap_or(0),
        );
        // A collapse makes different originals alike: the new sizes must be much closer
        // together than the old ones (a uniform resize of alike files is not one).
        let old_spread = pmax as f64 / pmin.max(1) as f64;
        let new_spread = smax as f64 / smin.max(1) as f64;
        if pmin == 0 || old_spread < 1.5 || new_spread * new_spread > old_spread {
            continue;
        }
        out.push(Signal {
            family: Family::SizeCollapse,
            weight: if r.routine { 0.35 * ROUTINE } else { 0.35 },
            start: r.start,
            end: r.end,
            events: r.ids.iter().map(|&id| (id, DamageKind::WrongType)).collect(),
            evidence: format!(
                "{} keys of varied sizes ({pmin}..{pmax} bytes) were all rewritten to {smin}..{smax} bytes {}{}",
                r.keys,
                fmt_span(r.start, r.end),
                routine_note(&r)
            ),
        });
    }
}

fn same_content(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    // A fixed-key hasher: the grouping order must not change from run to run.
    let hasher =
        std::hash::BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default();
    let mut items = Vec::new();
    for (id, e) in ctx.events.iter().enumerate() {
        if !e.change.writes_content() {
            continue;
        }
        let v = ctx.ver(id);
        if v.etag.is_empty() || v.size <= ctx.opts.tiny_size {
            continue;
        }
        if e.change == Change::Overwrite && ctx.prev(id).is_some_and(|p| p.etag == v.etag) {
            continue;
        }
        // Grouped by a hash first, so sorting compares integers (and the ETags only
        // when the hashes are equal).
        items.push(((hasher.hash_one(v.etag.as_str()), v.etag.as_str()), id));
    }
    for r in signature_runs(ctx, items, ctx.opts.min_keys, |_, _, _| true) {
        let over: Vec<usize> = r
            .ids
            .iter()
            .copied()
            .filter(|&id| ctx.events[id].change == Change::Overwrite)
            .collect();
        let over_keys = distinct_keys(ctx, &over);
        let overwriting = over_keys >= ctx.opts.min_keys;
        let mut weight = if overwriting { 0.4 } else { 0.15 };
        if r.routine {
            weight *= ROUTINE;
        }
        let events = r
            .ids
            .iter()
            .map(|&id| {
                // Planted is for keys the incident created; a few keys that existed were
                // overwritten with it, without the numbers to call their type wrong.
                let kind = match (ctx.events[id].change, overwriting) {
                    (Change::Overwrite, true) => DamageKind::WrongType,
                    (Change::Overwrite, false) => DamageKind::Overwritten,
                    _ => DamageKind::Planted,
                };
                (id, kind)
            })
            .collect();
        let example = ctx.key(r.ids[0]);
        out.push(Signal {
            family: Family::SameContent,
            weight,
            start: r.start,
            end: r.end,
            events,
            evidence: format!(
                "{} keys ({} of them overwritten) were given one identical content (ETag {}, {} bytes, e.g. {example}) {}{}",
                r.keys,
                over_keys,
                r.sig.1,
                ctx.ver(r.ids[0]).size,
                fmt_span(r.start, r.end),
                routine_note(&r)
            ),
        });
    }
}

fn suffix_class(suffix: &str) -> (bool, bool) {
    let last = suffix
        .rsplit(['.', '-', '_', '~'])
        .next()
        .unwrap_or(suffix)
        .to_ascii_lowercase();
    let compress = COMPRESS_SUFFIXES.contains(&last.as_str());
    let backup = BACKUP_SUFFIXES.contains(&last.as_str())
        || (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit()));
    (compress, backup)
}

fn renames(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    // Runs are over the created events.
    let by_created: HashMap<usize, usize> = ctx
        .pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (p.created, i))
        .collect();
    // A copy with the original's bytes is a rename that lost nothing.
    let items: Vec<(&str, usize)> = ctx
        .pairs
        .iter()
        .filter(|p| !ctx.pair_kept_bytes(p))
        .map(|p| (p.suffix, p.created))
        .collect();
    for r in signature_runs(ctx, items, ctx.opts.min_keys, |_, _, _| true) {
        let pairs: Vec<_> = r.ids.iter().map(|id| ctx.pairs[by_created[id]]).collect();
        let (compress, backup) = suffix_class(r.sig);
        let sizes: Vec<(u64, u64)> = pairs
            .iter()
            .map(|p| (ctx.ver(p.created).size, ctx.ver(p.original).size))
            .collect();
        let shrunk = sizes
            .iter()
            .filter(|&&(new, old)| (new as f64) < 0.9 * old as f64)
            .count();
        if compress && shrunk * 2 >= sizes.len() {
            continue; // compressed copies replacing their originals: log rotation
        }
        let overhead = sizes
            .iter()
            .filter(|&&(new, old)| new >= old && new - old <= ctx.opts.max_overhead)
            .count();
        let grew = overhead * 2 >= sizes.len();
        let mut weight = match (compress || backup, grew) {
            (true, _) => 0.3,
            (false, true) => 0.65,
            (false, false) => 0.55,
        };
        if r.routine {
            weight *= ROUTINE;
        }
        let mut events = Vec::with_capacity(pairs.len() * 2);
        let mut start = r.start;
        let mut end = r.end;
        for p in &pairs {
            events.push((p.created, DamageKind::Planted));
            if ctx.events[p.deleted].in_window {
                events.push((p.deleted, DamageKind::Renamed));
                start = start.min(ctx.events[p.deleted].t);
                end = end.max(ctx.events[p.deleted].t);
            }
        }
        let example = ctx.key(pairs[0].original);
        out.push(Signal {
            family: Family::Rename,
            weight,
            start,
            end,
            events,
            evidence: format!(
                "{} keys got a {:?} copy while the original received a delete marker {} (e.g. {example} -> {example}{}){}{}",
                r.keys,
                r.sig,
                fmt_span(start, end),
                r.sig,
                if grew && !(compress || backup) {
                    "; the copies are the originals' sizes plus a small overhead"
                } else {
                    ""
                },
                routine_note(&r)
            ),
        });
    }
}

/// The prefixes a key is grouped under for wipes: the bucket, and its first and second
/// `/` levels.
fn prefixes(key: &str) -> impl Iterator<Item = &str> {
    std::iter::once("").chain(key.match_indices('/').take(2).map(move |(i, _)| &key[..=i]))
}

struct WipeCandidate<'a> {
    prefix: &'a str,
    start: Ms,
    end: Ms,
    /// Distinct established keys deleted in the window.
    keys: usize,
    /// The largest earlier run of established deletes in the prefix.
    earlier: usize,
    /// Every delete of the run in the window, established or not.
    ids: Vec<usize>,
}

/// A delete in a prefix: (time, event id, the object was established).
type PrefixDelete = (Ms, usize, bool);

/// Mass deletion per prefix: deletes grouped by prefix, the densest run of established
/// deletes in each, weighed against the prefix's earlier runs. Longer than 120 lines
/// on purpose: the steps share the groups and the sliding window, and the weighting
/// reads best next to the run it weighs.
fn wipes(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    let established = ctx.scales.established_secs.max(0).saturating_mul(1000);
    // Deletes that are not renames, by prefix, with whether the object was established.
    let mut groups: HashMap<&str, Vec<PrefixDelete>> = HashMap::new();
    for (id, e) in ctx.events.iter().enumerate() {
        if e.change != Change::Delete || ctx.is_paired_delete(id) || ctx.is_moved(id) {
            continue;
        }
        let est = ctx
            .prev(id)
            .is_some_and(|p| e.t.saturating_sub(p.last_modified.timestamp_millis()) >= established);
        for pre in prefixes(ctx.key(id)) {
            groups.entry(pre).or_default().push((e.t, id, est));
        }
    }
    let mut groups: Vec<(&str, Vec<PrefixDelete>)> = groups.into_iter().collect();
    groups.sort_by(|a, b| a.0.cmp(b.0));
    // Runs of deletes in each prefix. Only established objects count (towards the run
    // and towards the baseline: the largest earlier run), but every delete of a flagged
    // run is part of the damage.
    let mut candidates: Vec<WipeCandidate<'_>> = Vec::new();
    for (prefix, mut dels) in groups {
        dels.sort_unstable();
        let mut earlier = 0usize;
        let mut i = 0;
        while i < dels.len() {
            let mut j = i + 1;
            while j < dels.len() && dels[j].0 - dels[j - 1].0 <= ctx.gap {
                j += 1;
            }
            let whole = &dels[i..j];
            let est_all: Vec<usize> = whole.iter().filter(|d| d.2).map(|d| d.1).collect();
            // The baseline counts the whole run; the candidate starts with its writer.
            let run = &whole[lead_in_by_others(ctx, whole)..];
            let ids: Vec<usize> = run
                .iter()
                .filter(|d| ctx.events[d.1].in_window)
                .map(|d| d.1)
                .collect();
            let est_in: Vec<usize> = run
                .iter()
                .filter(|d| d.2 && ctx.events[d.1].in_window)
                .map(|d| d.1)
                .collect();
            let keys = distinct_keys(ctx, &est_in);
            if keys >= ctx.opts.min_keys && keys as f64 > ctx.opts.wipe_factor * earlier as f64 {
                candidates.push(WipeCandidate {
                    prefix,
                    start: ctx.events[ids[0]].t,
                    end: ctx.events[ids[ids.len() - 1]].t,
                    keys,
                    earlier,
                    ids,
                });
            }
            earlier = earlier.max(distinct_keys(ctx, &est_all));
            i = j;
        }
    }
    if candidates.is_empty() {
        return;
    }
    // Live keys and new keys for the candidate prefixes.
    let wanted: HashSet<&str> = candidates.iter().map(|c| c.prefix).collect();
    let mut live: HashMap<&str, Vec<(Ms, i64)>> = HashMap::new();
    let mut creates: HashMap<&str, Vec<Ms>> = HashMap::new();
    for (id, e) in ctx.events.iter().enumerate() {
        let delta = match e.change {
            Change::Create => 1,
            Change::Delete => -1,
            _ => continue,
        };
        for pre in prefixes(ctx.key(id)) {
            if !wanted.contains(pre) {
                continue;
            }
            live.entry(pre).or_default().push((e.t, delta));
            if delta > 0 {
                creates.entry(pre).or_default().push(e.t);
            }
        }
    }
    for v in live.values_mut() {
        v.sort_unstable();
    }
    for v in creates.values_mut() {
        v.sort_unstable();
    }
    for c in candidates {
        let before: i64 = live.get(c.prefix).map_or(0, |v| {
            v.iter()
                .take_while(|(t, _)| *t < c.start)
                .map(|x| x.1)
                .sum()
        });
        let new_keys = creates.get(c.prefix).map_or(0, |v| {
            let lo = v.partition_point(|&t| t < c.start.saturating_sub(ctx.gap));
            let hi = v.partition_point(|&t| t <= c.end.saturating_add(ctx.gap));
            hi.saturating_sub(lo)
        });
        // The share counts every key the run deleted (young ones too): it is about how
        // much of the prefix is gone, not about what makes the run suspicious.
        let net = distinct_keys(ctx, &c.ids).saturating_sub(new_keys);
        let share = net as f64 / before.max(1) as f64;
        // A mass deletion need not empty its prefix: a burst of at least twice
        // `min_keys` established objects (and `wipe_factor` times any earlier run)
        // counts from a fifth of `wipe_fraction` (10% by default).
        let bulk = c.keys >= ctx.opts.min_keys.saturating_mul(2);
        let needed = if bulk {
            ctx.opts.wipe_fraction / 5.0
        } else {
            ctx.opts.wipe_fraction
        };
        if share < needed {
            continue;
        }
        let span = (1.0 - ctx.opts.wipe_fraction).max(1e-9);
        let mut weight = 0.45 + 0.15 * ((share - ctx.opts.wipe_fraction) / span).clamp(0.0, 1.0);
        // An age-based cleanup is judged where it happened: in the narrowest prefix that
        // holds every deleted key (a cleanup of `inbox/` seen from the bucket is still
        // one).
        let narrowest = narrowest_prefix(ctx, &c.ids);
        let retention = retention_like(ctx, c.prefix, &c.ids, c.start)
            || (narrowest != c.prefix && retention_like(ctx, narrowest, &c.ids, c.start));
        if retention {
            weight *= ROUTINE;
        }
        let place = if c.prefix.is_empty() {
            "in the bucket".to_owned()
        } else {
            format!("under {:?}", c.prefix)
        };
        out.push(Signal {
            family: Family::Wipe,
            weight,
            start: c.start,
            end: c.end,
            events: c.ids.iter().map(|&id| (id, DamageKind::Deleted)).collect(),
            evidence: format!(
                "delete markers on {} keys ({} of them established) {place} {} ({:.0}% of its {} live keys, net of {} new keys); the largest earlier run of established deletes there had {} keys",
                distinct_keys(ctx, &c.ids),
                c.keys,
                fmt_span(c.start, c.end),
                share.min(9.99) * 100.0,
                before,
                new_keys,
                c.earlier
            ) + if retention {
                "; every object left there is newer than every deleted one, as after a retention cleanup"
            } else {
                ""
            },
        });
    }
}

/// How many deletes at the start of a run of deletes were written by others than the
/// writer of at least 80% of the run: ordinary deletes a gap before a wipe chain into its
/// run and would set its start (and `--before-corruption` would cut before them).
fn lead_in_by_others(ctx: &Ctx<'_>, run: &[PrefixDelete]) -> usize {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for d in run {
        *counts.entry(ctx.events[d.1].owner).or_default() += 1;
    }
    let Some((&owner, &n)) = counts
        .iter()
        .max_by_key(|&(&o, &n)| (n, std::cmp::Reverse(o)))
    else {
        return 0;
    };
    if n * 5 < run.len() * 4 {
        return 0;
    }
    run.iter()
        .position(|d| ctx.events[d.1].owner == owner)
        .unwrap_or(0)
}

/// The longest of [`prefixes`] shared by the keys of every event in `ids`.
fn narrowest_prefix<'a>(ctx: &Ctx<'a>, ids: &[usize]) -> &'a str {
    let mut best: Option<&'a str> = None;
    for &id in ids {
        let key = ctx.key(id);
        best = Some(match best {
            None => prefixes(key).last().unwrap_or(""),
            Some(b) => prefixes(key)
                .filter(|p| b.starts_with(p))
                .last()
                .unwrap_or(""),
        });
    }
    best.unwrap_or("")
}

/// True when the run deleted exactly the oldest objects of the prefix: some objects
/// survive and every survivor was last written after every deleted object (what an
/// age-based cleanup does; a wipe hits objects of every age, or all of them).
///
/// The pattern must also be unlikely by chance: a wipe of random keys that spares `k` of
/// `n` spares exactly the newest `k` once in C(n, k) times, so the pattern counts only
/// when C(n, k) ≥ [`RETENTION_MIN_CHOICES`]. Without that, a wipe of 77 of 78 keys whose
/// one survivor happened to be the newest (1 chance in 78) would pass for a cleanup.
fn retention_like(ctx: &Ctx<'_>, prefix: &str, deleted: &[usize], start: Ms) -> bool {
    let gone: HashSet<usize> = deleted.iter().map(|&id| ctx.events[id].key).collect();
    let Some(newest_deleted) = deleted
        .iter()
        .filter_map(|&id| ctx.prev(id))
        .map(|p| p.last_modified.timestamp_millis())
        .max()
    else {
        return false;
    };
    let keys = ctx.tl.keys();
    let lo = keys.partition_point(|h| h.key.as_str() < prefix);
    let mut survivors = 0usize;
    for (k, h) in keys.iter().enumerate().skip(lo) {
        if !h.key.starts_with(prefix) {
            break;
        }
        if gone.contains(&k) {
            continue;
        }
        // The key's entry just before the run, in list order.
        let Some(v) = h
            .entries
            .iter()
            .find(|v| v.last_modified.timestamp_millis() < start)
        else {
            continue;
        };
        if v.delete_marker {
            continue;
        }
        if v.last_modified.timestamp_millis() < newest_deleted {
            return false;
        }
        survivors += 1;
    }
    survivors > 0 && choices_at_least(gone.len() + survivors, survivors, RETENTION_MIN_CHOICES)
}

/// See [`retention_like`]: below this many ways to choose the survivors, "the survivors
/// are the newest" is too likely by chance (1 %) to mean an age cutoff.
const RETENTION_MIN_CHOICES: u64 = 100;

/// True when the binomial coefficient C(n, k) is at least `min`.
fn choices_at_least(n: usize, k: usize, min: u64) -> bool {
    if k > n {
        return false;
    }
    let k = k.min(n - k) as u64;
    let n = n as u64;
    let mut c: u64 = 1;
    for i in 0..k {
        // C(n, i + 1) = C(n, i) * (n - i) / (i + 1), exact at every step.
        c = c.saturating_mul(n - i) / (i + 1);
        if c >= min {
            return true;
        }
    }
    c >= min
}

fn new_writers(ctx: &Ctx<'_>, out: &mut Vec<Signal>) {
    for (owner, ids) in &ctx.new_owner_events {
        let hostile: Vec<usize> = ids
            .iter()
            .copied()
            .filter(|&id| {
                ctx.events[id].change.destructive()
                    && ctx.prev(id).and_then(|p| p.owner_id.as_deref()) != Some(*owner)
            })
            .collect();
        let items = hostile.into_iter().map(|id| ((), id)).collect();
        for r in signature_runs(ctx, items, ctx.opts.min_keys, |_, _, _| true) {
            let lo = ids.partition_point(|&id| ctx.events[id].t < r.start);
            let hi = ids.partition_point(|&id| ctx.events[id].t <= r.end);
            let events = ids[lo..hi.max(lo)]
                .iter()
                .filter_map(|&id| {
                    let kind = match ctx.events[id].change {
                        Change::Overwrite => DamageKind::Overwritten,
                        Change::Delete => DamageKind::Deleted,
                        Change::Create => DamageKind::Planted,
                        Change::DeleteAgain => return None,
                    };
                    Some((id, kind))
                })
                .collect();
            out.push(Signal {
                family: Family::NewWriter,
                weight: 0.3,
                start: r.start,
                end: r.end,
                events,
                evidence: format!(
                    "writer {owner:?}, first seen {}, overwrote or deleted {} keys written by others {}",
                    fmt_t(ctx.owner_first(owner).unwrap_or(r.start)),
                    r.keys,
                    fmt_span(r.start, r.end)
                ),
            });
        }
    }
}

pub(crate) fn verdict_kind(v: &Verdict) -> Option<DamageKind> {
    match v {
        Verdict::Encrypted(_) => Some(DamageKind::Encrypted),
        Verdict::WrongType(_) => Some(DamageKind::WrongType),
        Verdict::Invalid => Some(DamageKind::Invalid),
        Verdict::Good | Verdict::Unknown => None,
    }
}

/// Runs of versions whose sampled content looks damaged.
pub(crate) fn content(ctx: &Ctx<'_>, judged: &Judged) -> Vec<Signal> {
    let items = judged.bad_ids().into_iter().map(|id| ((), id)).collect();
    let mut out = Vec::new();
    for r in signature_runs(ctx, items, 1, |_, _, _| true) {
        let mut by_kind: BTreeMap<DamageKind, Vec<usize>> = BTreeMap::new();
        let mut events = Vec::new();
        for &id in &r.ids {
            if let Some(kind) = judged.get(id).and_then(verdict_kind) {
                by_kind.entry(kind).or_default().push(id);
                // A key the incident created is planted, whatever its bytes look like
                // (the evidence says they are random).
                let label = if ctx.events[id].change == Change::Create {
                    DamageKind::Planted
                } else {
                    kind
                };
                events.push((id, label));
            }
        }
        let keys_of = |k: DamageKind| by_kind.get(&k).map_or(0, |ids| distinct_keys(ctx, ids));
        let (enc, wrong, invalid) = (
            keys_of(DamageKind::Encrypted),
            keys_of(DamageKind::WrongType),
            keys_of(DamageKind::Invalid),
        );
        let mut weight: f64 = 0.0;
        if enc + wrong >= ctx.opts.min_content_keys {
            weight = if enc >= wrong { 0.75 } else { 0.6 };
        }
        if invalid > 0 {
            weight = weight.max(if invalid >= 3 { 0.8 } else { 0.5 });
        }
        let mut parts = Vec::new();
        for (kind, ids) in &by_kind {
            let example = ids[0];
            let reason = match judged.get(example) {
                Some(Verdict::Encrypted(r) | Verdict::WrongType(r)) => format!(": {r}"),
                _ => String::new(),
            };
            let what = match kind {
                DamageKind::Encrypted => "became random-looking",
                DamageKind::WrongType => "are not of their expected type",
                _ => "failed the validator",
            };
            parts.push(format!(
                "{} sampled versions {what} (e.g. {}{reason})",
                ids.len(),
                ctx.key(example)
            ));
        }
        out.push(Signal {
            family: Family::Content,
            weight,
            start: r.start,
            end: r.end,
            events,
            evidence: format!("content {}: {}", fmt_span(r.start, r.end), parts.join("; ")),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_largest_unit_that_divides_them() {
        let s = |secs: i64| fmt_duration(secs * 1000);
        assert_eq!(s(1), "1 second");
        assert_eq!(s(45), "45 seconds");
        assert_eq!(s(60), "1 minute");
        assert_eq!(s(90), "90 seconds");
        assert_eq!(s(600), "10 minutes");
        assert_eq!(s(3600), "1 hour");
        assert_eq!(s(5400), "90 minutes");
        assert_eq!(s(7200), "2 hours");
        assert_eq!(s(86_400), "1 day");
        assert_eq!(fmt_duration(500), "500 ms");
    }

    #[test]
    fn bin_starts_show_seconds_only_when_bins_are_not_whole_minutes() {
        let t = 1_777_852_800_000 + 3_723_000; // 2026-05-04 01:02:03 UTC
        assert_eq!(fmt_bin_start(t, 1000), "2026-05-04 01:02:03");
        assert_eq!(fmt_bin_start(t, 90_000), "2026-05-04 01:02:03");
        assert_eq!(fmt_bin_start(t, 600_000), "2026-05-04 01:02");
    }

    #[test]
    fn binomial_threshold_is_exact_around_the_cut() {
        assert!(!choices_at_least(78, 1, 100)); // 78 ways
        assert!(!choices_at_least(78, 77, 100)); // the same 78
        assert!(choices_at_least(78, 2, 100)); // 3003
        assert!(choices_at_least(100, 1, 100));
        assert!(!choices_at_least(99, 1, 100));
        assert!(choices_at_least(9, 3, 84) && !choices_at_least(9, 3, 85)); // 84
        assert!(!choices_at_least(5, 0, 2) && choices_at_least(5, 0, 1));
        assert!(!choices_at_least(3, 4, 1));
    }
}
