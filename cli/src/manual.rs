//! `s3rewind man`: the manual pages, generated from the same clap definitions as `--help`.
//!
//! One page per command and subcommand (`s3rewind.1`, `s3rewind-plan.1`,
//! `s3rewind-batch-submit.1`, …), so every `s3rewind-X(1)` a page refers to exists. Beside
//! what clap_mangen renders from the definitions, each page has EXIT STATUS, ENVIRONMENT
//! (the variables the command reads), FILES (the journal directory) and EXAMPLES.

use clap_mangen::Man;
use clap_mangen::roff::{Roff, bold, roman};
use std::path::{Path, PathBuf};

/// The exit statuses, as the book's exit-codes page lists them (shorter).
const EXIT_STATUS: &[(&str, &str)] = &[
    (
        "0",
        "success (scan: nothing found; verify, diff: no difference; audit: every scenario covered)",
    ),
    (
        "1",
        "done, but not everything: an action failed, drifted or waits for an archive restore; \
         differences found; an incident found, or not an all-clear; a scenario not covered; \
         a batch job failed or tasks remain",
    ),
    (
        "2",
        "usage: bad argument, TIME, S3 location, endpoint URL or plan file, an output path that cannot be written",
    ),
    (
        "3",
        "not found: the bucket (or key) does not exist; nothing was ever written under the prefix",
    ),
    (
        "4",
        "refused for safety: no versioning, Suspended in place, confirmation not given, too many \
         delete markers, another plan's digest, a journal of another run or in use",
    ),
    ("5", "access denied"),
    ("6", "the endpoint could not be reached"),
    (
        "7",
        "any other error (the listing broke its contract, a local file could not be written)",
    ),
    (
        "8",
        "no usable credentials: none found, a missing or broken profile, an expired SSO login",
    ),
    (
        "130",
        "interrupted (Ctrl-C): in-flight actions finish; run the same command again to resume",
    ),
];

/// Variables read through the AWS SDK's standard configuration chain, for every command
/// that talks to S3.
const AWS_ENV: &[(&str, &str)] = &[
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
        "static credentials (the first source of the standard chain; an explicit --profile wins over them)",
    ),
    (
        "AWS_PROFILE",
        "the profile to use when --profile is not given",
    ),
    (
        "AWS_REGION, AWS_DEFAULT_REGION",
        "the region when --region is not given (else the profile's, else us-east-1)",
    ),
    (
        "AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE",
        "other places for ~/.aws/config and ~/.aws/credentials",
    ),
    (
        "AWS_EC2_METADATA_DISABLED",
        "true: do not ask the instance metadata endpoint for credentials",
    ),
    (
        "RUST_LOG",
        "log filter on stderr (overrides -v/-q), e.g. RUST_LOG=s3rewind=debug",
    ),
];

/// Commands that never talk to S3: no AWS variables, no journal.
const OFFLINE: &[&str] = &["s3rewind-policy", "s3rewind-completions", "s3rewind-man"];

/// Commands that write (or read) a restore journal.
const JOURNALED: &[&str] = &[
    "s3rewind-restore",
    "s3rewind-apply",
    "s3rewind-undo",
    "s3rewind-undelete",
    "s3rewind-drill",
    "s3rewind-verify",
    "s3rewind-batch",
    "s3rewind-batch-reconcile",
];

/// Commands that run `--validate-cmd` (or `--alert-exec`) with the sampled object's name
/// in the environment.
const VALIDATES: &[&str] = &[
    "s3rewind-scan",
    "s3rewind-restore",
    "s3rewind-plan",
    "s3rewind-watch",
];

