//! Reading a bucket's history: the ListObjectVersions paging loop, in parallel.
//!
//! The pages come from the one pager ([`crate::pager`]: markers, `null` entries, raw
//! markers, all checked there). Keys are never resolved within a page: pages go into the
//! engine's [`TimelineBuilder`], which keeps a key open across page boundaries.
//!
//! Pages arrive in the server's document order and go in through
//! [`TimelineBuilder::push_document`], which takes the server's layout (interleaved,
//! versions first, markers first) only from what a page proves; what one stream proves,
//! the parallel streams of the same listing use, and a contradiction stops the listing.
//! `--list-order` declares the layout for a server the user knows.
//!
//! # Parallel listing
//!
//! One listing stream does roughly a thousand entries per round trip. To go faster, a
//! listing is split by folder, but only when it is larger than one page and the server
//! serves calls in parallel:
//!
//! 1. Plain pages first. If they are the whole listing, nothing is split. With
//!    [`Split::Auto`] three pages are timed alone and the fourth is asked for twice at
//!    once: a server that takes more than 1.5 times as long for the pair queues its calls
//!    (moto does), and the listing goes on on this one stream. Otherwise the keys of these
//!    pages before the folder (or key) they stopped in are complete and kept, and:
//! 2. A listing with the delimiter `/` from there on: it returns every version of the
//!    keys directly under the prefix, and the sub-prefixes ("folders") as common prefixes.
//! 3. Each of those folders on its own stream, up to `concurrency` at once.
//!
//! The parts hold disjoint keys and are merged by key
//! ([`TimelineBuilder::merge_disjoint`]). Folder listings start without markers, so they
//! do not depend on how a server interprets a key marker that is not a key. A caller
//! that knows about how many entries a listing holds asks [`streams_for`] whether
//! splitting it pays.

use crate::bucket::Bucket;
use crate::error::{CliError, CliResult};
use crate::output::Printer;
use crate::pager::{Page, Pager};
use indicatif::ProgressBar;
use s3rewind_engine::{Entry, ListOrder, Timeline, TimelineBuilder};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Where a streamed listing sends the keys it has passed, a part at a time.
pub type Chunks = mpsc::Sender<Timeline>;

/// Most common prefixes worth one stream each; beyond this the listing stays sequential
/// (the discovery pass alone would cost as much as it saves).
const MAX_PARTS: usize = 10_000;

/// A server serves calls in parallel when two calls at once take at most this many times
/// as long as one call alone (see [`Split::Auto`]).
const PARALLEL_RATIO: f64 = 1.5;

/// Whether a listing longer than a page is split by folder over parallel streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Split {
    /// Measure the server first: the first three pages are timed alone, the fourth is
    /// asked for twice at once. If the pair takes at most 1.5 times as long as a page
    /// alone (the median of the three), the server serves calls in parallel and the rest
    /// is split by folder; if not (a server that queues its calls, such as moto),
    /// parallel streams would only queue there and listing by folder costs more calls,
    /// so the listing stays on one stream. The measurement costs one call.
    #[default]
    Auto,
    /// Always split by folder.
    Folders,
    /// Never split: one stream.
    Off,
}

/// How many listing streams a listing may use, and whether to split it at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    /// At most this many streams at once (1: one stream).
    pub max: usize,
    /// Whether to split.
    pub split: Split,
    /// The page layout the user declared (`--list-order`), or `Unknown`: learned from
    /// what the pages prove.
    pub layout: ListOrder,
}

impl Streams {
    /// One stream.
    pub const ONE: Streams = Streams {
        max: 1,
        split: Split::Off,
        layout: ListOrder::Unknown,
    };

    /// Up to `max` streams, split as `split` says.
    pub fn new(max: usize, split: Split) -> Self {
        Streams {
            max,
            split,
            layout: ListOrder::Unknown,
        }
    }

    /// The same, with the page layout declared.
    pub fn with_layout(self, layout: ListOrder) -> Self {
        Streams { layout, ..self }
    }

