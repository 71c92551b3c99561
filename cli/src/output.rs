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

mod json_object;
pub use json_object::{JsonArray, JsonObject, WithFields, serialize_each};

/// Output format of results.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// For humans.
    Text,
    /// For computers: one JSON document on stdout.
    Json,
}

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    /// Bars and spinners that redraw in place (stderr is a terminal).
    Bars,
    /// One status line every so often (no terminal: a CI log shows a run is alive).
    Lines(Duration),
    /// One NDJSON status event every so often (`--log-format json`).
    Json(Duration),
    /// Nothing (`-q`, `--no-progress`).
    Hidden,
}

/// The default interval of status lines without a terminal (`--stats`).
pub const STATS_EVERY: Duration = Duration::from_secs(30);

/// Where and how things are printed.
#[derive(Debug, Clone)]
pub struct Printer {
    /// Result format.
    pub format: OutputFormat,
    /// `-q`: only errors and the result.
    pub quiet: bool,
    /// How progress is shown.
    pub progress: ProgressMode,
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
    /// A printer for the given options: bars on a terminal, else a status line every 30
    /// seconds; nothing with `quiet` or `no_progress`.
    pub fn new(format: OutputFormat, quiet: bool, no_progress: bool) -> Self {
        let progress = if no_progress || quiet {
            ProgressMode::Hidden
        } else if std::io::stderr().is_terminal() {
            ProgressMode::Bars
        } else {
            ProgressMode::Lines(STATS_EVERY)
        };
        Printer {
            format,
            quiet,
            progress,
            capture: None,
        }
    }

    /// Without a terminal, status lines every `every` (`--stats`), as NDJSON events
    /// with `json` (`--log-format json`). Bars on a terminal are kept unless `json`.
    pub fn with_stats(mut self, every: Option<Duration>, json: bool) -> Self {
        let every = every.unwrap_or(STATS_EVERY).max(Duration::from_millis(100));
        self.progress = match self.progress {
            ProgressMode::Hidden => ProgressMode::Hidden,
            _ if json => ProgressMode::Json(every),
            ProgressMode::Bars => ProgressMode::Bars,
            _ => ProgressMode::Lines(every),
        };
        self
    }

