//! What a sampled scan rules out, and with which probability (see [`Guarantee`]).
//!
//! The uniform share of the sampling budget reads, in every stratum (a time bin and one
//! writer), a prefix of the stratum's versions in a fixed pseudo-random order: every
//! version written in the window had at least the chance `rate` of being read (the
//! smallest share read in any stratum). Take an incident that damaged `d` objects within
//! one window of the gap. Whether each of them was read is an indicator with
//! probability at least `rate`; sampling without replacement within a stratum makes
//! these indicators negatively associated (independent across strata), so Chernoff's
//! bound for the lower tail of a sum of independent ones holds for them:
//!
//! P(fewer than `m` of the `d` read) ≤ exp(−d · KL((m−1)/d ‖ rate)) for (m−1)/d < rate,
//!
//! `KL(a ‖ r) = a ln(a/r) + (1−a) ln((1−a)/(1−r))`; for `m = 1` this is `(1 − rate)^d`.
//! `m` damaged samples within one gap are one content run, which is an incident on its
//! own ([`min_content_keys`](super::DetectOptions::min_content_keys) of them weigh 0.6
//! or 0.75, above the default `min_score`), so an incident of `d` damaged objects is
//! missed with at most that probability. [`fewest_ruled_out`] inverts the bound.
//!
//! Assumptions: the fixed pseudo-random order within a stratum stands for a random one;
//! the uniform reads counted are those actually made, first round and top-ups alike.
//! When no sample looked damaged the top-ups were fixed before the first read; when some
//! did, reads around them took part of the reserve, and the rate is what was read.

use super::analysis::{Ms, to_time};
use super::signals::fmt_duration;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a scan rules out: an incident that damaged at least
/// [`min_damaged`](Self::min_damaged) objects within any window of
/// [`window_secs`](Self::window_secs) would have been found with probability at least
/// [`confidence`](Self::confidence). Derived from the reads of a [`Sampler`]'s uniform
/// share: with `rate` the smallest share of any stratum read and `m` =
/// [`min_content_keys`](super::DetectOptions::min_content_keys), an incident of `d`
/// damaged objects within one window is missed with probability at most
/// `exp(−d · KL((m−1)/d ‖ rate))` (Chernoff's bound, which holds for draws without
/// replacement within strata); `min_damaged` is the smallest `d` at which that is at most
/// `1 − confidence` (docs/src/reference/scan.md, "How sampling is planned, and what a scan rules out").
///
/// [`Sampler`]: super::Sampler
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Guarantee {
    /// The probability the statement holds with (`1 − δ`).
    pub confidence: f64,
    /// Damage within a window this long forms one incident (the gap), seconds.
    pub window_secs: i64,
    /// The fewest damaged objects within one window that the scan would have found with
    /// that probability; `None` when it rules out nothing by content (no content read,
    /// a stratum left unread, or `min_score` above what content alone scores).
    pub min_damaged: Option<u64>,
    /// The smallest share of the versions of any stratum read uniformly: every version
    /// written had at least this chance of being read.
    pub read_rate: f64,
    /// Versions read by the uniform share (with the version each is compared with when
    /// its key's extension does not say what its bytes should be).
    pub uniform_reads: usize,
    /// Strata: time bins times writers, non-empty ones.
    pub strata: usize,
    /// Width of a stratum's time bin, seconds.
    pub stratum_secs: i64,
    /// The newest versions written were all read, back to one written at this instant
    /// (the newest share).
    pub newest_since: Option<DateTime<Utc>>,
    /// How many of the newest versions were all read.
    pub newest_read: usize,
    /// The statement in words.
    pub statement: String,
}

