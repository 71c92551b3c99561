//! `history`, `diff` and `timeline`: exploring a bucket's history.

use crate::App;
use crate::args::{DiffArgs, HistoryArgs, TimelineArgs};
use crate::error::{CliError, CliResult, Exit};

/// `s3rewind history`.
pub async fn history_cmd(_app: &App, _args: &HistoryArgs) -> CliResult<Exit> {
    Err(CliError::failure("history is not implemented yet"))
}

/// `s3rewind diff`.
pub async fn diff_cmd(_app: &App, _args: &DiffArgs) -> CliResult<Exit> {
    Err(CliError::failure("diff is not implemented yet"))
}

/// `s3rewind timeline`.
pub async fn timeline_cmd(_app: &App, _args: &TimelineArgs) -> CliResult<Exit> {
    Err(CliError::failure("timeline is not implemented yet"))
}
