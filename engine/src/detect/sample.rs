//! Which versions are worth a ranged GET: a budget split so that noise cannot spend it,
//! read in rounds, and what the reads rule out (see [`Sampler`]).

use super::analysis::{Change, Ctx, Judged, Ms};
use super::content::{Verdict, extension, type_for_extension};
use super::guarantee::{self, Guarantee, Terms};
use super::{ContentSample, DetectOptions, ScanReport, incident, signals};
use crate::timeline::Timeline;
use std::collections::{BTreeSet, HashMap, HashSet};

/// Share of a budget read uniformly over the strata (time bins × writers).
const UNIFORM_SHARE: f64 = 0.45;
/// Share of a budget for the newest versions written.
const NEWEST_SHARE: f64 = 0.10;
/// Share of a budget for versions metadata finds suspicious.
const SUSPICION_SHARE: f64 = 0.25;
// The rest (20%) is the reserve: reads around damaged samples, then more uniform reads.

/// A damage share below this is not chased around a damaged sample.
const MIN_CHASED_SHARE: f64 = 0.05;
/// Reads of a first batch around a damaged sample.
const FIRST_BATCH: usize = 8;
/// Uniform top-ups once the reserve is not needed around damaged samples.
const MAX_TOP_UPS: usize = 4;
/// A safety net: the rounds end here whatever is left.
const MAX_ROUNDS: usize = 64;

/// How much content a [`Sampler`] may read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Budget {
    /// At most this many ranged GETs (`--sample N`; the CLI's default is 1,000), split
    /// into the shares described on [`Sampler`]; 0 reads nothing.
    Reads(usize),
    /// As many reads as it takes for the uniform share to rule out an incident that
    /// damaged this many objects within one window of the gap, with the options'
    /// [`confidence`](DetectOptions::confidence) (`--min-damage N`).
    RuleOut(u64),
    /// Every version written in the window, and the version each replaced (`--deep`).
    Deep,
}

/// One stratum: the versions one writer wrote in one time bin.
#[derive(Debug)]
struct Cell {
    /// Event ids in a fixed pseudo-random order (a hash of key and version id).
    ids: Vec<usize>,
    /// The uniform draws are `ids[..drawn]`.
    drawn: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    First,
    Adapting,
    Done,
}

/// Plans the content reads of a scan, round by round, and states what they rule out.
///
/// The budget ([`Budget::Reads`]) is split so that no kind of evidence can spend it all:
///
/// - **uniform** (45%): the window's versions are stratified by time bin (the history's
///   burst bin, doubled until there are at most half as many non-empty strata as this
///   share has reads) and writer; every stratum gets reads in proportion to the versions
///   written there, at least one, each a prefix of the stratum in a fixed pseudo-random
///   order. This share is what [`Guarantee`] is derived from;
/// - **newest** (10%): the newest versions written, newest first (an attack is most often
///   the most recent thing);
/// - **suspicion** (25%): versions metadata points at: first those of incidents metadata
///   alone reports (taken in turn, so that each gets a few reads), then those of weaker
///   signals, then of burst bins, new writers, storage class changes, size changes of
///   4× or more, and renamed copies. Size patterns on ordinary edits can fill this share,
///   never more;
/// - **reserve** (20%): later rounds. Around every run of damaged samples (damaged
///   samples at most a gap apart) more versions are read, next in the strata's order,
///   until the run has [`min_content_keys`](DetectOptions::min_content_keys) damaged
///   keys; and a sequential search reads the bin before its first damaged sample and
///   the bin after its last one until a damaged one turns up (the search moves on) or
///   enough healthy ones say the bin is clean: `ln(1/δ)/p` of them, `p` half the damaged
///   share seen around the run (at least 5%). The incident's first and last damaged
///   writes are then found to the bin. What the reserve does not need goes to more
///   uniform reads, in up to four top-ups.
///
/// Each read brings the version it is compared with (the previous version, or a renamed
/// copy's original) only when the key's extension does not say what its bytes should be.
///
/// [`Budget::RuleOut`] sizes the budget so that the uniform share alone reaches the rate
/// needed; [`Budget::Deep`], and any budget that covers as much, reads every version
/// written in the window and each one's predecessor in one round.
///
/// ```
/// use s3rewind_engine::detect::{Budget, DetectOptions, Sampler};
/// use s3rewind_testkit::scenarios;
///
/// let s = scenarios::by_name("encrypt-same-size").unwrap();
/// let timeline = s.timeline();
/// let mut sampler = Sampler::new(&timeline, &DetectOptions::default(), Budget::Reads(200));
/// let mut samples = Vec::new();
/// loop {
///     let wanted = sampler.next(&samples);
///     if wanted.is_empty() {
///         break;
///     }
///     samples.extend(scenarios::samples_for(&s.bucket, &wanted));
/// }
/// assert!(samples.len() <= 200);
/// let report = sampler.finish(&samples);
/// assert!(report.found());
/// assert!(report.guarantee.is_some());
/// ```
pub struct Sampler<'a> {
    ctx: Ctx<'a>,
    deep: bool,
    /// Reads allowed in total.
    limit: usize,
    /// The window's versions (creates and overwrites), in time order.
    written: Vec<usize>,
    /// Position of each written version in its stratum: (cell, index).
    place: HashMap<usize, (usize, usize)>,
    cells: Vec<Cell>,
    /// Width of a stratum's bin (ms).
    stratum: Ms,
    /// Every event requested so far (versions and references).
    requested: HashSet<usize>,
    /// Verdicts so far.
    judged: Judged,
    stage: Stage,
    rounds: usize,
    top_ups: usize,
}

