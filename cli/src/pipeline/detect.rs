//! Detection with content reads: what `scan` and `timeline` report, and what
//! `--before-corruption` and `--per-key` restore to.
//!
//! Detection itself is the engine's ([`s3rewind_engine::detect()`]); this module does the
//! I/O around it:
//!
//! 1. the command line becomes [`DetectOptions`] ([`options`]);
//! 2. the engine's [`Sampler`] names the versions worth reading, round by round (a
//!    budget split so that noise cannot spend it, then reads around damaged samples);
//! 3. their first [`SAMPLE_BYTES`] are fetched with ranged GETs, [`SAMPLE_CONCURRENCY`]
//!    in flight, with their Content-Type ([`fetch_samples`]); with `--validate-cmd`
//!    each one's *whole* object is also piped through the user's validator
//!    ([`Validator`]);
//! 4. the engine judges it all and states what the reads rule out
//!    ([`Sampler::finish`]).
//!
//! A sample that cannot be read (the version was deleted since the listing, it is
//! archived, a transient error) is left out with a warning: detection then has less
//! evidence, never wrong evidence. Access denied stops the scan with a hint, because
//! every other sample would fail the same way.

use crate::args::{DetectArgs, MinDamage};
use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
use crate::pipeline::report::duration;
use crate::pipeline::report::percent;
use crate::pipeline::resolve_time_noted;
use crate::pipeline::rfc3339;
use crate::s3::{ErrorKind, S3Error, SharedEndpoint as S3};
use s3rewind_engine::detect::{
    Budget, ContentSample, DetectOptions, SAMPLE_BYTES, Sampler, ScanReport, rename_gaps,
};
use s3rewind_engine::{Location, Timeline, Version};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

/// Ranged GETs in flight at once while sampling.
pub const SAMPLE_CONCURRENCY: usize = 16;

/// Without `--sample`, `--deep` or `--min-damage`, at most this many versions are read.
pub const DEFAULT_SAMPLE_CAP: usize = 1000;

/// The engine's options from the command line. TIME notes (how `--since`/`--until` were
/// resolved) go to stderr.
pub fn options(printer: &Printer, args: &DetectArgs) -> CliResult<DetectOptions> {
    let since = resolve_time_noted(printer, args.since.as_deref())?;
    let until = resolve_time_noted(printer, args.until.as_deref())?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        return Err(CliError::usage(format!(
            "--since {} is after --until {}",
            rfc3339(s),
            rfc3339(u)
        )));
    }
    Ok(DetectOptions {
        since,
        until,
        bin_secs: args.window.map(|w| w.max(1)),
        gap_secs: args.gap,
        established_secs: args.established,
        new_owner_history_secs: args.new_writer_after,
        min_keys: args.min_keys as usize,
        min_score: args.min_score,
        confidence: args.confidence,
        ..DetectOptions::default()
    })
}

/// How much to read: `--sample N`, `--deep`, `--min-damage N|P%` (of the keys listed), or
/// by default [`DEFAULT_SAMPLE_CAP`] versions.
pub fn budget(timeline: &Timeline, args: &DetectArgs) -> Budget {
    if args.deep {
        return Budget::Deep;
    }
    match (args.sample, args.min_damage) {
        (Some(n), _) => Budget::Reads(n),
        (None, Some(MinDamage::Objects(n))) => Budget::RuleOut(n),
        (None, Some(MinDamage::Share(p))) => {
            Budget::RuleOut((p * timeline.keys().len() as f64).ceil().max(1.0) as u64)
        }
        (None, None) => Budget::Reads(DEFAULT_SAMPLE_CAP),
    }
}

/// What a budget will read, said before reading.
fn announce(printer: &Printer, sampler: &Sampler<'_>, budget: Budget, opts: &DetectOptions) {
    let written = sampler.versions_written();
    match budget {
        Budget::RuleOut(d) => printer.info(format!(
            "to rule out an incident that damaged {d} objects within any {} with probability {}: reading up to {} of the {written} versions written (and the versions they are compared with)",
            duration(sampler.window_secs()),
            percent(opts.confidence),
            sampler.limit(),
        )),
        Budget::Reads(n) if n > 0 && n < written => printer.info(format!(
            "reading up to {n} of the {written} versions written: spread over time and writers, the newest, the suspicious, and more around any that look damaged; the report says what that rules out (--sample N, --min-damage or --deep read more)"
        )),
        _ => {}
    }
}

