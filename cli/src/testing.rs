//! Commands in process, on buckets in memory: the harness of the command tests (compiled
//! for tests, and with the `testing` feature for the memory benches).
//!
//! [`run_cmd`] parses a command line as the binary does (`Cli::try_parse_from`: exit 2 on
//! a usage error), builds the [`App`] on the endpoints it is given instead of S3, runs
//! [`crate::run_command`] and returns the exit code with what was printed to stdout and stderr
//! (through a capturing [`Printer`]). [`FaultyEndpoint`] wraps every bucket of an
//! endpoint in [`Faulty`], behind the retries the SDK would make.
//!
//! ```ignore
//! let store = MemStore::new();
//! store.insert("b", history);
//! let out = run_cmd(&["restore", "s3://b", "--at", T, "--yes"], store.endpoint(), None).await;
//! assert_eq!(out.exit, 0, "{}", out.stderr);
//! ```

use crate::args::Cli;
use crate::bucket::{Bucket, BucketConfig, ConnectOptions, Connector, Endpoint, Faults, Faulty};
use crate::error::Exit;
use crate::output::{Capture, Printer};
use crate::pipeline::App;
use async_trait::async_trait;
use clap::Parser;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// What a command did: its exit code and what it printed.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The exit code the binary would return.
    pub exit: u8,
    /// Everything printed to stdout.
    pub stdout: String,
    /// Everything printed to stderr.
    pub stderr: String,
}

impl Outcome {
    /// stdout parsed as the one JSON document of `--output json`.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}): {}", self.stdout))
    }
}

/// Hands out one endpoint whatever the options ask for: the destination of `--dest-*`
/// options, a replica's region.
#[derive(Debug)]
pub struct Fixed(pub Arc<dyn Endpoint>);

#[async_trait]
impl Connector for Fixed {
    async fn connect(&self, _opts: &ConnectOptions) -> Arc<dyn Endpoint> {
        self.0.clone()
    }
}

/// Run one command line (without the program name) on `endpoint`; `dest` is what the
/// `--dest-*` options (and any other endpoint a command opens) reach, `endpoint` itself
/// when `None`.
pub async fn run_cmd(
    args: &[&str],
    endpoint: Arc<dyn Endpoint>,
    dest: Option<Arc<dyn Endpoint>>,
) -> Outcome {
    let argv = std::iter::once("s3rewind").chain(args.iter().copied());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            let text = e.render().to_string();
            let usage = e.use_stderr();
            return Outcome {
                exit: if usage { Exit::Usage.code() } else { 0 },
                stdout: if usage { String::new() } else { text.clone() },
                stderr: if usage { text } else { String::new() },
            };
        }
    };
    let (app, capture) = app_of(&cli, endpoint, dest);
    let exit = match crate::run_command(&cli, &app).await {
        Ok(exit) => exit.code(),
        Err(e) => {
            app.printer.failure(e.exit.code(), &e.message);
            e.exit.code()
        }
    };
    Outcome {
        exit,
        stdout: capture.stdout(),
        stderr: capture.stderr(),
    }
}

/// The [`App`] `run_cmd` runs `cli` with (its output captured), for a test that calls
/// the stages below a command.
pub fn app_of(
    cli: &Cli,
    endpoint: Arc<dyn Endpoint>,
    dest: Option<Arc<dyn Endpoint>>,
) -> (App, Capture) {
    let (printer, capture) = Printer::capturing(cli.global.output, cli.global.quiet);
    (app_with(cli, printer, endpoint, dest), capture)
}

/// [`run_cmd`] with the binary's own printer: the result goes to this process's stdout
/// and the messages to its stderr as the command writes them, not into memory. For a
/// bench that measures a command whose output is large (a plan as JSON); returns the
/// exit code.
pub async fn run_cmd_printing(
    args: &[&str],
    endpoint: Arc<dyn Endpoint>,
    dest: Option<Arc<dyn Endpoint>>,
) -> u8 {
    let argv = std::iter::once("s3rewind").chain(args.iter().copied());
    let cli = match Cli::try_parse_from(argv) {
        Ok(c) => c,
        Err(e) => {
            // clap's own message and exit code (0 for --help), as the binary prints them.
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            };
        }
    };
    let printer = Printer::new(cli.global.output, cli.global.quiet, cli.global.no_progress);
    let app = app_with(&cli, printer, endpoint, dest);
    match crate::run_command(&cli, &app).await {
        Ok(exit) => exit.code(),
        Err(e) => {
            app.printer.failure(e.exit.code(), &e.message);
            e.exit.code()
        }
    }
}

