//! A resumed run's start at scale: reading a journal of N `done` lines by key (the
//! records sorted 65,536 at a time onto disk and merged into one list in key order,
//! `s3rewind::journal::by_key::DoneByKey`), then looking every key up in key order, a
//! listing part (1,000 keys) at a time, as a resumed restore does. Prints the time of each
//! step, the peak live heap and the temporary disk the list takes (issue 25 §4).
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin journal-by-key -- [LINES]
//! ```
//!
//! The journal (written first, not measured) records one copy per key of
//! `data/NNNN/part-NNNNNNNN.bin`, in a shuffled order (parallel copies complete in no
//! particular order), about 330 bytes a line. Linux only.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, Utc};
use s3rewind::journal::by_key::DoneByKey;
use s3rewind::journal::{Done, Line, Op};
use s3rewind_benches::{PeakWatch, mib, temp_bytes};
use std::io::Write;
use std::time::Instant;

s3rewind_benches::counted_heap!();

fn key(k: u64) -> String {
    format!("data/{:04}/part-{k:08}.bin", k % 1000)
}

fn main() {
    let lines: u64 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(10_000_000);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("journal.jsonl");
    let started = Instant::now();
    let time = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).expect("in range");
    {
        let mut w = std::io::BufWriter::new(std::fs::File::create(&path).expect("the journal"));
        // A fixed permutation: k -> k * A mod N with A prime to N.
        let a = (0..)
            .map(|i| 7_919 + 2 * i)
            .find(|a| gcd(*a, lines) == 1)
            .unwrap();
        for i in 0..lines {
            let k = (i * a) % lines;
            let d = Done {
                op: Op::Copy,
                bucket: "dst".into(),
                key: key(k),
                source_bucket: Some("src".into()),
                source_key: Some(key(k)),
                source_version_id: Some(format!(
                    "3HL4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY+MTRCxf3vjVBH40Nr8X8gdRQBpUMLUo{k}"
                )),
                previous_version_id: Some(format!("prev{k}")),
                new_version_id: format!("Rb9pKQ4vZxw1mT7nGq2cYs8LdHfE3uJa{k}"),
                etag: None,
                size: None,
                time,
            };
            serde_json::to_writer(&mut w, &Line::Done(d)).expect("a line");
            w.write_all(b"\n").expect("a line");
        }
        w.flush().expect("the journal");
    }
    let bytes = std::fs::metadata(&path).map_or(0, |m| m.len());
    println!(
        "wrote a journal of {lines} done lines ({}) in {:.1} s",
        mib(bytes),
        started.elapsed().as_secs_f64()
    );
    let heap = PeakWatch::start(live);
    let mark = live();
    let started = Instant::now();
    let mut by_key = DoneByKey::read_with(&path, |l| {
        Ok(match l {
            Line::Done(d) => Some(d),
            _ => None,
        })
    })
    .expect("read by key");
    let read = started.elapsed().as_secs_f64();
    let read_peak = heap.peak().saturating_sub(mark);
    assert_eq!(by_key.records(), lines);
    let tmp = temp_bytes();
    let started = Instant::now();
    let mut found = 0u64;
    let mut part: Vec<String> = Vec::with_capacity(1000);
    // Key order: by `k % 1000` (the folder), then by `k` (zero-padded).
    let mut in_order = (0..1000u64.min(lines)).flat_map(|m| (m..lines).step_by(1000));
    loop {
        part.clear();
        part.extend(in_order.by_ref().take(1000).map(key));
        if part.is_empty() {
            break;
        }
        let keys: Vec<&str> = part.iter().map(String::as_str).collect();
        found += by_key.known_copies_of(&keys).expect("a lookup").len() as u64;
    }
    let looked = started.elapsed().as_secs_f64();
    assert_eq!(found, lines, "every key's copy found");
    println!(
        "read by key in {read:.1} s ({:.2} µs a line); peak live heap while reading {}; temporary files {}",
        read * 1e6 / lines as f64,
        mib(read_peak as u64),
        mib(tmp)
    );
    println!(
        "looked up every key, 1,000 at a time in key order, in {looked:.1} s ({:.2} µs a key); peak live heap over both {}",
        looked * 1e6 / lines as f64,
        mib(heap.peak().saturating_sub(mark) as u64)
    );
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}
