//! `undelete --remove-delete-markers` executed: each deleted key's delete markers above
//! its last version are removed by version id, by the one runner ([`crate::run`]), each
//! key re-read first (a key whose history changed since the listing is left alone).
//!
//! Neither the keys nor the markers removed are held: the keys are read from the
//! listing's temporary file ([`Spilled`]) as the runner takes them, each forgotten once
//! settled, and the markers removed go, a key at a time in key order, to a temporary file
//! of their own that the report is written from.

use crate::bucket::Bucket;
use crate::error::{CliError, CliResult, Exit};
use crate::execute::KeyIssue;
use crate::journal::{Done, Journal, Line, Op};
use crate::pipeline::App;
use crate::run::{Attempt, Items, Job, Probe, RunOptions, Step};
use crate::s3::ErrorKind;
use crate::spill::{Spilled, record};
use chrono::{DateTime, Utc};
use s3rewind_engine::undelete::DeletedKey;
use s3rewind_engine::{ListOrder, Location, TimelineBuilder, Version};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
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

/// The delete markers removed from one key, in the order they were removed (newest
/// first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemovedOfKey {
    /// The key.
    pub key: String,
    /// Each marker removed: its version id and when it was made.
    pub markers: Vec<(String, DateTime<Utc>)>,
}

impl RemovedOfKey {
    /// Each marker as the report lists it.
    pub fn each(&self) -> impl Iterator<Item = RemovedMarker> + '_ {
        self.markers.iter().map(|(id, at)| RemovedMarker {
            key: self.key.clone(),
            version_id: id.clone(),
            last_modified: *at,
        })
    }
}

// The key, then each marker's id and stamp.
record!(RemovedOfKey { key, markers });

/// What `--remove-delete-markers` did. The markers removed are in [`Removal::removed`],
/// on disk; the JSON report lists them as `removed` (see
/// [`write_report`](Removal::write_report)).
#[derive(Debug, Default)]
pub struct RemoveReport {
    /// Keys whose last version is current again.
    pub undeleted: u64,
    /// Markers removed.
    pub removed: u64,
    /// Keys found already back (an earlier run, or someone else, removed the markers).
    pub already_done: u64,
    /// Keys that changed since the listing: not touched.
    pub drifted: crate::run::KeyIssues,
    /// Keys that could not be brought back.
    pub failed: crate::run::KeyIssues,
    /// True when Ctrl-C stopped the run early.
    pub interrupted: bool,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// The markers removed, a key at a time, on their way to disk in key order: the runner
/// settles keys in any order, so a key's markers wait here until every key handed over
/// before it (item indexes follow key order) has settled. What waits is the runner's
/// window, not the run.
struct InOrder {
    /// The first item not written yet.
    next: usize,
    /// Items from `next` on that removed a marker or settled: settled or not, and what
    /// they removed.
    pending: BTreeMap<usize, (bool, RemovedOfKey)>,
    out: Spilled<RemovedOfKey>,
    count: u64,
    error: Option<CliError>,
}

impl InOrder {
    fn entry(&mut self, i: usize, key: &str) -> &mut (bool, RemovedOfKey) {
        self.pending.entry(i).or_insert_with(|| {
            (
                false,
                RemovedOfKey {
                    key: key.to_owned(),
                    markers: Vec::new(),
                },
            )
        })
    }

    fn removed(&mut self, i: usize, key: &str, marker: &Version) {
        self.entry(i, key)
            .1
            .markers
            .push((marker.version_id.to_string(), marker.last_modified));
        self.count += 1;
    }

    fn settled(&mut self, i: usize, key: &str) {
        self.entry(i, key).0 = true;
        self.write(false);
    }

    /// Write what has settled in order (`all`: everything left, at the end of the run).
    fn write(&mut self, all: bool) {
        while let Some(first) = self.pending.first_entry() {
            let ready = *first.key() == self.next && first.get().0;
            if !(all || ready) {
                return;
            }
            let (i, (_, r)) = first.remove_entry();
            self.next = i + 1;
            if r.markers.is_empty() || self.error.is_some() {
                continue;
            }
            if let Err(e) = self.out.push(&r).and_then(|pushed| {
                pushed.map_err(|(key, last)| {
                    CliError::failure(format!(
                        "internal error: removed markers out of key order ({key:?} after {last:?}); please report this"
                    ))
                })
            }) {
                self.error = Some(e);
            }
        }
    }
}

/// The runner's job for `undelete --remove-markers`: one item is one key whose delete
/// marker is removed, re-read first.
pub(crate) struct RemoveMarkersJob {
    bucket: Arc<dyn Bucket>,
    /// The keys handed over and not settled yet, by item index.
    open: Mutex<HashMap<usize, DeletedKey>>,
    journal: Journal,
    /// The markers removed.
    removed: Mutex<InOrder>,
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

