//! Detection with default options on histories of any time scale (issue 12): the time
//! scales come from the history, an incident starts at its first strongly supported
//! write, damaged content alone is an incident, deletes by the incident's writer belong
//! to it, and a scan says what it covered.

use chrono::TimeDelta;
use s3rewind_engine::detect::{
    Budget, ContentSample, DetectOptions, ScanReport, detect, per_key_target, restore_point,
    sample_plan,
};
use s3rewind_engine::{Destination, Location, PlanOptions, Timeline, plan};
use s3rewind_testkit::scenarios::{self, Attack, Benign, ScaledSpec, Scenario};
use std::collections::BTreeSet;

/// The CLI's default sampling budget.
const CLI_DEFAULT_SAMPLES: usize = 1000;

fn spec(tick_secs: i64, keys: usize, attack: Option<(Attack, f64)>) -> ScaledSpec {
    ScaledSpec {
        seed: 4242,
        tick_secs,
        keys,
        benign: Benign::None,
        attack,
    }
}

fn samples(s: &Scenario, tl: &Timeline, limit: Option<usize>, deep: bool) -> Vec<ContentSample> {
    let wanted = sample_plan(tl, &DetectOptions::default(), limit, deep);
    scenarios::samples_for(&s.bucket, &wanted)
}

/// Scan with default options and the CLI's default budget, read in rounds as the CLI
/// reads it.
fn scan(s: &Scenario) -> (Timeline, ScanReport) {
    let tl = s.timeline();
    let report = s3rewind_engine::detect::scan(
        &tl,
        &DetectOptions::default(),
        Budget::Reads(CLI_DEFAULT_SAMPLES),
        |wanted| scenarios::samples_for(&s.bucket, wanted),
    );
    assert!(report.stats.samples <= CLI_DEFAULT_SAMPLES);
    (tl, report)
}

fn in_place(at: chrono::DateTime<chrono::Utc>) -> PlanOptions {
    PlanOptions::new(Location::whole("b"), Destination::InPlace, at)
}

/// `--before-corruption` then `--per-key` against the simulator: the first must give
/// exactly the bucket just before the first damaging write, the second every damaged
/// key's pre-incident content and every other key as it is now.
fn check_restores(s: &Scenario, tl: &Timeline, report: &ScanReport) {
    let truth = s.incident.as_ref().expect("an incident");
    let rp = restore_point(report).expect("found");
    assert_eq!(rp, truth.start - TimeDelta::milliseconds(1), "{report}");
    let p = plan(&tl.current(), &tl.state_at(rp), &in_place(rp));
    let mut bucket = s.bucket.clone();
    let applied = bucket
        .apply(&p, None, truth.end + TimeDelta::hours(1))
        .unwrap();
    assert!(applied.failed.is_empty() && applied.drifted.is_empty());
    let just_before = s.bucket.truth_at(rp);
    assert_eq!(
        bucket.current_contents(),
        just_before,
        "the whole bucket just before"
    );

    let p = plan(
        &tl.current(),
        &per_key_target(tl, report),
        &in_place(truth.end),
    );
    let mut bucket = s.bucket.clone();
    let applied = bucket
        .apply(&p, None, truth.end + TimeDelta::hours(1))
        .unwrap();
    assert!(applied.failed.is_empty() && applied.drifted.is_empty());
    let now = s.bucket.current_contents();
    let after = bucket.current_contents();
    let keys: BTreeSet<&String> = now
        .keys()
        .chain(after.keys())
        .chain(just_before.keys())
        .collect();
    for k in keys {
        let want = if truth.damaged_keys.contains(k) {
            just_before.get(k)
        } else {
            now.get(k)
        };
        assert_eq!(after.get(k), want, "--per-key: {k}");
    }
}

#[test]
fn scales_follow_the_history_and_options_override_them() {
    let seconds = scenarios::scaled(&spec(1, 200, None));
    let (_, r) = scan(&seconds);
    let sc = &r.scales;
    assert_eq!(sc.bin_secs, 1, "{sc:?}");
    assert!((2..=10).contains(&sc.gap_secs), "{sc:?}");
    assert!(
        sc.established_secs <= 5 && sc.new_writer_after_secs <= 15,
        "{sc:?}"
    );
    assert!(sc.overridden.is_empty());
    let hours = scenarios::scaled(&spec(300, 200, None));
    let (_, r) = scan(&hours);
    let sc = &r.scales;
    assert!((5..=30).contains(&sc.bin_secs), "{sc:?}");
    assert!((60..=1800).contains(&sc.gap_secs), "{sc:?}");
    let weeks = scenarios::scaled(&spec(21_600, 200, None));
    let tl = weeks.timeline();
    let r = detect(&tl, &[], &DetectOptions::default());
    let sc = &r.scales;
    // A week or more: the former fixed defaults.
    assert_eq!(
        (
            sc.bin_secs,
            sc.gap_secs,
            sc.established_secs,
            sc.new_writer_after_secs
        ),
        (600, 3600, 6 * 3600, 24 * 3600)
    );
    let given = DetectOptions {
        gap_secs: Some(7),
        established_secs: Some(0),
        ..DetectOptions::default()
    };
    let r = detect(&tl, &[], &given);
    assert_eq!(
        (
            r.scales.bin_secs,
            r.scales.gap_secs,
            r.scales.established_secs
        ),
        (600, 7, 0)
    );
    assert_eq!(r.scales.overridden, ["gap", "established"]);
}