    /// The same split rule with at most `max` streams.
    pub fn with_max(self, max: usize) -> Self {
        Streams { max, ..self }
    }

    fn splits(self) -> bool {
        self.max > 1 && self.split != Split::Off
    }
}

/// How many listing streams to use for a listing of about `expected` entries: one when
/// it fits in `concurrency` pages (at most that many calls, where listing by folder costs
/// a discovery call and one call per folder, however small), else `concurrency`.
pub fn streams_for(expected: u64, page_size: i32, concurrency: usize) -> usize {
    let pages = expected.div_ceil(u64::try_from(page_size.max(1)).unwrap_or(1));
    if pages <= concurrency as u64 {
        1
    } else {
        concurrency
    }
}

/// Whether a server serves calls in parallel, from the time of pages asked for alone and
/// the time of a pair asked for at once (the later of the two). A page alone takes the
/// median of `alone` (the first call of a listing may also set up a connection).
fn serves_in_parallel(alone: &[Duration], pair: Duration) -> bool {
    let mut alone = alone.to_vec();
    alone.sort();
    let alone = alone.get(alone.len() / 2).copied().unwrap_or_default();
    pair.as_secs_f64() <= PARALLEL_RATIO * alone.as_secs_f64()
}

/// [`list_bucket`] without ever holding the whole history: after each page, the keys
/// the listing has passed go to `chunks` as a timeline of their own
/// ([`TimelineBuilder::take_complete`]); the last part follows at the end. Parallel
/// streams send their parts in any order. The receiver must keep receiving (the channel
/// is bounded: a slow consumer slows the listing instead of filling memory).
pub async fn stream_bucket(
    bucket: &Arc<dyn Bucket>,
    printer: &Printer,
    prefix: &str,
    page_size: i32,
    streams: Streams,
    chunks: Chunks,
) -> CliResult<()> {
    let rest = list_with(bucket, printer, prefix, page_size, streams, Some(&chunks)).await?;
    send(&chunks, rest).await
}

/// Hand a part of a timeline to the planner reading `chunks` (nothing for an empty part).
pub(crate) async fn send(chunks: &Chunks, part: Timeline) -> CliResult<()> {
    if part.keys().is_empty() {
        return Ok(());
    }
    chunks
        .send(part)
        .await
        .map_err(|_| CliError::failure("internal error: the planner stopped reading the listing"))
}

/// List every version and delete marker of `bucket` under `prefix` into a timeline,
/// with up to `streams.max` listing streams.
pub async fn list_bucket(
    bucket: &Arc<dyn Bucket>,
    printer: &Printer,
    prefix: &str,
    page_size: i32,
    streams: Streams,
) -> CliResult<Timeline> {
    list_with(bucket, printer, prefix, page_size, streams, None).await
}

async fn list_with(
    bucket: &Arc<dyn Bucket>,
    printer: &Printer,
    prefix: &str,
    page_size: i32,
    streams: Streams,
    chunks: Option<&Chunks>,
) -> CliResult<Timeline> {
    let name = bucket.name().to_owned();
    let spinner = printer.spinner(&format!("listing s3://{name}/{prefix}: entries"));
    let order = Mutex::new(streams.layout);
    let mut builder = if streams.splits() {
        list_parallel(bucket, &spinner, prefix, page_size, streams, &order, chunks).await?
    } else {
        list_part(
            bucket, &spinner, prefix, None, page_size, &order, chunks, "",
        )
        .await?
        .0
    };
    spinner.finish_and_clear();
    let layout = *order.lock().expect("listing order lock");
    builder.settle_layout(layout);
    tracing::debug!(
        bucket = name,
        prefix,
        entries = builder.len(),
        layout = layout.name(),
        "listed"
    );
    Ok(builder.finish())
}

