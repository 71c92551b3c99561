/*!
The `s3rewind` command-line tool: point-in-time restore for versioned S3 buckets.

This crate is the I/O shell around [`s3rewind_engine`]: it parses arguments, talks to S3
(only through [`s3`]), feeds listing pages to the engine, and executes the plans the
engine makes. The binary's `main` only calls [`main`], so tests and benches can call the
library.

# Layout

- [`args`]: clap definitions.
- [`manual`]: `s3rewind man`: a manual page per command, from the clap definitions.
- [`commands`]: a module per command or family (`restore`: plan, restore and apply;
  `explore/`: ls, history, diff and timeline; `batch`: batch submit, status and reconcile):
  arguments, then stages, then the printed result; no command imports another.
- [`pipeline`]: the [`App`] every command gets (an
  [`bucket::Endpoint`], S3's or one in memory), the two sides of a restore, time
  resolution, and the stages: `prepare`, `detect`, `gates`, `execute` (with
  `to_dir`, `remove_markers` and `replica`), `verify`, and what they print (`report`).
- [`execute`]: a plan's actions on two buckets (drift check, copies, journal), whole or
  as a planner hands them over.
- [`run`]: the one runner under every writing command: bounded, adaptive
  concurrency, retries that re-read, Ctrl-C, the report.
- [`bucket`]: the [`bucket::Bucket`] trait every request goes through, the configuration
  reads beside it, the endpoint that hands buckets out, and (with the `testing` feature)
  the in-memory and fault-injecting implementations and the conformance suite.
- [`s3`]: the S3 adapter (the only module that uses the AWS SDK).
- [`pager`]: the one ListObjectVersions pager (markers, `null` entries, layouts).
- [`listing`]: the paging loop into a timeline, in parallel.
- [`crosscheck`]: a listing checked against ListObjectsV2 before anyone trusts it.
- [`spill`]: sorted lists on disk (the cross-check's current objects, a streamed
  restore's state at T, a destination's current state, a plan's actions).
- [`source`]: where a timeline comes from (listing, inventory report, saved or watched
  index).
- [`watch`]: a watched index on disk (index + event log) and the notification endpoint.
- [`batch`]: `plan --emit batch-ops`: S3 Batch Operations manifests and job requests
  (and what `batch submit`/`reconcile` read back of them).
- [`journal`]: the JSON Lines journal of completed actions.
- [`output`]: the printer (stdout results, stderr messages and progress).
- [`outputs`]: the local paths a command will write, checked before it starts.
- [`drill_html`]: the HTML page of a drill's report.
- [`error`]: exit codes and one-line errors.
- `testing` (tests only): commands run in process on buckets in memory.
- `architecture` (tests only): the import rules between these modules.
*/

#![deny(missing_docs)]

#[cfg(test)]
mod architecture;
pub mod args;
pub mod batch;
pub mod bucket;
pub mod commands;
pub mod crosscheck;
pub mod drill_html;
pub mod error;
pub mod execute;
pub mod journal;
pub mod listing;
pub mod manual;
pub mod output;
pub mod outputs;
pub mod pager;
pub mod pipeline;
pub mod run;
pub mod s3;
pub mod source;
pub mod spill;
/// The in-process command harness: the command tests', and the memory benches' (the
/// `testing` feature, off in `cargo install`).
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod watch;

use args::{Cli, Command};
use clap::Parser;
use error::{CliError, Exit};
use output::Printer;
use std::process::ExitCode;
use std::sync::Arc;
use tracing_subscriber::EnvFilter;

/// Log filter for a verbosity level. SDK crates that could log request details (which
/// carry session tokens) are capped at `info` whatever is asked, `RUST_LOG` included;
/// without `-v` (and without `RUST_LOG`) they log errors only, so a failure is the one
/// error line s3rewind prints, not the SDK's warnings before it (a credential provider's
/// multi-line dump).
fn log_filter(verbose: u8, quiet: bool) -> EnvFilter {
    let base = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "error,s3rewind=warn",
        (false, 1) => "warn,s3rewind=info",
        (false, 2) => "warn,s3rewind=debug",
        (false, _) => "info,s3rewind=trace",
    };
    let asked = std::env::var("RUST_LOG")
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok());
    let cap_level = if asked.is_none() && (quiet || verbose == 0) {
        "error"
    } else {
        "info"
    };
    let mut filter = asked.unwrap_or_else(|| EnvFilter::new(base));
    for target in [
        "aws_sigv4",
        "aws_smithy_runtime",
        "aws_smithy_runtime_api",
        "aws_smithy_http_client",
        "aws_smithy_http",
        "aws_runtime",
        "aws_config",
        "aws_credential_types",
        "aws_sdk_s3",
        "aws_sdk_s3control",
        "aws_sdk_sts",
        "aws_sdk_sso",
        "aws_sdk_ssooidc",
        "hyper",
        "hyper_util",
        "rustls",
        "h2",
    ] {
        filter = filter.add_directive(
            format!("{target}={cap_level}")
                .parse()
                .expect("static directive"),
        );
    }
    filter
}

