//! The state of a bucket at one instant: which keys exist and with which version.
//!
//! # The rule
//!
//! For each key, S_T = the **first entry in list order whose `LastModified` ≤ T**.
//! T is **inclusive**: an object written during the second T itself counts as existing at
//! T (S3 timestamps have whole-second resolution, so "≤ T" is the only rule that can be
//! applied consistently). If S_T is a delete marker, or no entry qualifies, the key is
//! absent at T. This is the rule AWS's own rollback tool uses.
//!
//! # What a listing cannot tell
//!
//! - A `null` version is *replaced in place* when written again while versioning is
//!   suspended. A `null` entry with `LastModified > T` therefore means that what the key
//!   held at T may have been overwritten with no trace. Such keys are reported in
//!   [`BucketState::uncertain`]; the state still gives the best surviving answer.
//! - A version and a delete marker of one key with the same timestamp cannot be ordered
//!   from split lists (see [`crate::timeline`]). A key whose order was guessed (a tie
//!   rule, or a page whose layout was unknown) and whose state at T depends on that
//!   guess is reported in [`BucketState::ambiguous`]. Keys listed in the server's own
//!   interleaved order are never ambiguous.
//! - Where list order and timestamps disagree (a concurrent PUT stamped before a DELETE
//!   listed below it; a multipart upload completed after a later write), the rule still
//!   walks list order: S_T is the first listed entry stamped at or before T. Such keys
//!   are reported in [`BucketState::out_of_order`]; their state at an instant between
//!   the disagreeing timestamps is what list order implies, not necessarily what a GET
//!   returned then.

use crate::model::Version;
use crate::timeline::{KeyHistory, Timeline};
use chrono::{DateTime, Utc};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

/// Below this many keys the state is computed on the calling thread.
const PARALLEL_THRESHOLD: usize = 16 * 1024;

/// One key that exists in a state, and the version it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEntry {
    /// The key.
    pub key: String,
    /// The version the key has (never a delete marker).
    pub version: Version,
}

/// A key whose state at T cannot be known for sure, because a `null` version was
/// written (or deleted) after T and may have replaced what the key held at T.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncertain {
    /// The key.
    pub key: String,
    /// When the `null` entry was written.
    pub null_written_at: DateTime<Utc>,
    /// Whether the state (as computed from what survives) has the key present.
    pub present: bool,
}

/// Which keys exist, with which versions, at one instant (or now).
///
/// Entries are sorted by key. Only keys that exist are listed: a key that is absent (never
/// written, or deleted) has no entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BucketState {
    /// The instant this state is for; `None` for the current state.
    pub at: Option<DateTime<Utc>>,
    /// Existing keys, sorted by key.
    pub objects: Vec<StateEntry>,
    /// Keys whose state may be wrong because a `null` version was rewritten after T.
    pub uncertain: Vec<Uncertain>,
    /// Keys whose state depends on a same-timestamp version/delete-marker tie.
    pub ambiguous: Vec<String>,
    /// Those of [`ambiguous`](Self::ambiguous) whose order itself is unknown
    /// ([`Anomaly::OrderUnknown`](crate::Anomaly): a page that proved no layout, an
    /// inventory's same-second versions of one key): no rule decided them, so a plan
    /// leaves them alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub order_unknown: Vec<String>,
    /// Keys whose timestamps are not non-increasing along the list (the state follows
    /// list order; see [`Anomaly::NonMonotonic`](crate::Anomaly)).
    pub out_of_order: Vec<String>,
}

impl BucketState {
    /// The version a key has in this state, if it exists.
    pub fn get(&self, key: &str) -> Option<&Version> {
        self.objects
            .binary_search_by(|e| e.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.objects[i].version)
    }

    /// Number of existing keys.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// True when no key exists.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Total bytes of all existing keys.
    pub fn total_bytes(&self) -> u64 {
        self.objects.iter().map(|e| e.version.size).sum()
    }

    /// True when `key` is in [`BucketState::uncertain`].
    pub fn is_uncertain(&self, key: &str) -> bool {
        self.uncertain
            .binary_search_by(|u| u.key.as_str().cmp(key))
            .is_ok()
    }
}

/// What one key contributes to a state.
struct KeyState {
    object: Option<StateEntry>,
    uncertain: Option<Uncertain>,
    ambiguous: Option<String>,
    order_unknown: bool,
    out_of_order: Option<String>,
}

fn key_state_at(h: &KeyHistory, at: DateTime<Utc>, guessed: bool) -> KeyState {
    let chosen = h.entry_at(at);
    let object = chosen.filter(|v| !v.delete_marker).map(|v| StateEntry {
        key: h.key.clone(),
        version: v.clone(),
    });
    let uncertain = h
        .entries
        .iter()
        .find(|v| v.is_null() && v.last_modified > at)
        .map(|v| Uncertain {
            key: h.key.clone(),
            null_written_at: v.last_modified,
            present: object.is_some(),
        });
    // The answer depends on a guessed order when the key's order was guessed, the chosen
    // entry shares its timestamp with an entry of the other kind, and the server did not
    // mark the chosen one as latest.
    let ambiguous = chosen
        .is_some_and(|c| {
            guessed
                && !c.is_latest
                && h.entries.iter().any(|o| {
                    o.last_modified == c.last_modified && o.delete_marker != c.delete_marker
                })
        })
        .then(|| h.key.clone());
    let out_of_order = h
        .entries
        .windows(2)
        .any(|w| w[1].last_modified > w[0].last_modified)
        .then(|| h.key.clone());
    KeyState {
        object,
        uncertain,
        ambiguous,
        order_unknown: false,
        out_of_order,
    }
}

