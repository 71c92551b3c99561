//! Every input proven (issue 21, sections 2–7), in process on buckets in memory: a
//! snapshot's guesses are settled by the live bucket, journals are bound to their run and
//! survive a torn line, refusals come before any write, plans are checked by digest.

use super::{Outcome, run_cmd};
use crate::bucket::MemStore;
use crate::output::rfc3339;
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use s3rewind_engine::sim::Content;
use s3rewind_engine::{SimBucket, Versioning};
use s3rewind_testkit::inventory::ReportWriter;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Seconds after the start of the histories.
fn t(secs: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 9, 0, 0).unwrap() + TimeDelta::seconds(secs)
}

fn contents(store: &MemStore, bucket: &str) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.current_contents())
}

fn truth(store: &MemStore, bucket: &str, at: DateTime<Utc>) -> BTreeMap<String, Content> {
    store.with(bucket, |s| s.truth_at(at))
}

fn path(dir: &Path, name: &str) -> String {
    dir.join(name).to_string_lossy().into_owned()
}

/// The command succeeded (else the test fails with what it printed).
fn ok(out: &Outcome) {
    assert_eq!(
        out.exit, 0,
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        out.exit, out.stdout, out.stderr
    );
}

/// An all-versions CSV inventory of `bucket` as it is now, taken at `created`, under
/// `dir`; returns its manifest's path.
fn inventory(store: &MemStore, bucket: &str, dir: &Path, created: DateTime<Utc>) -> PathBuf {
    let entries = store.with(bucket, |s| s.list_order(""));
    let mut w = ReportWriter::new(dir, bucket, &format!("inv/{bucket}/all/"));
    w.new_file().unwrap();
    for e in &entries {
        w.write(e).unwrap();
    }
    w.finish(created).unwrap()
}

/// Keys written twice in one second before T: `k` is damaged after T, `j` is not, `z`
/// was written and deleted in one second, then written again after T.
fn same_second() -> Arc<MemStore> {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    sim.put("j", b"j first", t(10));
    sim.put("j", b"j second", t(10));
    sim.put("k", b"k first", t(10));
    sim.put("k", b"k second", t(10));
    sim.put("z", b"z one", t(11));
    sim.delete("z", t(11));
    sim.put("k", b"k damaged", t(200));
    sim.put("z", b"z new", t(201));
    let store = MemStore::new();
    store.insert("src", sim);
    store
}

