//! Peak memory of `s3rewind restore` into an empty bucket or in place, run as the binary
//! runs it (the command line parsed, the App built on an in-memory endpoint), over a
//! large MemBucket: what the restore holds per planned action (issue 25 §4).
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin restore-memory -- [KEYS] [--verify|--copies-only] [--in-place|--half-done|--plan-apply|--undelete|--undo] [--resumed]
//! ```
//!
//! `--half-done`: the destination already holds every other key's copy (a resumed
//! restore): its state is listed first and looked up on disk; the other half are the
//! actions, planned whole (on disk) before the first write.
//!
//! `--plan-apply`: in place, as `plan --out FILE` (its peak printed first) and then
//! `apply FILE --yes`, the command measured.
//!
//! `--drill-sample`: `drill s3://src --at T --scratch s3://dst/ --sample 1%`, which plans
//! the whole range first and then copies and verifies the sample (1% of KEYS actions);
//! with `--html` also `--report drill.html`, whose chart of the source's activity reads
//! the source range once more.
//!
//! `--undo`: a restore in place (every key damaged after T) runs first, and `undo` of its
//! journal (KEYS copies back to the damaged versions, each read with a HEAD) is measured.
//!
//! `--resumed` (with `--in-place` or `--plan-apply`): the command first runs with
//! `--max-bytes` at half the bytes to copy, stops cleanly (exit 4) with about half the
//! actions journaled, and the same command run again, which resumes from that journal,
//! is the one measured.
//!
//! `--undelete`: each key is deleted after T (a mass delete), and `undelete s3://src
//! --yes` copies every last version back (KEYS actions).
//!
//! `--in-place`: each key is also overwritten after T, and the restore runs in place
//! (`--yes`): KEYS copies onto the source's own keys, planned whole before the first
//! write (the plan on disk, read back by the runner), not written as the listing goes.
//!
//! `--copies-only` makes the same copies straight through the `Bucket` trait, one after
//! another, with no listing, plan, runner or journal: what the destination bucket itself
//! grows by. The restore's own memory is its peak less that run's.
//!
//! KEYS keys (default 1,000,000), one version each written before T, are restored to T
//! into an empty bucket: KEYS copy actions, written as the listing goes (the streamed
//! path). Without `--verify` the command runs with `--no-verify`. The source is filled
//! first, the peak-RSS mark is reset (`/proc/self/clear_refs`), then the command runs.
//! Printed: the source's own memory and bytes per version (what the destination gains
//! for each copy, the same entries), the peak above the filled source, and that peak less
//! the destination's growth: the restore's own, per action. Linux only.

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{DateTime, TimeDelta, Utc};
use s3rewind::bucket::{CopyRequest, Head, MemStore, Op};
use s3rewind::testing::run_cmd;
use s3rewind_engine::{SimBucket, Versioning};
use std::time::Instant;

use s3rewind_benches::PeakWatch;
use s3rewind_benches::mib;
use s3rewind_benches::proc_status as status;

