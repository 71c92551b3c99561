//! Exit codes and the one-line errors the CLI prints.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `scan`: nothing found; for `verify`: no difference) |
//! | 1 | done, but not everything: an action failed or drifted, a version is still archived, `verify` found differences, `scan` found an incident |
//! | 2 | usage: a bad argument, TIME, S3 location, endpoint URL or plan file, a local output path that cannot be written |
//! | 3 | not found: the bucket (or key) does not exist |
//! | 4 | refused for safety: no versioning history, versioning Suspended for an in-place restore, MFA Delete, confirmation not given, a journal of another run or one in use, a plan with another digest than expected |
//! | 5 | access denied |
//! | 6 | the endpoint could not be reached |
//! | 7 | any other S3 or local error |
//! | 8 | no usable credentials: none found (also where an instance metadata endpoint answers without any), a missing or broken profile, an expired SSO login |
//! | 130 | interrupted (Ctrl-C); run the same command again to resume |
//!
//! Every error is one line on stderr, `s3rewind: error: …`, naming what is wrong and what
//! to do. Nothing has been written when an error of class 2–6 is reported before
//! execution starts.

use crate::s3::{ErrorKind, S3Error};
use s3rewind_engine::{PlanError, TimeError, TimelineError, UriError};
use std::fmt;

/// The process exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0.
    Ok,
    /// 1: partial success, differences or findings.
    Partial,
    /// 2: bad usage.
    Usage,
    /// 3: bucket or key not found.
    NotFound,
    /// 4: refused for safety.
    Refused,
    /// 5: access denied.
    Access,
    /// 6: endpoint unreachable.
    Network,
    /// 7: other failure.
    Failure,
    /// 8: no usable credentials.
    Credentials,
    /// 130: interrupted.
    Interrupted,
}

impl Exit {
    /// Every exit status, in the order of their codes.
    pub const ALL: [Exit; 10] = [
        Exit::Ok,
        Exit::Partial,
        Exit::Usage,
        Exit::NotFound,
        Exit::Refused,
        Exit::Access,
        Exit::Network,
        Exit::Failure,
        Exit::Credentials,
        Exit::Interrupted,
    ];

    /// The numeric code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Partial => 1,
            Exit::Usage => 2,
            Exit::NotFound => 3,
            Exit::Refused => 4,
            Exit::Access => 5,
            Exit::Network => 6,
            Exit::Failure => 7,
            Exit::Credentials => 8,
            Exit::Interrupted => 130,
        }
    }
}

/// An error that ends the command, with its exit status.
#[derive(Debug)]
pub struct CliError {
    /// Exit status.
    pub exit: Exit,
    /// One line: what is wrong and what to do.
    pub message: String,
}

impl CliError {
    /// A new error.
    pub fn new(exit: Exit, message: impl Into<String>) -> Self {
        CliError {
            exit,
            message: message.into(),
        }
    }

    /// A usage error (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(Exit::Usage, message)
    }

    /// A refusal for safety (exit 4).
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(Exit::Refused, message)
    }

    /// Any other failure (exit 7).
    pub fn failure(message: impl Into<String>) -> Self {
        Self::new(Exit::Failure, message)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}

/// Result of a command.
pub type CliResult<T> = Result<T, CliError>;

/// Turn an S3 error met before any write into a CLI error with a hint.
pub fn from_s3(e: S3Error, bucket: &str) -> CliError {
    match e.kind {
        ErrorKind::NoSuchBucket => CliError::new(
            Exit::NotFound,
            format!(
                "bucket {bucket:?} does not exist ({}); check the name, --region and --endpoint-url",
                e.code.as_deref().unwrap_or("NoSuchBucket")
            ),
        ),
        ErrorKind::AccessDenied => CliError::new(
            Exit::Access,
            format!(
                "access denied to bucket {bucket:?} ({}); check the credentials and the IAM policy (`s3rewind policy COMMAND s3://BUCKET` prints the one it needs)",
                e
            ),
        ),
        ErrorKind::NoCredentials => {
            let m = e.message.to_lowercase();
            let text = if m.contains("instance metadata service") {
                format!(
                    "no AWS credentials found ({}); set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, or give the instance a role",
                    e.message
                )
            } else if m.contains("no credentials found in chain")
                || m.contains("no credentials in the property bag")
            {
                "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, or log in with `aws sso login`".to_owned()
            } else if m.contains("profile") {
                format!(
                    "the AWS profile cannot be used ({}); check --profile / AWS_PROFILE and ~/.aws/config, ~/.aws/credentials",
                    e.message
                )
            } else if m.contains("sso") || m.contains("expired") {
                format!(
                    "the AWS credentials cannot be used ({}); log in again (`aws sso login`) or set other credentials",
                    e.message
                )
            } else {
                "no AWS credentials found; set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, or log in with `aws sso login`".to_owned()
            };
            CliError::new(Exit::Credentials, text)
        }
        ErrorKind::Unreachable => CliError::new(
            Exit::Network,
            format!(
                "cannot reach the S3 endpoint ({e}); check --endpoint-url, --region and the network"
            ),
        ),
        ErrorKind::NotFound => CliError::new(Exit::NotFound, format!("{e}")),
        ErrorKind::CapReached => CliError::new(
            Exit::Refused,
            format!(
                "{}: {e}; nothing past the cap was sent: raise it (or leave it out) and run the same command again",
                e.message
            ),
        ),
        _ => CliError::failure(format!("{e}")),
    }
}

impl From<TimeError> for CliError {
    fn from(e: TimeError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<UriError> for CliError {
    fn from(e: UriError) -> Self {
        CliError::usage(e.to_string())
    }
}

impl From<PlanError> for CliError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Suspended { .. } | PlanError::NeverVersioned { .. } => {
                CliError::refused(e.to_string())
            }
            _ => CliError::usage(e.to_string()),
        }
    }
}

impl From<TimelineError> for CliError {
    fn from(e: TimelineError) -> Self {
        CliError::failure(format!("{e}; nothing was written"))
    }
}
