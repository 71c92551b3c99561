/*!
Synthetic bucket histories for the engine benchmarks.

The benchmarks need listings of up to a million entries. Going through
[`SimBucket`](s3rewind_engine::SimBucket) would make the set-up slower than the thing
measured, so this module writes the listing directly, in the shape `ListObjectVersions`
gives it through the SDK:

- keys in UTF-8 byte order under nested prefixes (`data/07/042/part-000123.parquet`);
- per key, entries newest first, the first one marked `IsLatest`;
- several versions per key on average, a few "hot" keys with many more;
- about 10% delete markers, many keys re-created after a delete, some deleted twice,
  a few whose first entry is a delete marker;
- same-second ties, between two versions and between a version and a delete marker
  (in both orders);
- pages of at most 1,000 entries, each with its versions and delete markers in two
  separate lists, a key's entries split across pages wherever the 1,000 falls.

Everything is a function of a [`HistorySpec`] (its seed included), so two runs bench
the same data. The tests at the bottom check that the generated listing is one S3 could
have produced: replayed into a `SimBucket`, the same history lists in the same order and
has the same state at every T.
*/

use chrono::{DateTime, Utc};
use s3rewind_engine::{Entry, ListPage, StorageClass, Version};

/// Entries per page, as S3 caps `MaxKeys`.
pub const PAGE_SIZE: usize = 1_000;

/// The first timestamp of every generated history (2023-11-14T22:13:20Z).
pub const EPOCH: i64 = 1_700_000_000;

/// The span of every generated history: 30 days, in seconds.
const WINDOW: u64 = 30 * 86_400;

/// The project's seeded generator (splitmix64), shared with the tests.
pub use s3rewind_testkit::Prng;

/// True with probability `percent / 100`.
fn percent(rng: &mut Prng, percent: u64) -> bool {
    rng.below(100) < percent
}

/// A deterministic hash of `x` (splitmix64's first output for the seed `x`): the benches'
/// way to derive ids, sizes and times from a key's number without keeping a generator.
pub fn mix(x: u64) -> u64 {
    Prng(x).next_u64()
}

const ID_CHARS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._";

/// A 32-character version id in AWS's alphabet, derived from `h`.
pub fn aws_id(h: u64) -> String {
    (0..32)
        .map(|i| char::from(ID_CHARS[(mix(h ^ i) % 64) as usize]))
        .collect()
}

/// The history `gen-inventory` writes as a report and `inventory-memory` builds as a
/// bucket: key `i` of KEYS gets 1 to 9 entries (about 5 on average), about 12% of them
/// delete markers (never a key's first), with distinct timestamps within a key.
pub mod inventory_history {
    use super::mix;
    use chrono::{DateTime, Utc};
    use s3rewind_engine::{Entry, StorageClass, Version};

    /// The first second of the history (2025-06-15T15:06:40Z).
    pub const BASE: i64 = 1_750_000_000;

    /// The TIME `gen-inventory` prints: in the middle of the history.
    pub fn at() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(BASE + 1_500_000, 0).expect("in range")
    }

    /// When the report says it was taken: after every entry.
    pub fn created() -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(BASE + 100_000_000, 0).expect("in range")
    }

    /// Where `gen-inventory DIR` writes the report's manifest.
    pub fn manifest_in(dir: &std::path::Path) -> std::path::PathBuf {
        dir.join("inventory/bench/all-versions")
            .join(created().format("%Y-%m-%dT%H-%MZ").to_string())
            .join("manifest.json")
    }

    /// The name of key `i`: 97 folders of up to 1,000 subfolders.
    pub fn key_name(i: u64) -> String {
        format!(
            "data/{:02}/{:03}/part-{i:07}.parquet",
            i % 97,
            (i / 97) % 1000
        )
    }

    /// The entries of key `i`, newest first (list order).
    pub fn entries_of(i: u64) -> Vec<Entry> {
        let h = mix(i);
        let n = 1 + (h % 9) as usize;
        let mut t = BASE + (mix(h) % 1_000_000) as i64;
        let mut out = Vec::with_capacity(n);
        for j in 0..n {
            let hj = mix(h ^ (j as u64 + 1));
            t += 1 + (hj % 400_000) as i64;
            let dm = j > 0 && hj.is_multiple_of(8);
            out.push(Entry {
                key: key_name(i),
                version: Version {
                    version_id: format!("{:016x}{:016x}", mix(hj), mix(hj ^ 1)).into(),
                    last_modified: DateTime::<Utc>::from_timestamp(t, 0).unwrap(),
                    delete_marker: dm,
                    etag: if dm {
                        Default::default()
                    } else {
                        format!("{:016x}{:016x}", mix(hj ^ 2), mix(hj ^ 3)).into()
                    },
                    size: if dm { 0 } else { hj % 10_000_000 },
                    storage_class: (!dm).then(StorageClass::standard),
                    owner_id: None,
                    is_latest: false,
                },
            });
        }
        out.reverse();
        out[0].version.is_latest = true;
        out
    }
}

