//! Reading a bucket's history: the ListObjectVersions paging loop, in parallel.
//!
//! The SDK has no paginator for ListObjectVersions (it needs two tokens), so the loop is
//! written here: resend with `key-marker = NextKeyMarker` and
//! `version-id-marker = NextVersionIdMarker` until a page is not truncated. It accepts
//! pages that hold only delete markers and an empty `NextVersionIdMarker`, and treats a
//! truncated page without a key marker, or markers that do not advance, as an error
//! (never a loop). Keys are never resolved within a page: pages go into the engine's
//! [`TimelineBuilder`], which keeps a key open across page boundaries.
//!
//! # Parallel listing
//!
//! One listing stream does roughly a thousand entries per round trip. To go faster, the
//! first listing uses the delimiter `/`: it returns every version of the keys directly
//! under the prefix, and the sub-prefixes ("folders") as common prefixes. Each common
//! prefix is then listed on its own stream, up to `concurrency` at once. The parts hold
//! disjoint keys and are merged by key ([`TimelineBuilder::merge_disjoint`]). Prefix
//! listings start without markers, so they do not depend on how a server interprets a
//! key marker that is not a key.

use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
use crate::s3::S3;
use indicatif::ProgressBar;
use s3rewind_engine::{Timeline, TimelineBuilder};

/// Most common prefixes worth one stream each; beyond this the listing stays sequential
/// (the discovery pass alone would cost as much as it saves).
const MAX_PARTS: usize = 10_000;

/// List every version and delete marker under `prefix` into a timeline, with up to
/// `concurrency` listing streams.
pub async fn list_timeline(
    s3: &S3,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    page_size: i32,
    concurrency: usize,
) -> CliResult<Timeline> {
    let spinner = printer.spinner(&format!("listing s3://{bucket}/{prefix}: entries"));
    let builder = if concurrency > 1 {
        list_parallel(s3, &spinner, bucket, prefix, page_size, concurrency).await?
    } else {
        list_part(s3, &spinner, bucket, prefix, None, page_size)
            .await?
            .0
    };
    spinner.finish_and_clear();
    tracing::debug!(bucket, prefix, entries = builder.len(), "listed");
    Ok(builder.finish())
}

async fn list_parallel(
    s3: &S3,
    spinner: &ProgressBar,
    bucket: &str,
    prefix: &str,
    page_size: i32,
    concurrency: usize,
) -> CliResult<TimelineBuilder> {
    let (direct, prefixes) = list_part(s3, spinner, bucket, prefix, Some("/"), page_size).await?;
    if prefixes.is_empty() || prefixes.len() > MAX_PARTS {
        if prefixes.is_empty() {
            return Ok(direct);
        }
        return Ok(list_part(s3, spinner, bucket, prefix, None, page_size)
            .await?
            .0);
    }
    tracing::debug!(
        parts = prefixes.len(),
        "listing common prefixes in parallel"
    );
    let mut parts = vec![direct];
    let mut pending = prefixes.into_iter();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        while tasks.len() < concurrency {
            let Some(p) = pending.next() else { break };
            let (s3, spinner, bucket) = (s3.clone(), spinner.clone(), bucket.to_owned());
            tasks.spawn(async move {
                list_part(&s3, &spinner, &bucket, &p, None, page_size)
                    .await
                    .map(|(b, _)| b)
            });
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        let part = joined.map_err(|e| CliError::failure(format!("internal error: {e}")))??;
        parts.push(part);
    }
    Ok(TimelineBuilder::merge_disjoint(parts)?)
}

/// One listing stream: all pages under `prefix` (with `delimiter`, the common prefixes
/// too).
async fn list_part(
    s3: &S3,
    spinner: &ProgressBar,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    page_size: i32,
) -> CliResult<(TimelineBuilder, Vec<String>)> {
    let mut builder = TimelineBuilder::new();
    let mut prefixes = Vec::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    let mut pages = 0u64;
    loop {
        let raw = s3
            .list_page(
                bucket,
                prefix,
                delimiter,
                (markers.0.as_deref(), markers.1.as_deref()),
                page_size,
            )
            .await
            .map_err(|e| from_s3(e, bucket))?;
        pages += 1;
        spinner.inc(raw.page.len() as u64);
        builder.push_page(raw.page)?;
        prefixes.extend(raw.common_prefixes);
        if !raw.truncated {
            break;
        }
        let next = (raw.next_key_marker, raw.next_version_id_marker);
        if next.0.is_none() {
            return Err(CliError::failure(format!(
                "listing s3://{bucket}/{prefix} is truncated at page {pages} but the server gave no NextKeyMarker; nothing was written"
            )));
        }
        if next == markers {
            return Err(CliError::failure(format!(
                "listing s3://{bucket}/{prefix}: the paging markers did not advance at page {pages} (key marker {:?}); the server's paging is broken; nothing was written",
                next.0.unwrap_or_default()
            )));
        }
        markers = next;
    }
    prefixes.sort();
    prefixes.dedup();
    Ok((builder, prefixes))
}