/// Issue 12, first case: 1,500 keys, 60% overwritten with random bytes of the same size
/// in one burst, in a history of about a minute. Found with default options, and both
/// restore modes undo exactly it.
#[test]
fn a_burst_of_same_size_random_overwrites_is_found_with_defaults() {
    let s = scenarios::scaled(&spec(1, 1500, Some((Attack::RandomSameSize, 0.6))));
    let (tl, report) = scan(&s);
    assert_eq!(report.incidents.len(), 1, "{report}");
    let truth = s.incident.as_ref().unwrap();
    assert_eq!(report.incidents[0].start, truth.start, "{report}");
    check_restores(&s, &tl, &report);
}

/// Issue 12, second case: 500 keys edited for a minute (sizes changing), then 35%
/// encrypted in place in a burst. The start is the first encrypted write, not an
/// earlier edit, so `--before-corruption` keeps every legitimate edit.
#[test]
fn encryption_after_ordinary_edits_starts_at_its_first_encrypted_write() {
    let s = scenarios::scaled(&spec(1, 500, Some((Attack::EncryptGcm, 0.35))));
    let (tl, report) = scan(&s);
    assert_eq!(report.incidents.len(), 1, "{report}");
    let truth = s.incident.as_ref().unwrap();
    let i = &report.incidents[0];
    assert_eq!(i.start, truth.start, "{report}");
    for k in &i.keys {
        assert!(
            truth.damaged_keys.contains(&k.key),
            "{} is not damaged",
            k.key
        );
    }
    check_restores(&s, &tl, &report);
}

/// Deletes written during the incident by its writer, too few for a wipe, are part of
/// it: `--per-key` brings them back as `--before-corruption` does.
#[test]
fn deletes_by_the_incident_writer_during_it_belong_to_it() {
    for tick in [1, 300] {
        let s = scenarios::scaled(&spec(tick, 300, Some((Attack::EncryptAndDelete, 0.3))));
        let (tl, report) = scan(&s);
        assert_eq!(report.incidents.len(), 1, "{report}");
        let deleted: Vec<_> = report.incidents[0]
            .keys
            .iter()
            .filter(|k| k.kind.name() == "deleted")
            .collect();
        assert_eq!(deleted.len(), 90 / 8, "{report}");
        check_restores(&s, &tl, &report);
    }
}

#[test]
fn incidents_are_found_at_every_time_scale_and_healthy_bulk_rewrites_are_not() {
    for tick in [1, 300, 21_600] {
        for benign in [Benign::Jobs, Benign::Reencode] {
            let s = scenarios::scaled(&ScaledSpec {
                benign,
                ..spec(tick, 300, None)
            });
            let (_, report) = scan(&s);
            assert!(!report.found(), "{tick} s ticks, {benign:?}:\n{report}");
        }
        for (attack, share) in [(Attack::RandomSameSize, 0.1), (Attack::RenameLocked, 0.9)] {
            let s = scenarios::scaled(&ScaledSpec {
                benign: Benign::Jobs,
                ..spec(tick, 300, Some((attack, share)))
            });
            let (_, report) = scan(&s);
            let truth = s.incident.as_ref().unwrap();
            assert!(
                report.incidents.iter().any(|i| i.start == truth.start),
                "{tick} s ticks, {attack:?}:\n{report}"
            );
        }
    }
}

/// "No incident found" carries what was judged; a scan that read too few of the recent
/// writes says it is not an all-clear.
#[test]
fn coverage_is_reported_and_too_few_samples_are_not_an_all_clear() {
    let s = scenarios::scaled(&spec(1, 300, None));
    let tl = s.timeline();
    let options = DetectOptions::default();
    let few = samples(&s, &tl, Some(10), false);
    let report = detect(&tl, &few, &options);
    assert!(!report.found());
    let c = &report.coverage;
    assert!(c.versions_judged <= 10 && c.versions_written > 300, "{c:?}");
    assert!(c.keys_never_sampled >= c.keys_written - 10, "{c:?}");
    assert!(c.judged_from.is_some() && c.judged_to > c.judged_from);
    assert!(report.inconclusive(&options), "{report}");
    assert!(report.to_string().contains("coverage: "), "{report}");
    let all = samples(&s, &tl, None, true);
    let report = detect(&tl, &all, &options);
    assert!(
        !report.found() && !report.inconclusive(&options),
        "{report}"
    );
    assert_eq!(
        report.coverage.recent_judged,
        report.coverage.recent_overwrites
    );
    assert_eq!(report.coverage.keys_never_sampled, 0);
    // Metadata only is not "inconclusive": nothing was sampled, and the CLI says so.
    let report = detect(&tl, &[], &options);
    assert!(!report.inconclusive(&options));
}

