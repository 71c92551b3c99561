//! Parsing the TIME argument.
//!
//! Accepted forms, tried in this order:
//!
//! | form | example | meaning |
//! |---|---|---|
//! | `now` | `now` | the current instant |
//! | `@SECONDS` | `@1795254060`, `@1795254060.250` | Unix time |
//! | a duration | `90m`, `2h`, `3d`, `1w`, `1h30m`, `45s`, `2h ago` | that long before now |
//! | RFC 3339 | `2026-11-21T09:41:00Z`, `2026-11-21 09:41:00+02:00` | that instant |
//! | a date-time without offset | `2026-11-21T09:41:00`, `2026-11-21 09:41`, `2026-11-21` | taken as **UTC** |
//!
//! Units: `s` seconds, `m` minutes, `h` hours, `d` days (24 h), `w` weeks. A time in the
//! future is an error. The resolved instant is what the state is computed at, inclusive:
//! everything written at or before it counts (see [`crate::state`]).

use crate::error::TimeError;
use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};

/// How a TIME argument was written, so the CLI can say how it resolved it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeForm {
    /// `now`.
    Now,
    /// RFC 3339 with an offset: unambiguous.
    Rfc3339,
    /// A date-time without an offset, taken as UTC.
    NaiveUtc,
    /// `@SECONDS`.
    Unix,
    /// A duration before now.
    Ago,
}

/// A parsed TIME.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolvedTime {
    /// The instant, UTC.
    pub instant: DateTime<Utc>,
    /// How it was written.
    pub form: TimeForm,
}

impl ResolvedTime {
    /// True when the user should be told the instant (it was not given as an RFC 3339
    /// instant with an explicit offset).
    pub fn needs_echo(&self) -> bool {
        self.form != TimeForm::Rfc3339
    }
}

/// Parse a TIME argument relative to `now`.
pub fn parse_time(input: &str, now: DateTime<Utc>) -> Result<ResolvedTime, TimeError> {
    let s = input.trim();
    let unrecognised = || TimeError::Unrecognised {
        input: input.to_owned(),
    };
    let out_of_range = || TimeError::OutOfRange {
        input: input.to_owned(),
    };
    let resolved = if s.eq_ignore_ascii_case("now") {
        ResolvedTime {
            instant: now,
            form: TimeForm::Now,
        }
    } else if let Some(rest) = s.strip_prefix('@') {
        ResolvedTime {
            instant: parse_unix(rest).ok_or_else(unrecognised)??,
            form: TimeForm::Unix,
        }
    } else if let Some(d) = parse_duration(s) {
        let d = d.ok_or_else(out_of_range)?;
        ResolvedTime {
            instant: now.checked_sub_signed(d).ok_or_else(out_of_range)?,
            form: TimeForm::Ago,
        }
    } else if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        ResolvedTime {
            instant: t.with_timezone(&Utc),
            form: TimeForm::Rfc3339,
        }
    } else if let Some(t) = parse_naive(s) {
        ResolvedTime {
            instant: t.and_utc(),
            form: TimeForm::NaiveUtc,
        }
    } else {
        return Err(unrecognised());
    };
    if resolved.instant > now {
        return Err(TimeError::InFuture {
            input: input.to_owned(),
            resolved: resolved
                .instant
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
        });
    }
    Ok(resolved)
}

/// `SECONDS[.FRACTION]` → instant; `None` when not numeric, `Some(Err)` when out of range.
fn parse_unix(s: &str) -> Option<Result<DateTime<Utc>, TimeError>> {
    let (whole, frac) = s.split_once('.').unwrap_or((s, ""));
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    let negative = whole.starts_with('-');
    let abs = whole.trim_start_matches('-');
    if !digits(abs) || !(frac.is_empty() || digits(frac)) || frac.len() > 9 {
        return None;
    }
    let range = || TimeError::OutOfRange {
        input: format!("@{s}"),
    };
    let Ok(secs) = abs.parse::<i64>() else {
        return Some(Err(range()));
    };
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().expect("nine digits")
    };
    // `-1.5` is one and a half seconds before the epoch: the fraction goes the same way.
    let t = if negative {
        DateTime::from_timestamp(-secs, 0)
            .and_then(|t| t.checked_sub_signed(TimeDelta::nanoseconds(i64::from(nanos))))
    } else {
        DateTime::from_timestamp(secs, nanos)
    };
    Some(t.ok_or_else(range))
}

/// `90m`, `1h30m`, `3d`, `2h ago` → duration; `None` when not a duration, `Some(None)`
/// when it overflows. The units are humantime's (see [`parse_duration_text`]).
fn parse_duration(s: &str) -> Option<Option<TimeDelta>> {
    let s = s.strip_suffix("ago").map_or(s, str::trim_end);
    if s.is_empty() || !s.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    match humantime::parse_duration(s) {
        Ok(d) => Some(TimeDelta::from_std(d).ok()),
        Err(humantime::DurationError::NumberOverflow) => Some(None),
        Err(_) => None,
    }
}

