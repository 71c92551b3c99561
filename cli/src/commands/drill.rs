//! `drill`: a disaster-recovery rehearsal. Restore the state at TIME into a scratch
//! location, verify every object by content against its source version, and report what
//! an auditor asks: objects and bytes restored, the recovery time achieved, how far back
//! recovery can reach, and every failure grouped by cause. `--cleanup` then removes
//! exactly what the drill wrote (its journal says what), nothing else.
//!
//! JSON (`--output json`, and `--report FILE`): one document,
//! `{"schema": "s3rewind.drill/v1", "source", "scratch", "at", "ok", "objects_restored",
//! "bytes_restored", "recovery_seconds", "reach_back": {"oldest_restorable", "why"},
//! "verification": {…the verify report…}, "failures": {"copy_failed", "drifted",
//! "waiting", "verification"}, "journal", "cleanup": {"removed", "left"} | null}`.

use crate::args::DrillArgs;
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::journal::by_key::DoneByKey;
use crate::journal::{self, Line, Op};
use crate::output::{Printer, human_bytes};
use crate::pipeline::App;
use crate::pipeline::execute::{execute_new_plan, execute_streamed, writes_as_it_lists};
use crate::pipeline::gates::{annotate_archived, check_buckets, gate_warnings};
use crate::pipeline::prepare::{Prepared, Request, TargetSpec, finish_plan, prepare};
use crate::pipeline::report::{print_plan_summary, report_exec};
use crate::pipeline::resolve_time;
use crate::pipeline::verify::{self, Side, VerifyReport};
use crate::pipeline::{Clients, rfc3339};
use crate::spill::{ActionSpool, PlanActions};
use chrono::{Duration, Utc};
use s3rewind_engine::sample::{Projection, Sample, SampleSize, Strata};
use s3rewind_engine::{Action, Destination, Location, NULL_VERSION, parse_s3_uri};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The name and version of the drill's JSON document (see the module docs).
pub const DRILL_SCHEMA: &str = "s3rewind.drill/v1";

