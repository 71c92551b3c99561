//! The state at T a restore planned, kept for the verification after it: in memory, or on
//! disk when the planner streamed it.
//!
//! A streamed restore's planner hands over each part's state at T (one entry per key,
//! sorted, a contiguous range of the listing) and keeps only the notes (uncertain keys,
//! ambiguous ones, unknown orders). Here those runs go to a [`Spilled`] file, so that a
//! verified restore of 40 million keys holds a sparse index and a bit per key, not an
//! entry per key. The verification looks its destination's keys up a part at a time
//! ([`Lookups::lookup`]) and then takes the keys no part named ([`Lookups::each_unnamed`]):
//! the keys missing at the destination.

use crate::bucket::Endpoint;
use crate::error::CliResult;
use crate::listing::Streams;
use crate::output::Printer;
use crate::spill::Spilled;
use chrono::{DateTime, Utc};
use s3rewind_engine::select::KeyFilter;
use s3rewind_engine::{BucketState, Location, StateEntry};
use std::sync::Arc;

/// The state at `at` of `source`'s range, listed (cross-checked, as every listing is)
/// and computed a part at a time, its entries on disk as they come: for a verification
/// that was not handed the state its restore planned (`apply`: a plan file carries
/// none). The whole history is never held, as [`crate::pipeline::prepare`] never holds
/// it either.
pub async fn listed_at(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    source: &Location,
    at: DateTime<Utc>,
    page_size: i32,
    streams: Streams,
) -> CliResult<TargetState> {
    let spec = crate::source::SourceSpec::listing(page_size, streams);
    Ok(state_at(endpoint, printer, source, at, &spec, false)
        .await?
        .0)
}

/// The state at `at` of `source`'s range from `spec`'s source (a listing or a snapshot,
/// checked as [`crate::source`] checks it), a part at a time onto disk; with `current`,
/// the range's current state too, from the same parts, onto disk beside it (what a
/// verification in place compares the state at `at` with).
pub async fn state_at(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    source: &Location,
    at: DateTime<Utc>,
    spec: &crate::source::SourceSpec,
    current: bool,
) -> CliResult<(TargetState, Option<Spilled<StateEntry>>)> {
    let mut entries = Spilled::<StateEntry>::new()?;
    let mut now = if current {
        Some(Spilled::<StateEntry>::new()?)
    } else {
        None
    };
    let mut notes = BucketState {
        at: Some(at),
        ..BucketState::default()
    };
    crate::source::each_part(
        endpoint,
        printer,
        &source.bucket,
        &source.prefix,
        spec,
        Some(at),
        |part| {
            if let Some(now) = &mut now {
                now.push_part(&part.current().objects, "the listing")?;
            }
            let mut state = part.state_at(at);
            drop(part);
            entries.push_part(&state.objects, "the listing")?;
            notes.uncertain.append(&mut state.uncertain);
            notes.ambiguous.append(&mut state.ambiguous);
            notes.order_unknown.append(&mut state.order_unknown);
            notes.out_of_order.append(&mut state.out_of_order);
            Ok(())
        },
    )
    .await?;
    // Parts came in any order (parallel listing streams).
    notes.uncertain.sort_by(|a, b| a.key.cmp(&b.key));
    notes.ambiguous.sort();
    notes.order_unknown.sort();
    notes.out_of_order.sort();
    if let Some(now) = &mut now {
        now.seal()?;
    }
    Ok((TargetState::spilled(notes, entries)?, now))
}

/// The state at T (see the module docs).
#[derive(Debug)]
pub struct TargetState {
    /// The notes, and the entries themselves when they are held in memory (sorted).
    pub state: BucketState,
    entries: Entries,
}

/// Where the entries are, and which a lookup found.
#[derive(Debug)]
enum Entries {
    /// In `state.objects`; a bit per entry (by position) once looked up.
    InState(Vec<u64>),
    /// On disk (the file marks what a lookup found).
    Spilled(Spilled<StateEntry>),
}

impl TargetState {
    /// A state held whole in memory.
    pub fn whole(state: BucketState) -> TargetState {
        TargetState {
            state,
            entries: Entries::InState(Vec::new()),
        }
    }

