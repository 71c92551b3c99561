//! The timeline index: every key's versions and delete markers in server list order.
//!
//! A [`Timeline`] is built incrementally from listing pages with a [`TimelineBuilder`].
//! It answers "what was each key at time T" ([`Timeline::state_at`]) and "what is each key
//! now" ([`Timeline::current`]) without further S3 calls, for as many T as you like.
//!
//! # List order is the truth, not timestamps
//!
//! A key's entries are kept in the **server's list order** (newest first). Timestamps
//! can disagree with it: under a concurrent PUT and DELETE, Ceph radosgw stamps the PUT a
//! few milliseconds *before* the DELETE yet lists it above (it is the current version);
//! on AWS a multipart object's LastModified is when the upload was *initiated*, while its
//! place in the list is when it completed. Such keys are recorded as
//! [`Anomaly::NonMonotonic`] (`out_of_order` in states and plans).
//!
//! S3 sends a page's `<Version>` and `<DeleteMarker>` elements interleaved in list order.
//! When the adapter kept that document order, use [`TimelineBuilder::push_document`]: it
//! works out from the page itself whether this server interleaves ([`ListOrder`]) and
//! then takes the document order as it is. Some servers (moto) do not interleave: they
//! send all versions of a page, then all delete markers.
//!
//! # Split lists: the fallback
//!
//! Where only two separate lists exist (the SDKs' parsed output, a server that does not
//! interleave, an inventory report), [`TimelineBuilder::push_page`] merges them per key:
//!
//! 1. the entry the server marked `IsLatest` comes first, **whatever the timestamps**
//!    (it is the key's current entry: a version stamped before a later delete marker
//!    but marked latest is the current version);
//! 2. the rest by `LastModified`, newest first;
//! 3. on equal timestamps, the **object version comes first** (is treated as the newer).
//!
//! Rule 3 errs on the side of keeping data: if the guess is wrong, a restore brings back
//! an object that was in fact deleted within that second, rather than deleting one that
//! in fact existed. Every tie that rule 3 decided is recorded as an
//! [`Anomaly::SameSecondTie`], and a state that depends on one is flagged
//! (see [`BucketState::ambiguous`](crate::BucketState)). A non-latest entry whose
//! timestamp disagrees with its true place (a late multipart completion) cannot be seen
//! from split lists: the merge puts it where its timestamp says.
//!
//! Entries *within* one list are never reordered: the server's order is authoritative,
//! so two versions with the same timestamp keep their listed order.
//!
//! Keys are never resolved within one page: a key's entries may continue on the next
//! page (a peer tool restores deleted keys because it resolves per page).

use crate::error::TimelineError;
use crate::model::{Entry, ListPage, Version};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One key and its entries, in list order (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyHistory {
    /// The key, exactly as listed (URL-decoded).
    pub key: String,
    /// Versions and delete markers, newest first (server list order).
    pub entries: Vec<Version>,
}

impl KeyHistory {
    /// The current entry: the first in list order.
    pub fn head(&self) -> Option<&Version> {
        self.entries.first()
    }

    /// The entry that was current at `at` (inclusive), by the rule of
    /// [`Timeline::state_at`]: the first entry in list order with `last_modified <= at`.
    pub fn entry_at(&self, at: DateTime<Utc>) -> Option<&Version> {
        self.entries.iter().find(|e| e.last_modified <= at)
    }
}

/// Something in the listing that the engine could not order with certainty.
///
/// Anomalies are findings, not errors: the timeline is still built, and the states and
/// plans that depend on an anomaly say so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Anomaly {
    /// A version and a delete marker of one key have the same `LastModified`, and the
    /// listing could not tell which is newer; the tie rule put the version first.
    SameSecondTie {
        /// The key.
        key: String,
        /// The shared timestamp.
        at: DateTime<Utc>,
        /// The version the tie rule put first.
        version_id: String,
        /// The delete marker it was tied with.
        delete_marker_id: String,
    },
    /// Along the key's list, an entry is *newer* by timestamp than the one listed before
    /// it (multipart uploads completed late, replicated or back-dated objects).
    NonMonotonic {
        /// The key.
        key: String,
        /// The entry whose timestamp is out of order.
        version_id: String,
        /// Its timestamp.
        at: DateTime<Utc>,
        /// The timestamp of the entry listed before it (older than `at`).
        previous: DateTime<Utc>,
    },
    /// The page this key was on did not show whether the server interleaves versions and
    /// delete markers (see [`ListOrder`]), and the two readings order this key
    /// differently; the split-list rule was used.
    OrderUnknown {
        /// The key.
        key: String,
    },
}

