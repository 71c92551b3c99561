#![no_main]
//! See `s3rewind_fuzz::check_plan_apply` for the property.

use libfuzzer_sys::fuzz_target;
use s3rewind_fuzz::{PlanApplyInput, check_plan_apply};

fuzz_target!(|input: PlanApplyInput| check_plan_apply(&input));