/// `s3rewind drill`: the request, the scratch location checked empty, the restore (the
/// stages of [`crate::pipeline`]), a deep verification, the reach back, the cleanup, the
/// report.
pub async fn drill_cmd(app: &App, args: &DrillArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let started = Instant::now();
    let req = request(args, &app.connect)?;
    let (source, at) = (req.source.clone(), at_of(&req));
    let Destination::Bucket { location: scratch } = req.destination.clone() else {
        unreachable!("a drill restores into a bucket");
    };
    // The report and the journal are written at the end: refused now if they cannot be.
    crate::outputs::of_exec(&args.exec, &app.journal_dir)?;
    if let Some(path) = &args.metrics {
        crate::outputs::file("--metrics", path, crate::outputs::Parent::MustExist)?;
    }
    let clients = Clients::new(app, &source, &req.destination, req.dest_connect.as_ref()).await;
    let mut warnings = check_buckets(&clients, printer, &source, &req.destination, true).await?;
    require_empty(&clients, &scratch).await?;
    warnings.extend(gate_warnings(&clients, &source, &req.destination, at).await?);
    let journal_path = fresh_journal(&app.journal_dir, args, &req, at)?;
    let (prepared, exit, doc) = restore(app, args, &clients, &req, warnings, &journal_path).await?;
    let sample = prepared.sample.as_ref().map(|(s, _)| s);
    let report = verify_scratch(
        app,
        args,
        &clients,
        &req,
        prepared.target,
        sample,
        &journal_path,
    );
    let report = report.await?;
    let recovery_seconds = started.elapsed().as_secs_f64();
    let projection = prepared.sample.as_ref().map(|(s, planned)| {
        let fixed = planned.duration_since(started).as_secs_f64();
        s3rewind_engine::sample::project(s, fixed, recovery_seconds - fixed)
    });
    // With a sample, the objective is held to the whole range's projected time.
    let judged = projection.map_or(recovery_seconds, |p| p.seconds);
    let (oldest, why) = reach_back(&clients, &source, prepared.earliest).await?;
    let cleanup = if args.cleanup {
        Some(
            cleanup(
                &clients,
                &scratch.bucket,
                &journal_path,
                args.exec.concurrency as usize,
            )
            .await?,
        )
    } else {
        None
    };
    let over_rto = over_rto(args.max_rto, judged, projection.is_some());
    let drilled = Drilled {
        ok: exit == Exit::Ok && report.ok && over_rto.is_none(),
        restored: doc.report.copied,
        bytes: doc.report.bytes_copied,
        recovery_seconds,
        oldest,
        why,
        cleanup,
    };
    let ok = drilled.ok;
    let mut failures = failures(&doc.report, &report)?;
    if let Some(why) = &over_rto {
        failures["rto"] = json!(why);
    }
    let out = json!({
        "schema": DRILL_SCHEMA,
        "source": source,
        "scratch": scratch,
        "at": at,
        "ok": ok,
        "objects_restored": drilled.restored,
        "bytes_restored": drilled.bytes,
        "keys_at_target": report.keys_at_target,
        "recovery_seconds": drilled.recovery_seconds,
        "reach_back": { "oldest_restorable": drilled.oldest, "why": drilled.why },
        "verification": report,
        "targets": { "max_rto_seconds": args.max_rto },
        "rpo": rpo(at),
        "sample": prepared.sample.as_ref().map_or(Value::Null, |(s, _)| sample_json(s, projection.as_ref())),
        "failures": failures,
        "journal": journal_path,
        "cleanup": drilled.cleanup.as_ref().map_or(Value::Null, |(removed, left)| json!({ "removed": removed, "left": left })),
    });
    // Checked before the drill began; should it fail now all the same, the result is
    // printed first and the error says what is missing.
    let report_error = write_outputs(app, args, &clients, &req, &out, &journal_path).await?;
    print_drill(
        printer,
        (&source, &scratch, at),
        &drilled,
        &report,
        &out["failures"],
        &journal_path,
    );
    if let (Some((s, _)), Some(p)) = (&prepared.sample, &projection) {
        print_sample(printer, s, p, exit == Exit::Ok && report.ok);
    }
    printer.json_value(&out);
    if let Some(e) = report_error {
        return Err(e);
    }
    Ok(if exit == Exit::Interrupted {
        Exit::Interrupted
    } else if ok {
        Exit::Ok
    } else {
        Exit::Partial
    })
}

/// The deep verification of the scratch copy against the state at TIME (a sample's keys
/// only, with a sample), the journal's copies recognised.
async fn verify_scratch(
    app: &App,
    args: &DrillArgs,
    clients: &Clients,
    req: &Request,
    mut target: crate::pipeline::target::TargetState,
    sample: Option<&Sample>,
    journal_path: &Path,
) -> CliResult<verify::VerifyReport> {
    let (printer, source, at) = (&app.printer, &req.source, at_of(req));
    let Destination::Bucket { location: scratch } = &req.destination else {
        unreachable!("a drill restores into a bucket");
    };
    // A sample's verification is of its keys: the state at TIME narrowed to them.
    let filter = match sample {
        Some(s) => {
            let f = s3rewind_engine::select::KeyFilter::new(
                &[],
                &[],
                Some(s.keys.iter().cloned().collect()),
            )
            .map_err(CliError::usage)?;
            target.retain(&f);
            f
        }
        None => crate::pipeline::filter_of(&req.keys)?,
    };
    verify::check(
        printer,
        &clients.source,
        source,
        &Side::Bucket {
            bucket: clients.dest.clone(),
            location: scratch.clone(),
        },
        at,
        target,
        None,
        &filter,
        verify::Extras {
            journal: Some(journal_path),
            every_check: false,
        },
        true,
        (req.page_size, req.list_streams),
        args.exec.concurrency.min(64) as usize,
    )
    .await
}

/// Why the drill is over `--max-rto`, if it is: `judged` is its recovery time (projected
/// to the whole range from a sample when `projected`).
fn over_rto(max_rto: Option<i64>, judged: f64, projected: bool) -> Option<String> {
    max_rto.filter(|&max| judged > max as f64).map(|max| {
        format!(
            "recovery {} {judged:.1} s, over --max-rto {max} s by {:.1} s",
            if projected {
                "of the whole range projected from the sample at"
            } else {
                "took"
            },
            judged - max as f64
        )
    })
}

