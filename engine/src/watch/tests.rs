use super::*;
use crate::sim::content_etag;
use crate::{SimBucket, Timeline, Versioning};
use chrono::TimeZone;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

fn t(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_800_000_000_000 + ms).unwrap()
}

fn window(ms: i64) -> Window {
    Window {
        start: t(ms),
        end: t(ms),
    }
}

/// What a server announces for one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// AWS: version ids and ordering sequencers.
    Aws,
    /// radosgw: sequencers that do not order; no version id on delete markers.
    Radosgw,
    /// moto: neither version ids nor sequencers.
    Moto,
}

impl Server {
    fn order(self) -> OrderBy {
        match self {
            Server::Aws => OrderBy::Sequencer,
            _ => OrderBy::EventTime,
        }
    }
}

fn ev(
    server: Server,
    key: &str,
    kind: EventKind,
    id: &str,
    at: DateTime<Utc>,
    seq: u64,
    body: &[u8],
) -> Event {
    let sequencer = match server {
        Server::Aws => Sequencer::parse(&format!("{seq:016X}")),
        // Not monotonic: a hash of the counter.
        Server::Radosgw => {
            Sequencer::parse(&format!("{:016X}", seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)))
        }
        Server::Moto => None,
    };
    let version_id = match (server, kind) {
        (Server::Moto, _) | (Server::Radosgw, EventKind::DeleteMarker) => None,
        _ => Some(VersionId::new(id)),
    };
    Event {
        key: key.to_owned(),
        kind,
        version_id,
        sequencer,
        time: at,
        etag: if kind == EventKind::Created {
            content_etag(body).into()
        } else {
            Default::default()
        },
        size: if kind == EventKind::Created {
            body.len() as u64
        } else {
            0
        },
        name: format!("{kind:?}"),
    }
}

use crate::model::VersionId;

