//! `s3rewind index`: save a timeline (from a listing or an inventory report) to a file
//! that `--index FILE` reads instead of listing again.
//!
//! `--refresh FILE` brings an index up to date, for the bucket and prefix its header
//! names. There is nothing incremental about it: ListObjectVersions cannot filter by
//! time, so a refresh from a listing lists the whole range again (and says how many
//! calls that took); with `--inventory`, a newer report replaces the history, and a
//! report older than the index is refused.

use crate::args::{IndexArgs, Snapshot};
use crate::error::{CliError, CliResult, Exit};
use crate::pipeline::App;
use crate::pipeline::{require_versioned, rfc3339};
use crate::source::SourceSpec;
use crate::spill::Spilled;
use chrono::Utc;
use s3rewind_engine::index::{IndexHeader, IndexParts};
use s3rewind_engine::timeline::{Anomaly, KeyHistory};
use std::io::Seek;

/// The name and version of `index --output json`'s document.
pub const INDEX_SCHEMA: &str = "s3rewind.index/v1";
use s3rewind_engine::{Location, parse_s3_uri};
use std::path::Path;

/// `s3rewind index`.
pub async fn index_cmd(app: &App, args: &IndexArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let old = match &args.refresh {
        Some(path) => Some(read_old_header(path)?),
        None => None,
    };
    let loc = location(args, old.as_ref())?;
    let out = match (&args.out, &args.refresh) {
        (Some(o), _) => o.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => return Err(CliError::usage("give --out FILE")),
    };
    crate::outputs::file("--out", &out, crate::outputs::Parent::MustExist)?;
    let snapshot = Snapshot {
        inventory: args.inventory.clone(),
        index: None,
        accept_stale_inventory: true,
        sort_dir: args.sort_dir.clone(),
    };
    let spec = SourceSpec::of(&args.listing, &snapshot);
    // An older report than the index would take it back in time: refused before the
    // report's data files are read.
    if let (Some(h), Some(manifest)) = (&old, &args.inventory) {
        let created = crate::source::inventory_created(&app.endpoint, manifest).await?;
        if created < h.created {
            return Err(CliError::refused(format!(
                "the inventory {manifest} was taken {}, before the index {} ({}): it would take the index back in time; give a newer report; nothing was written",
                rfc3339(created),
                out.display(),
                rfc3339(h.created)
            )));
        }
    }
    if !spec.is_snapshot() {
        require_versioned(&app.endpoint, &loc.bucket).await?;
    }
    // A listing shows the bucket as it was when it started.
    let started = Utc::now();
    let calls_before = app.endpoint.list_calls();
    let (histories, anomalies, taken) = list_to_disk(app, &loc, &spec).await?;
    let list_calls = app.endpoint.list_calls() - calls_before;
    let (source, created) = match taken {
        Some((what, created)) => (what, created),
        None => ("listing", started),
    };
    let header = write_index(&out, &loc, created, source, histories, anomalies)?;
    let size = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let verb = if old.is_some() {
        "Refreshed"
    } else {
        "Indexed"
    };
    printer.line(format!(
        "{verb} s3://{}/{}: {} versions and delete markers of {} keys, as of {} (from the {source}), in {} ({}).",
        loc.bucket,
        loc.prefix,
        header.entries,
        header.keys,
        rfc3339(created),
        out.display(),
        crate::output::human_bytes(size)
    ));
    if let Some(h) = &old {
        printer.line(format!(
            "  was {} versions and delete markers of {} keys as of {}.",
            h.entries,
            h.keys,
            rfc3339(h.created)
        ));
    }
    if source == "listing" {
        printer.line(format!(
            "  {list_calls} ListObjectVersions calls{}",
            if old.is_some() {
                ": a refresh lists everything again (a listing cannot ask for what changed since), so it costs the same as a new index"
            } else {
                ""
            }
        ));
    }
    printer.json_value(&serde_json::json!({
        "schema": INDEX_SCHEMA,
        "bucket": loc.bucket,
        "prefix": loc.prefix,
        "created": created,
        "source": source,
        "keys": header.keys,
        "entries": header.entries,
        "file": out,
        "bytes": size,
        "list_calls": list_calls,
        "refreshed": old.as_ref().map(|h| serde_json::json!({
            "created": h.created,
            "source": h.source,
            "keys": h.keys,
            "entries": h.entries,
        })),
    }));
    Ok(Exit::Ok)
}

