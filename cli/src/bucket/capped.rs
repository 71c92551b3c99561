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

use super::{
    Acl, ArchiveRestoreState, Bucket, BucketVersioning, Capabilities, CopyRequest, ErrorKind,
    FirstBytes, Head, ListRequest, ObjectAttrs, ObjectsPage, Part, PartCopy, PutReply, RawPage,
    S3Error,
};
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

#[async_trait]
impl Bucket for Capped {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    async fn versioning(&self) -> Result<BucketVersioning, S3Error> {
        self.caps.admit("GetBucketVersioning", Class::B, 0).await?;
        self.inner.versioning().await
    }

    async fn list_page(&self, request: &ListRequest<'_>) -> Result<RawPage, S3Error> {
        self.caps.admit("ListObjectVersions", Class::A, 0).await?;
        self.inner.list_page(request).await
    }

    async fn list_objects(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: i32,
    ) -> Result<ObjectsPage, S3Error> {
        self.caps.admit("ListObjectsV2", Class::A, 0).await?;
        self.inner
            .list_objects(prefix, continuation, max_keys)
            .await
    }

    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>, S3Error> {
        self.caps.admit("HeadObject", Class::B, 0).await?;
        self.inner.head(key, version_id).await
    }

    async fn get(
        &self,
        key: &str,
        version_id: &str,
        range: Option<&str>,
    ) -> Result<Vec<u8>, S3Error> {
        self.caps.admit("GetObject", Class::B, 0).await?;
        self.inner.get(key, version_id, range).await
    }

    async fn download(
        &self,
        key: &str,
        version_id: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        self.caps.admit("GetObject", Class::B, 0).await?;
        self.inner.download(key, version_id, out).await
    }

    async fn tags(&self, key: &str, version_id: &str) -> Result<Vec<(String, String)>, S3Error> {
        self.caps.admit("GetObjectTagging", Class::B, 0).await?;
        self.inner.tags(key, version_id).await
    }

    async fn put_tags(
        &self,
        key: &str,
        version_id: Option<&str>,
        tags: &[(String, String)],
    ) -> Result<(), S3Error> {
        self.caps.admit("PutObjectTagging", Class::A, 0).await?;
        self.inner.put_tags(key, version_id, tags).await
    }

    async fn acl(&self, key: &str, version_id: &str) -> Result<Acl, S3Error> {
        self.caps.admit("GetObjectAcl", Class::B, 0).await?;
        self.inner.acl(key, version_id).await
    }

    async fn copy(&self, r: &CopyRequest<'_>) -> Result<String, S3Error> {
        self.caps.admit("CopyObject", Class::A, r.head.size).await?;
        self.inner.copy(r).await
    }

    async fn put_with_attrs(
        &self,
        key: &str,
        body: Vec<u8>,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        self.caps
            .admit("PutObject", Class::A, body.len() as u64)
            .await?;
        self.inner.put_with_attrs(key, body, attrs).await
    }

    async fn add_delete_marker(&self, key: &str) -> Result<String, S3Error> {
        self.caps.admit("DeleteObject", Class::Free, 0).await?;
        self.inner.add_delete_marker(key).await
    }

    async fn delete_version(&self, key: &str, version_id: &str) -> Result<(), S3Error> {
        self.caps.admit("DeleteObject", Class::Free, 0).await?;
        self.inner.delete_version(key, version_id).await
    }

    async fn create_multipart(
        &self,
        key: &str,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        self.caps
            .admit("CreateMultipartUpload", Class::A, 0)
            .await?;
        self.inner.create_multipart(key, attrs).await
    }

    async fn upload_part_copy(&self, p: PartCopy<'_>) -> Result<String, S3Error> {
        let bytes = p.range.1.saturating_sub(p.range.0) + 1;
        self.caps.admit("UploadPartCopy", Class::A, bytes).await?;
        self.inner.upload_part_copy(p).await
    }

    async fn upload_part(&self, part: Part<'_>, body: Vec<u8>) -> Result<String, S3Error> {
        self.caps
            .admit("UploadPart", Class::A, body.len() as u64)
            .await?;
        self.inner.upload_part(part, body).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, S3Error> {
        self.caps
            .admit("CompleteMultipartUpload", Class::A, 0)
            .await?;
        self.inner.complete_multipart(key, upload_id, parts).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        // An abort cleans up after a stop: it is never refused (and free).
        self.inner.abort_multipart(key, upload_id).await
    }

    async fn request_archive_restore(
        &self,
        key: &str,
        version_id: &str,
        days: Option<i32>,
        tier: &str,
    ) -> Result<ArchiveRestoreState, S3Error> {
        self.caps.admit("RestoreObject", Class::A, 0).await?;
        self.inner
            .request_archive_restore(key, version_id, days, tier)
            .await
    }

    async fn download_current(
        &self,
        key: &str,
        out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
    ) -> Result<u64, S3Error> {
        self.caps.admit("GetObject", Class::B, 0).await?;
        self.inner.download_current(key, out).await
    }

    async fn first_bytes(
        &self,
        key: &str,
        version_id: &str,
        len: usize,
    ) -> Result<FirstBytes, S3Error> {
        self.caps.admit("GetObject", Class::B, 0).await?;
        self.inner.first_bytes(key, version_id, len).await
    }

    async fn put(&self, key: &str, body: Vec<u8>, content_type: &str) -> Result<PutReply, S3Error> {
        self.caps
            .admit("PutObject", Class::A, body.len() as u64)
            .await?;
        self.inner.put(key, body, content_type).await
    }
}

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
