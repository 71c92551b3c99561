/*!
The checks behind the fuzz targets, as plain functions.

Each fuzz target in `fuzz_targets/` is one line that hands its input to one of the
`check_*` functions below; the unit tests at the bottom run the same functions on a few
hundred inputs made from a fixed pseudo-random byte stream, so `cargo test` on stable
exercises every check without cargo-fuzz or nightly.

Every check asserts an **equivalence** (two ways of computing one thing agree, or a value
survives a round trip), not merely "does not panic" (ripgrep's `fuzz_glob` style):

| check | what must agree |
|---|---|
| [`check_timeline_pages`] | timeline from SDK-shaped pages of any size = from pages of one entry = a brute-force reading of list order; and = the simulator's truth where the listing can know it |
| [`check_plan_apply`] | after `plan` + `SimBucket::apply` in place, the bucket's contents under the prefix = the target state; nothing else changed, nothing lost, and a second plan is empty |
| [`check_wire_keys`] | copy-source and form encodings round-trip; an `s3://` location re-formatted parses to itself; a parsed TIME re-formatted parses to the same instant |
| [`check_raw_pages`] | any pages: each is rejected without a trace or kept entry for entry (per key and per list, in order); the timeline is sorted and consistent with `state_at` |

A violated property panics with a message that names it.
*/

use arbitrary::{Arbitrary, Unstructured};
use chrono::{DateTime, TimeDelta, Utc};
use s3rewind_engine::keys::{copy_source, form_decode, parse_copy_source};
use s3rewind_engine::{
    Destination, Entry, KeyHistory, ListPage, Location, PlanError, PlanOptions, SimBucket,
    SimVersion, Timeline, TimelineBuilder, Version, Versioning, parse_s3_uri, parse_time, plan,
};
use std::collections::{BTreeMap, BTreeSet};

/// The first instant of every fuzzed history.
pub const EPOCH: i64 = 1_700_000_000;

/// The keys histories write: prefixes of one another, byte-order neighbours, and the
/// characters that break naive encodings (space, `+`, `%`, NFC vs NFD, newline).
pub const KEYS: [&str; 10] = [
    "a",
    "a/",
    "a/b",
    "a/c d",
    "a+b",
    "ab",
    "b/\u{fc}",
    "b/u\u{308}",
    "b%2F",
    "z\n",
];

/// The prefixes restores and listings are scoped to (byte prefixes: `a` also covers `ab`).
pub const PREFIXES: [&str; 7] = ["", "a", "a/", "b", "b/", "z", "q"];

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).expect("in range")
}

/// One step of a bucket's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// PUT `KEYS[key]` with a one-byte body.
    Put {
        /// Index into [`KEYS`].
        key: usize,
        /// The body.
        content: u8,
    },
    /// DELETE `KEYS[key]` without a version id.
    Delete {
        /// Index into [`KEYS`].
        key: usize,
    },
    /// Let this many seconds pass (0: the next write is in the same second).
    Tick(u8),
    /// Suspend versioning.
    Suspend,
    /// Enable versioning.
    Enable,
}

impl<'a> Arbitrary<'a> for Op {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        // Weighted so that histories are mostly writes, with ties and the occasional
        // change of versioning state.
        let kind: u8 = u.arbitrary()?;
        let arg: u8 = u.arbitrary()?;
        let key = usize::from(arg) % KEYS.len();
        Ok(match kind {
            0..=109 => Op::Put { key, content: arg },
            110..=169 => Op::Delete { key },
            170..=229 => Op::Tick(arg % 4),
            230..=239 => Op::Tick(arg),
            240..=247 => Op::Suspend,
            _ => Op::Enable,
        })
    }
}

/// A bucket's history: its versioning state at creation and what happened to it.
///
/// The number of operations is read with `arbitrary_len` (bounded by the bytes left)
/// rather than `Vec`'s one continue-bit per element, so that plain random bytes (the
/// stable tests) give histories of tens to hundreds of operations, not one or two.
#[derive(Debug, Clone, Arbitrary)]
pub struct History {
    /// The versioning state the bucket starts in.
    pub initial: Versioning,
    /// The operations, in order.
    #[arbitrary(with = arbitrary_ops)]
    pub ops: Vec<Op>,
}