impl<'a> Sampler<'a> {
    /// Plan the reads of a scan of `timeline` with `options` within `budget`.
    pub fn new(timeline: &'a Timeline, options: &DetectOptions, budget: Budget) -> Self {
        let ctx = Ctx::new(timeline, options);
        let mut written: Vec<usize> = ctx
            .events
            .iter()
            .enumerate()
            .filter(|(_, e)| e.in_window && e.change.writes_content())
            .map(|(id, _)| id)
            .collect();
        written.sort_by_key(|&id| (ctx.events[id].t, id));
        let mut s = Sampler {
            deep: budget == Budget::Deep,
            limit: 0,
            written,
            place: HashMap::new(),
            cells: Vec::new(),
            stratum: ctx.bin_ms(),
            requested: HashSet::new(),
            judged: Judged::default(),
            stage: Stage::First,
            rounds: 0,
            top_ups: 0,
            ctx,
        };
        s.limit = match budget {
            Budget::Reads(n) => n,
            Budget::Deep => usize::MAX,
            Budget::RuleOut(d) => s.reads_to_rule_out(d),
        };
        // A budget that covers every version written (and its predecessor) reads them all.
        let all = s.deep_reads();
        if s.deep || (s.limit > 0 && s.limit >= all) {
            s.deep = true;
            s.limit = all;
        }
        if !s.deep {
            let uniform = (s.limit as f64 * UNIFORM_SHARE) as usize;
            s.stratify(uniform);
        }
        s
    }

    /// The most content reads this sampler will make (for [`Budget::Deep`], or a budget
    /// that covers every version written, the reads of reading them all).
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Damage within a window this long is one incident (the gap), seconds: the window
    /// of the [`Guarantee`].
    pub fn window_secs(&self) -> i64 {
        self.ctx.gap / 1000
    }

    /// Versions written in the window: the population it samples.
    pub fn versions_written(&self) -> usize {
        self.written.len()
    }

    /// The next round of reads, as `(key, version id)` pairs sorted by key and list
    /// order, given every sample gathered so far (a pair that was asked for and has no
    /// sample could not be read; it is not asked for again). Empty when the sampler is
    /// done.
    pub fn next(&mut self, samples: &[ContentSample]) -> Vec<(String, String)> {
        self.ctx.judge_more(samples, &mut self.judged);
        let before: HashSet<usize> = self.requested.clone();
        match self.stage {
            Stage::Done => return Vec::new(),
            Stage::First => {
                self.stage = Stage::Adapting;
                if self.deep {
                    for &id in &self.written.clone() {
                        self.requested.insert(id);
                        if let Some(r) = self.ctx.reference(id) {
                            self.requested.insert(r);
                        }
                    }
                    self.stage = Stage::Done;
                } else {
                    self.first_round();
                }
            }
            Stage::Adapting => {
                self.rounds += 1;
                if self.rounds > MAX_ROUNDS || !self.adapt() {
                    self.stage = Stage::Done;
                }
            }
        }
        let new = self.pairs(
            self.requested
                .iter()
                .copied()
                .filter(|id| !before.contains(id)),
        );
        if new.is_empty() {
            self.stage = Stage::Done;
        }
        new
    }

