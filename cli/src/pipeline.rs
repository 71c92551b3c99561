//! The stages every command is made of, below the commands and above the runner. A
//! command is its arguments, then these stages, then its printed result:
//!
//! 1. [`prepare`]: the command line resolved ([`prepare::Request`]), the source listed
//!    (or its snapshot read), the target state chosen and planned. Detection with
//!    content reads ([`detect`]) chooses the target of `--before-corruption` and
//!    `--per-key`.
//! 2. [`gates`]: versioning, safety gates, blast radius, digest, confirmation: every
//!    check that can refuse, before the first write.
//! 3. [`execute`]: the plan run into a bucket (the executor) or a directory
//!    ([`execute::to_dir`]), or while the listing still streams.
//! 4. [`verify`]: the destination checked against the state at T.
//!
//! What they print is in [`report`]. This module holds what every stage shares: the
//! [`App`], the two sides of a restore ([`Clients`]), time resolution, key selection.
//! Nothing in `pipeline/` imports a command, and no command imports another (see
//! `architecture.rs`).

pub mod detect;
pub mod execute;
pub mod gates;
pub mod plan_file;
pub mod prepare;
pub mod report;
pub mod target;
pub mod verify;

use crate::args::{Global, Listing, Select, Snapshot};
use crate::bucket::{
    Bucket, CappedConnector, CappedEndpoint, Caps, ConnectOptions, Connector, Endpoint,
};
use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
/// Instants are printed one way everywhere (see [`crate::output::rfc3339`]).
pub use crate::output::rfc3339;
use chrono::{DateTime, Utc};
use s3rewind_engine::select::{KeyFilter, KeySelection};
use s3rewind_engine::{Destination, Location, PlanError, Timeline, Versioning, parse_time};
use std::sync::Arc;

/// What every command gets: the printer, the endpoint, a way to open others, and the
/// global options. The binary builds it on S3 ([`App::connect`]); tests build it on
/// buckets in memory.
#[derive(Debug)]
pub struct App {
    /// Where output goes.
    pub printer: Printer,
    /// The endpoint of the source (and, unless told otherwise, of the destination).
    pub endpoint: Arc<dyn Endpoint>,
    /// Opens the other endpoints a command may need: a destination with options of its
    /// own (`--dest-profile`, `--dest-endpoint-url`, `--dest-region`), another region.
    pub connector: Arc<dyn Connector>,
    /// The global connection options (for building other clients).
    pub connect: ConnectOptions,
    /// `-v` or more.
    pub verbose: bool,
    /// `--max-rps`, `--max-bytes`, `--max-cost`: every bucket the endpoint and the
    /// connector give is under them ([`App::capped`]); the runner stops on them.
    pub caps: Option<Arc<Caps>>,
    /// Where journals go when a command is not given `--journal` (`--journal-dir`), and
    /// the working copies of journals kept in S3.
    pub journal_dir: std::path::PathBuf,
    /// The source's endpoint outside the caps: what journals kept in S3 go through, so a
    /// run stopped at `--max-bytes` or `--max-cost` can still record where it stopped
    /// (one PutObject every few seconds; [`crate::journal::remote`]).
    pub uncapped: Arc<dyn Endpoint>,
}

impl App {
    /// The connection options the global flags give.
    pub fn connect_options(g: &Global) -> ConnectOptions {
        ConnectOptions {
            endpoint_url: g.endpoint_url.clone(),
            profile: g.profile.clone(),
            region: g.region.clone(),
            max_attempts: g.max_attempts,
            retry_mode: g.retry_mode.map(Into::into),
        }
    }

    /// The journal directory the global flags give (`--journal-dir`, else the default).
    pub fn journal_dir(g: &Global) -> std::path::PathBuf {
        g.journal_dir
            .clone()
            .unwrap_or_else(crate::journal::default_dir)
    }

    /// The app of the binary: S3, reached as the global flags say.
    pub async fn connect(g: &Global, printer: Printer) -> App {
        let connect = App::connect_options(g);
        let connector: Arc<dyn Connector> = Arc::new(crate::s3::S3Connector);
        let endpoint = connector.connect(&connect).await;
        App {
            printer,
            uncapped: endpoint.clone(),
            endpoint,
            connector,
            connect,
            verbose: g.verbose > 0,
            caps: None,
            journal_dir: App::journal_dir(g),
        }
        .capped(g)
    }

