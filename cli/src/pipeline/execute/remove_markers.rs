//! `undelete --remove-delete-markers` executed: each deleted key's delete markers above
//! its last version are removed by version id, by the one runner ([`crate::run`]), each
//! key re-read first (a key whose history changed since the listing is left alone).

use crate::bucket::Bucket;
use crate::error::Exit;
use crate::execute::KeyIssue;
use crate::journal::{Done, Journal, Line, Op};
use crate::pipeline::App;
use crate::run::{Attempt, Items, Job, Probe, RunOptions, Step};
use crate::s3::ErrorKind;
use chrono::{DateTime, Utc};
use s3rewind_engine::undelete::{DeletedKey, Found};
use s3rewind_engine::{ListOrder, Location, TimelineBuilder, Version};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A delete marker that was removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedMarker {
    /// The key.
    pub key: String,
    /// The removed marker's version id.
    pub version_id: String,
    /// When the marker was made.
    pub last_modified: DateTime<Utc>,
}

/// What `--remove-delete-markers` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RemoveReport {
    /// Keys whose last version is current again.
    pub undeleted: u64,
    /// Every marker removed.
    pub removed: Vec<RemovedMarker>,
    /// Keys found already back (an earlier run, or someone else, removed the markers).
    pub already_done: u64,
    /// Keys that changed since the listing: not touched.
    pub drifted: Vec<KeyIssue>,
    /// Keys that could not be brought back.
    pub failed: Vec<KeyIssue>,
    /// True when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The runner's job for `undelete --remove-markers`: one item is one key whose delete
/// marker is removed, re-read first.
pub(crate) struct RemoveMarkersJob {
    bucket: Arc<dyn Bucket>,
    keys: Vec<DeletedKey>,
    journal: Journal,
    /// Every marker removed so far.
    removed: Mutex<Vec<RemovedMarker>>,
    /// The page layout the listing proved: a key is re-read the same way.
    layout: ListOrder,
}

impl RemoveMarkersJob {
    /// The key's entries now, in list order (the one pager, with the key as prefix, more
    /// pages only while the key itself continues), read with the layout the listing
    /// proved. A key whose order this server's pages do not prove is not acted on: a
    /// permanent delete is never decided on a guess.
    async fn entries(&self, key: &str) -> Result<Vec<Version>, String> {
        let pages = crate::pager::key_pages(self.bucket.as_ref(), key)
            .await
            .map_err(|e| e.message)?;
        let mut builder = TimelineBuilder::new();
        let mut order = self.layout;
        for document in pages {
            builder
                .push_document(document, &mut order)
                .map_err(|e| e.to_string())?;
        }
        let timeline = builder.finish();
        if timeline.anomalies().iter().any(|a| a.is_guess()) {
            return Err(format!(
                "the order of {key:?}'s versions and delete markers is not proven on this server's pages (a same-second tie, or a layout no page proved); left as it is"
            ));
        }
        Ok(timeline
            .get(key)
            .map(|h| h.entries.clone())
            .unwrap_or_default())
    }

