//! The detector against the scenario library: no alarm on healthy histories, every
//! incident found with the right window, kind and keys, and both restore modes undoing
//! the damage in the simulator.
//!
//! Key thresholds: every incident here writes 20 to 90 keys, so a precision of 0.95
//! allows about one wrongly flagged key per incident (a `--per-key` restore would revert
//! it) and a recall of 0.95 about one missed key (which a `--per-key` restore would leave
//! damaged). The detector reaches 1.0 on all of them today; the margin is for tuning, not
//! for regressions of whole groups of keys.

use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::detect::{
    Budget, Confidence, ContentSample, DamageKind, DetectOptions, Incident, SCAN_SCHEMA,
    ScanReport, detect, per_key_target, restore_point, sample_plan,
};
use s3rewind_engine::{Destination, Location, PlanOptions, Timeline, plan};
use s3rewind_testkit::scenarios::{self, ExpectedIncident, Scenario};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::OnceLock;

const MIN_KEY_PRECISION: f64 = 0.95;
const MIN_KEY_RECALL: f64 = 0.95;

struct Case {
    scenario: Scenario,
    timeline: Timeline,
}

fn cases() -> &'static [Case] {
    static CASES: OnceLock<Vec<Case>> = OnceLock::new();
    CASES.get_or_init(|| {
        scenarios::all()
            .into_iter()
            .map(|scenario| Case {
                timeline: scenario.timeline(),
                scenario,
            })
            .collect()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Metadata,
    Sampled,
    Deep,
}

const MODES: [Mode; 3] = [Mode::Metadata, Mode::Sampled, Mode::Deep];

fn samples(case: &Case, mode: Mode, options: &DetectOptions) -> Vec<ContentSample> {
    let wanted = match mode {
        Mode::Metadata => return Vec::new(),
        Mode::Sampled => sample_plan(&case.timeline, options, None, false),
        Mode::Deep => sample_plan(&case.timeline, options, None, true),
    };
    scenarios::samples_for(&case.scenario.bucket, &wanted)
}

fn scan(case: &Case, mode: Mode) -> ScanReport {
    let options = &case.scenario.options;
    detect(&case.timeline, &samples(case, mode, options), options)
}

fn incident_cases() -> impl Iterator<Item = (&'static Case, &'static ExpectedIncident)> {
    cases()
        .iter()
        .filter_map(|c| c.scenario.incident.as_ref().map(|i| (c, i)))
}

/// The reported incident sharing the most keys with the truth, if its window contains
/// the true start.
fn matching<'r>(report: &'r ScanReport, truth: &ExpectedIncident) -> Option<&'r Incident> {
    report
        .incidents
        .iter()
        .max_by_key(|i| {
            i.keys
                .iter()
                .filter(|k| truth.damaged_keys.contains(&k.key))
                .count()
        })
        .filter(|i| i.start <= truth.start && truth.start <= i.end)
}

fn precision_recall(incident: &Incident, truth: &ExpectedIncident) -> (f64, f64) {
    let found: BTreeSet<&str> = incident.keys.iter().map(|k| k.key.as_str()).collect();
    let tp = found
        .iter()
        .filter(|k| truth.damaged_keys.contains(**k))
        .count() as f64;
    (
        tp / found.len().max(1) as f64,
        tp / truth.damaged_keys.len().max(1) as f64,
    )
}

#[test]
fn the_library_has_the_promised_scenarios() {
    let healthy = cases()
        .iter()
        .filter(|c| c.scenario.incident.is_none())
        .count();
    assert!(healthy >= 3);
    let kinds: BTreeSet<DamageKind> = incident_cases().map(|(_, t)| t.kind).collect();
    for k in [
        DamageKind::Encrypted,
        DamageKind::Renamed,
        DamageKind::Deleted,
        DamageKind::Truncated,
        DamageKind::WrongType,
    ] {
        assert!(kinds.contains(&k), "no scenario of kind {k}");
    }
    for (c, truth) in incident_cases() {
        // Days of normal activity before the incident (seconds for a scenario tuned to
        // seconds), keys of several types.
        let first = c
            .timeline
            .keys()
            .iter()
            .flat_map(|h| &h.entries)
            .map(|v| v.last_modified)
            .min()
            .unwrap();
        let history = if c.scenario.options.bin_secs.is_some_and(|b| b < 60) {
            TimeDelta::seconds(5)
        } else {
            TimeDelta::days(5)
        };
        assert!(truth.start - first >= history, "{}", c.scenario.name);
        let exts: BTreeSet<&str> = c
            .timeline
            .keys()
            .iter()
            .filter_map(|h| h.key.rsplit_once('.').map(|(_, e)| e))
            .collect();
        assert!(exts.len() >= 5, "{}: {exts:?}", c.scenario.name);
        assert!(truth.damaged_keys.len() >= 10, "{}", c.scenario.name);
    }
}

