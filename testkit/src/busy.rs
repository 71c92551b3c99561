//! Busy buckets: histories in which ordinary edits change object sizes all the time, for
//! the detector's sampling design and the guarantee it states (issue 24).
//!
//! A [`BusySpec`] describes a bucket: keys uploaded in bulk, then ordinary activity by
//! several writers (edits whose sizes vary widely, busy and quiet periods, moves to
//! `archive/`, deletes), and optionally an injected incident ([`Damage`]: random bytes at
//! new sizes or at the same sizes, deletes, truncation) of a given share, start and
//! duration. [`busy`] builds the [`Timeline`] directly and keeps the versions' bytes in a
//! lazy in-memory [`ContentStore`]: only the heads that a scan asks for are ever made, so
//! a history of thousands of versions costs little.
//!
//! [`issue24_new_sizes`] and [`issue24_same_size`] rebuild the buckets of issue 24:
//! 1,500 keys and 40 seconds of ordinary edits, then 60% of the keys overwritten with
//! random bytes within 6 seconds; and 600 (or 1,500) keys with 28% encrypted at the same
//! size.

use crate::Prng;
use crate::scenarios::{Kind, content_type, kind_of, make};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use s3rewind_engine::detect::{ContentSample, SAMPLE_BYTES};
use s3rewind_engine::model::{ETag, Entry, OwnerId, Version, VersionId};
use s3rewind_engine::timeline::Timeline;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};

/// How an injected incident damages its victims.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Random bytes of a new, unrelated size (256 B to 2 MB, log-uniform).
    RandomNewSize,
    /// Random bytes of the victim's own size (a stream cipher).
    RandomSameSize,
    /// A delete marker.
    Delete,
    /// The object cut to 0–8 bytes.
    Truncate,
}

/// An incident to inject into a [`busy`] history.
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// What it does to each victim.
    pub damage: Damage,
    /// Share of the keys live at its start that it damages (at least one key).
    pub share: f64,
    /// Its start, in seconds after the upload.
    pub at_secs: i64,
    /// How long it lasts, seconds (its victims are spread evenly over it).
    pub secs: i64,
    /// The writer (an index of [`BusySpec::writers`]; `writers` itself is a writer never
    /// seen before).
    pub writer: usize,
}

/// A busy bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct BusySpec {
    /// Seed of everything random.
    pub seed: u64,
    /// Keys uploaded at the start (at 500 a second).
    pub keys: usize,
    /// Ordinary edits after the upload.
    pub edits: usize,
    /// Seconds of ordinary activity after the upload.
    pub secs: i64,
    /// Ordinary writers, all of them active from the upload on (at least 1).
    pub writers: usize,
    /// Moves of a key to `archive/` (a copy with the same bytes, then a delete marker).
    pub moves: usize,
    /// Ordinary deletes.
    pub deletes: usize,
    /// Share of the edits packed into three busy periods (each a twentieth of the
    /// activity); a quiet tenth of it sees no edits at all.
    pub busy: f64,
    /// The incident, if any.
    pub incident: Option<Incident>,
}

/// What an injected incident really did.
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Its kind.
    pub damage: Damage,
    /// Every damaging write in time order: when, the key, the version id (the delete
    /// marker's for a delete), and whether content analysis can tell from the version's
    /// first bytes (random bytes over a key whose type is known; not over a key of
    /// random-looking bytes, and never for deletes and truncation, which metadata shows).
    pub writes: Vec<(DateTime<Utc>, String, String, bool)>,
}

impl Truth {
    /// The first damaging write.
    pub fn start(&self) -> DateTime<Utc> {
        self.writes[0].0
    }

    /// The last damaging write.
    pub fn end(&self) -> DateTime<Utc> {
        self.writes[self.writes.len() - 1].0
    }

    /// Every key the incident wrote.
    pub fn keys(&self) -> BTreeSet<&str> {
        self.writes.iter().map(|w| w.1.as_str()).collect()
    }

