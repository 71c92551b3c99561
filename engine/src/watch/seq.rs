//! The `sequencer` of an S3 event: a hex string that orders the events of one key.
//!
//! AWS documents how to compare two: "the sequencers can be of different lengths: first
//! right pad the shorter value with zeros, then do a lexicographical comparison" (older
//! versions of the same page said *left* pad, which is a numeric comparison). For two
//! sequencers of one length both rules agree; where they disagree (different lengths)
//! the comparison is not decisive ([`Sequencer::order`] returns `None`) and the key is
//! read again from the bucket rather than ordered by one reading of the docs.
//!
//! radosgw sends sequencers that do not order a key's events at all (measured:
//! `B60C146B6229B838`, then `B60C146B23D02739`, then `B60C146BE9907A39` for PUT, PUT,
//! DELETE), so on such servers they are kept for deduplication only.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// A sequencer, upper-case hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sequencer(String);

impl Sequencer {
    /// A sequencer from its text; `None` unless it is non-empty hex.
    pub fn parse(s: &str) -> Option<Sequencer> {
        (!s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| Sequencer(s.to_ascii_uppercase()))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which of two sequencers of one key is later, where both documented rules agree
    /// (right-padded and left-padded with zeros); `None` where they disagree.
    pub fn order(&self, other: &Sequencer) -> Option<Ordering> {
        let (a, b) = (self.0.as_bytes(), other.0.as_bytes());
        let n = a.len().max(b.len());
        let right = |s: &[u8], i: usize| s.get(i).copied().unwrap_or(b'0');
        let left = |s: &[u8], i: usize| {
            let pad = n - s.len();
            if i < pad { b'0' } else { s[i - pad] }
        };
        let by = |f: &dyn Fn(&[u8], usize) -> u8| {
            (0..n)
                .map(|i| f(a, i).cmp(&f(b, i)))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal)
        };
        let (r, l) = (by(&right), by(&left));
        (r == l).then_some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Sequencer {
        Sequencer::parse(x).unwrap()
    }

    #[test]
    fn same_length_compares_as_hex() {
        assert_eq!(
            s("0055AED6DCD90281E5").order(&s("0055aed6dcd90281e6")),
            Some(Ordering::Less)
        );
        assert_eq!(s("0A").order(&s("0a")), Some(Ordering::Equal));
        assert_eq!(s("B0").order(&s("A9")), Some(Ordering::Greater));
    }

    #[test]
    fn lengths_decide_only_where_both_rules_agree() {
        // Right-padded "1" is "10" > "0F"; left-padded "01" < "0F": not decisive.
        assert_eq!(s("1").order(&s("0F")), None);
        // "00A" vs "00A1": right pad "00A0" < "00A1", left pad "000A" < "00A1".
        assert_eq!(s("00A").order(&s("00A1")), Some(Ordering::Less));
        assert!(Sequencer::parse("").is_none());
        assert!(Sequencer::parse("12G").is_none());
    }
}
