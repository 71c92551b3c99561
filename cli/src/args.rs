//! Command-line arguments (clap derive). Parsing only: the commands live in
//! [`crate::commands`].

use crate::listing::{Split, Streams};
use crate::output::OutputFormat;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Point-in-time restore and recovery for versioned S3 buckets.
///
/// TIME is RFC 3339 (2026-11-21T09:41:00Z), a UTC date-time without offset
/// (2026-11-21 09:41:00), @UNIX_SECONDS, or a duration ago (90m, 2h, 3d). The state at
/// TIME includes everything written at or before TIME.
#[derive(Debug, Clone, Parser)]
#[command(name = "s3rewind", version = VERSION, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// `--version`: the crate version and the commit it was built from (`cli/build.rs`:
/// the short hash, `-dirty` when tracked files differed from it, or `unknown` when built
/// outside a repository).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("S3REWIND_COMMIT"),
    ")"
);

/// The TIME forms, shown under every command that takes a TIME.
pub const TIME_HELP: &str = "TIME: RFC 3339 (2026-11-21T09:41:00Z, or with an offset +02:00), a UTC date-time \
without offset (2026-11-21 09:41:00 or 2026-11-21T09:41:00), @UNIX_SECONDS (@1795254060), or a duration \
ago (90m, 2h, 3d, 1w, 1h30m, \"2h ago\"; units s, m, h, d, w), or now. The state at TIME includes everything \
written at or before TIME.";

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 partial (failed/drifted/waiting actions, differences, findings, audit gaps); \
2 usage; 3 bucket or key not found; 4 refused for safety; 5 access denied; \
6 endpoint unreachable; 7 other error; 8 no usable credentials (none, missing profile, expired login); \
130 interrupted (run again to resume).";

/// Options for every command.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// S3-compatible endpoint URL (implies path-style addressing).
    #[arg(long, global = true, value_name = "URL", value_parser = endpoint_url, env = "S3REWIND_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Named profile from ~/.aws/config and ~/.aws/credentials.
    #[arg(long, global = true, env = "S3REWIND_PROFILE")]
    pub profile: Option<String>,
    /// AWS region (default: from the profile or environment, else us-east-1).
    #[arg(long, global = true, env = "S3REWIND_REGION")]
    pub region: Option<String>,
    /// Result format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text, env = "S3REWIND_OUTPUT")]
    pub output: OutputFormat,
    /// More log output on stderr (-v, -vv, -vvv). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors, warnings and the result.
    #[arg(
        short,
        long,
        global = true,
        conflicts_with = "verbose",
        env = "S3REWIND_QUIET"
    )]
    pub quiet: bool,
    /// Where journals go when a command is not given --journal: one file per run, named
    /// after it (bucket, TIME, a hash of what it restores), so the same command run again
    /// resumes. Default: $XDG_STATE_HOME/s3rewind/journals (~/.local/state/… without it).
    #[arg(long, global = true, value_name = "DIR", value_parser = local_path, env = "S3REWIND_JOURNAL_DIR")]
    pub journal_dir: Option<PathBuf>,
    /// No progress: no bars on a terminal, no status lines without one.
    #[arg(long, global = true, env = "S3REWIND_NO_PROGRESS")]
    pub no_progress: bool,
    /// Without a terminal (a CI log), one status line on stderr every DURATION while a
    /// long phase runs (phase, done/total, rate, bytes, failed and drifted counts, ETA).
    #[arg(long, global = true, value_name = "DURATION", default_value = "30s", value_parser = stats_every, env = "S3REWIND_STATS")]
    pub stats: std::time::Duration,
    /// Status lines as text, or as NDJSON events (`{"event":"progress",…}`) for a log
    /// pipeline.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "S3REWIND_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Maximum attempts per S3 read (SDK retry configuration; default 5). Writes that add
    /// a version are never retried blindly: the runner reads the key again first.
    #[arg(long, global = true, value_name = "N", env = "S3REWIND_MAX_ATTEMPTS")]
    pub max_attempts: Option<u32>,
    /// SDK retry mode.
    #[arg(long, global = true, value_enum, env = "S3REWIND_RETRY_MODE")]
    pub retry_mode: Option<RetryModeArg>,
    /// At most N requests per second to S3, every operation together (listings, HEADs,
    /// copies, verification): requests are paced, never refused.
    #[arg(long, global = true, value_name = "N", value_parser = positive_rate, env = "S3REWIND_MAX_RPS")]
    pub max_rps: Option<f64>,
    /// Stop cleanly before copying or writing more than SIZE (e.g. 500GiB): what is in
    /// flight finishes and is journaled, nothing more starts, exit 4; the same command
    /// resumes.
    #[arg(long, global = true, value_name = "SIZE", value_parser = parse_size, env = "S3REWIND_MAX_BYTES")]
    pub max_bytes: Option<u64>,
    /// Stop cleanly (as --max-bytes) before the requests sent cost more than USD, at the
    /// S3 Standard request prices of --region (README: costs).
    #[arg(long, global = true, value_name = "USD", value_parser = positive_rate, env = "S3REWIND_MAX_COST")]
    pub max_cost: Option<f64>,
}

/// A number above zero (`--max-rps`, `--max-cost`).
fn positive_rate(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("{text:?} is not a number above zero")),
    }
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Status lines for people reading a log.
    Text,
    /// One JSON object per line.
    Json,
}

fn stats_every(input: &str) -> Result<std::time::Duration, String> {
    let secs = duration_secs(input)?;
    if secs < 1 {
        return Err(format!("--stats {input:?}: give at least 1s"));
    }
    Ok(std::time::Duration::from_secs(secs as u64))
}

/// The SDK retry modes (`--retry-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RetryModeArg {
    /// Exponential backoff with jitter.
    Standard,
    /// Standard plus a client-side rate limiter that adapts to throttling.
    Adaptive,
}

impl From<RetryModeArg> for crate::s3::RetryMode {
    fn from(m: RetryModeArg) -> Self {
        match m {
            RetryModeArg::Standard => crate::s3::RetryMode::Standard,
            RetryModeArg::Adaptive => crate::s3::RetryMode::Adaptive,
        }
    }
}