async fn list_parallel(
    bucket: &Arc<dyn Bucket>,
    spinner: &ProgressBar,
    prefix: &str,
    page_size: i32,
    streams: Streams,
    order: &Mutex<ListOrder>,
    chunks: Option<&Chunks>,
) -> CliResult<TimelineBuilder> {
    let mut lead = Stream::new(Pager::new(prefix, page_size), order, spinner, "");
    // Nothing goes to `chunks` before the split is decided: what a split does not use of
    // these pages is listed again by the folder streams.
    lead.record = true;
    let mut alone = Vec::new();
    let timed = if streams.split == Split::Auto { 3 } else { 1 };
    while !lead.pager.done() && alone.len() < timed {
        let started = Instant::now();
        lead.step(bucket.as_ref(), None).await?;
        alone.push(started.elapsed());
    }
    if lead.pager.done() {
        return Ok(lead.builder);
    }
    if streams.split == Split::Auto {
        // The next page, asked for twice at once; one answer is used.
        let started = Instant::now();
        let mut twin = lead.pager.clone();
        let (page, _) =
            tokio::try_join!(lead.pager.next(bucket.as_ref()), twin.next(bucket.as_ref()))?;
        let pair = started.elapsed();
        if let Some(page) = page {
            lead.take(page, None).await?;
        }
        let parallel = serves_in_parallel(&alone, pair);
        tracing::debug!(
            ?alone,
            ?pair,
            parallel,
            "listing: timed a page alone and a pair of pages at once"
        );
        if lead.pager.done() {
            return Ok(lead.builder);
        }
        if !parallel {
            lead.record = false;
            lead.recorded = Vec::new();
            if let Some(chunks) = chunks {
                send(chunks, lead.builder.take_complete()).await?;
            }
            while !lead.pager.done() {
                lead.step(bucket.as_ref(), chunks).await?;
            }
            return Ok(lead.builder);
        }
    }
    let (first, from) = lead.split_at_folder(prefix)?;
    let (direct, prefixes) = list_part(
        bucket,
        spinner,
        prefix,
        Some("/"),
        page_size,
        order,
        chunks,
        &from,
    )
    .await?;
    if prefixes.len() > MAX_PARTS {
        // Start again on one stream (what the first pages hold is listed again).
        return Ok(
            list_part(bucket, spinner, prefix, None, page_size, order, chunks, "")
                .await?
                .0,
        );
    }
    // `first` (keys before `from`) goes to `chunks` with the rest at the end.
    folders(
        bucket,
        spinner,
        page_size,
        streams,
        order,
        chunks,
        prefixes,
        vec![first, direct],
    )
    .await
}

