//! [`Capped`]: any [`Bucket`] with hard caps that protect a production bucket while a
//! run acts on it — requests per second (every operation), bytes copied or written, and
//! the price of the requests sent — in the spirit of object_store's `LimitStore`.
//!
//! Requests are paced, never refused, to stay at or below `--max-rps`. The byte and cost
//! caps stop the run: the request that would go past a cap is not sent, it fails with
//! [`ErrorKind::CapReached`], and the caps say why they stopped ([`Caps::stopped`]): the
//! runner, which checks them before starting each item, starts nothing more and lets
//! what is in flight finish (journaled). The run ends as interrupted, resumable by running the same
//! command again. Every cap covers both buckets of a run when they share one [`Caps`].

use super::{Bucket, Call, ErrorKind, S3Error, moved};
use async_trait::async_trait;
use s3rewind_engine::estimate::PriceTable;
use std::sync::{Arc, Mutex};
use tokio::time::{Duration, Instant};

/// The caps, and what was spent so far (shared by the buckets of one run).
#[derive(Debug)]
pub struct Caps {
    /// At most this many requests per second, all operations together.
    pub max_rps: Option<f64>,
    /// Stop before copying or writing more than this many bytes.
    pub max_bytes: Option<u64>,
    /// Stop before the requests sent cost more than this (USD).
    pub max_cost: Option<f64>,
    /// The prices the cost is counted with.
    pub prices: PriceTable,
    spent: Mutex<Spent>,
    /// Why the run was stopped, once a cap was reached.
    stopped: Mutex<Option<String>>,
}

/// What a run sent, as the caps count it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spent {
    /// Requests sent.
    pub requests: u64,
    /// Bytes copied or written.
    pub bytes: u64,
    /// The requests' price (USD).
    pub cost: f64,
    /// When the next request may go (pacing).
    next: Option<Instant>,
}

/// How S3 prices a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// PUT, COPY, POST, LIST.
    A,
    /// GET, HEAD and the rest.
    B,
    /// DELETE: free.
    Free,
}

impl Class {
    /// How S3 prices the operation `op`: listings, and writes but deletes, are class A;
    /// reads (GET, HEAD) class B; deletes are free.
    fn of(op: &str) -> Class {
        if op.starts_with("Get") || op.starts_with("Head") {
            Class::B
        } else if op.starts_with("Delete") || op.starts_with("Abort") {
            Class::Free
        } else {
            Class::A
        }
    }
}

impl Caps {
    /// Caps at `max_rps`, `max_bytes`, `max_cost` (any may be `None`), counted at `prices`.
    pub fn new(
        max_rps: Option<f64>,
        max_bytes: Option<u64>,
        max_cost: Option<f64>,
        prices: PriceTable,
    ) -> Arc<Caps> {
        Arc::new(Caps {
            max_rps,
            max_bytes,
            max_cost,
            prices,
            spent: Mutex::new(Spent::default()),
            stopped: Mutex::new(None),
        })
    }

    /// Why the run must stop (a cap was reached), if it must.
    pub fn stopped(&self) -> Option<String> {
        self.stopped
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// True when no cap is set.
    pub fn none(&self) -> bool {
        self.max_rps.is_none() && self.max_bytes.is_none() && self.max_cost.is_none()
    }

    /// What was spent so far.
    pub fn spent(&self) -> Spent {
        *self.spent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admit one call (an abort, which cleans up after a stop, is never refused, and free).
    async fn admit_call(&self, call: &Call<'_>) -> Result<(), S3Error> {
        if call.op == "AbortMultipartUpload" {
            return Ok(());
        }
        self.admit(call.op, Class::of(call.op), call.bytes).await
    }

    /// Admit one request of `class` that moves `bytes`: wait for its slot under
    /// `max_rps`, or refuse it when it would go past the byte or cost cap.
    async fn admit(&self, what: &str, class: Class, bytes: u64) -> Result<(), S3Error> {
        let wait = {
            let mut s = self.spent.lock().unwrap_or_else(|p| p.into_inner());
            let price = match class {
                Class::A => self.prices.class_a_per_1000 / 1000.0,
                Class::B => self.prices.class_b_per_1000 / 1000.0,
                Class::Free => 0.0,
            };
            let over = match (self.max_bytes, self.max_cost) {
                (Some(max), _) if bytes > 0 && s.bytes + bytes > max => Some(format!(
                    "--max-bytes {max}: {} copied so far, and the next write carries {bytes}",
                    s.bytes
                )),
                (_, Some(max)) if s.cost + price > max + 1e-12 => Some(format!(
                    "--max-cost {max}: the {} requests sent so far cost ${:.4}",
                    s.requests, s.cost
                )),
                _ => None,
            };
            if let Some(why) = over {
                drop(s);
                self.stopped
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| format!("stopped at {why}"));
                return Err(S3Error {
                    kind: ErrorKind::CapReached,
                    context: format!("{what} (not sent)"),
                    code: None,
                    status: None,
                    message: why,
                });
            }
            s.requests += 1;
            s.bytes += bytes;
            s.cost += price;
            match self.max_rps {
                Some(rps) if rps > 0.0 => {
                    let now = Instant::now();
                    let slot = s.next.map_or(now, |n| n.max(now));
                    s.next = Some(slot + Duration::from_secs_f64(1.0 / rps));
                    slot.checked_duration_since(now)
                }
                _ => None,
            }
        };
        if let Some(w) = wait.filter(|w| !w.is_zero()) {
            tokio::time::sleep(w).await;
        }
        Ok(())
    }
}

/// A bucket under [`Caps`].
#[derive(Debug, Clone)]
pub struct Capped {
    inner: Arc<dyn Bucket>,
    caps: Arc<Caps>,
}

impl Capped {
    /// `inner` under `caps`.
    pub fn new(inner: Arc<dyn Bucket>, caps: Arc<Caps>) -> Capped {
        Capped { inner, caps }
    }
}

/// Admit the call under the caps, then send it.
macro_rules! capped_call {
    ($self:ident, $call:expr, $inner:expr) => {{
        $self.caps.admit_call(&$call).await?;
        $inner.await
    }};
}

super::layered_bucket!(impl[] Capped, around = capped_call, body = moved);

/// An endpoint whose every bucket is [`Capped`] by the same [`Caps`]: what the binary
/// and the command tests build when `--max-rps`, `--max-bytes` or `--max-cost` is given.
/// Configuration reads (a handful per command) pass through uncounted.
#[derive(Debug)]
pub struct CappedEndpoint {
    inner: Arc<dyn super::Endpoint>,
    caps: Arc<Caps>,
}

impl CappedEndpoint {
    /// `inner` with every bucket under `caps`.
    pub fn new(inner: Arc<dyn super::Endpoint>, caps: Arc<Caps>) -> CappedEndpoint {
        CappedEndpoint { inner, caps }
    }
}

impl super::Endpoint for CappedEndpoint {
    fn bucket(&self, name: &str) -> Arc<dyn Bucket> {
        Arc::new(Capped::new(self.inner.bucket(name), self.caps.clone()))
    }

