//! The shared view the detector works on: every entry of the timeline as a *change* of
//! its key, with the facts several signals need (who wrote first when, which new keys are
//! renamed copies, which bins are bursts) computed once.

use super::content::{self, Bytes, Verdict};
use super::{Baseline, ContentSample, Coverage, DetectOptions, Scales, ScanStats};
use crate::model::{ETag, Version, VersionId};
use crate::timeline::Timeline;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// Milliseconds since the epoch (what the detector computes with).
pub(crate) type Ms = i64;

/// A millisecond count back to a timestamp (never fails: out-of-range values clamp).
pub(crate) fn to_time(ms: Ms) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

pub(crate) use crate::timeline::Change;

/// One entry of the timeline seen as a change. Its id is its position in
/// [`Ctx::events`]; entries of one key are consecutive, newest first.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event {
    /// Index of the key in [`Timeline::keys`].
    pub key: usize,
    /// Index of the entry in the key's list (0 = newest).
    pub idx: usize,
    /// `last_modified` in ms.
    pub t: Ms,
    /// What it did.
    pub change: Change,
    /// Inside the scan window.
    pub in_window: bool,
    /// For an overwrite: the new version has the previous one's ETag and size (the same
    /// bytes written again).
    pub same_bytes: bool,
    /// Index of the writer in the context's interned owners ([`NO_OWNER`] when not listed).
    pub owner: u32,
}

/// [`Event::owner`] of an entry listed without an owner.
pub(crate) const NO_OWNER: u32 = u32::MAX;

/// A new key `X<suffix>` created while `X` got a delete marker nearby.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair<'a> {
    /// The creation of the new key.
    pub created: usize,
    /// The original's delete marker.
    pub deleted: usize,
    /// The original's last version before that marker.
    pub original: usize,
    /// The suffix.
    pub suffix: &'a str,
}

/// A bin of overwrites and deletes far above the bucket's earlier peak.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Burst {
    /// Bin start (ms).
    pub start: Ms,
    /// Overwrites and deletes in the bin.
    pub count: usize,
    /// The most in any earlier bin (more than `gap` before).
    pub earlier_peak: usize,
    /// The earlier bins are a baseline (at least [`BASELINE_BINS`] of them saw changes):
    /// only then is the bin evidence. Without one it is only worth reading first.
    pub baseline: bool,
}