impl Anomaly {
    /// The key the anomaly is about.
    pub fn key(&self) -> &str {
        match self {
            Anomaly::SameSecondTie { key, .. }
            | Anomaly::NonMonotonic { key, .. }
            | Anomaly::OrderUnknown { key } => key,
        }
    }

    /// True when the anomaly means the key's order was guessed (a tie rule or an
    /// unknown interleaving), so a state that depends on it is *ambiguous*. A
    /// [`NonMonotonic`](Anomaly::NonMonotonic) key's order is known; only its timestamps
    /// disagree.
    pub fn is_guess(&self) -> bool {
        !matches!(self, Anomaly::NonMonotonic { .. })
    }
}

/// How a server lays out one `ListObjectVersions` page's `<Version>` and
/// `<DeleteMarker>` elements, as far as the pages seen so far show it.
///
/// S3 (and radosgw) interleave them in list order. moto sends all of a page's versions,
/// then all its delete markers. A page proves which: a delete marker followed by a
/// version in a key-ordered page is interleaving; a key going backwards in document
/// order is a split layout. A page with neither proves nothing (for example one whose
/// delete markers all sort after its versions).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// Nothing seen yet proves either layout.
    #[default]
    Unknown,
    /// Elements come in list order.
    Interleaved,
    /// All versions, then all delete markers.
    Split,
}

impl ListOrder {
    /// What one page, in document order, proves about the layout (`Unknown` when it
    /// proves nothing): keys going backwards, or an `IsLatest` entry after another entry
    /// of its key, prove a split layout; a delete marker followed by a version in a
    /// key-ordered page proves interleaving.
    pub fn of_page(document: &[Entry]) -> ListOrder {
        if document.windows(2).any(|w| w[1].key < w[0].key) {
            return ListOrder::Split;
        }
        // An interleaving server lists a key's current entry first: an entry marked
        // IsLatest after another entry of its key proves the split layout.
        if document
            .windows(2)
            .any(|w| w[1].version.is_latest && w[1].key == w[0].key)
        {
            return ListOrder::Split;
        }
        let mut seen_marker = false;
        for e in document {
            if e.version.delete_marker {
                seen_marker = true;
            } else if seen_marker {
                return ListOrder::Interleaved;
            }
        }
        ListOrder::Unknown
    }
}

/// Every key's history under one listing prefix, sorted by key (UTF-8 byte order, as S3
/// lists them).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timeline {
    keys: Vec<KeyHistory>,
    anomalies: Vec<Anomaly>,
    entries: usize,
}

impl Timeline {
    /// All keys with their histories, sorted by key.
    pub fn keys(&self) -> &[KeyHistory] {
        &self.keys
    }

    /// The history of one key, if it was listed.
    pub fn get(&self, key: &str) -> Option<&KeyHistory> {
        self.keys
            .binary_search_by(|h| h.key.as_str().cmp(key))
            .ok()
            .map(|i| &self.keys[i])
    }

    /// The earliest `LastModified` of any entry: before it, nothing under the listed
    /// prefix existed.
    pub fn earliest(&self) -> Option<DateTime<Utc>> {
        self.keys
            .iter()
            .flat_map(|h| h.entries.iter().map(|v| v.last_modified))
            .min()
    }

    /// Everything that could not be ordered with certainty, in list order.
    pub fn anomalies(&self) -> &[Anomaly] {
        &self.anomalies
    }

    /// Total number of versions and delete markers.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True when nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Build a timeline from entries given in list order (key ascending, then newest
    /// first), as if they had been one page with the interleaving intact.
    ///
    /// This is the exact path (no tie guessing); the simulator and tests use it.
    pub fn from_ordered(entries: impl IntoIterator<Item = Entry>) -> Result<Self, TimelineError> {
        let mut b = TimelineBuilder::new();
        for e in entries {
            b.push_entry(e)?;
        }
        Ok(b.finish())
    }
}

