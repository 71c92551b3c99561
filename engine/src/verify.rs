//! Verification: does a destination hold the source's state at T?
//!
//! The same question after every restore, whatever the destination: the bucket itself
//! (in place), another bucket or prefix, or a directory. [`compare`] walks the target
//! state (the source's state at T, mapped to destination keys exactly as the planner
//! maps them) beside the destination's current state and decides each key:
//!
//! - in place, a key whose current version **is** the version it had at T matches
//!   (versions are immutable);
//! - otherwise sizes must be equal, and then either the ETags are equal (the default,
//!   free: it comes with the listing) or, with `deep`, the content must be compared,
//!   which the caller does by reading both sides ([`Outcome::NeedsContent`]). An ETag is
//!   an MD5 of the content only for single-part, unencrypted or SSE-S3 objects, so equal
//!   content may have different ETags (multipart, SSE-KMS) and only `deep` can tell.
//!
//! Keys outside the source prefix (and, at the destination, outside its prefix) are not
//! looked at.

use crate::location::{Destination, Location};
use crate::model::Version;
use crate::plan::KnownCopy;
use crate::state::{BucketState, StateEntry};
use serde::{Deserialize, Serialize};

/// What one key's check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// In place: the current version is the version at T.
    SameVersion,
    /// Another version with the same size and ETag.
    SameSizeAndEtag,
    /// Same content (decided by the caller after reading both sides).
    SameContent,
    /// Same size, and the destination's current version is the copy of the source
    /// version that the restore's journal records (multipart copies get ETags of their
    /// own, so the ETags cannot be compared).
    KnownCopy,
    /// At another bucket or prefix: exists there but not at T. A restore leaves such
    /// keys alone, so they are reported, not counted as differences.
    Extra,
    /// Differs, but the key's state at T is not known for sure (a `null` version was
    /// rewritten after T, see [`BucketState::uncertain`]); the plan said what it did about
    /// it, so it is reported, not counted as a difference.
    Uncertain,
    /// Same size; the content must be read to decide (`deep`).
    NeedsContent,
    /// Existed at T, absent at the destination.
    Missing,
    /// Absent at T, exists at the destination.
    Unexpected,
    /// Sizes differ.
    DifferentSize,
    /// Same size, different ETags, and no content comparison asked for.
    DifferentEtag,
    /// Read both sides: the content differs.
    DifferentContent,
    /// A side could not be read, so the key could not be checked.
    Unreadable,
}

impl Outcome {
    /// True for the outcomes that count as a match.
    pub fn is_match(self) -> bool {
        matches!(
            self,
            Outcome::SameVersion
                | Outcome::SameSizeAndEtag
                | Outcome::SameContent
                | Outcome::KnownCopy
        )
    }

    /// True for the outcomes that make a verification fail.
    pub fn is_difference(self) -> bool {
        !self.is_match() && !matches!(self, Outcome::Extra | Outcome::Uncertain)
    }
}

/// One key's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyCheck {
    /// The key at the destination.
    pub key: String,
    /// The source key it must equal (`None` for an unexpected key).
    pub source_key: Option<String>,
    /// The source's version at T (`None`: absent at T).
    pub expected: Option<Version>,
    /// The destination's current version (`None`: absent there).
    pub current: Option<Version>,
    /// What was found.
    pub outcome: Outcome,
}

/// Turn the ETag differences of keys whose current version is a copy the restore's
/// journal records (of exactly the expected source version, still holding it: see
/// [`KnownCopy::holds`]) into [`Outcome::KnownCopy`].
pub fn recognise_copies(checks: &mut [KeyCheck], known: &[KnownCopy]) {
    use std::collections::HashMap;
    let by_key: HashMap<(&str, &str), &KnownCopy> = known
        .iter()
        .map(|k| ((k.key.as_str(), k.version_id.as_str()), k))
        .collect();
    for c in checks.iter_mut() {
        if c.outcome != Outcome::DifferentEtag {
            continue;
        }
        let (Some(src), Some(exp), Some(cur)) = (&c.source_key, &c.expected, &c.current) else {
            continue;
        };
        if by_key
            .get(&(c.key.as_str(), &*cur.version_id.as_str()))
            .is_some_and(|k| {
                &k.source_key == src && k.source_version_id == exp.version_id && k.holds(cur)
            })
        {
            c.outcome = Outcome::KnownCopy;
        }
    }
}

