//! Random bucket histories for the in-memory properties: keys that URL-encoding changes
//! (so paging habits around encoded keys are met), several writes within one second,
//! racing PUT/DELETE pairs stamped out of list order (radosgw), suspended periods that
//! write `null` versions, re-created and deleted keys. And the truth such a history
//! has on a server with given habits: its list order with the stamps the server shows.

use super::mem::Personality;
use chrono::{DateTime, TimeDelta, TimeZone, Timelike, Utc};
use proptest::prelude::*;
use s3rewind_engine::{Entry, SimBucket, Timeline, Versioning};

/// The keys histories write: plain, with a space, `%`, `+`, `!`, non-ASCII, in folders.
pub(crate) const KEYS: &[&str] = &[
    "a", "a!b", "d/x", "d/y z", "k a", "k%a", "k+b", "k+c", "kz", "é",
];

/// One step of a history.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    /// PUT of a key, with a fill byte and a length.
    Put(usize, u8, usize),
    /// DELETE of a key (a delete marker).
    Delete(usize),
    /// A PUT and a DELETE of one key at once: the PUT, stamped a few milliseconds before
    /// the delete marker, is listed above it as the current version (radosgw's race).
    Race(usize, u8),
    /// Versioning suspended: PUTs write `null` versions.
    Suspend,
    /// Versioning enabled again.
    Enable,
    /// Advance the clock by this many milliseconds.
    Tick(i64),
}

/// A strategy of histories of `min..max` steps.
pub(crate) fn steps(min: usize, max: usize) -> impl Strategy<Value = Vec<Step>> {
    let tick = prop_oneof![
        2 => 1i64..400,
        3 => (1i64..3).prop_map(|s| s * 1000),
        1 => 1000i64..20_000,
    ];
    let step = prop_oneof![
        10 => (0..KEYS.len(), any::<u8>(), 0usize..40).prop_map(|(k, f, n)| Step::Put(k, f, n)),
        4 => (0..KEYS.len()).prop_map(Step::Delete),
        1 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, f)| Step::Race(k, f)),
        1 => Just(Step::Suspend),
        1 => Just(Step::Enable),
        8 => tick.prop_map(Step::Tick),
    ];
    prop::collection::vec(step, min..max)
}

/// A history played into a simulator.
#[derive(Debug, Clone)]
pub(crate) struct History {
    /// The bucket (versioning Enabled at the end).
    pub sim: SimBucket,
    /// Every write's instant, in order.
    pub writes: Vec<DateTime<Utc>>,
    /// The clock at the end.
    pub last: DateTime<Utc>,
}

/// The first instant of every history.
pub(crate) fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

fn body(key: usize, fill: u8, len: usize) -> Vec<u8> {
    (0..len.max(1))
        .map(|i| fill.wrapping_add(i as u8) ^ key as u8)
        .collect()
}

/// Play `steps` into a versioned bucket (ids prefixed `id_prefix`); versioning ends
/// Enabled.
pub(crate) fn play(steps: &[Step], id_prefix: &str) -> History {
    let mut sim = SimBucket::new(Versioning::Enabled, id_prefix);
    let mut now = start();
    let mut writes = Vec::new();
    let ms = TimeDelta::milliseconds;
    for s in steps {
        match *s {
            Step::Put(k, f, n) => {
                now += ms(1);
                sim.put(KEYS[k], &body(k, f, n), now);
                writes.push(now);
            }
            Step::Delete(k) => {
                now += ms(1);
                sim.delete(KEYS[k], now);
                writes.push(now);
            }
            Step::Race(k, f) => {
                // The DELETE is stamped 5 ms after the PUT, yet the PUT is listed above.
                let put_stamp = now + ms(1);
                now += ms(6);
                sim.delete(KEYS[k], put_stamp + ms(5));
                sim.put_late(KEYS[k], &body(k, f, 3), put_stamp, now);
                writes.push(put_stamp);
                writes.push(now);
            }
            Step::Suspend => sim.set_versioning(Versioning::Suspended),
            Step::Enable => sim.set_versioning(Versioning::Enabled),
            Step::Tick(t) => now += ms(t),
        }
    }
    sim.set_versioning(Versioning::Enabled);
    History {
        sim,
        writes,
        last: now,
    }
}

/// Where T lies relative to a write.
#[derive(Debug, Clone, Copy)]
pub(crate) enum TPick {
    /// At the write.
    At,
    /// A millisecond before it.
    Before,
    /// A millisecond after it.
    After,
    /// Half-way through its second (inside a tie on a server of whole seconds).
    MidSecond,
    /// The last millisecond of its second.
    SecondEnd,
}

/// A strategy of T picks.
pub(crate) fn t_pick() -> impl Strategy<Value = (TPick, prop::sample::Index)> {
    (
        prop_oneof![
            Just(TPick::At),
            Just(TPick::Before),
            Just(TPick::After),
            Just(TPick::MidSecond),
            Just(TPick::SecondEnd),
        ],
        any::<prop::sample::Index>(),
    )
}

/// T as picked, from the history's writes (or its start, for an empty history).
pub(crate) fn pick_t(h: &History, (pick, i): &(TPick, prop::sample::Index)) -> DateTime<Utc> {
    let Some(w) = (!h.writes.is_empty()).then(|| h.writes[i.index(h.writes.len())]) else {
        return start();
    };
    let ms = TimeDelta::milliseconds;
    let second = w.with_nanosecond(0).unwrap();
    match pick {
        TPick::At => w,
        TPick::Before => w - ms(1),
        TPick::After => w + ms(1),
        TPick::MidSecond => second + ms(500),
        TPick::SecondEnd => second + ms(999),
    }
}

/// The history as a server with habits `p` has it: list order (the truth), with the
/// stamps the server shows (whole seconds or milliseconds).
pub(crate) fn shown_truth(sim: &SimBucket, p: Personality) -> Timeline {
    let entries: Vec<Entry> = sim
        .list_order("")
        .into_iter()
        .map(|mut e| {
            if p.whole_seconds {
                e.version.last_modified = e.version.last_modified.with_nanosecond(0).unwrap();
            }
            e
        })
        .collect();
    Timeline::from_ordered(entries).expect("list order")
}

/// True when a split layout cannot show this key's order: an entry below the current one
/// is stamped after the entry listed above it (radosgw's race in an older pair). The book
/// states the limit (docs/src/state-at-t.md); such keys are left out where the layout is
/// split.
pub(crate) fn unseeable_when_split(truth: &Timeline, key: &str) -> bool {
    truth.get(key).is_some_and(|h| {
        h.entries
            .iter()
            .skip(1)
            .collect::<Vec<_>>()
            .windows(2)
            .any(|w| w[1].last_modified > w[0].last_modified)
    })
}
