//! The fold of an event log over an index: [`Watch`] (see the module docs of
//! [`crate::watch`] for the rules).

use super::Sequencer;
use super::{Begin, Event, EventKind, OrderBy, Reconciled, Record, Reread, Window};
use crate::model::{Version, VersionId};
use crate::timeline::{Anomaly, Aside, Timeline, TimelineBuilder};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a slot was removed for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovalKind {
    /// A DELETE named its version id.
    DeletedById,
    /// A lifecycle rule expired it.
    Lifecycle,
    /// A `null` version replaced in place (suspended versioning).
    NullReplaced,
    /// Its creation event is from before the key was read, and the read did not show it.
    BeforeRead,
    /// A re-read no longer shows it, and no event said why (a lost removal event).
    Vanished,
}

impl RemovalKind {
    /// How it is said.
    pub fn says(self) -> &'static str {
        match self {
            RemovalKind::DeletedById => "deleted by version id",
            RemovalKind::Lifecycle => "expired by a lifecycle rule",
            RemovalKind::NullReplaced => "a null version replaced in place",
            RemovalKind::BeforeRead => "removed before the key was read",
            RemovalKind::Vanished => "gone from the bucket without an event",
        }
    }
}

/// A permanent removal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Removal {
    /// When (the event's time, or the re-read's).
    pub at: DateTime<Utc>,
    /// Why.
    pub why: RemovalKind,
}

/// Why a key waits for a re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Doubt {
    /// An event named no version id (moto; radosgw's delete markers).
    NoVersionId,
    /// Two events could not be ordered (a tie, a sequencer pair that is not decisive).
    NotDecisive,
    /// An event from around the time the key was read, for a version the read did not
    /// show.
    AroundRead,
}

/// One entry of a key's history, with what the watch knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    /// The entry (an event's: its time is the event's).
    pub version: Version,
    /// The event's sequencer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<Sequencer>,
    /// True when it came from an event and was not read from the bucket since.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_event: bool,
    /// Set when it was removed for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed: Option<Removal>,
}

/// Everything the watch knows of one key beyond its index entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// The key.
    pub key: String,
    /// Entries newest first, removed ones included (followed by [`below`](Self::below)).
    pub slots: Vec<Slot>,
    /// The key's entries from the index that no rule has needed as slots yet, below
    /// `slots` (read from the bucket, no sequencer, not removed): they stay as the index
    /// holds them, so that a key an event only adds to costs no copy of its history.
    /// Never serialised: a state is written out [`materialized`](Self::materialize).
    #[serde(skip)]
    pub below: Vec<Version>,
    /// When the entries not from events were read.
    pub read: Window,
    /// Set while the key waits for a re-read, with the time of the event that raised it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doubt: Option<(Doubt, DateTime<Utc>)>,
    /// Removals of versions not (yet) seen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<(VersionId, Removal)>,
    /// What the last read could not order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub anomalies: Vec<Anomaly>,
    /// Events without a version id since the last read (deduplicated): the next re-read
    /// matches its entries to them, so they are not counted as lost.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unnamed: Vec<Unnamed>,
}

/// An event that named no version id, as kept until its key is read again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unnamed {
    /// What it did.
    pub kind: EventKind,
    /// When.
    pub time: DateTime<Utc>,
    /// The ETag of a new version.
    #[serde(default, skip_serializing_if = "crate::model::ETag::is_empty")]
    pub etag: crate::model::ETag,
    /// Its sequencer: two deliveries of one event are told apart from two events only by
    /// it (an event without one is never taken for a duplicate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<Sequencer>,
}

impl KeyState {
    /// [`live`](Self::live), copied into a history of exactly its length (a timeline
    /// keeps its histories exact; growing one and then shrinking it copies it twice).
    fn live_copy(&self) -> Vec<Version> {
        let mut v = Vec::with_capacity(self.live().count());
        v.extend(self.live().cloned());
        v
    }