/// Examples per page (every one runs as written, with your bucket's name).
fn examples(page: &str) -> &'static [&'static str] {
    match page {
        "s3rewind" => &[
            "s3rewind scan s3://acme-docs",
            "s3rewind plan s3://acme-docs --at '2026-11-21 09:41'",
            "s3rewind restore s3://acme-docs --before-corruption --yes",
            "s3rewind man --dir /usr/local/share/man/man1",
        ],
        "s3rewind-plan" => &[
            "s3rewind plan s3://acme-docs --at '2026-11-21 09:41'",
            "s3rewind plan s3://acme-docs/reports/ --at 2h --output json > plan.json",
            "s3rewind plan s3://acme-docs --at 3h --out plan.json",
        ],
        "s3rewind-restore" => &[
            "s3rewind restore s3://acme-docs --at '2026-11-21T09:41:00Z'",
            "s3rewind restore s3://acme-docs --at 3h --yes --concurrency 64",
            "s3rewind restore s3://acme-docs/docs/ --at 3h --to s3://scratch/drill-0421/",
            "s3rewind restore s3://acme-docs --before-corruption --yes",
            "s3rewind restore s3://acme-docs --per-key --yes",
        ],
        "s3rewind-apply" => &["s3rewind apply plan.json --expect-digest sha256:... --yes"],
        "s3rewind-undo" => &[
            "s3rewind undo ~/.local/state/s3rewind/journals/acme-docs-20261121T094100Z-....jsonl --dry-run",
            "s3rewind undo ~/.local/state/s3rewind/journals/acme-docs-20261121T094100Z-....jsonl --yes",
        ],
        "s3rewind-undelete" => &[
            "s3rewind undelete s3://my-bucket/ --since 2h --dry-run",
            "s3rewind undelete s3://my-bucket/ --since 2h --yes",
            "s3rewind undelete s3://my-bucket/ --remove-delete-markers --yes",
        ],
        "s3rewind-verify" => &[
            "s3rewind verify s3://my-bucket/docs/ --at 2026-11-21T09:41:00Z",
            "s3rewind verify s3://my-bucket/docs/ --at 2026-11-21T09:41:00Z --deep",
            "s3rewind verify s3://my-bucket/docs/ --at 3h --to s3://scratch/drill/",
        ],
        "s3rewind-scan" => &[
            "s3rewind scan s3://acme-docs",
            "s3rewind scan s3://acme-docs --since 3d --validate-cmd 'python3 check_pdf.py'",
            "s3rewind --output json scan s3://acme-docs > incident.json",
        ],
        "s3rewind-history" => &["s3rewind history s3://acme-docs/reports/q3.pdf"],
        "s3rewind-diff" => &["s3rewind diff s3://acme-docs --from 2h --to 1h"],
        "s3rewind-timeline" => &["s3rewind timeline s3://acme-docs --svg activity.svg"],
        "s3rewind-ls" => &[
            "s3rewind ls s3://acme-docs/docs/ --at '2026-11-21T09:41:00Z'",
            "s3rewind --output json ls s3://acme-docs --at 3h",
        ],
        "s3rewind-drill" => &[
            "s3rewind drill s3://acme-docs --at 24h --scratch s3://dr-scratch/drill-2026-11/ --cleanup --report drill.json",
        ],
        "s3rewind-audit" => &[
            "s3rewind audit s3://acme-docs",
            "s3rewind audit s3://acme-docs --min-days 90",
        ],
        "s3rewind-policy" => &[
            "s3rewind policy restore s3://acme-docs",
            "s3rewind policy drill s3://acme-docs --scratch s3://scratch/drill/ --cleanup",
        ],
        "s3rewind-policy-plan" => &["s3rewind policy plan s3://acme-docs"],
        "s3rewind-policy-restore" => &[
            "s3rewind policy restore s3://acme-docs",
            "s3rewind policy restore s3://acme-docs --to s3://dr-bucket/prod/",
        ],
        "s3rewind-policy-apply" => &["s3rewind policy apply plan.json"],
        "s3rewind-policy-undo" => &["s3rewind policy undo s3://acme-docs"],
        "s3rewind-policy-drill" => {
            &["s3rewind policy drill s3://acme-docs --scratch s3://scratch/drill/ --cleanup"]
        }
        "s3rewind-policy-undelete" => {
            &["s3rewind policy undelete s3://acme-docs --remove-delete-markers"]
        }
        "s3rewind-policy-audit" => &["s3rewind policy audit s3://acme-docs --replica s3://acme-dr"],
        "s3rewind-policy-verify" => &[
            "s3rewind policy verify s3://acme-docs --deep --kms-key-arn arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ],
        "s3rewind-policy-watch" => &[
            "s3rewind policy watch s3://acme-docs --queue https://sqs.us-east-1.amazonaws.com/111122223333/s3rewind-acme-docs",
        ],
        "s3rewind-index" => &[
            "s3rewind index s3://acme-docs --out docs.idx",
            "s3rewind index --refresh docs.idx",
        ],
        "s3rewind-batch" => &[
            "s3rewind batch submit ./job --account-id 111122223333 --role-arn arn:aws:iam::111122223333:role/batch-restore",
            "s3rewind batch status ./job",
            "s3rewind batch reconcile ./job",
        ],
        "s3rewind-batch-submit" => &[
            "s3rewind batch submit ./job --account-id 111122223333 --role-arn arn:aws:iam::111122223333:role/batch-restore",
        ],
        "s3rewind-batch-status" => &[
            "s3rewind batch status ./job",
            "s3rewind batch status JOB_ID --account-id 111122223333",
        ],
        "s3rewind-batch-reconcile" => &["s3rewind batch reconcile ./job"],
        "s3rewind-watch" => &[
            "s3rewind watch s3://acme-docs --index docs.idx --queue https://sqs.us-east-1.amazonaws.com/111122223333/s3rewind-acme-docs",
            "s3rewind watch s3://acme-docs --index docs.idx --listen 0.0.0.0:8088 --token \"$TOKEN\"",
        ],
        "s3rewind-completions" => &["s3rewind completions bash > /etc/bash_completion.d/s3rewind"],
        "s3rewind-man" => &[
            "s3rewind man | man -l -",
            "s3rewind man --dir /usr/local/share/man/man1",
        ],
        _ => &[],
    }
}

/// Every page: (file name, roff text), the main page first.
pub fn pages(cmd: clap::Command) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut out = Vec::new();
    collect(&cmd, &mut out)?;
    Ok(out)
}