/// §2: an inventory keeps no order between two versions of one key in one second; the
/// restore takes those keys' histories from the bucket, and reaches the true state.
#[tokio::test]
async fn same_second_versions_in_an_inventory_are_decided_by_the_bucket() {
    let store = same_second();
    let dir = tempfile::tempdir().unwrap();
    let manifest = inventory(&store, "src", dir.path(), t(300));
    let want = truth(&store, "src", t(100));
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(t(100)),
            "--inventory",
            &manifest.to_string_lossy(),
            "--yes",
            "--journal",
            &path(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert_eq!(contents(&store, "src"), want, "{}", out.stderr);
    assert!(
        out.stderr.contains("the inventory cannot order"),
        "{}",
        out.stderr
    );
}

/// §2: a restore from an index names the index, never "inventory", and verifies (its
/// current objects against the state at T) like any other restore.
#[tokio::test]
async fn a_restore_from_an_index_names_the_index() {
    let store = same_second();
    let dir = tempfile::tempdir().unwrap();
    let index = path(dir.path(), "idx");
    ok(&run_cmd(
        &["index", "s3://src", "--out", &index],
        store.endpoint(),
        None,
    )
    .await);
    let (entries, keys) = store.with("src", |s| {
        let listed = s.list_order("");
        let keys: std::collections::BTreeSet<&str> =
            listed.iter().map(|e| e.key.as_str()).collect();
        (listed.len(), keys.len())
    });
    let out = run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(t(100)),
            "--index",
            &index,
            "--yes",
            "--journal",
            &path(dir.path(), "j.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    assert_eq!(contents(&store, "src"), truth(&store, "src", t(100)));
    assert!(
        out.stderr.contains("index ") && !out.stderr.contains("inventory"),
        "{}",
        out.stderr
    );
    // The index's counts, as read a block at a time: the history it was written of.
    assert!(
        out.stderr.contains(&format!(
            ": {entries} versions and delete markers of {keys} keys"
        )),
        "{entries} entries of {keys} keys: {}",
        out.stderr
    );
    assert!(out.stdout.contains("Verification:"), "{}", out.stdout);
}

/// The instant the tests restore to.
fn at() -> DateTime<Utc> {
    t(100)
}

/// Before [`at`]: `a.txt`, `b.txt`, `c/d.txt` written; after it `a.txt` overwritten,
/// `b.txt` deleted and `f.txt` written.
fn damaged() -> Arc<MemStore> {
    let mut sim = SimBucket::new(Versioning::Enabled, "src-v");
    sim.put("a.txt", b"a one", t(10));
    sim.put("b.txt", b"b one", t(11));
    sim.put("c/d.txt", b"d one", t(12));
    sim.put("a.txt", b"a damaged", t(200));
    sim.delete("b.txt", t(202));
    sim.put("f.txt", b"f new", t(204));
    let store = MemStore::new();
    store.insert("src", sim);
    store
}

/// §7: `plan --out` records a digest; `apply --expect-digest` refuses any other plan
/// before any request that writes; `apply` prints what it will do, counted from the
/// actions, not the file's `stats`.
#[tokio::test]
async fn apply_checks_the_reviewed_digest_and_counts_what_it_will_do() {
    let store = damaged();
    let dir = tempfile::tempdir().unwrap();
    let plan_file = path(dir.path(), "plan.json");
    let out = run_cmd(
        &[
            "plan",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--out",
            &plan_file,
            "--output",
            "json",
        ],
        store.endpoint(),
        None,
    )
    .await;
    ok(&out);
    let digest = out.json()["digest"].as_str().unwrap().to_owned();
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert!(out.stderr.contains(&digest), "{}", out.stderr);
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&plan_file).unwrap()).unwrap();
    assert_eq!(written["digest"], digest.as_str());

    // Another digest: refused, nothing written.
    let apply = |file: String, expect: Option<String>| {
        let store = store.clone();
        let journal = path(dir.path(), &format!("{}.jsonl", expect.is_some()));
        async move {
            let mut args = vec!["apply".to_owned(), file, "--yes".into(), "--journal".into()];
            args.push(journal);
            if let Some(d) = expect {
                args.push("--expect-digest".into());
                args.push(d);
            }
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_cmd(&args, store.endpoint(), None).await
        }
    };
    let out = apply(plan_file.clone(), Some("sha256:0000".into())).await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("sha256:0000") && out.stderr.contains(&digest),
        "{}",
        out.stderr
    );
    assert_eq!(store.requests().writes(), 0);

    // An edited plan (its stats say nothing is to be copied): not the reviewed one.
    let mut edited = written.clone();
    edited["stats"]["copies"] = 0.into();
    let edited_file = path(dir.path(), "edited.json");
    std::fs::write(&edited_file, edited.to_string()).unwrap();
    let out = apply(edited_file.clone(), Some(digest.clone())).await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    assert_eq!(store.requests().writes(), 0);

    // Applied anyway, it says it was changed and counts the copies it makes.
    let out = apply(edited_file, None).await;
    ok(&out);
    assert!(
        out.stderr.contains("was changed after it was written"),
        "{}",
        out.stderr
    );
    let copies = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("copies:"))
        .unwrap_or_default()
        .to_owned();
    assert!(copies.contains(" 2 "), "{copies}\n{}", out.stdout);
    assert_eq!(contents(&store, "src"), truth(&store, "src", at()));

    // The reviewed plan with its digest applies (nothing left to do); its journal is of
    // another plan's run (the edited one's, also to T) when shared, and refused.
    ok(&apply(plan_file.clone(), Some(digest)).await);
    let out = run_cmd(
        &[
            "apply",
            &plan_file,
            "--yes",
            "--journal",
            &path(dir.path(), "false.jsonl"),
        ],
        store.endpoint(),
        None,
    )
    .await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    assert!(
        out.stderr.contains("belongs to another run"),
        "{}",
        out.stderr
    );
}

