//! The requests that write: copies (single and multipart), puts, delete markers and
//! permanent deletes, each with the attributes a faithful copy carries.

use super::{
    Acl, CopyRequest, ErrorKind, ObjectAttrs, S3, S3Error, classify, no_retries, of_version,
};
use crate::bucket::{Part, PartCopy};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, MetadataDirective, ServerSideEncryption,
    StorageClass as SdkStorageClass, TaggingDirective,
};
use s3rewind_engine::keys::copy_source;

/// Apply an ACL's grant headers to any request builder that has the four grant setters.
macro_rules! with_acl {
    ($req:expr, $acl:expr) => {{
        let req = $req;
        match $acl {
            Some(a) => req
                .set_grant_full_control(Acl::header(&a.full_control))
                .set_grant_read(Acl::header(&a.read))
                .set_grant_read_acp(Acl::header(&a.read_acp))
                .set_grant_write_acp(Acl::header(&a.write_acp)),
            None => req,
        }
    }};
}

/// Apply everything a copy must carry ([`ObjectAttrs`]) to a CreateMultipartUpload or
/// PutObject request builder (they share the setter names): user metadata, content
/// headers, Expires, the website redirect, tags, storage class, SSE-KMS and ACL grants.
macro_rules! with_attrs {
    ($req:expr, $attrs:expr) => {{
        let attrs: &ObjectAttrs<'_> = $attrs;
        let h = attrs.head;
        let mut req = $req
            .set_metadata((!h.metadata.is_empty()).then(|| h.metadata.clone()))
            .set_content_type(h.content_type.clone())
            .set_content_encoding(h.content_encoding.clone())
            .set_content_disposition(h.content_disposition.clone())
            .set_content_language(h.content_language.clone())
            .set_cache_control(h.cache_control.clone())
            .set_website_redirect_location(h.website_redirect.clone());
        if let Some(e) = h.expires.as_deref().and_then(parse_http_date) {
            req = req.expires(e);
        }
        if !attrs.tags.is_empty() {
            req = req.tagging(encode_tags(attrs.tags));
        }
        if let Some(class) = storage_class_to_send(attrs.storage_class, &h.storage_class) {
            req = req.storage_class(SdkStorageClass::from(class));
        }
        match (
            attrs.sse_kms_key_id,
            h.sse.as_deref(),
            attrs.keep_source_kms,
        ) {
            (Some(k), _, _) => {
                req = req
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(k);
            }
            (None, Some(sse), true) if sse.starts_with("aws:kms") => {
                req = req
                    .server_side_encryption(ServerSideEncryption::from(sse))
                    .set_ssekms_key_id(h.sse_kms_key_id.clone())
                    .set_bucket_key_enabled(h.bucket_key_enabled);
            }
            _ => {}
        }
        with_acl!(req, attrs.acl)
    }};
}

/// The storage class a write sends: one given explicitly (`--storage-class`, even
/// `STANDARD`: a bucket's default may be another), else the source's unless it is the
/// default.
fn storage_class_to_send<'a>(given: Option<&'a str>, source: &'a str) -> Option<&'a str> {
    match given {
        Some(c) if !c.is_empty() => Some(c),
        _ => (!source.is_empty() && source != "STANDARD").then_some(source),
    }
}

fn encode_tags(tags: &[(String, String)]) -> String {
    tags.iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC),
                percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn parse_http_date(s: &str) -> Option<aws_smithy_types::DateTime> {
    aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::HttpDate)
        .or_else(|_| {
            aws_smithy_types::DateTime::from_str(s, aws_smithy_types::date_time::Format::DateTime)
        })
        .ok()
}

