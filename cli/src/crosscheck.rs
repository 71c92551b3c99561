//! A listing is cross-checked before anyone trusts it.
//!
//! ListObjectVersions pages with two markers that each server handles its own way (raw or
//! encoded markers, `null` version markers, layouts), and a server that gets them wrong
//! skips keys without a word. ListObjectsV2 is another API with another paging (an
//! opaque continuation token): one pass over the same range lists every key whose newest
//! entry is an object version, with its ETag, size and LastModified, at about one call
//! per 1,000 current keys. Before the first write (and in `verify`), the current state a
//! listing (or a snapshot: a saved index, an inventory) gives is compared with it:
//!
//! - a key both show alike (same ETag and size) is confirmed;
//! - a key they disagree on (another ETag or size, live in one and absent in the other)
//!   had its history changed since it was listed, or was listed wrong: its history is
//!   re-read from the server (ListObjectVersions with the key as prefix; keys of one
//!   folder together when many disagree) before anything is planned for it;
//! - a key ListObjectsV2 shows and the version listing never named at all, whose current
//!   object predates the listing, was **missed** by the listing: the run stops before any
//!   write (exit 7), naming the key. A snapshot is expected to miss later keys: they are
//!   re-read instead.
//!
//! What no current-object listing can show: a key whose newest entry is a delete marker
//! (it is absent now), or older entries of a key that was listed. A listing that skipped
//! such things on a server with an unknown paging habit is not caught here; the pager
//! ([`crate::pager`]) closes the habits that are known.

use crate::bucket::{Bucket, CurrentObject};
use crate::error::{CliError, CliResult, from_s3};
use crate::pager::{Page, Pager};
use crate::spill::Spilled;
use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::{ListOrder, Timeline, TimelineBuilder};
use serde::Serialize;
use std::collections::BTreeMap;

/// Stamps within this long before a listing began count as written during it (clocks of
/// client and server may differ by this much).
const CLOCK_SKEW: TimeDelta = TimeDelta::seconds(300);

/// Keys of one folder re-read together, by listing the folder, from this many on.
const FOLDER_REREAD: usize = 16;

/// How the current state to check came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Basis {
    /// A live listing that began at this instant: a key it missed that was written
    /// before that is a listing error.
    Listing(DateTime<Utc>),
    /// A snapshot (saved index, inventory): keys written after it are expected; every
    /// disagreement is re-read.
    Snapshot,
}

/// What the cross-check found and did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct CheckReport {
    /// Current objects ListObjectsV2 listed.
    pub objects: u64,
    /// ListObjectsV2 calls made.
    pub list_objects_calls: u64,
    /// Keys whose history was re-read (they disagreed with ListObjectsV2).
    pub reread: Vec<String>,
    /// ListObjectVersions calls made to re-read them.
    pub reread_calls: u64,
}

/// Every current object under `prefix`, in key order (ListObjectsV2, 1,000 a call).
pub async fn current_objects(
    bucket: &dyn Bucket,
    prefix: &str,
) -> CliResult<(Vec<CurrentObject>, u64)> {
    let mut out: Vec<CurrentObject> = Vec::new();
    let calls = each_current_page(bucket, prefix, |objects| {
        if let (Some(last), Some(first)) = (out.last(), objects.first())
            && first.key <= last.key
        {
            return Err((first.key.clone(), last.key.clone()));
        }
        out.extend(objects);
        Ok(true)
    })
    .await?;
    Ok((out, calls))
}

/// The first current object under `prefix` (ListObjectsV2, paged as [`current_objects`]
/// pages it, only until one is found), or `None` when there is none: a range's emptiness
/// said without listing it.
pub async fn first_current_object(
    bucket: &dyn Bucket,
    prefix: &str,
) -> CliResult<Option<CurrentObject>> {
    let mut first = None;
    each_current_page(bucket, prefix, |objects| {
        first = objects.into_iter().next();
        Ok(first.is_none())
    })
    .await?;
    Ok(first)
}

/// [`current_objects`] into a [`Spilled`] list on disk: memory holds a sparse index,
/// not an entry per key (a range of 40 million keys is gigabytes of them).
pub async fn spilled_current_objects(
    bucket: &dyn Bucket,
    prefix: &str,
) -> CliResult<(Spilled<CurrentObject>, u64)> {
    let mut out = Spilled::new()?;
    let mut failed = None;
    let calls = each_current_page(bucket, prefix, |objects| {
        for o in &objects {
            match out.push(o) {
                Ok(Ok(())) => {}
                Ok(Err(pair)) => return Err(pair),
                Err(e) => {
                    failed = Some(e);
                    return Err((String::new(), String::new()));
                }
            }
        }
        Ok(true)
    })
    .await;
    if let Some(e) = failed {
        return Err(e);
    }
    let calls = calls?;
    out.seal()?;
    Ok((out, calls))
}