/// What history to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistorySpec {
    /// Total entries (versions and delete markers) in the listing.
    pub entries: usize,
    /// Number of keys (at most `entries`); every key has at least one entry.
    pub keys: usize,
    /// PRNG seed.
    pub seed: u64,
}

impl HistorySpec {
    /// `entries` entries over `entries / 5` keys (five entries per key on average).
    pub fn new(entries: usize) -> Self {
        HistorySpec {
            entries,
            keys: (entries / 5).max(1),
            seed: 42,
        }
    }
}

/// A generated listing and what the benchmarks need to know about it.
#[derive(Debug, Clone)]
pub struct History {
    /// Every entry in server list order (key ascending, newest first), the interleaving
    /// of versions and delete markers intact.
    pub list_order: Vec<Entry>,
    /// The newest timestamp in the history.
    pub last: DateTime<Utc>,
}

impl History {
    /// The listing as the SDK hands it over: pages of [`PAGE_SIZE`] entries.
    pub fn pages(&self) -> Vec<ListPage> {
        to_pages(&self.list_order, PAGE_SIZE)
    }

    /// An instant in the middle of the history. Each key's writes are spread over the
    /// whole history, so most keys changed after it: a restore there is a large one
    /// (at 1M entries, 87% of the 200k keys need an action: 73% a copy, 14% a delete
    /// marker).
    pub fn midpoint(&self) -> DateTime<Utc> {
        let first = DateTime::from_timestamp(EPOCH, 0).expect("in range");
        first + (self.last - first) / 2
    }
}

/// Split entries in list order into SDK-shaped pages of at most `page_size` entries.
pub fn to_pages(list_order: &[Entry], page_size: usize) -> Vec<ListPage> {
    ListPage::split(list_order, page_size)
}

/// Generate the history `spec` describes.
pub fn generate(spec: HistorySpec) -> History {
    assert!(spec.keys >= 1 && spec.keys <= spec.entries, "{spec:?}");
    let mut rng = Prng(spec.seed);
    let keys = key_names(&mut rng, spec.keys);

    // Every key has one entry; the rest go 80% to any key and 20% to a few hot keys
    // (1% of the keys), which then have tens to hundreds of versions.
    let mut counts = vec![1usize; spec.keys];
    let hot = (spec.keys / 100).max(1) as u64;
    for _ in spec.keys..spec.entries {
        let i = if percent(&mut rng, 20) {
            // Spread the hot keys over the key space.
            rng.below(hot) * (spec.keys as u64 / hot)
        } else {
            rng.below(spec.keys as u64)
        };
        counts[i as usize] += 1;
    }

    // One owner for the bucket, as in most real ones (but its own allocation per entry,
    // as the SDK gives it).
    let owner = format!("{:016x}{:016x}{:016x}{:016x}", 7, 11, 13, 17);
    let mut out = Vec::with_capacity(spec.entries);
    let mut last = EPOCH;
    let mut serial = 0u64;
    for (key, &count) in keys.iter().zip(&counts) {
        // Oldest first, then reversed into list order. The writes are spread over the
        // whole window, so that at its midpoint most keys have changed since.
        let mut times: Vec<i64> = (0..count)
            .map(|_| EPOCH + rng.below(WINDOW) as i64)
            .collect();
        times.sort_unstable();
        for i in 1..count {
            // 5% of consecutive writes land in the same second.
            if percent(&mut rng, 5) {
                times[i] = times[i - 1];
            }
        }
        let mut history: Vec<Version> = Vec::with_capacity(count);
        for (n, &at) in times.iter().enumerate() {
            let previous_was_marker = history.last().is_some_and(|v| v.delete_marker);
            let delete_marker = match n {
                // A delete of a key that never existed still adds a marker.
                0 => percent(&mut rng, 1),
                // Most deleted keys are re-created, a few are deleted twice.
                _ if previous_was_marker => percent(&mut rng, 10),
                _ => percent(&mut rng, 11),
            };
            serial += 1;
            let version_id = format!("{:016x}{:016x}", rng.next_u64(), serial);
            history.push(if delete_marker {
                Version {
                    version_id: version_id.as_str().into(),
                    last_modified: DateTime::from_timestamp(at, 0).expect("in range"),
                    delete_marker: true,
                    etag: Default::default(),
                    size: 0,
                    storage_class: None,
                    owner_id: Some(owner.as_str().into()),
                    is_latest: false,
                }
            } else {
                let class = match rng.below(100) {
                    0 => "GLACIER",
                    1..=5 => "STANDARD_IA",
                    _ => "STANDARD",
                };
                Version {
                    version_id: version_id.as_str().into(),
                    last_modified: DateTime::from_timestamp(at, 0).expect("in range"),
                    delete_marker: false,
                    etag: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()).into(),
                    size: rng.below(10 << 20),
                    storage_class: Some(StorageClass::new(class)),
                    owner_id: Some(owner.as_str().into()),
                    is_latest: false,
                }
            });
        }
        last = last.max(times[count - 1]);
        history.reverse();
        history[0].is_latest = true;
        out.extend(history.into_iter().map(|version| Entry {
            key: key.clone(),
            version,
        }));
    }
    History {
        list_order: out,
        last: DateTime::from_timestamp(last, 0).expect("in range"),
    }
}

