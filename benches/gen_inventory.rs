//! Write a synthetic all-versions S3 Inventory report (CSV with gzip, or Parquet with
//! `--parquet`) for measuring `s3rewind plan --inventory`, and optionally check that it
//! gives the plan the listing rules give.
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin gen-inventory -- DIR [KEYS] [FILES] [SEED] [--parquet] [--check]
//! cargo run --release -p s3rewind-benches --bin gen-inventory -- DIR [KEYS] --check-only
//! ```
//!
//! The same arguments write the same rows in either format, into the same files.
//!
//! KEYS keys (default 600,000) get 1 to 9 entries each (about 5 on average: 3M
//! entries for the default), newest marked `IsLatest`, about 12% delete markers, with
//! distinct timestamps within a key. Each row goes to one of FILES data files (default
//! 8) chosen by a hash, and keys are written in a scrambled order, so every file is in
//! no key order and most keys are split over several files. The report is for bucket
//! `bench`; it prints the manifest's path and a TIME in the middle of the history.
//!
//! `--check` then reads the report back with the engine and compares its timeline and
//! the plan at that TIME with those built from the same entries in list order by the
//! listing path (split pages of 1,000, as the SDK gives them); `--check-only` checks a
//! report an earlier run wrote, without writing.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, Utc};
use s3rewind_benches::inventory_history::{self, entries_of, key_name};
use s3rewind_benches::mix;
use s3rewind_engine::inventory::{self, Format, SortOptions};
use s3rewind_engine::{
    Destination, Entry, ListPage, Location, PlanOptions, Timeline, TimelineBuilder, plan,
};
use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let check = args.iter().any(|a| a == "--check");
    let format = if args.iter().any(|a| a == "--parquet") {
        Format::Parquet
    } else {
        Format::Csv
    };
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let dir = PathBuf::from(
        pos.first()
            .expect("usage: gen-inventory DIR [KEYS] [FILES] [SEED] [--parquet] [--check]"),
    );
    let keys: u64 = pos.get(1).map_or(600_000, |s| s.parse().expect("KEYS"));
    let files: u64 = pos.get(2).map_or(8, |s| s.parse().expect("FILES"));
    let seed: u64 = pos.get(3).map_or(1, |s| s.parse().expect("SEED"));
    // A multiplier coprime to KEYS scrambles the key order (a bijection mod KEYS).
    let mut step = 1_000_003 % keys.max(1);
    while gcd(step, keys) != 1 {
        step += 1;
    }
    let at = inventory_history::at();
    let created = inventory_history::created();
    if args.iter().any(|a| a == "--check-only") {
        // The report written by an earlier run with the same KEYS.
        check_equal(&inventory_history::manifest_in(&dir), keys, at);
        return;
    }
    let started = Instant::now();
    let mut w = s3rewind_testkit::inventory::report_writer(
        format,
        &dir,
        "bench",
        "inventory/bench/all-versions/",
    );
    let mut rows = 0u64;
    for f in 0..files {
        w.new_file().unwrap();
        for n in 0..keys {
            let i = (n * step + seed) % keys;
            for (j, e) in entries_of(i).iter().enumerate() {
                if mix(i.wrapping_mul(31) ^ (j as u64) ^ seed.rotate_left(17)) % files == f {
                    w.write(e).unwrap();
                    rows += 1;
                }
            }
        }
    }
    let manifest = w.finish(created).unwrap();
    eprintln!(
        "wrote {rows} rows of {keys} keys over {files} {format:?} files in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("{}", manifest.display());
    println!("{}", at.to_rfc3339());
    if check {
        check_equal(&manifest, keys, at);
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

fn check_equal(manifest_path: &std::path::Path, keys: u64, at: DateTime<Utc>) {
    let started = Instant::now();
    let bytes = std::fs::read(manifest_path).unwrap();
    let sum = std::fs::read_to_string(manifest_path.with_file_name("manifest.checksum")).unwrap();
    let manifest = inventory::Manifest::parse(&bytes, Some(&sum)).unwrap();
    let spill = std::env::temp_dir();
    let loaded = inventory::load(&manifest, "", &SortOptions::new(spill), |f| {
        let p = inventory::local_file(manifest_path, f)?;
        Ok(Box::new(std::fs::File::open(p)?) as Box<dyn Read + Send>)
    })
    .unwrap();
    eprintln!(
        "inventory read: {} entries, {} runs spilled, {:.1} s",
        loaded.timeline.len(),
        loaded.spilled_runs,
        started.elapsed().as_secs_f64()
    );
    let from_inventory = loaded.timeline;
    // The listing path: every key in order, split pages of 1,000.
    let mut all: Vec<Entry> = Vec::new();
    let mut names: Vec<u64> = (0..keys).collect();
    names.sort_by_key(|i| key_name(*i));
    let mut b = TimelineBuilder::new();
    for i in names {
        all.extend(entries_of(i));
        if all.len() >= 1_000 {
            push_split(&mut b, std::mem::take(&mut all));
        }
    }
    push_split(&mut b, all);
    let listed: Timeline = b.finish();
    assert_eq!(listed.len(), from_inventory.len(), "entry counts differ");
    assert!(
        listed.keys() == from_inventory.keys(),
        "the timelines differ"
    );
    let options = PlanOptions::new(
        Location {
            bucket: "bench".into(),
            prefix: String::new(),
        },
        Destination::InPlace,
        at,
    );
    let p1 = plan(&listed.current(), &listed.state_at(at), &options);
    let p2 = plan(
        &from_inventory.current(),
        &from_inventory.state_at(at),
        &options,
    );
    assert_eq!(p1.actions, p2.actions, "the plans differ");
    eprintln!(
        "check: timelines and plans equal ({} actions: {} copies, {} delete markers)",
        p1.actions.len(),
        p1.stats.copies,
        p1.stats.delete_markers
    );
}

fn push_split(b: &mut TimelineBuilder, page: Vec<Entry>) {
    let (delete_markers, versions) = page.into_iter().partition(|e| e.version.delete_marker);
    b.push_page(ListPage {
        versions,
        delete_markers,
    })
    .unwrap();
}
