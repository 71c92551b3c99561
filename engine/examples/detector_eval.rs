//! Precision and recall of the corruption detector, with default options only.
//!
//! `cargo run --release -p s3rewind-engine --example detector_eval`
//!
//! Three sets, reported separately:
//!
//! - `library`: the hand-written scenarios of [`scenarios::all`] (histories of days,
//!   and the demo's history of seconds);
//! - `dev`: [`scenarios::scaled_suite`]`(false)`, the same bucket at time scales of
//!   seconds, hours and weeks, with incidents hitting 1% to 90% of the keys and healthy
//!   bulk rewrites; the thresholds and derived time scales were tuned on it;
//! - `held-out`: [`scenarios::scaled_suite`]`(true)`: other seeds, sizes, time scales
//!   (minutes, days, months), attacks and healthy jobs, never used for tuning.
//!
//! Every scenario is scanned with [`DetectOptions::default`] (time scales derived from
//! the history) in three modes: metadata only (`scan --sample 0`), `default` (the
//! CLI's default budget: at most 1000 versions read in rounds by a [`Sampler`], as
//! [`scan`] does) and `budget 60` (`scan --sample 60`). For each scan the table shows the incidents
//! found, whether one matches the true incident (its window contains the true start),
//! its kinds and confidence, and the precision and recall of its affected keys against
//! the keys the incident really wrote. Totals follow per set and mode: incident-level
//! precision (reported incidents that are real) and recall (real incidents found), and
//! key-level precision and recall summed over all scans; `inconclusive` counts healthy
//! scans that found nothing but could not judge most recent writes (not an alarm, not
//! an all-clear).
//!
//! `-- --verbose` also prints each report's summary; `-- --set NAME` runs one set;
//! `-- NAME` runs the scenarios whose name contains NAME.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use s3rewind_engine::detect::{Budget, DetectOptions, ScanReport, scan};
use s3rewind_testkit::scenarios::{self, Scenario};
use std::collections::BTreeSet;

#[derive(Default)]
struct Totals {
    scenarios: usize,
    true_incidents: usize,
    found: usize,
    reported: usize,
    matched_reports: usize,
    key_tp: usize,
    key_fp: usize,
    key_fn: usize,
    inconclusive: usize,
    reads: usize,
}

fn ratio(a: usize, b: usize) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.3}", a as f64 / b as f64)
    }
}

fn evaluate(
    name: &str,
    s: &Scenario,
    report: &ScanReport,
    mode: &str,
    totals: &mut Totals,
) -> String {
    totals.scenarios += 1;
    totals.reported += report.incidents.len();
    totals.reads += report.stats.samples;
    let Some(truth) = &s.incident else {
        let inconclusive = report.inconclusive(&DetectOptions::default());
        totals.inconclusive += usize::from(inconclusive);
        let kinds: Vec<String> = report
            .incidents
            .iter()
            .map(|i| format!("{:?}", i.kinds))
            .collect();
        return format!(
            "| {:<36} | {:<9} | {:>3} | {:<8} | {:<22} | {:<6} | {:>5} | {:>5} |",
            name,
            mode,
            report.incidents.len(),
            match (report.found(), inconclusive) {
                (true, _) => "FALSE+",
                (false, true) => "ok (?)",
                (false, false) => "ok (-)",
            },
            kinds.join(","),
            report
                .incidents
                .first()
                .map_or("-".to_owned(), |i| i.confidence.to_string()),
            "-",
            "-"
        );
    };
    totals.true_incidents += 1;
    // The incident that shares the most keys with the truth.
    let best = report.incidents.iter().max_by_key(|i| {
        i.keys
            .iter()
            .filter(|k| truth.damaged_keys.contains(&k.key))
            .count()
    });
    let matched = best.filter(|i| i.start <= truth.start && truth.start <= i.end);
    let reported: BTreeSet<&str> = matched
        .map(|i| i.keys.iter().map(|k| k.key.as_str()).collect())
        .unwrap_or_default();
    let tp = reported
        .iter()
        .filter(|k| truth.damaged_keys.contains(**k))
        .count();
    let fp = reported.len() - tp;
    let fneg = truth.damaged_keys.len() - tp;
    // Keys in non-matching incidents are false positives too.
    let other_fp: usize = report
        .incidents
        .iter()
        .filter(|i| Some(i.id) != matched.map(|m| m.id))
        .map(|i| i.keys.len())
        .sum();
    totals.key_tp += tp;
    totals.key_fp += fp + other_fp;
    totals.key_fn += fneg;
    if matched.is_some() {
        totals.found += 1;
        totals.matched_reports += 1;
    }
    let kinds = matched.map_or("-".to_owned(), |i| {
        let k: Vec<&str> = i.kinds.iter().map(|k| k.name()).collect();
        k.join("+")
    });
    let kind_ok = matched.is_some_and(|i| i.kinds.contains(&truth.kind));
    format!(
        "| {:<36} | {:<9} | {:>3} | {:<8} | {:<22} | {:<6} | {:>5} | {:>5} |",
        name,
        mode,
        report.incidents.len(),
        match (matched.is_some(), kind_ok) {
            (true, true) => "yes",
            (true, false) => "yes/kind",
            (false, _) if truth.needs_content && mode == "metadata" => "no (n/a)",
            (false, _) => "MISSED",
        },
        kinds,
        matched.map_or("-".to_owned(), |i| i.confidence.to_string()),
        ratio(tp, tp + fp),
        ratio(tp, tp + fneg),
    )
}

