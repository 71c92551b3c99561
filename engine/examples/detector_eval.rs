//! Precision and recall of the corruption detector over the scenario library.
//!
//! `cargo run -p s3rewind-engine --example detector_eval`
//!
//! Every scenario is scanned in three modes: metadata only (no GET), `sampled` (the
//! versions [`sample_plan`] picks without a limit, as `scan --sample` with no cap), and
//! `budget 60` (`scan --sample 60`: at most 60 ranged GETs), with the scenario's own
//! tuning ([`Scenario::options`]: the defaults, or seconds-scale bins and gaps for a
//! history that took seconds). For each scan the table
//! shows the incidents found, whether one of them matches the true incident (its window
//! contains the true start), its kinds and confidence, and the precision and recall of
//! its affected keys against the keys the incident really wrote. Totals follow:
//! incident-level precision (reported incidents that are real) and recall (real
//! incidents found), and key-level precision and recall summed over all scans of a mode.
//!
//! `-- --verbose` also prints each report's summary; `-- NAME` runs one scenario.

#![allow(clippy::print_stdout)]

use s3rewind_engine::detect::{DetectOptions, ScanReport, detect, sample_plan};
use s3rewind_engine::scenarios::{self, Scenario};
use std::collections::BTreeSet;

#[derive(Default)]
struct Totals {
    true_incidents: usize,
    found: usize,
    reported: usize,
    matched_reports: usize,
    key_tp: usize,
    key_fp: usize,
    key_fn: usize,
}

fn ratio(a: usize, b: usize) -> String {
    if b == 0 {
        "-".to_owned()
    } else {
        format!("{:.3}", a as f64 / b as f64)
    }
}

fn evaluate(s: &Scenario, report: &ScanReport, mode: &str, totals: &mut Totals) -> String {
    totals.reported += report.incidents.len();
    let Some(truth) = &s.incident else {
        let kinds: Vec<String> = report
            .incidents
            .iter()
            .map(|i| format!("{:?}", i.kinds))
            .collect();
        return format!(
            "| {:<27} | {:<9} | {:>3} | {:<8} | {:<22} | {:<6} | {:<6} | {:>5} | {:>5} |",
            s.name,
            mode,
            report.incidents.len(),
            if report.found() { "FALSE+" } else { "ok (-)" },
            kinds.join(","),
            report
                .incidents
                .first()
                .map_or("-".to_owned(), |i| i.confidence.to_string()),
            "-",
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
        "| {:<27} | {:<9} | {:>3} | {:<8} | {:<22} | {:<6} | {:<6} | {:>5} | {:>5} |",
        s.name,
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
        if matched.is_some() { "ok" } else { "-" },
        ratio(tp, tp + fp),
        ratio(tp, tp + fneg),
    )
}

fn main() {
    let verbose = std::env::args().any(|a| a == "--verbose" || a == "-v");
    let only: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let all: Vec<Scenario> = match &only {
        Some(name) => scenarios::by_name(name).into_iter().collect(),
        None => scenarios::all(),
    };
    let modes: [(&str, Option<Option<usize>>); 3] = [
        ("metadata", None),
        ("sampled", Some(None)),
        ("budget 60", Some(Some(60))),
    ];
    println!(
        "| scenario                    | mode      | inc | detected | kinds                  | conf   | window | key P | key R |"
    );
    println!(
        "|-----------------------------|-----------|-----|----------|------------------------|--------|--------|-------|-------|"
    );
    let mut totals: Vec<Totals> = modes.iter().map(|_| Totals::default()).collect();
    let mut gets: Vec<usize> = vec![0; modes.len()];
    for s in &all {
        let timeline = s.timeline();
        let options = &s.options;
        for (m, (mode, sampling)) in modes.iter().enumerate() {
            let samples = match sampling {
                None => Vec::new(),
                Some(limit) => {
                    let wanted = sample_plan(&timeline, options, *limit, false);
                    scenarios::samples_for(&s.bucket, &wanted)
                }
            };
            gets[m] += samples.len();
            let report = detect(&timeline, &samples, options);
            println!("{}", evaluate(s, &report, mode, &mut totals[m]));
            if verbose {
                for line in report.summary().lines() {
                    println!("    {line}");
                }
            }
        }
    }
    println!();
    println!(
        "| mode      | incidents (true/found/reported) | incident P | incident R | key P | key R | ranged GETs |"
    );
    println!(
        "|-----------|---------------------------------|------------|------------|-------|-------|-------------|"
    );
    for (m, (mode, _)) in modes.iter().enumerate() {
        let t = &totals[m];
        println!(
            "| {:<9} | {:>31} | {:>10} | {:>10} | {:>5} | {:>5} | {:>11} |",
            mode,
            format!("{}/{}/{}", t.true_incidents, t.found, t.reported),
            ratio(t.matched_reports, t.reported),
            ratio(t.found, t.true_incidents),
            ratio(t.key_tp, t.key_tp + t.key_fp),
            ratio(t.key_tp, t.key_tp + t.key_fn),
            gets[m]
        );
    }
    let entries: usize = all.iter().map(|s| s.bucket.list_order("").len()).sum();
    println!();
    println!(
        "{} scenarios ({} healthy), {} versions and delete markers in all; default DetectOptions except for {}",
        all.len(),
        all.iter().filter(|s| s.incident.is_none()).count(),
        entries,
        {
            let own: Vec<&str> = all
                .iter()
                .filter(|s| s.options != DetectOptions::default())
                .map(|s| s.name)
                .collect();
            if own.is_empty() {
                "none".to_owned()
            } else {
                format!("{} (seconds-scale tuning)", own.join(", "))
            }
        }
    );
}
