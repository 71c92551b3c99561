//! `plan`, `restore` and `apply`: the command line, the stages (see [`crate::pipeline`]),
//! the result.

use crate::args::{ApplyArgs, PlanArgs, RestoreArgs};
use crate::error::{CliError, CliResult, Exit};
use crate::journal;
use crate::journal::by_key::DoneByKey;
use crate::listing::Streams;
use crate::pipeline::execute::replica::copy_from_replica;
use crate::pipeline::execute::{
    abort_left_over_uploads, execute_new_plan, execute_plan, execute_streamed, skip_done,
    writes_as_it_lists,
};
use crate::pipeline::gates::{
    annotate_archived, check_blast_radius, check_buckets, check_digest, gate_warnings,
};
use crate::pipeline::plan_file::{read_plan_file, write_plan_file};
use crate::pipeline::prepare::{
    TargetSpec, estimate_of, finish_plan, plan_digest_of, prepare, resolve,
};
use crate::pipeline::report::{print_plan_json, print_plan_summary, report_exec};
use crate::pipeline::verify::{current_objects_state, verify_after};
use crate::pipeline::{App, Clients};
use chrono::{DateTime, Utc};
use s3rewind_engine::{DeleteLimit, Destination};
use std::path::{Path, PathBuf};

/// `s3rewind plan`.
pub async fn plan_cmd(app: &App, args: &PlanArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let mut req = resolve(&args.target, &app.connect)?;
    if let Some(out) = &args.out {
        crate::outputs::file("--out", out, crate::outputs::Parent::MustExist)?;
    }
    if let [_, dir] = args.emit.as_slice() {
        crate::outputs::dir("--emit", Path::new(dir))?;
    }
    req.keep_target = false;
    // The actions on disk: the printed plan, its JSON, --out and --emit read them there.
    req.spool_actions = true;
    let clients = req.clients(app).await;
    let mut warnings =
        check_buckets(&clients, printer, &req.source, &req.destination, false).await?;
    let mut prepared = prepare(&clients, printer, &req, &|_| Ok(None)).await?;
    warnings.extend(gate_warnings(&clients, &req.source, &req.destination, prepared.at).await?);
    let mut p = finish_plan(prepared.plan, &req, warnings, prepared.spool.as_mut())?;
    let spool = prepared.spool.as_ref();
    p.estimate = Some(estimate_of(
        app.connect.region.as_deref(),
        &p,
        prepared.listed,
        None,
    ));
    annotate_archived(&clients, &mut p, spool).await?;
    if let Some(w) = p.exceeds(DeleteLimit::DEFAULT) {
        p.warnings.insert(0, w);
    }
    if let [format, dir] = args.emit.as_slice() {
        if format != "batch-ops" {
            return Err(CliError::usage(format!(
                "--emit {format:?}: the only format is batch-ops"
            )));
        }
        crate::batch::emit(
            printer,
            &p,
            spool,
            Path::new(dir),
            &crate::batch::JobOptions::of(args),
        )?;
    }
    p.digest = Some(plan_digest_of(&mut p, spool)?);
    let digest = p.digest.clone().unwrap_or_default();
    if let Some(out) = &args.out {
        write_plan_file(out, &p, spool)?;
        printer.info(format!(
            "plan written to {}, digest {digest}; after review run `s3rewind apply {} --expect-digest {digest}` to execute exactly this plan",
            out.display(),
            out.display()
        ));
    }
    print_plan_json(printer, &p, spool, app.verbose)?;
    Ok(Exit::Ok)
}

