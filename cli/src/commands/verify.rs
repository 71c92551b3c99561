//! `verify`: does a bucket, another bucket or prefix, or a directory hold the source's
//! state at TIME? The check is the verification stage ([`crate::pipeline::verify`]).

use crate::args::VerifyArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::pipeline::report::print_verification;
use crate::pipeline::verify::{Current, Extras, Side, check, write_report};
use crate::pipeline::{App, require_versioned, resolve_time};
use s3rewind_engine::parse_s3_uri;
use std::time::Instant;

/// `s3rewind verify`.
pub async fn verify_cmd(app: &App, args: &VerifyArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    let (at, note) = resolve_time(&args.at)?;
    if let Some(report) = &args.report {
        crate::outputs::file("--report", report, crate::outputs::Parent::MustExist)?;
    }
    require_versioned(&app.endpoint, &source.bucket).await?;
    if let Some(note) = note {
        printer.info(note);
    }
    let side = match (&args.to, &args.to_dir) {
        (Some(to), _) => {
            let location = parse_s3_uri(to)?;
            if location == source {
                Side::InPlace
            } else {
                Side::Bucket {
                    bucket: app.endpoint.bucket(&location.bucket),
                    location,
                }
            }
        }
        (None, Some(dir)) => {
            if !dir.is_dir() {
                return Err(CliError::usage(format!(
                    "--to-dir {}: no such directory",
                    dir.display()
                )));
            }
            Side::Directory(dir.clone())
        }
        (None, None) => Side::InPlace,
    };
    let started = Instant::now();
    // The history is never held: the state at TIME (and, in place, the state now) go to
    // disk a part of the listing at a time.
    let spec = crate::source::SourceSpec::of(&args.listing, &args.snapshot);
    let in_place = matches!(side, Side::InPlace);
    let (mut target, current) =
        crate::pipeline::target::state_at(&app.endpoint, printer, &source, at, &spec, in_place)
            .await?;
    let filter = crate::pipeline::filter_of(&crate::pipeline::key_selection(&args.select)?)?;
    target.retain(&filter);
    if let Some(j) = &args.journal {
        // Read now, a line at a time, so that a bad journal is said before any listing
        // and its torn lines are named; the check keeps only the records it needs.
        crate::journal::warn_torn(
            j,
            printer,
            "its copy, if made, is checked like any other key",
        )?;
    }
    let report = check(
        printer,
        &app.endpoint.bucket(&source.bucket),
        &source,
        &side,
        at,
        target,
        current.map(Current::OnDisk),
        &filter,
        Extras {
            journal: args.journal.as_deref(),
            every_check: args.report.is_some(),
        },
        args.deep,
        (args.listing.page_size, args.listing.streams()),
        args.concurrency as usize,
    )
    .await?;
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "verified");
    if let Some(path) = &args.report {
        write_report(path, &report)?;
    }
    print_verification(printer, app.verbose, &report);
    printer.json_value(&report);
    Ok(if report.ok { Exit::Ok } else { Exit::Partial })
}