/// The commands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Show what a restore would do (writes nothing).
    #[command(after_help = TIME_HELP)]
    Plan(PlanArgs),
    /// Restore a bucket (or prefix) to its state at TIME.
    #[command(after_help = TIME_HELP)]
    Restore(RestoreArgs),
    /// Execute a plan saved with `plan --out`.
    Apply(ApplyArgs),
    /// Put back the versions a restore replaced, from its journal (append-only).
    Undo(UndoArgs),
    /// Bring back every key whose current version is a delete marker.
    #[command(after_help = TIME_HELP)]
    Undelete(UndeleteArgs),
    /// Check that the current state equals the state at TIME.
    #[command(after_help = TIME_HELP)]
    Verify(VerifyArgs),
    /// Find suspected incidents (bursts of overwrites or deletes, encryption, wipes…).
    #[command(after_help = TIME_HELP)]
    Scan(ScanArgs),
    /// List every version and delete marker of one key.
    History(HistoryArgs),
    /// List keys added, changed and deleted between two times.
    #[command(after_help = TIME_HELP)]
    Diff(DiffArgs),
    /// Show activity over time (puts, overwrites, deletes), in the terminal or as SVG.
    #[command(after_help = TIME_HELP)]
    Timeline(TimelineArgs),
    /// List the keys as they were at TIME (default: now), like `aws s3 ls --recursive`.
    #[command(after_help = TIME_HELP)]
    Ls(LsArgs),
    /// Disaster-recovery drill: restore the state at TIME into a scratch location, verify
    /// every object by content, report the recovery time achieved (and --cleanup).
    #[command(after_help = TIME_HELP)]
    Drill(DrillArgs),
    /// Audit recovery readiness: which of five disaster scenarios the bucket's
    /// configuration covers, and how to fix the rest (exit 1 when any is not covered).
    Audit(AuditArgs),
    /// Print the least-privilege IAM policy a command needs (JSON).
    Policy(PolicyArgs),
    /// Save a bucket's (or prefix's) timeline to a file, from a listing or an
    /// inventory, for `--index FILE` on plan, restore, scan, history, diff, verify, ls
    /// and drill.
    Index(IndexArgs),
    /// Hand a plan's copies to S3 Batch Operations and bring the results back: submit the
    /// jobs `plan --emit batch-ops DIR` prepared, follow them, reconcile their completion
    /// reports into the journal.
    Batch(BatchArgs),
    /// Keep a timeline index current from the bucket's event notifications (continuous
    /// protection): a baseline listing, then every change as it happens, so `--index
    /// FILE` plans at any time up to the last event without listing the history.
    Watch(WatchArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(CompletionsArgs),
    /// Print the manual page (roff; `s3rewind man | man -l -`), or with --dir write one page
    /// per command (s3rewind.1, s3rewind-plan.1, …).
    Man(ManArgs),
}

/// `man`.
#[derive(Debug, Clone, Args)]
pub struct ManArgs {
    /// Write every page (s3rewind.1 and s3rewind-COMMAND.1 for each command) into DIR
    /// (created if missing) instead of printing the main page.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `index`.
#[derive(Debug, Clone, Args)]
pub struct IndexArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX (with --refresh: optional, and it must be the
    /// index's own).
    #[arg(
        value_name = "s3://BUCKET[/PREFIX]",
        required_unless_present = "refresh"
    )]
    pub source: Option<String>,
    /// The index file to write (a versioned binary format; replaced atomically). With
    /// --refresh: default the refreshed file itself.
    #[arg(long, value_name = "FILE", required_unless_present = "refresh")]
    pub out: Option<PathBuf>,
    /// Bring this index up to date, for the bucket and prefix it names. From a listing
    /// this lists the whole bucket or prefix again: ListObjectVersions cannot filter by
    /// time, so a refresh costs exactly what a new index costs (the output says how
    /// many listing calls it took). With --inventory, a newer report replaces the index's
    /// history; a report older than the index is refused.
    #[arg(long, value_name = "FILE")]
    pub refresh: Option<PathBuf>,
    /// Read the history from this all-versions inventory report (its manifest.json)
    /// instead of listing the bucket; the index then shows the bucket as the report
    /// does.
    #[arg(long, value_name = "MANIFEST")]
    pub inventory: Option<String>,
    /// Where reading an inventory spills its sorted runs and downloads the report.
    #[arg(long, value_name = "DIR", requires = "inventory")]
    pub sort_dir: Option<PathBuf>,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
}

/// `watch`.
#[derive(Debug, Clone, Args)]
pub struct WatchArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX to follow.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The watched index: FILE in the index format, and FILE.events, its event log.
    /// Created from a listing when absent; resumed when present.
    #[arg(long, value_name = "FILE", value_parser = local_path)]
    pub index: PathBuf,
    /// Receive notifications pushed over HTTP (radosgw topics, MinIO webhooks) on
    /// ADDR:PORT, at the path /TOKEN.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Read S3 Event Notifications from this SQS queue (sent by S3 directly, or through
    /// an EventBridge rule): https://sqs.REGION.amazonaws.com/ACCOUNT/NAME. A message is
    /// deleted only once its events are synced to the log.
    #[arg(long, value_name = "URL", conflicts_with = "listen")]
    pub queue: Option<String>,
    /// --queue: how long a received message stays hidden from other readers; extended
    /// every half of it while the watcher still holds the message.
    #[arg(long, value_name = "DURATION", default_value = "2m", value_parser = duration_secs)]
    pub visibility: i64,
    /// The path token a pushed notification must carry (POST /TOKEN); default: the
    /// S3REWIND_WATCH_TOKEN environment variable.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "S3REWIND_WATCH_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// How this server's events of one key are ordered: `sequencer` (AWS documents its
    /// sequencers as ordering a key's events), `event-time` (radosgw, MinIO: by the
    /// event's time, re-reading keys whose events are closer than --tie-window), or
    /// `auto`: sequencer on AWS, event-time with --endpoint-url.
    #[arg(long, value_enum, default_value_t = WatchOrder::Auto)]
    pub order: WatchOrder,
    /// Events of one key closer than this (milliseconds) are not ordered by time: the key
    /// is read again from the bucket.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub tie_window_ms: i64,
    /// A key in doubt is read again once its last event is this old (lets racing writes
    /// settle).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = duration_secs)]
    pub settle: i64,
    /// Reconcile this often: one ListObjectsV2 pass over the range, and a history re-read
    /// of every key whose current object disagrees (lost events are counted and
    /// repaired); 0 = only at start.
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = duration_secs)]
    pub reconcile_every: i64,
    /// Fold the log into the index once it has this many lines.
    #[arg(long, value_name = "LINES", default_value_t = 200_000)]
    pub compact_every: u64,
    /// Stop after this long (a catch-up run from cron, a test); default: until Ctrl-C.
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub stop_after: Option<i64>,
    /// Run the detector (`scan`'s) over the events as they come: at the end of every
    /// --alert-every bin in which something was written, over the last --alert-lookback,
    /// sampling content as scan does. Each new incident is one stderr line, one JSON line
    /// on stdout (s3rewind.watch-alert/v1) and, with --alert-exec, a command run with the
    /// incident document on stdin.
    #[arg(long)]
    pub alert: bool,
    /// With --alert: run this shell command (sh -c) for each new incident, the
    /// s3rewind.watch-alert/v1 document on its stdin (given 60 s).
    #[arg(long, value_name = "CMD", requires = "alert")]
    pub alert_exec: Option<String>,
    /// With --alert: the bin that closes before detection runs (the alert comes at most
    /// this long after the damage, plus the detection and --settle).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = duration_secs, requires = "alert")]
    pub alert_every: i64,
    /// With --alert: how much history before now each detection judges (earlier history
    /// is its baseline).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = duration_secs, requires = "alert")]
    pub alert_lookback: i64,
    /// Detection options (with --alert).
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Print the notification configuration this watcher needs (radosgw topic and
    /// bucket notification with --listen; S3 → SQS queue, its policy and the bucket
    /// notification otherwise) and stop.
    #[arg(long)]
    pub setup: bool,
    /// With --setup: create it too (SQS: the queue, or the one --queue names, its policy
    /// and the bucket notification; push: the topic and the bucket notification). The
    /// bucket's other notification entries are kept.
    #[arg(long, requires = "setup")]
    pub apply: bool,
    /// With --setup: the URL the server should push to (default http://ADDR:PORT/TOKEN
    /// from --listen and --token).
    #[arg(long, value_name = "URL", requires = "setup")]
    pub push_endpoint: Option<String>,
    /// Listing options (baseline and re-reads).
    #[command(flatten)]
    pub listing: Listing,
}

