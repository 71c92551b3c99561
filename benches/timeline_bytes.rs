//! Bytes per version a timeline holds, and how fast one is built from listing pages.
//!
//! ```text
//! cargo run --release -p s3rewind-benches --bin timeline-bytes -- [KEYS] [VERSIONS_PER_KEY]
//! ```
//!
//! Builds the timeline of KEYS keys (default 1,000,000) with 1 to 2×VERSIONS_PER_KEY−1
//! entries each (default 3: about 3M entries), shaped like an AWS listing: 32-character
//! version ids of `[A-Za-z0-9._]`, MD5 ETags (one in twenty a multipart `-N` ETag), one of
//! three 64-hex-digit owners, `STANDARD` (one in twenty `STANDARD_IA`), one delete marker
//! in eight, keys like `data/2025/11/17/part-000123-of-4096.parquet`. Pages of 1,000 go
//! through `TimelineBuilder::push_page` (split lists, as the SDK gives them). Prints the
//! process's resident memory before and after, the bytes the timeline holds per version
//! beyond its key bytes, and entries per second. Linux only (reads /proc/self/status).

// A command-line tool: its output is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::DateTime;
use s3rewind_engine::{Entry, ListPage, StorageClass, TimelineBuilder, Version};
use std::time::Instant;

use s3rewind_benches::proc_status as rss;
use s3rewind_benches::{aws_id, mix};

fn key_name(k: u64) -> String {
    format!(
        "data/2025/11/{:02}/part-{:06}-of-4096.parquet",
        k % 28 + 1,
        k / 28
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let keys: u64 = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let per_key: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(3);
    let owners: Vec<String> = (0..3).map(|i| format!("{:064x}", mix(i))).collect();
    // Keys in list (byte) order.
    let mut names: Vec<String> = (0..keys).map(key_name).collect();
    names.sort();
    let key_bytes: u64 = names.iter().map(|k| k.len() as u64).sum();
    let before = rss("VmRSS:");
    let started = Instant::now();
    let mut builder = TimelineBuilder::new();
    let mut page = ListPage::default();
    let mut entries = 0u64;
    for (k, name) in names.iter().enumerate() {
        let h = mix(k as u64);
        let n = 1 + h % (2 * per_key - 1);
        for i in 0..n {
            let hi = mix(h ^ (i + 1));
            let dm = i > 0 && hi.is_multiple_of(8);
            let etag = if dm {
                String::new()
            } else if hi.is_multiple_of(20) {
                format!("{:016x}{:016x}-{}", mix(hi), mix(hi ^ 1), 2 + hi % 50)
            } else {
                format!("{:016x}{:016x}", mix(hi), mix(hi ^ 1))
            };
            let e = Entry {
                key: name.clone(),
                version: Version {
                    version_id: aws_id(hi).into(),
                    last_modified: DateTime::from_timestamp(1_750_000_000 - (i * 3600) as i64, 0)
                        .expect("in range"),
                    delete_marker: dm,
                    etag: etag.into(),
                    size: if dm { 0 } else { hi % 100_000_000 },
                    storage_class: (!dm).then(|| {
                        StorageClass::new(if hi % 20 == 1 {
                            "STANDARD_IA"
                        } else {
                            "STANDARD"
                        })
                    }),
                    owner_id: Some(owners[(hi % 3) as usize].as_str().into()),
                    is_latest: i == 0,
                },
            };
            if dm {
                page.delete_markers.push(e);
            } else {
                page.versions.push(e);
            }
            entries += 1;
            if page.len() == 1000 {
                builder
                    .push_page(std::mem::take(&mut page))
                    .expect("generated in list order");
            }
        }
    }
    builder.push_page(page).expect("generated in list order");
    let timeline = builder.finish();
    let secs = started.elapsed().as_secs_f64();
    let after = rss("VmRSS:");
    let held = after.saturating_sub(before);
    println!(
        "timeline of {keys} keys, {entries} entries (check: {}), built in {secs:.2} s: {:.0} entries/s",
        timeline.len(),
        entries as f64 / secs
    );
    println!(
        "resident memory {:.1} MiB -> {:.1} MiB: {held} bytes held; key bytes {key_bytes}",
        before as f64 / 1048576.0,
        after as f64 / 1048576.0
    );
    println!(
        "per version: {:.1} bytes in all, {:.1} bytes beyond the key bytes (size_of Version = {} bytes)",
        held as f64 / entries as f64,
        held.saturating_sub(key_bytes) as f64 / entries as f64,
        std::mem::size_of::<Version>()
    );
    // Keep the timeline alive until measured.
    assert_eq!(timeline.len() as u64, entries);
}
