//! The runner against buckets in memory: what a restore costs in requests, and what
//! faults, crashes and a concurrent writer can and cannot do to it.

use super::*;
use crate::bucket::{Bucket, Faults, Faulty, MemStore, Op};
use crate::listing::list_bucket;
use crate::output::{OutputFormat, Printer};
use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use s3rewind_engine::{Destination, Location, PlanOptions, SimBucket, Versioning, plan};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

fn quiet() -> Printer {
    Printer::new(OutputFormat::Text, true, true)
}

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

/// A versioned bucket with `keys` keys written and deleted before T, then damaged after
/// it (overwritten, deleted, new keys); returns it and T.
fn history(seed: u64, keys: usize) -> (SimBucket, DateTime<Utc>) {
    let mut rng = s3rewind_testkit::Prng(seed);
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let mut t = base();
    let tick = |t: &mut DateTime<Utc>| {
        *t += TimeDelta::seconds(1);
        *t
    };
    for k in 0..keys {
        let key = format!("k/{k:04}");
        for n in 0..=rng.below(3) {
            let at = tick(&mut t);
            sim.put(&key, format!("{key} before T #{n}").as_bytes(), at);
        }
        if rng.below(6) == 0 {
            let at = tick(&mut t);
            sim.delete(&key, at);
        }
    }
    let at = tick(&mut t);
    t += TimeDelta::seconds(10);
    for k in 0..keys {
        let key = format!("k/{k:04}");
        match rng.below(4) {
            0 => {
                let when = tick(&mut t);
                sim.put(&key, format!("{key} damaged").as_bytes(), when);
            }
            1 => {
                let when = tick(&mut t);
                sim.delete(&key, when);
            }
            _ => {}
        }
        if rng.below(8) == 0 {
            let when = tick(&mut t);
            sim.put(&format!("k/{k:04}-new"), b"written after T", when);
        }
    }
    (sim, at)
}

async fn plan_in_place(b: &Arc<dyn Bucket>, at: DateTime<Utc>) -> RestorePlan {
    let timeline = list_bucket(b, &quiet(), "", 1000, crate::listing::Streams::ONE)
        .await
        .unwrap();
    let options = PlanOptions::new(
        Location {
            bucket: b.name().to_owned(),
            prefix: String::new(),
        },
        Destination::InPlace,
        at,
    );
    plan(&timeline.current(), &timeline.state_at(at), &options)
}

/// The plan that restores `src` at `at` into the other bucket `dst` (both at their root).
async fn plan_into(src: &Arc<dyn Bucket>, dst: &Arc<dyn Bucket>, at: DateTime<Utc>) -> RestorePlan {
    let streams = crate::listing::Streams::ONE;
    let source = list_bucket(src, &quiet(), "", 1000, streams).await.unwrap();
    let current = list_bucket(dst, &quiet(), "", 1000, streams).await.unwrap();
    let location = |b: &Arc<dyn Bucket>| Location {
        bucket: b.name().to_owned(),
        prefix: String::new(),
    };
    let destination = Destination::Bucket {
        location: location(dst),
    };
    let options = PlanOptions::new(location(src), destination, at);
    plan(&current.current(), &source.state_at(at), &options)
}

