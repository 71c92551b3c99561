//! A watched index at scale: the watcher's memory, and a plan from the index plus its log.
//!
//! ```text
//! cargo build --release -p s3rewind-benches
//! target/release/watch-scale gen DIR [VERSIONS] [EVENTS]   # default 10,000,000 and 1,000,000
//! target/release/watch-scale load DIR
//! target/release/watch-scale phases DIR                     # where load's time goes
//! ```
//!
//! `gen` writes DIR/w.idx, a watched index of VERSIONS versions over VERSIONS/10 keys (ten
//! each, 43-byte keys, 32-character version ids, MD5 ETags), and DIR/w.idx.events, its log:
//! EVENTS new-version events (AWS shape: version id, sequencer, ETag, size) on keys drawn
//! at random, one millisecond apart after the baseline.
//!
//! `load` (a separate process, so the generator's memory is not counted) does what a
//! watcher does at start and holds while it follows the bucket, and what `plan --index`
//! does before its cross-check: reads the index, folds the log over it
//! (`s3rewind::watch::load`), then builds the timeline with the log folded in
//! (`Watch::into_timeline_under`) and plans a restore to the middle of the events (the
//! engine's `plan`: the current state against the state at T). Prints each phase's time
//! and the resident memory (peak and after each phase). Linux only (`/proc/self/status`).
//! Built with the binary's allocator (mimalloc). Not included: `plan`'s cross-check against the live bucket (one ListObjectsV2 pass: 1 call
//! per 1,000 current objects, 1,000 calls here) and its printing.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

// The s3rewind binary's allocator, so that the figures are the watcher's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_benches::mib;
use s3rewind_benches::proc_status as status;
use s3rewind_benches::{aws_id, mix};
use s3rewind_engine::watch::{Begin, Event, EventKind, OrderBy, Record, Sequencer, Window};
use s3rewind_engine::{Destination, Entry, Location, PlanOptions, TimelineBuilder, Version, plan};
use std::path::Path;
use std::time::Instant;

fn key_name(k: u64) -> String {
    format!(
        "data/2025/11/{:02}/part-{:08}-of-4096.parquet",
        k % 28 + 1,
        k / 28
    )
}

fn base() -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_750_000_000, 0).expect("in range")
}

fn generate(dir: &Path, versions: u64, events: u64) {
    let started = Instant::now();
    let keys = (versions / 10).max(1);
    let mut names: Vec<String> = (0..keys).map(key_name).collect();
    names.sort();
    let mut b = TimelineBuilder::new();
    for (k, name) in names.iter().enumerate() {
        for i in 0..10u64 {
            let h = mix(((k as u64) << 4) | i);
            b.push_entry(Entry {
                key: name.clone(),
                version: Version {
                    version_id: aws_id(h).as_str().into(),
                    last_modified: base() - TimeDelta::seconds(i as i64 * 60 + (h % 50) as i64),
                    delete_marker: false,
                    etag: format!("{:016x}{:016x}", mix(h), mix(h ^ 1))
                        .as_str()
                        .into(),
                    size: 1024 + h % 65536,
                    storage_class: None,
                    owner_id: None,
                    is_latest: i == 0,
                },
            })
            .expect("keys in order, newest first");
        }
    }
    let timeline = b.finish();
    let read = Window {
        start: base(),
        end: base() + TimeDelta::seconds(1),
    };
    let begin = Begin::new("bench", "", read.end, read, OrderBy::Sequencer);
    let after = read.end + TimeDelta::seconds(10);
    let records: Vec<Record> = (0..events)
        .map(|i| {
            let h = mix(i ^ 0xE7E7);
            Record::Event(Event {
                key: names[(h % keys) as usize].clone(),
                kind: EventKind::Created,
                version_id: Some(aws_id(h ^ 0x5555).as_str().into()),
                sequencer: Sequencer::parse(&format!("{:016X}", 1_000_000 + i)),
                time: after + TimeDelta::milliseconds(i as i64),
                etag: format!("{:016x}{:016x}", mix(h ^ 2), mix(h ^ 3))
                    .as_str()
                    .into(),
                size: 2048,
                name: "ObjectCreated:Put".into(),
            })
        })
        .collect();
    s3rewind::watch::create(&dir.join("w.idx"), &begin, &timeline, &records)
        .unwrap_or_else(|e| panic!("{}", e.message));
    let size = |p: &str| std::fs::metadata(dir.join(p)).map(|m| m.len()).unwrap_or(0);
    println!(
        "wrote {} versions of {keys} keys and {events} events in {:.1} s: index {}, log {}",
        timeline.len(),
        started.elapsed().as_secs_f64(),
        mib(size("w.idx")),
        mib(size("w.idx.events"))
    );
}