    fn live(&self) -> impl Iterator<Item = &Version> {
        self.slots
            .iter()
            .filter(|s| s.removed.is_none())
            .map(|s| &s.version)
            .chain(&self.below)
    }

    /// The slot of `id`, made a slot first when it is [`below`](Self::below).
    fn find(&mut self, id: &VersionId) -> Option<usize> {
        if let Some(i) = self.slots.iter().position(|s| &s.version.version_id == id) {
            return Some(i);
        }
        if self.below.iter().any(|v| &v.version_id == id) {
            self.materialize();
            return self.find(id);
        }
        None
    }

    /// [`below`](Self::below) made slots: every entry in `slots`.
    pub fn materialize(&mut self) {
        let below = std::mem::take(&mut self.below);
        self.slots.reserve_exact(below.len());
        self.slots.extend(below.into_iter().map(|version| Slot {
            version,
            sequencer: None,
            from_event: false,
            removed: None,
        }));
    }

    /// A copy with every entry in `slots` (to write out).
    fn materialized(&self) -> KeyState {
        let mut k = self.clone();
        k.materialize();
        k
    }

    /// Worth carrying over a compaction: anything the index's entries alone do not say.
    fn worth_keeping(&self, horizon: DateTime<Utc>) -> bool {
        self.doubt.is_some()
            || !self.pending.is_empty()
            || self
                .slots
                .iter()
                .any(|s| s.removed.is_some() || (s.from_event && s.version.last_modified > horizon))
    }
}

/// What applying one record did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new entry, placed for sure.
    New,
    /// A removal recorded.
    Removal,
    /// Already known (at least once delivery).
    Duplicate,
    /// Placed provisionally (or not at all): the key waits for a re-read.
    Doubt(Doubt),
    /// Outside the watched prefix.
    Outside,
    /// Not an event (a re-read, a heartbeat, …).
    Other,
}

/// Counters over everything folded.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct WatchStats {
    /// Events folded.
    pub events: u64,
    /// Of which duplicates.
    pub duplicates: u64,
    /// Of which outside the prefix.
    pub outside: u64,
    /// Of which not decisive (their keys were put in doubt).
    pub doubts: u64,
    /// Keys re-read.
    pub rereads: u64,
    /// Entries re-reads found that no event had brought (lost creation events).
    pub lost_created: u64,
    /// Entries re-reads no longer found, with no removal event (lost removal events).
    pub lost_removed: u64,
    /// Reconciliation passes.
    pub reconciliations: u64,
    /// The time of the last record (event time, re-read, heartbeat): the log is complete
    /// up to about then.
    pub last_at: Option<DateTime<Utc>>,
}

impl WatchStats {
    /// These counters with `other`'s added, the later of the two last times: a watcher's
    /// totals over the watches its compactions replaced (each starts at zero).
    pub fn plus(&self, other: &WatchStats) -> WatchStats {
        WatchStats {
            events: self.events + other.events,
            duplicates: self.duplicates + other.duplicates,
            outside: self.outside + other.outside,
            doubts: self.doubts + other.doubts,
            rereads: self.rereads + other.rereads,
            lost_created: self.lost_created + other.lost_created,
            lost_removed: self.lost_removed + other.lost_removed,
            reconciliations: self.reconciliations + other.reconciliations,
            last_at: self.last_at.max(other.last_at),
        }
    }
}

/// A current object as ListObjectsV2 shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// The key.
    pub key: String,
    /// The ETag, unquoted.
    pub etag: String,
    /// The size.
    pub size: u64,
    /// LastModified.
    pub last_modified: DateTime<Utc>,
}

/// A key whose entry current at some time was removed for good.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unrestorable {
    /// The key.
    pub key: String,
    /// The entry that was current.
    pub version_id: String,
    /// True when it was a delete marker (the key was deleted then; its removal brought an
    /// older version back).
    pub delete_marker: bool,
    /// When it was removed.
    pub removed_at: DateTime<Utc>,
    /// Why.
    pub why: RemovalKind,
}

