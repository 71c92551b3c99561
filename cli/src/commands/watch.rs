//! `s3rewind watch`: continuous protection. A baseline listing becomes a watched index
//! ([`crate::watch`]); then every notification is folded into its event log
//! ([`s3rewind_engine::watch`]) and acknowledged only once synced. Keys whose events
//! are not decisive are read again from the bucket once they settle; a periodic
//! reconciliation (one ListObjectsV2 pass) finds and repairs lost events; the log is
//! folded into the index when it grows.

use crate::args::{ListOrderArg, WatchArgs, WatchOrder};
use crate::bucket::Bucket;
use crate::error::{CliError, CliResult, Exit};
use crate::pipeline::{App, require_versioned, rfc3339};
use crate::source::{SourceSpec, load_with_age};
use crate::watch::listen::{Delivery, Refusal, serve};
use crate::watch::queue::{PollOptions, Queue, QueueStats};
use crate::watch::{Loaded, LogWriter, compact, create, is_watched, load};
use chrono::{TimeDelta, Utc};
use s3rewind_engine::watch::{
    Begin, Current, OrderBy, Reconciled, Record, Reread, RereadReason, Watch, WatchStats, Window,
    parse_message,
};
use s3rewind_engine::{ListOrder, parse_s3_uri};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The name and version of `watch --output json`'s document.
pub const WATCH_SCHEMA: &str = "s3rewind.watch/v1";

/// Entries a re-read finds older than this before it began, that no event brought, are
/// counted as lost (younger ones may still be on their way: they are repaired all the
/// same, but not counted).
const IN_FLIGHT: TimeDelta = TimeDelta::seconds(10);

/// Event entries younger than this at a compaction keep their sequencers (a late event
/// of the key is still ordered by them).
const HORIZON: TimeDelta = TimeDelta::minutes(15);

/// Readers long-polling the queue at once (each receives up to 10 messages a call).
const QUEUE_READERS: usize = 2;

/// A heartbeat line when nothing else was written for this long (the index's lag).
const HEARTBEAT: Duration = Duration::from_secs(5);

/// `s3rewind watch`.
pub async fn watch_cmd(app: &App, args: &WatchArgs) -> CliResult<Exit> {
    let loc = parse_s3_uri(&args.source)?;
    let token = args.token.clone();
    if args.listen.is_some() && token.as_deref().is_none_or(str::is_empty) {
        return Err(CliError::usage(
            "--listen needs a path token: give --token TOKEN (or S3REWIND_WATCH_TOKEN); the server must post to http://ADDR:PORT/TOKEN",
        ));
    }
    if args.setup {
        return setup(app, args, &loc.bucket, &loc.prefix, token.as_deref()).await;
    }
    if let Some(url) = &args.queue {
        let Some(sqs) = crate::s3::Sqs::connect(&app.connect, url).await else {
            return Err(CliError::usage(format!(
                "--queue {url}: not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
            )));
        };
        // Fail at once, in one line, when the queue cannot be read.
        let (arn, _) = sqs.attributes().await.map_err(|e| queue_error(e, url))?;
        tracing::info!(%arn, "reading the queue");
        return watch_queue(app, args, Arc::new(sqs)).await;
    }
    let Some(listen) = &args.listen else {
        return Err(CliError::usage(
            "give a source of events: --queue URL (SQS) or --listen ADDR:PORT (radosgw, MinIO push); `watch --setup` prints the configuration",
        ));
    };
    let listener = tokio::net::TcpListener::bind(listen.as_str())
        .await
        .map_err(|e| CliError::usage(format!("--listen {listen}: cannot listen there: {e}")))?;
    let (tx, rx) = mpsc::channel::<Delivery>(1024);
    let server = tokio::spawn(serve(
        listener,
        token.clone().unwrap_or_default(),
        tx.clone(),
    ));
    drop(tx);
    let result = run_watcher(app, args, &loc.bucket, &loc.prefix, rx, None).await;
    server.abort();
    result
}

/// An SQS error as a one-line error of the queue.
fn queue_error(e: crate::bucket::S3Error, url: &str) -> CliError {
    use crate::bucket::ErrorKind;
    let exit = match e.kind {
        ErrorKind::NotFound => Exit::NotFound,
        ErrorKind::AccessDenied => Exit::Access,
        ErrorKind::NoCredentials => Exit::Credentials,
        ErrorKind::Unreachable => Exit::Network,
        _ => Exit::Failure,
    };
    CliError::new(exit, format!("cannot read the queue {url}: {e}"))
}

