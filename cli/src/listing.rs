//! Reading a bucket's history: the ListObjectVersions paging loop.
//!
//! The SDK has no paginator for ListObjectVersions (it needs two tokens), so the loop is
//! written here: resend with `key-marker = NextKeyMarker` and
//! `version-id-marker = NextVersionIdMarker` until a page is not truncated. It accepts
//! pages that hold only delete markers and an empty `NextVersionIdMarker`, and treats a
//! truncated page without a key marker, or markers that do not advance, as an error
//! (never a loop). Keys are never resolved within a page: pages go into the engine's
//! [`TimelineBuilder`], which keeps a key open across page boundaries.

use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
use crate::s3::S3;
use s3rewind_engine::{Timeline, TimelineBuilder};

/// List every version and delete marker under `prefix` into a timeline.
pub async fn list_timeline(
    s3: &S3,
    printer: &Printer,
    bucket: &str,
    prefix: &str,
    page_size: i32,
) -> CliResult<Timeline> {
    let spinner = printer.spinner(&format!("listing s3://{bucket}/{prefix}: entries"));
    let mut builder = TimelineBuilder::new();
    let mut markers: (Option<String>, Option<String>) = (None, None);
    let mut pages = 0u64;
    loop {
        let raw = s3
            .list_page(
                bucket,
                prefix,
                markers.0.as_deref(),
                markers.1.as_deref(),
                page_size,
            )
            .await
            .map_err(|e| from_s3(e, bucket))?;
        pages += 1;
        spinner.inc(raw.page.len() as u64);
        builder.push_page(raw.page)?;
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
    spinner.finish_and_clear();
    tracing::debug!(bucket, prefix, pages, entries = builder.len(), "listed");
    Ok(builder.finish())
}
