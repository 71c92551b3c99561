//! Planning a listing as it streams: what the CLI's streamed listing feeds, a part at
//! a time.
//!
//! A [`StreamPlanner`] receives the listing a part at a time (each part's keys complete),
//! computes each part's target state and current state, hands them to the engine's
//! [`Planner`] and drops the part. What it keeps: the plan (its actions only until
//! [`take_planned`](StreamPlanner::take_planned) takes them), the target state (one entry
//! per key at T, for the verification after a restore) and, for a restore into another
//! bucket, that bucket's current state, which it is given.

use crate::location::destination_key;
use crate::plan::{Action, KnownCopy, PlanOptions, Planner, RestorePlan};
use crate::select::KeyFilter;
use crate::state::{BucketState, StateEntry};
use crate::timeline::Timeline;
use chrono::{DateTime, Utc};

/// What a streamed listing has shown.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen {
    /// Versions and delete markers listed.
    pub versions: u64,
    /// Keys listed.
    pub keys: u64,
    /// Anomalies found.
    pub anomalies: u64,
    /// The earliest `LastModified` listed.
    pub earliest: Option<DateTime<Utc>>,
}

/// Plans a listing part by part (see the [module docs](self)).
pub struct StreamPlanner<'a> {
    options: &'a PlanOptions,
    filter: &'a KeyFilter,
    planner: Planner<'a>,
    /// The destination's current state (another bucket), and which of its keys a part
    /// has claimed.
    dest: Option<(&'a BucketState, Vec<bool>)>,
    target: BucketState,
    keep_target: bool,
    seen: Seen,
}

impl<'a> StreamPlanner<'a> {
    /// A planner for `options`; `dest` is the destination bucket's current state (keys in
    /// destination names, sorted, already filtered) when it is not the source.
    pub fn new(
        options: &'a PlanOptions,
        filter: &'a KeyFilter,
        dest: Option<&'a BucketState>,
    ) -> Self {
        StreamPlanner {
            options,
            filter,
            planner: Planner::new(options),
            dest: dest.map(|d| (d, vec![false; d.len()])),
            target: BucketState {
                at: Some(options.at),
                ..BucketState::default()
            },
            keep_target: true,
            seen: Seen::default(),
        }
    }

    /// Keep the target state for [`finish`](Self::finish) (the default), or not: a plan
    /// that will not be verified needs none, and it is one entry per key at T.
    pub fn keep_target(&mut self, keep: bool) {
        self.keep_target = keep;
    }

    /// Plan one part of the listing, and drop it.
    pub fn part(&mut self, part: Timeline) {
        let current = self.current_of(&part);
        self.plan_part(part, current, &[]);
    }

    /// [`part`](Self::part) (or, given `current`, [`part_with`](Self::part_with)) for a
    /// caller that holds the known copies ([`PlanOptions::known_copies`]) itself, on disk
    /// say: `known` holds those of the destination keys [`destination_keys`] names for
    /// the part (it may hold more). The same plan as a planner whose options hold them all.
    pub fn part_knowing(
        &mut self,
        part: Timeline,
        current: Option<BucketState>,
        known: &[KnownCopy],
    ) {
        let current = current.unwrap_or_else(|| self.current_of(&part));
        self.plan_part(part, current, known);
    }

    /// The current state of the destination keys `part`'s source keys map to.
    fn current_of(&mut self, part: &Timeline) -> BucketState {
        match &mut self.dest {
            None => {
                let mut c = part.current();
                self.filter.retain(&mut c, str::to_owned);
                c
            }
            // The destination keys this part's source keys map to.
            Some((d, claimed)) => {
                let mut mine = BucketState::default();
                for k in destination_keys(self.options, part) {
                    if let Ok(i) = d.objects.binary_search_by(|e| e.key.as_str().cmp(&k)) {
                        claimed[i] = true;
                        mine.objects.push(d.objects[i].clone());
                    }
                }
                mine
            }
        }
    }

    /// Plan one part of a listing into another bucket whose current state the caller
    /// holds itself (on disk, say), and drop it: `current` is that bucket's entries for
    /// the keys [`destination_keys`] names for the part (destination names, sorted,
    /// selection applied). The destination keys no part names are given to
    /// [`left_alone`](Self::left_alone) before [`finish`](Self::finish). The same plan
    /// as a planner given the whole state in [`new`](Self::new).
    pub fn part_with(&mut self, part: Timeline, current: BucketState) {
        self.plan_part(part, current, &[]);
    }

