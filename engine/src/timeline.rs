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
//! takes a page's layout only from what the page itself **proves** ([`ListOrder`]): some
//! servers send all versions of a page first (moto), others all delete markers first, and
//! a page of any layout can look like another. A page that proves nothing is read by the
//! split-list rule below, and a key the document order would read differently waits for
//! the end of the listing, where the layout the listing proved decides it (or, if none
//! was proved, it is reported as [`Anomaly::OrderUnknown`]). A page that contradicts an
//! earlier proof stops the listing.
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

    /// What entry `i` (in list order) did to its key, judged by the entry below it.
    pub fn change(&self, i: usize) -> Change {
        let prev_live = self.entries.get(i + 1).is_some_and(|p| !p.delete_marker);
        match (self.entries[i].delete_marker, prev_live) {
            (false, false) => Change::Create,
            (false, true) => Change::Overwrite,
            (true, true) => Change::Delete,
            (true, false) => Change::DeleteAgain,
        }
    }
}

/// How an entry changed its key (see [`KeyHistory::change`]): what `history` prints,
/// what detection weighs, what the activity chart counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// A version where the key did not exist (first write, or after a delete marker).
    Create,
    /// A version over a live version.
    Overwrite,
    /// A delete marker over a live version.
    Delete,
    /// A delete marker over a delete marker or nothing.
    DeleteAgain,
}

impl Change {
    /// Its name in JSON and text: `create`, `overwrite`, `delete`, `delete_again`.
    pub fn name(self) -> &'static str {
        match self {
            Change::Create => "create",
            Change::Overwrite => "overwrite",
            Change::Delete => "delete",
            Change::DeleteAgain => "delete_again",
        }
    }

    /// Versions (not delete markers).
    pub fn writes_content(self) -> bool {
        matches!(self, Change::Create | Change::Overwrite)
    }

    /// Overwrites and deletes: the changes that can destroy data.
    pub fn destructive(self) -> bool {
        matches!(self, Change::Overwrite | Change::Delete)
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
/// `<DeleteMarker>` elements, as far as the pages seen so far **prove** it.
///
/// Three layouts are known: S3 and radosgw interleave the elements in list order; moto
/// sends all of a page's versions, then all its delete markers; another production-grade
/// server sends all delete markers, then all versions. Within each of the two lists the
/// entries are in list order in every layout. A layout is taken as known only where a
/// page shows a pattern no other layout can produce ([`ListOrder::of_page`]):
///
/// - a version, later a delete marker, later a version again (or the same with the kinds
///   swapped): only interleaving mixes the two lists more than once;
/// - a key going backwards, or an entry marked `IsLatest` after another entry of its key:
///   impossible when interleaved (the current entry comes first), so the page is split,
///   versions-first when its one switch of kind goes from versions to markers,
///   markers-first when it goes the other way.
///
/// Any other page proves nothing (a page of one kind; a page whose kinds switch once and
/// whose keys and `IsLatest` entries are in order): it is read by the split-list rule and
/// every key that the two readings order differently is flagged (see
/// [`TimelineBuilder::push_document`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListOrder {
    /// Nothing seen yet proves a layout.
    #[default]
    Unknown,
    /// Elements come in list order (S3, radosgw).
    Interleaved,
    /// All versions, then all delete markers (moto).
    VersionsFirst,
    /// All delete markers, then all versions.
    MarkersFirst,
    /// One of the two split layouts, not yet which (what `--list-order split` declares).
    Split,
}

impl ListOrder {
    /// True for the layouts that keep versions and delete markers in two lists: they are
    /// read by the split-list rule (which list comes first changes nothing).
    pub fn is_split(self) -> bool {
        matches!(
            self,
            ListOrder::VersionsFirst | ListOrder::MarkersFirst | ListOrder::Split
        )
    }