/// `watch --order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WatchOrder {
    /// Sequencer on AWS, event time with --endpoint-url.
    Auto,
    /// By sequencer.
    Sequencer,
    /// By event time.
    EventTime,
}

/// `batch`.
#[derive(Debug, Clone, Args)]
pub struct BatchArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: BatchCommand,
}

/// The `batch` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum BatchCommand {
    /// Upload the manifests of a `plan --emit batch-ops` DIR and create its S3 Batch
    /// Operations jobs (CreateJob); the job ids are recorded in DIR/jobs.json.
    Submit(BatchSubmitArgs),
    /// Show Batch Operations jobs' status, progress and failure reasons (DescribeJob).
    Status(BatchStatusArgs),
    /// Read finished jobs' completion reports into the restore's journal (so verify,
    /// undo and a resumed apply work as after a local run) and write DIR/remaining.json,
    /// the plan of what is left.
    Reconcile(BatchReconcileArgs),
}

/// How the batch commands reach S3 Control.
#[derive(Debug, Clone, Default, Args)]
pub struct ControlArgs {
    /// The account that runs the jobs (default: the one DIR's requests or jobs.json
    /// name).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
    /// S3 Control endpoint for the batch commands (default: AWS's, for the region).
    /// --endpoint-url is for S3 only and is not used for S3 Control. The SDK puts the
    /// account id in front of this URL's host (ACCOUNT.HOST), as AWS's endpoints expect;
    /// s3rewind looks such a name up as HOST, so a local endpoint works too.
    #[arg(long, value_name = "URL", value_parser = endpoint_url)]
    pub control_endpoint_url: Option<String>,
}

/// `batch submit`.
#[derive(Debug, Clone, Args)]
pub struct BatchSubmitArgs {
    /// The directory `plan --emit batch-ops` wrote (create-job-CLASS.json and
    /// manifest-CLASS.csv per job).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// S3 Control options.
    #[command(flatten)]
    pub control: ControlArgs,
    /// The IAM role the jobs run as (overrides the requests').
    #[arg(long, value_name = "ARN")]
    pub role_arn: Option<String>,
    /// Where the jobs write their completion reports, s3://BUCKET[/PREFIX] (overrides
    /// the requests'); `batch reconcile` reads them there.
    #[arg(long, value_name = "s3://BUCKET[/PREFIX]")]
    pub report_uri: Option<String>,
    /// Where to upload the manifests, s3://BUCKET/PREFIX (overrides the requests').
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub manifest_uri: Option<String>,
    /// Create the jobs ready to run. By default S3 holds each job until it is confirmed
    /// (in the console, or `aws s3control update-job-status --requested-job-status
    /// Ready`), as the requests say (ConfirmationRequired).
    #[arg(long)]
    pub run_now: bool,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// `batch status`.
#[derive(Debug, Clone, Args)]
pub struct BatchStatusArgs {
    /// A job id, or a DIR whose jobs.json (written by `batch submit`) lists the jobs.
    #[arg(value_name = "JOB|DIR")]
    pub job: String,
    /// S3 Control options.
    #[command(flatten)]
    pub control: ControlArgs,
}

/// `batch reconcile`.
#[derive(Debug, Clone, Args)]
pub struct BatchReconcileArgs {
    /// The directory `plan --emit batch-ops` wrote (its plan.json, and the jobs.json of
    /// `batch submit`).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Reconcile this job (repeatable; default: every job in DIR/jobs.json). A job
    /// created from DIR's requests another way (`aws s3control create-job`) can be
    /// named here, with --account-id.
    #[arg(long = "job", value_name = "JOB_ID")]
    pub jobs: Vec<String>,
    /// S3 Control options.
    #[command(flatten)]
    pub control: ControlArgs,
    /// The journal to write (default: the one a local restore or apply of DIR's plan
    /// writes, so `apply DIR/remaining.json` resumes it; s3://BUCKET/PREFIX/ as
    /// restore's --journal).
    #[arg(long, value_name = "FILE|s3://BUCKET/PREFIX/", value_parser = journal_location)]
    pub journal: Option<PathBuf>,
    /// Listing options (for the listing of the destination keys).
    #[command(flatten)]
    pub listing: Listing,
}

/// `drill`.
#[derive(Debug, Clone, Args)]
pub struct DrillArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX to rehearse the recovery of.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The instant to recover (see TIME below).
    #[arg(long, value_name = "TIME")]
    pub at: String,
    /// An empty location to restore into (another bucket, or a prefix outside the source).
    #[arg(long, value_name = "s3://SCRATCH[/PREFIX]")]
    pub scratch: String,
    /// Afterwards, remove exactly the versions the drill wrote (from its journal).
    #[arg(long)]
    pub cleanup: bool,
    /// Restore and verify a random sample of the keys (N keys, or P% of them), shared
    /// out over the prefixes (first path segment) in proportion, at least one per prefix
    /// when there is room. The whole range is still listed and planned; the recovery
    /// time of the whole range is projected from the sample, with a 95% range, and held
    /// to --max-rto.
    #[arg(long, value_name = "N|P%", value_parser = s3rewind_engine::sample::SampleSize::parse)]
    pub sample: Option<s3rewind_engine::sample::SampleSize>,
    /// The sample's seed: the same seed draws the same keys (default: from the clock;
    /// the report names it).
    #[arg(long, value_name = "N", requires = "sample")]
    pub sample_seed: Option<u64>,
    /// The recovery time objective: a drill whose recovery (listing, planning, copying,
    /// verifying; with --sample, the projected one) takes longer FAILS, and says by how
    /// much.
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub max_rto: Option<i64>,
    /// Also write the drill's figures as a Prometheus textfile (s3rewind_drill_ok,
    /// _rto_seconds, _objects, _bytes, _timestamp_seconds) for the node exporter's
    /// textfile collector.
    #[arg(long, value_name = "FILE", value_parser = local_path)]
    pub metrics: Option<PathBuf>,
    /// Execution options (the drill always verifies by content; --report FILE keeps the
    /// drill's JSON report, or with a name ending in .html the page a reviewer opens:
    /// verdict, RTO and RPO against their targets, the source's activity around TIME,
    /// failures by cause).
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot options (--index FILE: plan the drill from a saved or watched index).
    #[command(flatten)]
    pub snapshot: Snapshot,
    /// Key selection (a drill of part of the range: --include, --exclude, --keys-from).
    #[command(flatten)]
    pub select: Select,
    /// Profile for the scratch location (a drill into a DR account).
    #[arg(long, value_name = "PROFILE")]
    pub dest_profile: Option<String>,
    /// Endpoint for the scratch location (another provider); objects are then streamed.
    #[arg(long, value_name = "URL", value_parser = endpoint_url)]
    pub dest_endpoint_url: Option<String>,
    /// Region for the scratch location.
    #[arg(long, value_name = "REGION")]
    pub dest_region: Option<String>,
}