/// The one duration syntax of every option (TIME's "ago" form, `--gap`, `--window`, …),
/// by the `humantime` crate: a number and a unit, repeated (`90m`, `1h30m`, `1h 30m`,
/// `2hrs`, `3days`, `1w`); units `s`/`sec`/`seconds`, `m`/`min`/`minutes`, `h`/`hr`/`hrs`/
/// `hours`, `d`/`days`, `w`/`weeks`, `M`/`months`, `y`/`years` (and `ms`, `us`, `ns`).
/// `0` alone is zero.
pub fn parse_duration_text(input: &str) -> Result<std::time::Duration, String> {
    let s = input.trim();
    if s == "0" {
        return Ok(std::time::Duration::ZERO);
    }
    humantime::parse_duration(s).map_err(|e| {
        format!(
            "invalid DURATION {input:?} ({e}): a number and a unit, e.g. 30s, 10m, 1h30m, 6h, 2d, 1w"
        )
    })
}

fn parse_naive(s: &str) -> Option<NaiveDateTime> {
    const FORMATS: [&str; 4] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
    ];
    FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
        .or_else(|| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap()
    }
    fn p(s: &str) -> Result<ResolvedTime, TimeError> {
        parse_time(s, now())
    }

    #[test]
    fn every_form() {
        let at = |h, m, s| Utc.with_ymd_and_hms(2026, 11, 21, h, m, s).unwrap();
        assert_eq!(p("2026-11-21T09:41:00Z").unwrap().instant, at(9, 41, 0));
        assert_eq!(
            p("2026-11-21T11:41:00+02:00").unwrap().instant,
            at(9, 41, 0)
        );
        assert_eq!(p("2026-11-21 09:41:00z").unwrap().form, TimeForm::Rfc3339);
        let naive = p("2026-11-21T09:41:00").unwrap();
        assert_eq!(
            (naive.instant, naive.form),
            (at(9, 41, 0), TimeForm::NaiveUtc)
        );
        assert_eq!(p("2026-11-21 09:41").unwrap().instant, at(9, 41, 0));
        assert_eq!(p("2026-11-21").unwrap().instant, at(0, 0, 0));
        assert_eq!(
            p("2026-11-21T09:41:00.5")
                .unwrap()
                .instant
                .timestamp_subsec_millis(),
            500
        );
        assert_eq!(p("@0").unwrap().instant.timestamp(), 0);
        assert_eq!(p("@1.25").unwrap().instant.timestamp_subsec_millis(), 250);
        assert_eq!(p("@-1.5").unwrap().instant.timestamp_millis(), -1500);
        assert_eq!(p("90m").unwrap().instant, at(10, 30, 0));
        assert_eq!(p("2h").unwrap().instant, at(10, 0, 0));
        assert_eq!(p("1h30m").unwrap().instant, at(10, 30, 0));
        assert_eq!(p("3d").unwrap().instant, now() - TimeDelta::days(3));
        assert_eq!(p("1w").unwrap().instant, now() - TimeDelta::days(7));
        assert_eq!(p("2h ago").unwrap().instant, at(10, 0, 0));
        assert_eq!(p(" now ").unwrap().instant, now());
    }

    #[test]
    fn bad_input_is_a_clear_error() {
        for bad in [
            "",
            "yesterday",
            "12/11/2026",
            "90",
            "5x",
            "@",
            "@abc",
            "2026-13-01",
            "h2",
        ] {
            let e = p(bad).unwrap_err();
            assert!(matches!(e, TimeError::Unrecognised { .. }), "{bad}: {e}");
            assert!(e.to_string().contains("RFC 3339"));
        }
        assert!(matches!(
            p("2027-01-01T00:00:00Z"),
            Err(TimeError::InFuture { .. })
        ));
        assert!(matches!(
            p("99999999999999999999d"),
            Err(TimeError::OutOfRange { .. })
        ));
        assert!(matches!(
            p("@99999999999999999"),
            Err(TimeError::OutOfRange { .. })
        ));
    }

    #[test]
    fn one_duration_syntax_for_time_and_options() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        for (text, secs) in [
            ("2hrs", 7200),
            ("90min", 5400),
            ("1h 30m", 5400),
            ("3days", 259_200),
            ("1w", 604_800),
        ] {
            let d = parse_duration_text(text).unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
            let t = parse_time(text, now).unwrap();
            assert_eq!((now - t.instant).num_seconds(), secs as i64, "{text}");
        }
        assert_eq!(parse_duration_text("0").unwrap().as_secs(), 0);
        assert!(parse_duration_text("2 parsecs").is_err());
        assert!(parse_duration_text("h2").is_err());
    }

    proptest::proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        #[test]
        fn time_ago_and_duration_options_agree(n in 0u64..100_000, unit in proptest::sample::select(vec!["s", "m", "h", "d", "w", "min", "hrs", "days"])) {
            let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap();
            let text = format!("{n}{unit}");
            let d = parse_duration_text(&text).unwrap();
            let t = parse_time(&format!("{text} ago"), now).unwrap();
            proptest::prop_assert_eq!((now - t.instant).num_seconds(), d.as_secs() as i64);
        }
    }
}