    fn config(&self, name: &str) -> Arc<dyn super::BucketConfig> {
        self.inner.config(name)
    }

    fn list_calls(&self) -> u64 {
        self.inner.list_calls()
    }
}

/// A connector whose endpoints are [`CappedEndpoint`]s under one [`Caps`] (a destination
/// reached with options of its own counts against the same caps).
#[derive(Debug)]
pub struct CappedConnector {
    inner: Arc<dyn super::Connector>,
    caps: Arc<Caps>,
}

impl CappedConnector {
    /// `inner`'s endpoints under `caps`.
    pub fn new(inner: Arc<dyn super::Connector>, caps: Arc<Caps>) -> CappedConnector {
        CappedConnector { inner, caps }
    }
}

#[async_trait]
impl super::Connector for CappedConnector {
    async fn connect(&self, opts: &super::ConnectOptions) -> Arc<dyn super::Endpoint> {
        Arc::new(CappedEndpoint::new(
            self.inner.connect(opts).await,
            self.caps.clone(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::{Capped, Caps, Class};
    use crate::bucket::{Bucket, MemStore};
    use s3rewind_engine::Versioning;
    use s3rewind_engine::estimate::PriceTable;

    /// An abort cleans up after a stop: it is neither counted nor paced under
    /// `--max-rps`, where every other call is.
    #[tokio::test(start_paused = true)]
    async fn an_abort_is_not_counted_or_paced() {
        let store = MemStore::new();
        store.create("b", Versioning::Enabled);
        let prices = PriceTable::for_region("us-east-1").0;
        let caps = Caps::new(Some(1.0), None, None, prices);
        let b = Capped::new(store.endpoint().bucket("b"), caps.clone());
        let started = tokio::time::Instant::now();
        for _ in 0..3 {
            let _ = b.abort_multipart("k", "no-such-upload").await;
        }
        assert_eq!(caps.spent().requests, 0);
        assert_eq!(started.elapsed(), std::time::Duration::ZERO);
        for _ in 0..3 {
            let _ = b.head("k", None).await;
        }
        assert_eq!(caps.spent().requests, 3);
        // One a second: the second and third waited their turn.
        assert_eq!(started.elapsed(), std::time::Duration::from_secs(2));
    }

    /// S3's request classes: PUT, COPY, POST and LIST are class A; GET and HEAD class B;
    /// DELETE (and an upload's abort, a DELETE) free.
    #[test]
    fn each_operation_s3rewind_sends_is_priced_in_its_class() {
        let table = [
            ("ListObjectVersions", Class::A),
            ("ListObjectsV2", Class::A),
            ("CopyObject", Class::A),
            ("PutObject", Class::A),
            ("PutObjectTagging", Class::A),
            ("CreateMultipartUpload", Class::A),
            ("UploadPart", Class::A),
            ("UploadPartCopy", Class::A),
            ("CompleteMultipartUpload", Class::A),
            ("RestoreObject", Class::A),
            ("GetBucketVersioning", Class::B),
            ("HeadObject", Class::B),
            ("GetObject", Class::B),
            ("GetObjectTagging", Class::B),
            ("GetObjectAcl", Class::B),
            ("DeleteObject", Class::Free),
            ("AbortMultipartUpload", Class::Free),
        ];
        for (op, class) in table {
            assert_eq!(Class::of(op), class, "{op}");
        }
    }
}
