//! No silent wrong answer on any server: every server habit we know of (the in-memory
//! bucket's [`Personality`]), random histories with awkward keys, same-second writes,
//! racing PUT/DELETE pairs and `null` versions, T anywhere (inside same-second ties too),
//! page sizes from 1 to 1,000, and every command that reads or writes the state at T.
//!
//! The promise checked: **exit 0 only with exactly the true state at T** (the list-order
//! truth with the stamps the server shows; keys the run flags as ambiguous, `null` keys
//! it reports as uncertain, and on a split layout keys whose older entries are stamped
//! out of list order — docs/src/state-at-t.md states these limits — are left out), otherwise a non-zero
//! exit with nothing written.

use super::{Outcome, run_cmd};
use crate::bucket::histories::{self, History};
use crate::bucket::{Endpoint, MemStore, PageLayout, Personality};
use crate::listing::{Streams, list_bucket};
use crate::output::rfc3339;
use crate::output::{OutputFormat, Printer};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use s3rewind_engine::{BucketState, Timeline};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// What a run may differ on: the keys it flags (ambiguous, uncertain), and on a split
/// layout the keys no split listing can order.
fn excused(
    listed: &Timeline,
    truth: &Timeline,
    at: DateTime<Utc>,
    p: Personality,
) -> BTreeSet<String> {
    let state = listed.state_at(at);
    let mut out: BTreeSet<String> = state.ambiguous.iter().cloned().collect();
    out.extend(state.uncertain.iter().map(|u| u.key.clone()));
    if p.layout != PageLayout::Interleaved {
        for h in truth.keys() {
            if histories::unseeable_when_split(truth, &h.key) {
                out.insert(h.key.clone());
            }
        }
    }
    out
}

/// Content of each key in a state, read from the simulator's versions.
fn contents_of(h: &History, state: &BucketState) -> BTreeMap<String, Vec<u8>> {
    state
        .objects
        .iter()
        .map(|e| {
            let c = h
                .sim
                .get_version(&e.key, &e.version.version_id.as_str())
                .expect("a listed version");
            (e.key.clone(), c.to_vec())
        })
        .collect()
}

fn current(store: &MemStore, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
    store.with(bucket, |s| {
        s.current_contents()
            .into_iter()
            .filter_map(|(k, c)| Some((k.strip_prefix(prefix)?.to_owned(), c.to_vec())))
            .collect()
    })
}

/// `got` equals `want` on every key but the excused ones.
fn same_but(
    got: &BTreeMap<String, Vec<u8>>,
    want: &BTreeMap<String, Vec<u8>>,
    excused: &BTreeSet<String>,
) -> Result<(), String> {
    let keys: BTreeSet<&String> = got.keys().chain(want.keys()).collect();
    for k in keys {
        if excused.contains(k) {
            continue;
        }
        if got.get(k) != want.get(k) {
            return Err(format!(
                "{k:?}: bucket holds {:?}, the state at T has {:?}",
                got.get(k).map(|c| String::from_utf8_lossy(c).into_owned()),
                want.get(k).map(|c| String::from_utf8_lossy(c).into_owned())
            ));
        }
    }
    Ok(())
}

/// The commands the property runs.
#[derive(Debug, Clone, Copy)]
enum Cmd {
    /// `restore --at T --yes` in place, then `undo` of its journal, then the restore again.
    InPlaceUndoRedo,
    /// `restore --to` an empty versioned bucket (copies while the source is listed).
    ToEmpty,
    /// `restore --to` a bucket that already holds some keys.
    ToNonEmpty,
    /// `plan`: nothing written.
    Plan,
    /// `verify` before and after an in-place restore.
    Verify,
    /// `undelete`, copying last versions back.
    Undelete,
    /// `undelete --remove-delete-markers`.
    UndeleteRemove,
    /// `ls --at T`.
    Ls,
    /// `drill --at T` into a scratch bucket.
    Drill,
    /// `restore --at T --index FILE --yes` in place, from an index written before some
    /// keys were overwritten (last night's index, this morning's incident).
    FromIndex,
    /// The same from an S3 Inventory report (CSV) taken before the overwrites.
    FromInventory,
}

const CMDS: [Cmd; 11] = [
    Cmd::InPlaceUndoRedo,
    Cmd::ToEmpty,
    Cmd::ToNonEmpty,
    Cmd::Plan,
    Cmd::Verify,
    Cmd::Undelete,
    Cmd::UndeleteRemove,
    Cmd::Ls,
    Cmd::Drill,
    Cmd::FromIndex,
    Cmd::FromInventory,
];

