//! `verify`: check that the current state equals the state at TIME.

use crate::App;
use crate::args::VerifyArgs;
use crate::error::{CliError, CliResult, Exit};

/// `s3rewind verify`.
pub async fn verify_cmd(_app: &App, _args: &VerifyArgs) -> CliResult<Exit> {
    Err(CliError::failure("verify is not implemented yet"))
}