/// An index's timeline with its event log folded in (see the module docs).
#[derive(Debug, Clone)]
pub struct Watch {
    begin: Begin,
    base: Timeline,
    keys: BTreeMap<String, KeyState>,
    stats: WatchStats,
}

impl Watch {
    /// The index `base`, about to be continued by the log that `begin` starts.
    pub fn new(begin: Begin, mut base: Timeline) -> Watch {
        base.sort_anomalies();
        Watch {
            begin,
            base,
            keys: BTreeMap::new(),
            stats: WatchStats::default(),
        }
    }

    /// The log's first line.
    pub fn begin(&self) -> &Begin {
        &self.begin
    }

    /// The counters.
    pub fn stats(&self) -> &WatchStats {
        &self.stats
    }

    /// Keys the log has touched.
    pub fn touched(&self) -> usize {
        self.keys.len()
    }

    /// Fold one record.
    pub fn apply(&mut self, r: &Record) -> Applied {
        match r {
            Record::Begin(b) => {
                self.begin = b.clone();
                Applied::Other
            }
            Record::Event(e) => {
                self.stats.events += 1;
                self.seen(e.time);
                let a = self.apply_event(e);
                match a {
                    Applied::Duplicate => self.stats.duplicates += 1,
                    Applied::Outside => self.stats.outside += 1,
                    Applied::Doubt(_) => self.stats.doubts += 1,
                    _ => {}
                }
                a
            }
            Record::Reread(rr) => {
                self.seen(rr.window.end);
                self.apply_reread(rr);
                Applied::Other
            }
            Record::Keep(k) => {
                // The state replaces what the index holds of the key.
                self.base.take_entries(&k.key);
                self.keys.insert(k.key.clone(), k.materialized());
                Applied::Other
            }
            Record::Reconciled(Reconciled { at, .. }) => {
                self.stats.reconciliations += 1;
                self.seen(*at);
                Applied::Other
            }
            Record::Alive { at } => {
                self.seen(*at);
                Applied::Other
            }
        }
    }

    /// Fold a run of records, in an order that reads the keys' states and the index in
    /// key order (each key's own records keep theirs): the same watch as applying them
    /// one by one, since a record changes only its key's state and the counters, which
    /// do not depend on the order. A run holding a [`Begin`] (which changes the rules
    /// for what follows) is applied as it stands.
    pub fn apply_batch(&mut self, records: &mut [Record]) {
        if records.iter().any(|r| matches!(r, Record::Begin(_))) {
            records.iter().for_each(|r| {
                self.apply(r);
            });
            return;
        }
        fn key(r: &Record) -> Option<&str> {
            match r {
                Record::Event(e) => Some(e.key.as_str()),
                Record::Reread(rr) => Some(rr.key.as_str()),
                Record::Keep(k) => Some(k.key.as_str()),
                _ => None,
            }
        }
        let mut order: Vec<usize> = (0..records.len()).collect();
        order.sort_by(|&a, &b| key(&records[a]).cmp(&key(&records[b])));
        for i in order {
            self.apply(&records[i]);
        }
    }

    fn seen(&mut self, at: DateTime<Utc>) {
        if self.stats.last_at.is_none_or(|l| l < at) {
            self.stats.last_at = Some(at);
        }
    }

    /// True when `e` would change nothing (it is known): the watcher need not log it.
    pub fn is_duplicate(&self, e: &Event) -> bool {
        let Some(id) = &e.version_id else {
            return false;
        };
        let st = self.keys.get(&e.key);
        let slots = st.and_then(|st| st.slots.iter().find(|s| &s.version.version_id == id));
        // An entry below is read from the bucket: known, never removed.
        if slots.is_none() && st.is_some_and(|st| st.below.iter().any(|v| &v.version_id == id)) {
            return e.kind.adds_entry() && !id.is_null();
        }
        match (slots, e.kind.adds_entry()) {
            (Some(s), true) => !id.is_null() || same_event(s, e),
            (Some(s), false) => s.removed.is_some(),
            (None, true) => {
                !id.is_null()
                    && !self.keys.contains_key(&e.key)
                    && self
                        .base
                        .get(&e.key)
                        .is_some_and(|h| h.entries.iter().any(|v| &v.version_id == id))
            }
            (None, false) => false,
        }
    }

