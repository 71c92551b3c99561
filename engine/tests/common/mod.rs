//! Shared proptest configuration: the workspace's one configuration
//! ([`s3rewind_testkit::proptest_config`]): the same seed and case count on every run
//! unless asked otherwise, so that a red CI run can be replayed exactly.
//!
//! - `PROPTEST_RNG_SEED=N` runs with seed `N` instead of [`s3rewind_testkit::CI_SEED`];
//! - `PROPTEST_CASES=N` runs `N` cases of every property instead of its stated count.
//!
//! `scripts/proptest-deep` sets both (a random seed, printed, and many cases).

use proptest::test_runner::Config;

/// The configuration of a property: `default_cases` cases (or `PROPTEST_CASES`), seeded
/// with the CI seed (or `PROPTEST_RNG_SEED`), failures saved next to the test file.
pub fn config(default_cases: u32) -> Config {
    s3rewind_testkit::proptest_config(default_cases)
}
