//! `scan`: find suspected incidents; and the detection behind `--before-corruption` and
//! `--per-key`.

use crate::App;
use crate::args::{DetectArgs, ScanArgs};
use crate::error::{CliError, CliResult, Exit};
use crate::output::Printer;
use crate::s3::S3;
use s3rewind_engine::detect::ScanReport;
use s3rewind_engine::{Location, Timeline};

/// Run detection over a listed timeline (sampling content when asked).
pub async fn detect(
    _s3: &S3,
    _printer: &Printer,
    _source: &Location,
    _timeline: &Timeline,
    _args: &DetectArgs,
) -> CliResult<ScanReport> {
    Err(CliError::failure("detection is not implemented yet"))
}

/// `s3rewind scan`.
pub async fn scan_cmd(_app: &App, _args: &ScanArgs) -> CliResult<Exit> {
    Err(CliError::failure("scan is not implemented yet"))
}
