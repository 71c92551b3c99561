//! The first stage: from the command line to a plan. A [`Request`] is everything the
//! command line says, resolved before any S3 call; [`prepare`] lists the source (or reads
//! its snapshot), chooses the target state (a TIME, or detection's restore point) and
//! plans; [`finish_plan`] adds the gates' warnings. A restore to a TIME into a bucket is
//! planned as the listing streams ([`prepare_streamed`]), holding only the plan.

use crate::args::{DetectArgs, Target};
use crate::bucket::{ConnectOptions, Endpoint};
use crate::error::{CliError, CliResult, Exit};
use crate::journal::by_key::DoneByKey;
use crate::listing::{Streams, list_bucket, stream_bucket};
use crate::output::Printer;
use crate::pipeline::target::TargetState;
use crate::pipeline::{Clients, filter_of, key_selection, resolve_time, rfc3339, to_source_key};
use crate::spill::{ActionSpool, Spilled};
use chrono::{DateTime, Utc};
use s3rewind_engine::select::{KeyFilter, KeySelection};
use s3rewind_engine::{
    Action, BucketState, Destination, KnownCopy, Location, PlanOptions, RestorePlan, Selection,
    StateEntry, StreamPlanner, Timeline, Warning, destination_keys, parse_s3_uri, plan,
};
use std::path::Path;
use std::sync::Arc;
use tokio::sync::mpsc;

/// How the target state is chosen.
#[derive(Debug, Clone)]
pub enum TargetSpec {
    /// `--at TIME`.
    At(DateTime<Utc>),
    /// `--before-corruption`: the state just before the first incident `scan` finds.
    BeforeCorruption(DetectArgs),
    /// `--per-key`: each damaged key back to its own last good version.
    PerKey(DetectArgs),
}

/// Everything resolved from the command line before any S3 call.
pub struct Request {
    /// The source bucket and prefix.
    pub source: Location,
    /// Where the restored state goes.
    pub destination: Destination,
    /// How the target state is chosen.
    pub spec: TargetSpec,
    /// `--page-size`.
    pub page_size: i32,
    /// How the listing is split into streams (`--list-streams`, `--list-order`).
    pub list_streams: Streams,
    /// Where the source's timeline comes from (listing, inventory).
    pub source_spec: crate::source::SourceSpec,
    /// How TIME was resolved, when that is worth saying.
    pub time_note: Option<String>,
    /// A separate client for the destination (`--dest-profile`, `--dest-endpoint-url`).
    pub dest_connect: Option<ConnectOptions>,
    /// `--include`, `--exclude`, `--keys-from`.
    pub keys: KeySelection,
    /// Keep the target state for a verification after the plan runs (`plan` and an
    /// unverified restore need only the plan).
    pub keep_target: bool,
    /// `--from-replica`: the replica bucket removed versions are copied from.
    pub from_replica: Option<Location>,
    /// Keep a plan planned as the listing streams on disk ([`Prepared::spool`]), not in
    /// memory: for a caller that reads its actions through
    /// [`PlanActions`](crate::spill::PlanActions) and runs them with
    /// [`run_spooled`](crate::execute::run_spooled).
    pub spool_actions: bool,
}

impl Request {
    /// The two sides of this restore, built on `app`'s endpoint (the destination on its
    /// own client when the request names one).
    pub async fn clients(&self, app: &crate::pipeline::App) -> Clients {
        Clients::new(
            app,
            &self.source,
            &self.destination,
            self.dest_connect.as_ref(),
        )
        .await
    }
}

/// The destination's own connection options (`--dest-profile`, `--dest-endpoint-url`,
/// `--dest-region`, each falling back to the global one), when any is given.
pub fn dest_connect_of(
    profile: Option<&str>,
    endpoint_url: Option<&str>,
    region: Option<&str>,
    global: &ConnectOptions,
) -> Option<ConnectOptions> {
    (profile.is_some() || endpoint_url.is_some() || region.is_some()).then(|| ConnectOptions {
        endpoint_url: endpoint_url
            .map(str::to_owned)
            .or(global.endpoint_url.clone()),
        profile: profile.map(str::to_owned).or(global.profile.clone()),
        region: region.map(str::to_owned).or(global.region.clone()),
        ..global.clone()
    })
}