/// The phases of `s3rewind::watch::load`, timed one by one (a second read, for the
/// breakdown only): the log parsed alone, the index read, and the log folded over it as
/// it is read (its parsing included).
fn phases(dir: &Path) {
    use s3rewind_engine::watch::{Watch, fold_log, read_begin, read_log};
    let open = |name: &str| {
        std::io::BufReader::with_capacity(
            1 << 16,
            std::fs::File::open(dir.join(name)).expect("the file"),
        )
    };
    let t = Instant::now();
    let log = read_log(open("w.idx.events")).expect("a log");
    let log_s = t.elapsed().as_secs_f64();
    drop(log);
    let t = Instant::now();
    let (_, base) = s3rewind_engine::index::read_index(open("w.idx"), "").expect("an index");
    let index_s = t.elapsed().as_secs_f64();
    let (begin, _, rest) = read_begin(open("w.idx.events")).expect("a Begin line");
    let mut w = Watch::new(begin, base);
    let t = Instant::now();
    fold_log(rest, &mut w).expect("the log folds");
    println!(
        "phases: the log parsed {log_s:.2} s, the index read {index_s:.2} s, the log parsed and folded {:.2} s",
        t.elapsed().as_secs_f64()
    );
}

fn load(dir: &Path) {
    let rss0 = status("VmRSS:");
    let t = Instant::now();
    let mut loaded = s3rewind::watch::load(&dir.join("w.idx"), "", false)
        .unwrap_or_else(|e| panic!("{}", e.message));
    let load_s = t.elapsed().as_secs_f64();
    let rss_loaded = status("VmRSS:");
    let stats = loaded.watch.stats().clone();
    let touched = loaded.watch.touched();
    // What `watch --alert` detects over at the end of a bin: the timeline on loan.
    let t = Instant::now();
    let (lent_entries, rss_lent) = {
        let lent = loaded.watch.lend_timeline();
        (lent.len(), status("VmRSS:"))
    };
    let lend_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let timeline = loaded.watch.into_timeline_under("");
    let fold_s = t.elapsed().as_secs_f64();
    let at = base() + TimeDelta::seconds(11) + TimeDelta::milliseconds(stats.events as i64 / 2);
    let t = Instant::now();
    let place = Location {
        bucket: "bench".into(),
        prefix: String::new(),
    };
    let current = timeline.current();
    let current_s = t.elapsed().as_secs_f64();
    let target = timeline.state_at(at);
    let target_s = t.elapsed().as_secs_f64() - current_s;
    let p = plan(
        &current,
        &target,
        &PlanOptions::new(place, Destination::InPlace, at),
    );
    let plan_s = t.elapsed().as_secs_f64();
    let versions = timeline.len() as u64;
    println!(
        "read the index and folded {} events ({} keys touched): {load_s:.2} s; resident {} ({:.1} B per version)",
        stats.events,
        touched,
        mib(rss_loaded - rss0),
        (rss_loaded - rss0) as f64 / versions as f64
    );
    println!(
        "the timeline lent for detection ({lent_entries} entries) and given back: {lend_s:.2} s, {} above the watch",
        mib(rss_lent.saturating_sub(rss_loaded))
    );
    println!(
        "timeline with the log folded in ({versions} entries): {fold_s:.2} s; plan to T (the middle of the events): {plan_s:.2} s ({current_s:.2} s the current state, {target_s:.2} s the state at T), {} actions",
        p.actions.len()
    );
    println!(
        "total {:.2} s; peak resident {}",
        load_s + fold_s + plan_s,
        mib(status("VmHWM:"))
    );
}

fn main() {
    // As the binary does (the same allocator, the same pages).
    s3rewind::small_pages();
    let args: Vec<String> = std::env::args().collect();
    let nums: Vec<u64> = args.iter().skip(3).filter_map(|a| a.parse().ok()).collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("gen"), Some(dir)) => generate(
            Path::new(dir),
            nums.first().copied().unwrap_or(10_000_000),
            nums.get(1).copied().unwrap_or(1_000_000),
        ),
        (Some("load"), Some(dir)) => load(Path::new(dir)),
        (Some("phases"), Some(dir)) => phases(Path::new(dir)),
        _ => {
            eprintln!("usage: watch-scale gen DIR [VERSIONS] [EVENTS] | watch-scale load DIR");
            std::process::exit(2);
        }
    }
}
