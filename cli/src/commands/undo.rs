//! `undo`: put back, on every key a restore touched, the version that was current before
//! the restore. Like a restore, it only adds versions and delete markers.
//!
//! The journal says, per key, what was current before the first action of the restore
//! (`previous_version_id`) and what the restore left (`new_version_id` of its last action).
//! The engine turns that into the state the restore left and the state before it
//! ([`s3rewind_engine::undo`]), and the undo is an ordinary plan (the engine's `Planner`)
//! executed by the ordinary runner, so a key that changed since the restore is skipped
//! and reported as drifted (unless `--force`), and the undo has its own journal (undo of
//! an undo works the same way).
//!
//! Nothing that grows with the restore is held: the journal is read a line at a time and
//! its records kept by key on disk ([`DoneByKey`]), the keys are planned `UNDO_BATCH` at
//! a time (their earlier versions read with HEADs `--concurrency` at a time), and the plan
//! goes to a temporary file ([`ActionSpool`]) that the runner reads back.

use crate::args::UndoArgs;
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::journal::by_key::DoneByKey;
use crate::journal::{self, Done, Line, Op, Run, RunTracker, Salvaged};
use crate::output::Printer;
use crate::pipeline::Clients;
use crate::pipeline::execute::execute_plan;
use crate::pipeline::gates::check_buckets;
use crate::pipeline::report::{RESTORE_SCHEMA, write_plan_json};
use crate::pipeline::{App, rfc3339};
use crate::spill::ActionSpool;
use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::undo::{self, Touch};
use s3rewind_engine::{
    Action, Destination, Location, PlanOptions, PlanStats, Planner, RestorePlan, Version,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Keys an undo plans at a time (their journal records, HEADs and actions): what it
/// holds, whatever the restore's size.
const UNDO_BATCH: usize = if cfg!(test) { 3 } else { 4096 };

/// The run of a journal to undo (its index among `runs`, each with its number of
/// completed actions): the one `--run` names, or the only one it holds; `None` for a
/// journal with no start line (every line is of the one run that wrote them).
fn choose_run(path: &Path, runs: &[(Run, u64)], wanted: Option<&str>) -> CliResult<Option<usize>> {
    if runs.is_empty() {
        return Ok(None);
    }
    let list = |runs: &[(Run, u64)]| -> String {
        runs.iter()
            .map(|(r, done)| format!("{} with {done} action(s)", r.describe()))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let pick = match wanted {
        Some(id) => {
            let found: Vec<usize> = (0..runs.len())
                .filter(|&i| runs[i].0.id().starts_with(id))
                .collect();
            match found.as_slice() {
                [i] => *i,
                _ => {
                    return Err(CliError::usage(format!(
                        "--run {id:?} names {} of the runs journal {} holds: {}; give one run's id",
                        if found.is_empty() {
                            "none"
                        } else {
                            "more than one"
                        },
                        path.display(),
                        list(runs)
                    )));
                }
            }
        }
        None if runs.len() == 1 => 0,
        None => {
            return Err(CliError::usage(format!(
                "journal {} holds {} runs: {}; undo one with --run ID",
                path.display(),
                runs.len(),
                list(runs)
            )));
        }
    };
    Ok(Some(pick))
}

/// Stamps this long before a run began still count as its writes (clock skew).
const SKEW: TimeDelta = TimeDelta::seconds(300);

/// Re-check the action a torn journal line may record against the bucket: the key it
/// names has its history read; a current entry written since the run began is taken as
/// that action's (what it left, and the entry below it as what was there before, unless
/// the torn line still says). Returns the action as the journal would have recorded it,
/// or `None` when nothing of the run is current at the key.
async fn recheck(
    printer: &Printer,
    clients: &Clients,
    bucket: &str,
    offset: u64,
    s: &Salvaged,
    key: &str,
    started: DateTime<Utc>,
) -> CliResult<Option<Done>> {
    let (history, _) = crate::crosscheck::reread(
        clients.source.as_ref(),
        &[key.to_owned()],
        s3rewind_engine::ListOrder::Unknown,
    )
    .await?;
    let entries = history
        .get(key)
        .map(|h| h.entries.clone())
        .unwrap_or_default();
    let Some(head) = entries
        .first()
        .filter(|v| v.last_modified >= started - SKEW)
    else {
        printer.info(format!(
            "torn journal line at byte {offset} ({key:?}): re-checked against the bucket: nothing written since the run began is current there, so it has nothing to undo"
        ));
        return Ok(None);
    };
    let before = match &s.previous_version_id {
        Some(p) => p.clone(),
        None => entries
            .get(1)
            .filter(|v| !v.delete_marker)
            .map(|v| v.version_id.to_string()),
    };
    printer.info(format!(
        "torn journal line at byte {offset} ({key:?}): re-checked against the bucket: its current {} {} (written {}, since the run began) is taken as the torn action's and undone with the others",
        if head.delete_marker { "delete marker" } else { "version" },
        head.version_id,
        rfc3339(head.last_modified)
    ));
    Ok(Some(Done {
        op: if head.delete_marker {
            Op::DeleteMarker
        } else {
            Op::Copy
        },
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        source_bucket: None,
        source_key: None,
        source_version_id: None,
        previous_version_id: before,
        new_version_id: head.version_id.to_string(),
        etag: Some(head.etag.to_string()),
        size: Some(head.size),
        time: head.last_modified,
    }))
}

/// What a restore's journal says, for its undo.
struct Journaled {
    /// The run undone (`None`: a journal of one unnamed run).
    run: Option<Run>,
    /// When the run began (torn lines are re-checked only within a run).
    started: Option<DateTime<Utc>>,
    /// The run's completed actions, by key, on disk (each key's in journal order).
    records: DoneByKey,
    /// The buckets they wrote to.
    buckets: BTreeSet<String>,
    /// Torn lines that name a key, to re-check per bucket.
    torn: BTreeMap<String, Vec<(u64, Salvaged, String)>>,
    /// What cannot be undone from the journal, in words.
    unresolved: Vec<String>,
    /// Where the restore wrote, from its start line: what an empty undo reports.
    wrote_to: Option<Location>,
}

/// `s3rewind undo`: read the restore's journal, then per bucket it wrote to, re-check
/// its torn lines, have the engine decide the state to put back, and run that plan.
pub async fn undo_cmd(app: &App, args: &UndoArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    if !args.restore_journal.is_file() {
        return Err(CliError::usage(format!(
            "journal {} does not exist; `restore` prints its journal's path at the end",
            args.restore_journal.display()
        )));
    }
    journal::check_not_in_use(&args.restore_journal)?;
    if !args.dry_run {
        // Its own journal goes beside the restore's unless --journal says otherwise.
        let beside = args
            .restore_journal
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        crate::outputs::of_exec(&args.exec, beside)?;
    }
    let Journaled {
        run,
        started,
        records,
        mut buckets,
        mut torn,
        unresolved,
        wrote_to,
    } = read_journal(printer, args)?;
    buckets.extend(torn.keys().cloned());
    for u in &unresolved {
        printer.warn(format!("journal {}: {u}", args.restore_journal.display()));
    }
    if buckets.is_empty() {
        return Ok(nothing_to_undo(
            printer,
            args,
            wrote_to,
            unresolved.is_empty(),
        ));
    }
    let undone = run.as_ref().map(Run::id);
    let mut worst = Exit::Ok;
    for bucket in buckets {
        let location = Location {
            bucket: bucket.clone(),
            prefix: String::new(),
        };
        let clients = Clients::new(app, &location, &Destination::InPlace, None).await;
        check_buckets(
            &clients,
            printer,
            &location,
            &Destination::InPlace,
            !args.dry_run,
        )
        .await?;
        // What torn lines may record, re-checked against the bucket: after the key's
        // journaled actions.
        let mut rechecked: BTreeMap<String, Vec<Done>> = BTreeMap::new();
        for (offset, s, key) in torn.remove(&bucket).unwrap_or_default() {
            let started = started.expect("torn lines are re-checked only within a run");
            if let Some(d) = recheck(printer, &clients, &bucket, offset, &s, &key, started).await? {
                rechecked.entry(key).or_default().push(d);
            }
        }
        let width = args.exec.concurrency as usize;
        let Some((mut plan, spool)) =
            undo_plan(&clients, location, &records, rechecked, width).await?
        else {
            continue;
        };
        printer.info(format!(
            "undo of {} on bucket {bucket:?}: {} copies back to the earlier version, {} delete markers",
            args.restore_journal.display(),
            plan.stats.copies,
            plan.stats.delete_markers
        ));
        if args.dry_run {
            print_undo_plan(printer, &plan, &spool)?;
            continue;
        }
        let undo_journal = args.exec.journal.clone().unwrap_or_else(|| {
            let mut p: PathBuf = args.restore_journal.clone();
            p.set_extension("undo.jsonl");
            p
        });
        let run = Run {
            kind: journal::RunKind::Undo,
            of: Some(undone.clone().unwrap_or_else(|| "unnamed".to_owned())),
            ..Run::of_plan(&plan)
        };
        let (exit, doc) = execute_plan(
            app,
            &clients,
            &mut plan,
            Some(spool),
            &args.exec,
            &undo_journal,
            0,
            &run,
        )
        .await?;
        app.printer.json_value(&doc);
        if exit != Exit::Ok {
            worst = exit;
        }
    }
    if !unresolved.is_empty() && worst == Exit::Ok {
        worst = Exit::Partial;
    }
    Ok(worst)
}

/// An undo with nothing to do: said, and the document it prints (`source`: null when the
/// journal does not even say where the restore wrote).
fn nothing_to_undo(
    printer: &Printer,
    args: &UndoArgs,
    wrote_to: Option<Location>,
    resolved: bool,
) -> Exit {
    printer.line(format!(
        "Journal {} records no completed action: nothing to undo.",
        args.restore_journal.display()
    ));
    printer.json_value(&serde_json::json!({
        "schema": RESTORE_SCHEMA,
        "source": wrote_to,
        "destination": Destination::InPlace,
        "at": Utc::now(),
        "plan": PlanStats::default(),
        "report": crate::execute::ExecReport::default(),
        "journal": null,
    }));
    if resolved { Exit::Ok } else { Exit::Partial }
}

/// `--dry-run`: the undo plan of one bucket, as JSON and a line per action.
fn print_undo_plan(printer: &Printer, plan: &RestorePlan, spool: &ActionSpool) -> CliResult<()> {
    printer
        .json_write(|w| write_plan_json(w, plan, Some(spool), true))
        .map_err(|e| CliError::failure(format!("cannot write the plan: {e}")))?;
    spool.scan(|a| {
        match &a {
            Action::Copy(c) => printer.line(format!(
                "  copy    {:?} <- version {}",
                c.key, c.source_version_id
            )),
            Action::DeleteMarker(d) => printer.line(format!("  delete  {:?}", d.key)),
        }
        Ok(true)
    })
}

/// What the restore did to `key`, from its actions on it in order (`None`: none).
fn touch_of(key: String, done: &[Done]) -> Option<Touch> {
    let (first, last) = (done.first()?, done.last()?);
    Some(Touch {
        key,
        before: match first.op {
            // Before a removed delete marker the key was absent.
            Op::RemoveDeleteMarker => None,
            _ => first.previous_version_id.clone(),
        },
        left: match last.op {
            Op::DeleteMarker => None,
            // A copy that named no version was read back: its ETag tells a `null`
            // copy from a later `null` write; an empty id never matches.
            _ => Some((
                last.new_version_id.clone(),
                last.etag.clone().unwrap_or_default(),
                last.size.unwrap_or(0),
            )),
        },
        at: last.time,
    })
}

/// The restore's journal read a line at a time, twice: first the runs it holds and
/// their actions (to choose one: `--run`), then the chosen run's completed actions by
/// key, on disk, and its torn lines sorted into those a bucket can settle and those
/// nothing can.
fn read_journal(printer: &Printer, args: &UndoArgs) -> CliResult<Journaled> {
    let path = &args.restore_journal;
    let mut tracker = RunTracker::default();
    let mut done: Vec<u64> = Vec::new();
    let mut started: Vec<Option<DateTime<Utc>>> = Vec::new();
    journal::each_line(path, |l| {
        let i = tracker.run_of(&l);
        if done.len() <= i {
            done.resize(i + 1, 0);
            started.resize(i + 1, None);
        }
        match &l {
            Line::Done(_) => done[i] += 1,
            Line::Start { started_at, .. } => {
                started[i] = Some(started[i].map_or(*started_at, |s| s.min(*started_at)));
            }
            _ => {}
        }
    })?;
    let runs: Vec<(Run, u64)> = tracker
        .found
        .into_iter()
        .zip(done.into_iter().chain(std::iter::repeat(0)))
        .collect();
    let chosen = choose_run(path, &runs, args.run.as_deref())?;
    let run = chosen.map(|i| runs[i].0.clone());
    let started = started.get(chosen.unwrap_or(0)).copied().flatten();
    let mut tracker = RunTracker::default();
    let mut buckets = BTreeSet::new();
    let mut torn: BTreeMap<String, Vec<(u64, Salvaged, String)>> = BTreeMap::new();
    let mut unresolved = Vec::new();
    let mut wrote_to = None;
    let records = DoneByKey::read_with(path, |line| {
        journal::warn_if_torn(
            path,
            &line,
            printer,
            "the action it may record is re-checked against the bucket",
        );
        let i = tracker.run_of(&line);
        if chosen.is_some_and(|c| c != i) {
            return Ok(None);
        }
        match line {
            Line::Start {
                source,
                destination,
                ..
            } => {
                wrote_to = Some(match destination {
                    Destination::Bucket { location } => location,
                    _ => source,
                });
            }
            Line::Torn { offset, text } => {
                let s = journal::salvage(&text);
                match (s.kind.as_deref(), &s.bucket, &s.key, s.op) {
                    (Some(kind), _, _, _) if kind != "done" => printer.info(format!(
                        "torn journal line at byte {offset} is a {kind} line: it records no action"
                    )),
                    (_, _, _, Some(Op::File)) => {}
                    (_, _, _, Some(Op::RemoveDeleteMarker)) => unresolved.push(format!(
                        "the torn line at byte {offset} records a removed delete marker of {:?}, which undo cannot re-check",
                        s.key.as_deref().unwrap_or("?")
                    )),
                    (_, Some(bucket), Some(key), _) if started.is_some() => {
                        let (bucket, key) = (bucket.clone(), key.clone());
                        torn.entry(bucket).or_default().push((offset, s, key));
                    }
                    _ => unresolved.push(format!(
                        "the torn line at byte {offset} ({text:?}) is cut before it names its key, so the action it may record cannot be undone from the journal; look for keys written when the run ran with `s3rewind history`"
                    )),
                }
            }
            Line::Done(d) if d.op == Op::File => {
                return Err(CliError::usage(format!(
                    "journal {} is of a --to-dir restore: it wrote local files, which undo does not touch; remove the directory instead",
                    path.display()
                )));
            }
            Line::Done(d) => {
                if !buckets.contains(&d.bucket) {
                    buckets.insert(d.bucket.clone());
                }
                return Ok(Some(d));
            }
            Line::Upload { .. } => {}
        }
        Ok(None)
    })?;
    Ok(Journaled {
        run,
        started,
        records,
        buckets,
        torn,
        unresolved,
        wrote_to,
    })
}

/// The undo of one bucket's keys as a plan, its actions on disk; `None` when the
/// restore touched none of them. The engine decides ([`s3rewind_engine::undo`]) and
/// plans ([`Planner`]) [`UNDO_BATCH`] keys at a time, in key order: the journal's
/// records of them (`records`: the bucket's, and after them what `rechecked` torn
/// lines may record), and the versions current before the restore, read (HEAD) `width`
/// at a time.
async fn undo_plan(
    clients: &Clients,
    location: Location,
    records: &DoneByKey,
    mut rechecked: BTreeMap<String, Vec<Done>>,
    width: usize,
) -> CliResult<Option<(RestorePlan, ActionSpool)>> {
    let bucket = location.bucket.clone();
    let mut options = PlanOptions::new(location, Destination::InPlace, Utc::now());
    options.selection = s3rewind_engine::Selection::Undo;
    // Only version identity counts: put back exactly the earlier version.
    options.match_content = false;
    let mut planner = Planner::new(&options);
    let mut spool = ActionSpool::new()?;
    let mut touched = 0usize;
    let mut batches = records.batches(UNDO_BATCH);
    while let Some(keys) = batches.next_batch()? {
        let mut batch: Vec<Touch> = Vec::new();
        for (key, done) in keys {
            let mut mine: Vec<Done> = done.into_iter().filter(|d| d.bucket == bucket).collect();
            mine.extend(rechecked.remove(&key).unwrap_or_default());
            batch.extend(touch_of(key, &mine));
        }
        touched += batch.len();
        plan_batch(clients, &bucket, &batch, width, &mut planner, &mut spool).await?;
    }
    // Keys only torn lines name.
    let rest: Vec<Touch> = rechecked
        .into_iter()
        .filter_map(|(key, done)| touch_of(key, &done))
        .collect();
    touched += rest.len();
    plan_batch(clients, &bucket, &rest, width, &mut planner, &mut spool).await?;
    if touched == 0 {
        return Ok(None);
    }
    let mut plan = planner.finish();
    spool.push_run(&std::mem::take(&mut plan.actions))?;
    spool.seal()?;
    plan.created_at = Some(Utc::now());
    spool.scan(|a| {
        plan.validate_action(&a)?;
        Ok(true)
    })?;
    Ok(Some((plan, spool)))
}

/// Plan the undo of `touches` (keys no other batch holds): read the versions current
/// before the restore that it replaced, have the engine decide, and put the actions in
/// `spool`.
async fn plan_batch(
    clients: &Clients,
    bucket: &str,
    touches: &[Touch],
    width: usize,
    planner: &mut Planner<'_>,
    spool: &mut ActionSpool,
) -> CliResult<()> {
    if touches.is_empty() {
        return Ok(());
    }
    let left = undo::left_state(touches);
    let to_read = undo::versions_to_read(touches);
    let asked = to_read
        .iter()
        .map(|(key, id)| (key.clone(), Some(id.clone())))
        .collect();
    let heads = crate::bucket::head_versions(&clients.source, asked, width)
        .await
        .map_err(|e| from_s3(e, bucket))?;
    let mut versions = BTreeMap::new();
    for ((key, id), head) in to_read.into_iter().zip(heads) {
        let head = head.ok_or_else(|| {
            CliError::failure(format!(
                "version {id} of {key:?}, current before the restore, no longer exists; it cannot be put back"
            ))
        })?;
        let version = Version {
            version_id: id.as_str().into(),
            last_modified: head.last_modified.unwrap_or_else(Utc::now),
            delete_marker: false,
            etag: head.etag.into(),
            size: head.size,
            storage_class: Some(head.storage_class.into()),
            owner_id: None,
            is_latest: false,
        };
        versions.insert((key, id), version);
    }
    let target = undo::target_state(touches, &left, &versions);
    planner.add(&left, &target);
    spool.push_run(&planner.take_planned())
}
