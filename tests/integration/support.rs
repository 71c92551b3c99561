//! Test support: a real S3 server, an SDK client for building histories, and a runner
//! for the `s3rewind` binary.
//!
//! Two servers, both separate processes, no mock of the wire:
//! - moto (`moto_server` from PyPI `moto[server]`), started per test on a free loopback
//!   port; if moto is not installed the tests fail loudly with the command that installs
//!   it (scripts/test installs it);
//! - Ceph radosgw, one single-node cluster per test run, started by `scripts/test`
//!   (`scripts/radosgw start`), whose endpoint arrives in `S3REWIND_RADOSGW`; each test
//!   uses its own buckets (names get a unique suffix). Without the variable the radosgw
//!   tests report themselves as skipped, or fail when `S3REWIND_REQUIRE_RADOSGW=1`.

#![allow(dead_code)]

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{Credentials, Region};
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketVersioningStatus, VersioningConfiguration};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The servers the conformance suite runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// moto, one process per test.
    Moto,
    /// Ceph radosgw, shared by the test run.
    Radosgw,
}

/// A moto server is the common case; the type serves radosgw too.
pub type Server = Moto;

/// A running S3 server: a moto process of this test (killed on drop), or the test
/// run's radosgw.
pub struct Moto {
    child: Option<Child>,
    /// Which server this is.
    pub kind: Kind,
    /// A suffix that makes bucket names unique on a shared server (empty for moto).
    suffix: String,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The SDK client pointed at it.
    pub client: Client,
    /// The access key and secret the client uses.
    pub keys: (String, String),
    /// A scratch directory (HOME, journals, plan files) for this test.
    pub dir: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .unwrap()
        .port()
}

fn moto_command() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join("moto_server");
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "moto_server was not found on PATH: these integration tests need a real S3 server. \
         Install it with `python3 -m pip install 'moto[server]'` (scripts/test does this), \
         or set MOTO_SERVER to its path."
    );
}

impl Moto {
    /// Start a fresh server (empty state) and wait until it answers.
    pub async fn start() -> Moto {
        Self::start_with(&[]).await
    }

    /// Start a server with IAM authentication enforced, and two users made through
    /// moto's IAM API: an administrator (whose keys the returned client uses) and a
    /// user allowed only `s3:GetBucketVersioning` and `s3:ListBucket` (current objects,
    /// not versions). Returns the second user's keys.
    pub async fn start_with_auth() -> (Moto, (String, String)) {
        // moto enforces authentication after this many unauthenticated actions: exactly
        // the ones the setup script below makes.
        let mut m = Self::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", "6")]).await;
        let script = r#"
import boto3, json, sys
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="testing", aws_secret_access_key="testing")
def user(name, actions):
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    return [k["AccessKeyId"], k["SecretAccessKey"]]
print(json.dumps([user("admin", ["*"]), user("no-versions", ["s3:GetBucketVersioning", "s3:ListBucket"])]))
"#;
        let out = Command::new("python3")
            .args(["-c", script, &m.endpoint])
            .output()
            .expect("python3 with boto3 (installed with moto)");
        assert!(
            out.status.success(),
            "IAM setup failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let keys: Vec<Vec<String>> = serde_json::from_slice(&out.stdout).unwrap();
        m.client = client_with(&m.endpoint, &keys[0][0], &keys[0][1]);
        m.keys = (keys[0][0].clone(), keys[0][1].clone());
        (m, (keys[1][0].clone(), keys[1][1].clone()))
    }

