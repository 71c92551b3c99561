//! A bucket behind a layer. [`Capped`](super::Capped) admits each request under the
//! `--max-*` caps, [`Faulty`](super::Faulty) injects faults, and the command tests'
//! `SdkRetries` sends a read again as the SDK would: each does one thing around every call
//! and hands it on to the bucket it wraps (its field `inner`). [`layered_bucket!`] writes
//! their [`Bucket`](super::Bucket) impl once, from what each call is ([`Call`]), so a new
//! `Bucket` method is added here and in the two stores, not in every layer.

/// One call as a layer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call<'a> {
    /// The S3 operation (`CopyObject`): what a cap or an injected fault names, and how S3
    /// prices it.
    pub op: &'static str,
    /// The key it changes (`None`: it reads, or starts or ends an upload no reader sees).
    pub writes: Option<&'a str>,
    /// It adds a version or a delete marker and is sent once: a retry after a reply lost on
    /// the way back would add a second one, so the runner retries it after reading the key
    /// again (see `crate::s3`).
    pub sent_once: bool,
    /// The bytes it copies or uploads: what `--max-bytes` counts.
    pub bytes: u64,
}

impl<'a> Call<'a> {
    /// A read (or an upload's start, parts and abort).
    pub fn read(op: &'static str) -> Call<'a> {
        Call {
            op,
            writes: None,
            sent_once: false,
            bytes: 0,
        }
    }

    /// A write of `key` that may be sent again.
    pub fn write(op: &'static str, key: &'a str) -> Call<'a> {
        Call {
            writes: Some(key),
            ..Call::read(op)
        }
    }

    /// A write of `key` that adds a version or a delete marker: sent once.
    pub fn adding(op: &'static str, key: &'a str) -> Call<'a> {
        Call {
            sent_once: true,
            ..Call::write(op, key)
        }
    }

    /// The same call, moving `bytes`.
    pub fn moving(self, bytes: u64) -> Call<'a> {
        Call { bytes, ..self }
    }
}