    /// The destination's current keys that no source key maps to (destination names,
    /// sorted): left alone, and said so (see [`part_with`](Self::part_with)).
    pub fn left_alone(&mut self, rest: &BucketState) {
        self.planner.add(rest, &BucketState::default());
    }

    fn plan_part(&mut self, part: Timeline, current: BucketState, known: &[KnownCopy]) {
        let at = self.options.at;
        self.seen.versions += part.len() as u64;
        self.seen.keys += part.keys().len() as u64;
        self.seen.anomalies += part.anomalies().len() as u64;
        self.seen.earliest = self.seen.earliest.into_iter().chain(part.earliest()).min();
        let mut target = part.state_at(at);
        self.filter.retain(&mut target, str::to_owned);
        drop(part);
        self.planner.add_knowing(&current, &target, known);
        if !self.keep_target {
            return;
        }
        self.target.objects.append(&mut target.objects);
        self.target.uncertain.append(&mut target.uncertain);
        self.target.ambiguous.append(&mut target.ambiguous);
        self.target.order_unknown.append(&mut target.order_unknown);
        self.target.out_of_order.append(&mut target.out_of_order);
    }

    /// Take the target state's entries kept since the last take: after each part, that
    /// part's, sorted by key (a contiguous range of the listing). A caller that holds
    /// them elsewhere (on disk) keeps memory from growing with the number of keys; the
    /// state [`finish`](Self::finish) returns then holds only what was not taken, and
    /// the notes (uncertain keys, ambiguous ones, unknown orders).
    pub fn take_target(&mut self) -> Vec<StateEntry> {
        std::mem::take(&mut self.target.objects)
    }

    /// Actions planned so far.
    pub fn actions(&self) -> usize {
        self.planner.actions()
    }

    /// The actions planned so far, in the order planned.
    pub fn planned(&self) -> &[Action] {
        self.planner.planned()
    }

    /// Take the actions planned so far out (see [`Planner::take_planned`]): a restore
    /// that writes as it lists hands them to its runner and keeps none, so the plan it
    /// finishes with holds the whole plan's stats and warnings but only the actions
    /// planned after the last take.
    pub fn take_planned(&mut self) -> Vec<Action> {
        self.planner.take_planned()
    }

    /// The plan, the target state (sorted as a whole listing's; empty unless kept) and
    /// what was listed.
    pub fn finish(mut self) -> (RestorePlan, BucketState, Seen) {
        if let Some((d, claimed)) = &self.dest {
            // Destination keys no source key maps to: left alone, and said so.
            let rest = BucketState {
                objects: d
                    .objects
                    .iter()
                    .zip(claimed)
                    .filter(|(_, c)| !**c)
                    .map(|(e, _)| e.clone())
                    .collect(),
                ..BucketState::default()
            };
            self.planner.add(&rest, &BucketState::default());
        }
        let mut target = self.target;
        // Parts came in any order (parallel listing streams).
        target.objects.sort_by(|a, b| a.key.cmp(&b.key));
        target.uncertain.sort_by(|a, b| a.key.cmp(&b.key));
        target.ambiguous.sort();
        target.order_unknown.sort();
        target.out_of_order.sort();
        (self.planner.finish(), target, self.seen)
    }
}

