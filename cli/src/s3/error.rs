//! S3 errors classified for exit codes and retry decisions, from the SDK's.

use super::{ErrorKind, S3Error};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

pub(super) fn classify<E>(
    context: impl Into<String>,
    err: SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> S3Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let context = context.into();
    let status = err.raw_response().map(|r| r.status().as_u16());
    let code = err.code().map(str::to_owned);
    let mut message = err.message().map(str::to_owned).unwrap_or_default();
    let kind = match &err {
        SdkError::DispatchFailure(_) => {
            let (kind, m) = before_response(&err, ErrorKind::Unreachable);
            message = m;
            kind
        }
        SdkError::TimeoutError(_) => {
            message = "request timed out".to_owned();
            ErrorKind::Unreachable
        }
        SdkError::ConstructionFailure(_) => {
            let (kind, m) = before_response(&err, ErrorKind::Other);
            message = m;
            kind
        }
        _ => match (code.as_deref(), status) {
            (Some("NoSuchBucket"), _) => ErrorKind::NoSuchBucket,
            (Some("NoSuchKey" | "NoSuchVersion" | "NotFound"), _) | (None, Some(404)) => {
                ErrorKind::NotFound
            }
            (
                Some(
                    "AccessDenied"
                    | "InvalidAccessKeyId"
                    | "SignatureDoesNotMatch"
                    | "ExpiredToken"
                    | "InvalidToken"
                    | "AllAccessDisabled"
                    | "AccountProblem",
                ),
                _,
            )
            | (None, Some(403)) => ErrorKind::AccessDenied,
            (
                Some("SlowDown" | "Throttling" | "ThrottlingException" | "RequestLimitExceeded"),
                _,
            )
            | (_, Some(503)) => ErrorKind::Throttled,
            (Some("PreconditionFailed" | "ConditionalRequestConflict"), _) | (_, Some(412)) => {
                ErrorKind::PreconditionFailed
            }
            (Some("InvalidObjectState" | "ObjectNotInActiveTierError"), _) => ErrorKind::Archived,
            (Some("RestoreAlreadyInProgress"), _) => ErrorKind::RestoreInProgress,
            (Some("NotImplemented"), _) | (_, Some(501)) => ErrorKind::NotImplemented,
            _ => ErrorKind::Other,
        },
    };
    if message.is_empty() && kind == ErrorKind::Other {
        message = describe_chain(&err);
    }
    S3Error {
        kind,
        context,
        code,
        status,
        message,
    }
}

/// A request that failed before any response (not sent, or no answer): its message is
/// the error's whole chain, and its kind [`ErrorKind::NoCredentials`] when the chain
/// says credentials were the problem, else `otherwise`.
fn before_response(
    err: &(dyn std::error::Error + 'static),
    otherwise: ErrorKind,
) -> (ErrorKind, String) {
    let message = describe_chain(err);
    if is_credential_problem(&whole_chain(err)) {
        (ErrorKind::NoCredentials, credential_message(err, message))
    } else {
        (otherwise, message)
    }
}

/// The innermost useful description of an error chain, on one line.
/// Does an error that came before any response mean the credentials could not be had
/// (none at all, a missing or broken profile, an expired SSO login) rather than an
/// unreachable endpoint?
fn is_credential_problem(message: &str) -> bool {
    let m = message.to_lowercase();
    [
        "credential",
        "profile",
        "sso",
        "token has expired",
        "assume role",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// The distinct descriptions along an error chain, outermost first.
fn chain_parts(err: &(dyn std::error::Error + 'static)) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        if !s.is_empty() && !parts.contains(&s) {
            parts.push(s);
        }
        cur = e.source();
    }
    parts
}

/// Every description along an error chain, on one line (what the credential providers
/// said is in the outer errors; the innermost may only say "no TTL header").
fn whole_chain(err: &(dyn std::error::Error + 'static)) -> String {
    chain_parts(err).join(": ").replace('\n', " ")
}

/// A credential failure's message: when the instance metadata service answered but
/// gave none (a CI runner, a proxy, an instance without a role), say so.
fn credential_message(err: &(dyn std::error::Error + 'static), innermost: String) -> String {
    let chain = whole_chain(err).to_lowercase();
    if chain.contains("imds") || chain.contains("instance metadata") {
        format!("the instance metadata service answered without credentials: {innermost}")
    } else {
        innermost
    }
}

/// The innermost description along an error chain, on one line.
fn describe_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let innermost = chain_parts(err).pop().unwrap_or_default();
    innermost.replace('\n', " ")
}
