//! Incidents: signals merged by time, widened to the writers and size changes they
//! share, scored, and turned into affected keys with their last good versions. The
//! method and every weight are described in the [module docs](super).

use super::analysis::{Change, Ctx, Judged, Ms, to_time};
use super::content::Verdict;
use super::signals::{Family, Signal, fmt_bin_start, fmt_duration, fmt_t, verdict_kind};
use super::{AffectedKey, Confidence, DamageKind, Incident};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// An incident with the event ids it is made of (the sample plan reads them).
pub(crate) struct Assembled {
    pub incident: Incident,
    pub events: Vec<usize>,
}

/// Merge signals into incidents and keep those that score high enough.
pub(crate) fn assemble(ctx: &Ctx<'_>, judged: &Judged, signals: Vec<Signal>) -> Vec<Incident> {
    assemble_with_events(ctx, judged, signals)
        .into_iter()
        .map(|a| a.incident)
        .collect()
}

pub(crate) fn assemble_with_events(
    ctx: &Ctx<'_>,
    judged: &Judged,
    mut signals: Vec<Signal>,
) -> Vec<Assembled> {
    signals.retain(|s| !s.events.is_empty());
    signals.sort_by(|a, b| {
        (a.start, a.end, a.family)
            .cmp(&(b.start, b.end, b.family))
            .then_with(|| a.evidence.cmp(&b.evidence))
    });
    let mut groups: Vec<Vec<Signal>> = Vec::new();
    let mut group_end = Ms::MIN;
    for s in signals {
        match groups.last_mut() {
            Some(g) if s.start <= group_end.saturating_add(ctx.gap) => {
                group_end = group_end.max(s.end);
                g.push(s);
            }
            _ => {
                group_end = s.end;
                groups.push(vec![s]);
            }
        }
    }
    let mut out: Vec<Assembled> = groups
        .into_iter()
        .filter_map(|g| incident_of(ctx, judged, g))
        .collect();
    out.sort_by_key(|a| (a.incident.start, a.incident.end));
    for (i, a) in out.iter_mut().enumerate() {
        a.incident.id = i + 1;
    }
    out
}

/// Strong evidence: damaged content, rename-and-delete pairs, mass deletion, truncation
/// to (almost) nothing. An incident with any starts at its earliest strongly supported
/// write; the other (weak) metadata signals add to its score but never move its start
/// earlier.
pub(crate) fn is_strong(family: Family) -> bool {
    matches!(
        family,
        Family::Content | Family::Rename | Family::Wipe | Family::Truncation
    )
}

/// Label strength: content evidence beats metadata for the same change.
fn strength(family: Family) -> u8 {
    match family {
        Family::Content => 2,
        Family::NewWriter => 0,
        _ => 1,
    }
}

/// An incident being assembled from one group of signals: what each step of
/// [`incident_of`] reads and adds to.
struct Draft {
    /// The group's span.
    start: Ms,
    end: Ms,
    /// The strongest weight per signal family.
    best: BTreeMap<Family, f64>,
    /// The evidence, with its weight (sorted strongest first at the end).
    evidence: Vec<(f64, String)>,
    /// The changes in the incident: event id -> (label strength, kind).
    labels: BTreeMap<usize, (u8, DamageKind)>,
    /// Changes backed by strong evidence (see [`is_strong`]).
    strong: BTreeSet<usize>,
    /// Weak modifiers of the score (a new writer, a burst, storage classes changed).
    modifiers: Vec<(f64, String)>,
    /// Evidence lines that weigh nothing.
    notes: Vec<String>,
}

/// What the content samples among an incident's changes say.
struct ContentCheck {
    /// Changes with a verdict.
    checked: usize,
    /// Of those, damaged.
    bad: usize,
    /// Changes metadata called encrypted, wrong-typed or overwritten, with a verdict.
    claims_checked: usize,
    /// Of those, damaged.
    claims_bad: usize,
}