    /// A printer that writes stdout and stderr into the returned [`Capture`]: no
    /// progress, and questions are not asked ([`Printer::confirm`] answers `None`, as
    /// when stdin is not a terminal).
    pub fn capturing(format: OutputFormat, quiet: bool) -> (Self, Capture) {
        let capture = Capture::default();
        let printer = Printer {
            format,
            quiet,
            progress: ProgressMode::Hidden,
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

    /// The JSON result (stdout). Ignored in text mode. Written as it is serialised,
    /// through a buffer: a document of millions of actions is never held as one string.
    pub fn json_value<T: Serialize>(&self, v: &T) {
        if !self.json() {
            return;
        }
        match &self.capture {
            Some(c) => Capture::push(
                &c.stdout,
                format_args!(
                    "{}",
                    serde_json::to_string_pretty(v).expect("result serialises")
                ),
            ),
            None => {
                use std::io::Write;
                STDOUT_USED.store(true, std::sync::atomic::Ordering::Relaxed);
                let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                // A closed pipe (`| head`) ends the output, as for every other line.
                let _ = serde_json::to_writer_pretty(&mut w, v)
                    .map_err(std::io::Error::from)
                    .and_then(|()| writeln!(w))
                    .and_then(|()| w.flush());
            }
        }
    }

    /// The JSON result (stdout) as `write` produces it: a document too large to hold
    /// (a plan whose actions are read from disk) is written as it is read. Ignored in
    /// text mode. A closed pipe (`| head`) ends the output quietly; any other error
    /// (the reading behind `write`) is returned.
    pub fn json_write(
        &self,
        write: impl FnOnce(&mut dyn std::io::Write) -> std::io::Result<()>,
    ) -> std::io::Result<()> {
        use std::io::Write;
        if !self.json() {
            return Ok(());
        }
        let written = match &self.capture {
            Some(c) => {
                let mut text = Vec::new();
                write(&mut text)?;
                Capture::push(
                    &c.stdout,
                    format_args!("{}", String::from_utf8_lossy(&text)),
                );
                Ok(())
            }
            None => {
                STDOUT_USED.store(true, std::sync::atomic::Ordering::Relaxed);
                let mut w = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
                write(&mut w)
                    .and_then(|()| writeln!(w))
                    .and_then(|()| w.flush())
            }
        };
        match written {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }

    /// One compact JSON line on stdout, in either format (`watch --alert`'s alerts, as
    /// they happen).
    pub fn json_line<T: Serialize>(&self, v: &T) {
        self.out(format_args!(
            "{}",
            serde_json::to_string(v).expect("a line serialises")
        ));
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

    /// A command's failure: the error line on stderr and, under `--output json`, one
    /// `s3rewind.error/v1` object on stdout (`exit`, `error`) — unless the command already
    /// printed its result document there (a drill whose report file could not be
    /// written), so that stdout always holds exactly one JSON document.
    pub fn failure(&self, exit: u8, message: &str) {
        self.error(message);
        let printed = match &self.capture {
            Some(c) => !c
                .stdout
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty(),
            None => STDOUT_USED.load(std::sync::atomic::Ordering::Relaxed),
        };
        if self.json() && !printed {
            self.json_value(&serde_json::json!({
                "schema": ERROR_SCHEMA,
                "exit": exit,
                "error": message,
            }));
        }
    }

    /// A progress bar of `len` steps: drawn on a terminal; without one, a status line
    /// (or NDJSON event) every so often, read from the bar by a ticker thread that stops
    /// when the bar finishes. Its message is the phase (`restoring`); its prefix, what
    /// the runner adds (bytes, failed, drifted); a length of 0 while more items may come
    /// means the total is not known yet (no ETA).
    pub fn bar(&self, len: u64, what: &str) -> ProgressBar {
        self.progress_bar(Some(len), what)
    }

    /// A spinner counting items of unknown total (a listing).
    pub fn spinner(&self, what: &str) -> ProgressBar {
        self.progress_bar(None, what)
    }

    fn progress_bar(&self, len: Option<u64>, what: &str) -> ProgressBar {
        match self.progress {
            ProgressMode::Hidden => ProgressBar::hidden(),
            ProgressMode::Bars => {
                let pb = ProgressBar::with_draw_target(len, ProgressDrawTarget::stderr());
                pb.set_style(bar_style(len.is_some()));
                pb.set_message(what.to_owned());
                pb.enable_steady_tick(Duration::from_millis(200));
                pb
            }
            ProgressMode::Lines(every) | ProgressMode::Json(every) => {
                let pb = ProgressBar::with_draw_target(len, ProgressDrawTarget::hidden());
                pb.set_message(what.to_owned());
                let json = matches!(self.progress, ProgressMode::Json(_));
                let (ticker, printer) = (pb.clone(), self.clone());
                std::thread::spawn(move || {
                    let started = std::time::Instant::now();
                    let mut next = every;
                    loop {
                        std::thread::sleep(Duration::from_millis(100).min(every));
                        if ticker.is_finished() {
                            return;
                        }
                        if started.elapsed() >= next {
                            next += every;
                            printer.err(format_args!("{}", status_line(&ticker, json)));
                        }
                    }
                });
                pb
            }
        }
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
/// The name and version of the JSON object a failure prints under `--output json`.
pub const ERROR_SCHEMA: &str = "s3rewind.error/v1";

/// Whether this process printed anything on stdout (see [`Printer::failure`]).
static STDOUT_USED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn out(line: std::fmt::Arguments<'_>) {
    use std::io::Write;
    STDOUT_USED.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}").and_then(|()| stdout.flush());
}

/// The bar of a terminal: rates as `1.5k/s`, no ETA while the total is unknown (a
/// spinner; the runner of a restore that copies while it lists uses this style until
/// the listing ends, and says `listing…` in its prefix).
pub fn bar_style(known_total: bool) -> ProgressStyle {
    let template = if known_total {
        "{msg:>10} [{bar:30}] {pos}/{len} ({rate}, {eta_known}) {prefix}"
    } else {
        "{spinner} {msg} {pos} ({rate}) {prefix}"
    };
    ProgressStyle::with_template(template)
        .expect("template")
        .progress_chars("=> ")
        .with_key(
            "rate",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{}/s", human_count(s.per_sec()));
            },
        )
        .with_key(
            "eta_known",
            |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| match s.len() {
                Some(n) if n > 0 && s.pos() < n && s.per_sec() > 0.0 => {
                    let _ = write!(w, "eta {}", human_secs(s.eta().as_secs()));
                }
                Some(n) if n > 0 && s.pos() >= n => {
                    let _ = w.write_str("done");
                }
                _ => {
                    let _ = w.write_str("eta unknown");
                }
            },
        )
}

/// One status line (or NDJSON event) of a bar, for logs without a terminal.
fn status_line(pb: &ProgressBar, json: bool) -> String {
    let pos = pb.position();
    let len = pb.length().filter(|n| *n > 0);
    let rate = pb.per_sec();
    let eta = len
        .filter(|n| pos < *n && rate > 0.0)
        .map(|n| ((n - pos) as f64 / rate).round() as u64);
    let phase = pb.message();
    let detail = pb.prefix();
    if json {
        return serde_json::json!({
            "event": "progress",
            "phase": phase,
            "done": pos,
            "total": len,
            "per_second": (rate * 10.0).round() / 10.0,
            "eta_seconds": eta,
            "elapsed_seconds": pb.elapsed().as_secs(),
            "detail": detail,
        })
        .to_string();
    }
    let total = match len {
        Some(n) => format!("{pos}/{n} ({:.1}%)", 100.0 * pos as f64 / n.max(1) as f64),
        None => format!("{pos}"),
    };
    let eta = match eta {
        Some(s) => format!(", eta {}", human_secs(s)),
        None if len.is_none() => String::new(),
        None => String::new(),
    };
    let detail = if detail.is_empty() {
        String::new()
    } else {
        format!(", {detail}")
    };
    format!(
        "s3rewind: [{phase}] {total}, {}/s{detail}{eta}, {} elapsed",
        human_count(rate),
        human_secs(pb.elapsed().as_secs())
    )
}

/// A count or rate as a short string: 950, 1.5k, 2.3M.
pub fn human_count(n: f64) -> String {
    if n >= 1e6 {
        format!("{:.1}M", n / 1e6)
    } else if n >= 1e3 {
        format!("{:.1}k", n / 1e3)
    } else if n >= 10.0 || n == 0.0 {
        format!("{n:.0}")
    } else {
        format!("{n:.1}")
    }
}

/// Seconds as `1h02m`, `3m05s`, `42s`.
pub fn human_secs(s: u64) -> String {
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
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

/// Format an instant the way s3rewind prints instants.
pub fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    // Whole seconds when the instant has none (S3 timestamps), else milliseconds:
    // nanoseconds from `now` or a duration are noise to a reader.
    let format = if t.timestamp_subsec_nanos() == 0 {
        chrono::SecondsFormat::Secs
    } else {
        chrono::SecondsFormat::Millis
    };
    t.to_rfc3339_opts(format, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_say_what_a_ci_log_needs() {
        let pb = ProgressBar::with_draw_target(Some(200), ProgressDrawTarget::hidden());
        pb.set_message("restoring");
        pb.set_prefix("1.0 KiB copied, 1 failed, 0 drifted");
        pb.inc(50);
        let line = status_line(&pb, false);
        assert!(
            line.starts_with("s3rewind: [restoring] 50/200 (25.0%), "),
            "{line}"
        );
        assert!(line.contains("1 failed"), "{line}");
        let event: serde_json::Value = serde_json::from_str(&status_line(&pb, true)).unwrap();
        assert_eq!(event["event"], "progress");
        assert_eq!(event["done"], 50);
        assert_eq!(event["total"], 200);
        // Unknown total: no ETA, no percentage.
        let open = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
        open.set_message("restoring");
        open.inc(3);
        let line = status_line(&open, false);
        assert!(!line.contains("eta") && !line.contains('%'), "{line}");
        assert!(
            serde_json::from_str::<serde_json::Value>(&status_line(&open, true)).unwrap()["total"]
                .is_null()
        );
    }

    #[test]
    fn counts_and_durations_are_short() {
        assert_eq!(human_count(1500.0), "1.5k");
        assert_eq!(human_count(2_300_000.0), "2.3M");
        assert_eq!(human_count(42.0), "42");
        assert_eq!(human_count(0.5), "0.5");
        assert_eq!(human_secs(42), "42s");
        assert_eq!(human_secs(185), "3m05s");
        assert_eq!(human_secs(3720), "1h02m");
    }

    /// Without a terminal a long run prints a status line every interval (here 100 ms),
    /// and none once its bar is finished.
    #[test]
    fn a_bar_without_a_terminal_logs_status_lines() {
        let (mut printer, capture) = Printer::capturing(OutputFormat::Text, false);
        printer.progress = ProgressMode::Lines(Duration::from_millis(100));
        let bar = printer.bar(10, "restoring");
        bar.inc(4);
        std::thread::sleep(Duration::from_millis(450));
        bar.finish_and_clear();
        let lines = capture.stderr();
        assert!(lines.lines().count() >= 2, "{lines}");
        assert!(lines.contains("[restoring] 4/10"), "{lines}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(capture.stderr(), lines, "no line after the bar finished");
    }

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