/// The request a restore's command line makes: TIME resolved, the destination checked
/// against the source (no overlap), the destination's client options, the selection.
pub fn resolve(target: &Target, global: &ConnectOptions) -> CliResult<Request> {
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
    let dest_connect = dest_connect_of(
        target.dest_profile.as_deref(),
        target.dest_endpoint_url.as_deref(),
        target.dest_region.as_deref(),
        global,
    );
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
        spool_actions: false,
        from_replica: target
            .from_replica
            .as_deref()
            .map(parse_s3_uri)
            .transpose()?,
    })
}

/// What the listing, the target choice and the planner produced.
pub struct Prepared {
    /// The instant restored to (for detection modes: the first incident's start).
    pub at: DateTime<Utc>,
    /// The first write under the source prefix.
    pub earliest: DateTime<Utc>,
    /// The target state, kept for the verification after a restore (one entry per key
    /// at T: never the history; on disk when the listing was planned as it streamed).
    pub target: TargetState,
    /// The plan, before [`finish_plan`] adds the gates' warnings and its creation time
    /// (it names the inventory report the history came from, with `--inventory`).
    pub plan: RestorePlan,
    /// The source range as read: versions and delete markers, current keys (what the
    /// estimate counts listing requests from).
    pub listed: (u64, u64),
    /// The plan's actions, on disk in key order, when the request asked for that
    /// ([`Request::spool_actions`]) and the plan was made as the listing streamed (the
    /// plan then holds none).
    pub spool: Option<ActionSpool>,
}

/// The journal of earlier runs of a restore to T, read by key (on disk), whose copies the
/// planner recognises; `None` when there is none.
pub type KnownFor<'a> = &'a (dyn Fn(DateTime<Utc>) -> CliResult<Option<DoneByKey>> + Sync);

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
pub async fn prepare(
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
    let (at, target) = target_of(endpoint, printer, req, &timeline).await?;
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
        Destination::Directory { path } => crate::pipeline::execute::to_dir::existing_state(
            printer,
            Path::new(path),
            &req.source.prefix,
            &target,
        ),
        _ => current,
    };
    // The listing is held whole here: so may the copies its journal records be.
    let known = match known(at)? {
        Some(j) => j.known_copies()?,
        None => Vec::new(),
    };
    let options = plan_options(req, at, known);
    let mut plan = plan(&current, &target, &options);
    plan.inventory = inventory;
    plan.stats.versions_now = versions_now;
    let listed = (
        timeline.len() as u64,
        timeline
            .keys()
            .iter()
            .filter(|h| h.head().is_some_and(|v| !v.delete_marker))
            .count() as u64,
    );
    Ok(Prepared {
        at,
        earliest,
        target: TargetState::whole(target),
        plan,
        listed,
        spool: None,
    })
}

/// The target state: the state at TIME, or (`--before-corruption`, `--per-key`) the
/// one detection's first incident gives, with the instant restored to.
async fn target_of(
    endpoint: &Arc<dyn Endpoint>,
    printer: &Printer,
    req: &Request,
    timeline: &Timeline,
) -> CliResult<(DateTime<Utc>, BucketState)> {
    Ok(match &req.spec {
        TargetSpec::At(at) => (*at, timeline.state_at(*at)),
        TargetSpec::BeforeCorruption(d) | TargetSpec::PerKey(d) => {
            let report =
                crate::pipeline::detect::detect(endpoint, printer, &req.source, timeline, d)
                    .await?;
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
            for line in crate::pipeline::report::scales_and_coverage(&report) {
                printer.info(line.trim_start());
            }
            if matches!(req.spec, TargetSpec::PerKey(_)) {
                printer.info(format!(
                    "per-key restore: damaged keys go back to their last good version; the first incident began just after {}",
                    rfc3339(at)
                ));
                (
                    at,
                    s3rewind_engine::detect::per_key_target(timeline, &report),
                )
            } else {
                printer.info(format!(
                    "restoring to just before the first incident: {}",
                    rfc3339(at)
                ));
                (at, timeline.state_at(at))
            }
        }
    })
}