/// One group of signals as an incident, or `None` when it scores too low. The steps, in
/// order: the signals' evidence and labels ([`Draft::of_signals`]); a new writer's
/// other changes ([`Draft::join_new_writer`]); unsampled overwrites with the damaged
/// samples' size signature ([`Draft::join_same_signature`]); the burst and
/// storage-class modifiers; the score and confidence ([`Draft::score`]); the start moved
/// to the first strongly supported write and the related changes joined
/// ([`Draft::join_related`]); the affected keys ([`Draft::into_assembled`]).
fn incident_of(ctx: &Ctx<'_>, judged: &Judged, group: Vec<Signal>) -> Option<Assembled> {
    let mut draft = Draft::of_signals(ctx, judged, &group)?;
    draft.join_new_writer(ctx);
    draft.join_same_signature(ctx, judged);
    draft.add_burst_and_class(ctx);
    let content = ContentCheck::of(judged, &draft.labels);
    let (score, confidence) = draft.score(ctx, &content)?;
    draft.join_related(ctx);
    draft.into_assembled(ctx, judged, score, confidence, &content)
}

impl Draft {
    /// The group's span, the strongest weight per family, the evidence (size patterns
    /// folded), every change labelled with its strongest kind, and the strong ones.
    fn of_signals(ctx: &Ctx<'_>, judged: &Judged, group: &[Signal]) -> Option<Draft> {
        let mut d = Draft {
            start: group.iter().map(|s| s.start).min()?,
            end: group.iter().map(|s| s.end).max()?,
            best: BTreeMap::new(),
            evidence: Vec::new(),
            labels: BTreeMap::new(),
            strong: BTreeSet::new(),
            modifiers: Vec::new(),
            notes: Vec::new(),
        };
        // Damaged samples count once the group has enough of them, even when they fall
        // in runs too small to weigh on their own (a slow attack sampled sparsely).
        let content_keys: BTreeSet<usize> = group
            .iter()
            .filter(|s| s.family == Family::Content)
            .flat_map(|s| s.events.iter().map(|&(id, _)| ctx.events[id].key))
            .collect();
        let content_strong = content_keys.len() >= ctx.opts.min_content_keys.max(1);
        // Weak size patterns that no damaged sample backs (ordinary edits change sizes
        // all the time): folded into one line of evidence when there are several.
        let mut quiet: Vec<&Signal> = Vec::new();
        let mut backed_sizes: Vec<&Signal> = Vec::new();
        for s in group {
            let counts = match s.family {
                Family::Content => content_strong,
                f => is_strong(f) && s.weight > 0.0,
            };
            if counts {
                d.strong.extend(s.events.iter().map(|&(id, _)| id));
            }
            let w = d.best.entry(s.family).or_insert(0.0);
            *w = w.max(s.weight);
            if !matches!(s.family, Family::CommonDelta | Family::SizeCollapse) {
                d.evidence.push((s.weight, s.evidence.clone()));
            } else if backed(ctx, judged, s) {
                backed_sizes.push(s);
            } else {
                quiet.push(s);
            }
            for &(id, kind) in &s.events {
                let st = strength(s.family);
                d.labels
                    .entry(id)
                    .and_modify(|l| {
                        if (st, std::cmp::Reverse(kind)) > (l.0, std::cmp::Reverse(l.1)) {
                            *l = (st, kind);
                        }
                    })
                    .or_insert((st, kind));
            }
        }
        fold_size_patterns(
            &mut d.evidence,
            &quiet,
            2,
            "that content does not back (sizes change alike on ordinary edits too)",
        );
        fold_size_patterns(
            &mut d.evidence,
            &backed_sizes,
            3,
            "among overwrites whose sampled content looks damaged",
        );
        Some(d)
    }

