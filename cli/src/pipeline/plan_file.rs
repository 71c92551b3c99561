//! Plan files: written as the plan is serialised ([`write_plan_file`]) and read back
//! ([`read_plan_file`]) with the actions going to disk as they are parsed, so that
//! `apply` of a plan of millions of actions never holds them.
//!
//! A plan file's actions are in key order (`plan --out` writes them so): read, they are
//! written to an [`ActionSpool`] as one sorted run, and the rest of the plan (a few
//! fields) is kept. A file whose actions are not in strictly rising key order (edited by
//! hand, or naming a key twice) is read whole instead, as before, so that its digest is
//! the digest of the file as it stands and the engine's checks name what is wrong.

use crate::error::{CliError, CliResult};
use crate::pipeline::report::write_plan_json;
use crate::spill::ActionSpool;
use s3rewind_engine::{Action, PlanError, RestorePlan};
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::io::BufReader;
use std::path::Path;

/// Write the plan file as it is serialised (never one string of the whole plan), under a
/// temporary name renamed into place once complete.
pub fn write_plan_file(path: &Path, p: &RestorePlan, spool: Option<&ActionSpool>) -> CliResult<()> {
    use std::io::Write;
    let tmp = path.with_extension("json.tmp");
    std::fs::File::create(&tmp)
        .and_then(|f| {
            let mut w = std::io::BufWriter::with_capacity(1 << 16, f);
            write_plan_json(&mut w, p, spool, true)?;
            writeln!(w)?;
            w.into_inner().map_err(|e| e.into_error())?.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| CliError::failure(format!("cannot write plan file {}: {e}", path.display())))
}

/// Read a plan file: the plan, and its actions on disk (the plan then holds none), or
/// `None` with the actions in the plan when they are not in strictly rising key order
/// (see the module docs). Every error is a usage error naming the file.
pub fn read_plan_file(path: &Path) -> CliResult<(RestorePlan, Option<ActionSpool>)> {
    let bad = |e: &dyn std::fmt::Display| CliError::usage(format!("{}: {e}", path.display()));
    // What serde says of a file that is not a plan, as the engine words it.
    let invalid = |e: serde_json::Error| bad(&PlanError::Invalid(e.to_string()));
    let open = || {
        std::fs::File::open(path)
            .map(|f| BufReader::with_capacity(1 << 16, f))
            .map_err(|e| CliError::usage(format!("cannot read plan file {}: {e}", path.display())))
    };
    // The schema first, nothing else held: a plan of another schema is named as such,
    // not as whatever its fields fail to parse as.
    #[derive(serde::Deserialize)]
    struct Schema {
        schema: Option<serde_json::Value>,
    }
    let head: Schema = serde_json::from_reader(open()?).map_err(invalid)?;
    RestorePlan::check_schema(head.schema.as_ref()).map_err(|e| bad(&e))?;
    let mut spool = ActionSpool::new()?;
    let mut de = serde_json::Deserializer::from_reader(open()?);
    let read = PlanSeed {
        spool: &mut spool,
        last: None,
        sorted: true,
        failed: None,
    }
    .deserialize(&mut de);
    let (header, sorted, failed) = match read {
        Ok(r) => r,
        Err(e) => return Err(invalid(e)),
    };
    if let Some(e) = failed {
        return Err(e);
    }
    de.end().map_err(invalid)?;
    if !sorted {
        drop(spool);
        let text = std::fs::read_to_string(path).map_err(|e| {
            CliError::usage(format!("cannot read plan file {}: {e}", path.display()))
        })?;
        let p = RestorePlan::from_json(&text).map_err(|e| bad(&e))?;
        return Ok((p, None));
    }
    spool.seal()?;
    let mut header = header;
    header.insert("actions".to_owned(), serde_json::Value::Array(Vec::new()));
    let p: RestorePlan =
        serde_json::from_value(serde_json::Value::Object(header)).map_err(invalid)?;
    p.validate().map_err(|e| bad(&e))?;
    spool.scan(|a| p.validate_action(&a).map(|()| true).map_err(|e| bad(&e)))?;
    Ok((p, Some(spool)))
}

/// Reads a plan's JSON object: every field but `actions` kept as JSON, the actions
/// written to the spool (see [`read_plan_file`]).
struct PlanSeed<'a> {
    spool: &'a mut ActionSpool,
    /// The last action's key.
    last: Option<String>,
    /// Every action's key is above the one before.
    sorted: bool,
    /// The spool could not be written.
    failed: Option<CliError>,
}

type Header = serde_json::Map<String, serde_json::Value>;

impl<'de> DeserializeSeed<'de> for PlanSeed<'_> {
    type Value = (Header, bool, Option<CliError>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PlanSeed<'_> {
    type Value = (Header, bool, Option<CliError>);

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a restore plan (a JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut header = Header::new();
        while let Some(key) = map.next_key::<String>()? {
            if key == "actions" {
                map.next_value_seed(Actions(&mut self))?;
            } else {
                let value = map.next_value::<serde_json::Value>()?;
                if header.insert(key.clone(), value).is_some() {
                    return Err(serde::de::Error::custom(format!("duplicate field `{key}`")));
                }
            }
        }
        Ok((header, self.sorted, self.failed))
    }
}

/// The `actions` list, each action to the spool as it is parsed.
struct Actions<'s, 'a>(&'s mut PlanSeed<'a>);

