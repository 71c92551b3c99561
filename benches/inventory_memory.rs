//! Peak memory of `s3rewind plan s3://bench --at TIME --inventory MANIFEST --output json`
//! on a report `gen-inventory DIR KEYS` wrote, run as the binary runs it (the command line
//! parsed, the App built on an in-memory endpoint, the binary's allocator and printer),
//! over a MemBucket that holds the report's own history (issue 25 §4).
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin inventory-memory -- DIR KEYS [--text] [--index FILE] > plan.json
//! ```
//!
//! Why a MemBucket: before anything is planned from a snapshot, s3rewind compares it with
//! the bucket's live objects (ListObjectsV2) and re-reads from the server every key the two
//! disagree on. Against an empty bench server that is every key of the report, one call
//! each. Here the bucket is built from the very entries the report was written from
//! (`SimBucket::insert_listed`: same version ids, ETags, sizes and times, no bytes), so
//! the cross-check agrees key for key, as it does on a real bucket and its own inventory.
//!
//! The plan's JSON goes to this process's stdout as the command writes it (redirect it);
//! the figures go to stderr: the bucket's own memory, then the command's peak resident
//! memory and peak live heap above the filled bucket (`cap::Cap` around mimalloc, sampled
//! every millisecond), and those per report row. `--text` runs the text output instead;
//! `--index FILE` first saves an index of the bucket from the report (`index s3://bench
//! --inventory … --out FILE`, measured too) and then plans from it (`plan --index FILE`).
//! Linux only.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use s3rewind::bucket::{MemStore, Op};
use s3rewind::testing::run_cmd_printing;
use s3rewind_benches::inventory_history::{self, entries_of};
use s3rewind_benches::mib;
use s3rewind_benches::{PeakWatch, proc_status as status};
use s3rewind_engine::{SimBucket, Versioning};
use std::path::PathBuf;
use std::time::Instant;

s3rewind_benches::counted_heap!();

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // As the binary does: no transparent huge pages (see `s3rewind::small_pages`).
    s3rewind::small_pages();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let text = args.iter().any(|a| a == "--text");
    let index = args
        .iter()
        .position(|a| a == "--index")
        .map(|i| args.get(i + 1).cloned().expect("--index FILE"));
    let pos: Vec<&String> = args
        .iter()
        .enumerate()
        .filter(|(i, a)| !a.starts_with("--") && (*i == 0 || args[i - 1] != "--index"))
        .map(|(_, a)| a)
        .collect();
    let (Some(dir), Some(keys)) = (pos.first(), pos.get(1).and_then(|k| k.parse::<u64>().ok()))
    else {
        eprintln!(
            "usage: inventory-memory DIR KEYS [--text] > plan.json (DIR and KEYS as given to gen-inventory)"
        );
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let manifest = inventory_history::manifest_in(&dir);
    if !manifest.is_file() {
        eprintln!(
            "no report at {}: write it first with gen-inventory {} {keys}",
            manifest.display(),
            dir.display()
        );
        std::process::exit(2);
    }

    let before = status("VmRSS:");
    let heap_before = live();
    let started = Instant::now();
    let mut sim = SimBucket::new(Versioning::Enabled, "unused");
    let mut entries = 0u64;
    for i in 0..keys {
        // Oldest first: each entry goes in as the newest of its key.
        for e in entries_of(i).into_iter().rev() {
            sim.insert_listed(e);
            entries += 1;
        }
    }
    let store = MemStore::new();
    store.insert("bench", sim);
    let filled = status("VmRSS:");
    let heap_mark = live();
    eprintln!(
        "filled {keys} keys, {entries} entries in {:.1} s; the bucket holds {} resident, {} of heap ({:.0} B per entry)",
        started.elapsed().as_secs_f64(),
        mib(filled.saturating_sub(before)),
        mib(heap_mark.saturating_sub(heap_before) as u64),
        heap_mark.saturating_sub(heap_before) as f64 / entries as f64
    );
    let heap = PeakWatch::start(live);
    let sort_dir = std::env::temp_dir().join(format!("inventory-memory-{}", std::process::id()));
    std::fs::create_dir_all(&sort_dir).expect("a temporary directory");
    let at = inventory_history::at().to_rfc3339();
    let manifest_text = manifest.to_string_lossy().into_owned();
    let sort_text = sort_dir.to_string_lossy().into_owned();
    let mut run = Run {
        store: &store,
        heap: &heap,
        filled,
        entries,
    };
    if let Some(file) = &index {
        run.measure(&[
            "--quiet",
            "--no-progress",
            "index",
            "s3://bench",
            "--inventory",
            &manifest_text,
            "--out",
            file,
            "--sort-dir",
            &sort_text,
        ])
        .await;
    }
    let mut argv = vec!["--quiet", "--no-progress"];
    if !text {
        argv.extend(["--output", "json"]);
    }
    argv.extend(["plan", "s3://bench", "--at", &at, "--sort-dir", &sort_text]);
    match &index {
        Some(file) => argv.extend(["--index", file]),
        None => argv.extend(["--inventory", &manifest_text]),
    }
    run.measure(&argv).await;
    let _ = std::fs::remove_dir_all(&sort_dir);
}

/// What one command is measured against: the filled bucket.
struct Run<'a> {
    store: &'a std::sync::Arc<MemStore>,
    heap: &'a PeakWatch,
    /// Resident memory with the bucket filled.
    filled: u64,
    /// The report's rows.
    entries: u64,
}

impl Run<'_> {
    /// Run `argv` as the binary would and print its time, requests and peaks above the
    /// filled bucket; exits with its code when it fails.
    async fn measure(&mut self, argv: &[&str]) {
        if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
            eprintln!("cannot reset the peak RSS mark ({e}): the peak below includes the fill");
        }
        self.heap.reset();
        let heap_mark = live();
        self.store.reset_requests();
        let started = Instant::now();
        let exit = run_cmd_printing(argv, self.store.endpoint(), None).await;
        let took = started.elapsed().as_secs_f64();
        let peak = status("VmHWM:").saturating_sub(self.filled);
        let peak_heap = self.heap.peak().saturating_sub(heap_mark) as u64;
        let requests = self.store.requests();
        let entries = self.entries as f64;
        eprintln!(
            "{} exited {exit} in {took:.1} s; requests: {} in all ({} ListObjectsV2, {} ListObjectVersions)",
            argv.iter()
                .skip_while(|a| !matches!(**a, "plan" | "index"))
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            requests.total(),
            requests.of(Op::ListObjects),
            requests.of(Op::List),
        );
        eprintln!(
            "peak resident {} above the filled bucket ({:.1} B per row); peak live heap {} above it ({:.1} B per row)",
            mib(peak),
            peak as f64 / entries,
            mib(peak_heap),
            peak_heap as f64 / entries
        );
        if exit != 0 {
            std::process::exit(exit.into());
        }
    }
}
