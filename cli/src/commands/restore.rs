//! `plan`, `restore` and `apply`, and the planning steps other commands share.

use crate::args::{ApplyArgs, DetectArgs, ExecArgs, PlanArgs, RestoreArgs, Target};
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::execute::{ArchiveRestore, ExecConfig, ExecReport};
use crate::journal::{self, Journal, Line};
use crate::listing::{Streams, list_bucket, stream_bucket};
use crate::output::{Printer, human_bytes};
use crate::pipeline::App;
pub use crate::pipeline::{Clients, require_versioned, rfc3339};
use crate::pipeline::{filter_of, key_selection, resolve_time, to_source_key};
use crate::planning::StreamPlanner;
use crate::s3::ConnectOptions;
use chrono::{DateTime, Utc};
use s3rewind_engine::select::KeySelection;
use s3rewind_engine::{
    Action, BucketState, DeleteLimit, Destination, KnownCopy, Location, NULL_VERSION, PlanError,
    PlanOptions, RestorePlan, Selection, Timeline, UncertainHandling, Warning, parse_s3_uri, plan,
    preflight,
};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// The name and version of the JSON result of `restore`, `apply` and `undo`:
/// `{"schema", "source", "destination", "at", "plan": {…stats…}, "report": {…execution…},
/// "journal", "verification": {…the verify report…}}` (`verification` after `restore` and
/// `apply` unless `--no-verify`).
pub const RESTORE_SCHEMA: &str = "s3rewind.restore/v1";

/// How the target state is chosen.
#[derive(Debug, Clone)]
pub(crate) enum TargetSpec {
    /// `--at TIME`.
    At(DateTime<Utc>),
    /// `--before-corruption`: the state just before the first incident `scan` finds.
    BeforeCorruption(DetectArgs),
    /// `--per-key`: each damaged key back to its own last good version.
    PerKey(DetectArgs),
}

/// Everything resolved from the command line before any S3 call.
pub(crate) struct Request {
    pub(crate) source: Location,
    pub(crate) destination: Destination,
    pub(crate) spec: TargetSpec,
    pub(crate) page_size: i32,
    pub(crate) list_streams: Streams,
    /// Where the source's timeline comes from (listing, inventory).
    pub(crate) source_spec: crate::source::SourceSpec,
    /// How TIME was resolved, when that is worth saying.
    pub(crate) time_note: Option<String>,
    /// A separate client for the destination (`--dest-profile`, `--dest-endpoint-url`).
    pub(crate) dest_connect: Option<ConnectOptions>,
    /// `--include`, `--exclude`, `--keys-from`.
    pub(crate) keys: KeySelection,
    /// Keep the target state for a verification after the plan runs (`plan` and an
    /// unverified restore need only the plan).
    pub(crate) keep_target: bool,
    /// `--from-replica`: the replica bucket removed versions are copied from.
    pub(crate) from_replica: Option<Location>,
}

fn resolve(target: &Target, global: &ConnectOptions) -> CliResult<Request> {
    let source = parse_s3_uri(&target.source)?;
    let (spec, time_note) = if target.before_corruption {
        (TargetSpec::BeforeCorruption(target.detect.clone()), None)
    } else if target.per_key {
        (TargetSpec::PerKey(target.detect.clone()), None)
    } else {
        let at = target
            .at
            .as_deref()
            .ok_or_else(|| CliError::usage("give --at TIME, --before-corruption or --per-key"))?;
        let (at, note) = resolve_time(at)?;
        (TargetSpec::At(at), note)
    };
    let destination = match (&target.to, &target.to_dir) {
        (None, None) => Destination::InPlace,
        (None, Some(dir)) => Destination::Directory {
            path: dir.to_string_lossy().into_owned(),
        },
        (Some(to), _) => {
            let dest = parse_s3_uri(to)?;
            let other_client = target.dest_profile.is_some() || target.dest_endpoint_url.is_some();
            if dest == source && !other_client {
                Destination::InPlace
            } else {
                if dest.bucket == source.bucket
                    && !other_client
                    && (dest.prefix.starts_with(&source.prefix)
                        || source.prefix.starts_with(&dest.prefix))
                {
                    return Err(CliError::usage(format!(
                        "destination s3://{}/{} overlaps the source s3://{}/{}: restored keys would be part of the source; choose a destination prefix outside the source prefix",
                        dest.bucket, dest.prefix, source.bucket, source.prefix
                    )));
                }
                Destination::Bucket { location: dest }
            }
        }
    };
    let dest_connect = (target.dest_profile.is_some()
        || target.dest_endpoint_url.is_some()
        || target.dest_region.is_some())
    .then(|| ConnectOptions {
        endpoint_url: target
            .dest_endpoint_url
            .clone()
            .or(global.endpoint_url.clone()),
        profile: target.dest_profile.clone().or(global.profile.clone()),
        region: target.dest_region.clone().or(global.region.clone()),
        ..global.clone()
    });
    Ok(Request {
        source,
        destination,
        spec,
        page_size: target.listing.page_size,
        list_streams: target.listing.streams(),
        source_spec: crate::source::SourceSpec::of(&target.listing, &target.snapshot),
        time_note,
        dest_connect,
        keys: key_selection(&target.select)?,
        keep_target: true,
        from_replica: target
            .from_replica
            .as_deref()
            .map(parse_s3_uri)
            .transpose()?,
    })
}