/// [`prepare`] for a restore to a TIME into a bucket: the source's listing feeds a
/// [`StreamPlanner`] a part at a time, and each part is dropped once planned. Nothing
/// that grows with the number of keys is held in memory: the target state (one entry
/// per key at T, for the verification) and, for another bucket, the destination's
/// current state (listed first, each part's keys looked up in it) are kept on disk
/// ([`Spilled`]); so are the actions where the request asks ([`Request::spool_actions`],
/// returned as [`Prepared::spool`]).
///
/// With a `sink`, and a destination range that holds nothing when listed, each action
/// is handed on as soon as it is planned (and not kept: the plan returned then holds
/// the stats and warnings of the whole plan but no actions), for a runner that writes
/// as the listing goes (see [`crate::pipeline::execute::execute_streamed`]); the listing
/// then waits whenever the sink is full. Otherwise the sink is dropped unused.
pub async fn prepare_streamed(
    clients: &Clients,
    printer: &Printer,
    req: &Request,
    at: DateTime<Utc>,
    known: KnownFor<'_>,
    sink: Option<mpsc::Sender<Action>>,
) -> CliResult<Prepared> {
    let filter = filter_of(&req.keys)?;
    // The copies an earlier run recorded stay on disk, looked up a part's keys at a time.
    let mut journal = known(at)?;
    let options = plan_options(req, at, Vec::new());
    // Into another bucket: its current state, listed first, on disk.
    let mut dest = match &req.destination {
        Destination::Bucket { location } => {
            Some(destination_now(clients, printer, req, &location.prefix, &filter).await?)
        }
        _ => None,
    };
    // Only into a range that held nothing: the drift check of a streamed copy is that
    // listing (no request of its own), and there is nothing in the range to overwrite.
    let sink = sink.filter(|_| dest.as_ref().is_some_and(|(d, _)| d.is_empty()));
    if sink.is_some() {
        printer.info("the destination range holds nothing: copying as the listing goes");
    }
    // Otherwise the actions go to disk as they are planned, where asked.
    let mut spool = if req.spool_actions && sink.is_none() {
        Some(ActionSpool::new()?)
    } else {
        None
    };
    // Another bucket's current state is looked up on disk, a part's keys at a time.
    let mut planner = StreamPlanner::new(&options, &filter, None);
    planner.keep_target(req.keep_target);
    // The state at T, a run per part, on disk: it is an entry per key.
    let mut spilled = if req.keep_target {
        Some(Spilled::<StateEntry>::new()?)
    } else {
        None
    };
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
    let mut failed = None;
    let consume = async {
        // Owned here, so that stopping drops it and the listing stops too.
        let mut rx = rx;
        while let Some(part) = rx.recv().await {
            if let Err(e) = plan_part(&mut planner, &options, part, &mut dest, &mut journal) {
                failed = Some(e);
                return;
            }
            if let Some(s) = &mut spilled
                && let Err(e) = s.push_part(&planner.take_target(), "the listing")
            {
                failed = Some(e);
                return;
            }
            if let Some(s) = &mut spool
                && let Err(e) = s.push_run(&planner.take_planned())
            {
                failed = Some(e);
                return;
            }
            let Some(sink) = &sink else { continue };
            // Handed on and not kept: the plan this returns counts them in its stats but
            // holds none, so memory does not grow with the number of actions.
            for a in planner.take_planned() {
                if sink.send(a).await.is_err() {
                    // The runner stopped (Ctrl-C): so does the listing.
                    stopped = true;
                    return;
                }
            }
        }
    };
    let (listed, ()) = tokio::join!(listing, consume);
    drop(sink);
    if let Some(e) = failed {
        return Err(e);
    }
    if stopped {
        return Err(CliError::new(
            Exit::Interrupted,
            "interrupted while listing",
        ));
    }
    let taken = listed?;
    let outlets = Outlets {
        dest,
        spool,
        spilled,
    };
    finish_streamed(printer, req, at, &filter, planner, outlets, taken)
}

/// Where the parts of a streamed plan went beside the planner.
struct Outlets {
    /// Another bucket's current state (on disk), and its number of versions.
    dest: Option<(Spilled<StateEntry>, u64)>,
    /// The actions, when they are spooled.
    spool: Option<ActionSpool>,
    /// The state at T, when it is kept.
    spilled: Option<Spilled<StateEntry>>,
}

