//! `s3rewind policy COMMAND [s3://BUCKET[/PREFIX]]`: the least-privilege IAM policy a
//! command needs. The text output is the bare IAM policy document (ready for `aws iam
//! create-policy --policy-document`); `--output json` wraps it in a
//! [`s3rewind_engine::policy::POLICY_SCHEMA`] document with what it was made for and its
//! notes. The policies are data in the engine ([`s3rewind_engine::policy`]); this module
//! only maps arguments onto its options (and reads a plan file for `policy apply`).

use crate::args::{PolicyArgs, PolicyFor, PolicyKms};
use crate::error::{CliError, CliResult, Exit};
use crate::output::Printer;
use s3rewind_engine::policy::{PolicyCommand, PolicyOptions, report};
use s3rewind_engine::{Destination, Location, RestorePlan, parse_s3_uri};

fn location(arg: Option<&String>) -> CliResult<Option<Location>> {
    arg.map(|s| parse_s3_uri(s).map_err(CliError::from))
        .transpose()
}

/// The KMS part of the options.
fn kms(o: PolicyOptions, k: &PolicyKms) -> CliResult<PolicyOptions> {
    for arn in k.kms_key_arn.iter().chain(&k.dest_kms_key_arn) {
        if !arn.starts_with("arn:") || !arn.contains(":kms:") {
            return Err(CliError::usage(format!(
                "{arn:?} is not a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID): IAM policies name keys by ARN, not by id or alias"
            )));
        }
    }
    Ok(PolicyOptions {
        kms: k.kms,
        kms_keys: k.kms_key_arn.clone(),
        dest_kms_keys: k.dest_kms_key_arn.clone(),
        ..o
    })
}

/// The command and options a `policy` invocation describes.
pub fn request(args: &PolicyArgs) -> CliResult<(PolicyCommand, PolicyOptions)> {
    let (command, mut options) = by_command(args)?;
    let journal = match &args.command {
        PolicyFor::Restore(a) => a.journal.journal.as_deref(),
        PolicyFor::Apply(a) => a.journal.journal.as_deref(),
        PolicyFor::Undo(a) => a.journal.journal.as_deref(),
        PolicyFor::Drill(a) => a.journal.journal.as_deref(),
        PolicyFor::Undelete(a) => a.journal.journal.as_deref(),
        PolicyFor::Verify(a) => a.journal.journal.as_deref(),
        _ => None,
    };
    options.journal = journal
        .map(|url| {
            crate::journal::remote::parse_url(url)
                .map_err(|e| CliError::usage(format!("--journal {url}: {e}")))
        })
        .transpose()?;
    Ok((command, options))
}