    /// The key's state, made from the index the first time the log touches it: its
    /// entries move out of the index into the state (the index no longer answers for
    /// it; every reader asks [`keys`](Self::keys) first).
    fn state(&mut self, key: &str) -> &mut KeyState {
        match self.keys.entry(key.to_owned()) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(KeyState {
                key: key.to_owned(),
                slots: Vec::with_capacity(1),
                below: self.base.take_entries(key).unwrap_or_default(),
                read: self.begin.baseline,
                doubt: None,
                pending: Vec::new(),
                anomalies: self.base.anomalies_of(key).to_vec(),
                unnamed: Vec::new(),
            }),
        }
    }

    /// One event against its key's history. Longer than 120 lines on purpose: the
    /// cases (duplicate, ordered by sequencer, by event time, undecidable → re-read,
    /// removal by id, expiration, older than the baseline) are one decision each and
    /// read in the order the module docs give them.
    fn apply_event(&mut self, e: &Event) -> Applied {
        if !e.key.starts_with(&self.begin.prefix) {
            return Applied::Outside;
        }
        let (order, skew, tie) = (self.begin.order, self.begin.skew(), self.begin.tie());
        let st = self.state(&e.key);
        let doubt = |st: &mut KeyState, d: Doubt| {
            if st.doubt.is_none() {
                st.doubt = Some((d, e.time));
            }
            Applied::Doubt(d)
        };
        let Some(id) = e.version_id.clone() else {
            let u = Unnamed {
                kind: e.kind,
                time: e.time,
                etag: e.etag.clone(),
                sequencer: e.sequencer.clone(),
            };
            if u.sequencer.is_some() && st.unnamed.contains(&u) {
                return Applied::Duplicate;
            }
            st.unnamed.push(u);
            return doubt(st, Doubt::NoVersionId);
        };
        if !e.kind.adds_entry() {
            let removal = Removal {
                at: e.time,
                why: if e.kind == EventKind::Expired {
                    RemovalKind::Lifecycle
                } else {
                    RemovalKind::DeletedById
                },
            };
            return match st.find(&id) {
                Some(i) if st.slots[i].removed.is_some() => Applied::Duplicate,
                Some(i) => {
                    st.slots[i].removed = Some(removal);
                    Applied::Removal
                }
                None if st.pending.iter().any(|(p, _)| p == &id) => Applied::Duplicate,
                None => {
                    st.pending.push((id, removal));
                    Applied::Removal
                }
            };
        }
        let mut replaced = None;
        if let Some(i) = st.find(&id) {
            let s = &st.slots[i];
            if !id.is_null() || same_event(s, e) {
                if s.from_event && s.sequencer.is_none() && e.sequencer.is_some() {
                    st.slots[i].sequencer = e.sequencer.clone();
                }
                return Applied::Duplicate;
            }
            // A new `null` version replaces the old one in place, unless the old one was
            // read from the bucket around the event's time (it may be this one).
            if !s.from_event && e.time <= st.read.end + skew {
                return doubt(st, Doubt::AroundRead);
            }
            replaced = Some(i);
        }
        let version = Version {
            version_id: id.clone(),
            last_modified: e.time,
            delete_marker: e.kind == EventKind::DeleteMarker,
            etag: e.etag.clone(),
            size: e.size,
            storage_class: None,
            owner_id: None,
            is_latest: false,
        };
        let pending = st
            .pending
            .iter()
            .position(|(p, _)| p == &id)
            .map(|i| st.pending.remove(i).1);
        if let Some(i) = replaced
            && st.slots[i].removed.is_none()
        {
            st.slots[i].removed = Some(Removal {
                at: e.time,
                why: RemovalKind::NullReplaced,
            });
        }
        let mut slot = Slot {
            version,
            sequencer: e.sequencer.clone(),
            from_event: true,
            removed: pending,
        };
        // Not shown by the read, from well before it: removed before the read.
        if e.time + skew < st.read.start {
            slot.removed.get_or_insert(Removal {
                at: st.read.start,
                why: RemovalKind::BeforeRead,
            });
            slot.from_event = false;
            st.materialize();
            let at = st
                .slots
                .iter()
                .position(|s| s.version.last_modified < e.time)
                .unwrap_or(st.slots.len());
            st.slots.insert(at, slot);
            return Applied::Removal;
        }
        let around_read = e.time <= st.read.end + skew;
        let region = st.slots.iter().take_while(|s| s.from_event).count();
        let mut decisive = true;
        let mut at = 0;
        for s in &st.slots[..region] {
            match newer(order, tie, e, s) {
                Some(true) => {}
                Some(false) => at += 1,
                None => {
                    decisive = false;
                    if fallback_newer(e, s) {
                    } else {
                        at += 1;
                    }
                }
            }
        }
        // The comparisons above are made against a sorted region, so `at` counts the
        // slots newer than the event.
        st.slots.insert(at, slot);
        if around_read {
            doubt(st, Doubt::AroundRead)
        } else if !decisive {
            doubt(st, Doubt::NotDecisive)
        } else {
            Applied::New
        }
    }

    fn apply_reread(&mut self, rr: &Reread) {
        if !rr.key.starts_with(&self.begin.prefix) {
            return;
        }
        self.stats.rereads += 1;
        let skew = self.begin.skew();
        let st = self.state(&rr.key);
        st.materialize();
        let old = std::mem::take(&mut st.slots);
        let in_read = |id: &VersionId| rr.entries.iter().any(|v| &v.version_id == id);
        let mut lost_created = 0u64;
        let mut lost_removed = 0u64;
        // Event entries newer than the read (or too close to it to tell) stay on top.
        let mut top: Vec<Slot> = Vec::new();
        let mut removed: Vec<Slot> = Vec::new();
        let mut still_doubt = false;
        for s in &old {
            if in_read(&s.version.version_id) {
                continue;
            }
            if s.removed.is_some() {
                removed.push(s.clone());
            } else if s.from_event && s.version.last_modified > rr.window.end + skew {
                top.push(s.clone());
            } else if s.from_event && s.version.last_modified + skew >= rr.window.start {
                still_doubt = true;
                top.push(s.clone());
            } else {
                let pending = st
                    .pending
                    .iter()
                    .position(|(p, _)| p == &s.version.version_id)
                    .map(|i| st.pending.remove(i).1);
                let announced = st
                    .unnamed
                    .iter()
                    .position(|u| !u.kind.adds_entry())
                    .map(|i| st.unnamed.remove(i));
                if pending.is_none() && announced.is_none() {
                    lost_removed += 1;
                }
                let mut s = s.clone();
                s.removed = Some(pending.unwrap_or(Removal {
                    at: rr.window.start,
                    why: RemovalKind::Vanished,
                }));
                s.from_event = false;
                removed.push(s);
            }
        }
        let mut read: Vec<Slot> = Vec::with_capacity(rr.entries.len());
        for v in &rr.entries {
            let known = old.iter().find(|s| s.version.version_id == v.version_id);
            if known.is_none() && v.last_modified < rr.cutoff {
                // The closest event in time that could have announced it.
                let announced = st
                    .unnamed
                    .iter()
                    .enumerate()
                    .filter(|(_, u)| {
                        u.kind.adds_entry()
                            && (u.kind == EventKind::DeleteMarker) == v.delete_marker
                            && (v.delete_marker || u.etag == v.etag)
                            && (u.time - v.last_modified).abs() <= skew
                    })
                    .min_by_key(|(_, u)| (u.time - v.last_modified).abs())
                    .map(|(i, _)| i)
                    .map(|i| st.unnamed.remove(i));
                if announced.is_none() {
                    lost_created += 1;
                }
            }
            // A removal that came after the read.
            let removed_later = known
                .and_then(|s| s.removed)
                .filter(|r| r.at > rr.window.end + skew);
            let pending = st
                .pending
                .iter()
                .position(|(p, r)| p == &v.version_id && r.at > rr.window.end + skew)
                .map(|i| st.pending.remove(i).1);
            read.push(Slot {
                version: v.clone(),
                sequencer: None,
                from_event: false,
                removed: removed_later.or(pending),
            });
        }
        // A pending removal of a version the read shows, from before the read: the read
        // is the truth.
        st.pending.retain(|(_, r)| r.at > rr.window.end + skew);
        let mut slots = top;
        slots.extend(read);
        for r in removed {
            let at = slots
                .iter()
                .position(|s| {
                    s.removed.is_none() && s.version.last_modified < r.version.last_modified
                })
                .unwrap_or(slots.len());
            slots.insert(at, r);
        }
        st.slots = slots;
        st.read = rr.window;
        st.doubt = still_doubt.then_some((Doubt::NotDecisive, rr.window.end));
        st.anomalies = rr.anomalies.clone();
        st.unnamed.clear();
        self.stats.lost_created += lost_created;
        self.stats.lost_removed += lost_removed;
    }

    /// Keys waiting for a re-read, with why and since when (the event that raised it).
    pub fn doubtful(&self) -> Vec<(String, Doubt, DateTime<Utc>)> {
        self.keys
            .values()
            .filter_map(|s| s.doubt.map(|(d, at)| (s.key.clone(), d, at)))
            .collect()
    }

    /// The current entry of `key`.
    pub fn head(&self, key: &str) -> Option<&Version> {
        match self.keys.get(key) {
            Some(st) => st.live().next(),
            None => self.base.get(key).and_then(|h| h.head()),
        }
    }

    /// The keys whose current entry disagrees with `current` (every current object under
    /// the prefix, ListObjectsV2, sorted by key): another ETag or size, an older write,
    /// live in one and absent in the other.
    pub fn disagreeing(&self, current: &[Current]) -> Vec<String> {
        let mut out = Vec::new();
        let mut live: Vec<&str> = Vec::new();
        for h in self.base.keys() {
            if !self.keys.contains_key(&h.key) && h.head().is_some_and(|v| !v.delete_marker) {
                live.push(&h.key);
            }
        }
        for st in self.keys.values() {
            if st.live().next().is_some_and(|v| !v.delete_marker) {
                live.push(&st.key);
            }
        }
        live.sort_unstable();
        let mut i = 0;
        for o in current {
            while i < live.len() && live[i] < o.key.as_str() {
                out.push(live[i].to_owned());
                i += 1;
            }
            if i < live.len() && live[i] == o.key {
                i += 1;
            }
            let agrees = self.head(&o.key).is_some_and(|v| {
                !v.delete_marker
                    && v.etag.as_str() == o.etag
                    && v.size == o.size
                    && o.last_modified <= v.last_modified + TimeDelta::seconds(1)
            });
            if !agrees {
                out.push(o.key.clone());
            }
        }
        out.extend(live[i..].iter().map(|k| (*k).to_owned()));
        out.sort();
        out.dedup();
        out
    }

    /// The keys whose entry current at `at` was removed for good since (it cannot be
    /// restored from this bucket), and why.
    pub fn unrestorable_at(&self, at: DateTime<Utc>) -> Vec<Unrestorable> {
        unrestorable(self.keys.values(), at)
    }

    /// The states of the keys under `prefix` that hold a removed entry: all that
    /// [`Removals::unrestorable_at`] needs, without the index.
    pub fn removals(&self, prefix: &str) -> Removals {
        Removals {
            keys: self
                .keys
                .values()
                .filter(|s| {
                    s.key.starts_with(prefix) && s.slots.iter().any(|x| x.removed.is_some())
                })
                .map(KeyState::materialized)
                .collect(),
        }
    }

    /// The timeline: the index's, with every key the log touched as the log left it.
    /// Keys in doubt are flagged ([`Anomaly::OrderUnknown`]): their order waits for a
    /// re-read.
    pub fn timeline(&self) -> Timeline {
        let mut fresh = TimelineBuilder::new();
        for st in self.keys.values() {
            push_fresh(&mut fresh, st.key.clone(), st.live_copy(), st);
        }
        self.base
            .clone()
            .patch(fresh.finish(), &self.touched_keys(""))
    }

    /// The index as the watch holds it (its touched keys' histories moved out).
    #[cfg(test)]
    pub(crate) fn base(&self) -> &Timeline {
        &self.base
    }

    /// [`timeline`](Self::timeline), lent for reading without copying the index: its
    /// histories move into the loan, beside copies of the touched keys' histories, and
    /// move back when the loan is dropped (also when a future holding it is). A watcher
    /// that detects over its timeline every bin holds the index once, not twice.
    pub fn lend_timeline(&mut self) -> LentTimeline<'_> {
        let keys = self.touched_keys("");
        let mut fresh = TimelineBuilder::new();
        for st in self.keys.values() {
            push_fresh(&mut fresh, st.key.clone(), st.live_copy(), st);
        }
        let (timeline, aside) = self.base.lend(fresh.finish(), &keys);
        LentTimeline {
            watch: self,
            timeline,
            aside,
            keys,
        }
    }

    /// [`timeline`](Self::timeline) of the keys under `prefix` (the index was read for
    /// that prefix), consuming the watch: nothing is copied.
    pub fn into_timeline_under(self, prefix: &str) -> Timeline {
        let keys = self.touched_keys(prefix);
        let mut fresh = TimelineBuilder::new();
        for (key, mut st) in self.keys {
            if !key.starts_with(prefix) {
                continue;
            }
            let slots = std::mem::take(&mut st.slots);
            let below = std::mem::take(&mut st.below);
            let mut live = Vec::with_capacity(slots.len() + below.len());
            live.extend(
                slots
                    .into_iter()
                    .filter(|s| s.removed.is_none())
                    .map(|s| s.version),
            );
            live.extend(below);
            push_fresh(&mut fresh, key, live, &st);
        }
        self.base.patch(fresh.finish(), &keys)
    }

    fn touched_keys(&self, prefix: &str) -> Vec<String> {
        self.keys
            .keys()
            .filter(|k| k.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// What a compaction writes, consuming the watch: the timeline for the new index,
    /// created `created` (the index's histories move into it: a watcher compacting a
    /// large index holds it once, not twice), and the new log's records (its [`Begin`],
    /// then a [`Record::Keep`] for each key whose state the index cannot hold). Event
    /// entries older than `horizon` (now less the delivery allowance) count as read.
    pub fn into_compaction(
        self,
        created: DateTime<Utc>,
        horizon: DateTime<Utc>,
    ) -> (Timeline, Vec<Record>) {
        let mut begin = self.begin.clone();
        begin.base_created = created;
        begin.baseline.end = begin.baseline.end.max(horizon);
        let mut records = vec![Record::Begin(begin)];
        for st in self.keys.values() {
            if st.worth_keeping(horizon) {
                records.push(Record::Keep(st.materialized()));
            }
        }
        (self.into_timeline_under(""), records)
    }

    /// The number of entries and of keys in [`timeline`](Self::timeline), without
    /// making it.
    pub fn counts(&self) -> (usize, usize) {
        let (mut entries, mut keys) = (0, 0);
        for h in self.base.keys() {
            if !h.entries.is_empty() && !self.keys.contains_key(&h.key) {
                entries += h.entries.len();
                keys += 1;
            }
        }
        for st in self.keys.values() {
            let live = st.live().count();
            entries += live;
            keys += usize::from(live > 0);
        }
        (entries, keys)
    }
}

/// A touched key's history as a listing would show it now: its live entries (`live`,
/// newest first, `IsLatest` on the first only), the anomalies of its last read that
/// still hold, and [`Anomaly::OrderUnknown`] while it waits for a re-read (`st` is the
/// key's state; its slots may have been moved into `live`).
fn push_fresh(b: &mut TimelineBuilder, key: String, mut live: Vec<Version>, st: &KeyState) {
    for (i, v) in live.iter_mut().enumerate() {
        v.is_latest = i == 0;
    }
    let doubt_live = st.doubt.is_some() && !live.is_empty();
    let held = |id: &str| live.iter().any(|v| v.version_id.as_str() == id);
    let notes: Vec<Anomaly> = st
        .anomalies
        .iter()
        .filter(|a| match a {
            Anomaly::SameSecondTie {
                version_id,
                delete_marker_id,
                ..
            } => held(version_id) && held(delete_marker_id),
            Anomaly::OrderUnknown { .. } => true,
            Anomaly::NonMonotonic { .. } => false,
        })
        .cloned()
        .collect();
    b.push_history(key.clone(), live);
    for a in notes {
        b.note(a);
    }
    if doubt_live {
        b.note(Anomaly::OrderUnknown { key });
    }
}

/// A watch's timeline on loan ([`Watch::lend_timeline`]): reads as the [`Timeline`],
/// gives the index back to the watch when dropped.
#[derive(Debug)]
pub struct LentTimeline<'w> {
    watch: &'w mut Watch,
    timeline: Timeline,
    aside: Aside,
    keys: Vec<String>,
}

