//! What a restore will cost before it runs: requests by operation, their price, and the
//! expected time at a concurrency — from the plan's statistics, a price table and
//! per-request latencies. Pure arithmetic; the CLI prints it (`plan`, the plan JSON, the
//! confirmation of a large restore) and enforces caps while acting.
//!
//! # How requests are counted
//!
//! - **Listing**: ListObjectVersions, one call per 1,000 versions and delete markers of
//!   the source range (and of the destination range, for another bucket); ListObjectsV2
//!   for the cross-check, one call per 1,000 current keys of each range listed.
//! - **Writes**: one CopyObject per copy (a copy above the multipart threshold is
//!   CreateMultipartUpload, one UploadPartCopy per part and CompleteMultipartUpload), one
//!   DeleteObject per delete marker.
//! - **Drift check**: the destination range listed again right before the writes (one
//!   call per 1,000 entries), or a HEAD per action when that is fewer requests.
//! - **Verification**: one more listing of the destination range and a ListObjectsV2
//!   pass; `--deep` adds two GETs per key at T (the source version's first bytes and the
//!   copy's).
//!
//! # Prices and time
//!
//! [`PriceTable::for_region`] holds S3 Standard request prices per 1,000 requests for
//! the main regions (as AWS publishes them; USD; a file overrides them). Time: each
//! class of request has a typical latency; `concurrency` requests are in flight at
//! once, and S3's per-prefix request rates (3,500 writes and 5,500 reads per second per
//! partitioned prefix) cap the rate.

use serde::{Deserialize, Serialize};

use crate::plan_stats::PlanStats;

/// What the plan's execution will send, by operation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requests {
    /// ListObjectVersions calls.
    pub list_versions: u64,
    /// ListObjectsV2 calls (the cross-checks).
    pub list_objects: u64,
    /// CopyObject calls (and multipart copy requests).
    pub copy: u64,
    /// DeleteObject calls (delete markers).
    pub delete: u64,
    /// HeadObject calls.
    pub head: u64,
    /// GetObject calls (`--deep` verification).
    pub get: u64,
}

impl Requests {
    /// All requests.
    pub fn total(&self) -> u64 {
        self.list_versions + self.list_objects + self.copy + self.delete + self.head + self.get
    }

    /// Requests S3 prices as PUT, COPY, POST, LIST.
    pub fn class_a(&self) -> u64 {
        self.list_versions + self.list_objects + self.copy
    }

    /// Requests S3 prices as GET and all others (DELETE is free).
    pub fn class_b(&self) -> u64 {
        self.head + self.get
    }
}

/// What the estimate is made for.
#[derive(Debug, Clone, PartialEq)]
pub struct EstimateInput {
    /// The plan's statistics.
    pub stats: PlanStats,
    /// Versions and delete markers of the source range listed.
    pub source_entries: u64,
    /// Current keys of the source range (what the cross-check lists).
    pub source_keys: u64,
    /// Versions and delete markers of the destination range, when it is another bucket.
    pub dest_entries: Option<u64>,
    /// Copies above this size are multipart copies.
    pub multipart_threshold: u64,
    /// Their part size.
    pub part_size: u64,
    /// The restore verifies at the end.
    pub verify: bool,
    /// `--deep` verification.
    pub deep: bool,
}

/// Requests, cost and time of a plan's execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Requests by operation.
    pub requests: Requests,
    /// Their price in USD.
    pub cost_usd: f64,
    /// Expected wall-clock seconds at the concurrency given.
    pub seconds: f64,
    /// The concurrency the time is for.
    pub concurrency: u32,
    /// The region whose prices were used.
    pub region: String,
}

/// S3 Standard request prices, USD per 1,000 requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PriceTable {
    /// PUT, COPY, POST, LIST.
    pub class_a_per_1000: f64,
    /// GET, SELECT and all other requests (HEAD).
    pub class_b_per_1000: f64,
}