    async fn undelete(&self, k: &DeletedKey) -> Step {
        let entries = match self.entries(&k.key).await {
            Ok(e) => e,
            Err(e) => return Step::Failed(e),
        };
        let top = entries.iter().take_while(|v| v.delete_marker).count();
        let below = entries.get(top).map(|v| v.version_id.as_str());
        let planned = |id: &str| k.markers.iter().any(|m| m.version_id == id);
        if below != Some(k.last.version_id.as_str())
            || !entries[..top]
                .iter()
                .all(|m| planned(&m.version_id.as_str()))
        {
            return Step::Drifted(format!(
                "changed since the listing (now: {}); left as it is; run again to re-plan",
                entries
                    .first()
                    .map(|v| format!(
                        "{} {}",
                        if v.delete_marker {
                            "delete marker"
                        } else {
                            "version"
                        },
                        v.version_id
                    ))
                    .unwrap_or_else(|| "no entries".to_owned())
            ));
        }
        if top == 0 {
            return Step::AlreadyDone;
        }
        // Remove one marker at a time, and only while it is the key's *current* entry
        // (the server marks it IsLatest): a marker below a live version is never touched,
        // whatever the timestamps say. Each removal re-reads the key.
        let mut entries = entries;
        let mut removed_here = 0usize;
        loop {
            let Some(head) = entries.first() else {
                return Step::Failed("the key has no entries any more".into());
            };
            if !head.delete_marker {
                break;
            }
            if !head.is_latest || !planned(&head.version_id.as_str()) {
                return Step::Drifted(format!(
                    "delete marker {} is {}; left as it is; run again to re-plan",
                    head.version_id,
                    if head.is_latest {
                        "not one of the planned markers"
                    } else {
                        "not marked current by the server"
                    }
                ));
            }
            if removed_here >= k.markers.len() {
                return Step::Failed("more delete markers than planned; stopped".into());
            }
            let m = head.clone();
            // The listing says the marker is current; GET must agree (another path: a
            // server whose listing and reads disagree — moto under a PUT/DELETE race —
            // would otherwise lose a marker below a live version).
            match self.bucket.head(&k.key, None).await {
                Ok(None) => {}
                Ok(Some(h)) => {
                    return Step::Drifted(format!(
                        "the listing shows delete marker {} on top, but the key reads as version {}; left as it is; run again to re-plan",
                        m.version_id, h.version_id
                    ));
                }
                Err(e) => {
                    return Step::Failed(format!(
                        "checking that the key reads as deleted before removing delete marker {}: {e}",
                        m.version_id
                    ));
                }
            }
            if let Err(e) = self
                .bucket
                .delete_version(&k.key, &m.version_id.as_str())
                .await
            {
                let hint = if e.kind == ErrorKind::AccessDenied {
                    " (removing delete markers needs s3:DeleteObjectVersion)"
                } else {
                    ""
                };
                return Step::Failed(format!(
                    "removing delete marker {}: {e}{hint}",
                    m.version_id
                ));
            }
            removed_here += 1;
            self.removed
                .lock()
                .expect("removed markers lock")
                .push(RemovedMarker {
                    key: k.key.clone(),
                    version_id: m.version_id.to_string(),
                    last_modified: m.last_modified,
                });
            entries = match self.entries(&k.key).await {
                Ok(e) => e,
                Err(e) => {
                    return Step::Failed(format!("marker removed, re-reading the key: {e}"));
                }
            };
            let done = Done {
                op: Op::RemoveDeleteMarker,
                bucket: self.bucket.name().to_owned(),
                key: k.key.clone(),
                source_bucket: None,
                source_key: None,
                source_version_id: None,
                previous_version_id: Some(m.version_id.to_string()),
                new_version_id: entries
                    .first()
                    .map(|v| v.version_id.to_string())
                    .unwrap_or_default(),
                etag: None,
                size: None,
                time: Utc::now(),
            };
            if let Err(e) = self.journal.append(&Line::Done(done)) {
                return Step::Failed(e.to_string());
            }
        }
        // Check the result: the last version must be current again.
        match self.bucket.head(&k.key, None).await {
            Ok(Some(h)) if h.version_id == k.last.version_id => Step::Undeleted,
            Ok(h) => Step::Failed(format!(
                "after removing the delete markers the current version is {} instead of {}",
                h.map_or_else(|| "a delete marker".to_owned(), |h| h.version_id),
                k.last.version_id
            )),
            Err(e) => Step::Failed(format!("markers removed, but checking the key failed: {e}")),
        }
    }
}

/// Remove the delete markers of the keys found, `concurrency` keys at a time, journaled;
/// with the exit status the run gives ([`ExecReport::exit`](crate::run::ExecReport::exit)).
pub async fn execute_removal(
    app: &App,
    source: &Location,
    found: &Found,
    concurrency: usize,
    journal: Journal,
    layout: ListOrder,
) -> (RemoveReport, Exit) {
    let started = Instant::now();
    let ctx = Arc::new(RemoveMarkersJob {
        bucket: app.endpoint.bucket(&source.bucket),
        keys: found.keys.clone(),
        journal,
        removed: Mutex::new(Vec::new()),
        layout,
    });
    let options = RunOptions {
        concurrency,
        // Each attempt re-reads the key; a failed removal is reported, not retried.
        attempts: 1,
        throttle_pause: crate::s3::THROTTLE_PAUSE,
        label: "undeleting",
        caps: app.caps.clone(),
    };
    let count = ctx.keys.len();
    let run =
        crate::run::run_job(ctx.clone(), Items::All(count), &options, &app.printer, None).await;
    let mut removed = std::mem::take(&mut *ctx.removed.lock().expect("removed markers lock"));
    removed.sort_by(|a, b| {
        a.key
            .cmp(&b.key)
            .then(b.last_modified.cmp(&a.last_modified))
    });
    let exit = run.exit();
    let report = RemoveReport {
        undeleted: run.undeleted,
        removed,
        already_done: run.already_done,
        drifted: run.drifted,
        failed: run.failed,
        interrupted: run.interrupted,
        seconds: started.elapsed().as_secs_f64(),
    };
    (report, exit)
}

impl Job for RemoveMarkersJob {
    fn key(&self, i: usize) -> String {
        self.keys[i].key.clone()
    }

    fn attempt(self: Arc<Self>, i: usize, _attempt: u32, _probe: Probe) -> Attempt {
        Box::pin(async move { self.undelete(&self.keys[i]).await })
    }
}
