//! Every command's `--output json` against the schemas the book documents.
//!
//! The field tables are read from the book (docs/src/json-output.md), so the docs and code
//! cannot drift apart silently: each command runs against moto, and its document must
//! carry the `schema` of its section, every documented field (unless `optional`) with a
//! documented JSON type, and no field that is not documented, at the top level or in an
//! object whose fields are documented. An embedded document (a type that names a schema,
//! such as `verification`) is checked against its own section. Every documented row must
//! be checked by some document, except the few listed in [`NOT_PRODUCED`].

use crate::scan::{TUNE, office, random_bytes};
use crate::support::{Moto, checkpoint, next_second, ts};
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, Destination, ExpirationStatus, LifecycleRule,
    LifecycleRuleFilter, NoncurrentVersionExpiration, ReplicationConfiguration, ReplicationRule,
    ReplicationRuleFilter, ReplicationRuleStatus,
};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Documented rows that the history built here does not produce, with the reason.
/// Anything else documented but never seen fails the test.
const NOT_PRODUCED: &[(&str, &str)] = &[
    // Only when the plan was limited by --include/--exclude/--keys-from.
    ("s3rewind.plan/v1", "keys"),
    // Only for a plan into another bucket or a directory: checked in the restore
    // documents (the plan printed here is in place).
    ("s3rewind.plan/v1", "destination.path"),
    // Only for a --to-dir restore with folder markers.
    ("s3rewind.restore/v1", "report.skipped"),
    // Only for a version that put back an older version's bytes.
    ("s3rewind.history/v1", "entries[].restores"),
    // Only for a plan made from --inventory: inventory.rs checks such a plan with
    // check_document.
    ("s3rewind.plan/v1", "inventory"),
    ("s3rewind.plan/v1", "inventory.manifest"),
    ("s3rewind.plan/v1", "inventory.created_at"),
    // Only for a drill over its --max-rto: cli/src/testing/tests.rs checks one.
    ("s3rewind.drill/v1", "failures.rto"),
];

/// Schemas whose commands cannot run against moto (it has no S3 Control): their
/// documents are checked with [`check_document`] where they are produced, in the tests
/// named here, and their rows are not required to be produced in this file's test.
const CHECKED_ELSEWHERE: &[(&str, &str)] = &[
    (
        "s3rewind.batch-submit/v1",
        "batch.rs, against a stand-in for S3 Control",
    ),
    (
        "s3rewind.batch-status/v1",
        "batch.rs, against a stand-in for S3 Control",
    ),
    (
        "s3rewind.batch-reconcile/v1",
        "batch.rs, against a stand-in for S3 Control",
    ),
    // moto cannot push notifications to an HTTP endpoint: watch.rs checks the document
    // against radosgw, and the setup document there too.
    ("s3rewind.watch/v1", "watch.rs, against radosgw"),
    ("s3rewind.watch-setup/v1", "watch.rs"),
    ("s3rewind.watch-alert/v1", "watch.rs, against moto"),
];

/// Check one document against its documented schema, for tests elsewhere: the batch
/// commands (which need S3 Control) and documents this file's history does not produce.
pub(crate) fn check_document(schema: &str, doc: &Value) {
    check(
        &documented_schemas(),
        schema,
        doc,
        &mut BTreeSet::new(),
        schema,
    );
}

/// One documented field.
#[derive(Debug, Clone)]
struct Row {
    /// `a.b`, `a[].b`.
    path: String,
    /// JSON types (`string`, `integer`, …) or embedded schema names.
    types: Vec<String>,
    /// May be absent.
    optional: bool,
}

/// The book's JSON output page: the schema tables tests read, so the docs stay tested.
const JSON_PAGE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/json-output.md");