fn arbitrary_ops(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<Op>> {
    // Each operation reads two bytes.
    let n = u.arbitrary_len::<[u8; 2]>()?;
    (0..n).map(|_| Op::arbitrary(u)).collect()
}

/// A history played into a [`SimBucket`].
#[derive(Debug, Clone)]
pub struct Replay {
    /// The bucket after the history.
    pub bucket: SimBucket,
    /// The instant of the last operation.
    pub end: DateTime<Utc>,
    /// Keys deleted while the bucket was unversioned: S3 forgets them completely, so no
    /// listing can know what they held (excluded from comparisons with the truth).
    pub forgotten: BTreeSet<String>,
}

impl History {
    /// Play the history into a fresh bucket; the first write is at [`EPOCH`].
    pub fn replay(&self) -> Replay {
        let mut bucket = SimBucket::new(self.initial, "v");
        let mut now = EPOCH;
        let mut forgotten = BTreeSet::new();
        for op in &self.ops {
            match *op {
                Op::Put { key, content } => {
                    bucket.put(KEYS[key], &[content], at(now));
                }
                Op::Delete { key } => {
                    if bucket.versioning() == Versioning::Unversioned {
                        forgotten.insert(KEYS[key].to_owned());
                    }
                    bucket.delete(KEYS[key], at(now));
                }
                Op::Tick(n) => now += i64::from(n),
                Op::Suspend => bucket.set_versioning(Versioning::Suspended),
                Op::Enable => bucket.set_versioning(Versioning::Enabled),
            }
        }
        Replay {
            bucket,
            end: at(now),
            forgotten,
        }
    }
}

impl Replay {
    /// Every instant at which some key may change state, and the seconds around them.
    pub fn instants(&self) -> Vec<DateTime<Utc>> {
        let mut secs: BTreeSet<i64> = BTreeSet::from([EPOCH - 1, self.end.timestamp() + 1]);
        for (_, v) in self.bucket.all_versions() {
            let t = v.version.last_modified.timestamp();
            secs.extend([t - 1, t, t + 1]);
        }
        secs.into_iter().map(at).collect()
    }
}

/// Build a timeline from pages; `None` if the builder rejects one.
fn build(pages: Vec<ListPage>) -> Option<Timeline> {
    let mut b = TimelineBuilder::new();
    for p in pages {
        b.push_page(p).ok()?;
    }
    Some(b.finish())
}

/// The brute-force rule: the first entry of `key` in list order with `LastModified ≤ t`;
/// a delete marker, or no such entry, means absent.
fn oracle<'e>(list_order: &'e [Entry], key: &str, t: DateTime<Utc>) -> Option<&'e Version> {
    list_order
        .iter()
        .filter(|e| e.key == key)
        .find(|e| e.version.last_modified <= t)
        .map(|e| &e.version)
        .filter(|v| !v.delete_marker)
}

fn listed(list: &[String], key: &str) -> bool {
    list.iter().any(|k| k == key)
}

/// Input of [`check_timeline_pages`].
#[derive(Debug, Clone, Arbitrary)]
pub struct TimelinePagesInput {
    /// The listing's page size (0 is taken as 1).
    pub page_size: u8,
    /// Index into [`PREFIXES`]: the listing prefix.
    pub prefix: u8,
    /// The bucket's history (last, so that it takes the rest of the fuzzer's bytes).
    pub history: History,
}

/// Timelines built from the simulator's pages of any size agree with pages of one
/// entry (which carry list order exactly) and with a brute-force reading of list order,
/// for every key whose state the engine does not report as a guessed tie; and where the
/// listing can know it, with what the bucket really held.
pub fn check_timeline_pages(input: &TimelinePagesInput) {
    let r = input.history.replay();
    let prefix = PREFIXES[usize::from(input.prefix) % PREFIXES.len()];
    let page_size = usize::from(input.page_size).max(1);
    let order = r.bucket.list_order(prefix);
    let paged = build(r.bucket.list_pages(prefix, page_size))
        .expect("the simulator's pages are in list order");
    let single = build(r.bucket.list_pages(prefix, 1)).expect("pages of one entry are in order");
    let exact = Timeline::from_ordered(order.clone()).expect("list order is in order");
    assert_eq!(
        single, exact,
        "pages of one entry must give the list-order timeline"
    );
    assert_eq!(
        paged.len(),
        order.len(),
        "every listed entry is in the timeline"
    );
    let keys: Vec<&str> = exact.keys().iter().map(|k| k.key.as_str()).collect();
    assert_eq!(
        paged
            .keys()
            .iter()
            .map(|k| k.key.as_str())
            .collect::<Vec<_>>(),
        keys,
        "paging must not change the set of keys"
    );

    for t in r.instants() {
        let (sp, ss) = (paged.state_at(t), single.state_at(t));
        let truth = r.bucket.truth_at(t);
        for &key in &keys {
            let expected = oracle(&order, key, t);
            assert_eq!(
                ss.get(key),
                expected,
                "{key:?} at {t}: pages of one entry disagree with list order"
            );
            if !listed(&sp.ambiguous, key) {
                assert_eq!(
                    sp.get(key),
                    expected,
                    "{key:?} at {t}: pages of {page_size} disagree with list order, and the key is not reported ambiguous"
                );
            }
            let unknowable =
                ss.is_uncertain(key) || listed(&ss.out_of_order, key) || r.forgotten.contains(key);
            if !unknowable {
                let content = ss.get(key).map(|v| {
                    r.bucket
                        .get_version(key, &v.version_id.as_str())
                        .expect("a state's version exists")
                });
                assert_eq!(
                    content.as_deref(),
                    truth.get(key).map(|c| &c[..]),
                    "{key:?} at {t}: the state is not what the bucket held, and the key is not reported uncertain"
                );
            }
        }
        // A key the bucket held but the listing does not show at all must be one S3 forgot.
        for key in truth.keys().filter(|k| k.starts_with(prefix)) {
            assert!(
                keys.contains(&key.as_str()) || r.forgotten.contains(key),
                "{key:?} at {t}: held by the bucket but missing from the listing"
            );
        }
    }
}

