//! The guarantee a default scan states, checked over random busy histories (issue 24).
//!
//! Histories come from [`s3rewind_testkit::busy`]: keys uploaded in bulk, then ordinary
//! edits whose sizes vary widely (a tenth of a size to ten times it, or a fresh size),
//! moves, deletes, one to four writers, busy and quiet periods, at time scales from half
//! a minute to hours. Into most of them an incident is injected: random bytes at new
//! sizes or at the same sizes, deletes or truncation, of a random share of the keys
//! (0.5% to 80%), at a random time, lasting a random while, by a known writer or a new
//! one. Each is scanned as `s3rewind scan` does by default ([`Budget::Reads`] of 1,000,
//! read in rounds from the in-memory content store) and the report's own
//! [`Guarantee`](s3rewind_engine::detect::Guarantee) says what it rules out.
//!
//! - **The guarantee holds.** Whenever an incident meets the statement's terms (random
//!   bytes: at least `min_damaged` keys whose damage content can show, within one window
//!   of `window_secs`; deletes: at least 10 keys within one window and 10% of the keys
//!   live before it; truncation: at least 5 keys within one window — the metadata rules
//!   the statement refers to), the scan reports an incident overlapping it whose start
//!   is within one bin (`bin_secs`) of the first damaged write (the first content can
//!   show, for random bytes). Over all such cases the
//!   share found must be compatible with `confidence` (95%): a one-sided binomial test
//!   at level 0.001 fails the test only when the misses are far too many for a detector
//!   that finds each with probability 0.95.
//! - **No false alarms.** On histories without an incident, an incident is reported in
//!   at most 1% of the cases (the same binomial test).
//! - **The budget holds**: no scan reads more than 1,000 versions.
//!
//! The cases are drawn with proptest's generator and the project's fixed seed
//! (`common/mod.rs`); `DETECT_GUARANTEE_CASES=N` runs `N` incident cases (and as many
//! healthy ones), and `scripts/proptest-deep` runs more with a fresh seed.

mod common;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{RngSeed, TestRunner};
use s3rewind_engine::detect::{Budget, DetectOptions, ScanReport, scan};
use s3rewind_testkit::busy::{self, BusySpec, Damage, Incident};

/// The CLI's default budget.
const DEFAULT_READS: usize = 1000;
/// A binomial test at this level fails the property.
const ALPHA: f64 = 0.001;

/// Incident cases (and as many healthy ones): `DETECT_GUARANTEE_CASES`, else a tenth of
/// `PROPTEST_CASES` (`scripts/proptest-deep` runs 20,000 of the cheap properties), else
/// `default`.
fn cases(default: u32) -> u32 {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
    env("DETECT_GUARANTEE_CASES")
        .or_else(|| env("PROPTEST_CASES").map(|n| (n / 10).max(1)))
        .unwrap_or(default)
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        3 => Just(Damage::RandomNewSize),
        3 => Just(Damage::RandomSameSize),
        1 => Just(Damage::Delete),
        1 => Just(Damage::Truncate),
    ]
}

/// A busy history; with `incident`, one injected into it.
fn history(incident: bool) -> impl Strategy<Value = BusySpec> {
    (
        any::<u64>(),
        150usize..1200,
        0.5f64..3.0,
        // Half a minute to five and a half hours of activity.
        (30f64.ln()..20_000f64.ln()).prop_map(|l| l.exp() as i64),
        1usize..5,
        0usize..20,
        0usize..20,
        0.0f64..0.7,
        (
            damage(),
            (0.005f64.ln()..0.8f64.ln()),
            0.1f64..1.0,
            0.0f64..0.3,
            0usize..5,
        ),
    )
        .prop_map(
            move |(seed, keys, per_key, secs, writers, moves, deletes, busy, inc)| {
                let (damage, share, at, duration, writer) = inc;
                BusySpec {
                    seed,
                    keys,
                    edits: (keys as f64 * per_key) as usize,
                    secs,
                    writers,
                    moves,
                    deletes,
                    busy,
                    incident: incident.then(|| Incident {
                        damage,
                        share: share.exp(),
                        at_secs: (secs as f64 * at) as i64,
                        secs: (secs as f64 * duration * duration) as i64,
                        writer: writer.min(writers),
                    }),
                }
            },
        )
}

