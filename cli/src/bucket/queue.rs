//! The queue `watch --queue` reads ([`Queue`]): SQS in the binary
//! ([`crate::s3::Sqs`]), an in-memory queue in tests (`crate::watch::queue::MemQueue`).

use super::S3Error;
use async_trait::async_trait;
use std::time::Duration;

/// One received message.
#[derive(Debug, Clone)]
pub struct Message {
    /// The message id.
    pub id: String,
    /// What deletes it, or changes its visibility, for this receipt.
    pub handle: String,
    /// The body.
    pub body: String,
}

/// The calls the watcher makes to a queue.
#[async_trait]
pub trait Queue: Send + Sync {
    /// Up to `max` messages, waiting up to `wait` for one; each stays invisible to other
    /// receivers for `visibility`.
    async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, S3Error>;
    /// Delete these messages (by handle); returns the handles that failed, with why.
    async fn delete(&self, handles: &[String]) -> Result<Vec<(String, String)>, S3Error>;
    /// Hide a message for `visibility` from now (zero: visible again at once).
    async fn set_visibility(&self, handle: &str, visibility: Duration) -> Result<(), S3Error>;
}
