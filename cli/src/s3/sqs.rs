//! SQS for `watch --queue URL` (the only place that uses `aws_sdk_sqs`): receive, delete,
//! change visibility ([`crate::bucket::Queue`]), and the queue's attributes.
//!
//! The client is sent to the queue URL's own origin (`https://sqs.REGION.amazonaws.com`,
//! or a local server's `http://127.0.0.1:PORT`), signed for the region the URL names (AWS)
//! or the configured one: `--endpoint-url` is S3's and is not used for SQS.

use super::{ConnectOptions, ErrorKind, S3Error, classify};
use crate::bucket::{Message, Queue};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use std::fmt;
use std::time::Duration;

/// An SQS queue.
#[derive(Clone)]
pub struct Sqs {
    client: Client,
    url: String,
}

impl fmt::Debug for Sqs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sqs {{ {} }}", self.url)
    }
}

/// `scheme://host[:port]` of a URL, and the AWS region its host names
/// (`sqs.REGION.amazonaws.com`), if any.
pub fn queue_origin(url: &str) -> Option<(String, Option<String>)> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() {
        return None;
    }
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    let region = host
        .strip_prefix("sqs.")
        .and_then(|r| r.split_once(".amazonaws.com"))
        .map(|(r, _)| r.to_owned())
        .filter(|r| !r.is_empty() && !r.contains('.'));
    Some((format!("{scheme}://{authority}"), region))
}

/// SQS errors as S3's classes, plus the queue-specific "does not exist".
fn sqs_error<E>(
    context: String,
    err: aws_sdk_sqs::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> S3Error
where
    E: aws_sdk_sqs::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut e = classify(context, err);
    if e.code.as_deref().is_some_and(|c| {
        c.contains("NonExistentQueue") || c.contains("QueueDoesNotExist") || c == "NotFound"
    }) {
        e.kind = ErrorKind::NotFound;
    }
    e
}

/// An SQS client for the queue URL's origin (`url`), or for `endpoint` (none: AWS's).
pub(crate) async fn client(opts: &ConnectOptions, endpoint: Option<String>) -> Client {
    let mut opts = opts.clone();
    opts.endpoint_url = endpoint;
    let shared = super::loader(&opts).load().await;
    Client::new(&shared)
}

impl Sqs {
    /// The queue at `url` (nothing is sent yet).
    pub async fn connect(opts: &ConnectOptions, url: &str) -> Option<Sqs> {
        let (origin, region) = queue_origin(url)?;
        let mut opts = opts.clone();
        if region.is_some() {
            opts.region = region;
        }
        Some(Sqs {
            client: client(&opts, Some(origin)).await,
            url: url.to_owned(),
        })
    }

    /// The queue's ARN and visibility timeout (seconds): checks that it exists and can be
    /// read.
    pub async fn attributes(&self) -> Result<(String, u64), S3Error> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(&self.url)
            .attribute_names(QueueAttributeName::QueueArn)
            .attribute_names(QueueAttributeName::VisibilityTimeout)
            .send()
            .await
            .map_err(|e| sqs_error(format!("GetQueueAttributes on {}", self.url), e))?;
        let attrs = out.attributes();
        let get = |k: &QueueAttributeName| attrs.and_then(|a| a.get(k)).cloned();
        Ok((
            get(&QueueAttributeName::QueueArn).unwrap_or_default(),
            get(&QueueAttributeName::VisibilityTimeout)
                .and_then(|v| v.parse().ok())
                .unwrap_or(30),
        ))
    }
}

fn secs(d: Duration) -> i32 {
    d.as_secs().min(43_200) as i32
}

#[async_trait]
impl Queue for Sqs {
    async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, S3Error> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .wait_time_seconds(secs(wait).min(20))
            .visibility_timeout(secs(visibility).max(1))
            .send()
            .await
            .map_err(|e| sqs_error(format!("ReceiveMessage on {}", self.url), e))?;
        Ok(out
            .messages()
            .iter()
            .filter_map(|m| {
                Some(Message {
                    id: m.message_id().unwrap_or_default().to_owned(),
                    handle: m.receipt_handle()?.to_owned(),
                    body: m.body().unwrap_or_default().to_owned(),
                })
            })
            .collect())
    }

    async fn delete(&self, handles: &[String]) -> Result<Vec<(String, String)>, S3Error> {
        let mut failed = Vec::new();
        for chunk in handles.chunks(10) {
            let mut req = self.client.delete_message_batch().queue_url(&self.url);
            for (i, h) in chunk.iter().enumerate() {
                let entry = DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(h)
                    .build()
                    .map_err(|e| S3Error::other("DeleteMessageBatch".to_owned(), e.to_string()))?;
                req = req.entries(entry);
            }
            let out = req
                .send()
                .await
                .map_err(|e| sqs_error(format!("DeleteMessageBatch on {}", self.url), e))?;
            for f in out.failed() {
                let h = f
                    .id()
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| chunk.get(i))
                    .cloned()
                    .unwrap_or_default();
                failed.push((
                    h,
                    format!("{}: {}", f.code(), f.message().unwrap_or_default()),
                ));
            }
        }
        Ok(failed)
    }

    async fn set_visibility(&self, handle: &str, visibility: Duration) -> Result<(), S3Error> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(handle)
            .visibility_timeout(secs(visibility))
            .send()
            .await
            .map_err(|e| sqs_error(format!("ChangeMessageVisibility on {}", self.url), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_url_names_its_endpoint_and_region() {
        assert_eq!(
            queue_origin("https://sqs.eu-west-1.amazonaws.com/111122223333/q"),
            Some((
                "https://sqs.eu-west-1.amazonaws.com".to_owned(),
                Some("eu-west-1".to_owned())
            ))
        );
        assert_eq!(
            queue_origin("http://127.0.0.1:5000/123456789012/q"),
            Some(("http://127.0.0.1:5000".to_owned(), None))
        );
        assert_eq!(queue_origin("sqs://q"), None);
        assert_eq!(queue_origin("https:///q"), None);
    }
}