/// The `sample` object of the drill's document.
fn sample_json(s: &Sample, p: Option<&Projection>) -> Value {
    json!({
        "seed": s.seed,
        "keys": s.size,
        "bytes": s.bytes,
        "population_keys": s.population,
        "population_bytes": s.population_bytes,
        "strata": s.strata,
        "size_cv": s.size_cv,
        "projection": p.map(|p| json!({
            "rto_seconds": p.seconds,
            "low_seconds": p.low,
            "high_seconds": p.high,
            "confidence": 0.95,
            "measured_whole_range_seconds": p.fixed_seconds,
            "measured_sample_seconds": p.sample_seconds,
            "scale_by_keys": p.by_keys,
            "scale_by_bytes": p.by_bytes,
            "relative_error": p.relative_error,
        })),
    })
}

/// The sample's lines of the summary. The projection is printed only when the sample
/// itself restored and verified (`projected`): a failed drill projects nothing.
fn print_sample(printer: &Printer, s: &Sample, p: &Projection, projected: bool) {
    printer.line(format!(
        "  sample: {} of {} keys ({:.2}%), {} of {}, over {} prefix(es), seed {} (--sample-seed {} draws it again)",
        s.size,
        s.population,
        100.0 * s.size as f64 / s.population.max(1) as f64,
        human_bytes(s.bytes),
        human_bytes(s.population_bytes),
        s.strata.len(),
        s.seed,
        s.seed
    ));
    if projected {
        printer.line(format!(
            "  projected recovery time of the whole range: {:.1} s (95% range {:.1}–{:.1} s): listing and planning {:.1} s measured on the whole range, copying and verifying {:.1} s for the sample scaled ×{:.1} by keys, ×{:.1} by bytes",
            p.seconds, p.low, p.high, p.fixed_seconds, p.sample_seconds, p.by_keys, p.by_bytes
        ));
    }
}

/// What a drill achieved, as its summary says it.
struct Drilled {
    /// Every copy made and every key verified by content.
    ok: bool,
    /// Objects copied.
    restored: u64,
    /// Bytes copied.
    bytes: u64,
    /// The recovery time achieved: listing, planning, copying and verifying.
    recovery_seconds: f64,
    /// How far back recovery reaches, and why.
    oldest: chrono::DateTime<Utc>,
    why: String,
    /// `--cleanup`: versions removed, keys left.
    cleanup: Option<(u64, Vec<String>)>,
}

/// The restore a drill makes: the state at TIME of the source, into the scratch
/// location, with the whole listing (a drill measures a whole recovery).
fn request(args: &DrillArgs, global: &crate::bucket::ConnectOptions) -> CliResult<Request> {
    // Options a restore takes that mean nothing to a drill: refused, not ignored.
    let meaningless = [
        (
            args.exec.no_verify,
            "--no-verify: a drill always verifies every object by content",
        ),
        (
            args.exec.force,
            "--force: a drill writes only into an empty scratch location, where nothing can drift",
        ),
        (
            args.exec.max_delete_markers != s3rewind_engine::DeleteLimit::DEFAULT,
            "--max-delete-markers: a drill writes no delete markers (its scratch location starts empty)",
        ),
    ];
    if let Some((_, why)) = meaningless.iter().find(|(given, _)| *given) {
        return Err(CliError::usage(format!(
            "{why}; leave the option out of the drill"
        )));
    }
    let source = parse_s3_uri(&args.source)?;
    let scratch = parse_s3_uri(&args.scratch)?;
    if scratch.bucket == source.bucket
        && (scratch.prefix.starts_with(&source.prefix)
            || source.prefix.starts_with(&scratch.prefix))
    {
        return Err(CliError::usage(format!(
            "scratch location s3://{}/{} overlaps the source s3://{}/{}: a drill must not write where it reads; give a scratch bucket or a prefix outside the source",
            scratch.bucket, scratch.prefix, source.bucket, source.prefix
        )));
    }
    let (at, note) = resolve_time(&args.at)?;
    Ok(Request {
        source,
        destination: Destination::Bucket { location: scratch },
        spec: TargetSpec::At(at),
        page_size: args.listing.page_size,
        list_streams: args.listing.streams(),
        source_spec: crate::source::SourceSpec::of(&args.listing, &args.snapshot),
        time_note: note,
        dest_connect: crate::pipeline::prepare::dest_connect_of(
            args.dest_profile.as_deref(),
            args.dest_endpoint_url.as_deref(),
            args.dest_region.as_deref(),
            global,
        ),
        keys: crate::pipeline::key_selection(&args.select)?,
        keep_target: true,
        // A drill that plans first (sampled, or from a snapshot) keeps its plan on disk.
        spool_actions: true,
        from_replica: None,
    })
}

