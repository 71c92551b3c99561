//! [`Faulty`]: any [`Bucket`], with faults injected from a seeded generator.
//!
//! What real servers do to a long run: throttle (503 SlowDown), fail (500), drop the
//! connection before the request reached them (reset), lose the reply of a request they
//! carried out (a timeout after the write landed; also S3's "200 whose body is an error"
//! seen from the client as a failed copy that may or may not have happened — here, it
//! always happened, the harder case), answer slowly, die for good after the N-th call (a
//! crash of the client: nothing after it reaches the bucket), and share the bucket with
//! another writer.

use super::Bucket;
use super::{Call, ErrorKind, Head, ListRequest, ObjectAttrs, RawPage, S3Error, moved};
use s3rewind_engine::prng::Prng;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What to inject, and how often (probabilities per call, 0 to 1).
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Seed of the generator: the same seed and calls give the same faults.
    pub seed: u64,
    /// 503 SlowDown before the request reaches the bucket.
    pub throttle: f64,
    /// 500 InternalError before the request reaches the bucket.
    pub server_error: f64,
    /// Connection reset before the request reaches the bucket.
    pub reset: f64,
    /// The request is carried out, then its reply is lost (writes only).
    pub lost_reply: f64,
    /// A lost reply comes back as S3's "200 OK with an error document" (which
    /// CompleteMultipartUpload and CopyObject can send after the work is done), a
    /// non-transient error, instead of a connection reset.
    pub lost_reply_in_body: bool,
    /// Up to this many milliseconds of latency per call.
    pub latency_ms: u64,
    /// Exactly this many milliseconds per call, besides `latency_ms`.
    pub call_ms: u64,
    /// The bucket serves one call at a time (as moto does): a call's `call_ms` waits for
    /// the calls before it.
    pub one_at_a_time: bool,
    /// After this many calls, every call fails and reaches nothing (a crash).
    pub crash_after: Option<u64>,
    /// Another writer: before a call, with this probability, it writes a new version of
    /// one of `writer_keys`.
    pub writer: f64,
    /// The keys the other writer writes.
    pub writer_keys: Vec<String>,
    /// Writes of these keys are refused for good (403 AccessDenied, before they reach
    /// the bucket): a permanent failure.
    pub deny_keys: Vec<String>,
    /// Every write is refused for good, as `deny_keys` refuses some (a role without
    /// the permission).
    pub deny_writes: bool,
    /// From this ListObjectVersions call on, a page comes back empty and truncated with
    /// the markers it was asked for (a listing whose markers stall).
    pub stall_listing_after: Option<u64>,
    /// The other writer writes only right before our writes (after any read that checked
    /// the key): the race that only a conditional write closes.
    pub writer_before_writes: bool,
    /// The other writer writes only from this call on (counted from 1; 0 and 1: from the
    /// first): after the reads a test lets through unchanged.
    pub writer_from_call: u64,
    /// The other writer writes only right before calls of this operation (`HeadObject`):
    /// a write that lands between a listing and the read that checks it.
    pub writer_before: Option<&'static str>,
}

#[derive(Debug)]
struct State {
    rng: Prng,
    calls: u64,
    /// Keys the other writer wrote, with the version ids it made.
    written: Vec<(String, String)>,
    /// Writes whose reply was lost.
    lost: u64,
    /// The keys of those writes, one entry per lost reply.
    lost_keys: Vec<String>,
    /// Faults injected so far, by kind.
    injected: Injected,
    /// ListObjectVersions calls so far.
    list_calls: u64,
    /// Calls in flight now, and the most there ever were.
    in_flight: usize,
    peak_in_flight: usize,
}

/// How many faults of each kind a [`Faulty`] injected (a property asserts that the faults
/// it configured really happened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    /// 503 SlowDown.
    pub throttles: u64,
    /// 500 InternalError.
    pub server_errors: u64,
    /// Connection resets.
    pub resets: u64,
    /// Writes carried out whose reply was lost.
    pub lost_replies: u64,
    /// Calls refused after the crash point.
    pub after_crash: u64,
    /// Versions the other writer wrote.
    pub foreign_writes: u64,
    /// Writes refused for good (`deny_keys`).
    pub denied: u64,
    /// Writes that went past the other faults, where a reply could be lost (not a
    /// fault: what `lost_reply` is a share of).
    pub writes_carried: u64,
    /// Calls before which the other writer could write (not a fault: what `writer` is a
    /// share of).
    pub writer_chances: u64,
}