/// The analysis context.
pub(crate) struct Ctx<'a> {
    pub tl: &'a Timeline,
    /// The options with every time scale resolved (see [`Scales`]).
    pub opts: DetectOptions,
    /// The time scales, and whether each was derived or given.
    pub scales: Scales,
    /// Entries recognised as a restore's writes (see [`restore_writes`]): never judged.
    pub restore_writes: usize,
    pub events: Vec<Event>,
    /// Event id of each key's entry 0.
    key_offset: Vec<usize>,
    /// The window, inclusive, in ms.
    pub win: (Ms, Ms),
    /// `gap_secs` in ms.
    pub gap: Ms,
    /// The first change in the timeline.
    pub history_start: Option<Ms>,
    /// Owner ids, interned: name, when it first wrote, and whether it is new.
    owners: Vec<(&'a str, Ms, bool)>,
    owner_ids: HashMap<&'a str, u32>,
    /// Rename pairs, in order of the created event.
    pub pairs: Vec<Pair<'a>>,
    pair_by_created: HashMap<usize, usize>,
    paired_deletes: HashSet<usize>,
    /// Deletes whose object reappeared, byte for byte (same ETag), under a new key
    /// within `gap`: moves, not losses.
    moved: HashSet<usize>,
    /// The overwrites in the window as (time, event id), sorted.
    overwrites: Vec<(Ms, usize)>,
    /// The times of all overwrites, sorted.
    all_overwrite_times: Vec<Ms>,
    /// Busy bins (bursts, with or without a baseline), in time order.
    pub bursts: Vec<Burst>,
    /// Creations in the window of keys named like ransom notes, as (time, event id),
    /// sorted.
    notes: Vec<(Ms, usize)>,
    /// Per new owner (first seen in the window after enough history), its events in the
    /// window in time order.
    pub new_owner_events: Vec<(&'a str, Vec<usize>)>,
    baseline: Baseline,
}

/// Separators after which a key's tail may be a ransomware suffix.
pub(crate) const SUFFIX_STARTS: &[u8] = b".-_~[( +@!";
/// Longest suffix considered for a rename.
const MAX_SUFFIX: usize = 64;
/// A burst is measured against the bins before it (those that ended more than `gap`
/// earlier); with fewer than this many of them showing any change there is no baseline
/// (a bucket's first upload, a history of seconds) and no bin is a burst.
pub(crate) const BASELINE_BINS: usize = 3;
/// At most this many entries of an original are examined for its delete marker.
const MAX_PAIR_SCAN: usize = 64;

impl<'a> Ctx<'a> {
    pub(crate) fn new(tl: &'a Timeline, opts: &DetectOptions) -> Self {
        let (opts, scales) = super::scales::resolve(tl, opts);
        let win = (
            opts.since.map_or(Ms::MIN, |t| t.timestamp_millis()),
            opts.until.map_or(Ms::MAX, |t| t.timestamp_millis()),
        );
        let mut events = Vec::with_capacity(tl.len());
        let mut key_offset = Vec::with_capacity(tl.keys().len());
        let mut owners: Vec<(&str, Ms, bool)> = Vec::new();
        let mut owner_ids: HashMap<&str, u32> = HashMap::new();
        let mut last_owner: Option<(&str, u32)> = None;
        let mut history_start: Option<Ms> = None;
        let restored = restore_writes(tl, &opts, scales.gap_secs.max(0).saturating_mul(1000));
        let mut entry_no = 0usize;
        for (k, h) in tl.keys().iter().enumerate() {
            key_offset.push(events.len());
            for (i, v) in h.entries.iter().enumerate() {
                let change = h.change(i);
                let t = v.last_modified.timestamp_millis();
                history_start = Some(history_start.map_or(t, |s| s.min(t)));
                let owner = match v.owner_id.as_deref() {
                    None => NO_OWNER,
                    // Writers are few and come in streaks: skip the hash most of the time.
                    Some(o) if last_owner.is_some_and(|(l, _)| l == o) => {
                        last_owner.map_or(NO_OWNER, |(_, id)| id)
                    }
                    Some(o) => {
                        let id = *owner_ids.entry(o).or_insert_with(|| {
                            owners.push((o, t, false));
                            (owners.len() - 1) as u32
                        });
                        last_owner = Some((o, id));
                        id
                    }
                };
                if let Some(first) = owners.get_mut(owner as usize) {
                    first.1 = first.1.min(t);
                }
                let same_bytes = change == Change::Overwrite
                    && h.entries.get(i + 1).is_some_and(|p| {
                        !v.etag.is_empty() && p.etag == v.etag && p.size == v.size
                    });
                events.push(Event {
                    key: k,
                    idx: i,
                    t,
                    change,
                    in_window: win.0 <= t && t <= win.1 && !restored.contains(&entry_no),
                    same_bytes,
                    owner,
                });
                entry_no += 1;
            }
        }
        let mut overwrites: Vec<(Ms, usize)> = events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.in_window && e.change == Change::Overwrite)
            .map(|(id, e)| (e.t, id))
            .collect();
        overwrites.sort_unstable();
        let mut all_overwrite_times: Vec<Ms> = events
            .iter()
            .filter(|e| e.change == Change::Overwrite)
            .map(|e| e.t)
            .collect();
        all_overwrite_times.sort_unstable();
        let gap = scales.gap_secs.max(0).saturating_mul(1000);
        let needed = scales.new_writer_after_secs.max(0).saturating_mul(1000);
        let restore_writes = restored.len();
        let mut ctx = Ctx {
            restore_writes,
            tl,
            opts,
            scales,
            events,
            key_offset,
            win,
            gap,
            history_start,
            owners,
            owner_ids,
            pairs: Vec::new(),
            pair_by_created: HashMap::new(),
            paired_deletes: HashSet::new(),
            moved: HashSet::new(),
            overwrites,
            all_overwrite_times,
            bursts: Vec::new(),
            notes: Vec::new(),
            new_owner_events: Vec::new(),
            baseline: Baseline::default(),
        };
        for o in &mut ctx.owners {
            o.2 = history_start
                .is_some_and(|start| o.1 >= win.0 && o.1 >= start.saturating_add(needed));
        }
        ctx.find_pairs();
        ctx.find_moves();
        ctx.find_bursts();
        ctx.find_notes();
        ctx.index_new_owners();
        ctx
    }

    /// The entry behind an event.
    pub(crate) fn ver(&self, id: usize) -> &'a Version {
        let e = &self.events[id];
        &self.tl.keys()[e.key].entries[e.idx]
    }

    /// The entry listed right after an event's (its key's previous entry), if any.
    pub(crate) fn prev(&self, id: usize) -> Option<&'a Version> {
        let e = &self.events[id];
        self.tl.keys()[e.key].entries.get(e.idx + 1)
    }

    /// The key of an event.
    pub(crate) fn key(&self, id: usize) -> &'a str {
        &self.tl.keys()[self.events[id].key].key
    }

    /// The owner id of an event's entry.
    pub(crate) fn owner(&self, id: usize) -> Option<&'a str> {
        self.ver(id).owner_id.as_deref()
    }

    /// True for an owner first seen inside the window after enough history.
    pub(crate) fn is_new_owner(&self, owner: &str) -> bool {
        self.owner_ids
            .get(owner)
            .is_some_and(|&id| self.owners[id as usize].2)
    }

    /// When an owner first wrote.
    pub(crate) fn owner_first(&self, owner: &str) -> Option<Ms> {
        self.owner_ids
            .get(owner)
            .map(|&id| self.owners[id as usize].1)
    }

    /// The version content analysis compares an event's version with: the previous
    /// version for an overwrite, the original for a renamed copy.
    pub(crate) fn reference(&self, id: usize) -> Option<usize> {
        match self.events[id].change {
            Change::Overwrite => Some(id + 1),
            Change::Create => self
                .pair_by_created
                .get(&id)
                .map(|&p| self.pairs[p].original),
            _ => None,
        }
    }

    /// True for a delete marker that is the original's side of a rename pair.
    pub(crate) fn is_paired_delete(&self, id: usize) -> bool {
        self.paired_deletes.contains(&id)
    }

    /// True for a delete marker whose object was copied, unchanged, to a new key nearby
    /// (a move or a rename that kept the bytes).
    pub(crate) fn is_moved(&self, id: usize) -> bool {
        self.moved.contains(&id)
    }

    /// True for a rename pair whose copy has the original's ETag: the bytes were kept.
    pub(crate) fn pair_kept_bytes(&self, pair: &Pair<'_>) -> bool {
        let (new, old) = (self.ver(pair.created), self.ver(pair.original));
        !new.etag.is_empty() && new.etag == old.etag && new.size == old.size
    }

    /// The overwrites in the window within `start..=end`, as (time, event id) in time
    /// order.
    pub(crate) fn overwrites_in(&self, start: Ms, end: Ms) -> &[(Ms, usize)] {
        let lo = self.overwrites.partition_point(|&(t, _)| t < start);
        let hi = self.overwrites.partition_point(|&(t, _)| t <= end);
        &self.overwrites[lo..hi.max(lo)]
    }

    /// How many overwrites (in the window or not) happened within `start..=end`.
    pub(crate) fn overwrites_all_between(&self, start: Ms, end: Ms) -> usize {
        let lo = self.all_overwrite_times.partition_point(|&t| t < start);
        let hi = self.all_overwrite_times.partition_point(|&t| t <= end);
        hi.saturating_sub(lo)
    }

    /// Bursts with a baseline overlapping `start..=end` (the ones that are evidence).
    pub(crate) fn bursts_between(&self, start: Ms, end: Ms) -> impl Iterator<Item = &Burst> {
        let bin = self.bin_ms();
        let lo = self
            .bursts
            .partition_point(|b| b.start.saturating_add(bin) <= start);
        let hi = self.bursts.partition_point(|b| b.start <= end);
        self.bursts[lo..hi.max(lo)].iter().filter(|b| b.baseline)
    }

    pub(crate) fn bin_ms(&self) -> Ms {
        self.scales.bin_secs.max(1).saturating_mul(1000)
    }

    /// Counts for the report.
    pub(crate) fn stats(&self) -> ScanStats {
        let count = |c: Change| {
            self.events
                .iter()
                .filter(|e| e.in_window && e.change == c)
                .count()
        };
        ScanStats {
            keys: self.tl.keys().len(),
            entries: self.events.len(),
            creates: count(Change::Create),
            overwrites: count(Change::Overwrite),
            deletes: count(Change::Delete),
            restore_writes_ignored: self.restore_writes,
            ..ScanStats::default()
        }
    }

    /// What the samples covered (see [`Coverage`]).
    pub(crate) fn coverage(&self, judged: &Judged) -> Coverage {
        let mut written = 0;
        let mut written_judged = 0;
        let mut keys: HashMap<usize, bool> = HashMap::new();
        let mut times: Vec<Ms> = Vec::new();
        for (id, e) in self.events.iter().enumerate() {
            if !e.in_window {
                continue;
            }
            times.push(e.t);
            if !e.change.writes_content() {
                continue;
            }
            written += 1;
            let ok = judged.get(id).is_some_and(|v| *v != Verdict::Unknown);
            written_judged += usize::from(ok);
            *keys.entry(e.key).or_default() |= ok;
        }
        times.sort_unstable();
        let (Some(&first), Some(&last)) = (times.first(), times.last()) else {
            return Coverage::default();
        };
        // The last run of changes (no pause over `gap`), at most the last day.
        let mut from = last;
        for w in times.windows(2).rev() {
            if w[1] - w[0] > self.gap {
                break;
            }
            from = w[0];
        }
        let from = from.max(last.saturating_sub(86_400_000));
        let recent = self.overwrites_in(from, last);
        Coverage {
            judged_from: Some(to_time(first)),
            judged_to: Some(to_time(last)),
            versions_written: written,
            versions_judged: written_judged,
            keys_never_sampled: keys.values().filter(|&&ok| !ok).count(),
            keys_written: keys.len(),
            recent_from: Some(to_time(from)),
            recent_overwrites: recent.len(),
            recent_judged: recent
                .iter()
                .filter(|&&(_, id)| judged.get(id).is_some_and(|v| *v != Verdict::Unknown))
                .count(),
        }
    }

    pub(crate) fn baseline(&self) -> Baseline {
        self.baseline.clone()
    }

    /// Creations of keys named like ransom notes (see [`looks_like_note`]) within
    /// `start..=end`, as (time, event id) in time order.
    pub(crate) fn notes_between(&self, start: Ms, end: Ms) -> &[(Ms, usize)] {
        let lo = self.notes.partition_point(|&(t, _)| t < start);
        let hi = self.notes.partition_point(|&(t, _)| t <= end);
        &self.notes[lo..hi.max(lo)]
    }

    fn find_notes(&mut self) {
        let mut notes = Vec::new();
        for (k, h) in self.tl.keys().iter().enumerate() {
            if !looks_like_note(&h.key) {
                continue;
            }
            let base = self.key_offset[k];
            for (i, v) in h.entries.iter().enumerate() {
                let e = &self.events[base + i];
                if e.in_window && e.change == Change::Create && v.size <= MAX_NOTE_SIZE {
                    notes.push((e.t, base + i));
                }
            }
        }
        notes.sort_unstable();
        self.notes = notes;
    }

    /// Find `X<suffix>` creations whose original `X` got a delete marker within `gap`.
    fn find_pairs(&mut self) {
        let keys = self.tl.keys();
        let by_name: HashMap<&str, usize> = keys
            .iter()
            .enumerate()
            .map(|(i, h)| (h.key.as_str(), i))
            .collect();
        let mut pairs = Vec::new();
        for (id, e) in self.events.iter().enumerate() {
            if e.change != Change::Create {
                continue;
            }
            let name = keys[e.key].key.as_str();
            for cut in suffix_cuts(name) {
                let Some(&orig_key) = by_name.get(&name[..cut]) else {
                    continue;
                };
                if let Some((deleted_idx, original_idx)) = self.delete_near(orig_key, e.t) {
                    pairs.push(Pair {
                        created: id,
                        deleted: self.key_offset[orig_key] + deleted_idx,
                        original: self.key_offset[orig_key] + original_idx,
                        suffix: &name[cut..],
                    });
                    break;
                }
            }
        }
        self.pair_by_created = pairs
            .iter()
            .enumerate()
            .map(|(i, p)| (p.created, i))
            .collect();
        self.paired_deletes = pairs.iter().map(|p| p.deleted).collect();
        self.pairs = pairs;
    }

    /// The original a flagged key `X<suffix>` was renamed from: the first `X` (shortest
    /// suffix first) that got a delete marker over a live version within `lo..=hi`.
    /// Returns the event that key's restore has to undo from: the oldest of its entries
    /// in `lo..=hi` that was written over a live version (so the version before it is
    /// the one to bring back), leaving out overwrites before `floor`.
    pub(crate) fn renamed_original(&self, copy: usize, lo: Ms, hi: Ms, floor: Ms) -> Option<usize> {
        let keys = self.tl.keys();
        let name = keys[copy].key.as_str();
        for cut in suffix_cuts(name) {
            let Ok(k) = keys.binary_search_by(|h| h.key.as_str().cmp(&name[..cut])) else {
                continue;
            };
            let base = self.key_offset[k];
            let entries = &keys[k].entries;
            let first = entries.partition_point(|v| v.last_modified.timestamp_millis() > hi);
            let mut deleted = false;
            let mut oldest = None;
            for j in first..entries.len() {
                let t = self.events[base + j].t;
                if t < lo {
                    break;
                }
                if t > hi {
                    continue; // list order out of time order (clock skew)
                }
                let change = self.events[base + j].change;
                deleted |= change == Change::Delete;
                // Changes before `floor` (the incident's first strongly supported write)
                // are not the incident's, but the delete marker itself always is.
                if change == Change::Delete || (change == Change::Overwrite && t >= floor) {
                    oldest = Some(base + j);
                }
            }
            if deleted {
                return oldest;
            }
        }
        None
    }

    /// Find deletes whose object's ETag (and size) appeared on a newly created key within
    /// `gap`. Objects of at most `tiny_size` bytes are left out: identical tiny files are
    /// too common to prove a move.
    fn find_moves(&mut self) {
        let mut creates: HashMap<(&ETag, u64), Vec<(Ms, usize)>> = HashMap::new();
        for e in &self.events {
            if e.change != Change::Create {
                continue;
            }
            let v = &self.tl.keys()[e.key].entries[e.idx];
            if !v.etag.is_empty() && v.size > self.opts.tiny_size {
                creates
                    .entry((&v.etag, v.size))
                    .or_default()
                    .push((e.t, e.key));
            }
        }
        if creates.is_empty() {
            return;
        }
        for list in creates.values_mut() {
            list.sort_unstable();
        }
        let mut moved = HashSet::new();
        for (id, e) in self.events.iter().enumerate() {
            if e.change != Change::Delete {
                continue;
            }
            let Some(p) = self.tl.keys()[e.key].entries.get(e.idx + 1) else {
                continue;
            };
            let Some(list) = creates.get(&(&p.etag, p.size)) else {
                continue;
            };
            let lo = list.partition_point(|&(t, _)| t < e.t.saturating_sub(self.gap));
            let copied = list[lo..]
                .iter()
                .take_while(|&&(t, _)| t <= e.t.saturating_add(self.gap))
                .any(|&(_, k)| k != e.key);
            if copied {
                moved.insert(id);
            }
        }
        self.moved = moved;
    }

    /// The delete marker of `key` nearest to `t` (within `gap`) that hid a live version:
    /// (marker index, hidden version index).
    fn delete_near(&self, key: usize, t: Ms) -> Option<(usize, usize)> {
        let entries = &self.tl.keys()[key].entries;
        let hi = t.saturating_add(self.gap);
        let lo = t.saturating_sub(self.gap);
        let first = entries.partition_point(|v| v.last_modified.timestamp_millis() > hi);
        let mut best: Option<(Ms, usize)> = None;
        for (j, v) in entries.iter().enumerate().skip(first).take(MAX_PAIR_SCAN) {
            let vt = v.last_modified.timestamp_millis();
            if vt < lo {
                break;
            }
            let hides_live = entries.get(j + 1).is_some_and(|p| !p.delete_marker);
            if v.delete_marker && hides_live && vt <= hi {
                let d = (vt - t).abs();
                if best.is_none_or(|(bd, _)| d < bd) {
                    best = Some((d, j));
                }
            }
        }
        best.map(|(_, j)| (j, j + 1))
    }

    /// Count overwrites and deletes per bin; a bin is a burst when it has at least
    /// `min_keys` of them and `burst_factor` times the busiest bin that ended more than
    /// `gap` before it. It is evidence only when those earlier bins are a baseline: at
    /// least [`BASELINE_BINS`] of them saw a change of any kind. Also computes the
    /// report's baseline.
    fn find_bursts(&mut self) {
        let bin = self.bin_ms();
        // Bins with any change (creates too): how long the bucket has been seen working.
        let mut active: Vec<Ms> = self.events.iter().map(|e| e.t.div_euclid(bin)).collect();
        active.sort_unstable();
        active.dedup();
        let (lo, hi) = self.win;
        let mut times: Vec<Ms> = self
            .events
            .iter()
            // A restore's writes are not the bucket's activity (they are out of the
            // window only because they are recognised).
            .filter(|e| e.change.destructive() && (e.in_window || e.t < lo || e.t > hi))
            .map(|e| e.t)
            .collect();
        times.sort_unstable();
        let mut bins: Vec<(Ms, usize)> = Vec::new();
        for t in &times {
            let b = t.div_euclid(bin);
            match bins.last_mut() {
                Some((lb, c)) if *lb == b => *c += 1,
                _ => bins.push((b, 1)),
            }
        }
        let lag = self.gap.saturating_add(bin - 1) / bin; // whole bins within `gap`
        let mut earlier_peak = 0usize;
        let mut j = 0;
        let mut bursts = Vec::new();
        for &(b, count) in &bins {
            while j < bins.len() && bins[j].0 < b.saturating_sub(lag) {
                earlier_peak = earlier_peak.max(bins[j].1);
                j += 1;
            }
            let threshold = self.opts.burst_factor * earlier_peak.max(1) as f64;
            if count >= self.opts.min_keys && count as f64 >= threshold {
                let earlier_active = active.partition_point(|&a| a < b.saturating_sub(lag));
                bursts.push(Burst {
                    start: b.saturating_mul(bin),
                    count,
                    earlier_peak,
                    baseline: earlier_active >= BASELINE_BINS,
                });
            }
        }
        self.bursts = bursts;

        // The baseline: activity strictly before the window (all of it without a start).
        let cutoff = if self.win.0 == Ms::MIN {
            Ms::MAX
        } else {
            self.win.0
        };
        let before = times.partition_point(|&t| t < cutoff);
        let peak = bins
            .iter()
            .filter(|(b, _)| b.saturating_add(1).saturating_mul(bin) <= cutoff)
            .map(|&(_, c)| c)
            .max()
            .unwrap_or(0);
        let span_end = if cutoff == Ms::MAX {
            self.events.iter().map(|e| e.t).max()
        } else {
            Some(cutoff)
        };
        let days = match (self.history_start, span_end) {
            (Some(s), Some(e)) if e > s => (e - s) as f64 / 86_400_000.0,
            _ => 0.0,
        };
        self.baseline = Baseline {
            history_start: self.history_start.map(to_time),
            bin_secs: bin / 1000,
            changes_per_day: if days > 0.0 {
                (before as f64 / days.max(1.0) * 100.0).round() / 100.0
            } else {
                0.0
            },
            peak_per_bin: peak,
            writers: self.owners.iter().filter(|o| o.1 < cutoff).count(),
        };
    }

    fn index_new_owners(&mut self) {
        let mut by_owner: Vec<Vec<usize>> = vec![Vec::new(); self.owners.len()];
        for (id, e) in self.events.iter().enumerate() {
            if e.in_window
                && e.change != Change::DeleteAgain
                && self.owners.get(e.owner as usize).is_some_and(|o| o.2)
            {
                by_owner[e.owner as usize].push(id);
            }
        }
        let mut list: Vec<(&str, Vec<usize>)> = by_owner
            .into_iter()
            .enumerate()
            .filter(|(_, ids)| !ids.is_empty())
            .map(|(o, ids)| (self.owners[o].0, ids))
            .collect();
        list.sort_by(|a, b| a.0.cmp(b.0));
        for (_, ids) in &mut list {
            ids.sort_by_key(|&id| (self.events[id].t, id));
        }
        self.new_owner_events = list;
    }

    /// Judge every sampled version that is a change in the window.
    pub(crate) fn judge(&self, samples: &[ContentSample]) -> Judged {
        let mut judged = Judged::default();
        self.judge_more(samples, &mut judged);
        judged
    }

    /// Judge the sampled versions that `judged` has no verdict for yet (a sampler's
    /// later rounds), comparing each with its reference's sample when there is one.
    /// Returns the event id of every sample.
    pub(crate) fn judge_more(
        &self,
        samples: &[ContentSample],
        judged: &mut Judged,
    ) -> HashSet<usize> {
        let index = self.sample_index(samples);
        for (&id, sample) in &index {
            let e = &self.events[id];
            if !e.in_window || !e.change.writes_content() || judged.verdicts.contains_key(&id) {
                continue;
            }
            let reference = self
                .reference(id)
                .and_then(|r| index.get(&r))
                .map(|s| bytes_of(s));
            let v = content::judge(self.key(id), bytes_of(sample), reference);
            judged.verdicts.insert(id, v);
        }
        index.into_keys().collect()
    }

    /// The event ids that have a sample.
    pub(crate) fn sampled(&self, samples: &[ContentSample]) -> HashSet<usize> {
        self.sample_index(samples).into_keys().collect()
    }

    /// Map samples to event ids (the first sample of a version wins).
    fn sample_index<'s>(&self, samples: &'s [ContentSample]) -> HashMap<usize, &'s ContentSample> {
        let keys = self.tl.keys();
        let mut by_key: HashMap<usize, Vec<&ContentSample>> = HashMap::new();
        for s in samples {
            if let Ok(k) = keys.binary_search_by(|h| h.key.as_str().cmp(&s.key)) {
                by_key.entry(k).or_default().push(s);
            }
        }
        let mut out = HashMap::new();
        for (k, list) in by_key {
            let entries = &keys[k].entries;
            let ids: HashMap<&VersionId, usize> = entries
                .iter()
                .enumerate()
                .rev() // the first listed entry wins for repeated ids
                .map(|(i, v)| (&v.version_id, i))
                .collect();
            for s in list {
                if let Some(&i) = ids.get(&VersionId::new(&s.version_id)) {
                    out.entry(self.key_offset[k] + i).or_insert(s);
                }
            }
        }
        out
    }
}

