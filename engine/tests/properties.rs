//! Property tests of the engine's recovery invariants, against the simulator.
//!
//! Random histories (puts, deletes, re-created keys, suspended versioning and `null`
//! versions, same-second writes, nested prefixes) are listed with a random page size, so
//! a key's versions and delete markers land on different pages, and a random T is chosen.
//! Then:
//!
//! - (a) applying `plan(now, state_at(T))` leaves every key with its content at T, and
//!   keys absent at T absent;
//! - (b) planning again after the apply gives an empty plan;
//! - (c) no action ever removes a version (every version, with its bytes, survives);
//! - (d) keys outside the prefix are untouched;
//! - (e) `state_at` agrees with a brute-force oracle over the true list order, and with
//!   the simulator's true history wherever it does not report the key as uncertain,
//!   ambiguous or out of order.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use s3rewind_engine::{
    Action, Destination, Entry, Location, NULL_VERSION, PlanError, PlanOptions, SimBucket,
    Timeline, TimelineBuilder, Versioning, plan,
};
use std::collections::{BTreeMap, BTreeSet};

/// Keys with nested prefixes, byte-prefix look-alikes and awkward characters.
const KEYS: &[&str] = &[
    "a",
    "a/b",
    "a/b/c",
    "ab",
    "b/x",
    "b/y z",
    "c+d%2F",
    "logs/1",
    "logs-old/1",
    "é/ü",
];
const PREFIXES: &[&str] = &["", "a", "a/", "b/", "logs", "zzz"];

#[derive(Debug, Clone)]
enum Op {
    Put(usize, u8),
    Delete(usize),
    Tick(u8),
    Versioning(Versioning),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..KEYS.len(), any::<u8>()).prop_map(|(k, c)| Op::Put(k, c)),
        3 => (0..KEYS.len()).prop_map(Op::Delete),
        4 => (0u8..4).prop_map(Op::Tick),
        1 => prop_oneof![Just(Versioning::Enabled), Just(Versioning::Suspended)]
            .prop_map(Op::Versioning),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    initial: Versioning,
    ops: Vec<Op>,
    /// Seconds after the start.
    t: i64,
    prefix: &'static str,
    page_size: usize,
    /// Whether the history ends with versioning Enabled (in-place restores need it).
    enable_at_end: bool,
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(Versioning::Enabled), Just(Versioning::Unversioned)],
        prop::collection::vec(op(), 0..60),
        -1i64..60,
        prop::sample::select(PREFIXES),
        1usize..6,
        prop::bool::weighted(0.85),
    )
        .prop_map(|(initial, ops, t, prefix, page_size, enable_at_end)| Case {
            initial,
            ops,
            t,
            prefix,
            page_size,
            enable_at_end,
        })
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()
}

/// Play the history into a simulator; returns it and the time of the last write.
fn play(case: &Case) -> (SimBucket, DateTime<Utc>) {
    let (sim, now, _) = play_tracking(case);
    (sim, now)
}

/// Like [`play`], and also returns the keys deleted while the bucket was still
/// unversioned: such a delete removes the object without any trace in a listing, so no
/// tool can know what the key held before it (S3 keeps no history before versioning).
fn play_tracking(case: &Case) -> (SimBucket, DateTime<Utc>, BTreeSet<&'static str>) {
    let mut sim = SimBucket::new(case.initial, "v");
    let mut now = base();
    let mut erased = BTreeSet::new();
    for op in &case.ops {
        match *op {
            Op::Put(k, c) => {
                sim.put(KEYS[k], &[c, k as u8], now);
            }
            Op::Delete(k) => {
                if sim.versioning() == Versioning::Unversioned {
                    erased.insert(KEYS[k]);
                }
                sim.delete(KEYS[k], now);
            }
            Op::Tick(s) => now += TimeDelta::seconds(i64::from(s)),
            Op::Versioning(v) => sim.set_versioning(v),
        }
    }
    if case.enable_at_end && sim.versioning() != Versioning::Unversioned {
        sim.set_versioning(Versioning::Enabled);
    }
    (sim, now, erased)
}

fn timeline(sim: &SimBucket, prefix: &str, page_size: usize) -> Timeline {
    let mut b = TimelineBuilder::new();
    for page in sim.list_pages(prefix, page_size) {
        b.push_page(page)
            .expect("simulator listings are in list order");
    }
    b.finish()
}