    /// The most distinct keys damaged within any window of `secs` seconds (both ends
    /// included), counting only writes content analysis can tell when `judgeable`.
    pub fn most_within(&self, secs: i64, judgeable: bool) -> usize {
        let writes: Vec<&(DateTime<Utc>, String, String, bool)> =
            self.writes.iter().filter(|w| !judgeable || w.3).collect();
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..writes.len() {
            while writes[hi].0 - writes[lo].0 > TimeDelta::seconds(secs) {
                lo += 1;
            }
            let keys: BTreeSet<&str> = writes[lo..=hi].iter().map(|w| w.1.as_str()).collect();
            best = best.max(keys.len());
        }
        best
    }
}

/// One busy history: its timeline, the bytes of its versions, and the truth about its
/// incident.
#[derive(Debug, Clone)]
pub struct Busy {
    /// The history, as a listing would give it.
    pub timeline: Timeline,
    /// The versions' bytes.
    pub store: ContentStore,
    /// The injected incident, if any.
    pub truth: Option<Truth>,
}

/// What a version's bytes are, to be made when read.
#[derive(Debug, Clone, PartialEq)]
enum Body {
    /// A document of the key's type, made from a seed.
    Doc(Kind, u64),
    /// Random bytes from a seed.
    Random(u64),
    /// These bytes (a truncated object).
    Bytes(Vec<u8>),
}

#[derive(Debug, Clone, PartialEq)]
struct Stored {
    body: Body,
    size: u64,
    content_type: &'static str,
}

/// The bytes of every version of a [`busy`] history, made on demand: a ranged GET in
/// memory.
#[derive(Debug, Clone, Default)]
pub struct ContentStore {
    versions: HashMap<(String, String), Stored>,
}

impl ContentStore {
    /// The first [`SAMPLE_BYTES`] of one version and its Content-Type (`None` for an
    /// unknown version or a delete marker).
    pub fn head(&self, key: &str, version_id: &str) -> Option<(Vec<u8>, String)> {
        let s = self
            .versions
            .get(&(key.to_owned(), version_id.to_owned()))?;
        let n = (s.size as usize).min(SAMPLE_BYTES);
        let head = match &s.body {
            Body::Doc(kind, seed) => make(*kind, n, &mut Prng(*seed)),
            Body::Random(seed) => Prng(*seed).bytes(n),
            Body::Bytes(b) => b[..b.len().min(n)].to_vec(),
        };
        Some((head, s.content_type.to_owned()))
    }

    /// Content samples for the wanted `(key, version id)` pairs (unknown pairs and delete
    /// markers are left out), as the CLI's ranged GETs would give them.
    pub fn samples_for(&self, wanted: &[(String, String)]) -> Vec<ContentSample> {
        wanted
            .iter()
            .filter_map(|(key, vid)| {
                let (head, ct) = self.head(key, vid)?;
                Some(ContentSample {
                    key: key.clone(),
                    version_id: vid.clone(),
                    head,
                    content_type: Some(ct),
                    validator_ok: None,
                })
            })
            .collect()
    }

    /// How many versions the store holds.
    pub fn len(&self) -> usize {
        self.versions.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }
}

/// Issue 24's first bucket: 1,500 keys, 40 seconds of ordinary edits whose sizes vary
/// (3,174 of them), then 60% of the keys overwritten with random bytes of new sizes
/// within 6 seconds, by the account that made the edits.
pub fn issue24_new_sizes(seed: u64) -> BusySpec {
    BusySpec {
        seed,
        keys: 1500,
        edits: 3174,
        secs: 40,
        writers: 1,
        moves: 0,
        deletes: 0,
        busy: 0.0,
        incident: Some(Incident {
            damage: Damage::RandomNewSize,
            share: 0.6,
            at_secs: 41,
            secs: 6,
            writer: 0,
        }),
    }
}

/// Issue 24's same-size buckets: `keys` keys (600 or 1,500), 40 seconds of ordinary
/// edits whose sizes vary (about 2.1 per key), then `victims` keys (169 of 600, 423 of
/// 1,500) overwritten with random bytes of their own size within 6 seconds.
pub fn issue24_same_size(seed: u64, keys: usize, victims: usize) -> BusySpec {
    BusySpec {
        seed,
        keys,
        edits: keys * 3174 / 1500,
        secs: 40,
        writers: 1,
        moves: 0,
        deletes: 0,
        busy: 0.0,
        incident: Some(Incident {
            damage: Damage::RandomSameSize,
            share: victims as f64 / keys.max(1) as f64,
            at_secs: 41,
            secs: 6,
            writer: 0,
        }),
    }
}