/// Check the source (and destination) bucket before planning. `executing` turns the
/// suspended-versioning refusal into an error; `plan` only warns.
pub(crate) async fn check_buckets(
    clients: &Clients,
    printer: &Printer,
    source: &Location,
    destination: &Destination,
    executing: bool,
) -> CliResult<Vec<Warning>> {
    let sv = clients
        .source
        .versioning()
        .await
        .map_err(|e| from_s3(e, &source.bucket))?;
    let dv = match destination {
        Destination::Bucket { location } => Some(
            clients
                .dest
                .versioning()
                .await
                .map_err(|e| from_s3(e, &location.bucket))?
                .status,
        ),
        _ => None,
    };
    let warnings = match preflight(&source.bucket, sv.status, destination, dv) {
        Ok(w) => w,
        Err(e @ PlanError::Suspended { .. }) if !executing => {
            printer.warn(format!(
                "{e} (this plan cannot be applied in place until then)"
            ));
            Vec::new()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(warnings)
}

/// What the listing, the target choice and the planner produced.
pub(crate) struct Prepared {
    /// The instant restored to (for detection modes: the first incident's start).
    pub(crate) at: DateTime<Utc>,
    /// The first write under the source prefix.
    pub(crate) earliest: DateTime<Utc>,
    /// The target state, kept for the verification after a restore (one entry per key
    /// at T: never the history).
    pub(crate) target: BucketState,
    /// The plan, before [`finish_plan`] adds the gates' warnings and its creation time
    /// (it names the inventory report the history came from, with `--inventory`).
    pub(crate) plan: RestorePlan,
}

/// The copies earlier runs of a restore to T made (from its journal), for the planner.
pub(crate) type KnownFor<'a> = &'a (dyn Fn(DateTime<Utc>) -> CliResult<Vec<KnownCopy>> + Sync);

/// The planner's options for a request.
fn plan_options(req: &Request, at: DateTime<Utc>, known_copies: Vec<KnownCopy>) -> PlanOptions {
    let mut options = PlanOptions::new(req.source.clone(), req.destination.clone(), at);
    options.selection = match req.spec {
        TargetSpec::At(_) => Selection::AtTime,
        TargetSpec::BeforeCorruption(_) => Selection::BeforeCorruption,
        TargetSpec::PerKey(_) => Selection::PerKey,
    };
    options.known_copies = known_copies;
    options
}

/// List, choose the target state and plan.
///
/// A restore to a TIME into a bucket (in place or another) never holds the source's
/// history: the listing is planned a part at a time as it goes (see
/// [`prepare_streamed`]). Detection needs the whole history, and a directory destination
/// reads its files against the target first: those hold the timeline.
pub(crate) async fn prepare(
    clients: &Clients,
    printer: &Printer,
    req: &Request,
    known: KnownFor<'_>,
) -> CliResult<Prepared> {
    if let TargetSpec::At(at) = req.spec
        && !matches!(req.destination, Destination::Directory { .. })
    {
        return prepare_streamed(clients, printer, req, at, known, None).await;
    }
    let endpoint = &clients.source_endpoint;
    let latest = match &req.spec {
        TargetSpec::At(at) => Some(*at),
        _ => None,
    };
    let (timeline, taken) = crate::source::load_checked(
        endpoint,
        printer,
        &req.source.bucket,
        &req.source.prefix,
        &req.source_spec,
        latest,
    )
    .await?;
    let inventory = inventory_ref(req, taken);
    tracing::info!(
        versions = timeline.len(),
        keys = timeline.keys().len(),
        anomalies = timeline.anomalies().len(),
        "timeline built"
    );
    let at_uri = format!("s3://{}/{}", req.source.bucket, req.source.prefix);
    let Some(earliest) = timeline.earliest() else {
        return Err(nothing_ever_written(&req.source));
    };
    if let TargetSpec::At(at) = &req.spec
        && *at < earliest
    {
        return Err(before_first_write(*at, earliest, &at_uri));
    }
    let (current, versions_now) = match &req.destination {
        Destination::InPlace => (timeline.current(), timeline.len() as u64),
        Destination::Bucket { location } => {
            let dest = list_bucket(
                &clients.dest,
                printer,
                &location.prefix,
                req.page_size,
                req.list_streams,
            )
            .await?;
            (dest.current(), dest.len() as u64)
        }
        Destination::Directory { .. } => (Default::default(), 0),
    };
    if let Some(note) = &req.time_note {
        printer.info(note);
    }
    let (at, target) = match &req.spec {
        TargetSpec::At(at) => (*at, timeline.state_at(*at)),
        TargetSpec::BeforeCorruption(d) | TargetSpec::PerKey(d) => {
            let report =
                crate::commands::scan::detect(endpoint, printer, &req.source, &timeline, d).await?;
            let Some(at) = s3rewind_engine::detect::restore_point(&report) else {
                let c = &report.coverage;
                let rules_out = report.guarantee.as_ref().map_or_else(String::new, |g| {
                    format!(" What its reads ruled out: {}", g.statement)
                });
                return Err(CliError::new(
                    Exit::Partial,
                    format!(
                        "scan found no incident ({} of {} written versions judged by content; {} of the {} recent overwrites), so there is no corruption to restore to before.{rules_out} A smaller incident may remain: raise the guarantee with --sample N (more reads), --min-damage N and --confidence C (the reads a wanted guarantee needs), or --deep (every version); run `s3rewind scan` to see why, or give --at TIME",
                        c.versions_judged, c.versions_written, c.recent_judged, c.recent_overwrites
                    ),
                ));
            };
            for line in crate::commands::scan::scales_and_coverage(&report) {
                printer.info(line.trim_start());
            }
            if matches!(req.spec, TargetSpec::PerKey(_)) {
                printer.info(format!(
                    "per-key restore: damaged keys go back to their last good version; the first incident began just after {}",
                    rfc3339(at)
                ));
                (
                    at,
                    s3rewind_engine::detect::per_key_target(&timeline, &report),
                )
            } else {
                printer.info(format!(
                    "restoring to just before the first incident: {}",
                    rfc3339(at)
                ));
                (at, timeline.state_at(at))
            }
        }
    };
    // Keys outside the selection are left out of both sides: nothing is planned for them.
    let filter = filter_of(&req.keys)?;
    let mut target = target;
    let mut current = current;
    filter.retain(&mut target, str::to_owned);
    filter.retain(
        &mut current,
        to_source_key(&req.source.prefix, &req.destination),
    );
    if !filter.is_all() {
        printer.info(format!(
            "selection ({}): {} key(s) at T, {} now",
            filter.describe(),
            target.len(),
            current.len()
        ));
    }
    let current = match &req.destination {
        // Files already written (same size and mtime) count as restored.
        Destination::Directory { path } => crate::commands::to_dir::existing_state(
            printer,
            Path::new(path),
            &req.source.prefix,
            &target,
        ),
        _ => current,
    };
    let options = plan_options(req, at, known(at)?);
    let mut plan = plan(&current, &target, &options);
    plan.inventory = inventory;
    plan.stats.versions_now = versions_now;
    Ok(Prepared {
        at,
        earliest,
        target,
        plan,
    })
}

/// [`prepare`] for a restore to a TIME into a bucket: the source's listing feeds a
/// [`StreamPlanner`] a part at a time, and each part is dropped once planned. Memory
/// holds the plan, the target state (one entry per key at T, for the verification) and,
/// for another bucket, the destination's current state — not the versions listed.
///
/// With a `sink`, and a destination range that holds nothing when listed, each action
/// is handed on as soon as it is planned, for a runner that writes as the listing goes
/// (see [`restore_cmd`]); the listing then waits whenever the sink is full. Otherwise the
/// sink is dropped unused.
async fn prepare_streamed(
    clients: &Clients,
    printer: &Printer,
    req: &Request,
    at: DateTime<Utc>,
    known: KnownFor<'_>,
    sink: Option<mpsc::Sender<Action>>,
) -> CliResult<Prepared> {
    let filter = filter_of(&req.keys)?;
    let options = plan_options(req, at, known(at)?);
    // Into another bucket: its current state, listed first (streamed: only the current
    // version of each key is kept).
    let dest = match &req.destination {
        Destination::Bucket { location } => {
            let (tx, mut rx) = mpsc::channel::<Timeline>(4);
            let listing = stream_bucket(
                &clients.dest,
                printer,
                &location.prefix,
                req.page_size,
                req.list_streams,
                tx,
            );
            let mut objects = Vec::new();
            let mut versions = 0u64;
            let collect = async {
                while let Some(part) = rx.recv().await {
                    versions += part.len() as u64;
                    objects.extend(part.current().objects);
                }
            };
            let (listed, ()) = tokio::join!(listing, collect);
            listed?;
            objects.sort_by(|a, b| a.key.cmp(&b.key));
            let mut state = BucketState {
                objects,
                ..BucketState::default()
            };
            filter.retain(
                &mut state,
                to_source_key(&req.source.prefix, &req.destination),
            );
            Some((state, versions))
        }
        _ => None,
    };
    // Only into a range that held nothing: the drift check of a streamed copy is that
    // listing (no request of its own), and there is nothing in the range to overwrite.
    let sink = sink.filter(|_| dest.as_ref().is_some_and(|(d, _)| d.objects.is_empty()));
    if sink.is_some() {
        printer.info("the destination range holds nothing: copying as the listing goes");
    }
    let mut planner = StreamPlanner::new(&options, &filter, dest.as_ref().map(|d| &d.0));
    planner.keep_target(req.keep_target);
    let (tx, rx) = mpsc::channel::<Timeline>(4);
    let listing = crate::source::stream_timeline(
        &clients.source_endpoint,
        printer,
        &req.source.bucket,
        &req.source.prefix,
        &req.source_spec,
        Some(at),
        tx,
    );
    let mut stopped = false;
    let consume = async {
        // Owned here, so that stopping drops it and the listing stops too.
        let mut rx = rx;
        let mut sent = 0;
        while let Some(part) = rx.recv().await {
            planner.part(part);
            let Some(sink) = &sink else { continue };
            for a in &planner.planned()[sent..] {
                if sink.send(a.clone()).await.is_err() {
                    // The runner stopped (Ctrl-C): so does the listing.
                    stopped = true;
                    return;
                }
            }
            sent = planner.planned().len();
        }
    };
    let (listed, ()) = tokio::join!(listing, consume);
    drop(sink);
    if stopped {
        return Err(CliError::new(
            Exit::Interrupted,
            "interrupted while listing",
        ));
    }
    let taken = listed?;
    let actions = planner.actions();
    let (mut plan, target, seen) = planner.finish();
    plan.inventory = inventory_ref(req, taken);
    // In place the destination range is the listed one (as of the snapshot, for an
    // inventory or an index: the count only weighs a listing against HEADs).
    plan.stats.versions_now = match &dest {
        Some((_, versions)) => *versions,
        None => seen.versions,
    };
    tracing::info!(
        versions = seen.versions,
        keys = seen.keys,
        anomalies = seen.anomalies,
        actions,
        "listing planned as it streamed"
    );
    let at_uri = format!("s3://{}/{}", req.source.bucket, req.source.prefix);
    let Some(earliest) = seen.earliest else {
        return Err(nothing_ever_written(&req.source));
    };
    if at < earliest {
        return Err(before_first_write(at, earliest, &at_uri));
    }
    if let Some(note) = &req.time_note {
        printer.info(note);
    }
    if !filter.is_all() {
        printer.info(format!(
            "selection ({}): {} key(s) at T, {} now",
            filter.describe(),
            target.len(),
            plan.stats.keys_now
        ));
    }
    Ok(Prepared {
        at,
        earliest,
        target,
        plan,
    })
}

/// The inventory report a plan's history came from, and its age.
fn inventory_ref(
    req: &Request,
    taken: Option<(&'static str, DateTime<Utc>)>,
) -> Option<s3rewind_engine::inventory::InventoryRef> {
    match (&req.source_spec.source, taken) {
        (crate::source::TimelineSource::Inventory { manifest }, Some((_, created))) => {
            Some(s3rewind_engine::inventory::InventoryRef {
                manifest: manifest.clone(),
                created_at: created,
            })
        }
        _ => None,
    }
}

fn nothing_ever_written(source: &Location) -> CliError {
    let glob = if source.prefix.contains(['*', '?', '[']) {
        " (the prefix is a plain byte prefix, not a glob: drop the wildcard, e.g. s3://bucket/logs/ rather than s3://bucket/logs/*)"
    } else {
        ""
    };
    CliError::new(
        Exit::NotFound,
        format!(
            "no object version or delete marker was ever written under s3://{}/{}: nothing to restore; check the bucket and prefix{glob}",
            source.bucket, source.prefix
        ),
    )
}

fn before_first_write(at: DateTime<Utc>, earliest: DateTime<Utc>, at_uri: &str) -> CliError {
    CliError::usage(format!(
        "TIME {} is before the first write under {at_uri} ({}): nothing existed then, so a restore would hide every key; give a TIME at or after {}; nothing was written",
        rfc3339(at),
        rfc3339(earliest),
        rfc3339(earliest)
    ))
}

/// The safety-gate warnings for a plan (lifecycle, Object Lock, MFA Delete).
pub(crate) async fn gate_warnings(
    clients: &Clients,
    source: &Location,
    destination: &Destination,
    at: DateTime<Utc>,
) -> CliResult<Vec<Warning>> {
    let dest_bucket = match destination {
        Destination::InPlace => Some(source.bucket.as_str()),
        Destination::Bucket { location } => Some(location.bucket.as_str()),
        Destination::Directory { .. } => None,
    };
    crate::commands::gates::check(clients, source, dest_bucket, at).await
}

/// Intelligent-Tiering versions show no archive tier in a listing: HEAD each one a plan
/// copies, and list those in an archive tier as [`Warning::Archived`].
pub(crate) async fn annotate_archived(clients: &Clients, p: &mut RestorePlan) -> CliResult<()> {
    let candidates: Vec<(String, String, String)> = p
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Copy(c)
                if c.storage_class.as_ref().map(|s| s.as_str()) == Some("INTELLIGENT_TIERING") =>
            {
                Some((
                    c.key.clone(),
                    c.source_key.clone(),
                    c.source_version_id.clone(),
                ))
            }
            _ => None,
        })
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    let mut found = Vec::new();
    for chunk in candidates.chunks(candidates.len().div_ceil(16).max(1)) {
        let (source, chunk) = (clients.source.clone(), chunk.to_vec());
        tasks.spawn(async move {
            let mut out = Vec::new();
            for (key, source_key, vid) in chunk {
                match source.head(&source_key, Some(&vid)).await {
                    Ok(Some(h)) if h.archive_status.is_some() => out.push(Ok((key, vid, h))),
                    Ok(_) => {}
                    Err(e) => out.push(Err(e)),
                }
            }
            out
        });
    }
    while let Some(r) = tasks.join_next().await {
        for item in r.map_err(|e| CliError::failure(format!("internal error: {e}")))? {
            let (key, vid, head) = item.map_err(|e| from_s3(e, &p.source.bucket))?;
            found.push((key, vid, head));
        }
    }
    found.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, version_id, head) in found {
        p.stats.archived += 1;
        p.warnings.push(Warning::Archived {
            key,
            version_id,
            storage_class: s3rewind_engine::StorageClass::new(&format!(
                "INTELLIGENT_TIERING/{}",
                head.archive_status.unwrap_or_default()
            )),
        });
    }
    Ok(())
}