/// The [`Bucket`](crate::bucket::Bucket) impl of a layer whose field `inner` is the bucket it
/// wraps:
///
/// ```ignore
/// layered_bucket!(impl[] Faulty, around = faulty_call, body = moved, listed = Faulty::listed);
/// ```
///
/// - `around!(self, call, inner_call)` runs one call: `call` is its [`Call`], `inner_call`
///   the wrapped bucket's future, an expression a layer may evaluate more than once (to
///   retry);
/// - `body!(body)` hands an owned request body on (`moved`, or `cloned` for a layer that may
///   send it again);
/// - `listed(&self, request, page)`, optional, sees each ListObjectVersions page that came
///   back and may answer another.
macro_rules! layered_bucket {
    (impl[$($generics:tt)*] $layer:ty, around = $around:ident, body = $body:ident
        $(, listed = $listed:path)?) => {
        #[async_trait::async_trait]
        impl<$($generics)*> $crate::bucket::Bucket for $layer {
            fn name(&self) -> &str {
                self.inner.name()
            }

            fn capabilities(&self) -> $crate::bucket::Capabilities {
                self.inner.capabilities()
            }

            async fn versioning(
                &self,
            ) -> Result<$crate::bucket::BucketVersioning, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetBucketVersioning");
                $around!(self, call, self.inner.versioning())
            }

            async fn list_page(
                &self,
                request: &$crate::bucket::ListRequest<'_>,
            ) -> Result<$crate::bucket::RawPage, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("ListObjectVersions");
                let page = $around!(self, call, self.inner.list_page(request))?;
                $(let page = $listed(self, request, page);)?
                Ok(page)
            }

            async fn list_objects(
                &self,
                prefix: &str,
                continuation: Option<&str>,
                max_keys: i32,
            ) -> Result<$crate::bucket::ObjectsPage, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("ListObjectsV2");
                $around!(self, call, self.inner.list_objects(prefix, continuation, max_keys))
            }

            async fn head(
                &self,
                key: &str,
                version_id: Option<&str>,
            ) -> Result<Option<$crate::bucket::Head>, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("HeadObject");
                $around!(self, call, self.inner.head(key, version_id))
            }

            async fn get(
                &self,
                key: &str,
                version_id: &str,
                range: Option<&str>,
            ) -> Result<Vec<u8>, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetObject");
                $around!(self, call, self.inner.get(key, version_id, range))
            }

            async fn download(
                &self,
                key: &str,
                version_id: &str,
                out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
            ) -> Result<u64, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetObject");
                $around!(self, call, self.inner.download(key, version_id, &mut *out))
            }

            async fn tags(
                &self,
                key: &str,
                version_id: &str,
            ) -> Result<Vec<(String, String)>, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetObjectTagging");
                $around!(self, call, self.inner.tags(key, version_id))
            }

            async fn put_tags(
                &self,
                key: &str,
                version_id: Option<&str>,
                tags: &[(String, String)],
            ) -> Result<(), $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::write("PutObjectTagging", key);
                $around!(self, call, self.inner.put_tags(key, version_id, tags))
            }

            async fn acl(
                &self,
                key: &str,
                version_id: &str,
            ) -> Result<$crate::bucket::Acl, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetObjectAcl");
                $around!(self, call, self.inner.acl(key, version_id))
            }

            async fn copy(
                &self,
                r: &$crate::bucket::CopyRequest<'_>,
            ) -> Result<String, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::adding("CopyObject", r.key).moving(r.head.size);
                $around!(self, call, self.inner.copy(r))
            }

            async fn put_with_attrs(
                &self,
                key: &str,
                body: Vec<u8>,
                attrs: &$crate::bucket::ObjectAttrs<'_>,
            ) -> Result<String, $crate::bucket::S3Error> {
                let call =
                    $crate::bucket::Call::adding("PutObject", key).moving(body.len() as u64);
                $around!(self, call, self.inner.put_with_attrs(key, $body!(body), attrs))
            }

            async fn add_delete_marker(
                &self,
                key: &str,
            ) -> Result<String, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::adding("DeleteObject", key);
                $around!(self, call, self.inner.add_delete_marker(key))
            }

            async fn delete_version(
                &self,
                key: &str,
                version_id: &str,
            ) -> Result<(), $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::write("DeleteObject", key);
                $around!(self, call, self.inner.delete_version(key, version_id))
            }

            async fn create_multipart(
                &self,
                key: &str,
                attrs: &$crate::bucket::ObjectAttrs<'_>,
            ) -> Result<String, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("CreateMultipartUpload");
                $around!(self, call, self.inner.create_multipart(key, attrs))
            }

            async fn upload_part_copy(
                &self,
                p: $crate::bucket::PartCopy<'_>,
            ) -> Result<String, $crate::bucket::S3Error> {
                let bytes = p.range.1.saturating_sub(p.range.0) + 1;
                let call = $crate::bucket::Call::read("UploadPartCopy").moving(bytes);
                $around!(self, call, self.inner.upload_part_copy(p))
            }

            async fn upload_part(
                &self,
                part: $crate::bucket::Part<'_>,
                body: Vec<u8>,
            ) -> Result<String, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("UploadPart").moving(body.len() as u64);
                $around!(self, call, self.inner.upload_part(part, $body!(body)))
            }

            async fn complete_multipart(
                &self,
                key: &str,
                upload_id: &str,
                parts: &[(i32, String)],
            ) -> Result<String, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::write("CompleteMultipartUpload", key);
                $around!(self, call, self.inner.complete_multipart(key, upload_id, parts))
            }

            async fn abort_multipart(
                &self,
                key: &str,
                upload_id: &str,
            ) -> Result<(), $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("AbortMultipartUpload");
                $around!(self, call, self.inner.abort_multipart(key, upload_id))
            }

            async fn request_archive_restore(
                &self,
                key: &str,
                version_id: &str,
                days: Option<i32>,
                tier: &str,
            ) -> Result<$crate::bucket::ArchiveRestoreState, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("RestoreObject");
                $around!(
                    self,
                    call,
                    self.inner.request_archive_restore(key, version_id, days, tier)
                )
            }

            async fn download_current(
                &self,
                key: &str,
                out: &mut (dyn tokio::io::AsyncWrite + Unpin + Send),
            ) -> Result<u64, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetObject");
                $around!(self, call, self.inner.download_current(key, &mut *out))
            }

            async fn first_bytes(
                &self,
                key: &str,
                version_id: &str,
                len: usize,
            ) -> Result<$crate::bucket::FirstBytes, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::read("GetObject");
                $around!(self, call, self.inner.first_bytes(key, version_id, len))
            }

            async fn put(
                &self,
                key: &str,
                body: Vec<u8>,
                content_type: &str,
            ) -> Result<$crate::bucket::PutReply, $crate::bucket::S3Error> {
                let call = $crate::bucket::Call::write("PutObject", key).moving(body.len() as u64);
                $around!(self, call, self.inner.put(key, $body!(body), content_type))
            }
        }
    };
}
pub(crate) use layered_bucket;