/// Extensions of the keys, most with a recognisable type; `""` is a text file without
/// an extension, `bin` holds random-looking bytes (content analysis cannot judge it).
const EXTS: [&str; 16] = [
    "pdf", "docx", "xlsx", "png", "jpg", "json", "csv", "txt", "md", "log", "pdf", "docx", "json",
    "html", "", "bin",
];
const DIRS: [&str; 6] = [
    "docs/",
    "images/",
    "data/",
    "shared/",
    "projects/",
    "notes/",
];

/// A writer's canonical id.
fn writer_id(i: usize) -> String {
    let mut p = Prng(0xC0FF_EE00 + i as u64);
    format!(
        "{:016x}{:016x}{:016x}{:016x}",
        p.next_u64(),
        p.next_u64(),
        p.next_u64(),
        p.next_u64()
    )
}

/// Log-uniform in `lo..hi`.
fn log_uniform(rng: &mut Prng, lo: f64, hi: f64) -> u64 {
    (lo * (hi / lo).powf(rng.unit())).round() as u64
}

/// A random live key that the incident has not reserved and `ok` accepts: a few random
/// tries, then a scan of all of them.
fn pick_free(
    rng: &mut Prng,
    live: &[String],
    reserved: &BTreeSet<String>,
    ok: impl Fn(&str) -> bool,
) -> Option<usize> {
    if live.is_empty() {
        return None;
    }
    let fits = |i: usize| !reserved.contains(&live[i]) && ok(&live[i]);
    for _ in 0..16 {
        let i = rng.range(0, live.len() as u64) as usize;
        if fits(i) {
            return Some(i);
        }
    }
    let free: Vec<usize> = (0..live.len()).filter(|&i| fits(i)).collect();
    (!free.is_empty()).then(|| free[rng.range(0, free.len() as u64) as usize])
}

/// One entry of a key's history while it is built.
#[derive(Debug, Clone)]
struct Written {
    t: i64,
    seq: u64,
    vid: String,
    etag: String,
    size: u64,
    owner: usize,
    marker: bool,
}

enum Op {
    Edit,
    Move,
    Delete,
    AttackStart,
    Damage(String),
}

struct Builder<'a> {
    rng: Prng,
    keys: BTreeMap<String, Vec<Written>>,
    store: ContentStore,
    live: Vec<String>,
    seq: u64,
    writers: &'a [String],
}

impl Builder<'_> {
    fn next_ids(&mut self) -> (u64, String, String) {
        self.seq += 1;
        let mut p = Prng(self.seq ^ 0x5EED_0000_0000);
        let vid = format!("{:016x}{:08x}", p.next_u64(), self.seq);
        let etag = format!("{:016x}{:016x}", p.next_u64(), p.next_u64());
        (self.seq, vid, etag)
    }

    fn put(
        &mut self,
        t: i64,
        key: &str,
        body: Body,
        size: u64,
        ct: &'static str,
        owner: usize,
    ) -> String {
        let (seq, vid, etag) = self.next_ids();
        self.store.versions.insert(
            (key.to_owned(), vid.clone()),
            Stored {
                body,
                size,
                content_type: ct,
            },
        );
        self.keys.entry(key.to_owned()).or_default().push(Written {
            t,
            seq,
            vid: vid.clone(),
            etag,
            size,
            owner,
            marker: false,
        });
        vid
    }

    /// Copy the key's current version to `to` with the same bytes (and ETag).
    fn copy(&mut self, t: i64, from: &str, to: &str, owner: usize) {
        let Some(cur) = self.keys.get(from).and_then(|h| h.last()).cloned() else {
            return;
        };
        let stored = self.store.versions[&(from.to_owned(), cur.vid.clone())].clone();
        let (seq, vid, _) = self.next_ids();
        self.store
            .versions
            .insert((to.to_owned(), vid.clone()), stored);
        self.keys.entry(to.to_owned()).or_default().push(Written {
            t,
            seq,
            vid,
            etag: cur.etag,
            size: cur.size,
            owner,
            marker: false,
        });
    }

    fn delete(&mut self, t: i64, key: &str, owner: usize) -> String {
        let (seq, vid, _) = self.next_ids();
        self.keys.entry(key.to_owned()).or_default().push(Written {
            t,
            seq,
            vid: vid.clone(),
            etag: String::new(),
            size: 0,
            owner,
            marker: true,
        });
        vid
    }

    fn current(&self, key: &str) -> Option<&Written> {
        self.keys
            .get(key)
            .and_then(|h| h.last())
            .filter(|w| !w.marker)
    }

    fn doc(&mut self, t: i64, key: &str, size: u64, owner: usize) {
        let kind = kind_of(key);
        let seed = self.rng.next_u64();
        if key.ends_with(".bin") {
            self.put(
                t,
                key,
                Body::Random(seed),
                size,
                "application/octet-stream",
                owner,
            );
        } else {
            self.put(
                t,
                key,
                Body::Doc(kind, seed),
                size,
                content_type(kind),
                owner,
            );
        }
    }
}

