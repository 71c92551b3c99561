//! Which keys a restore or a verification is about, beyond the prefix: `--include` and
//! `--exclude` globs and a list of keys (`--keys-from`).
//!
//! A key is selected when it is in the list (if one is given), matches at least one
//! include glob (if any are given), and matches no exclude glob. Globs match the whole
//! key, byte for byte: `*` and `?` match any characters including `/` (as `aws s3 cp
//! --include` does), `**` is the same as `*`, `[abc]` is a class, and `\` escapes.
//! Unselected keys are left out of both sides, so a plan never touches them and a
//! verification never counts them.

use crate::state::BucketState;
use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::HashSet;

/// A key selection as given on the command line, kept in a plan file so that `apply`
/// (and its verification) use the same selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySelection {
    /// `--include` globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    /// `--exclude` globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// `--keys-from` keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
}

impl KeySelection {
    /// True when it selects every key.
    pub fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty() && self.keys.is_none()
    }

    /// The filter it describes.
    pub fn filter(&self) -> Result<KeyFilter, String> {
        KeyFilter::new(&self.include, &self.exclude, self.keys.clone())
    }
}

/// A selection of keys. The default selects every key.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    include: Option<GlobSet>,
    exclude: Option<GlobSet>,
    keys: Option<HashSet<String>>,
    /// Keys left out whatever the patterns say ([`KeyFilter::excluding`]).
    skip: HashSet<String>,
    text: Vec<String>,
}

fn glob(pattern: &str) -> Result<Glob, String> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
        .map_err(|e| format!("invalid glob {pattern:?}: {e}"))
}

fn set(patterns: &[String]) -> Result<Option<GlobSet>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(glob(p)?);
    }
    b.build().map(Some).map_err(|e| e.to_string())
}

impl KeyFilter {
    /// Build a filter; an invalid glob is an error naming it.
    pub fn new(
        include: &[String],
        exclude: &[String],
        keys: Option<Vec<String>>,
    ) -> Result<KeyFilter, String> {
        let mut text = Vec::new();
        if !include.is_empty() {
            text.push(format!("include {}", include.join(", ")));
        }
        if !exclude.is_empty() {
            text.push(format!("exclude {}", exclude.join(", ")));
        }
        if let Some(k) = &keys {
            text.push(format!("{} listed key(s)", k.len()));
        }
        Ok(KeyFilter {
            include: set(include)?,
            exclude: set(exclude)?,
            keys: keys.map(|k| k.into_iter().collect()),
            skip: HashSet::new(),
            text,
        })
    }

    /// The same filter, leaving out these keys as well (for example the keys a plan
    /// names as unrestorable, which a verification cannot judge).
    pub fn excluding(mut self, keys: impl IntoIterator<Item = String>) -> KeyFilter {
        let before = self.skip.len();
        self.skip.extend(keys);
        if self.skip.len() > before {
            self.text
                .push(format!("{} key(s) left out", self.skip.len()));
        }
        self
    }

    /// True when every key is selected.
    pub fn is_all(&self) -> bool {
        self.include.is_none()
            && self.exclude.is_none()
            && self.keys.is_none()
            && self.skip.is_empty()
    }

    /// Is `key` selected?
    pub fn matches(&self, key: &str) -> bool {
        !self.skip.contains(key)
            && self.keys.as_ref().is_none_or(|k| k.contains(key))
            && self.include.as_ref().is_none_or(|g| g.is_match(key))
            && !self.exclude.as_ref().is_some_and(|g| g.is_match(key))
    }

    /// Keep only the selected keys of a state; `source_key` maps a state's key to the
    /// source key it stands for (identity for the source's own states).
    pub fn retain(&self, state: &mut BucketState, source_key: impl Fn(&str) -> String) {
        if self.is_all() {
            return;
        }
        state.objects.retain(|e| self.matches(&source_key(&e.key)));
        state
            .uncertain
            .retain(|u| self.matches(&source_key(&u.key)));
        state.ambiguous.retain(|k| self.matches(&source_key(k)));
        state.order_unknown.retain(|k| self.matches(&source_key(k)));
        state.out_of_order.retain(|k| self.matches(&source_key(k)));
    }

    /// The selection in words (empty when every key is selected).
    pub fn describe(&self) -> String {
        self.text.join("; ")
    }
}

/// Keys from a file's text: one key per line (a trailing CR is dropped, empty lines are
/// skipped), or, when the text is JSON (for example `scan --output json`), every string
/// found under a `"key"` field anywhere in it.
pub fn keys_from_text(text: &str) -> Vec<String> {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let mut out = Vec::new();
        collect_keys(&v, &mut out);
        out.sort();
        out.dedup();
        return out;
    }
    text.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn collect_keys(v: &serde_json::Value, out: &mut Vec<String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("key", serde_json::Value::String(s)) => out.push(s.clone()),
                    _ => collect_keys(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_keys(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(include: &[&str], exclude: &[&str]) -> KeyFilter {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        KeyFilter::new(&s(include), &s(exclude), None).unwrap()
    }

    #[test]
    fn globs_match_whole_keys_across_slashes() {
        let k = f(&["docs/*.pdf", "*.csv"], &["*secret*"]);
        assert!(k.matches("docs/a.pdf"));
        assert!(k.matches("docs/deep/b.pdf"), "* crosses /");
        assert!(k.matches("x/y.csv"));
        assert!(!k.matches("docs/a.pdf.bak"), "whole key");
        assert!(!k.matches("docs/secret.pdf"), "exclude wins");
        assert!(!k.matches("img/a.png"));
        assert!(f(&[], &[]).is_all());
        assert!(KeyFilter::new(&["[".into()], &[], None).is_err());
    }

    #[test]
    fn excluded_keys_are_left_out_whatever_the_patterns_say() {
        let k = f(&["docs/*"], &[]).excluding(["docs/b".to_owned()]);
        assert!(k.matches("docs/a"));
        assert!(!k.matches("docs/b"));
        let all = f(&[], &[]).excluding(["x".to_owned()]);
        assert!(
            !all.is_all(),
            "a filter that leaves a key out does not select all"
        );
        assert!(!all.matches("x") && all.matches("y"));
        assert!(f(&[], &[]).excluding(Vec::new()).is_all());
    }

    #[test]
    fn keys_come_from_lines_or_from_json_key_fields() {
        assert_eq!(keys_from_text("a\r\nb c\n\n+d\n"), ["a", "b c", "+d"]);
        let scan = r#"{"incidents": [{"keys": [{"key": "x/1", "kind": "encrypted"}, {"key": "x/0"}]}], "key_count": 2}"#;
        assert_eq!(keys_from_text(scan), ["x/0", "x/1"]);
        let listed = KeyFilter::new(&[], &[], Some(vec!["x/1".into()])).unwrap();
        assert!(listed.matches("x/1") && !listed.matches("x/0"));
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(256))]
        #[test]
        fn a_literal_key_matches_itself_only(key in "[a-z/ ._-]{1,12}", other in "[a-z/ ._-]{1,12}") {
            let k = f(&[key.as_str()], &[]);
            prop_assert!(k.matches(&key));
            prop_assert_eq!(k.matches(&other), other == key);
            // Excluding everything selects nothing.
            prop_assert!(!f(&[], &["*"]).matches(&key));
        }
    }
}
