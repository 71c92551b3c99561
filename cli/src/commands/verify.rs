//! `verify`: check that the current state equals the state at TIME.
//!
//! One listing gives both states (the same engine calls as a restore:
//! [`Timeline::current`](s3rewind_engine::Timeline::current) and
//! [`Timeline::state_at`](s3rewind_engine::Timeline::state_at)), and the two are compared
//! key by key:
//!
//! - a key whose current version **is** the version it had at TIME matches (versions are
//!   immutable);
//! - otherwise (a restored copy has a new version id) it matches when size and ETag are
//!   equal. An ETag is an MD5 of the content only for single-part, unencrypted or SSE-S3
//!   objects, so `--deep` reads both versions and compares the SHA-256 of their content
//!   instead: equal content with different ETags (multipart, SSE-KMS) then matches, and
//!   equal ETags never hide different bytes.
//!
//! Any difference gives exit 1 and a list of the keys with the reason.

use crate::App;
use crate::args::VerifyArgs;
use crate::commands::restore::{require_versioned, resolve_time, rfc3339};
use crate::error::{CliResult, Exit};
use crate::listing::list_timeline;
use crate::output::human_bytes;
use crate::s3::S3;
use chrono::{DateTime, Utc};
use s3rewind_engine::{BucketState, Location, Version, parse_s3_uri};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::task::JoinSet;

/// Why a key does not match its state at TIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Existed at TIME, absent now.
    Missing,
    /// Absent at TIME, exists now.
    Unexpected,
    /// Sizes differ.
    DifferentSize,
    /// Same size, different ETags (and no `--deep` to compare content).
    DifferentEtag,
    /// `--deep`: the content differs.
    DifferentContent,
    /// `--deep`: a version could not be read, so the key could not be checked.
    Unreadable,
}

impl Reason {
    fn label(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Unexpected => "unexpected",
            Reason::DifferentSize => "size",
            Reason::DifferentEtag => "etag",
            Reason::DifferentContent => "content",
            Reason::Unreadable => "unreadable",
        }
    }
}

/// One version, as the report shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionRef {
    /// The version id.
    pub version_id: String,
    /// Its ETag (quotes stripped).
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
    /// Its `LastModified`.
    pub last_modified: DateTime<Utc>,
    /// SHA-256 of its content (hex), when `--deep` read it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

impl From<&Version> for VersionRef {
    fn from(v: &Version) -> Self {
        VersionRef {
            version_id: v.version_id.clone(),
            etag: v.etag.clone(),
            size: v.size,
            last_modified: v.last_modified,
            sha256: None,
        }
    }
}

/// A key that differs from its state at TIME.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Difference {
    /// The key.
    pub key: String,
    /// Why.
    pub reason: Reason,
    /// One line for humans.
    pub detail: String,
    /// The version the key had at TIME (`None`: absent then).
    pub expected: Option<VersionRef>,
    /// The key's current version (`None`: absent now).
    pub current: Option<VersionRef>,
}

/// How the keys that match were found to match.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matched {
    /// The current version is the version at TIME.
    pub same_version: u64,
    /// Another version with the same size and ETag (default check).
    pub same_size_and_etag: u64,
    /// Another version with the same content (`--deep`).
    pub same_content: u64,
}

impl Matched {
    fn total(&self) -> u64 {
        self.same_version + self.same_size_and_etag + self.same_content
    }
}

/// The result of `verify` (`--output json` prints it).
#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    /// The bucket and prefix checked.
    pub source: Location,
    /// The instant whose state the current state was compared with.
    pub at: DateTime<Utc>,
    /// True with `--deep`.
    pub deep: bool,
    /// True when no key differs.
    pub ok: bool,
    /// Keys that existed at TIME.
    pub keys_at_target: u64,
    /// Keys that exist now.
    pub keys_now: u64,
    /// Keys that match, by how.
    pub matched: Matched,
    /// `--deep`: versions read.
    pub objects_read: u64,
    /// `--deep`: bytes read.
    pub bytes_read: u64,
    /// The keys that differ, sorted by key.
    pub differences: Vec<Difference>,
    /// Keys whose state at TIME is not known for sure (a `null` version was rewritten
    /// after TIME); the comparison used the best surviving answer.
    pub uncertain: Vec<String>,
    /// Keys whose state at TIME depends on a same-second version/delete-marker tie.
    pub ambiguous: Vec<String>,
}

/// A pair of versions of one key that `--deep` must read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DeepPair {
    key: String,
    expected: Version,
    current: Version,
}

fn describe(v: &Version) -> String {
    format!(
        "version {}, {}, ETag {}",
        v.version_id,
        human_bytes(v.size),
        if v.etag.is_empty() { "-" } else { &v.etag }
    )
}