    /// A state whose entries are `entries` (on disk) and whose notes are `notes`
    /// (entries in it too, if any, are added to the file as one more run).
    pub fn spilled(
        mut notes: BucketState,
        mut entries: Spilled<StateEntry>,
    ) -> CliResult<TargetState> {
        let rest = std::mem::take(&mut notes.objects);
        if let Err((key, last)) = entries.push_run(&rest)? {
            return Err(crate::error::CliError::failure(format!(
                "the state at T is out of order ({key:?} after {last:?}); please report this"
            )));
        }
        entries.seal()?;
        Ok(TargetState {
            state: notes,
            entries: Entries::Spilled(entries),
        })
    }

    /// Entries (keys at T).
    pub fn len(&self) -> u64 {
        match &self.entries {
            Entries::InState(_) => self.state.objects.len() as u64,
            Entries::Spilled(s) => s.len(),
        }
    }

    /// True when no key existed at T.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keep only the keys `filter` selects: the notes and entries in memory now; the
    /// entries on disk are filtered as they are read (a verification given the same
    /// filter never looks an unselected key up).
    pub fn retain(&mut self, filter: &KeyFilter) {
        filter.retain(&mut self.state, str::to_owned);
    }

    /// The whole state in memory (read back from disk if it was spilled): for a
    /// directory, whose files are found from the state's keys.
    pub fn into_whole(self) -> CliResult<BucketState> {
        let mut state = self.state;
        if let Entries::Spilled(mut s) = self.entries {
            s.each_unmatched(|e| {
                state.objects.push(e);
                Ok(())
            })?;
        }
        Ok(state)
    }

    /// The notes (and the entries if in memory), and the entries' lookups, apart: a
    /// comparison reads the one while the other is looked up.
    pub fn split(&mut self) -> (&BucketState, Lookups<'_>) {
        let entries = match &mut self.entries {
            Entries::InState(seen) => {
                seen.clear();
                seen.resize(self.state.objects.len().div_ceil(64), 0);
                LookupsOf::InState(&self.state.objects, seen)
            }
            Entries::Spilled(s) => LookupsOf::Spilled(s),
        };
        (&self.state, Lookups(entries))
    }
}

/// Lookups of a [`TargetState`]'s entries (see [`TargetState::split`]).
pub struct Lookups<'a>(LookupsOf<'a>);

enum LookupsOf<'a> {
    InState(&'a [StateEntry], &'a mut Vec<u64>),
    Spilled(&'a mut Spilled<StateEntry>),
}

