//! Client CPU of one CopyObject: through aws-sdk-s3, and as a request signed with
//! aws-sigv4 and sent on hyper directly (issue 25 §2: is the aim of 0.15 ms per copied key
//! reachable, and what would leaving the SDK's orchestrator buy?).
//!
//! ```sh
//! cargo build --release -p s3rewind-benches --bin raw-copy
//! target/release/raw-copy http://127.0.0.1:PORT 4000 32
//! ```
//!
//! Against a server that takes the key `test`/`test` (scripts/radosgw). It creates a source
//! bucket of N small objects, then copies all N into a fresh destination bucket six times,
//! in turn: through the SDK with its defaults (`sdk`), through the SDK without stalled-stream
//! protection and retries (`sdk-lean`), and by hand (`raw`), twice each, at the given
//! concurrency, and prints the process's CPU (user+system, from /proc/self/stat) per copy
//! for each pass. Setup is not counted. The raw client checks each answer as the SDK does
//! (status 200 and a `CopyObjectResult` body), so a failed copy cannot pass for a cheap one.

// A measuring tool: its output is its result.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Instant, SystemTime};

use aws_credential_types::Credentials;
use aws_sdk_s3::config::{BehaviorVersion, Region, StalledStreamProtectionConfig};
use aws_sigv4::http_request::{
    PayloadChecksumKind, SignableBody, SignableRequest, SigningSettings, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::TokioExecutor;

type Raw = Client<HttpConnector, Empty<Bytes>>;

/// User plus system CPU of this process so far, in seconds (clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("read /proc/self/stat");
    // Fields after the command name (which may hold spaces) start at field 3.
    let rest = &stat[stat.rfind(')').expect("a stat line") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    ticks as f64 / 100.0
}

fn key(i: usize) -> String {
    format!("obj/{i:06}")
}

async fn raw_copy(
    client: &Raw,
    endpoint: &str,
    identity: &Identity,
    src: &str,
    dst: &str,
    i: usize,
) {
    let uri = format!("{endpoint}/{dst}/{}", key(i));
    let source = format!("/{src}/{}", key(i));
    let host = endpoint.trim_start_matches("http://");
    let headers = [("host", host), ("x-amz-copy-source", source.as_str())];
    let mut settings = SigningSettings::default();
    settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
    let params = v4::SigningParams::builder()
        .identity(identity)
        .region("us-east-1")
        .name("s3")
        .time(SystemTime::now())
        .settings(settings)
        .build()
        .expect("signing params")
        .into();
    let signable = SignableRequest::new(
        "PUT",
        uri.as_str(),
        headers.iter().copied(),
        SignableBody::UnsignedPayload,
    )
    .expect("signable");
    let (instructions, _) = sign(signable, &params).expect("signed").into_parts();
    let (signed_headers, _) = instructions.into_parts();
    let mut request = hyper::Request::put(uri.as_str());
    for (name, value) in headers.iter().skip(1) {
        request = request.header(*name, *value);
    }
    for h in signed_headers {
        request = request.header(h.name(), h.value());
    }
    let response = client
        .request(request.body(Empty::new()).expect("request"))
        .await
        .expect("sent");
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    assert!(
        status == 200 && body.windows(16).any(|w| w == b"CopyObjectResult"),
        "copy {i}: {status} {}",
        String::from_utf8_lossy(&body)
    );
}

/// Runs `n` copies on `concurrency` workers; returns (CPU seconds, wall seconds).
async fn pass<F, Fut>(n: usize, concurrency: usize, copy: F) -> (f64, f64)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let copy = Arc::new(copy);
    let next = Arc::new(AtomicUsize::new(0));
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (copy, next) = (copy.clone(), next.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                copy(i).await;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("worker");
    }
    (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64())
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: raw-copy ENDPOINT N CONCURRENCY";
    let endpoint = args.get(1).expect(usage).trim_end_matches('/').to_string();
    let n: usize = args.get(2).expect(usage).parse().expect(usage);
    let concurrency: usize = args.get(3).expect(usage).parse().expect(usage);

    let creds = Credentials::new("test", "test", None, None, "raw-copy");
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(&endpoint)
        .force_path_style(true)
        .credentials_provider(creds.clone())
        .build();
    let sdk = aws_sdk_s3::Client::from_conf(conf.clone());
    // The same client without the per-request machinery that can be turned off: stalled
    // stream protection (a timer per body), retries (a token bucket and a classifier).
    let lean = aws_sdk_s3::Client::from_conf(
        conf.to_builder()
            .stalled_stream_protection(StalledStreamProtectionConfig::disabled())
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .build(),
    );
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let src = format!("raw-copy-src-{stamp}");
    sdk.create_bucket()
        .bucket(&src)
        .send()
        .await
        .expect("create source");
    let put = {
        let (sdk, src) = (sdk.clone(), src.clone());
        move |i: usize| {
            let (sdk, src) = (sdk.clone(), src.clone());
            async move {
                sdk.put_object()
                    .bucket(&src)
                    .key(key(i))
                    .body(format!("object {i}").into_bytes().into())
                    .send()
                    .await
                    .expect("put");
            }
        }
    };
    pass(n, concurrency, put).await;

    let identity = Identity::new(creds, None);
    let raw: Raw = Client::builder(TokioExecutor::new()).build_http();
    println!("copies\tclient\tcpu_s\twall_s\tms_cpu_per_copy");
    for round in 0..6 {
        let dst = format!("raw-copy-dst-{stamp}-{round}");
        sdk.create_bucket()
            .bucket(&dst)
            .send()
            .await
            .expect("create destination");
        let (name, (cpu, wall)) = if round % 3 != 2 {
            let name = if round % 3 == 0 { "sdk" } else { "sdk-lean" };
            let sdk = if round % 3 == 0 { &sdk } else { &lean };
            let (sdk, src, dst) = (sdk.clone(), src.clone(), dst.clone());
            let copy = move |i: usize| {
                let (sdk, src, dst) = (sdk.clone(), src.clone(), dst.clone());
                async move {
                    sdk.copy_object()
                        .bucket(&dst)
                        .key(key(i))
                        .copy_source(format!("{src}/{}", key(i)))
                        .send()
                        .await
                        .expect("copy");
                }
            };
            (name, pass(n, concurrency, copy).await)
        } else {
            let (raw, endpoint, identity) = (raw.clone(), endpoint.clone(), identity.clone());
            let (src, dst) = (src.clone(), dst.clone());
            let copy = move |i: usize| {
                let (raw, endpoint, identity) = (raw.clone(), endpoint.clone(), identity.clone());
                let (src, dst) = (src.clone(), dst.clone());
                async move { raw_copy(&raw, &endpoint, &identity, &src, &dst, i).await }
            };
            ("raw", pass(n, concurrency, copy).await)
        };
        println!(
            "{n}\t{name}\t{cpu:.2}\t{wall:.2}\t{:.3}",
            cpu * 1000.0 / n as f64
        );
    }
}