/// The TIME of a drill's request.
fn at_of(req: &Request) -> chrono::DateTime<Utc> {
    match req.spec {
        TargetSpec::At(at) => at,
        _ => unreachable!("a drill restores to a TIME"),
    }
}

/// A drill measures a whole recovery, and `--cleanup` must leave the scratch location
/// as it was: it starts from a location with nothing in it (no current object: delete
/// markers alone are nothing). ListObjectsV2 is read until its first object
/// ([`crate::crosscheck::first_current_object`]): a scratch location given by mistake (a
/// production bucket's root) is refused at once, not listed whole first.
async fn require_empty(clients: &Clients, scratch: &Location) -> CliResult<()> {
    let Some(first) =
        crate::crosscheck::first_current_object(clients.dest.as_ref(), &scratch.prefix).await?
    else {
        return Ok(());
    };
    Err(CliError::refused(format!(
        "scratch location s3://{}/{} holds objects (the first: {:?}): a drill restores into an empty location (e.g. s3://{}/drill-{}/); nothing was written",
        scratch.bucket,
        scratch.prefix,
        first.key,
        scratch.bucket,
        Utc::now().format("%Y%m%d-%H%M%S")
    )))
}

/// The drill's journal, started afresh (a drill never resumes an earlier one).
fn fresh_journal(
    journal_dir: &std::path::Path,
    args: &DrillArgs,
    req: &Request,
    at: chrono::DateTime<Utc>,
) -> CliResult<PathBuf> {
    let journal_path =
        args.exec.journal.clone().unwrap_or_else(|| {
            journal::default_path(journal_dir, &req.source, &req.destination, at)
        });
    if journal_path.exists() {
        std::fs::remove_file(&journal_path).map_err(|e| {
            CliError::failure(format!(
                "cannot start a fresh drill journal at {}: {e}",
                journal_path.display()
            ))
        })?;
    }
    Ok(journal_path)
}

/// List, plan and copy (the scratch location is empty: into a versioned bucket, copies
/// start while the source is still being listed), without confirmation.
async fn restore(
    app: &App,
    args: &DrillArgs,
    clients: &Clients,
    req: &Request,
    warnings: Vec<s3rewind_engine::Warning>,
    journal_path: &Path,
) -> CliResult<(Restored, Exit, crate::pipeline::report::RunDoc)> {
    let printer = &app.printer;
    let at = at_of(req);
    let mut exec = args.exec.clone();
    exec.yes = true;
    let none = |_| Ok(None);
    // A sample is drawn from the whole plan: no copy starts while the source is listed.
    let (prepared, streamed) = if args.sample.is_none() && writes_as_it_lists(req, false, &warnings)
    {
        execute_streamed(app, clients, req, at, &none, &exec, journal_path).await?
    } else {
        (prepare(clients, printer, req, &none).await?, None)
    };
    let Prepared {
        earliest,
        target,
        plan,
        mut spool,
        ..
    } = prepared;
    let mut p = finish_plan(plan, req, warnings, spool.as_mut())?;
    let planned = Instant::now();
    let sample = match args.sample {
        None => None,
        Some(size) => {
            let seed = args
                .sample_seed
                .unwrap_or_else(|| Utc::now().timestamp_nanos_opt().unwrap_or_default() as u64);
            // The sample's actions are held; the whole plan's spool is done with.
            Some(take_sample(&mut p, spool.take().as_ref(), size, seed)?)
        }
    };
    let (exit, doc) = match streamed {
        Some(r) => {
            print_plan_summary(printer, &p);
            report_exec(printer, &p, r, journal_path)
        }
        None => {
            annotate_archived(clients, &mut p, spool.as_ref()).await?;
            execute_new_plan(app, clients, &mut p, spool, &exec, journal_path).await?
        }
    };
    Ok((
        Restored {
            earliest,
            target,
            sample: sample.map(|s| (s, planned)),
        },
        exit,
        doc,
    ))
}