/// Published S3 Standard request prices (USD per 1,000 requests) of the main regions.
pub const PRICES: &[(&str, f64, f64)] = &[
    ("us-east-1", 0.005, 0.0004),
    ("us-east-2", 0.005, 0.0004),
    ("us-west-1", 0.0055, 0.00044),
    ("us-west-2", 0.005, 0.0004),
    ("ca-central-1", 0.0055, 0.00044),
    ("eu-west-1", 0.005, 0.0004),
    ("eu-west-2", 0.0053, 0.00042),
    ("eu-central-1", 0.0054, 0.00043),
    ("eu-north-1", 0.005, 0.0004),
    ("ap-northeast-1", 0.0047, 0.00037),
    ("ap-southeast-1", 0.005, 0.0004),
    ("ap-southeast-2", 0.0055, 0.00044),
    ("ap-south-1", 0.005, 0.0004),
    ("sa-east-1", 0.007, 0.00056),
];

impl PriceTable {
    /// The table of `region` (us-east-1's for a region not in [`PRICES`]), and the
    /// region whose prices it is.
    pub fn for_region(region: &str) -> (PriceTable, &'static str) {
        let row = PRICES
            .iter()
            .find(|(r, _, _)| *r == region)
            .unwrap_or(&PRICES[0]);
        (
            PriceTable {
                class_a_per_1000: row.1,
                class_b_per_1000: row.2,
            },
            row.0,
        )
    }

    /// The price of `requests`.
    pub fn cost(&self, requests: &Requests) -> f64 {
        requests.class_a() as f64 / 1000.0 * self.class_a_per_1000
            + requests.class_b() as f64 / 1000.0 * self.class_b_per_1000
    }
}

/// Typical latencies (seconds per request) and S3's per-prefix rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    /// A listing call (1,000 entries).
    pub list_seconds: f64,
    /// A CopyObject of a small object (larger ones take longer in proportion).
    pub copy_seconds: f64,
    /// Bytes per second one copy moves server-side.
    pub copy_bytes_per_second: f64,
    /// A DeleteObject, HEAD or small GET.
    pub small_seconds: f64,
    /// Writes per second per prefix S3 sustains.
    pub writes_per_second: f64,
    /// Reads per second per prefix S3 sustains.
    pub reads_per_second: f64,
}

impl Default for Rates {
    /// Measured against S3 in one region from EC2 (order of magnitude; a file
    /// overrides them): 250 ms a listing page, 60 ms a small copy, 100 MB/s per copy,
    /// 25 ms a delete or HEAD; 3,500 writes and 5,500 reads per second per prefix.
    fn default() -> Self {
        Rates {
            list_seconds: 0.25,
            copy_seconds: 0.06,
            copy_bytes_per_second: 100e6,
            small_seconds: 0.025,
            writes_per_second: 3500.0,
            reads_per_second: 5500.0,
        }
    }
}