/// Hand `actions` over one at a time, as a planner would; `gate` holds back the rest from
/// action `n` on until `ready()` (at most 10 s, then it panics).
fn hand_over(
    actions: Vec<Action>,
    gate: Option<(usize, Box<dyn Fn() -> bool + Send + Sync>)>,
) -> (
    tokio::sync::mpsc::Receiver<Action>,
    tokio::task::JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Action>(4);
    let producer = tokio::spawn(async move {
        for (i, a) in actions.into_iter().enumerate() {
            if let Some((n, ready)) = &gate
                && i == *n
            {
                let wait = async {
                    while !ready() {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                };
                tokio::time::timeout(Duration::from_secs(10), wait)
                    .await
                    .expect("the runner did nothing while the plan was still coming");
            }
            if tx.send(a).await.is_err() {
                return;
            }
        }
    });
    (rx, producer)
}

/// [`run_stream`] over what [`hand_over`] hands over.
async fn run_streamed(
    buckets: Buckets,
    (mut rx, producer): (
        tokio::sync::mpsc::Receiver<Action>,
        tokio::task::JoinHandle<()>,
    ),
    config: &ExecConfig,
) -> ExecReport {
    let Some(first) = rx.recv().await else {
        return ExecReport::default();
    };
    let cancel = AtomicBool::new(false);
    let report = run_stream(
        buckets,
        "",
        config,
        None,
        &quiet(),
        Some(&cancel),
        first,
        rx,
    )
    .await;
    producer.await.unwrap();
    report
}

fn config(concurrency: usize, attempts: u32) -> ExecConfig {
    ExecConfig {
        concurrency,
        attempts,
        conditional: true,
        throttle_pause: Duration::ZERO,
        ..ExecConfig::default()
    }
}

async fn run(b: Arc<dyn Bucket>, p: &RestorePlan, config: &ExecConfig) -> ExecReport {
    run_journaled(b, p, config, None).await
}

/// [`run`] in place, with a journal.
async fn run_journaled(
    b: Arc<dyn Bucket>,
    p: &RestorePlan,
    config: &ExecConfig,
    journal: Option<crate::journal::Journal>,
) -> ExecReport {
    let cancel = AtomicBool::new(false);
    let buckets = Buckets {
        src: b.clone(),
        dst: b,
        separate: false,
    };
    run_plan(buckets, p, config, journal, &quiet(), Some(&cancel)).await
}

fn contents(store: &MemStore, name: &str) -> BTreeMap<String, Vec<u8>> {
    store.with(name, |sim| {
        sim.current_contents()
            .into_iter()
            .map(|(k, c)| (k, c.to_vec()))
            .collect()
    })
}

fn truth(sim: &SimBucket, at: DateTime<Utc>) -> BTreeMap<String, Vec<u8>> {
    sim.truth_at(at)
        .into_iter()
        .map(|(k, c)| (k, c.to_vec()))
        .collect()
}

fn entries(store: &MemStore, name: &str) -> BTreeSet<(String, String, bool)> {
    store.entries(name).into_iter().collect()
}

/// One write per differing key, one listing call per page of the destination up to its
/// last differing key, and no per-key read at all.
#[tokio::test]
async fn a_restore_costs_one_write_per_differing_key_and_no_reads() {
    let (sim, at) = history(7, 1500);
    let want = truth(&sim, at);
    let store = MemStore::new();
    let b: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
    let p = plan_in_place(&b, at).await;
    assert!(p.actions.len() > 500, "the history damages many keys");
    let last = p.actions.iter().map(|a| a.key()).max().unwrap().to_owned();
    let all = store.entries("src");
    let in_range = all.iter().filter(|(k, _, _)| *k <= last).count();
    let beyond = all.iter().any(|(k, _, _)| *k > last) as usize;
    store.reset_requests();

    let report = run(b, &p, &config(16, 4)).await;

    let requests = store.requests();
    assert!(report.complete(), "{report:?}");
    assert_eq!(
        report.copied + report.delete_markers,
        p.actions.len() as u64
    );
    assert_eq!(requests.writes(), p.actions.len() as u64, "{requests:?}");
    assert_eq!(requests.key_reads(), 0, "{requests:?}");
    // One call per page: pages start at 8 x concurrency entries and grow (up to 1,000)
    // only while the writes wait for the listing.
    let listed = (in_range + beyond) as u64;
    let calls = requests.of(Op::List);
    assert!(
        calls <= listed.div_ceil(probe_page_size(16) as u64) && calls >= listed.div_ceil(1000),
        "{calls} listing calls for {listed} entries: {requests:?}"
    );
    assert_eq!(requests.total(), requests.writes() + requests.of(Op::List));
    assert_eq!(contents(&store, "src"), want);
}

/// A server whose CopyObject names no version (radosgw): the copies are read back after
/// the run by one listing of the range, not a HEAD each, and the journal ends up naming
/// the version each copy created (what `undo` needs).
#[tokio::test]
async fn copies_that_name_no_version_are_read_back_by_a_listing() {
    let (sim, at) = history(11, 1500);
    let want = truth(&sim, at);
    let store = MemStore::new();
    let b: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
    let p = plan_in_place(&b, at).await;
    store.copies_name_no_version();
    store.reset_requests();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.jsonl");
    let quiet = crate::output::Printer::capturing(crate::output::OutputFormat::Text, true).0;
    let journal = crate::journal::Journal::open(&path, &quiet).unwrap();
    let report = run_journaled(b, &p, &config(16, 4), Some(journal)).await;

    assert!(report.complete(), "{report:?}");
    let requests = store.requests();
    assert_eq!(requests.key_reads(), 0, "{requests:?}");
    assert_eq!(requests.writes(), p.actions.len() as u64, "{requests:?}");
    let entries = store.entries("src").len() as u64;
    assert!(
        requests.of(Op::List) <= 2 * entries.div_ceil(probe_page_size(16) as u64),
        "{requests:?}"
    );
    assert_eq!(contents(&store, "src"), want);
    // The last journal line of each copied key names the key's current version.
    let mut last: BTreeMap<String, String> = BTreeMap::new();
    for line in crate::journal::read(&path).unwrap() {
        if let crate::journal::Line::Done(d) = line
            && d.op == crate::journal::Op::Copy
        {
            last.insert(d.key.clone(), d.new_version_id.clone());
        }
    }
    assert_eq!(last.len() as u64, report.copied);
    for (key, id) in &last {
        let now = store.with("src", |sim| {
            sim.head(key).map(|h| h.version.version_id.to_string())
        });
        assert_eq!(now.as_deref(), Some(id.as_str()), "{key}");
    }
}

/// A restore into an empty bucket that writes as it plans ([`run_stream`]): copying
/// starts before the planner has handed over its last action (the planner here waits
/// for the first copies to land before it goes on: a runner that waited for the whole
/// plan would never see them), one write per action and no other request, and the
/// destination ends up holding the source's state at T.
#[tokio::test]
async fn a_streamed_restore_copies_while_the_plan_is_still_coming() {
    let (sim, at) = history(13, 800);
    let want = truth(&sim, at);
    let store = MemStore::new();
    let src: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
    let empty = SimBucket::new(Versioning::Enabled, "w");
    let dst: Arc<dyn Bucket> = Arc::new(store.insert("dst", empty));
    let p = plan_into(&src, &dst, at).await;
    let n = p.actions.len();
    assert!(n > 400, "{n} actions");
    store.reset_requests();

    // The 11th action waits for the first copies to land.
    let landed = {
        let store = store.clone();
        Box::new(move || !contents(&store, "dst").is_empty()) as Box<dyn Fn() -> bool + Send + Sync>
    };
    let feed = hand_over(p.actions.clone(), Some((10, landed)));
    let buckets = Buckets {
        src,
        dst,
        separate: false,
    };
    let report = run_streamed(buckets, feed, &config(4, 4)).await;

    assert!(report.complete(), "{report:?}");
    assert_eq!(report.copied, n as u64);
    // Everything but what the queues hold (4 in flight, 4 handed over, 4 waiting) was
    // settled before the planner's last action.
    assert!(
        report.while_listing >= n as u64 - 12,
        "{} of {n} while the plan was coming",
        report.while_listing
    );
    let requests = store.requests();
    assert_eq!(requests.writes(), n as u64, "{requests:?}");
    assert_eq!(requests.total(), requests.writes(), "{requests:?}");
    assert_eq!(contents(&store, "dst"), want);
}

/// Listing the whole range costs more than reading a few keys: a plan that touches one
/// key in a thousand reads each (one HEAD) instead.
#[tokio::test]
async fn a_sparse_plan_reads_its_keys_instead_of_listing() {
    let store = MemStore::new();
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let t = base();
    for k in 0..2000 {
        sim.put(&format!("k/{k:04}"), b"kept", t);
    }
    let at = t + TimeDelta::seconds(1);
    sim.put("k/1000", b"damaged", at + TimeDelta::seconds(1));
    let want = truth(&sim, at);
    let b: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
    let p = plan_in_place(&b, at).await;
    assert_eq!(p.actions.len(), 1);
    store.reset_requests();
    let report = run(b, &p, &config(4, 4)).await;
    assert!(report.complete(), "{report:?}");
    let requests = store.requests();
    assert_eq!(requests.of(Op::List), 0, "{requests:?}");
    assert_eq!(requests.of(Op::Head), 1, "{requests:?}");
    assert_eq!(requests.writes(), 1, "{requests:?}");
    assert_eq!(contents(&store, "src"), want);
}

#[derive(Debug, Clone)]
struct Case {
    seed: u64,
    keys: usize,
    throttle: f64,
    server_error: f64,
    reset: f64,
    lost_reply: f64,
    crash_after: Option<u64>,
    writer: f64,
    concurrency: usize,
}

fn cases() -> impl Strategy<Value = Case> {
    (
        any::<u64>(),
        20usize..200,
        0.0..0.15f64,
        0.0..0.15f64,
        0.0..0.15f64,
        0.0..0.2f64,
        prop::option::weighted(0.4, 0u64..400),
        prop_oneof![Just(0.0), 0.0..0.1f64],
        1usize..24,
    )
        .prop_map(
            |(
                seed,
                keys,
                throttle,
                server_error,
                reset,
                lost_reply,
                crash_after,
                writer,
                concurrency,
            )| Case {
                seed,
                keys,
                throttle,
                server_error,
                reset,
                lost_reply,
                crash_after,
                writer,
                concurrency,
            },
        )
}

fn check_case(case: Case) -> Result<(), TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (sim, at) = history(case.seed, case.keys);
        let want = truth(&sim, at);
        let store = MemStore::new();
        let b: Arc<dyn Bucket> = Arc::new(store.insert("src", sim));
        // Half the cases restore in place from a plan; the other half into an empty
        // bucket, written as the plan is handed over (`run_stream`).
        let streamed = (case.seed >> 1) % 2 == 1;
        let (name, d, p) = if streamed {
            let d: Arc<dyn Bucket> =
                Arc::new(store.insert("dst", SimBucket::new(Versioning::Enabled, "w")));
            let p = plan_into(&b, &d, at).await;
            ("dst", d, p)
        } else {
            let p = plan_in_place(&b, at).await;
            ("src", b.clone(), p)
        };
        if case.seed % 2 == 1 {
            // As radosgw: copies are read back by a listing after the run.
            store.copies_name_no_version();
        }
        let source_before = entries(&store, "src");
        let before = entries(&store, name);
        let writer_keys: Vec<String> = want.keys().step_by(7).cloned().collect();
        let faulty = Faulty::new(
            d.clone(),
            Faults {
                seed: case.seed ^ 0x5eed,
                throttle: case.throttle,
                server_error: case.server_error,
                reset: case.reset,
                lost_reply: case.lost_reply,
                crash_after: case.crash_after,
                writer: case.writer,
                writer_keys,
                latency_ms: 0,
                ..Default::default()
            },
        );
        let config = config(case.concurrency, 6);
        let report = if streamed {
            let buckets = Buckets {
                src: b.clone(),
                dst: Arc::new(faulty.clone()),
                separate: false,
            };
            run_streamed(buckets, hand_over(p.actions.clone(), None), &config).await
        } else {
            run(Arc::new(faulty.clone()), &p, &config).await
        };
        let after = entries(&store, name);

        // The summary accounts for every action, once.
        let accounted = report.copied
            + report.delete_markers
            + report.already_done
            + (report.drifted.len() + report.failed.len() + report.waiting.len()) as u64;
        prop_assert_eq!(accounted, p.actions.len() as u64, "{:?}", report);
        // No version is ever removed.
        prop_assert!(before.is_subset(&after), "a restore removed a version");
        if streamed {
            prop_assert_eq!(
                &entries(&store, "src"),
                &source_before,
                "the source changed"
            );
        }
        // New versions: ours (each reported, or landed with its reply lost) and the
        // other writer's, nothing else.
        let ours = (after.len() - before.len()) as u64 - faulty.written().len() as u64;
        let reported = report.copied + report.delete_markers;
        prop_assert!(
            ours >= reported && ours <= reported + faulty.lost_replies(),
            "{} new versions of ours, {} reported, {} replies lost",
            ours,
            reported,
            faulty.lost_replies()
        );
        // Every key the summary does not name is exactly as it was at T, unless the
        // other writer wrote it during the run.
        let written: BTreeSet<String> = faulty.written().into_iter().map(|(k, _)| k).collect();
        let named: BTreeSet<&str> = report
            .drifted
            .iter()
            .chain(&report.failed)
            .chain(&report.waiting)
            .map(|i| i.key.as_str())
            .collect();
        let now = contents(&store, name);
        for a in &p.actions {
            let k = a.key();
            if named.contains(k) || written.contains(k) {
                continue;
            }
            prop_assert_eq!(now.get(k), want.get(k), "key {} is not as it was at T", k);
        }
        // A drifted key keeps what the other writer wrote.
        for d in &report.drifted {
            prop_assert!(
                written.contains(&d.key),
                "{} drifted, but nobody wrote it",
                d.key
            );
        }
        if report.complete() && written.is_empty() {
            prop_assert_eq!(&now, &want);
        }

        // Resume: plan again from a fresh listing, run without faults. The destination
        // is then exactly the source at T (the other writer has stopped), and the
        // versions added over both runs are one per differing key, plus at most the
        // writes whose reply was lost, plus the other writer's.
        let again = if streamed {
            plan_into(&b, &d, at).await
        } else {
            plan_in_place(&b, at).await
        };
        let buckets = Buckets {
            src: b.clone(),
            dst: d.clone(),
            separate: false,
        };
        let cancel = AtomicBool::new(false);
        let second = run_plan(
            buckets,
            &again,
            &self::config(8, 4),
            None,
            &quiet(),
            Some(&cancel),
        )
        .await;
        prop_assert!(second.complete(), "{:?}", second);
        prop_assert_eq!(contents(&store, name), want);
        let end = entries(&store, name);
        prop_assert!(before.is_subset(&end));
        if written.is_empty() {
            let added = (end.len() - before.len()) as u64;
            prop_assert!(
                added >= p.actions.len() as u64
                    && added <= p.actions.len() as u64 + faulty.lost_replies(),
                "{} versions added for {} actions ({} replies lost)",
                added,
                p.actions.len(),
                faulty.lost_replies()
            );
        }
        Ok(())
    })
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

proptest! {
    // The engine's convention (engine/tests/common/mod.rs): a fixed seed and case count
    // unless PROPTEST_RNG_SEED / PROPTEST_CASES say otherwise (scripts/proptest-deep).
    #![proptest_config(ProptestConfig {
        cases: env_u64("PROPTEST_CASES").map_or(256, |n| n as u32),
        rng_seed: proptest::test_runner::RngSeed::Fixed(
            env_u64("PROPTEST_RNG_SEED").unwrap_or(0x5333_5245_5749_4e44),
        ),
        failure_persistence: None,
        .. ProptestConfig::default()
    })]

    /// Faults, a crash and another writer never lose a version, never make the summary
    /// lie, and a second run converges on the state at T.
    #[test]
    fn faults_crashes_and_a_writer_never_break_a_restore(case in cases()) {
        check_case(case)?;
    }
}