/// Build a busy history (see [`BusySpec`]).
// Longer than 120 lines on purpose: a scripted day of a busy bucket, written in time order; splitting it would scatter the script.
pub fn busy(spec: &BusySpec) -> Busy {
    let writers: Vec<String> = (0..=spec.writers.max(1)).map(writer_id).collect();
    let n_writers = spec.writers.max(1);
    let mut b = Builder {
        rng: Prng(spec.seed),
        keys: BTreeMap::new(),
        store: ContentStore::default(),
        live: Vec::new(),
        seq: 0,
        writers: &writers,
    };
    let t0 = Utc
        .with_ymd_and_hms(2026, 5, 4, 9, 0, 0)
        .single()
        .expect("valid date")
        .timestamp();
    // The upload, at 500 keys a second, every writer taking its share.
    for i in 0..spec.keys {
        let ext = EXTS[i % EXTS.len()];
        let dir = if ext == "png" || ext == "jpg" {
            "images/"
        } else {
            DIRS[(i / EXTS.len()) % DIRS.len()]
        };
        let name = crate::scenarios::WORDS[(i * 7) % crate::scenarios::WORDS.len()];
        let key = if ext.is_empty() {
            format!("{dir}{name}-{i:05}")
        } else {
            format!("{dir}{name}-{i:05}.{ext}")
        };
        let size = log_uniform(&mut b.rng, 300.0, 300_000.0);
        b.doc(t0 + i as i64 / 500, &key, size, i % n_writers);
        b.live.push(key);
    }
    let start = t0 + spec.keys as i64 / 500 + 1;
    let span = spec.secs.max(1);
    // Busy periods (three twentieths of the activity) and a quiet tenth.
    let busy_at: Vec<i64> = (0..3).map(|_| b.rng.range(0, span as u64) as i64).collect();
    let quiet = (b.rng.range(0, span as u64) as i64, span / 10);
    let mut ops: BinaryHeap<std::cmp::Reverse<(i64, u64, usize)>> = BinaryHeap::new();
    let mut payload: Vec<Op> = Vec::new();
    let mut push = |ops: &mut BinaryHeap<_>, t: i64, op: Op| {
        payload.push(op);
        let n = payload.len() - 1;
        ops.push(std::cmp::Reverse((t, n as u64, n)));
    };
    let mut rng = Prng(spec.seed ^ 0x00A1_1CE5);
    for _ in 0..spec.edits {
        let t = if rng.chance(spec.busy) {
            let b0 = busy_at[rng.range(0, 3) as usize];
            b0 + rng.range(0, (span / 20).max(1) as u64) as i64
        } else {
            let mut t = rng.range(0, span as u64) as i64;
            if t >= quiet.0 && t < quiet.0 + quiet.1 {
                t = (t + quiet.1) % span;
            }
            t
        };
        push(&mut ops, start + t.min(span - 1), Op::Edit);
    }
    for _ in 0..spec.moves {
        push(&mut ops, start + rng.range(0, span as u64) as i64, Op::Move);
    }
    for _ in 0..spec.deletes {
        push(
            &mut ops,
            start + rng.range(0, span as u64) as i64,
            Op::Delete,
        );
    }
    if let Some(inc) = &spec.incident {
        push(&mut ops, start + inc.at_secs.max(0) - 1, Op::AttackStart);
    }
    let mut payload: Vec<Option<Op>> = payload.into_iter().map(Some).collect();
    let mut reserved: BTreeSet<String> = BTreeSet::new();
    let mut truth: Vec<(DateTime<Utc>, String, String, bool)> = Vec::new();
    let mut moved = 0usize;
    let at = |t: i64| Utc.timestamp_opt(t, 0).single().expect("valid time");
    while let Some(std::cmp::Reverse((t, _, n))) = ops.pop() {
        let Some(op) = payload.get_mut(n).and_then(Option::take) else {
            continue;
        };
        match op {
            Op::Edit => {
                let Some(i) = pick_free(&mut b.rng, &b.live, &reserved, |_| true) else {
                    continue;
                };
                let key = b.live[i].clone();
                let Some(cur) = b.current(&key).cloned() else {
                    continue;
                };
                let home = cur.owner.min(n_writers - 1);
                let owner = if b.rng.chance(0.8) {
                    home
                } else {
                    b.rng.range(0, n_writers as u64) as usize
                };
                let r = b.rng.unit();
                let size = if r < 0.45 {
                    (cur.size as f64 * (0.85 + 0.35 * b.rng.unit())).round() as u64
                } else if r < 0.8 {
                    (cur.size as f64 * 10f64.powf(2.0 * b.rng.unit() - 1.0)).round() as u64
                } else {
                    log_uniform(&mut b.rng, 200.0, 2_000_000.0)
                };
                b.doc(t, &key, size.max(200), owner);
            }
            Op::Move => {
                let Some(i) = pick_free(&mut b.rng, &b.live, &reserved, |k| {
                    !k.starts_with("archive/")
                }) else {
                    continue;
                };
                let key = b.live.remove(i);
                let owner = b.current(&key).map_or(0, |w| w.owner.min(n_writers - 1));
                moved += 1;
                let to = format!(
                    "archive/{moved:04}-{}",
                    key.rsplit('/').next().unwrap_or(&key)
                );
                b.copy(t, &key, &to, owner);
                b.delete(t, &key, owner);
                b.live.push(to);
            }
            Op::Delete => {
                if b.live.len() < 2 {
                    continue;
                }
                let Some(i) = pick_free(&mut b.rng, &b.live, &reserved, |_| true) else {
                    continue;
                };
                let key = b.live.remove(i);
                let owner = b.current(&key).map_or(0, |w| w.owner.min(n_writers - 1));
                b.delete(t, &key, owner);
            }
            Op::AttackStart => {
                let inc = spec.incident.as_ref().expect("an incident");
                let mut pick = Prng(spec.seed ^ 0xBAD_5EED);
                let mut pool = b.live.clone();
                pick.shuffle(&mut pool);
                let n = ((pool.len() as f64 * inc.share.clamp(0.0, 1.0)).round() as usize)
                    .clamp(1, pool.len().max(1));
                pool.truncate(n);
                let dur = inc.secs.max(0);
                for (j, key) in pool.iter().enumerate() {
                    let dt = if pool.len() > 1 {
                        dur * j as i64 / (pool.len() as i64 - 1)
                    } else {
                        0
                    };
                    reserved.insert(key.clone());
                    payload.push(Some(Op::Damage(key.clone())));
                    let m = payload.len() - 1;
                    ops.push(std::cmp::Reverse((t + 1 + dt, m as u64, m)));
                }
            }
            Op::Damage(key) => {
                let inc = spec.incident.as_ref().expect("an incident");
                let Some(cur) = b.current(&key).cloned() else {
                    continue;
                };
                let owner = inc.writer.min(n_writers);
                let seed = b.rng.next_u64();
                let judgeable = !key.ends_with(".bin");
                let (vid, shows) = match inc.damage {
                    Damage::RandomNewSize => {
                        let size = log_uniform(&mut b.rng, 256.0, 2_000_000.0);
                        (
                            b.put(
                                t,
                                &key,
                                Body::Random(seed),
                                size,
                                "application/octet-stream",
                                owner,
                            ),
                            judgeable,
                        )
                    }
                    Damage::RandomSameSize => (
                        b.put(
                            t,
                            &key,
                            Body::Random(seed),
                            cur.size,
                            "application/octet-stream",
                            owner,
                        ),
                        judgeable,
                    ),
                    Damage::Truncate => {
                        let (head, ct) = b.store.head(&key, &cur.vid).expect("stored");
                        let to = (b.rng.range(0, 9) as usize).min(head.len());
                        let ct: &'static str = if ct == "application/octet-stream" {
                            "application/octet-stream"
                        } else {
                            content_type(kind_of(&key))
                        };
                        (
                            b.put(
                                t,
                                &key,
                                Body::Bytes(head[..to].to_vec()),
                                to as u64,
                                ct,
                                owner,
                            ),
                            false,
                        )
                    }
                    Damage::Delete => {
                        b.live.retain(|k| k != &key);
                        (b.delete(t, &key, owner), false)
                    }
                };
                truth.push((at(t), key, vid, shows));
            }
        }
    }
    let writers = b.writers;
    let mut entries = Vec::with_capacity(b.store.len() + spec.deletes + spec.moves);
    for (key, mut hist) in std::mem::take(&mut b.keys) {
        hist.sort_by_key(|w| std::cmp::Reverse((w.t, w.seq)));
        for (i, w) in hist.into_iter().enumerate() {
            entries.push(Entry {
                key: key.clone(),
                version: Version {
                    version_id: VersionId::new(&w.vid),
                    last_modified: at(w.t),
                    delete_marker: w.marker,
                    etag: if w.marker {
                        ETag::default()
                    } else {
                        ETag::new(&w.etag)
                    },
                    size: w.size,
                    storage_class: (!w.marker).then(s3rewind_engine::StorageClass::standard),
                    owner_id: Some(OwnerId::new(&writers[w.owner])),
                    is_latest: i == 0,
                },
            });
        }
    }
    truth.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
    let damage = spec.incident.as_ref().map(|i| i.damage);
    Busy {
        timeline: Timeline::from_ordered(entries).expect("entries are in list order"),
        store: b.store,
        truth: damage.filter(|_| !truth.is_empty()).map(|damage| Truth {
            damage,
            writes: truth,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_issue_buckets_have_the_issue_shape() {
        let h = busy(&issue24_new_sizes(1));
        let truth = h.truth.as_ref().unwrap();
        assert_eq!(h.timeline.keys().len(), 1500);
        assert_eq!(truth.keys().len(), 900);
        assert_eq!(h.timeline.len(), 1500 + 3174 + 900);
        assert!(truth.end() - truth.start() <= TimeDelta::seconds(6));
        let same = busy(&issue24_same_size(1, 600, 169));
        assert_eq!(same.truth.unwrap().keys().len(), 169);
    }

    #[test]
    fn the_store_makes_heads_of_the_recorded_kind_and_size() {
        let h = busy(&issue24_same_size(2, 100, 20));
        let truth = h.truth.unwrap();
        let (_, key, vid, shows) = &truth.writes[0];
        let (head, ct) = h.store.head(key, vid).unwrap();
        let v = h
            .timeline
            .get(key)
            .unwrap()
            .entries
            .iter()
            .find(|v| v.version_id == vid.as_str())
            .unwrap();
        assert_eq!(head.len() as u64, v.size.min(SAMPLE_BYTES as u64));
        assert_eq!(ct, "application/octet-stream");
        assert_eq!(*shows, !key.ends_with(".bin"));
        // The version it replaced has the same size (same-size damage) and another body.
        let prev = &h.timeline.get(key).unwrap().entries[1];
        assert_eq!(prev.size, v.size);
        assert_ne!(
            h.store.head(key, &prev.version_id.to_string()).unwrap().0,
            head
        );
        assert!(h.store.head(key, "no-such-version").is_none());
    }

    #[test]
    fn windows_count_distinct_keys() {
        let t = |s| Utc.timestamp_opt(s, 0).unwrap();
        let truth = Truth {
            damage: Damage::RandomSameSize,
            writes: vec![
                (t(0), "a".into(), "1".into(), true),
                (t(1), "b".into(), "2".into(), false),
                (t(2), "a".into(), "3".into(), true),
                (t(10), "c".into(), "4".into(), true),
            ],
        };
        assert_eq!(truth.most_within(2, false), 2);
        assert_eq!(truth.most_within(2, true), 1);
        assert_eq!(truth.most_within(10, true), 2);
        assert_eq!(truth.most_within(100, false), 3);
    }
}