/// Compare the destination's `current` state with the source's `target` state.
///
/// `current` is keyed by destination keys (for [`Destination::InPlace`], the source's
/// own keys); entries of both states must be sorted by key, as states are. The result is
/// sorted by destination key. Unexpected keys are reported for S3 destinations only: a
/// directory may hold other files.
pub fn compare(
    source: &Location,
    destination: &Destination,
    target: &BucketState,
    current: &BucketState,
    deep: bool,
) -> Vec<KeyCheck> {
    compare_counted(source, destination, target, current, deep, |_| true).0
}

/// What [`compare_counted`] counted: every check's sides, and the checks it left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counted {
    /// Checks of keys that existed at T.
    pub at_target: u64,
    /// Checks of keys that exist at the destination.
    pub now: u64,
    /// The checks not kept, by outcome.
    pub left_out: std::collections::BTreeMap<Outcome, u64>,
}

/// True for the outcomes that are final when [`compare`] decides them and need no key
/// named: a match by version or by size and ETag, and an extra key elsewhere.
pub fn is_settled_match(o: Outcome) -> bool {
    matches!(
        o,
        Outcome::SameVersion | Outcome::SameSizeAndEtag | Outcome::Extra
    )
}

/// [`compare`], returning only the checks that `keep` keeps: the others are counted by
/// outcome in [`Counted::left_out`] (at millions of keys, a check per matching key is
/// most of a verification's memory; a caller keeps what it still has to look at).
pub fn compare_counted(
    source: &Location,
    destination: &Destination,
    target: &BucketState,
    current: &BucketState,
    deep: bool,
    keep: impl Fn(&KeyCheck) -> bool,
) -> (Vec<KeyCheck>, Counted) {
    let mut comparison = Comparison::new(destination, target, deep);
    for pair in crate::pairs::pairs(&source.prefix, destination, target, current) {
        comparison.pair(pair.key, pair.target, pair.current, &keep);
    }
    comparison.finish()
}

/// [`compare_counted`] a pair at a time, the pairs in any order: what a verification
/// that never holds either side whole feeds (the destination's current state as its
/// listing streams, the state at T looked up on disk). Each destination key must be
/// given once; the kept checks come out sorted by it, as [`compare`]'s do.
#[derive(Debug)]
pub struct Comparison<'a> {
    in_place: bool,
    directory: bool,
    deep: bool,
    /// The target state's notes (uncertain keys, unknown orders); its objects are not
    /// read.
    notes: &'a BucketState,
    out: Vec<KeyCheck>,
    counted: Counted,
}

impl<'a> Comparison<'a> {
    /// A comparison into `destination`, against a target state whose uncertain keys and
    /// unknown orders `notes` holds.
    pub fn new(destination: &Destination, notes: &'a BucketState, deep: bool) -> Self {
        Comparison {
            in_place: matches!(destination, Destination::InPlace),
            directory: matches!(destination, Destination::Directory { .. }),
            deep,
            notes,
            out: Vec::new(),
            counted: Counted::default(),
        }
    }