/// `s3rewind restore`.
pub async fn restore_cmd(app: &App, args: &RestoreArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let mut req = resolve(&args.target, &app.connect)?;
    if !args.dry_run {
        // Everything it will write locally, before the listing and the first write.
        crate::outputs::of_exec(&args.exec, &app.journal_dir)?;
        if let Destination::Directory { path } = &req.destination {
            crate::outputs::dir("--to-dir", Path::new(path))?;
        }
    }
    req.keep_target = !args.dry_run && !args.exec.no_verify;
    // A plan made as the listing streams is held on disk, not in memory.
    req.spool_actions = true;
    let clients = req.clients(app).await;
    let mut warnings = check_buckets(
        &clients,
        printer,
        &req.source,
        &req.destination,
        !args.dry_run,
    )
    .await?;
    let journal_of = |at: DateTime<Utc>| {
        args.exec.journal.clone().unwrap_or_else(|| {
            journal::default_path(&app.journal_dir, &req.source, &req.destination, at)
        })
    };
    let known = |at: DateTime<Utc>| resumed_copies(printer, &req, &journal_of(at), at);
    // Into another bucket, copies may start while the source is still being listed.
    let (prepared, streamed) = match req.spec {
        TargetSpec::At(at) if writes_as_it_lists(&req, args.dry_run, &warnings) => {
            warnings.extend(gate_warnings(&clients, &req.source, &req.destination, at).await?);
            let journal_path = journal_of(at);
            abort_left_over_uploads(&clients, printer, &journal_path).await?;
            execute_streamed(app, &clients, &req, at, &known, &args.exec, &journal_path).await?
        }
        _ => {
            let prepared = prepare(&clients, printer, &req, &known).await?;
            warnings
                .extend(gate_warnings(&clients, &req.source, &req.destination, prepared.at).await?);
            (prepared, None)
        }
    };
    let journal_path = journal_of(prepared.at);
    let mut spool = prepared.spool;
    let mut p = finish_plan(prepared.plan, &req, warnings, spool.as_mut())?;
    if streamed.is_none() {
        p.estimate = Some(estimate_of(
            app.connect.region.as_deref(),
            &p,
            prepared.listed,
            Some(&args.exec),
        ));
    }
    let listing = (req.page_size, req.list_streams);
    let (result, current) = if let Some(r) = streamed {
        // The plan is whole only now: shown after its copies, with what they did.
        print_plan_summary(printer, &p);
        (report_exec(printer, &p, r, &journal_path), None)
    } else {
        annotate_archived(&clients, &mut p, spool.as_ref()).await?;
        if args.dry_run {
            if let Some(w) = p.exceeds(args.exec.max_delete_markers) {
                p.warnings.insert(0, w);
            }
            print_plan_json(printer, &p, spool.as_ref(), app.verbose)?;
            return Ok(Exit::Ok);
        }
        let (mut exit, doc) =
            execute_new_plan(app, &clients, &mut p, spool, &args.exec, &journal_path).await?;
        if req.from_replica.is_some() && exit != Exit::Interrupted {
            let failed = copy_from_replica(app, &clients, &p).await?;
            if failed > 0 && exit == Exit::Ok {
                exit = Exit::Partial;
            }
        }
        // A snapshot cannot show the state after the restore, and listing the history is
        // what --index and --inventory avoid: the restored range is verified from its
        // current objects (one ListObjectsV2 pass), ETag and size against the state at T.
        let current = if req.source_spec.is_snapshot() && !args.exec.no_verify {
            Some(current_objects_state(&clients, &p).await?)
        } else {
            None
        };
        ((exit, doc), current)
    };
    verify_after(
        app,
        &clients,
        &p,
        &args.exec,
        Some(prepared.target),
        listing,
        &journal_path,
        result,
        current,
    )
    .await
}

/// The journal of an earlier run of this restore to `at`, read by key (on disk: a run
/// stopped halfway through millions of copies journaled millions), whose copies the
/// planner counts as done; a journal of another run is refused here, before the listing.
fn resumed_copies(
    printer: &crate::output::Printer,
    req: &crate::pipeline::prepare::Request,
    journal_path: &Path,
    at: DateTime<Utc>,
) -> CliResult<Option<DoneByKey>> {
    let run = journal::Run::restore(&req.source, &req.destination, at);
    let known = DoneByKey::read(
        journal_path,
        Some(&run),
        printer,
        "the action it may record is checked against the bucket: the plan is made from the bucket's current state",
    )?;
    if known.copies() > 0 {
        printer.info(format!(
            "resuming: journal {} records {} completed copies",
            journal_path.display(),
            known.copies()
        ));
    }
    Ok((known.records() > 0).then_some(known))
}

/// `s3rewind apply`.
pub async fn apply_cmd(app: &App, args: &ApplyArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    crate::outputs::of_exec(&args.exec, &app.journal_dir)?;
    // Its actions on disk as they are read (a plan file in key order, as `plan --out`
    // writes it); held otherwise.
    let (mut p, mut spool) = read_plan_file(&args.plan)?;
    check_digest(
        printer,
        &args.plan,
        &mut p,
        spool.as_ref(),
        args.expect_digest.as_deref(),
    )?;
    // The run is bound to the plan as read (its journal refuses another plan).
    p.digest = Some(plan_digest_of(&mut p, spool.as_ref())?);
    let clients = Clients::new(app, &p.source, &p.destination, None).await;
    check_buckets(&clients, printer, &p.source, &p.destination, true).await?;
    for w in gate_warnings(&clients, &p.source, &p.destination, p.at).await? {
        if !p.warnings.contains(&w) {
            p.warnings.insert(0, w);
        }
    }
    let journal_path: PathBuf = args.exec.journal.clone().unwrap_or_else(|| {
        journal::default_path(&app.journal_dir, &p.source, &p.destination, p.at)
    });
    let run = journal::Run::of_plan(&p);
    let skipped = skip_done(
        &clients,
        printer,
        &mut p,
        spool.as_mut(),
        &journal_path,
        &run,
        args.exec.concurrency as usize,
    )
    .await?;
    check_blast_radius(
        printer,
        &mut p,
        spool.as_ref(),
        args.exec.max_delete_markers,
    )?;
    if skipped > 0 {
        printer.info(format!(
            "resuming: {skipped} actions already done according to journal {}",
            journal_path.display()
        ));
    }
    let result = execute_plan(
        app,
        &clients,
        &mut p,
        spool,
        &args.exec,
        &journal_path,
        skipped as u64,
        &run,
    )
    .await?;
    verify_after(
        app,
        &clients,
        &p,
        &args.exec,
        None,
        (1000, Streams::new(16, crate::listing::Split::Auto)),
        &journal_path,
        result,
        None,
    )
    .await
}
