//! Events folded per second on one core (issue 26's aim: 20,000/s), from a synthetic
//! feed: N S3 notification messages (one record each, AWS shape with sequencers) over K
//! keys, parsed, checked for duplicates and folded into a watch over an empty index,
//! then the timeline built. Single-threaded.
//!
//! ```sh
//! cargo run --release -p s3rewind-engine --example watch_fold -- 1000000 100000
//! ```

#![allow(clippy::print_stdout)]

use chrono::{TimeDelta, TimeZone, Utc};
use s3rewind_engine::Timeline;
use s3rewind_engine::watch::{Begin, OrderBy, Record, Watch, Window, parse_message};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(200_000);
    let keys: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(20_000);
    let t0 = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let messages: Vec<String> = (0..n)
        .map(|i| {
            let at = t0 + TimeDelta::milliseconds(10_000 + i as i64);
            format!(
                r#"{{"Records":[{{"eventVersion":"2.1","eventSource":"aws:s3","eventTime":"{}","eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"bench"}},"object":{{"key":"dir/key-{:07}","size":1024,"eTag":"{:032x}","versionId":"v{:012}","sequencer":"{:016X}"}}}}}}]}}"#,
                at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                i % keys,
                i,
                i,
                i + 1
            )
        })
        .collect();
    let window = Window { start: t0, end: t0 };
    let mut w = Watch::new(
        Begin::new("bench", "", t0, window, OrderBy::Sequencer),
        Timeline::default(),
    );
    let start = Instant::now();
    let mut folded = 0u64;
    for m in &messages {
        for e in parse_message(m.as_bytes(), "bench").unwrap().events {
            if !w.is_duplicate(&e) {
                w.apply(&Record::Event(e));
                folded += 1;
            }
        }
    }
    let fold = start.elapsed();
    let t = Instant::now();
    let tl = w.timeline();
    let build = t.elapsed();
    println!(
        "{n} messages over {keys} keys: parsed and folded in {:.2} s ({:.0} events/s on one core); timeline of {} entries built in {:.2} s",
        fold.as_secs_f64(),
        folded as f64 / fold.as_secs_f64(),
        tl.len(),
        build.as_secs_f64()
    );
}