    /// A new writer among the damaging changes is a modifier; if it made at least half
    /// of them, all its changes near the incident join it.
    fn join_new_writer(&mut self, ctx: &Ctx<'_>) {
        let mut per_owner: BTreeMap<&str, usize> = BTreeMap::new();
        for &id in self.labels.keys() {
            if let Some(o) = ctx.owner(id) {
                *per_owner.entry(o).or_default() += 1;
            }
        }
        let new_owners: Vec<(&str, usize)> = per_owner
            .iter()
            .filter(|(o, _)| ctx.is_new_owner(o))
            .map(|(&o, &n)| (o, n))
            .collect();
        if !new_owners.is_empty() && !self.best.contains_key(&Family::NewWriter) {
            let names: Vec<String> = new_owners.iter().map(|(o, _)| format!("{o:?}")).collect();
            self.modifiers.push((
                0.3,
                format!("made by a writer never seen before: {}", names.join(", ")),
            ));
        }
        let total = self.labels.len();
        let overwrite_kind = dominant_overwrite_kind(ctx, &self.labels);
        for (owner, n) in &new_owners {
            if n * 2 < total {
                continue;
            }
            let Some((_, ids)) = ctx.new_owner_events.iter().find(|(o, _)| o == owner) else {
                continue;
            };
            let lo = self.start.saturating_sub(ctx.gap);
            let hi = self.end.saturating_add(ctx.gap);
            for &id in ids {
                let t = ctx.events[id].t;
                if t < lo || t > hi || self.labels.contains_key(&id) {
                    continue;
                }
                let kind = match ctx.events[id].change {
                    Change::Overwrite => overwrite_kind,
                    Change::Delete => DamageKind::Deleted,
                    Change::Create => DamageKind::Planted,
                    Change::DeleteAgain => continue,
                };
                self.labels.insert(id, (0, kind));
            }
        }
    }

    /// Content-confirmed damage usually has a size signature (same size for a stream
    /// cipher, +N for a header): unsampled overwrites by the same writers near the
    /// incident with that signature join it, so a sampling budget does not leave victims
    /// (or the true start) out.
    fn join_same_signature(&mut self, ctx: &Ctx<'_>, judged: &Judged) {
        let strong_start = self.strong.iter().map(|&id| ctx.events[id].t).min();
        let expanded = expand_by_signature(
            ctx,
            judged,
            &mut self.labels,
            &mut self.strong,
            strong_start.unwrap_or(self.start),
            self.end,
        );
        if expanded > 0 {
            self.notes.push(format!(
                "{expanded} unsampled overwrites by the same writers with the same size change as the damaged samples were included"
            ));
        }
    }

    /// The burst and storage-class modifiers.
    fn add_burst_and_class(&mut self, ctx: &Ctx<'_>) {
        if let Some(b) = ctx
            .bursts_between(self.start, self.end)
            .max_by_key(|b| b.count)
        {
            self.modifiers.push((
                0.25,
                format!(
                    "burst: {} overwrites and deletes in {} at {}; the busiest earlier bin had {}",
                    b.count,
                    fmt_duration(ctx.bin_ms()),
                    fmt_bin_start(b.start, ctx.bin_ms()),
                    b.earlier_peak
                ),
            ));
        }
        let overwrites: Vec<usize> = self
            .labels
            .keys()
            .copied()
            .filter(|&id| ctx.events[id].change == Change::Overwrite)
            .collect();
        let class_changed = overwrites
            .iter()
            .filter(|&&id| {
                let (v, p) = (ctx.ver(id), ctx.prev(id));
                matches!((&v.storage_class, p.and_then(|p| p.storage_class.as_ref())), (Some(a), Some(b)) if a != b)
            })
            .count();
        if class_changed >= ctx.opts.min_keys && class_changed * 2 >= overwrites.len() {
            self.modifiers.push((
                0.15,
                format!("{class_changed} overwrites also changed the storage class"),
            ));
        }
    }

