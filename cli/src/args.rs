//! Command-line arguments (clap derive). Parsing only: the commands live in
//! [`crate::commands`].

use crate::output::OutputFormat;
use crate::s3::RetryModeArg;
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Point-in-time restore and recovery for versioned S3 buckets.
///
/// TIME is RFC 3339 (2026-11-21T09:41:00Z), a UTC date-time without offset
/// (2026-11-21 09:41:00), @UNIX_SECONDS, or a duration ago (90m, 2h, 3d). The state at
/// TIME includes everything written at or before TIME.
#[derive(Debug, Parser)]
#[command(name = "s3rewind", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Global options.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

const EXIT_CODES: &str = "Exit codes: 0 ok; 1 partial (failed/drifted/waiting actions, differences, findings); \
2 usage; 3 bucket or key not found; 4 refused for safety; 5 access denied or no credentials; \
6 endpoint unreachable; 7 other error; 130 interrupted (run again to resume).";

/// Options for every command.
#[derive(Debug, Args)]
pub struct Global {
    /// S3-compatible endpoint URL (implies path-style addressing).
    #[arg(long, global = true, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Named profile from ~/.aws/config and ~/.aws/credentials.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// AWS region (default: from the profile or environment, else us-east-1).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// Result format on stdout.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// More log output on stderr (-v, -vv, -vvv). RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors, warnings and the result.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// No progress bars.
    #[arg(long, global = true)]
    pub no_progress: bool,
    /// Maximum attempts per S3 request (SDK retry configuration; default 3).
    #[arg(long, global = true, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// SDK retry mode.
    #[arg(long, global = true, value_enum)]
    pub retry_mode: Option<RetryModeArg>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a restore would do (writes nothing).
    Plan(PlanArgs),
    /// Restore a bucket (or prefix) to its state at TIME.
    Restore(RestoreArgs),
    /// Execute a plan saved with `plan --out`.
    Apply(ApplyArgs),
}

/// What to restore and to when.
#[derive(Debug, Args)]
pub struct Target {
    /// The versioned source: s3://BUCKET or s3://BUCKET/PREFIX.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub source: String,
    /// The time to restore to (see TIME above).
    #[arg(long, value_name = "TIME")]
    pub at: String,
    /// Restore into another bucket and/or prefix instead of in place.
    #[arg(long, value_name = "s3://DEST[/PREFIX]")]
    pub to: Option<String>,
    /// Entries per ListObjectVersions page (1-1000).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(i32).range(1..=1000))]
    pub page_size: i32,
}

/// `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// What to restore.
    #[command(flatten)]
    pub target: Target,
    /// Also write the plan as JSON to FILE, for `s3rewind apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Options of plan execution.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Copies and deletes in flight at once (the limit adapts down on throttling).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub concurrency: u32,
    /// Do not ask for confirmation of an in-place restore.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Journal of completed actions (JSON Lines). Default: a file under
    /// $XDG_STATE_HOME/s3rewind/journals named after the restore, so running the same
    /// command again resumes.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// `restore`.
#[derive(Debug, Args)]
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

/// `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan file written by `s3rewind plan --out`.
    #[arg(value_name = "FILE")]
    pub plan: PathBuf,
    /// Execution options.
    #[command(flatten)]
    pub exec: ExecArgs,
}