/// Run detection over a listed timeline, sampling content as the options say.
pub async fn detect(
    s3: &S3,
    printer: &Printer,
    source: &Location,
    timeline: &Timeline,
    args: &DetectArgs,
) -> CliResult<ScanReport> {
    let opts = options(printer, args)?;
    let validator = args.validate_cmd.as_ref().map(|cmd| Validator {
        command: cmd.clone(),
        timeout: Duration::from_secs(args.validate_timeout.max(1) as u64),
    });
    let budget = budget(timeline, args);
    let mut sampler = Sampler::new(timeline, &opts, budget);
    announce(printer, &sampler, budget, &opts);
    let mut samples: Vec<ContentSample> = Vec::new();
    loop {
        let wanted = sampler.next(&samples);
        if wanted.is_empty() {
            break;
        }
        let got = fetch_samples(
            s3,
            printer,
            &source.bucket,
            timeline,
            &wanted,
            validator.as_ref(),
        )
        .await?;
        samples.extend(got);
    }
    let report = sampler.finish(&samples);
    for (incident, gaps) in rename_gaps(timeline, &report, report.scales.gap_secs) {
        let examples: Vec<String> = gaps
            .iter()
            .take(3)
            .map(|(copy, original)| format!("{original:?} (-> {copy:?})"))
            .collect();
        printer.warn(format!(
            "incident {incident} includes {} new key(s) named after a key deleted at the same time, but not the deleted key(s): {}{}; --per-key would remove the copies without bringing the originals back (use --before-corruption, or `s3rewind undelete` for them)",
            gaps.len(),
            examples.join(", "),
            if gaps.len() > 3 { ", …" } else { "" }
        ));
    }
    tracing::info!(
        samples = samples.len(),
        judged = report.stats.samples_judged,
        bad = report.stats.samples_bad,
        incidents = report.incidents.len(),
        "detection done"
    );
    Ok(report)
}

/// The user's `--validate-cmd`.
#[derive(Debug, Clone)]
pub struct Validator {
    /// Run as `sh -c COMMAND`.
    pub command: String,
    /// Longest one run may take.
    pub timeout: Duration,
}

/// Why a validator run gave no verdict.
#[derive(Debug)]
enum ValidatorFailure {
    /// The command cannot be run at all (sh missing, or exit 126/127): stops the scan.
    CannotStart(String),
    /// Reading the object failed.
    S3(S3Error),
    /// Killed after the time limit.
    TimedOut,
    /// Ended by a signal, or an I/O error talking to it.
    Crashed(String),
}

/// A writer into a validator's stdin that treats the validator closing its stdin early
/// (it had seen enough) as success: the rest of the object is discarded.
struct PipeSink<W> {
    inner: Option<W>,
}

impl<W: AsyncWrite + Unpin> AsyncWrite for PipeSink<W> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let Some(w) = self.inner.as_mut() else {
            return Poll::Ready(Ok(buf.len()));
        };
        match Pin::new(w).poll_write(cx, buf) {
            Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                self.inner = None;
                Poll::Ready(Ok(buf.len()))
            }
            other => other,
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.inner.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(w) => match Pin::new(w).poll_flush(cx) {
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    self.inner = None;
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.inner.as_mut() {
            None => Poll::Ready(Ok(())),
            Some(w) => match Pin::new(w).poll_shutdown(cx) {
                Poll::Ready(Err(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    self.inner = None;
                    Poll::Ready(Ok(()))
                }
                other => other,
            },
        }
    }
}

/// Where a validator's stdin comes from.
enum Feed<'a> {
    /// The whole object is already here (it fits in the sample).
    Bytes(&'a [u8]),
    /// Stream the version from S3.
    Download {
        s3: &'a S3,
        bucket: &'a str,
        key: &'a str,
        version_id: &'a str,
    },
}

