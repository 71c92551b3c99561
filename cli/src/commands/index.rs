//! `s3rewind index`: save a timeline (from a listing or an inventory report) to a file
//! that `--index FILE` reads instead of listing again.
//!
//! There is no incremental refresh: ListObjectVersions cannot filter by time, so an
//! index is brought up to date by listing everything again (or reading a newer report).

use crate::args::{IndexArgs, Snapshot};
use crate::error::{CliError, CliResult, Exit};
use crate::pipeline::App;
use crate::pipeline::{require_versioned, rfc3339};
use crate::source::{SourceSpec, load_with_age};
use chrono::Utc;

/// The name and version of `index --output json`'s document.
pub const INDEX_SCHEMA: &str = "s3rewind.index/v1";
use s3rewind_engine::parse_s3_uri;

/// `s3rewind index`.
pub async fn index_cmd(app: &App, args: &IndexArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let loc = parse_s3_uri(&args.source)?;
    let snapshot = Snapshot {
        inventory: args.inventory.clone(),
        index: None,
        accept_stale_inventory: true,
        sort_dir: args.sort_dir.clone(),
    };
    let spec = SourceSpec::of(&args.listing, &snapshot);
    if !spec.is_snapshot() {
        require_versioned(&app.s3, &loc.bucket).await?;
    }
    // A listing shows the bucket as it was when it started.
    let started = Utc::now();
    let (timeline, taken) =
        load_with_age(&app.s3, printer, &loc.bucket, &loc.prefix, &spec).await?;
    let (source, created) = match taken {
        Some((what, created)) => (what, created),
        None => ("listing", started),
    };
    let tmp = args.out.with_extension("tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|f| {
            s3rewind_engine::index::write_index(
                f,
                &loc.bucket,
                &loc.prefix,
                created,
                source,
                &timeline,
            )
        })
        .and_then(|()| std::fs::rename(&tmp, &args.out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(CliError::failure(format!(
            "cannot write the index {}: {e}",
            args.out.display()
        )));
    }
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    printer.line(format!(
        "Indexed s3://{}/{}: {} versions and delete markers of {} keys, as of {} (from a {source}), in {} ({}).",
        loc.bucket,
        loc.prefix,
        timeline.len(),
        timeline.keys().len(),
        rfc3339(created),
        args.out.display(),
        crate::output::human_bytes(size)
    ));
    printer.json_value(&serde_json::json!({
        "schema": INDEX_SCHEMA,
        "bucket": loc.bucket,
        "prefix": loc.prefix,
        "created": created,
        "source": source,
        "keys": timeline.keys().len(),
        "entries": timeline.len(),
        "file": args.out,
        "bytes": size,
    }));
    Ok(Exit::Ok)
}