/// The end of [`prepare_streamed`], once the listing is planned: the destination keys
/// no source key maps to left alone, the spool sealed, the state at T kept (on disk
/// where the parts went), and the plan checked against the bucket's first write.
fn finish_streamed(
    printer: &Printer,
    req: &Request,
    at: DateTime<Utc>,
    filter: &KeyFilter,
    mut planner: StreamPlanner<'_>,
    outlets: Outlets,
    taken: Option<(&'static str, DateTime<Utc>)>,
) -> CliResult<Prepared> {
    let Outlets {
        mut dest,
        mut spool,
        spilled,
    } = outlets;
    if let Some((d, _)) = &mut dest {
        // Destination keys no source key maps to: left alone, and said so.
        let rest = BucketState {
            objects: d.unmatched()?,
            ..BucketState::default()
        };
        planner.left_alone(&rest);
    }
    let (mut plan, target, seen) = planner.finish();
    if let Some(s) = &mut spool {
        // What the planner added at the end (destination keys no part claimed: none
        // today), then ready to read.
        s.push_run(&std::mem::take(&mut plan.actions))?;
        s.seal()?;
    }
    let target = match spilled {
        Some(s) => TargetState::spilled(target, s)?,
        None => TargetState::whole(target),
    };
    // Counted by the stats: the actions themselves may have been handed on.
    let actions = plan.stats.copies + plan.stats.delete_markers;
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
        listed: (seen.versions, seen.keys),
        spool,
    })
}

/// Plan one part of a streamed listing: another bucket's current state (`dest`) and an
/// earlier run's copies (`journal`) are looked up for the part's destination keys, on
/// disk.
fn plan_part(
    planner: &mut StreamPlanner<'_>,
    options: &PlanOptions,
    part: Timeline,
    dest: &mut Option<(Spilled<StateEntry>, u64)>,
    journal: &mut Option<DoneByKey>,
) -> CliResult<()> {
    if dest.is_none() && journal.is_none() {
        planner.part(part);
        return Ok(());
    }
    let keys = destination_keys(options, &part);
    let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
    let current = match dest {
        None => None,
        Some((d, _)) => Some(BucketState {
            objects: d.lookup(&keys)?.into_iter().flatten().collect(),
            ..BucketState::default()
        }),
    };
    let known = match journal {
        None => Vec::new(),
        Some(j) => j.known_copies_of(&keys)?,
    };
    planner.part_knowing(part, current, &known);
    Ok(())
}