impl<'de> DeserializeSeed<'de> for Actions<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Actions<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of actions")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let s = self.0;
        while let Some(a) = seq.next_element::<Action>()? {
            if !s.sorted || s.failed.is_some() {
                continue;
            }
            if s.last.as_deref().is_some_and(|last| a.key() <= last) {
                // Read whole instead (module docs); the rest is only parsed.
                s.sorted = false;
                continue;
            }
            s.last = Some(a.key().to_owned());
            match s.spool.push(&a) {
                Ok(()) => {}
                Err(e) => s.failed = Some(e),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::prepare::{plan_digest, plan_digest_of};
    use crate::pipeline::report::plan_json_tests::action;
    use crate::spill::PlanActions;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use s3rewind_engine::{Destination, Location};

    fn plan_of(actions: Vec<Action>) -> RestorePlan {
        let mut p = crate::pipeline::report::plan_json_tests::plan_of("", actions);
        p.created_at = Some(DateTime::<Utc>::from_timestamp(1_700_000_100, 7).unwrap());
        p
    }

    fn written(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    proptest! {
        #![proptest_config(crate::proptest_config(64))]
        /// A plan file `plan --out` writes reads back with its actions on disk: the same
        /// actions in the same order, the same rest of the plan, the same digest. A file
        /// whose actions are out of key order reads whole, as the engine reads it; one
        /// that names a key twice, or an action outside the destination prefix, is
        /// refused with the engine's words, whichever way it is read.
        #[test]
        fn a_plan_file_reads_back_as_the_plan_written(
            keys in proptest::collection::btree_set("[a-c/é\"\\\\\n ]{1,5}", 0..200),
            reorder: bool,
            twice: bool,
            outside: bool,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let actions: Vec<Action> = keys.iter().enumerate().map(|(n, k)| action(k, n as u64)).collect();
            let mut whole = plan_of(actions.clone());
            whole.digest = Some(plan_digest(&mut whole));
            let path = dir.path().join("plan.json");
            write_plan_file(&path, &whole, None).unwrap();
            let (mut p, spool) = read_plan_file(&path).unwrap();
            let spool = spool.expect("a plan file in key order reads onto disk");
            prop_assert!(p.actions.is_empty());
            prop_assert_eq!(PlanActions::of(&p, Some(&spool)).first(usize::MAX).unwrap(), actions.clone());
            prop_assert_eq!(plan_digest_of(&mut p, Some(&spool)).unwrap(), plan_digest(&mut whole));
            let mut bare = whole.clone();
            bare.actions.clear();
            prop_assert_eq!(&p, &bare);

            if reorder && actions.len() >= 2 {
                let mut reversed = whole.clone();
                reversed.actions.reverse();
                let text = serde_json::to_string_pretty(&reversed).unwrap();
                let (p, spool) = read_plan_file(&written(dir.path(), "r.json", &text)).unwrap();
                prop_assert!(spool.is_none(), "out of key order: read whole");
                prop_assert_eq!(p, RestorePlan::from_json(&text).unwrap());
            }
            if twice && !actions.is_empty() {
                let mut doubled = whole.clone();
                doubled.actions.push(actions[actions.len() - 1].clone());
                let text = serde_json::to_string_pretty(&doubled).unwrap();
                let e = read_plan_file(&written(dir.path(), "d.json", &text)).unwrap_err();
                prop_assert!(e.message.contains("has more than one action"), "{}", e.message);
            }
            if outside && !actions.is_empty() {
                let mut moved = whole.clone();
                moved.destination = Destination::Bucket {
                    location: Location { bucket: "d".into(), prefix: "zzz/".into() },
                };
                moved.actions.retain(|a| matches!(a, Action::Copy(_)));
                if !moved.actions.is_empty() {
                    let text = serde_json::to_string_pretty(&moved).unwrap();
                    let e = read_plan_file(&written(dir.path(), "o.json", &text)).unwrap_err();
                    prop_assert!(e.message.contains("outside the destination prefix"), "{}", e.message);
                    prop_assert_eq!(
                        e.message.split_once(": ").map(|(_, m)| m.to_owned()),
                        RestorePlan::from_json(&text).err().map(|e| e.to_string())
                    );
                }
            }
        }
    }

    /// Files that are not plans are refused as the engine words it: not JSON, another
    /// schema, none, trailing text, and a file that cannot be read.
    #[test]
    fn what_is_not_a_plan_is_refused_with_the_engine_s_words() {
        let dir = tempfile::tempdir().unwrap();
        let whole = plan_of(vec![action("a", 1), action("b", 2)]);
        let good = serde_json::to_string_pretty(&whole).unwrap();
        for (text, says) in [
            ("{not json", "not a valid s3rewind plan"),
            (r#"{"schema":"s3rewind.plan/v99"}"#, "schema"),
            (r#"{"actions":[]}"#, "no \"schema\" field"),
            (&format!("{good} trailing"), "not a valid s3rewind plan"),
            (
                &good.replacen("\"op\": \"copy\"", "\"op\": \"teleport\"", 1),
                "not a valid s3rewind plan",
            ),
            // The schema read from a list, then the plan is not an object.
            (
                r#"["s3rewind.plan/v1"]"#,
                "expected a restore plan (a JSON object)",
            ),
            (
                &good.replacen("\"actions\": [", "\"actions\": 5, \"was\": [", 1),
                "expected a list of actions",
            ),
        ] {
            let path = written(dir.path(), "bad.json", text);
            let e = read_plan_file(&path).unwrap_err();
            assert_eq!(e.exit, crate::error::Exit::Usage, "{}", e.message);
            assert!(e.message.contains(says), "{text:?}: {}", e.message);
            assert!(e.message.starts_with(&path.display().to_string()));
        }
        let e = read_plan_file(&dir.path().join("none.json")).unwrap_err();
        assert!(e.message.contains("cannot read plan file"), "{}", e.message);
    }
}
