//! `undo`: put back, on every key a restore touched, the version that was current before
//! the restore. Like a restore, it only adds versions and delete markers.
//!
//! The journal says, per key, what was current before the first action of the restore
//! (`previous_version_id`) and what the restore left (`new_version_id` of its last action).
//! The engine turns that into the state the restore left and the state before it
//! ([`s3rewind_engine::undo`]), and the undo is an ordinary plan (`plan()`) executed by the
//! ordinary runner, so a key that changed
//! since the restore is skipped and reported as drifted (unless `--force`), and the undo
//! has its own journal (undo of an undo works the same way).

use crate::args::UndoArgs;
use crate::commands::restore::{Clients, RESTORE_SCHEMA, check_buckets, run_plan};
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::journal::{self, Done, Line, Op};
use crate::pipeline::App;
use chrono::Utc;
use s3rewind_engine::undo::{self, Touch};
use s3rewind_engine::{Action, Destination, Location, PlanOptions, PlanStats, Version};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// What one key went through during the restore.
struct Touched {
    first: Done,
    last: Done,
}

/// `s3rewind undo`.
pub async fn undo_cmd(app: &App, args: &UndoArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    if !args.restore_journal.is_file() {
        return Err(CliError::usage(format!(
            "journal {} does not exist; `restore` prints its journal's path at the end",
            args.restore_journal.display()
        )));
    }
    let lines = journal::read(&args.restore_journal)?;
    let mut per_bucket: BTreeMap<String, BTreeMap<String, Touched>> = BTreeMap::new();
    // Where the restore wrote, from its start line: what an empty undo reports.
    let mut wrote_to: Option<Location> = None;
    for line in lines {
        if let Line::Start {
            source,
            destination,
            ..
        } = &line
        {
            wrote_to = Some(match destination {
                Destination::Bucket { location } => location.clone(),
                _ => source.clone(),
            });
        }
        let Line::Done(d) = line else { continue };
        if d.op == Op::File {
            return Err(CliError::usage(format!(
                "journal {} is of a --to-dir restore: it wrote local files, which undo does not touch; remove the directory instead",
                args.restore_journal.display()
            )));
        }
        let keys = per_bucket.entry(d.bucket.clone()).or_default();
        match keys.get_mut(&d.key) {
            Some(t) => t.last = d,
            None => {
                keys.insert(
                    d.key.clone(),
                    Touched {
                        first: d.clone(),
                        last: d,
                    },
                );
            }
        }
    }
    if per_bucket.is_empty() {
        printer.line(format!(
            "Journal {} records no completed action: nothing to undo.",
            args.restore_journal.display()
        ));
        // The document an undo with nothing to do prints (`source`: null when the
        // journal does not even say where the restore wrote).
        printer.json_value(&serde_json::json!({
            "schema": RESTORE_SCHEMA,
            "source": wrote_to,
            "destination": Destination::InPlace,
            "at": Utc::now(),
            "plan": PlanStats::default(),
            "report": crate::execute::ExecReport::default(),
            "journal": null,
        }));
        return Ok(Exit::Ok);
    }
    let mut worst = Exit::Ok;
    for (bucket, keys) in per_bucket {
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
        // The engine decides (s3rewind_engine::undo); this reads the versions it needs.
        let touches: Vec<Touch> = keys
            .into_iter()
            .map(|(key, t)| Touch {
                key,
                before: match t.first.op {
                    // Before a removed delete marker the key was absent.
                    Op::RemoveDeleteMarker => None,
                    _ => t.first.previous_version_id.clone(),
                },
                left: match t.last.op {
                    Op::DeleteMarker => None,
                    // A copy that named no version was read back: its ETag tells a
                    // `null` copy from a later `null` write; an empty id never matches.
                    _ => Some((
                        t.last.new_version_id.clone(),
                        t.last.etag.clone().unwrap_or_default(),
                        t.last.size.unwrap_or(0),
                    )),
                },
                at: t.last.time,
            })
            .collect();
        let left = undo::left_state(&touches);
        let mut versions = BTreeMap::new();
        for (key, id) in undo::versions_to_read(&touches) {
            let head = clients
                .source
                .head(&key, Some(&id))
                .await
                .map_err(|e| from_s3(e, &bucket))?
                .ok_or_else(|| {
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
        let target = undo::target_state(&touches, &left, &versions);
        let mut options = PlanOptions::new(location, Destination::InPlace, Utc::now());
        options.selection = s3rewind_engine::Selection::Undo;
        // Only version identity counts: put back exactly the earlier version.
        options.match_content = false;
        let mut plan = s3rewind_engine::plan(&left, &target, &options);
        plan.created_at = Some(Utc::now());
        plan.validate()?;
        printer.info(format!(
            "undo of {} on bucket {bucket:?}: {} copies back to the earlier version, {} delete markers",
            args.restore_journal.display(),
            plan.stats.copies,
            plan.stats.delete_markers
        ));
        if args.dry_run {
            printer.json_value(&plan);
            for a in &plan.actions {
                match a {
                    Action::Copy(c) => printer.line(format!(
                        "  copy    {:?} <- version {}",
                        c.key, c.source_version_id
                    )),
                    Action::DeleteMarker(d) => printer.line(format!("  delete  {:?}", d.key)),
                }
            }
            continue;
        }
        let undo_journal = args.exec.journal.clone().unwrap_or_else(|| {
            let mut p: PathBuf = args.restore_journal.clone();
            p.set_extension("undo.jsonl");
            p
        });
        let exit = run_plan(app, &clients, &plan, &args.exec, &undo_journal, 0).await?;
        if exit != Exit::Ok {
            worst = exit;
        }
    }
    Ok(worst)
}
