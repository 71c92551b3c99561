//! The third stage: a plan, checked and confirmed, is executed. Into a bucket by the
//! executor ([`crate::execute`]); into a directory by [`to_dir`]; and, for a restore to
//! a TIME into another bucket, while the source is still being listed
//! ([`execute_streamed`]). A resumed plan leaves out what its journal proves done
//! ([`skip_done`]).
//!
//! Names: this stage's entries are `execute_*` ([`execute_plan`],
//! [`to_dir::execute_to_dir`], [`execute_streamed`],
//! [`remove_markers::execute_removal`]); the executor under them is `run_*`
//! ([`crate::execute::run_plan`], [`crate::execute::run_stream`], and the runner's
//! [`crate::run::run_job`]).

pub mod remove_markers;
pub mod replica;
pub mod to_dir;

use crate::args::ExecArgs;
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::execute::{ArchiveRestore, ExecConfig, ExecReport};
use crate::journal::by_key::DoneByKey;
use crate::journal::{self, Journal, Line};
use crate::output::Printer;
use crate::pipeline::gates::{check_blast_radius, confirm};
use crate::pipeline::prepare::{KnownFor, Prepared, Request, TargetSpec, prepare_streamed};
use crate::pipeline::report::{RunDoc, print_plan_of, report_exec, restore_doc};
use crate::pipeline::{App, Clients};
use crate::spill::{ActionSpool, PlanActions};
use chrono::{DateTime, Utc};
use s3rewind_engine::{Action, Destination, NULL_VERSION, RestorePlan, Warning};
use std::collections::HashMap;
use std::path::Path;
use tokio::sync::mpsc;

/// The executor configuration from the command line.
pub fn exec_config(app: &App, args: &ExecArgs) -> ExecConfig {
    ExecConfig {
        concurrency: args.concurrency as usize,
        conditional: true,
        force: args.force,
        storage_class: args.storage_class.clone(),
        sse_kms_key_id: args.sse_kms_key_id.clone(),
        preserve_acl: args.preserve_acl,
        multipart_threshold: args.multipart_threshold,
        part_size: args.part_size,
        archive_restore: args.request_archive_restore.then_some(ArchiveRestore {
            days: args.restore_days,
            tier: match args.restore_tier {
                crate::args::ArchiveTier::Standard => "Standard",
                crate::args::ArchiveTier::Bulk => "Bulk",
                crate::args::ArchiveTier::Expedited => "Expedited",
            },
        }),
        fidelity_full: args.fidelity == crate::args::Fidelity::Full,
        caps: app.caps.clone(),
        ..ExecConfig::default()
    }
}

/// A whole plan run from its start (no journal of an earlier run): refused past
/// `--max-delete-markers`, else executed as a new run.
pub async fn execute_new_plan(
    app: &App,
    clients: &Clients,
    p: &mut RestorePlan,
    spool: Option<ActionSpool>,
    exec: &ExecArgs,
    journal_path: &Path,
) -> CliResult<(Exit, RunDoc)> {
    check_blast_radius(&app.printer, p, spool.as_ref(), exec.max_delete_markers)?;
    let run = journal::Run::of_plan(p);
    execute_plan(app, clients, p, spool, exec, journal_path, 0, &run).await
}

