//! Where a command's timeline comes from: a listing of the bucket, an S3 Inventory
//! report, or a saved timeline index (`s3rewind index`). The choice is made here and only here
//! ([`load_timeline`]); the commands call it where they would list.
//!
//! A listing shows the bucket as it is now. An inventory or an index shows it as it was
//! when the report was taken: a TIME after that is refused unless the user accepts that
//! later writes are unseen (`--accept-stale-inventory`). Executing a plan made from such
//! a timeline is still safe: every action checks the key's current state before it
//! writes, so a key changed since the report is reported as drifted, never overwritten.

use crate::args::{Listing, Snapshot};
use crate::bucket::Endpoint;
use crate::crosscheck::{Basis, CheckReport, Checker};
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::listing::{Streams, list_bucket};
use crate::output::Printer;
use crate::output::rfc3339;
use chrono::{DateTime, Utc};
use s3rewind_engine::Timeline;
use s3rewind_engine::index::{self, IndexError};
use s3rewind_engine::inventory::{self, InventoryError, Manifest, ManifestFile, SortOptions};
use s3rewind_engine::parse_s3_uri;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The source of a timeline.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TimelineSource {
    /// List the bucket (ListObjectVersions).
    #[default]
    Listing,
    /// Read an all-versions S3 Inventory report: its `manifest.json`, local or `s3://`.
    Inventory {
        /// `s3://BUCKET/PATH/manifest.json` or a local path.
        manifest: String,
    },
    /// Read a timeline index written by `s3rewind index`.
    Index {
        /// The index file.
        path: PathBuf,
    },
}

/// How to get a timeline: the source, and the options of each kind.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// Where from.
    pub source: TimelineSource,
    /// Listing: entries per page.
    pub page_size: i32,
    /// Listing: streams at once, and whether to split.
    pub streams: Streams,
    /// Accept a TIME after the report was taken.
    pub accept_stale: bool,
    /// Inventory: where the external sort spills (default: the system's temp dir).
    pub temp_dir: Option<PathBuf>,
    /// Cross-check the timeline's current state against one ListObjectsV2 pass of the
    /// range and re-read what disagrees ([`crate::crosscheck`]): always, unless a caller
    /// that only needs the listing's own entries turns it off.
    pub cross_check: bool,
    /// A watched index's removal records, once read (shared by the spec's clones): the
    /// plan says which keys cannot be restored from the bucket ([`Watched`]).
    pub watched: Watched,
}

/// What reading a watched index left for the plan: its removal records.
#[derive(Debug, Clone, Default)]
pub struct Watched(Arc<std::sync::Mutex<Option<s3rewind_engine::watch::Removals>>>);

impl Watched {
    /// The removal records, if a watched index was read.
    pub fn removals(&self) -> Option<s3rewind_engine::watch::Removals> {
        self.0.lock().expect("not poisoned").clone()
    }

    fn set(&self, r: s3rewind_engine::watch::Removals) {
        *self.0.lock().expect("not poisoned") = Some(r);
    }
}

impl SourceSpec {
    /// The source the command-line options name.
    pub fn of(listing: &Listing, snapshot: &Snapshot) -> SourceSpec {
        SourceSpec {
            source: match (&snapshot.inventory, &snapshot.index) {
                (Some(m), _) => TimelineSource::Inventory {
                    manifest: m.clone(),
                },
                (None, Some(path)) => TimelineSource::Index { path: path.clone() },
                (None, None) => TimelineSource::Listing,
            },
            page_size: listing.page_size,
            streams: listing.streams(),
            accept_stale: snapshot.accept_stale_inventory,
            temp_dir: snapshot.sort_dir.clone(),
            cross_check: true,
            watched: Watched::default(),
        }
    }

    /// A plain listing.
    pub fn listing(page_size: i32, streams: Streams) -> SourceSpec {
        SourceSpec {
            source: TimelineSource::Listing,
            page_size,
            streams,
            accept_stale: false,
            temp_dir: None,
            cross_check: true,
            watched: Watched::default(),
        }
    }

    /// True when the timeline is a snapshot (not a fresh listing).
    pub fn is_snapshot(&self) -> bool {
        self.source != TimelineSource::Listing
    }
}

