#![no_main]
//! See `s3rewind_fuzz::check_timeline_pages` for the property.

use libfuzzer_sys::fuzz_target;
use s3rewind_fuzz::{TimelinePagesInput, check_timeline_pages};

fuzz_target!(|input: TimelinePagesInput| check_timeline_pages(&input));