/// Each folder on its own stream, up to `streams.max` at once, merged with `parts`.
#[allow(clippy::too_many_arguments)]
async fn folders(
    bucket: &Arc<dyn Bucket>,
    spinner: &ProgressBar,
    page_size: i32,
    streams: Streams,
    order: &Mutex<ListOrder>,
    chunks: Option<&Chunks>,
    prefixes: Vec<String>,
    mut parts: Vec<TimelineBuilder>,
) -> CliResult<TimelineBuilder> {
    if prefixes.is_empty() {
        return Ok(TimelineBuilder::merge_disjoint(parts)?);
    }
    let shared = Arc::new(Mutex::new(*order.lock().expect("listing order lock")));
    tracing::debug!(
        parts = prefixes.len(),
        "listing common prefixes in parallel"
    );
    let mut pending = prefixes.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < streams.max {
            let Some(p) = pending.next() else { break };
            let (bucket, spinner) = (bucket.clone(), spinner.clone());
            let order = Arc::clone(&shared);
            let chunks = chunks.cloned();
            tasks.spawn(async move {
                let (part, _) = list_part(
                    &bucket,
                    &spinner,
                    &p,
                    None,
                    page_size,
                    &order,
                    chunks.as_ref(),
                    "",
                )
                .await?;
                check_part(&p, &part)?;
                Ok::<_, CliError>(part)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let part = joined.map_err(|e| CliError::failure(format!("internal error: {e}")))??;
        parts.push(part);
    }
    // What the parts proved about the layout, for the whole listing (a contradiction
    // between two parts is the same error as between two pages).
    let learned = *shared.lock().expect("listing order lock");
    let mut outer = order.lock().expect("listing order lock");
    *outer = outer.and(learned)?;
    drop(outer);
    Ok(TimelineBuilder::merge_disjoint(parts)?)
}

/// A common prefix exists only because keys have it: a part listing that finds none, or
/// finds keys outside it, means the prefix was misread (an encoding the server did not
/// use) and keys would be skipped without a word. That is an error, not a guess.
fn check_part(prefix: &str, part: &TimelineBuilder) -> CliResult<()> {
    let outside = part.last_key().filter(|k| !k.starts_with(prefix));
    if part.is_empty() || outside.is_some() {
        return Err(CliError::failure(format!(
            "listing the common prefix {prefix:?} {}: the server's prefix encoding is inconsistent; re-run with --list-concurrency 1",
            match outside {
                Some(k) => format!("returned key {k:?} outside it"),
                None => "returned nothing although the listing named it".to_owned(),
            }
        )));
    }
    Ok(())
}

/// One listing stream: all pages under `prefix` (with `delimiter`, the common prefixes
/// too), keeping only the keys and common prefixes from `from` on.
#[allow(clippy::too_many_arguments)]
async fn list_part(
    bucket: &Arc<dyn Bucket>,
    spinner: &ProgressBar,
    prefix: &str,
    delimiter: Option<&str>,
    page_size: i32,
    order: &Mutex<ListOrder>,
    chunks: Option<&Chunks>,
    from: &str,
) -> CliResult<(TimelineBuilder, Vec<String>)> {
    let mut pager = Pager::new(prefix, page_size);
    if let Some(d) = delimiter {
        pager = pager.delimiter(d);
    }
    let mut stream = Stream::new(pager, order, spinner, from);
    while !stream.pager.done() {
        stream.step(bucket.as_ref(), chunks).await?;
    }
    stream.prefixes.sort();
    stream.prefixes.dedup();
    Ok((stream.builder, stream.prefixes))
}

/// One listing stream into a timeline, a page at a time.
struct Stream<'a> {
    pager: Pager,
    order: &'a Mutex<ListOrder>,
    spinner: &'a ProgressBar,
    /// Only keys and common prefixes from here on are kept.
    from: &'a str,
    builder: TimelineBuilder,
    prefixes: Vec<String>,
    /// Keep a copy of every page's entries, a page at a time (see
    /// [`Stream::split_at_folder`]).
    record: bool,
    recorded: Vec<Vec<Entry>>,
}

impl<'a> Stream<'a> {
    fn new(
        pager: Pager,
        order: &'a Mutex<ListOrder>,
        spinner: &'a ProgressBar,
        from: &'a str,
    ) -> Self {
        Stream {
            pager,
            order,
            spinner,
            from,
            builder: TimelineBuilder::new(),
            prefixes: Vec::new(),
            record: false,
            recorded: Vec::new(),
        }
    }

    /// Ask for the next page and take it.
    async fn step<S: crate::pager::PageSource + ?Sized>(
        &mut self,
        source: &S,
        chunks: Option<&Chunks>,
    ) -> CliResult<()> {
        if let Some(page) = self.pager.next(source).await? {
            self.take(page, chunks).await?;
        }
        Ok(())
    }

    /// Take a page.
    async fn take(&mut self, page: Page, chunks: Option<&Chunks>) -> CliResult<()> {
        let Page {
            mut document,
            mut common_prefixes,
            ..
        } = page;
        if !self.from.is_empty() {
            // What comes before `from` is listed by another stream.
            let from = self.from;
            document.retain(|e| e.key.as_str() >= from);
            common_prefixes.retain(|p| p.as_str() >= from);
        }
        self.spinner.inc(document.len() as u64);
        if self.record {
            self.recorded.push(document.clone());
        }
        let mut o = *self.order.lock().expect("listing order lock");
        self.builder.push_document(document, &mut o)?;
        {
            // Parallel streams share what they prove; a contradiction is an error.
            let mut shared = self.order.lock().expect("listing order lock");
            *shared = shared.and(o)?;
        }
        if let Some(chunks) = chunks {
            send(chunks, self.builder.take_complete()).await?;
        }
        self.prefixes.extend(common_prefixes);
        Ok(())
    }

    /// Where a split listing goes on after the pages this stream has taken (recorded):
    /// the timeline of the keys they hold completely, and the start of the rest.
    ///
    /// The stream stopped at a key (the key marker) that may go on in the next page;
    /// every key before it is complete. The rest begins at the folder that key is in, or
    /// at the key itself when it is directly under the prefix, so that folders are never
    /// split. Without a usable marker the rest is everything and no page is used.
    fn split_at_folder(&self, prefix: &str) -> CliResult<(TimelineBuilder, String)> {
        let from = self
            .pager
            .markers()
            .0
            .as_deref()
            .and_then(|k| folder_start(prefix, k))
            .unwrap_or_default();
        let mut builder = TimelineBuilder::new();
        let mut o = *self.order.lock().expect("listing order lock");
        // Page by page: a page's layout is per page.
        for page in &self.recorded {
            let document: Vec<Entry> = page
                .iter()
                .filter(|e| e.key.as_str() < from.as_str())
                .cloned()
                .collect();
            builder.push_document(document, &mut o)?;
        }
        let mut shared = self.order.lock().expect("listing order lock");
        *shared = shared.and(o)?;
        Ok((builder, from))
    }
}

/// Where the rest of a split listing begins, for a stream stopped at `key` under
/// `prefix`: the folder `key` is in (its path up to and including the first `/` below the
/// prefix), or `key` itself when it is directly under the prefix; `None` for a key outside
/// the prefix.
fn folder_start(prefix: &str, key: &str) -> Option<String> {
    let rest = key.strip_prefix(prefix)?;
    Some(match rest.find('/') {
        Some(i) => key[..prefix.len() + i + 1].to_owned(),
        None => key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use s3rewind_engine::Entry;

    #[test]
    fn a_split_listing_resumes_at_the_folder_of_the_key_it_stopped_at() {
        assert_eq!(folder_start("p/", "p/a/b/c").as_deref(), Some("p/a/"));
        assert_eq!(folder_start("p/", "p/ab/c").as_deref(), Some("p/ab/"));
        assert_eq!(folder_start("", "a/b").as_deref(), Some("a/"));
        // Directly under the prefix: the key itself.
        assert_eq!(folder_start("p/", "p/file").as_deref(), Some("p/file"));
        assert_eq!(folder_start("p/", "q/a/b"), None);
    }

    #[test]
    fn a_part_of_a_parallel_listing_must_hold_keys_and_only_under_its_prefix() {
        let part = |keys: &[&str]| {
            let mut b = TimelineBuilder::new();
            for (i, k) in keys.iter().enumerate() {
                b.push_entry(e(k, &format!("v{i}"), 1, false)).unwrap();
            }
            b
        };
        assert!(check_part("a/", &part(&["a/1", "a/2"])).is_ok());
        // The listing named the prefix, its own listing returned nothing.
        let empty = check_part("a/", &part(&[])).unwrap_err();
        assert!(
            empty.message.contains("returned nothing"),
            "{}",
            empty.message
        );
        let outside = check_part("a/", &part(&["a/1", "b/1"])).unwrap_err();
        assert!(
            outside.message.contains("\"b/1\" outside"),
            "{}",
            outside.message
        );
    }

    fn e(key: &str, id: &str, secs: i64, dm: bool) -> Entry {
        Entry::new(key, id, Utc.timestamp_opt(secs, 0).unwrap(), dm, "", 1)
    }

    use crate::bucket::{ListRequest, RawPage, S3Error};
    use async_trait::async_trait;

    /// A page in moto's layout: all versions, then all delete markers.
    fn page(versions: Vec<Entry>, markers: Vec<Entry>, next: Option<(&str, &str)>) -> RawPage {
        RawPage {
            document: versions.into_iter().chain(markers).collect(),
            truncated: next.is_some(),
            next_key_marker: next.map(|n| n.0.to_owned()),
            next_version_id_marker: next.map(|n| n.1.to_owned()).filter(|v| !v.is_empty()),
            common_prefixes: Vec::new(),
            marker_raw: false,
        }
    }

    /// Scripted pages, and the markers asked for.
    struct Script {
        pages: Mutex<std::vec::IntoIter<RawPage>>,
        asked: Mutex<Vec<(Option<String>, Option<String>)>>,
    }

    #[async_trait]
    impl crate::pager::PageSource for Script {
        fn source_name(&self) -> &str {
            "test"
        }

        async fn page(&self, r: &ListRequest<'_>) -> Result<RawPage, S3Error> {
            self.asked.lock().unwrap().push((
                r.key_marker.map(str::to_owned),
                r.version_id_marker.map(str::to_owned),
            ));
            self.pages.lock().unwrap().next().ok_or_else(|| S3Error {
                kind: crate::bucket::ErrorKind::Other,
                context: "test".into(),
                code: None,
                status: None,
                message: "asked for a page too many".into(),
            })
        }
    }

    /// Run one listing stream over scripted pages; returns the result and the markers
    /// asked for.
    async fn run(
        pages: Vec<RawPage>,
    ) -> (CliResult<Timeline>, Vec<(Option<String>, Option<String>)>) {
        let script = Script {
            pages: Mutex::new(pages.into_iter()),
            asked: Mutex::new(Vec::new()),
        };
        let order = Mutex::new(ListOrder::Unknown);
        let spinner = ProgressBar::hidden();
        let mut stream = Stream::new(Pager::new("", 7), &order, &spinner, "");
        let r = async {
            while !stream.pager.done() {
                stream.step(&script, None).await?;
            }
            Ok(std::mem::take(&mut stream.builder).finish())
        }
        .await;
        (r, script.asked.into_inner().unwrap())
    }

    /// A bucket in memory with `keys` (each written `n` times, some then deleted).
    fn bucket_of(keys: &[(String, u8, bool)]) -> (Arc<crate::bucket::MemStore>, Arc<dyn Bucket>) {
        use s3rewind_engine::{SimBucket, Versioning};
        let mut sim = SimBucket::new(Versioning::Enabled, "v");
        let mut t = 0;
        let mut tick = || {
            t += 1;
            Utc.timestamp_opt(1_700_000_000 + t, 0).unwrap()
        };
        for (key, writes, deleted) in keys {
            for _ in 0..*writes {
                let at = tick();
                sim.put(key, key.as_bytes(), at);
            }
            if *deleted {
                let at = tick();
                sim.delete(key, at);
            }
        }
        let store = crate::bucket::MemStore::new();
        let b: Arc<dyn Bucket> = Arc::new(store.insert("b", sim));
        (store, b)
    }

    fn quiet() -> Printer {
        Printer::new(crate::output::OutputFormat::Text, true, true)
    }

    async fn listed(b: &Arc<dyn Bucket>, prefix: &str, page: i32, streams: Streams) -> Timeline {
        let quiet = quiet();
        list_bucket(b, &quiet, prefix, page, streams).await.unwrap()
    }

    proptest::proptest! {
        #![proptest_config(crate::proptest_config(256))]
        /// However the listing is split (first pages, folders, page size, streams), on
        /// either page layout (interleaved, or moto's markers last), it returns what one
        /// stream returns; a listing that fits in one page costs one call.
        #[test]
        fn a_split_listing_equals_one_stream(
            keys in proptest::collection::btree_map(
                "(a|b/|b/c|c/|c/d/|d|[ab]/x|z)[a-c]{0,2}",
                (1u8..4, proptest::bool::ANY),
                0..40,
            ),
            prefix in "(|b|b/|c/)",
            markers_last in proptest::bool::ANY,
            page in 1i32..9,
            streams in 2usize..5,
            split in proptest::prop_oneof![
                proptest::strategy::Just(Split::Auto),
                proptest::strategy::Just(Split::Folders),
            ],
        ) {
            let keys: Vec<(String, u8, bool)> =
                keys.into_iter().map(|(k, (n, d))| (k, n, d)).collect();
            // A paused clock: every call takes no time, so `auto` always finds the
            // in-memory bucket parallel and splits after its four timed pages.
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            rt.block_on(async {
                let (store, b) = bucket_of(&keys);
                if markers_last {
                    store.lists_markers_last();
                }
                let one = listed(&b, &prefix, 1000, Streams::ONE).await;
                store.reset_requests();
                let split = listed(&b, &prefix, page, Streams::new(streams, split)).await;
                proptest::prop_assert_eq!(&split, &one);
                if one.len() <= page as usize {
                    proptest::prop_assert_eq!(store.requests().of(crate::bucket::Op::List), 1);
                }
                Ok(())
            })?;
        }
    }

    /// A bucket of `folders` folders of three keys of two versions each, behind a bucket
    /// whose calls take 100 ms each, served `one_at_a_time` or in parallel.
    fn timed_bucket(one_at_a_time: bool) -> Arc<crate::bucket::Faulty> {
        let keys: Vec<(String, u8, bool)> = (0..6)
            .flat_map(|f| (0..3).map(move |k| (format!("f{f}/k{k}"), 2, k == 1)))
            .collect();
        let (_, b) = bucket_of(&keys);
        Arc::new(crate::bucket::Faulty::new(
            b,
            crate::bucket::Faults {
                call_ms: 100,
                one_at_a_time,
                ..Default::default()
            },
        ))
    }

    /// `auto` splits the listing only on a server that serves calls in parallel: on one
    /// that serves a call at a time the listing stays on one stream and costs one call
    /// more than one stream (the measurement); on a parallel one it is split, costs more
    /// calls and takes less time. (Paused clock: the times are exact.)
    #[tokio::test(start_paused = true)]
    async fn auto_split_follows_the_server() {
        let auto = Streams::new(4, Split::Auto);
        for one_at_a_time in [true, false] {
            let one = timed_bucket(one_at_a_time);
            let started = Instant::now();
            let whole = list_bucket(
                &(one.clone() as Arc<dyn Bucket>),
                &quiet(),
                "",
                2,
                Streams::ONE,
            )
            .await
            .unwrap();
            let (one_calls, one_time) = (one.calls(), started.elapsed());
            assert_eq!(
                whole.len(),
                6 * 3 * 2 + 6,
                "two versions a key, one key a folder deleted"
            );
            let b = timed_bucket(one_at_a_time);
            let started = Instant::now();
            let t = list_bucket(&(b.clone() as Arc<dyn Bucket>), &quiet(), "", 2, auto)
                .await
                .unwrap();
            assert_eq!(t, whole);
            if one_at_a_time {
                assert_eq!(b.calls(), one_calls + 1);
            } else {
                assert!(b.calls() > one_calls + 1, "{} calls", b.calls());
                assert!(started.elapsed() < one_time, "{:?}", started.elapsed());
            }
        }
    }

    #[test]
    fn a_pair_within_one_and_a_half_times_the_median_page_is_parallel() {
        let ms = Duration::from_millis;
        assert!(serves_in_parallel(&[ms(400), ms(100), ms(120)], ms(180)));
        assert!(!serves_in_parallel(&[ms(400), ms(100), ms(120)], ms(181)));
        // moto, timed: a slow first call, then a pair that queued.
        assert!(!serves_in_parallel(
            &[ms(3852), ms(1834), ms(2000)],
            ms(6126)
        ));
        assert!(!serves_in_parallel(&[ms(100)], ms(200)));
    }

    #[test]
    fn streams_for_lists_small_ranges_on_one_stream() {
        assert_eq!(streams_for(0, 1000, 8), 1);
        assert_eq!(streams_for(8_000, 1000, 8), 1);
        assert_eq!(streams_for(8_001, 1000, 8), 8);
        assert_eq!(streams_for(17, 2, 8), 8);
    }

    #[tokio::test]
    async fn marker_only_pages_and_empty_version_marker_continue() {
        let (r, asked) = run(vec![
            page(vec![e("a", "a2", 20, false)], vec![], Some(("a", "a2"))),
            // A page with only delete markers.
            page(vec![], vec![e("a", "d1", 10, true)], Some(("a", "d1"))),
            // The server gives no NextVersionIdMarker: continue with the key marker only.
            page(vec![e("a", "a0", 5, false)], vec![], Some(("a", ""))),
            page(vec![e("b", "b1", 5, false)], vec![], None),
        ])
        .await;
        let t = r.unwrap();
        let ids: Vec<String> = t
            .get("a")
            .unwrap()
            .entries
            .iter()
            .map(|v| v.version_id.to_string())
            .collect();
        assert_eq!(ids, ["a2", "d1", "a0"]);
        assert_eq!(
            asked,
            vec![
                (None, None),
                (Some("a".into()), Some("a2".into())),
                (Some("a".into()), Some("d1".into())),
                (Some("a".into()), None),
            ]
        );
        // The key's state is resolved across pages: deleted at 10, so absent at 15.
        assert!(
            t.state_at(Utc.timestamp_opt(15, 0).unwrap())
                .get("a")
                .is_none()
        );
    }

    #[tokio::test]
    async fn markers_that_do_not_advance_are_an_error_not_a_loop() {
        let (r, asked) = run(vec![
            page(vec![e("a", "1", 1, false)], vec![], Some(("a", "1"))),
            page(vec![e("b", "2", 1, false)], vec![], Some(("a", "1"))),
            page(vec![], vec![], None),
        ])
        .await;
        let err = r.unwrap_err();
        assert!(err.message.contains("did not advance"), "{}", err.message);
        assert_eq!(asked.len(), 2);
    }

    #[tokio::test]
    async fn truncated_without_key_marker_is_an_error() {
        let mut p = page(vec![e("a", "1", 1, false)], vec![], None);
        p.truncated = true;
        let (r, _) = run(vec![p]).await;
        assert!(r.unwrap_err().message.contains("no NextKeyMarker"));
    }

    #[tokio::test]
    async fn a_repeated_page_is_an_error() {
        let (r, _) = run(vec![
            page(vec![e("a", "1", 1, false)], vec![], Some(("a", "1"))),
            page(vec![e("a", "1", 1, false)], vec![], None),
        ])
        .await;
        assert!(r.unwrap_err().message.contains("repeated"));
    }

    #[tokio::test]
    async fn a_page_ending_on_a_null_entry_is_cut_before_its_key() {
        let doc = |v: Vec<Entry>, next: Option<(&str, &str)>| RawPage {
            document: v,
            truncated: next.is_some(),
            next_key_marker: next.map(|n| n.0.to_owned()),
            next_version_id_marker: next.map(|n| n.1.to_owned()),
            common_prefixes: Vec::new(),
            marker_raw: false,
        };
        let (r, asked) = run(vec![
            doc(
                vec![
                    e("a", "d", 9, true),
                    e("a", "a1", 8, false),
                    e("k", "k2", 7, false),
                    e("k", "null", 6, true),
                ],
                Some(("k", "null")),
            ),
            // Asked again after a: k from its newest entry.
            doc(
                vec![
                    e("k", "k2", 7, false),
                    e("k", "null", 6, true),
                    e("k", "k0", 5, false),
                ],
                None,
            ),
        ])
        .await;
        let t = r.unwrap();
        let ids: Vec<String> = t
            .get("k")
            .unwrap()
            .entries
            .iter()
            .map(|v| v.version_id.to_string())
            .collect();
        assert_eq!(ids, ["k2", "null", "k0"]);
        assert_eq!(asked[1], (Some("a".into()), None));
    }
}
