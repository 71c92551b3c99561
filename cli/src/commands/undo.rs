//! `undo`: put back the versions a restore replaced.

use crate::App;
use crate::args::UndoArgs;
use crate::error::{CliError, CliResult, Exit};

/// `s3rewind undo`.
pub async fn undo_cmd(_app: &App, _args: &UndoArgs) -> CliResult<Exit> {
    Err(CliError::failure("undo is not implemented yet"))
}