/// Ask Linux for no transparent huge pages in this process (and the commands it starts).
///
/// s3rewind's large memory is many small allocations made and freed phase after phase
/// (a timeline's histories, the states at T, a plan); mimalloc asks for huge pages on its
/// arenas, and each first touch of a 2 MiB page clears all of it. A plan from a watched
/// index of 10M versions spent about a third of its time there: with this call it took
/// 7.0-7.5 s instead of 9.4-10.2 s (benches/README.md, "Watch"). Nothing depends on it:
/// where the call fails or the system has no such switch, the allocator works as before.
pub fn small_pages() {
    #[cfg(target_os = "linux")]
    let _ = rustix::thread::disable_transparent_huge_pages(true);
}

/// Run the CLI with the process arguments; returns the exit code.
pub fn main() -> ExitCode {
    small_pages();
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    // Generated from the clap definitions; no S3 client, no runtime.
    match &cli.command {
        Command::Completions(a) => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(a.shell, &mut cmd, "s3rewind", &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        // Generated from data; no S3 client, no runtime.
        Command::Policy(a) => {
            let printer = Printer::new(cli.global.output, cli.global.quiet, true);
            return match commands::policy::policy_cmd(&printer, a) {
                Ok(exit) => ExitCode::from(exit.code()),
                Err(e) => {
                    printer.failure(e.exit.code(), &e.message);
                    ExitCode::from(e.exit.code())
                }
            };
        }
        Command::Man(a) => {
            let cmd = <Cli as clap::CommandFactory>::command();
            let printer = Printer::new(cli.global.output, false, true);
            if let Some(dir) = &a.dir {
                return match manual::write_all(cmd, dir) {
                    Ok(written) => {
                        printer.info(format!(
                            "wrote {} manual pages into {}",
                            written.len(),
                            dir.display()
                        ));
                        ExitCode::SUCCESS
                    }
                    Err(e) => {
                        printer.error(format!(
                            "cannot write the manual pages into {}: {e}",
                            dir.display()
                        ));
                        ExitCode::from(Exit::Usage.code())
                    }
                };
            }
            let out = match manual::main_page(cmd) {
                Ok(out) => out,
                Err(e) => {
                    printer.error(format!("cannot render the manual page: {e}"));
                    return ExitCode::from(Exit::Failure.code());
                }
            };
            use std::io::Write;
            let _ = std::io::stdout().write_all(&out);
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    tracing_subscriber::fmt()
        .with_env_filter(log_filter(cli.global.verbose, cli.global.quiet))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
    let printer = Printer::new(cli.global.output, cli.global.quiet, cli.global.no_progress)
        .with_stats(
            Some(cli.global.stats),
            cli.global.log_format == args::LogFormat::Json,
        );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            printer.error(format!("cannot start the async runtime: {e}"));
            return ExitCode::from(Exit::Failure.code());
        }
    };
    let result = runtime.block_on(async {
        // Ctrl-C outside a runner (a listing, a plan, a verification): one line and exit
        // 130; inside one, the runner stops cleanly and says what was done.
        let interrupted = printer.clone();
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if !run::owns_ctrl_c() {
                    interrupted.error(
                        "interrupted; run the same command again (a restore resumes from its journal and writes nothing twice)",
                    );
                    std::process::exit(Exit::Interrupted.code().into());
                }
            }
        });
        let app = App::connect(&cli.global, printer.clone()).await;
        run_command(&cli, &app).await
    });
    match result {
        Ok(exit) => ExitCode::from(exit.code()),
        Err(e) => {
            printer.failure(e.exit.code(), &e.message);
            ExitCode::from(e.exit.code())
        }
    }
}

pub use pipeline::App;

/// The one proptest configuration (fixed seed unless `PROPTEST_RNG_SEED` is set; see
/// `s3rewind_testkit::proptest_config`).
#[cfg(test)]
pub(crate) fn proptest_config(cases: u32) -> proptest::test_runner::Config {
    s3rewind_testkit::proptest_config(cases)
}

/// Run one parsed command on an app (the binary's is built on S3 by [`App::connect`];
/// tests build theirs on buckets in memory).
pub async fn run_command(cli: &Cli, app: &App) -> Result<Exit, CliError> {
    let mut cli = cli.clone();
    let remotes = s3_journals(&mut cli, app).await?;
    let uploads: Vec<_> = remotes.iter().map(|r| r.spawn_uploads()).collect();
    let result = dispatch(&cli, app).await;
    uploads.iter().for_each(|u| u.abort());
    let mut result = result;
    for r in &remotes {
        if let Err(e) = r.finish(&app.printer).await {
            match &result {
                // The command's result stands, and the journal's failure is said too.
                Err(_) | Ok(Exit::Interrupted) => app.printer.error(&e.message),
                Ok(_) => result = Err(e),
            }
        }
    }
    result
}