/// An owned body handed on as it is (a layer that sends each call once).
macro_rules! moved {
    ($body:expr) => {
        $body
    };
}
pub(crate) use moved;

#[cfg(test)]
mod tests {
    use super::Call;
    use crate::bucket::{
        Bucket, CopyRequest, Head, ListRequest, MemStore, ObjectAttrs, Part, PartCopy,
    };
    use s3rewind_engine::Versioning;
    use std::sync::{Arc, Mutex};

    /// A layer that writes down each call it sees.
    #[derive(Debug)]
    struct Recording {
        inner: Arc<dyn Bucket>,
        calls: Mutex<Vec<String>>,
    }

    macro_rules! recorded {
        ($self:ident, $call:expr, $inner:expr) => {{
            let c: Call<'_> = $call;
            let again = if c.sent_once { "once" } else { "again" };
            let line = format!("{} {} {again} {}", c.op, c.writes.unwrap_or("-"), c.bytes);
            $self.calls.lock().unwrap().push(line);
            $inner.await
        }};
    }

    super::layered_bucket!(impl[] Recording, around = recorded, body = moved);

    /// The table every layer acts on: which calls write which key, which are sent once
    /// (caps and retries depend on it), and the bytes each moves. The answers of the store
    /// below do not matter here, only that each call reached it.
    #[tokio::test]
    async fn each_call_says_what_it_does_to_the_bucket() {
        let store = MemStore::new();
        store.create("b", Versioning::Enabled);
        let b = Recording {
            inner: store.endpoint().bucket("b"),
            calls: Mutex::default(),
        };
        let head = Head {
            size: 5,
            ..Head::default()
        };
        let attrs = ObjectAttrs::plain(&head);
        let v = b.put_with_attrs("k", b"hello".to_vec(), &attrs).await;
        let v = v.expect("a put into memory");
        let _ = b.versioning().await;
        let _ = b.list_page(&ListRequest::new("", 10)).await;
        let _ = b.list_objects("", None, 10).await;
        let _ = b.head("k", Some(&v)).await;
        let _ = b.get("k", &v, None).await;
        let _ = b.download("k", &v, &mut tokio::io::sink()).await;
        let _ = b.tags("k", &v).await;
        let _ = b.put_tags("k", Some(&v), &[]).await;
        let _ = b.acl("k", &v).await;
        let copy = CopyRequest::plain("b", "k", &v, "c", &head);
        let _ = b.copy(&copy).await;
        let _ = b.add_delete_marker("c").await;
        let _ = b.delete_version("c", "x").await;
        let upload = b.create_multipart("m", &attrs).await.unwrap_or_default();
        let part = Part {
            key: "m",
            upload_id: &upload,
            number: 1,
        };
        let source = ("b", "k", v.as_str());
        let range = (0, 3);
        let _ = b
            .upload_part_copy(PartCopy {
                part,
                source,
                range,
            })
            .await;
        let _ = b.upload_part(part, vec![0; 7]).await;
        let _ = b.complete_multipart("m", &upload, &[]).await;
        let _ = b.abort_multipart("m", &upload).await;
        let _ = b
            .request_archive_restore("k", &v, Some(1), "Standard")
            .await;
        let _ = b.download_current("k", &mut tokio::io::sink()).await;
        let _ = b.first_bytes("k", &v, 2).await;
        let _ = b.put("p", vec![0; 9], "text/plain").await;
        let calls = b.calls.lock().unwrap().clone();
        let want = [
            "PutObject k once 5",
            "GetBucketVersioning - again 0",
            "ListObjectVersions - again 0",
            "ListObjectsV2 - again 0",
            "HeadObject - again 0",
            "GetObject - again 0",
            "GetObject - again 0",
            "GetObjectTagging - again 0",
            "PutObjectTagging k again 0",
            "GetObjectAcl - again 0",
            "CopyObject c once 5",
            "DeleteObject c once 0",
            "DeleteObject c again 0",
            "CreateMultipartUpload - again 0",
            "UploadPartCopy - again 4",
            "UploadPart - again 7",
            "CompleteMultipartUpload m again 0",
            "AbortMultipartUpload - again 0",
            "RestoreObject - again 0",
            "GetObject - again 0",
            "GetObject - again 0",
            "PutObject p again 9",
        ];
        assert_eq!(calls, want);
    }
}