/// [`request`] without the journal.
///
/// Longer than 120 lines on purpose: one match arm per `policy` subcommand, each a
/// flat mapping of its flags to options; splitting it would scatter the table.
fn by_command(args: &PolicyArgs) -> CliResult<(PolicyCommand, PolicyOptions)> {
    Ok(match &args.command {
        PolicyFor::Plan(a) => (
            PolicyCommand::Plan,
            kms(
                PolicyOptions {
                    source: location(a.source.as_ref())?,
                    to: location(a.to.as_ref())?,
                    ..Default::default()
                },
                &a.kms,
            )?,
        ),
        PolicyFor::Restore(a) => (
            PolicyCommand::Restore,
            kms(
                PolicyOptions {
                    source: location(a.source.as_ref())?,
                    to: location(a.to.as_ref())?,
                    to_dir: a.to_dir,
                    preserve_acl: a.preserve_acl,
                    request_archive_restore: a.request_archive_restore,
                    ..Default::default()
                },
                &a.kms,
            )?,
        ),
        PolicyFor::Apply(a) => {
            let mut o = PolicyOptions {
                preserve_acl: a.preserve_acl,
                request_archive_restore: a.request_archive_restore,
                ..Default::default()
            };
            if let Some(path) = &a.plan {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    CliError::usage(format!("cannot read plan file {}: {e}", path.display()))
                })?;
                let p = RestorePlan::from_json(&text)
                    .map_err(|e| CliError::usage(format!("{}: {e}", path.display())))?;
                o.source = Some(p.source.clone());
                match p.destination {
                    Destination::InPlace => {}
                    Destination::Bucket { location } => o.to = Some(location),
                    Destination::Directory { .. } => o.to_dir = true,
                }
            }
            (PolicyCommand::Apply, kms(o, &a.kms)?)
        }
        PolicyFor::Undo(a) => (
            PolicyCommand::Undo,
            kms(
                PolicyOptions {
                    source: location(a.source.as_ref())?,
                    preserve_acl: a.preserve_acl,
                    request_archive_restore: a.request_archive_restore,
                    ..Default::default()
                },
                &a.kms,
            )?,
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
                kms(
                    PolicyOptions {
                        source,
                        to: scratch,
                        cleanup: a.cleanup,
                        preserve_acl: a.preserve_acl,
                        ..Default::default()
                    },
                    &a.kms,
                )?,
            )
        }
        PolicyFor::Undelete(a) => (
            PolicyCommand::Undelete,
            kms(
                PolicyOptions {
                    source: location(a.source.as_ref())?,
                    remove_delete_markers: a.remove_delete_markers,
                    preserve_acl: a.preserve_acl,
                    request_archive_restore: a.request_archive_restore,
                    ..Default::default()
                },
                &a.kms,
            )?,
        ),
        PolicyFor::Audit(a) => {
            let source = location(a.source.as_ref())?;
            if source.as_ref().is_some_and(|l| !l.prefix.is_empty()) {
                return Err(CliError::usage(
                    "policy audit takes a bucket (s3://BUCKET), not a prefix: the configurations it reads are the bucket's",
                ));
            }
            let replica = location(a.replica.as_ref())?;
            if replica.as_ref().is_some_and(|l| !l.prefix.is_empty()) {
                return Err(CliError::usage(
                    "policy audit --replica takes a bucket (s3://REPLICA), not a prefix",
                ));
            }
            (
                PolicyCommand::Audit,
                PolicyOptions {
                    source,
                    to: replica,
                    ..Default::default()
                },
            )
        }
        PolicyFor::Verify(a) => (
            PolicyCommand::Verify,
            kms(
                PolicyOptions {
                    source: location(a.source.as_ref())?,
                    to: location(a.to.as_ref())?,
                    deep: a.deep,
                    ..Default::default()
                },
                &a.kms,
            )?,
        ),
        PolicyFor::Watch(a) => (
            PolicyCommand::Watch,
            kms(
                PolicyOptions {
                    source: location(a.source.as_ref())?,
                    queue: a.queue.as_deref().map(queue_arn).transpose()?,
                    push: a.push,
                    setup: a.setup,
                    alert: a.alert,
                    ..Default::default()
                },
                &a.kms,
            )?,
        ),
    })
}

/// The ARN of the queue at `url` (`https://sqs.REGION.amazonaws.com/ACCOUNT/NAME`; a
/// region the URL does not name is any region).
fn queue_arn(url: &str) -> CliResult<String> {
    let bad = || {
        CliError::usage(format!(
            "--queue {url}: not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
        ))
    };
    let (_, region) = crate::s3::queue_origin(url).ok_or_else(bad)?;
    let path: Vec<&str> = url
        .split_once("://")
        .map_or("", |(_, r)| r)
        .split('/')
        .skip(1)
        .filter(|p| !p.is_empty())
        .collect();
    let [account, name] = path[..] else {
        return Err(bad());
    };
    Ok(format!(
        "arn:aws:sqs:{}:{account}:{name}",
        region.as_deref().unwrap_or("*")
    ))
}

/// `s3rewind policy`: print the policy (text: the bare IAM document, notes on stderr;
/// JSON: the `s3rewind.policy/v1` document around it).
pub fn policy_cmd(printer: &Printer, args: &PolicyArgs) -> CliResult<Exit> {
    let (command, options) = request(args)?;
    let r = report(command, &options);
    if printer.json() {
        printer.json_value(&r);
    } else {
        printer.line(serde_json::to_string_pretty(&r.policy).expect("a policy serialises"));
        for n in &r.notes {
            printer.warn(n);
        }
    }
    Ok(Exit::Ok)
}