    /// The score and the confidence; `None` below `--min-score`. Strong evidence counts
    /// in full; content that contradicts the metadata discounts only the weak part (a
    /// burst of damaged samples is an incident on its own).
    fn score(&mut self, ctx: &Ctx<'_>, content: &ContentCheck) -> Option<(f64, Confidence)> {
        let mut keep_strong = 1.0;
        let mut keep_weak = 1.0;
        for (f, w) in &self.best {
            if is_strong(*f) {
                keep_strong *= 1.0 - w.clamp(0.0, 1.0);
            } else {
                keep_weak *= 1.0 - w.clamp(0.0, 1.0);
            }
        }
        for (w, _) in &self.modifiers {
            keep_weak *= 1.0 - w.clamp(0.0, 1.0);
        }
        let mut weak_score = 1.0 - keep_weak;
        let (claims_checked, claims_bad) = (content.claims_checked, content.claims_bad);
        if claims_checked >= 3 && claims_bad * 5 < claims_checked {
            weak_score *= 0.4;
            self.evidence.push((
                0.0,
                format!(
                    "content contradicts it: only {claims_bad} of {claims_checked} sampled versions look damaged"
                ),
            ));
        }
        let score = 1.0 - keep_strong * (1.0 - weak_score);
        self.evidence.extend(self.modifiers.iter().cloned());
        self.evidence.extend(self.notes.drain(..).map(|n| (0.0, n)));
        let score = (score * 1000.0).round() / 1000.0;
        if score < ctx.opts.min_score {
            return None;
        }
        let confirmed =
            content.bad >= ctx.opts.min_content_keys && content.bad * 2 >= content.checked;
        let independent = self
            .best
            .iter()
            .any(|(f, w)| *f != Family::Content && *w > 0.0)
            || !self.modifiers.is_empty();
        let confidence = if confirmed && independent {
            Confidence::High
        } else if score >= 0.6 || confirmed {
            Confidence::Medium
        } else {
            Confidence::Low
        };
        Some((score, confidence))
    }

    /// The start moved to the earliest strongly supported write, then what belongs with
    /// the incident joined: its writers' deletions, renamed originals and planted copies,
    /// ransom notes.
    fn join_related(&mut self, ctx: &Ctx<'_>) {
        let evidence = &mut self.evidence;
        // Changes only weak signals flagged before the first strong one (ordinary edits
        // that happened to change sizes alike, a new writer's earlier work) are not part
        // of the incident, so that a restore keeps them.
        if let Some(first) = self.strong.iter().map(|&id| ctx.events[id].t).min() {
            let before = self.labels.len();
            let strong = &self.strong;
            self.labels
                .retain(|&id, _| strong.contains(&id) || ctx.events[id].t >= first);
            let dropped = before - self.labels.len();
            if dropped > 0 {
                evidence.push((
                    0.0,
                    format!(
                        "{dropped} earlier changes flagged only by metadata were left out: the incident starts at its first strongly supported write ({})",
                        fmt_t(first)
                    ),
                ));
            }
        }
        // Deletions by the incident's writers within its span are part of it.
        let joined = join_deletes(ctx, &mut self.labels);
        if joined > 0 {
            evidence.push((
                0.0,
                format!(
                    "{joined} deletions by the incident's writers during it joined the incident"
                ),
            ));
        }
        // A flagged `X<suffix>` whose `X` got a delete marker near the incident is a
        // renamed copy, however few there are: `--per-key` removes the copy, so it must
        // bring `X` back too.
        let floor = self
            .strong
            .iter()
            .map(|&id| ctx.events[id].t)
            .min()
            .unwrap_or(Ms::MIN);
        let (originals, copies) = join_rename_pairs(ctx, &mut self.labels, floor);
        if originals + copies > 0 {
            let mut parts = Vec::new();
            if originals > 0 {
                parts.push(format!(
                    "{originals} keys deleted while a flagged copy named after them appeared (renamed)"
                ));
            }
            if copies > 0 {
                parts.push(format!(
                    "{copies} copies named after flagged keys that were deleted as they appeared (planted)"
                ));
            }
            evidence.push((0.0, format!("{} joined the incident", parts.join(" and "))));
        }
        // Ransom notes: new keys named like one, written during the incident.
        if let Some((n, example)) = join_notes(ctx, &mut self.labels) {
            evidence.push((
                0.0,
                format!(
                    "{n} new keys named like ransom notes appeared during the incident (e.g. {example})"
                ),
            ));
        }
    }