/// Six keys damaged after [`at`] (five copies back, one delete marker), in bucket `b`.
fn six(b: &str) -> SimBucket {
    let mut sim = SimBucket::new(Versioning::Enabled, &format!("{b}-v"));
    for i in 0..6 {
        sim.put(&format!("k{i}"), format!("k{i} good").as_bytes(), t(10 + i));
    }
    for i in 0..5 {
        sim.put(
            &format!("k{i}"),
            format!("k{i} damaged").as_bytes(),
            t(200 + i),
        );
    }
    sim.put("new", b"new", t(210));
    sim
}

/// A world after a crash: the bucket holds the writes of the first `k + 1` actions a
/// full restore journaled, and the journal holds their lines, the last one cut after
/// `cut` bytes (torn when short of its length).
struct Crash {
    store: Arc<MemStore>,
    dir: tempfile::TempDir,
    journal: String,
    /// The byte offset of the cut line.
    offset: usize,
    /// True when the cut line is short of its end (torn).
    torn: bool,
    /// The key of the cut line's action.
    key: String,
}

/// The full restore's journal lines (with their newlines), from a run on a copy of `sim`.
async fn full_journal(sim: &SimBucket) -> Vec<String> {
    let store = MemStore::new();
    store.insert("src", sim.clone());
    let dir = tempfile::tempdir().unwrap();
    let j = path(dir.path(), "j.jsonl");
    ok(&run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(at()),
            "--yes",
            "--concurrency",
            "1",
            "--no-verify",
            "--journal",
            &j,
        ],
        store.endpoint(),
        None,
    )
    .await);
    std::fs::read_to_string(&j)
        .unwrap()
        .split_inclusive('\n')
        .map(str::to_owned)
        .collect()
}

/// Replay the actions of the first `k + 1` done lines on a copy of `sim` (the same
/// writes in the same order give the same version ids) and cut the journal in line
/// `k + 1` of the done lines after `cut` bytes.
fn crash(sim: &SimBucket, lines: &[String], k: usize, cut: usize) -> Crash {
    let store = MemStore::new();
    store.insert("src", sim.clone());
    let done: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("{\"type\":\"done\""))
        .collect();
    let mut key = String::new();
    for &i in &done[..=k] {
        let Ok(crate::journal::Line::Done(d)) = serde_json::from_str(&lines[i]) else {
            panic!("a done line: {}", lines[i]);
        };
        let id = store.with("src", |s| match d.op {
            crate::journal::Op::Copy => s
                .copy_version(
                    None,
                    d.source_key.as_deref().unwrap(),
                    d.source_version_id.as_deref().unwrap(),
                    &d.key,
                    Utc::now(),
                )
                .unwrap(),
            _ => s.delete(&d.key, Utc::now()),
        });
        assert_eq!(id, d.new_version_id, "the replay writes what the run wrote");
        key = d.key.clone();
    }
    let last = done[k];
    let mut text: String = lines[..last].concat();
    let offset = text.len();
    let line = lines[last].trim_end_matches('\n');
    let cut = cut.min(line.len());
    text.push_str(&line[..cut]);
    let dir = tempfile::tempdir().unwrap();
    let journal = path(dir.path(), "j.jsonl");
    std::fs::write(&journal, text).unwrap();
    Crash {
        store,
        dir,
        journal,
        offset,
        torn: cut < line.len(),
        key,
    }
}