/// The prepared plan with the gates' warnings first, its key selection and creation time.
pub(crate) fn finish_plan(
    mut p: RestorePlan,
    req: &Request,
    warnings: Vec<Warning>,
) -> RestorePlan {
    p.created_at = Some(Utc::now());
    p.keys = (!req.keys.is_all()).then(|| req.keys.clone());
    let mut all = warnings;
    all.append(&mut unrestorable(&mut p, req));
    all.append(&mut p.warnings);
    p.warnings = all;
    p
}

/// With a watched index: the keys whose entry current at T was removed for good since.
/// Their actions (which would bring back an older entry, the newest that survives) are
/// taken out of the plan, and each is a [`Warning::Unrestorable`].
fn unrestorable(p: &mut RestorePlan, req: &Request) -> Vec<Warning> {
    let Some(removals) = req.source_spec.watched.removals() else {
        return Vec::new();
    };
    let dest_prefix = p.destination_prefix().to_owned();
    let src_prefix = p.source.prefix.clone();
    let filter = req.keys.filter().ok();
    let mut out = Vec::new();
    for u in removals.unrestorable_at(p.at) {
        if filter.as_ref().is_some_and(|f| !f.matches(&u.key)) {
            continue;
        }
        let dest_key = format!(
            "{dest_prefix}{}",
            &u.key[src_prefix.len().min(u.key.len())..]
        );
        p.actions.retain(|a| a.key() != dest_key);
        let from_replica = req
            .from_replica
            .as_ref()
            .filter(|_| !u.delete_marker)
            .map(|r| r.bucket.clone());
        out.push(Warning::Unrestorable {
            key: u.key,
            version_id: u.version_id,
            delete_marker: u.delete_marker,
            removed_at: u.removed_at,
            why: u.why.says().to_owned(),
            from_replica,
        });
    }
    out
}