impl State {
    fn next(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.chance(p)
    }
}

/// A bucket that misbehaves on purpose.
#[derive(Debug, Clone)]
pub struct Faulty {
    inner: Arc<dyn Bucket>,
    faults: Arc<Faults>,
    state: Arc<Mutex<State>>,
    /// Held through a call's `call_ms` when the bucket serves one call at a time.
    queue: Arc<tokio::sync::Mutex<()>>,
}

/// What the fault generator decided for one call.
enum Verdict {
    Go { lose_reply: bool, delay: u64 },
    Fail(S3Error),
}

fn injected(kind: ErrorKind, code: &str, status: Option<u16>, what: &str) -> S3Error {
    S3Error {
        kind,
        context: format!("{what} (injected fault)"),
        code: Some(code.to_owned()),
        status,
        message: "injected by the test bucket".to_owned(),
    }
}

impl Faulty {
    /// Wrap `inner`.
    pub fn new(inner: Arc<dyn Bucket>, faults: Faults) -> Self {
        Faulty {
            inner,
            state: Arc::new(Mutex::new(State {
                rng: Prng(faults.seed),
                calls: 0,
                written: Vec::new(),
                lost: 0,
                lost_keys: Vec::new(),
                injected: Injected::default(),
                list_calls: 0,
                in_flight: 0,
                peak_in_flight: 0,
            })),
            faults: Arc::new(faults),
            queue: Arc::default(),
        }
    }

    /// Calls made so far (all of them, faulty or not).
    pub fn calls(&self) -> u64 {
        self.lock().calls
    }

    /// What the other writer wrote: (key, version id).
    pub fn written(&self) -> Vec<(String, String)> {
        self.lock().written.clone()
    }

    /// Writes that were carried out but whose reply was lost.
    pub fn lost_replies(&self) -> u64 {
        self.lock().lost
    }

    /// The keys of the writes whose reply was lost (one entry per lost reply).
    pub fn lost_keys(&self) -> Vec<String> {
        self.lock().lost_keys.clone()
    }

    /// The faults injected so far, by kind.
    pub fn injected(&self) -> Injected {
        self.lock().injected
    }

    /// The most calls that were ever in flight at once.
    pub fn peak_in_flight(&self) -> usize {
        self.lock().peak_in_flight
    }