/// The watcher fed by `queue` (the SQS queue of `--queue`; a [`MemQueue`] in tests).
///
/// [`MemQueue`]: crate::watch::queue::MemQueue
pub(crate) async fn watch_queue(
    app: &App,
    args: &WatchArgs,
    queue: Arc<dyn Queue>,
) -> CliResult<Exit> {
    let loc = parse_s3_uri(&args.source)?;
    let (tx, rx) = mpsc::channel::<Delivery>(64);
    let stats = Arc::new(QueueStats::default());
    let opts = PollOptions {
        wait: Duration::from_secs(20),
        visibility: Duration::from_secs(args.visibility.max(1) as u64),
    };
    let readers: Vec<_> = (0..QUEUE_READERS)
        .map(|_| {
            tokio::spawn(crate::watch::queue::read(
                queue.clone(),
                tx.clone(),
                opts,
                stats.clone(),
            ))
        })
        .collect();
    drop(tx);
    let result = run_watcher(app, args, &loc.bucket, &loc.prefix, rx, Some(stats)).await;
    for r in readers {
        r.abort();
    }
    result
}

async fn run_watcher(
    app: &App,
    args: &WatchArgs,
    bucket: &str,
    prefix: &str,
    rx: mpsc::Receiver<Delivery>,
    queue: Option<Arc<QueueStats>>,
) -> CliResult<Exit> {
    let order = match args.order {
        WatchOrder::Sequencer => OrderBy::Sequencer,
        WatchOrder::EventTime => OrderBy::EventTime,
        WatchOrder::Auto if app.connect.endpoint_url.is_some() => OrderBy::EventTime,
        WatchOrder::Auto => OrderBy::Sequencer,
    };
    let mut w = Watcher::start(app, args, bucket, prefix, order, rx).await?;
    w.queue = queue;
    // While it follows, Ctrl-C stops the watcher cleanly (the log synced, the report
    // printed) instead of ending the process: the runner's one claim.
    let _ctrl_c = crate::run::CtrlC::claim();
    w.run().await
}

/// The running watcher.
struct Watcher<'a> {
    app: &'a App,
    args: &'a WatchArgs,
    bucket: Arc<dyn Bucket>,
    prefix: String,
    watch: Watch,
    log: LogWriter,
    rx: mpsc::Receiver<Delivery>,
    layout: ListOrder,
    /// Messages refused (not notifications).
    refused: u64,
    /// Lines written since the last heartbeat.
    since_beat: u64,
    /// The queue readers' counters (`--queue`).
    queue: Option<Arc<QueueStats>>,
    /// `--alert`: the detector's state.
    alerter: alert::Alerter,
    /// The counters of the watches compactions replaced (a compaction's watch starts
    /// at zero): with the current watch's, the totals of this run and of the log it
    /// resumed ([`Self::stats`]).
    compacted: WatchStats,
}