/// Compare the current state with the state at TIME. With `deep`, pairs of different
/// versions of equal size are not decided here but returned for reading.
fn compare(
    source: &Location,
    at: DateTime<Utc>,
    current: &BucketState,
    target: &BucketState,
    deep: bool,
) -> (VerifyReport, Vec<DeepPair>) {
    let under = |k: &str| k.starts_with(&source.prefix);
    let mut report = VerifyReport {
        source: source.clone(),
        at,
        deep,
        ok: true,
        keys_at_target: 0,
        keys_now: 0,
        matched: Matched::default(),
        objects_read: 0,
        bytes_read: 0,
        differences: Vec::new(),
        uncertain: target
            .uncertain
            .iter()
            .filter(|u| under(&u.key))
            .map(|u| u.key.clone())
            .collect(),
        ambiguous: target
            .ambiguous
            .iter()
            .filter(|k| under(k))
            .cloned()
            .collect(),
    };
    let mut pairs = Vec::new();
    let mut tgt = target.objects.iter().filter(|e| under(&e.key)).peekable();
    let mut cur = current.objects.iter().filter(|e| under(&e.key)).peekable();
    loop {
        let (t, c) = match (tgt.peek(), cur.peek()) {
            (None, None) => break,
            (Some(t), Some(c)) if t.key == c.key => (tgt.next(), cur.next()),
            (Some(t), Some(c)) if t.key < c.key => (tgt.next(), None),
            (Some(_), None) => (tgt.next(), None),
            _ => (None, cur.next()),
        };
        if t.is_some() {
            report.keys_at_target += 1;
        }
        if c.is_some() {
            report.keys_now += 1;
        }
        let diff = |reason, detail: String, t: Option<&Version>, c: Option<&Version>| {
            (
                reason,
                detail,
                t.map(VersionRef::from),
                c.map(VersionRef::from),
            )
        };
        let found = match (t, c) {
            (Some(t), None) => Some((
                t.key.clone(),
                diff(
                    Reason::Missing,
                    format!(
                        "existed at {} ({}), absent now",
                        rfc3339(at),
                        describe(&t.version)
                    ),
                    Some(&t.version),
                    None,
                ),
            )),
            (None, Some(c)) => Some((
                c.key.clone(),
                diff(
                    Reason::Unexpected,
                    format!(
                        "absent at {}, exists now ({})",
                        rfc3339(at),
                        describe(&c.version)
                    ),
                    None,
                    Some(&c.version),
                ),
            )),
            (Some(t), Some(c)) => {
                let (tv, cv) = (&t.version, &c.version);
                if tv.version_id == cv.version_id {
                    report.matched.same_version += 1;
                    None
                } else if tv.size != cv.size {
                    Some((
                        t.key.clone(),
                        diff(
                            Reason::DifferentSize,
                            format!("size {} now, {} at {}", cv.size, tv.size, rfc3339(at)),
                            Some(tv),
                            Some(cv),
                        ),
                    ))
                } else if deep {
                    pairs.push(DeepPair {
                        key: t.key.clone(),
                        expected: tv.clone(),
                        current: cv.clone(),
                    });
                    None
                } else if !tv.etag.is_empty() && tv.etag == cv.etag {
                    report.matched.same_size_and_etag += 1;
                    None
                } else {
                    Some((
                        t.key.clone(),
                        diff(
                            Reason::DifferentEtag,
                            format!(
                                "same size but ETag {} now, {} at {} (ETags of multipart or SSE-KMS objects differ for equal content: --deep compares the content)",
                                if cv.etag.is_empty() { "-" } else { &cv.etag },
                                if tv.etag.is_empty() { "-" } else { &tv.etag },
                                rfc3339(at)
                            ),
                            Some(tv),
                            Some(cv),
                        ),
                    ))
                }
            }
            (None, None) => unreachable!("one side is always taken"),
        };
        if let Some((key, (reason, detail, expected, current))) = found {
            report.differences.push(Difference {
                key,
                reason,
                detail,
                expected,
                current,
            });
        }
    }
    (report, pairs)
}

/// An `AsyncWrite` that hashes what is written to it and keeps nothing.
struct HashWriter(Sha256);