    /// The incident: each affected key at its oldest flagged entry in list order, with
    /// its last good version; its writers, kinds and evidence (strongest first).
    fn into_assembled(
        mut self,
        ctx: &Ctx<'_>,
        judged: &Judged,
        score: f64,
        confidence: Confidence,
        content: &ContentCheck,
    ) -> Option<Assembled> {
        let labels = &self.labels;
        let mut first: BTreeMap<usize, (usize, (u8, DamageKind))> = BTreeMap::new(); // key -> (event, label)
        for (&id, &label) in labels {
            let e = &ctx.events[id];
            first
                .entry(e.key)
                .and_modify(|f| {
                    let fe = &ctx.events[f.0];
                    if e.idx > fe.idx {
                        *f = (id, label);
                    }
                })
                .or_insert((id, label));
        }
        let mut writers: Vec<String> = labels
            .keys()
            .filter_map(|&id| ctx.owner(id).map(str::to_owned))
            .collect();
        writers.sort();
        writers.dedup();
        let keys: Vec<AffectedKey> = first
            .values()
            .map(|&(id, (_, kind))| {
                let v = ctx.ver(id);
                let good = ctx.prev(id).filter(|p| !p.delete_marker);
                AffectedKey {
                    key: ctx.key(id).to_owned(),
                    kind,
                    first_bad_version: v.version_id.to_string(),
                    first_bad_at: v.last_modified,
                    last_good_version: good.map(|g| g.version_id.to_string()),
                    last_good_at: good.map(|g| g.last_modified),
                    content: match judged.get(id) {
                        Some(Verdict::Encrypted(r) | Verdict::WrongType(r)) => Some(r.clone()),
                        Some(Verdict::Invalid) => Some("rejected by the validator".to_owned()),
                        _ => None,
                    },
                }
            })
            .collect();
        let start_at = keys.iter().map(|k| k.first_bad_at).min()?;
        let end_ms = labels
            .keys()
            .map(|&id| ctx.events[id].t)
            .max()
            .unwrap_or(self.end)
            .max(start_at.timestamp_millis());
        let mut kinds: Vec<DamageKind> = keys.iter().map(|k| k.kind).collect();
        kinds.sort();
        kinds.dedup();
        self.evidence
            .sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let events: Vec<usize> = labels.keys().copied().collect();
        Some(Assembled {
            incident: Incident {
                id: 0,
                start: start_at,
                end: to_time(end_ms),
                kinds,
                confidence,
                score,
                evidence: self.evidence.into_iter().map(|(_, e)| e).collect(),
                writers,
                content_checked: content.checked,
                content_bad: content.bad,
                keys,
            },
            events,
        })
    }
}

impl ContentCheck {
    /// Content's confirmation (damaged samples anywhere in the incident) or
    /// contradiction (the changes metadata called encrypted, wrong-typed or overwritten
    /// look healthy; content has nothing to say about truncation, deletes or new keys).
    fn of(judged: &Judged, labels: &BTreeMap<usize, (u8, DamageKind)>) -> ContentCheck {
        let mut c = ContentCheck {
            checked: 0,
            bad: 0,
            claims_checked: 0,
            claims_bad: 0,
        };
        for (&id, &(_, kind)) in labels {
            match judged.get(id) {
                Some(Verdict::Unknown) | None => {}
                Some(v) => {
                    c.checked += 1;
                    c.bad += usize::from(v.is_bad());
                    if matches!(
                        kind,
                        DamageKind::Encrypted | DamageKind::WrongType | DamageKind::Overwritten
                    ) {
                        c.claims_checked += 1;
                        c.claims_bad += usize::from(v.is_bad());
                    }
                }
            }
        }
        c
    }
}

