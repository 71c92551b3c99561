//! Test and evaluation data for s3rewind, shared by the engine's tests and examples, the
//! CLI's in-memory tests and the benches: the detector's scenario histories
//! ([`scenarios`]), busy buckets with a lazy in-memory content store ([`busy`]),
//! inventory reports written as S3 delivers them ([`inventory`]) and one seeded PRNG
//! ([`Prng`]). Not published; nothing in a release build depends on it.

pub mod busy;
pub mod inventory;
pub mod scenarios;

/// The seed every property runs with in CI and under a plain `cargo test`.
pub const CI_SEED: u64 = 0x5333_5245_5749_4e44; // "S3REWIND"

/// The configuration of every property test in the workspace: `default_cases` cases (or
/// `PROPTEST_CASES`), seeded with [`CI_SEED`] (or `PROPTEST_RNG_SEED`), so a red run
/// replays exactly; failures are saved next to the test's source.
/// `scripts/proptest-deep` sets both variables (a random seed, printed, many cases).
pub fn proptest_config(default_cases: u32) -> proptest::test_runner::Config {
    use proptest::test_runner::{Config, FileFailurePersistence, RngSeed};
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

/// The seeded generator, from the engine (its simulator and fault injection use it too).
pub use s3rewind_engine::prng::Prng;