/// Issue 12, the root of the second case: ordinary edits that happen to collapse sizes
/// into one narrow band (a weak metadata signal) a few seconds before content-confirmed
/// encryption into the same band. The size signal covers both; the incident starts at
/// the first encrypted write all the same, and the edited keys are not in it.
#[test]
fn weak_signals_do_not_move_the_start_before_the_strong_evidence() {
    use s3rewind_engine::{PutMeta, SimBucket, Versioning};
    let t0 = chrono::DateTime::parse_from_rfc3339("2026-05-04T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let sec = |s: i64| t0 + TimeDelta::seconds(s);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let pdf = |size: usize, salt: u64| {
        let mut v = format!("%PDF-1.7\n% document {salt}\n").into_bytes();
        while v.len() < size {
            v.extend_from_slice(b"BT /F1 11 Tf (quarterly report text) Tj ET\n");
        }
        v.truncate(size);
        v
    };
    let meta = |ct: &str| PutMeta {
        content_type: Some(ct.to_owned()),
        owner_id: Some("owner".to_owned()),
        storage_class: None,
        multipart_parts: None,
    };
    let mut b = SimBucket::new(Versioning::Enabled, "v");
    for i in 0..120u64 {
        let size = 4_000 + (rnd() % 36_000) as usize;
        b.put_with(
            &format!("docs/d{i:03}.pdf"),
            &pdf(size, i),
            sec(0),
            &meta("application/pdf"),
        );
    }
    // Ordinary edits at seconds 10..=20: six documents shrink to about 1 KB.
    let edited: Vec<String> = (0..6)
        .map(|i| format!("docs/d{:03}.pdf", 100 + i))
        .collect();
    for (i, k) in edited.iter().enumerate() {
        let size = 1_000 + (rnd() % 80) as usize;
        b.put_with(
            k,
            &pdf(size, 1000 + i as u64),
            sec(10 + 2 * i as i64),
            &meta("application/pdf"),
        );
    }
    // Second 24: sixty documents become random bytes of about 1 KB.
    let attack = sec(24);
    for i in 0..60u64 {
        let size = 1_000 + (rnd() % 80) as usize;
        let mut v = Vec::with_capacity(size);
        while v.len() < size {
            v.extend_from_slice(&rnd().to_le_bytes());
        }
        v.truncate(size);
        b.put_with(
            &format!("docs/d{i:03}.pdf"),
            &v,
            attack,
            &meta("application/octet-stream"),
        );
    }
    let tl = scenarios::timeline_of(&b);
    let options = DetectOptions::default();
    let wanted = sample_plan(&tl, &options, Some(CLI_DEFAULT_SAMPLES), false);
    let report = detect(&tl, &scenarios::samples_for(&b, &wanted), &options);
    // The size signal alone spans the edits too.
    let meta_only = detect(&tl, &[], &options);
    assert_eq!(meta_only.incidents.len(), 1, "{meta_only}");
    assert!(meta_only.incidents[0].start < attack, "{meta_only}");
    assert_eq!(report.incidents.len(), 1, "{report}");
    let i = &report.incidents[0];
    assert_eq!(i.start, attack, "{report}");
    assert_eq!(i.keys.len(), 60, "{report}");
    for k in &edited {
        assert!(
            i.keys.iter().all(|a| &a.key != k),
            "{k} was an ordinary edit"
        );
    }
    assert!(report.to_string().contains("left out"), "{report}");
}

/// A restore's own writes (older versions' bytes put back in a burst, right after the
/// incident) are recognised and left out: scanning after a `--before-corruption`
/// restore reports the same incident, not one widened by the restore, and counts the
/// writes it ignored.
#[test]
fn a_restores_own_writes_are_not_part_of_the_incident() {
    let s = scenarios::scaled(&spec(1, 300, Some((Attack::EncryptGcm, 0.35))));
    let (tl, report) = scan(&s);
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.stats.restore_writes_ignored, 0);
    let truth = s.incident.as_ref().unwrap();
    let rp = restore_point(&report).unwrap();
    let p = plan(&tl.current(), &tl.state_at(rp), &in_place(rp));
    assert!(p.actions.len() >= 100);
    let mut restored = s.clone();
    // The restore runs two seconds after the attack: within the gap.
    restored
        .bucket
        .apply(&p, None, truth.end + TimeDelta::seconds(2))
        .unwrap();
    let (_, after) = scan(&restored);
    assert_eq!(
        after.stats.restore_writes_ignored,
        p.actions.len(),
        "{after}"
    );
    assert_eq!(after.incidents.len(), 1, "{after}");
    let (a, b) = (&report.incidents[0], &after.incidents[0]);
    assert_eq!((a.start, a.end), (b.start, b.end), "{after}");
    let keys = |i: &s3rewind_engine::detect::Incident| -> Vec<(String, String)> {
        i.keys
            .iter()
            .map(|k| (k.key.clone(), k.first_bad_version.clone()))
            .collect()
    };
    assert_eq!(keys(a), keys(b), "{after}");
    assert!(after.to_string().contains("a restore's writes"), "{after}");
}
