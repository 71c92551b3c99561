//! `s3rewind policy COMMAND [s3://BUCKET[/PREFIX]]`: the least-privilege IAM policy a
//! command needs, printed as JSON. The policies are data in the engine
//! ([`s3rewind_engine::policy`]); this module only maps arguments onto its options.

use crate::args::{PolicyArgs, PolicyFor};
use crate::error::{CliError, CliResult, Exit};
use crate::output::Printer;
use s3rewind_engine::policy::{PolicyCommand, PolicyOptions, policy};
use s3rewind_engine::{Location, parse_s3_uri};

fn location(arg: Option<&String>) -> CliResult<Option<Location>> {
    arg.map(|s| parse_s3_uri(s).map_err(CliError::from))
        .transpose()
}

/// The command and options a `policy` invocation describes.
pub fn request(args: &PolicyArgs) -> CliResult<(PolicyCommand, PolicyOptions)> {
    Ok(match &args.command {
        PolicyFor::Plan(a) => (
            PolicyCommand::Plan,
            PolicyOptions {
                source: location(a.source.as_ref())?,
                to: location(a.to.as_ref())?,
                ..Default::default()
            },
        ),
        PolicyFor::Restore(a) => (
            PolicyCommand::Restore,
            PolicyOptions {
                source: location(a.source.as_ref())?,
                to: location(a.to.as_ref())?,
                preserve_acl: a.preserve_acl,
                request_archive_restore: a.request_archive_restore,
                ..Default::default()
            },
        ),
        PolicyFor::Drill(a) => {
            let source = location(a.source.as_ref())?;
            let scratch = location(a.scratch.as_ref())?;
            if source.is_some() && scratch.is_none() {
                return Err(CliError::usage(
                    "policy drill s3://BUCKET needs --scratch s3://SCRATCH[/PREFIX] (the drill writes there)",
                ));
            }
            (
                PolicyCommand::Drill,
                PolicyOptions {
                    source,
                    to: scratch,
                    cleanup: a.cleanup,
                    preserve_acl: a.preserve_acl,
                    ..Default::default()
                },
            )
        }
        PolicyFor::Undelete(a) => (
            PolicyCommand::Undelete,
            PolicyOptions {
                source: location(a.source.as_ref())?,
                remove_delete_markers: a.remove_delete_markers,
                preserve_acl: a.preserve_acl,
                request_archive_restore: a.request_archive_restore,
                ..Default::default()
            },
        ),
        PolicyFor::Audit(a) => {
            let source = location(a.source.as_ref())?;
            if source.as_ref().is_some_and(|l| !l.prefix.is_empty()) {
                return Err(CliError::usage(
                    "policy audit takes a bucket (s3://BUCKET), not a prefix: the configurations it reads are the bucket's",
                ));
            }
            (
                PolicyCommand::Audit,
                PolicyOptions {
                    source,
                    ..Default::default()
                },
            )
        }
        PolicyFor::Verify(a) => (
            PolicyCommand::Verify,
            PolicyOptions {
                source: location(a.source.as_ref())?,
                to: location(a.to.as_ref())?,
                deep: a.deep,
                ..Default::default()
            },
        ),
    })
}

/// `s3rewind policy`: print the policy (the same JSON with `--output text` or `json`).
pub fn policy_cmd(printer: &Printer, args: &PolicyArgs) -> CliResult<Exit> {
    let (command, options) = request(args)?;
    let doc = policy(command, &options);
    // The document is the result in either format.
    if printer.json() {
        printer.json_value(&doc);
    } else {
        printer.line(serde_json::to_string_pretty(&doc).expect("a policy serialises"));
    }
    Ok(Exit::Ok)
}