/// Draw the drill's sample from the plan's copies and keep only theirs (a drill's plan
/// copies every key at TIME into an empty scratch location): the plan's actions are read
/// twice, from `spool` where it is given (the plan then holds none), to count the strata
/// and then to choose, and only the sample's are kept, in the plan.
fn take_sample(
    p: &mut s3rewind_engine::RestorePlan,
    spool: Option<&ActionSpool>,
    size: SampleSize,
    seed: u64,
) -> CliResult<Sample> {
    let mut strata = Strata::new(&p.source.prefix);
    PlanActions::of(p, spool).each(|a| {
        if let Action::Copy(c) = a {
            strata.count(&c.source_key, c.size);
        }
        Ok(true)
    })?;
    let mut chooser = strata.chooser(size, seed);
    PlanActions::of(p, spool).each(|a| {
        if let Action::Copy(c) = a {
            chooser.offer(&c.source_key, c.size);
        }
        Ok(true)
    })?;
    let sample = chooser.finish();
    let mut kept = Vec::with_capacity(sample.keys.len());
    PlanActions::of(p, spool).each(|a| {
        let keep = match a {
            Action::Copy(c) => sample.keys.contains(&c.source_key),
            Action::DeleteMarker(_) => true,
        };
        if keep {
            kept.push(a.clone());
        }
        Ok(true)
    })?;
    p.actions = kept;
    p.stats.copies = sample.size;
    p.stats.bytes_to_copy = sample.bytes;
    Ok(sample)
}

/// What the verification and the reach back need of the restore.
struct Restored {
    /// The first write under the source prefix.
    earliest: chrono::DateTime<Utc>,
    /// The state at TIME.
    target: crate::pipeline::target::TargetState,
    /// `--sample`: the keys drawn, and when the whole range was listed and planned.
    sample: Option<(Sample, Instant)>,
}

/// How far back recovery reaches: noncurrent versions older than the shortest
/// expiration covering the prefix may be gone.
async fn reach_back(
    clients: &Clients,
    source: &Location,
    earliest: chrono::DateTime<Utc>,
) -> CliResult<(chrono::DateTime<Utc>, String)> {
    let rules = clients
        .source_endpoint
        .config(&source.bucket)
        .noncurrent_expirations()
        .await
        .map_err(|e| from_s3(e, &source.bucket))?;
    let covering = rules
        .iter()
        .filter(|(_, prefix, _)| {
            source.prefix.starts_with(prefix.as_str()) || prefix.starts_with(&source.prefix)
        })
        .min_by_key(|(_, _, days)| *days);
    Ok(match covering {
        Some((rule, _, days)) => (
            (Utc::now() - Duration::days(i64::from(*days))).max(earliest),
            format!(
                "lifecycle rule {rule:?} expires noncurrent versions after {days} days: a version replaced longer ago than that may be gone"
            ),
        ),
        None => (
            earliest,
            "no lifecycle rule expires noncurrent versions: every state since the first write can be restored".to_owned(),
        ),
    })
}

/// The keys of a JSON array of issues (`[]` when absent).
fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

/// Every failure grouped by cause: the execution's, and the verification's by outcome.
fn failures(exec_report: &crate::execute::ExecReport, report: &VerifyReport) -> CliResult<Value> {
    let mut by_outcome: BTreeMap<String, Vec<String>> = BTreeMap::new();
    report.differences.each(|d| {
        let kind = serde_json::to_value(d.reason)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        by_outcome.entry(kind).or_default().push(d.key);
        Ok(true)
    })?;
    Ok(json!({
        "copy_failed": exec_report.failed,
        "drifted": exec_report.drifted,
        "waiting": exec_report.waiting,
        "verification": by_outcome,
    }))
}

