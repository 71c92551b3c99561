//! `history`: every version and delete marker of one key, with what each did to it and
//! which entries put an older version's bytes back.

use crate::{Anomaly, KeyHistory, Timeline, Version};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// One entry of a key's history, as `history --output json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// The version id (`null` for the null version).
    pub version_id: String,
    /// When it was written.
    pub last_modified: DateTime<Utc>,
    /// True for a delete marker.
    pub delete_marker: bool,
    /// The server said it is the key's current entry.
    pub is_latest: bool,
    /// What it did to the key: `create`, `overwrite`, `delete` or `delete_again`.
    pub change: &'static str,
    /// Size in bytes (0 for a delete marker).
    pub size: u64,
    /// ETag without quotes (absent for a delete marker).
    pub etag: Option<String>,
    /// Storage class (absent for a delete marker).
    pub storage_class: Option<String>,
    /// The writer's canonical id, when listed.
    pub owner_id: Option<String>,
    /// For a version that put back the bytes (ETag and size) of an older version than
    /// the one it replaced: that older version's id. What a restore (s3rewind's or
    /// another tool's) or a manual revert writes; not new content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restores: Option<String>,
}

/// The older version (than the one it replaced) whose ETag and size entry `i` repeats.
fn restores_of(entries: &[Version], i: usize) -> Option<String> {
    let v = &entries[i];
    if v.delete_marker || v.etag.is_empty() {
        return None;
    }
    if entries
        .get(i + 1)
        .is_some_and(|p| !p.delete_marker && p.etag == v.etag)
    {
        return None;
    }
    entries
        .iter()
        .skip(i + 2)
        .find(|o| !o.delete_marker && o.etag == v.etag && o.size == v.size)
        .map(|o| o.version_id.to_string())
}

/// The name and version of `history --output json`'s document ([`HistoryReport`]).
pub const HISTORY_SCHEMA: &str = "s3rewind.history/v1";

/// `history --output json`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryReport {
    /// Always [`HISTORY_SCHEMA`].
    pub schema: &'static str,
    /// The bucket.
    pub bucket: String,
    /// The key.
    pub key: String,
    /// Every version and delete marker, newest first (list order).
    pub entries: Vec<HistoryEntry>,
    /// What could not be ordered with certainty (same-second ties, timestamps out of
    /// list order).
    pub anomalies: Vec<Anomaly>,
}

impl HistoryReport {
    /// The history of `h`, a key of `timeline` in `bucket`, with the timeline's
    /// anomalies about it.
    pub fn of(bucket: &str, h: &KeyHistory, timeline: &Timeline) -> HistoryReport {
        let entries = h
            .entries
            .iter()
            .enumerate()
            .map(|(i, v)| HistoryEntry {
                version_id: v.version_id.to_string(),
                last_modified: v.last_modified,
                delete_marker: v.delete_marker,
                is_latest: v.is_latest,
                change: h.change(i).name(),
                size: v.size,
                etag: (!v.delete_marker).then(|| v.etag.to_string()),
                storage_class: v.storage_class.as_ref().map(|c| c.as_str().to_owned()),
                owner_id: v.owner_id.map(String::from),
                restores: restores_of(&h.entries, i),
            })
            .collect();
        HistoryReport {
            schema: HISTORY_SCHEMA,
            bucket: bucket.to_owned(),
            key: h.key.clone(),
            entries,
            anomalies: timeline
                .anomalies()
                .iter()
                .filter(|a| a.key() == h.key)
                .cloned()
                .collect(),
        }
    }
}