/// A key's entries as the index and a listing are compared: id, kind, ETag, size, time.
fn shape(tl: &Timeline, key: &str) -> Vec<(String, bool, String, u64, DateTime<Utc>)> {
    tl.get(key)
        .map(|h| {
            h.entries
                .iter()
                .map(|v| {
                    (
                        v.version_id.to_string(),
                        v.delete_marker,
                        v.etag.to_string(),
                        v.size,
                        v.last_modified,
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn listing(sim: &SimBucket) -> Timeline {
    Timeline::from_ordered(sim.list_order("")).unwrap()
}

fn reread(sim: &SimBucket, key: &str, at: i64, reason: RereadReason) -> Record {
    Record::Reread(Reread {
        key: key.to_owned(),
        window: window(at),
        reason,
        cutoff: t(at),
        entries: sim
            .list_order(key)
            .into_iter()
            .filter(|e| e.key == key)
            .map(|e| e.version)
            .collect(),
        anomalies: Vec::new(),
    })
}

fn current(sim: &SimBucket) -> Vec<Current> {
    listing(sim)
        .keys()
        .iter()
        .filter_map(|h| {
            let v = h.head()?;
            (!v.delete_marker).then(|| Current {
                key: h.key.clone(),
                etag: v.etag.to_string(),
                size: v.size,
                last_modified: v.last_modified,
            })
        })
        .collect()
}

#[test]
fn duplicates_and_reordering_fold_to_the_listing_by_sequencer() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    sim.put("k", b"0", t(0));
    let base = listing(&sim);
    let begin = Begin::new("b", "", t(500), window(500), OrderBy::Sequencer);
    // Three writes within one millisecond: only the sequencers order them.
    let v1 = sim.put("k", b"1", t(10_000));
    let d2 = sim.delete("k", t(10_000));
    let v3 = sim.put("k", b"3", t(10_000));
    let e1 = ev(
        Server::Aws,
        "k",
        EventKind::Created,
        &v1,
        t(10_000),
        1,
        b"1",
    );
    let e2 = ev(
        Server::Aws,
        "k",
        EventKind::DeleteMarker,
        &d2,
        t(10_000),
        2,
        b"",
    );
    let e3 = ev(
        Server::Aws,
        "k",
        EventKind::Created,
        &v3,
        t(10_000),
        3,
        b"3",
    );
    let mut w = Watch::new(begin, base);
    for e in [&e3, &e1, &e3, &e2, &e1] {
        w.apply(&Record::Event(e.clone()));
    }
    assert_eq!(w.stats().duplicates, 2);
    assert!(w.doubtful().is_empty(), "{:?}", w.doubtful());
    let tl = w.timeline();
    assert_eq!(shape(&tl, "k"), shape(&listing(&sim), "k"));
    assert!(tl.anomalies().is_empty(), "sequencers leave no tie");
}

#[test]
fn radosgw_markers_without_ids_are_read_again_not_guessed() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let base = listing(&sim);
    let begin = Begin::new("b", "", t(0), window(0), OrderBy::EventTime);
    let v1 = sim.put("k", b"1", t(10_000));
    let d2 = sim.delete("k", t(20_000));
    let mut w = Watch::new(begin, base);
    assert_eq!(
        w.apply(&Record::Event(ev(
            Server::Radosgw,
            "k",
            EventKind::Created,
            &v1,
            t(10_000),
            1,
            b"1"
        ))),
        Applied::New
    );
    let a = w.apply(&Record::Event(ev(
        Server::Radosgw,
        "k",
        EventKind::DeleteMarker,
        &d2,
        t(20_000),
        2,
        b"",
    )));
    assert_eq!(a, Applied::Doubt(Doubt::NoVersionId));
    assert_eq!(w.doubtful().len(), 1);
    // Until it is read again, the key is flagged, and its live entry is the version.
    assert!(
        w.timeline()
            .anomalies()
            .iter()
            .any(|a| matches!(a, Anomaly::OrderUnknown { .. }))
    );
    w.apply(&reread(&sim, "k", 30_000, RereadReason::Doubt));
    assert!(w.doubtful().is_empty());
    assert_eq!(shape(&w.timeline(), "k"), shape(&listing(&sim), "k"));
    assert_eq!(w.stats().lost_created + w.stats().lost_removed, 0);
    // Close events by time are not decisive either.
    let v3 = sim.put("k", b"3", t(40_000));
    let v4 = sim.put("k", b"4", t(40_400));
    w.apply(&Record::Event(ev(
        Server::Radosgw,
        "k",
        EventKind::Created,
        &v4,
        t(40_400),
        4,
        b"4",
    )));
    let a = w.apply(&Record::Event(ev(
        Server::Radosgw,
        "k",
        EventKind::Created,
        &v3,
        t(40_000),
        3,
        b"3",
    )));
    assert_eq!(a, Applied::Doubt(Doubt::NotDecisive));
}

#[test]
fn permanent_removals_are_kept_and_reported() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let v1 = sim.put("k", b"1", t(0));
    let base = listing(&sim);
    let begin = Begin::new("b", "", t(500), window(500), OrderBy::Sequencer);
    let v2 = sim.put("k", b"2", t(10_000));
    sim.delete_version("k", &v2).unwrap();
    let mut w = Watch::new(begin, base);
    w.apply(&Record::Event(ev(
        Server::Aws,
        "k",
        EventKind::Created,
        &v2,
        t(10_000),
        1,
        b"2",
    )));
    w.apply(&Record::Event(ev(
        Server::Aws,
        "k",
        EventKind::Removed,
        &v2,
        t(20_000),
        2,
        b"",
    )));
    assert_eq!(shape(&w.timeline(), "k"), shape(&listing(&sim), "k"));
    let gone = w.unrestorable_at(t(15_000));
    assert_eq!(gone.len(), 1);
    assert_eq!(
        (gone[0].version_id.as_str(), gone[0].why),
        (v2.as_str(), RemovalKind::DeletedById)
    );
    assert!(w.unrestorable_at(t(5_000)).is_empty(), "v1 {v1} is there");
    assert!(w.unrestorable_at(t(25_000)).is_empty(), "removed by then");
    // A removal that arrives before its creation is applied when the creation comes.
    let mut w2 = Watch::new(
        Begin::new("b", "", t(500), window(500), OrderBy::Sequencer),
        listing(&{
            let mut s = SimBucket::new(Versioning::Enabled, "v");
            s.put("k", b"1", t(0));
            s
        }),
    );
    w2.apply(&Record::Event(ev(
        Server::Aws,
        "k",
        EventKind::Removed,
        &v2,
        t(20_000),
        2,
        b"",
    )));
    w2.apply(&Record::Event(ev(
        Server::Aws,
        "k",
        EventKind::Created,
        &v2,
        t(10_000),
        1,
        b"2",
    )));
    assert_eq!(shape(&w2.timeline(), "k"), shape(&listing(&sim), "k"));
    assert_eq!(w2.unrestorable_at(t(15_000)).len(), 1);
}

#[test]
fn a_torn_last_line_is_dropped_and_a_corrupt_one_refused() {
    let mut buf = Vec::new();
    let b = Begin::new("b", "p/", t(0), window(0), OrderBy::Sequencer);
    write_record(&mut buf, &Record::Begin(b.clone())).unwrap();
    write_record(&mut buf, &Record::Alive { at: t(5) }).unwrap();
    let whole = buf.len();
    write_record(&mut buf, &Record::Alive { at: t(6) }).unwrap();
    let read = read_log(&buf[..buf.len() - 3]).unwrap();
    assert!(read.torn_tail);
    assert_eq!(read.records.len(), 2);
    assert_eq!(read.good_bytes, whole as u64);
    assert_eq!(read.records[0], Record::Begin(b));
    let mut bad = buf.clone();
    bad.extend_from_slice(b"{\"type\":\"nope\"}\n");
    assert!(read_log(&bad[..]).is_err());
}

#[test]
fn a_compaction_keeps_what_the_index_cannot_hold() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    sim.put("a", b"0", t(0));
    let base = listing(&sim);
    let begin = Begin::new("b", "", t(500), window(500), OrderBy::Sequencer);
    let mut w = Watch::new(begin, base);
    let v1 = sim.put("a", b"1", t(10_000));
    let v2 = sim.put("a", b"2", t(11_000));
    w.apply(&Record::Event(ev(
        Server::Aws,
        "a",
        EventKind::Created,
        &v1,
        t(10_000),
        5,
        b"1",
    )));
    w.apply(&Record::Event(ev(
        Server::Aws,
        "a",
        EventKind::Removed,
        &v1,
        t(12_000),
        7,
        b"",
    )));
    sim.delete_version("a", &v1).unwrap();
    let (tl, records) = w.clone().into_compaction(t(13_000), t(12_500));
    let Record::Begin(b2) = &records[0] else {
        panic!("a log starts with its Begin")
    };
    assert_eq!(b2.base_created, t(13_000));
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Keep(k) if k.key == "a"))
    );
    let mut w2 = Watch::new(b2.clone(), tl.clone());
    for r in &records[1..] {
        w2.apply(r);
    }
    assert_eq!(w2.timeline(), tl);
    assert_eq!(w2.unrestorable_at(t(11_000)), w.unrestorable_at(t(11_000)));
    // A late event with a lower sequencer still goes below the newer one.
    let e2 = ev(
        Server::Aws,
        "a",
        EventKind::Created,
        &v2,
        t(11_000),
        6,
        b"2",
    );
    w.apply(&Record::Event(e2.clone()));
    w2.apply(&Record::Event(e2));
    assert_eq!(w.timeline(), w2.timeline());
    assert_eq!(shape(&w2.timeline(), "a"), shape(&listing(&sim), "a"));
}

