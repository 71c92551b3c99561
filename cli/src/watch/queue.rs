//! `watch --queue URL`: S3 Event Notifications read from an SQS queue, either sent there
//! by S3 directly (`Records[]`) or through an EventBridge rule (the event itself as the
//! message body); [`s3rewind_engine::watch::parse_message`] reads both.
//!
//! A few readers long-poll the queue ([`Queue::receive`], up to 10 messages a call) and
//! hand each message to the watcher as a [`Delivery`], exactly like a pushed
//! notification. A message is **deleted only once the watcher has synced its events to
//! the log** (its `Delivery` is answered `Ok`): a watcher killed at any point loses
//! nothing, the message only comes again (and its events are duplicates). While a
//! message waits for its answer (the watcher is listing its baseline, or reading keys
//! again) its visibility timeout is extended every half timeout, so no other reader gets
//! it meanwhile. A message that is not a notification is left on the queue (with a
//! redrive policy it ends in the dead-letter queue); one the watcher cannot take now is
//! made visible again at once.
//!
//! [`Queue`] is the seam: [`crate::s3::Sqs`] is the real queue, [`MemQueue`] the
//! in-memory one the tests drive with the same visibility rules.

use super::listen::{Delivery, Refusal};
use crate::bucket::S3Error;
use async_trait::async_trait;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

pub use crate::bucket::{Message, Queue};

/// What the readers did, for the report.
#[derive(Debug, Default)]
pub struct QueueStats {
    /// Messages received (a message received twice counts twice).
    pub received: AtomicU64,
    /// Messages deleted after their events were synced.
    pub deleted: AtomicU64,
    /// Visibility extensions while a message waited for the watcher.
    pub extended: AtomicU64,
    /// Messages left on the queue (not notifications, or the watcher could not take them).
    pub left: AtomicU64,
    /// Receive, delete or visibility calls that failed (retried).
    pub errors: AtomicU64,
}

impl QueueStats {
    /// The counters as a JSON object (the `queue` of `watch`'s document).
    pub fn json(&self) -> serde_json::Value {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        serde_json::json!({
            "received": g(&self.received),
            "deleted": g(&self.deleted),
            "extended": g(&self.extended),
            "left": g(&self.left),
            "errors": g(&self.errors),
        })
    }
}

/// How the readers poll.
#[derive(Debug, Clone, Copy)]
pub struct PollOptions {
    /// Long-poll wait per receive (SQS allows up to 20 s).
    pub wait: Duration,
    /// Visibility timeout of a received message.
    pub visibility: Duration,
}

