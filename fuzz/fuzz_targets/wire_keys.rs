#![no_main]
//! See `s3rewind_fuzz::check_wire_keys` for the property.

use libfuzzer_sys::fuzz_target;
use s3rewind_fuzz::{WireKeysInput, check_wire_keys};

fuzz_target!(|input: WireKeysInput| check_wire_keys(&input));