/// The schemas of the book's "JSON output" page (docs/src/json-output.md), by name: one
/// `## `s3rewind.NAME/vN`` section each.
fn documented_schemas() -> BTreeMap<String, Vec<Row>> {
    let page = std::fs::read_to_string(JSON_PAGE)
        .unwrap_or_else(|e| panic!("the book's JSON output page {JSON_PAGE}: {e}"));
    assert!(
        page.starts_with("# JSON output\n"),
        "docs/src/json-output.md does not start with its \"# JSON output\" title"
    );
    let mut out: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in page.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            let name = h.trim().trim_matches('`').to_owned();
            assert!(
                name.starts_with("s3rewind.") && name.contains("/v"),
                "docs/src/json-output.md: a section heading that is not a schema name: {h}"
            );
            assert!(
                out.insert(name.clone(), Vec::new()).is_none(),
                "docs/src/json-output.md documents {name} twice"
            );
            current = Some(name);
            continue;
        }
        let Some(name) = &current else { continue };
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `path` | type | meaning |  →  ["", "`path`", "type", "meaning", ""]
        if cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        let path = cells[1].trim_matches('`').to_owned();
        let mut ty = cells[2].replace('`', "");
        let optional = ty.starts_with("optional ");
        if optional {
            ty = ty["optional ".len()..].to_owned();
        }
        let types: Vec<String> = ty.split(" or ").map(|t| t.trim().to_owned()).collect();
        for t in &types {
            assert!(
                [
                    "string", "integer", "number", "boolean", "array", "object", "null"
                ]
                .contains(&t.as_str())
                    || t.starts_with("s3rewind."),
                "docs/src/json-output.md {name}: unknown type {t:?} of {path}"
            );
        }
        out.get_mut(name).unwrap().push(Row {
            path,
            types,
            optional,
        });
    }
    for (name, rows) in &out {
        let schema = rows.iter().find(|r| r.path == "schema");
        assert!(
            schema.is_some_and(|r| r.types == ["string"] && !r.optional),
            "docs/src/json-output.md {name}: no `schema` string row"
        );
    }
    out
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The values at a parent path (`""`: the document itself), through every array element.
fn at<'a>(doc: &'a Value, parent: &str) -> Vec<&'a Value> {
    let mut cur = vec![doc];
    if parent.is_empty() {
        return cur;
    }
    for seg in parent.split('.') {
        let (name, each) = match seg.strip_suffix("[]") {
            Some(n) => (n, true),
            None => (seg, false),
        };
        let mut next = Vec::new();
        for v in cur {
            let Some(x) = v.get(name) else { continue };
            if each {
                next.extend(x.as_array().into_iter().flatten());
            } else {
                next.push(x);
            }
        }
        cur = next;
    }
    cur
}

fn split(path: &str) -> (&str, &str) {
    path.rsplit_once('.').unwrap_or(("", path))
}

/// Check `doc` against schema `name`; record which rows were checked.
fn check(
    schemas: &BTreeMap<String, Vec<Row>>,
    name: &str,
    doc: &Value,
    seen: &mut BTreeSet<(String, String)>,
    what: &str,
) {
    let rows = schemas
        .get(name)
        .unwrap_or_else(|| panic!("{what}: docs/src/json-output.md documents no schema {name}"));
    assert_eq!(doc["schema"], name, "{what}: wrong schema\n{doc:#}");
    for row in rows {
        let (parent, field) = split(&row.path);
        for p in at(doc, parent) {
            // A parent that is null (an `object or null`) has no fields to check.
            let Some(obj) = p.as_object() else { continue };
            seen.insert((name.to_owned(), row.path.clone()));
            let Some(v) = obj.get(field) else {
                assert!(
                    row.optional,
                    "{what}: documented field {name} `{}` is missing\n{doc:#}",
                    row.path
                );
                continue;
            };
            if let Some(embedded) = row.types.iter().find(|t| t.starts_with("s3rewind.")) {
                check(
                    schemas,
                    embedded,
                    v,
                    seen,
                    &format!("{what} `{}`", row.path),
                );
                continue;
            }
            assert!(
                row.types.iter().any(|t| t == type_of(v)),
                "{what}: {name} `{}` is {} ({v}), docs/src/json-output.md says {}",
                row.path,
                type_of(v),
                row.types.join(" or ")
            );
        }
    }
    // No undocumented field where fields are documented (always at the top level).
    let parents: BTreeSet<&str> = rows.iter().map(|r| split(&r.path).0).collect();
    for parent in parents {
        for p in at(doc, parent) {
            let Some(obj) = p.as_object() else { continue };
            for key in obj.keys() {
                let path = if parent.is_empty() {
                    key.clone()
                } else {
                    format!("{parent}.{key}")
                };
                assert!(
                    rows.iter().any(|r| r.path == path),
                    "{what}: {name} has field `{path}`, which docs/src/json-output.md does not document"
                );
            }
        }
    }
}

