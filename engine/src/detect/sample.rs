//! Which versions are worth a ranged GET.

use super::DetectOptions;
use super::analysis::{Change, Ctx, Judged};
use super::{incident, signals};
use crate::timeline::Timeline;
use std::collections::{BTreeSet, HashMap};

/// Which versions the CLI should sample (fetch the first
/// [`SAMPLE_BYTES`](super::SAMPLE_BYTES) of) for content analysis, as `(key, version id)`
/// pairs sorted by key and then in list order (newest first).
///
/// Candidates are changes in the window that wrote content (delete markers have none),
/// in order of priority:
///
/// 1. the versions of incidents that metadata alone already reports;
/// 2. the versions of every other metadata signal, even too weak to report;
/// 3. versions written in burst bins (also in a young bucket, where a burst is no
///    evidence yet), by writers never seen before, with a storage class
///    change, with a size change of 4× or more, and renamed copies (unless the copy has
///    the original's ETag);
/// 4. every other version written in the window (only with `deep` or a `limit`).
///
/// Within a tier the order is a fixed pseudo-random shuffle (a hash of key and version
/// id), which spreads a limited budget over the whole tier. Each candidate brings its
/// *reference* along: the key's previous version (for an overwrite) or the original's
/// last version (for a renamed copy), which content analysis compares it with.
///
/// `limit` (`--sample N`) caps the total number of pairs returned, references included;
/// `None` returns every candidate of tiers 1–3 (plus tier 4 with `deep`). `deep`
/// (`--deep`) makes every version written in the window (and its reference) a candidate.
pub fn sample_plan(
    timeline: &Timeline,
    options: &DetectOptions,
    limit: Option<usize>,
    deep: bool,
) -> Vec<(String, String)> {
    let ctx = Ctx::new(timeline, options);
    let mut tier: HashMap<usize, u8> = HashMap::new();
    let mut offer = |id: usize, t: u8, ctx: &Ctx<'_>| {
        if ctx.events[id].in_window && ctx.events[id].change.writes_content() {
            tier.entry(id)
                .and_modify(|old| *old = (*old).min(t))
                .or_insert(t);
        }
    };
    let found = signals::metadata(&ctx);
    for s in &found {
        for &(id, _) in &s.events {
            offer(id, 1, &ctx);
        }
    }
    for a in incident::assemble_with_events(&ctx, &Judged::default(), found) {
        for id in a.events {
            offer(id, 0, &ctx);
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
            offer(id, 2, &ctx);
        }
    }
    for (_, ids) in &ctx.new_owner_events {
        for &id in ids {
            offer(id, 2, &ctx);
        }
    }
    for p in ctx.pairs.iter().filter(|p| !ctx.pair_kept_bytes(p)) {
        offer(p.created, 2, &ctx);
    }
    for (id, e) in ctx.events.iter().enumerate() {
        if e.in_window && e.change == Change::Overwrite {
            let v = ctx.ver(id);
            if let Some(p) = ctx.prev(id) {
                let class_change =
                    matches!((&v.storage_class, &p.storage_class), (Some(a), Some(b)) if a != b);
                let big = v.size >= p.size.saturating_mul(4) || p.size >= v.size.saturating_mul(4);
                if class_change || big {
                    offer(id, 2, &ctx);
                }
            }
        }
        if deep || limit.is_some() {
            offer(id, 3, &ctx);
        }
    }

    let mut order: Vec<(u8, u64, usize)> = tier
        .into_iter()
        .filter(|&(_, t)| t < 3 || deep || limit.is_some())
        .map(|(id, t)| (t, spread(ctx.key(id), &ctx.ver(id).version_id.as_str()), id))
        .collect();
    order.sort_unstable();

    let cap = limit.unwrap_or(usize::MAX);
    let mut chosen: BTreeSet<(usize, usize)> = BTreeSet::new(); // (key, entry index)
    for (_, _, id) in order {
        if chosen.len() >= cap {
            break;
        }
        let e = ctx.events[id];
        chosen.insert((e.key, e.idx));
        if chosen.len() < cap
            && let Some(r) = ctx.reference(id)
        {
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

/// A fixed pseudo-random rank (FNV-1a of key and version id).
fn spread(key: &str, version_id: &str) -> u64 {
    key.bytes()
        .chain([0u8])
        .chain(version_id.bytes())
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}