/// Add the evidence of size-pattern signals: one line each, or one line for all of them
/// when there are at least `fold` (how many, over how many overwrites, the largest).
fn fold_size_patterns(
    evidence: &mut Vec<(f64, String)>,
    signals: &[&Signal],
    fold: usize,
    what: &str,
) {
    if signals.len() < fold {
        evidence.extend(signals.iter().map(|s| (s.weight, s.evidence.clone())));
        return;
    }
    let Some(largest) = signals.iter().max_by(|a, b| {
        a.events
            .len()
            .cmp(&b.events.len())
            .then_with(|| b.evidence.cmp(&a.evidence))
    }) else {
        return;
    };
    let changes: BTreeSet<usize> = signals
        .iter()
        .flat_map(|s| s.events.iter().map(|&(id, _)| id))
        .collect();
    let weight = signals.iter().map(|s| s.weight).fold(0.0, f64::max);
    evidence.push((
        weight,
        format!(
            "{} size patterns over {} overwrites {what}; the largest: {}",
            signals.len(),
            changes.len(),
            largest.evidence
        ),
    ));
}

/// True when damaged content backs a signal: at least `min_content_keys` of its sampled
/// versions look damaged, at least half of those judged, and at least half of its
/// changes lie within the span of its damaged samples (a size band that ordinary edits
/// filled for a minute before the damage is not backed by it).
fn backed(ctx: &Ctx<'_>, judged: &Judged, s: &Signal) -> bool {
    let (mut checked, mut bad) = (0usize, 0usize);
    let (mut lo, mut hi) = (Ms::MAX, Ms::MIN);
    for &(id, _) in &s.events {
        match judged.get(id) {
            None | Some(Verdict::Unknown) => {}
            Some(v) => {
                checked += 1;
                if v.is_bad() {
                    bad += 1;
                    lo = lo.min(ctx.events[id].t);
                    hi = hi.max(ctx.events[id].t);
                }
            }
        }
    }
    let inside = s
        .events
        .iter()
        .filter(|&&(id, _)| (lo..=hi).contains(&ctx.events[id].t))
        .count();
    bad >= ctx.opts.min_content_keys.max(1) && bad * 2 >= checked && inside * 2 >= s.events.len()
}

/// Add every delete marker over a live version, inside the scan window, written within
/// the incident's span (its first to last labelled change) by one of the writers of its
/// labelled changes (by anyone when no writer is known), except moves and the deletes
/// of rename pairs (see [`join_rename_pairs`]). Returns how many joined.
fn join_deletes(ctx: &Ctx<'_>, labels: &mut BTreeMap<usize, (u8, DamageKind)>) -> usize {
    let times = labels.keys().map(|&id| ctx.events[id].t);
    let (Some(lo), Some(hi)) = (times.clone().min(), times.max()) else {
        return 0;
    };
    let writers: HashSet<Option<&str>> = labels.keys().map(|&id| ctx.owner(id)).collect();
    let mut joined = 0;
    for (id, e) in ctx.events.iter().enumerate() {
        if e.change != Change::Delete || !e.in_window || e.t < lo || e.t > hi {
            continue;
        }
        if labels.contains_key(&id) || !writers.contains(&ctx.owner(id)) {
            continue;
        }
        // A move (the bytes reappeared under a new key) or one side of a rename pair
        // (log rotation's gzip copy, or a rename the rename rules judge) is not a loss
        // of its own.
        if ctx.is_moved(id) || ctx.is_paired_delete(id) {
            continue;
        }
        labels.insert(id, (0, DamageKind::Deleted));
        joined += 1;
    }
    joined
}

