#![no_main]
//! See `s3rewind_fuzz::check_raw_pages` for the property.

use libfuzzer_sys::fuzz_target;
use s3rewind_fuzz::{RawPagesInput, check_raw_pages};

fuzz_target!(|input: RawPagesInput| check_raw_pages(&input));