impl Validator {
    /// Run the validator on one version: `Ok(true)` = good, `Ok(false)` = damaged.
    async fn run(
        &self,
        bucket: &str,
        key: &str,
        version_id: &str,
        feed: Feed<'_>,
    ) -> Result<bool, ValidatorFailure> {
        let mut child = tokio::process::Command::new("sh")
            .arg("-c")
            .arg(&self.command)
            .env("S3REWIND_BUCKET", bucket)
            .env("S3REWIND_KEY", key)
            .env("S3REWIND_VERSION_ID", version_id)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| ValidatorFailure::CannotStart(format!("cannot run sh: {e}")))?;
        let stdin = child.stdin.take();
        let stderr = child.stderr.take();
        let feed = async move {
            let mut sink = PipeSink { inner: stdin };
            let r = match feed {
                Feed::Bytes(b) => sink
                    .write_all(b)
                    .await
                    .map_err(|e| ValidatorFailure::Crashed(format!("writing to it: {e}"))),
                Feed::Download {
                    s3,
                    bucket,
                    key,
                    version_id,
                } => s3
                    .download(bucket, key, version_id, &mut sink)
                    .await
                    .map(|_| ())
                    .map_err(ValidatorFailure::S3),
            };
            let _ = sink.shutdown().await;
            drop(sink); // closes its stdin: end of input
            r
        };
        let errors = read_some(stderr);
        let run = async {
            let (fed, err_text, status) = tokio::join!(feed, errors, child.wait());
            (fed, err_text, status)
        };
        let outcome = tokio::time::timeout(self.timeout, run).await;
        let (fed, err_text, status) = match outcome {
            Ok(r) => r,
            Err(_) => {
                let _ = child.start_kill();
                let _ = child.wait().await;
                return Err(ValidatorFailure::TimedOut);
            }
        };
        let status = status.map_err(|e| ValidatorFailure::Crashed(e.to_string()))?;
        if !err_text.trim().is_empty() {
            tracing::debug!(key, version_id, stderr = %err_text.trim(), "validator said");
        }
        match status.code() {
            Some(126) | Some(127) => Err(ValidatorFailure::CannotStart(format!(
                "sh -c {:?} exited {} ({}){}",
                self.command,
                status.code().unwrap_or_default(),
                if status.code() == Some(127) {
                    "command not found"
                } else {
                    "not executable"
                },
                first_line(&err_text)
            ))),
            Some(code) => {
                // A failed download means the verdict is about a partial object.
                fed?;
                Ok(code == 0)
            }
            None => Err(ValidatorFailure::Crashed(format!(
                "ended by a signal ({status})"
            ))),
        }
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .map(|l| format!(": {}", l.trim()))
        .unwrap_or_default()
}

/// Read up to 4 KiB of a child's stderr, draining the rest.
async fn read_some<R: AsyncRead + Unpin>(stream: Option<R>) -> String {
    let Some(mut r) = stream else {
        return String::new();
    };
    let mut kept = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = 4096usize.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
        }
    }
    String::from_utf8_lossy(&kept).into_owned()
}

/// What happened to one sample.
enum Fetched {
    Sample(ContentSample),
    /// Not read: why (for the summary).
    Skipped(String),
    /// Stops the scan.
    Fatal(CliError),
}

/// Counts of what could not be judged, for one summary warning.
#[derive(Default)]
struct Skips {
    count: usize,
    first: Option<String>,
    timeouts: usize,
    validator_failures: usize,
    validator_first: Option<String>,
}

/// Fetch the first [`SAMPLE_BYTES`] of every `(key, version id)` in `plan` (and run the
/// validator on each whole version), [`SAMPLE_CONCURRENCY`] at a time. About 120 lines:
/// the spawn loop and the summary of what could not be judged share the skip counts.
pub async fn fetch_samples(
    s3: &S3,
    printer: &Printer,
    bucket: &str,
    timeline: &Timeline,
    plan: &[(String, String)],
    validator: Option<&Validator>,
) -> CliResult<Vec<ContentSample>> {
    if plan.is_empty() {
        return Ok(Vec::new());
    }
    printer.info(format!(
        "reading the first {} KiB of {} versions{}",
        SAMPLE_BYTES / 1024,
        plan.len(),
        if validator.is_some() {
            " (and validating each whole object)"
        } else {
            ""
        }
    ));
    let bar = printer.bar(plan.len() as u64, "sampling");
    let gets = Arc::new(Semaphore::new(SAMPLE_CONCURRENCY));
    let validations = Arc::new(Semaphore::new(
        std::thread::available_parallelism().map_or(2, |n| n.get().max(2)),
    ));
    let mut tasks = tokio::task::JoinSet::new();
    let mut skips = Skips::default();
    for (i, (key, version_id)) in plan.iter().enumerate() {
        let Some(v) = find_version(timeline, key, version_id) else {
            continue;
        };
        if v.delete_marker {
            continue;
        }
        if v.storage_class.as_ref().is_some_and(|c| c.needs_restore()) {
            skips.count += 1;
            skips.first.get_or_insert_with(|| {
                format!("{key:?} version {version_id} is archived and cannot be read")
            });
            bar.inc(1);
            continue;
        }
        let (s3, bucket, key, version_id) = (
            s3.clone(),
            bucket.to_owned(),
            key.clone(),
            version_id.clone(),
        );
        let size = v.size;
        let (gets, validations, validator) =
            (gets.clone(), validations.clone(), validator.cloned());
        tasks.spawn(async move {
            let r = sample_one(
                &s3,
                &bucket,
                &key,
                &version_id,
                size,
                &gets,
                &validations,
                validator.as_ref(),
            )
            .await;
            (i, r)
        });
    }
    let mut out: Vec<(usize, ContentSample)> = Vec::with_capacity(plan.len());
    while let Some(joined) = tasks.join_next().await {
        let (i, r) = joined.map_err(|e| CliError::failure(format!("internal error: {e}")))?;
        bar.inc(1);
        match r {
            (Fetched::Sample(s), note) => {
                out.push((i, s));
                match note {
                    Some(ValidatorFailure::TimedOut) => skips.timeouts += 1,
                    Some(ValidatorFailure::Crashed(m)) => {
                        skips.validator_failures += 1;
                        skips.validator_first.get_or_insert(m);
                    }
                    Some(ValidatorFailure::S3(e)) => {
                        skips.validator_failures += 1;
                        skips.validator_first.get_or_insert(e.to_string());
                    }
                    Some(ValidatorFailure::CannotStart(_)) | None => {}
                }
            }
            (Fetched::Skipped(why), _) => {
                skips.count += 1;
                skips.first.get_or_insert(why);
            }
            (Fetched::Fatal(e), _) => {
                bar.finish_and_clear();
                tasks.abort_all();
                return Err(e);
            }
        }
    }
    bar.finish_and_clear();
    if skips.count > 0 {
        printer.warn(format!(
            "{} of {} sampled versions could not be read and were not judged (first: {})",
            skips.count,
            plan.len(),
            skips.first.as_deref().unwrap_or("?")
        ));
    }
    if skips.timeouts > 0 {
        printer.warn(format!(
            "the validator took longer than --validate-timeout on {} versions; they were killed and left unjudged by it",
            skips.timeouts
        ));
    }
    if skips.validator_failures > 0 {
        printer.warn(format!(
            "the validator gave no verdict on {} versions (first: {})",
            skips.validator_failures,
            skips.validator_first.as_deref().unwrap_or("?")
        ));
    }
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, s)| s).collect())
}