/// Rename pairs, both ways, whatever their number (the rename signal needs a run of
/// `min_keys`), within `gap` of the incident's changes and inside the scan window:
///
/// - the original `X` of every flagged key `X<suffix>` joins when `X` got a delete marker
///   within `gap` of the incident's changes (see [`Ctx::renamed_original`]): its oldest
///   change there, but none before the incident's first strongly supported write
///   (`floor`) other than the delete marker itself, is labelled [`DamageKind::Renamed`] (a delete labelled
///   [`DamageKind::Deleted`] is relabelled; a more specific label is kept);
/// - the copy `X<suffix>` of a flagged `X` joins as [`DamageKind::Planted`] when it was
///   created within `gap` of the incident's changes while `X` got its marker (a rename
///   pair): the copy of a damaged file is damage too (content cannot show it when the
///   original was already encrypted).
///
/// Returns how many originals and how many copies joined the incident.
fn join_rename_pairs(
    ctx: &Ctx<'_>,
    labels: &mut BTreeMap<usize, (u8, DamageKind)>,
    floor: Ms,
) -> (usize, usize) {
    let times = labels.keys().map(|&id| ctx.events[id].t);
    let (Some(lo), Some(hi)) = (times.clone().min(), times.max()) else {
        return (0, 0);
    };
    // Within `gap` of the incident, and never outside the scan window.
    let lo = lo.saturating_sub(ctx.gap).max(ctx.win.0);
    let hi = hi.saturating_add(ctx.gap).min(ctx.win.1);
    let mut flagged: BTreeSet<usize> = labels.keys().map(|&id| ctx.events[id].key).collect();
    let mut copies = 0;
    for p in &ctx.pairs {
        let (copy, original) = (ctx.events[p.created], ctx.events[p.deleted]);
        if flagged.contains(&original.key)
            && !flagged.contains(&copy.key)
            && (lo..=hi).contains(&copy.t)
        {
            labels.insert(p.created, (1, DamageKind::Planted));
            copies += 1;
        }
    }
    flagged.extend(labels.keys().map(|&id| ctx.events[id].key));
    let mut originals = BTreeSet::new();
    for &copy in &flagged {
        let Some(id) = ctx.renamed_original(copy, lo, hi, floor) else {
            continue;
        };
        let key = ctx.events[id].key;
        if !flagged.contains(&key) {
            originals.insert(key);
        }
        labels
            .entry(id)
            .and_modify(|l| {
                if l.1 == DamageKind::Deleted {
                    l.1 = DamageKind::Renamed;
                }
            })
            .or_insert((1, DamageKind::Renamed));
    }
    (originals.len(), copies)
}

/// Add the creations of keys named like ransom notes (see
/// [`looks_like_note`](super::analysis::looks_like_note)) within `gap` of the incident's
/// changes and inside the scan window, as [`DamageKind::Planted`]. Returns how many
/// joined and one of their keys.
fn join_notes<'a>(
    ctx: &Ctx<'a>,
    labels: &mut BTreeMap<usize, (u8, DamageKind)>,
) -> Option<(usize, &'a str)> {
    let times = labels.keys().map(|&id| ctx.events[id].t);
    let (lo, hi) = (times.clone().min()?, times.max()?);
    let lo = lo.saturating_sub(ctx.gap);
    let hi = hi.saturating_add(ctx.gap);
    let mut joined = 0;
    let mut example = None;
    for &(_, id) in ctx.notes_between(lo, hi) {
        if labels.contains_key(&id) {
            continue;
        }
        labels.insert(id, (1, DamageKind::Planted));
        joined += 1;
        example.get_or_insert(ctx.key(id));
    }
    example.map(|e| (joined, e))
}

fn dominant_overwrite_kind(
    ctx: &Ctx<'_>,
    labels: &BTreeMap<usize, (u8, DamageKind)>,
) -> DamageKind {
    let mut counts: BTreeMap<DamageKind, usize> = BTreeMap::new();
    for (&id, &(_, kind)) in labels {
        if ctx.events[id].change == Change::Overwrite {
            *counts.entry(kind).or_default() += 1;
        }
    }
    counts
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map_or(DamageKind::Overwritten, |(k, _)| k)
}

/// The size change of an overwrite: exact difference, and the 16-byte padding form.
fn size_sigs(ctx: &Ctx<'_>, id: usize) -> [Option<(u8, i128)>; 2] {
    let v = ctx.ver(id).size;
    let Some(p) = ctx.prev(id).map(|p| p.size) else {
        return [None, None];
    };
    let exact = Some((0u8, i128::from(v) - i128::from(p)));
    let padded = (p / 16 + 1)
        .checked_mul(16)
        .filter(|&pad| v >= pad)
        .map(|pad| (1u8, i128::from(v - pad)));
    [exact, padded]
}