/// The drill's files: `--report` (the JSON document, or with a name ending in `.html` the
/// reviewer's page, whose chart reads the source once more) and `--metrics`. Checked
/// before the drill began; should a write fail now all the same, the error is returned
/// for the caller to raise after printing the result (only the file is missing).
async fn write_outputs(
    app: &App,
    args: &DrillArgs,
    clients: &Clients,
    req: &Request,
    out: &Value,
    journal_path: &Path,
) -> CliResult<Option<CliError>> {
    let printer = &app.printer;
    let at = at_of(req);
    let ok = out["ok"].as_bool().unwrap_or(false);
    let html = args.exec.report.as_ref().is_some_and(|p| {
        p.extension()
            .is_some_and(|x| x.eq_ignore_ascii_case("html"))
    });
    let bins = if html {
        activity_bins(clients, printer, req, at).await?
    } else {
        Vec::new()
    };
    let mut written = args.exec.report.as_ref().map(|path| {
        let text = if html {
            crate::drill_html::render(out, &bins, at.timestamp())
        } else {
            serde_json::to_string_pretty(&out).expect("serialisable") + "\n"
        };
        (path, std::fs::write(path, text))
    });
    if let Some(path) = &args.metrics {
        let text = crate::drill_html::metrics(out, Utc::now().timestamp());
        if written.as_ref().is_none_or(|(_, r)| r.is_ok()) {
            written = Some((path, std::fs::write(path, text)));
        }
    }
    Ok(written.and_then(|(path, result)| {
        result.err().map(|e| {
            CliError::failure(format!(
                "cannot write {}: {e}; the drill {} as printed above (journal {}): only this file is missing",
                path.display(),
                if ok { "PASSED" } else { "FAILED" },
                journal_path.display()
            ))
        })
    }))
}

/// The recovery point a versioned source gives: every write is kept, so any instant up
/// to the newest write can be restored; the point this drill restored is TIME.
fn rpo(at: chrono::DateTime<Utc>) -> Value {
    let age = (Utc::now() - at).num_seconds().max(0);
    json!({
        "seconds": 0,
        "restored_point_age_seconds": age,
        "statement": format!(
            "versioning keeps every write: any instant up to the newest write can be restored (RPO 0 for what reached the bucket); this drill restored {}, {} ago",
            rfc3339(at),
            crate::output::human_secs(age as u64)
        ),
    })
}

/// The source's activity around TIME for the HTML report's chart: the source range read
/// once more, after the recovery time was taken (at most one listing call per 1,000
/// versions), in at most a few dozen bins. Counted a part of the listing at a time (the
/// engine's [`ActivityCounts`](s3rewind_engine::explore::chart::ActivityCounts)): a
/// count per second, minute, hour or day is held, not the range's history.
async fn activity_bins(
    clients: &Clients,
    printer: &Printer,
    req: &Request,
    at: chrono::DateTime<Utc>,
) -> CliResult<Vec<crate::drill_html::Bin>> {
    let mut counts = s3rewind_engine::explore::chart::ActivityCounts::default();
    let mut spec = crate::source::SourceSpec::listing(req.page_size, req.list_streams);
    // The chart counts writes; the listing is read as it is, as before.
    spec.cross_check = false;
    crate::source::each_part(
        &clients.source_endpoint,
        printer,
        &req.source.bucket,
        &req.source.prefix,
        &spec,
        None,
        |part| {
            counts.add(&part);
            Ok(())
        },
    )
    .await?;
    Ok(counts
        .bins(at.timestamp())
        .into_iter()
        .map(|b| crate::drill_html::Bin {
            start: b.start.timestamp(),
            versions: (b.puts + b.overwrites) as u64,
            markers: b.deletes as u64,
        })
        .collect())
}