/// Input of [`check_plan_apply`].
#[derive(Debug, Clone, Arbitrary)]
pub struct PlanApplyInput {
    /// The listing's page size (0 is taken as 1).
    pub page_size: u8,
    /// Index into [`PREFIXES`]: the restore's prefix.
    pub prefix: u8,
    /// The restore target, in seconds after [`EPOCH`] - 1 (modulo the history's span).
    pub at: u16,
    /// List the whole bucket (and let the planner filter) instead of listing the prefix.
    pub list_whole_bucket: bool,
    /// The `mark_uncertain_absent` plan option.
    pub mark_uncertain_absent: bool,
    /// The bucket's history (last, so that it takes the rest of the fuzzer's bytes).
    pub history: History,
}

fn snapshot(b: &SimBucket) -> Vec<(String, SimVersion)> {
    b.all_versions()
        .map(|(k, v)| (k.to_owned(), v.clone()))
        .collect()
}

/// An in-place restore in the simulator does what the plan says it does: afterwards the
/// contents under the prefix are the target state's, keys outside the prefix are
/// untouched, no version was removed, and a second plan is empty. A bucket that is not
/// Enabled refuses the plan and stays as it was.
// Longer than 120 lines on purpose: one fuzz input planned, applied and checked against every invariant in turn.
pub fn check_plan_apply(input: &PlanApplyInput) {
    let r = input.history.replay();
    let mut bucket = r.bucket.clone();
    let before = r.bucket;
    let prefix = PREFIXES[usize::from(input.prefix) % PREFIXES.len()];
    let list_prefix = if input.list_whole_bucket { "" } else { prefix };
    let page_size = usize::from(input.page_size).max(1);
    let span = r.end.timestamp() - EPOCH + 2;
    let t = at(EPOCH - 1 + i64::from(input.at) % span);
    let apply_at = r.end + TimeDelta::seconds(1);

    let timeline = build(before.list_pages(list_prefix, page_size)).expect("pages in order");
    let target = timeline.state_at(t);
    let mut options = PlanOptions::new(
        Location {
            bucket: "fuzz".to_owned(),
            prefix: prefix.to_owned(),
        },
        Destination::InPlace,
        t,
    );
    options.mark_uncertain_absent = input.mark_uncertain_absent;
    let restore = plan(&timeline.current(), &target, &options);
    restore.validate().expect("a fresh plan is valid");
    assert!(
        restore.actions.iter().all(|a| a.key().starts_with(prefix)),
        "plan acts outside the prefix {prefix:?}"
    );

    let result = bucket.apply(&restore, None, apply_at);
    if before.versioning() != Versioning::Enabled {
        let refused = matches!(
            result,
            Err(PlanError::Suspended { .. } | PlanError::NeverVersioned { .. })
        );
        assert!(
            refused,
            "in-place apply to a {} bucket must refuse: {result:?}",
            before.versioning()
        );
        assert_eq!(
            snapshot(&bucket),
            snapshot(&before),
            "a refused apply changed the bucket"
        );
        assert_eq!(bucket.truth_at(apply_at), before.truth_at(apply_at));
        return;
    }
    let report = result.expect("an Enabled bucket accepts an in-place plan");
    assert!(
        report.failed.is_empty() && report.drifted.is_empty(),
        "nothing else writes, so every action applies: {report:?}"
    );
    assert_eq!(report.done, restore.actions.len());

    // Nothing lost or altered.
    for (key, v) in before.all_versions() {
        assert_eq!(
            bucket.version(key, &v.version.version_id.as_str()),
            Some(v),
            "{key:?} lost or changed version {:?}",
            v.version.version_id
        );
    }
    // Outside the prefix, not even a new version.
    let outside = |b: &SimBucket| {
        b.all_versions()
            .filter(|(k, _)| !k.starts_with(prefix))
            .map(|(k, v)| (k.to_owned(), v.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        outside(&bucket),
        outside(&before),
        "keys outside {prefix:?} changed"
    );

    // Under the prefix: the target's contents.
    let now = bucket.current_contents();
    let was = before.current_contents();
    let keys: BTreeSet<&str> = before
        .all_versions()
        .map(|(k, _)| k)
        .filter(|k| k.starts_with(prefix))
        .collect();
    for key in keys {
        let wanted = match target.get(key) {
            Some(v) => Some(
                before
                    .get_version(key, &v.version_id.as_str())
                    .expect("target versions exist"),
            ),
            // An uncertain key with no surviving entry at T is left alone by default.
            None if target.is_uncertain(key) && !input.mark_uncertain_absent => {
                was.get(key).cloned()
            }
            None => None,
        };
        assert_eq!(
            now.get(key),
            wanted.as_ref(),
            "{key:?}: after the restore to {t} the bucket does not hold the target state"
        );
    }

    // Converged: re-listing and planning to the same target finds nothing to do, and
    // planning from the new listing's own state at T finds at most guessed ties.
    let relisted = build(bucket.list_pages(list_prefix, page_size)).expect("pages in order");
    let again = plan(&relisted.current(), &target, &options);
    assert!(
        again.is_empty(),
        "second plan against the same target is not empty: {:?}",
        again.actions
    );
    let target2 = relisted.state_at(t);
    let again2 = plan(&relisted.current(), &target2, &options);
    for a in &again2.actions {
        let key = a.key().to_owned();
        assert!(
            target.ambiguous.contains(&key) || target2.ambiguous.contains(&key),
            "second plan from a fresh listing acts on {key:?}, which is not a guessed tie: {a:?}"
        );
    }
}

/// Input of [`check_wire_keys`].
///
/// The strings are built from pieces that matter to each parser (separators, `+`, `%`,
/// NFC and NFD forms, date parts, units) mixed with arbitrary characters, so that random
/// bytes reach the interesting cases too.
#[derive(Debug, Clone, Arbitrary)]
pub struct WireKeysInput {
    /// A bucket name (reduced to the characters bucket names may have).
    pub bucket: String,
    /// An object key.
    #[arbitrary(with = |u: &mut Unstructured<'_>| pieces(u, KEY_PIECES))]
    pub key: String,
    /// A version id.
    #[arbitrary(with = |u: &mut Unstructured<'_>| pieces(u, VERSION_PIECES))]
    pub version_id: String,
    /// Text tried as an `s3://` location (as is and behind `s3://`) and as URL-encoded.
    #[arbitrary(with = |u: &mut Unstructured<'_>| pieces(u, URI_PIECES))]
    pub text: String,
    /// Text tried as a TIME argument.
    #[arbitrary(with = |u: &mut Unstructured<'_>| pieces(u, TIME_PIECES))]
    pub time: String,
    /// "Now" for the TIME argument, in seconds (reduced into chrono's range).
    pub now: i64,
}

const KEY_PIECES: &[&str] = &[
    "a",
    "Z",
    "9",
    "/",
    " ",
    "+",
    "%",
    "%2B",
    "?",
    "=",
    "&",
    "#",
    "~",
    ".",
    "-",
    "_",
    "\u{fc}",
    "u\u{308}",
    "\n",
    "\r",
    "\t",
    "\u{2028}",
    "\u{0}",
    "?versionId=",
    "//",
    "\u{1F600}",
];
const VERSION_PIECES: &[&str] = &["A", "z", "0", "+", "/", "=", ".", "_", "-", "null", "%"];
const URI_PIECES: &[&str] = &[
    "s3://", "bucket", "b", "/", "a", "-", ".", "_", "B", " ", "+", "%2B", "//", "\u{fc}", ":",
];
const TIME_PIECES: &[&str] = &[
    "2026-11-21",
    "1969-12-31",
    "9999-12-31",
    "T",
    " ",
    "09:41",
    ":00",
    ".5",
    ".000000001",
    "Z",
    "z",
    "+02:00",
    "-23:59",
    "@",
    "-",
    ".",
    "0",
    "5",
    "90",
    "99999999999999999999",
    "s",
    "m",
    "h",
    "d",
    "w",
    "min",
    "days",
    "ago",
    " ago",
    "now",
    "NOW",
    "\u{fc}",
];

/// A string of up to 16 pieces, each from `table` or an arbitrary character.
fn pieces(u: &mut Unstructured<'_>, table: &[&str]) -> arbitrary::Result<String> {
    let n = u.int_in_range(0..=16)?;
    let mut out = String::new();
    for _ in 0..n {
        let i = u.choose_index(table.len() + table.len() / 3 + 1)?;
        match table.get(i) {
            Some(piece) => out.push_str(piece),
            None => out.push(u.arbitrary()?),
        }
    }
    Ok(out)
}

/// Form-encode as S3 does for `EncodingType=url`: percent-encode UTF-8 bytes except
/// unreserved characters, space as `+` (so a literal `+` becomes `%2B`).
pub fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b' ' => out.push('+'),
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Encodings of keys and arguments lose nothing and never panic.
pub fn check_wire_keys(input: &WireKeysInput) {
    // Copy source: what the header carries decodes back to the same bucket, key and id.
    let bucket: String = input
        .bucket
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '.' || *c == '-')
        .collect();
    let bucket = if bucket.is_empty() {
        "bucket".to_owned()
    } else {
        bucket
    };
    let header = copy_source(&bucket, &input.key, &input.version_id);
    assert_eq!(
        parse_copy_source(&header),
        Some((bucket, input.key.clone(), input.version_id.clone())),
        "copy source {header:?} does not round-trip"
    );
    assert_eq!(
        header.matches("?versionId=").count(),
        1,
        "{header:?}: the separator must appear exactly once"
    );
    let path = &header[..header.rfind('?').expect("separator")];
    assert!(
        path.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~/%".contains(&b)),
        "{header:?}: unencoded character in the path"
    );

    // Form decoding inverts S3's form encoding, and never panics on anything else.
    for s in [&input.key, &input.text] {
        assert_eq!(
            form_decode(&form_encode(s)).as_deref(),
            Ok(s.as_str()),
            "form_decode does not invert form encoding of {s:?}"
        );
    }
    let _ = form_decode(&input.text);

    // Locations: what parses, re-formatted, parses to the same location.
    for text in [input.text.clone(), format!("s3://{}", input.text)] {
        if let Ok(location) = parse_s3_uri(&text) {
            let formatted = format!("s3://{}/{}", location.bucket, location.prefix);
            assert_eq!(formatted, location.to_string());
            assert_eq!(
                parse_s3_uri(&formatted).as_ref(),
                Ok(&location),
                "{text:?} → {formatted:?} does not parse back"
            );
        }
    }

    // TIME: never panics; a result is never after now and re-parses from @SECONDS and
    // from RFC 3339 to the same instant.
    const RANGE: i64 = 8_000_000_000_000; // about ±253,000 years, inside chrono's range
    let now = match input.now % 4 {
        0 => EPOCH + (input.now / 4) % 100_000_000,
        _ => input.now % RANGE,
    };
    let now = at(now);
    for text in [input.time.as_str(), input.text.as_str()] {
        if let Ok(resolved) = parse_time(text, now) {
            let instant = resolved.instant;
            assert!(
                instant <= now,
                "{text:?} resolved to {instant}, after {now}"
            );
            // Written as a decimal number of seconds: `@-1.250000000` is 1.25 s before
            // the epoch (chrono's floor form would be -2 s + 0.75 s).
            let nanos = instant.timestamp_subsec_nanos();
            let secs = instant.timestamp();
            let unix = if secs < 0 && nanos > 0 {
                format!("@-{}.{:09}", -(secs + 1), 1_000_000_000 - nanos)
            } else {
                format!("@{secs}.{nanos:09}")
            };
            assert_eq!(
                parse_time(&unix, now).map(|r| r.instant),
                Ok(instant),
                "{text:?} → {unix:?}"
            );
            if (0..=9999).contains(&chrono::Datelike::year(&instant)) {
                let rfc = instant.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
                assert_eq!(
                    parse_time(&rfc, now).map(|r| r.instant),
                    Ok(instant),
                    "{text:?} → {rfc:?}"
                );
            }
        }
    }
}

/// Input of [`check_raw_pages`].
#[derive(Debug, Clone, Arbitrary)]
pub struct RawPagesInput {
    /// Shorten keys and version ids to their first character, so that pages continue
    /// each other's keys and repeat ids (random strings rarely do).
    pub squash: bool,
    /// Put every entry in the list its `delete_marker` flag says and sort each list by
    /// key, so that more pages get past the first checks and into the merge.
    pub tidy: bool,
    /// Where to split the pages between two builders (modulo the number of pages + 1),
    /// as a parallel listing of two key ranges would.
    pub split: u8,
    /// Pages as a (possibly broken) server might send them.
    #[arbitrary(with = arbitrary_pages)]
    pub pages: Vec<ListPage>,
}

fn arbitrary_pages(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<ListPage>> {
    // Counts from `int_in_range` rather than `Vec`'s continue-bits (see `History`).
    let pages = u.int_in_range(0..=8)?;
    let list = |u: &mut Unstructured<'_>| -> arbitrary::Result<Vec<Entry>> {
        let n = u.int_in_range(0..=6)?;
        (0..n).map(|_| Entry::arbitrary(u)).collect()
    };
    (0..pages)
        .map(|_| {
            Ok(ListPage {
                versions: list(u)?,
                delete_markers: list(u)?,
            })
        })
        .collect()
}

impl RawPagesInput {
    /// The pages with `squash` and `tidy` applied.
    pub fn prepared(&self) -> Vec<ListPage> {
        let mut pages = self.pages.clone();
        if self.tidy {
            for p in &mut pages {
                let all: Vec<Entry> = p
                    .versions
                    .drain(..)
                    .chain(p.delete_markers.drain(..))
                    .collect();
                (p.delete_markers, p.versions) =
                    all.into_iter().partition(|e| e.version.delete_marker);
            }
        }
        if self.squash {
            for e in pages
                .iter_mut()
                .flat_map(|p| p.versions.iter_mut().chain(p.delete_markers.iter_mut()))
            {
                squash(&mut e.key);
                let mut id = e.version.version_id.to_string();
                squash(&mut id);
                e.version.version_id = id.into();
            }
        }
        if self.tidy {
            for p in &mut pages {
                p.versions.sort_by(|a, b| a.key.cmp(&b.key));
                p.delete_markers.sort_by(|a, b| a.key.cmp(&b.key));
            }
        }
        pages
    }
}

fn squash(s: &mut String) {
    if let Some(c) = s.chars().next() {
        *s = c.to_string();
    }
}

/// Any pages: each page is either rejected, leaving the builder as it was, or taken
/// whole, entry for entry. The timeline's keys are strictly increasing, its length is
/// the number of entries taken, each key keeps its versions and its delete markers in
/// the order their lists gave them, and `state_at` agrees with each key's `entry_at`.
///
/// Also: appending an empty builder midway changes nothing, and two builders over
/// consecutive key ranges, appended, give the one-builder timeline.
pub fn check_raw_pages(input: &RawPagesInput) {
    check_raw_pages_with(input, true);
}

/// [`check_raw_pages`], optionally without the empty-append property (which the engine
/// breaks at the moment: `TimelineBuilder::append` of an empty builder forgets the
/// version ids seen for the last key, so a repeated entry is then accepted).
// Longer than 120 lines on purpose: one fuzz input checked against every listing reading in turn; the readings share the decoded pages.
pub fn check_raw_pages_with(input: &RawPagesInput, append_empty: bool) {
    let pages = input.prepared();
    let split = usize::from(input.split) % (pages.len() + 1);
    let mut builder = TimelineBuilder::new();
    let mut accepted: Vec<ListPage> = Vec::new();
    let mut verdicts = Vec::new();
    for page in &pages {
        let (len, last) = (builder.len(), builder.last_key().map(str::to_owned));
        match builder.push_page(page.clone()) {
            Ok(()) => {
                assert_eq!(builder.len(), len + page.len());
                accepted.push(page.clone());
                verdicts.push(true);
            }
            Err(_) => {
                assert_eq!(
                    (builder.len(), builder.last_key()),
                    (len, last.as_deref()),
                    "a rejected page changed the builder"
                );
                verdicts.push(false);
            }
        }
    }
    let timeline = builder.finish();

    // Appending an empty builder (a key range with nothing in it) changes nothing: the
    // same pages are accepted and rejected afterwards, and the timeline is the same.
    let mut with_empty = TimelineBuilder::new();
    let mut verdicts_with_empty = Vec::new();
    let pages_with_empty = if append_empty { &pages[..] } else { &[] };
    for (i, page) in pages_with_empty.iter().enumerate() {
        if i == split {
            with_empty
                .append(TimelineBuilder::new())
                .expect("appending an empty builder succeeds");
        }
        verdicts_with_empty.push(with_empty.push_page(page.clone()).is_ok());
    }
    if append_empty {
        assert_eq!(
            verdicts_with_empty, verdicts,
            "appending an empty builder after page {split} changed which pages are accepted"
        );
        assert_eq!(with_empty.finish(), timeline);
    }

    // Two builders over consecutive key ranges, appended, give the one-builder timeline
    // (when every page was accepted; append refuses ranges that overlap).
    if verdicts.iter().all(|&ok| ok) {
        let part = |range: &[ListPage]| {
            let mut b = TimelineBuilder::new();
            for p in range {
                b.push_page(p.clone())
                    .expect("a suffix of accepted pages is accepted by a fresh builder");
            }
            b
        };
        let (mut first, second) = (part(&pages[..split]), part(&pages[split..]));
        let boundary = (first.last_key().map(str::to_owned), {
            let t = part(&pages[split..]).finish();
            t.keys().first().map(|k| k.key.clone())
        });
        match first.append(second) {
            Ok(()) => assert_eq!(
                first.finish(),
                timeline,
                "two key ranges appended differ from one listing"
            ),
            Err(_) => {
                let (Some(last), Some(next)) = boundary else {
                    panic!("append refused with an empty side: {boundary:?}")
                };
                assert!(
                    next <= last,
                    "append refused ordered ranges {last:?} < {next:?}"
                );
            }
        }
    }
    let taken: usize = accepted.iter().map(ListPage::len).sum();
    assert_eq!(timeline.len(), taken, "len is not the entries taken");
    assert_eq!(
        timeline
            .keys()
            .iter()
            .map(|k| k.entries.len())
            .sum::<usize>(),
        taken,
        "the keys do not hold the entries taken"
    );
    for w in timeline.keys().windows(2) {
        assert!(w[0].key < w[1].key, "keys not strictly increasing: {w:?}");
    }
    for k in timeline.keys() {
        assert!(!k.entries.is_empty(), "{:?} has no entries", k.key);
        let ids: BTreeSet<&s3rewind_engine::VersionId> =
            k.entries.iter().map(|v| &v.version_id).collect();
        assert_eq!(
            ids.len(),
            k.entries.len(),
            "{:?} repeats a version id",
            k.key
        );
        for markers in [false, true] {
            let kept: Vec<&Version> = k
                .entries
                .iter()
                .filter(|v| v.delete_marker == markers)
                .collect();
            let given: Vec<&Version> = accepted
                .iter()
                .flat_map(|p| {
                    if markers {
                        &p.delete_markers
                    } else {
                        &p.versions
                    }
                })
                .filter(|e| e.key == k.key)
                .map(|e| &e.version)
                .collect();
            assert_eq!(
                kept, given,
                "{:?}: entries of one list not kept as given",
                k.key
            );
        }
    }

    let mut secs: BTreeSet<i64> = BTreeSet::new();
    for k in timeline.keys() {
        for v in &k.entries {
            let t = v.last_modified.timestamp();
            secs.extend([t - 1, t, t + 1]);
        }
    }
    let states = secs
        .into_iter()
        .map(|s| (Some(at(s)), timeline.state_at(at(s))))
        .chain([(None, timeline.current())]);
    for (t, state) in states {
        for w in state.objects.windows(2) {
            assert!(w[0].key < w[1].key, "state not sorted by key");
        }
        let expected: BTreeMap<&str, &Version> = timeline
            .keys()
            .iter()
            .filter_map(|k| {
                let e = match t {
                    Some(t) => k.entry_at(t),
                    None => k.head(),
                };
                e.filter(|v| !v.delete_marker).map(|v| (k.key.as_str(), v))
            })
            .collect();
        let got: BTreeMap<&str, &Version> = state
            .objects
            .iter()
            .map(|e| (e.key.as_str(), &e.version))
            .collect();
        assert_eq!(got, expected, "state at {t:?} disagrees with entry_at");
    }
}

/// Input of [`check_index_file`].
#[derive(Debug, Clone, Arbitrary)]
pub struct IndexFileInput {
    /// The timeline: what a builder takes of these pages.
    pub pages: RawPagesInput,
    /// Bytes of the stored entries to change (position modulo their length, and a
    /// non-zero XOR).
    pub flips: Vec<(u32, u8)>,
    /// How many characters of the first key make a prefix to read.
    pub prefix_len: u8,
}

/// A timeline written as an index reads back as itself, whole or under a prefix, and
/// a file whose entries were changed after the header is refused or reads back
/// unchanged: never as another timeline. (The header is JSON without a checksum: a
/// change there is another header, which the commands compare with the bucket.)
pub fn check_index_file(input: &IndexFileInput) {
    use s3rewind_engine::index::{read_index, write_index};
    let mut b = TimelineBuilder::new();
    for p in input.pages.prepared() {
        let _ = b.push_page(p);
    }
    let tl = b.finish();
    let created = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("in range");
    let mut file = Vec::new();
    write_index(&mut file, "bkt", "", created, "listing", &tl).expect("written");
    let (header, back) = read_index(&file[..], "").expect("an index as written reads");
    assert_eq!(back, tl, "the index does not read back as written");
    assert_eq!(header.entries, tl.len() as u64);
    let prefix: String = tl
        .keys()
        .first()
        .map(|h| {
            h.key
                .chars()
                .take(usize::from(input.prefix_len) % 4)
                .collect()
        })
        .unwrap_or_default();
    let (_, part) = read_index(&file[..], &prefix).expect("reads under a prefix");
    let want: Vec<&KeyHistory> = tl
        .keys()
        .iter()
        .filter(|h| h.key.starts_with(&prefix))
        .collect();
    assert_eq!(part.keys().iter().collect::<Vec<_>>(), want);
    assert!(
        part.anomalies()
            .iter()
            .all(|a| a.key().starts_with(&prefix))
    );
    let start = 16 + u32::from_le_bytes(file[12..16].try_into().expect("4 bytes")) as usize;
    if input.flips.is_empty() || file.len() <= start {
        return;
    }
    let mut damaged = file.clone();
    for &(at, x) in &input.flips {
        let at = start + at as usize % (file.len() - start);
        damaged[at] ^= x.max(1);
    }
    if let Ok((_, t)) = read_index(&damaged[..], "") {
        assert_eq!(t, tl, "a damaged index read as another timeline");
    }
    // And cut short: refused.
    assert!(read_index(&file[..file.len() - 1], "").is_err());
}

/// Run `check` on `count` inputs made from a fixed pseudo-random byte stream: the same
/// inputs on every run, varied in size (the first ones small, as a fuzzer starts), built
/// the way `fuzz_target!` builds its input.
pub fn run_deterministic<T, F>(seed: u64, count: usize, mut check: F)
where
    T: for<'a> Arbitrary<'a>,
    F: FnMut(&T),
{
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut bytes = Vec::new();
    for i in 0..count {
        let len = 8 + (next() as usize) % (64 + 8 * i.min(256));
        bytes.clear();
        bytes.extend((0..len).map(|_| next() as u8));
        // As `fuzz_target!` does: the last field takes the rest of the bytes.
        if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(&bytes)) {
            check(&input);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_pages() {
        run_deterministic(1, 1000, check_timeline_pages);
    }

    #[test]
    fn plan_apply() {
        run_deterministic(2, 1000, check_plan_apply);
    }

    #[test]
    fn wire_keys() {
        run_deterministic(3, 5000, check_wire_keys);
    }

    /// Everything but the empty-append property (tested on its own below).
    #[test]
    fn raw_pages() {
        run_deterministic(4, 3000, |i| check_raw_pages_with(i, false));
    }

    #[test]
    fn raw_pages_append_empty() {
        run_deterministic(4, 3000, check_raw_pages);
    }

    /// The generated inputs are not trivial: histories have operations, pages entries.
    #[test]
    fn inputs_have_substance() {
        let mut ops = 0;
        let mut enabled = 0;
        run_deterministic(1, 400, |i: &TimelinePagesInput| {
            ops += i.history.ops.len();
            enabled += usize::from(i.history.replay().bucket.versioning() == Versioning::Enabled);
        });
        assert!(ops > 400 * 10, "{ops} operations in 400 histories");
        assert!(enabled > 50, "{enabled} histories end Enabled");
        let mut entries = 0;
        let mut taken = 0;
        run_deterministic(4, 1000, |i: &RawPagesInput| {
            entries += i.pages.iter().map(ListPage::len).sum::<usize>();
            let mut b = TimelineBuilder::new();
            for p in i.prepared() {
                let _ = b.push_page(p);
            }
            taken += b.len();
        });
        assert!(entries > 5000, "{entries} entries in 1000 page lists");
        assert!(taken > 500, "{taken} entries accepted");
    }

    #[test]
    fn index_file() {
        // And the inputs are not trivial: timelines with entries, and damage to them.
        let (mut with_entries, mut damaged) = (0, 0);
        run_deterministic(5, 2000, |i: &IndexFileInput| {
            let mut b = TimelineBuilder::new();
            for p in i.pages.prepared() {
                let _ = b.push_page(p);
            }
            if !b.is_empty() {
                with_entries += 1;
                damaged += usize::from(!i.flips.is_empty());
            }
            check_index_file(i);
        });
        assert!(
            with_entries > 300 && damaged > 100,
            "{with_entries} {damaged}"
        );
    }

    #[test]
    fn form_encode_matches_s3() {
        assert_eq!(form_encode("a b+c/ü"), "a+b%2Bc%2F%C3%BC");
    }
}