/// Add unsampled overwrites that share the dominant size signature of the incident's
/// content-confirmed overwrites (at least 80% of them) and one of their writers, within
/// `gap` of the incident. Returns how many were added.
fn expand_by_signature(
    ctx: &Ctx<'_>,
    judged: &Judged,
    labels: &mut BTreeMap<usize, (u8, DamageKind)>,
    strong: &mut BTreeSet<usize>,
    start: Ms,
    end: Ms,
) -> usize {
    let confirmed: Vec<(usize, DamageKind)> = labels
        .keys()
        .filter(|&&id| ctx.events[id].change == Change::Overwrite)
        .filter_map(|&id| judged.get(id).and_then(verdict_kind).map(|k| (id, k)))
        .filter(|(_, k)| matches!(k, DamageKind::Encrypted | DamageKind::WrongType))
        .collect();
    if confirmed.len() < ctx.opts.min_content_keys.max(1) {
        return 0;
    }
    let mut counts: BTreeMap<(u8, i128), usize> = BTreeMap::new();
    for &(id, _) in &confirmed {
        for sig in size_sigs(ctx, id).into_iter().flatten() {
            *counts.entry(sig).or_default() += 1;
        }
    }
    let Some((&sig, &n)) = counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
    else {
        return 0;
    };
    if n * 5 < confirmed.len() * 4 {
        return 0;
    }
    let writers: HashSet<&str> = confirmed
        .iter()
        .filter_map(|&(id, _)| ctx.owner(id))
        .collect();
    let mut kinds: BTreeMap<DamageKind, usize> = BTreeMap::new();
    for &(_, k) in &confirmed {
        *kinds.entry(k).or_default() += 1;
    }
    let kind = kinds
        .into_iter()
        .max_by(|a, b| a.1.cmp(&b.1).then_with(|| b.0.cmp(&a.0)))
        .map_or(DamageKind::Encrypted, |(k, _)| k);
    // Inside the span of the strong evidence every match joins; beyond it (up to `gap`
    // either side) only an unbroken stretch of matches does: the first overwrite by the
    // same writers that does not match, or that content judged, ends it (an ordinary
    // edit that happened to keep its size is not a victim).
    let (first, last) = match (
        strong.iter().map(|&id| ctx.events[id].t).min(),
        strong.iter().map(|&id| ctx.events[id].t).max(),
    ) {
        (Some(a), Some(b)) => (a, b),
        _ => (start, end),
    };
    let lo = first.saturating_sub(ctx.gap);
    let hi = last.saturating_add(ctx.gap).max(end);
    let candidates = ctx.overwrites_in(lo, hi);
    let mut matches: Vec<(usize, bool)> = Vec::new(); // (event id, joins if reached)
    for &(_, id) in candidates {
        if !ctx.owner(id).is_some_and(|o| writers.contains(o)) {
            continue;
        }
        if strong.contains(&id) {
            matches.push((id, true));
            continue;
        }
        let v = ctx.ver(id);
        let same_content = ctx
            .prev(id)
            .is_some_and(|p| !v.etag.is_empty() && p.etag == v.etag);
        let ok = !same_content
            && judged.get(id).is_none_or(|v| *v == Verdict::Unknown)
            && size_sigs(ctx, id).into_iter().flatten().any(|s| s == sig);
        matches.push((id, ok));
    }
    let mut joining: Vec<usize> = Vec::new();
    let inside = |id: usize| (first..=last).contains(&ctx.events[id].t);
    for &(id, ok) in &matches {
        if ok && inside(id) {
            joining.push(id);
        }
    }
    for &(id, ok) in matches
        .iter()
        .rev()
        .filter(|&&(id, _)| ctx.events[id].t < first)
    {
        if !ok {
            break;
        }
        joining.push(id);
    }
    for &(id, ok) in matches.iter().filter(|&&(id, _)| ctx.events[id].t > last) {
        if !ok {
            break;
        }
        joining.push(id);
    }
    let mut added = 0;
    for id in joining {
        if strong.contains(&id) {
            continue;
        }
        // Flagged by metadata already (the same size change), or not: now backed by
        // content either way.
        if let std::collections::btree_map::Entry::Vacant(slot) = labels.entry(id) {
            slot.insert((0, kind));
            added += 1;
        }
        strong.insert(id);
    }
    added
}