/// What a plan brings back, in words.
fn describe_target(p: &RestorePlan) -> String {
    match p.selection {
        Selection::AtTime => format!("restore {} to its state at {}", p.source, rfc3339(p.at)),
        Selection::BeforeCorruption => format!(
            "restore {} to its state at {}, just before the first suspected incident",
            p.source,
            rfc3339(p.at)
        ),
        Selection::PerKey => format!(
            "take each damaged key of {} back to its last good version (other keys untouched)",
            p.source
        ),
        Selection::Undelete => format!("undelete the deleted keys of {}", p.source),
        Selection::Undo => format!("undo a restore on {}", p.source),
    }
}

fn describe_destination(p: &RestorePlan) -> String {
    match &p.destination {
        Destination::InPlace => "in place".to_owned(),
        Destination::Bucket { location } => format!("into {location}"),
        Destination::Directory { path } => format!("into directory {path}"),
    }
}

/// The human summary of a plan.
pub(crate) fn print_plan(printer: &Printer, p: &RestorePlan, verbose: bool, list_actions: bool) {
    let s = &p.stats;
    printer.line(format!(
        "Plan: {} ({})",
        describe_target(p),
        describe_destination(p)
    ));
    printer.line(format!("  keys at that time: {:>10}", s.keys_at_target));
    printer.line(format!("  unchanged:         {:>10}", s.unchanged));
    printer.line(format!(
        "  copies:            {:>10} ({})",
        s.copies,
        human_bytes(s.bytes_to_copy)
    ));
    printer.line(format!("  delete markers:    {:>10}", s.delete_markers));
    if s.left_alone > 0 {
        printer.line(format!("  left alone:        {:>10}", s.left_alone));
    }
    if s.archived > 0 {
        printer.line(format!("  archived sources:  {:>10}", s.archived));
    }
    print_warnings(printer, &p.warnings);
    if p.actions.is_empty() {
        printer.line("Nothing to do: the destination already matches.");
        return;
    }
    if !list_actions {
        return;
    }
    let shown = if verbose { p.actions.len() } else { 20 };
    printer.line(format!(
        "Actions{}:",
        if p.actions.len() > shown {
            format!(
                " (first {shown} of {}; -v for all, --output json for the full plan)",
                p.actions.len()
            )
        } else {
            String::new()
        }
    ));
    for a in p.actions.iter().take(shown) {
        match a {
            Action::Copy(c) => printer.line(format!(
                "  copy    {:?} <- {:?} version {} ({}, {})",
                c.key,
                c.source_key,
                c.source_version_id,
                human_bytes(c.size),
                rfc3339(c.last_modified)
            )),
            Action::DeleteMarker(d) => printer.line(format!("  delete  {:?}", d.key)),
        }
    }
}

fn print_warnings(printer: &Printer, warnings: &[Warning]) {
    if warnings.is_empty() {
        return;
    }
    // Group per kind, with a few example keys each.
    let mut groups: BTreeMap<&str, (String, Vec<&str>)> = BTreeMap::new();
    for w in warnings {
        let (kind, text, key): (&str, String, &str) = match w {
            Warning::NullRewritten { key, handling, .. } => (
                match handling {
                    UncertainHandling::LeftAlone => "null-left",
                    _ => "null",
                },
                match handling {
                    UncertainHandling::LeftAlone => "a `null` version was written after T and no earlier version survives, so the key's state at T is unknown: left as it is".to_owned(),
                    _ => "a `null` version was rewritten after T: what the key held at T may be gone; the newest surviving version at or before T is used".to_owned(),
                },
                key,
            ),
            Warning::SameSecondTie { key } => (
                "tie",
                "a version and a delete marker share the decisive second; the tie rule (version first) decided".to_owned(),
                key,
            ),
            Warning::OrderUnknown { key } => (
                "unknown",
                "its state at T depends on an order nothing shows (two versions in one second in a snapshot, a page that proved no layout) and the live bucket did not settle it: left as it is; check it with `s3rewind history`".to_owned(),
                key,
            ),
            Warning::OutOfOrder { key } => (
                "order",
                "timestamps disagree with the server's list order (a concurrent PUT and DELETE, a late multipart completion, a replica); list order decided".to_owned(),
                key,
            ),
            Warning::ExtraAtDestination { key } => (
                "extra",
                "exists at the destination but not at T; left alone".to_owned(),
                key,
            ),
            Warning::Unrestorable { key, version_id, delete_marker, removed_at, why, from_replica } => match from_replica {
                Some(r) => (
                    "replica",
                    format!("the version current at T was removed from this bucket since; `restore` copies it (the same version id) from the replica {r:?}"),
                    key,
                ),
                None => (
                    "unrestorable",
                    format!(
                        "cannot be restored from this bucket: the {} current at T ({version_id}) was {why} at {}; the key is left as it is (with a replica: --from-replica s3://REPLICA)",
                        if *delete_marker { "delete marker" } else { "version" },
                        rfc3339(*removed_at)
                    ),
                    key,
                ),
            },
            Warning::Archived { key, storage_class, .. } => (
                "archived",
                format!("source version is archived ({storage_class}); it must be restored from the archive before it can be copied"),
                key,
            ),
            Warning::NoncurrentExpiration { bucket, rule, days, window_days, .. } => (
                "lifecycle",
                if *window_days >= i64::from(*days) {
                    format!("lifecycle rule {rule:?} on {bucket:?} expires noncurrent versions after {days} days and T is {window_days} days ago: versions replaced soon after T may already be gone, so some keys may come back older than they were at T")
                } else {
                    format!("lifecycle rule {rule:?} on {bucket:?} expires noncurrent versions after {days} days (T is {window_days} days ago): restore before they expire")
                },
                "",
            ),
            Warning::DefaultRetention { bucket, mode, days, years } => (
                "retention",
                format!("bucket {bucket:?} has Object Lock default retention {mode} for {}: every restored copy will be locked{}",
                    if *years > 0 { format!("{years} year(s)") } else { format!("{days} day(s)") },
                    if mode == "COMPLIANCE" { " and cannot be deleted early by anyone" } else { "" }),
                "",
            ),
            Warning::MfaDelete { bucket } => (
                "mfa",
                format!("MFA Delete is enabled on {bucket:?}: fine, a restore only adds versions and delete markers"),
                "",
            ),
            Warning::HidesMostKeys { delete_markers, keys_now, limit } => (
                "blast",
                format!("the plan hides {delete_markers} of the {keys_now} keys that exist now behind delete markers, more than --max-delete-markers {limit} allows: check TIME and the prefix; if it is right, re-run with --max-delete-markers {delete_markers}"),
                "",
            ),
            Warning::DestinationKeepsNoHistory { bucket, versioning } => (
                "nohistory",
                format!("destination bucket {bucket:?} is not versioned (versioning: {versioning}): restored objects keep no history and existing objects there are overwritten"),
                "",
            ),
        };
        let entry = groups.entry(kind).or_insert_with(|| (text, Vec::new()));
        if !key.is_empty() {
            entry.1.push(key);
        }
    }
    printer.line(format!("Warnings ({}):", warnings.len()));
    for (text, keys) in groups.values() {
        if keys.is_empty() {
            printer.line(format!("  - {text}"));
        } else {
            let examples: Vec<String> = keys.iter().take(5).map(|k| format!("{k:?}")).collect();
            printer.line(format!(
                "  - {} key(s): {text}: {}{}",
                keys.len(),
                examples.join(", "),
                if keys.len() > 5 { ", …" } else { "" }
            ));
        }
    }
}

/// A plan's digest: `sha256:HEX` of its JSON without the `digest` field (what `plan
/// --out` records and `apply --expect-digest` checks).
pub(crate) fn plan_digest(p: &RestorePlan) -> String {
    use sha2::Digest as _;
    let mut bare = p.clone();
    bare.digest = None;
    let json = serde_json::to_string(&bare).expect("a plan serialises");
    let hash = sha2::Sha256::digest(json.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

fn write_plan_file(path: &Path, p: &RestorePlan) -> CliResult<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, p.to_json() + "\n")
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::failure(format!("cannot write plan file {}: {e}", path.display())))
}