/// The journals a command names by `s3://BUCKET/PREFIX/` (`--journal`, `undo`'s JOURNAL,
/// `verify --journal`): each is read from S3 into its working copy, which the command
/// then uses as a local journal while [`journal::remote::Remote`] keeps S3 in step.
/// Refused (exit 2) when one lies inside a location the command lists or writes.
async fn s3_journals(
    cli: &mut Cli,
    app: &App,
) -> Result<Vec<Arc<journal::remote::Remote>>, CliError> {
    // A drill starts a fresh journal (it never resumes one): its prefix must be empty.
    let fresh = matches!(cli.command, Command::Drill(_));
    let (fields, data): (Vec<&mut std::path::PathBuf>, Vec<&str>) = match &mut cli.command {
        Command::Restore(a) => (
            a.exec.journal.iter_mut().collect(),
            [Some(a.target.source.as_str()), a.target.to.as_deref()]
                .into_iter()
                .flatten()
                .collect(),
        ),
        Command::Apply(a) => (a.exec.journal.iter_mut().collect(), vec![]),
        Command::Undo(a) => (
            std::iter::once(&mut a.restore_journal)
                .chain(a.exec.journal.iter_mut())
                .collect(),
            vec![],
        ),
        Command::Undelete(a) => (a.exec.journal.iter_mut().collect(), vec![a.source.as_str()]),
        Command::Drill(a) => (
            a.exec.journal.iter_mut().collect(),
            vec![a.source.as_str(), a.scratch.as_str()],
        ),
        Command::Verify(a) => (a.journal.iter_mut().collect(), vec![]),
        Command::Batch(args::BatchArgs {
            command: args::BatchCommand::Reconcile(a),
        }) => (a.journal.iter_mut().collect(), vec![]),
        _ => return Ok(Vec::new()),
    };
    let mut remotes: Vec<Arc<journal::remote::Remote>> = Vec::new();
    for field in fields {
        let Some(url) = field
            .to_str()
            .filter(|t| t.starts_with("s3://"))
            .map(str::to_owned)
        else {
            continue;
        };
        let at = journal::remote::parse_url(&url).map_err(CliError::usage)?;
        for d in &data {
            let Ok(loc) = s3rewind_engine::parse_s3_uri(d) else {
                continue;
            };
            if loc.bucket == at.bucket
                && (at.prefix.starts_with(&loc.prefix) || loc.prefix.starts_with(&at.prefix))
            {
                return Err(CliError::usage(format!(
                    "--journal {url} lies inside {d}, which this command lists or writes: its segments would be restored, listed or verified with the data; keep the journal in another bucket or outside that prefix; nothing was written"
                )));
            }
        }
        let remote = match remotes.iter().find(|r| parse_url_eq(r.url(), &at)) {
            Some(r) => r.clone(),
            None => {
                let r = Arc::new(
                    journal::remote::Remote::open(
                        app.uncapped.as_ref(),
                        &url,
                        &app.journal_dir,
                        &app.printer,
                    )
                    .await?,
                );
                if fresh && !r.was_empty() {
                    return Err(CliError::usage(format!(
                        "--journal {url} already holds a journal, and a drill starts a fresh one; give each drill a prefix of its own (e.g. s3://BUCKET/drills/$(date +%F)/); nothing was written"
                    )));
                }
                remotes.push(r.clone());
                r
            }
        };
        *field = remote.local().to_owned();
    }
    Ok(remotes)
}

fn parse_url_eq(url: &str, at: &s3rewind_engine::Location) -> bool {
    journal::remote::parse_url(url).is_ok_and(|l| &l == at)
}

async fn dispatch(cli: &Cli, app: &App) -> Result<Exit, CliError> {
    use commands::*;
    match &cli.command {
        Command::Plan(a) => restore::plan_cmd(app, a).await,
        Command::Restore(a) => restore::restore_cmd(app, a).await,
        Command::Apply(a) => restore::apply_cmd(app, a).await,
        Command::Undo(a) => undo::undo_cmd(app, a).await,
        Command::Undelete(a) => undelete::undelete_cmd(app, a).await,
        Command::Verify(a) => verify::verify_cmd(app, a).await,
        Command::Scan(a) => scan::scan_cmd(app, a).await,
        Command::History(a) => explore::history::history_cmd(app, a).await,
        Command::Diff(a) => explore::diff::diff_cmd(app, a).await,
        Command::Timeline(a) => explore::timeline::timeline_cmd(app, a).await,
        Command::Ls(a) => explore::ls::ls_cmd(app, a).await,
        Command::Drill(a) => drill::drill_cmd(app, a).await,
        Command::Audit(a) => audit::audit_cmd(app, a).await,
        Command::Index(a) => crate::commands::index::index_cmd(app, a).await,
        Command::Batch(a) => crate::commands::batch::batch_cmd(app, a).await,
        Command::Watch(a) => crate::commands::watch::watch_cmd(app, a).await,
        Command::Policy(a) => policy::policy_cmd(&app.printer, a),
        // Written by `main` before any client exists.
        Command::Completions(_) | Command::Man(_) => Ok(Exit::Ok),
    }
}

#[cfg(all(test, target_os = "linux"))]
mod small_pages_tests {
    #[test]
    fn the_process_asks_for_no_transparent_huge_pages() {
        super::small_pages();
        assert_eq!(
            rustix::thread::transparent_huge_pages_are_disabled().ok(),
            Some(true)
        );
    }
}