impl Lookups<'_> {
    /// The entries of `keys` (source keys, sorted, strictly up), `None` where a key did
    /// not exist at T; the found ones are marked.
    pub fn lookup(&mut self, keys: &[&str]) -> CliResult<Vec<Option<StateEntry>>> {
        match &mut self.0 {
            LookupsOf::InState(objects, seen) => Ok(keys
                .iter()
                .map(|k| {
                    let i = objects.binary_search_by(|e| e.key.as_str().cmp(k)).ok()?;
                    seen[i / 64] |= 1 << (i % 64);
                    Some(objects[i].clone())
                })
                .collect()),
            LookupsOf::Spilled(s) => s.lookup(keys),
        }
    }

    /// Hand each entry no lookup found to `f`, in key order.
    pub fn each_unnamed(self, mut f: impl FnMut(&StateEntry) -> CliResult<()>) -> CliResult<()> {
        match self.0 {
            LookupsOf::InState(objects, seen) => {
                for (i, e) in objects.iter().enumerate() {
                    if seen[i / 64] & (1 << (i % 64)) == 0 {
                        f(e)?;
                    }
                }
                Ok(())
            }
            LookupsOf::Spilled(s) => s.each_unmatched(|e| f(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3rewind_engine::{Uncertain, Version};

    fn state(keys: &[&str]) -> BucketState {
        let t0 = chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        BucketState {
            objects: keys
                .iter()
                .map(|k| StateEntry {
                    key: (*k).to_owned(),
                    version: Version {
                        version_id: "v".into(),
                        last_modified: t0,
                        delete_marker: false,
                        etag: Default::default(),
                        size: 1,
                        storage_class: None,
                        owner_id: None,
                        is_latest: true,
                    },
                })
                .collect(),
            uncertain: keys
                .iter()
                .map(|k| Uncertain {
                    key: (*k).to_owned(),
                    null_written_at: t0,
                    present: true,
                })
                .collect(),
            ambiguous: keys.iter().map(|k| (*k).to_owned()).collect(),
            ..BucketState::default()
        }
    }

    /// The state at T listed a part at a time onto disk (`apply`'s verification) is the
    /// state at T of the whole listing: entries and notes (a `null` version rewritten
    /// after T; a version and a delete marker in one second), listed on one stream or
    /// split by folders, in small pages.
    #[tokio::test]
    async fn the_state_at_t_listed_onto_disk_is_the_whole_listing_s() {
        use crate::bucket::MemStore;
        use crate::listing::Split;
        use chrono::TimeDelta;
        use s3rewind_engine::{SimBucket, Versioning};
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let at = t0 + TimeDelta::seconds(100);
        let mut sim = SimBucket::new(Versioning::Suspended, "v");
        sim.put("n/null", b"null before T", t0);
        sim.set_versioning(Versioning::Enabled);
        let mut rng = s3rewind_testkit::Prng(11);
        for k in 0..300u64 {
            let key = format!("{}/{k:03}", ["a", "b", "c/d", "e"][(k % 4) as usize]);
            sim.put(
                &key,
                b"before",
                t0 + TimeDelta::seconds(rng.below(90) as i64),
            );
            if rng.below(5) == 0 {
                sim.delete(&key, t0 + TimeDelta::seconds(95));
            }
            if rng.below(3) == 0 {
                sim.put(&key, b"after", at + TimeDelta::seconds(5));
            }
        }
        // The same second: a version and a delete marker (ambiguous at T).
        sim.put("tie", b"x", at);
        sim.delete("tie", at);
        sim.set_versioning(Versioning::Suspended);
        sim.put("n/null", b"null after T", at + TimeDelta::seconds(9));
        let store = MemStore::new();
        store.insert("src", sim);
        let source = Location {
            bucket: "src".into(),
            prefix: String::new(),
        };
        let printer = Printer::capturing(crate::output::OutputFormat::Text, true).0;
        for split in [Split::Off, Split::Folders] {
            let streams = Streams::new(4, split);
            let whole = crate::listing::list_bucket(
                &store.endpoint().bucket("src"),
                &printer,
                "",
                7,
                streams,
            )
            .await
            .unwrap()
            .state_at(at);
            assert_eq!(whole.uncertain.len(), 1, "the null rewritten after T");
            assert!(whole.objects.len() > 200, "{}", whole.objects.len());
            let listed = listed_at(&store.endpoint(), &printer, &source, at, 7, streams)
                .await
                .unwrap();
            assert_eq!(listed.into_whole().unwrap(), whole, "{split:?}");
        }
    }

    /// Held whole or on disk, a state counts its keys alike (what the selection's note
    /// prints), and keeps only the selected keys' notes: a verification reports no key
    /// outside the selection as uncertain or ambiguous.
    #[test]
    fn a_state_counts_and_narrows_alike_in_memory_and_on_disk() {
        let keys = ["a", "b", "c"];
        let mut file = Spilled::<StateEntry>::new().unwrap();
        file.push_run(&state(&keys).objects).unwrap().unwrap();
        let notes = BucketState {
            objects: Vec::new(),
            ..state(&keys)
        };
        let only_b = KeyFilter::new(&[], &[], Some(vec!["b".to_owned()])).unwrap();
        for mut t in [
            TargetState::whole(state(&keys)),
            TargetState::spilled(notes, file).unwrap(),
        ] {
            assert_eq!((t.len(), t.is_empty()), (3, false));
            t.retain(&only_b);
            let named: Vec<&str> = t.state.uncertain.iter().map(|u| u.key.as_str()).collect();
            assert_eq!(named, ["b"]);
            assert_eq!(t.state.ambiguous, ["b"]);
        }
        let none = TargetState::spilled(BucketState::default(), Spilled::new().unwrap()).unwrap();
        assert_eq!((none.len(), none.is_empty()), (0, true));
        assert!(TargetState::whole(BucketState::default()).is_empty());
    }
}