impl S3 {
    /// CopyObject of one version, keeping what S3 keeps by default (user metadata and
    /// content headers with `MetadataDirective=COPY`, tags with `TaggingDirective=COPY`)
    /// and re-applying what it does not: storage class, SSE-KMS settings and the website
    /// redirect location. Returns the new version id (`null` on unversioned buckets).
    pub(super) async fn copy(&self, r: &CopyRequest<'_>) -> Result<String, S3Error> {
        let mut req = self
            .client
            .copy_object()
            .bucket(r.bucket)
            .key(r.key)
            .copy_source(copy_source(
                r.source_bucket,
                r.source_key,
                r.source_version_id,
            ))
            .tagging_directive(TaggingDirective::Copy);
        if r.replace_metadata {
            // Every attribute as the source's HEAD gave it (a server that refuses an
            // unchanged self-copy, or drops attributes on copy).
            let h = r.head;
            req = req
                .metadata_directive(MetadataDirective::Replace)
                .set_metadata((!h.metadata.is_empty()).then(|| h.metadata.clone()))
                .set_content_type(h.content_type.clone())
                .set_content_encoding(h.content_encoding.clone())
                .set_content_disposition(h.content_disposition.clone())
                .set_content_language(h.content_language.clone())
                .set_cache_control(h.cache_control.clone());
            if let Some(e) = h.expires.as_deref().and_then(parse_http_date) {
                req = req.expires(e);
            }
        } else {
            req = req.metadata_directive(MetadataDirective::Copy);
        }
        if let Some(class) = storage_class_to_send(r.storage_class, &r.head.storage_class) {
            req = req.storage_class(SdkStorageClass::from(class));
        }
        match (r.sse_kms_key_id, r.head.sse.as_deref()) {
            (Some(k), _) => {
                req = req
                    .server_side_encryption(ServerSideEncryption::AwsKms)
                    .ssekms_key_id(k);
            }
            (None, Some(sse)) if sse.starts_with("aws:kms") => {
                req = req.server_side_encryption(ServerSideEncryption::from(sse));
                if let Some(k) = &r.head.sse_kms_key_id {
                    req = req.ssekms_key_id(k);
                }
                if let Some(b) = r.head.bucket_key_enabled {
                    req = req.bucket_key_enabled(b);
                }
            }
            _ => {}
        }
        if let Some(w) = &r.head.website_redirect {
            req = req.website_redirect_location(w);
        }
        if let Some(m) = r.if_match {
            req = req.if_match(format!("\"{m}\""));
        }
        if r.if_none_match {
            req = req.if_none_match("*");
        }
        req = with_acl!(req, r.acl);
        if let Some(etag) = r.source_if_match {
            req = req.copy_source_if_match(format!("\"{etag}\""));
        }
        let out = req
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| {
                classify(
                    format!(
                        "CopyObject s3://{}/{}?versionId={} -> s3://{}/{}",
                        r.source_bucket, r.source_key, r.source_version_id, r.bucket, r.key
                    ),
                    e,
                )
            })?;
        Ok(out.version_id().unwrap_or("null").to_owned())
    }

    /// DeleteObject without a version id: adds a delete marker. Returns its version id.
    pub(super) async fn add_delete_marker(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<String, S3Error> {
        let out = self
            .client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| classify(format!("DeleteObject on s3://{bucket}/{key}"), e))?;
        Ok(out.version_id().unwrap_or("null").to_owned())
    }

    /// DeleteObject with a version id: removes that version or delete marker
    /// **permanently**. Only `undelete --remove-delete-markers` uses it, on delete markers.
    pub(super) async fn delete_version(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
    ) -> Result<(), S3Error> {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .version_id(version_id)
            .send()
            .await
            .map_err(|e| classify(of_version("DeleteObject", bucket, key, version_id), e))?;
        Ok(())
    }

    /// CreateMultipartUpload carrying everything a copy must keep: user metadata,
    /// content headers, Expires, tags, storage class, SSE-KMS settings and the website
    /// redirect (UploadPartCopy carries none of them). Returns the upload id.
    pub(super) async fn create_multipart(
        &self,
        bucket: &str,
        key: &str,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        let req = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key);
        let out = with_attrs!(req, attrs)
            .send()
            .await
            .map_err(|e| classify(format!("CreateMultipartUpload s3://{bucket}/{key}"), e))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| {
            S3Error::other(
                format!("CreateMultipartUpload s3://{bucket}/{key}"),
                "no UploadId in the response".to_owned(),
            )
        })
    }

    /// UploadPartCopy of one byte range (inclusive) of a source version. Returns the
    /// part's ETag.
    pub(super) async fn upload_part_copy(
        &self,
        bucket: &str,
        p: PartCopy<'_>,
    ) -> Result<String, S3Error> {
        let Part {
            key,
            upload_id,
            number: part_number,
        } = p.part;
        let ((sb, sk, sv), range) = (p.source, p.range);
        let out = self
            .client
            .upload_part_copy()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .copy_source(copy_source(sb, sk, sv))
            .copy_source_range(format!("bytes={}-{}", range.0, range.1))
            .customize()
            // The request has no body, and the SDK then sends no Content-Length; radosgw
            // answers 411 MissingContentLength without one (boto3 sends `0`).
            .mutate_request(|r| {
                r.headers_mut().insert("content-length", "0");
            })
            .send()
            .await
            .map_err(|e| {
                classify(
                    format!("UploadPartCopy part {part_number} of s3://{bucket}/{key}"),
                    e,
                )
            })?;
        Ok(out
            .copy_part_result()
            .and_then(|r| r.e_tag())
            .unwrap_or_default()
            .to_owned())
    }

    /// UploadPart of bytes (used when streaming between two endpoints). Returns the ETag.
    pub(super) async fn upload_part(
        &self,
        bucket: &str,
        part: Part<'_>,
        body: Vec<u8>,
    ) -> Result<String, S3Error> {
        let Part {
            key,
            upload_id,
            number: part_number,
        } = part;
        let out = self
            .client
            .upload_part()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| {
                classify(
                    format!("UploadPart part {part_number} of s3://{bucket}/{key}"),
                    e,
                )
            })?;
        Ok(out.e_tag().unwrap_or_default().to_owned())
    }

    /// CompleteMultipartUpload; `parts` are (number, ETag) in order. Returns the new
    /// version id.
    pub(super) async fn complete_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
    ) -> Result<String, S3Error> {
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, etag)| CompletedPart::builder().part_number(*n).e_tag(etag).build())
                    .collect(),
            ))
            .build();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .send()
            .await;
        match out {
            Ok(out) => Ok(out.version_id().unwrap_or("null").to_owned()),
            Err(e) => {
                // moto 5.2 names the XML root `CompleteMultipartUploadResponse`, which the
                // SDK rejects although the upload completed: a 200 without an <Error> body
                // is a success, and the version id is in the x-amz-version-id header.
                if let Some(raw) = e.raw_response()
                    && raw.status().as_u16() == 200
                    && raw.body().bytes().is_some_and(|b| {
                        let t = String::from_utf8_lossy(b);
                        t.contains("CompleteMultipartUpload") && !t.contains("<Error>")
                    })
                {
                    return Ok(raw
                        .headers()
                        .get("x-amz-version-id")
                        .unwrap_or("null")
                        .to_owned());
                }
                Err(classify(
                    format!("CompleteMultipartUpload s3://{bucket}/{key}"),
                    e,
                ))
            }
        }
    }

    /// AbortMultipartUpload (a missing upload counts as aborted).
    pub(super) async fn abort_multipart(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<(), S3Error> {
        match self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = classify(format!("AbortMultipartUpload s3://{bucket}/{key}"), e);
                if e.kind == ErrorKind::NotFound || e.code.as_deref() == Some("NoSuchUpload") {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    /// PutObject of bytes with the attributes of a source version (streamed copies).
    /// Returns the new version id.
    pub(super) async fn put_with_attrs(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        attrs: &ObjectAttrs<'_>,
    ) -> Result<String, S3Error> {
        let req = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body));
        let out = with_attrs!(req, attrs)
            .customize()
            .config_override(no_retries())
            .send()
            .await
            .map_err(|e| classify(format!("PutObject s3://{bucket}/{key}"), e))?;
        Ok(out.version_id().unwrap_or("null").to_owned())
    }

    /// PutObject of plain bytes (a Batch Operations manifest). Returns the ETag (without
    /// quotes) and the version id, when the bucket keeps versions.
    pub(super) async fn put_plain(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(String, Option<String>), S3Error> {
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| classify(format!("PutObject s3://{bucket}/{key}"), e))?;
        Ok((
            out.e_tag().unwrap_or_default().trim_matches('"').to_owned(),
            out.version_id().filter(|v| *v != "null").map(str::to_owned),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::storage_class_to_send;

    #[test]
    fn an_explicit_storage_class_is_sent_even_when_standard() {
        assert_eq!(
            storage_class_to_send(Some("STANDARD"), "GLACIER"),
            Some("STANDARD")
        );
        assert_eq!(storage_class_to_send(None, "STANDARD"), None);
        assert_eq!(storage_class_to_send(None, ""), None);
        assert_eq!(
            storage_class_to_send(None, "STANDARD_IA"),
            Some("STANDARD_IA")
        );
    }
}