fn find_version<'a>(timeline: &'a Timeline, key: &str, version_id: &str) -> Option<&'a Version> {
    timeline
        .get(key)?
        .entries
        .iter()
        .find(|v| v.version_id == version_id)
}

/// Read one sample, and validate it. The second value reports a validator run that gave
/// no verdict (the sample is still used, without one).
#[allow(clippy::too_many_arguments)]
async fn sample_one(
    s3: &S3,
    bucket: &str,
    key: &str,
    version_id: &str,
    size: u64,
    gets: &Semaphore,
    validations: &Semaphore,
    validator: Option<&Validator>,
) -> (Fetched, Option<ValidatorFailure>) {
    let (head, content_type) = if size == 0 {
        (Vec::new(), None)
    } else {
        let _permit = gets.acquire().await.expect("semaphore open");
        match s3.first_bytes(bucket, key, version_id, SAMPLE_BYTES).await {
            Ok(h) => (h.bytes, h.content_type),
            Err(e) => return (skip_or_fail(e, bucket), None),
        }
    };
    let mut sample = ContentSample {
        key: key.to_owned(),
        version_id: version_id.to_owned(),
        head,
        content_type,
        validator_ok: None,
    };
    let mut failure = None;
    if let Some(v) = validator {
        let _permit = validations.acquire().await.expect("semaphore open");
        let whole = size <= sample.head.len() as u64;
        let feed = if whole {
            Feed::Bytes(&sample.head)
        } else {
            Feed::Download {
                s3,
                bucket,
                key,
                version_id,
            }
        };
        let verdict = v.run(bucket, key, version_id, feed).await;
        match verdict {
            Ok(ok) => sample.validator_ok = Some(ok),
            Err(ValidatorFailure::CannotStart(why)) => {
                return (
                    Fetched::Fatal(CliError::usage(format!(
                        "the validator cannot be started: {why}; check --validate-cmd (it is run as `sh -c CMD` with the object on stdin); nothing was written"
                    ))),
                    None,
                );
            }
            Err(ValidatorFailure::S3(e)) if !e.is_transient() && e.kind != ErrorKind::NotFound => {
                return (skip_or_fail(e, bucket), None);
            }
            Err(other) => failure = Some(other),
        }
    }
    (Fetched::Sample(sample), failure)
}