impl<'a> Watcher<'a> {
    /// Resume the watched index, or create it from a listing (acknowledging what arrives
    /// meanwhile: a crash before the index is written lists again, and that listing
    /// shows those writes).
    async fn start(
        app: &'a App,
        args: &'a WatchArgs,
        bucket: &str,
        prefix: &str,
        order: OrderBy,
        mut rx: mpsc::Receiver<Delivery>,
    ) -> CliResult<Watcher<'a>> {
        let printer = &app.printer;
        let path = &args.index;
        let layout = match args.listing.list_order {
            ListOrderArg::Interleaved => ListOrder::Interleaved,
            ListOrderArg::Split => ListOrder::Split,
            ListOrderArg::Auto => ListOrder::Unknown,
        };
        let resumed = path.is_file() && is_watched(path);
        if !resumed {
            require_versioned(&app.endpoint, bucket).await?;
            let started = Utc::now();
            let spec = SourceSpec::listing(args.listing.page_size, args.listing.streams());
            // Events that arrive while the baseline is listed: kept, acknowledged.
            let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
            let gather = async {
                let mut got: Vec<Vec<u8>> = Vec::new();
                loop {
                    tokio::select! {
                        d = rx.recv() => match d {
                            Some(d) => {
                                got.push(d.body);
                                let _ = d.ack.send(Ok(()));
                            }
                            None => return got,
                        },
                        _ = &mut stopped => return got,
                    }
                }
            };
            let listing = async {
                let r = load_with_age(&app.endpoint, printer, bucket, prefix, &spec).await;
                let _ = stop.send(());
                r
            };
            let (listed, bodies) = tokio::join!(listing, gather);
            let (timeline, _) = listed?;
            let window = Window {
                start: started,
                end: Utc::now(),
            };
            let mut begin = Begin::new(bucket, prefix, started, window, order);
            begin.tie_ms = args.tie_window_ms;
            let mut early = Vec::new();
            for b in bodies {
                if let Ok(p) = parse_message(&b, bucket) {
                    early.extend(p.events.into_iter().map(Record::Event));
                }
            }
            create(path, &begin, &timeline, &early)?;
            printer.info(format!(
                "baseline of s3://{bucket}/{prefix}: {} versions and delete markers of {} keys, listed in {}; {} events arrived meanwhile",
                timeline.len(),
                timeline.keys().len(),
                humantime::format_duration(
                    (window.end - window.start).to_std().unwrap_or_default()
                ),
                early.len()
            ));
        }
        let Loaded {
            header,
            watch,
            log_bytes,
            torn_tail,
            records,
        } = load(path, "", true)?;
        if header.bucket != bucket || header.prefix != prefix {
            return Err(CliError::usage(format!(
                "the watched index {} is of s3://{}/{}, not s3://{bucket}/{prefix}; give another --index",
                path.display(),
                header.bucket,
                header.prefix
            )));
        }
        if resumed {
            printer.info(format!(
                "resumed {}: {} log lines{}, last record {}",
                path.display(),
                records,
                if torn_tail {
                    " (a line cut short by a crash was dropped; its message comes again)"
                } else {
                    ""
                },
                watch
                    .stats()
                    .last_at
                    .map_or_else(|| "none".to_owned(), rfc3339)
            ));
        }
        let log = LogWriter::open(path, log_bytes, records)?;
        let mut w = Watcher {
            app,
            args,
            bucket: app.endpoint.bucket(bucket),
            prefix: prefix.to_owned(),
            watch,
            log,
            rx,
            layout,
            refused: 0,
            since_beat: 0,
            queue: None,
            alerter: alert::Alerter::default(),
            compacted: WatchStats::default(),
        };
        if resumed {
            // Whatever happened while no watcher ran: one reconciliation now.
            w.reconcile().await?;
        }
        Ok(w)
    }

    async fn run(&mut self) -> CliResult<Exit> {
        let printer = self.app.printer.clone();
        printer.info(format!(
            "watching s3://{}/{} into {} ({} keys in the index); Ctrl-C stops",
            self.bucket.name(),
            self.prefix,
            self.args.index.display(),
            self.watch.counts().1
        ));
        let mut reread_tick = tokio::time::interval(Duration::from_millis(500));
        let every = Duration::from_secs(self.args.reconcile_every.max(0) as u64);
        let mut reconcile_tick = tokio::time::interval_at(
            tokio::time::Instant::now() + every,
            every.max(Duration::from_secs(1)),
        );
        let mut beat = tokio::time::interval(HEARTBEAT);
        let alert_every = Duration::from_secs(self.args.alert_every.max(1) as u64);
        let mut alert_tick =
            tokio::time::interval_at(tokio::time::Instant::now() + alert_every, alert_every);
        let stop_after = async {
            match self.args.stop_after {
                Some(s) => tokio::time::sleep(Duration::from_secs(s.max(0) as u64)).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(stop_after);
        // Ctrl-C is the watcher's usual stop: it syncs its log and reports.
        let _ctrl_c = crate::run::CtrlC::claim();
        let interrupted = loop {
            tokio::select! {
                d = self.rx.recv() => match d {
                    Some(d) => self.deliver(d).await?,
                    None => break false,
                },
                _ = reread_tick.tick() => self.reread_settled().await?,
                _ = reconcile_tick.tick(), if self.args.reconcile_every > 0 => self.reconcile().await?,
                _ = beat.tick() => self.heartbeat()?,
                _ = alert_tick.tick(), if self.args.alert => self.alert().await?,
                _ = &mut stop_after => break false,
                _ = tokio::signal::ctrl_c() => break true,
            }
            if self.log.lines >= self.args.compact_every {
                self.compact()?;
            }
        };
        self.rx.close();
        self.log.append(&Record::Alive { at: Utc::now() })?;
        self.log.sync()?;
        self.report();
        Ok(if interrupted {
            Exit::Interrupted
        } else {
            Exit::Ok
        })
    }

    /// Fold a message (and any others already waiting), sync, then acknowledge them all.
    async fn deliver(&mut self, first: Delivery) -> CliResult<()> {
        let mut batch = vec![first];
        while batch.len() < 256 {
            match self.rx.try_recv() {
                Ok(d) => batch.push(d),
                Err(_) => break,
            }
        }
        let mut acks = Vec::with_capacity(batch.len());
        for d in batch {
            match parse_message(&d.body, self.bucket.name()) {
                Ok(parsed) => {
                    for e in parsed.events {
                        if !e.key.starts_with(&self.prefix) || self.watch.is_duplicate(&e) {
                            continue;
                        }
                        let r = Record::Event(e);
                        self.log.append(&r)?;
                        self.watch.apply(&r);
                        self.since_beat += 1;
                    }
                    acks.push((d.ack, Ok(())));
                }
                Err(e) => {
                    self.refused += 1;
                    self.app.printer.warn(format!(
                        "a message was refused (not taken into the index): {e}"
                    ));
                    acks.push((d.ack, Err(Refusal::NotNotification(e.to_string()))));
                }
            }
        }
        // Acknowledged only once synced: a crash before this loses nothing.
        let synced = self.log.sync();
        for (ack, r) in acks {
            let r = match (&synced, r) {
                (Err(e), _) => Err(Refusal::Unavailable(e.message.clone())),
                (Ok(()), r) => r,
            };
            let _ = ack.send(r);
        }
        synced
    }

    /// Re-read the keys in doubt whose last event is older than --settle.
    async fn reread_settled(&mut self) -> CliResult<()> {
        let settle = TimeDelta::seconds(self.args.settle);
        let now = Utc::now();
        let keys: Vec<String> = self
            .watch
            .doubtful()
            .into_iter()
            .filter(|(_, _, at)| *at + settle <= now)
            .map(|(k, _, _)| k)
            .collect();
        if keys.is_empty() {
            return Ok(());
        }
        self.reread(keys, RereadReason::Doubt).await
    }

    async fn reread(&mut self, mut keys: Vec<String>, reason: RereadReason) -> CliResult<()> {
        keys.sort();
        keys.dedup();
        let start = Utc::now();
        let (fresh, _calls) =
            crate::crosscheck::reread(self.bucket.as_ref(), &keys, self.layout).await?;
        let window = Window {
            start,
            end: Utc::now(),
        };
        for key in keys {
            let (entries, anomalies) = match fresh.get(&key) {
                Some(h) => (
                    h.entries.clone(),
                    fresh
                        .anomalies()
                        .iter()
                        .filter(|a| a.key() == key)
                        .cloned()
                        .collect(),
                ),
                None => (Vec::new(), Vec::new()),
            };
            let r = Record::Reread(Reread {
                key,
                window,
                reason,
                cutoff: start - IN_FLIGHT,
                entries,
                anomalies,
            });
            self.log.append(&r)?;
            self.watch.apply(&r);
            self.since_beat += 1;
        }
        self.log.sync()
    }

    /// One ListObjectsV2 pass; every key whose current object disagrees is re-read.
    async fn reconcile(&mut self) -> CliResult<()> {
        let at = Utc::now();
        let lost_before = self.lost();
        let (objects, calls) =
            crate::crosscheck::current_objects(self.bucket.as_ref(), &self.prefix).await?;
        let current: Vec<Current> = objects
            .into_iter()
            .map(|o| Current {
                key: o.key,
                etag: o.etag,
                size: o.size,
                last_modified: o.last_modified,
            })
            .collect();
        let off = self.watch.disagreeing(&current);
        let disagreed = off.len() as u64;
        if !off.is_empty() {
            self.reread(off.clone(), RereadReason::Reconcile).await?;
        }
        let r = Record::Reconciled(Reconciled {
            at,
            objects: current.len() as u64,
            calls,
            disagreed,
        });
        self.log.append(&r)?;
        self.watch.apply(&r);
        self.log.sync()?;
        let lost = self.lost() - lost_before;
        if disagreed > 0 {
            self.app.printer.warn(format!(
                "reconciliation: {disagreed} key(s) were not what the index said (of {} current objects; e.g. {:?}); read again from the bucket; {lost} lost event(s) counted",
                current.len(),
                off[0]
            ));
        }
        Ok(())
    }

    /// `--alert`: detection over the bin that just closed, if the index changed.
    async fn alert(&mut self) -> CliResult<()> {
        // Counted across compactions: one between a change and the bin's end must not
        // make the bin look unchanged.
        let s = self.stats();
        let changes = s.events + s.rereads;
        let source = s3rewind_engine::Location {
            bucket: self.bucket.name().to_owned(),
            prefix: self.prefix.clone(),
        };
        self.alerter
            .check(self.app, self.args, &source, &mut self.watch, changes)
            .await
    }

    /// The counters of this run and of the log it resumed: the current watch's and those
    /// of the watches compactions replaced.
    fn stats(&self) -> WatchStats {
        self.compacted.plus(self.watch.stats())
    }

    fn lost(&self) -> u64 {
        let s = self.stats();
        s.lost_created + s.lost_removed
    }

    fn heartbeat(&mut self) -> CliResult<()> {
        if self.since_beat == 0 {
            self.log.append(&Record::Alive { at: Utc::now() })?;
            self.log.sync()?;
        }
        self.since_beat = 0;
        Ok(())
    }

    fn compact(&mut self) -> CliResult<()> {
        let now = Utc::now();
        self.log.sync()?;
        // The watch moves into the compaction (the index is held once, not copied); a
        // failure stops the watcher with the files as they were, which a restart resumes.
        self.compacted = self.stats();
        let placeholder = Watch::new(self.watch.begin().clone(), Default::default());
        let watch = std::mem::replace(&mut self.watch, placeholder);
        let lines = compact(&self.args.index, watch, now, now - HORIZON)?;
        let bytes = std::fs::metadata(crate::watch::log_path(&self.args.index))
            .map(|m| m.len())
            .unwrap_or(0);
        // The fold continues from the new files: the same state, a shorter log.
        let loaded = load(&self.args.index, "", true)?;
        self.watch = loaded.watch;
        self.log = LogWriter::open(&self.args.index, bytes, lines)?;
        tracing::info!(lines, "compacted the event log into the index");
        Ok(())
    }

    fn report(&self) {
        let s = &self.stats();
        let (entries, keys) = self.watch.counts();
        let printer = &self.app.printer;
        printer.line(format!(
            "Watched s3://{}/{}: {} events ({} duplicates, {} in doubt and read again), {} keys re-read, {} reconciliations, lost events found: {} created, {} removed; index {} holds {} versions and delete markers of {} keys, up to {}.",
            self.bucket.name(),
            self.prefix,
            s.events,
            s.duplicates,
            s.doubts,
            s.rereads,
            s.reconciliations,
            s.lost_created,
            s.lost_removed,
            self.args.index.display(),
            entries,
            keys,
            s.last_at.map_or_else(|| "the baseline".to_owned(), rfc3339)
        ));
        let mut doc = serde_json::json!({
            "schema": WATCH_SCHEMA,
            "bucket": self.bucket.name(),
            "prefix": self.prefix,
            "index": self.args.index,
            "order": self.watch.begin().order,
            "events": s.events,
            "duplicates": s.duplicates,
            "doubts": s.doubts,
            "rereads": s.rereads,
            "reconciliations": s.reconciliations,
            "lost_created": s.lost_created,
            "lost_removed": s.lost_removed,
            "refused_messages": self.refused,
            "keys": keys,
            "entries": entries,
            "in_doubt": self.watch.doubtful().len(),
        });
        if let Some(q) = &self.queue {
            doc["queue"] = q.json();
        }
        if self.args.alert {
            doc["alerts"] = serde_json::json!(self.alerter.raised);
            doc["detections"] = serde_json::json!(self.alerter.runs);
        }
        if let Some(at) = s.last_at {
            doc["last_record"] = serde_json::json!(at);
        }
        printer.json_value(&doc);
    }
}

/// `watch --setup`: what the server needs, printed; with `--apply`, created.
async fn setup(
    app: &App,
    args: &WatchArgs,
    bucket: &str,
    prefix: &str,
    token: Option<&str>,
) -> CliResult<Exit> {
    use crate::s3::notify::{EVENTS, NOTIFICATION_ID, queue_name, queue_policy};
    let printer = &app.printer;
    let filter = if prefix.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!({"Key": {"FilterRules": [{"Name": "prefix", "Value": prefix}]}})
    };
    let name = queue_name(bucket);
    let mut doc;
    if args.listen.is_some() || args.push_endpoint.is_some() {
        let push = args.push_endpoint.clone().unwrap_or_else(|| {
            format!(
                "http://{}/{}",
                args.listen.as_deref().unwrap_or("ADDR:PORT"),
                token.unwrap_or("TOKEN")
            )
        });
        // radosgw 16 takes no LifecycleExpiration events in a configuration.
        let mut config = serde_json::json!({
            "TopicConfigurations": [{
                "Id": NOTIFICATION_ID,
                "TopicArn": format!("arn:aws:sns:REGION::{name}"),
                "Events": &EVENTS[..2],
            }]
        });
        if !filter.is_null() {
            config["TopicConfigurations"][0]["Filter"] = filter;
        }
        printer.line(format!(
            "radosgw (and other servers that push to an HTTP endpoint):\n\
             1. a topic that pushes to the watcher (SNS-compatible API of the S3 endpoint):\n   \
             aws sns create-topic --endpoint-url S3_ENDPOINT --name {name} --attributes '{{\"push-endpoint\": \"{push}\", \"persistent\": \"false\"}}'\n\
             2. the bucket notification (TopicArn as create-topic printed it):\n   \
             aws s3api put-bucket-notification-configuration --endpoint-url S3_ENDPOINT --bucket {bucket} --notification-configuration '{}'\n\
             3. s3rewind watch s3://{bucket}/{prefix} --index FILE --listen {} --token TOKEN",
            config,
            args.listen.as_deref().unwrap_or("ADDR:PORT")
        ));
        doc = serde_json::json!({
            "schema": "s3rewind.watch-setup/v1",
            "kind": "push",
            "push_endpoint": push,
            "topic_attributes": {"push-endpoint": push, "persistent": "false"},
            "notification_configuration": config,
        });
        if args.apply {
            let applied = crate::s3::notify::apply_push(&app.connect, bucket, prefix, &push)
                .await
                .map_err(|e| crate::error::from_s3(e, bucket))?;
            printer.info(format!(
                "created the topic {} (pushing to {push}) and the bucket's notification {NOTIFICATION_ID}",
                applied.topic_arn.as_deref().unwrap_or_default()
            ));
            doc["applied"] = serde_json::json!(applied);
        }
    } else {
        let arn = format!("arn:aws:sqs:REGION:ACCOUNT:{name}");
        let policy = queue_policy(&arn, bucket, "ACCOUNT");
        let mut config = serde_json::json!({
            "QueueConfigurations": [{
                "Id": NOTIFICATION_ID,
                "QueueArn": arn,
                "Events": EVENTS,
            }]
        });
        if !filter.is_null() {
            config["QueueConfigurations"][0]["Filter"] = filter;
        }
        printer.line(format!(
            "AWS (S3 → SQS):\n\
             1. the queue, keeping messages 14 days (a stopped watcher resumes), with a policy that lets S3 send:\n   \
             aws sqs create-queue --queue-name {name} --attributes '{{\"MessageRetentionPeriod\": \"1209600\", \"VisibilityTimeout\": \"120\", \"Policy\": {}}}'\n\
             2. the bucket notification:\n   \
             aws s3api put-bucket-notification-configuration --bucket {bucket} --notification-configuration '{}'\n\
             3. the watcher's permissions: s3rewind policy watch s3://{bucket}/{prefix} --queue QUEUE_URL\n\
             4. s3rewind watch s3://{bucket}/{prefix} --index FILE --queue QUEUE_URL",
            serde_json::Value::String(policy.to_string()),
            config
        ));
        doc = serde_json::json!({
            "schema": "s3rewind.watch-setup/v1",
            "kind": "sqs",
            "queue_policy": policy,
            "notification_configuration": config,
        });
        if args.apply {
            let applied =
                crate::s3::notify::apply_sqs(&app.connect, bucket, prefix, args.queue.as_deref())
                    .await
                    .map_err(|e| crate::error::from_s3(e, bucket))?;
            let url = applied.queue_url.clone().unwrap_or_default();
            printer.info(format!(
                "the queue {url} (its policy lets s3://{bucket} send) and the bucket's notification {NOTIFICATION_ID} are in place; now: s3rewind watch s3://{bucket}/{prefix} --index FILE --queue {url}"
            ));
            doc["applied"] = serde_json::json!(applied);
        }
    }
    printer.json_value(&doc);
    Ok(Exit::Ok)
}

mod alert;

#[cfg(test)]
mod tests;
