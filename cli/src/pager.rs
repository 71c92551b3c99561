//! The one ListObjectVersions pager: every loop over a versions listing goes through it
//! (the source listing, the executor's destination listing, `undelete`'s re-reads, the
//! listing's cross-check), so the rules below are written, and tested, once.
//!
//! - **Markers.** Resend with `key-marker = NextKeyMarker` and `version-id-marker =
//!   NextVersionIdMarker` until a page is not truncated. A truncated page without a key
//!   marker, a marker that does not advance or goes backwards, is an error (exit 7),
//!   never a loop and never "the end".
//! - **`null` version markers.** radosgw answers `VersionIdMarker=null` by skipping the
//!   key's older versions; another server starts the key over. So a page that would
//!   continue after a `null` entry is cut before the key it ends on (its entries are
//!   asked for again from `key-marker = the key before it`); a page of one key only is
//!   asked for again, larger.
//! - **Continuations without URL encoding.** Some servers encode `<Key>` under
//!   `EncodingType=url` but send `<NextKeyMarker>` raw ([`RawPage::marker_raw`]), and one
//!   of them then compares its *encoded* keys with the raw marker we send back: after
//!   such a page it repeats keys or silently skips every key whose encoded form sorts
//!   below the marker (`é` after `kz`: `%C3%A9` < `kz`), whatever key the page ended on,
//!   so watching the markers cannot catch it. The first page (no marker) is asked for
//!   with `EncodingType=url`; every page that continues from a marker is asked for
//!   without it, so server and client compare the same raw strings on every server. A
//!   raw page that XML cannot carry exactly (a key with a control character or a carriage
//!   return: the adapter refuses it, [`UNREADABLE_RAW`]) is asked for again encoded; on a
//!   server that has shown raw markers that is refused instead (it is the one case left
//!   where such a server could skip keys).
//! - **By key, never by position.** A page's entries are handed on in document order
//!   (the layout proof needs it) and grouped by key ([`Page::by_key`]): where a key's
//!   entries sit in the document depends on the server's layout.
//! - **What is complete.** After a page, every key below [`Page::open_key`] is complete
//!   (the next page may continue that key only).

use crate::bucket::{Bucket, ListRequest, RawPage, S3Error};
use crate::error::{CliError, CliResult, from_s3};
use async_trait::async_trait;
use s3rewind_engine::{Entry, NULL_VERSION};
use std::collections::BTreeMap;

pub use crate::bucket::wire::UNREADABLE_RAW;

/// Where pages come from: any [`Bucket`], or scripted pages in tests.
#[async_trait]
pub trait PageSource: Send + Sync {
    /// The bucket's name (for messages).
    fn source_name(&self) -> &str;
    /// One ListObjectVersions page.
    async fn page(&self, request: &ListRequest<'_>) -> Result<RawPage, S3Error>;
}

#[async_trait]
impl<B: Bucket + ?Sized> PageSource for B {
    fn source_name(&self) -> &str {
        self.name()
    }

    async fn page(&self, request: &ListRequest<'_>) -> Result<RawPage, S3Error> {
        self.list_page(request).await
    }
}

/// One page, checked.
#[derive(Debug, Clone, Default)]
pub struct Page {
    /// The entries in the server's document order.
    pub document: Vec<Entry>,
    /// Common prefixes (with a delimiter).
    pub common_prefixes: Vec<String>,
    /// The key the next page may continue: every key below it is complete. `None` once
    /// the listing is done (everything is complete).
    pub open_key: Option<String>,
}

impl Page {
    /// The entries grouped by key, keys in order, each key's entries in document order.
    pub fn by_key(&self) -> BTreeMap<&str, Vec<&Entry>> {
        let mut out: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
        for e in &self.document {
            out.entry(e.key.as_str()).or_default().push(e);
        }
        out
    }

    /// True when the listing has passed `key` for good (its entries are all listed).
    pub fn passed(&self, key: &str) -> bool {
        self.open_key.as_deref().is_none_or(|o| key < o)
    }
}

/// One listing stream over a prefix, a page at a time.
#[derive(Debug, Clone)]
pub struct Pager {
    prefix: String,
    delimiter: Option<String>,
    page_size: i32,
    /// The page size of the next request (larger after a page of one `null`-ended key).
    size: i32,
    markers: (Option<String>, Option<String>),
    /// The server sent a raw key marker under `EncodingType=url` at least once.
    raw_markers: bool,
    /// The next page is asked for with `EncodingType=url` although it continues from a
    /// marker (its raw form could not be read).
    encode_next: bool,
    pages: u64,
    done: bool,
}

impl Pager {
    /// A listing of `prefix`, `page_size` entries a page.
    pub fn new(prefix: &str, page_size: i32) -> Self {
        Pager {
            prefix: prefix.to_owned(),
            delimiter: None,
            page_size: page_size.clamp(1, 1000),
            size: page_size.clamp(1, 1000),
            markers: (None, None),
            raw_markers: false,
            encode_next: false,
            pages: 0,
            done: false,
        }
    }