    /// Judge destination key `key`: `target` is the state at T's entry (its key the
    /// source key), `current` the destination's; `keep` says whether the check is kept
    /// or only counted.
    pub fn pair(
        &mut self,
        key: String,
        target: Option<&StateEntry>,
        current: Option<&StateEntry>,
        keep: impl Fn(&KeyCheck) -> bool,
    ) {
        let in_place = self.in_place;
        let mut check = match (target, current) {
            (Some(t), None) => KeyCheck {
                key,
                source_key: Some(t.key.clone()),
                expected: Some(t.version.clone()),
                current: None,
                outcome: Outcome::Missing,
            },
            (None, Some(c)) => {
                if self.directory {
                    return;
                }
                KeyCheck {
                    key: c.key.clone(),
                    source_key: None,
                    expected: None,
                    current: Some(c.version.clone()),
                    outcome: if in_place {
                        Outcome::Unexpected
                    } else {
                        Outcome::Extra
                    },
                }
            }
            (Some(t), Some(c)) => {
                let (tv, cv) = (&t.version, &c.version);
                let outcome = if in_place && tv.version_id == cv.version_id {
                    Outcome::SameVersion
                } else if tv.size != cv.size {
                    Outcome::DifferentSize
                } else if self.deep {
                    Outcome::NeedsContent
                } else if !tv.etag.is_empty() && tv.etag == cv.etag {
                    Outcome::SameSizeAndEtag
                } else {
                    Outcome::DifferentEtag
                };
                KeyCheck {
                    key,
                    source_key: Some(t.key.clone()),
                    expected: Some(tv.clone()),
                    current: Some(cv.clone()),
                    outcome,
                }
            }
            (None, None) => return,
        };
        // A key whose state at T is uncertain may differ from the best surviving answer;
        // one whose order is unknown, from the guess (a plan leaves it alone).
        let src = check.source_key.as_deref().unwrap_or(&check.key);
        if check.outcome.is_difference()
            && check.outcome != Outcome::NeedsContent
            && (self.notes.is_uncertain(src) || self.notes.order_unknown.iter().any(|k| k == src))
        {
            check.outcome = Outcome::Uncertain;
        }
        self.counted.at_target += u64::from(check.expected.is_some());
        self.counted.now += u64::from(check.current.is_some());
        if keep(&check) {
            self.out.push(check);
        } else {
            *self.counted.left_out.entry(check.outcome).or_default() += 1;
        }
    }

    /// The checks kept since the last call, sorted by destination key, handed over: a
    /// caller that writes them to disk a part at a time holds one part's. The counts go
    /// on; [`finish`](Self::finish) gives what was kept after the last call.
    pub fn take_kept(&mut self) -> Vec<KeyCheck> {
        if !self.out.is_sorted_by(|a, b| a.key <= b.key) {
            self.out.sort_by(|a, b| a.key.cmp(&b.key));
        }
        std::mem::take(&mut self.out)
    }