#[test]
fn healthy_histories_raise_no_alarm() {
    for c in cases().iter().filter(|c| c.scenario.incident.is_none()) {
        for mode in MODES {
            let report = scan(c, mode);
            assert!(
                report.incidents.is_empty(),
                "{} ({mode:?}) raised a false alarm:\n{report}",
                c.scenario.name
            );
            assert!(!report.found());
            assert!(restore_point(&report).is_none());
            if mode != Mode::Metadata {
                assert!(report.stats.samples_judged > 0, "{}", c.scenario.name);
                assert_eq!(report.stats.samples_bad, 0, "{}", c.scenario.name);
            }
        }
    }
}

#[test]
fn every_incident_is_found_with_its_window_kind_and_keys() {
    for (c, truth) in incident_cases() {
        let mut confidence: BTreeMap<&str, Confidence> = BTreeMap::new();
        for mode in MODES {
            if mode == Mode::Metadata && truth.needs_content {
                continue;
            }
            let report = scan(c, mode);
            let name = format!("{} ({mode:?})", c.scenario.name);
            let incident = matching(&report, truth)
                .unwrap_or_else(|| panic!("{name}: incident not found:\n{report}"));
            assert!(
                incident.kinds.contains(&truth.kind),
                "{name}: kinds {:?}, expected {}",
                incident.kinds,
                truth.kind
            );
            assert!(
                incident.start <= truth.start && truth.start <= incident.end,
                "{name}"
            );
            let (p, r) = precision_recall(incident, truth);
            assert!(p >= MIN_KEY_PRECISION, "{name}: key precision {p:.3}");
            assert!(r >= MIN_KEY_RECALL, "{name}: key recall {r:.3}");
            assert!(!incident.evidence.is_empty(), "{name}");
            assert_eq!(
                report.incidents.len(),
                1,
                "{name}: extra incidents:\n{report}"
            );
            if mode == Mode::Metadata {
                assert!(incident.confidence < Confidence::High, "{name}");
            }
            confidence.insert(
                if mode == Mode::Metadata {
                    "meta"
                } else {
                    "content"
                },
                incident.confidence,
            );
        }
        // Content evidence never lowers confidence, and where content can show the damage
        // (everything but deletes and empty files) it confirms it.
        if let (Some(m), Some(s)) = (confidence.get("meta"), confidence.get("content")) {
            assert!(s >= m, "{}", c.scenario.name);
        }
        if !matches!(truth.kind, DamageKind::Deleted | DamageKind::Truncated) {
            assert_eq!(
                confidence.get("content"),
                Some(&Confidence::High),
                "{}",
                c.scenario.name
            );
        }
    }
}

#[test]
fn last_good_versions_are_the_versions_before_the_first_damage() {
    for (c, truth) in incident_cases() {
        let report = scan(c, Mode::Sampled);
        let incident = matching(&report, truth).expect("found");
        for a in &incident.keys {
            let h = c.timeline.get(&a.key).expect("listed");
            let bad = h
                .entries
                .iter()
                .position(|v| v.version_id == a.first_bad_version)
                .expect("first bad version is listed");
            assert_eq!(h.entries[bad].last_modified, a.first_bad_at);
            assert!(
                a.first_bad_at >= truth.start,
                "{}: {}",
                c.scenario.name,
                a.key
            );
            let before = h.entries.get(bad + 1).filter(|v| !v.delete_marker);
            assert_eq!(
                a.last_good_version.as_deref(),
                before.map(|v| v.version_id.to_string()).as_deref(),
                "{}: {}",
                c.scenario.name,
                a.key
            );
            if let Some(g) = before {
                assert!(g.last_modified < truth.start);
                assert_eq!(a.last_good_at, Some(g.last_modified));
            }
            // Keys the incident created (copies, notes) have no last good version, and
            // are labelled planted (whatever content analysis said of their bytes).
            assert_eq!(
                a.kind == DamageKind::Planted,
                a.last_good_version.is_none(),
                "{}: {} is {}",
                c.scenario.name,
                a.key,
                a.kind
            );
            let existed = c
                .scenario
                .bucket
                .truth_at(truth.start - TimeDelta::seconds(1));
            assert_eq!(
                a.last_good_version.is_some(),
                existed.contains_key(&a.key),
                "{}: {}",
                c.scenario.name,
                a.key
            );
        }
    }
}