/// Read the ListObjectsV2 pages of `prefix`, handing each page's objects to `take`,
/// which says whether to go on (`Ok(false)`: stop), or `Err((key, previous))` where a key
/// does not come after the one before it; the calls made. A page may hold no object and
/// still say more follow (S3 counts deleted keys toward MaxKeys): paging goes on.
async fn each_current_page(
    bucket: &dyn Bucket,
    prefix: &str,
    mut take: impl FnMut(Vec<CurrentObject>) -> Result<bool, (String, String)>,
) -> CliResult<u64> {
    let mut token: Option<String> = None;
    let mut calls = 0u64;
    loop {
        calls += 1;
        let page = bucket
            .list_objects(prefix, token.as_deref(), 1000)
            .await
            .map_err(|e| from_s3(e, bucket.name()))?;
        match take(page.objects) {
            Err((key, last)) => {
                return Err(CliError::failure(format!(
                    "ListObjectsV2 on s3://{}/{prefix} went backwards ({key:?} after {last:?}); the server's paging is broken",
                    bucket.name(),
                )));
            }
            Ok(false) => return Ok(calls),
            Ok(true) => {}
        }
        if !page.truncated {
            return Ok(calls);
        }
        match page.next {
            Some(t) if Some(&t) != token.as_ref() => token = Some(t),
            _ => {
                return Err(CliError::failure(format!(
                    "ListObjectsV2 on s3://{}/{prefix} is truncated at call {calls} without a new continuation token; the server's paging is broken",
                    bucket.name()
                )));
            }
        }
    }
}

/// Does a listed key's current entry show what ListObjectsV2 shows of it? (The same ETag
/// and size, and not an older write: stamps may differ in resolution, never by more than
/// a second.)
fn agrees(head: Option<&s3rewind_engine::Version>, o: Option<&CurrentObject>) -> bool {
    match (head.filter(|v| !v.delete_marker), o) {
        (None, None) => true,
        (Some(v), Some(o)) => {
            v.etag.as_str() == o.etag
                && v.size == o.size
                && o.last_modified <= v.last_modified + TimeDelta::seconds(1)
        }
        _ => false,
    }
}

/// Checks a listing (or a snapshot) against one ListObjectsV2 pass of the same range, a
/// part at a time as the listing streams, and re-reads what disagrees (module docs).
#[derive(Debug)]
pub struct Checker {
    bucket: std::sync::Arc<dyn Bucket>,
    prefix: String,
    basis: Basis,
    /// The current objects ListObjectsV2 listed, on disk; it marks those a part named.
    objects: Spilled<CurrentObject>,
    report: CheckReport,
}

impl Checker {
    /// List the current objects of `prefix` (before the listing it checks begins).
    pub async fn new(
        bucket: std::sync::Arc<dyn Bucket>,
        prefix: &str,
        basis: Basis,
    ) -> CliResult<Checker> {
        let (objects, calls) = spilled_current_objects(bucket.as_ref(), prefix).await?;
        let report = CheckReport {
            objects: objects.len(),
            list_objects_calls: calls,
            ..CheckReport::default()
        };
        Ok(Checker {
            bucket,
            prefix: prefix.to_owned(),
            basis,
            objects,
            report,
        })
    }

    /// Check one part of the listing (keys disjoint from every other part): its keys
    /// that disagree with ListObjectsV2 come back re-read.
    pub async fn part(&mut self, part: Timeline) -> CliResult<Timeline> {
        let mut differ = Vec::new();
        let keys: Vec<&str> = part.keys().iter().map(|h| h.key.as_str()).collect();
        let found = self.objects.lookup(&keys)?;
        for (h, o) in part.keys().iter().zip(&found) {
            if !agrees(h.head(), o.as_ref()) {
                differ.push(h.key.clone());
            }
        }
        drop(keys);
        self.reread_into(part, differ).await
    }

