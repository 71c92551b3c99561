//! `ls --at TIME`: the keys that existed at TIME with the version each had.

use crate::args::LsArgs;
use crate::error::{CliError, CliResult, Exit};
use crate::output::{JsonObject, human_bytes};
use crate::pipeline::{App, require_versioned, resolve_time_noted, rfc3339};
use crate::spill::Spilled;
use s3rewind_engine::{StateEntry, parse_s3_uri};

/// The name and version of `ls --output json`'s document.
pub const LS_SCHEMA: &str = "s3rewind.ls/v1";

/// `s3rewind ls --at TIME`: the keys that existed at TIME with the version each had.
///
/// JSON: `{"schema": "s3rewind.ls/v1", "source", "at", "keys", "bytes", "objects":
/// [{"key", "version_id", "size", "etag", "last_modified", "storage_class"}],
/// "uncertain": [...], "ambiguous": [...]}`.
///
/// The history is never held whole: each part of the listing (or of the snapshot) gives
/// its state at TIME, which goes to disk ([`Spilled`]) and is printed from there in key
/// order, the JSON document a line at a time. What is held is a listing part and, per
/// key, only the names of the uncertain and ambiguous ones.
pub async fn ls_cmd(app: &App, args: &LsArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let loc = parse_s3_uri(&args.source)?;
    let at = resolve_time_noted(printer, args.at.as_deref())?;
    require_versioned(&app.endpoint, &loc.bucket).await?;
    let mut spec = crate::source::SourceSpec::of(&args.listing, &args.snapshot);
    // A listing is read as it is (as `ls` always has); a snapshot is checked against the
    // bucket as for every command that reads one.
    spec.cross_check = spec.is_snapshot();
    let mut objects = Spilled::<StateEntry>::new()?;
    let (mut keys, mut bytes) = (0u64, 0u64);
    let (mut uncertain, mut ambiguous) = (Vec::new(), Vec::new());
    crate::source::each_part(
        &app.endpoint,
        printer,
        &loc.bucket,
        &loc.prefix,
        &spec,
        at,
        |part| {
            let state = match at {
                Some(at) => part.state_at(at),
                None => part.current(),
            };
            keys += state.len() as u64;
            bytes += state.total_bytes();
            uncertain.extend(state.uncertain.into_iter().map(|u| u.key));
            ambiguous.extend(state.ambiguous);
            objects.push_part(&state.objects, "the listing")
        },
    )
    .await?;
    objects.seal()?;
    // The order a whole state keeps them in (parts arrive in any order).
    uncertain.sort();
    ambiguous.sort();
    if !printer.json() {
        objects.scan(|e| {
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
            Ok(true)
        })?;
    }
    printer.info(format!(
        "{keys} key(s), {} at {}",
        human_bytes(bytes),
        at.map_or_else(|| "now".to_owned(), rfc3339)
    ));
    for (what, keys) in [
        (
            "a `null` version was rewritten after TIME: what these keys held then may be gone (the newest surviving version is shown)",
            &uncertain,
        ),
        (
            "the state depends on a same-second version/delete-marker tie",
            &ambiguous,
        ),
    ] {
        if !keys.is_empty() {
            printer.warn(format!("{} key(s): {what}", keys.len()));
        }
    }
    printer
        .json_write(|w| {
            let mut doc = JsonObject::new(w)?;
            doc.field("schema", LS_SCHEMA)?;
            doc.field("source", &loc)?;
            doc.field("at", &at)?;
            doc.field("keys", &keys)?;
            doc.field("bytes", &bytes)?;
            let mut list = doc.array("objects")?;
            let mut written = Ok(());
            objects
                .scan(|e| {
                    written = list.push(&Object::of(&e));
                    Ok(written.is_ok())
                })
                .map_err(|e| std::io::Error::other(e.message))?;
            written?;
            list.end()?;
            doc.field("uncertain", &uncertain)?;
            doc.field("ambiguous", &ambiguous)?;
            doc.end()
        })
        .map_err(|e| CliError::failure(format!("cannot write the listing: {e}")))?;
    Ok(Exit::Ok)
}

/// A state entry as `ls --output json` writes it.
#[derive(serde::Serialize)]
struct Object<'a> {
    key: &'a str,
    version_id: &'a s3rewind_engine::model::VersionId,
    size: u64,
    etag: &'a s3rewind_engine::model::ETag,
    last_modified: chrono::DateTime<chrono::Utc>,
    storage_class: &'a Option<s3rewind_engine::model::StorageClass>,
}

impl<'a> Object<'a> {
    fn of(e: &'a StateEntry) -> Object<'a> {
        Object {
            key: &e.key,
            version_id: &e.version.version_id,
            size: e.version.size,
            etag: &e.version.etag,
            last_modified: e.version.last_modified,
            storage_class: &e.version.storage_class,
        }
    }
}
