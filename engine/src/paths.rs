//! Keys as local paths: which keys can be written as files under a directory, and where.
//!
//! `restore --to-dir DIR` writes each key below the source prefix as the file
//! `DIR/<relative key>`. An S3 key is any UTF-8 string, so not every key is a path: this
//! module decides, without touching the filesystem, which keys are, and says exactly why
//! the others are not. A key is **never rewritten** to make it fit (no `//` collapsing, no
//! `..` resolving, no percent-escaping): it is either written byte for byte as a path or
//! reported.
//!
//! # The rules
//!
//! The relative key (the key below the prefix's last complete folder, see
//! [`relative_key`]) is split on `/`. It is a valid relative path when:
//!
//! - it is not empty (a key equal to the prefix leaves no file name);
//! - it does not end with `/` (a *folder marker*: an empty object the console makes for a
//!   folder; it holds no file content and is skipped, not failed);
//! - it does not start with `/` (absolute);
//! - no segment is empty (`a//b`), `.` or `..`;
//! - it has no NUL byte;
//! - no segment is longer than [`NAME_MAX`] bytes and the whole is shorter than
//!   [`PATH_MAX`] bytes;
//! - on Windows only, no segment holds `\` or `:` (they would be read as separators or a
//!   drive).
//!
//! A valid path therefore has only normal components, so joining it to a directory can
//! never leave that directory (symbolic links inside the directory are the writer's
//! business: the CLI refuses to write through them).
//!
//! Two valid keys can still clash: `a` as a file and `a/b` below a folder `a`.
//! [`file_folder_conflicts`] finds such keys.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use thiserror::Error;

/// The longest file name (one path segment) in bytes on common filesystems (ext4, XFS,
/// btrfs, APFS, NTFS in UTF-16 units).
pub const NAME_MAX: usize = 255;

/// The longest relative path in bytes (Linux `PATH_MAX` is 4096 including the directory
/// and the final NUL).
pub const PATH_MAX: usize = 4096;

/// Why a key cannot be written as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PathError {
    /// Nothing is left once the prefix is stripped.
    #[error("the key is the prefix itself: no file name is left")]
    Empty,
    /// The key ends with `/`: a folder marker, not a file.
    #[error("folder marker (the key ends with '/'): no file to write")]
    FolderMarker,
    /// The key starts with `/`.
    #[error("absolute path (starts with '/'): would be written outside the directory")]
    Absolute,
    /// Two `/` in a row.
    #[error("empty path segment ('//'): not a valid path")]
    EmptySegment,
    /// A `.` or `..` segment.
    #[error("{segment:?} path segment: could point outside the directory")]
    DotSegment {
        /// `.` or `..`.
        segment: String,
    },
    /// A NUL byte.
    #[error("NUL byte in the key: not allowed in file names")]
    Nul,
    /// A segment longer than [`NAME_MAX`] bytes.
    #[error("path segment of {len} bytes: longer than the {NAME_MAX}-byte file name limit")]
    NameTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The whole path is [`PATH_MAX`] bytes or longer.
    #[error("path of {len} bytes: longer than the {PATH_MAX}-byte path limit")]
    PathTooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// A character the platform reads as a separator or drive (`\`, `:` on Windows).
    #[error("{character:?} in a path segment: a separator or drive on this platform")]
    Reserved {
        /// The character.
        character: char,
    },
}

/// A relative key that is a valid relative path (see the [module docs](self)).
///
/// It is the key's text unchanged; its segments are separated by `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(String);

impl RelPath {
    /// The path as text, `/`-separated (equal to the relative key).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The segments: the parent folders, then the file name.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// The file name (the last segment).
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().expect("split yields one item")
    }

    /// The parent folders (all segments but the last).
    pub fn parents(&self) -> impl Iterator<Item = &str> {
        let n = self.0.matches('/').count();
        self.0.split('/').take(n)
    }
}

impl std::fmt::Display for RelPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The part of `key` below the last complete folder of `prefix`: `prefix` up to and
/// including its last `/` is stripped. With `s3://b/docs/` the key `docs/a.txt` becomes
/// `a.txt`; with `s3://b/docs` (a byte prefix that also matches `docs-old/x` and `docsx`)
/// nothing is stripped, so the file names stay whole: `docs/a.txt`, `docs-old/x`.
/// Different keys always give different relative keys. `None` when the key is not under
/// the prefix.
pub fn relative_key<'k>(prefix: &str, key: &'k str) -> Option<&'k str> {
    if !key.starts_with(prefix) {
        return None;
    }
    let folder = prefix.rfind('/').map_or(0, |i| i + 1);
    Some(&key[folder..])
}

