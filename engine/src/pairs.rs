//! The one comparison of two states, key by key, that `plan`, `verify` and `diff` share.
//!
//! A target state (its keys under the source prefix, mapped to destination keys by
//! [`destination_key`]) and a current state (its keys under the destination prefix) are
//! walked together in destination-key order; each key on either side comes out once, with
//! what each side has. What counts as "the same" differs by caller (a plan also accepts a
//! known copy or equal content, `verify` grades sizes and ETags, `diff` compares version
//! ids), so that judgement stays with them.

use crate::location::{Destination, destination_key};
use crate::state::{BucketState, StateEntry};

/// One destination key and what each state has there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair<'a> {
    /// The destination key.
    pub key: String,
    /// The target's entry (its key is the source key), if the key exists at the target.
    pub target: Option<&'a StateEntry>,
    /// The current entry, if the key exists now.
    pub current: Option<&'a StateEntry>,
}

/// The prefix current keys are compared under.
pub fn destination_prefix<'a>(source_prefix: &'a str, destination: &'a Destination) -> &'a str {
    match destination {
        Destination::InPlace => source_prefix,
        Destination::Bucket { location } => location.prefix.as_str(),
        Destination::Directory { .. } => "",
    }
}

/// Walk `target` and `current` together (both sorted by key, as states are).
pub fn pairs<'a>(
    source_prefix: &'a str,
    destination: &'a Destination,
    target: &'a BucketState,
    current: &'a BucketState,
) -> impl Iterator<Item = Pair<'a>> + 'a {
    let dest_prefix = destination_prefix(source_prefix, destination);
    let mut tgt = target
        .objects
        .iter()
        .filter(move |e| e.key.starts_with(source_prefix))
        .map(move |e| (destination_key(source_prefix, destination, &e.key), e))
        .peekable();
    let mut cur = current
        .objects
        .iter()
        .filter(move |e| e.key.starts_with(dest_prefix))
        .peekable();
    std::iter::from_fn(move || {
        let order = match (tgt.peek(), cur.peek()) {
            (None, None) => return None,
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (Some((k, _)), Some(c)) => k.as_str().cmp(c.key.as_str()),
        };
        Some(match order {
            std::cmp::Ordering::Greater => {
                let c = cur.next().expect("peeked");
                Pair {
                    key: c.key.clone(),
                    target: None,
                    current: Some(c),
                }
            }
            o => {
                let (key, t) = tgt.next().expect("peeked");
                let current = if o == std::cmp::Ordering::Equal {
                    cur.next()
                } else {
                    None
                };
                Pair {
                    key,
                    target: Some(t),
                    current,
                }
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Location;
    use crate::model::Version;
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn state(keys: &BTreeSet<String>) -> BucketState {
        BucketState {
            objects: keys
                .iter()
                .map(|k| StateEntry {
                    key: k.clone(),
                    version: Version {
                        version_id: format!("v-{k}").into(),
                        last_modified: Utc.timestamp_opt(0, 0).unwrap(),
                        delete_marker: false,
                        etag: Default::default(),
                        size: 0,
                        storage_class: None,
                        owner_id: None,
                        is_latest: false,
                    },
                })
                .collect(),
            ..BucketState::default()
        }
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        /// Every key of either side (within its prefix) comes out exactly once, in
        /// destination-key order, paired with the other side's entry of that key.
        #[test]
        fn every_key_comes_out_once_in_order(
            target in prop::collection::btree_set("(s/|d/|x)[ab]{0,3}", 0..20),
            current in prop::collection::btree_set("(s/|d/|x)[ab]{0,3}", 0..20),
            to_bucket in any::<bool>(),
        ) {
            let destination = if to_bucket {
                Destination::Bucket { location: Location { bucket: "b".into(), prefix: "d/".into() } }
            } else {
                Destination::InPlace
            };
            let (t, c) = (state(&target), state(&current));
            let got: Vec<Pair<'_>> = pairs("s/", &destination, &t, &c).collect();
            let keys: Vec<&str> = got.iter().map(|p| p.key.as_str()).collect();
            let mut sorted = keys.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(&keys, &sorted);
            let dest_prefix = if to_bucket { "d/" } else { "s/" };
            let want: BTreeSet<String> = target
                .iter()
                .filter(|k| k.starts_with("s/"))
                .map(|k| destination_key("s/", &destination, k))
                .chain(current.iter().filter(|k| k.starts_with(dest_prefix)).cloned())
                .collect();
            prop_assert_eq!(keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>(), want);
            for p in &got {
                if let Some(e) = p.target {
                    prop_assert_eq!(destination_key("s/", &destination, &e.key), p.key.clone());
                }
                if let Some(e) = p.current {
                    prop_assert_eq!(&e.key, &p.key);
                }
                prop_assert!(p.target.is_some() || p.current.is_some());
            }
        }
    }
}