/// `s3rewind plan`.
pub async fn plan_cmd(app: &App, args: &PlanArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let mut req = resolve(&args.target, &app.connect)?;
    if let Some(out) = &args.out {
        crate::outputs::file("--out", out, crate::outputs::Parent::MustExist)?;
    }
    if let [_, dir] = args.emit.as_slice() {
        crate::outputs::dir("--emit", Path::new(dir))?;
    }
    req.keep_target = false;
    let clients = Clients::new(
        app,
        &req.source,
        &req.destination,
        req.dest_connect.as_ref(),
    )
    .await;
    let mut warnings =
        check_buckets(&clients, printer, &req.source, &req.destination, false).await?;
    let prepared = prepare(&clients, printer, &req, &|_| Ok(Vec::new())).await?;
    warnings.extend(gate_warnings(&clients, &req.source, &req.destination, prepared.at).await?);
    let mut p = finish_plan(prepared.plan, &req, warnings);
    annotate_archived(&clients, &mut p).await?;
    if let Some(w) = p.exceeds(DeleteLimit::DEFAULT) {
        p.warnings.insert(0, w);
    }
    if let [format, dir] = args.emit.as_slice() {
        if format != "batch-ops" {
            return Err(CliError::usage(format!(
                "--emit {format:?}: the only format is batch-ops"
            )));
        }
        crate::batch::emit(
            printer,
            &p,
            Path::new(dir),
            &crate::batch::JobOptions::of(args),
        )?;
    }
    p.digest = Some(plan_digest(&p));
    let digest = p.digest.clone().unwrap_or_default();
    if let Some(out) = &args.out {
        write_plan_file(out, &p)?;
        printer.info(format!(
            "plan written to {}, digest {digest}; after review run `s3rewind apply {} --expect-digest {digest}` to execute exactly this plan",
            out.display(),
            out.display()
        ));
    }
    print_plan(printer, &p, app.verbose, true);
    printer.json_value(&p);
    Ok(Exit::Ok)
}

/// The executor configuration from the command line.
pub(crate) fn exec_config(args: &ExecArgs) -> ExecConfig {
    ExecConfig {
        concurrency: args.concurrency as usize,
        conditional: true,
        force: args.force,
        storage_class: args.storage_class.clone(),
        sse_kms_key_id: args.sse_kms_key_id.clone(),
        preserve_acl: args.preserve_acl,
        multipart_threshold: args.multipart_threshold,
        part_size: args.part_size,
        archive_restore: args.request_archive_restore.then_some(ArchiveRestore {
            days: args.restore_days,
            tier: match args.restore_tier {
                crate::args::ArchiveTier::Standard => "Standard",
                crate::args::ArchiveTier::Bulk => "Bulk",
                crate::args::ArchiveTier::Expedited => "Expedited",
            },
        }),
        fidelity_full: args.fidelity == crate::args::Fidelity::Full,
        ..ExecConfig::default()
    }
}

/// Ask before an in-place restore, or one that overwrites objects in a destination
/// that keeps no history (nothing there to undo), unless `--yes`.
fn confirm(printer: &Printer, p: &RestorePlan, yes: bool) -> CliResult<()> {
    if yes || p.actions.is_empty() {
        return Ok(());
    }
    let question = match &p.destination {
        Destination::InPlace => format!(
            "Restore {} in place to {}: {} copies and {} delete markers (nothing is deleted permanently). Proceed?",
            p.source,
            rfc3339(p.at),
            p.stats.copies,
            p.stats.delete_markers
        ),
        Destination::Bucket { location } => {
            let unversioned = p
                .warnings
                .iter()
                .any(|w| matches!(w, Warning::DestinationKeepsNoHistory { .. }));
            let overwrites = p
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Copy(c) if c.expect.is_some()))
                .count();
            if !unversioned || overwrites == 0 {
                return Ok(());
            }
            format!(
                "Overwrite {overwrites} existing object(s) in s3://{}/{}, which keeps no versions (they cannot be brought back)? Proceed?",
                location.bucket, location.prefix
            )
        }
        Destination::Directory { .. } => return Ok(()),
    };
    match printer.confirm(&question) {
        Some(true) => Ok(()),
        Some(false) => Err(CliError::refused("not confirmed; nothing was written")),
        None => Err(CliError::refused(
            "this restore writes over existing objects and needs confirmation, and stdin is not a terminal; review with `s3rewind plan` and re-run with --yes; nothing was written",
        )),
    }
}

/// The blast-radius guard before executing (see [`DeleteLimit`]): refused, with the
/// plan's warning printed, when its delete markers hide too many current keys.
pub(crate) fn check_blast_radius(
    printer: &Printer,
    p: &mut RestorePlan,
    limit: DeleteLimit,
) -> CliResult<()> {
    if p.selection == Selection::Undo {
        return Ok(());
    }
    let Some(w) = p.exceeds(limit) else {
        return Ok(());
    };
    p.warnings.insert(0, w);
    print_plan(printer, p, false, false);
    Err(CliError::refused(format!(
        "the plan would hide {} of the {} keys that exist now under {} behind delete markers (limit --max-delete-markers {limit}): check TIME and the prefix; if the plan is right, re-run with --max-delete-markers {}; nothing was written",
        p.stats.delete_markers, p.stats.keys_now, p.source, p.stats.delete_markers
    )))
}

pub(crate) fn report_exec(
    printer: &Printer,
    p: &RestorePlan,
    r: &ExecReport,
    journal: &Path,
) -> (Exit, serde_json::Value) {
    let actions = r.copied + r.delete_markers + r.already_done;
    printer.line(format!(
        "{}: {} ({}): {} copied ({}), {} delete markers, {} unchanged, {} already done",
        if r.interrupted { "Interrupted" } else { "Done" },
        describe_target(p),
        describe_destination(p),
        r.copied,
        human_bytes(r.bytes_copied),
        r.delete_markers,
        p.stats.unchanged,
        r.already_done
    ));
    printer.line(format!(
        "  {:.1} s, {:.0} actions/s, concurrency {}{}{}",
        r.seconds,
        if r.seconds > 0.0 {
            actions as f64 / r.seconds
        } else {
            0.0
        },
        r.final_concurrency,
        if r.throttled > 0 {
            format!(" (throttled {} times)", r.throttled)
        } else {
            String::new()
        },
        if r.while_listing > 0 {
            format!(
                ", {} done while the source was still being listed",
                r.while_listing
            )
        } else {
            String::new()
        }
    ));
    crate::execute::print_issues(
        printer,
        &[
            ("Failed", &r.failed),
            ("Drifted (changed since the plan; not touched)", &r.drifted),
            ("Waiting for archive restore", &r.waiting),
            ("Skipped", &r.skipped),
        ],
    );
    printer.line(format!("Journal: {}", journal.display()));
    if r.interrupted {
        printer.line("Interrupted: run the same command again to resume.");
    }
    let doc = json!({
        "schema": RESTORE_SCHEMA,
        "source": p.source,
        "destination": p.destination,
        "at": p.at,
        "plan": p.stats,
        "report": r,
        "journal": journal,
    });
    let exit = if r.interrupted {
        Exit::Interrupted
    } else if r.complete() {
        Exit::Ok
    } else {
        Exit::Partial
    };
    (exit, doc)
}