    /// After the last part: the keys ListObjectsV2 shows that no part named. A live
    /// listing that missed a key written before it began is an error; anything else is
    /// re-read and comes back as a last part (with the report).
    pub async fn finish(mut self) -> CliResult<(Timeline, CheckReport)> {
        let unnamed_objects = self.objects.unmatched()?;
        let unnamed: Vec<&CurrentObject> = unnamed_objects.iter().collect();
        if let Basis::Listing(started) = self.basis {
            let missed: Vec<&&CurrentObject> = unnamed
                .iter()
                .filter(|o| o.last_modified < started - CLOCK_SKEW)
                .collect();
            if let Some(first) = missed.first() {
                let more = if missed.len() > 1 {
                    format!(" (and {} more)", missed.len() - 1)
                } else {
                    String::new()
                };
                return Err(CliError::failure(format!(
                    "the version listing of s3://{}/{} missed key {:?}{more}: ListObjectsV2 lists it, written {} before the listing began, but ListObjectVersions never returned it; the server's version paging skips keys (likely around keys that URL-encoding changes), so no listing of it can be trusted",
                    self.bucket.name(),
                    self.prefix,
                    first.key,
                    crate::output::rfc3339(first.last_modified)
                )));
            }
        }
        let keys: Vec<String> = unnamed.iter().map(|o| o.key.clone()).collect();
        let rest = self.reread_into(Timeline::default(), keys).await?;
        Ok((rest, self.report))
    }

    async fn reread_into(&mut self, part: Timeline, keys: Vec<String>) -> CliResult<Timeline> {
        if keys.is_empty() {
            return Ok(part);
        }
        let (fresh, calls) = reread(self.bucket.as_ref(), &keys, part.layout()).await?;
        tracing::info!(
            keys = keys.len(),
            calls,
            "re-read the keys whose current object disagreed with ListObjectsV2"
        );
        self.report.reread_calls += calls;
        let patched = part.patch(fresh, &keys);
        self.report.reread.extend(keys);
        Ok(patched)
    }
}

/// Check a whole `timeline` (the listing of `prefix`, or a snapshot of it) against
/// ListObjectsV2 and re-read what disagrees (see the module docs).
pub async fn reconcile(
    bucket: std::sync::Arc<dyn Bucket>,
    prefix: &str,
    timeline: Timeline,
    basis: Basis,
) -> CliResult<(Timeline, CheckReport)> {
    let mut checker = Checker::new(bucket, prefix, basis).await?;
    let checked = checker.part(timeline).await?;
    let (rest, report) = checker.finish().await?;
    let keys: Vec<String> = rest.keys().iter().map(|h| h.key.clone()).collect();
    Ok((checked.patch(rest, &keys), report))
}

/// Re-read the histories of `keys` (sorted) from the server: one listing per key, or per
/// folder where many of its keys are to be re-read. Pages are read with the layout the
/// main listing proved.
pub async fn reread(
    bucket: &dyn Bucket,
    keys: &[String],
    layout: ListOrder,
) -> CliResult<(Timeline, u64)> {
    let mut by_folder: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for k in keys {
        let folder = k.rfind('/').map_or("", |i| &k[..=i]);
        by_folder.entry(folder).or_default().push(k);
    }
    let mut parts: Vec<TimelineBuilder> = Vec::new();
    let mut calls = 0u64;
    for (folder, group) in by_folder {
        if group.len() >= FOLDER_REREAD {
            let wanted: std::collections::BTreeSet<&str> = group.iter().copied().collect();
            let (b, n) = read_prefix(bucket, folder, layout, |k| wanted.contains(k)).await?;
            calls += n;
            parts.push(b);
        } else {
            for key in group {
                let (b, n) = read_prefix(bucket, key, layout, |k| k == key).await?;
                calls += n;
                parts.push(b);
            }
        }
    }
    let mut merged = TimelineBuilder::merge_disjoint(parts)?;
    merged.settle_layout(layout);
    Ok((merged.finish(), calls))
}

/// The entries of the keys under `prefix` that `keep` selects, read through the pager;
/// with a single key as the prefix, the listing stops once it has passed that key.
async fn read_prefix(
    bucket: &dyn Bucket,
    prefix: &str,
    layout: ListOrder,
    keep: impl Fn(&str) -> bool,
) -> CliResult<(TimelineBuilder, u64)> {
    let mut pager = Pager::new(prefix, 1000);
    let mut builder = TimelineBuilder::new();
    let mut order = layout;
    while let Some(page) = pager.next(bucket).await? {
        let Page {
            document, open_key, ..
        } = page;
        let passed_single = open_key.as_deref().is_some_and(|o| o > prefix) && keep(prefix);
        let document = document.into_iter().filter(|e| keep(&e.key)).collect();
        builder.push_document(document, &mut order)?;
        if passed_single {
            break;
        }
    }
    Ok((builder, pager.pages()))
}

