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
    printer.json_value(&LsDoc {
        schema: LS_SCHEMA,
        source: &loc,
        at,
        keys: state.len(),
        bytes: state.total_bytes(),
        objects: Objects(&state.objects),
        uncertain: state.uncertain.iter().map(|u| u.key.as_str()).collect(),
        ambiguous: &state.ambiguous,
    });
    Ok(Exit::Ok)
}

/// `ls --output json`, serialised from the state as it is written (one object per key,
/// never a JSON tree of millions of keys).
#[derive(serde::Serialize)]
struct LsDoc<'a> {
    schema: &'static str,
    source: &'a s3rewind_engine::Location,
    at: Option<chrono::DateTime<chrono::Utc>>,
    keys: usize,
    bytes: u64,
    objects: Objects<'a>,
    uncertain: Vec<&'a str>,
    ambiguous: &'a [String],
}

/// The state's entries as `{key, version_id, size, etag, last_modified, storage_class}`.
struct Objects<'a>(&'a [s3rewind_engine::StateEntry]);

impl serde::Serialize for Objects<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Object<'a> {
            key: &'a str,
            version_id: &'a s3rewind_engine::model::VersionId,
            size: u64,
            etag: &'a s3rewind_engine::model::ETag,
            last_modified: chrono::DateTime<chrono::Utc>,
            storage_class: &'a Option<s3rewind_engine::model::StorageClass>,
        }
        s.collect_seq(self.0.iter().map(|e| Object {
            key: &e.key,
            version_id: &e.version.version_id,
            size: e.version.size,
            etag: &e.version.etag,
            last_modified: e.version.last_modified,
            storage_class: &e.version.storage_class,
        }))
    }
}