struct World {
    store: Arc<MemStore>,
    endpoint: Arc<dyn Endpoint>,
    dir: tempfile::TempDir,
    page: String,
    /// List by folder on 3 streams (else one stream).
    folders: bool,
}

impl World {
    /// Run a command with the case's listing options (deterministic: one stream, or
    /// always by folder), so the reference listing reads the same pages.
    async fn run(&self, args: &[&str]) -> Outcome {
        let mut all: Vec<&str> = args.to_vec();
        if !matches!(args.first(), Some(&"undo")) {
            all.extend(["--page-size", &self.page]);
            if self.folders {
                all.extend(["--list-concurrency", "3", "--list-split", "folders"]);
            } else {
                all.extend(["--list-concurrency", "1"]);
            }
        }
        run_cmd(&all, self.endpoint.clone(), None).await
    }

    /// What a run that lists the source now may differ on (see [`excused`]): its
    /// reading, with the case's pages.
    async fn excused_now(
        &self,
        truth: &Timeline,
        at: DateTime<Utc>,
        p: Personality,
    ) -> Result<BTreeSet<String>, String> {
        let quiet = Printer::new(OutputFormat::Text, true, true);
        let listed = list_bucket(
            &self.endpoint.bucket("src"),
            &quiet,
            "",
            self.page.parse().unwrap(),
            self.streams(),
        )
        .await
        .map_err(|e| format!("the reference listing failed: {}", e.message))?;
        Ok(excused(&listed, truth, at, p))
    }

