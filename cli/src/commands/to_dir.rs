//! `--to-dir`: write the state at T into a local directory.

use crate::error::{CliError, CliResult};
use crate::execute::{ExecConfig, ExecReport};
use crate::output::Printer;
use crate::s3::S3;
use s3rewind_engine::RestorePlan;
use std::path::Path;

/// Execute a plan whose destination is a directory.
pub async fn execute(
    _s3: &S3,
    _plan: &RestorePlan,
    _config: &ExecConfig,
    _journal: &Path,
    _printer: &Printer,
) -> CliResult<ExecReport> {
    Err(CliError::failure("--to-dir is not implemented yet"))
}
