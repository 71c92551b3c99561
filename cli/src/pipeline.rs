//! The stages every command is made of, below the commands and above the runner:
//! clients, time resolution, key selection, the versioning check. A command is its
//! arguments, then these stages (and the listing, the engine's plan, the runner,
//! verification), then its printed result. Nothing here imports a command, so the
//! commands import each other without cycles through it.

use crate::args::Select;
use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
use crate::s3::{ConnectOptions, S3};
use chrono::{DateTime, SecondsFormat, Utc};
use s3rewind_engine::select::{KeyFilter, KeySelection};
use s3rewind_engine::{Destination, PlanError, Versioning, parse_time};

/// What every command gets: the printer, the S3 client and the global options.
#[derive(Debug)]
pub struct App {
    /// Where output goes.
    pub printer: Printer,
    /// The client for the source (and, unless told otherwise, the destination).
    pub s3: S3,
    /// The global connection options (for building other clients).
    pub connect: ConnectOptions,
    /// `-v` or more.
    pub verbose: bool,
}

/// Format an instant the way s3rewind prints instants.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    // Whole seconds when the instant has none (S3 timestamps), else milliseconds:
    // nanoseconds from `now` or a duration are noise to a reader.
    let format = if t.timestamp_subsec_nanos() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::Millis
    };
    t.to_rfc3339_opts(format, true)
}

/// The key selection from the command line (`--keys-from` is read here).
pub(crate) fn key_selection(select: &Select) -> CliResult<KeySelection> {
    let keys = match &select.keys_from {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read --keys-from {}: {e}", path.display()))
            })?;
            let keys = s3rewind_engine::select::keys_from_text(&text);
            if keys.is_empty() {
                return Err(CliError::usage(format!(
                    "--keys-from {} lists no key (one key per line, or JSON with \"key\" fields)",
                    path.display()
                )));
            }
            Some(keys)
        }
        None => None,
    };
    let selection = KeySelection {
        include: select.include.clone(),
        exclude: select.exclude.clone(),
        keys,
    };
    selection.filter().map_err(CliError::usage)?;
    Ok(selection)
}

/// The filter of a selection checked by [`key_selection`] (or read from a plan file).
pub(crate) fn filter_of(keys: &KeySelection) -> CliResult<KeyFilter> {
    keys.filter()
        .map_err(|e| CliError::usage(format!("the plan's key selection: {e}")))
}

/// Maps a destination key back to the source key it stands for.
pub(crate) fn to_source_key<'a>(
    source_prefix: &'a str,
    destination: &'a Destination,
) -> impl Fn(&str) -> String + 'a {
    move |k: &str| match destination {
        Destination::Bucket { location } => match k.strip_prefix(location.prefix.as_str()) {
            Some(rest) => format!("{source_prefix}{rest}"),
            None => k.to_owned(),
        },
        _ => k.to_owned(),
    }
}

/// Parse a TIME argument, with a note on how it was resolved when that is not obvious.
pub(crate) fn resolve_time(input: &str) -> CliResult<(DateTime<Utc>, Option<String>)> {
    let at = parse_time(input, Utc::now())?;
    let note = at.needs_echo().then(|| {
        let how = match at.form {
            s3rewind_engine::TimeForm::NaiveUtc => " (no offset given: taken as UTC)",
            _ => "",
        };
        format!("TIME {input:?} resolved to {}{how}", rfc3339(at.instant))
    });
    Ok((at.instant, note))
}

/// The clients a restore uses: the source's, and the destination's (the same client
/// unless `--dest-profile` / `--dest-endpoint-url` / `--dest-region` is given).
#[derive(Debug, Clone)]
pub struct Clients {
    /// The source bucket's client.
    pub source: S3,
    /// The destination bucket's client.
    pub dest: S3,
    /// True when the destination is reached through another client: copies are then
    /// streamed (GET from the source, PUT to the destination) instead of CopyObject.
    pub separate: bool,
}

impl Clients {
    /// The clients for a restore: `dest` options give the destination its own client.
    pub async fn new(app: &App, dest: Option<&ConnectOptions>) -> Clients {
        match dest {
            None => Clients {
                source: app.s3.clone(),
                dest: app.s3.clone(),
                separate: false,
            },
            Some(c) => Clients {
                source: app.s3.clone(),
                dest: S3::connect(c).await,
                separate: true,
            },
        }
    }
}

/// Refuse a source whose versioning was never enabled (used by read-only commands).
pub async fn require_versioned(s3: &S3, bucket: &str) -> CliResult<Versioning> {
    let v = s3
        .versioning(bucket)
        .await
        .map_err(|e| from_s3(e, bucket))?;
    if v.status == Versioning::Unversioned {
        return Err(PlanError::NeverVersioned {
            bucket: bucket.to_owned(),
        }
        .into());
    }
    Ok(v.status)
}