/// Entries (numbered in timeline order: keys in order, each key's entries newest first)
/// that look like a restore's writes, s3rewind's own or anyone's: a version whose ETag
/// and size equal an *older* version of its key than the one it replaced (the bytes of
/// a past version put back), in a run of at least `min_keys` such versions no more than
/// `gap` apart; and the delete markers written within that run's span by the same
/// writers (a restore removing keys that did not exist at its target time). They are
/// left out of the judged window and of the burst counts, so that an incident is not
/// widened, or started, by the restore that undid it.
pub(crate) fn restore_writes(tl: &Timeline, opts: &DetectOptions, gap: Ms) -> HashSet<usize> {
    // (time, entry number, owner) of candidate copies, and of every delete marker.
    let mut copies: Vec<(Ms, usize, Option<&str>)> = Vec::new();
    let mut markers: Vec<(Ms, usize, Option<&str>)> = Vec::new();
    let mut n = 0usize;
    for h in tl.keys() {
        let len = h.entries.len();
        // The (ETag, size) of the entries older than the one each version replaced,
        // filled from the oldest end as the loop walks to the newest.
        let mut older: HashSet<(&ETag, u64)> = HashSet::new();
        for i in (0..len).rev() {
            if let Some(o) = h.entries.get(i + 2).filter(|o| !o.delete_marker) {
                older.insert((&o.etag, o.size));
            }
            let v = &h.entries[i];
            let t = v.last_modified.timestamp_millis();
            if v.delete_marker {
                if h.entries.get(i + 1).is_some_and(|p| !p.delete_marker) {
                    markers.push((t, n + i, v.owner_id.as_deref()));
                }
                continue;
            }
            if v.etag.is_empty() {
                continue;
            }
            let replaced_same = h
                .entries
                .get(i + 1)
                .is_some_and(|p| !p.delete_marker && p.etag == v.etag);
            if older.contains(&(&v.etag, v.size)) && !replaced_same {
                copies.push((t, n + i, v.owner_id.as_deref()));
            }
        }
        n += len;
    }
    copies.sort_unstable();
    let mut out = HashSet::new();
    let mut i = 0;
    while i < copies.len() {
        let mut j = i + 1;
        while j < copies.len() && copies[j].0 - copies[j - 1].0 <= gap {
            j += 1;
        }
        let run = &copies[i..j];
        if run.len() >= opts.min_keys.max(1) {
            let (lo, hi) = (run[0].0, run[run.len() - 1].0);
            let owners: HashSet<Option<&str>> = run.iter().map(|c| c.2).collect();
            out.extend(run.iter().map(|c| c.1));
            out.extend(
                markers
                    .iter()
                    .filter(|m| lo <= m.0 && m.0 <= hi && owners.contains(&m.2))
                    .map(|m| m.1),
            );
        }
        i = j;
    }
    out
}