/// Builds a [`Timeline`] from listing pages, in listing order.
///
/// ```
/// use s3rewind_engine::{Entry, ListPage, TimelineBuilder, Version};
/// use chrono::{TimeZone, Utc};
///
/// let entry = |id: &str, secs: i64, dm: bool| Entry {
///     key: "report.csv".into(),
///     version: Version {
///         version_id: id.into(),
///         last_modified: Utc.timestamp_opt(secs, 0).unwrap(),
///         delete_marker: dm,
///         etag: if dm { Default::default() } else { format!("etag-{id}").into() },
///         size: 1,
///         storage_class: None,
///         owner_id: None,
///         is_latest: false,
///     },
/// };
/// let mut b = TimelineBuilder::new();
/// // Page 1 ends with the key's delete marker; the version it hides is on page 2.
/// b.push_page(ListPage { versions: vec![], delete_markers: vec![entry("d", 20, true)] }).unwrap();
/// b.push_page(ListPage { versions: vec![entry("v", 10, false)], delete_markers: vec![] }).unwrap();
/// let timeline = b.finish();
///
/// let at = |s| Utc.timestamp_opt(s, 0).unwrap();
/// assert!(timeline.state_at(at(25)).get("report.csv").is_none()); // deleted at 20
/// assert_eq!(timeline.state_at(at(15)).get("report.csv").unwrap().version_id, "v");
/// assert!(timeline.state_at(at(5)).get("report.csv").is_none()); // not yet written
/// ```
#[derive(Debug, Default)]
pub struct TimelineBuilder {
    keys: Vec<KeyHistory>,
    anomalies: Vec<Anomaly>,
    entries: usize,
    /// Version ids already seen for the last key (to reject repeated entries, which mean
    /// a paging bug: a marker that did not advance, or a server repeating a page).
    seen_ids: std::collections::HashSet<crate::model::VersionId>,
}