/// `count` distinct keys under nested prefixes, sorted in UTF-8 byte order.
fn key_names(rng: &mut Prng, count: usize) -> Vec<String> {
    const TOP: [&str; 6] = ["assets", "backups", "data", "logs", "site", "users"];
    const LEAF: [(&str, &str); 5] = [
        ("part", "parquet"),
        ("img", "jpg"),
        ("report", "csv"),
        ("index", "html"),
        ("blob", "bin"),
    ];
    let mut keys: Vec<String> = (0..count)
        .map(|i| {
            let top = TOP[rng.below(TOP.len() as u64) as usize];
            let (leaf, ext) = LEAF[rng.below(LEAF.len() as u64) as usize];
            let depth = rng.below(3);
            match depth {
                0 => format!("{top}/{leaf}-{i:07}.{ext}"),
                1 => format!("{top}/{:02}/{leaf}-{i:07}.{ext}", rng.below(32)),
                _ => format!(
                    "{top}/{:02}/{:03}/{leaf}-{i:07}.{ext}",
                    rng.below(32),
                    rng.below(256)
                ),
            }
        })
        .collect();
    // The index in each name makes them distinct; S3 lists them in byte order.
    keys.sort_unstable();
    keys
}

/// The most of `read()` (bytes live on the heap, from a counting allocator such as
/// `cap::Cap`) seen since the last [`reset`](PeakWatch::reset), sampled every
/// millisecond on a thread of its own: a peak that lasts less than that can be missed.
pub struct PeakWatch {
    peak: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    read: fn() -> usize,
}

impl PeakWatch {
    /// Start watching.
    pub fn start(read: fn() -> usize) -> PeakWatch {
        use std::sync::atomic::Ordering::Relaxed;
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(read()));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (p, s) = (peak.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Relaxed) {
                p.fetch_max(read(), Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        });
        PeakWatch { peak, stop, read }
    }

    /// Start the peak again from what is live now.
    pub fn reset(&self) {
        self.peak
            .store((self.read)(), std::sync::atomic::Ordering::Relaxed);
    }

    /// The most seen since the last reset (and what is live now, if more).
    pub fn peak(&self) -> usize {
        self.peak
            .fetch_max((self.read)(), std::sync::atomic::Ordering::Relaxed)
            .max((self.read)())
    }
}

impl Drop for PeakWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The allocators a memory bench counts with (for [`counted_heap!`]).
pub use {cap, mimalloc};