fn collect(at: Option<DateTime<Utc>>, states: Vec<KeyState>) -> BucketState {
    let mut out = BucketState {
        at,
        ..BucketState::default()
    };
    out.objects.reserve(states.len());
    for s in states {
        if s.order_unknown {
            out.order_unknown.extend(s.ambiguous.clone());
        }
        out.ambiguous.extend(s.ambiguous);
        out.out_of_order.extend(s.out_of_order);
        if let Some(o) = s.object {
            out.objects.push(o);
        }
        if let Some(u) = s.uncertain {
            out.uncertain.push(u);
        }
    }
    out
}

impl Timeline {
    /// The state of every listed key at `at` (inclusive; see the [module docs](self)).
    pub fn state_at(&self, at: DateTime<Utc>) -> BucketState {
        let keys = self.keys();
        let guessed: std::collections::HashSet<&str> = self
            .anomalies()
            .iter()
            .filter(|a| a.is_guess())
            .map(|a| a.key())
            .collect();
        let layout_unknown: std::collections::HashSet<&str> = self
            .anomalies()
            .iter()
            .filter(|a| matches!(a, crate::timeline::Anomaly::OrderUnknown { .. }))
            .map(|a| a.key())
            .collect();
        let one = |h: &KeyHistory| {
            let mut s = key_state_at(h, at, guessed.contains(h.key.as_str()));
            // The two readings of an unproven page order this key differently: any state
            // strictly inside its history may differ between them (before its first
            // stamp it is absent either way; after its last, IsLatest decides).
            if s.ambiguous.is_none() && layout_unknown.contains(h.key.as_str()) {
                let first = h.entries.iter().map(|v| v.last_modified).min();
                let last = h.entries.iter().map(|v| v.last_modified).max();
                if first.is_some_and(|f| f <= at) && last.is_some_and(|l| at < l) {
                    s.ambiguous = Some(h.key.clone());
                }
            }
            s.order_unknown = s.ambiguous.is_some() && layout_unknown.contains(h.key.as_str());
            s
        };
        let states: Vec<KeyState> = if keys.len() >= PARALLEL_THRESHOLD {
            keys.par_iter().map(one).collect()
        } else {
            keys.iter().map(one).collect()
        };
        collect(Some(at), states)
    }

    /// The current state: every key's first entry in list order, whatever its timestamp.
    pub fn current(&self) -> BucketState {
        let head = |h: &KeyHistory| {
            h.head().filter(|v| !v.delete_marker).map(|v| StateEntry {
                key: h.key.clone(),
                version: v.clone(),
            })
        };
        let keys = self.keys();
        let objects = if keys.len() >= PARALLEL_THRESHOLD {
            keys.par_iter().filter_map(head).collect()
        } else {
            keys.iter().filter_map(head).collect()
        };
        BucketState {
            at: None,
            objects,
            ..BucketState::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Entry;
    use chrono::TimeZone;

    fn e(key: &str, id: &str, secs: i64, dm: bool) -> Entry {
        Entry::new(key, id, Utc.timestamp_opt(secs, 0).unwrap(), dm, "", 3)
    }
    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).unwrap()
    }

    #[test]
    fn t_is_inclusive_and_markers_mean_absent() {
        let tl = Timeline::from_ordered([
            e("a", "d", 30, true),
            e("a", "v2", 20, false),
            e("a", "v1", 10, false),
        ])
        .unwrap();
        assert!(tl.state_at(t(9)).get("a").is_none());
        assert_eq!(tl.state_at(t(10)).get("a").unwrap().version_id, "v1");
        assert_eq!(tl.state_at(t(29)).get("a").unwrap().version_id, "v2");
        assert!(tl.state_at(t(30)).get("a").is_none());
        assert!(tl.current().get("a").is_none());
    }

    #[test]
    fn null_written_after_t_makes_the_key_uncertain() {
        let tl =
            Timeline::from_ordered([e("a", "null", 30, false), e("a", "v1", 10, false)]).unwrap();
        let s = tl.state_at(t(20));
        assert_eq!(s.get("a").unwrap().version_id, "v1");
        assert_eq!(s.uncertain.len(), 1);
        assert!(s.uncertain[0].present);
        assert!(tl.state_at(t(30)).uncertain.is_empty());
    }

    #[test]
    fn ambiguity_is_reported_only_when_the_state_depends_on_a_guess() {
        use crate::model::ListPage;
        let mut b = crate::TimelineBuilder::new();
        b.push_page(ListPage {
            versions: vec![
                e("a", "v2", 20, false),
                e("a", "v1", 10, false),
                e("b", "v", 20, false),
            ],
            delete_markers: vec![e("a", "d", 20, true), e("b", "d", 20, true)],
        })
        .unwrap();
        let tl = b.finish();
        assert_eq!(tl.state_at(t(25)).ambiguous, ["a", "b"]);
        assert!(tl.state_at(t(15)).ambiguous.is_empty());
        // The same ties in the server's own order are not guesses.
        let exact = Timeline::from_ordered([
            e("a", "v2", 20, false),
            e("a", "d", 20, true),
            e("a", "v1", 10, false),
            e("b", "d", 20, true),
            e("b", "v", 20, false),
        ])
        .unwrap();
        assert!(exact.state_at(t(25)).ambiguous.is_empty());
        assert!(exact.state_at(t(25)).get("b").is_none());
    }
}