/// Check a relative key against the rules of the [module docs](self).
pub fn key_to_path(relative: &str) -> Result<RelPath, PathError> {
    if relative.is_empty() {
        return Err(PathError::Empty);
    }
    if relative.contains('\0') {
        return Err(PathError::Nul);
    }
    if relative.starts_with('/') {
        return Err(PathError::Absolute);
    }
    if relative.ends_with('/') {
        return Err(PathError::FolderMarker);
    }
    for segment in relative.split('/') {
        match segment {
            "" => return Err(PathError::EmptySegment),
            "." | ".." => {
                return Err(PathError::DotSegment {
                    segment: segment.to_owned(),
                });
            }
            s if s.len() > NAME_MAX => return Err(PathError::NameTooLong { len: s.len() }),
            s if cfg!(windows) => {
                if let Some(c) = s.chars().find(|c| matches!(c, '\\' | ':')) {
                    return Err(PathError::Reserved { character: c });
                }
            }
            _ => {}
        }
    }
    if relative.len() >= PATH_MAX {
        return Err(PathError::PathTooLong {
            len: relative.len(),
        });
    }
    Ok(RelPath(relative.to_owned()))
}

/// The paths of `paths` that are also a folder of another path (`a` when `a/b` is
/// there), each with one example of a path below it. Such a key cannot be written as a
/// file next to the others; the result is sorted by path.
pub fn file_folder_conflicts<'a>(
    paths: impl IntoIterator<Item = &'a RelPath>,
) -> Vec<(&'a RelPath, &'a RelPath)> {
    let paths: Vec<&RelPath> = paths.into_iter().collect();
    // Every folder some path needs, with the first path that needs it.
    let mut folders: std::collections::HashMap<&str, &RelPath> = std::collections::HashMap::new();
    for p in &paths {
        let s = p.as_str();
        for (i, _) in s.match_indices('/') {
            folders.entry(&s[..i]).or_insert(p);
        }
    }
    let mut seen = HashSet::new();
    let mut out: Vec<(&RelPath, &RelPath)> = paths
        .iter()
        .filter(|p| seen.insert(p.as_str()))
        .filter_map(|p| folders.get(p.as_str()).map(|below| (*p, *below)))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::{Component, Path};

    #[test]
    fn awkward_but_valid_keys_are_kept_byte_for_byte() {
        for k in [
            "a.txt",
            "dir a/ü+&?=%#.txt",
            "plus+sign",
            "percent%41encoded",
            "日本語/ファイル.txt",
            "emoji 😀.bin",
            "...",
            ".hidden/..x/x..",
            "tab\there",
            "back\\slash",
        ] {
            if cfg!(windows) && k.contains('\\') {
                continue;
            }
            assert_eq!(key_to_path(k).unwrap().as_str(), k);
        }
    }

    #[test]
    fn invalid_keys_say_why() {
        let cases: &[(&str, PathError)] = &[
            ("", PathError::Empty),
            ("/abs", PathError::Absolute),
            ("a//b", PathError::EmptySegment),
            (
                "../escape",
                PathError::DotSegment {
                    segment: "..".into(),
                },
            ),
            (
                "a/../b",
                PathError::DotSegment {
                    segment: "..".into(),
                },
            ),
            (
                "a/./b",
                PathError::DotSegment {
                    segment: ".".into(),
                },
            ),
            (
                "..",
                PathError::DotSegment {
                    segment: "..".into(),
                },
            ),
            ("a\0b", PathError::Nul),
            ("folder/", PathError::FolderMarker),
            ("/", PathError::Absolute),
        ];
        for (k, want) in cases {
            assert_eq!(key_to_path(k).unwrap_err(), *want, "{k:?}");
        }
        let long = "x".repeat(NAME_MAX + 1);
        assert_eq!(
            key_to_path(&long).unwrap_err(),
            PathError::NameTooLong { len: NAME_MAX + 1 }
        );
        assert!(key_to_path(&"x".repeat(NAME_MAX)).is_ok());
        let deep = vec!["d".repeat(200); 21].join("/");
        assert!(matches!(
            key_to_path(&deep),
            Err(PathError::PathTooLong { .. })
        ));
    }

    #[test]
    fn prefix_stripping() {
        assert_eq!(relative_key("docs/", "docs/a.txt"), Some("a.txt"));
        assert_eq!(relative_key("docs", "docs/a.txt"), Some("docs/a.txt"));
        assert_eq!(relative_key("docs", "docs-old/a"), Some("docs-old/a"));
        assert_eq!(relative_key("data/lo", "data/logs/1"), Some("logs/1"));
        assert_eq!(relative_key("docs/", "docs//a"), Some("/a"));
        assert_eq!(relative_key("", "/a"), Some("/a"));
        assert_eq!(relative_key("docs/", "docs/"), Some(""));
        assert_eq!(relative_key("docs/", "other"), None);
    }

    #[test]
    fn file_and_folder_of_the_same_name_conflict() {
        let ps: Vec<RelPath> = ["a", "a b", "a-b", "a/b", "a/b/c", "c", "cd/e"]
            .iter()
            .map(|k| key_to_path(k).unwrap())
            .collect();
        let c: Vec<(&str, &str)> = file_folder_conflicts(&ps)
            .into_iter()
            .map(|(f, b)| (f.as_str(), b.as_str()))
            .collect();
        assert_eq!(c, [("a", "a/b"), ("a/b", "a/b/c")]);
    }

    fn segment() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            Just(".".to_owned()),
            Just("..".to_owned()),
            Just("...".to_owned()),
            "[a-c. %+ü\\\\:]{1,4}",
            "\\PC{1,6}",
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop::collection::vec(segment(), 1..5).prop_map(|s| s.join("/"))
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// A valid path never escapes the directory it is joined to: only normal
        /// components, no `..`, and it round-trips to the key unchanged.
        #[test]
        fn valid_paths_stay_inside_and_round_trip(k in key()) {
            if let Ok(p) = key_to_path(&k) {
                prop_assert_eq!(p.as_str(), k.as_str());
                prop_assert_eq!(p.segments().collect::<Vec<_>>().join("/"), k.clone());
                prop_assert!(p.segments().all(|s| !s.is_empty() && s != "." && s != ".."));
                let base = Path::new("/base/dir");
                let joined = base.join(p.as_str());
                prop_assert!(joined.starts_with(base));
                prop_assert!(Path::new(p.as_str()).components().all(|c| matches!(c, Component::Normal(_))));
                prop_assert_eq!(Path::new(p.as_str()).components().count(), p.segments().count());
                prop_assert_eq!(p.parents().count() + 1, p.segments().count());
                prop_assert_eq!(p.segments().last(), Some(p.file_name()));
            } else {
                // Rejected keys are the ones with a reason to be.
                let bad_segment = k.split('/').any(|s| s.is_empty() || s == "." || s == ".."
                    || (cfg!(windows) && (s.contains('\\') || s.contains(':'))));
                prop_assert!(bad_segment || k.contains('\0') || k.len() >= PATH_MAX
                    || k.split('/').any(|s| s.len() > NAME_MAX));
            }
        }

        /// Any key with a `..` segment is refused.
        #[test]
        fn dot_dot_is_always_refused(a in key(), b in key()) {
            let inside = format!("{a}/../{b}");
            let leading = format!("../{b}");
            prop_assert!(key_to_path(&inside).is_err());
            prop_assert!(key_to_path(&leading).is_err());
        }

        /// The stripped part is the same for every key under a prefix, so relative keys
        /// give the keys back and never collide.
        #[test]
        fn relative_key_round_trips(prefix in "[a/]{0,3}", rest in prop::collection::vec(key(), 1..4)) {
            let keys: Vec<String> = rest.iter().map(|r| format!("{prefix}{r}")).collect();
            let rels: Vec<&str> = keys.iter().map(|k| relative_key(&prefix, k).unwrap()).collect();
            let stripped = keys[0].len() - rels[0].len();
            prop_assert!(prefix[stripped..].find('/').is_none());
            for (k, r) in keys.iter().zip(&rels) {
                prop_assert_eq!(format!("{}{r}", &prefix[..stripped]), k.clone());
            }
        }

        /// A path is reported as conflicting exactly when another path lies below it.
        #[test]
        fn conflicts_are_exact(keys in prop::collection::vec("[ab]{1,2}(/[ab]{1,2}){0,2}", 0..12)) {
            let ps: Vec<RelPath> = keys.iter().map(|k| key_to_path(k).unwrap()).collect();
            let found: Vec<&str> = file_folder_conflicts(&ps).iter().map(|(f, _)| f.as_str()).collect();
            for p in &ps {
                let below = ps.iter().any(|q| q.as_str().starts_with(&format!("{}/", p.as_str())));
                prop_assert_eq!(found.contains(&p.as_str()), below, "{}", p);
            }
            for (f, b) in file_folder_conflicts(&ps) {
                let with_slash = format!("{}/", f.as_str());
                prop_assert!(b.as_str().starts_with(&with_slash));
            }
        }
    }
}