    /// The keys `plan` (with these arguments, which must be a restore's without `--yes`
    /// or `--journal`) flags as decided by a guess or left alone: same-second ties,
    /// orders nothing showed, `null` versions rewritten after T.
    async fn flagged_by_plan(&self, args: &[&str]) -> BTreeSet<String> {
        let mut plan = vec!["--output", "json", "plan"];
        plan.extend(args.iter().skip(1));
        let out = self.run(&plan).await;
        if out.exit != 0 {
            return BTreeSet::new();
        }
        out.json()["warnings"]
            .as_array()
            .map(|ws| {
                ws.iter()
                    .filter(|w| {
                        matches!(
                            w["kind"].as_str(),
                            Some("same_second_tie" | "order_unknown" | "null_rewritten")
                        )
                    })
                    .filter_map(|w| w["key"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn streams(&self) -> Streams {
        if self.folders {
            Streams::new(3, crate::listing::Split::Folders)
        } else {
            Streams::ONE
        }
    }

    fn journal(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    fn writes(&self) -> u64 {
        self.store.requests().writes()
    }
}

/// One case: returns Err with what went wrong.
// Longer than 120 lines on purpose: one generated server habit run through every command in turn; the steps share the store and the expected state.
async fn case(
    h: &History,
    p: Personality,
    (page, folders): (i32, bool),
    at: DateTime<Utc>,
    cmd: Cmd,
) -> Result<(), String> {
    let store = MemStore::new();
    store.insert("src", h.sim.clone());
    store.set_personality(p);
    let world = World {
        endpoint: store.endpoint(),
        store,
        dir: tempfile::tempdir().unwrap(),
        page: page.to_string(),
        folders,
    };
    let truth = histories::shown_truth(&h.sim, p);
    let quiet = Printer::new(OutputFormat::Text, true, true);
    // The reading the command makes (same pages): what it flags.
    let listed = list_bucket(
        &world.endpoint.bucket("src"),
        &quiet,
        "",
        page,
        world.streams(),
    )
    .await
    .map_err(|e| format!("the reference listing failed: {}", e.message))?;
    world.store.reset_requests();
    let excused = excused(&listed, &truth, at, p);
    let want = contents_of(h, &truth.state_at(at));
    let time = rfc3339(at);
    let before = current(&world.store, "src", "");
    // A non-zero exit must come with nothing written.
    let refused = |out: &Outcome, world: &World| -> Result<bool, String> {
        if out.exit == 0 {
            return Ok(false);
        }
        if world.writes() > 0 {
            return Err(format!(
                "exit {} after {} writes: {}",
                out.exit,
                world.writes(),
                out.stderr
            ));
        }
        Ok(true)
    };
    match cmd {
        Cmd::InPlaceUndoRedo => {
            let j = world.journal("r.jsonl");
            let out = world
                .run(&[
                    "restore",
                    "s3://src",
                    "--at",
                    &time,
                    "--yes",
                    "--journal",
                    &j,
                ])
                .await;
            if refused(&out, &world)? {
                return Ok(());
            }
            same_but(&current(&world.store, "src", ""), &want, &excused)
                .map_err(|e| format!("restore in place: {e}\n{}", out.stderr))?;
            if !std::path::Path::new(&j).exists() {
                // Nothing to do: nothing written, nothing to undo.
                if world.writes() > 0 {
                    return Err(format!("{} writes and no journal", world.writes()));
                }
                return Ok(());
            }
            let undo = world.run(&["undo", &j, "--yes"]).await;
            if undo.exit != 0 {
                return Err(format!("undo exit {}: {}", undo.exit, undo.stderr));
            }
            same_but(&current(&world.store, "src", ""), &before, &BTreeSet::new())
                .map_err(|e| format!("undo: {e}\n{}", undo.stderr))?;
            // Undo's writes move the page boundaries: the next run reads its own pages.
            let excused = world.excused_now(&truth, at, p).await?;
            let again = world
                .run(&[
                    "restore",
                    "s3://src",
                    "--at",
                    &time,
                    "--yes",
                    "--journal",
                    &world.journal("r2.jsonl"),
                ])
                .await;
            if again.exit != 0 {
                return Err(format!(
                    "the restore again: exit {}: {}",
                    again.exit, again.stderr
                ));
            }
            same_but(&current(&world.store, "src", ""), &want, &excused)
                .map_err(|e| format!("the restore again: {e}\n{}", again.stderr))?;
        }
        Cmd::ToEmpty | Cmd::ToNonEmpty | Cmd::Drill => {
            world
                .store
                .create("dst", s3rewind_engine::Versioning::Enabled);
            if matches!(cmd, Cmd::ToNonEmpty) {
                world.store.with("dst", |s| {
                    s.put("out/a", b"old a", histories::start());
                    s.put("out/zz", b"old zz", histories::start());
                });
                world.store.reset_requests();
            }
            // Into another bucket nothing is hidden: keys the state at T lacks stay.
            let mut want = current(&world.store, "dst", "out/");
            want.extend(contents_of(h, &truth.state_at(at)));
            let out = match cmd {
                Cmd::Drill => {
                    world
                        .run(&[
                            "drill",
                            "s3://src",
                            "--at",
                            &time,
                            "--scratch",
                            "s3://dst/out/",
                            "--journal",
                            &world.journal("d.jsonl"),
                        ])
                        .await
                }
                _ => {
                    world
                        .run(&[
                            "restore",
                            "s3://src",
                            "--at",
                            &time,
                            "--to",
                            "s3://dst/out/",
                            "--yes",
                            "--journal",
                            &world.journal("t.jsonl"),
                        ])
                        .await
                }
            };
            if refused(&out, &world)? {
                return Ok(());
            }
            same_but(&current(&world.store, "dst", "out/"), &want, &excused)
                .map_err(|e| format!("{cmd:?}: {e}\n{}", out.stderr))?;
        }
        Cmd::Plan => {
            let out = world.run(&["plan", "s3://src", "--at", &time]).await;
            if world.writes() > 0 {
                return Err(format!("plan wrote {} times", world.writes()));
            }
            if !matches!(out.exit, 0 | 2 | 3) {
                return Err(format!("plan exit {}: {}", out.exit, out.stderr));
            }
        }
        Cmd::Verify => {
            let out = world.run(&["verify", "s3://src", "--at", &time]).await;
            let differs = same_but(&before, &want, &excused).is_err();
            if out.exit == 0 && differs {
                return Err(format!(
                    "verify said OK on a bucket that differs from the state at T:\n{}",
                    out.stdout
                ));
            }
            let r = world
                .run(&[
                    "restore",
                    "s3://src",
                    "--at",
                    &time,
                    "--yes",
                    "--journal",
                    &world.journal("v.jsonl"),
                ])
                .await;
            if refused(&r, &world)? {
                return Ok(());
            }
            // After the restore, verify may still call a key it cannot order (new pages
            // may prove less) different, never the other way round: exit 0 only where
            // the bucket is the state at T, which the restore's own check above showed.
            let out = world.run(&["verify", "s3://src", "--at", &time]).await;
            if !matches!(out.exit, 0 | 1) {
                return Err(format!(
                    "verify after the restore: exit {}: {}{}",
                    out.exit, out.stdout, out.stderr
                ));
            }
            if out.exit == 0 {
                same_but(&current(&world.store, "src", ""), &want, &excused)
                    .map_err(|e| format!("verify said OK after the restore: {e}"))?;
            }
        }
        Cmd::Undelete | Cmd::UndeleteRemove => {
            // What comes back: each key whose newest entry is a delete marker above a
            // version gets that version's content.
            let mut want = before.clone();
            let mut excused: BTreeSet<String> = listed
                .anomalies()
                .iter()
                .filter(|a| a.is_guess())
                .map(|a| a.key().to_owned())
                .collect();
            for k in truth.keys() {
                if p.layout != PageLayout::Interleaved
                    && histories::unseeable_when_split(&truth, &k.key)
                {
                    excused.insert(k.key.clone());
                }
                if k.head().is_some_and(|v| v.delete_marker)
                    && let Some(v) = k.entries.iter().find(|v| !v.delete_marker)
                {
                    want.insert(
                        k.key.clone(),
                        h.sim
                            .get_version(&k.key, &v.version_id.as_str())
                            .unwrap()
                            .to_vec(),
                    );
                }
            }
            let mut args = vec!["undelete", "s3://src", "--yes", "--journal"];
            let j = world.journal("u.jsonl");
            args.push(&j);
            if matches!(cmd, Cmd::UndeleteRemove) {
                args.push("--remove-delete-markers");
            }
            let out = world.run(&args).await;
            if out.exit != 0 {
                // Keys left alone are named; nothing else may have changed.
                if out.exit != 1 {
                    return Err(format!("undelete exit {}: {}", out.exit, out.stderr));
                }
                return Ok(());
            }
            same_but(&current(&world.store, "src", ""), &want, &excused)
                .map_err(|e| format!("{cmd:?}: {e}\n{}{}", out.stdout, out.stderr))?;
        }
        Cmd::FromIndex | Cmd::FromInventory => {
            let snapshot = match cmd {
                Cmd::FromIndex => {
                    let file = world.journal("bucket.idx");
                    let out = world.run(&["index", "s3://src", "--out", &file]).await;
                    if out.exit != 0 {
                        return Err(format!("index exit {}: {}", out.exit, out.stderr));
                    }
                    ("--index", file)
                }
                _ => {
                    let mut w = s3rewind_testkit::inventory::ReportWriter::new(
                        world.dir.path(),
                        "src",
                        "inv/",
                    );
                    // The report shows the stamps the server shows.
                    let listed = histories::shown_truth(&world.store.with("src", |s| s.clone()), p);
                    for h in listed.keys() {
                        for v in &h.entries {
                            let e = s3rewind_engine::Entry {
                                key: h.key.clone(),
                                version: v.clone(),
                            };
                            w.write(&e).map_err(|e| e.to_string())?;
                        }
                    }
                    let created = world.store.now();
                    let manifest = w.finish(created).map_err(|e| e.to_string())?;
                    ("--inventory", manifest.to_string_lossy().into_owned())
                }
            };
            // After the snapshot, and after T: some keys overwritten.
            let later = world.store.now() + chrono::TimeDelta::seconds(2);
            world.store.with("src", |s| {
                for (i, k) in histories::KEYS.iter().enumerate().step_by(3) {
                    s.put(
                        k,
                        format!("written after the snapshot {i}").as_bytes(),
                        later,
                    );
                }
            });
            let truth = histories::shown_truth(&world.store.with("src", |s| s.clone()), p);
            let mut excused = world.excused_now(&truth, at, p).await?;
            let args = [
                "restore",
                "s3://src",
                "--at",
                &time,
                snapshot.0,
                &snapshot.1,
            ];
            excused.extend(world.flagged_by_plan(&args).await);
            if matches!(cmd, Cmd::FromInventory) {
                // An inventory keeps no list order: it reads like split lists, where an
                // older entry stamped out of list order cannot be seen (docs/src/state-at-t.md).
                for k in truth.keys() {
                    if histories::unseeable_when_split(&truth, &k.key) {
                        excused.insert(k.key.clone());
                    }
                }
            }
            world.store.reset_requests();
            let want = contents_of(h, &truth.state_at(at));
            let mut args = args.to_vec();
            let journal = world.journal("s.jsonl");
            args.extend(["--yes", "--journal", &journal]);
            let out = world.run(&args).await;
            if refused(&out, &world)? {
                return Ok(());
            }
            same_but(&current(&world.store, "src", ""), &want, &excused)
                .map_err(|e| format!("{cmd:?}: {e}\n{}{}", out.stdout, out.stderr))?;
        }
        Cmd::Ls => {
            let out = world
                .run(&["--output", "json", "ls", "s3://src", "--at", &time])
                .await;
            if out.exit != 0 {
                if world.writes() > 0 || out.exit == 1 {
                    return Err(format!("ls exit {}: {}", out.exit, out.stderr));
                }
                return Ok(());
            }
            let doc = out.json();
            let listed_keys: BTreeSet<String> = doc["objects"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|o| o["key"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            for k in want.keys().chain(listed_keys.iter()) {
                if excused.contains(k) {
                    continue;
                }
                if want.contains_key(k) != listed_keys.contains(k) {
                    return Err(format!(
                        "ls --at: {k:?} listed {}, true {}",
                        listed_keys.contains(k),
                        want.contains_key(k)
                    ));
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(crate::proptest_config(512))]

    /// See the module docs.
    #[test]
    fn every_habit_and_command_exit_0_only_with_the_true_state(
        steps in histories::steps(4, 28),
        personality in 0..Personality::COMBINATIONS,
        page in prop_oneof![3 => 1i32..8, 1 => Just(1000i32)],
        folders in any::<bool>(),
        t in histories::t_pick(),
        cmd in 0..CMDS.len(),
    ) {
        let p = Personality::nth(personality);
        let h = histories::play(&steps, "v");
        let at = histories::pick_t(&h, &t);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(case(&h, p, (page, folders), at, CMDS[cmd]))
            .map_err(|e| TestCaseError::fail(format!("{:?} on {p:?}, page {page}, folders {folders}, T {}: {e}", CMDS[cmd], rfc3339(at))))?;
    }
}

/// The repro, through the commands, on a server that lists a page's delete markers
/// first with whole-second stamps: PUT, DELETE, PUT, [T], DELETE of one file. No page
/// proves the layout, so the restore neither hides the file (the old heuristic read the
/// markers first as newer) nor decides it on a guess: it leaves it alone and names it; with
/// `--list-order split` declared, it restores it. Small pages change nothing.
#[tokio::test]
async fn one_file_on_a_markers_first_server_is_never_silently_decided() {
    use histories::Step;
    let h = histories::play(
        &[
            Step::Put(0, 1, 3),
            Step::Tick(1000),
            Step::Delete(0),
            Step::Tick(1000),
            Step::Put(0, 2, 3),
            Step::Tick(2000),
            Step::Delete(0),
        ],
        "v",
    );
    let t = rfc3339(h.writes[2] + chrono::TimeDelta::seconds(1));
    let p = Personality {
        layout: PageLayout::MarkersFirst,
        whole_seconds: true,
        ..Personality::default()
    };
    let live_at_t = h
        .sim
        .get_version("a", &h.sim.list_order("a")[1].version.version_id.as_str())
        .unwrap()
        .to_vec();
    for page in ["1", "3", "7", "1000"] {
        let store = MemStore::new();
        store.insert("src", h.sim.clone());
        store.set_personality(p);
        let dir = tempfile::tempdir().unwrap();
        let j = dir.path().join("j.jsonl").to_string_lossy().into_owned();
        let out = run_cmd(
            &[
                "restore",
                "s3://src",
                "--at",
                &t,
                "--yes",
                "--page-size",
                page,
                "--journal",
                &j,
            ],
            store.endpoint(),
            None,
        )
        .await;
        assert!(out.exit == 0 || out.exit == 1, "page {page}: {out:?}");
        // Restored exactly (pages of one entry each are in list order), or left alone
        // and named: never hidden as "0 keys at that time".
        match current(&store, "src", "").get("a") {
            Some(c) => assert_eq!(c, &live_at_t, "page {page}"),
            None => assert!(
                out.stdout.contains("left as it is") && out.stdout.contains("\"a\""),
                "page {page}: the file is neither restored nor named: {}",
                out.stdout
            ),
        }
        let declared = run_cmd(
            &[
                "restore",
                "s3://src",
                "--at",
                &t,
                "--yes",
                "--page-size",
                page,
                "--list-order",
                "split",
                "--journal",
                &j,
            ],
            store.endpoint(),
            None,
        )
        .await;
        assert_eq!(declared.exit, 0, "page {page}: {declared:?}");
        assert_eq!(
            current(&store, "src", "").get("a"),
            Some(&live_at_t),
            "page {page}"
        );
    }
}