/// `ls`.
#[derive(Debug, Clone, Args)]
pub struct LsArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The instant (see TIME below); default: now.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
    /// Also show each key's version id.
    #[arg(long)]
    pub versions: bool,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot options (--index FILE: a saved or watched index instead of a listing).
    #[command(flatten)]
    pub snapshot: Snapshot,
}

/// `completions`.
#[derive(Debug, Clone, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Which keys, beyond the prefix (`plan`, `restore`, `verify`).
#[derive(Debug, Clone, Default, Args)]
pub struct Select {
    /// Only keys matching this glob (whole key; `*` matches any characters including
    /// `/`). Repeatable: a key matching any of them is selected.
    #[arg(long, value_name = "GLOB")]
    pub include: Vec<String>,
    /// Leave out keys matching this glob. Repeatable; wins over --include.
    #[arg(long, value_name = "GLOB")]
    pub exclude: Vec<String>,
    /// Only the keys listed in FILE: one key per line, or JSON such as `scan --output
    /// json` (every `"key"` field in it).
    #[arg(long, value_name = "FILE", value_parser = local_path)]
    pub keys_from: Option<PathBuf>,
}

/// How listing commands read the history.
#[derive(Debug, Clone, Copy, Args)]
pub struct Listing {
    /// Entries per ListObjectVersions page (1-1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..=1000), env = "S3REWIND_PAGE_SIZE")]
    pub page_size: i32,
    /// Listing streams at once: each sub-prefix ("folder") is listed on its own stream
    /// (1 lists sequentially).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=256), env = "S3REWIND_LIST_CONCURRENCY")]
    pub list_concurrency: u32,
    /// Whether a listing longer than a page is split by folder: `auto` times the first
    /// pages and splits only when the server answers two calls at once about as fast as
    /// one (one extra call); `folders` always; `off` never (as `--list-concurrency 1`).
    #[arg(long, value_enum, default_value_t = Split::Auto)]
    pub list_split: Split,
    /// How the server lays out a ListObjectVersions page's versions and delete markers:
    /// `auto` takes a layout only from what a page proves and flags the keys an unproven
    /// page leaves in doubt; `interleaved` (S3, radosgw) or `split` (versions and markers
    /// in two lists, either first: moto and others) declare it for a server you know. A
    /// page that contradicts the declaration stops the run before any write.
    #[arg(long, value_enum, default_value_t = ListOrderArg::Auto)]
    pub list_order: ListOrderArg,
}

/// `--list-order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ListOrderArg {
    /// Learn it from the pages (only from proof).
    Auto,
    /// Versions and delete markers interleaved in list order.
    Interleaved,
    /// All of a page's versions and all its delete markers in two runs.
    Split,
}

impl Listing {
    /// The listing streams these options allow.
    pub fn streams(&self) -> Streams {
        Streams::new(self.list_concurrency as usize, self.list_split).with_layout(
            match self.list_order {
                ListOrderArg::Auto => s3rewind_engine::ListOrder::Unknown,
                ListOrderArg::Interleaved => s3rewind_engine::ListOrder::Interleaved,
                ListOrderArg::Split => s3rewind_engine::ListOrder::Split,
            },
        )
    }
}

/// Reading the history from a snapshot instead of listing (`plan`, `restore`, `scan`,
/// `history`, `diff`, `verify`).
#[derive(Debug, Clone, Default, Args)]
pub struct Snapshot {
    /// Read the history from an all-versions S3 Inventory report instead of listing the
    /// bucket (nothing is listed): its manifest.json, as s3://BUCKET/PATH/manifest.json
    /// or a local path to a downloaded report (manifest.checksum beside it; data files
    /// found by their key under a directory above it). The report must include all
    /// versions and the fields Size, Last modified and ETag, in the CSV or Apache Parquet
    /// format (ORC is not read); it shows the bucket as it was when it was taken.
    #[arg(long, value_name = "MANIFEST", conflicts_with = "index")]
    pub inventory: Option<String>,
    /// Read the history from a timeline index written by `s3rewind index` instead of
    /// listing the bucket (nothing is listed); it must be of the same bucket and of the
    /// prefix or one above it. It shows the bucket as it was when it was written.
    #[arg(long, value_name = "FILE")]
    pub index: Option<PathBuf>,
    /// Accept a TIME after the inventory (or index) was taken: writes after it are
    /// unseen (each action still checks its key's current state before writing, so
    /// keys changed since are reported as drifted, never overwritten).
    #[arg(long)]
    pub accept_stale_inventory: bool,
    /// Where reading an inventory spills its sorted runs and downloads the report
    /// (default: the system's temporary directory; needs about the report's
    /// uncompressed size).
    #[arg(long, value_name = "DIR", requires = "inventory")]
    pub sort_dir: Option<PathBuf>,
}

/// Options of corruption detection (`scan`, `timeline`, and `plan`/`restore` with
/// `--before-corruption` or `--per-key`).
///
/// The time scales (`--window`, `--gap`, `--established`, `--new-writer-after`) are
/// derived from the bucket's own history unless given (a history of seconds gets
/// 1-second bins, one of a week or more 10-minute bins; `scan` prints what it chose).
#[derive(Debug, Clone, Args)]
pub struct DetectArgs {
    /// Read the first 4 KiB of at most N versions: 45% spread evenly over time and
    /// writers, 10% the newest, 25% what metadata finds suspicious, the rest around
    /// damaged samples; 0 = metadata only. Default: 1000. The report states what the
    /// reads rule out.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Read the first 4 KiB of every version written in the window, and of the version
    /// each replaced (slow on big buckets).
    #[arg(long, conflicts_with = "sample")]
    pub deep: bool,
    /// Read as many versions as it takes to rule out an incident that damaged N objects
    /// within one window of the gap, or P% of the keys (`--confidence` says how
    /// surely); the number of reads is printed before reading.
    #[arg(long, value_name = "N|P%", conflicts_with_all = ["sample", "deep"], value_parser = min_damage)]
    pub min_damage: Option<MinDamage>,
    /// The probability the scan's guarantee is stated with (and `--min-damage` is
    /// bought at), as 0.95 or 95%.
    #[arg(long, value_name = "C", default_value = "0.95", value_parser = confidence)]
    pub confidence: f64,
    /// Also judge every sampled version with CMD, run as `sh -c CMD` with the whole
    /// object on stdin (and S3REWIND_BUCKET, S3REWIND_KEY, S3REWIND_VERSION_ID set):
    /// exit status 0 means good, any other means damaged.
    #[arg(long, value_name = "CMD")]
    pub validate_cmd: Option<String>,
    /// Time limit for one run of --validate-cmd; a run that takes longer is killed and
    /// the version is left unjudged.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = duration_secs)]
    pub validate_timeout: i64,
    /// Only judge changes at or after TIME (earlier history is the baseline).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only judge changes at or before TIME.
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Width of the bins in which bursts of overwrites and deletes are counted
    /// (default: from the history's span, 1 s to 10 m).
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub window: Option<i64>,
    /// Changes further apart than this are not one run, and signals further apart are
    /// not one incident (default: from the history, 2 s to 1 h).
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub gap: Option<i64>,
    /// Objects younger than this when deleted are temporary and do not count towards a
    /// wipe (0s: every delete counts; default: from the history's span, up to 6 h).
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub established: Option<i64>,
    /// An owner id first seen in the scan counts as a new writer only when the bucket
    /// has at least this much history before its first write (default: from the
    /// history's span, up to 24 h).
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub new_writer_after: Option<i64>,
    /// Fewest distinct keys for a metadata signal (a burst, a common size change, a
    /// wipe…).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub min_keys: u32,
    /// Incidents scoring below this (0 to 1) are not reported.
    #[arg(long, value_name = "SCORE", default_value_t = 0.4, value_parser = score)]
    pub min_score: f64,
}