    /// The layout's name as printed (`interleaved`, `versions-first`, …).
    pub fn name(self) -> &'static str {
        match self {
            ListOrder::Unknown => "unknown",
            ListOrder::Interleaved => "interleaved",
            ListOrder::VersionsFirst => "versions-first",
            ListOrder::MarkersFirst => "markers-first",
            ListOrder::Split => "split",
        }
    }

    /// What one page, in document order, proves about the layout (`Unknown` when it
    /// proves nothing; see the type's docs). A page that fits no layout at all (keys going
    /// backwards within one kind of element, or evidence for interleaving and against it
    /// at once) is an error: the server's listing cannot be trusted.
    pub fn of_page(document: &[Entry]) -> Result<ListOrder, TimelineError> {
        let (mut to_markers, mut to_versions) = (0usize, 0usize);
        for w in document.windows(2) {
            match (w[0].version.delete_marker, w[1].version.delete_marker) {
                (false, true) => to_markers += 1,
                (true, false) => to_versions += 1,
                _ => {}
            }
        }
        let backwards = document.windows(2).find(|w| w[1].key < w[0].key);
        // An interleaving server lists a key's current entry first.
        let latest_late = {
            let mut seen: std::collections::HashSet<&str> = Default::default();
            document.iter().find(|e| {
                let late = e.version.is_latest && seen.contains(e.key.as_str());
                seen.insert(e.key.as_str());
                late
            })
        };
        let against = match (backwards, latest_late) {
            (Some(w), _) => Some(format!("key {:?} after {:?}", w[1].key, w[0].key)),
            (None, Some(e)) => Some(format!(
                "the current entry of {:?} after another of its entries",
                e.key
            )),
            (None, None) => None,
        };
        let mixed = to_markers > 0 && to_versions > 0;
        let bad = |why: String| TimelineError::PageLayout { detail: why };
        match (mixed, against) {
            (true, Some(why)) => Err(bad(format!(
                "versions and delete markers alternate more than once, as only an interleaved page does, yet {why}"
            ))),
            (true, None) => Ok(ListOrder::Interleaved),
            (false, Some(_)) if to_markers == 1 => Ok(ListOrder::VersionsFirst),
            (false, Some(_)) if to_versions == 1 => Ok(ListOrder::MarkersFirst),
            (false, Some(why)) => Err(bad(format!(
                "{why} among entries of one kind, which no layout produces"
            ))),
            (false, None) => Ok(ListOrder::Unknown),
        }
    }

    /// The layout known after a page that proved `seen`, when earlier pages proved
    /// `self`. Two different proofs are an error: the server's listing changed layout,
    /// so none of its pages can be read with certainty.
    pub fn and(self, seen: ListOrder) -> Result<ListOrder, TimelineError> {
        use ListOrder::*;
        match (self, seen) {
            (known, Unknown) => Ok(known),
            (Unknown, seen) => Ok(seen),
            (Split, s @ (VersionsFirst | MarkersFirst)) => Ok(s),
            (k @ (VersionsFirst | MarkersFirst), Split) => Ok(k),
            (known, seen) if known == seen => Ok(known),
            (known, seen) => Err(TimelineError::LayoutChanged {
                earlier: known.name().to_owned(),
                now: seen.name().to_owned(),
            }),
        }
    }
}

/// A key whose reading waits for the end of the listing (see
/// [`TimelineBuilder::take_complete`]).
#[derive(Debug, Default, Clone)]
struct Held {
    /// Portions of the key read from pages that proved no layout, by the split-list rule:
    /// (index of the portion's first entry among the key's entries, the portion in
    /// document order, which is the list order if the server turns out to interleave).
    unproven: Vec<(usize, Vec<Version>)>,
    /// Same-timestamp ties the rule decided on such pages (exact if the server
    /// interleaves, a guess if it splits).
    ties: Vec<Anomaly>,
}

/// Every key's history under one listing prefix, sorted by key (UTF-8 byte order, as S3
/// lists them).
///
/// Two timelines are equal when their keys, entries and anomalies are: the layout a
/// listing proved is how it was read, not what it holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Timeline {
    keys: Vec<KeyHistory>,
    anomalies: Vec<Anomaly>,
    entries: usize,
    /// The page layout the listing proved (`unknown` for split lists, inventories and
    /// listings that proved none).
    #[serde(default)]
    layout: ListOrder,
}

impl PartialEq for Timeline {
    fn eq(&self, other: &Self) -> bool {
        self.keys == other.keys
            && self.anomalies == other.anomalies
            && self.entries == other.entries
    }
}