    async fn undelete(&self, i: usize, k: &DeletedKey) -> Step {
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
            entries = match self.remove_marker(i, k, &m).await {
                Ok(e) => e,
                Err(step) => return step,
            };
            removed_here += 1;
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

    /// Remove delete marker `m`, the current entry of `k`'s key, once GET agrees the key
    /// reads as deleted; journaled. The key's entries after it, or the step that ends the
    /// key.
    async fn remove_marker(
        &self,
        i: usize,
        k: &DeletedKey,
        m: &Version,
    ) -> Result<Vec<Version>, Step> {
        // The listing says the marker is current; GET must agree (another path: a
        // server whose listing and reads disagree — moto under a PUT/DELETE race —
        // would otherwise lose a marker below a live version).
        match self.bucket.head(&k.key, None).await {
            Ok(None) => {}
            Ok(Some(h)) => {
                return Err(Step::Drifted(format!(
                    "the listing shows delete marker {} on top, but the key reads as version {}; left as it is; run again to re-plan",
                    m.version_id, h.version_id
                )));
            }
            Err(e) => {
                return Err(Step::Failed(format!(
                    "checking that the key reads as deleted before removing delete marker {}: {e}",
                    m.version_id
                )));
            }
        }
        let id = m.version_id.as_str();
        if let Err(e) = self.bucket.delete_version(&k.key, &id).await {
            let hint = if e.kind == ErrorKind::AccessDenied {
                " (removing delete markers needs s3:DeleteObjectVersion)"
            } else {
                ""
            };
            return Err(Step::Failed(format!(
                "removing delete marker {}: {e}{hint}",
                m.version_id
            )));
        }
        self.removed
            .lock()
            .expect("removed markers lock")
            .removed(i, &k.key, m);
        let entries = self
            .entries(&k.key)
            .await
            .map_err(|e| Step::Failed(format!("marker removed, re-reading the key: {e}")))?;
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
        self.journal
            .append(&Line::Done(done))
            .map_err(|e| Step::Failed(e.to_string()))?;
        Ok(entries)
    }
}

/// Remove the delete markers of `keys` (sealed, in key order), `concurrency` keys at a
/// time, journaled: the report, the markers removed (in key order, each key's newest
/// first), the keys given back, and the exit status the run gives
/// ([`ExecReport::exit`](crate::run::ExecReport::exit)).
pub async fn execute_removal(
    app: &App,
    source: &Location,
    keys: Spilled<DeletedKey>,
    concurrency: usize,
    journal: Journal,
    layout: ListOrder,
) -> CliResult<(
    RemoveReport,
    Spilled<RemovedOfKey>,
    Spilled<DeletedKey>,
    Exit,
)> {
    let started = Instant::now();
    let n = keys.len() as usize;
    let ctx = Arc::new(RemoveMarkersJob {
        bucket: app.endpoint.bucket(&source.bucket),
        open: Mutex::new(HashMap::new()),
        journal,
        removed: Mutex::new(InOrder {
            next: 0,
            pending: BTreeMap::new(),
            out: Spilled::new()?,
            count: 0,
            error: None,
        }),
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
    // The keys read back in order on a thread of their own, each handed to the runner
    // as it has room.
    let window = concurrency.max(1);
    let (tx, rx) = tokio::sync::mpsc::channel::<(usize, Probe)>(window);
    let (ktx, mut krx) = tokio::sync::mpsc::channel::<DeletedKey>(window);
    let reader = tokio::task::spawn_blocking(move || {
        let read = keys.scan(|k| Ok(ktx.blocking_send(k).is_ok()));
        (keys, read)
    });
    let feeder = {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let mut handed = 0usize;
            while let Some(k) = krx.recv().await {
                ctx.open.lock().expect("open keys lock").insert(handed, k);
                if tx.send((handed, Probe::Read)).await.is_err() {
                    break;
                }
                handed += 1;
            }
            handed
        })
    };
    let mut run = crate::run::run_job(
        ctx.clone(),
        Items::Streamed(n, rx),
        &options,
        &app.printer,
        None,
    )
    .await;
    let handed = feeder
        .await
        .map_err(|e| CliError::failure(format!("internal error: {e}")))?;
    let (keys, read) = reader
        .await
        .map_err(|e| CliError::failure(format!("internal error: {e}")))?;
    let short = match read {
        Err(e) => Some(e.message),
        Ok(()) if handed < n && !run.interrupted => Some(format!(
            "{handed} of {n} keys read back from the listing's temporary file"
        )),
        Ok(()) => None,
    };
    if let Some(why) = short {
        run.failed.push(KeyIssue {
            key: String::new(),
            detail: format!(
                "the keys found could not all be read back ({why}): the rest were not attempted; run the same command again"
            ),
        });
    }
    let (removed, count) = {
        let mut order = ctx.removed.lock().expect("removed markers lock");
        order.write(true);
        if let Some(e) = order.error.take() {
            return Err(e);
        }
        let mut out = std::mem::replace(&mut order.out, Spilled::new()?);
        out.seal()?;
        (out, order.count)
    };
    let exit = run.exit();
    let report = RemoveReport {
        undeleted: run.undeleted,
        removed: count,
        already_done: run.already_done,
        drifted: run.drifted,
        failed: run.failed,
        interrupted: run.interrupted,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((report, removed, keys, exit))
}

impl Job for RemoveMarkersJob {
    fn key(&self, i: usize) -> String {
        self.open
            .lock()
            .expect("open keys lock")
            .get(&i)
            .map(|k| k.key.clone())
            .unwrap_or_default()
    }

    fn attempt(self: Arc<Self>, i: usize, _attempt: u32, _probe: Probe) -> Attempt {
        Box::pin(async move {
            let k = self
                .open
                .lock()
                .expect("open keys lock")
                .get(&i)
                .cloned()
                .expect("the runner asks only for keys it has not settled");
            self.undelete(i, &k).await
        })
    }

    fn settled(&self, i: usize) {
        let k = self.open.lock().expect("open keys lock").remove(&i);
        if let Some(k) = k {
            self.removed
                .lock()
                .expect("removed markers lock")
                .settled(i, &k.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use s3rewind_engine::{ETag, VersionId};

    fn marker(id: &str) -> Version {
        Version {
            version_id: VersionId::new(id),
            last_modified: DateTime::<Utc>::from_timestamp(1_750_000_000, 0).unwrap(),
            delete_marker: true,
            etag: ETag::new(""),
            size: 0,
            storage_class: None,
            owner_id: None,
            is_latest: true,
        }
    }

    fn written(o: &mut InOrder) -> Vec<String> {
        let mut out = std::mem::replace(&mut o.out, Spilled::new().unwrap());
        out.seal().unwrap();
        let mut keys = Vec::new();
        out.scan(|r| {
            keys.extend(r.markers.iter().map(|(id, _)| format!("{}:{id}", r.key)));
            Ok(true)
        })
        .unwrap();
        keys
    }

    /// Keys settled in any order are written in item order, each as soon as every key
    /// before it has settled; what an unsettled key holds back is written at the end.
    #[test]
    fn markers_removed_are_written_in_key_order_whatever_order_keys_settle_in() {
        let mut o = InOrder {
            next: 0,
            pending: BTreeMap::new(),
            out: Spilled::new().unwrap(),
            count: 0,
            error: None,
        };
        let key = |i: usize| format!("k{i}");
        // Items 0..6: 1 and 4 remove nothing; 3 removes two markers.
        for (i, ids) in [
            (0, vec!["a"]),
            (2, vec!["c"]),
            (3, vec!["d1", "d2"]),
            (5, vec!["f"]),
        ] {
            for id in ids {
                o.removed(i, &key(i), &marker(id));
            }
        }
        // Settled out of order: 3, 2, 5 wait for 0 and 1.
        for i in [3, 2, 5] {
            o.settled(i, &key(i));
        }
        assert_eq!(o.next, 0, "nothing written before item 0 settles");
        o.settled(0, &key(0));
        assert_eq!(o.next, 1, "item 0 written, item 1 not settled");
        o.settled(1, &key(1));
        assert_eq!(o.next, 4, "items 1 to 3 written on 1's settling");
        // Item 4 never settles (the run was stopped): 5 is written at the end.
        o.write(true);
        assert!(o.pending.is_empty());
        assert!(o.error.is_none());
        assert_eq!(o.count, 5);
        assert_eq!(written(&mut o), ["k0:a", "k2:c", "k3:d1", "k3:d2", "k5:f"]);
    }
}