fn options(prefix: &str, t: DateTime<Utc>) -> PlanOptions {
    PlanOptions::new(
        Location {
            bucket: "b".into(),
            prefix: prefix.into(),
        },
        Destination::InPlace,
        t,
    )
}

/// The brute-force oracle: first entry in true list order with last_modified ≤ T.
fn oracle(order: &[Entry], t: DateTime<Utc>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut decided = BTreeSet::new();
    for e in order {
        if decided.contains(&e.key) || e.version.last_modified > t {
            continue;
        }
        decided.insert(e.key.clone());
        if !e.version.delete_marker {
            out.insert(e.key.clone(), e.version.version_id.clone());
        }
    }
    out
}

type Snapshot = BTreeMap<(String, String), Option<Vec<u8>>>;

fn snapshot(sim: &SimBucket) -> Snapshot {
    sim.all_versions()
        .map(|(k, v)| {
            (
                (k.to_owned(), v.version.version_id.clone()),
                v.content.as_deref().map(<[u8]>::to_vec),
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// (e) state_at against the oracle and the true history.
    #[test]
    fn state_at_agrees_with_oracle_and_truth(case in case()) {
        let (sim, _, erased) = play_tracking(&case);
        let t = base() + TimeDelta::seconds(case.t);
        let tl = timeline(&sim, case.prefix, case.page_size);
        let state = tl.state_at(t);
        let want = oracle(&sim.list_order(case.prefix), t);
        let got: BTreeMap<String, String> = state
            .objects
            .iter()
            .map(|e| (e.key.clone(), e.version.version_id.clone()))
            .collect();
        for key in want.keys().chain(got.keys()) {
            if state.ambiguous.contains(key) {
                // Only a real same-timestamp version/marker pair may be reported.
                let h = tl.get(key).unwrap();
                let has_tie = h.entries.iter().any(|a| h.entries.iter().any(|b| {
                    a.last_modified == b.last_modified && a.delete_marker != b.delete_marker
                }));
                prop_assert!(has_tie, "key {:?} reported ambiguous without a tie", key);
                continue;
            }
            prop_assert_eq!(want.get(key), got.get(key), "key {:?}", key);
        }
        // Against the true history (the simulator's change log).
        let truth = sim.truth_at(t);
        for key in KEYS.iter().filter(|k| k.starts_with(case.prefix)) {
            let key = key.to_string();
            let flagged = state.is_uncertain(&key)
                || state.ambiguous.contains(&key)
                || state.out_of_order.contains(&key)
                || erased.contains(key.as_str());
            if flagged {
                continue;
            }
            let have = state
                .get(&key)
                .map(|v| sim.get_version(&key, &v.version_id).unwrap().to_vec());
            prop_assert_eq!(have, truth.get(&key).map(|c| c.to_vec()), "key {:?}", key);
        }
    }

    /// (a)–(d): the plan applied to the simulator.
    #[test]
    fn in_place_restore_reaches_state_at_t(case in case()) {
        let (mut sim, last) = play(&case);
        let t = base() + TimeDelta::seconds(case.t);
        let tl = timeline(&sim, case.prefix, case.page_size);
        let target = tl.state_at(t);
        let p = plan(&tl.current(), &target, &options(case.prefix, t));
        p.validate().unwrap();
        let before = snapshot(&sim);
        let apply_at = last.max(t) + TimeDelta::seconds(1);

        match sim.apply(&p, None, apply_at) {
            Err(PlanError::Suspended { .. }) => {
                prop_assert_eq!(sim.versioning(), Versioning::Suspended);
                prop_assert_eq!(snapshot(&sim), before);
                return Ok(());
            }
            Err(PlanError::NeverVersioned { .. }) => {
                prop_assert_eq!(sim.versioning(), Versioning::Unversioned);
                prop_assert_eq!(snapshot(&sim), before);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(format!("apply failed: {e}"))),
            Ok(report) => {
                prop_assert_eq!(sim.versioning(), Versioning::Enabled);
                prop_assert!(report.failed.is_empty(), "{:?}", report.failed);
                prop_assert!(report.drifted.is_empty());
                prop_assert_eq!(report.done, p.actions.len());
            }
        }

        // (c) every version survives, with its bytes.
        let after = snapshot(&sim);
        for (id, content) in &before {
            prop_assert_eq!(after.get(id), Some(content), "version {:?} lost", id);
        }
        // (d) keys outside the prefix have exactly the versions they had.
        let outside = |s: &Snapshot| -> Snapshot {
            s.iter().filter(|((k, _), _)| !k.starts_with(case.prefix)).map(|(a, b)| (a.clone(), b.clone())).collect()
        };
        prop_assert_eq!(outside(&after), outside(&before));
        for a in &p.actions {
            prop_assert!(a.key().starts_with(case.prefix));
        }
        // (a) content at T, absent keys absent (uncertain keys: left as they were).
        let now = sim.current_contents();
        let before_now: BTreeMap<_, _> = tl.current().objects.iter()
            .map(|e| (e.key.clone(), e.version.version_id.clone())).collect();
        for key in KEYS.iter().filter(|k| k.starts_with(case.prefix)) {
            let key = key.to_string();
            let want = target.get(&key).map(|v| sim.get_version(&key, &v.version_id).unwrap());
            if target.is_uncertain(&key) && want.is_none() {
                // Not marked deleted: still what it was before the restore.
                let was = before_now.get(&key).map(|vid| sim.get_version(&key, vid).unwrap());
                prop_assert_eq!(now.get(&key), was.as_ref());
                continue;
            }
            prop_assert_eq!(now.get(&key), want.as_ref(), "key {:?}", key);
        }
        // (b) planning again gives an empty plan. The one exception is a key whose state
        // at T hangs on a same-second version/marker tie that the first listing reported:
        // the restore's new version shifts the page boundaries, and a tie that straddles
        // a boundary is ordered by the listing itself, so the second answer may differ.
        let tl2 = timeline(&sim, case.prefix, case.page_size);
        let target2 = tl2.state_at(t);
        let again = plan(&tl2.current(), &target2, &options(case.prefix, t));
        for a in &again.actions {
            let was_ambiguous = target.ambiguous.iter().chain(&target2.ambiguous).any(|k| k == a.key());
            prop_assert!(was_ambiguous, "second plan: {:?}", again.actions);
        }
        // A delete marker is never stacked on a key that is already absent.
        for a in &p.actions {
            if let Action::DeleteMarker(d) = a {
                prop_assert!(before_now.contains_key(&d.key));
            }
        }
    }

    /// The same invariants for a restore into another bucket and prefix, whose
    /// destination already holds some objects.
    #[test]
    fn restore_into_another_bucket(case in case(), extra in prop::collection::vec((0..KEYS.len(), any::<u8>()), 0..6)) {
        let (source, last) = play(&case);
        let t = base() + TimeDelta::seconds(case.t);
        let tl = timeline(&source, case.prefix, case.page_size);
        let target = tl.state_at(t);
        let dest_prefix = "restored/";
        let mut dest = SimBucket::new(Versioning::Enabled, "d");
        for (k, c) in &extra {
            dest.put(&format!("{dest_prefix}{}", KEYS[*k]), &[*c], base());
            dest.put(&format!("elsewhere/{}", KEYS[*k]), &[*c], base());
        }
        let mut opts = options(case.prefix, t);
        opts.destination = Destination::Bucket {
            location: Location { bucket: "d".into(), prefix: dest_prefix.into() },
        };
        let dest_tl = timeline(&dest, "", 1000);
        let p = plan(&dest_tl.current(), &target, &opts);
        p.validate().unwrap();
        let before = snapshot(&dest);
        let apply_at = last.max(t) + TimeDelta::seconds(1);
        let result = dest.apply(&p, Some(&source), apply_at);
        if source.versioning() == Versioning::Unversioned {
            let refused = matches!(result, Err(PlanError::NeverVersioned { .. }));
            prop_assert!(refused, "unversioned source accepted");
            return Ok(());
        }
        let report = result.unwrap();
        prop_assert!(report.failed.is_empty() && report.drifted.is_empty());
        prop_assert!(p.actions.iter().all(|a| matches!(a, Action::Copy(_))));
        let after = snapshot(&dest);
        for (id, content) in &before {
            prop_assert_eq!(after.get(id), Some(content));
        }
        let now = dest.current_contents();
        for e in &target.objects {
            let rel = e.key.strip_prefix(case.prefix).unwrap();
            let want = source.get_version(&e.key, &e.version.version_id).unwrap();
            prop_assert_eq!(now.get(&format!("{dest_prefix}{rel}")), Some(&want));
        }
        // Nothing written outside the destination prefix.
        for ((k, _), _) in after.iter().filter(|(id, _)| !before.contains_key(*id)) {
            prop_assert!(k.starts_with(dest_prefix));
        }
        let dest_tl2 = timeline(&dest, "", 1000);
        let again = plan(&dest_tl2.current(), &target, &opts);
        prop_assert!(again.actions.is_empty());
    }

    /// Listing with any page size gives the same timeline as an unsplit listing, except
    /// for the order inside same-second version/marker ties (which are then reported).
    #[test]
    fn page_size_does_not_change_the_state(case in case(), t2 in -1i64..60) {
        let (sim, _) = play(&case);
        let small = timeline(&sim, "", case.page_size);
        let whole = timeline(&sim, "", 10_000);
        for t in [case.t, t2] {
            let t = base() + TimeDelta::seconds(t);
            let (a, b) = (small.state_at(t), whole.state_at(t));
            for key in KEYS {
                if a.ambiguous.iter().chain(&b.ambiguous).any(|k| k == key) {
                    continue;
                }
                prop_assert_eq!(a.get(key).map(|v| &v.version_id), b.get(key).map(|v| &v.version_id));
            }
        }
    }
}

/// The plan's JSON form round-trips and is checked on load.
#[test]
fn plan_file_round_trip_and_validation() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let t0 = base();
    sim.put("docs/a.txt", b"one", t0);
    sim.put("docs/b.txt", b"two", t0);
    sim.put("docs/a.txt", b"ONE", t0 + TimeDelta::seconds(10));
    sim.put("docs/new.txt", b"new", t0 + TimeDelta::seconds(10));
    let tl = timeline(&sim, "docs/", 1);
    let t = t0 + TimeDelta::seconds(5);
    let p = plan(&tl.current(), &tl.state_at(t), &options("docs/", t));
    assert_eq!(
        (p.stats.copies, p.stats.delete_markers, p.stats.unchanged),
        (1, 1, 1)
    );
    let json = p.to_json();
    let back = s3rewind_engine::RestorePlan::from_json(&json).unwrap();
    assert_eq!(back, p);

    let wrong_schema = json.replace(s3rewind_engine::PLAN_SCHEMA, "s3rewind.plan/v0");
    assert!(matches!(
        s3rewind_engine::RestorePlan::from_json(&wrong_schema),
        Err(PlanError::Schema { .. })
    ));
    let outside = json.replace("\"key\": \"docs/new.txt\"", "\"key\": \"other/new.txt\"");
    assert_ne!(outside, json);
    let err = s3rewind_engine::RestorePlan::from_json(&outside).unwrap_err();
    assert!(
        err.to_string().contains("outside the destination prefix"),
        "{err}"
    );
    assert!(s3rewind_engine::RestorePlan::from_json("{").is_err());
}

/// A `null` version rewritten after T: the plan warns that content is gone, and does not
/// mark a key deleted whose state at T is unknown.
#[test]
fn null_rewrite_after_t_is_reported() {
    let t0 = base();
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    sim.put("kept", b"v1", t0);
    sim.set_versioning(Versioning::Suspended);
    sim.put("kept", b"null-at-t", t0 + TimeDelta::seconds(2));
    sim.put("maybe", b"null-at-t", t0 + TimeDelta::seconds(2));
    // After T: the null versions are overwritten in place.
    sim.put("kept", b"null-later", t0 + TimeDelta::seconds(10));
    sim.put("maybe", b"null-later", t0 + TimeDelta::seconds(10));
    sim.set_versioning(Versioning::Enabled);
    let tl = timeline(&sim, "", 1);
    let t = t0 + TimeDelta::seconds(5);
    let target = tl.state_at(t);
    assert_eq!(target.uncertain.len(), 2);
    assert_ne!(target.get("kept").unwrap().version_id, NULL_VERSION);
    let p = plan(&tl.current(), &target, &options("", t));
    let lost: Vec<_> = p
        .warnings
        .iter()
        .filter_map(|w| match w {
            s3rewind_engine::Warning::NullRewritten { key, handling, .. } => {
                Some((key.as_str(), *handling))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        lost,
        [
            (
                "kept",
                s3rewind_engine::UncertainHandling::RestoredBestSurviving
            ),
            ("maybe", s3rewind_engine::UncertainHandling::LeftAlone)
        ]
    );
    assert!(p.actions.iter().all(|a| a.key() != "maybe"));
}
