//! `watch --alert`: the detector over the events as they come.
//!
//! At the end of every `--alert-every` bin in which an event or a re-read changed the
//! index, the watched timeline is scanned as `scan` scans a listing
//! ([`crate::pipeline::detect::detect`]: the engine's detector, content sampled by its
//! [`Sampler`](s3rewind_engine::detect::Sampler) within the same stated guarantee), judging
//! the last `--alert-lookback` (the history before it is the baseline). Each incident not
//! reported before (by its first key and that key's first bad version) is reported at once: one
//! stderr line, one `s3rewind.watch-alert/v1` JSON line on stdout, and with
//! `--alert-exec CMD` the same document on the command's stdin.

use crate::args::WatchArgs;
use crate::error::CliResult;
use crate::pipeline::{App, rfc3339};
use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::Location;
use s3rewind_engine::detect::Incident;
use s3rewind_engine::watch::Watch;
use std::collections::BTreeSet;
use std::time::Duration;

/// The name and version of an alert's document.
pub const ALERT_SCHEMA: &str = "s3rewind.watch-alert/v1";

/// What the alerting remembers between bins.
#[derive(Debug, Default)]
pub(super) struct Alerter {
    /// Incidents reported, by their first key and its first bad version (a time can
    /// change when a key is read again: the event's stamp becomes the listing's).
    seen: BTreeSet<(String, String)>,
    /// The index's change count at the last detection.
    changes_at_last: u64,
    /// Alerts raised.
    pub(super) raised: u64,
    /// Detections run.
    pub(super) runs: u64,
}

impl Alerter {
    /// Detect if anything changed since the last bin; report new incidents.
    pub(super) async fn check(
        &mut self,
        app: &App,
        args: &WatchArgs,
        source: &Location,
        watch: &mut Watch,
        changes: u64,
    ) -> CliResult<()> {
        if changes == self.changes_at_last {
            return Ok(());
        }
        self.changes_at_last = changes;
        let now = Utc::now();
        // The index moves into the loan and back when it is dropped (here, or when the
        // watcher stops mid-detection): detecting holds it once, not twice.
        let timeline = watch.lend_timeline();
        let mut d = args.detect.clone();
        if d.since.is_none() {
            d.since = Some(rfc3339(
                now - TimeDelta::seconds(args.alert_lookback.max(1)),
            ));
        }
        self.runs += 1;
        let report = match crate::pipeline::detect::detect(
            &app.endpoint,
            &app.printer,
            source,
            &timeline,
            &d,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => {
                // A detection that could not run is said, and tried at the next bin.
                app.printer
                    .warn(format!("alert: detection did not run: {}", e.message));
                return Ok(());
            }
        };
        for i in report.incidents {
            let first = i
                .keys
                .first()
                .map(|k| (k.key.clone(), k.first_bad_version.clone()))
                .unwrap_or_default();
            if self.seen.insert(first) {
                self.raised += 1;
                raise(app, args, source, &i, Utc::now()).await;
            }
        }
        Ok(())
    }
}

/// The alert's document.
pub(super) fn document(source: &Location, i: &Incident, at: DateTime<Utc>) -> serde_json::Value {
    serde_json::json!({
        "schema": ALERT_SCHEMA,
        "bucket": source.bucket,
        "prefix": source.prefix,
        "detected_at": at,
        "first_damaged_write": i.start,
        "delay_secs": (at - i.start).num_milliseconds() as f64 / 1000.0,
        "incident": i,
    })
}

async fn raise(app: &App, args: &WatchArgs, source: &Location, i: &Incident, at: DateTime<Utc>) {
    let kinds: Vec<&str> = i.kinds.iter().map(|k| k.name()).collect();
    let delay = (at - i.start).num_milliseconds() as f64 / 1000.0;
    app.printer.warn(format!(
        "ALERT s3://{}/{}: suspected incident ({}; {:?} confidence, score {:.2}) on {} key(s), first damaged write {}, detected {delay:.1} s later; restore with: s3rewind restore s3://{}/{} --per-key --index {}",
        source.bucket,
        source.prefix,
        kinds.join(", "),
        i.confidence,
        i.score,
        i.keys.len(),
        rfc3339(i.start),
        source.bucket,
        source.prefix,
        args.index.display()
    ));
    let doc = document(source, i, at);
    app.printer.json_line(&doc);
    if let Some(cmd) = &args.alert_exec
        && let Err(e) = exec(cmd, &doc).await
    {
        app.printer
            .warn(format!("alert: --alert-exec {cmd:?} failed: {e}"));
    }
}

/// Run `cmd` with `doc` on its stdin, for at most 60 s.
async fn exec(cmd: &str, doc: &serde_json::Value) -> Result<(), String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .stdin(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = child.stdin.take() {
        let body = serde_json::to_vec_pretty(doc).expect("a document serialises");
        stdin.write_all(&body).await.map_err(|e| e.to_string())?;
    }
    match tokio::time::timeout(Duration::from_secs(60), child.wait()).await {
        Ok(Ok(s)) if s.success() => Ok(()),
        Ok(Ok(s)) => Err(format!("it exited with {s}")),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("it did not finish within 60 s (killed)".to_owned()),
    }
}
