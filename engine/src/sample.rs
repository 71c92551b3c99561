//! Drill samples (`drill --sample N|P%`): a random sample of the keys a recovery restores,
//! stratified by prefix, and the recovery time projected from it to the whole range.
//!
//! # The sample
//!
//! The keys are grouped into *strata* by their first path segment below the source prefix
//! (`logs/`, `images/`, and one stratum `""` for keys with no `/` in that part). The
//! sample size is shared out in proportion to the strata's sizes (largest remainders), and
//! every stratum gets at least one key when the sample has room for one per stratum. In
//! each stratum the keys whose scores are lowest are taken, a key's score being a
//! pseudo-random number seeded by the sample's seed and the key: a uniform sample without
//! replacement, and the same seed gives the same sample.
//!
//! # The projection
//!
//! A sampled drill lists and plans the **whole** range (that part of its time is measured,
//! not projected: `fixed`), then copies and verifies only the sample (`scaled`). The
//! projected recovery time is `fixed + scaled × ratio`, where the ratio scales the sample
//! up to the range: by keys (`N / n`, for request-bound copies) and by bytes (`B / b`, for
//! byte-bound ones); the projection takes the larger, the low end the smaller. The range
//! around it widens both ends by the sampling error of a mean over `n` keys of `N`
//! (95%: `1.96 · sqrt((1 − n/N) / n) · cv`), with `cv` the coefficient of variation of
//! the per-key work, taken as the sample's spread of object sizes and never below 1 (as for
//! exponential service times). A drill of every key (`n = N`) projects exactly what it
//! measured.

use crate::hash::fnv1a_from;
use crate::prng::Prng;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

/// How large a sample: a number of keys, or a percentage of them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleSize {
    /// At most this many keys (all of them when there are fewer).
    Count(u64),
    /// This percentage of the keys, rounded up (`0% < P <= 100%`).
    Percent(f64),
}

impl SampleSize {
    /// Parse `N` (N ≥ 1) or `P%` (0 < P ≤ 100).
    pub fn parse(text: &str) -> Result<SampleSize, String> {
        let t = text.trim();
        let bad = || {
            format!(
                "invalid sample size {text:?}: give a number of keys (500) or a percentage of them (1%, 0.5%)"
            )
        };
        if let Some(p) = t.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| bad())?;
            if !(p > 0.0 && p <= 100.0) {
                return Err(bad());
            }
            Ok(SampleSize::Percent(p))
        } else {
            match t.parse::<u64>() {
                Ok(n) if n >= 1 => Ok(SampleSize::Count(n)),
                _ => Err(bad()),
            }
        }
    }

    /// The number of keys sampled from `population` (at least one of a non-empty one).
    pub fn of(self, population: u64) -> u64 {
        let n = match self {
            SampleSize::Count(n) => n,
            SampleSize::Percent(p) => (population as f64 * p / 100.0).ceil() as u64,
        };
        n.clamp(population.min(1), population)
    }
}

/// One stratum of a sample: its keys and bytes in the range and in the sample.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stratum {
    /// The first path segment below the source prefix, with its `/` (`""`: keys without one).
    pub name: String,
    /// Keys in the range.
    pub keys: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Keys sampled.
    pub sampled: u64,
    /// Their bytes.
    pub sampled_bytes: u64,
}

/// A sample of keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sample {
    /// The seed it was drawn with.
    pub seed: u64,
    /// Keys in the range, and their bytes.
    pub population: u64,
    /// Bytes in the range.
    pub population_bytes: u64,
    /// Keys sampled, and their bytes.
    pub size: u64,
    /// Bytes sampled.
    pub bytes: u64,
    /// The strata, by name.
    pub strata: Vec<Stratum>,
    /// The sampled keys.
    #[serde(skip)]
    pub keys: BTreeSet<String>,
    /// The coefficient of variation of the sampled objects' sizes.
    pub size_cv: f64,
}

impl Sample {
    /// The sample drawn with `seed`: its `strata`, the `keys` taken and their sizes.
    fn of(seed: u64, strata: Vec<Stratum>, keys: BTreeSet<String>, sizes: &[u64]) -> Sample {
        Sample {
            seed,
            population: strata.iter().map(|s| s.keys).sum(),
            population_bytes: strata.iter().map(|s| s.bytes).sum(),
            size: keys.len() as u64,
            bytes: strata.iter().map(|s| s.sampled_bytes).sum(),
            strata,
            keys,
            size_cv: cv(sizes),
        }
    }
}