/// The timeline of `bucket`/`prefix` from the chosen source. `latest` is the latest TIME
/// the command will ask the timeline about: with a snapshot source it must not be after
/// the snapshot unless `accept_stale`.
pub async fn load_timeline(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
    latest: Option<DateTime<Utc>>,
) -> CliResult<Timeline> {
    Ok(
        load_checked(endpoint, printer, bucket, prefix, spec, latest)
            .await?
            .0,
    )
}

/// [`load_timeline`], and for a snapshot what it is and when it was taken.
pub async fn load_checked(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
    latest: Option<DateTime<Utc>>,
) -> CliResult<(Timeline, Option<(&'static str, DateTime<Utc>)>)> {
    let (timeline, taken) = load_with_age(endpoint, printer, bucket, prefix, spec).await?;
    if let Some((what, created)) = taken {
        check_stale(printer, what, created, latest, spec.accept_stale)?;
    }
    Ok((timeline, taken))
}

/// [`load_timeline`] without holding the whole history where the source allows it: the
/// timeline goes to `chunks` a part at a time (see [`crate::listing::stream_bucket`]). A
/// listing streams page by page, an inventory key by key out of its sort; an index is
/// read whole and sent as one part. Returns, for a snapshot, what it is and when it was
/// taken.
pub async fn stream_timeline(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
    latest: Option<DateTime<Utc>>,
    chunks: crate::listing::Chunks,
) -> CliResult<Option<(&'static str, DateTime<Utc>)>> {
    if !spec.cross_check {
        return stream_unchecked(endpoint, printer, bucket, prefix, spec, latest, chunks).await;
    }
    // The current objects first, then each part of the listing checked against them
    // before it goes on (see `crate::crosscheck`).
    let basis = match spec.source {
        TimelineSource::Listing => Basis::Listing(Utc::now()),
        _ => Basis::Snapshot,
    };
    let live = endpoint.bucket(bucket);
    let mut checker = Checker::new(live.clone(), prefix, basis).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Timeline>(4);
    let listing = stream_unchecked(endpoint, printer, bucket, prefix, spec, latest, tx);
    let mut settled = Settled::default();
    let check = async {
        // Owned here: when the planner stops reading (Ctrl-C), this stops, the receiver
        // is dropped, and the listing stops too.
        let mut rx = rx;
        while let Some(part) = rx.recv().await {
            let part = if basis == Basis::Snapshot {
                settle_guesses(live.as_ref(), part, spec, &mut settled).await?
            } else {
                part
            };
            let part = checker.part(part).await?;
            crate::listing::send(&chunks, part).await?;
        }
        Ok::<(), CliError>(())
    };
    let (taken, checked) = tokio::join!(listing, check);
    let taken = taken?;
    checked?;
    let (rest, report) = checker.finish().await?;
    crate::listing::send(&chunks, rest).await?;
    note_settled(printer, spec, &settled);
    note_check(printer, spec, &report);
    Ok(taken)
}

/// [`stream_timeline`] with `f` given each part as it arrives (cross-checked unless the
/// spec says otherwise; parts in any order, each key whole), for a command whose work on
/// a part needs nothing else: the first error of `f` stops the listing and is returned.
/// `latest` is as for [`load_timeline`].
pub async fn each_part(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
    latest: Option<DateTime<Utc>>,
    mut f: impl FnMut(Timeline) -> CliResult<()>,
) -> CliResult<Option<(&'static str, DateTime<Utc>)>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Timeline>(4);
    let listing = stream_timeline(endpoint, printer, bucket, prefix, spec, latest, tx);
    let mut failed = None;
    let consume = async {
        // Owned here, so that stopping drops it and the listing stops too.
        let mut rx = rx;
        while let Some(part) = rx.recv().await {
            if let Err(e) = f(part) {
                failed = Some(e);
                return;
            }
        }
    };
    let (taken, ()) = tokio::join!(listing, consume);
    match failed {
        Some(e) => Err(e),
        None => taken,
    }
}

/// What [`settle_guesses`] did.
#[derive(Debug, Default)]
struct Settled {
    /// Keys whose order the snapshot guessed, re-read from the bucket.
    reread: Vec<String>,
    /// Of those, the keys whose order the bucket's own listing left unknown too.
    unknown: Vec<String>,
}

/// A snapshot's keys whose order it could only guess (an inventory keeps no order
/// between two versions of one key in the same second; a version and a delete marker in
/// one second) are re-read from the live bucket, whose listing keeps the order; a key
/// the bucket's listing cannot order either stays reported (`OrderUnknown`): its state
/// at T is then ambiguous and no plan acts on it.
async fn settle_guesses(
    bucket: &dyn crate::bucket::Bucket,
    part: Timeline,
    spec: &SourceSpec,
    settled: &mut Settled,
) -> CliResult<Timeline> {
    let mut keys: Vec<String> = part
        .anomalies()
        .iter()
        .filter(|a| a.is_guess())
        .map(|a| a.key().to_owned())
        .collect();
    keys.dedup();
    if keys.is_empty() {
        return Ok(part);
    }
    let (fresh, calls) = crate::crosscheck::reread(bucket, &keys, spec.streams.layout).await?;
    tracing::info!(
        keys = keys.len(),
        calls,
        "re-read the keys whose order the snapshot guessed"
    );
    settled.unknown.extend(
        fresh
            .anomalies()
            .iter()
            .filter(|a| a.is_guess())
            .map(|a| a.key().to_owned()),
    );
    settled.unknown.dedup();
    settled.reread.extend(keys.iter().cloned());
    Ok(part.patch(fresh, &keys))
}

/// Say which keys a snapshot could not order and the bucket was asked about.
fn note_settled(printer: &Printer, spec: &SourceSpec, settled: &Settled) {
    if settled.reread.is_empty() {
        return;
    }
    let what = snapshot_name(spec);
    printer.info(format!(
        "{} key(s) hold entries {what} cannot order (same second), e.g. {:?}: their histories were read from the bucket, which keeps the order{}",
        settled.reread.len(),
        settled.reread[0],
        match settled.unknown.first() {
            None => String::new(),
            Some(k) => format!(
                "; {} key(s) the bucket's listing cannot order either (e.g. {k:?}) are reported as order_unknown and left alone",
                settled.unknown.len()
            ),
        }
    ));
}

/// "the inventory" or "the index" (or "the listing").
fn snapshot_name(spec: &SourceSpec) -> &'static str {
    match spec.source {
        TimelineSource::Listing => "the listing",
        TimelineSource::Inventory { .. } => "the inventory",
        TimelineSource::Index { .. } => "the index",
    }
}

