//! All output goes through [`Printer`]: results to stdout (text or JSON), messages and
//! progress to stderr. This is the only module allowed to print. A printer made with
//! [`Printer::capturing`] writes both streams into a [`Capture`] instead (tests run
//! commands in process and read what they printed).
#![allow(clippy::print_stdout, clippy::print_stderr)]

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
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
    /// Where stdout and stderr go instead of the process's (`None`: the process's).
    pub capture: Option<Capture>,
}

/// What a capturing printer printed: stdout and stderr, each as one string of lines.
#[derive(Debug, Clone, Default)]
pub struct Capture {
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
}

impl Capture {
    /// Everything printed to stdout so far.
    pub fn stdout(&self) -> String {
        self.stdout
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Everything printed to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn push(to: &Mutex<String>, line: std::fmt::Arguments<'_>) {
        use std::fmt::Write;
        let mut s = to.lock().unwrap_or_else(|p| p.into_inner());
        let _ = writeln!(s, "{line}");
    }
}

impl Printer {
    /// A printer for the given options.
    pub fn new(format: OutputFormat, quiet: bool, no_progress: bool) -> Self {
        Printer {
            format,
            quiet,
            progress: !no_progress && !quiet && std::io::stderr().is_terminal(),
            capture: None,
        }
    }

    /// A printer that writes stdout and stderr into the returned [`Capture`]: no
    /// progress, and questions are not asked ([`Printer::confirm`] answers `None`, as
    /// when stdin is not a terminal).
    pub fn capturing(format: OutputFormat, quiet: bool) -> (Self, Capture) {
        let capture = Capture::default();
        let printer = Printer {
            format,
            quiet,
            progress: false,
            capture: Some(capture.clone()),
        };
        (printer, capture)
    }

    /// One line of the result (stdout).
    fn out(&self, line: std::fmt::Arguments<'_>) {
        match &self.capture {
            Some(c) => Capture::push(&c.stdout, line),
            None => out(line),
        }
    }

    /// One line of a message (stderr).
    fn err(&self, line: std::fmt::Arguments<'_>) {
        match &self.capture {
            Some(c) => Capture::push(&c.stderr, line),
            None => eprintln!("{line}"),
        }
    }

    /// True for JSON output.
    pub fn json(&self) -> bool {
        self.format == OutputFormat::Json
    }

    /// A line of the text result (stdout). Ignored in JSON mode.
    pub fn line(&self, s: impl AsRef<str>) {
        if !self.json() {
            self.out(format_args!("{}", s.as_ref()));
        }
    }

    /// The JSON result (stdout). Ignored in text mode.
    pub fn json_value<T: Serialize>(&self, v: &T) {
        if self.json() {
            self.out(format_args!(
                "{}",
                serde_json::to_string_pretty(v).expect("result serialises")
            ));
        }
    }

    /// An informational message (stderr), hidden with `-q`.
    pub fn info(&self, s: impl AsRef<str>) {
        if !self.quiet {
            self.err(format_args!("{}", s.as_ref()));
        }
    }

    /// A warning (stderr), always shown.
    pub fn warn(&self, s: impl AsRef<str>) {
        self.err(format_args!("s3rewind: warning: {}", s.as_ref()));
    }

    /// An error line (stderr).
    pub fn error(&self, s: impl AsRef<str>) {
        self.err(format_args!("s3rewind: error: {}", s.as_ref()));
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

    /// Ask a yes/no question on the terminal; `None` when stdin is not a terminal (or
    /// output is captured).
    pub fn confirm(&self, question: &str) -> Option<bool> {
        if self.capture.is_some() || !std::io::stdin().is_terminal() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capturing_printer_keeps_both_streams_and_asks_nothing() {
        let (p, c) = Printer::capturing(OutputFormat::Text, false);
        p.line("result");
        p.info("note");
        p.warn("careful");
        p.json_value(&serde_json::json!({"ignored": true}));
        assert_eq!(c.stdout(), "result\n");
        assert_eq!(c.stderr(), "note\ns3rewind: warning: careful\n");
        assert_eq!(p.confirm("go?"), None);
        assert!(p.bar(10, "x").is_hidden());
        let (p, c) = Printer::capturing(OutputFormat::Json, true);
        p.line("text is not printed in JSON mode");
        p.info("quiet");
        p.json_value(&serde_json::json!({"a": 1}));
        assert_eq!(c.stdout(), "{\n  \"a\": 1\n}\n");
        assert_eq!(c.stderr(), "");
    }
}