/// The destination keys a part's source keys map to (those under the source prefix), in
/// key order: what a caller that holds the destination's current state looks up for
/// [`StreamPlanner::part_with`].
pub fn destination_keys(options: &PlanOptions, part: &Timeline) -> Vec<String> {
    let prefix = options.source.prefix.as_str();
    part.keys()
        .iter()
        .filter(|h| h.key.starts_with(prefix))
        .map(|h| destination_key(prefix, &options.destination, &h.key))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::{Destination, Location};
    use crate::model::{Entry, Versioning};
    use crate::sim::SimBucket;
    use crate::timeline::Timeline;
    use chrono::TimeDelta;
    use proptest::prelude::*;

    /// The listing of a bucket that had `writes` (key, body, delete?) one a second from
    /// `t0`, each key under `prefix`, its version ids starting with `ids`.
    fn history(
        writes: &[(String, u8, bool)],
        prefix: &str,
        ids: &str,
        t0: DateTime<Utc>,
    ) -> Vec<Entry> {
        let mut sim = SimBucket::new(Versioning::Enabled, ids);
        for (i, (key, body, delete)) in writes.iter().enumerate() {
            let when = t0 + TimeDelta::seconds(i as i64);
            let key = format!("{prefix}{key}");
            if *delete {
                sim.delete(&key, when);
            } else {
                sim.put(&key, &[*body], when);
            }
        }
        sim.list_documents("", usize::MAX)
            .into_iter()
            .flatten()
            .collect()
    }

    /// `entries` cut into parts near `cuts`, each part's keys complete.
    fn parts_of(entries: &[Entry], cuts: &[prop::sample::Index]) -> Vec<Timeline> {
        let mut ends: Vec<usize> = cuts.iter().map(|c| c.index(entries.len() + 1)).collect();
        ends.push(entries.len());
        ends.sort();
        ends.dedup();
        let mut parts = Vec::new();
        let mut from = 0;
        for end in ends {
            let mut end = end.max(from);
            while end > from && end < entries.len() && entries[end].key == entries[end - 1].key {
                end += 1;
            }
            if end > from {
                parts.push(Timeline::from_ordered(entries[from..end].to_vec()).unwrap());
                from = end;
            }
        }
        parts
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(128))]
        /// Taking the state at T after each part (to hold it elsewhere) changes nothing
        /// else: the runs taken, put together, are the state a planner that kept it
        /// returns; the notes and the plan are the same; nothing is left in the state it
        /// returns.
        #[test]
        fn the_state_taken_part_by_part_is_the_state_kept(
            writes in proptest::collection::vec(("[a-d]{1,2}", 0u8..4, any::<bool>()), 1..30),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
            at_second in 0i64..30,
        ) {
            let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
            let parts = parts_of(&history(&writes, "", "v", t0), &cuts);
            let options = PlanOptions::new(
                Location::whole("b"),
                Destination::InPlace,
                t0 + TimeDelta::seconds(at_second),
            );
            let filter = KeyFilter::new(&[], &[], None).unwrap();
            let mut kept = StreamPlanner::new(&options, &filter, None);
            let mut taken = StreamPlanner::new(&options, &filter, None);
            let mut runs = Vec::new();
            for part in parts {
                kept.part(part.clone());
                taken.part(part);
                let run = taken.take_target();
                prop_assert!(run.is_sorted_by(|a, b| a.key < b.key));
                runs.extend(run);
            }
            let (plan, state, _) = kept.finish();
            let (plan_taken, rest, _) = taken.finish();
            prop_assert_eq!(&runs, &state.objects);
            prop_assert!(rest.objects.is_empty());
            prop_assert_eq!(BucketState { objects: Vec::new(), ..state }, rest);
            prop_assert_eq!(
                serde_json::to_value(&plan).unwrap(),
                serde_json::to_value(&plan_taken).unwrap()
            );
        }

        /// A destination whose current state the caller holds (on disk) plans as one
        /// given whole: each part's keys looked up by [`destination_keys`] and handed to
        /// `part_with`, and the keys no part named handed to `left_alone`, give the same
        /// plan, stats and warnings (copies, keys to hide, keys left alone) as
        /// [`StreamPlanner::new`] given the whole state.
        #[test]
        fn a_destination_held_by_the_caller_plans_as_one_given_whole(
            writes in proptest::collection::vec(("[a-d]{1,2}", 0u8..4, any::<bool>()), 1..30),
            there in proptest::collection::vec(("[a-e]{1,2}", 0u8..4, any::<bool>()), 0..20),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
            at_second in 0i64..30,
        ) {
            let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
            let parts = parts_of(&history(&writes, "", "v", t0), &cuts);
            let dest = Timeline::from_ordered(history(&there, "r/", "w", t0)).unwrap().current();
            let options = PlanOptions::new(
                Location::whole("b"),
                Destination::Bucket { location: Location { bucket: "d".into(), prefix: "r/".into() } },
                t0 + TimeDelta::seconds(at_second),
            );
            let filter = KeyFilter::new(&[], &[], None).unwrap();
            let mut whole = StreamPlanner::new(&options, &filter, Some(&dest));
            let mut held = StreamPlanner::new(&options, &filter, None);
            let mut claimed = vec![false; dest.objects.len()];
            // Parts in reverse order (parallel streams finish in any order).
            for part in parts.into_iter().rev() {
                whole.part(part.clone());
                let keys = destination_keys(&options, &part);
                prop_assert!(keys.is_sorted());
                let mut current = BucketState::default();
                for k in keys {
                    if let Ok(i) = dest.objects.binary_search_by(|e| e.key.cmp(&k)) {
                        claimed[i] = true;
                        current.objects.push(dest.objects[i].clone());
                    }
                }
                held.part_with(part, current);
            }
            let rest = BucketState {
                objects: dest
                    .objects
                    .iter()
                    .zip(&claimed)
                    .filter(|(_, c)| !**c)
                    .map(|(e, _)| e.clone())
                    .collect(),
                ..BucketState::default()
            };
            held.left_alone(&rest);
            let (plan, _, _) = whole.finish();
            let (plan_held, _, _) = held.finish();
            prop_assert_eq!(
                serde_json::to_value(&plan).unwrap(),
                serde_json::to_value(&plan_held).unwrap()
            );
        }

        /// Known copies (a resumed restore's journal) that the caller holds itself and
        /// hands on a part at a time plan as the same copies given whole in the options:
        /// each part given only those of its destination keys (and a few of no key at
        /// all) gives the same plan, stats and warnings. The copies are made to matter: each
        /// claims a destination key's current version as a copy of that key's version at
        /// T (whatever its content), or of another of its versions.
        #[test]
        fn known_copies_handed_on_per_part_plan_as_the_whole_list(
            writes in proptest::collection::vec(("[a-d]{1,2}", 0u8..4, any::<bool>()), 1..30),
            there in proptest::collection::vec(("[a-e]{1,2}", 0u8..4, any::<bool>()), 0..20),
            claims in proptest::collection::vec((any::<prop::sample::Index>(), any::<bool>()), 0..12),
            cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..5),
            at_second in 0i64..30,
            in_place: bool,
        ) {
            let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
            let source = history(&writes, "", "v", t0);
            let parts = parts_of(&source, &cuts);
            let at = t0 + TimeDelta::seconds(at_second);
            let (destination, dest) = if in_place {
                (Destination::InPlace, Timeline::from_ordered(source.clone()).unwrap().current())
            } else {
                (
                    Destination::Bucket { location: Location { bucket: "d".into(), prefix: "r/".into() } },
                    Timeline::from_ordered(history(&there, "r/", "w", t0)).unwrap().current(),
                )
            };
            let prefix = if in_place { "" } else { "r/" };
            let target = Timeline::from_ordered(source.clone()).unwrap().state_at(at);
            // Each claim: a destination key's current version, a copy of that key's
            // version at T (or of its earliest version), as a journal would record it.
            let mut known = Vec::new();
            for (pick, at_t) in &claims {
                if dest.objects.is_empty() {
                    break;
                }
                let c = &dest.objects[pick.index(dest.objects.len())];
                let source_key = c.key[prefix.len()..].to_owned();
                let of = if *at_t {
                    target.objects.iter().find(|t| t.key == source_key).map(|t| &t.version)
                } else {
                    source.iter().find(|e| e.key == source_key).map(|e| &e.version)
                };
                let Some(of) = of else { continue };
                known.push(KnownCopy {
                    key: c.key.clone(),
                    version_id: c.version.version_id.to_string(),
                    source_key,
                    source_version_id: of.version_id.to_string(),
                    etag: c.version.etag.to_string(),
                    size: Some(c.version.size),
                });
            }
            // And one of a key no part names.
            known.push(KnownCopy {
                key: format!("{prefix}zz"),
                version_id: "w9".into(),
                source_key: "zz".into(),
                source_version_id: "v9".into(),
                etag: String::new(),
                size: None,
            });
            let mut whole_options = PlanOptions::new(Location::whole("b"), destination, at);
            whole_options.known_copies = known.clone();
            let mut options = whole_options.clone();
            options.known_copies.clear();
            let filter = KeyFilter::new(&[], &[], None).unwrap();
            let dest_given = (!in_place).then_some(&dest);
            let mut whole = StreamPlanner::new(&whole_options, &filter, dest_given);
            let mut handed = StreamPlanner::new(&options, &filter, dest_given);
            for part in parts.into_iter().rev() {
                whole.part(part.clone());
                let keys = destination_keys(&options, &part);
                let mine: Vec<KnownCopy> = known
                    .iter()
                    .filter(|k| keys.binary_search(&k.key).is_ok())
                    .cloned()
                    .collect();
                handed.part_knowing(part, None, &mine);
            }
            let (plan, _, _) = whole.finish();
            let (plan_handed, _, _) = handed.finish();
            prop_assert_eq!(
                serde_json::to_value(&plan).unwrap(),
                serde_json::to_value(&plan_handed).unwrap()
            );
        }
    }
}