/// A DURATION argument in whole seconds: `0`, `45s`, `10m`, `1h30m`, `6h`, `1d`, `2w`
/// (units s, m, h, d = 24 h, w = 7 d; the same units as durations in TIME).
pub fn duration_secs(input: &str) -> Result<i64, String> {
    // The same parser as TIME's "ago" form: one duration syntax everywhere.
    let d = s3rewind_engine::time::parse_duration_text(input)?;
    i64::try_from(d.as_secs()).map_err(|_| format!("DURATION {input:?} is too long"))
}

/// The incident `--min-damage` asks to rule out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinDamage {
    /// This many damaged objects.
    Objects(u64),
    /// This share of the keys listed (0 to 1).
    Share(f64),
}

fn min_damage(input: &str) -> Result<MinDamage, String> {
    let bad = || {
        format!(
            "invalid --min-damage {input:?}: expected a number of objects (50) or a share of the keys (2%)"
        )
    };
    match input.trim().strip_suffix('%') {
        Some(p) => match p.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 100.0 => Ok(MinDamage::Share(v / 100.0)),
            _ => Err(bad()),
        },
        None => match input.trim().parse::<u64>() {
            Ok(n) if n >= 1 => Ok(MinDamage::Objects(n)),
            _ => Err(bad()),
        },
    }
}

/// A probability strictly between 0 and 1, as `0.95` or `95%`.
pub fn confidence(input: &str) -> Result<f64, String> {
    let value = match input.trim().strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => input.trim().parse::<f64>(),
    };
    match value {
        Ok(v) if v > 0.0 && v < 1.0 => Ok(v),
        _ => Err(format!(
            "invalid --confidence {input:?}: expected a probability between 0 and 1, such as 0.95 or 99%"
        )),
    }
}

fn score(input: &str) -> Result<f64, String> {
    match input.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "invalid score {input:?}: expected a number from 0 to 1"
        )),
    }
}

/// What to restore and to when.
#[derive(Debug, Clone, Args)]
pub struct Target {
    /// The versioned source: s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The time to restore to (see TIME below).
    #[arg(long, value_name = "TIME", required_unless_present_any = ["before_corruption", "per_key"])]
    pub at: Option<String>,
    /// Restore to just before the incident that `scan` finds (the whole bucket or prefix
    /// is cut at the incident's start).
    #[arg(long, conflicts_with_all = ["at", "per_key"])]
    pub before_corruption: bool,
    /// Take each damaged key back to its own last good version; keys without a finding
    /// are not touched.
    #[arg(long, conflicts_with_all = ["at"])]
    pub per_key: bool,
    /// Detection options for --before-corruption and --per-key.
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Restore into another bucket and/or prefix instead of in place.
    #[arg(long, value_name = "s3://DEST[/PREFIX]", conflicts_with = "to_dir")]
    pub to: Option<String>,
    /// Write the state into a local directory instead (atomic files, mtime = LastModified).
    #[arg(long, value_name = "DIR")]
    pub to_dir: Option<PathBuf>,
    /// Profile for the destination of --to (another account).
    #[arg(long, value_name = "PROFILE", requires = "to")]
    pub dest_profile: Option<String>,
    /// Endpoint for the destination of --to (another provider); objects are then streamed.
    #[arg(long, value_name = "URL", requires = "to", value_parser = endpoint_url)]
    pub dest_endpoint_url: Option<String>,
    /// Region for the destination of --to.
    #[arg(long, value_name = "REGION", requires = "to")]
    pub dest_region: Option<String>,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot source (inventory).
    #[command(flatten)]
    pub snapshot: Snapshot,
    /// With a watched --index: where the version a key held at TIME was deleted by id or
    /// expired since, `restore` copies that version (the same version id) from this
    /// replica bucket instead of leaving the key alone; `plan` shows which.
    #[arg(long, value_name = "s3://REPLICA", requires = "index")]
    pub from_replica: Option<String>,
    /// Key selection.
    #[command(flatten)]
    pub select: Select,
}

/// `plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    /// What to restore.
    #[command(flatten)]
    pub target: Target,
    /// Also write the plan as JSON to FILE, for `s3rewind apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the plan for another executor into DIR. `batch-ops`: per storage class a
    /// CSV manifest and a CreateJob request (`aws s3control create-job --cli-input-json
    /// file://…`) of the copies S3 Batch Operations can do, and `remainder.json`, the plan
    /// of the rest (delete markers, copies over 5 GiB, archived versions) for `s3rewind
    /// apply`. Batch Operations does not check a key before copying onto it.
    #[arg(long, num_args = 2, value_names = ["FORMAT", "DIR"])]
    pub emit: Vec<String>,
    /// batch-ops: where the manifests will be uploaded (s3://BUCKET/PREFIX), for the
    /// job requests (default: a placeholder).
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub batch_manifest_uri: Option<String>,
    /// batch-ops: where the jobs write their completion reports (s3://BUCKET/PREFIX;
    /// default: a placeholder).
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub batch_report_uri: Option<String>,
    /// batch-ops: the IAM role the jobs run as (default: a placeholder).
    #[arg(long, value_name = "ARN")]
    pub batch_role_arn: Option<String>,
    /// batch-ops: the account that runs the jobs (default: a placeholder).
    #[arg(long, value_name = "ID")]
    pub batch_account_id: Option<String>,
}