#[test]
fn reconciliation_finds_a_lost_current_change_and_counts_it() {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    sim.put("k", b"0", t(0));
    sim.put("q", b"0", t(0));
    let base = listing(&sim);
    let begin = Begin::new("b", "", t(500), window(500), OrderBy::Sequencer);
    let mut w = Watch::new(begin, base);
    sim.put("k", b"1", t(10_000)); // its event is lost
    sim.delete("q", t(10_000)); // so is this one
    let cur = current(&sim);
    let off = w.disagreeing(&cur);
    assert_eq!(off, ["k", "q"]);
    for k in &off {
        w.apply(&reread(&sim, k, 60_000, RereadReason::Reconcile));
    }
    assert_eq!(w.stats().lost_created, 2);
    assert!(w.disagreeing(&current(&sim)).is_empty());
    assert_eq!(w.timeline(), listing(&sim));
}

// The property: event streams with duplicates, reordering, loss and a crash.

#[derive(Debug, Clone)]
enum Op {
    Put(u8),
    Delete(u8),
    /// Remove the n-th entry (of those there are) of the key for good.
    Remove(u8, u8),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..4).prop_map(Op::Put),
        2 => (0u8..4).prop_map(Op::Delete),
        1 => (0u8..4, 0u8..4).prop_map(|(k, n)| Op::Remove(k, n)),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    server: Server,
    before: Vec<(Op, u16)>,
    after: Vec<(Op, u16)>,
    /// Close to the baseline read (500 ms) or well apart (10 s).
    near: bool,
    /// Per event: extra deliveries (0-2), lost, and how far it may move in the stream.
    delivery: Vec<(u8, bool, u8)>,
    /// Log records synced per batch; the crash point (fraction of the stream); where in
    /// the last line the torn write stops.
    batch: usize,
    crash: f64,
    tear: u8,
}