    /// `(key, version id)` pairs of events, sorted by key and list order.
    fn pairs(&self, ids: impl Iterator<Item = usize>) -> Vec<(String, String)> {
        let mut at: Vec<(usize, usize)> = ids
            .map(|id| (self.ctx.events[id].key, self.ctx.events[id].idx))
            .collect();
        at.sort_unstable();
        at.dedup();
        let keys = self.ctx.tl.keys();
        at.into_iter()
            .map(|(k, i)| {
                (
                    keys[k].key.clone(),
                    keys[k].entries[i].version_id.to_string(),
                )
            })
            .collect()
    }

    /// Judge everything read and state what the reads rule out: the report of
    /// [`detect`](super::detect) with its [`guarantee`](ScanReport::guarantee).
    pub fn finish(&self, samples: &[ContentSample]) -> ScanReport {
        let mut report = super::detect_in(&self.ctx, samples);
        report.guarantee = Some(self.guarantee(samples));
        report
    }

    /// What the reads rule out (see [`Guarantee`]).
    pub fn guarantee(&self, samples: &[ContentSample]) -> Guarantee {
        let got = self.ctx.sampled(samples);
        let obtained = |id: usize| {
            got.contains(&id)
                && (!self.needs_reference(id)
                    || self.ctx.reference(id).is_none_or(|r| got.contains(&r)))
        };
        let (rate, uniform_reads) = if self.deep {
            let read = self.written.iter().filter(|&&id| obtained(id)).count();
            let rate = if read == self.written.len() { 1.0 } else { 0.0 };
            (rate, read)
        } else {
            let mut rate: f64 = if self.cells.is_empty() { 0.0 } else { 1.0 };
            let mut reads = 0;
            for c in &self.cells {
                let r = c.ids[..c.drawn].iter().filter(|&&id| obtained(id)).count();
                reads += r;
                rate = rate.min(r as f64 / c.ids.len() as f64);
            }
            (rate, reads)
        };
        let opts = &self.ctx.opts;
        let m = opts.min_content_keys.max(1) as u64;
        let delta = 1.0 - opts.confidence.clamp(0.0, 1.0);
        let min_damaged = if self.deep && rate >= 1.0 {
            Some(m)
        } else {
            guarantee::fewest_ruled_out(m, rate, delta)
        };
        // Newest: the longest run of the newest versions that were all read.
        let count = self
            .written
            .iter()
            .rev()
            .take_while(|&&id| obtained(id))
            .count();
        let newest =
            (count > 0).then(|| self.ctx.events[self.written[self.written.len() - count]].t);
        Terms {
            confidence: 1.0 - delta,
            window: self.ctx.gap,
            min_damaged,
            rate,
            uniform_reads,
            versions_written: self.written.len(),
            strata: self.cells.len(),
            stratum: self.stratum,
            newest: newest.filter(|_| count > 0).map(|t| (t, count)),
            deep: self.deep,
            content_too_weak: opts.min_score > 0.6,
            busiest_window: self.busiest_window(),
        }
        .into_guarantee()
    }

    /// The most distinct keys written within any window of the gap.
    fn busiest_window(&self) -> usize {
        let mut best = 0;
        let mut lo = 0;
        let mut keys: HashMap<usize, usize> = HashMap::new();
        for hi in 0..self.written.len() {
            let e = self.ctx.events[self.written[hi]];
            *keys.entry(e.key).or_default() += 1;
            while e.t - self.ctx.events[self.written[lo]].t > self.ctx.gap {
                let k = self.ctx.events[self.written[lo]].key;
                if let Some(n) = keys.get_mut(&k) {
                    *n -= 1;
                    if *n == 0 {
                        keys.remove(&k);
                    }
                }
                lo += 1;
            }
            best = best.max(keys.len());
        }
        best
    }