/// The stratum of `key` below `prefix`: its first path segment with the `/`, or `""`.
pub fn stratum_of<'a>(prefix: &str, key: &'a str) -> &'a str {
    let rest_at = if key.starts_with(prefix) {
        prefix.len()
    } else {
        0
    };
    match key[rest_at..].find('/') {
        Some(i) => &key[rest_at..rest_at + i + 1],
        None => "",
    }
}

/// Share `n` out over strata of the given sizes: proportionally (largest remainders), at
/// least one each when `n` has room for one per non-empty stratum, never more than a
/// stratum holds. The shares add up to `min(n, total)`.
pub fn allocate(sizes: &[u64], n: u64) -> Vec<u64> {
    let total: u64 = sizes.iter().sum();
    let n = n.min(total);
    let nonempty = sizes.iter().filter(|&&s| s > 0).count() as u64;
    let base: Vec<u64> = sizes
        .iter()
        .map(|&s| u64::from(n >= nonempty && s > 0))
        .collect();
    let left = n - base.iter().sum::<u64>();
    let room: Vec<u64> = sizes.iter().zip(&base).map(|(s, b)| s - b).collect();
    let room_total: u64 = room.iter().sum();
    if left == 0 || room_total == 0 {
        return base;
    }
    let quota: Vec<(u64, u128)> = room
        .iter()
        .map(|&r| {
            let exact = u128::from(left) * u128::from(r);
            (
                (exact / u128::from(room_total)) as u64,
                exact % u128::from(room_total),
            )
        })
        .collect();
    let mut share: Vec<u64> = base.iter().zip(&quota).map(|(b, q)| b + q.0).collect();
    let mut rest = left - quota.iter().map(|q| q.0).sum::<u64>();
    let mut order: Vec<usize> = (0..sizes.len()).collect();
    order.sort_by(|&a, &b| quota[b].1.cmp(&quota[a].1).then(a.cmp(&b)));
    for i in order {
        if rest == 0 {
            break;
        }
        if share[i] < sizes[i] {
            share[i] += 1;
            rest -= 1;
        }
    }
    share
}

/// Draw a sample of `size` from `items` (key, bytes) under `prefix` with `seed` (see the
/// module docs). A key given twice counts once.
pub fn choose<'a>(
    items: impl IntoIterator<Item = (&'a str, u64)>,
    prefix: &str,
    size: SampleSize,
    seed: u64,
) -> Sample {
    let items: BTreeMap<&str, u64> = items.into_iter().collect();
    let mut strata = Strata::new(prefix);
    for (key, bytes) in &items {
        strata.count(key, *bytes);
    }
    let mut chooser = strata.chooser(size, seed);
    for (key, bytes) in &items {
        chooser.offer(key, *bytes);
    }
    chooser.finish()
}

/// [`choose`] over keys read twice and never held (a plan on disk): [`count`](Self::count)
/// each key once, then hand each once more to the [`Chooser`], in any order. Memory holds
/// a count per stratum, then the sample. The same sample as [`choose`] (property-tested).
#[derive(Debug, Clone)]
pub struct Strata {
    prefix: String,
    /// Per stratum: its keys and their bytes.
    counts: BTreeMap<String, (u64, u64)>,
}

impl Strata {
    /// No key counted yet, for keys under `prefix`.
    pub fn new(prefix: &str) -> Strata {
        Strata {
            prefix: prefix.to_owned(),
            counts: BTreeMap::new(),
        }
    }

    /// Count `key` (of `bytes`) in its stratum: each key once.
    pub fn count(&mut self, key: &str, bytes: u64) {
        let name = stratum_of(&self.prefix, key);
        let c = match self.counts.get_mut(name) {
            Some(c) => c,
            None => self.counts.entry(name.to_owned()).or_default(),
        };
        c.0 += 1;
        c.1 += bytes;
    }

    /// The sample's shares of the strata counted, for the second reading.
    pub fn chooser(self, size: SampleSize, seed: u64) -> Chooser {
        let sizes: Vec<u64> = self.counts.values().map(|c| c.0).collect();
        let shares = allocate(&sizes, size.of(sizes.iter().sum()));
        Chooser {
            seed,
            strata: self
                .counts
                .into_iter()
                .zip(shares)
                .map(|((name, (keys, bytes)), share)| {
                    (name, (keys, bytes, share, BinaryHeap::new()))
                })
                .collect(),
            prefix: self.prefix,
        }
    }
}

