//! `undelete`: bring back keys whose current version is a delete marker.

use crate::App;
use crate::args::UndeleteArgs;
use crate::error::{CliError, CliResult, Exit};

/// `s3rewind undelete`.
pub async fn undelete_cmd(_app: &App, _args: &UndeleteArgs) -> CliResult<Exit> {
    Err(CliError::failure("undelete is not implemented yet"))
}