/// Options of plan execution.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Copies and deletes in flight at once (the limit adapts down on throttling).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096), env = "S3REWIND_CONCURRENCY")]
    pub concurrency: u32,
    /// Do not ask for confirmation of an in-place restore.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Journal of completed actions (JSON Lines): a local FILE, or s3://BUCKET/PREFIX/ to
    /// keep it in S3 for runners that do not outlive the run (append-only segments, one
    /// new object every few seconds and at the end, read back and checked before use).
    /// Default: a file in the journal directory (--journal-dir) named after the restore,
    /// so running the same command again resumes.
    #[arg(long, value_name = "FILE|s3://BUCKET/PREFIX/", value_parser = journal_location)]
    pub journal: Option<PathBuf>,
    /// Write keys even when they changed since the plan was made (default: skip and
    /// report them as drifted).
    #[arg(long)]
    pub force: bool,
    /// Storage class for the restored copies (default: each source version's own class).
    #[arg(long, value_name = "CLASS", value_parser = clap::builder::PossibleValuesParser::new(s3rewind_engine::compact::WRITABLE_CLASSES))]
    pub storage_class: Option<String>,
    /// SSE-KMS key for the restored copies (default: the destination bucket's default
    /// encryption; with `--fidelity full`, each source version's own settings).
    #[arg(long, value_name = "KEY_ID")]
    pub sse_kms_key_id: Option<String>,
    /// What a copy carries over. `fast` (default): one CopyObject per key, which keeps the
    /// version's bytes, user metadata, content headers, tags and storage class. `full`:
    /// also reads each source version first (one HEAD more per key) to keep what a
    /// listing cannot show: its own SSE-KMS key and its website redirect location.
    #[arg(long, value_enum, default_value_t = Fidelity::Fast)]
    pub fidelity: Fidelity,
    /// Copy each source version's ACL to its restored copy (off by default: copies are
    /// private to the bucket owner, which is safer than re-publishing old grants).
    #[arg(long)]
    pub preserve_acl: bool,
    /// Copy objects larger than this with multipart UploadPartCopy (a size: 5GiB,
    /// 64MB, 1048576; at most 5 GiB).
    #[arg(long, value_name = "SIZE", default_value = "5GiB", value_parser = parse_size)]
    pub multipart_threshold: u64,
    /// Part size for multipart copies (a size: 256MiB; 5 MiB to 5 GiB).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub part_size: u64,
    /// Refuse a plan whose delete markers would hide more than N of the keys that exist
    /// now, or more than P% of them (10 keys are always allowed with a percentage).
    #[arg(long, value_name = "N|P%", default_value = "50%", value_parser = parse_delete_limit)]
    pub max_delete_markers: s3rewind_engine::DeleteLimit,
    /// restore/apply: do not verify the destination against the source's state at TIME
    /// after executing (verification costs one listing call per 1,000 keys).
    #[arg(long)]
    pub no_verify: bool,
    /// restore/apply: verify by content (SHA-256 of the source version and of the
    /// restored object: reads both) instead of ETag and size.
    #[arg(long)]
    pub deep_verify: bool,
    /// restore/apply: write the per-key verification report to FILE (JSON Lines; CSV
    /// when FILE ends in .csv).
    #[arg(long, value_name = "FILE", value_parser = local_path)]
    pub report: Option<PathBuf>,
    /// Issue RestoreObject for archived source versions (GLACIER, DEEP_ARCHIVE,
    /// Intelligent-Tiering archive tiers); a later run copies those that are ready.
    #[arg(long)]
    pub request_archive_restore: bool,
    /// Days the restored archive copy stays available (ignored for Intelligent-Tiering).
    #[arg(long, value_name = "DAYS", default_value_t = 7)]
    pub restore_days: i32,
    /// Archive retrieval tier.
    #[arg(long, value_enum, default_value_t = ArchiveTier::Standard)]
    pub restore_tier: ArchiveTier,
}

/// An endpoint URL: `http://` or `https://`, a host, an optional numeric port, an
/// optional path (anything else is a usage error, not an unreachable endpoint).
fn endpoint_url(text: &str) -> Result<String, String> {
    let bad = || {
        format!(
            "{text:?} is not an endpoint URL: give http://HOST[:PORT] or https://HOST[:PORT] (e.g. http://localhost:9000)"
        )
    };
    let lower = text.to_ascii_lowercase();
    let rest = ["http://", "https://"]
        .iter()
        .find_map(|s| lower.strip_prefix(s))
        .ok_or_else(bad)?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = match authority.rsplit_once(':') {
        // An IPv6 literal's colons are inside brackets.
        Some((h, port)) if !port.contains(']') => {
            if port.is_empty() || port.parse::<u16>().is_err() {
                return Err(bad());
            }
            h
        }
        _ => authority,
    };
    if host.is_empty()
        || host.contains('@')
        || host.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    Ok(text.to_owned())
}

/// A journal: a local file path, or an `s3://BUCKET/PREFIX/` the journal is kept under
/// (`crate::journal::remote`); any other URL is refused.
fn journal_location(text: &str) -> Result<PathBuf, String> {
    if text.starts_with("s3://") {
        return crate::journal::remote::parse_url(text)
            .map(|_| PathBuf::from(text))
            .map_err(|e| format!("{text:?}: {e}"));
    }
    if text.contains("://") {
        return Err(format!(
            "{text:?} is a URL s3rewind does not write journals to: give a local file, or s3://BUCKET/PREFIX/ to keep the journal in S3"
        ));
    }
    local_path(text)
}

/// A local file path; an `s3://` URL is refused (reports, metrics and the journal directory are local).
fn local_path(text: &str) -> Result<PathBuf, String> {
    if text.contains("://") {
        return Err(format!(
            "{text:?} is a URL: this option takes a local path (give a path; copy the file to S3 afterwards if you need it there)"
        ));
    }
    Ok(PathBuf::from(text))
}

/// A size with an optional unit (`5MiB`, `64MB`, `1.5GiB`, `1048576`), by `bytesize`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<bytesize::ByteSize>()
        .map(|b| b.as_u64())
        .map_err(|_| format!("invalid size {text:?}: give bytes (1048576) or a number with a unit (5MiB, 64MB, 1GiB)"))
}

fn parse_delete_limit(text: &str) -> Result<s3rewind_engine::DeleteLimit, String> {
    s3rewind_engine::DeleteLimit::parse(text)
}

/// What a copy carries over (`--fidelity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Fidelity {
    /// One write per key: bytes, metadata, content headers, tags, storage class.
    Fast,
    /// Plus one HEAD per source version: per-object SSE-KMS key, website redirect.
    Full,
}

/// Archive retrieval tiers for RestoreObject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchiveTier {
    /// Hours (3-5 h for GLACIER, 12 h for DEEP_ARCHIVE).
    Standard,
    /// Cheapest, slowest.
    Bulk,
    /// Minutes (GLACIER only).
    Expedited,
}

/// `restore`.
#[derive(Debug, Clone, Args)]
pub struct RestoreArgs {
    /// What to restore.
    #[command(flatten)]
    pub target: Target,
    /// Execution options.
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Print the plan and stop (same as `plan`).
    #[arg(long)]
    pub dry_run: bool,
}

/// `undo`.
#[derive(Debug, Clone, Args)]
pub struct UndoArgs {
    /// The journal of the restore to undo: a local file, or the s3://BUCKET/PREFIX/ the
    /// restore kept it in.
    #[arg(value_name = "JOURNAL", value_parser = journal_location)]
    pub restore_journal: PathBuf,
    /// The run to undo, when the journal holds more than one (its id, or the start of
    /// it; without this, such a journal lists its runs and nothing is done).
    #[arg(long, value_name = "ID")]
    pub run: Option<String>,
    /// Execution options.
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Show what would be done and stop.
    #[arg(long)]
    pub dry_run: bool,
}