fn gap() -> impl Strategy<Value = u16> {
    prop_oneof![Just(0u16), Just(1), Just(300), Just(1_500), Just(4_000)]
}

fn case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![Just(Server::Aws), Just(Server::Radosgw), Just(Server::Moto)],
        prop::collection::vec((op(), gap()), 0..8),
        prop::collection::vec((op(), gap()), 1..16),
        any::<bool>(),
        prop::collection::vec((0u8..3, prop::bool::weighted(0.12), 0u8..6), 24),
        1usize..5,
        0.0f64..1.0,
        any::<u8>(),
    )
        .prop_map(
            |(server, before, after, near, delivery, batch, crash, tear)| Case {
                server,
                before,
                after,
                near,
                delivery,
                batch,
                crash,
                tear,
            },
        )
}

/// Apply `ops` to the simulator from `clock`; returns the events they announce.
fn run_ops(
    server: Server,
    sim: &mut SimBucket,
    ops: &[(Op, u16)],
    clock: &mut i64,
    seq: &mut u64,
) -> Vec<Event> {
    let mut out = Vec::new();
    for (op, gap) in ops {
        *clock += i64::from(*gap);
        *seq += 1;
        let at = t(*clock);
        let body = format!("body-{seq}").into_bytes();
        match op {
            Op::Put(k) => {
                let key = format!("k{k}");
                let id = sim.put(&key, &body, at);
                out.push(ev(server, &key, EventKind::Created, &id, at, *seq, &body));
            }
            Op::Delete(k) => {
                let key = format!("k{k}");
                let id = sim.delete(&key, at);
                out.push(ev(
                    server,
                    &key,
                    EventKind::DeleteMarker,
                    &id,
                    at,
                    *seq,
                    b"",
                ));
            }
            Op::Remove(k, n) => {
                let key = format!("k{k}");
                let ids: Vec<String> = sim
                    .list_order(&key)
                    .into_iter()
                    .filter(|e| e.key == key)
                    .map(|e| e.version.version_id.to_string())
                    .collect();
                if let Some(id) = ids.get(usize::from(*n) % ids.len().max(1)) {
                    sim.delete_version(&key, id).unwrap();
                    out.push(ev(server, &key, EventKind::Removed, id, at, *seq, b""));
                }
            }
        }
    }
    out
}