    /// Start a fresh server with extra environment variables.
    pub async fn start_with(env: &[(&str, &str)]) -> Moto {
        let port = free_port();
        let dir = tempfile::tempdir().expect("temp dir");
        let log = std::fs::File::create(dir.path().join("moto.log")).unwrap();
        let child = Command::new(moto_command())
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let mut moto = Moto {
            child: Some(child),
            kind: Kind::Moto,
            suffix: String::new(),
            client: client(&endpoint),
            keys: ("testing".to_owned(), "testing".to_owned()),
            endpoint,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = moto.child.as_mut().unwrap().try_wait().unwrap() {
                let log =
                    std::fs::read_to_string(moto.dir.path().join("moto.log")).unwrap_or_default();
                panic!("moto_server exited at start ({status}): {log}");
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        moto
    }

    /// The test run's radosgw (`S3REWIND_RADOSGW`), or `None` (reported as skipped) when
    /// there is none; with `S3REWIND_REQUIRE_RADOSGW=1` a missing radosgw fails the test.
    pub fn radosgw(test: &str) -> Option<Moto> {
        let Some(endpoint) = std::env::var("S3REWIND_RADOSGW")
            .ok()
            .filter(|e| !e.is_empty())
        else {
            assert!(
                std::env::var("S3REWIND_REQUIRE_RADOSGW").as_deref() != Ok("1"),
                "S3REWIND_REQUIRE_RADOSGW=1 but S3REWIND_RADOSGW is not set: start radosgw with scripts/radosgw (scripts/test does)"
            );
            #[allow(clippy::print_stderr)]
            {
                eprintln!(
                    "SKIPPED {test}: no radosgw (S3REWIND_RADOSGW unset; scripts/test starts one)"
                );
            }
            // libtest hides a passing test's output: the skip is also written where
            // `scripts/test` reads it and prints it at the end, so it is never silent.
            let list = Path::new(env!("CARGO_TARGET_TMPDIR")).join("radosgw-skipped.txt");
            if let Ok(mut f) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(list)
            {
                use std::io::Write;
                let _ = writeln!(f, "{test}");
            }
            return None;
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let suffix = format!(
            "-{}-{}-{}",
            std::process::id(),
            Utc::now().timestamp_millis() % 100_000_000,
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        Some(Moto {
            child: None,
            kind: Kind::Radosgw,
            suffix,
            client: client_with(&endpoint, "test", "test"),
            keys: ("test".to_owned(), "test".to_owned()),
            endpoint,
            dir: tempfile::tempdir().expect("temp dir"),
        })
    }

    /// The server's name of the bucket a test calls `name` (unique on a shared server).
    pub fn b(&self, name: &str) -> String {
        format!("{name}{}", self.suffix)
    }

    /// Create a bucket, versioned or not.
    pub async fn bucket(&self, name: &str, versioned: bool) {
        self.client
            .create_bucket()
            .bucket(name)
            .send()
            .await
            .unwrap();
        if versioned {
            self.set_versioning(name, BucketVersioningStatus::Enabled)
                .await;
        }
    }

    /// Set a bucket's versioning status.
    pub async fn set_versioning(&self, name: &str, status: BucketVersioningStatus) {
        self.client
            .put_bucket_versioning()
            .bucket(name)
            .versioning_configuration(VersioningConfiguration::builder().status(status).build())
            .send()
            .await
            .unwrap();
    }

    /// PUT; returns the version id.
    pub async fn put(&self, bucket: &str, key: &str, body: &[u8]) -> String {
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(ByteStream::from(body.to_vec()))
            .send()
            .await
            .unwrap_or_else(|e| panic!("put {key}: {e:?}"))
            .version_id()
            .unwrap_or("null")
            .to_owned()
    }

    /// DELETE (adds a delete marker in a versioned bucket).
    pub async fn delete(&self, bucket: &str, key: &str) {
        self.client
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }

    /// The current content of every key (GET of each), by listing the current objects.
    pub async fn contents(&self, bucket: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .unwrap();
            for o in page.contents() {
                let key = o.key().unwrap().to_owned();
                let body = self
                    .client
                    .get_object()
                    .bucket(bucket)
                    .key(&key)
                    .send()
                    .await
                    .unwrap()
                    .body
                    .collect()
                    .await
                    .unwrap()
                    .into_bytes()
                    .to_vec();
                out.insert(key, body);
            }
            if page.is_truncated() != Some(true) {
                break;
            }
            token = page.next_continuation_token().map(str::to_owned);
        }
        out
    }

    /// Every ListObjectVersions page of the bucket, in order.
    pub async fn version_pages(&self, bucket: &str) -> Vec<ListObjectVersionsOutput> {
        let mut pages = Vec::new();
        let (mut km, mut vm): (Option<String>, Option<String>) = (None, None);
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(bucket)
                .set_key_marker(km.clone())
                .set_version_id_marker(vm.clone())
                .send()
                .await
                .unwrap();
            let last = page.is_truncated() != Some(true);
            km = page.next_key_marker().map(str::to_owned);
            vm = page.next_version_id_marker().map(str::to_owned);
            pages.push(page);
            if last {
                return pages;
            }
        }
    }

    /// Every (key, version id, is delete marker) in the bucket.
    pub async fn versions(&self, bucket: &str) -> Vec<(String, String, bool)> {
        let mut out = Vec::new();
        for page in self.version_pages(bucket).await {
            for v in page.versions() {
                out.push((
                    v.key().unwrap().to_owned(),
                    v.version_id().unwrap().to_owned(),
                    false,
                ));
            }
            for d in page.delete_markers() {
                out.push((
                    d.key().unwrap().to_owned(),
                    d.version_id().unwrap().to_owned(),
                    true,
                ));
            }
        }
        out.sort();
        out
    }

    /// Run the s3rewind binary against this server.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, &[])
    }

    /// `program` (an s3rewind binary) with `args`, against this server, in an isolated
    /// environment with this server's keys.
    fn command(&self, program: impl AsRef<std::ffi::OsStr>, args: &[&str]) -> Command {
        let mut cmd = Command::new(program);
        cmd.args(["--endpoint-url", &self.endpoint, "--no-progress"])
            .args(args);
        isolate_env(&mut cmd, self.dir.path());
        if self.kind == Kind::Radosgw {
            cmd.env("AWS_ACCESS_KEY_ID", &self.keys.0)
                .env("AWS_SECRET_ACCESS_KEY", &self.keys.1);
        }
        cmd
    }

    /// Run the s3rewind binary with extra environment variables.
    pub fn run_with(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(binary(), args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.stdin(Stdio::null()).output().expect("run s3rewind");
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Start the s3rewind binary in the background against this server (stdout piped,
    /// stderr discarded), for tests that interrupt it.
    pub fn spawn(&self, args: &[&str]) -> Child {
        let mut cmd = self.command(env!("CARGO_BIN_EXE_s3rewind"), args);
        // Both piped (read by `wait_with_output`): a run prints a few lines at most.
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start s3rewind")
    }

    /// A path in this test's scratch directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The binary under test: this build's, or `S3REWIND_TEST_BIN` (to run the suite against
/// an older build and see which scenarios it fails).
pub fn binary() -> PathBuf {
    std::env::var_os("S3REWIND_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_s3rewind")))
}

/// Credentials and config for the binary: test keys, no profile files, a private HOME.
pub fn isolate_env(cmd: &mut Command, home: &Path) {
    for var in [
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "RUST_LOG",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("HOME", home)
        .env("XDG_STATE_HOME", home.join("state"));
}

fn client(endpoint: &str) -> Client {
    client_with(endpoint, "testing", "testing")
}

fn client_with(endpoint: &str, key: &str, secret: &str) -> Client {
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(key, secret, None, None, "test"))
        .force_path_style(true)
        // radosgw rejects the SDK's default aws-chunked trailing checksums.
        .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired)
        .build();
    Client::from_conf(conf)
}

/// Output of one s3rewind run.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl From<std::process::Output> for Run {
    fn from(out: std::process::Output) -> Self {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Run {
    /// Assert the exit code, showing the output when it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (wanted {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }

    /// Parse stdout as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Completed actions a journal records so far.
pub fn journal_done(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|s| s.matches("\"type\":\"done\"").count())
        .unwrap_or(0)
}

/// Wait until a running restore's journal records `n` completed actions; fails if the
/// process ends first or nothing happens for a minute.
pub async fn wait_for_journal(path: &Path, n: usize, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while journal_done(path) < n {
        assert!(Instant::now() < deadline, "the restore made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the restore finished before it could be interrupted"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sleep past the next whole-second boundary (S3 and moto timestamps have whole
/// seconds), so writes before and after are told apart.
pub async fn next_second() {
    let ms = Utc::now().timestamp_subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1000 - ms) + 30)).await;
}

/// A restore point strictly between the writes before and the writes after: waits for a
/// fresh second, takes the instant, then waits for another fresh second.
pub async fn checkpoint() -> DateTime<Utc> {
    next_second().await;
    let t = Utc::now();
    next_second().await;
    t
}

/// RFC 3339 with milliseconds.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Map literal contents.
pub fn map(items: &[(&str, &str)]) -> BTreeMap<String, Vec<u8>> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
        .collect()
}

/// The string `field` of every element of the JSON array `list`, in order.
pub fn strs<'a>(list: &'a serde_json::Value, field: &str) -> Vec<&'a str> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|a| a[field].as_str().unwrap())
        .collect()
}