/// §3: a crash at any byte of a journal's last line. `undo` re-checks the action the
/// torn line may record against the bucket: every key goes back to its state before the
/// restore, or (a line cut before its key) the undo says which byte and exits 1 with
/// every other key back; the restore run again resumes to the state at T, terminating
/// and marking the torn line with a warning that names its byte offset; the journal
/// reads whole afterwards.
#[test]
fn a_crash_at_any_byte_of_the_journal_is_recovered() {
    use proptest::prelude::*;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let sim = six("src");
    let lines = rt.block_on(full_journal(&sim));
    let actions = lines
        .iter()
        .filter(|l| l.starts_with("{\"type\":\"done\""))
        .count();
    assert_eq!(actions, 6, "{lines:?}");
    let before: BTreeMap<String, Content> = sim.current_contents();
    let want = sim.truth_at(at());
    let mut runner = proptest::test_runner::TestRunner::new(crate::proptest_config(48));
    // Cases where a torn line was re-checked and undone, and where it named no key.
    let (rechecked, unnamed) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    runner
        .run(&(0..actions, 1usize..400), |(k, cut)| {
            let c = crash(&sim, &lines, k, cut);
            let undo = rt.block_on(run_cmd(
                &["undo", &c.journal, "--yes"],
                c.store.endpoint(),
                None,
            ));
            let now = contents(&c.store, "src");
            if undo.exit == 0 {
                prop_assert_eq!(&now, &before, "undo: {}", undo.stderr);
                if c.torn && undo.stderr.contains("re-checked against the bucket") {
                    rechecked.set(rechecked.get() + 1);
                }
            } else {
                unnamed.set(unnamed.get() + 1);
                prop_assert_eq!(undo.exit, 1, "{}", undo.stderr);
                prop_assert!(c.torn);
                prop_assert!(
                    undo.stderr.contains(&format!("byte {}", c.offset)),
                    "{}",
                    undo.stderr
                );
                for (key, content) in &before {
                    if *key != c.key {
                        prop_assert_eq!(now.get(key), Some(content), "{}", key);
                    }
                }
            }
            // The same crash, resumed.
            let c = crash(&sim, &lines, k, cut);
            let again = rt.block_on(run_cmd(
                &[
                    "restore",
                    "s3://src",
                    "--at",
                    &rfc3339(at()),
                    "--yes",
                    "--journal",
                    &c.journal,
                ],
                c.store.endpoint(),
                None,
            ));
            prop_assert_eq!(again.exit, 0, "{}\n{}", again.stdout, again.stderr);
            prop_assert_eq!(&contents(&c.store, "src"), &want);
            prop_assert_eq!(
                again.stderr.contains(&format!("byte {} is torn", c.offset)),
                c.torn,
                "{}",
                again.stderr
            );
            let read = crate::journal::read(Path::new(&c.journal));
            prop_assert!(read.is_ok(), "{:?}", read.err());
            let verify = rt.block_on(run_cmd(
                &[
                    "verify",
                    "s3://src",
                    "--at",
                    &rfc3339(at()),
                    "--journal",
                    &c.journal,
                ],
                c.store.endpoint(),
                None,
            ));
            prop_assert_eq!(verify.exit, 0, "{}", verify.stderr);
            drop(c.dir);
            Ok(())
        })
        .unwrap();
    assert!(
        rechecked.get() > 0 && unnamed.get() > 0,
        "{} re-checked, {} unnamed",
        rechecked.get(),
        unnamed.get()
    );
}

