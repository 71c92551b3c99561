//! The buckets of issue 24, rebuilt in memory, scanned the way `s3rewind scan` does with
//! default options: does the default budget find the incident, and with how many reads?
//!
//! `cargo run --release -p s3rewind-engine --example busy_buckets`

#![allow(clippy::print_stdout)]

use s3rewind_engine::detect::{Budget, DetectOptions, scan};
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
        "| bucket | versions | damaged | reads | judged | bad | found | start error | keys flagged |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
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
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {} | {} |",
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
        );
        if let Some(g) = &report.guarantee {
            println!("|  | {} |", g.statement);
        }
    }
}