fn in_place(at: DateTime<Utc>) -> PlanOptions {
    PlanOptions::new(Location::whole("scenario"), Destination::InPlace, at)
}

#[test]
fn restore_point_lies_between_the_last_healthy_and_the_first_damaging_write() {
    for (c, truth) in incident_cases() {
        let report = scan(c, Mode::Sampled);
        let rp = restore_point(&report).expect("an incident was found");
        assert!(rp < truth.start, "{}", c.scenario.name);
        let last_healthy = c
            .timeline
            .keys()
            .iter()
            .flat_map(|h| &h.entries)
            .map(|v| v.last_modified)
            .filter(|t| *t < truth.start)
            .max()
            .expect("history before the incident");
        assert!(rp >= last_healthy, "{}", c.scenario.name);
        assert_eq!(
            rp,
            truth.start - TimeDelta::milliseconds(1),
            "{}",
            c.scenario.name
        );
    }
}

#[test]
fn before_corruption_restore_brings_back_the_pre_incident_content() {
    for (c, truth) in incident_cases() {
        let report = scan(c, Mode::Metadata);
        let report = if report.found() {
            report
        } else {
            scan(c, Mode::Sampled)
        };
        let rp = restore_point(&report).expect("found");
        let target = c.timeline.state_at(rp);
        let plan = plan(&c.timeline.current(), &target, &in_place(rp));
        let mut bucket = c.scenario.bucket.clone();
        let applied = bucket
            .apply(&plan, None, truth.end + TimeDelta::hours(1))
            .unwrap();
        assert!(applied.failed.is_empty() && applied.drifted.is_empty());
        let before = c
            .scenario
            .bucket
            .truth_at(truth.start - TimeDelta::seconds(1));
        let now = bucket.current_contents();
        for k in &truth.damaged_keys {
            assert_eq!(now.get(k), before.get(k), "{}: {k}", c.scenario.name);
        }
    }
}

#[test]
fn per_key_restore_undoes_the_damage_and_keeps_every_other_key() {
    for (c, truth) in incident_cases() {
        for mode in [Mode::Metadata, Mode::Sampled] {
            if mode == Mode::Metadata && truth.needs_content {
                continue;
            }
            let report = scan(c, mode);
            let flagged: BTreeSet<&str> = report
                .incidents
                .iter()
                .flat_map(|i| &i.keys)
                .map(|k| k.key.as_str())
                .collect();
            let current = c.timeline.current();
            let target = per_key_target(&c.timeline, &report);
            let plan = plan(&current, &target, &in_place(truth.end));
            for a in &plan.actions {
                assert!(
                    flagged.contains(a.key()),
                    "{}: touched {}",
                    c.scenario.name,
                    a.key()
                );
            }
            let mut bucket = c.scenario.bucket.clone();
            let applied = bucket
                .apply(&plan, None, truth.end + TimeDelta::hours(12))
                .unwrap();
            assert!(applied.failed.is_empty() && applied.drifted.is_empty());
            let before_incident = c
                .scenario
                .bucket
                .truth_at(truth.start - TimeDelta::seconds(1));
            let before_restore = c.scenario.bucket.current_contents();
            let after = bucket.current_contents();
            for k in &truth.damaged_keys {
                assert_eq!(
                    after.get(k),
                    before_incident.get(k),
                    "{} ({mode:?}): {k} not restored",
                    c.scenario.name
                );
            }
            let all_keys: BTreeSet<&String> = before_restore.keys().chain(after.keys()).collect();
            for k in all_keys {
                if !flagged.contains(k.as_str()) {
                    assert_eq!(
                        after.get(k),
                        before_restore.get(k),
                        "{} ({mode:?}): {k} changed",
                        c.scenario.name
                    );
                }
            }
            // Healthy writes after the incident survive (the busy scenarios have some).
            if c.scenario.name.starts_with("busy-") {
                let later = c
                    .timeline
                    .keys()
                    .iter()
                    .filter(|h| !truth.damaged_keys.contains(&h.key))
                    .filter(|h| h.head().is_some_and(|v| v.last_modified > truth.end))
                    .count();
                assert!(
                    later > 0,
                    "{}: no healthy write after the incident",
                    c.scenario.name
                );
            }
        }
    }
}