async fn replicated_audit_target(m: &Moto) {
    let lifecycle = |days: i32| {
        BucketLifecycleConfiguration::builder()
            .rules(
                LifecycleRule::builder()
                    .id("tidy")
                    .status(ExpirationStatus::Enabled)
                    .filter(LifecycleRuleFilter::builder().prefix("").build())
                    .noncurrent_version_expiration(
                        NoncurrentVersionExpiration::builder()
                            .noncurrent_days(days)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    };
    for (b, days) in [("audited", 90), ("audited-dr", 5)] {
        m.bucket(b, true).await;
        m.client
            .put_bucket_lifecycle_configuration()
            .bucket(b)
            .lifecycle_configuration(lifecycle(days))
            .send()
            .await
            .unwrap();
    }
    m.client
        .put_bucket_replication()
        .bucket("audited")
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/replication")
                .rules(
                    ReplicationRule::builder()
                        .id("dr")
                        .priority(1)
                        .status(ReplicationRuleStatus::Enabled)
                        .filter(ReplicationRuleFilter::builder().prefix("").build())
                        .destination(
                            Destination::builder()
                                .bucket("arn:aws:s3:::audited-dr")
                                .build()
                                .unwrap(),
                        )
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: one run produces every documented document in sequence (each step needs the previous one's buckets and files), then checks them all.
async fn every_json_document_matches_its_documented_schema() {
    let schemas = documented_schemas();
    let m = Moto::start().await;
    for b in ["src", "dst", "scratch"] {
        m.bucket(b, true).await;
    }
    m.put("src", "a.txt", b"a1").await;
    m.put("src", "b.txt", b"b1").await;
    m.put("src", "d.txt", b"d1").await;
    let t = ts(checkpoint().await);
    m.put("src", "a.txt", b"a2").await;
    m.delete("src", "b.txt").await;
    m.delete("src", "d.txt").await;
    m.put("src", "c.txt", b"c1").await;
    replicated_audit_target(&m).await;
    // A bucket with an incident, for scan's and timeline's incidents.
    let (contents, _) = office(&m, "attacked", 10).await;
    next_second().await;
    for (n, key) in contents
        .keys()
        .filter(|k| k.starts_with("docs/"))
        .take(8)
        .enumerate()
    {
        m.put(
            "attacked",
            key,
            &random_bytes(contents[key].len() + 28, 7 + n as u64),
        )
        .await;
    }

    let plan_file = m.path("plan.json");
    let plan_file = plan_file.to_str().unwrap();
    let index_file = m.path("src.idx");
    let index_file = index_file.to_str().unwrap();
    let journal = |n: &str| m.path(n).to_str().unwrap().to_owned();
    let dir = m.path("restored");
    let dir = dir.to_str().unwrap();
    let (j1, j2, j3, j4, j5) = (
        journal("j1.jsonl"),
        journal("j2.jsonl"),
        journal("j3.jsonl"),
        journal("j4.jsonl"),
        journal("j5.jsonl"),
    );
    let empty = journal("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let with = |args: &[&str], extra: &[&str]| -> Vec<String> {
        args.iter().chain(extra).map(|s| (*s).to_owned()).collect()
    };
    // (what, arguments, schema, exit codes accepted); run in this order.
    let runs: Vec<(&str, Vec<String>, &str, &[i32])> = vec![
        (
            "a failure",
            with(&["plan", "s3://no-such-bucket", "--at", &t], &[]),
            "s3rewind.error/v1",
            &[3],
        ),
        (
            "plan",
            with(&["plan", "s3://src", "--at", &t], &[]),
            "s3rewind.plan/v1",
            &[0],
        ),
        (
            "plan --to --out",
            with(
                &[
                    "plan",
                    "s3://src",
                    "--at",
                    &t,
                    "--to",
                    "s3://dst/p/",
                    "--out",
                    plan_file,
                ],
                &[],
            ),
            "s3rewind.plan/v1",
            &[0],
        ),
        (
            "restore --dry-run",
            with(&["restore", "s3://src", "--at", &t, "--dry-run"], &[]),
            "s3rewind.plan/v1",
            &[0],
        ),
        (
            "restore --to",
            with(
                &[
                    "restore",
                    "s3://src",
                    "--at",
                    &t,
                    "--to",
                    "s3://dst/r/",
                    "-y",
                    "--journal",
                    &j1,
                ],
                &[],
            ),
            "s3rewind.restore/v1",
            &[0],
        ),
        (
            "apply",
            with(&["apply", plan_file, "-y", "--journal", &j2], &[]),
            "s3rewind.restore/v1",
            &[0],
        ),
        (
            "undo --dry-run",
            with(&["undo", &j1, "--dry-run"], &[]),
            "s3rewind.plan/v1",
            &[0],
        ),
        (
            "undo",
            with(&["undo", &j1, "-y"], &[]),
            "s3rewind.restore/v1",
            &[0],
        ),
        (
            "undo of nothing",
            with(&["undo", &empty, "-y"], &[]),
            "s3rewind.restore/v1",
            &[0],
        ),
        (
            "restore --to-dir",
            with(
                &[
                    "restore",
                    "s3://src",
                    "--at",
                    &t,
                    "--to-dir",
                    dir,
                    "--journal",
                    &j3,
                ],
                &[],
            ),
            "s3rewind.restore/v1",
            &[0],
        ),
        (
            "verify --to",
            with(
                &["verify", "s3://src", "--at", &t, "--to", "s3://dst/p/"],
                &[],
            ),
            "s3rewind.verify/v1",
            &[0],
        ),
        (
            "verify in place",
            with(&["verify", "s3://src", "--at", &t, "--deep"], &[]),
            "s3rewind.verify/v1",
            &[1],
        ),
        (
            "drill",
            with(
                &[
                    "drill",
                    "s3://src",
                    "--at",
                    &t,
                    "--scratch",
                    "s3://scratch/d/",
                    "--cleanup",
                ],
                &[],
            ),
            "s3rewind.drill/v1",
            &[0],
        ),
        (
            "drill --sample",
            with(
                &[
                    "drill",
                    "s3://src",
                    "--at",
                    &t,
                    "--scratch",
                    "s3://scratch/sampled/",
                    "--sample",
                    "50%",
                    "--cleanup",
                ],
                &[],
            ),
            "s3rewind.drill/v1",
            &[0],
        ),
        (
            "scan",
            with(&["scan", "s3://attacked"], TUNE),
            "s3rewind.scan/v1",
            &[1],
        ),
        (
            "history",
            with(&["history", "s3://src/a.txt"], &[]),
            "s3rewind.history/v1",
            &[0],
        ),
        (
            "diff",
            with(&["diff", "s3://src", "--from", &t], &[]),
            "s3rewind.diff/v1",
            &[1],
        ),
        (
            "timeline",
            with(&["timeline", "s3://attacked"], TUNE),
            "s3rewind.timeline/v1",
            &[0],
        ),
        (
            "ls --at",
            with(&["ls", "s3://src", "--at", &t], &[]),
            "s3rewind.ls/v1",
            &[0],
        ),
        ("ls", with(&["ls", "s3://src"], &[]), "s3rewind.ls/v1", &[0]),
        (
            "index",
            with(&["index", "s3://src", "--out", index_file], &[]),
            "s3rewind.index/v1",
            &[0],
        ),
        (
            "index --refresh",
            with(&["index", "--refresh", index_file], &[]),
            "s3rewind.index/v1",
            &[0],
        ),
        (
            "audit",
            with(&["audit", "s3://audited"], &[]),
            "s3rewind.audit/v1",
            &[1],
        ),
        (
            "policy",
            with(&["policy", "restore", "s3://src", "--kms"], &[]),
            "s3rewind.policy/v1",
            &[0],
        ),
        (
            "policy apply",
            with(&["policy", "apply", plan_file], &[]),
            "s3rewind.policy/v1",
            &[0],
        ),
        (
            "undelete --dry-run",
            with(&["undelete", "s3://src", "--dry-run"], &[]),
            "s3rewind.plan/v1",
            &[0],
        ),
        (
            "undelete --remove-delete-markers --dry-run",
            with(
                &[
                    "undelete",
                    "s3://src",
                    "--remove-delete-markers",
                    "--dry-run",
                ],
                &[],
            ),
            "s3rewind.undelete/v1",
            &[0],
        ),
        (
            "undelete",
            with(&["undelete", "s3://src", "-y", "--journal", &j4], &[]),
            "s3rewind.restore/v1",
            &[0],
        ),
    ];
    let mut seen = BTreeSet::new();
    let mut produced = BTreeSet::new();
    let mut docs = BTreeMap::new();
    for (what, args, schema, codes) in &runs {
        let mut argv = vec!["--output", "json"];
        argv.extend(args.iter().map(String::as_str));
        let r = m.run(&argv);
        assert!(
            codes.contains(&r.code),
            "{what}: exit {} (wanted {codes:?})\n{}\n{}",
            r.code,
            r.stdout,
            r.stderr
        );
        let doc = r.json();
        check(&schemas, schema, &doc, &mut seen, what);
        produced.insert((*schema).to_owned());
        docs.insert(*what, doc);
    }
    // Removing delete markers for real: delete a key, bring it back.
    m.delete("src", "c.txt").await;
    let r = m.run(&[
        "--output",
        "json",
        "undelete",
        "s3://src",
        "--remove-delete-markers",
        "-y",
        "--journal",
        &j5,
    ]);
    r.expect_code(0);
    let doc = r.json();
    check(
        &schemas,
        "s3rewind.undelete/v1",
        &doc,
        &mut seen,
        "undelete --remove-delete-markers",
    );
    assert_eq!(doc["report"]["removed"][0]["key"], "c.txt", "{doc:#}");

    // The documents say what was asked, not only the right shape.
    assert_eq!(docs["restore --to"]["verification"]["ok"], true);
    assert_eq!(docs["restore --to-dir"]["destination"]["kind"], "directory");
    assert_eq!(docs["scan"]["incidents"].as_array().unwrap().len(), 1);
    assert_eq!(docs["ls"]["at"], Value::Null);
    assert_eq!(docs["undo of nothing"]["source"], Value::Null);
    assert_eq!(docs["undo"]["source"]["bucket"], "dst");
    assert_eq!(docs["ls --at"]["keys"], 3);
    assert_eq!(docs["drill"]["sample"], Value::Null);
    assert!(docs["drill --sample"]["sample"]["projection"]["rto_seconds"].is_number());
    assert_eq!(
        docs["audit"]["configuration"]["replication"][0]["replica"]["lifecycle"][0]["noncurrent_days"],
        5
    );
    assert_eq!(docs["policy apply"]["destination"]["bucket"], "dst");
    assert_eq!(docs["policy apply"]["destination"]["prefix"], "p/");

    // The book documents exactly the schemas the commands print.
    produced.extend(CHECKED_ELSEWHERE.iter().map(|(s, _)| (*s).to_owned()));
    let documented: BTreeSet<String> = schemas.keys().cloned().collect();
    assert_eq!(
        documented, produced,
        "the schemas of docs/src/json-output.md and the commands' differ"
    );
    // Every documented row was checked against some document.
    let allowed: BTreeSet<(String, String)> = NOT_PRODUCED
        .iter()
        .map(|(s, p)| ((*s).to_owned(), (*p).to_owned()))
        .collect();
    let unchecked: Vec<String> = schemas
        .iter()
        .flat_map(|(name, rows)| rows.iter().map(move |r| (name.clone(), r.path.clone())))
        .filter(|k| !seen.contains(k) && !allowed.contains(k))
        .filter(|(s, _)| !CHECKED_ELSEWHERE.iter().any(|(e, _)| e == s))
        .map(|(s, p)| format!("{s} `{p}`"))
        .collect();
    assert!(
        unchecked.is_empty(),
        "documented but never produced by this test's history: {unchecked:?}"
    );
}

/// The section's parser and checker catch what they are for.
#[test]
fn the_checker_rejects_a_missing_field_a_wrong_type_and_an_undocumented_field() {
    let schemas = documented_schemas();
    let good = serde_json::json!({
        "schema": "s3rewind.policy/v1",
        "command": "plan",
        "source": null,
        "destination": null,
        "policy": {"Version": "2012-10-17", "Statement": []},
        "notes": [],
    });
    check(
        &schemas,
        "s3rewind.policy/v1",
        &good,
        &mut BTreeSet::new(),
        "good",
    );
    let fails = |doc: Value| {
        std::panic::catch_unwind(|| {
            check(
                &schemas,
                "s3rewind.policy/v1",
                &doc,
                &mut BTreeSet::new(),
                "bad",
            )
        })
        .is_err()
    };
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("notes");
    assert!(fails(missing));
    let mut wrong = good.clone();
    wrong["command"] = serde_json::json!(1);
    assert!(fails(wrong));
    let mut extra = good.clone();
    extra["surprise"] = serde_json::json!(true);
    assert!(fails(extra));
    let mut nested = good.clone();
    nested["policy"]["Id"] = serde_json::json!("x");
    assert!(fails(nested));
    let mut renamed = good;
    renamed["schema"] = serde_json::json!("s3rewind.policy/v2");
    assert!(fails(renamed));
}
