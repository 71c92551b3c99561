//! Peak memory of the commands that list a whole range and print what they found, run as
//! the binary runs them (the command line parsed, the App built on an in-memory
//! endpoint, the result written to this process's stdout as it is produced) over a large
//! MemBucket (issue 25 §4, "output that streams"):
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin listing-memory -- [KEYS] --ls|--diff|--remove-markers|--history|--verify|--verify-now > /dev/null
//! ```
//!
//! KEYS keys (default 1,000,000) are written before T; half of them are overwritten
//! after T and a quarter deleted after T.
//!
//! - `--ls`: `ls s3://src --at T --output json` (KEYS objects listed);
//! - `--diff`: `diff s3://src --from T --to NOW --output json` (KEYS/2 changed, KEYS/4
//!   deleted);
//! - `--remove-markers`: `undelete s3://src --remove-delete-markers --yes --output json`
//!   (KEYS/4 keys brought back, one marker removed each);
//! - `--history`: `history s3://src/data --output json`, a "key" every key starts with
//!   (it has no entry: the command lists them all and exits 3 naming the first three);
//! - `--verify`: `verify s3://src --at T --output json` in place (3/4 of the keys differ
//!   from T: the report names each); `--verify-now`: the same at NOW (nothing differs,
//!   the verification after a good restore).
//!
//! The source is filled first, the peak marks are reset, then the command runs. Its
//! figures go to stderr (stdout is the command's document: send it to `/dev/null`):
//! the source's own memory per version, and the command's peak live heap and peak
//! resident memory above the filled source, whole and per key. Linux only.

// A measuring program: its figures are its output.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, TimeDelta, Utc};
use s3rewind::bucket::MemStore;
use s3rewind::testing::run_cmd_printing;
use s3rewind_benches::{PeakWatch, mib, proc_status as status};
use s3rewind_engine::{SimBucket, Versioning};
use std::time::Instant;

s3rewind_benches::counted_heap!();

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u64 = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let mode = [
        "--ls",
        "--diff",
        "--remove-markers",
        "--history",
        "--verify",
        "--verify-now",
    ]
        .into_iter()
        .find(|m| args.iter().any(|a| a == m))
        .unwrap_or_else(|| {
            eprintln!(
                "usage: listing-memory [KEYS] --ls|--diff|--remove-markers|--history|--verify|--verify-now > /dev/null"
            );
            std::process::exit(2)
        });

    let before = status("VmRSS:");
    let started = Instant::now();
    let base = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).expect("in range");
    let at = base + TimeDelta::seconds(100);
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let mut versions = 0u64;
    for k in 0..keys {
        let key = format!("data/{:04}/part-{k:08}.bin", k % 1000);
        sim.put(
            &key,
            &k.to_le_bytes(),
            base + TimeDelta::seconds((k % 50) as i64),
        );
        versions += 1;
        if k % 2 == 1 {
            sim.put(&key, b"damaged", at + TimeDelta::seconds(10));
            versions += 1;
        } else if k % 4 == 0 {
            sim.delete(&key, at + TimeDelta::seconds(10));
            versions += 1;
        }
    }
    let store = MemStore::new();
    store.insert("src", sim);
    let filled = status("VmRSS:");
    eprintln!(
        "filled {keys} keys ({versions} versions and delete markers) in {:.1} s; the source holds {} ({:.0} B per entry)",
        started.elapsed().as_secs_f64(),
        mib(filled.saturating_sub(before)),
        filled.saturating_sub(before) as f64 / versions as f64
    );
    let dir = std::env::temp_dir().join(format!("listing-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let journal = dir.join("journal.jsonl").to_string_lossy().into_owned();
    let at_text = at.to_rfc3339();
    let now = Utc::now().to_rfc3339();
    // Every command writes its JSON document, with no progress drawn.
    let mut argv: Vec<&str> = vec!["--output", "json", "--no-progress"];
    argv.extend(match mode {
        "--ls" => vec!["ls", "s3://src", "--at", &at_text],
        "--diff" => vec!["diff", "s3://src", "--from", &at_text, "--to", &now],
        "--verify" => vec!["verify", "s3://src", "--at", &at_text],
        "--verify-now" => vec!["verify", "s3://src", "--at", &now],
        "--history" => vec!["history", "s3://src/data"],
        _ => vec![
            "undelete",
            "s3://src",
            "--remove-delete-markers",
            "--yes",
            "--journal",
            &journal,
        ],
    });
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak RSS mark ({e}): the peak below includes the fill");
    }
    store.reset_requests();
    let heap = PeakWatch::start(live);
    let mark = live();
    let started = Instant::now();
    let exit = run_cmd_printing(&argv, store.endpoint(), None).await;
    let ran = started.elapsed().as_secs_f64();
    let peak = status("VmHWM:").saturating_sub(filled);
    let peak_heap = heap.peak().saturating_sub(mark) as u64;
    // A diff or a verification that finds differences exits 1; `history` of a key that is
    // only a prefix of the others, 3.
    let expected = match mode {
        "--diff" | "--verify" => 1,
        "--history" => 3,
        _ => 0,
    };
    assert_eq!(exit, expected, "exit");
    eprintln!(
        "{} over {keys} keys in {ran:.1} s (exit {exit}); {} requests",
        argv[3..]
            .join(" ")
            .replace(&at_text, "T")
            .replace(&now, "NOW")
            .replace(&journal, "J"),
        store.requests().total()
    );
    eprintln!(
        "peak live heap {} above the filled source ({:.1} B per key); peak resident {} above it ({:.1} B per key)",
        mib(peak_heap),
        peak_heap as f64 / keys as f64,
        mib(peak),
        peak as f64 / keys as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
