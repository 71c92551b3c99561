//! Peak memory and speed of a restore over a large in-memory bucket (MemBucket), streamed
//! (the default) or from the whole timeline (`--whole`, how restores worked before).
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin membucket-restore -- [VERSIONS] [DIFFERING] [--whole]
//! ```
//!
//! VERSIONS (default 10,000,000) versions over VERSIONS/10 keys, ten each; DIFFERING keys
//! (default 100,000) are overwritten once after T, so the restore to T copies exactly
//! those back. The bucket is filled first; then the peak-RSS mark is reset
//! (`/proc/self/clear_refs`) and the restore runs as the CLI runs it: the listing
//! (pages of 1,000, 8 streams) feeds the planner, then the one runner copies (16 at
//! once). Prints the bucket's own memory, the restore's peak above it, listed versions
//! per second and requests by operation. Linux only.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, TimeDelta, Utc};
use s3rewind::bucket::Bucket;
use s3rewind::bucket::{MemStore, Op};
use s3rewind::execute::{Buckets, ExecConfig, run_plan};
use s3rewind::output::{OutputFormat, Printer};
use s3rewind_engine::StreamPlanner;
use s3rewind_engine::select::KeySelection;
use s3rewind_engine::{Destination, Location, PlanOptions, SimBucket, Timeline, Versioning, plan};
use std::sync::Arc;
use std::time::Instant;

use s3rewind_benches::mib;
use s3rewind_benches::proc_status as status;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: the benchmark's scenario built, run and reported in order.
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let whole = args.iter().any(|a| a == "--whole");
    let nums: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    let versions = nums.first().copied().unwrap_or(10_000_000);
    let differing = nums.get(1).copied().unwrap_or(100_000);
    let keys = versions / 10;
    assert!(differing <= keys, "DIFFERING must be at most VERSIONS/10");

    // Fill: nine versions of every key, a tenth before T for most keys and after T for
    // every (keys/differing)-th key.
    let started = Instant::now();
    let base = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).expect("in range");
    let at = base + TimeDelta::seconds(20);
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let step = keys / differing.max(1);
    for k in 0..keys {
        let key = format!("data/{:04}/part-{k:08}.bin", k % 1000);
        for i in 0..9 {
            sim.put(
                &key,
                &(k * 16 + i).to_le_bytes(),
                base + TimeDelta::seconds(i as i64),
            );
        }
        let damaged = differing > 0 && k % step == 0 && k / step < differing;
        let when = if damaged {
            at + TimeDelta::seconds(5)
        } else {
            at
        };
        sim.put(&key, b"damaged!", when);
    }
    let store = MemStore::new();
    let bucket: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
    let filled = status("VmRSS:");
    println!(
        "filled {versions} versions over {keys} keys in {:.1} s; the bucket holds {}",
        started.elapsed().as_secs_f64(),
        mib(filled)
    );
    // Reset the peak-RSS mark: what follows is the restore's.
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak RSS mark ({e}): the peak below includes the fill");
    }
    store.reset_requests();

    let printer = Printer::new(OutputFormat::Text, true, true);
    let options = PlanOptions::new(
        Location {
            bucket: "src".into(),
            prefix: String::new(),
        },
        Destination::InPlace,
        at,
    );
    let filter = KeySelection::default().filter().expect("no selection");
    // By folder, as on a server that serves calls in parallel (the in-memory bucket does).
    let streams = s3rewind::listing::Streams::new(8, s3rewind::listing::Split::Folders);
    let started = Instant::now();
    let p = if whole {
        let tl: Timeline = s3rewind::listing::list_bucket(&bucket, &printer, "", 1000, streams)
            .await
            .expect("listing");
        let mut p = plan(&tl.current(), &tl.state_at(at), &options);
        p.stats.versions_now = tl.len() as u64;
        p
    } else {
        let mut planner = StreamPlanner::new(&options, &filter, None);
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Timeline>(4);
        let listing = s3rewind::listing::stream_bucket(&bucket, &printer, "", 1000, streams, tx);
        let consume = async {
            while let Some(part) = rx.recv().await {
                planner.part(part);
            }
        };
        let (listed, ()) = tokio::join!(listing, consume);
        listed.expect("listing");
        let (mut p, _, seen) = planner.finish();
        p.stats.versions_now = seen.versions;
        p
    };
    let planned = started.elapsed().as_secs_f64();
    let listed = store.requests().of(Op::List);
    println!(
        "{}: listed and planned {versions} versions in {planned:.1} s ({:.0} versions/s, {listed} listing calls): {} copies, {} delete markers",
        if whole { "whole timeline" } else { "streamed" },
        versions as f64 / planned,
        p.stats.copies,
        p.stats.delete_markers
    );
    assert_eq!(
        p.stats.copies, differing,
        "the restore copies the damaged keys"
    );
    let config = ExecConfig {
        concurrency: 16,
        attempts: 3,
        conditional: true,
        throttle_pause: std::time::Duration::ZERO,
        ..ExecConfig::default()
    };
    let buckets = Buckets {
        src: bucket.clone(),
        dst: bucket,
        separate: false,
    };
    let started = Instant::now();
    let report = run_plan(buckets, &p, &config, None, &printer, None).await;
    let ran = started.elapsed().as_secs_f64();
    assert!(report.complete(), "{report:?}");
    let r = store.requests();
    println!(
        "executed {} copies in {ran:.1} s; requests: {} list, {} copy, {} head, {} in all ({:.3} per copied key)",
        report.copied,
        r.of(Op::List),
        r.of(Op::Copy),
        r.of(Op::Head),
        r.total(),
        r.total() as f64 / report.copied.max(1) as f64
    );
    let peak = status("VmHWM:");
    println!(
        "peak resident memory during the restore: {} ({} above the filled bucket)",
        mib(peak),
        mib(peak.saturating_sub(filled))
    );
}