impl tokio::io::AsyncWrite for HashWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.0.update(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 (hex) and length of one version's content, streamed.
async fn sha256_of(
    s3: &S3,
    bucket: &str,
    key: &str,
    version_id: &str,
) -> Result<(String, u64), String> {
    let mut w = HashWriter(Sha256::new());
    let n = s3
        .download(bucket, key, version_id, &mut w)
        .await
        .map_err(|e| e.to_string())?;
    Ok((hex(&w.0.finalize()), n))
}

/// What reading one pair gave.
struct DeepResult {
    pair: DeepPair,
    expected: Result<(String, u64), String>,
    current: Result<(String, u64), String>,
}

/// Read every pair, at most `concurrency` GETs in flight, and decide each.
async fn deep_check(
    app: &App,
    bucket: &str,
    at: DateTime<Utc>,
    pairs: Vec<DeepPair>,
    concurrency: usize,
    report: &mut VerifyReport,
) {
    let bar = app.printer.bar(pairs.len() as u64, "reading");
    let mut queue: VecDeque<DeepPair> = pairs.into();
    let mut tasks = JoinSet::new();
    loop {
        // One task per pair, reading its two versions one after the other: at most
        // `concurrency` GETs in flight.
        while tasks.len() < concurrency.max(1) {
            let Some(pair) = queue.pop_front() else { break };
            let s3 = app.s3.clone();
            let bucket = bucket.to_owned();
            tasks.spawn(async move {
                let expected = sha256_of(&s3, &bucket, &pair.key, &pair.expected.version_id).await;
                let current = sha256_of(&s3, &bucket, &pair.key, &pair.current.version_id).await;
                DeepResult {
                    pair,
                    expected,
                    current,
                }
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        bar.inc(1);
        let r = match joined {
            Ok(r) => r,
            Err(e) => {
                report.differences.push(Difference {
                    key: String::new(),
                    reason: Reason::Unreadable,
                    detail: format!("internal error: {e}"),
                    expected: None,
                    current: None,
                });
                continue;
            }
        };
        for (_, len) in [&r.expected, &r.current].into_iter().flatten() {
            report.objects_read += 1;
            report.bytes_read += len;
        }
        let mut expected = VersionRef::from(&r.pair.expected);
        let mut current = VersionRef::from(&r.pair.current);
        let (reason, detail) = match (r.expected, r.current) {
            (Ok((a, _)), Ok((b, _))) if a == b => {
                report.matched.same_content += 1;
                continue;
            }
            (Ok((a, _)), Ok((b, _))) => {
                let detail = format!(
                    "same size but different content: SHA-256 {} now, {} at {}",
                    &b[..16],
                    &a[..16],
                    rfc3339(at)
                );
                expected.sha256 = Some(a);
                current.sha256 = Some(b);
                (Reason::DifferentContent, detail)
            }
            (Err(e), _) => (
                Reason::Unreadable,
                format!(
                    "cannot read version {} (at {}): {e}",
                    expected.version_id,
                    rfc3339(at)
                ),
            ),
            (_, Err(e)) => (
                Reason::Unreadable,
                format!("cannot read current version {}: {e}", current.version_id),
            ),
        };
        report.differences.push(Difference {
            key: r.pair.key,
            reason,
            detail,
            expected: Some(expected),
            current: Some(current),
        });
    }
    bar.finish_and_clear();
}

/// `s3rewind verify`.
pub async fn verify_cmd(app: &App, args: &VerifyArgs) -> CliResult<Exit> {
    let printer = &app.printer;
    let source = parse_s3_uri(&args.source)?;
    let (at, note) = resolve_time(&args.at)?;
    require_versioned(&app.s3, &source.bucket).await?;
    if let Some(note) = note {
        printer.info(note);
    }
    let started = Instant::now();
    let timeline = list_timeline(
        &app.s3,
        printer,
        &source.bucket,
        &source.prefix,
        args.listing.page_size,
        args.listing.list_concurrency as usize,
    )
    .await?;
    let (mut report, pairs) = compare(
        &source,
        at,
        &timeline.current(),
        &timeline.state_at(at),
        args.deep,
    );
    if !pairs.is_empty() {
        deep_check(
            app,
            &source.bucket,
            at,
            pairs,
            args.concurrency as usize,
            &mut report,
        )
        .await;
    }
    report.differences.sort_by(|a, b| a.key.cmp(&b.key));
    report.ok = report.differences.is_empty();
    tracing::debug!(seconds = started.elapsed().as_secs_f64(), "verified");
    print_report(app, &report);
    printer.json_value(&report);
    Ok(if report.ok { Exit::Ok } else { Exit::Partial })
}

fn print_report(app: &App, r: &VerifyReport) {
    let printer = &app.printer;
    for (what, keys) in [
        (
            "a `null` version was rewritten after TIME, so the state at TIME is not known for sure; compared with the newest surviving version",
            &r.uncertain,
        ),
        (
            "the state at TIME depends on a version and a delete marker in the same second; the tie rule decided",
            &r.ambiguous,
        ),
    ] {
        if !keys.is_empty() {
            let shown: Vec<String> = keys.iter().take(5).map(|k| format!("{k:?}")).collect();
            printer.warn(format!(
                "{} key(s): {what}: {}{}",
                keys.len(),
                shown.join(", "),
                if keys.len() > 5 { ", …" } else { "" }
            ));
        }
    }
    let m = &r.matched;
    let how = {
        let mut parts = vec![format!("{} same version", m.same_version)];
        if m.same_size_and_etag > 0 {
            parts.push(format!("{} same size and ETag", m.same_size_and_etag));
        }
        if r.deep {
            parts.push(format!(
                "{} same content ({} objects read, {})",
                m.same_content,
                r.objects_read,
                human_bytes(r.bytes_read)
            ));
        }
        parts.join(", ")
    };
    if r.ok {
        printer.line(format!(
            "OK: {} matches its state at {}: {} keys ({how})",
            r.source,
            rfc3339(r.at),
            r.keys_at_target
        ));
        return;
    }
    printer.line(format!(
        "DIFFERENT: {} does not match its state at {}: {} key(s) differ ({} keys then, {} now; {} match: {how})",
        r.source,
        rfc3339(r.at),
        r.differences.len(),
        r.keys_at_target,
        r.keys_now,
        m.total()
    ));
    let shown = if app.verbose {
        r.differences.len()
    } else {
        r.differences.len().min(50)
    };
    for d in &r.differences[..shown] {
        printer.line(format!(
            "  {:<10} {:?}: {}",
            d.reason.label(),
            d.key,
            d.detail
        ));
    }
    if shown < r.differences.len() {
        printer.line(format!(
            "  … and {} more (-v for all, --output json for the full report)",
            r.differences.len() - shown
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use s3rewind_engine::StateEntry;

    fn v(id: &str, etag: &str, size: u64) -> Version {
        Version {
            version_id: id.into(),
            last_modified: Utc.timestamp_opt(1_700_000_000, 0).unwrap(),
            delete_marker: false,
            etag: etag.into(),
            size,
            storage_class: None,
            owner_id: None,
            is_latest: false,
        }
    }

    fn state(entries: &[(&str, Version)]) -> BucketState {
        BucketState {
            objects: entries
                .iter()
                .map(|(k, v)| StateEntry {
                    key: (*k).into(),
                    version: v.clone(),
                })
                .collect(),
            ..BucketState::default()
        }
    }

    fn loc(prefix: &str) -> Location {
        Location {
            bucket: "b".into(),
            prefix: prefix.into(),
        }
    }

    #[test]
    fn every_kind_of_difference_is_named() {
        let at = Utc::now();
        let target = state(&[
            ("copy", v("v1", "e1", 3)),
            ("etag", v("v2", "e2", 3)),
            ("gone", v("v3", "e3", 3)),
            ("same", v("v4", "e4", 3)),
            ("size", v("v5", "e5", 3)),
        ]);
        let current = state(&[
            ("copy", v("c1", "e1", 3)),
            ("etag", v("c2", "zz", 3)),
            ("new", v("c3", "e3", 3)),
            ("same", v("v4", "e4", 3)),
            ("size", v("c5", "e5", 4)),
        ]);
        let (r, pairs) = compare(&loc(""), at, &current, &target, false);
        assert!(pairs.is_empty());
        let got: Vec<(&str, Reason)> = r
            .differences
            .iter()
            .map(|d| (d.key.as_str(), d.reason))
            .collect();
        assert_eq!(
            got,
            [
                ("etag", Reason::DifferentEtag),
                ("gone", Reason::Missing),
                ("new", Reason::Unexpected),
                ("size", Reason::DifferentSize),
            ]
        );
        assert_eq!(r.matched.same_version, 1);
        assert_eq!(r.matched.same_size_and_etag, 1);
        assert_eq!((r.keys_at_target, r.keys_now), (5, 5));

        // --deep: equal-size pairs of different versions are read instead.
        let (r, pairs) = compare(&loc(""), at, &current, &target, true);
        let keys: Vec<&str> = pairs.iter().map(|p| p.key.as_str()).collect();
        assert_eq!(keys, ["copy", "etag"]);
        assert_eq!(r.differences.len(), 3);
    }

    #[test]
    fn only_keys_under_the_prefix_count() {
        let target = state(&[("a/1", v("v1", "e", 1)), ("b/1", v("v2", "e", 1))]);
        let current = state(&[("a/1", v("v1", "e", 1))]);
        let (r, _) = compare(&loc("a/"), Utc::now(), &current, &target, false);
        assert!(r.differences.is_empty());
        assert_eq!(r.keys_at_target, 1);
    }

    #[tokio::test]
    async fn hash_writer_hashes_what_it_is_given() {
        use tokio::io::AsyncWriteExt;
        let mut w = HashWriter(Sha256::new());
        w.write_all(b"ab").await.unwrap();
        w.write_all(b"c").await.unwrap();
        assert_eq!(
            hex(&w.0.finalize()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