fn collect(cmd: &clap::Command, out: &mut Vec<(String, Vec<u8>)>) -> std::io::Result<()> {
    let name = cmd.get_display_name().unwrap_or(cmd.get_name()).to_owned();
    out.push((format!("{name}.1"), page(cmd, &name)?));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, out)?;
    }
    Ok(())
}

/// One page: clap_mangen's sections, then ours, then the version.
fn page(cmd: &clap::Command, name: &str) -> std::io::Result<Vec<u8>> {
    let man = Man::new(cmd.clone());
    let mut w = Vec::new();
    man.render_title(&mut w)?;
    man.render_name_section(&mut w)?;
    man.render_synopsis_section(&mut w)?;
    man.render_description_section(&mut w)?;
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut w)?;
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut w)?;
    }
    if cmd.get_after_help().is_some() || cmd.get_after_long_help().is_some() {
        man.render_extra_section(&mut w)?;
    }
    ours(cmd, name).to_writer(&mut w)?;
    if cmd.get_version().is_some() {
        man.render_version_section(&mut w)?;
    }
    Ok(w)
}

fn item(roff: &mut Roff, tag: &str, text: &str) {
    roff.control("TP", []);
    roff.text([bold(tag)]);
    roff.text([roman(text)]);
}

fn ours(cmd: &clap::Command, name: &str) -> Roff {
    let mut roff = Roff::default();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in EXIT_STATUS {
        item(&mut roff, code, meaning);
    }

    roff.control("SH", ["ENVIRONMENT"]);
    let mut env: Vec<(String, String)> = cmd
        .get_arguments()
        .filter_map(|a| {
            let var = a.get_env()?.to_string_lossy().into_owned();
            let flag = a
                .get_long()
                .map_or_else(|| a.get_id().to_string(), |l| format!("--{l}"));
            Some((var, format!("the default of {flag}")))
        })
        .collect();
    env.sort();
    env.dedup();
    for (var, what) in &env {
        item(&mut roff, var, what);
    }
    if VALIDATES.contains(&name) {
        item(
            &mut roff,
            "S3REWIND_BUCKET, S3REWIND_KEY, S3REWIND_VERSION_ID",
            "set for --validate-cmd CMD: the object CMD receives on stdin",
        );
    }
    let offline = OFFLINE
        .iter()
        .any(|o| name == *o || name.starts_with(&format!("{o}-")));
    if !offline {
        for (var, what) in AWS_ENV {
            item(&mut roff, var, what);
        }
    }
    if JOURNALED.contains(&name) || name == "s3rewind" {
        item(
            &mut roff,
            "XDG_STATE_HOME, HOME",
            "where the journal directory is (FILES), unless --journal-dir or S3REWIND_JOURNAL_DIR says",
        );
    }
    if env.is_empty() && offline {
        roff.text([roman(
            "The global options' variables (S3REWIND_OUTPUT, S3REWIND_QUIET, …) only; no AWS configuration is read.",
        )]);
    }

    roff.control("SH", ["FILES"]);
    item(
        &mut roff,
        "$XDG_STATE_HOME/s3rewind/journals/",
        "the journals of restores, undos, undeletes, drills and reconciled batch jobs \
         (without XDG_STATE_HOME: ~/.local/state/s3rewind/journals/; without HOME: the \
         temporary directory). One JSON Lines file per run, \
         <bucket>-<TIME>-<hash>.jsonl; an undo of NAME.jsonl writes NAME.undo.jsonl beside it. \
         Running the same command again resumes from it; s3rewind undo JOURNAL takes a run back. \
         --journal-dir DIR (S3REWIND_JOURNAL_DIR) puts them elsewhere.",
    );
    item(
        &mut roff,
        "$XDG_STATE_HOME/s3rewind/journals/s3/",
        "the working copies of journals kept in S3 (--journal s3://BUCKET/PREFIX/): read back \
         from S3 before a command uses them, uploaded as new segments every 5 seconds and at the end.",
    );
    item(
        &mut roff,
        "~/.aws/config, ~/.aws/credentials",
        "profiles and credentials (the standard AWS chain)",
    );

    let ex = examples(name);
    if !ex.is_empty() {
        roff.control("SH", ["EXAMPLES"]);
        for e in ex {
            roff.control("PP", []);
            roff.control("nf", []);
            roff.text([roman(*e)]);
            roff.control("fi", []);
        }
    }
    roff.control("SH", ["SEE ALSO"]);
    let mut see = Vec::new();
    if name != "s3rewind" {
        see.push("s3rewind(1)".to_owned());
    }
    see.push("the s3rewind book: docs/ in the source (scripts/docs builds it)".to_owned());
    roff.text([roman(see.join(", "))]);
    roff
}