/// The drill's summary for people.
fn print_drill(
    printer: &Printer,
    (source, scratch, at): (&Location, &Location, chrono::DateTime<Utc>),
    d: &Drilled,
    report: &VerifyReport,
    failures: &Value,
    journal_path: &Path,
) {
    printer.line(format!(
        "Drill {}: {} restored to s3://{}/{} as of {}",
        if d.ok { "PASSED" } else { "FAILED" },
        source,
        scratch.bucket,
        scratch.prefix,
        rfc3339(at)
    ));
    printer.line(format!(
        "  restored: {} objects, {} ({} keys at that time)",
        d.restored,
        human_bytes(d.bytes),
        report.keys_at_target
    ));
    if d.ok {
        printer.line(format!(
            "  recovery time achieved: {:.1} s (listing, planning, copying and verifying)",
            d.recovery_seconds
        ));
    } else {
        printer.line(format!(
            "  no recovery time achieved: the drill failed after {:.1} s (see below)",
            d.recovery_seconds
        ));
    }
    printer.line(format!(
        "  verified by content: {} of {} keys match their source version ({} objects read, {})",
        report.matched.same_content + report.matched.same_size_and_etag + report.matched.known_copy,
        report.keys_at_target,
        report.objects_read,
        human_bytes(report.bytes_read)
    ));
    printer.line(format!(
        "  recovery reaches back to: {} ({})",
        rfc3339(d.oldest),
        d.why
    ));
    for (what, items) in [
        ("copy failed", list(&failures["copy_failed"])),
        ("changed during the drill", list(&failures["drifted"])),
        ("waiting for archive restore", list(&failures["waiting"])),
    ] {
        if !items.is_empty() {
            printer.line(format!("  {what}: {} key(s)", items.len()));
            for i in items.iter().take(5) {
                printer.line(format!(
                    "    {}: {}",
                    i["key"].as_str().unwrap_or_default(),
                    i["detail"].as_str().unwrap_or_default()
                ));
            }
        }
    }
    if let Some(why) = failures["rto"].as_str() {
        printer.line(format!("  recovery time objective missed: {why}"));
    }
    for (kind, keys) in failures["verification"]
        .as_object()
        .cloned()
        .unwrap_or_default()
    {
        let keys = list(&keys);
        printer.line(format!(
            "  verification {kind}: {} key(s), e.g. {}",
            keys.len(),
            keys.iter()
                .take(3)
                .filter_map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some((removed, left)) = &d.cleanup {
        printer.line(format!(
            "  cleanup: removed the {removed} version(s) the drill wrote{}",
            if left.is_empty() {
                String::new()
            } else {
                format!(
                    "; left {} it could not prove were its own: {}",
                    left.len(),
                    left.join(", ")
                )
            }
        ));
    }
    printer.line(format!("  journal: {}", journal_path.display()));
}

/// Keys a drill's clean-up reads from its journal at a time (their copies' HEADs and
/// deletes): what it holds, whatever the drill's size.
const CLEANUP_BATCH: usize = if cfg!(test) { 3 } else { 4096 };

/// Remove what the drill's journal says it wrote to `bucket`: each version it created
/// (permanently: these are the drill's own copies in a scratch location), or, where the
/// version id is `null`, the object if it still has the copy's ETag and size. The
/// journal's copies are read by key from disk ([`DoneByKey`]) and removed
/// [`CLEANUP_BATCH`] keys at a time, `width` requests at once. Returns the number removed
/// and the keys left because they could not be proven the drill's own.
async fn cleanup(
    clients: &Clients,
    bucket: &str,
    journal_path: &Path,
    width: usize,
) -> CliResult<(u64, Vec<String>)> {
    let mut left = Vec::new();
    let copies = DoneByKey::read_with(journal_path, |line| {
        Ok(match line {
            Line::Torn { offset, text } => {
                // The copy it may record cannot be proven the drill's: left, and named.
                let key = journal::salvage(&text).key;
                left.push(format!(
                    "{} (torn journal line at byte {offset})",
                    key.as_deref()
                        .unwrap_or("a key the torn line does not name")
                ));
                None
            }
            Line::Done(d) if d.bucket == bucket && d.op == Op::Copy => Some(d),
            _ => None,
        })
    })?;
    let mut removed = 0;
    let mut batches = copies.batches(CLEANUP_BATCH);
    while let Some(keys) = batches.next_batch()? {
        let batch: Vec<journal::Done> = keys.into_iter().flat_map(|(_, done)| done).collect();
        // A `null` copy is the drill's while the key still holds its ETag and size.
        let nulls: Vec<(String, Option<String>)> = batch
            .iter()
            .filter(|d| d.new_version_id == NULL_VERSION)
            .map(|d| (d.key.clone(), None))
            .collect();
        let mut heads = crate::bucket::head_versions(&clients.dest, nulls, width)
            .await
            .map_err(|e| from_s3(e, bucket))?
            .into_iter();
        let mut doomed = Vec::new();
        let mut unproven = Vec::new();
        let mut nulls_named = std::collections::HashSet::new();
        for d in batch {
            let version = if d.new_version_id.is_empty() {
                None
            } else if d.new_version_id == NULL_VERSION {
                heads
                    .next()
                    .flatten()
                    .filter(|h| {
                        d.etag.as_deref() == Some(h.etag.as_str()) && d.size == Some(h.size)
                    })
                    .map(|_| NULL_VERSION.to_owned())
            } else {
                Some(d.new_version_id.clone())
            };
            match version {
                // A key copied twice as `null` has one `null` version to remove.
                Some(v) if v == NULL_VERSION && !nulls_named.insert(d.key.clone()) => {}
                Some(v) => doomed.push((d.key, v)),
                None => unproven.push(d.key),
            }
        }
        // A copy recorded before it was read back, and again after: removed, not left.
        let gone: std::collections::HashSet<&str> =
            doomed.iter().map(|(k, _)| k.as_str()).collect();
        left.extend(unproven.into_iter().filter(|k| !gone.contains(k.as_str())));
        removed += doomed.len() as u64;
        crate::bucket::delete_versions(&clients.dest, doomed, width)
            .await
            .map_err(|e| from_s3(e, bucket))?;
    }
    Ok((removed, left))
}

#[cfg(test)]
mod cleanup_tests {
    use super::*;
    use crate::bucket::MemStore;
    use crate::journal::Done;
    use s3rewind_engine::{SimBucket, Versioning};

    /// The clean-up removes each `null` copy the key still holds (its ETag and size), in
    /// batches, and leaves (and names) a key written since, a copy whose version the
    /// server did not name, and what a torn line may record.
    #[tokio::test]
    async fn only_copies_the_keys_still_hold_are_removed() {
        let t = Utc::now();
        let mut sim = SimBucket::new(Versioning::Unversioned, "s");
        let mut lines = String::new();
        for k in 0..8 {
            let key = format!("d/k{k}");
            sim.put(&key, format!("copy {k}").as_bytes(), t);
            let v = &sim.head(&key).unwrap().version;
            let d = Done {
                op: Op::Copy,
                bucket: "scratch".into(),
                key: key.clone(),
                source_bucket: Some("src".into()),
                source_key: Some(format!("k{k}")),
                source_version_id: Some("v1".into()),
                previous_version_id: None,
                new_version_id: if k == 5 {
                    String::new()
                } else {
                    NULL_VERSION.into()
                },
                etag: Some(v.etag.to_string()),
                size: Some(v.size),
                time: t,
            };
            lines.push_str(&serde_json::to_string(&Line::Done(d)).unwrap());
            lines.push('\n');
        }
        // k3 is written again after the drill.
        sim.put("d/k3", b"someone else's", t);
        lines.push_str(
            "{\"type\":\"done\",\"op\":\"copy\",\"bucket\":\"scratch\",\"key\":\"d/k9\",\"sou",
        );
        let store = MemStore::new();
        store.insert("scratch", sim);
        let dir = tempfile::tempdir().unwrap();
        let journal_path = dir.path().join("j.jsonl");
        std::fs::write(&journal_path, lines).unwrap();
        let endpoint = store.endpoint();
        let bucket = endpoint.bucket("scratch");
        let clients = Clients {
            source: bucket.clone(),
            dest: bucket,
            source_endpoint: endpoint.clone(),
            dest_endpoint: endpoint,
            separate: false,
        };
        let (removed, left) = cleanup(&clients, "scratch", &journal_path, 2)
            .await
            .unwrap();
        assert_eq!(removed, 6);
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.iter().any(|l| l == "d/k3"), "{left:?}");
        assert!(left.iter().any(|l| l == "d/k5"), "{left:?}");
        assert!(
            left.iter()
                .any(|l| l.contains("d/k9") && l.contains("torn")),
            "{left:?}"
        );
        let now: Vec<String> =
            store.with("scratch", |s| s.current_contents().into_keys().collect());
        assert_eq!(now, ["d/k3", "d/k5"]);
    }
}