/// One reader: receive, hand over, wait for the answers (extending visibility), delete.
/// Returns when the watcher no longer takes deliveries.
pub async fn read(
    queue: Arc<dyn Queue>,
    tx: mpsc::Sender<Delivery>,
    opts: PollOptions,
    stats: Arc<QueueStats>,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        if tx.is_closed() {
            return;
        }
        let msgs = match queue.receive(10, opts.wait, opts.visibility).await {
            Ok(m) => {
                backoff = Duration::from_millis(200);
                m
            }
            Err(e) => {
                stats.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("reading the queue: {e}; trying again in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        stats
            .received
            .fetch_add(msgs.len() as u64, Ordering::Relaxed);
        let mut waiting: Vec<(Message, oneshot::Receiver<Result<(), Refusal>>)> = Vec::new();
        let mut stopping = false;
        for m in msgs {
            let (ack, done) = oneshot::channel();
            if tx
                .send(Delivery {
                    body: m.body.clone().into_bytes(),
                    ack,
                })
                .await
                .is_err()
            {
                // The watcher stopped: the message comes again after its timeout.
                stopping = true;
                break;
            }
            waiting.push((m, done));
        }
        let mut synced = Vec::new();
        let extend_every = (opts.visibility / 2).max(Duration::from_millis(100));
        let mut extend_at = tokio::time::Instant::now() + extend_every;
        for i in 0..waiting.len() {
            let answer = loop {
                tokio::select! {
                    a = &mut waiting[i].1 => break a,
                    _ = tokio::time::sleep_until(extend_at) => {
                        // Still held: keep every unanswered message hidden.
                        for (m, _) in &waiting[i..] {
                            match queue.set_visibility(&m.handle, opts.visibility).await {
                                Ok(()) => stats.extended.fetch_add(1, Ordering::Relaxed),
                                Err(e) => {
                                    tracing::warn!("extending a message's visibility: {e}");
                                    stats.errors.fetch_add(1, Ordering::Relaxed)
                                }
                            };
                        }
                        extend_at = tokio::time::Instant::now() + extend_every;
                    }
                }
            };
            let m = &waiting[i].0;
            match answer {
                Ok(Ok(())) => synced.push(m.handle.clone()),
                Ok(Err(Refusal::NotNotification(why))) => {
                    stats.left.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        "message {} is not a bucket notification ({why}): left on the queue",
                        m.id
                    );
                }
                Ok(Err(Refusal::Unavailable(_))) | Err(_) => {
                    stats.left.fetch_add(1, Ordering::Relaxed);
                    stopping |= answer.is_err();
                    // Not synced: let it come again now rather than after its timeout.
                    if let Err(e) = queue.set_visibility(&m.handle, Duration::ZERO).await {
                        tracing::debug!("releasing message {}: {e}", m.id);
                    }
                }
            }
        }
        if !synced.is_empty() {
            match queue.delete(&synced).await {
                Ok(failed) => {
                    stats
                        .deleted
                        .fetch_add((synced.len() - failed.len()) as u64, Ordering::Relaxed);
                    for (_, why) in failed {
                        stats.errors.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            "a synced message was not deleted ({why}): it comes again, as a duplicate"
                        );
                    }
                }
                Err(e) => {
                    stats.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!("deleting synced messages: {e}; they come again, as duplicates");
                }
            }
        }
        if stopping {
            return;
        }
    }
}

/// An in-memory queue with SQS's visibility rules (for tests).
#[derive(Debug, Default)]
pub struct MemQueue {
    inner: std::sync::Mutex<MemInner>,
}

#[derive(Debug, Default)]
struct MemInner {
    next: u64,
    /// (id, body, invisible until, receipt count)
    messages: Vec<(String, String, Option<tokio::time::Instant>, u64)>,
    /// Calls made: receive, delete, set_visibility.
    calls: (u64, u64, u64),
}

impl MemQueue {
    /// An empty queue.
    pub fn new() -> Arc<MemQueue> {
        Arc::new(MemQueue::default())
    }

    /// Send a message.
    pub fn send(&self, body: &str) {
        let mut q = self.inner.lock().unwrap();
        q.next += 1;
        let id = format!("m{}", q.next);
        q.messages.push((id, body.to_owned(), None, 0));
    }

    /// Messages on the queue (visible or not).
    pub fn len(&self) -> usize {
        self.inner.lock().unwrap().messages.len()
    }

    /// True when no message is on the queue.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Calls made: (receive, delete, set_visibility).
    pub fn calls(&self) -> (u64, u64, u64) {
        self.inner.lock().unwrap().calls
    }
}

fn handle(id: &str, n: u64) -> String {
    format!("{id}#{n}")
}