/// What the watcher skips as known ([`Watch::is_duplicate`]) would change nothing.
fn known_changes_nothing(w: &Watch, e: &Event) -> Result<(), TestCaseError> {
    if w.is_duplicate(e) {
        let mut w2 = w.clone();
        w2.apply(&Record::Event(e.clone()));
        prop_assert_eq!(w2.timeline(), w.timeline());
        prop_assert_eq!(w2.doubtful(), w.doubtful());
        let late = t(10_000_000);
        prop_assert_eq!(w2.unrestorable_at(late), w.unrestorable_at(late));
        for s in [0, 5_000, 20_000, 40_000] {
            prop_assert_eq!(w2.unrestorable_at(t(s)), w.unrestorable_at(t(s)));
        }
    }
    Ok(())
}

/// The property's body. Longer than 120 lines on purpose: one stream delivered with its
/// duplicates, reordering, losses and crash, then every promise checked against the
/// full listing; the checks share the state the delivery built.
fn check(c: &Case) -> Result<(), TestCaseError> {
    let mut sim = SimBucket::new(Versioning::Enabled, "v");
    let (mut clock, mut seq) = (0i64, 0u64);
    let mut events = run_ops(c.server, &mut sim, &c.before, &mut clock, &mut seq);
    // The baseline listing, read at one instant between the writes.
    let read_at = clock + if c.near { 500 } else { 10_000 };
    clock = read_at + if c.near { 500 } else { 10_000 };
    let base = listing(&sim);
    events.extend(run_ops(c.server, &mut sim, &c.after, &mut clock, &mut seq));
    let end = clock + 60_000;

    // Delivery: duplicates, loss, bounded reordering.
    let mut lost_keys: BTreeSet<String> = BTreeSet::new();
    let mut stream: Vec<(usize, &Event)> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let (extra, lost, shift) = c.delivery[i % c.delivery.len()];
        if lost {
            lost_keys.insert(e.key.clone());
            continue;
        }
        for d in 0..=extra {
            stream.push((i * 8 + usize::from(shift) * 3 + usize::from(d) * 5, e));
        }
    }
    stream.sort_by_key(|(pos, _)| *pos);
    let stream: Vec<Event> = stream.into_iter().map(|(_, e)| e.clone()).collect();
    let lost_any = !lost_keys.is_empty();

    let begin = Begin::new("b", "", t(read_at), window(read_at), c.server.order());
    // The watcher: fold, log in batches; at the crash the unsynced batch is lost (its
    // messages were not acknowledged, so the queue delivers them again) and the last
    // line is torn.
    let crash_at = (c.crash * stream.len() as f64) as usize;
    let mut log = Vec::new();
    write_record(&mut log, &Record::Begin(begin.clone())).unwrap();
    let mut synced = 0usize; // events whose lines are synced
    for i in 0..crash_at {
        if (i + 1) % c.batch == 0 {
            for e in &stream[synced..=i] {
                write_record(&mut log, &Record::Event(e.clone())).unwrap();
            }
            synced = i + 1;
        }
    }
    // The torn append: part of the next line, never acknowledged.
    if let Some(e) = stream.get(synced) {
        let mut line = Vec::new();
        write_record(&mut line, &Record::Event(e.clone())).unwrap();
        let cut = usize::from(c.tear) % line.len();
        log.extend_from_slice(&line[..cut]);
    }
    // Restart: the log replays; redelivery of everything not acknowledged.
    let read = read_log(&log[..]).unwrap();
    let Record::Begin(b) = &read.records[0] else {
        return Err(TestCaseError::fail("the log lost its first line"));
    };
    let mut w = Watch::new(b.clone(), base.clone());
    for r in &read.records[1..] {
        if let Record::Event(e) = r {
            known_changes_nothing(&w, e)?;
        }
        w.apply(r);
    }
    prop_assert_eq!(w.stats().events as usize, synced);
    // What a reader of the files does — the Begin line, then the rest folded as read, a
    // chunk at a time in key order — is the same watch, whatever the chunk.
    for chunk in [64u64, 1 << 20] {
        let (b2, first, rest) = super::read_begin(&log[..]).unwrap();
        prop_assert_eq!(&b2, b);
        let mut w2 = Watch::new(b2, base.clone());
        let (bytes, torn) =
            super::each_chunk_in(rest, chunk, 1, |recs| w2.apply_batch(recs)).unwrap();
        prop_assert_eq!(first + bytes, read.good_bytes);
        prop_assert_eq!(torn, read.torn_tail);
        prop_assert_eq!(w2.timeline(), w.timeline());
        prop_assert_eq!(w2.stats(), w.stats());
        prop_assert_eq!(w2.doubtful(), w.doubtful());
    }
    // The timeline on loan (what `watch --alert` detects over) is the timeline, and the
    // watch goes on after each loan as one never lent does.
    let mut never_lent = w.clone();
    for (i, e) in stream[synced..].iter().enumerate() {
        if i % 3 == 0 {
            let tl = never_lent.timeline();
            let lent = w.lend_timeline();
            prop_assert_eq!(&*lent, &tl);
        }
        known_changes_nothing(&w, e)?;
        w.apply(&Record::Event(e.clone()));
        never_lent.apply(&Record::Event(e.clone()));
    }
    // The loans gave the index back exactly: every history, hollow ones included.
    prop_assert_eq!(w.base(), never_lent.base());
    prop_assert_eq!(w.base().keys(), never_lent.base().keys());
    prop_assert_eq!(w.timeline(), never_lent.timeline());
    prop_assert_eq!(w.stats(), never_lent.stats());
    prop_assert_eq!(w.doubtful(), never_lent.doubtful());
    let at = t(end);
    prop_assert_eq!(
        w.clone().into_compaction(at, at),
        never_lent.into_compaction(at, at)
    );

    // Re-read what is in doubt (after the writes settled), then reconcile.
    for (k, _, _) in w.doubtful() {
        w.apply(&reread(&sim, &k, end, RereadReason::Doubt));
    }
    prop_assert!(w.doubtful().is_empty());
    let before_reconcile = w.stats().lost_created + w.stats().lost_removed;
    let off = w.disagreeing(&current(&sim));
    for k in &off {
        w.apply(&reread(&sim, k, end + 1_000, RereadReason::Reconcile));
    }
    let counted = w.stats().lost_created + w.stats().lost_removed;
    let truth = listing(&sim);
    let tl = w.timeline();
    // The consuming form (what a command reading the index uses) is the same timeline.
    prop_assert_eq!(&w.clone().into_timeline_under(""), &tl);
    prop_assert_eq!(w.counts(), (tl.len(), tl.keys().len()));

    // 1. The current state is the bucket's, always.
    prop_assert!(w.disagreeing(&current(&sim)).is_empty());
    let ids = |tl: &Timeline| -> Vec<(String, String)> {
        tl.current()
            .objects
            .iter()
            .map(|o| (o.key.clone(), o.version.version_id.to_string()))
            .collect()
    };
    prop_assert_eq!(ids(&tl), ids(&truth));
    // 2. Every key without a lost event holds exactly the listing's history.
    let keys: BTreeSet<String> = truth
        .keys()
        .iter()
        .chain(tl.keys())
        .map(|h| h.key.clone())
        .collect();
    for k in &keys {
        if !lost_keys.contains(k) || off.contains(k) {
            prop_assert_eq!(shape(&tl, k), shape(&truth, k), "key {}", k);
        }
    }
    // 3. Losses: none counted where none happened; the reconciliation re-read only keys
    //    with a lost event, and counted at least one loss for each.
    if !lost_any {
        prop_assert_eq!(counted, 0);
    }
    for k in &off {
        prop_assert!(
            lost_keys.contains(k),
            "{} disagreed without a lost event",
            k
        );
    }
    prop_assert!(counted - before_reconcile >= off.len() as u64);
    let unique_lost = (0..events.len())
        .filter(|i| c.delivery[i % c.delivery.len()].1)
        .count() as u64;
    prop_assert!(
        counted <= unique_lost,
        "{} counted, {} lost",
        counted,
        unique_lost
    );
    Ok(())
}