/// The [`App`] a command runs with over `endpoint` (and `dest`), printing through
/// `printer`.
fn app_with(
    cli: &Cli,
    printer: Printer,
    endpoint: Arc<dyn Endpoint>,
    dest: Option<Arc<dyn Endpoint>>,
) -> App {
    App {
        printer,
        connector: Arc::new(Fixed(dest.unwrap_or_else(|| endpoint.clone()))),
        uncapped: endpoint.clone(),
        endpoint,
        connect: App::connect_options(&cli.global),
        verbose: cli.global.verbose > 0,
        caps: None,
        journal_dir: App::journal_dir(&cli.global),
    }
    .capped(&cli.global)
}

/// An endpoint whose every bucket is wrapped in [`Faulty`] (one per bucket name, so all
/// handles of a bucket share its fault generator), behind [`SdkRetries`]: what a command
/// sees of a misbehaving server through the SDK. Configuration reads pass through.
#[derive(Debug)]
pub struct FaultyEndpoint {
    inner: Arc<dyn Endpoint>,
    faults: Faults,
    buckets: Mutex<HashMap<String, Arc<Faulty>>>,
}

impl FaultyEndpoint {
    /// Wrap `inner`'s buckets; each bucket's generator is seeded from `faults.seed` and
    /// the order in which buckets are first asked for.
    pub fn new(inner: Arc<dyn Endpoint>, faults: Faults) -> Arc<FaultyEndpoint> {
        Arc::new(FaultyEndpoint {
            inner,
            faults,
            buckets: Mutex::default(),
        })
    }

    /// Calls made to the faulty buckets so far (faulty or not).
    pub fn calls(&self) -> u64 {
        self.lock().values().map(|f| f.calls()).sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Faulty>>> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Endpoint for FaultyEndpoint {
    fn bucket(&self, name: &str) -> Arc<dyn Bucket> {
        let mut buckets = self.lock();
        let seed = self.faults.seed.wrapping_add(buckets.len() as u64);
        let faulty = buckets
            .entry(name.to_owned())
            .or_insert_with(|| {
                let faults = Faults {
                    seed,
                    ..self.faults.clone()
                };
                Arc::new(Faulty::new(self.inner.bucket(name), faults))
            })
            .clone();
        Arc::new(SdkRetries {
            inner: faulty,
            attempts: crate::s3::READ_ATTEMPTS,
        })
    }

    fn config(&self, name: &str) -> Arc<dyn BucketConfig> {
        self.inner.config(name)
    }

    fn list_calls(&self) -> u64 {
        self.inner.list_calls()
    }
}

/// The retries the SDK makes for s3rewind (see `crate::s3`): a request that fails with a
/// transient error (throttled, unreachable, 5xx) is sent again, up to `attempts` times,
/// except the writes that add a version (CopyObject, PutObject with attributes,
/// DeleteObject adding a marker), which the runner retries itself after reading the key.
#[derive(Debug)]
pub struct SdkRetries<B: ?Sized> {
    inner: Arc<B>,
    attempts: u32,
}

/// Send `$inner` until it succeeds, fails for good, or `$self.attempts` are used (a call
/// that adds a version is sent once).
macro_rules! retried {
    ($self:ident, $call:expr, $inner:expr) => {{
        let mut attempt = 1;
        loop {
            match $inner.await {
                Err(e) if !$call.sent_once && e.is_transient() && attempt < $self.attempts => {
                    attempt += 1
                }
                r => break r,
            }
        }
    }};
}

/// An owned body copied for each attempt.
macro_rules! cloned {
    ($body:expr) => {
        $body.clone()
    };
}

crate::bucket::layered_bucket!(
    impl[B: Bucket + ?Sized] SdkRetries<B>,
    around = retried,
    body = cloned
);

#[cfg(test)]
mod habits;
#[cfg(test)]
mod inputs;
#[cfg(test)]
mod s3_journal;
#[cfg(test)]
mod tests;