#[async_trait]
impl Queue for MemQueue {
    async fn receive(
        &self,
        max: i32,
        wait: Duration,
        visibility: Duration,
    ) -> Result<Vec<Message>, S3Error> {
        let until = tokio::time::Instant::now() + wait;
        loop {
            {
                let mut q = self.inner.lock().unwrap();
                q.calls.0 += 1;
                let now = tokio::time::Instant::now();
                let mut out = Vec::new();
                for (id, body, hidden, n) in q.messages.iter_mut() {
                    if out.len() as i32 >= max {
                        break;
                    }
                    if hidden.is_some_and(|h| h > now) {
                        continue;
                    }
                    *hidden = Some(now + visibility);
                    *n += 1;
                    out.push(Message {
                        id: id.clone(),
                        handle: handle(id, *n),
                        body: body.clone(),
                    });
                }
                if !out.is_empty() || tokio::time::Instant::now() >= until {
                    return Ok(out);
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn delete(&self, handles: &[String]) -> Result<Vec<(String, String)>, S3Error> {
        let mut q = self.inner.lock().unwrap();
        q.calls.1 += 1;
        let mut failed = Vec::new();
        for h in handles {
            // Only the latest receipt's handle deletes (as SQS: an older one may not).
            match q
                .messages
                .iter()
                .position(|(id, _, _, n)| &handle(id, *n) == h)
            {
                Some(i) => {
                    q.messages.remove(i);
                }
                None => failed.push((h.clone(), "ReceiptHandleIsInvalid".to_owned())),
            }
        }
        Ok(failed)
    }

    async fn set_visibility(&self, h: &str, visibility: Duration) -> Result<(), S3Error> {
        let mut q = self.inner.lock().unwrap();
        q.calls.2 += 1;
        let now = tokio::time::Instant::now();
        if let Some(m) = q
            .messages
            .iter_mut()
            .find(|(id, _, _, n)| handle(id, *n) == h)
        {
            m.2 = Some(now + visibility);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> PollOptions {
        PollOptions {
            wait: Duration::from_millis(100),
            visibility: Duration::from_secs(1),
        }
    }

    /// Two readers on one queue; the watcher side is the test.
    fn readers(q: &Arc<MemQueue>) -> (mpsc::Receiver<Delivery>, Arc<QueueStats>) {
        let (tx, rx) = mpsc::channel(16);
        let stats = Arc::new(QueueStats::default());
        for _ in 0..2 {
            tokio::spawn(read(q.clone(), tx.clone(), opts(), stats.clone()));
        }
        (rx, stats)
    }

    #[tokio::test(start_paused = true)]
    async fn a_held_message_stays_hidden_and_is_deleted_only_once_synced() {
        let q = MemQueue::new();
        q.send("one");
        let (mut rx, stats) = readers(&q);
        let d = rx.recv().await.unwrap();
        assert_eq!(d.body, b"one");
        // Held for 5 visibility timeouts: extended all along, never handed out twice,
        // never deleted.
        let again = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
        assert!(again.is_err(), "a held message was delivered again");
        assert_eq!(q.len(), 1, "deleted before it was synced");
        assert!(stats.extended.load(Ordering::Relaxed) >= 8, "{stats:?}");
        d.ack.send(Ok(())).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(q.is_empty(), "a synced message was not deleted");
        assert_eq!(stats.deleted.load(Ordering::Relaxed), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn refused_and_unsynced_messages_stay_on_the_queue() {
        let q = MemQueue::new();
        q.send("not a notification");
        let (mut rx, stats) = readers(&q);
        let d = rx.recv().await.unwrap();
        d.ack
            .send(Err(Refusal::NotNotification("no".into())))
            .unwrap();
        // Left on the queue: it comes back after its visibility timeout, not before.
        let t0 = tokio::time::Instant::now();
        let d = rx.recv().await.unwrap();
        assert!(
            t0.elapsed() >= Duration::from_millis(900),
            "{:?}",
            t0.elapsed()
        );
        assert_eq!(q.len(), 1);
        // A watcher that dies before syncing (the answer dropped): released at once.
        drop(d);
        let t0 = tokio::time::Instant::now();
        let d = rx.recv().await.unwrap();
        assert!(
            t0.elapsed() < Duration::from_millis(500),
            "{:?}",
            t0.elapsed()
        );
        d.ack.send(Ok(())).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(q.is_empty());
        assert_eq!(stats.left.load(Ordering::Relaxed), 2, "{stats:?}");
        assert_eq!(stats.received.load(Ordering::Relaxed), 3, "{stats:?}");
    }
}