/// `s3rewind restore`.
pub async fn restore_cmd(app: &App, args: &RestoreArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let mut req = resolve(&args.target, &app.connect)?;
    if !args.dry_run {
        // Everything it will write locally, before the listing and the first write.
        crate::outputs::of_exec(&args.exec, &journal::default_dir())?;
        if let Destination::Directory { path } = &req.destination {
            crate::outputs::dir("--to-dir", Path::new(path))?;
        }
    }
    req.keep_target = !args.dry_run && !args.exec.no_verify;
    let clients = Clients::new(
        app,
        &req.source,
        &req.destination,
        req.dest_connect.as_ref(),
    )
    .await;
    let mut warnings = check_buckets(
        &clients,
        printer,
        &req.source,
        &req.destination,
        !args.dry_run,
    )
    .await?;
    let journal_of = |at: DateTime<Utc>| {
        args.exec
            .journal
            .clone()
            .unwrap_or_else(|| journal::default_path(&req.source, &req.destination, at))
    };
    let known = |at: DateTime<Utc>| -> CliResult<Vec<KnownCopy>> {
        let journal_path = journal_of(at);
        // A journal of another run is refused here, before the listing.
        let run = journal::Run::restore(&req.source, &req.destination, at);
        let lines = journal::load(
            &journal_path,
            Some(&run),
            printer,
            "the action it may record is checked against the bucket: the plan is made from the bucket's current state",
        )?;
        let known = journal::known_copies(&lines);
        if !known.is_empty() {
            printer.info(format!(
                "resuming: journal {} records {} completed copies",
                journal_path.display(),
                known.len()
            ));
        }
        Ok(known)
    };
    // Into another bucket, copies may start while the source is still being listed.
    let (prepared, streamed) = match req.spec {
        TargetSpec::At(at) if writes_as_it_lists(&req, args.dry_run, &warnings) => {
            warnings.extend(gate_warnings(&clients, &req.source, &req.destination, at).await?);
            let journal_path = journal_of(at);
            abort_left_over_uploads(&clients, printer, &journal_path).await?;
            restore_streamed(app, &clients, &req, at, &known, &args.exec, &journal_path).await?
        }
        _ => {
            let prepared = prepare(&clients, printer, &req, &known).await?;
            warnings
                .extend(gate_warnings(&clients, &req.source, &req.destination, prepared.at).await?);
            (prepared, None)
        }
    };
    let journal_path = journal_of(prepared.at);
    let mut p = finish_plan(prepared.plan, &req, warnings);
    if let Some(r) = streamed {
        // The plan is whole only now: shown after its copies, with what they did.
        print_plan(printer, &p, app.verbose, app.verbose);
        let result = report_exec(printer, &p, &r, &journal_path);
        let listing = (req.page_size, req.list_streams);
        return verify_after(
            app,
            &clients,
            &p,
            &args.exec,
            Some(&prepared.target),
            listing,
            &journal_path,
            result,
            None,
        )
        .await;
    }
    annotate_archived(&clients, &mut p).await?;
    if args.dry_run {
        if let Some(w) = p.exceeds(args.exec.max_delete_markers) {
            p.warnings.insert(0, w);
        }
        print_plan(printer, &p, app.verbose, true);
        printer.json_value(&p);
        return Ok(Exit::Ok);
    }
    check_blast_radius(printer, &mut p, args.exec.max_delete_markers)?;
    let listing = (req.page_size, req.list_streams);
    let run = journal::Run::of_plan(&p);
    let (mut exit, doc) =
        execute_plan(app, &clients, &p, &args.exec, &journal_path, 0, &run).await?;
    if req.from_replica.is_some() && exit != Exit::Interrupted {
        let failed = copy_from_replica(app, &clients, &p).await?;
        if failed > 0 && exit == Exit::Ok {
            exit = Exit::Partial;
        }
    }
    // A snapshot cannot show the state after the restore, and listing the history is
    // what --index and --inventory avoid: the restored range is verified from its current
    // objects (one ListObjectsV2 pass), ETag and size against the state at T.
    let current = if req.source_spec.is_snapshot() && !args.exec.no_verify {
        Some(current_objects_state(&clients, &p).await?)
    } else {
        None
    };
    verify_after(
        app,
        &clients,
        &p,
        &args.exec,
        Some(&prepared.target),
        listing,
        &journal_path,
        (exit, doc),
        current,
    )
    .await
}

/// `restore --from-replica`: each version the plan could not take from its own bucket
/// (a [`Warning::Unrestorable`] with a replica) is copied from the replica, by the same
/// version id, onto its key (CopyObject; conditional on the key's current version where
/// the server honours it). These copies are not in the journal (`undo` does not take them
/// back) and `apply` of a saved plan does not make them. Returns how many failed.
async fn copy_from_replica(app: &App, clients: &Clients, p: &RestorePlan) -> CliResult<u64> {
    let printer = &app.printer;
    let Some(dest) = p.destination_location() else {
        return Ok(0);
    };
    let mut failed = 0u64;
    for w in &p.warnings {
        let Warning::Unrestorable {
            key,
            version_id,
            from_replica: Some(replica),
            ..
        } = w
        else {
            continue;
        };
        let dest_key = format!(
            "{}{}",
            dest.prefix,
            &key[p.source.prefix.len().min(key.len())..]
        );
        let result = async {
            if clients.separate {
                return Err(
                    "the destination is reached through other options (--dest-*): copy it yourself"
                        .to_owned(),
                );
            }
            let from = clients.source_endpoint.bucket(replica);
            let head = from
                .head(key, Some(version_id))
                .await
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("the replica has no version {version_id} of it"))?;
            let now = clients
                .dest
                .head(&dest_key, None)
                .await
                .map_err(|e| e.to_string())?;
            let req = crate::bucket::CopyRequest {
                source_bucket: replica,
                source_key: key,
                source_version_id: version_id,
                bucket: &dest.bucket,
                key: &dest_key,
                head: &head,
                storage_class: None,
                sse_kms_key_id: None,
                if_match: now.as_ref().map(|h| h.etag.as_str()),
                if_none_match: now.is_none(),
                acl: None,
                source_if_match: None,
                replace_metadata: false,
            };
            clients.dest.copy(&req).await.map_err(|e| e.to_string())
        }
        .await;
        match result {
            Ok(new) => printer.info(format!(
                "copied {key:?} version {version_id} from the replica s3://{replica} (new version {new})"
            )),
            Err(e) => {
                failed += 1;
                printer.warn(format!(
                    "{key:?}: version {version_id} was not copied from the replica s3://{replica}: {e}"
                ));
            }
        }
    }
    Ok(failed)
}

/// Does this restore write as it lists? A restore to a TIME into another bucket that
/// keeps versions, from a listing (not a snapshot), not a dry run: no confirmation to
/// ask (nothing there can be lost) and no delete markers to weigh (a restore into
/// another bucket adds none). Whether it does in the end depends on the destination
/// range holding nothing when listed (see [`prepare_streamed`]).
pub(crate) fn writes_as_it_lists(req: &Request, dry_run: bool, warnings: &[Warning]) -> bool {
    !dry_run
        && matches!(req.spec, TargetSpec::At(_))
        && matches!(req.destination, Destination::Bucket { .. })
        && !req.source_spec.is_snapshot()
        && !warnings
            .iter()
            .any(|w| matches!(w, Warning::DestinationKeepsNoHistory { .. }))
}