fn skip_or_fail(e: S3Error, bucket: &str) -> Fetched {
    match e.kind {
        ErrorKind::AccessDenied | ErrorKind::NoCredentials => {
            let cli = from_s3(e, bucket);
            Fetched::Fatal(CliError::new(
                cli.exit,
                format!(
                    "{}; reading content needs s3:GetObject and s3:GetObjectVersion (or run with --sample 0 for metadata only)",
                    cli.message
                ),
            ))
        }
        ErrorKind::NoSuchBucket => Fetched::Fatal(from_s3(e, bucket)),
        _ => Fetched::Skipped(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::{Cli, Command};
    use crate::error::Exit;
    use clap::Parser;

    fn scan_args(extra: &[&str]) -> DetectArgs {
        let mut argv = vec!["s3rewind", "scan", "s3://bucket"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).expect("parses").command {
            Command::Scan(a) => a.detect,
            _ => unreachable!(),
        }
    }

    #[test]
    fn documented_defaults_are_the_engine_defaults() {
        let printer = Printer::new(crate::output::OutputFormat::Text, true, true);
        let opts = options(&printer, &scan_args(&[])).unwrap();
        assert_eq!(opts, DetectOptions::default());
    }

    #[test]
    fn tuning_flags_reach_the_options() {
        let printer = Printer::new(crate::output::OutputFormat::Text, true, true);
        let a = scan_args(&[
            "--window",
            "1s",
            "--gap",
            "2s",
            "--established",
            "0s",
            "--new-writer-after",
            "1h30m",
            "--min-keys",
            "3",
            "--min-score",
            "0.5",
        ]);
        let o = options(&printer, &a).unwrap();
        assert_eq!(
            (
                o.bin_secs,
                o.gap_secs,
                o.established_secs,
                o.new_owner_history_secs,
                o.min_keys
            ),
            (Some(1), Some(2), Some(0), Some(5400), 3)
        );
        assert_eq!(o.min_score, 0.5);
        let a = scan_args(&["--since", "2h", "--until", "3h"]);
        assert_eq!(options(&printer, &a).unwrap_err().exit, Exit::Usage);
    }

    #[test]
    fn guarantee_flags_set_the_confidence_and_the_budget() {
        let printer = Printer::new(crate::output::OutputFormat::Text, true, true);
        let o = options(&printer, &scan_args(&["--confidence", "99%"])).unwrap();
        assert_eq!(o.confidence, 0.99);
        let o = options(&printer, &scan_args(&["--confidence", "0.9"])).unwrap();
        assert_eq!(o.confidence, 0.9);
        let tl = Timeline::from_ordered((0..250).map(|i| s3rewind_engine::Entry {
            key: format!("k{i:03}"),
            version: Version {
                version_id: s3rewind_engine::VersionId::new(&format!("v{i}")),
                last_modified: chrono::DateTime::from_timestamp(1_700_000_000 + i, 0).unwrap(),
                delete_marker: false,
                etag: s3rewind_engine::ETag::new("0123456789abcdef0123456789abcdef"),
                size: 100,
                storage_class: None,
                owner_id: None,
                is_latest: true,
            },
        }))
        .unwrap();
        let b = |extra: &[&str]| budget(&tl, &scan_args(extra));
        assert_eq!(b(&[]), Budget::Reads(DEFAULT_SAMPLE_CAP));
        assert_eq!(b(&["--sample", "40"]), Budget::Reads(40));
        assert_eq!(b(&["--deep"]), Budget::Deep);
        assert_eq!(b(&["--min-damage", "30"]), Budget::RuleOut(30));
        // 2% of 250 keys.
        assert_eq!(b(&["--min-damage", "2%"]), Budget::RuleOut(5));
        for bad in [
            &["--min-damage", "0"][..],
            &["--min-damage", "x%"],
            &["--min-damage", "150%"],
            &["--confidence", "1"],
            &["--confidence", "0"],
            &["--confidence", "soon"],
            &["--min-damage", "10", "--sample", "5"],
            &["--min-damage", "10", "--deep"],
        ] {
            let mut argv = vec!["s3rewind", "scan", "s3://b"];
            argv.extend_from_slice(bad);
            assert!(Cli::try_parse_from(argv).is_err(), "{bad:?}");
        }
        assert_eq!(percent(0.95), "95%");
        assert_eq!(percent(0.999), "99.9%");
    }

    #[test]
    fn bad_durations_are_usage_errors() {
        for bad in ["", "1", "1x", "h", "-1s", "1s2", "99999999999999w"] {
            assert!(crate::args::duration_secs(bad).is_err(), "{bad:?}");
        }
        assert_eq!(crate::args::duration_secs("0"), Ok(0));
        assert_eq!(crate::args::duration_secs("1d 2h"), Ok(93_600));
        assert!(Cli::try_parse_from(["s3rewind", "scan", "s3://b", "--window", "soon"]).is_err());
        assert!(Cli::try_parse_from(["s3rewind", "scan", "s3://b", "--min-score", "2"]).is_err());
    }
}