    /// Roll keys up into common prefixes at `delimiter`.
    pub fn delimiter(mut self, delimiter: &str) -> Self {
        self.delimiter = Some(delimiter.to_owned());
        self
    }

    /// Ask for `n` entries a page from now on.
    pub fn set_page_size(&mut self, n: i32) {
        self.page_size = n.clamp(1, 1000);
        self.size = self.page_size;
    }

    /// True when the last page was taken.
    pub fn done(&self) -> bool {
        self.done
    }

    /// Pages taken so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The markers of the next page (the last key listed, and its last version).
    pub fn markers(&self) -> &(Option<String>, Option<String>) {
        &self.markers
    }

    fn what<S: PageSource + ?Sized>(&self, source: &S) -> String {
        format!("s3://{}/{}", source.source_name(), self.prefix)
    }

    /// The next page, or `None` after the last one.
    pub async fn next<S: PageSource + ?Sized>(&mut self, source: &S) -> CliResult<Option<Page>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let url_encoding = self.markers.0.is_none() || self.encode_next;
            let request = ListRequest {
                prefix: &self.prefix,
                delimiter: self.delimiter.as_deref(),
                key_marker: self.markers.0.as_deref(),
                version_id_marker: self.markers.1.as_deref(),
                max_keys: self.size,
                url_encoding,
            };
            let raw = match source.page(&request).await {
                Err(e) if !url_encoding && e.code.as_deref() == Some(UNREADABLE_RAW) => {
                    tracing::debug!(error = %e, "a raw page cannot be read: asked for again URL-encoded");
                    self.encode_next = true;
                    continue;
                }
                other => other.map_err(|e| from_s3(e, source.source_name()))?,
            };
            let encoded_continuation = std::mem::take(&mut self.encode_next);
            if encoded_continuation && (self.raw_markers || raw.marker_raw) {
                return Err(CliError::failure(format!(
                    "listing {}: a page holds keys that XML carries only URL-encoded, and this server sends raw paging markers under URL encoding (a habit under which some servers skip keys); the listing cannot be trusted",
                    self.what(source)
                )));
            }
            if let Some(page) = self.take(raw, source)? {
                return Ok(Some(page));
            }
        }
    }

    /// Check a page asked for with the current markers; `None` when it must be asked for
    /// again (larger).
    fn take<S: PageSource + ?Sized>(
        &mut self,
        raw: RawPage,
        source: &S,
    ) -> CliResult<Option<Page>> {
        let what = {
            let w = self.what(source);
            move || w.clone()
        };
        self.pages += 1;
        let pages = self.pages;
        let RawPage {
            mut document,
            mut common_prefixes,
            truncated,
            next_key_marker,
            next_version_id_marker,
            marker_raw,
        } = raw;
        let mut next = (next_key_marker, next_version_id_marker);
        self.raw_markers |= marker_raw;
        if truncated && next.1.as_deref() == Some(NULL_VERSION) {
            // Never continue from a `null` entry: cut the key the page ends on, and
            // continue after the key before it.
            let end = next.0.clone().unwrap_or_default();
            let before = document
                .iter()
                .map(|e| e.key.as_str())
                .chain(common_prefixes.iter().map(String::as_str))
                .filter(|k| *k < end.as_str())
                .max()
                .map(str::to_owned);
            match before {
                Some(before) => {
                    document.retain(|e| e.key.as_str() <= before.as_str());
                    common_prefixes.retain(|p| p.as_str() <= before.as_str());
                    next = (Some(before), None);
                }
                None if self.size < 1000 => {
                    // One key fills the page: ask again, larger.
                    self.size = (self.size * 2).min(1000);
                    self.pages -= 1;
                    return Ok(None);
                }
                None => {
                    return Err(CliError::failure(format!(
                        "listing {}: page {pages} holds 1,000 entries of {end:?} alone and ends on its `null` version; servers cannot be trusted to page past a `null` version marker",
                        what()
                    )));
                }
            }
        }
        self.size = self.page_size;
        if !truncated {
            self.done = true;
            return Ok(Some(Page {
                document,
                common_prefixes,
                open_key: None,
            }));
        }
        let Some(key) = next.0.clone() else {
            return Err(CliError::failure(format!(
                "listing {} is truncated at page {pages} but the server gave no NextKeyMarker; the listing cannot go on without risking skipped keys",
                what()
            )));
        };
        if next == self.markers {
            return Err(CliError::failure(format!(
                "listing {}: the paging markers did not advance at page {pages} (key marker {key:?}); the server's paging is broken",
                what()
            )));
        }
        if self.markers.0.as_deref().is_some_and(|m| key.as_str() < m) {
            return Err(CliError::failure(format!(
                "listing {}: the paging markers went backwards at page {pages} ({key:?} after {:?}); the server's paging is broken",
                what(),
                self.markers.0.as_deref().unwrap_or_default()
            )));
        }
        self.markers = next;
        Ok(Some(Page {
            document,
            common_prefixes,
            open_key: Some(key),
        }))
    }
}

