//! Safety gates read before a restore writes, reported as plan warnings:
//!
//! - a lifecycle rule that expires noncurrent versions inside the restore window (the
//!   versions a restore needs may already be gone, or go soon);
//! - Object Lock default retention on the destination (restored copies get locked);
//! - MFA Delete (the default restore still works: it never deletes a version).
//!
//! The refusals (no versioning, Suspended in place) are in the engine's `preflight`.
//! A gate that cannot be read (no permission for the configuration) is logged and
//! skipped rather than stopping the restore.

use crate::error::CliResult;
use crate::pipeline::Clients;
use crate::s3::{ErrorKind, S3Error};
use chrono::{DateTime, Utc};
use s3rewind_engine::{Location, Warning};

fn tolerate<T: Default>(what: &str, r: Result<T, S3Error>) -> CliResult<T> {
    match r {
        Ok(v) => Ok(v),
        Err(e)
            if matches!(
                e.kind,
                ErrorKind::AccessDenied | ErrorKind::NotImplemented | ErrorKind::Other
            ) =>
        {
            tracing::info!(error = %e, "{what} not checked");
            Ok(T::default())
        }
        Err(e) => Err(crate::error::from_s3(e, what)),
    }
}

/// Check the gates for a restore of `source` as of `at` into `dest_bucket` (`None` for a
/// directory).
pub async fn check(
    clients: &Clients,
    source: &Location,
    dest_bucket: Option<&str>,
    at: DateTime<Utc>,
) -> CliResult<Vec<Warning>> {
    let mut out = Vec::new();
    let window_days = (Utc::now() - at).num_days();
    let rules = tolerate(
        "lifecycle rules",
        clients
            .source_endpoint
            .config(&source.bucket)
            .noncurrent_expirations()
            .await,
    )?;
    for (rule, prefix, days) in rules {
        let overlaps = prefix.starts_with(&source.prefix) || source.prefix.starts_with(&prefix);
        if overlaps {
            out.push(Warning::NoncurrentExpiration {
                bucket: source.bucket.clone(),
                rule,
                prefix,
                days,
                window_days,
            });
        }
    }
    if let Some(bucket) = dest_bucket {
        let retention = tolerate(
            "object lock configuration",
            clients
                .dest_endpoint
                .config(bucket)
                .default_retention()
                .await,
        )?;
        if let Some((mode, days, years)) = retention {
            out.push(Warning::DefaultRetention {
                bucket: bucket.to_owned(),
                mode,
                days,
                years,
            });
        }
        if let Ok(v) = clients.dest_endpoint.bucket(bucket).versioning().await
            && v.mfa_delete
        {
            out.push(Warning::MfaDelete {
                bucket: bucket.to_owned(),
            });
        }
    }
    Ok(out)
}