proptest! {
    #![proptest_config(s3rewind_testkit::proptest_config(256))]

    #[test]
    fn event_streams_fold_to_the_listing(c in case()) {
        check(&c)?;
    }
}

#[test]
fn the_fold_is_not_slow() {
    // A smoke check of the per-event cost (the benchmark measures it properly).
    let base = Timeline::default();
    let mut w = Watch::new(
        Begin::new("b", "", t(0), window(0), OrderBy::Sequencer),
        base,
    );
    let mut by_key: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..20_000u64 {
        let key = format!("k{}", i % 5_000);
        let n = by_key.entry(key.clone()).or_default();
        *n += 1;
        w.apply(&Record::Event(ev(
            Server::Aws,
            &key,
            EventKind::Created,
            &format!("v{i}"),
            t(10_000 + i as i64),
            i + 1,
            b"x",
        )));
    }
    assert_eq!(w.timeline().len(), 20_000);
}

#[test]
fn a_log_reads_the_same_in_chunks_of_any_size() {
    let mut buf = Vec::new();
    for i in 0..40u64 {
        let r = Record::Event(ev(
            Server::Aws,
            &format!("k{}", i % 7),
            EventKind::Created,
            &format!("v{i}"),
            t(i as i64),
            i + 1,
            b"x",
        ));
        write_record(&mut buf, &r).unwrap();
    }
    let whole = read_log(&buf[..]).unwrap();
    assert_eq!(whole.records.len(), 40);
    for chunk in [1u64, 7, 64, 1000] {
        for cut in [0usize, 5] {
            let part = &buf[..buf.len() - cut];
            let mut got = Vec::new();
            let (bytes, torn) = super::each_record_in(part, chunk, 0, |r| got.push(r)).unwrap();
            let want = read_log(part).unwrap();
            assert_eq!(got, want.records, "chunk {chunk}");
            assert_eq!((bytes, torn), (want.good_bytes, want.torn_tail));
            assert_eq!(torn, cut > 0);
        }
    }
    // A bad line is named by its number whatever the chunk.
    let mut bad = buf.clone();
    let third = bad
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .unwrap()
        .0
        + 1;
    bad[third] = b'#';
    for chunk in [3u64, 50, 1 << 20] {
        let e = super::each_record_in(&bad[..], chunk, 0, |_| {}).unwrap_err();
        assert!(e.to_string().contains("line 3 "), "{e}");
    }
}

#[test]
fn stats_add_up_counter_by_counter_and_keep_the_later_time() {
    // Every counter a different multiple of `k`: a sum of two is the sum of their `k`s.
    let stats = |k: u64, at: i64| WatchStats {
        events: k,
        duplicates: 2 * k,
        outside: 3 * k,
        doubts: 4 * k,
        rereads: 5 * k,
        lost_created: 6 * k,
        lost_removed: 7 * k,
        reconciliations: 8 * k,
        last_at: Some(t(at)),
    };
    let (a, b) = (stats(1, 5_000), stats(10, 3_000));
    assert_eq!(a.plus(&b), stats(11, 5_000));
    assert_eq!(b.plus(&a), stats(11, 5_000));
    assert_eq!(WatchStats::default().plus(&b).last_at, Some(t(3_000)));
}