/// Words that name a ransom note (`README_RESTORE_FILES.txt`, `HOW_TO_DECRYPT.txt`,
/// `README-RECOVER-FILES.txt`, `!!!_RANSOM_NOTE_!!!.txt`).
const NOTE_WORDS: &[&str] = &[
    "decrypt",
    "ransom",
    "recover",
    "restore",
    "unlock",
    "encrypted",
];
/// Extensions of ransom notes (or none).
const NOTE_EXTENSIONS: &[&str] = &["txt", "html", "htm", "hta", "md", "rtf", "url"];
/// Ransom notes are small.
const MAX_NOTE_SIZE: u64 = 64 * 1024;

/// True for a key whose last `/` segment reads like a ransom note: one of [`NOTE_WORDS`]
/// in its name, and a text extension of [`NOTE_EXTENSIONS`] or none.
pub(crate) fn looks_like_note(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    if name.starts_with('.') {
        return false; // a dotfile: configuration, not a note
    }
    let (stem, ext) = match name.rsplit_once('.') {
        Some((stem, ext)) => (stem, Some(ext)),
        None => (name.as_str(), None),
    };
    ext.is_none_or(|e| NOTE_EXTENSIONS.contains(&e)) && NOTE_WORDS.iter().any(|w| stem.contains(w))
}