impl TimelineBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of entries pushed so far.
    pub fn len(&self) -> usize {
        self.entries
    }

    /// True when nothing was pushed yet.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// The last key pushed so far (the listing's position).
    pub fn last_key(&self) -> Option<&str> {
        self.keys.last().map(|k| k.key.as_str())
    }

    /// Add the next page of the listing.
    ///
    /// Fails, leaving the builder unchanged, when the page is not in list order relative
    /// to itself or to what came before (a key going backwards, a repeated entry), or
    /// when an entry is in the wrong list.
    pub fn push_page(&mut self, page: ListPage) -> Result<(), TimelineError> {
        let merged = merge_page_checked(page)?;
        // Validate against what is already there before changing anything.
        self.check_continues(&merged.entries)?;
        for e in merged.entries {
            self.push_entry_unchecked(e);
        }
        self.anomalies.extend(merged.ties);
        Ok(())
    }

    /// Add the next page as the server sent it: versions and delete markers in document
    /// order. `order` is what earlier pages of this server proved (see [`ListOrder`]); it
    /// is updated from this page.
    ///
    /// - Interleaved: the document order is the list order, taken as it is.
    /// - Split: the page is split into its two lists and merged by [`push_page`](Self::push_page)'s rule.
    /// - Unknown: the split-list rule is used, and every key that the document order
    ///   would order differently is reported as [`Anomaly::OrderUnknown`].
    ///
    /// A page that contradicts what earlier pages proved is an error: the server's
    /// listing cannot be trusted. Fails leaving the builder unchanged.
    pub fn push_document(
        &mut self,
        document: Vec<Entry>,
        order: &mut ListOrder,
    ) -> Result<(), TimelineError> {
        let seen = ListOrder::of_page(&document);
        let known = match (*order, seen) {
            (known, ListOrder::Unknown) => known,
            (ListOrder::Unknown, seen) => seen,
            (known, seen) if known == seen => known,
            (known, seen) => {
                return Err(TimelineError::LayoutChanged {
                    earlier: format!("{known:?}").to_lowercase(),
                    now: format!("{seen:?}").to_lowercase(),
                });
            }
        };
        match known {
            ListOrder::Interleaved => {
                self.check_continues(&document)?;
                for e in document {
                    self.push_entry_unchecked(e);
                }
            }
            ListOrder::Split => self.push_page(split(document))?,
            ListOrder::Unknown => {
                let mut differs: Vec<String> = Vec::new();
                let merged = merge_page_checked(split(document.clone()))?;
                let mut i = 0;
                while i < document.len() {
                    let key = &document[i].key;
                    let n = document[i..].iter().take_while(|e| &e.key == key).count();
                    let by_doc = document[i..i + n].iter().map(|e| &e.version.version_id);
                    let by_rule = merged
                        .entries
                        .iter()
                        .filter(|e| &e.key == key)
                        .map(|e| &e.version.version_id);
                    if !by_doc.eq(by_rule) {
                        differs.push(key.clone());
                    }
                    i += n;
                }
                self.check_continues(&merged.entries)?;
                for e in merged.entries {
                    self.push_entry_unchecked(e);
                }
                self.anomalies.extend(merged.ties);
                self.anomalies
                    .extend(differs.into_iter().map(|key| Anomaly::OrderUnknown { key }));
            }
        }
        *order = known;
        Ok(())
    }

    /// Once the whole listing is read and it proved the server's layout: pages read
    /// before the proof used the split-list rule, which is exactly right for a server
    /// that splits, so their [`Anomaly::OrderUnknown`] reports are withdrawn. (For an
    /// interleaving server they stay: the split reading was a guess there.)
    pub fn settle_layout(&mut self, order: ListOrder) {
        if order == ListOrder::Split {
            self.anomalies
                .retain(|a| !matches!(a, Anomaly::OrderUnknown { .. }));
        }
    }

    /// Move out the keys the listing has passed (every key but the last, which the next
    /// page may continue), with their anomalies, as a timeline of their own: a consumer
    /// can compute their states and drop them while the listing goes on.
    ///
    /// While `order` is still [`ListOrder::Unknown`], a key with an
    /// [`Anomaly::OrderUnknown`] stays: the layout a later page proves may withdraw it
    /// (see [`settle_layout`](Self::settle_layout)). What stays is taken by
    /// [`finish`](Self::finish) (after `settle_layout`).
    pub fn take_complete(&mut self, order: ListOrder) -> Timeline {
        // Keys held while the layout was unknown are settled as the whole listing would be.
        self.settle_layout(order);
        let Some(open) = self.keys.pop() else {
            return Timeline::default();
        };
        let held: std::collections::HashSet<&str> = if order == ListOrder::Unknown {
            self.anomalies
                .iter()
                .filter(|a| matches!(a, Anomaly::OrderUnknown { .. }))
                .map(|a| a.key())
                .collect()
        } else {
            Default::default()
        };
        let (stay, taken): (Vec<KeyHistory>, Vec<KeyHistory>) = std::mem::take(&mut self.keys)
            .into_iter()
            .partition(|h| held.contains(h.key.as_str()));
        drop(held);
        let (anomalies, kept): (Vec<Anomaly>, Vec<Anomaly>) = if self.anomalies.is_empty() {
            // The common case: no set of the taken keys to build.
            Default::default()
        } else {
            let taken_keys: std::collections::HashSet<&str> =
                taken.iter().map(|h| h.key.as_str()).collect();
            std::mem::take(&mut self.anomalies)
                .into_iter()
                .partition(|a| taken_keys.contains(a.key()))
        };
        self.anomalies = kept;
        self.keys = stay;
        self.keys.push(open);
        let entries = taken.iter().map(|h| h.entries.len()).sum::<usize>();
        self.entries -= entries;
        Timeline {
            keys: taken,
            anomalies,
            entries,
        }
    }

    /// Replace the anomalies with ones saved with the entries (a timeline index keeps
    /// what the original build found, which pushing the entries again in list order
    /// cannot find).
    pub(crate) fn set_anomalies(&mut self, anomalies: Vec<Anomaly>) {
        self.anomalies = anomalies;
    }

    /// Record an anomaly that a source knows of beyond what its pages show (an
    /// inventory report, which keeps no order within a key).
    pub(crate) fn note(&mut self, anomaly: Anomaly) {
        self.anomalies.push(anomaly);
    }

    /// Add one entry that is known to be next in list order.
    pub fn push_entry(&mut self, entry: Entry) -> Result<(), TimelineError> {
        self.check_continues(std::slice::from_ref(&entry))?;
        self.push_entry_unchecked(entry);
        Ok(())
    }

    /// Check that `entries` (in list order) may follow what was pushed so far.
    fn check_continues(&self, entries: &[Entry]) -> Result<(), TimelineError> {
        let mut last_key = self.last_key();
        let mut seen_extra: Vec<&crate::model::VersionId> = Vec::new();
        for e in entries {
            match last_key {
                Some(k) if e.key.as_str() < k => {
                    return Err(TimelineError::OutOfOrder {
                        previous: k.to_owned(),
                        key: e.key.clone(),
                    });
                }
                Some(k) if e.key.as_str() == k => {
                    let repeated = (self.last_key() == Some(k)
                        && self.seen_ids.contains(&e.version.version_id))
                        || seen_extra.contains(&&e.version.version_id);
                    if repeated {
                        return Err(TimelineError::Repeated {
                            key: e.key.clone(),
                            version_id: e.version.version_id.to_string(),
                        });
                    }
                }
                _ => seen_extra.clear(),
            }
            seen_extra.push(&e.version.version_id);
            last_key = Some(&e.key);
        }
        Ok(())
    }

    fn push_entry_unchecked(&mut self, entry: Entry) {
        let Entry { key, version } = entry;
        self.entries += 1;
        match self.keys.last_mut() {
            Some(h) if h.key == key => {
                if let Some(prev) = h.entries.last()
                    && version.last_modified > prev.last_modified
                {
                    self.anomalies.push(Anomaly::NonMonotonic {
                        key: key.clone(),
                        version_id: version.version_id.to_string(),
                        at: version.last_modified,
                        previous: prev.last_modified,
                    });
                }
                self.seen_ids.insert(version.version_id.clone());
                h.entries.push(version);
            }
            _ => {
                // The previous key is complete: give back the Vec's growth slack (a
                // quarter of the entries' memory on average, at millions of keys).
                if let Some(done) = self.keys.last_mut() {
                    done.entries.shrink_to_fit();
                }
                self.seen_ids.clear();
                self.seen_ids.insert(version.version_id.clone());
                self.keys.push(KeyHistory {
                    key,
                    entries: vec![version],
                });
            }
        }
    }

    /// Append a builder that listed the key range right after this one (parallel
    /// listing of disjoint, ordered key ranges).
    pub fn append(&mut self, other: TimelineBuilder) -> Result<(), TimelineError> {
        if let (Some(mine), Some(first)) = (self.last_key(), other.keys.first())
            && first.key.as_str() <= mine
        {
            return Err(TimelineError::OutOfOrder {
                previous: mine.to_owned(),
                key: first.key.clone(),
            });
        }
        // The ids seen for the last key stay valid unless `other` moved past it.
        if !other.keys.is_empty() {
            self.seen_ids = other.seen_ids;
        }
        self.keys.extend(other.keys);
        self.anomalies.extend(other.anomalies);
        self.entries += other.entries;
        Ok(())
    }

    /// Join builders that listed disjoint sets of keys (for example one per common
    /// prefix, listed in parallel), in any order. Fails if two parts share a key: that
    /// would mean the parts overlapped and a key's history was split arbitrarily.
    pub fn merge_disjoint(parts: Vec<TimelineBuilder>) -> Result<TimelineBuilder, TimelineError> {
        let mut keys: Vec<KeyHistory> = Vec::new();
        let mut anomalies = Vec::new();
        let mut entries = 0;
        for p in parts {
            keys.extend(p.keys);
            anomalies.extend(p.anomalies);
            entries += p.entries;
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        if let Some(w) = keys.windows(2).find(|w| w[0].key == w[1].key) {
            return Err(TimelineError::Repeated {
                key: w[0].key.clone(),
                version_id: w[1]
                    .entries
                    .first()
                    .map(|v| v.version_id.to_string())
                    .unwrap_or_default(),
            });
        }
        anomalies.sort_by(|a: &Anomaly, b: &Anomaly| a.key().cmp(b.key()));
        Ok(TimelineBuilder {
            keys,
            anomalies,
            entries,
            seen_ids: Default::default(),
        })
    }

    /// The finished timeline.
    pub fn finish(self) -> Timeline {
        Timeline {
            keys: self.keys,
            anomalies: self.anomalies,
            entries: self.entries,
        }
    }
}