/// Confirm, execute and report a plan (its actions `spool`'s where one is given);
/// returns the JSON result for the caller to complete (with the verification) and
/// print.
#[allow(clippy::too_many_arguments)]
pub async fn execute_plan(
    app: &App,
    clients: &Clients,
    p: &mut RestorePlan,
    spool: Option<ActionSpool>,
    exec: &ExecArgs,
    journal_path: &Path,
    already_done: u64,
    run: &journal::Run,
) -> CliResult<(Exit, RunDoc)> {
    let printer = &app.printer;
    let actions = PlanActions::of(p, spool.as_ref());
    print_plan_of(printer, p, actions, app.verbose, app.verbose)?;
    if actions.is_empty() {
        let report = ExecReport {
            already_done,
            ..ExecReport::default()
        };
        return Ok((Exit::Ok, restore_doc(p, report, None)));
    }
    confirm(printer, p, actions, exec.yes)?;
    abort_left_over_uploads(clients, printer, journal_path).await?;
    let config = exec_config(app, exec);
    let mut r = match (&p.destination, spool) {
        (Destination::Directory { .. }, _) => {
            to_dir::execute_to_dir(&clients.source, p, &config, journal_path, printer).await?
        }
        (_, Some(spool)) => {
            let j = Journal::begin(journal_path, run, printer)?;
            crate::execute::run_spooled(
                clients.buckets(),
                p,
                spool,
                &config,
                Some(j),
                printer,
                None,
            )
            .await
        }
        (_, None) => {
            let j = Journal::begin(journal_path, run, printer)?;
            // The actions lent to the runner, not copied (see `run_plan_owned`).
            crate::execute::run_plan_owned(clients.buckets(), p, &config, Some(j), printer, None)
                .await
        }
    };
    r.already_done += already_done;
    Ok(report_exec(printer, p, r, journal_path))
}

/// Abort the multipart uploads an earlier, killed run of this restore left open.
pub async fn abort_left_over_uploads(
    clients: &Clients,
    printer: &Printer,
    journal_path: &Path,
) -> CliResult<()> {
    let open = journal::open_uploads(journal_path)?;
    for (bucket, key, upload_id) in &open {
        let upload = clients.dest_endpoint.bucket(bucket);
        match upload.abort_multipart(key, upload_id).await {
            Ok(()) => printer.info(format!(
                "aborted multipart upload {upload_id} of {key:?} left open by an interrupted run"
            )),
            Err(e) => printer.warn(format!(
                "could not abort multipart upload {upload_id} of {key:?} left by an interrupted run: {e}"
            )),
        }
    }
    if !open.is_empty()
        && let Ok(j) = Journal::open(journal_path, printer)
    {
        for (bucket, key, upload_id) in open {
            let _ = j.append(&Line::Upload {
                bucket,
                key,
                upload_id,
                open: false,
            });
        }
    }
    Ok(())
}

/// Does this restore write as it lists? A restore to a TIME into another bucket that
/// keeps versions, from a listing (not a snapshot), not a dry run: no confirmation to
/// ask (nothing there can be lost) and no delete markers to weigh (a restore into
/// another bucket adds none). Whether it does in the end depends on the destination
/// range holding nothing when listed (see [`prepare_streamed`]).
pub fn writes_as_it_lists(req: &Request, dry_run: bool, warnings: &[Warning]) -> bool {
    !dry_run
        && matches!(req.spec, TargetSpec::At(_))
        && matches!(req.destination, Destination::Bucket { .. })
        && !req.source_spec.is_snapshot()
        && !warnings
            .iter()
            .any(|w| matches!(w, Warning::DestinationKeepsNoHistory { .. }))
}