/// §4: a journal binds its run. A restore of another bucket (or to another TIME) with
/// the same `--journal` is refused before any write, naming both runs; a journal being
/// written by another process is refused; `undo` of a file holding two runs lists them
/// and undoes only the one `--run` names.
#[tokio::test]
async fn a_journal_of_another_run_is_refused_and_undo_undoes_one_run() {
    let store = MemStore::new();
    store.insert("aaa", six("aaa"));
    store.insert("bbb", six("bbb"));
    let before_b = contents(&store, "bbb");
    let dir = tempfile::tempdir().unwrap();
    let j = path(dir.path(), "restore.jsonl");
    let restore = |bucket: &'static str, time: DateTime<Utc>, journal: String| {
        let store = store.clone();
        async move {
            run_cmd(
                &[
                    "restore",
                    &format!("s3://{bucket}"),
                    "--at",
                    &rfc3339(time),
                    "--yes",
                    "--journal",
                    &journal,
                ],
                store.endpoint(),
                None,
            )
            .await
        }
    };
    ok(&restore("aaa", at(), j.clone()).await);
    let writes = store.requests().writes();
    for (bucket, time) in [("bbb", at()), ("aaa", t(50))] {
        let out = restore(bucket, time, j.clone()).await;
        assert_eq!(out.exit, 4, "{}", out.stderr);
        assert!(
            out.stderr.contains("belongs to another run")
                && out.stderr.matches("run ").count() >= 2,
            "{}",
            out.stderr
        );
        assert_eq!(store.requests().writes(), writes, "nothing written");
    }
    assert_eq!(contents(&store, "bbb"), before_b);

    // Another process writes the journal: refused.
    let printer = crate::output::Printer::capturing(crate::output::OutputFormat::Text, true).0;
    let held = crate::journal::Journal::open(Path::new(&j), &printer).unwrap();
    let out = restore("aaa", at(), j.clone()).await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    assert!(out.stderr.contains("is in use"), "{}", out.stderr);
    let out = run_cmd(&["undo", &j, "--yes"], store.endpoint(), None).await;
    assert_eq!(out.exit, 4, "{}", out.stderr);
    drop(held);
    assert_eq!(store.requests().writes(), writes);

    // A file holding two runs (journals before runs were bound, or joined by hand).
    let jb = path(dir.path(), "b.jsonl");
    ok(&restore("bbb", at(), jb.clone()).await);
    let both = path(dir.path(), "both.jsonl");
    // The first run began two hours ago; the second now. A torn line of the second names
    // a key last written half an hour ago: before the second run began, so not its.
    let a_text = std::fs::read_to_string(&j).unwrap();
    let (a_start, a_rest) = a_text.split_once('\n').unwrap();
    let mut a_start: serde_json::Value = serde_json::from_str(a_start).unwrap();
    a_start["started_at"] = rfc3339(Utc::now() - TimeDelta::hours(2)).into();
    store.with("bbb", |s| {
        s.put("late", b"long ago", t(1));
        s.put(
            "late",
            b"half an hour ago",
            Utc::now() - TimeDelta::minutes(30),
        );
    });
    let late = contents(&store, "bbb")["late"].clone();
    let text = format!(
        "{a_start}\n{a_rest}{}{{\"type\":\"done\",\"op\":\"copy\",\"bucket\":\"bbb\",\"key\":\"late\",\"sou",
        std::fs::read_to_string(&jb).unwrap()
    );
    std::fs::write(&both, text).unwrap();
    let writes = store.requests().writes();
    let out = run_cmd(&["undo", &both, "--yes"], store.endpoint(), None).await;
    assert_eq!(out.exit, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("holds 2 runs") && out.stderr.contains("--run"),
        "{}",
        out.stderr
    );
    assert_eq!(store.requests().writes(), writes);
    let lines = crate::journal::read(Path::new(&both)).unwrap();
    let runs = crate::journal::runs(&lines);
    let b_run = runs
        .iter()
        .find(|(r, _)| r.source.bucket == "bbb")
        .unwrap()
        .0
        .id();
    let restored_a = contents(&store, "aaa");
    ok(&run_cmd(
        &["undo", &both, "--run", &b_run[..6], "--yes"],
        store.endpoint(),
        None,
    )
    .await);
    let mut want_b = before_b.clone();
    want_b.insert("late".to_owned(), late);
    assert_eq!(
        contents(&store, "bbb"),
        want_b,
        "the torn line is judged by its own run's start"
    );
    assert_eq!(
        contents(&store, "aaa"),
        restored_a,
        "the other run is left alone"
    );
}