/// Upper bound on the probability that fewer than `m` of `d` damaged objects are read,
/// each read with probability at least `rate` (negatively associated): Chernoff's bound
/// `exp(−d · KL((m−1)/d ‖ rate))`, 1 when `(m−1)/d ≥ rate`.
pub(crate) fn miss_bound(d: u64, m: u64, rate: f64) -> f64 {
    let m = m.max(1);
    if d < m || rate <= 0.0 {
        return 1.0;
    }
    if rate >= 1.0 {
        return 0.0;
    }
    let a = (m - 1) as f64 / d as f64;
    if a >= rate {
        return 1.0;
    }
    let first = if a > 0.0 { a * (a / rate).ln() } else { 0.0 };
    let kl = first + (1.0 - a) * ((1.0 - a) / (1.0 - rate)).ln();
    (-(d as f64) * kl).exp().min(1.0)
}

/// The fewest damaged objects an incident must have for `m` of them to be read with
/// probability at least `1 − delta` (the smallest `d` with [`miss_bound`] ≤ `delta`);
/// `None` when no number is enough (nothing read).
pub(crate) fn fewest_ruled_out(m: u64, rate: f64, delta: f64) -> Option<u64> {
    let m = m.max(1);
    if rate <= 0.0 {
        return None;
    }
    if rate >= 1.0 {
        return Some(m);
    }
    let delta = delta.clamp(1e-12, 1.0);
    let mut hi = m;
    while miss_bound(hi, m, rate) > delta {
        hi = hi.checked_mul(2)?;
        if hi > 1 << 50 {
            return None;
        }
    }
    let mut lo = m; // miss_bound(lo - 1) > delta or lo == m
    if miss_bound(lo, m, rate) <= delta {
        return Some(lo);
    }
    // miss_bound(lo) > delta >= miss_bound(hi): the bound falls as d grows.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if miss_bound(mid, m, rate) <= delta {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// The smallest read rate at which an incident of `d` damaged objects is found with
/// probability at least `1 − delta` (1 when only reading everything does; `None` when
/// `d < m`: too few to be an incident).
pub(crate) fn rate_needed(d: u64, m: u64, delta: f64) -> Option<f64> {
    let m = m.max(1);
    if d < m {
        return None;
    }
    let (mut lo, mut hi) = (0.0f64, 1.0f64);
    if miss_bound(d, m, 1.0 - 1e-9) > delta {
        return Some(1.0);
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if miss_bound(d, m, mid) <= delta {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

/// A probability as a percentage without trailing zeros (`95%`, `99.9%`).
pub(crate) fn percent(p: f64) -> String {
    let s = format!("{:.2}", p * 100.0);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    format!("{s}%")
}

/// The inputs of a statement.
pub(crate) struct Terms {
    pub confidence: f64,
    pub window: Ms,
    pub min_damaged: Option<u64>,
    pub rate: f64,
    pub uniform_reads: usize,
    pub versions_written: usize,
    pub strata: usize,
    pub stratum: Ms,
    pub newest: Option<(Ms, usize)>,
    pub deep: bool,
    /// Content alone cannot reach `min_score`.
    pub content_too_weak: bool,
    /// The most distinct keys written within any window of the gap.
    pub busiest_window: usize,
}

impl Terms {
    pub(crate) fn into_guarantee(self) -> Guarantee {
        let w = fmt_duration(self.window.max(1000));
        let metadata = "Deletes and truncation are judged from metadata on every entry.";
        let newest = match self.newest {
            Some((t, n)) if !self.deep => format!(
                "; the {n} newest versions written (back to {}) were all read",
                to_time(t).format("%Y-%m-%dT%H:%M:%SZ")
            ),
            _ => String::new(),
        };
        let statement = if self.versions_written == 0 {
            format!("No version was written in the window. {metadata}")
        } else if self.content_too_weak {
            format!(
                "Content evidence alone scores below --min-score, so no number of damaged objects is ruled out by sampling{newest}. {metadata}"
            )
        } else if self.uniform_reads == 0 && !self.deep {
            format!(
                "No content was read uniformly: damage that keeps sizes ordinary can go unseen{newest}. {metadata}"
            )
        } else {
            match self.min_damaged {
                Some(d) if self.deep => format!(
                    "Every version written in the window was read: an incident that damaged at least {d} objects within any window of {w} would have been found. {metadata}"
                ),
                Some(d) => {
                    let note = if d as usize > self.busiest_window {
                        format!(
                            " (no window of {w} here saw that many keys written: read more with --sample or --min-damage)"
                        )
                    } else {
                        String::new()
                    };
                    format!(
                        "An incident that damaged at least {d} objects within any window of {w} (for example 10% of the versions written in such a window holding at least {}) would have been found with probability at least {}{note}: {} uniform reads of the {} versions written, at least {} of each writer's versions in every {} bin{newest}. {metadata}",
                        d.saturating_mul(10),
                        percent(self.confidence),
                        self.uniform_reads,
                        self.versions_written,
                        percent(self.rate),
                        fmt_duration(self.stratum.max(1000)),
                    )
                }
                None => format!(
                    "Too few reads to rule out an incident by content: some time bins or writers got no uniform read (raise --sample){newest}. {metadata}"
                ),
            }
        };
        Guarantee {
            confidence: self.confidence,
            window_secs: self.window / 1000,
            min_damaged: if self.content_too_weak {
                None
            } else {
                self.min_damaged
            },
            read_rate: (self.rate * 1e6).round() / 1e6,
            uniform_reads: self.uniform_reads,
            strata: self.strata,
            stratum_secs: self.stratum / 1000,
            newest_since: self.newest.map(|(t, _)| to_time(t)),
            newest_read: self.newest.map_or(0, |(_, n)| n),
            statement,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_needed_read_is_the_hypergeometric_bound() {
        // (1 - rate)^d, the probability that a binomial sample misses all d.
        assert!((miss_bound(10, 1, 0.2) - 0.8f64.powi(10)).abs() < 1e-12);
        assert_eq!(miss_bound(2, 3, 0.5), 1.0, "fewer damaged than needed");
        assert_eq!(miss_bound(10, 3, 0.0), 1.0);
        assert_eq!(miss_bound(10, 3, 1.0), 0.0);
        assert_eq!(fewest_ruled_out(1, 0.2, 0.05), Some(14)); // 0.8^14 = 0.044, 0.8^13 = 0.055
        assert_eq!(fewest_ruled_out(3, 1.0, 0.05), Some(3));
        assert_eq!(fewest_ruled_out(3, 0.0, 0.05), None);
    }

    #[test]
    fn the_chernoff_bound_is_above_the_exact_binomial_tail() {
        // P(Bin(d, r) < m), computed exactly, never exceeds the bound.
        for &(d, m, r) in &[
            (60u64, 3u64, 0.1f64),
            (30, 3, 0.2),
            (200, 3, 0.03),
            (12, 2, 0.5),
        ] {
            let mut exact = 0.0;
            let mut c = 1.0f64; // C(d, k)
            for k in 0..m {
                if k > 0 {
                    c = c * (d - k + 1) as f64 / k as f64;
                }
                exact += c * r.powi(k as i32) * (1.0 - r).powi((d - k) as i32);
            }
            let bound = miss_bound(d, m, r);
            assert!(
                exact <= bound + 1e-12,
                "d={d} m={m} r={r}: {exact} > {bound}"
            );
            assert!(bound < 1.0);
        }
    }

    #[test]
    fn inverses_agree_with_the_bound() {
        for &rate in &[0.01, 0.05, 0.126, 0.5] {
            let d = fewest_ruled_out(3, rate, 0.05).unwrap();
            assert!(miss_bound(d, 3, rate) <= 0.05);
            assert!(
                d == 3 || miss_bound(d - 1, 3, rate) > 0.05,
                "rate {rate}: {d}"
            );
            let r = rate_needed(d, 3, 0.05).unwrap();
            assert!(r <= rate + 1e-9 && miss_bound(d, 3, r) <= 0.05 + 1e-9);
        }
        assert_eq!(rate_needed(2, 3, 0.05), None);
        assert_eq!(percent(0.95), "95%");
        assert_eq!(percent(0.999), "99.9%");
        assert_eq!(percent(0.1234), "12.34%");
    }
}