    /// The kept checks, sorted by destination key, and the counts.
    pub fn finish(mut self) -> (Vec<KeyCheck>, Counted) {
        if !self.out.is_sorted_by(|a, b| a.key <= b.key) {
            self.out.sort_by(|a, b| a.key.cmp(&b.key));
        }
        (self.out, self.counted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::StateEntry;
    use chrono::{TimeZone, Utc};

    fn v(id: &str, etag: &str, size: u64) -> Version {
        Version {
            version_id: id.into(),
            last_modified: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            delete_marker: false,
            etag: etag.into(),
            size,
            storage_class: None,
            owner_id: None,
            is_latest: false,
        }
    }

    fn state(entries: &[(&str, Version)]) -> BucketState {
        BucketState {
            objects: entries
                .iter()
                .map(|(k, v)| StateEntry {
                    key: (*k).into(),
                    version: v.clone(),
                })
                .collect(),
            ..BucketState::default()
        }
    }

    fn loc(bucket: &str, prefix: &str) -> Location {
        Location {
            bucket: bucket.into(),
            prefix: prefix.into(),
        }
    }

    fn outcomes(checks: &[KeyCheck]) -> Vec<(&str, Outcome)> {
        checks.iter().map(|c| (c.key.as_str(), c.outcome)).collect()
    }

    #[test]
    fn in_place_every_outcome_is_named() {
        let target = state(&[
            ("copy", v("v1", "e1", 3)),
            ("etag", v("v2", "e2", 3)),
            ("gone", v("v3", "e3", 3)),
            ("same", v("v4", "e4", 3)),
            ("size", v("v5", "e5", 3)),
        ]);
        let current = state(&[
            ("copy", v("c1", "e1", 3)),
            ("etag", v("c2", "zz", 3)),
            ("new", v("c3", "e3", 3)),
            ("same", v("v4", "e4", 3)),
            ("size", v("c5", "e5", 4)),
        ]);
        let src = loc("b", "");
        let checks = compare(&src, &Destination::InPlace, &target, &current, false);
        assert_eq!(
            outcomes(&checks),
            [
                ("copy", Outcome::SameSizeAndEtag),
                ("etag", Outcome::DifferentEtag),
                ("gone", Outcome::Missing),
                ("new", Outcome::Unexpected),
                ("same", Outcome::SameVersion),
                ("size", Outcome::DifferentSize),
            ]
        );
        let deep = compare(&src, &Destination::InPlace, &target, &current, true);
        assert_eq!(deep[0].outcome, Outcome::NeedsContent);
        assert_eq!(deep[1].outcome, Outcome::NeedsContent);
        assert_eq!(deep[4].outcome, Outcome::SameVersion);
    }

    #[test]
    fn another_bucket_maps_keys_and_never_trusts_equal_version_ids() {
        // A `null` copy in an unversioned destination has the id of a `null` source.
        let target = state(&[("app/a", v("null", "e1", 3)), ("app/b", v("v2", "e2", 3))]);
        let current = state(&[
            ("restored/a", v("null", "zz", 3)),
            ("restored/b", v("x", "e2", 3)),
            ("restored/c", v("x", "e9", 1)),
            ("zzz-outside", v("x", "e9", 1)),
        ]);
        let dest = Destination::Bucket {
            location: loc("other", "restored/"),
        };
        let checks = compare(&loc("b", "app/"), &dest, &target, &current, false);
        assert_eq!(
            outcomes(&checks),
            [
                ("restored/a", Outcome::DifferentEtag),
                ("restored/b", Outcome::SameSizeAndEtag),
                ("restored/c", Outcome::Extra),
            ]
        );
        assert_eq!(checks[0].source_key.as_deref(), Some("app/a"));
    }

    #[test]
    fn journal_copies_explain_different_etags_only_for_the_right_version() {
        let target = state(&[("a", v("v1", "e1", 3)), ("b", v("v2", "e2", 3))]);
        let current = state(&[("a", v("c1", "mp-2", 3)), ("b", v("c2", "mp-2", 3))]);
        let mut checks = compare(
            &loc("s", ""),
            &Destination::Bucket {
                location: loc("d", ""),
            },
            &target,
            &current,
            false,
        );
        let copy = |key: &str, vid: &str, src_vid: &str| KnownCopy {
            key: key.into(),
            version_id: vid.into(),
            source_key: key.into(),
            source_version_id: src_vid.into(),
            etag: String::new(),
            size: None,
        };
        // b's journal line is for another source version: no excuse.
        recognise_copies(&mut checks, &[copy("a", "c1", "v1"), copy("b", "c2", "v9")]);
        assert_eq!(
            outcomes(&checks),
            [("a", Outcome::KnownCopy), ("b", Outcome::DifferentEtag)]
        );
    }

    #[test]
    fn uncertain_keys_are_reported_not_failed() {
        let mut target = state(&[("a", v("v1", "e1", 3))]);
        target.uncertain.push(crate::state::Uncertain {
            key: "n".into(),
            null_written_at: Utc.timestamp_opt(1_700_000_100, 0).unwrap(),
            present: false,
        });
        let current = state(&[("a", v("v1", "e1", 3)), ("n", v("null", "e", 1))]);
        let checks = compare(
            &loc("b", ""),
            &Destination::InPlace,
            &target,
            &current,
            false,
        );
        assert_eq!(
            outcomes(&checks),
            [("a", Outcome::SameVersion), ("n", Outcome::Uncertain)]
        );
        assert!(!Outcome::Uncertain.is_difference());
    }

    #[test]
    fn a_directory_reports_missing_files_but_not_other_files() {
        let target = state(&[("p/a", v("v1", "e1", 3)), ("p/b", v("v2", "e2", 3))]);
        let current = state(&[("a", v("v1", "e1", 3)), ("other", v("-", "", 9))]);
        let dest = Destination::Directory { path: "/d".into() };
        let checks = compare(&loc("b", "p/"), &dest, &target, &current, false);
        assert_eq!(
            outcomes(&checks),
            [("a", Outcome::SameSizeAndEtag), ("b", Outcome::Missing)]
        );
    }

    proptest::proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Leaving checks out changes nothing else: the checks kept are exactly those of
        /// `compare`'s that `keep` keeps, in order, and what was left out and both sides
        /// are counted as `compare`'s checks count them.
        #[test]
        fn a_counted_comparison_keeps_every_check_but_the_settled_matches(
            target in proptest::collection::btree_map("(s/|d/|x)[ab]{0,2}", (0u8..3, 0u8..3, 0u8..2), 0..16),
            current in proptest::collection::btree_map("(s/|d/|x)[ab]{0,2}", (0u8..3, 0u8..3, 0u8..2), 0..16),
            dest in 0u8..3,
            deep: bool,
            uncertain in proptest::collection::vec("s/[ab]{0,2}", 0..3),
            order: u64,
        ) {
            let destination = match dest {
                0 => Destination::InPlace,
                1 => Destination::Bucket { location: loc("b", "d/") },
                _ => Destination::Directory { path: "/d".into() },
            };
            let side = |m: &std::collections::BTreeMap<String, (u8, u8, u8)>| {
                let entries: Vec<(String, Version)> = m
                    .iter()
                    .map(|(k, (id, etag, size))| {
                        (k.clone(), v(&format!("v{id}"), ["", "e1", "e2"][*etag as usize], u64::from(*size)))
                    })
                    .collect();
                let refs: Vec<(&str, Version)> =
                    entries.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
                state(&refs)
            };
            let (mut t, c) = (side(&target), side(&current));
            t.order_unknown = uncertain;
            let source = loc("b", "s/");
            let all = compare(&source, &destination, &t, &c, deep);
            // Keep what is not a settled match, and also every third key of the rest
            // (a caller keeps some matches: radosgw's `null` copies are read back).
            let keep = |c: &KeyCheck| !is_settled_match(c.outcome) || c.key.len().is_multiple_of(3);
            let (kept, counted) = compare_counted(&source, &destination, &t, &c, deep, keep);
            // A pair at a time and in any order (as a streamed verification feeds them):
            // the same kept checks, in the same order, and the same counts.
            let mut pairs: Vec<_> = crate::pairs::pairs(&source.prefix, &destination, &t, &c).collect();
            crate::prng::Prng(order).shuffle(&mut pairs);
            let mut one = Comparison::new(&destination, &t, deep);
            let mut taken = Vec::new();
            let every = (order % 5 + 1) as usize;
            for (i, p) in pairs.iter().enumerate() {
                one.pair(p.key.clone(), p.target, p.current, keep);
                // Handed over every few pairs (a part of a listing): each hand-over
                // sorted, and together, sorted, what one `finish` keeps.
                if i % every == 0 {
                    let part = one.take_kept();
                    proptest::prop_assert!(part.is_sorted_by(|a, b| a.key <= b.key));
                    taken.extend(part);
                }
            }
            let (rest, counted_too) = one.finish();
            taken.extend(rest);
            taken.sort_by(|a, b| a.key.cmp(&b.key));
            proptest::prop_assert_eq!((taken, counted_too), (kept.clone(), counted.clone()));
            let mut one = Comparison::new(&destination, &t, deep);
            for p in pairs {
                one.pair(p.key, p.target, p.current, keep);
            }
            proptest::prop_assert_eq!(one.finish(), (kept.clone(), counted.clone()));
            let others: Vec<KeyCheck> = all.iter().filter(|c| keep(c)).cloned().collect();
            proptest::prop_assert_eq!(kept, others);
            let mut left_out = std::collections::BTreeMap::new();
            for c in all.iter().filter(|c| !keep(c)) {
                *left_out.entry(c.outcome).or_insert(0u64) += 1;
            }
            proptest::prop_assert_eq!(&counted.left_out, &left_out);
            proptest::prop_assert_eq!(counted.at_target, all.iter().filter(|c| c.expected.is_some()).count() as u64);
            proptest::prop_assert_eq!(counted.now, all.iter().filter(|c| c.current.is_some()).count() as u64);
            let (every, same) = compare_counted(&source, &destination, &t, &c, deep, |_| true);
            proptest::prop_assert_eq!(every, all);
            proptest::prop_assert!(same.left_out.is_empty());
        }
    }
}