/// Estimate what executing a plan costs.
pub fn estimate(
    input: &EstimateInput,
    prices: (PriceTable, &'static str),
    rates: &Rates,
    concurrency: u32,
) -> Estimate {
    let s = &input.stats;
    let pages = |n: u64| n.div_ceil(1000).max(1);
    let mut r = Requests {
        list_versions: pages(input.source_entries),
        list_objects: pages(input.source_keys),
        ..Requests::default()
    };
    if let Some(d) = input.dest_entries {
        r.list_versions += pages(d);
        r.list_objects += pages(s.keys_now);
    }
    // Copies: all single requests unless above the threshold; without the sizes of each,
    // the bytes above the threshold are counted as multipart at the part size.
    let multipart_bytes = if s.bytes_to_copy > input.multipart_threshold.max(1) && s.copies > 0 {
        s.bytes_to_copy
            .saturating_sub(input.multipart_threshold.saturating_mul(s.copies))
    } else {
        0
    };
    let parts = multipart_bytes.div_ceil(input.part_size.max(1));
    r.copy = s.copies + parts + if parts > 0 { 2 } else { 0 };
    r.delete = s.delete_markers;
    // The drift check: a listing of the destination range, or a HEAD per action,
    // whichever is fewer.
    let actions = s.copies + s.delete_markers;
    let drift_listing = pages(s.entries_now());
    if actions > 0 {
        if drift_listing <= actions {
            r.list_versions += drift_listing;
        } else {
            r.head += actions;
        }
    }
    if input.verify && actions > 0 {
        r.list_versions += pages(s.entries_now() + actions);
        r.list_objects += pages(s.keys_at_target);
        if input.deep {
            r.get += 2 * s.keys_at_target;
        }
    }
    let (table, region) = prices;
    let cost = table.cost(&r);
    let c = f64::from(concurrency.max(1));
    // Each class's time at `concurrency` in flight, never faster than the prefix limit.
    let at = |n: u64, latency: f64, limit: f64| {
        let n = n as f64;
        (n * latency / c).max(n / limit)
    };
    let copy_latency = rates.copy_seconds
        + if s.copies > 0 {
            s.bytes_to_copy as f64 / s.copies as f64 / rates.copy_bytes_per_second
        } else {
            0.0
        };
    // Listings run on their own streams (up to 8) beside the writes; the writes dominate.
    let listing = (r.list_versions + r.list_objects) as f64 * rates.list_seconds / 8.0;
    let seconds = listing
        + at(r.copy, copy_latency, rates.writes_per_second)
        + at(r.delete, rates.small_seconds, rates.writes_per_second)
        + at(r.head + r.get, rates.small_seconds, rates.reads_per_second);
    Estimate {
        requests: r,
        cost_usd: cost,
        seconds,
        concurrency,
        region: region.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(copies: u64, markers: u64, bytes: u64) -> EstimateInput {
        EstimateInput {
            stats: PlanStats {
                keys_at_target: 40_000_000,
                copies,
                delete_markers: markers,
                bytes_to_copy: bytes,
                keys_now: 40_000_000,
                versions_now: 120_000_000,
                ..PlanStats::default()
            },
            source_entries: 120_000_000,
            source_keys: 40_000_000,
            dest_entries: None,
            multipart_threshold: 5 << 30,
            part_size: 256 << 20,
            verify: true,
            deep: false,
        }
    }

    #[test]
    fn forty_million_keys_cost_what_the_price_table_says() {
        let e = estimate(
            &input(40_000_000, 0, 40_000_000 * 100_000),
            PriceTable::for_region("us-east-1"),
            &Rates::default(),
            64,
        );
        // Listing: 120k pages, cross-check 40k, drift listing 120k, verification 160k +
        // 40k; copies 40M.
        assert_eq!(e.requests.list_versions, 120_000 + 120_000 + 160_000);
        assert_eq!(e.requests.list_objects, 40_000 + 40_000);
        assert_eq!(e.requests.copy, 40_000_000);
        assert_eq!(e.requests.head, 0);
        let want = (40_000_000.0 + 480_000.0) / 1000.0 * 0.005;
        assert!((e.cost_usd - want).abs() < 1e-6, "{}", e.cost_usd);
        // 40M copies at 64 in flight, ~61 ms each: 10.6 hours; 480k listing calls of
        // 250 ms on 8 streams: 4.2 hours.
        assert!(
            (e.seconds / 3600.0 - 14.8).abs() < 0.2,
            "{} h",
            e.seconds / 3600.0
        );
        assert_eq!(e.region, "us-east-1");
    }

    #[test]
    fn deep_verification_adds_two_gets_per_key_and_sparse_plans_read_by_head() {
        let mut i = input(10, 5, 1000);
        i.deep = true;
        let e = estimate(
            &i,
            PriceTable::for_region("eu-central-1"),
            &Rates::default(),
            8,
        );
        assert_eq!(e.requests.get, 80_000_000);
        assert_eq!(
            e.requests.head, 15,
            "15 actions: a HEAD each beats listing 120M entries"
        );
        assert_eq!(e.region, "eu-central-1");
        // An unknown region takes us-east-1's prices and says so.
        assert_eq!(PriceTable::for_region("xx-nowhere-9").1, "us-east-1");
    }

    #[test]
    fn the_prefix_limit_caps_the_rate() {
        let e = estimate(
            &input(3_500_000, 0, 0),
            PriceTable::for_region("us-east-1"),
            &Rates::default(),
            100_000,
        );
        assert!(
            e.seconds >= 1000.0,
            "3.5M writes at 3,500/s: {} s",
            e.seconds
        );
    }

    #[test]
    fn big_copies_are_multipart() {
        let mut i = input(2, 0, 2 * (6 << 30));
        i.stats.keys_at_target = 2;
        i.stats.versions_now = 2;
        let e = estimate(
            &i,
            PriceTable::for_region("us-east-1"),
            &Rates::default(),
            4,
        );
        // 2 copies, 2 GiB above the threshold in 256 MiB parts (8), create + complete.
        assert_eq!(e.requests.copy, 2 + 8 + 2);
    }
}
