//! Peak memory of writing a large plan as JSON (issue 25 §4, "output that streams"):
//! `plan-output N old|new` builds a plan of N copy actions shaped like an AWS restore
//! (43-byte keys, 32-character version ids, MD5 ETags, an expected current version each),
//! notes the memory the plan itself holds, resets the peak mark, then digests and writes
//! it the way `plan --out FILE --output json` does:
//!
//! - `old`: the digest of a clone of the plan serialised to one string, then the pretty
//!   JSON document as one string written to the file (what s3rewind did before 62f3cf7);
//! - `new`: the digest hashed as the plan serialises, the document serialised straight
//!   into a buffered file (what it does now).
//!
//! Prints the plan's bytes per action and the peak above it, whole and per action. Linux
//! (`/proc/self/status`, `/proc/self/clear_refs`). Writes to `/dev/null` by default, or to
//! the path given third.
// A measuring program: its figures go to stdout.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use chrono::{TimeZone, Utc};
use s3rewind_benches::proc_status as status;
use s3rewind_engine::{
    Action, CopyAction, Destination, Expect, Location, PLAN_SCHEMA, RestorePlan, StorageClass,
};
use std::io::Write;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn plan(n: usize) -> RestorePlan {
    let at = Utc.with_ymd_and_hms(2026, 11, 21, 9, 41, 0).unwrap();
    let hex = |i: usize, salt: u64| {
        format!(
            "{:016x}{:016x}",
            s3rewind_engine::hash::fnv1a_from(salt, i.to_le_bytes()),
            s3rewind_engine::hash::fnv1a_from(salt + 1, i.to_le_bytes())
        )
    };
    let actions = (0..n)
        .map(|i| {
            let key = format!("data/2026/11/{:02}/object-{i:020}.parquet", i % 28);
            Action::Copy(CopyAction {
                key: key.clone(),
                source_key: key,
                source_version_id: hex(i, 1)[..32].replace('0', "A").into(),
                etag: hex(i, 3).into(),
                size: 1_000 + i as u64,
                storage_class: Some(StorageClass::new("STANDARD")),
                last_modified: at,
                expect: Some(Expect {
                    version_id: hex(i, 5)[..32].replace('1', "B").into(),
                    etag: hex(i, 7).into(),
                }),
            })
        })
        .collect();
    RestorePlan {
        schema: PLAN_SCHEMA.to_owned(),
        created_at: Some(at),
        digest: None,
        source: Location::whole("acme-data"),
        destination: Destination::InPlace,
        at,
        selection: Default::default(),
        keys: None,
        inventory: None,
        stats: Default::default(),
        estimate: None,
        warnings: Vec::new(),
        actions,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let mode = args.get(2).map_or("new", String::as_str);
    let out = args.get(3).map_or("/dev/null", String::as_str);
    let before = status("VmRSS:");
    let mut p = plan(n);
    let held = status("VmRSS:").saturating_sub(before);
    if let Err(e) = std::fs::write("/proc/self/clear_refs", "5") {
        eprintln!("cannot reset the peak mark ({e}): the peak includes the build");
    }
    let base = status("VmRSS:");
    let digest = match mode {
        "old" => {
            use sha2::Digest as _;
            let mut bare = p.clone();
            bare.digest = None;
            let json = serde_json::to_string(&bare).expect("serialises");
            let hash = sha2::Sha256::digest(json.as_bytes());
            let text = p.to_json() + "\n";
            std::fs::write(out, text).expect("write");
            hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
        }
        "new" => {
            let d = s3rewind::pipeline::prepare::plan_digest(&mut p);
            let f = std::fs::File::create(out).expect("create");
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            serde_json::to_writer_pretty(&mut w, &p).expect("write");
            writeln!(w).expect("write");
            w.flush().expect("flush");
            d
        }
        other => panic!("mode {other:?}: old or new"),
    };
    let peak = status("VmHWM:").saturating_sub(base);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    println!(
        "{mode}: {n} actions; plan held {:.0} MiB ({:.0} B/action); writing it peaked {:.0} MiB above that ({:.0} B/action); digest {}…",
        mib(held),
        held as f64 / n as f64,
        mib(peak),
        peak as f64 / n as f64,
        &digest[..digest.len().min(20)]
    );
}