    /// True when judging `id` needs the version it is compared with: its key's extension
    /// does not say what its bytes should be.
    fn needs_reference(&self, id: usize) -> bool {
        extension(self.ctx.key(id))
            .and_then(|e| type_for_extension(&e))
            .is_none()
    }

    /// Reads that requesting `id` would add.
    fn cost(&self, id: usize) -> usize {
        let own = usize::from(!self.requested.contains(&id));
        let reference = if self.needs_reference(id) {
            self.ctx
                .reference(id)
                .map_or(0, |r| usize::from(!self.requested.contains(&r)))
        } else {
            0
        };
        own + reference
    }

    fn spent(&self) -> usize {
        self.requested.len()
    }

    /// Request `id` (and its reference when needed) if it fits in `room`; returns the
    /// reads added.
    fn take(&mut self, id: usize, room: usize) -> usize {
        let c = self.cost(id);
        if c == 0 || c > room {
            return 0;
        }
        self.requested.insert(id);
        if self.needs_reference(id)
            && let Some(r) = self.ctx.reference(id)
        {
            self.requested.insert(r);
        }
        c
    }

    /// Group the written versions into strata: time bins of the burst bin doubled until
    /// there are at most `max(8, uniform / 2)` non-empty (bin, writer) cells.
    fn stratify(&mut self, uniform: usize) {
        let target = (uniform / 2).max(8);
        let mut width = self.ctx.bin_ms().max(1000);
        let span = self
            .written
            .last()
            .map_or(0, |&id| self.ctx.events[id].t)
            .saturating_sub(self.written.first().map_or(0, |&id| self.ctx.events[id].t));
        loop {
            let mut seen: HashSet<(Ms, u32)> = HashSet::new();
            for &id in &self.written {
                let e = &self.ctx.events[id];
                seen.insert((e.t.div_euclid(width), e.owner));
            }
            if seen.len() <= target || width > span {
                break;
            }
            width = width.saturating_mul(2);
        }
        self.stratum = width;
        let mut cells: HashMap<(Ms, u32), Vec<usize>> = HashMap::new();
        for &id in &self.written {
            let e = &self.ctx.events[id];
            cells
                .entry((e.t.div_euclid(width), e.owner))
                .or_default()
                .push(id);
        }
        let mut cells: Vec<((Ms, u32), Vec<usize>)> = cells.into_iter().collect();
        cells.sort_unstable_by_key(|(k, _)| *k);
        for (c, (_, mut ids)) in cells.into_iter().enumerate() {
            ids.sort_by_cached_key(|&id| (self.spread(id), id));
            for (i, &id) in ids.iter().enumerate() {
                self.place.insert(id, (c, i));
            }
            self.cells.push(Cell { ids, drawn: 0 });
        }
    }

    fn spread(&self, id: usize) -> u64 {
        spread(self.ctx.key(id), &self.ctx.ver(id).version_id.as_str())
    }

    /// The uniform draws each cell would have at `rate` (at least what it has).
    fn target(cell: &Cell, rate: f64) -> usize {
        let want = (rate * cell.ids.len() as f64).ceil() as usize;
        want.clamp(cell.drawn, cell.ids.len())
    }

    /// Reads that raising every cell to `rate` would add, stopping past `cap`.
    fn uniform_cost(&self, rate: f64, cap: usize) -> usize {
        let mut total = 0;
        for c in &self.cells {
            for &id in &c.ids[c.drawn..Self::target(c, rate)] {
                total += self.cost(id);
                if total > cap {
                    return total;
                }
            }
        }
        total
    }

