//! All output goes through [`Printer`]: results to stdout (text or JSON), messages and
//! progress to stderr. This is the only module allowed to print.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::time::Duration;

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For humans.
    Text,
    /// For computers: one JSON document on stdout.
    Json,
}

/// Where and how things are printed.
#[derive(Debug, Clone)]
pub struct Printer {
    /// Result format.
    pub format: OutputFormat,
    /// `-q`: only errors and the result.
    pub quiet: bool,
    /// Progress bars allowed (not `--no-progress`, not quiet, stderr is a terminal).
    pub progress: bool,
}

impl Printer {
    /// A printer for the given options.
    pub fn new(format: OutputFormat, quiet: bool, no_progress: bool) -> Self {
        Printer {
            format,
            quiet,
            progress: !no_progress && !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// True for JSON output.
    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A line of the text result (stdout). Ignored in JSON mode.
    pub fn line(&self, s: impl AsRef<str>) {
        if !self.json() {
            out(format_args!("{}", s.as_ref()));
        }
    }

    /// The JSON result (stdout). Ignored in text mode.
    pub fn json_value<T: Serialize>(&self, v: &T) {
        if self.json() {
            out(format_args!(
                "{}",
                serde_json::to_string_pretty(v).expect("result serialises")
            ));
        }
    }

    /// An informational message (stderr), hidden with `-q`.
    pub fn info(&self, s: impl AsRef<str>) {
        if !self.quiet {
            eprintln!("{}", s.as_ref());
        }
    }

    /// A warning (stderr), always shown.
    pub fn warn(&self, s: impl AsRef<str>) {
        eprintln!("s3rewind: warning: {}", s.as_ref());
    }

    /// An error line (stderr).
    pub fn error(&self, s: impl AsRef<str>) {
        eprintln!("s3rewind: error: {}", s.as_ref());
    }

    /// A progress bar of `len` steps (hidden unless progress is allowed).
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>10} [{bar:30}] {pos}/{len} ({per_sec}, eta {eta}) {prefix}",
            )
            .expect("template")
            .progress_chars("=> "),
        );
        pb.set_message(what.to_owned());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }

    /// A spinner counting items of unknown total (hidden unless progress is allowed).
    pub fn spinner(&self, what: &str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg} {pos} ({per_sec})").expect("template"),
        );
        pb.set_message(what.to_owned());
        pb.enable_steady_tick(Duration::from_millis(200));
        pb
    }

    /// Ask a yes/no question on the terminal; `None` when stdin is not a terminal.
    pub fn confirm(&self, question: &str) -> Option<bool> {
        if !std::io::stdin().is_terminal() {
            return None;
        }
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer).ok()?;
        Some(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
    }
}

/// Write one line to stdout. A closed pipe (`s3rewind scan … | head`) is not an error:
/// the rest of the output is dropped, and the command still finishes what it is doing
/// (a restore must not stop half-way because its reader went away) and exits with its
/// own status.
fn out(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// Bytes as a short human string (1.5 MiB).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