    /// This app under the global caps, when any is given: its endpoint and connector
    /// hand out [`Capped`](crate::bucket::Capped) buckets that share one [`Caps`],
    /// priced at the region's S3 Standard request prices.
    pub fn capped(mut self, g: &Global) -> App {
        if g.max_rps.is_none() && g.max_bytes.is_none() && g.max_cost.is_none() {
            return self;
        }
        let region = g.region.as_deref().unwrap_or("us-east-1");
        let (prices, priced_as) = s3rewind_engine::estimate::PriceTable::for_region(region);
        if g.max_cost.is_some() && priced_as != region {
            self.printer.info(format!(
                "--max-cost counts requests at the {priced_as} prices (no table for {region})"
            ));
        }
        let caps = Caps::new(g.max_rps, g.max_bytes, g.max_cost, prices);
        self.endpoint = Arc::new(CappedEndpoint::new(self.endpoint, caps.clone()));
        self.connector = Arc::new(CappedConnector::new(self.connector, caps.clone()));
        self.caps = Some(caps);
        self
    }
}

/// The key selection from the command line (`--keys-from` is read here).
pub fn key_selection(select: &Select) -> CliResult<KeySelection> {
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
pub fn filter_of(keys: &KeySelection) -> CliResult<KeyFilter> {
    keys.filter()
        .map_err(|e| CliError::usage(format!("the plan's key selection: {e}")))
}

/// Maps a destination key back to the source key it stands for.
pub fn to_source_key<'a>(
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
pub fn resolve_time(input: &str) -> CliResult<(DateTime<Utc>, Option<String>)> {
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

/// [`resolve_time`] for an optional TIME, its note printed at once.
pub fn resolve_time_noted(
    printer: &Printer,
    input: Option<&str>,
) -> CliResult<Option<DateTime<Utc>>> {
    let Some(input) = input else {
        return Ok(None);
    };
    let (at, note) = resolve_time(input)?;
    if let Some(note) = note {
        printer.info(note);
    }
    Ok(Some(at))
}

/// The history of `source` for a command that reads it: read from where `listing` and
/// `snapshot` say, through the app's endpoint. `latest` as for
/// [`load_timeline`](crate::source::load_timeline).
pub async fn timeline_of(
    app: &App,
    source: &Location,
    listing: &Listing,
    snapshot: &Snapshot,
    latest: Option<DateTime<Utc>>,
) -> CliResult<Timeline> {
    let spec = crate::source::SourceSpec::of(listing, snapshot);
    let (endpoint, printer) = (&app.endpoint, &app.printer);
    let (bucket, prefix) = (&source.bucket, &source.prefix);
    crate::source::load_timeline(endpoint, printer, bucket, prefix, &spec, latest).await
}

/// The two sides of a restore, built at the edge: the source bucket and the destination
/// bucket (the source itself in place; unused for a directory), each with the endpoint it
/// lives behind (for its configuration and, on the source side, inventory reports).
#[derive(Debug, Clone)]
pub struct Clients {
    /// The source bucket.
    pub source: Arc<dyn Bucket>,
    /// The destination bucket.
    pub dest: Arc<dyn Bucket>,
    /// The source's endpoint.
    pub source_endpoint: Arc<dyn Endpoint>,
    /// The destination's endpoint (the source's unless `dest` options are given).
    pub dest_endpoint: Arc<dyn Endpoint>,
    /// True when the destination is reached through another client: copies are then
    /// streamed (GET from the source, PUT to the destination) instead of CopyObject.
    pub separate: bool,
}

impl Clients {
    /// The sides of a restore of `source` into `destination`: `dest` options give the
    /// destination an endpoint of its own.
    pub async fn new(
        app: &App,
        source: &Location,
        destination: &Destination,
        dest: Option<&ConnectOptions>,
    ) -> Clients {
        let dest_endpoint = match dest {
            None => app.endpoint.clone(),
            Some(c) => app.connector.connect(c).await,
        };
        let dest_bucket = match destination {
            Destination::Bucket { location } => location.bucket.as_str(),
            Destination::InPlace | Destination::Directory { .. } => source.bucket.as_str(),
        };
        Clients {
            source: app.endpoint.bucket(&source.bucket),
            dest: dest_endpoint.bucket(dest_bucket),
            source_endpoint: app.endpoint.clone(),
            dest_endpoint,
            separate: dest.is_some(),
        }
    }

    /// The two buckets of a run.
    pub fn buckets(&self) -> crate::execute::Buckets {
        crate::execute::Buckets {
            src: self.source.clone(),
            dst: self.dest.clone(),
            separate: self.separate,
        }
    }
}

/// Refuse a source whose versioning was never enabled (used by read-only commands).
pub async fn require_versioned(
    endpoint: &Arc<dyn Endpoint>,
    bucket: &str,
) -> CliResult<Versioning> {
    let v = endpoint
        .bucket(bucket)
        .versioning()
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