type Modes = [(&'static str, usize); 3];
const MODES: Modes = [("metadata", 0), ("default", 1000), ("budget 60", 60)];

fn run_set(
    set: &str,
    cases: Vec<(String, Scenario)>,
    verbose: bool,
) -> (Vec<Totals>, usize, usize) {
    println!();
    println!("## {set}");
    println!();
    println!(
        "| scenario                             | mode      | inc | detected | kinds                  | conf   | key P | key R |"
    );
    println!(
        "|--------------------------------------|-----------|-----|----------|------------------------|--------|-------|-------|"
    );
    let options = DetectOptions::default();
    let mut totals: Vec<Totals> = MODES.iter().map(|_| Totals::default()).collect();
    let mut entries = 0;
    let count = cases.len();
    for (name, s) in &cases {
        let timeline = s.timeline();
        entries += timeline.len();
        for (m, (mode, limit)) in MODES.iter().enumerate() {
            let report = scan(&timeline, &options, Budget::Reads(*limit), |wanted| {
                scenarios::samples_for(&s.bucket, wanted)
            });
            println!("{}", evaluate(name, s, &report, mode, &mut totals[m]));
            if verbose {
                for line in report.summary().lines() {
                    println!("    {line}");
                }
            }
        }
    }
    (totals, count, entries)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "--verbose" || a == "-v");
    let set_arg = args
        .iter()
        .position(|a| a == "--set")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let only: Option<&String> = args
        .iter()
        .enumerate()
        .find(|(i, a)| !a.starts_with('-') && (*i == 0 || args[i - 1] != "--set"))
        .map(|(_, a)| a);
    let keep = |name: &str| only.is_none_or(|o| name.contains(o.as_str()));
    let sets: Vec<&str> = match &set_arg {
        Some(s) => vec![s.as_str()],
        None => vec!["library", "dev", "held-out"],
    };
    let mut summary = Vec::new();
    for set in sets {
        let cases: Vec<(String, Scenario)> = match set {
            "library" => scenarios::all()
                .into_iter()
                .filter(|s| keep(s.name))
                .map(|s| (s.name.to_owned(), s))
                .collect(),
            "dev" | "held-out" => scenarios::scaled_suite(set == "held-out")
                .into_iter()
                .filter(|(n, _)| keep(n))
                .map(|(n, spec)| (n, scenarios::scaled(&spec)))
                .collect(),
            other => {
                eprintln!("unknown set {other:?} (library, dev, held-out)");
                std::process::exit(2);
            }
        };
        let (totals, count, entries) = run_set(set, cases, verbose);
        summary.push((set, totals, count, entries));
    }
    println!();
    println!(
        "| set      | mode      | scenarios | incidents (true/found/reported) | incident P | incident R | key P | key R | healthy inconclusive | reads |"
    );
    println!(
        "|----------|-----------|-----------|---------------------------------|------------|------------|-------|-------|----------------------|-------|"
    );
    for (set, totals, count, _) in &summary {
        for (m, (mode, _)) in MODES.iter().enumerate() {
            let t = &totals[m];
            println!(
                "| {:<8} | {:<9} | {:>9} | {:>31} | {:>10} | {:>10} | {:>5} | {:>5} | {:>20} | {:>5} |",
                set,
                mode,
                count,
                format!("{}/{}/{}", t.true_incidents, t.found, t.reported),
                ratio(t.matched_reports, t.reported),
                ratio(t.found, t.true_incidents),
                ratio(t.key_tp, t.key_tp + t.key_fp),
                ratio(t.key_tp, t.key_tp + t.key_fn),
                t.inconclusive,
                t.reads
            );
        }
    }
    println!();
    for (set, _, count, entries) in &summary {
        println!("{set}: {count} scenarios, {entries} versions and delete markers");
    }
    println!("every scan with DetectOptions::default() (time scales derived from each history)");
}