/// The entries of one key now, in document order page by page (ListObjectVersions with
/// the key as prefix, more pages only while the key continues), for a caller that
/// re-reads a key before acting on it. Entries of longer keys that share the prefix are
/// dropped.
pub async fn key_pages<S: PageSource + ?Sized>(
    source: &S,
    key: &str,
) -> CliResult<Vec<Vec<Entry>>> {
    let mut pager = Pager::new(key, 1000);
    let mut out = Vec::new();
    while let Some(page) = pager.next(source).await? {
        let mine: Vec<Entry> = page
            .document
            .iter()
            .filter(|e| e.key == key)
            .cloned()
            .collect();
        let passed = page.passed(key);
        out.push(mine);
        if passed {
            break;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::histories::{self, History, Step};
    use crate::bucket::{MemStore, PageLayout, Personality};
    use crate::listing::{Split, Streams, list_bucket};
    use crate::output::{OutputFormat, Printer};
    use proptest::prelude::*;
    use s3rewind_engine::{BucketState, Timeline};
    use std::sync::Arc;

    fn quiet() -> Printer {
        Printer::new(OutputFormat::Text, true, true)
    }

    /// `keys` written once each, a millisecond apart, in this order.
    fn written(keys: &[&str]) -> History {
        let mut sim = s3rewind_engine::SimBucket::new(s3rewind_engine::Versioning::Enabled, "v");
        let t = histories::start();
        for (i, k) in keys.iter().enumerate() {
            sim.put(k, b"x", t + chrono::TimeDelta::milliseconds(i as i64));
        }
        History {
            sim,
            writes: vec![t],
            last: t,
        }
    }

    fn store_of(h: &History, p: Personality) -> (Arc<MemStore>, Arc<dyn Bucket>) {
        let store = MemStore::new();
        let b: Arc<dyn Bucket> = Arc::new(store.insert("b", h.sim.clone()));
        store.set_personality(p);
        (store, b)
    }

    /// The state at `at` of `listed` agrees with `truth` for every key it does not flag
    /// as ambiguous (and, on a split layout, whose order a split layout can show).
    fn agrees(
        listed: &Timeline,
        truth: &Timeline,
        at: chrono::DateTime<chrono::Utc>,
        split: bool,
    ) -> Result<(), String> {
        let (got, want) = (listed.state_at(at), truth.state_at(at));
        let id = |s: &BucketState, k: &str| s.get(k).map(|v| v.version_id.to_string());
        for h in truth.keys() {
            let k = h.key.as_str();
            if got.ambiguous.iter().any(|a| a == k)
                || (split && histories::unseeable_when_split(truth, k))
            {
                continue;
            }
            if id(&got, k) != id(&want, k) {
                return Err(format!(
                    "{k:?} at {at}: listed {:?}, true {:?}",
                    id(&got, k),
                    id(&want, k)
                ));
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(crate::proptest_config(256))]

        /// Every server habit we know of, in memory: whatever the page layout, stamp
        /// resolution, marker habits (raw markers, a server that compares its encoded
        /// keys with them, `null` version markers that skip or repeat), page size and
        /// number of streams, a listing either fails or gives every entry once and the
        /// true state at T of every key it does not flag as ambiguous.
        #[test]
        fn every_server_habit_lists_exactly_or_flags(
            steps in histories::steps(5, 40),
            personality in 0..Personality::COMBINATIONS,
            page in 1i32..9,
            parallel in any::<bool>(),
            t in histories::t_pick(),
        ) {
            let p = Personality::nth(personality);
            let h = histories::play(&steps, "v");
            let truth = histories::shown_truth(&h.sim, p);
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .start_paused(true)
                .build()
                .unwrap();
            let listed = rt.block_on(async {
                let (_store, b) = store_of(&h, p);
                let streams = if parallel {
                    Streams::new(3, Split::Folders)
                } else {
                    Streams::ONE
                };
                list_bucket(&b, &quiet(), "", page, streams).await
            });
            // Every habit here has a remedy: the listing must not fail.
            let listed = listed.map_err(|e| TestCaseError::fail(e.message))?;
            prop_assert_eq!(listed.len(), truth.len(), "every entry once");
            let split = p.layout != PageLayout::Interleaved;
            for at in [histories::pick_t(&h, &t), h.last] {
                agrees(&listed, &truth, at, split).map_err(TestCaseError::fail)?;
            }
        }
    }

    /// The repro: PUT, DELETE, PUT, [T], DELETE of one file on a markers-first
    /// server with whole-second stamps. The file was live at T; the listing says so (and,
    /// as no page proves the layout, flags the key), at every page size.
    #[tokio::test(start_paused = true)]
    async fn one_file_on_a_markers_first_server() {
        let h = histories::play(
            &[
                Step::Put(0, 1, 3),
                Step::Tick(1000),
                Step::Delete(0),
                Step::Tick(1000),
                Step::Put(0, 2, 3),
                Step::Tick(2000),
                Step::Delete(0),
            ],
            "v",
        );
        let p = Personality {
            layout: PageLayout::MarkersFirst,
            whole_seconds: true,
            ..Personality::default()
        };
        let t = h.writes[2] + chrono::TimeDelta::seconds(1);
        for page in [1, 2, 3, 7, 1000] {
            let (_s, b) = store_of(&h, p);
            let listed = list_bucket(&b, &quiet(), "", page, Streams::ONE)
                .await
                .unwrap();
            let state = listed.state_at(t);
            assert!(
                state.get("a").is_some(),
                "page {page}: the file was live at T"
            );
        }
    }

    /// A server that sends raw key markers and compares its encoded keys with them skips
    /// keys (after `k%a`: `k+b`, `k+c`; after `kz`: `é`); the pager asks for every page
    /// that continues from a marker raw, so the listing is whole. (The habit itself: the
    /// second half.)
    #[tokio::test(start_paused = true)]
    async fn raw_markers_on_an_encoded_comparison_do_not_skip() {
        let mut steps = Vec::new();
        for k in 0..histories::KEYS.len() {
            steps.push(Step::Put(k, 1, 2));
            steps.push(Step::Put(k, 2, 2));
        }
        let h = histories::play(&steps, "v");
        let p = Personality {
            raw_next_key_marker: true,
            marker_compares_encoded: true,
            ..Personality::default()
        };
        let truth = histories::shown_truth(&h.sim, p);
        for page in 1..8 {
            let (_s, b) = store_of(&h, p);
            let listed = list_bucket(&b, &quiet(), "", page, Streams::ONE)
                .await
                .unwrap();
            assert_eq!(listed, truth, "page {page}");
        }
        // The habit itself: asked with the raw marker and encoding on, the server skips.
        let (_s, b) = store_of(&h, p);
        let raw = b
            .list_page(&ListRequest {
                key_marker: Some("k%a"),
                version_id_marker: None,
                ..ListRequest::new("", 1000)
            })
            .await
            .unwrap();
        assert!(
            !raw.document.iter().any(|e| e.key == "k+b"),
            "the habit skips k+b after a raw k%a marker"
        );
    }

    /// A raw page that XML cannot carry (a key with a control character) is asked for
    /// again URL-encoded, and the listing is whole on a well-behaved server; on a server
    /// that has shown raw markers it is refused.
    #[tokio::test(start_paused = true)]
    async fn an_unreadable_raw_page_is_asked_for_encoded() {
        let h = written(&["a", "b\u{1}c", "k a", "z"]);
        let (store, b) = store_of(&h, Personality::default());
        let listed = list_bucket(&b, &quiet(), "", 1, Streams::ONE)
            .await
            .unwrap();
        assert_eq!(listed.keys().len(), 4);
        assert!(listed.get("b\u{1}c").is_some());
        store.set_personality(Personality {
            raw_next_key_marker: true,
            ..Personality::default()
        });
        // Page size 2: the first page ends on "b\u{1}c"... encoded and raw, so the server
        // shows its raw markers; the next raw page is readable. Page size 3 with the
        // control key on the second page: refused once raw markers were seen.
        let h = written(&["k a", "m", "n\u{1}", "z"]);
        let (_s, b) = store_of(
            &h,
            Personality {
                raw_next_key_marker: true,
                ..Personality::default()
            },
        );
        let err = list_bucket(&b, &quiet(), "", 1, Streams::ONE)
            .await
            .unwrap_err();
        assert!(
            err.message.contains("raw paging markers"),
            "{}",
            err.message
        );
    }
}
