//! Time scales from the history itself: how wide a burst bin is, how far apart two
//! changes may be and still be one run, how old an object must be to count towards a
//! wipe, and how much history makes a writer "new". See [`Scales`].

use super::{DetectOptions, Scales};
use crate::timeline::Timeline;

/// Upper bounds: the scales that suit histories of a week or more (the values the
/// options had before they were derived).
const MAX_BIN: i64 = 600;
const MAX_GAP: i64 = 3600;
const MAX_ESTABLISHED: i64 = 6 * 3600;
const MAX_NEW_WRITER: i64 = 24 * 3600;
/// Bins per history span: a history of a week gets 10-minute bins, one of a minute
/// 1-second bins (the resolution of S3 timestamps).
const BINS_PER_SPAN: i64 = 1000;
/// A run may pause for this many bins.
const GAP_BINS: i64 = 6;
/// Bin widths, seconds: the bin is the largest of these not above span / 1000.
const NICE: [i64; 10] = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600];

/// The 90th percentile of the pauses between consecutive distinct write seconds.
fn pause_p90(seconds: &[i64]) -> i64 {
    let mut pauses: Vec<i64> = seconds.windows(2).map(|w| w[1] - w[0]).collect();
    if pauses.is_empty() {
        return 0;
    }
    pauses.sort_unstable();
    pauses[(pauses.len() * 9 / 10).min(pauses.len() - 1)]
}

/// Resolve the options' time scales: the ones given are kept, the others derived from
/// the timeline (see [`Scales`]).
pub(crate) fn resolve(tl: &Timeline, opts: &DetectOptions) -> (DetectOptions, Scales) {
    let mut seconds: Vec<i64> = tl
        .keys()
        .iter()
        .flat_map(|h| h.entries.iter())
        .map(|v| v.last_modified.timestamp())
        .collect();
    seconds.sort_unstable();
    seconds.dedup();
    let span = match (seconds.first(), seconds.last()) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let p90 = pause_p90(&seconds);
    let target = (span / BINS_PER_SPAN).clamp(1, MAX_BIN);
    let bin = NICE
        .iter()
        .copied()
        .filter(|&n| n <= target)
        .max()
        .unwrap_or(1);
    let derived_bin = opts.bin_secs.unwrap_or(bin).max(1);
    let gap = GAP_BINS
        .saturating_mul(derived_bin)
        .max(p90)
        .clamp(2, MAX_GAP);
    let established = (span / 28).clamp(0, MAX_ESTABLISHED);
    // At least one bin, at most a day (a given bin wider than a day does not raise it).
    let new_writer = (span / 7).max(derived_bin).min(MAX_NEW_WRITER);
    let mut overridden = Vec::new();
    let mut pick = |given: Option<i64>, derived: i64, name: &str| match given {
        Some(v) => {
            overridden.push(name.to_owned());
            v
        }
        None => derived,
    };
    let scales = Scales {
        bin_secs: pick(opts.bin_secs, bin, "window").max(1),
        gap_secs: pick(opts.gap_secs, gap, "gap").max(0),
        established_secs: pick(opts.established_secs, established, "established").max(0),
        new_writer_after_secs: pick(opts.new_owner_history_secs, new_writer, "new_writer_after")
            .max(0),
        span_secs: span,
        pause_p90_secs: p90,
        overridden,
    };
    let resolved = DetectOptions {
        bin_secs: Some(scales.bin_secs),
        gap_secs: Some(scales.gap_secs),
        established_secs: Some(scales.established_secs),
        new_owner_history_secs: Some(scales.new_writer_after_secs),
        ..opts.clone()
    };
    (resolved, scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_bin_wider_than_a_day_is_kept_and_the_derived_ages_stay_bounded() {
        let tl = crate::timeline::Timeline::default();
        let opts = DetectOptions {
            bin_secs: Some(3 * 86_400),
            ..DetectOptions::default()
        };
        let (resolved, s) = resolve(&tl, &opts);
        assert_eq!(resolved.bin_secs, Some(3 * 86_400));
        assert_eq!(
            (s.gap_secs, s.new_writer_after_secs),
            (MAX_GAP, MAX_NEW_WRITER)
        );
        assert_eq!(s.overridden, ["window"]);
        let (_, s) = resolve(&tl, &DetectOptions::default());
        assert_eq!((s.bin_secs, s.gap_secs, s.established_secs), (1, 6, 0));
    }

    #[test]
    fn the_pause_percentile_ignores_the_longest_tenth() {
        let s: Vec<i64> = (0..=10).map(|i| i * 3).chain([1000]).collect();
        assert_eq!(pause_p90(&s), 3);
        assert_eq!(pause_p90(&[5]), 0);
    }
}