/// A page in document order as the SDK would give it: two lists, each in order.
fn split(document: Vec<Entry>) -> ListPage {
    let (delete_markers, versions) = document.into_iter().partition(|e| e.version.delete_marker);
    ListPage {
        versions,
        delete_markers,
    }
}

/// Check a split page's lists and merge them into list order.
fn merge_page_checked(page: ListPage) -> Result<Merged, TimelineError> {
    let ListPage {
        versions,
        delete_markers,
    } = page;
    for e in &versions {
        if e.version.delete_marker {
            return Err(TimelineError::WrongList {
                key: e.key.clone(),
                version_id: e.version.version_id.to_string(),
            });
        }
    }
    for e in &delete_markers {
        if !e.version.delete_marker {
            return Err(TimelineError::WrongList {
                key: e.key.clone(),
                version_id: e.version.version_id.to_string(),
            });
        }
    }
    check_key_order(&versions)?;
    check_key_order(&delete_markers)?;
    Ok(merge_page(versions, delete_markers))
}

fn check_key_order(list: &[Entry]) -> Result<(), TimelineError> {
    for w in list.windows(2) {
        if w[1].key < w[0].key {
            return Err(TimelineError::OutOfOrder {
                previous: w[0].key.clone(),
                key: w[1].key.clone(),
            });
        }
    }
    Ok(())
}