/// Declares the binary's allocator (mimalloc, as the s3rewind binary's) counted by
/// `cap::Cap`, and `fn live() -> usize`: the bytes allocated and not yet freed, what a
/// command holds (resident memory adds what the allocator keeps).
#[macro_export]
macro_rules! counted_heap {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::cap::Cap<$crate::mimalloc::MiMalloc> =
            $crate::cap::Cap::new($crate::mimalloc::MiMalloc, usize::MAX);

        /// The live heap: bytes allocated and not freed.
        fn live() -> usize {
            GLOBAL.allocated()
        }
    };
}

/// Bytes of the deleted-but-open temporary files this process holds (anonymous spill
/// files), from `/proc/self/fd`. Linux only.
pub fn temp_bytes() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path()).is_ok_and(|t| t.to_string_lossy().ends_with("(deleted)"))
        })
        .filter_map(|e| std::fs::metadata(e.path()).ok())
        .map(|m| m.len())
        .sum()
}

/// `b` bytes in whole MiB, for a bench's report ("12 MiB").
pub fn mib(b: u64) -> String {
    format!("{:.0} MiB", b as f64 / 1048576.0)
}

/// A memory figure of this process from `/proc/self/status` (`"VmRSS:"`, `"VmHWM:"`), in
/// bytes; 0 where there is none (not Linux).
pub fn proc_status(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3rewind_engine::{BucketState, SimBucket, Timeline, TimelineBuilder, Versioning};
    use std::collections::BTreeMap;

    fn small() -> History {
        generate(HistorySpec {
            entries: 5_000,
            keys: 800,
            seed: 7,
        })
    }

    /// Instants that exercise the history: every 50th distinct timestamp, one second
    /// before and after, and both ends.
    fn instants(h: &History) -> Vec<DateTime<Utc>> {
        let mut ts: Vec<i64> = h
            .list_order
            .iter()
            .map(|e| e.version.last_modified.timestamp())
            .collect();
        ts.sort_unstable();
        ts.dedup();
        let mut out = vec![EPOCH - 1, h.last.timestamp() + 1, h.midpoint().timestamp()];
        for t in ts.iter().step_by(50) {
            out.extend([t - 1, *t, t + 1]);
        }
        out.into_iter()
            .map(|s| DateTime::from_timestamp(s, 0).unwrap())
            .collect()
    }

    fn from_pages(pages: Vec<ListPage>) -> Timeline {
        let mut b = TimelineBuilder::new();
        for p in pages {
            b.push_page(p).unwrap();
        }
        b.finish()
    }

    fn ids(s: &BucketState) -> BTreeMap<&str, String> {
        s.objects
            .iter()
            .map(|e| (e.key.as_str(), e.version.version_id.to_string()))
            .collect()
    }

    #[test]
    fn generation_is_deterministic_and_has_the_promised_shape() {
        let h = small();
        assert_eq!(h.list_order, small().list_order);
        assert_eq!(h.list_order.len(), 5_000);

        let pages = h.pages();
        assert_eq!(pages.len(), 5);
        assert!(pages.iter().all(|p| p.len() == PAGE_SIZE));
        assert!(pages.iter().all(|p| {
            p.versions.iter().all(|e| !e.version.delete_marker)
                && p.delete_markers.iter().all(|e| e.version.delete_marker)
        }));

        let markers = h
            .list_order
            .iter()
            .filter(|e| e.version.delete_marker)
            .count();
        assert!((300..=700).contains(&markers), "{markers} delete markers");

        // Keys under nested prefixes, in byte order, each with its first entry latest.
        let tl = Timeline::from_ordered(h.list_order.clone()).unwrap();
        assert_eq!(tl.keys().len(), 800);
        assert!(tl.keys().iter().any(|k| k.key.matches('/').count() == 3));
        assert!(tl.keys().iter().all(|k| k.entries[0].is_latest));
        assert!(tl.keys().iter().any(|k| k.entries.len() >= 20), "hot keys");
        // Never out of order (a generated history has no late multipart uploads).
        assert!(tl.anomalies().is_empty());

        let mut recreated = 0;
        let mut version_ties = 0;
        let mut marker_ties = [0; 2]; // [version newer, marker newer]
        let mut split_keys = 0;
        for k in tl.keys() {
            for w in k.entries.windows(2) {
                let (newer, older) = (&w[0], &w[1]);
                recreated += usize::from(!newer.delete_marker && older.delete_marker);
                if newer.last_modified == older.last_modified {
                    match (newer.delete_marker, older.delete_marker) {
                        (false, false) => version_ties += 1,
                        (false, true) => marker_ties[0] += 1,
                        (true, false) => marker_ties[1] += 1,
                        (true, true) => {}
                    }
                }
            }
        }
        for w in pages.windows(2) {
            let last = |p: &ListPage| {
                p.versions
                    .iter()
                    .chain(&p.delete_markers)
                    .map(|e| e.key.clone())
                    .max()
            };
            let first = |p: &ListPage| {
                p.versions
                    .iter()
                    .chain(&p.delete_markers)
                    .map(|e| e.key.clone())
                    .min()
            };
            split_keys += usize::from(last(&w[0]) == first(&w[1]));
        }
        assert!(recreated > 100, "{recreated} re-created keys");
        assert!(version_ties > 20, "{version_ties} version ties");
        assert!(
            marker_ties.iter().all(|&n| n > 0),
            "{marker_ties:?} marker ties"
        );
        assert!(split_keys > 0, "no key is split across pages");
    }

    /// The pages (SDK shape) give the timeline of the exact list order, except where a
    /// version and a delete marker share a second, which the engine must flag.
    #[test]
    fn pages_give_the_list_order_timeline() {
        let h = small();
        let exact = Timeline::from_ordered(h.list_order.clone()).unwrap();
        let paged = from_pages(h.pages());
        assert_eq!(paged.len(), exact.len());
        assert_eq!(paged.keys().len(), exact.keys().len());
        let mut differing = 0;
        for (p, e) in paged.keys().iter().zip(exact.keys()) {
            assert_eq!(p.key, e.key);
            if p.entries != e.entries {
                differing += 1;
                // Only a same-second version/marker pair may have been swapped.
                assert!(
                    paged.anomalies().iter().any(|a| a.key() == p.key.as_str()),
                    "{} reordered without an anomaly",
                    p.key
                );
            }
        }
        assert!(differing > 0, "the data should exercise the tie rule");
        for t in instants(&h) {
            let (sp, se) = (paged.state_at(t), exact.state_at(t));
            let (ip, ie) = (ids(&sp), ids(&se));
            for k in exact.keys().iter().map(|k| k.key.as_str()) {
                if !sp.ambiguous.iter().any(|a| a == k) {
                    assert_eq!(ip.get(k), ie.get(k), "{k} at {t}");
                }
            }
        }
    }

    /// Replaying the generated history into the simulator lists the same entries in the
    /// same order, and the states at T agree with the simulator's truth: the generator
    /// writes a history S3 could have.
    #[test]
    fn generated_history_is_one_s3_could_list() {
        let h = small();
        let mut bucket = SimBucket::new(Versioning::Enabled, "sim");
        let tl = Timeline::from_ordered(h.list_order.clone()).unwrap();
        for k in tl.keys() {
            for v in k.entries.iter().rev() {
                if v.delete_marker {
                    bucket.delete(&k.key, v.last_modified);
                } else {
                    bucket.put(&k.key, v.version_id.as_str().as_bytes(), v.last_modified);
                }
            }
        }
        let shape = |es: &[Entry]| -> Vec<(String, DateTime<Utc>, bool, bool)> {
            es.iter()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.version.last_modified,
                        e.version.delete_marker,
                        e.version.is_latest,
                    )
                })
                .collect()
        };
        assert_eq!(shape(&bucket.list_order("")), shape(&h.list_order));

        for t in instants(&h) {
            let truth: BTreeMap<String, String> = bucket
                .truth_at(t)
                .into_iter()
                .map(|(k, c)| (k, String::from_utf8(c.to_vec()).unwrap()))
                .collect();
            let state: BTreeMap<String, String> = tl
                .state_at(t)
                .objects
                .into_iter()
                .map(|e| (e.key, e.version.version_id.to_string()))
                .collect();
            assert_eq!(state, truth, "at {t}");
        }
    }

    #[test]
    fn the_generator_is_not_degenerate() {
        let mut r = Prng(0);
        let draws: Vec<u64> = (0..1000).map(|_| r.below(10)).collect();
        for d in 0..10 {
            let n = draws.iter().filter(|&&x| x == d).count();
            assert!((50..=150).contains(&n), "{d}: {n}");
        }
    }
}