/// The second reading of [`Strata`]: each stratum keeps the keys of lowest score, as many
/// as its share.
#[derive(Debug, Clone)]
pub struct Chooser {
    prefix: String,
    seed: u64,
    strata: BTreeMap<String, Drawing>,
}

/// One stratum being drawn: its keys and bytes, its share, and the keys of lowest score so
/// far (score, key, bytes; the highest on top).
type Drawing = (u64, u64, u64, BinaryHeap<(u64, String, u64)>);

impl Chooser {
    /// Offer `key` (of `bytes`), counted in the first reading.
    pub fn offer(&mut self, key: &str, bytes: u64) {
        let Some((_, _, share, heap)) = self.strata.get_mut(stratum_of(&self.prefix, key)) else {
            return;
        };
        let score = score(self.seed, key);
        if (heap.len() as u64) < *share {
            heap.push((score, key.to_owned(), bytes));
        } else if heap
            .peek()
            .is_some_and(|top| (score, key, bytes) < (top.0, top.1.as_str(), top.2))
        {
            heap.pop();
            heap.push((score, key.to_owned(), bytes));
        }
    }

    /// The sample.
    pub fn finish(self) -> Sample {
        let mut keys = BTreeSet::new();
        let mut out = Vec::new();
        let mut sampled_sizes = Vec::new();
        for (name, (members, bytes, share, heap)) in self.strata {
            let taken = heap.into_sorted_vec();
            sampled_sizes.extend(taken.iter().map(|t| t.2));
            let sampled_bytes = taken.iter().map(|t| t.2).sum();
            keys.extend(taken.into_iter().map(|t| t.1));
            out.push(Stratum {
                name,
                keys: members,
                bytes,
                sampled: share,
                sampled_bytes,
            });
        }
        Sample::of(self.seed, out, keys, &sampled_sizes)
    }
}

/// A key's pseudo-random score under `seed`.
fn score(seed: u64, key: &str) -> u64 {
    Prng(fnv1a_from(seed, key.bytes())).next_u64()
}

/// The coefficient of variation (population form) of `xs`; 0 for fewer than two or a
/// mean of 0.
fn cv(xs: &[u64]) -> f64 {
    if xs.len() < 2 {
        return 0.0;
    }
    let n = xs.len() as f64;
    let mean = xs.iter().map(|&x| x as f64).sum::<f64>() / n;
    if mean == 0.0 {
        return 0.0;
    }
    let var = xs.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    var.sqrt() / mean
}

/// A recovery time projected from a sample to the whole range (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Measured on the whole range: listing and planning.
    pub fixed_seconds: f64,
    /// Measured on the sample: copying and verifying.
    pub sample_seconds: f64,
    /// The range over the sample, by keys (`N / n`).
    pub by_keys: f64,
    /// The range over the sample, by bytes (`B / b`; by keys when the sample has no bytes).
    pub by_bytes: f64,
    /// The relative sampling error (95%).
    pub relative_error: f64,
    /// The projected recovery time of the whole range.
    pub seconds: f64,
    /// The low end of its range.
    pub low: f64,
    /// The high end of its range.
    pub high: f64,
}