/// Write every page into `dir` (created if missing); the paths written.
pub fn write_all(cmd: clap::Command, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (file, text) in pages(cmd)? {
        let path = dir.join(file);
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// The main page alone (what `s3rewind man` prints without --dir).
pub fn main_page(cmd: clap::Command) -> std::io::Result<Vec<u8>> {
    Ok(pages(cmd)?.swap_remove(0).1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    #[test]
    fn a_page_per_subcommand_with_our_sections_and_no_dangling_reference() {
        let dir = tempfile::tempdir().unwrap();
        let written = write_all(crate::args::Cli::command(), dir.path()).unwrap();
        let names: std::collections::BTreeSet<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        // A page for the tool and for every (nested) subcommand.
        let mut cmd = crate::args::Cli::command().disable_help_subcommand(true);
        cmd.build();
        let mut expected = vec!["s3rewind.1".to_owned()];
        for sub in cmd.get_subcommands() {
            expected.push(format!("s3rewind-{}.1", sub.get_name()));
            for subsub in sub.get_subcommands().filter(|s| s.get_name() != "help") {
                expected.push(format!(
                    "s3rewind-{}-{}.1",
                    sub.get_name(),
                    subsub.get_name()
                ));
            }
        }
        for e in &expected {
            assert!(names.contains(e), "no page {e}: {names:?}");
        }
        assert!(names.contains("s3rewind-plan.1") && names.contains("s3rewind-batch-submit.1"));
        for path in &written {
            let text = std::fs::read_to_string(path).unwrap();
            let file = path.file_name().unwrap().to_string_lossy();
            for section in [
                ".SH NAME",
                ".SH SYNOPSIS",
                ".SH \"EXIT STATUS\"",
                ".SH ENVIRONMENT",
                ".SH FILES",
                ".SH EXAMPLES",
            ] {
                assert!(text.contains(section), "{file} has no {section}");
            }
            assert!(text.contains("s3rewind/journals"), "{file}: FILES");
            // Every s3rewind-X(1) it refers to is written (roff escapes the '-').
            let plain = text.replace("\\-", "-");
            for (i, _) in plain.match_indices("s3rewind-") {
                let rest = &plain[i..];
                let Some(end) = rest.find("(1)") else {
                    continue;
                };
                let name = &rest[..end];
                if name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
                    assert!(
                        names.contains(&format!("{name}.1")),
                        "{file} refers to {name}(1), which is not written"
                    );
                }
            }
        }
        // The variables the command line reads are named where they apply.
        let restore = std::fs::read_to_string(dir.path().join("s3rewind-restore.1")).unwrap();
        for var in [
            "S3REWIND_CONCURRENCY",
            "S3REWIND_ENDPOINT_URL",
            "AWS_PROFILE",
        ] {
            assert!(
                restore.contains(var),
                "s3rewind-restore.1 does not name {var}"
            );
        }
        // Every example runs through the parser as written.
        for (page, _) in pages(crate::args::Cli::command()).unwrap() {
            let page = page.trim_end_matches(".1");
            for ex in examples(page) {
                let args = shell_words(ex);
                if args.iter().any(|a| a == "|" || a == ">") {
                    let cut = args.iter().position(|a| a == "|" || a == ">").unwrap();
                    check_parses(&args[..cut], ex);
                } else {
                    check_parses(&args, ex);
                }
            }
        }
    }

    fn check_parses(args: &[String], ex: &str) {
        if let Err(e) = crate::args::Cli::try_parse_from(args) {
            panic!("example {ex:?} does not parse: {e}");
        }
    }

    /// Enough of sh's word splitting for the examples: quotes, no escapes.
    fn shell_words(s: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        let mut quote: Option<char> = None;
        let mut any = false;
        for c in s.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => cur.push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    any = true;
                }
                (None, ' ') => {
                    if !cur.is_empty() || any {
                        out.push(std::mem::take(&mut cur));
                    }
                    any = false;
                }
                (None, c) => cur.push(c),
            }
        }
        if !cur.is_empty() || any {
            out.push(cur);
        }
        out
    }

    /// Every exit status: a new variant makes the match below non-exhaustive, a reminder
    /// to add it to [`Exit::ALL`](crate::error::Exit::ALL).
    fn every_exit() -> [crate::error::Exit; 10] {
        use crate::error::Exit::*;
        for e in crate::error::Exit::ALL {
            match e {
                Ok | Partial | Usage | NotFound | Refused | Access | Network | Failure
                | Credentials | Interrupted => {}
            }
        }
        crate::error::Exit::ALL
    }

    /// The pages' EXIT STATUS, the book's exit-codes table and the codes the program
    /// returns name the same codes.
    #[test]
    fn exit_statuses_match_the_code_and_the_book() {
        let code: Vec<String> = every_exit().iter().map(|e| e.code().to_string()).collect();
        let pages: Vec<String> = EXIT_STATUS.iter().map(|(c, _)| c.to_string()).collect();
        assert_eq!(pages, code, "EXIT STATUS of the manual pages");
        let book = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../docs/src/exit-codes.md"
        ))
        .unwrap();
        let documented: Vec<String> = book
            .lines()
            .filter_map(|l| {
                let cell = l.strip_prefix('|')?.split('|').next()?.trim();
                cell.parse::<u8>().ok().map(|c| c.to_string())
            })
            .collect();
        assert_eq!(documented, code, "the table of docs/src/exit-codes.md");
    }

    /// The command tables of the book (reference/commands.md) and of README.md name every
    /// command, each with its reference page, and no command that does not exist.
    #[test]
    fn the_command_tables_name_every_command() {
        let mut cmd = crate::args::Cli::command().disable_help_subcommand(true);
        cmd.build();
        let commands: std::collections::BTreeSet<String> = cmd
            .get_subcommands()
            .map(|s| s.get_name().to_owned())
            .collect();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        for (file, base) in [
            ("docs/src/reference/commands.md", "docs/src/reference/"),
            ("README.md", ""),
        ] {
            let text = std::fs::read_to_string(format!("{root}/{file}")).unwrap();
            let mut listed = std::collections::BTreeSet::new();
            for line in text.lines().filter(|l| l.starts_with("| [`")) {
                let first = line.split(" | ").next().unwrap();
                for link in first.split("[`").skip(1) {
                    let (name, rest) = link.split_once("`](").unwrap();
                    let page = rest.split(')').next().unwrap();
                    let path = format!("{root}/{base}{page}");
                    assert!(
                        std::path::Path::new(&path).exists(),
                        "{file}: `{name}` links to {page}, which does not exist"
                    );
                    listed.insert(name.to_owned());
                }
            }
            assert_eq!(listed, commands, "the command table of {file}");
        }
    }

    #[test]
    fn the_main_page_lists_the_commands() {
        let text = String::from_utf8(main_page(crate::args::Cli::command()).unwrap()).unwrap();
        assert!(text.contains("\n.TH s3rewind 1"), "{}", &text[..200]);
        assert!(text.contains("s3rewind\\-plan(1)"));
        assert!(!text.contains("s3rewind\\-help(1)"));
    }
}