/// List `prefix` of `bucket` (through [`crate::listing::list_bucket`]) and cross-check the
/// listing whole: the reference the streamed check ([`current_checked_each`]) is tested
/// against. Every command lists through [`crate::source`], a part at a time.
#[cfg(test)]
pub async fn list_checked(
    bucket: &std::sync::Arc<dyn Bucket>,
    printer: &crate::output::Printer,
    prefix: &str,
    page_size: i32,
    streams: crate::listing::Streams,
) -> CliResult<Timeline> {
    let started = Utc::now();
    let listed = crate::listing::list_bucket(bucket, printer, prefix, page_size, streams).await?;
    let (timeline, report) =
        reconcile(bucket.clone(), prefix, listed, Basis::Listing(started)).await?;
    note_rereads(printer, bucket.name(), prefix, &report);
    Ok(timeline)
}

/// The current state of `prefix` of `bucket` (each key's current object), listed and
/// cross-checked as [`list_checked`] does, a part at a time, without ever holding the
/// range's whole history or its whole current state: `take` gets each part's current
/// entries (sorted, keys disjoint from every other part's, the parts in any order) as it
/// is checked against ListObjectsV2, and nothing is held once it has them. An error from
/// `take` stops the listing.
pub async fn current_checked_each(
    bucket: &std::sync::Arc<dyn Bucket>,
    printer: &crate::output::Printer,
    prefix: &str,
    page_size: i32,
    streams: crate::listing::Streams,
    mut take: impl FnMut(Vec<s3rewind_engine::StateEntry>) -> CliResult<()>,
) -> CliResult<()> {
    // The current objects first, then each part of the listing checked against them.
    let mut checker = Checker::new(bucket.clone(), prefix, Basis::Listing(Utc::now())).await?;
    let (tx, rx) = tokio::sync::mpsc::channel::<Timeline>(4);
    let listing = crate::listing::stream_bucket(bucket, printer, prefix, page_size, streams, tx);
    let check = async {
        // Owned here: should a check fail, the receiver is dropped and the listing stops.
        let mut rx = rx;
        while let Some(part) = rx.recv().await {
            take(checker.part(part).await?.current().objects)?;
        }
        Ok::<(), CliError>(())
    };
    let (listed, checked) = tokio::join!(listing, check);
    // The check's error first: the listing's is then only that nobody read on.
    checked?;
    listed?;
    let (rest, report) = checker.finish().await?;
    take(rest.current().objects)?;
    note_rereads(printer, bucket.name(), prefix, &report);
    Ok(())
}

/// Say which keys the cross-check re-read (they changed while the range was listed).
fn note_rereads(
    printer: &crate::output::Printer,
    bucket: &str,
    prefix: &str,
    report: &CheckReport,
) {
    if let Some(first) = report.reread.first() {
        printer.info(format!(
            "cross-check: {} key(s) changed while s3://{bucket}/{prefix} was listed (ListObjectsV2 shows them otherwise); their histories were read again, e.g. {first:?}",
            report.reread.len(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::histories;
    use crate::bucket::{MemStore, Personality};
    use crate::listing::{Split, Streams};
    use crate::output::{OutputFormat, Printer};
    use proptest::prelude::*;
    use std::sync::Arc;

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(64))]
        /// The streamed current state is the whole listing's current state: on any
        /// server habit, page size and number of streams, `current_checked_each` (its parts put together) and
        /// `list_checked(…).current()` give the same objects, or both fail.
        #[test]
        fn the_streamed_current_state_is_the_listed_one(
            steps in histories::steps(5, 40),
            personality in 0..Personality::COMBINATIONS,
            page in 1i32..9,
            parallel in any::<bool>(),
        ) {
            let h = histories::play(&steps, "v");
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            let (streamed, whole) = rt.block_on(async {
                let store = MemStore::new();
                let b: Arc<dyn Bucket> = Arc::new(store.insert("b", h.sim.clone()));
                store.set_personality(Personality::nth(personality));
                let streams = if parallel { Streams::new(3, Split::Folders) } else { Streams::ONE };
                let quiet = Printer::new(OutputFormat::Text, true, true);
                let mut objects = Vec::new();
                let streamed = current_checked_each(&b, &quiet, "", page, streams, |part| {
                    objects.extend(part);
                    Ok(())
                })
                .await
                .map(|()| {
                    // Parallel streams hand their parts over in any order.
                    objects.sort_by(|a, b| a.key.cmp(&b.key));
                    s3rewind_engine::BucketState { objects, ..Default::default() }
                });
                let whole = list_checked(&b, &quiet, "", page, streams).await;
                (streamed, whole.map(|t| t.current()))
            });
            match (streamed, whole) {
                (Ok(s), Ok(w)) => prop_assert_eq!(s.objects, w.objects),
                (Err(_), Err(_)) => {}
                (s, w) => prop_assert!(false, "one failed: {:?} / {:?}", s.err(), w.err()),
            }
        }
    }
}
