//! The buckets of issue 24, rebuilt in memory, scanned the way `s3rewind scan` does with
//! default options: does the default budget find the incident, and with how many reads?
//!
//! `cargo run --release -p s3rewind-engine --example busy_buckets`
//!
//! Per bucket: the default scan's reads (all of the budget: what damaged samples do not
//! need goes to more uniform reads), how many were judged and looked damaged, whether the
//! incident was found, how far its reported start is from the first damaged write, how
//! many of the damaged keys it lists, the smallest `--sample N` of 25, 50, 100, 200, 400
//! that also finds it with the exact start, and the guarantee's `min_damaged`.

#![allow(clippy::print_stdout)]

use s3rewind_engine::detect::{Budget, DetectOptions, ScanReport, scan};
use s3rewind_testkit::busy::{self, BusySpec};

fn main() {
    let mut cases: Vec<(String, BusySpec)> = Vec::new();
    for seed in 1..=5 {
        cases.push((
            format!("1,500 keys, 60% random bytes at new sizes (seed {seed})"),
            busy::issue24_new_sizes(seed),
        ));
        cases.push((
            format!("600 keys, 169 random at the same size (seed {seed})"),
            busy::issue24_same_size(seed, 600, 169),
        ));
        cases.push((
            format!("1,500 keys, 423 random at the same size (seed {seed})"),
            busy::issue24_same_size(seed, 1500, 423),
        ));
    }
    let options = DetectOptions::default();
    println!(
        "| bucket | versions | damaged | reads | judged | bad | found | start error | keys flagged | smallest budget | rules out |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (name, spec) in cases {
        let h = busy::busy(&spec);
        let truth = h.truth.as_ref().expect("an incident");
        let report = scan(&h.timeline, &options, Budget::Reads(1000), |w| {
            h.store.samples_for(w)
        });
        let hit = report
            .incidents
            .iter()
            .find(|i| i.start <= truth.end() && truth.start() <= i.end);
        let keys = truth.keys();
        let smallest = [25, 50, 100, 200, 400].into_iter().find(|&n| {
            let r = scan(&h.timeline, &options, Budget::Reads(n), |w| {
                h.store.samples_for(w)
            });
            r.incidents.iter().any(|i| i.start == truth.start())
        });
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            h.timeline.len(),
            keys.len(),
            report.stats.samples,
            report.stats.samples_judged,
            report.stats.samples_bad,
            if hit.is_some() { "yes" } else { "no" },
            hit.map_or("-".to_owned(), |i| format!(
                "{} s",
                (i.start - truth.start()).num_seconds()
            )),
            hit.map_or(0, |i| i
                .keys
                .iter()
                .filter(|k| keys.contains(k.key.as_str()))
                .count()),
            smallest.map_or("> 400".to_owned(), |n| n.to_string()),
            report
                .guarantee
                .as_ref()
                .and_then(|g| g.min_damaged)
                .map_or("-".to_owned(), |d| format!(
                    "{d} in {} s",
                    g_window(&report)
                )),
        );
    }
}

fn g_window(report: &ScanReport) -> i64 {
    report.guarantee.as_ref().map_or(0, |g| g.window_secs)
}