struct Merged {
    entries: Vec<Entry>,
    ties: Vec<Anomaly>,
}

/// Interleave one page's versions and delete markers back into list order.
fn merge_page(versions: Vec<Entry>, markers: Vec<Entry>) -> Merged {
    let mut out = Vec::with_capacity(versions.len() + markers.len());
    let mut ties = Vec::new();
    let mut v = versions.into_iter().peekable();
    let mut d = markers.into_iter().peekable();
    loop {
        let take_version = match (v.peek(), d.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => {
                if a.key != b.key {
                    a.key < b.key
                } else if a.version.is_latest || b.version.is_latest {
                    // The key's current entry, whatever its timestamp says.
                    a.version.is_latest
                } else if a.version.last_modified != b.version.last_modified {
                    a.version.last_modified > b.version.last_modified
                } else {
                    ties.push(Anomaly::SameSecondTie {
                        key: a.key.clone(),
                        at: a.version.last_modified,
                        version_id: a.version.version_id.to_string(),
                        delete_marker_id: b.version.version_id.to_string(),
                    });
                    true
                }
            }
        };
        let next = if take_version { v.next() } else { d.next() };
        out.push(next.expect("peeked"));
    }
    Merged { entries: out, ties }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn e(key: &str, id: &str, secs: i64, dm: bool) -> Entry {
        Entry {
            key: key.into(),
            version: Version {
                version_id: id.into(),
                last_modified: Utc.timestamp_opt(secs, 0).unwrap(),
                delete_marker: dm,
                etag: if dm {
                    Default::default()
                } else {
                    format!("e{id}").into()
                },
                size: 1,
                storage_class: None,
                owner_id: None,
                is_latest: false,
            },
        }
    }

    fn ids(t: &Timeline, key: &str) -> Vec<String> {
        t.get(key)
            .unwrap()
            .entries
            .iter()
            .map(|v| v.version_id.to_string())
            .collect()
    }

    #[test]
    fn merges_markers_between_versions_by_time() {
        let mut b = TimelineBuilder::new();
        b.push_page(ListPage {
            versions: vec![e("a", "v3", 30, false), e("a", "v1", 10, false)],
            delete_markers: vec![e("a", "d2", 20, true)],
        })
        .unwrap();
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["v3", "d2", "v1"]);
        assert!(t.anomalies().is_empty());
    }

    #[test]
    fn key_continues_across_pages_including_marker_only_pages() {
        let mut b = TimelineBuilder::new();
        b.push_page(ListPage {
            versions: vec![e("a", "v1", 10, false)],
            delete_markers: vec![e("a", "d3", 30, true)],
        })
        .unwrap();
        // A page with only delete markers, continuing key "a", then a new key.
        b.push_page(ListPage {
            versions: vec![],
            delete_markers: vec![e("a", "d0", 5, true), e("b", "d9", 9, true)],
        })
        .unwrap();
        b.push_page(ListPage::default()).unwrap();
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["d3", "v1", "d0"]);
        assert_eq!(ids(&t, "b"), ["d9"]);
        assert_eq!(t.len(), 4);
    }

    #[test]
    fn tie_rule_prefers_is_latest_then_version() {
        let mut b = TimelineBuilder::new();
        let mut dm = e("a", "d", 10, true);
        dm.version.is_latest = true;
        b.push_page(ListPage {
            versions: vec![e("a", "v", 10, false), e("b", "bv", 10, false)],
            delete_markers: vec![dm, e("b", "bd", 10, true)],
        })
        .unwrap();
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["d", "v"]);
        assert_eq!(ids(&t, "b"), ["bv", "bd"]);
        assert_eq!(t.anomalies().len(), 1);
        assert_eq!(t.anomalies()[0].key(), "b");
    }

    #[test]
    fn rejects_backwards_and_repeated_entries_without_changing() {
        let mut b = TimelineBuilder::new();
        b.push_page(ListPage {
            versions: vec![e("b", "v1", 10, false)],
            delete_markers: vec![],
        })
        .unwrap();
        let err = b
            .push_page(ListPage {
                versions: vec![e("a", "x", 10, false)],
                delete_markers: vec![],
            })
            .unwrap_err();
        assert!(matches!(err, TimelineError::OutOfOrder { .. }));
        let err = b
            .push_page(ListPage {
                versions: vec![e("b", "v1", 10, false)],
                delete_markers: vec![],
            })
            .unwrap_err();
        assert!(matches!(err, TimelineError::Repeated { .. }));
        assert_eq!(b.len(), 1);
    }

    #[test]
    fn flags_non_monotonic_timestamps() {
        let t = Timeline::from_ordered([e("a", "v2", 5, false), e("a", "v1", 9, false)]).unwrap();
        assert!(matches!(t.anomalies()[0], Anomaly::NonMonotonic { .. }));
        assert_eq!(ids(&t, "a"), ["v2", "v1"]);
    }

    #[test]
    fn disjoint_parts_merge_in_key_order_and_overlaps_are_refused() {
        let part = |entries: Vec<Entry>| {
            let mut b = TimelineBuilder::new();
            for e in entries {
                b.push_entry(e).unwrap();
            }
            b
        };
        let merged = TimelineBuilder::merge_disjoint(vec![
            part(vec![e("m/1", "x", 3, false), e("m/2", "y", 3, false)]),
            part(vec![e("a", "a1", 1, false)]),
            part(vec![e("z", "z1", 1, true), e("z", "z0", 0, false)]),
        ])
        .unwrap()
        .finish();
        let keys: Vec<&str> = merged.keys().iter().map(|h| h.key.as_str()).collect();
        assert_eq!(keys, ["a", "m/1", "m/2", "z"]);
        assert_eq!(merged.len(), 5);
        assert!(
            TimelineBuilder::merge_disjoint(vec![
                part(vec![e("a", "1", 1, false)]),
                part(vec![e("a", "2", 1, false)]),
            ])
            .is_err()
        );
    }

    fn latest(mut x: Entry) -> Entry {
        x.version.is_latest = true;
        x
    }

    #[test]
    fn split_lists_put_the_latest_entry_first_whatever_its_timestamp() {
        // radosgw under a concurrent PUT and DELETE: the PUT (stamped 100 ms) is current,
        // the DELETE (stamped 105 ms) is listed below it.
        let ms = |m: i64| Utc.timestamp_millis_opt(m).unwrap();
        let mut v = e("a", "v", 0, false);
        v.version.last_modified = ms(100);
        let mut d = e("a", "d", 0, true);
        d.version.last_modified = ms(105);
        let mut b = TimelineBuilder::new();
        b.push_page(ListPage {
            versions: vec![latest(v)],
            delete_markers: vec![d],
        })
        .unwrap();
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["v", "d"]);
        assert!(t.current().get("a").is_some(), "the live PUT is current");
        assert!(matches!(t.anomalies()[0], Anomaly::NonMonotonic { .. }));
        assert_eq!(t.state_at(ms(110)).get("a").unwrap().version_id, "v");
    }

    #[test]
    fn document_order_is_taken_once_the_server_proves_it_interleaves() {
        // radosgw: a's delete marker sits between its versions, and a version of b follows.
        let doc = vec![
            latest(e("a", "v2", 30, false)),
            e("a", "d1", 35, true), // stamped later than v2, listed below it
            e("a", "v1", 10, false),
            latest(e("b", "b1", 5, false)),
        ];
        assert_eq!(ListOrder::of_page(&doc), ListOrder::Interleaved);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(doc, &mut order).unwrap();
        assert_eq!(order, ListOrder::Interleaved);
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["v2", "d1", "v1"]);
        // By the list-order rule a is present at 40 (v2 is current).
        assert_eq!(
            t.state_at(Utc.timestamp_opt(40, 0).unwrap())
                .get("a")
                .unwrap()
                .version_id,
            "v2"
        );
    }

    #[test]
    fn a_split_layout_is_merged_by_the_rule_and_a_change_of_layout_is_an_error() {
        // moto: all versions, then all delete markers (keys go backwards).
        let doc = vec![
            latest(e("a", "v2", 30, false)),
            e("a", "v1", 10, false),
            latest(e("b", "b1", 5, false)),
            e("a", "d1", 20, true),
        ];
        assert_eq!(ListOrder::of_page(&doc), ListOrder::Split);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(doc, &mut order).unwrap();
        assert_eq!(order, ListOrder::Split);
        let interleaved = vec![e("c", "d", 9, true), e("c", "c1", 8, false)];
        let before = b.len();
        assert!(matches!(
            b.push_document(interleaved, &mut order),
            Err(TimelineError::LayoutChanged { .. })
        ));
        assert_eq!(b.len(), before);
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["v2", "d1", "v1"]);
    }

    #[test]
    fn an_unproven_page_uses_the_rule_and_reports_keys_it_may_misorder() {
        // Versions then a delete marker of the same last key: interleaved (d older than
        // both) or split (d between them)? The timestamps say between.
        let doc = vec![
            latest(e("a", "a1", 1, false)),
            latest(e("k", "v2", 30, false)),
            e("k", "v1", 10, false),
            e("k", "d", 20, true),
        ];
        assert_eq!(ListOrder::of_page(&doc), ListOrder::Unknown);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(doc, &mut order).unwrap();
        assert_eq!(order, ListOrder::Unknown);
        let t = b.finish();
        assert_eq!(ids(&t, "k"), ["v2", "d", "v1"]);
        assert_eq!(t.anomalies(), [Anomaly::OrderUnknown { key: "k".into() }]);
        // A later page of the same listing proves a split layout: the rule was right.
        let mut settled = TimelineBuilder::new();
        let mut o = ListOrder::Unknown;
        settled
            .push_document(
                vec![
                    latest(e("a", "a1", 1, false)),
                    latest(e("k", "v2", 30, false)),
                    e("k", "v1", 10, false),
                    e("k", "d", 20, true),
                ],
                &mut o,
            )
            .unwrap();
        settled.settle_layout(ListOrder::Split);
        assert!(settled.finish().anomalies().is_empty());
        let at = Utc.timestamp_opt(25, 0).unwrap();
        assert!(t.state_at(at).get("k").is_none());
        // A page whose readings agree reports nothing.
        let mut b = TimelineBuilder::new();
        let mut order = ListOrder::Unknown;
        b.push_document(
            vec![latest(e("k", "v2", 30, false)), e("k", "d", 20, true)],
            &mut order,
        )
        .unwrap();
        assert!(b.finish().anomalies().is_empty());
    }

    #[test]
    fn wrong_list_is_an_error() {
        let mut b = TimelineBuilder::new();
        assert!(
            b.push_page(ListPage {
                versions: vec![e("a", "d", 1, true)],
                delete_markers: vec![],
            })
            .is_err()
        );
    }
}