impl Eq for Timeline {}

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

    /// The page layout the listing proved (see [`ListOrder`]): a caller that re-reads a
    /// key from the same server reads its pages the same way.
    pub fn layout(&self) -> ListOrder {
        self.layout
    }

    /// True when nothing was listed.
    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// This timeline with the histories of `keys` taken from `fresh` instead (a re-read of
    /// those keys from the server, with its anomalies): a key `fresh` does not hold is
    /// dropped (it has no entry any more), a key this timeline did not hold is added.
    ///
    /// One pass over both (their keys are sorted): nothing is copied or sorted again but
    /// the anomalies.
    pub fn patch(self, fresh: Timeline, keys: &[String]) -> Timeline {
        let mut keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        keys.sort_unstable();
        keys.dedup();
        let patched = |k: &str| keys.binary_search(&k).is_ok();
        let mut out: Vec<KeyHistory> = Vec::with_capacity(self.keys.len() + fresh.keys.len());
        let mut fresh_keys = SortedFilter::new(&keys, fresh.keys.into_iter(), true).peekable();
        // A history left empty by `take_entries` is no key.
        let kept = self.keys.into_iter().filter(|h| !h.entries.is_empty());
        for h in SortedFilter::new(&keys, kept, false) {
            while let Some(f) = fresh_keys.next_if(|f| f.key < h.key) {
                out.push(f);
            }
            out.push(h);
        }
        out.extend(fresh_keys);
        let mut anomalies: Vec<Anomaly> = self
            .anomalies
            .into_iter()
            .filter(|a| !patched(a.key()))
            .collect();
        anomalies.extend(fresh.anomalies.into_iter().filter(|a| patched(a.key())));
        anomalies.sort_by(|a, b| a.key().cmp(b.key()));
        let entries = out.iter().map(|h| h.entries.len()).sum();
        Timeline {
            keys: out,
            anomalies,
            entries,
            layout: self.layout,
        }
    }

    /// Lend this timeline's histories out, patched with `fresh` for `keys` (sorted, each
    /// once) as [`patch`](Self::patch) would: the histories of `keys` (and any left empty)
    /// are set aside, every other moves into the lent timeline (none is copied). Until
    /// [`end_loan`](Self::end_loan) gives them back, this timeline is empty.
    pub(crate) fn lend(&mut self, fresh: Timeline, keys: &[String]) -> (Timeline, Aside) {
        let mut next = 0;
        let aside_keys: Vec<KeyHistory> = self
            .keys
            .extract_if(.., |h| {
                h.entries.is_empty() || in_sorted(keys, &mut next, &h.key)
            })
            .collect();
        let aside = Aside {
            keys: aside_keys,
            anomalies: self.anomalies.clone(),
            entries: self.entries,
            layout: self.layout,
        };
        // What is left (the other keys, the anomalies) is patched as `patch` patches.
        let lent = std::mem::take(self).patch(fresh, keys);
        (lent, aside)
    }

    /// Take back what [`lend`](Self::lend) lent with the same `keys`: the lent histories
    /// of other keys move back, those of `keys` (the patch's) are dropped, and the ones
    /// set aside return to their places. The exact inverse of `lend`.
    pub(crate) fn end_loan(&mut self, lent: Timeline, aside: Aside, keys: &[String]) {
        let mut next = 0;
        let mut back = lent.keys;
        back.retain(|h| !in_sorted(keys, &mut next, &h.key));
        let mut out = Vec::with_capacity(back.len() + aside.keys.len());
        let mut set_aside = aside.keys.into_iter().peekable();
        for h in back {
            while let Some(a) = set_aside.next_if(|a| a.key < h.key) {
                out.push(a);
            }
            out.push(h);
        }
        out.extend(set_aside);
        *self = Timeline {
            keys: out,
            anomalies: aside.anomalies,
            entries: aside.entries,
            layout: aside.layout,
        };
    }

    /// A timeline of histories known to be in key order, each non-empty with each
    /// version id once (a checked index file), and its anomalies.
    pub(crate) fn from_histories(keys: Vec<KeyHistory>, anomalies: Vec<Anomaly>) -> Timeline {
        debug_assert!(keys.windows(2).all(|w| w[0].key < w[1].key));
        let entries = keys.iter().map(|h| h.entries.len()).sum();
        Timeline {
            keys,
            anomalies,
            entries,
            layout: ListOrder::default(),
        }
    }

    /// Take the entries of `key` out (its history is left empty): for a caller that owns
    /// the timeline and keeps that key's history elsewhere from now on.
    pub(crate) fn take_entries(&mut self, key: &str) -> Option<Vec<Version>> {
        let i = self
            .keys
            .binary_search_by(|h| h.key.as_str().cmp(key))
            .ok()?;
        let taken = std::mem::take(&mut self.keys[i].entries);
        self.entries -= taken.len();
        Some(taken)
    }

    /// Sort the anomalies by key (stable: a key's keep their order), so that
    /// [`anomalies_of`](Self::anomalies_of) finds them by binary search.
    pub(crate) fn sort_anomalies(&mut self) {
        if !self.anomalies.is_sorted_by(|a, b| a.key() <= b.key()) {
            self.anomalies.sort_by(|a, b| a.key().cmp(b.key()));
        }
    }

    /// The anomalies of `key`, in their order; the anomalies must be sorted by key
    /// ([`sort_anomalies`](Self::sort_anomalies)).
    pub(crate) fn anomalies_of(&self, key: &str) -> &[Anomaly] {
        let from = self.anomalies.partition_point(|a| a.key() < key);
        let to = from + self.anomalies[from..].partition_point(|a| a.key() == key);
        &self.anomalies[from..to]
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

/// What [`Timeline::lend`] set aside, for [`Timeline::end_loan`].
#[derive(Debug, Default)]
pub(crate) struct Aside {
    keys: Vec<KeyHistory>,
    anomalies: Vec<Anomaly>,
    entries: usize,
    layout: ListOrder,
}

/// True when `key` is in the sorted `keys`, asked in ascending order of `key`: `next`
/// walks `keys` once over all the calls.
fn in_sorted(keys: &[String], next: &mut usize, key: &str) -> bool {
    while *next < keys.len() && keys[*next].as_str() < key {
        *next += 1;
    }
    keys.get(*next).is_some_and(|k| k == key)
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
    /// Set when the last key came whole ([`push_history`](Self::push_history)):
    /// `seen_ids` is empty and its ids are its history's.
    seen_in_history: bool,
    /// Keys whose reading depends on the server's layout, or was made on a page that
    /// proved none: [`take_complete`](Self::take_complete) never hands them out, and
    /// [`finish`](Self::finish) settles them with the layout the whole listing proved.
    held: std::collections::BTreeMap<String, Held>,
    /// The layout the pages pushed here proved (see [`ListOrder`]).
    layout: ListOrder,
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
    /// order. `order` is what earlier pages of this listing proved (see [`ListOrder`]);
    /// it is updated from this page.
    ///
    /// - Interleaved: the document order is the list order, taken as it is.
    /// - A split layout: the page is split into its two lists and merged by
    ///   [`push_page`](Self::push_page)'s rule (`IsLatest` first, then timestamps; ties
    ///   reported).
    /// - Unknown: the page is read by that rule too, and a key that the document order
    ///   would order differently is settled only when the listing ends: in document order
    ///   if the listing proved interleaving by then, by the rule if it proved a split
    ///   layout, else by the rule and reported as [`Anomaly::OrderUnknown`] (its state is
    ///   then ambiguous). A same-timestamp tie on such a page is a guess only if the
    ///   server splits, so it is reported only then.
    ///
    /// Whatever the layout, a key whose two readings differ waits for the end of the
    /// listing (see [`take_complete`](Self::take_complete)). A page that contradicts what
    /// earlier pages proved is an error: the server's listing cannot be trusted. Fails
    /// leaving the builder unchanged.
    pub fn push_document(
        &mut self,
        document: Vec<Entry>,
        order: &mut ListOrder,
    ) -> Result<(), TimelineError> {
        let known = order.and(ListOrder::of_page(&document)?)?;
        let merged = merge_page_checked(split(document.clone()))?;
        // Per key, the document's reading where it differs from the rule's.
        let group = |entries: &[Entry]| {
            let mut by_key: std::collections::BTreeMap<String, Vec<Version>> = Default::default();
            for e in entries {
                by_key
                    .entry(e.key.clone())
                    .or_default()
                    .push(e.version.clone());
            }
            by_key
        };
        let by_rule = group(&merged.entries);
        let differs: Vec<(String, Vec<Version>)> = group(&document)
            .into_iter()
            .filter(|(key, doc)| {
                by_rule.get(key).is_none_or(|rule| {
                    rule.len() != doc.len()
                        || rule
                            .iter()
                            .zip(doc)
                            .any(|(a, b)| a.version_id != b.version_id)
                })
            })
            .collect();
        let chosen = if known == ListOrder::Interleaved {
            document
        } else {
            merged.entries
        };
        self.check_continues(&chosen)?;
        // Where each key's portion of this page starts among its entries.
        let mut starts: std::collections::HashMap<String, usize> = Default::default();
        for e in chosen {
            if !starts.contains_key(&e.key) {
                let start = match self.keys.last() {
                    Some(h) if h.key == e.key => h.entries.len(),
                    _ => 0,
                };
                starts.insert(e.key.clone(), start);
            }
            self.push_entry_unchecked(e);
        }
        match known {
            ListOrder::Interleaved => {
                for (key, _) in differs {
                    self.held.entry(key).or_default();
                }
            }
            ListOrder::Unknown => {
                for (key, doc) in differs {
                    let start = starts[&key];
                    self.held
                        .entry(key)
                        .or_default()
                        .unproven
                        .push((start, doc));
                }
                for tie in merged.ties {
                    self.held
                        .entry(tie.key().to_owned())
                        .or_default()
                        .ties
                        .push(tie);
                }
            }
            _ => {
                for (key, _) in differs {
                    self.held.entry(key).or_default();
                }
                self.anomalies.extend(merged.ties);
            }
        }
        self.layout = self.layout.and(known).unwrap_or(known);
        *order = known;
        Ok(())
    }

    /// Settle the keys read from pages that proved no layout, now that the listing
    /// proved `order` (the layout every stream of it proved together; see
    /// [`push_document`](Self::push_document)). Interleaved: such keys take their
    /// document order, and their ties were no guess. Split: the rule was right, their
    /// ties stay guesses. Unknown: the rule's reading stays, reported as
    /// [`Anomaly::OrderUnknown`]. Called by [`finish`](Self::finish) with what the pages
    /// pushed here proved; a caller that listed in parallel calls it first with what all
    /// the streams proved.
    pub fn settle_layout(&mut self, order: ListOrder) {
        let order = self.layout.and(order).unwrap_or(order);
        self.layout = order;
        let held = std::mem::take(&mut self.held);
        let mut reordered: Vec<String> = Vec::new();
        for (key, h) in held {
            match order {
                ListOrder::Interleaved => {
                    if h.unproven.is_empty() {
                        continue;
                    }
                    let Ok(i) = self.keys.binary_search_by(|k| k.key.as_str().cmp(&key)) else {
                        continue;
                    };
                    let entries = &mut self.keys[i].entries;
                    for (start, doc) in h.unproven {
                        let end = start + doc.len();
                        if end <= entries.len() {
                            entries.splice(start..end, doc);
                        }
                    }
                    reordered.push(key);
                }
                ListOrder::Unknown => {
                    self.anomalies.extend(h.ties);
                    if !h.unproven.is_empty() {
                        self.anomalies.push(Anomaly::OrderUnknown { key });
                    }
                }
                _ => self.anomalies.extend(h.ties),
            }
        }
        if !reordered.is_empty() {
            // Their timestamps' agreement with the list is judged again, in list order.
            let set: std::collections::HashSet<&str> =
                reordered.iter().map(String::as_str).collect();
            self.anomalies
                .retain(|a| !(matches!(a, Anomaly::NonMonotonic { .. }) && set.contains(a.key())));
            for key in &reordered {
                if let Ok(i) = self.keys.binary_search_by(|k| k.key.as_str().cmp(key)) {
                    let found = non_monotonic(key, &self.keys[i].entries);
                    self.anomalies.extend(found);
                }
            }
        }
        self.anomalies.sort_by(|a, b| a.key().cmp(b.key()));
    }

    /// Move out the keys the listing has passed (every key but the last, which the next
    /// page may continue), with their anomalies, as a timeline of their own: a consumer
    /// can compute their states and drop them while the listing goes on.
    ///
    /// A key whose reading depends on the server's layout (the document order and the
    /// split-list rule order it differently), or whose page proved no layout, stays until
    /// [`finish`](Self::finish): a page further on may prove a layout, or contradict the
    /// one proved, and nothing decided from such a key may have been acted on by then.
    /// Every key handed out here reads the same under every layout.
    pub fn take_complete(&mut self) -> Timeline {
        let Some(open) = self.keys.pop() else {
            return Timeline::default();
        };
        let held = &self.held;
        let (stay, taken): (Vec<KeyHistory>, Vec<KeyHistory>) = std::mem::take(&mut self.keys)
            .into_iter()
            .partition(|h| held.contains_key(&h.key));
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
            layout: self.layout,
        }
    }

    /// The layout the pages pushed so far proved.
    pub fn layout(&self) -> ListOrder {
        self.layout
    }

    /// Keys waiting for the end of the listing (see [`take_complete`](Self::take_complete)).
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// The entries of the keys waiting for the end of the listing.
    pub fn held_entries(&self) -> usize {
        self.keys
            .iter()
            .filter(|h| self.held.contains_key(&h.key))
            .map(|h| h.entries.len())
            .sum()
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
                    let last = self.keys.last().filter(|h| h.key == k);
                    let seen = |id| match last {
                        Some(h) if self.seen_in_history => {
                            h.entries.iter().any(|v| &v.version_id == id)
                        }
                        Some(_) => self.seen_ids.contains(id),
                        None => false,
                    };
                    let repeated =
                        seen(&e.version.version_id) || seen_extra.contains(&&e.version.version_id);
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
                self.seen_in_history = false;
                self.keys.push(KeyHistory {
                    key,
                    entries: vec![version],
                });
            }
        }
    }

    /// Add a key's whole history (list order, each version id once), after every key
    /// pushed so far: what [`push_entry`](Self::push_entry) makes of its entries one by
    /// one (the count, [`Anomaly::NonMonotonic`]), without their checks, which the caller
    /// guarantees. An empty history adds nothing.
    pub(crate) fn push_history(&mut self, key: String, entries: Vec<Version>) {
        debug_assert!(self.last_key().is_none_or(|k| k < key.as_str()));
        if entries.is_empty() {
            return;
        }
        self.anomalies.extend(non_monotonic(&key, &entries));
        if let Some(done) = self.keys.last_mut() {
            done.entries.shrink_to_fit();
        }
        self.seen_ids.clear();
        self.seen_in_history = true;
        self.entries += entries.len();
        self.keys.push(KeyHistory { key, entries });
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
            self.seen_in_history = other.seen_in_history;
        }
        self.keys.extend(other.keys);
        self.anomalies.extend(other.anomalies);
        self.entries += other.entries;
        self.held.extend(other.held);
        self.layout = self.layout.and(other.layout)?;
        Ok(())
    }

    /// Join builders that listed disjoint sets of keys (for example one per common
    /// prefix, listed in parallel), in any order. Fails if two parts share a key: that
    /// would mean the parts overlapped and a key's history was split arbitrarily.
    pub fn merge_disjoint(parts: Vec<TimelineBuilder>) -> Result<TimelineBuilder, TimelineError> {
        let mut keys: Vec<KeyHistory> = Vec::new();
        let mut anomalies = Vec::new();
        let mut entries = 0;
        let mut held = std::collections::BTreeMap::new();
        let mut layout = ListOrder::Unknown;
        for p in parts {
            keys.extend(p.keys);
            anomalies.extend(p.anomalies);
            entries += p.entries;
            held.extend(p.held);
            layout = layout.and(p.layout)?;
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
            seen_in_history: false,
            held,
            layout,
        })
    }

    /// The finished timeline: the keys still waiting for the listing's layout are settled
    /// with what the pages pushed here proved (see [`settle_layout`](Self::settle_layout)).
    pub fn finish(mut self) -> Timeline {
        if !self.held.is_empty() {
            let layout = self.layout;
            self.settle_layout(layout);
        }
        Timeline {
            keys: self.keys,
            anomalies: self.anomalies,
            entries: self.entries,
            layout: self.layout,
        }
    }
}