#[test]
fn the_window_limits_what_is_judged() {
    for (c, truth) in incident_cases() {
        let mut options = DetectOptions {
            since: Some(truth.end + TimeDelta::seconds(1)),
            ..c.scenario.options.clone()
        };
        let after = detect(&c.timeline, &[], &options);
        assert!(after.incidents.is_empty(), "{}:\n{after}", c.scenario.name);
        options.since = None;
        options.until = Some(truth.start - TimeDelta::seconds(1));
        let before = detect(&c.timeline, &[], &options);
        assert!(
            before.incidents.is_empty(),
            "{}:\n{before}",
            c.scenario.name
        );
        // A window around the incident still finds it, with the history before `since`
        // as its baseline.
        if !truth.needs_content {
            options.since = Some(truth.start - TimeDelta::hours(2));
            options.until = Some(truth.end + TimeDelta::hours(2));
            let around = detect(&c.timeline, &[], &options);
            assert!(
                matching(&around, truth).is_some(),
                "{}:\n{around}",
                c.scenario.name
            );
            assert!(around.stats.overwrites + around.stats.deletes + around.stats.creates > 0);
        }
    }
}

#[test]
fn validator_failures_alone_make_an_incident() {
    let c = cases()
        .iter()
        .find(|c| c.scenario.name == "healthy-deploy")
        .unwrap();
    let options = DetectOptions::default();
    let mut samples = samples(c, Mode::Sampled, &options);
    assert!(detect(&c.timeline, &samples, &options).incidents.is_empty());
    // The validator rejects three versions written in the same deploy.
    let mut rejected = BTreeSet::new();
    let newest_deploy: Vec<&ContentSample> = {
        let mut by_time: Vec<&ContentSample> = samples
            .iter()
            .filter(|s| s.key.ends_with(".json"))
            .collect();
        by_time.sort_by_key(|s| {
            let h = c.timeline.get(&s.key).unwrap();
            std::cmp::Reverse(
                h.entries
                    .iter()
                    .find(|v| v.version_id == s.version_id)
                    .unwrap()
                    .last_modified,
            )
        });
        by_time.into_iter().take(3).collect()
    };
    for s in newest_deploy {
        rejected.insert((s.key.clone(), s.version_id.clone()));
    }
    for s in &mut samples {
        if rejected.contains(&(s.key.clone(), s.version_id.clone())) {
            s.validator_ok = Some(false);
        }
    }
    let report = detect(&c.timeline, &samples, &options);
    assert_eq!(report.incidents.len(), 1, "{report}");
    let i = &report.incidents[0];
    assert_eq!(i.kinds, [DamageKind::Invalid]);
    let keys: BTreeSet<(String, String)> = i
        .keys
        .iter()
        .map(|k| (k.key.clone(), k.first_bad_version.clone()))
        .collect();
    assert_eq!(keys, rejected);
}

#[test]
fn reports_are_deterministic_and_serialise() {
    for c in cases().iter().take(6) {
        let a = scan(c, Mode::Sampled);
        let b = scan(c, Mode::Sampled);
        assert_eq!(a, b);
        let json = a.to_json();
        assert!(json.contains(SCAN_SCHEMA));
        let back: ScanReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert!(!a.summary().is_empty());
    }
}

