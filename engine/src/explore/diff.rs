//! `diff`: the keys added, changed and deleted between the states at two instants,
//! classified by the engine's one comparison of two states ([`crate::pairs`]).

use crate::{Destination, Location, Timeline, Version};
use chrono::{DateTime, Utc};
use serde::Serialize;

// ---------------------------------------------------------------------------------------
// diff

/// A key's version on one side of a diff.
#[derive(Debug, Clone, Serialize)]
pub struct DiffSide {
    /// The version id.
    pub version_id: String,
    /// When it was written.
    pub last_modified: DateTime<Utc>,
    /// Its size.
    pub size: u64,
    /// Its ETag.
    pub etag: String,
}

impl DiffSide {
    fn of(v: &Version) -> Self {
        DiffSide {
            version_id: v.version_id.to_string(),
            last_modified: v.last_modified,
            size: v.size,
            etag: v.etag.to_string(),
        }
    }
}

/// A key present at both times with different versions.
#[derive(Debug, Clone, Serialize)]
pub struct Changed {
    /// The key.
    pub key: String,
    /// Its version at `from`.
    pub from: DiffSide,
    /// Its version at `to`.
    pub to: DiffSide,
}

/// A key present at only one of the times.
#[derive(Debug, Clone, Serialize)]
pub struct OneSide {
    /// The key.
    pub key: String,
    /// Its version (at `to` for an added key, at `from` for a deleted one).
    #[serde(flatten)]
    pub version: DiffSide,
}

/// Counts of a diff.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffSummary {
    /// Keys absent at `from` and present at `to`.
    pub added: usize,
    /// Keys present at both with different versions.
    pub changed: usize,
    /// Keys present at `from` and absent at `to`.
    pub deleted: usize,
    /// Keys with the same version at both.
    pub unchanged: usize,
}

/// The name and version of `diff --output json`'s document ([`DiffReport`]).
pub const DIFF_SCHEMA: &str = "s3rewind.diff/v1";

/// `diff --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    /// Always [`DIFF_SCHEMA`].
    pub schema: &'static str,
    /// What was compared.
    pub source: Location,
    /// The earlier instant.
    pub from: DateTime<Utc>,
    /// The later instant.
    pub to: DateTime<Utc>,
    /// Counts.
    pub summary: DiffSummary,
    /// Keys added between the two times.
    pub added: Vec<OneSide>,
    /// Keys whose version changed.
    pub changed: Vec<Changed>,
    /// Keys deleted between the two times.
    pub deleted: Vec<OneSide>,
    /// Keys whose state at either time depends on a same-second tie between a version
    /// and a delete marker (see `history`).
    pub ambiguous: Vec<String>,
}

/// Compare the states of a timeline at two instants.
pub fn diff_states(
    source: &Location,
    timeline: &Timeline,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> DiffReport {
    let a = timeline.state_at(from);
    let b = timeline.state_at(to);
    let mut r = DiffReport {
        schema: DIFF_SCHEMA,
        source: source.clone(),
        from,
        to,
        summary: DiffSummary::default(),
        added: Vec::new(),
        changed: Vec::new(),
        deleted: Vec::new(),
        ambiguous: Vec::new(),
    };
    // The engine's one comparison of two states: the state at `to` as the target, the
    // state at `from` as what is there, in place.
    let whole = Destination::InPlace;
    for pair in crate::pairs::pairs("", &whole, &b, &a) {
        let key = pair.key.as_str();
        let sides = (
            pair.current.map(|e| &e.version),
            pair.target.map(|e| &e.version),
        );
        match sides {
            (None, Some(v)) => r.added.push(OneSide {
                key: key.to_owned(),
                version: DiffSide::of(v),
            }),
            (Some(v), None) => r.deleted.push(OneSide {
                key: key.to_owned(),
                version: DiffSide::of(v),
            }),
            (Some(x), Some(y)) if x.version_id != y.version_id => r.changed.push(Changed {
                key: key.to_owned(),
                from: DiffSide::of(x),
                to: DiffSide::of(y),
            }),
            (Some(_), Some(_)) => r.summary.unchanged += 1,
            (None, None) => {}
        }
    }
    let mut ambiguous: Vec<String> = a.ambiguous.iter().chain(&b.ambiguous).cloned().collect();
    ambiguous.sort();
    ambiguous.dedup();
    r.ambiguous = ambiguous;
    r.summary.added = r.added.len();
    r.summary.changed = r.changed.len();
    r.summary.deleted = r.deleted.len();
    r
}
