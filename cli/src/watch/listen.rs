//! `watch --listen ADDR:PORT`: the HTTP endpoint radosgw (a topic's `push-endpoint`) or
//! MinIO (a webhook target) posts its notifications to.
//!
//! A minimal HTTP/1.1 server: keep-alive, `Content-Length` or chunked bodies. A POST to
//! `/TOKEN` is a notification: it is handed to the watcher, and answered `200` only once
//! the watcher has synced its events to the log (`400` when it is not a notification,
//! `503` when the watcher is stopping, so the server may send it again). Any other path
//! is `404`: the token keeps other local processes from writing into the index. A `GET
//! /TOKEN` answers `200` (a health check).

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// Largest body accepted (S3 notifications are at most 64 KiB; radosgw's are smaller).
const MAX_BODY: usize = 1 << 20;

/// One notification, and where to say whether it was synced.
#[derive(Debug)]
pub struct Delivery {
    /// The body.
    pub body: Vec<u8>,
    /// `Ok` once its events are synced; `Err(reason)` when it is refused.
    pub ack: oneshot::Sender<Result<(), Refusal>>,
}

/// Why a delivery was not taken.
#[derive(Debug, Clone)]
pub enum Refusal {
    /// Not a notification (400).
    NotNotification(String),
    /// The watcher cannot take it now (503: send it again).
    Unavailable(String),
}

/// Serve `listener` until the receiving end of `tx` is gone.
pub async fn serve(listener: TcpListener, token: String, tx: mpsc::Sender<Delivery>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let (tx, token) = (tx.clone(), token.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(stream, &token, tx).await {
                tracing::debug!("notification connection: {e}");
            }
        });
    }
}

async fn connection(
    stream: TcpStream,
    token: &str,
    tx: mpsc::Sender<Delivery>,
) -> std::io::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let (method, path) = (method.to_owned(), path.to_owned());
        let (mut length, mut chunked, mut close) = (0usize, false, false);
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).await? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                match name.as_str() {
                    "content-length" => length = value.parse().unwrap_or(0),
                    "transfer-encoding" => chunked = value.eq_ignore_ascii_case("chunked"),
                    "connection" => close = value.eq_ignore_ascii_case("close"),
                    _ => {}
                }
            }
        }
        let body = if chunked {
            read_chunked(&mut r).await?
        } else {
            if length > MAX_BODY {
                respond(&mut w, 413, "too large").await?;
                return Ok(());
            }
            let mut b = vec![0u8; length];
            r.read_exact(&mut b).await?;
            b
        };
        let ours = path.trim_start_matches('/') == token;
        let (status, text) = match (method.as_str(), ours) {
            (_, false) => (404, "not found".to_owned()),
            ("GET" | "HEAD", true) => (200, "s3rewind watch".to_owned()),
            ("POST" | "PUT", true) => {
                let (ack, done) = oneshot::channel();
                if tx.send(Delivery { body, ack }).await.is_err() {
                    (503, "the watcher is stopping".to_owned())
                } else {
                    match done.await {
                        Ok(Ok(())) => (200, String::new()),
                        Ok(Err(Refusal::NotNotification(why))) => (400, why),
                        Ok(Err(Refusal::Unavailable(why))) => (503, why),
                        Err(_) => (503, "the watcher is stopping".to_owned()),
                    }
                }
            }
            _ => (405, "method not allowed".to_owned()),
        };
        respond(&mut w, status, &text).await?;
        if close {
            return Ok(());
        }
    }
}

async fn read_chunked(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        r.read_line(&mut size).await?;
        let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
            .map_err(|_| std::io::Error::other("a bad chunk size"))?;
        if body.len() + n > MAX_BODY {
            return Err(std::io::Error::other("a body too large"));
        }
        let mut chunk = vec![0u8; n + 2];
        r.read_exact(&mut chunk).await?;
        if n == 0 {
            return Ok(body);
        }
        body.extend_from_slice(&chunk[..n]);
    }
}

async fn respond(
    w: &mut tokio::net::tcp::OwnedWriteHalf,
    status: u16,
    text: &str,
) -> std::io::Result<()> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        _ => "Service Unavailable",
    };
    let msg = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{text}",
        text.len()
    );
    w.write_all(msg.as_bytes()).await?;
    w.flush().await
}
