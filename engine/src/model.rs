//! Plain data: what one `ListObjectVersions` entry says, and one page of them.
//!
//! These types are what the S3 adapter in the CLI (or the simulator in [`crate::sim`])
//! produces and what the [`crate::timeline`] consumes. They hold the key exactly as S3
//! returned it after URL-decoding: keys are never normalised (no Unicode normalisation,
//! no case folding, no trimming), because two byte-different keys are two objects.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

pub use crate::compact::{ETag, NULL_VERSION, OwnerId, StorageClass, VersionId};

/// One entry of a key's history: an object version or a delete marker.
///
/// This is the form a listing page carries (the key included). Inside a
/// [`Timeline`](crate::Timeline) the key is stored once per key and entries are
/// [`Version`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Entry {
    /// The object key, URL-decoded, never normalised.
    pub key: String,
    /// The version id; [`NULL_VERSION`] for the `null` version.
    #[serde(flatten)]
    pub version: Version,
}

/// What is known of one version or delete marker, without its key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Version {
    /// The version id; [`NULL_VERSION`] for the `null` version.
    pub version_id: VersionId,
    /// When the version was stored (UTC; S3 gives a millisecond field, usually `.000`).
    #[cfg_attr(feature = "arbitrary", arbitrary(with = arbitrary_time))]
    pub last_modified: DateTime<Utc>,
    /// True for a delete marker.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    /// The entity tag, with its quotes stripped. Empty for delete markers.
    #[serde(default, skip_serializing_if = "ETag::is_empty")]
    pub etag: ETag,
    /// Size in bytes (0 for delete markers).
    #[serde(default)]
    pub size: u64,
    /// Storage class, when the listing gave one (delete markers have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<StorageClass>,
    /// The canonical user id of the writer, when the listing gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<OwnerId>,
    /// What the server said about this entry being the newest of its key *at list time*.
    /// Used only to break timestamp ties; it says nothing about any other time.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_latest: bool,
}

impl Entry {
    /// An entry as a listing gives it, without storage class, owner or `IsLatest`.
    pub fn new(
        key: &str,
        version_id: &str,
        last_modified: DateTime<Utc>,
        delete_marker: bool,
        etag: &str,
        size: u64,
    ) -> Entry {
        Entry {
            key: key.into(),
            version: Version {
                version_id: version_id.into(),
                last_modified,
                delete_marker,
                etag: etag.into(),
                size,
                storage_class: None,
                owner_id: None,
                is_latest: false,
            },
        }
    }
}

impl Version {
    /// True when this is the literal `null` version id.
    pub fn is_null(&self) -> bool {
        self.version_id.is_null()
    }
}

/// One page of a `ListObjectVersions` response, as the SDK gives it: object versions and
/// delete markers in two separate lists, each in server list order (key ascending, then
/// newest first).
///
/// The interleaving of the two lists is lost by the SDK; the [`TimelineBuilder`](crate::TimelineBuilder)
/// restores it by timestamp (see its docs for the tie rule).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ListPage {
    /// Object versions (every entry has `delete_marker == false`).
    pub versions: Vec<Entry>,
    /// Delete markers (every entry has `delete_marker == true`).
    pub delete_markers: Vec<Entry>,
}

impl ListPage {
    /// Entries in list order split into SDK-shaped pages of at most `page_size` entries
    /// (versions and delete markers in two lists, as the SDK gives them).
    pub fn split(list_order: &[Entry], page_size: usize) -> Vec<ListPage> {
        list_order
            .chunks(page_size.max(1))
            .map(|chunk| {
                let (delete_markers, versions) =
                    chunk.iter().cloned().partition(|e| e.version.delete_marker);
                ListPage {
                    versions,
                    delete_markers,
                }
            })
            .collect()
    }

    /// Number of entries on the page.
    pub fn len(&self) -> usize {
        self.versions.len() + self.delete_markers.len()
    }

    /// True when the page holds no entry (a server may send such pages).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(feature = "arbitrary")]
fn arbitrary_time(u: &mut arbitrary::Unstructured<'_>) -> arbitrary::Result<DateTime<Utc>> {
    // A small window of whole seconds so that fuzzed histories have many ties.
    let secs: u16 = u.arbitrary()?;
    Ok(DateTime::from_timestamp(1_700_000_000 + i64::from(secs % 600), 0).expect("in range"))
}

/// A bucket's versioning state, as `GetBucketVersioning` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Versioning {
    /// Versioning was never enabled (GetBucketVersioning has no Status).
    Unversioned,
    /// Every write adds a version; deletes add delete markers.
    Enabled,
    /// Writes replace the `null` version in place; deletes add a `null` delete marker.
    Suspended,
}

impl fmt::Display for Versioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Versioning::Unversioned => "never enabled",
            Versioning::Enabled => "Enabled",
            Versioning::Suspended => "Suspended",
        })
    }
}