/// Say what the cross-check re-read (nothing when the listing agreed).
fn note_check(printer: &Printer, spec: &SourceSpec, report: &CheckReport) {
    tracing::debug!(
        objects = report.objects,
        calls = report.list_objects_calls,
        reread = report.reread.len(),
        "cross-checked against ListObjectsV2"
    );
    if !report.reread.is_empty() {
        let what = snapshot_name(spec);
        printer.info(format!(
            "cross-check: {} key(s) are not now what {what} shows (of {} current objects, ListObjectsV2); their histories were read again from the bucket, e.g. {:?}",
            report.reread.len(),
            report.objects,
            report.reread[0]
        ));
    }
}

async fn stream_unchecked(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
    latest: Option<DateTime<Utc>>,
    chunks: crate::listing::Chunks,
) -> CliResult<Option<(&'static str, DateTime<Utc>)>> {
    match &spec.source {
        TimelineSource::Listing => {
            crate::listing::stream_bucket(
                &endpoint.bucket(bucket),
                printer,
                prefix,
                spec.page_size,
                spec.streams,
                chunks,
            )
            .await?;
            Ok(None)
        }
        TimelineSource::Inventory { manifest } => {
            let (_, created) = load_inventory(
                endpoint,
                printer,
                bucket,
                prefix,
                manifest,
                spec,
                Some((latest, chunks)),
            )
            .await?;
            Ok(Some(("inventory", created)))
        }
        TimelineSource::Index { path } => {
            let (_, created) =
                load_index(printer, bucket, prefix, path, spec, Some((latest, chunks))).await?;
            Ok(Some(("index", created)))
        }
    }
}