/// Where a key's last `/` segment may end and a ransomware suffix begin (`x.docx` in
/// `x.docx.locked`): byte offsets after the segment's first byte at a separator, within
/// [`MAX_SUFFIX`] of the end, the shortest suffix first (`a.tar.gz` is `a.tar` before
/// `a`).
fn suffix_cuts(name: &str) -> impl Iterator<Item = usize> + '_ {
    let seg_start = name.rfind('/').map_or(0, |i| i + 1);
    let bytes = name.as_bytes();
    let lowest = seg_start.max(name.len().saturating_sub(MAX_SUFFIX));
    (lowest.max(seg_start + 1)..name.len())
        .rev()
        .filter(move |&cut| SUFFIX_STARTS.contains(&bytes[cut]) && name.is_char_boundary(cut))
}

fn bytes_of(s: &ContentSample) -> Bytes<'_> {
    Bytes {
        head: &s.head[..s.head.len().min(super::SAMPLE_BYTES)],
        content_type: s.content_type.as_deref(),
        validator_ok: s.validator_ok,
    }
}

/// Content verdicts by event id.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    verdicts: HashMap<usize, Verdict>,
}

impl Judged {
    pub(crate) fn get(&self, id: usize) -> Option<&Verdict> {
        self.verdicts.get(&id)
    }

