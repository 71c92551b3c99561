#![no_main]
//! See `s3rewind_fuzz::check_index_file` for the property.

use libfuzzer_sys::fuzz_target;
use s3rewind_fuzz::{IndexFileInput, check_index_file};

fuzz_target!(|input: IndexFileInput| check_index_file(&input));