/// `P(X ≤ x)` for `X ~ Binomial(n, p)`, summed in log space (`p^n` underflows for the
/// case counts `scripts/proptest-deep` runs).
fn binomial_cdf(x: u64, n: u64, p: f64) -> f64 {
    if x >= n {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut log_term = n as f64 * lq; // ln P(X = 0)
    let mut logs = vec![log_term];
    for k in 0..x {
        log_term += ((n - k) as f64 / (k + 1) as f64).ln() + lp - lq;
        logs.push(log_term);
    }
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let sum: f64 = logs.iter().map(|l| (l - max).exp()).sum();
    (max + sum.ln()).exp().min(1.0)
}

fn default_scan(h: &busy::Busy) -> ScanReport {
    let report = scan(
        &h.timeline,
        &DetectOptions::default(),
        Budget::Reads(DEFAULT_READS),
        |wanted| h.store.samples_for(wanted),
    );
    assert!(
        report.stats.samples <= DEFAULT_READS,
        "{} reads",
        report.stats.samples
    );
    report
}

/// Whether the incident meets the terms of the report's guarantee (see the module docs).
fn meets_terms(h: &busy::Busy, report: &ScanReport) -> bool {
    let truth = h.truth.as_ref().expect("an incident");
    let g = report
        .guarantee
        .as_ref()
        .expect("a sampler states a guarantee");
    let w = g.window_secs;
    match truth.damage {
        Damage::RandomNewSize | Damage::RandomSameSize => g
            .min_damaged
            .is_some_and(|d| truth.most_within(w, true) as u64 >= d),
        Damage::Delete => {
            let before = truth.start() - chrono::TimeDelta::milliseconds(1);
            let live = h.timeline.state_at(before).objects.len();
            let n = truth.most_within(w, false);
            n >= 10 && n * 10 >= live
        }
        Damage::Truncate => truth.most_within(w, false) >= 5,
    }
}

/// An incident was reported over the damage, starting within one bin of its first
/// damaged write (for random bytes, at the latest one bin after the first that content
/// analysis can tell: one over a key of random-looking bytes is not damage a scan can
/// see, though the size or writer it shares may bring it in).
fn found_in_time(h: &busy::Busy, report: &ScanReport) -> bool {
    let truth = h.truth.as_ref().expect("an incident");
    let first_write = match truth.damage {
        Damage::RandomNewSize | Damage::RandomSameSize => match truth.writes.iter().find(|w| w.3) {
            Some(w) => w.0,
            None => return false,
        },
        Damage::Delete | Damage::Truncate => truth.start(),
    };
    let bin = report.scales.bin_secs.max(1);
    let first = report
        .incidents
        .iter()
        .filter(|i| i.start <= truth.end() && truth.start() <= i.end)
        .min_by_key(|i| i.start);
    first.is_some_and(|i| {
        let b = |t: chrono::DateTime<chrono::Utc>| t.timestamp().div_euclid(bin);
        b(i.start) >= b(truth.start()) - 1 && b(i.start) <= b(first_write) + 1
    })
}

/// The runner for `n` cases; `salt` gives a second stream from the same seed.
fn runner(n: u32, salt: u64) -> TestRunner {
    let mut config = common::config(n);
    if let RngSeed::Fixed(seed) = config.rng_seed {
        config.rng_seed = RngSeed::Fixed(seed ^ salt);
    }
    TestRunner::new(config)
}

#[test]
#[allow(clippy::print_stderr)] // the measured rate; shown with --nocapture
fn a_default_scan_finds_the_incidents_its_guarantee_covers() {
    let n = cases(100);
    let mut runner = runner(n, 0);
    let incidents = history(true);
    let mut met = 0u64;
    let mut found = 0u64;
    let mut misses: Vec<String> = Vec::new();
    let mut unmet_found = 0u64;
    let mut unmet = 0u64;
    // Per kind: (met, found in time).
    let mut by_kind: std::collections::BTreeMap<String, (u64, u64)> = Default::default();
    for _ in 0..n {
        let spec = incidents.new_tree(&mut runner).expect("a case").current();
        let h = busy::busy(&spec);
        if h.truth.is_none() {
            continue; // the incident found nothing to damage
        }
        let report = default_scan(&h);
        let ok = found_in_time(&h, &report);
        if meets_terms(&h, &report) {
            met += 1;
            found += u64::from(ok);
            let k = by_kind
                .entry(format!("{:?}", h.truth.as_ref().map(|t| t.damage)))
                .or_default();
            k.0 += 1;
            k.1 += u64::from(ok);
            if !ok {
                misses.push(format!("{spec:?}\n{report}"));
            }
        } else {
            unmet += 1;
            unmet_found += u64::from(ok);
        }
    }
    let confidence = DetectOptions::default().confidence;
    let p = binomial_cdf(found, met, confidence);
    eprintln!(
        "guarantee: {found} of {met} incidents meeting its terms found in time (P = {p:.4} under {confidence}); {unmet_found} of {unmet} others found"
    );
    for (kind, (m, f)) in &by_kind {
        eprintln!("  {kind}: {f} of {m}");
    }
    if std::env::var("SHOW_MISSES").is_ok() {
        eprintln!("{}", misses.join("\n---\n"));
    }
    assert!(
        met >= u64::from(n) / 4,
        "too few cases meet the terms to test anything: {met} of {n}"
    );
    assert!(
        p >= ALPHA,
        "{} of {met} incidents that meet the guarantee's terms were missed or found late:\n{}",
        met - found,
        misses.join("\n---\n")
    );
}

#[test]
#[allow(clippy::print_stderr)] // the measured rate; shown with --nocapture
fn a_default_scan_raises_no_alarm_on_healthy_busy_histories() {
    let n = cases(100);
    let mut runner = runner(n, 0x4845_414c_5448); // "HEALTH"
    let healthy = history(false);
    let mut alarms: Vec<String> = Vec::new();
    for _ in 0..n {
        let spec = healthy.new_tree(&mut runner).expect("a case").current();
        let h = busy::busy(&spec);
        let report = default_scan(&h);
        assert!(
            report
                .guarantee
                .as_ref()
                .is_some_and(|g| g.min_damaged.is_some()),
            "{report}"
        );
        if report.found() {
            alarms.push(format!("{spec:?}\n{report}"));
        }
    }
    // P(at least this many alarms) for a false-alarm rate of 1%.
    let x = alarms.len() as u64;
    let p = if x == 0 {
        1.0
    } else {
        1.0 - binomial_cdf(x - 1, u64::from(n), 0.01)
    };
    eprintln!("false alarms: {x} of {n} healthy histories (P = {p:.4} under 1%)");
    assert!(
        p >= ALPHA,
        "{x} false alarms in {n} healthy histories:\n{}",
        alarms.join("\n---\n")
    );
}

#[test]
fn the_binomial_test_is_exact() {
    assert!((binomial_cdf(0, 10, 0.5) - 1.0 / 1024.0).abs() < 1e-12);
    assert!((binomial_cdf(10, 10, 0.3) - 1.0).abs() < 1e-12);
    // P(Bin(100, 0.95) ≤ 89) = 0.01147.
    assert!((binomial_cdf(89, 100, 0.95) - 0.01147).abs() < 0.0001);
    assert!(binomial_cdf(85, 100, 0.95) < ALPHA);
    // Large counts do not underflow: 5 misses in 556 is far better than 95%.
    assert!(binomial_cdf(551, 556, 0.95) > 0.999);
    assert!(binomial_cdf(500, 556, 0.95) < ALPHA);
}

/// Issue 24's buckets, rebuilt in memory: the default budget finds each incident at its
/// first damaged write, within 1,000 reads, and the evidence is not buried under the
/// size patterns of ordinary edits.
#[test]
fn the_issue_buckets_are_found_by_default_with_quiet_evidence() {
    for (n, spec) in [
        busy::issue24_new_sizes(1),
        busy::issue24_same_size(1, 600, 169),
        busy::issue24_same_size(1, 1500, 423),
    ]
    .into_iter()
    .enumerate()
    {
        let h = busy::busy(&spec);
        let truth = h.truth.as_ref().expect("an incident");
        let report = default_scan(&h);
        assert_eq!(report.incidents.len(), 1, "{report}");
        let i = &report.incidents[0];
        assert_eq!(i.start, truth.start(), "{report}");
        assert!(i.content_bad >= 20, "{report}");
        // Metadata alone sees the ordinary edits' size patterns as one weak incident
        // (on the first bucket); its dozens of lines are one.
        let meta = s3rewind_engine::detect::detect(&h.timeline, &[], &DetectOptions::default());
        let folded = meta
            .incidents
            .iter()
            .flat_map(|i| &i.evidence)
            .filter(|e| e.contains("size patterns over"))
            .count();
        if n == 0 {
            assert_eq!(folded, 1, "{meta}");
        }
        for i in report.incidents.iter().chain(&meta.incidents) {
            assert!(i.evidence.len() <= 8, "{report}\n{meta}");
            let single = i
                .evidence
                .iter()
                .filter(|e| e.contains("keys of varied sizes") && !e.contains("size patterns over"))
                .count();
            assert!(single <= 2, "{report}\n{meta}");
        }
        let g = report.guarantee.as_ref().unwrap();
        assert!(g.min_damaged.is_some_and(|d| d <= 60), "{g:?}");
    }
}

/// `--sample N` moves the numbers the right way, and `--min-damage` buys a budget that
/// delivers what was asked.
#[test]
fn budgets_change_the_guarantee_and_a_requested_one_is_delivered() {
    let h = busy::busy(&BusySpec {
        incident: None,
        ..busy::issue24_same_size(7, 800, 0)
    });
    let options = DetectOptions::default();
    let run = |budget| scan(&h.timeline, &options, budget, |w| h.store.samples_for(w));
    let d = |r: &ScanReport| r.guarantee.as_ref().unwrap().min_damaged.unwrap();
    let small = run(Budget::Reads(200));
    let large = run(Budget::Reads(2000));
    assert!(d(&small) > d(&large), "{small}\n{large}");
    assert!(small.stats.samples <= 200 && large.stats.samples <= 2000);
    let deep = run(Budget::Deep);
    let g = deep.guarantee.as_ref().unwrap();
    assert!(
        g.read_rate == 1.0 && g.statement.starts_with("Every version written"),
        "{g:?}"
    );
    assert_eq!(g.min_damaged, Some(options.min_content_keys as u64));
    for want in [10u64, 40] {
        for confidence in [0.9, 0.99] {
            let options = DetectOptions {
                confidence,
                ..DetectOptions::default()
            };
            let sampler =
                s3rewind_engine::detect::Sampler::new(&h.timeline, &options, Budget::RuleOut(want));
            let limit = sampler.limit();
            let r = scan(&h.timeline, &options, Budget::RuleOut(want), |w| {
                h.store.samples_for(w)
            });
            let g = r.guarantee.as_ref().unwrap();
            assert!(r.stats.samples <= limit);
            assert_eq!(g.confidence, confidence);
            assert!(
                g.min_damaged.is_some_and(|d| d <= want),
                "asked {want} at {confidence}: {g:?}"
            );
        }
    }
    // No content read: nothing ruled out by content, and the statement says so.
    let none = run(Budget::Reads(0));
    let g = none.guarantee.as_ref().unwrap();
    assert_eq!((g.min_damaged, g.uniform_reads), (None, 0));
    assert!(
        g.statement.contains("No content was read"),
        "{}",
        g.statement
    );
}