/// List, plan and copy at once (see [`writes_as_it_lists`]): the planner hands each
/// action to the runner as soon as the listing has passed its key. The report is `None`
/// when nothing was handed over (the destination range held something, or nothing
/// differs): the caller then executes the plan as usual.
pub async fn execute_streamed(
    app: &App,
    clients: &Clients,
    req: &Request,
    at: DateTime<Utc>,
    known: KnownFor<'_>,
    exec: &ExecArgs,
    journal_path: &Path,
) -> CliResult<(Prepared, Option<ExecReport>)> {
    let printer = &app.printer;
    let Destination::Bucket { location } = &req.destination else {
        unreachable!("checked by writes_as_it_lists");
    };
    let config = exec_config(app, exec);
    let (tx, mut rx) = mpsc::channel::<Action>(config.concurrency.max(1));
    let plan = prepare_streamed(clients, printer, req, at, known, Some(tx));
    let run = async {
        let Some(first) = rx.recv().await else {
            return Ok(None);
        };
        let run = journal::Run::restore(&req.source, &req.destination, at);
        let j = Journal::begin(journal_path, &run, printer)?;
        let r = crate::execute::run_stream(
            clients.buckets(),
            &location.prefix,
            &config,
            Some(j),
            printer,
            None,
            first,
            rx,
        )
        .await;
        Ok::<_, CliError>(Some(r))
    };
    let (prepared, report) = tokio::join!(plan, run);
    let report = report?;
    match (prepared, report) {
        (Ok(p), r) => Ok((p, r)),
        // Copies were made before the listing stopped: the one error line says so.
        (Err(e), Some(r)) => {
            // The error's own "nothing was written" is the listing's view; the runner
            // knows what was.
            let message = e
                .message
                .trim_end_matches('.')
                .replace("; nothing was written", "")
                .replace(" (nothing was written)", "");
            let written = if r.copied == 0 {
                "nothing was written".to_owned()
            } else {
                format!(
                    "{} copied before that, journal {}; run the same command again to resume, or `s3rewind undo {}` to take them back",
                    r.copied,
                    journal_path.display(),
                    journal_path.display()
                )
            };
            Err(CliError::new(e.exit, format!("{message} ({written})")))
        }
        (Err(e), None) => Err(e),
    }
}

/// Resume a plan file: leave out the actions its journal records as done for this plan
/// while the destination still holds what they wrote (the version id created where
/// real, else that copy's ETag and size; for a delete marker, the key still absent). One
/// HEAD per journaled action, on resume only, `width` at a time. Anything else stays in
/// the plan, where the executor's own check finds it done, drifted, or still to do.
/// Returns how many were left out; the plan's stats are counted again from the actions
/// that remain. The actions are `spool`'s where one is given (those left out are taken
/// out of it, read [`RESUME_BATCH`] at a time); the journal is read by key, on disk
/// ([`DoneByKey`]): neither is held.
pub async fn skip_done(
    clients: &Clients,
    printer: &Printer,
    p: &mut RestorePlan,
    spool: Option<&mut ActionSpool>,
    journal_path: &Path,
    run: &journal::Run,
    width: usize,
) -> CliResult<usize> {
    let mut journal = DoneByKey::read(
        journal_path,
        Some(run),
        printer,
        "the action it may record stays in the plan, where the executor checks its key first",
    )?;
    let dest = match &p.destination {
        Destination::InPlace => Some(p.source.bucket.clone()),
        Destination::Bucket { location } => Some(location.bucket.clone()),
        Destination::Directory { .. } => None,
    }
    .map(|name| (&clients.dest, name));
    // What will be done is counted from the actions that remain, never taken from the
    // file's own `stats` (which a hand-edited or partly applied plan no longer matches).
    let recorded = (p.stats.copies, p.stats.delete_markers);
    let digest = p.digest.take();
    let skipped = match spool {
        None => {
            let before = p.actions.len();
            let mut keys: Vec<&str> = p.actions.iter().map(Action::key).collect();
            keys.sort_unstable();
            keys.dedup();
            let records = journal.lookup(&keys)?;
            let mut last: HashMap<(&str, Option<String>), &journal::Done> = HashMap::new();
            for d in records.iter().flatten() {
                last.insert((d.key.as_str(), d.source_version_id.clone()), d);
            }
            let journaled: Vec<(&Action, journal::Done)> = p
                .actions
                .iter()
                .filter_map(|a| Some((a, (*last.get(&resume_id(a))?).clone())))
                .collect();
            let gone: std::collections::HashSet<String> =
                still_done(dest.as_ref(), &journaled, width)
                    .await?
                    .into_iter()
                    .collect();
            let keep = std::mem::take(&mut p.actions)
                .into_iter()
                .filter(|a| !gone.contains(a.key()))
                .collect();
            *p = s3rewind_engine::batch::with_actions(p, keep);
            before - p.actions.len()
        }
        Some(spool) => {
            let mut skipped = 0;
            let mut after: Option<String> = None;
            loop {
                // The next batch of the plan's actions, in key order (one per key).
                let mut batch: Vec<Action> = Vec::with_capacity(RESUME_BATCH);
                spool.scan_from(after.as_deref(), |a| {
                    batch.push(a);
                    Ok(batch.len() < RESUME_BATCH)
                })?;
                let Some(last) = batch.last() else { break };
                after = Some(last.key().to_owned());
                let keys: Vec<&str> = batch.iter().map(Action::key).collect();
                let journaled: Vec<(&Action, journal::Done)> = batch
                    .iter()
                    .zip(journal.lookup(&keys)?)
                    .filter_map(|(a, records)| {
                        let (key, source_version_id) = resume_id(a);
                        let d = records
                            .into_iter()
                            .rev()
                            .find(|d| d.key == key && d.source_version_id == source_version_id)?;
                        Some((a, d))
                    })
                    .collect();
                let gone = still_done(dest.as_ref(), &journaled, width).await?;
                skipped += spool.remove(&gone)? as usize;
            }
            let mut counts = s3rewind_engine::batch::ActionCounts::default();
            spool.scan(|a| {
                counts.add(&a);
                Ok(true)
            })?;
            *p = s3rewind_engine::batch::recounted(p, counts);
            skipped
        }
    };
    p.digest = digest;
    if skipped == 0 && recorded != (p.stats.copies, p.stats.delete_markers) {
        printer.warn(format!(
            "the plan file's stats say {} copies and {} delete markers, its actions hold {} and {}: what follows counts the actions",
            recorded.0, recorded.1, p.stats.copies, p.stats.delete_markers
        ));
    }
    Ok(skipped)
}