    /// Verdicts that say anything (not [`Verdict::Unknown`]).
    pub(crate) fn judged(&self) -> usize {
        self.verdicts
            .values()
            .filter(|v| **v != Verdict::Unknown)
            .count()
    }

    pub(crate) fn bad(&self) -> usize {
        self.verdicts.values().filter(|v| v.is_bad()).count()
    }

    /// Bad verdicts, sorted by event id.
    pub(crate) fn bad_ids(&self) -> Vec<usize> {
        let mut ids: Vec<usize> = self
            .verdicts
            .iter()
            .filter(|(_, v)| v.is_bad())
            .map(|(&id, _)| id)
            .collect();
        ids.sort_unstable();
        ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ransom_note_names() {
        for k in [
            "README_RESTORE_FILES.txt",
            "docs/HOW_TO_DECRYPT.txt",
            "a/b/README-RECOVER-FILES.html",
            "!!!_RANSOM_!!!",
            "YOUR_FILES_ARE_ENCRYPTED.TXT",
            "unlock-files.hta",
        ] {
            assert!(looks_like_note(k), "{k}");
        }
        for k in [
            "README.md",
            "docs/restore.pdf",
            "backups/restore-2026.tar.gz",
            "recover/data.txt",
            "notes/how_to_use.txt",
            ".restore",
        ] {
            assert!(!looks_like_note(k), "{k}");
        }
    }

    #[test]
    fn suffix_cuts_shortest_suffix_first_within_the_last_segment() {
        let name = "dir.x/a.tar.gz.locked";
        let cuts: Vec<&str> = suffix_cuts(name).map(|c| &name[..c]).collect();
        assert_eq!(cuts, ["dir.x/a.tar.gz", "dir.x/a.tar", "dir.x/a"]);
        assert_eq!(suffix_cuts(".hidden").count(), 0);
    }
}