/// The location indexed: the one named, or the refreshed index's (they must agree when
/// both are given).
fn location(
    args: &IndexArgs,
    old: Option<&s3rewind_engine::index::IndexHeader>,
) -> CliResult<Location> {
    Ok(match (&args.source, old) {
        (Some(uri), Some(h)) => {
            let loc = parse_s3_uri(uri)?;
            if loc.bucket != h.bucket || loc.prefix != h.prefix {
                return Err(CliError::usage(format!(
                    "--refresh {}: the index is of s3://{}/{}, not s3://{}/{}; refresh it without naming a location, or write a new index with --out; nothing was written",
                    args.refresh.as_deref().unwrap_or(Path::new("")).display(),
                    h.bucket,
                    h.prefix,
                    loc.bucket,
                    loc.prefix
                )));
            }
            loc
        }
        (Some(uri), None) => parse_s3_uri(uri)?,
        (None, Some(h)) => Location {
            bucket: h.bucket.clone(),
            prefix: h.prefix.clone(),
        },
        (None, None) => {
            return Err(CliError::usage(
                "give s3://BUCKET[/PREFIX] or --refresh FILE",
            ));
        }
    })
}

/// Write the index to `out` (through a temporary file beside it, renamed into place).
/// The range's timeline as the listing (or report) streams it, cross-checked part by
/// part, each key's history onto disk in a run per part (parts come in any order from
/// parallel streams; read back in key order), the anomalies kept: the index is never
/// held whole.
async fn list_to_disk(
    app: &App,
    loc: &Location,
    spec: &SourceSpec,
) -> CliResult<(
    Spilled<KeyHistory>,
    Vec<Anomaly>,
    Option<(&'static str, chrono::DateTime<Utc>)>,
)> {
    let mut histories = Spilled::<KeyHistory>::new()?;
    let mut anomalies = Vec::new();
    let taken = crate::source::each_part(
        &app.endpoint,
        &app.printer,
        &loc.bucket,
        &loc.prefix,
        spec,
        None,
        |part| {
            anomalies.extend_from_slice(part.anomalies());
            histories.push_part(part.keys(), "the listing")
        },
    )
    .await?;
    histories.seal()?;
    // The order a whole timeline keeps them in.
    anomalies.sort_by(|a, b| a.key().cmp(b.key()));
    Ok((histories, anomalies, taken))
}

/// Write the index of `histories` (read back in key order) to `out`, through a
/// temporary file beside it renamed into place; the blocks are compressed into another
/// temporary file as they fill, then put after the header. Returns the header.
fn write_index(
    out: &Path,
    loc: &Location,
    created: chrono::DateTime<Utc>,
    source: &str,
    histories: Spilled<KeyHistory>,
    anomalies: Vec<Anomaly>,
) -> CliResult<IndexHeader> {
    let failed = |e: std::io::Error| {
        CliError::failure(format!("cannot write the index {}: {e}", out.display()))
    };
    let beside = out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let blocks = tempfile::tempfile_in(beside).map_err(failed)?;
    let mut parts = IndexParts::new(std::io::BufWriter::new(blocks));
    let mut pushed = Ok(());
    histories.scan(|h| {
        pushed = parts.push(h);
        Ok(pushed.is_ok())
    })?;
    pushed.map_err(failed)?;
    parts.anomalies(anomalies);
    let (blocks, header) = parts
        .finish(&loc.bucket, &loc.prefix, created, source)
        .map_err(failed)?;
    let mut blocks = blocks.into_inner().map_err(|e| failed(e.into_error()))?;
    blocks.seek(std::io::SeekFrom::Start(0)).map_err(failed)?;
    let tmp = out.with_extension("tmp");
    let written = std::fs::File::create(&tmp)
        .and_then(|f| s3rewind_engine::index::assemble(f, &header, blocks))
        .and_then(|()| std::fs::rename(&tmp, out));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(failed(e));
    }
    Ok(header)
}

/// The header of the index `--refresh` names.
fn read_old_header(path: &Path) -> CliResult<s3rewind_engine::index::IndexHeader> {
    let file = std::fs::File::open(path).map_err(|e| {
        CliError::new(
            Exit::NotFound,
            format!("cannot read the index {}: {e}", path.display()),
        )
    })?;
    s3rewind_engine::index::read_header(&mut std::io::BufReader::new(file)).map_err(|e| {
        CliError::usage(format!(
            "--refresh {}: {e}; nothing was written",
            path.display()
        ))
    })
}