s3rewind_benches::counted_heap!();

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // As the binary does: no transparent huge pages (see `s3rewind::small_pages`).
    s3rewind::small_pages();
    let args: Vec<String> = std::env::args().collect();
    let verify = args.iter().any(|a| a == "--verify");
    let copies_only = args.iter().any(|a| a == "--copies-only");
    // --plan-apply: in place, as `plan --out FILE` then `apply FILE --yes`.
    let plan_apply = args.iter().any(|a| a == "--plan-apply");
    // --undelete: every key deleted after T (a mass delete), brought back by `undelete`.
    let undelete = args.iter().any(|a| a == "--undelete");
    // --undo: a restore in place, then `undo` of its journal (the run measured).
    let undo = args.iter().any(|a| a == "--undo");
    // --denied: into the empty destination, every copy refused (403 AccessDenied).
    let denied = args.iter().any(|a| a == "--denied");
    // --drill-sample: a sampled drill into the empty destination (the run measured).
    let drill_sample = args.iter().any(|a| a == "--drill-sample");
    // With --drill-sample: also write the HTML report (its chart reads the source again).
    let html = drill_sample && args.iter().any(|a| a == "--html");
    let in_place = plan_apply || undelete || undo || args.iter().any(|a| a == "--in-place");
    let half_done = !in_place && args.iter().any(|a| a == "--half-done");
    // --resumed: stopped halfway by --max-bytes, then run again (the run measured).
    let resumed = in_place && !undelete && args.iter().any(|a| a == "--resumed");
    // Where the copies go: in place, onto the source's own keys.
    let dest = if in_place { "src" } else { "dst" };
    let keys: u64 = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);

    let before = status("VmRSS:");
    let started = Instant::now();
    let base = DateTime::<Utc>::from_timestamp(1_750_000_000, 0).expect("in range");
    let at = base + TimeDelta::seconds(100);
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    for k in 0..keys {
        let key = format!("data/{:04}/part-{k:08}.bin", k % 1000);
        sim.put(
            &key,
            &k.to_le_bytes(),
            base + TimeDelta::seconds((k % 50) as i64),
        );
        if undelete {
            // Deleted after T: undelete copies the last version back on top.
            sim.delete(&key, at + TimeDelta::seconds(10));
        } else if in_place {
            // Damaged after T: the restore copies the version before back on top.
            sim.put(&key, b"damaged", at + TimeDelta::seconds(10));
        }
    }
    let store = MemStore::new();
    store.insert("src", sim);
    // --half-done: the destination already holds every other key's copy, as a resumed
    // restore finds it; the rest are the actions.
    let mut done = SimBucket::new(Versioning::Enabled, "w");
    let mut prefilled = 0u64;
    for k in (0..keys).filter(|k| half_done && k % 2 == 0) {
        let key = format!("data/{:04}/part-{k:08}.bin", k % 1000);
        done.put(&key, &k.to_le_bytes(), at + TimeDelta::seconds(1));
        prefilled += 1;
    }
    store.insert("dst", done);
    let versions_filled = keys * if in_place { 2 } else { 1 } + prefilled;
    let actions = keys - prefilled;
    // For --copies-only: the source versions to copy, read before the peak is reset.
    let versions: Vec<(String, String)> = if copies_only {
        store.with("src", |s| {
            s.list_documents("", i32::MAX as usize)
                .into_iter()
                .flatten()
                .filter(|e| e.version.last_modified <= at)
                .map(|e| (e.key, e.version.version_id.to_string()))
                .collect()
        })
    } else {
        Vec::new()
    };
    let filled = status("VmRSS:");
    let per_version = filled.saturating_sub(before) as f64 / versions_filled as f64;
    println!(
        "filled {keys} keys in {:.1} s; the source holds {} ({per_version:.0} B per version)",
        started.elapsed().as_secs_f64(),
        mib(filled.saturating_sub(before))
    );
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak RSS mark ({e}): the peak below includes the fill");
    }
    // The request log emptied before the mark: what it held is not the command's.
    store.reset_requests();
    let heap = PeakWatch::start(live);
    let mut heap_mark = live();

    if copies_only {
        let dst = store.endpoint().bucket(dest);
        let head = Head::default();
        let started = Instant::now();
        for (key, version_id) in &versions {
            dst.copy(&CopyRequest::plain("src", key, version_id, key, &head))
                .await
                .expect("a copy");
        }
        let peak = status("VmHWM:");
        let peak_heap = heap.peak();
        println!(
            "{} copies straight through the Bucket trait in {:.1} s: peak resident {} above the filled source; peak live heap {} above it",
            versions.len(),
            started.elapsed().as_secs_f64(),
            mib(peak.saturating_sub(filled)),
            mib(peak_heap.saturating_sub(heap_mark) as u64)
        );
        return;
    }
    let dir = std::env::temp_dir().join(format!("restore-memory-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let journal = dir.join("journal.jsonl");
    let at_text = at.to_rfc3339();
    let journal_text = journal.to_string_lossy().into_owned();
    let undo_journal = dir.join("undo.jsonl").to_string_lossy().into_owned();
    let plan_file = dir.join("plan.json").to_string_lossy().into_owned();
    let report_html = dir.join("drill.html").to_string_lossy().into_owned();
    if plan_apply {
        let started = Instant::now();
        let argv = [
            "--quiet", "plan", "s3://src", "--at", &at_text, "--out", &plan_file,
        ];
        let out = run_cmd(&argv, store.endpoint(), None).await;
        assert_eq!(out.exit, 0, "{}\n{}", out.stdout, out.stderr);
        let bytes = std::fs::metadata(&plan_file).map_or(0, |m| m.len());
        let peak_heap = heap.peak().saturating_sub(heap_mark) as u64;
        println!(
            "plan --out of {keys} actions in {:.1} s: a {} file; the plan command's peak live heap {}, {:.1} B per action",
            started.elapsed().as_secs_f64(),
            mib(bytes),
            mib(peak_heap),
            peak_heap as f64 / keys as f64
        );
        store.reset_requests();
        heap.reset();
        heap_mark = live();
    }
    let mut argv = vec![
        "--quiet",
        "restore",
        "s3://src",
        "--at",
        &at_text,
        "--concurrency",
        "64",
        "--journal",
        &journal_text,
    ];
    if drill_sample {
        argv = vec![
            "--quiet",
            "drill",
            "s3://src",
            "--at",
            &at_text,
            "--scratch",
            "s3://dst/",
            "--sample",
            "1%",
            "--sample-seed",
            "7",
            "--concurrency",
            "64",
            "--journal",
            &journal_text,
        ];
        if html {
            argv.extend(["--report", &report_html]);
        }
    } else if undelete {
        argv = vec![
            "--quiet",
            "undelete",
            "s3://src",
            "--concurrency",
            "64",
            "--journal",
            &journal_text,
            "--yes",
        ];
    } else if plan_apply {
        argv = vec![
            "--quiet",
            "apply",
            &plan_file,
            "--concurrency",
            "64",
            "--journal",
            &journal_text,
            "--yes",
        ];
    } else if in_place {
        argv.push("--yes");
    } else {
        argv.extend(["--to", "s3://dst/"]);
    }
    if !verify && !undelete && !undo && !drill_sample {
        argv.push("--no-verify");
    }
    // Each source version is 8 bytes: a cap at half of them stops the first run halfway.
    let half_bytes = (keys * 8 / 2).to_string();
    let mut journaled = 0u64;
    if resumed {
        let mut first = argv.clone();
        first.extend(["--max-bytes", &half_bytes]);
        let out = run_cmd(&first, store.endpoint(), None).await;
        assert_eq!(out.exit, 4, "{}\n{}", out.stdout, out.stderr);
        journaled = std::fs::read_to_string(&journal)
            .expect("the stopped run's journal")
            .lines()
            .filter(|l| l.contains("\"type\":\"done\""))
            .count() as u64;
        println!(
            "the first run stopped at --max-bytes {half_bytes}: {journaled} actions journaled"
        );
        store.reset_requests();
        heap.reset();
        heap_mark = live();
    }
    if undo {
        let mut first = argv.clone();
        first.push("--no-verify");
        let out = run_cmd(&first, store.endpoint(), None).await;
        assert_eq!(out.exit, 0, "{}\n{}", out.stdout, out.stderr);
        journaled = keys;
        println!("the restore in place copied {keys} keys back; its undo follows");
        argv = vec![
            "--quiet",
            "undo",
            &journal_text,
            "--concurrency",
            "64",
            "--journal",
            &undo_journal,
            "--yes",
        ];
        store.reset_requests();
        heap.reset();
        heap_mark = live();
    }
    let actions = actions - if undo { 0 } else { journaled };
    if denied {
        // Every copy refused (403): every key a failure the report lists.
        let faulty = s3rewind::testing::FaultyEndpoint::new(
            store.endpoint(),
            s3rewind::bucket::Faults {
                deny_writes: true,
                ..Default::default()
            },
        );
        let started = Instant::now();
        let out = run_cmd(&argv, faulty, None).await;
        let ran = started.elapsed().as_secs_f64();
        assert_eq!(out.exit, 1, "{}\n{}", out.stdout, out.stderr);
        let peak = status("VmHWM:");
        let peak_heap = heap.peak().saturating_sub(heap_mark) as u64;
        let failed = out
            .stdout
            .lines()
            .find(|l| l.starts_with("Failed ("))
            .unwrap_or_default()
            .to_owned();
        assert!(failed.contains(&format!("({keys})")), "{}", out.stdout);
        println!(
            "restore of {keys} keys, every copy refused, in {ran:.1} s: {failed} (the summary names 1,000); peak live heap {} above the filled source ({:.1} B per failed key); peak resident {} above it",
            mib(peak_heap),
            peak_heap as f64 / keys as f64,
            mib(peak.saturating_sub(filled))
        );
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let started = Instant::now();
    let out = run_cmd(&argv, store.endpoint(), None).await;
    let ran = started.elapsed().as_secs_f64();
    assert_eq!(out.exit, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        in_place
            || out.stderr.contains("copying as the listing goes")
            || out.stdout.contains("Done"),
        "{}",
        out.stderr
    );
    // The peak first: what follows (counting) allocates for the bench, not the restore.
    let peak = status("VmHWM:");
    let peak_heap = heap.peak().saturating_sub(heap_mark) as u64;
    let end_heap = live().saturating_sub(heap_mark) as u64;
    let copied = store.with(dest, |s| s.all_versions().count()) as u64
        - if in_place { versions_filled } else { prefilled };
    // A sampled drill copies its sample: 1% of the keys, rounded up.
    let actions = if drill_sample {
        keys.div_ceil(100)
    } else {
        actions
    };
    assert_eq!(copied, actions + journaled, "every key copied");
    let r = store.requests();
    let above = peak.saturating_sub(filled);
    let growth = (per_version * actions as f64) as u64;
    let own = above.saturating_sub(growth);
    println!(
        "{}{}{} of {actions} actions ({keys} keys) in {ran:.1} s ({:.0} actions/s); requests: {} list, {} copy, {} head, {} in all",
        if undelete {
            "undelete"
        } else if html {
            "drill --sample 1% --report drill.html"
        } else if drill_sample {
            "drill --sample 1%"
        } else if undo {
            "undo of a restore"
        } else if plan_apply {
            "apply"
        } else {
            "restore"
        },
        if resumed {
            " in place, resumed"
        } else if in_place {
            " in place"
        } else if half_done {
            " into a bucket holding half the keys"
        } else {
            ""
        },
        if undelete || undo || drill_sample {
            // undelete and undo have no verification step and no --no-verify; a drill
            // always verifies.
            ""
        } else if verify {
            " with verification"
        } else {
            " --no-verify"
        },
        actions as f64 / ran,
        r.of(Op::List),
        r.of(Op::Copy),
        r.of(Op::Head),
        r.total()
    );
    println!(
        "peak resident {} above the filled source (less the destination's new versions at the source's {per_version:.0} B each, {}: {}, {:.1} B per action; `--copies-only` measures the destination's growth itself)",
        mib(above),
        mib(growth),
        mib(own),
        own as f64 / actions as f64
    );
    println!(
        "peak live heap {} above the filled source, {} at the end (the destination's new versions): the restore's own at its peak {}, {:.1} B per action",
        mib(peak_heap),
        mib(end_heap),
        mib(peak_heap.saturating_sub(end_heap)),
        peak_heap.saturating_sub(end_heap) as f64 / actions as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}
