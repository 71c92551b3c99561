//! `batch reconcile`'s decision at scale: N tasks of one job, the job's completion report
//! (a row per task, in no particular order) and the destination's listing (each key's
//! copy and the version it replaced), decided as the command did before (every task,
//! row and history held, the engine's comparison run once) and as it does now (tasks and
//! rows sorted by key onto disk, the listing on disk, the comparison run a chunk of
//! tasks at a time: `s3rewind::batch::reconcile`). Prints the time and the peak live
//! heap above the start (issue 25 §4).
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin reconcile-memory -- [TASKS] --whole|--chunked
//! ```
//!
//! Not measured here: reading the plan (a plan file is read onto disk by `apply`'s
//! reader either way now), the journal lines written (a line at a time either way) and
//! the remaining plan (written from disk now, held before). Linux only.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, Utc};
use s3rewind::batch::reconcile::{RowsBuilder, Tasks, each_chunk};
use s3rewind::spill::Spilled;
use s3rewind_benches::{PeakWatch, aws_id, mib, mix, temp_bytes};
use s3rewind_engine::batch::reconcile::{Comparison, JobReport, Outcome, Task};
use s3rewind_engine::batch::report::ReportRow;
use s3rewind_engine::keys::encode_key;
use s3rewind_engine::timeline::KeyHistory;
use s3rewind_engine::{ETag, Entry, Timeline, Version, VersionId};
use std::collections::HashMap;
use std::time::Instant;

s3rewind_benches::counted_heap!();

fn key(k: u64) -> String {
    format!("data/{:04}/part {k:08}.bin", k % 1000)
}

/// The number in a key.
fn number(key: &str) -> u64 {
    key[key.len() - 12..key.len() - 4]
        .parse()
        .expect("a key of ours")
}

fn etag(k: u64) -> String {
    format!("{:016x}{:016x}", mix(k), mix(k + 1))
}

fn size(k: u64) -> u64 {
    mix(k) % 1_000_000
}

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000 + s, 0).expect("in range")
}

fn version(id: String, t: i64, k: u64) -> Version {
    Version {
        version_id: VersionId::new(&id),
        last_modified: at(t),
        delete_marker: false,
        etag: ETag::new(&etag(k)),
        size: size(k),
        storage_class: None,
        owner_id: None,
        is_latest: false,
    }
}

/// The keys in key order: by folder (`k % 1000`), then by `k`.
fn in_order(n: u64) -> impl Iterator<Item = u64> {
    (0..1000u64.min(n)).flat_map(move |m| (m..n).step_by(1000))
}

/// Key `k`'s listed history, newest first: the job's copy, then what it replaced.
fn history(k: u64) -> KeyHistory {
    KeyHistory {
        key: key(k),
        entries: vec![version(aws_id(k + 7), 100, k), version(aws_id(k + 9), 0, k)],
    }
}

fn task(k: u64) -> Task {
    Task {
        manifest: "manifest-STANDARD.csv".into(),
        key: key(k),
        source_version_id: aws_id(k),
        etag: etag(k),
        size: size(k),
    }
}

/// The report's rows in a fixed shuffled order (tasks complete in no order).
fn rows(n: u64) -> impl Iterator<Item = ReportRow> {
    let a = (0..)
        .map(|i| 7_919 + 2 * i)
        .find(|a| gcd(*a, n) == 1)
        .unwrap();
    (0..n).map(move |i| {
        let k = (i * a) % n;
        ReportRow {
            bucket: "src".into(),
            key: encode_key(&key(k)),
            version_id: aws_id(k),
            succeeded: true,
            error_code: None,
            http_status: Some(200),
            message: "Successful".into(),
        }
    })
}

fn job() -> JobReport {
    JobReport {
        job_id: "job-1".into(),
        status: "Complete".into(),
        created: at(50),
        manifest: Some("manifest-STANDARD.csv".into()),
        all_tasks: true,
        rows: Vec::new(),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n: u64 = args
        .iter()
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let whole = args.iter().any(|a| a == "--whole");
    let heap = PeakWatch::start(live);
    let mark = live();
    let started = Instant::now();
    let done = if whole {
        // As before: every task, row and history held; one comparison.
        let tasks: Vec<Task> = in_order(n).map(task).collect();
        let mut j = job();
        j.rows = rows(n).collect();
        let listing = Timeline::from_ordered(in_order(n).flat_map(|k| {
            history(k).entries.into_iter().map(move |version| Entry {
                key: key(k),
                version,
            })
        }))
        .expect("a listing in order");
        let jobs = [j];
        let settled = Comparison::new(&tasks, &jobs).settle(Some(&listing), "dst");
        settled
            .outcome
            .values()
            .filter(|o| matches!(o, Outcome::Done { .. }))
            .count() as u64
    } else {
        let mut copies = |keys: &[&str]| {
            Ok(keys
                .iter()
                .map(|k| {
                    let n = number(k);
                    (((*k).to_owned(), aws_id(n)), (etag(n), size(n)))
                })
                .collect::<HashMap<_, _>>())
        };
        let tasks = Tasks::read(
            in_order(n).map(|k| Ok(("manifest-STANDARD.csv".to_owned(), key(k), aws_id(k)))),
            &mut copies,
            |_, k, _| panic!("{k} is no copy"),
        )
        .expect("the tasks");
        let mut builder = RowsBuilder::new().expect("rows");
        for r in rows(n) {
            builder.add(0, &r).expect("a row");
        }
        let tied = builder.tie(&tasks).expect("tied");
        let mut listing = Spilled::<KeyHistory>::new().expect("a listing");
        let mut part = Vec::with_capacity(1000);
        for k in in_order(n) {
            part.push(history(k));
            if part.len() == 1000 {
                listing.push_part(&part, "the listing").expect("a part");
                part.clear();
            }
        }
        listing.push_part(&part, "the listing").expect("a part");
        listing.seal().expect("sealed");
        let mut done = 0u64;
        println!("temporary files: {}", mib(temp_bytes()));
        each_chunk(&tasks, &tied, &[job()], |c| {
            // The command's own step.
            let settled = c.settle(&listing, "dst")?;
            done += settled
                .outcome
                .values()
                .filter(|o| matches!(o, Outcome::Done { .. }))
                .count() as u64;
            Ok(())
        })
        .expect("the chunks");
        done
    };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(done, n, "every task's copy found");
    let peak = heap.peak().saturating_sub(mark) as u64;
    println!(
        "{} {n} tasks, rows and histories in {seconds:.1} s: every copy found; peak live heap {} ({:.1} B per task)",
        if whole {
            "held whole (as before):"
        } else {
            "a chunk at a time from disk:"
        },
        mib(peak),
        peak as f64 / n as f64
    );
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