/// The timeline and, for a snapshot, what it is and when it was taken; cross-checked
/// against ListObjectsV2 unless the spec says not to.
pub async fn load_with_age(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
) -> CliResult<(Timeline, Option<(&'static str, DateTime<Utc>)>)> {
    let started = Utc::now();
    let (timeline, taken) = load_unchecked(endpoint, printer, bucket, prefix, spec).await?;
    if !spec.cross_check {
        return Ok((timeline, taken));
    }
    let basis = match spec.source {
        TimelineSource::Listing => Basis::Listing(started),
        _ => Basis::Snapshot,
    };
    let live = endpoint.bucket(bucket);
    let timeline = if basis == Basis::Snapshot {
        let mut settled = Settled::default();
        let t = settle_guesses(live.as_ref(), timeline, spec, &mut settled).await?;
        note_settled(printer, spec, &settled);
        t
    } else {
        timeline
    };
    let (timeline, report) = crate::crosscheck::reconcile(live, prefix, timeline, basis).await?;
    note_check(printer, spec, &report);
    Ok((timeline, taken))
}

async fn load_unchecked(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    spec: &SourceSpec,
) -> CliResult<(Timeline, Option<(&'static str, DateTime<Utc>)>)> {
    match &spec.source {
        TimelineSource::Listing => Ok((
            list_bucket(
                &endpoint.bucket(bucket),
                printer,
                prefix,
                spec.page_size,
                spec.streams,
            )
            .await?,
            None,
        )),
        TimelineSource::Inventory { manifest } => {
            let (timeline, created) =
                load_inventory(endpoint, printer, bucket, prefix, manifest, spec, None).await?;
            Ok((timeline, Some(("inventory", created))))
        }
        TimelineSource::Index { path } => {
            let (timeline, created) = load_index(printer, bucket, prefix, path, spec, None).await?;
            Ok((timeline, Some(("index", created))))
        }
    }
}

/// Read a timeline index, after checking it is of this bucket and covers the prefix.
/// Streamed: checked against the latest TIME asked about (`stream`'s first half) before
/// it is read, and sent to `stream`'s chunks a block at a time (a watched index, its
/// event log folded in, is sent whole); the timeline returned is then empty.
async fn load_index(
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    path: &Path,
    spec: &SourceSpec,
    stream: Option<(Option<DateTime<Utc>>, crate::listing::Chunks)>,
) -> CliResult<(Timeline, DateTime<Utc>)> {
    let open = |path: &Path| {
        std::fs::File::open(path).map_err(|e| {
            CliError::new(
                Exit::NotFound,
                format!("cannot read the index {}: {e}", path.display()),
            )
        })
    };
    let index_error =
        |e: IndexError| CliError::failure(format!("{}: {e}; nothing was written", path.display()));
    let header =
        index::read_header(&mut std::io::BufReader::new(open(path)?)).map_err(index_error)?;
    if header.bucket != bucket || !prefix.starts_with(&header.prefix) {
        return Err(CliError::usage(format!(
            "the index {} is of s3://{}/{}, which does not cover s3://{bucket}/{prefix}: write an index of it with `s3rewind index s3://{bucket}/{prefix} --out FILE`; nothing was written",
            path.display(),
            header.bucket,
            header.prefix
        )));
    }
    if crate::watch::is_watched(path) {
        let (timeline, created) = load_watched(printer, prefix, path, &header, &spec.watched)?;
        let Some((latest, chunks)) = stream else {
            return Ok((timeline, created));
        };
        check_stale(printer, "index", created, latest, spec.accept_stale)?;
        chunks
            .send(timeline)
            .await
            .map_err(|_| CliError::failure("internal error: the planner stopped reading"))?;
        return Ok((Timeline::default(), created));
    }
    let file = open(path)?;
    let prefix_owned = prefix.to_owned();
    let (header, timeline, entries, keys) = match stream {
        Some((latest, chunks)) => {
            check_stale(printer, "index", header.created, latest, spec.accept_stale)?;
            tokio::task::spawn_blocking(move || {
                let (mut entries, mut keys) = (0, 0);
                let header = index::read_index_parts(file, &prefix_owned, |part| {
                    entries += part.len();
                    keys += part.keys().len();
                    chunks.blocking_send(part).map_err(|_| {
                        IndexError::Io(std::io::Error::other("the planner stopped reading"))
                    })
                })?;
                Ok((header, Timeline::default(), entries, keys))
            })
            .await
        }
        None => {
            tokio::task::spawn_blocking(move || {
                let (header, timeline) = index::read_index(file, &prefix_owned)?;
                let (entries, keys) = (timeline.len(), timeline.keys().len());
                Ok((header, timeline, entries, keys))
            })
            .await
        }
    }
    .map_err(|e| CliError::failure(format!("internal error: {e}")))?
    .map_err(index_error)?;
    printer.info(format!(
        "index {} of s3://{}/{} (from the {}): {entries} versions and delete markers of {keys} keys",
        path.display(),
        header.bucket,
        header.prefix,
        header.source,
    ));
    Ok((timeline, header.created))
}

/// A watched index (`s3rewind watch`): the index with its event log folded in. It is
/// complete up to its last synced record, which is what its age is measured from.
fn load_watched(
    printer: &Printer,
    prefix: &str,
    path: &Path,
    header: &index::IndexHeader,
    watched: &Watched,
) -> CliResult<(Timeline, DateTime<Utc>)> {
    let loaded = crate::watch::load(path, prefix, false)?;
    watched.set(loaded.watch.removals(prefix));
    let stats = loaded.watch.stats().clone();
    let doubtful = loaded
        .watch
        .doubtful()
        .into_iter()
        .filter(|(k, _, _)| k.starts_with(prefix))
        .count();
    let up_to = stats
        .last_at
        .map_or(loaded.header.created, |t| t.max(loaded.header.created));
    let timeline = loaded.watch.into_timeline_under(prefix);
    printer.info(format!(
        "watched index {} of s3://{}/{}: {} versions and delete markers of {} keys, {} events since it was last compacted ({}), complete up to {} (lag {}){}",
        path.display(),
        header.bucket,
        header.prefix,
        timeline.len(),
        timeline.keys().len(),
        stats.events,
        rfc3339(loaded.header.created),
        rfc3339(up_to),
        humantime::format_duration(std::time::Duration::from_secs(
            Utc::now().signed_duration_since(up_to).num_seconds().max(0) as u64
        )),
        if doubtful > 0 {
            format!("; {doubtful} key(s) wait for the watcher to read them again (flagged)")
        } else {
            String::new()
        }
    ));
    Ok((timeline, up_to))
}

/// Say how old a snapshot is, and refuse a TIME after it unless accepted.
fn check_stale(
    printer: &Printer,
    what: &str,
    created: DateTime<Utc>,
    latest: Option<DateTime<Utc>>,
    accept: bool,
) -> CliResult<()> {
    let age = Utc::now().signed_duration_since(created);
    printer.info(format!(
        "{what} taken {} ({} ago): writes after it are not in it",
        rfc3339(created),
        humantime::format_duration(std::time::Duration::from_secs(
            age.num_seconds().max(0) as u64
        ))
    ));
    if let Some(at) = latest
        && at > created
    {
        if accept {
            printer.warn(format!(
                "TIME {} is after the {what} ({}): writes in between are unseen; each action checks its key's current state first, so keys changed since are reported as drifted, not overwritten",
                rfc3339(at),
                rfc3339(created)
            ));
        } else {
            return Err(CliError::refused(format!(
                "TIME {} is after the {what} was taken ({}): writes after it are not in it, so the state at TIME is unknown; give a TIME at or before {}, a newer {what}, or --accept-stale-inventory (each action still checks its key's current state before writing: later changes are reported as drifted, never overwritten); nothing was written",
                rfc3339(at),
                rfc3339(created),
                rfc3339(created)
            )));
        }
    }
    Ok(())
}

fn inventory_error(e: InventoryError) -> CliError {
    let exit = match e {
        InventoryError::CurrentVersionsOnly { .. }
        | InventoryError::MissingField { .. }
        | InventoryError::UnsupportedFormat(_) => Exit::Usage,
        _ => Exit::Failure,
    };
    CliError::new(exit, format!("{e}; nothing was written"))
}

/// Read a report (downloading it first when it is in S3) into a timeline.
async fn load_inventory(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    manifest_at: &str,
    spec: &SourceSpec,
    // Streamed: the latest TIME asked about (checked against the report's age before it
    // is read) and where the parts go; the timeline returned is then empty.
    stream: Option<(Option<DateTime<Utc>>, crate::listing::Chunks)>,
) -> CliResult<(Timeline, DateTime<Utc>)> {
    // A downloaded report lives in a temporary directory for as long as it is read.
    let download_dir;
    let manifest_path = if manifest_at.starts_with("s3://") {
        download_dir = tempfile::Builder::new()
            .prefix("s3rewind-inventory-download")
            .tempdir_in(spec.temp_dir.clone().unwrap_or_else(std::env::temp_dir))
            .map_err(|e| CliError::failure(format!("cannot create a temporary directory: {e}")))?;
        download_report(endpoint, printer, manifest_at, download_dir.path()).await?
    } else {
        PathBuf::from(manifest_at)
    };
    let manifest = read_manifest(&manifest_path)?;
    if manifest.source_bucket != bucket {
        return Err(CliError::usage(format!(
            "the inventory {manifest_at} is a report of bucket {:?}, not {bucket:?}; nothing was written",
            manifest.source_bucket
        )));
    }
    let created = manifest.created().map_err(inventory_error)?;
    let spinner = printer.spinner(&format!(
        "reading inventory of s3://{bucket}/{prefix}: {} files",
        manifest.files.len()
    ));
    // `--sort-dir`, else the system's temporary directory: the CLI decides where the
    // engine's sort spills.
    let options = SortOptions::new(spec.temp_dir.clone().unwrap_or_else(std::env::temp_dir));
    let prefix_owned = prefix.to_owned();
    let path = manifest_path.clone();
    if let Some((latest, chunks)) = stream {
        check_stale(printer, "inventory", created, latest, spec.accept_stale)?;
        let loaded = tokio::task::spawn_blocking(move || {
            inventory::load_parts(&manifest, &prefix_owned, &options, opener(&path), |part| {
                chunks.blocking_send(part).map_err(|_| {
                    InventoryError::Io(std::io::Error::other("the planner stopped reading"))
                })
            })
        })
        .await
        .map_err(|e| CliError::failure(format!("internal error: {e}")))?
        .map_err(inventory_error)?;
        spinner.finish_and_clear();
        report_read(printer, bucket, prefix, &loaded);
        return Ok((Timeline::default(), created));
    }
    let loaded = tokio::task::spawn_blocking(move || {
        inventory::load(&manifest, &prefix_owned, &options, opener(&path))
    })
    .await
    .map_err(|e| CliError::failure(format!("internal error: {e}")))?
    .map_err(inventory_error)?;
    spinner.finish_and_clear();
    report_read(
        printer,
        bucket,
        prefix,
        &inventory::PartsLoaded {
            rows: loaded.rows,
            entries: loaded.timeline.len() as u64,
            keys: loaded.timeline.keys().len() as u64,
            spilled_runs: loaded.spilled_runs,
        },
    );
    Ok((loaded.timeline, created))
}

/// What reading a report found, in the log and for the user.
fn report_read(printer: &Printer, bucket: &str, prefix: &str, loaded: &inventory::PartsLoaded) {
    tracing::info!(
        rows = loaded.rows,
        entries = loaded.entries,
        spilled_runs = loaded.spilled_runs,
        "inventory read"
    );
    printer.info(format!(
        "inventory of s3://{bucket}: {} rows, {} versions and delete markers of {} keys under {:?}",
        loaded.rows, loaded.entries, loaded.keys, prefix
    ));
}

/// Opens a report's data file as `inventory::local_file` finds it beside the manifest.
fn opener(
    manifest_path: &Path,
) -> impl Fn(&ManifestFile) -> std::io::Result<Box<dyn Read + Send>> + Sync {
    move |f| {
        let p = inventory::local_file(manifest_path, f)?;
        Ok(Box::new(std::fs::File::open(p)?) as Box<dyn Read + Send>)
    }
}

/// `manifest.json` checked against the `manifest.checksum` beside it.
fn read_manifest(path: &Path) -> CliResult<Manifest> {
    let bytes = std::fs::read(path).map_err(|e| {
        CliError::new(
            Exit::NotFound,
            format!("cannot read the inventory manifest {}: {e}", path.display()),
        )
    })?;
    let checksum_path = path.with_file_name("manifest.checksum");
    let checksum = std::fs::read_to_string(&checksum_path).map_err(|e| {
        CliError::new(
            Exit::NotFound,
            format!(
                "cannot read {} (S3 Inventory delivers it beside manifest.json; it is needed to check the manifest): {e}",
                checksum_path.display()
            ),
        )
    })?;
    Manifest::parse(&bytes, Some(&checksum)).map_err(inventory_error)
}

/// When the inventory report `manifest_at` (`s3://…/manifest.json` or a local path) was
/// taken: its manifest only (checked against `manifest.checksum`), no data file.
pub async fn inventory_created(
    endpoint: &Arc<dyn Endpoint>,
    manifest_at: &str,
) -> CliResult<DateTime<Utc>> {
    let manifest = if manifest_at.starts_with("s3://") {
        let dir = tempfile::Builder::new()
            .prefix("s3rewind-inventory-manifest")
            .tempdir()
            .map_err(|e| CliError::failure(format!("cannot create a temporary directory: {e}")))?;
        read_manifest(&download_manifest(endpoint, manifest_at, dir.path()).await?)?
    } else {
        read_manifest(Path::new(manifest_at))?
    };
    manifest.created().map_err(inventory_error)
}

/// Download `manifest.json` and `manifest.checksum` into `dir`, laid out by key;
/// returns the manifest's path.
async fn download_manifest(
    endpoint: &Arc<dyn Endpoint>,
    uri: &str,
    dir: &Path,
) -> CliResult<PathBuf> {
    let loc = parse_s3_uri(uri)?;
    if !loc.prefix.ends_with("manifest.json") {
        return Err(CliError::usage(format!(
            "--inventory {uri} does not name a manifest.json (S3 Inventory delivers DEST/PREFIX/SOURCE-BUCKET/CONFIG/YYYY-MM-DDTHH-MMZ/manifest.json)"
        )));
    }
    let checksum_key = format!(
        "{}manifest.checksum",
        loc.prefix.trim_end_matches("manifest.json")
    );
    let manifest_path = dir.join(&loc.prefix);
    fetch(endpoint, &loc.bucket, &loc.prefix, &manifest_path).await?;
    fetch(
        endpoint,
        &loc.bucket,
        &checksum_key,
        &manifest_path.with_file_name("manifest.checksum"),
    )
    .await?;
    Ok(manifest_path)
}

/// Download `manifest.json`, `manifest.checksum` and the data files into `dir`, laid
/// out by key (so [`inventory::local_file`] finds them); returns the manifest's path.
async fn download_report(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    uri: &str,
    dir: &Path,
) -> CliResult<PathBuf> {
    let loc = parse_s3_uri(uri)?;
    let manifest_path = download_manifest(endpoint, uri, dir).await?;
    let manifest = read_manifest(&manifest_path)?;
    // Data files are in the destination bucket the manifest names (an ARN).
    let data_bucket = manifest
        .destination_bucket
        .rsplit(":::")
        .next()
        .filter(|b| !b.is_empty())
        .unwrap_or(&loc.bucket)
        .to_owned();
    let total: u64 = manifest.files.iter().map(|f| f.size).sum();
    let bar = printer.bar(total, "downloading the inventory");
    for f in &manifest.files {
        fetch(endpoint, &data_bucket, &f.key, &dir.join(&f.key)).await?;
        bar.inc(f.size);
    }
    bar.finish_and_clear();
    Ok(manifest_path)
}

async fn fetch(endpoint: &Arc<dyn Endpoint>, bucket: &str, key: &str, to: &Path) -> CliResult<()> {
    if let Some(parent) = to.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| CliError::failure(format!("cannot create {}: {e}", parent.display())))?;
    }
    let mut file = tokio::fs::File::create(to)
        .await
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", to.display())))?;
    endpoint
        .bucket(bucket)
        .download_current(key, &mut file)
        .await
        .map_err(|e| from_s3(e, bucket))?;
    use tokio::io::AsyncWriteExt as _;
    file.flush()
        .await
        .map_err(|e| CliError::failure(format!("writing {}: {e}", to.display())))?;
    Ok(())
}