/// List, plan and copy at once (see [`writes_as_it_lists`]): the planner hands each
/// action to the runner as soon as the listing has passed its key. The report is `None`
/// when nothing was handed over (the destination range held something, or nothing
/// differs): the caller then executes the plan as usual.
pub(crate) async fn restore_streamed(
    app: &App,
    clients: &Clients,
    req: &Request,
    at: DateTime<Utc>,
    known: KnownFor<'_>,
    exec: &ExecArgs,
    journal_path: &Path,
) -> CliResult<(Prepared, Option<ExecReport>)> {
    let printer = &app.printer;
    let Destination::Bucket { location } = &req.destination else {
        unreachable!("checked by writes_as_it_lists");
    };
    let config = exec_config(exec);
    let (tx, mut rx) = mpsc::channel::<Action>(config.concurrency.max(1));
    let plan = prepare_streamed(clients, printer, req, at, known, Some(tx));
    let run = async {
        let Some(first) = rx.recv().await else {
            return Ok(None);
        };
        let run = journal::Run::restore(&req.source, &req.destination, at);
        let j = Journal::begin(journal_path, &run, printer)?;
        let r = crate::execute::run_stream(
            clients.buckets(),
            &location.prefix,
            &config,
            Some(j),
            printer,
            None,
            first,
            rx,
        )
        .await;
        Ok::<_, CliError>(Some(r))
    };
    let (prepared, report) = tokio::join!(plan, run);
    let report = report?;
    match (prepared, report) {
        (Ok(p), r) => Ok((p, r)),
        // Copies were made before the listing stopped: the one error line says so.
        (Err(e), Some(r)) => {
            // The error's own "nothing was written" is the listing's view; the runner
            // knows what was.
            let message = e
                .message
                .trim_end_matches('.')
                .replace("; nothing was written", "")
                .replace(" (nothing was written)", "");
            let written = if r.copied == 0 {
                "nothing was written".to_owned()
            } else {
                format!(
                    "{} copied before that, journal {}; run the same command again to resume, or `s3rewind undo {}` to take them back",
                    r.copied,
                    journal_path.display(),
                    journal_path.display()
                )
            };
            Err(CliError::new(e.exit, format!("{message} ({written})")))
        }
        (Err(e), None) => Err(e),
    }
}

/// Confirm, execute and report a plan; prints its JSON result.
pub(crate) async fn run_plan(
    app: &App,
    clients: &Clients,
    p: &RestorePlan,
    exec: &ExecArgs,
    journal_path: &Path,
    already_done: u64,
    run: &journal::Run,
) -> CliResult<Exit> {
    let (exit, doc) = execute_plan(app, clients, p, exec, journal_path, already_done, run).await?;
    app.printer.json_value(&doc);
    Ok(exit)
}

/// Confirm, execute and report a plan; returns the JSON result for the caller to
/// complete (with the verification) and print.
pub(crate) async fn execute_plan(
    app: &App,
    clients: &Clients,
    p: &RestorePlan,
    exec: &ExecArgs,
    journal_path: &Path,
    already_done: u64,
    run: &journal::Run,
) -> CliResult<(Exit, serde_json::Value)> {
    let printer = &app.printer;
    print_plan(printer, p, app.verbose, app.verbose);
    if p.actions.is_empty() {
        let report = ExecReport {
            already_done,
            ..ExecReport::default()
        };
        let doc = json!({
            "schema": RESTORE_SCHEMA,
            "source": p.source,
            "destination": p.destination,
            "at": p.at,
            "plan": p.stats,
            "report": report,
            "journal": null,
        });
        return Ok((Exit::Ok, doc));
    }
    confirm(printer, p, exec.yes)?;
    abort_left_over_uploads(clients, printer, journal_path).await?;
    let config = exec_config(exec);
    let mut r = match &p.destination {
        Destination::Directory { .. } => {
            crate::commands::to_dir::execute(&clients.source, p, &config, journal_path, printer)
                .await?
        }
        _ => {
            let j = Journal::begin(journal_path, run, printer)?;
            crate::execute::run_plan(clients.buckets(), p, &config, Some(j), printer, None).await
        }
    };
    r.already_done += already_done;
    Ok(report_exec(printer, p, &r, journal_path))
}

/// Abort the multipart uploads an earlier, killed run of this restore left open.
async fn abort_left_over_uploads(
    clients: &Clients,
    printer: &Printer,
    journal_path: &Path,
) -> CliResult<()> {
    let open = journal::open_uploads(&journal::read(journal_path)?);
    for (bucket, key, upload_id) in &open {
        let upload = clients.dest_endpoint.bucket(bucket);
        match upload.abort_multipart(key, upload_id).await {
            Ok(()) => printer.info(format!(
                "aborted multipart upload {upload_id} of {key:?} left open by an interrupted run"
            )),
            Err(e) => printer.warn(format!(
                "could not abort multipart upload {upload_id} of {key:?} left by an interrupted run: {e}"
            )),
        }
    }
    if !open.is_empty()
        && let Ok(j) = Journal::open(journal_path, printer)
    {
        for (bucket, key, upload_id) in open {
            let _ = j.append(&Line::Upload {
                bucket,
                key,
                upload_id,
                open: false,
            });
        }
    }
    Ok(())
}

/// A plan file's digest checked: against `--expect-digest` (refused when it differs:
/// the plan is not the one reviewed), and against the digest it records (a plan changed
/// after `plan --out` wrote it is said so).
fn check_digest(
    printer: &Printer,
    path: &Path,
    p: &RestorePlan,
    expect: Option<&str>,
) -> CliResult<()> {
    let actual = plan_digest(p);
    if let Some(want) = expect
        && want.trim() != actual
    {
        return Err(CliError::refused(format!(
            "plan {} has digest {actual}, not the expected {}: it is not the plan that was reviewed; review this one (`s3rewind plan` again) or give its digest; nothing was written",
            path.display(),
            want.trim()
        )));
    }
    match &p.digest {
        Some(recorded) if *recorded != actual => printer.warn(format!(
            "plan {} was changed after it was written: it records digest {recorded}, its content has {actual}",
            path.display()
        )),
        _ => printer.info(format!("plan {}: digest {actual}", path.display())),
    }
    Ok(())
}