impl std::ops::Deref for LentTimeline<'_> {
    type Target = Timeline;
    fn deref(&self) -> &Timeline {
        &self.timeline
    }
}

impl Drop for LentTimeline<'_> {
    fn drop(&mut self) {
        let lent = std::mem::take(&mut self.timeline);
        let aside = std::mem::take(&mut self.aside);
        self.watch.base.end_loan(lent, aside, &self.keys);
    }
}

/// Two deliveries of one event of a `null` version (the id alone cannot tell them).
fn same_event(s: &Slot, e: &Event) -> bool {
    s.from_event
        && s.version.last_modified == e.time
        && (s.sequencer.is_none() || e.sequencer.is_none() || s.sequencer == e.sequencer)
}

/// Is `e` newer than the event entry `s`? `None` when not decisive.
fn newer(order: OrderBy, tie: TimeDelta, e: &Event, s: &Slot) -> Option<bool> {
    if order == OrderBy::Sequencer
        && let (Some(a), Some(b)) = (&e.sequencer, &s.sequencer)
    {
        return match a.order(b)? {
            std::cmp::Ordering::Greater => Some(true),
            std::cmp::Ordering::Less => Some(false),
            std::cmp::Ordering::Equal => None,
        };
    }
    let d = e.time - s.version.last_modified;
    if d.abs() < tie {
        None
    } else {
        Some(d > TimeDelta::zero())
    }
}

/// A provisional order where [`newer`] is not decisive: by time, then version id.
fn fallback_newer(e: &Event, s: &Slot) -> bool {
    (e.time, e.version_id.as_ref()) > (s.version.last_modified, Some(&s.version.version_id))
}

/// The removed entries of a watched index ([`Watch::removals`]).
#[derive(Debug, Clone, Default)]
pub struct Removals {
    keys: Vec<KeyState>,
}

impl Removals {
    /// The keys whose entry current at `at` was removed for good since, and why.
    pub fn unrestorable_at(&self, at: DateTime<Utc>) -> Vec<Unrestorable> {
        unrestorable(self.keys.iter(), at)
    }

    /// True when no key holds a removed entry.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

fn unrestorable<'a>(
    keys: impl Iterator<Item = &'a KeyState>,
    at: DateTime<Utc>,
) -> Vec<Unrestorable> {
    keys.filter_map(|st| {
        let s = st.slots.iter().find(|s| s.version.last_modified <= at)?;
        let r = s.removed?;
        (r.at > at).then(|| Unrestorable {
            key: st.key.clone(),
            version_id: s.version.version_id.to_string(),
            delete_marker: s.version.delete_marker,
            removed_at: r.at,
            why: r.why,
        })
    })
    .collect()
}
