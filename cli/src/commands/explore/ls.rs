//! `ls --at TIME`: the keys that existed at TIME with the version each had.

use crate::args::LsArgs;
use crate::error::CliResult;
use crate::error::Exit;
use crate::listing::list_bucket;
use crate::output::human_bytes;
use crate::pipeline::{App, require_versioned, resolve_time_noted, rfc3339};
use s3rewind_engine::parse_s3_uri;

/// The name and version of `ls --output json`'s document.
pub const LS_SCHEMA: &str = "s3rewind.ls/v1";

/// `s3rewind ls --at TIME`: the keys that existed at TIME with the version each had.
///
/// JSON: `{"schema": "s3rewind.ls/v1", "source", "at", "keys", "bytes", "objects":
/// [{"key", "version_id", "size", "etag", "last_modified", "storage_class"}],
/// "uncertain": [...], "ambiguous": [...]}`.
pub async fn ls_cmd(app: &App, args: &LsArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let loc = parse_s3_uri(&args.source)?;
    let at = resolve_time_noted(printer, args.at.as_deref())?;
    require_versioned(&app.endpoint, &loc.bucket).await?;
    let spec = crate::source::SourceSpec::of(&args.listing, &args.snapshot);
    let timeline = if spec.is_snapshot() {
        crate::source::load_timeline(&app.endpoint, printer, &loc.bucket, &loc.prefix, &spec, at)
            .await?
    } else {
        list_bucket(
            &app.endpoint.bucket(&loc.bucket),
            printer,
            &loc.prefix,
            args.listing.page_size,
            args.listing.streams(),
        )
        .await?
    };
    let state = match at {
        Some(at) => timeline.state_at(at),
        None => timeline.current(),
    };
    for e in &state.objects {
        let v = &e.version;
        let id = if args.versions {
            format!("  {}", v.version_id)
        } else {
            String::new()
        };
        printer.line(format!(
            "{}  {:>12}  {}{id}",
            v.last_modified.format("%Y-%m-%d %H:%M:%S"),
            v.size,
            e.key
        ));
    }
    printer.info(format!(
        "{} key(s), {} at {}",
        state.len(),
        human_bytes(state.total_bytes()),
        at.map_or_else(|| "now".to_owned(), rfc3339)
    ));
    for (what, keys) in [
        (
            "a `null` version was rewritten after TIME: what these keys held then may be gone (the newest surviving version is shown)",
            state
                .uncertain
                .iter()
                .map(|u| u.key.clone())
                .collect::<Vec<_>>(),
        ),
        (
            "the state depends on a same-second version/delete-marker tie",
            state.ambiguous.clone(),
        ),
    ] {
        if !keys.is_empty() {
            printer.warn(format!("{} key(s): {what}", keys.len()));
        }
    }
    printer.json_value(&serde_json::json!({
        "schema": LS_SCHEMA,
        "source": loc,
        "at": at,
        "keys": state.len(),
        "bytes": state.total_bytes(),
        "objects": state.objects.iter().map(|e| serde_json::json!({
            "key": e.key,
            "version_id": e.version.version_id,
            "size": e.version.size,
            "etag": e.version.etag,
            "last_modified": e.version.last_modified,
            "storage_class": e.version.storage_class,
        })).collect::<Vec<_>>(),
        "uncertain": state.uncertain.iter().map(|u| &u.key).collect::<Vec<_>>(),
        "ambiguous": state.ambiguous,
    }));
    Ok(Exit::Ok)
}
