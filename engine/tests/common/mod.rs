//! Shared proptest configuration: the same seed and case count on every run unless asked
//! otherwise, so that a red CI run can be replayed exactly.
//!
//! - `PROPTEST_RNG_SEED=N` runs with seed `N` instead of [`CI_SEED`];
//! - `PROPTEST_CASES=N` runs `N` cases of every property instead of its stated count.
//!
//! `scripts/proptest-deep` sets both (a random seed, printed, and many cases).

use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};

/// The seed CI and a plain `cargo test` use.
pub const CI_SEED: u64 = 0x5333_5245_5749_4e44; // "S3REWIND"

/// The configuration of a property: `default_cases` cases (or `PROPTEST_CASES`), seeded
/// with [`CI_SEED`] (or `PROPTEST_RNG_SEED`), failures saved next to the test file.
pub fn config(default_cases: u32) -> Config {
    let env = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    Config {
        cases: env("PROPTEST_CASES").map_or(default_cases, |n| n as u32),
        rng_seed: RngSeed::Fixed(env("PROPTEST_RNG_SEED").unwrap_or(CI_SEED)),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..Config::default()
    }
}