/// §5: every writing command's refusals come before any request that writes: each
/// command line here is refused with its documented exit code and one error line, and
/// the buckets saw no write at all (nor, where a local output cannot be written, any
/// listing either).
#[tokio::test]
// Longer than 120 lines on purpose: a table of refusals, each run against the same buckets and checked to write nothing.
async fn every_refusal_comes_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    let file = path(dir.path(), "a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let missing = path(dir.path(), "missing/out.json");
    let under_file = format!("{file}/j.jsonl");
    let j = path(dir.path(), "j.jsonl");
    let time = rfc3339(at());
    let too_early = rfc3339(t(1));
    // A journal of another run (a restore to another TIME), and a saved plan.
    let other = damaged();
    ok(&run_cmd(
        &[
            "restore",
            "s3://src",
            "--at",
            &rfc3339(t(50)),
            "--yes",
            "--journal",
            &j,
        ],
        other.endpoint(),
        None,
    )
    .await);
    let plan_file = path(dir.path(), "plan.json");
    ok(&run_cmd(
        &["plan", "s3://src", "--at", &time, "--out", &plan_file],
        damaged().endpoint(),
        None,
    )
    .await);
    let cases: Vec<(Vec<&str>, u8, &str)> = vec![
        // restore
        (
            vec![
                "restore", "s3://src", "--at", &time, "--yes", "--report", &missing,
            ],
            2,
            "does not exist",
        ),
        (
            vec![
                "restore",
                "s3://src",
                "--at",
                &time,
                "--yes",
                "--journal",
                &under_file,
            ],
            2,
            "not a directory",
        ),
        (
            vec![
                "restore",
                "s3://src",
                "--at",
                &time,
                "--to-dir",
                &under_file,
            ],
            2,
            "not a directory",
        ),
        (
            vec![
                "restore",
                "s3://src",
                "--at",
                &time,
                "--yes",
                "--journal",
                &j,
            ],
            4,
            "another run",
        ),
        (
            vec!["restore", "s3://src", "--at", &time],
            4,
            "confirmation",
        ),
        (
            vec![
                "restore",
                "s3://src",
                "--at",
                &time,
                "--yes",
                "--max-delete-markers",
                "0",
            ],
            4,
            "--max-delete-markers",
        ),
        (
            vec!["restore", "s3://src", "--at", &too_early, "--yes"],
            2,
            "before the first write",
        ),
        (
            vec!["restore", "s3://nope", "--at", &time, "--yes"],
            3,
            "does not exist",
        ),
        // apply
        (
            vec!["apply", &plan_file, "--yes", "--report", &missing],
            2,
            "does not exist",
        ),
        (
            vec!["apply", &plan_file, "--yes", "--expect-digest", "sha256:00"],
            4,
            "not the expected",
        ),
        (vec!["apply", &plan_file], 4, "confirmation"),
        // drill
        (
            vec![
                "drill",
                "s3://src",
                "--at",
                &time,
                "--scratch",
                "s3://scratch",
                "--report",
                &missing,
            ],
            2,
            "does not exist",
        ),
        // undo (its own journal beside the restore's, or --journal)
        (
            vec!["undo", &j, "--yes", "--journal", &under_file],
            2,
            "not a directory",
        ),
        // undelete
        (
            vec!["undelete", "s3://src", "--yes", "--journal", &under_file],
            2,
            "not a directory",
        ),
        (
            vec!["undelete", "s3://src", "--remove-delete-markers"],
            4,
            "confirmation",
        ),
        // plan, verify, index, timeline: their outputs
        (
            vec!["plan", "s3://src", "--at", &time, "--out", &missing],
            2,
            "does not exist",
        ),
        (
            vec![
                "plan",
                "s3://src",
                "--at",
                &time,
                "--emit",
                "batch-ops",
                &under_file,
            ],
            2,
            "not a directory",
        ),
        (
            vec!["verify", "s3://src", "--at", &time, "--report", &missing],
            2,
            "does not exist",
        ),
        (
            vec!["index", "s3://src", "--out", &missing],
            2,
            "does not exist",
        ),
        (
            vec!["timeline", "s3://src", "--svg", &missing],
            2,
            "does not exist",
        ),
    ];
    for (args, code, says) in cases {
        let store = damaged();
        store.create("scratch", Versioning::Enabled);
        let before = contents(&store, "src");
        let out = run_cmd(&args, store.endpoint(), None).await;
        assert_eq!(out.exit, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
        assert_eq!(
            out.stderr.matches("error:").count(),
            1,
            "{args:?}: {}",
            out.stderr
        );
        assert_eq!(
            store.requests().writes(),
            0,
            "{args:?}: {:?}",
            store.requests()
        );
        assert_eq!(contents(&store, "src"), before);
        if out.stderr.contains("give another path") {
            assert_eq!(
                store.requests().total(),
                0,
                "{args:?}: {:?}",
                store.requests()
            );
        }
    }
}