/// `undelete`.
#[derive(Debug, Clone, Args)]
pub struct UndeleteArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// Only keys deleted at or after TIME.
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Delete the delete markers instead of copying the last version back (needs
    /// s3:DeleteObjectVersion; refused while MFA Delete is enabled).
    #[arg(long)]
    pub remove_delete_markers: bool,
    /// Execution options.
    #[command(flatten)]
    pub exec: ExecArgs,
    /// Show what would be done and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
}

/// `verify`.
#[derive(Debug, Clone, Args)]
pub struct VerifyArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The time whose state the current state must equal.
    #[arg(long, value_name = "TIME")]
    pub at: String,
    /// Read the objects and compare checksums of their content.
    #[arg(long)]
    pub deep: bool,
    /// Reads in flight at once for --deep.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: u32,
    /// Check a restore's destination bucket or prefix (instead of the bucket itself)
    /// against the source's state at TIME.
    #[arg(long, value_name = "s3://DEST[/PREFIX]", conflicts_with = "to_dir")]
    pub to: Option<String>,
    /// Check a `restore --to-dir` directory against the source's state at TIME.
    #[arg(long, value_name = "DIR")]
    pub to_dir: Option<PathBuf>,
    /// Write one line per key (JSON Lines; CSV when FILE ends in .csv): key, source
    /// version, destination version, size, ETag, SHA-256, outcome.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// The restore's journal: copies it records (multipart copies, whose ETags differ
    /// from the source's) are recognised without reading them. A local file, or the
    /// s3://BUCKET/PREFIX/ the restore kept it in.
    #[arg(long, value_name = "FILE|s3://BUCKET/PREFIX/", value_parser = journal_location)]
    pub journal: Option<PathBuf>,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot source (inventory).
    #[command(flatten)]
    pub snapshot: Snapshot,
    /// Key selection.
    #[command(flatten)]
    pub select: Select,
}

/// `scan`.
#[derive(Debug, Clone, Args)]
pub struct ScanArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// How many affected keys to list per incident in text output (-v: all).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub show_keys: usize,
    /// Detection options.
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot source (inventory).
    #[command(flatten)]
    pub snapshot: Snapshot,
}

/// `history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// s3://BUCKET/KEY (the exact key; no prefix matching).
    #[arg(value_name = "s3://BUCKET/KEY")]
    pub key: String,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot source (inventory).
    #[command(flatten)]
    pub snapshot: Snapshot,
}

/// `diff`.
#[derive(Debug, Clone, Args)]
pub struct DiffArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The earlier time (see TIME below).
    #[arg(long, value_name = "T1")]
    pub from: String,
    /// The later time.
    #[arg(long, value_name = "T2", default_value = "now")]
    pub to: String,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
    /// Snapshot source (inventory).
    #[command(flatten)]
    pub snapshot: Snapshot,
}

/// `timeline`.
#[derive(Debug, Clone, Args)]
pub struct TimelineArgs {
    /// s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// Also draw the activity as an SVG picture, with suspected incidents shaded.
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
    /// Width of one time bucket (e.g. 10s, 1m, 1h, 1d; default: chosen from the span,
    /// for at most 48 buckets).
    #[arg(long, value_name = "DURATION", value_parser = duration_secs)]
    pub every: Option<i64>,
    /// Do not run detection (no incidents are marked; no object is read).
    #[arg(long)]
    pub no_incidents: bool,
    /// Detection options (for the incidents marked on the chart); --since and --until
    /// also limit the chart.
    #[command(flatten)]
    pub detect: DetectArgs,
    /// Listing options.
    #[command(flatten)]
    pub listing: Listing,
}