/// `s3rewind apply`.
pub async fn apply_cmd(app: &App, args: &ApplyArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    crate::outputs::of_exec(&args.exec, &journal::default_dir())?;
    let text = std::fs::read_to_string(&args.plan).map_err(|e| {
        CliError::usage(format!(
            "cannot read plan file {}: {e}",
            args.plan.display()
        ))
    })?;
    let mut p = RestorePlan::from_json(&text)
        .map_err(|e| CliError::usage(format!("{}: {e}", args.plan.display())))?;
    check_digest(printer, &args.plan, &p, args.expect_digest.as_deref())?;
    // The run is bound to the plan as read (its journal refuses another plan).
    p.digest = Some(plan_digest(&p));
    let clients = Clients::new(app, &p.source, &p.destination, None).await;
    check_buckets(&clients, printer, &p.source, &p.destination, true).await?;
    for w in gate_warnings(&clients, &p.source, &p.destination, p.at).await? {
        if !p.warnings.contains(&w) {
            p.warnings.insert(0, w);
        }
    }
    let journal_path: PathBuf = args
        .exec
        .journal
        .clone()
        .unwrap_or_else(|| journal::default_path(&p.source, &p.destination, p.at));
    // Resume: skip an action the journal records as done for this plan only while the
    // destination still holds what it wrote (the version id it created where real, else
    // that copy's ETag and size; for a delete marker, the key still absent). One HEAD per
    // journaled action, on resume only. Anything else stays in the plan, where the
    // executor's own check finds it done, drifted, or still to do.
    let run = journal::Run::of_plan(&p);
    let done: HashMap<(String, Option<String>), journal::Done> = journal::load(
        &journal_path,
        Some(&run),
        printer,
        "the action it may record stays in the plan, where the executor checks its key first",
    )?
    .into_iter()
    .filter_map(|l| match l {
        Line::Done(d) => Some(((d.key.clone(), d.source_version_id.clone()), d)),
        Line::Start { .. } | Line::Upload { .. } | Line::Torn { .. } => None,
    })
    .collect();
    let dest_bucket = match &p.destination {
        Destination::InPlace => Some(p.source.bucket.clone()),
        Destination::Bucket { location } => Some(location.bucket.clone()),
        Destination::Directory { .. } => None,
    };
    let before = p.actions.len();
    let mut keep = Vec::with_capacity(before);
    for a in std::mem::take(&mut p.actions) {
        let id = match &a {
            Action::Copy(c) => (c.key.clone(), Some(c.source_version_id.clone())),
            Action::DeleteMarker(d) => (d.key.clone(), None),
        };
        let still_done = match (done.get(&id), &dest_bucket) {
            (Some(d), Some(bucket)) => {
                let now = clients
                    .dest
                    .head(&d.key, None)
                    .await
                    .map_err(|e| from_s3(e, bucket))?;
                match (&a, now) {
                    (Action::DeleteMarker(_), None) => true,
                    (Action::Copy(_), Some(h)) => {
                        if d.new_version_id.is_empty() {
                            false
                        } else if d.new_version_id == NULL_VERSION {
                            d.etag.as_deref() == Some(h.etag.as_str()) && d.size == Some(h.size)
                        } else {
                            h.version_id == d.new_version_id
                        }
                    }
                    _ => false,
                }
            }
            // A directory's files are checked by the executor (size and mtime).
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !still_done {
            keep.push(a);
        }
    }
    // What will be done is counted from the actions that remain, never taken from the
    // file's own `stats` (which a hand-edited or partly applied plan no longer matches).
    let recorded = (p.stats.copies, p.stats.delete_markers);
    let digest = p.digest.take();
    p = s3rewind_engine::batch::with_actions(&p, keep);
    p.digest = digest;
    let skipped = before - p.actions.len();
    if skipped == 0 && recorded != (p.stats.copies, p.stats.delete_markers) {
        printer.warn(format!(
            "the plan file's stats say {} copies and {} delete markers, its actions hold {} and {}: what follows counts the actions",
            recorded.0, recorded.1, p.stats.copies, p.stats.delete_markers
        ));
    }
    check_blast_radius(printer, &mut p, args.exec.max_delete_markers)?;
    if skipped > 0 {
        printer.info(format!(
            "resuming: {skipped} actions already done according to journal {}",
            journal_path.display()
        ));
    }
    let result = execute_plan(
        app,
        &clients,
        &p,
        &args.exec,
        &journal_path,
        skipped as u64,
        &run,
    )
    .await?;
    verify_after(
        app,
        &clients,
        &p,
        &args.exec,
        None,
        (1000, Streams::new(16, crate::listing::Split::Auto)),
        &journal_path,
        result,
        None,
    )
    .await
}

/// After `restore` or `apply`: check the destination against the source's state at T
/// (unless `--no-verify`), print the result, write `--report`, and fold it into the exit
/// status. `target` is the state the plan was made from; without it (`apply`) the source
/// is listed again, which works for plans made `--at` a time or `--before-corruption`.
#[allow(clippy::too_many_arguments)]
/// The current state of a plan's destination range as ListObjectsV2 shows it (keys,
/// ETags, sizes; no version ids): what a restore from a snapshot verifies against.
async fn current_objects_state(clients: &Clients, p: &RestorePlan) -> CliResult<BucketState> {
    let (bucket, prefix) = match &p.destination {
        Destination::Bucket { location } => (&clients.dest, location.prefix.as_str()),
        _ => (&clients.source, p.source.prefix.as_str()),
    };
    let (objects, _) = crate::crosscheck::current_objects(bucket.as_ref(), prefix).await?;
    let objects = objects
        .into_iter()
        .map(|o| s3rewind_engine::StateEntry {
            key: o.key,
            version: s3rewind_engine::Version {
                version_id: s3rewind_engine::VersionId::new(""),
                last_modified: o.last_modified,
                delete_marker: false,
                etag: s3rewind_engine::ETag::new(&o.etag),
                size: o.size,
                storage_class: None,
                owner_id: None,
                is_latest: true,
            },
        })
        .collect();
    Ok(BucketState {
        objects,
        ..BucketState::default()
    })
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn verify_after(
    app: &App,
    clients: &Clients,
    p: &RestorePlan,
    exec: &ExecArgs,
    target: Option<&BucketState>,
    listing: (i32, Streams),
    journal_path: &Path,
    result: (Exit, serde_json::Value),
    current: Option<BucketState>,
) -> CliResult<Exit> {
    let printer = &app.printer;
    let (exit, mut doc) = result;
    if exec.no_verify || exit == Exit::Interrupted {
        printer.json_value(&doc);
        return Ok(exit);
    }
    let listed;
    let target = match target {
        Some(t) => t,
        None if p.selection == Selection::PerKey => {
            printer.info(
                "a per-key plan has no single instant to verify against; re-run the per-key restore (it verifies at the end), or `s3rewind verify` the keys",
            );
            printer.json_value(&doc);
            return Ok(exit);
        }
        None => {
            listed = crate::crosscheck::list_checked(
                &clients.source,
                printer,
                &p.source.prefix,
                listing.0,
                listing.1,
            )
            .await?
            .state_at(p.at);
            &listed
        }
    };
    let side = match &p.destination {
        Destination::InPlace => crate::commands::verify::Side::InPlace,
        Destination::Bucket { location } => crate::commands::verify::Side::Bucket {
            bucket: clients.dest.clone(),
            location: location.clone(),
        },
        Destination::Directory { path } => {
            crate::commands::verify::Side::Directory(PathBuf::from(path))
        }
    };
    let known = journal::known_copies(&journal::read(journal_path)?);
    // The range holds what it held when planned plus one entry per action: listing it by
    // folder pays only when that is many pages.
    let after = p.stats.entries_now() + p.actions.len() as u64;
    let listing = (
        listing.0,
        listing
            .1
            .with_max(crate::listing::streams_for(after, listing.0, listing.1.max)),
    );
    // A key whose version at T was removed since (warning unrestorable) was left alone,
    // or copied from a replica: the state at T read from this bucket cannot judge it.
    let unrestorable: Vec<String> = p
        .warnings
        .iter()
        .filter_map(|w| match w {
            Warning::Unrestorable { key, .. } => Some(key.clone()),
            _ => None,
        })
        .collect();
    if !unrestorable.is_empty() {
        printer.info(format!(
            "not verifying {} key(s) named unrestorable (their version at TIME is gone from this bucket)",
            unrestorable.len()
        ));
    }
    let filter = filter_of(&p.keys.clone().unwrap_or_default())?.excluding(unrestorable);
    let mut target = target.clone();
    filter.retain(&mut target, str::to_owned);
    let report = crate::commands::verify::check(
        printer,
        &clients.source,
        &p.source,
        &side,
        p.at,
        &target,
        current,
        &filter,
        &known,
        exec.deep_verify,
        listing,
        exec.concurrency.min(64) as usize,
    )
    .await?;
    if let Some(path) = &exec.report {
        // Checked before the run; should it fail now all the same, say what was done.
        crate::commands::verify::write_report(path, &report).map_err(|e| {
            CliError::new(
                e.exit,
                format!(
                    "{}; the restore itself ran (journal {}; `s3rewind undo` of it takes it back): only the verification report is missing, `s3rewind verify` writes it again",
                    e.message,
                    journal_path.display()
                ),
            )
        })?;
        printer.info(format!("verification report written to {}", path.display()));
    }
    printer.line("Verification:");
    crate::commands::verify::print_report(printer, app.verbose, &report);
    doc["verification"] = serde_json::to_value(&report).unwrap_or_default();
    printer.json_value(&doc);
    Ok(if report.ok || exit != Exit::Ok {
        exit
    } else {
        Exit::Partial
    })
}