/// Actions a resumed plan reads from its spool at a time (with their journal records and
/// HEADs): what it holds, whatever the plan's size.
pub const RESUME_BATCH: usize = if cfg!(test) { 2 } else { 4096 };

/// What a journal record of action `a` names it by: its key and, for a copy, the source
/// version copied (the last record of that pair is the one that counts).
fn resume_id(a: &Action) -> (&str, Option<String>) {
    match a {
        Action::Copy(c) => (c.key.as_str(), Some(c.source_version_id.to_string())),
        Action::DeleteMarker(d) => (d.key.as_str(), None),
    }
}

/// The keys of `journaled` (each action with its journal record) whose destination
/// (`dest`: the bucket and its name; `None`, a directory, whose files the executor
/// checks) still holds what the record says the action wrote: read `width` at a time.
async fn still_done(
    dest: Option<&(&std::sync::Arc<dyn crate::bucket::Bucket>, String)>,
    journaled: &[(&Action, journal::Done)],
    width: usize,
) -> CliResult<Vec<String>> {
    let Some((bucket, name)) = dest else {
        return Ok(journaled.iter().map(|(a, _)| a.key().to_owned()).collect());
    };
    let asked = journaled
        .iter()
        .map(|(_, d)| (d.key.clone(), None))
        .collect();
    let heads = crate::bucket::head_versions(bucket, asked, width)
        .await
        .map_err(|e| from_s3(e, name))?;
    Ok(journaled
        .iter()
        .zip(heads)
        .filter(|((a, d), now)| match (a, now) {
            (Action::DeleteMarker(_), None) => true,
            (Action::Copy(_), Some(h)) => {
                if d.new_version_id.is_empty() {
                    false
                } else if d.new_version_id == NULL_VERSION {
                    d.etag.as_deref() == Some(h.etag.as_str()) && d.size == Some(h.size)
                } else {
                    h.version_id == d.new_version_id
                }
            }
            _ => false,
        })
        .map(|((a, _), _)| a.key().to_owned())
        .collect())
}