    /// Spend up to `reads` on uniform draws: the highest common rate that fits (every
    /// non-empty cell gets at least one draw when that fits; otherwise the biggest cells
    /// get theirs first). Returns the reads spent.
    fn draw_uniform(&mut self, reads: usize) -> usize {
        if reads == 0 || self.cells.is_empty() {
            return 0;
        }
        let (mut lo, mut hi) = (0.0f64, 1.0f64);
        if self.uniform_cost(1.0, reads) <= reads {
            lo = 1.0;
        } else {
            for _ in 0..50 {
                let mid = (lo + hi) / 2.0;
                if self.uniform_cost(mid, reads) <= reads {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
        }
        let mut spent = 0;
        if lo > 0.0 {
            for c in 0..self.cells.len() {
                let k = Self::target(&self.cells[c], lo);
                for i in self.cells[c].drawn..k {
                    let id = self.cells[c].ids[i];
                    spent += self.take(id, reads - spent);
                }
                self.cells[c].drawn = k;
            }
        }
        // Floors that the common rate could not give: the biggest unread cells first.
        let mut unread: Vec<usize> = (0..self.cells.len())
            .filter(|&c| self.cells[c].drawn == 0)
            .collect();
        unread.sort_by_key(|&c| std::cmp::Reverse(self.cells[c].ids.len()));
        for c in unread {
            let id = self.cells[c].ids[0];
            let room = reads.saturating_sub(spent);
            if self.requested.contains(&id) {
                self.cells[c].drawn = 1;
                continue;
            }
            let got = self.take(id, room);
            if got > 0 {
                spent += got;
                self.cells[c].drawn = 1;
            }
        }
        spent
    }

    /// The first round: the newest versions, the suspicious ones, then the uniform share
    /// (which gets what the other two left, up to the reserve).
    fn first_round(&mut self) {
        if self.limit == 0 {
            return;
        }
        let newest = (self.limit as f64 * NEWEST_SHARE) as usize;
        let suspicion = (self.limit as f64 * SUSPICION_SHARE) as usize;
        let reserve = self.limit
            - (self.limit as f64 * (UNIFORM_SHARE + NEWEST_SHARE + SUSPICION_SHARE)) as usize;
        let mut spent = 0;
        let mut order: Vec<usize> = self.written.clone();
        order.reverse();
        for id in order {
            if spent >= newest {
                break;
            }
            spent += self.take(id, newest - spent);
        }
        let mut used = 0;
        for id in self.suspicious() {
            if used >= suspicion {
                break;
            }
            used += self.take(id, suspicion - used);
        }
        let room = self
            .limit
            .saturating_sub(reserve)
            .saturating_sub(self.spent());
        self.draw_uniform(room);
    }

    /// Versions metadata points at, most suspicious first (see [`Sampler`]).
    fn suspicious(&self) -> Vec<usize> {
        suspicion_order(&self.ctx, false)
    }

    /// One adaptive round: reads around runs of damaged samples, or a uniform top-up.
    /// False when there is nothing left to do.
    fn adapt(&mut self) -> bool {
        let room = self.limit.saturating_sub(self.spent());
        if room == 0 {
            return false;
        }
        let mut wanted: Vec<usize> = Vec::new();
        for run in self.runs() {
            wanted.extend(self.around(&run));
        }
        let mut spent = 0;
        let mut seen = HashSet::new();
        for id in wanted {
            if spent >= room {
                break;
            }
            if seen.insert(id) {
                spent += self.take(id, room - spent);
            }
        }
        if spent > 0 {
            return true;
        }
        if self.top_ups >= MAX_TOP_UPS {
            return false;
        }
        self.top_ups += 1;
        // Keep a quarter for what the top-up finds, unless little is left.
        let give = if room < 32 { room } else { room - room / 4 };
        self.draw_uniform(give) > 0
    }

    /// Runs of damaged samples: in-window versions judged damaged, split where two are
    /// more than the gap apart. Each run is (its damaged event ids in time order).
    fn runs(&self) -> Vec<Vec<usize>> {
        let mut bad: Vec<(Ms, usize)> = self
            .judged
            .bad_ids()
            .into_iter()
            .filter(|&id| {
                matches!(
                    self.ctx.events[id].change,
                    Change::Create | Change::Overwrite
                )
            })
            .map(|id| (self.ctx.events[id].t, id))
            .collect();
        bad.sort_unstable();
        let mut runs: Vec<Vec<usize>> = Vec::new();
        let mut last = Ms::MIN;
        for (t, id) in bad {
            match runs.last_mut() {
                Some(r) if t - last <= self.ctx.gap => r.push(id),
                _ => runs.push(vec![id]),
            }
            last = t;
        }
        runs
    }

    /// Written versions within `lo..=hi` (ms), in time order.
    fn written_between(&self, lo: Ms, hi: Ms) -> &[usize] {
        let a = self
            .written
            .partition_point(|&id| self.ctx.events[id].t < lo);
        let b = self
            .written
            .partition_point(|&id| self.ctx.events[id].t <= hi);
        &self.written[a..b.max(a)]
    }

    /// Unrequested written versions within `lo..=hi`, in the strata's order (so that
    /// reads of a bin stay a fair sample of it), at most `n`.
    fn next_unread(&self, lo: Ms, hi: Ms, n: usize) -> Vec<usize> {
        let mut ids: Vec<(usize, usize)> = self
            .written_between(lo, hi)
            .iter()
            .filter(|id| !self.requested.contains(id))
            .map(|&id| (self.place.get(&id).map_or(0, |p| p.1), id))
            .collect();
        ids.sort_unstable();
        ids.into_iter().take(n).map(|(_, id)| id).collect()
    }

    /// Healthy and damaged verdicts within `lo..=hi`.
    fn verdicts_between(&self, lo: Ms, hi: Ms) -> (usize, usize) {
        let mut good = 0;
        let mut bad = 0;
        for &id in self.written_between(lo, hi) {
            match self.judged.get(id) {
                Some(Verdict::Good) => good += 1,
                Some(v) if v.is_bad() => bad += 1,
                _ => {}
            }
        }
        (good, bad)
    }

    /// What to read next around one run: more of its neighbourhood while it has fewer
    /// than `min_content_keys` damaged keys, and the bins before its first and after its
    /// last damaged sample until they look clean.
    fn around(&self, run: &[usize]) -> Vec<usize> {
        let ev = |id: usize| self.ctx.events[id];
        let (first, last) = (ev(run[0]).t, ev(run[run.len() - 1]).t);
        let bin = self.ctx.bin_ms();
        let gap = self.ctx.gap;
        let delta = (1.0 - self.ctx.opts.confidence).clamp(1e-6, 0.5);
        // The damaged share among the run's own reads (dense until shown otherwise).
        let (good, bad) = self.verdicts_between(first, last);
        let share = if good + bad < 4 {
            1.0
        } else {
            bad as f64 / (good + bad) as f64
        };
        let p = (share / 2.0).clamp(MIN_CHASED_SHARE, 1.0);
        let clean_enough = ((1.0 / delta).ln() / p).ceil() as usize;
        let mut out = Vec::new();
        let keys: BTreeSet<usize> = run.iter().map(|&id| ev(id).key).collect();
        let m = self.ctx.opts.min_content_keys.max(1);
        if keys.len() < m {
            let (lo, hi) = (first.saturating_sub(gap), last.saturating_add(gap));
            let (good, _) = self.verdicts_between(lo, hi);
            if good < clean_enough * m {
                let n = (FIRST_BATCH * (m - keys.len())).max(good / 2);
                out.extend(self.next_unread(lo, hi, n));
            }
        }
        // The bin before the first damaged sample (and the rest of its own bin), and the
        // bin after the last one.
        let before = (first.div_euclid(bin) - 1).saturating_mul(bin);
        let (good, _) = self.verdicts_between(before, first - 1);
        if good < clean_enough {
            out.extend(self.next_unread(before, first - 1, clean_enough - good));
        }
        let after = (last.div_euclid(bin) + 2).saturating_mul(bin) - 1;
        let (good, _) = self.verdicts_between(last + 1, after);
        if good < clean_enough {
            out.extend(self.next_unread(last + 1, after, clean_enough - good));
        }
        out
    }

    /// The reads a [`Budget::RuleOut`] of `d` damaged objects needs: the uniform share
    /// must reach the rate at which `d` are found with the options' confidence.
    fn reads_to_rule_out(&mut self, d: u64) -> usize {
        let m = self.ctx.opts.min_content_keys.max(1) as u64;
        let delta = 1.0 - self.ctx.opts.confidence.clamp(0.0, 1.0);
        let deep_reads = self.deep_reads();
        let Some(rate) = guarantee::rate_needed(d.max(m), m, delta) else {
            return deep_reads;
        };
        // The strata depend on the budget: try budgets until the uniform share reaches
        // the rate (a few rounds; the answer is never above reading everything).
        let mut limit = ((self.written.len() as f64 * rate) / UNIFORM_SHARE).ceil() as usize;
        for _ in 0..8 {
            limit = limit.clamp(1, deep_reads.max(1));
            let uniform = (limit as f64 * UNIFORM_SHARE) as usize;
            self.cells.clear();
            self.place.clear();
            self.stratify(uniform);
            let cost = self.uniform_cost(rate, usize::MAX);
            let floors = self.cells.len();
            if cost <= uniform && floors <= uniform {
                break;
            }
            if limit >= deep_reads {
                break;
            }
            limit = ((cost.max(floors) as f64) / UNIFORM_SHARE).ceil() as usize + 1;
        }
        self.cells.clear();
        self.place.clear();
        limit.min(deep_reads.max(1))
    }

    /// Reads that [`Budget::Deep`] would make: every version written, and each one's
    /// reference that is not itself one of them (a version has one successor, so these
    /// rarely repeat; a repeat only makes the count an upper bound).
    fn deep_reads(&self) -> usize {
        let outside = self
            .written
            .iter()
            .filter_map(|&id| self.ctx.reference(id))
            .filter(|&r| {
                let e = &self.ctx.events[r];
                !(e.in_window && e.change.writes_content())
            })
            .count();
        self.written.len() + outside
    }
}

/// Every version worth reading by suspicion, most suspicious first: the versions of
/// incidents metadata alone reports (in turn), of other metadata signals, then of burst
/// bins, new writers, storage class changes, size changes of 4× or more and renamed
/// copies (unless the copy has the original's ETag); with `all`, every other version
/// written in the window last. Within a tier the order is a fixed pseudo-random one.
fn suspicion_order(ctx: &Ctx<'_>, all: bool) -> Vec<usize> {
    // event id -> (tier, turn within its group)
    let mut rank: HashMap<usize, (u8, usize)> = HashMap::new();
    let offer = |rank: &mut HashMap<usize, (u8, usize)>, id: usize, tier: u8, turn: usize| {
        if ctx.events[id].in_window && ctx.events[id].change.writes_content() {
            rank.entry(id)
                .and_modify(|old| *old = (*old).min((tier, turn)))
                .or_insert((tier, turn));
        }
    };
    let by_hash = |ids: &mut Vec<usize>| {
        ids.sort_by_cached_key(|&id| (spread(ctx.key(id), &ctx.ver(id).version_id.as_str()), id));
    };
    let found = signals::metadata(ctx);
    for s in &found {
        let mut ids: Vec<usize> = s.events.iter().map(|&(id, _)| id).collect();
        by_hash(&mut ids);
        for (turn, id) in ids.into_iter().enumerate() {
            offer(&mut rank, id, 1, turn);
        }
    }
    for a in incident::assemble_with_events(ctx, &Judged::default(), found) {
        let mut ids = a.events;
        by_hash(&mut ids);
        for (turn, id) in ids.into_iter().enumerate() {
            offer(&mut rank, id, 0, turn);
        }
    }
    let mut written: Vec<(i64, usize)> = ctx
        .events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.in_window && e.change.writes_content())
        .map(|(id, e)| (e.t, id))
        .collect();
    written.sort_unstable();
    for b in &ctx.bursts {
        let end = b.start.saturating_add(ctx.bin_ms());
        let lo = written.partition_point(|&(t, _)| t < b.start);
        let hi = written.partition_point(|&(t, _)| t < end);
        for &(_, id) in &written[lo..hi.max(lo)] {
            offer(&mut rank, id, 2, 0);
        }
    }
    for (_, ids) in &ctx.new_owner_events {
        for &id in ids {
            offer(&mut rank, id, 2, 0);
        }
    }
    for p in ctx.pairs.iter().filter(|p| !ctx.pair_kept_bytes(p)) {
        offer(&mut rank, p.created, 2, 0);
    }
    for (id, e) in ctx.events.iter().enumerate() {
        if e.in_window && e.change == Change::Overwrite {
            let v = ctx.ver(id);
            if let Some(p) = ctx.prev(id) {
                let class_change =
                    matches!((&v.storage_class, &p.storage_class), (Some(a), Some(b)) if a != b);
                let big = v.size >= p.size.saturating_mul(4) || p.size >= v.size.saturating_mul(4);
                if class_change || big {
                    offer(&mut rank, id, 2, 0);
                }
            }
        }
        if all {
            offer(&mut rank, id, 3, 0);
        }
    }
    let mut order: Vec<((u8, usize), u64, usize)> = rank
        .into_iter()
        .map(|(id, r)| (r, spread(ctx.key(id), &ctx.ver(id).version_id.as_str()), id))
        .collect();
    order.sort_unstable();
    order.into_iter().map(|(_, _, id)| id).collect()
}

/// Which versions to sample in one go, as `(key, version id)` pairs sorted by key and
/// then in list order (newest first): the first round of a [`Sampler`], without its
/// later rounds (the CLI reads in rounds; this is for callers that read once).
///
/// - `deep` (`--deep`) without a limit: every version written in the window, and the
///   version each replaced (or a renamed copy's original);
/// - `limit` `Some(n)` (with or without `deep`): the first round of
///   [`Budget::Reads`]`(n)`, with the reserve spent on the uniform share: at most `n`
///   pairs;
/// - `None`: every version metadata finds suspicious (the suspicion share without a cap)
///   and the version each is compared with.
pub fn sample_plan(
    timeline: &Timeline,
    options: &DetectOptions,
    limit: Option<usize>,
    deep: bool,
) -> Vec<(String, String)> {
    if deep && limit.is_none() {
        let mut s = Sampler::new(timeline, options, Budget::Deep);
        return s.next(&[]);
    }
    match limit {
        Some(n) => {
            let mut s = Sampler::new(timeline, options, Budget::Reads(n));
            if s.deep {
                return s.next(&[]);
            }
            s.first_round();
            // No later rounds: what the reserve would have read goes to the uniform share.
            s.draw_uniform(n.saturating_sub(s.spent()));
            s.pairs(s.requested.iter().copied())
        }
        None => {
            let ctx = Ctx::new(timeline, options);
            let mut chosen: BTreeSet<(usize, usize)> = BTreeSet::new();
            for id in suspicion_order(&ctx, false) {
                let e = ctx.events[id];
                chosen.insert((e.key, e.idx));
                if let Some(r) = ctx.reference(id) {
                    let re = ctx.events[r];
                    chosen.insert((re.key, re.idx));
                }
            }
            chosen
                .into_iter()
                .map(|(k, i)| {
                    let h = &timeline.keys()[k];
                    (h.key.clone(), h.entries[i].version_id.to_string())
                })
                .collect()
        }
    }
}

/// Scan `timeline` the way the CLI does: read in rounds with a [`Sampler`] (`fetch`
/// returns the samples it could read of the pairs asked for), then judge everything.
pub fn scan(
    timeline: &Timeline,
    options: &DetectOptions,
    budget: Budget,
    mut fetch: impl FnMut(&[(String, String)]) -> Vec<ContentSample>,
) -> ScanReport {
    let mut sampler = Sampler::new(timeline, options, budget);
    let mut samples = Vec::new();
    loop {
        let wanted = sampler.next(&samples);
        if wanted.is_empty() {
            break;
        }
        samples.extend(fetch(&wanted));
    }
    sampler.finish(&samples)
}

/// A fixed pseudo-random rank (FNV-1a of key and version id).
fn spread(key: &str, version_id: &str) -> u64 {
    crate::hash::fnv1a(key.bytes().chain([0u8]).chain(version_id.bytes()))
}