/// The current state of a destination range, on disk (a sorted run per part of its
/// listing, only each key's current version: see [`Spilled`]), selection applied, and
/// how many versions it holds. At 40 million keys that state is gigabytes; the planner
/// looks each part's keys up in it instead ([`StreamPlanner::part_with`]).
async fn destination_now(
    clients: &Clients,
    printer: &Printer,
    req: &Request,
    prefix: &str,
    filter: &KeyFilter,
) -> CliResult<(Spilled<StateEntry>, u64)> {
    let (tx, mut rx) = mpsc::channel::<Timeline>(4);
    let listing = stream_bucket(
        &clients.dest,
        printer,
        prefix,
        req.page_size,
        req.list_streams,
        tx,
    );
    let mut spilled = Spilled::<StateEntry>::new()?;
    let mut versions = 0u64;
    let mut failed = None;
    let source_key = to_source_key(&req.source.prefix, &req.destination);
    let collect = async {
        while let Some(part) = rx.recv().await {
            versions += part.len() as u64;
            let mut current = part.current();
            filter.retain(&mut current, &source_key);
            if let Err(e) = spilled.push_part(&current.objects, "the destination's listing") {
                failed = Some(e);
                return;
            }
        }
    };
    let (listed, ()) = tokio::join!(listing, collect);
    if let Some(e) = failed {
        return Err(e);
    }
    listed?;
    spilled.seal()?;
    Ok((spilled, versions))
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

/// The prepared plan with the gates' warnings first, its key selection and creation time.
/// Its actions are `spool`'s where one is given.
pub fn finish_plan(
    mut p: RestorePlan,
    req: &Request,
    warnings: Vec<Warning>,
    spool: Option<&mut ActionSpool>,
) -> CliResult<RestorePlan> {
    p.created_at = Some(Utc::now());
    p.keys = (!req.keys.is_all()).then(|| req.keys.clone());
    let mut all = warnings;
    let (mut gone, keys) = unrestorable(&p, req);
    match spool {
        Some(s) => {
            s.remove(&keys)?;
        }
        None if !keys.is_empty() => {
            let keys: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
            p.actions.retain(|a| !keys.contains(a.key()));
        }
        None => {}
    }
    all.append(&mut gone);
    all.append(&mut p.warnings);
    p.warnings = all;
    Ok(p)
}

/// With a watched index: the keys whose entry current at T was removed for good since.
/// Their actions (which would bring back an older entry, the newest that survives) are
/// taken out of the plan (the destination keys returned), and each is a
/// [`Warning::Unrestorable`].
fn unrestorable(p: &RestorePlan, req: &Request) -> (Vec<Warning>, Vec<String>) {
    let Some(removals) = req.source_spec.watched.removals() else {
        return (Vec::new(), Vec::new());
    };
    let dest_prefix = p.destination_prefix().to_owned();
    let src_prefix = p.source.prefix.clone();
    let filter = req.keys.filter().ok();
    let mut out = Vec::new();
    let mut keys = Vec::new();
    for u in removals.unrestorable_at(p.at) {
        if filter.as_ref().is_some_and(|f| !f.matches(&u.key)) {
            continue;
        }
        let dest_key = format!(
            "{dest_prefix}{}",
            &u.key[src_prefix.len().min(u.key.len())..]
        );
        keys.push(dest_key);
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
    (out, keys)
}

/// A plan's digest: `sha256:HEX` of its JSON without the `digest` field (what `plan
/// --out` records and `apply --expect-digest` checks).
pub fn plan_digest(p: &mut RestorePlan) -> String {
    plan_digest_of(p, None).expect("a plan's own actions are in memory")
}

/// [`plan_digest`] of a plan whose actions are `spool`'s where one is given (the same
/// digest as of the plan holding them).
pub fn plan_digest_of(p: &mut RestorePlan, spool: Option<&ActionSpool>) -> CliResult<String> {
    use sha2::Digest as _;
    /// The compact JSON text of the plan, hashed as it is serialised: a plan of millions
    /// of actions is neither copied nor held as one string to be hashed.
    struct Hashing(sha2::Sha256);
    impl std::io::Write for Hashing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.update(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    // The digest is of the plan without its own digest field.
    let recorded = p.digest.take();
    let mut h = Hashing(sha2::Sha256::new());
    let written = crate::pipeline::report::write_plan_json(&mut h, p, spool, false);
    p.digest = recorded;
    written.map_err(|e| CliError::failure(format!("cannot read the plan back: {e}")))?;
    let hex: String = h.0.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("sha256:{hex}"))
}

/// What executing `p` will send, cost and take ([`s3rewind_engine::estimate`]): listing
/// requests counted from the source range as read (`listed`), the rest from the plan,
/// priced at `region`'s S3 Standard request prices, timed at `exec`'s concurrency (the
/// defaults for `plan`, which has none).
pub fn estimate_of(
    region: Option<&str>,
    p: &RestorePlan,
    listed: (u64, u64),
    exec: Option<&crate::args::ExecArgs>,
) -> s3rewind_engine::estimate::Estimate {
    use s3rewind_engine::estimate::{EstimateInput, PriceTable, Rates, estimate};
    let defaults = crate::execute::ExecConfig::default();
    let input = EstimateInput {
        stats: p.stats.clone(),
        source_entries: listed.0,
        source_keys: listed.1,
        dest_entries: matches!(p.destination, Destination::Bucket { .. })
            .then(|| p.stats.entries_now()),
        multipart_threshold: exec.map_or(defaults.multipart_threshold, |e| e.multipart_threshold),
        part_size: exec.map_or(defaults.part_size, |e| e.part_size),
        verify: exec.is_none_or(|e| !e.no_verify),
        deep: exec.is_some_and(|e| e.deep_verify),
    };
    let concurrency = exec.map_or(defaults.concurrency as u32, |e| e.concurrency);
    estimate(
        &input,
        PriceTable::for_region(region.unwrap_or("us-east-1")),
        &Rates::default(),
        concurrency,
    )
}