#[test]
fn sample_plan_respects_the_budget_and_brings_references() {
    for c in cases() {
        let options = &c.scenario.options;
        let all = sample_plan(&c.timeline, options, None, false);
        let deep = sample_plan(&c.timeline, options, None, true);
        let capped = sample_plan(&c.timeline, options, Some(25), false);
        assert!(capped.len() <= 25, "{}", c.scenario.name);
        assert!(deep.len() >= all.len(), "{}", c.scenario.name);
        for plan in [&all, &deep, &capped] {
            let mut sorted = plan.clone();
            sorted.sort();
            sorted.dedup();
            assert_eq!(sorted.len(), plan.len(), "no duplicates");
            for (k, v) in plan.iter() {
                let e = c.timeline.get(k).unwrap();
                let v = e.entries.iter().find(|e| &e.version_id == v).unwrap();
                assert!(!v.delete_marker, "delete markers have no content");
            }
        }
        // Deep: every version written in the window, with its predecessor.
        let wanted: BTreeSet<&(String, String)> = deep.iter().collect();
        for h in c.timeline.keys() {
            for (i, v) in h.entries.iter().enumerate() {
                if v.delete_marker {
                    continue;
                }
                let pair = (h.key.clone(), v.version_id.to_string());
                assert!(wanted.contains(&pair), "{}: {pair:?}", c.scenario.name);
                if let Some(p) = h.entries.get(i + 1).filter(|p| !p.delete_marker) {
                    assert!(wanted.contains(&(h.key.clone(), p.version_id.to_string())));
                }
            }
        }
        if let Some(truth) = &c.scenario.incident {
            // A small budget, read in rounds as the CLI reads it, still confirms the
            // incident with content where it can.
            let report =
                s3rewind_engine::detect::scan(&c.timeline, options, Budget::Reads(25), |wanted| {
                    scenarios::samples_for(&c.scenario.bucket, wanted)
                });
            assert!(report.stats.samples <= 25);
            assert!(
                matching(&report, truth).is_some(),
                "{} with 25 samples:\n{report}",
                c.scenario.name
            );
        }
    }
}

#[test]
fn the_demo_history_is_one_incident_at_second_5_without_a_burst() {
    let c = cases()
        .iter()
        .find(|c| c.scenario.name == "demo-ransomware")
        .unwrap();
    let truth = c.scenario.incident.as_ref().unwrap();
    let options = &c.scenario.options;
    assert_eq!((options.bin_secs, options.gap_secs), (Some(1), Some(2)));
    let wanted = sample_plan(&c.timeline, options, Some(1000), false);
    let samples = scenarios::samples_for(&c.scenario.bucket, &wanted);
    let first = c.timeline.keys().iter().flat_map(|h| &h.entries);
    let t0 = first.map(|v| v.last_modified).min().unwrap();
    for samples in [Vec::new(), samples] {
        let report = detect(&c.timeline, &samples, options);
        assert_eq!(report.incidents.len(), 1, "{report}");
        let i = &report.incidents[0];
        assert_eq!(i.start, t0 + TimeDelta::seconds(5), "{report}");
        assert_eq!(truth.start, i.start);
        // Nothing written before second 5 (the edits, deletes and new files of seconds 2
        // and 3) is flagged.
        assert!(i.keys.iter().all(|k| k.first_bad_at == i.start), "{report}");
        // A bucket seconds old has no baseline: a burst is no evidence yet.
        assert!(
            i.evidence.iter().all(|e| !e.starts_with("burst:")),
            "{report}"
        );
        let count = |f: &dyn Fn(&str) -> bool| i.keys.iter().filter(|k| f(&k.key)).count();
        let locked = count(&|k| k.ends_with(".locked"));
        let renamed = i
            .keys
            .iter()
            .filter(|k| k.kind == DamageKind::Renamed)
            .count();
        assert_eq!((locked, renamed), (41, 41), "{report}");
        if samples.is_empty() {
            continue;
        }
        // With content: the 80 encrypted in place too, and the ransom note.
        let encrypted = i
            .keys
            .iter()
            .filter(|k| k.kind == DamageKind::Encrypted)
            .count();
        assert_eq!(encrypted, 80, "{report}");
        assert!(i.keys.iter().any(|k| k.key == "README_RESTORE_FILES.txt"));
        let keys: BTreeSet<&str> = i.keys.iter().map(|k| k.key.as_str()).collect();
        let truth_keys: BTreeSet<&str> = truth.damaged_keys.iter().map(String::as_str).collect();
        assert_eq!(keys, truth_keys);
        assert_eq!(i.confidence, Confidence::High);
    }
}