/// Project a drill of `sample` whose whole-range part took `fixed` seconds and whose
/// sampled part took `scaled` seconds.
pub fn project(sample: &Sample, fixed: f64, scaled: f64) -> Projection {
    let (n, big_n) = (sample.size.max(1) as f64, sample.population.max(1) as f64);
    let by_keys = big_n / n;
    let by_bytes = if sample.bytes > 0 {
        sample.population_bytes as f64 / sample.bytes as f64
    } else {
        by_keys
    };
    let f = (n / big_n).min(1.0);
    let relative_error = 1.96 * ((1.0 - f) / n).sqrt() * sample.size_cv.max(1.0);
    let (lo, hi) = (by_keys.min(by_bytes), by_keys.max(by_bytes));
    Projection {
        fixed_seconds: fixed,
        sample_seconds: scaled,
        by_keys,
        by_bytes,
        relative_error,
        seconds: fixed + scaled * hi,
        low: fixed + scaled * lo * (1.0 - relative_error).max(0.0),
        high: fixed + scaled * hi * (1.0 + relative_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The sample drawn by sorting each stratum whole (how `choose` drew it before the
    /// keys could be read twice instead of held): the reference for the streamed draw.
    fn choose_by_sorting(
        items: &[(String, u64)],
        prefix: &str,
        size: SampleSize,
        seed: u64,
    ) -> Sample {
        let mut strata: BTreeMap<&str, BTreeMap<&str, u64>> = BTreeMap::new();
        for (key, bytes) in items {
            strata
                .entry(stratum_of(prefix, key))
                .or_default()
                .insert(key, *bytes);
        }
        let sizes: Vec<u64> = strata.values().map(|s| s.len() as u64).collect();
        let shares = allocate(&sizes, size.of(sizes.iter().sum()));
        let (mut keys, mut out, mut sampled_sizes) = (BTreeSet::new(), Vec::new(), Vec::new());
        for ((name, members), share) in strata.iter().zip(shares) {
            let mut scored: Vec<(u64, &str, u64)> = members
                .iter()
                .map(|(k, b)| (score(seed, k), *k, *b))
                .collect();
            scored.sort_unstable();
            let taken = &scored[..share as usize];
            sampled_sizes.extend(taken.iter().map(|t| t.2));
            keys.extend(taken.iter().map(|t| t.1.to_owned()));
            out.push(Stratum {
                name: (*name).to_owned(),
                keys: members.len() as u64,
                bytes: members.values().sum(),
                sampled: share,
                sampled_bytes: taken.iter().map(|t| t.2).sum(),
            });
        }
        Sample::of(seed, out, keys, &sampled_sizes)
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(128))]
        /// Counted in one reading and chosen in a second (the keys in another order, as
        /// never held), the sample is the one sorting each stratum whole draws: the same
        /// keys, strata, sizes, bytes and spread; so is `choose`'s.
        #[test]
        fn a_sample_drawn_in_two_readings_is_the_one_drawn_whole(
            keys in proptest::collection::btree_map("(p/)?[a-d]{0,2}/?[a-z]{1,3}", 0u64..1000, 0..80),
            prefix in prop_oneof![Just(String::new()), Just("p/".to_owned())],
            count in 1u64..40,
            percent in proptest::option::of(1u32..=100),
            seed: u64,
            order: u64,
        ) {
            let items: Vec<(String, u64)> = keys.into_iter().collect();
            let size = percent.map_or(SampleSize::Count(count), |p| SampleSize::Percent(f64::from(p)));
            let want = choose_by_sorting(&items, &prefix, size, seed);
            let mut strata = Strata::new(&prefix);
            for (k, b) in &items {
                strata.count(k, *b);
            }
            let mut shuffled = items.clone();
            Prng(order).shuffle(&mut shuffled);
            let mut chooser = strata.chooser(size, seed);
            for (k, b) in &shuffled {
                chooser.offer(k, *b);
            }
            let got = chooser.finish();
            prop_assert_eq!(&got.keys, &want.keys);
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(choose(items.iter().map(|(k, b)| (k.as_str(), *b)), &prefix, size, seed), want);
        }
    }

    #[test]
    fn sizes_parse_and_apply() {
        assert_eq!(SampleSize::parse("500"), Ok(SampleSize::Count(500)));
        assert_eq!(SampleSize::parse(" 2.5% "), Ok(SampleSize::Percent(2.5)));
        for bad in ["0", "0%", "101%", "-1", "x", "%", "1.5"] {
            assert!(SampleSize::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(SampleSize::Count(500).of(120), 120);
        assert_eq!(SampleSize::Percent(1.0).of(1001), 11, "rounded up");
        assert_eq!(SampleSize::Percent(0.001).of(10), 1, "at least one");
        assert_eq!(SampleSize::Percent(50.0).of(0), 0);
    }

    #[test]
    fn strata_are_first_segments_below_the_prefix() {
        assert_eq!(stratum_of("", "logs/a/b"), "logs/");
        assert_eq!(stratum_of("data/", "data/logs/a"), "logs/");
        assert_eq!(stratum_of("data/", "data/top"), "");
        assert_eq!(stratum_of("da", "data/x"), "ta/");
    }

    #[test]
    fn every_prefix_is_represented_when_there_is_room() {
        let mut keys: Vec<(String, u64)> = (0..1000).map(|i| (format!("big/{i}"), 10)).collect();
        keys.push(("tiny/only".into(), 10));
        let s = choose(
            keys.iter().map(|(k, b)| (k.as_str(), *b)),
            "",
            SampleSize::Count(10),
            7,
        );
        assert_eq!(s.size, 10);
        assert!(s.keys.contains("tiny/only"), "{:?}", s.keys);
    }

    #[test]
    fn a_drill_of_every_key_projects_what_it_measured() {
        let keys = [("a", 5), ("b/c", 7)];
        let s = choose(keys, "", SampleSize::Percent(100.0), 1);
        let p = project(&s, 10.0, 4.0);
        assert_eq!((p.seconds, p.low, p.high), (14.0, 14.0, 14.0));
    }

    fn population() -> impl Strategy<Value = Vec<(String, u64)>> {
        prop::collection::btree_map("[a-c]{0,2}/?[a-z]{1,3}", 0u64..1000, 0..60)
            .prop_map(|m| m.into_iter().collect())
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]

        /// Shares add up to the sample size, never exceed a stratum, give each non-empty
        /// stratum one when there is room, and stay within one key of proportional.
        #[test]
        fn allocation_is_proportional_and_complete(sizes in prop::collection::vec(0u64..50, 0..8), n in 0u64..200) {
            let shares = allocate(&sizes, n);
            let total: u64 = sizes.iter().sum();
            prop_assert_eq!(shares.iter().sum::<u64>(), n.min(total));
            let nonempty = sizes.iter().filter(|&&s| s > 0).count() as u64;
            for (s, share) in sizes.iter().zip(&shares) {
                prop_assert!(share <= s);
                if n >= nonempty && *s > 0 {
                    prop_assert!(*share >= 1);
                }
                if total > 0 && n >= nonempty {
                    let exact = n.min(total) as f64 * *s as f64 / total as f64;
                    prop_assert!((*share as f64 - exact).abs() <= 2.0, "{} vs {}", share, exact);
                }
            }
        }

        /// A sample is a subset of the keys, of the asked size, the same for the same seed,
        /// and its strata account for every key and byte.
        #[test]
        fn a_sample_is_a_reproducible_subset(keys in population(), pct in 1u32..=100, seed: u64) {
            let items = || keys.iter().map(|(k, b)| (k.as_str(), *b));
            let s = choose(items(), "", SampleSize::Percent(f64::from(pct)), seed);
            prop_assert_eq!(s.population, keys.len() as u64);
            prop_assert_eq!(s.size, SampleSize::Percent(f64::from(pct)).of(keys.len() as u64));
            prop_assert!(s.keys.iter().all(|k| keys.iter().any(|(x, _)| x == k)));
            prop_assert_eq!(s.strata.iter().map(|t| t.keys).sum::<u64>(), s.population);
            prop_assert_eq!(s.strata.iter().map(|t| t.sampled).sum::<u64>(), s.size);
            prop_assert_eq!(s.population_bytes, keys.iter().map(|k| k.1).sum::<u64>());
            let bytes: u64 = keys.iter().filter(|(k, _)| s.keys.contains(k)).map(|k| k.1).sum();
            prop_assert_eq!(s.bytes, bytes);
            prop_assert_eq!(&choose(items(), "", SampleSize::Percent(f64::from(pct)), seed), &s);
        }

        /// The projection never undercuts what was measured, its range holds it, and it
        /// shrinks to the measurement as the sample grows to the whole range.
        #[test]
        fn the_projection_brackets_and_converges(keys in population(), fixed in 0.0f64..100.0, scaled in 0.0f64..100.0, seed: u64) {
            prop_assume!(!keys.is_empty());
            let items = || keys.iter().map(|(k, b)| (k.as_str(), *b));
            let part = project(&choose(items(), "", SampleSize::Count(1), seed), fixed, scaled);
            prop_assert!(part.low <= part.seconds && part.seconds <= part.high);
            prop_assert!(part.seconds >= fixed + scaled - 1e-9);
            let all = project(&choose(items(), "", SampleSize::Percent(100.0), seed), fixed, scaled);
            prop_assert!((all.seconds - (fixed + scaled)).abs() < 1e-9);
            prop_assert!((all.high - all.low).abs() < 1e-9);
        }
    }
}