    /// Count a call in flight for as long as `call` runs.
    async fn tracked<T, F>(&self, call: F) -> T
    where
        F: std::future::Future<Output = T>,
    {
        {
            let mut s = self.lock();
            s.in_flight += 1;
            s.peak_in_flight = s.peak_in_flight.max(s.in_flight);
        }
        let r = call.await;
        self.lock().in_flight -= 1;
        r
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn verdict(&self, what: &str, write: bool) -> Verdict {
        let (verdict, writer_key) = {
            let f = &self.faults;
            let mut s = self.lock();
            s.calls += 1;
            if f.crash_after.is_some_and(|n| s.calls > n) {
                s.injected.after_crash += 1;
                return Verdict::Fail(injected(ErrorKind::Unreachable, "Crashed", None, what));
            }
            if !f.writer_keys.is_empty() {
                s.injected.writer_chances += 1;
            }
            let writer_key = (!f.writer_keys.is_empty()
                && (write || !f.writer_before_writes)
                && s.calls >= f.writer_from_call
                && f.writer_before.is_none_or(|op| op == what)
                && s.chance(f.writer))
            .then(|| f.writer_keys[(s.next() % f.writer_keys.len() as u64) as usize].clone());
            let delay = if f.latency_ms > 0 {
                s.next() % (f.latency_ms + 1)
            } else {
                0
            };
            let v = if s.chance(f.throttle) {
                s.injected.throttles += 1;
                Verdict::Fail(injected(ErrorKind::Throttled, "SlowDown", Some(503), what))
            } else if s.chance(f.server_error) {
                s.injected.server_errors += 1;
                Verdict::Fail(injected(ErrorKind::Other, "InternalError", Some(500), what))
            } else if s.chance(f.reset) {
                s.injected.resets += 1;
                Verdict::Fail(injected(
                    ErrorKind::Unreachable,
                    "ConnectionReset",
                    None,
                    what,
                ))
            } else {
                if write {
                    s.injected.writes_carried += 1;
                }
                let lose_reply = write && s.chance(f.lost_reply);
                Verdict::Go { lose_reply, delay }
            };
            (v, writer_key)
        };
        if let Some(key) = writer_key {
            let head = Head::default();
            let attrs = ObjectAttrs::plain(&head);
            let body = format!("written by another writer, call {}", self.calls());
            if let Ok(id) = self
                .inner
                .put_with_attrs(&key, body.into_bytes(), &attrs)
                .await
            {
                let mut s = self.lock();
                s.written.push((key, id));
                s.injected.foreign_writes += 1;
            }
        }
        if let Verdict::Go { delay, .. } = &verdict
            && *delay > 0
        {
            tokio::time::sleep(Duration::from_millis(*delay)).await;
        }
        if matches!(verdict, Verdict::Go { .. }) && self.faults.call_ms > 0 {
            let _turn = if self.faults.one_at_a_time {
                Some(self.queue.lock().await)
            } else {
                None
            };
            tokio::time::sleep(Duration::from_millis(self.faults.call_ms)).await;
        }
        verdict
    }

    /// Run one call through the fault generator: a write of a key may also land and lose
    /// its reply.
    async fn around<T, F>(&self, call: Call<'_>, inner: F) -> Result<T, S3Error>
    where
        F: std::future::Future<Output = Result<T, S3Error>>,
    {
        match call.writes {
            Some(key) => self.write(call.op, key, inner).await,
            None => self.read(call.op, inner).await,
        }
    }

    /// A ListObjectVersions page that came back: past `stall_listing_after` successful
    /// calls, a continued listing gets an empty truncated page that names the markers it
    /// was asked with (a server whose listing no longer advances).
    fn listed(&self, request: &ListRequest<'_>, page: RawPage) -> RawPage {
        let stalled = {
            let mut s = self.lock();
            s.list_calls += 1;
            self.faults
                .stall_listing_after
                .is_some_and(|n| s.list_calls > n)
        };
        if stalled && request.key_marker.is_some() {
            return RawPage {
                document: Vec::new(),
                truncated: true,
                next_key_marker: request.key_marker.map(str::to_owned),
                next_version_id_marker: request.version_id_marker.map(str::to_owned),
                common_prefixes: Vec::new(),
                marker_raw: false,
            };
        }
        page
    }

    /// Run a read through the fault generator.
    async fn read<T, F>(&self, what: &str, call: F) -> Result<T, S3Error>
    where
        F: std::future::Future<Output = Result<T, S3Error>>,
    {
        self.tracked(async {
            match self.verdict(what, false).await {
                Verdict::Fail(e) => Err(e),
                Verdict::Go { .. } => call.await,
            }
        })
        .await
    }

    /// Run a write of `key` through the fault generator: it may also land and lose its
    /// reply.
    async fn write<T, F>(&self, what: &str, key: &str, call: F) -> Result<T, S3Error>
    where
        F: std::future::Future<Output = Result<T, S3Error>>,
    {
        self.tracked(self.write_untracked(what, key, call)).await
    }

    async fn write_untracked<T, F>(&self, what: &str, key: &str, call: F) -> Result<T, S3Error>
    where
        F: std::future::Future<Output = Result<T, S3Error>>,
    {
        if self.faults.deny_writes || self.faults.deny_keys.iter().any(|k| k == key) {
            self.lock().injected.denied += 1;
            return Err(S3Error {
                kind: ErrorKind::AccessDenied,
                context: format!("{what} of {key:?} (injected fault)"),
                code: Some("AccessDenied".to_owned()),
                status: Some(403),
                message: "denied for good by the test bucket".to_owned(),
            });
        }
        match self.verdict(what, true).await {
            Verdict::Fail(e) => Err(e),
            Verdict::Go { lose_reply, .. } => {
                let r = call.await;
                if lose_reply && r.is_ok() {
                    let mut s = self.lock();
                    s.lost += 1;
                    s.lost_keys.push(key.to_owned());
                    s.injected.lost_replies += 1;
                    return Err(if self.faults.lost_reply_in_body {
                        injected(ErrorKind::Other, "InternalError", Some(200), what)
                    } else {
                        injected(ErrorKind::Unreachable, "ReplyLost", None, what)
                    });
                }
                r
            }
        }
    }
}

/// Run the call through the fault generator.
macro_rules! faulty_call {
    ($self:ident, $call:expr, $inner:expr) => {
        $self.around($call, $inner).await
    };
}

super::layered_bucket!(
    impl[] Faulty,
    around = faulty_call,
    body = moved,
    listed = Faulty::listed
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::{MemStore, Part};
    use s3rewind_engine::Versioning;

    fn bucket(faults: Faults) -> (Arc<MemStore>, Faulty) {
        let store = MemStore::new();
        store.create("b", Versioning::Enabled);
        let inner = store.endpoint().bucket("b");
        (store, Faulty::new(inner, faults))
    }

    /// The other writer writes only as often as its chance says, also when it waits for
    /// our writes: at chance 0 it never writes.
    #[tokio::test]
    async fn the_other_writer_never_writes_at_chance_zero() {
        let (_store, f) = bucket(Faults {
            writer: 0.0,
            writer_keys: vec!["k".into()],
            writer_before_writes: true,
            ..Default::default()
        });
        for i in 0..20 {
            f.put(&format!("x{i}"), b"x".to_vec(), "text/plain")
                .await
                .unwrap();
        }
        assert!(f.written().is_empty(), "{:?}", f.written());
    }

    /// A lost reply: the write is carried out, and the caller gets a reset, or with
    /// `lost_reply_in_body` S3's 200 OK with an error document (not transient).
    #[tokio::test]
    async fn a_lost_reply_is_a_reset_or_a_200_with_an_error() {
        for in_body in [false, true] {
            let (store, f) = bucket(Faults {
                lost_reply: 1.0,
                lost_reply_in_body: in_body,
                ..Default::default()
            });
            let e = f
                .put("k", b"written".to_vec(), "text/plain")
                .await
                .unwrap_err();
            assert_eq!(e.is_transient(), !in_body, "{e:?}");
            if in_body {
                assert_eq!((e.kind, e.status), (ErrorKind::Other, Some(200)));
            }
            assert_eq!(f.lost_replies(), 1);
            let written = store.with("b", |s| s.current_contents());
            assert_eq!(written["k"].to_vec(), b"written", "carried out");
        }
    }

    /// A crash after `n` calls: the first `n` go through, every later one fails.
    #[tokio::test]
    async fn a_crash_after_n_calls_lets_exactly_n_through() {
        let (_store, f) = bucket(Faults {
            crash_after: Some(3),
            ..Default::default()
        });
        for i in 0..3 {
            f.head(&format!("k{i}"), None).await.unwrap();
        }
        for i in 3..6 {
            let e = f.head(&format!("k{i}"), None).await.unwrap_err();
            assert_eq!(e.code.as_deref(), Some("Crashed"), "{e:?}");
        }
        assert_eq!(f.injected().after_crash, 3);
    }

    /// At chance 1 the other writer writes one of its keys at every chance it gets.
    #[tokio::test]
    async fn the_other_writer_writes_at_chance_one() {
        let (store, f) = bucket(Faults {
            writer: 1.0,
            writer_keys: vec!["theirs".into()],
            ..Default::default()
        });
        for i in 0..5 {
            f.put(&format!("x{i}"), b"x".to_vec(), "text/plain")
                .await
                .unwrap();
        }
        assert_eq!(f.written().len(), 5, "{:?}", f.written());
        assert!(
            store
                .with("b", |s| s.current_contents())
                .contains_key("theirs")
        );
    }

    /// Tags read through Faulty are the bucket's own (none here).
    #[tokio::test]
    async fn tags_without_faults_are_the_bucket_s_own() {
        let (_store, f) = bucket(Faults::default());
        let put = f.put("k", b"hello".to_vec(), "text/plain").await.unwrap();
        let id = put.version_id.unwrap_or_default();
        assert_eq!(
            f.tags("k", &id).await.unwrap(),
            Vec::<(String, String)>::new()
        );
        // The write reached the bucket under the id it returned, and tags put through
        // the wrapper read back through it (shard 5 survivors: `put_with_attrs` and
        // `tags` answering without the bucket).
        let now = f.head("k", None).await.unwrap().expect("written");
        assert_eq!(now.version_id, id);
        assert_eq!(now.size, 5);
        let tag = vec![("team".to_owned(), "finance".to_owned())];
        f.put_tags("k", Some(&id), &tag).await.unwrap();
        assert_eq!(f.tags("k", &id).await.unwrap(), tag);
        // A write with attributes (a streamed copy's) reaches the bucket too.
        let head = Head::default();
        let written = f
            .put_with_attrs("s", b"streamed".to_vec(), &ObjectAttrs::plain(&head))
            .await
            .unwrap();
        let now = f.head("s", None).await.unwrap().expect("written");
        assert_eq!((now.version_id, now.size), (written, 8));
    }

    /// Injected latency is at most `latency_ms` per call (measured on tokio's paused
    /// clock, which advances exactly by the sleeps: no wall-clock timing).
    #[tokio::test(start_paused = true)]
    async fn injected_latency_stays_within_its_bound() {
        let (_store, f) = bucket(Faults {
            seed: 9,
            latency_ms: 5,
            ..Default::default()
        });
        let start = tokio::time::Instant::now();
        for _ in 0..20 {
            f.head("nothing", None).await.unwrap();
        }
        let waited = start.elapsed();
        assert!(waited <= Duration::from_millis(20 * 5), "{waited:?}");
        assert!(waited > Duration::ZERO, "some latency was injected");
    }

    /// Reads pass through unchanged when no fault is drawn.
    #[tokio::test]
    async fn a_read_without_faults_is_the_bucket_s_own() {
        let (_store, f) = bucket(Faults::default());
        let put = f.put("k", b"hello".to_vec(), "text/plain").await.unwrap();
        let id = put.version_id.unwrap_or_default();
        assert_eq!(f.get("k", &id, None).await.unwrap(), b"hello");
        let mut out = Vec::new();
        assert_eq!(f.download("k", &id, &mut out).await.unwrap(), 5);
        assert_eq!(out, b"hello");
        assert_eq!(f.injected().writes_carried, 1, "the PUT went through");
    }

    /// UploadPart through Faulty without faults: the parts are the bucket's own, and the
    /// completed object is their bytes in order.
    #[tokio::test]
    async fn an_upload_of_parts_without_faults_is_the_bucket_s_own() {
        let (_store, f) = bucket(Faults::default());
        let head = Head::default();
        let id = f
            .create_multipart("m", &ObjectAttrs::plain(&head))
            .await
            .unwrap();
        let mut parts = Vec::new();
        for (n, body) in [(1, b"first ".to_vec()), (2, b"second".to_vec())] {
            let part = Part {
                key: "m",
                upload_id: &id,
                number: n,
            };
            let etag = f.upload_part(part, body).await.unwrap();
            assert!(!etag.is_empty());
            parts.push((n, etag));
        }
        let v = f.complete_multipart("m", &id, &parts).await.unwrap();
        assert_eq!(f.get("m", &v, None).await.unwrap(), b"first second");
    }

    /// `stall_listing_after`: from that call on, a page asked for from a marker comes
    /// back empty, truncated, with the markers it was asked for.
    #[tokio::test]
    async fn a_stalled_listing_repeats_its_markers() {
        let (_store, f) = bucket(Faults {
            stall_listing_after: Some(1),
            ..Default::default()
        });
        for k in ["a", "b", "c"] {
            f.put(k, b"x".to_vec(), "text/plain").await.unwrap();
        }
        let ask = |marker: Option<&'static str>| ListRequest {
            prefix: "",
            delimiter: None,
            key_marker: marker,
            version_id_marker: None,
            max_keys: 1,
            url_encoding: true,
        };
        let first = f.list_page(&ask(None)).await.unwrap();
        assert!(!first.document.is_empty() && first.truncated);
        let second = f.list_page(&ask(Some("a"))).await.unwrap();
        assert!(second.document.is_empty(), "stalled after one call");
        assert!(second.truncated);
        assert_eq!(second.next_key_marker.as_deref(), Some("a"));
    }
}