/// A history's entries whose time goes up in list order: an [`Anomaly::NonMonotonic`]
/// each.
fn non_monotonic(key: &str, entries: &[Version]) -> Vec<Anomaly> {
    entries
        .windows(2)
        .filter(|w| w[1].last_modified > w[0].last_modified)
        .map(|w| Anomaly::NonMonotonic {
            key: key.to_owned(),
            version_id: w[1].version_id.to_string(),
            at: w[1].last_modified,
            previous: w[0].last_modified,
        })
        .collect()
}

/// The histories of a sorted sequence whose key is (`keep_listed`) or is not in the
/// sorted `keys`, found by walking both in step.
struct SortedFilter<'k, I> {
    keys: &'k [&'k str],
    at: usize,
    inner: I,
    keep_listed: bool,
}

impl<'k, I> SortedFilter<'k, I> {
    fn new(keys: &'k [&'k str], inner: I, keep_listed: bool) -> Self {
        SortedFilter {
            keys,
            at: 0,
            inner,
            keep_listed,
        }
    }
}

impl<I: Iterator<Item = KeyHistory>> Iterator for SortedFilter<'_, I> {
    type Item = KeyHistory;

    fn next(&mut self) -> Option<KeyHistory> {
        for h in self.inner.by_ref() {
            while self.at < self.keys.len() && self.keys[self.at] < h.key.as_str() {
                self.at += 1;
            }
            let listed = self.keys.get(self.at) == Some(&h.key.as_str());
            if listed == self.keep_listed {
                return Some(h);
            }
        }
        None
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
        let etag = if dm { String::new() } else { format!("e{id}") };
        Entry::new(key, id, Utc.timestamp_opt(secs, 0).unwrap(), dm, &etag, 1)
    }

    /// `lend` then `end_loan` is the identity, and the loan is `patch`'s timeline, also
    /// when a patched key still has its history (the watch only patches keys it has
    /// emptied: a survivor of the engine's second cargo-mutants run set aside only those).
    #[test]
    fn a_loan_is_the_patch_and_ending_it_gives_everything_back() {
        let tl = Timeline::from_ordered([
            e("a", "a1", 1, false),
            e("b", "b2", 2, false),
            e("b", "b1", 1, false),
            e("c", "c1", 1, false),
        ])
        .unwrap();
        let fresh =
            Timeline::from_ordered([e("b", "b3", 3, false), e("d", "d1", 3, false)]).unwrap();
        let keys = vec!["b".to_owned(), "d".to_owned()];
        let mut lender = tl.clone();
        let (lent, aside) = lender.lend(fresh.clone(), &keys);
        assert_eq!(lent, tl.clone().patch(fresh, &keys));
        assert_eq!(ids(&lent, "b"), ["b3"]);
        assert!(lender.is_empty(), "lent out");
        lender.end_loan(lent, aside, &keys);
        assert_eq!(lender, tl);
        assert_eq!(ids(&lender, "b"), ["b2", "b1"]);
    }

    /// Anomalies sorted by key (a key's in their order) are found by key; sorting sorted
    /// ones changes nothing (survivors of the engine's second cargo-mutants run).
    #[test]
    fn anomalies_are_sorted_by_key_and_found_by_it() {
        let anomaly = |key: &str| Anomaly::OrderUnknown { key: key.into() };
        let tie = |key: &str| Anomaly::SameSecondTie {
            key: key.into(),
            at: Utc.timestamp_opt(1, 0).unwrap(),
            version_id: "v".into(),
            delete_marker_id: "d".into(),
        };
        let mut t = Timeline {
            anomalies: vec![anomaly("c"), tie("a"), anomaly("b"), anomaly("a")],
            ..Timeline::default()
        };
        t.sort_anomalies();
        assert_eq!(
            t.anomalies,
            [tie("a"), anomaly("a"), anomaly("b"), anomaly("c")],
            "by key, a key's in their order"
        );
        assert_eq!(t.anomalies_of("a"), [tie("a"), anomaly("a")]);
        assert_eq!(t.anomalies_of("b"), [anomaly("b")]);
        assert!(t.anomalies_of("bb").is_empty());
        assert_eq!(t.anomalies_of("c"), [anomaly("c")]);
        let sorted = t.anomalies.clone();
        t.sort_anomalies();
        assert_eq!(t.anomalies, sorted);
    }

    /// After a key's whole history is pushed, an entry of the same key that repeats one
    /// of its version ids is a paging error, and one with a new id continues it (the
    /// check reads the history itself then: a survivor of the engine's second
    /// cargo-mutants run compared the ids with `!=`).
    #[test]
    fn after_a_whole_history_only_a_repeated_id_is_refused() {
        let mut b = TimelineBuilder::new();
        let history = [e("k", "v3", 3, false), e("k", "v2", 2, false)];
        b.push_history(
            "k".into(),
            history.iter().map(|x| x.version.clone()).collect(),
        );
        assert!(matches!(
            b.push_entry(e("k", "v2", 2, false)),
            Err(TimelineError::Repeated { .. })
        ));
        b.push_entry(e("k", "v1", 1, false)).unwrap();
        assert_eq!(ids(&b.finish(), "k"), ["v3", "v2", "v1"]);
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
        assert_eq!(ListOrder::of_page(&doc).unwrap(), ListOrder::Interleaved);
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
        assert_eq!(ListOrder::of_page(&doc).unwrap(), ListOrder::VersionsFirst);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(doc, &mut order).unwrap();
        assert_eq!(order, ListOrder::VersionsFirst);
        // Version, marker, version: only an interleaving server mixes the lists twice.
        let interleaved = vec![
            latest(e("c", "c3", 10, false)),
            e("c", "d", 9, true),
            e("c", "c1", 8, false),
        ];
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
        assert_eq!(ListOrder::of_page(&doc).unwrap(), ListOrder::Unknown);
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

    /// The issue-20 repro: PUT v1, DELETE d1, PUT v2, [T], DELETE d2 of one file, listed by
    /// a server that sends a page's delete markers first. "A marker, then a version" is
    /// no proof of interleaving: the page proves nothing, is read by the rule (the file is
    /// live at T) and the key is reported, never silently read in document order.
    #[test]
    fn a_markers_first_page_is_not_taken_for_interleaved() {
        let doc = vec![
            latest(e("f", "d2", 5, true)),
            e("f", "d1", 2, true),
            e("f", "v2", 3, false),
            e("f", "v1", 1, false),
        ];
        assert_eq!(ListOrder::of_page(&doc).unwrap(), ListOrder::Unknown);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(doc.clone(), &mut order).unwrap();
        let t = b.finish();
        assert_eq!(ids(&t, "f"), ["d2", "v2", "d1", "v1"]);
        let at = Utc.timestamp_opt(4, 0).unwrap();
        let state = t.state_at(at);
        assert_eq!(state.get("f").unwrap().version_id, "v2");
        assert_eq!(state.ambiguous, ["f"], "its order was not proven");
        // Once a page of the listing proves the markers-first layout, the rule's reading
        // is the right one and nothing is ambiguous.
        let mut b = TimelineBuilder::new();
        let mut order = ListOrder::Unknown;
        b.push_document(doc, &mut order).unwrap();
        let proof = vec![
            e("g", "gd", 7, true),
            latest(e("g", "g2", 8, false)),
            latest(e("h", "h1", 8, false)),
        ];
        assert_eq!(ListOrder::of_page(&proof).unwrap(), ListOrder::MarkersFirst);
        b.push_document(proof, &mut order).unwrap();
        assert_eq!(order, ListOrder::MarkersFirst);
        let t = b.finish();
        assert_eq!(ids(&t, "f"), ["d2", "v2", "d1", "v1"]);
        assert!(t.state_at(at).ambiguous.is_empty());
        assert!(t.anomalies().is_empty(), "{:?}", t.anomalies());
    }

    #[test]
    fn an_unproven_page_takes_the_document_order_once_interleaving_is_proven() {
        // Page 1 proves nothing; page 2 proves interleaving: page 1's keys are in list
        // order after all (here a late multipart completion, stamped before the marker
        // listed below it).
        let p1 = vec![
            latest(e("a", "a2", 10, false)),
            e("a", "ad", 20, true),
            e("a", "a1", 5, false),
        ];
        let p2 = vec![
            latest(e("b", "b2", 30, false)),
            e("b", "bd", 20, true),
            e("b", "b1", 10, false),
        ];
        assert_eq!(ListOrder::of_page(&p1).unwrap(), ListOrder::Interleaved);
        let p1 = vec![
            latest(e("a", "a2", 10, false)),
            e("a", "a1", 5, false),
            e("a", "ad", 20, true),
        ];
        assert_eq!(ListOrder::of_page(&p1).unwrap(), ListOrder::Unknown);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(p1, &mut order).unwrap();
        assert_eq!(b.held(), 1);
        // Nothing that waits for the layout is handed out early.
        b.push_document(p2, &mut order).unwrap();
        let early = b.take_complete();
        assert!(early.get("a").is_none());
        let t = b.finish();
        assert_eq!(ids(&t, "a"), ["a2", "a1", "ad"]);
        assert!(
            t.anomalies()
                .iter()
                .all(|x| x.key() != "a" || !x.is_guess())
        );
    }

    #[test]
    fn pages_that_fit_no_layout_or_contradict_each_other_are_errors() {
        // Alternating kinds (interleaved) and a key going backwards at once.
        let bad = vec![
            e("b", "1", 3, false),
            e("b", "2", 2, true),
            e("a", "3", 1, false),
        ];
        assert!(matches!(
            ListOrder::of_page(&bad),
            Err(TimelineError::PageLayout { .. })
        ));
        // Keys going backwards among versions only.
        let bad = vec![e("b", "1", 3, false), e("a", "2", 2, false)];
        assert!(ListOrder::of_page(&bad).is_err());
        // Versions-first, then markers-first.
        let vf = vec![
            latest(e("a", "1", 1, false)),
            latest(e("b", "2", 1, false)),
            e("a", "0", 0, true),
        ];
        let mf = vec![latest(e("d", "3", 1, true)), e("c", "4", 1, false)];
        assert_eq!(ListOrder::of_page(&vf).unwrap(), ListOrder::VersionsFirst);
        assert_eq!(ListOrder::of_page(&mf).unwrap(), ListOrder::MarkersFirst);
        let mut order = ListOrder::Unknown;
        let mut b = TimelineBuilder::new();
        b.push_document(vf, &mut order).unwrap();
        assert!(matches!(
            b.push_document(mf, &mut order),
            Err(TimelineError::LayoutChanged { .. })
        ));
        // A declared split layout accepts either split proof.
        assert_eq!(
            ListOrder::Split.and(ListOrder::MarkersFirst).unwrap(),
            ListOrder::MarkersFirst
        );
        assert!(ListOrder::Split.and(ListOrder::Interleaved).is_err());
    }

    #[test]
    fn a_patch_replaces_adds_and_drops_keys() {
        let old = Timeline::from_ordered([
            e("a", "a1", 1, false),
            e("b", "b1", 1, false),
            e("c", "c1", 1, false),
        ])
        .unwrap();
        let fresh = Timeline::from_ordered([
            e("b", "b2", 3, false),
            e("b", "b1", 1, false),
            e("bb", "x", 2, false),
        ])
        .unwrap();
        let keys = ["b", "bb", "c"].map(String::from);
        let t = old.patch(fresh, &keys);
        let got: Vec<&str> = t.keys().iter().map(|h| h.key.as_str()).collect();
        assert_eq!(got, ["a", "b", "bb"]);
        assert_eq!(ids(&t, "b"), ["b2", "b1"]);
        assert_eq!(t.len(), 4);
    }

    proptest::proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]

        /// The one-pass patch is the naive one: filter, extend, sort.
        #[test]
        fn a_patch_is_the_naive_patch(
            old in proptest::collection::btree_set(0u8..24, 0..12),
            new in proptest::collection::btree_set(0u8..24, 0..12),
            patched in proptest::collection::vec(0u8..24, 0..12),
        ) {
            let name = |k: &u8| format!("k{k:02}");
            let tl = |keys: &std::collections::BTreeSet<u8>, id: &str, s: i64| {
                Timeline::from_ordered(keys.iter().flat_map(|k| {
                    [e(&name(k), &format!("{id}2"), s + 1, false), e(&name(k), &format!("{id}1"), s, false)]
                }))
                .unwrap()
            };
            let (old, fresh) = (tl(&old, "o", 1), tl(&new, "n", 5));
            let keys: Vec<String> = patched.iter().map(name).collect();
            let set: std::collections::BTreeSet<&str> = keys.iter().map(String::as_str).collect();
            let mut want: Vec<KeyHistory> = old.keys().iter().filter(|h| !set.contains(h.key.as_str())).cloned().collect();
            want.extend(fresh.keys().iter().filter(|h| set.contains(h.key.as_str())).cloned());
            want.sort_by(|a, b| a.key.cmp(&b.key));
            let got = old.patch(fresh, &keys);
            proptest::prop_assert_eq!(got.keys(), &want[..]);
            proptest::prop_assert_eq!(got.len(), want.iter().map(|h| h.entries.len()).sum::<usize>());
        }
    }

    #[test]
    fn a_taken_history_is_dropped_by_a_patch_and_anomalies_are_found_by_key() {
        let mut t = Timeline::from_ordered([
            e("a", "a1", 1, false),
            e("b", "b1", 1, false),
            e("b", "b0", 2, false),
        ])
        .unwrap();
        assert_eq!(t.anomalies_of("b").len(), 1, "{:?}", t.anomalies());
        assert!(t.anomalies_of("a").is_empty() && t.anomalies_of("c").is_empty());
        assert_eq!(t.take_entries("a").map(|v| v.len()), Some(1));
        assert_eq!(t.take_entries("x"), None);
        assert_eq!(t.len(), 2);
        let t = t.patch(Timeline::default(), &[]);
        let got: Vec<&str> = t.keys().iter().map(|h| h.key.as_str()).collect();
        assert_eq!(got, ["b"]);
    }

    #[test]
    fn a_pushed_history_is_its_entries_pushed_one_by_one() {
        let entries = [
            e("k", "v3", 5, false),
            e("k", "v2", 9, false),
            e("k", "v1", 1, false),
        ];
        let mut one = TimelineBuilder::new();
        for x in entries.clone() {
            one.push_entry(x).unwrap();
        }
        let mut whole = TimelineBuilder::new();
        whole.push_history(
            "k".into(),
            entries.iter().map(|x| x.version.clone()).collect(),
        );
        whole.push_history("l".into(), Vec::new());
        // The ids of the last key are known: a repeated one is refused.
        assert!(whole.push_entry(e("k", "v2", 0, false)).is_err());
        assert_eq!(whole.finish(), one.finish());
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