/// `apply`.
#[derive(Debug, Clone, Args)]
pub struct ApplyArgs {
    /// A plan file written by `s3rewind plan --out`.
    #[arg(value_name = "FILE")]
    pub plan: PathBuf,
    /// Refuse (exit 4, nothing written) unless the plan's digest is this one: the
    /// `sha256:…` that `plan --out` printed and recorded, for a plan reviewed before it
    /// is applied.
    #[arg(long, value_name = "DIGEST")]
    pub expect_digest: Option<String>,
    /// Execution options.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// `audit`.
#[derive(Debug, Clone, Args)]
pub struct AuditArgs {
    /// The bucket: s3://BUCKET.
    #[arg(value_name = "s3://BUCKET")]
    pub bucket: String,
    /// The recovery window wanted, in days: a noncurrent-version expiration (or Object
    /// Lock retention) shorter than this leaves a scenario only partly covered.
    #[arg(long, value_name = "DAYS", default_value_t = 30, value_parser = clap::value_parser!(i32).range(1..))]
    pub min_days: i32,
}

/// `policy`.
#[derive(Debug, Clone, Args)]
pub struct PolicyArgs {
    /// The command whose policy to print.
    #[command(subcommand)]
    pub command: PolicyFor,
}

/// The commands `policy` knows.
#[derive(Debug, Clone, Subcommand)]
pub enum PolicyFor {
    /// For `plan` (and the read-only scan, history, diff, timeline, ls).
    Plan(PolicyPlanArgs),
    /// For `restore` (into a bucket, another bucket or prefix, or --to-dir).
    Restore(PolicyRestoreArgs),
    /// For `apply` of a saved plan (scoped to the plan's source and destination).
    Apply(PolicyApplyArgs),
    /// For `undo` (in the bucket the restore wrote to).
    Undo(PolicyUndoArgs),
    /// For `drill` (a restore into scratch, verified by content).
    Drill(PolicyDrillArgs),
    /// For `undelete`.
    Undelete(PolicyUndeleteArgs),
    /// For `audit`.
    Audit(PolicyAuditArgs),
    /// For `verify`.
    Verify(PolicyVerifyArgs),
    /// For `watch` (its listing, reconciliations and SQS queue).
    Watch(PolicyWatchArgs),
}

/// A journal kept in S3 (`policy`).
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyJournal {
    /// The command runs with --journal s3://BUCKET/PREFIX/: add listing, reading and
    /// writing the journal's segments under that prefix.
    #[arg(long, value_name = "s3://BUCKET/PREFIX/")]
    pub journal: Option<String>,
}

/// KMS permissions for SSE-KMS objects (`policy`).
#[derive(Debug, Clone, Default, Args)]
pub struct PolicyKms {
    /// The objects are SSE-KMS encrypted: add kms:Decrypt (reading content) and
    /// kms:GenerateDataKey (writing copies) on any key, limited to requests S3 makes
    /// (kms:ViaService). Implied by --kms-key-arn.
    #[arg(long)]
    pub kms: bool,
    /// The KMS key the source objects are encrypted with (an ARN; repeatable): the KMS
    /// grants name these keys instead of any key. Copies keep each version's key.
    #[arg(long, value_name = "ARN")]
    pub kms_key_arn: Vec<String>,
    /// The key the copies are written with when the command runs with
    /// --sse-kms-key-id (an ARN; repeatable).
    #[arg(long, value_name = "ARN")]
    pub dest_kms_key_arn: Vec<String>,
}

/// `policy plan`.
#[derive(Debug, Clone, Args)]
pub struct PolicyPlanArgs {
    /// Scope the policy to this bucket and prefix (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// The plan's destination bucket and prefix.
    #[arg(long, value_name = "s3://DEST[/PREFIX]")]
    pub to: Option<String>,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
}

/// `policy apply`.
#[derive(Debug, Clone, Args)]
pub struct PolicyApplyArgs {
    /// The plan file (`plan --out`): the policy is scoped to its source and destination
    /// (default: any bucket, in place).
    #[arg(value_name = "PLAN", value_parser = local_path)]
    pub plan: Option<PathBuf>,
    /// The apply runs with --preserve-acl.
    #[arg(long)]
    pub preserve_acl: bool,
    /// The apply runs with --request-archive-restore.
    #[arg(long)]
    pub request_archive_restore: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
    /// Journal options.
    #[command(flatten)]
    pub journal: PolicyJournal,
}

/// `policy undo`.
#[derive(Debug, Clone, Args)]
pub struct PolicyUndoArgs {
    /// Scope the policy to the bucket (and prefix) the restore wrote to: its destination,
    /// or its source when it ran in place (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// The undo runs with --preserve-acl.
    #[arg(long)]
    pub preserve_acl: bool,
    /// The undo runs with --request-archive-restore.
    #[arg(long)]
    pub request_archive_restore: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
    /// Journal options.
    #[command(flatten)]
    pub journal: PolicyJournal,
}

/// `policy restore`.
#[derive(Debug, Clone, Args)]
pub struct PolicyRestoreArgs {
    /// Scope the policy to this bucket and prefix (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// Restore into this bucket and prefix instead of in place.
    #[arg(long, value_name = "s3://DEST[/PREFIX]", conflicts_with = "to_dir")]
    pub to: Option<String>,
    /// The restore runs with --to-dir (downloads; writes nothing to S3).
    #[arg(long, conflicts_with = "preserve_acl")]
    pub to_dir: bool,
    /// The restore runs with --preserve-acl.
    #[arg(long)]
    pub preserve_acl: bool,
    /// The restore runs with --request-archive-restore.
    #[arg(long)]
    pub request_archive_restore: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
    /// Journal options.
    #[command(flatten)]
    pub journal: PolicyJournal,
}

/// `policy drill`.
#[derive(Debug, Clone, Args)]
pub struct PolicyDrillArgs {
    /// Scope the policy to this bucket and prefix (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// The drill's scratch location (required with a bucket).
    #[arg(long, value_name = "s3://SCRATCH[/PREFIX]")]
    pub scratch: Option<String>,
    /// The drill runs with --cleanup (deletes the versions it wrote to scratch).
    #[arg(long)]
    pub cleanup: bool,
    /// The drill runs with --preserve-acl.
    #[arg(long)]
    pub preserve_acl: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
    /// Journal options.
    #[command(flatten)]
    pub journal: PolicyJournal,
}

/// `policy undelete`.
#[derive(Debug, Clone, Args)]
pub struct PolicyUndeleteArgs {
    /// Scope the policy to this bucket and prefix (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// The undelete runs with --remove-delete-markers (needs s3:DeleteObjectVersion).
    #[arg(long)]
    pub remove_delete_markers: bool,
    /// The undelete runs with --preserve-acl.
    #[arg(long, conflicts_with = "remove_delete_markers")]
    pub preserve_acl: bool,
    /// The undelete runs with --request-archive-restore.
    #[arg(long, conflicts_with = "remove_delete_markers")]
    pub request_archive_restore: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
    /// Journal options.
    #[command(flatten)]
    pub journal: PolicyJournal,
}

/// `policy audit`.
#[derive(Debug, Clone, Args)]
pub struct PolicyAuditArgs {
    /// Scope the policy to this bucket (default: any bucket).
    #[arg(value_name = "s3://BUCKET")]
    pub source: Option<String>,
    /// The replica bucket a replication rule names: the audit reads its region,
    /// versioning, lifecycle and Object Lock too.
    #[arg(long, value_name = "s3://REPLICA", requires = "source")]
    pub replica: Option<String>,
}

/// `policy verify`.
#[derive(Debug, Clone, Args)]
pub struct PolicyVerifyArgs {
    /// Scope the policy to this bucket and prefix (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// The verify checks this destination (`verify --to`).
    #[arg(long, value_name = "s3://DEST[/PREFIX]")]
    pub to: Option<String>,
    /// The verify runs with --deep (reads objects).
    #[arg(long)]
    pub deep: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
    /// Journal options.
    #[command(flatten)]
    pub journal: PolicyJournal,
}

/// `policy watch`.
#[derive(Debug, Clone, Args)]
pub struct PolicyWatchArgs {
    /// Scope the policy to this bucket and prefix (default: any bucket).
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: Option<String>,
    /// The queue the watcher reads (`watch --queue URL`); default: the one `watch
    /// --setup` names for the bucket, in any region and account.
    #[arg(long, value_name = "URL", conflicts_with = "push")]
    pub queue: Option<String>,
    /// The notifications are pushed (`watch --listen`: radosgw, MinIO): no SQS.
    #[arg(long)]
    pub push: bool,
    /// Also what `watch --setup --apply` needs (the bucket's notification configuration;
    /// the queue and its policy).
    #[arg(long)]
    pub setup: bool,
    /// The watcher runs with --alert (samples content).
    #[arg(long)]
    pub alert: bool,
    /// KMS permissions.
    #[command(flatten)]
    pub kms: PolicyKms,
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_version_names_the_crate_version_and_a_commit() {
        use clap::CommandFactory;
        let version = super::Cli::command().render_version();
        let rest = version
            .strip_prefix(&format!("s3rewind {} (commit ", env!("CARGO_PKG_VERSION")))
            .unwrap_or_else(|| panic!("{version:?}"));
        let commit = rest.trim_end().strip_suffix(')').unwrap();
        let hash = commit.strip_suffix("-dirty").unwrap_or(commit);
        assert!(
            hash == "unknown" || (hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit())),
            "{version:?}"
        );
    }

    #[test]
    fn endpoint_urls_are_checked_when_parsed() {
        for good in [
            "http://localhost:9000",
            "https://s3.eu-west-1.amazonaws.com",
            "http://127.0.0.1:5000/",
            "http://[::1]:9000",
            "HTTPS://minio.internal",
        ] {
            assert!(super::endpoint_url(good).is_ok(), "{good}");
        }
        for bad in [
            "not-a-url",
            "localhost:9000",
            "http://",
            "http://:9000",
            "http://host:port",
            "http://host:99999",
            "ftp://host",
            "http://a b",
        ] {
            let e = super::endpoint_url(bad).unwrap_err();
            assert!(e.contains("not an endpoint URL"), "{bad}: {e}");
        }
    }
}
