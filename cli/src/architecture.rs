//! No crate of the workspace has an import cycle between its modules (engine, testkit,
//! cli). The CLI's modules import each other without cycles: commands on top, then the pipeline
//! stages, the runner and the executor, the bucket trait, the S3 implementation at the
//! bottom. This test reads the sources and fails on the first cycle it finds.
//!
//! Commands are the top floor: no command imports another (what two share is a stage of
//! [`crate::pipeline`]), and nothing below imports a command.
//!
//! And the S3 client is built at the edge only: outside `s3/`, no source names `S3Bucket`,
//! `S3::` or `S3Connector` except `pipeline.rs`, which builds the binary's
//! [`App`](crate::pipeline::App) on it. Everything else reaches buckets through the
//! `Bucket`, `BucketConfig` and `Endpoint` traits, so every command runs in memory.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The module a source file belongs to, for this purpose: `commands::<name>` for a
/// command, else the top-level module (`bucket/mem.rs` is `bucket`); `None` for the
/// crate root and for test-only files.
fn module_of(rel: &str) -> Option<String> {
    let rel = rel.strip_suffix(".rs")?;
    if rel == "lib"
        || rel == "main"
        || rel == "architecture"
        || rel.contains("tests")
        || rel.ends_with("conformance")
    {
        return None;
    }
    let parts: Vec<&str> = rel.split('/').collect();
    Some(match parts.as_slice() {
        ["commands", name, ..] => format!("commands::{name}"),
        [first, ..] => (*first).to_owned(),
        [] => return None,
    })
}

/// The modules a source mentions as `crate::x` (or `crate::commands::x`), outside
/// comments and its `mod tests`.
fn mentions(src: &str) -> BTreeSet<String> {
    let code = src.split("#[cfg(test)]\nmod tests").next().unwrap_or(src);
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = line.trim_start();
        if line.starts_with("//") {
            continue;
        }
        let mut rest = line;
        while let Some(i) = rest.find("crate::") {
            rest = &rest[i + "crate::".len()..];
            let ident = |s: &str| -> String {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect()
            };
            if let Some(inner) = rest.strip_prefix('{') {
                for item in inner.split('}').next().unwrap_or_default().split(',') {
                    let name = ident(item.trim());
                    if !name.is_empty() {
                        out.insert(name);
                    }
                }
                continue;
            }
            let first = ident(rest);
            if first == "commands" {
                let sub = ident(rest["commands::".len().min(rest.len())..].trim_start());
                out.insert(format!("commands::{sub}"));
            } else if !first.is_empty() {
                out.insert(first);
            }
        }
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    graph_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"))
}

/// The import graph of the crate whose sources are under `root`.
fn graph_of(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let root = root.to_path_buf();
    let mut files = Vec::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                dirs.push(p);
            } else if p.extension().is_some_and(|x| x == "rs") {
                files.push(p);
            }
        }
    }
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files {
        let rel = f
            .strip_prefix(&root)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let Some(m) = module_of(&rel) else { continue };
        let deps = mentions(&std::fs::read_to_string(&f).unwrap());
        let entry = g.entry(m.clone()).or_default();
        entry.extend(deps.into_iter().filter(|d| *d != m));
    }
    g
}

fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        n: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = path.iter().position(|p| p == n) {
            let mut cycle = path[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        path.push(n.to_owned());
        for d in g.get(n).into_iter().flatten() {
            if g.contains_key(d)
                && let Some(c) = visit(d, g, path, done)
            {
                return Some(c);
            }
        }
        path.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    g.keys()
        .find_map(|n| visit(n, g, &mut Vec::new(), &mut done))
}

#[test]
fn cli_modules_import_each_other_without_cycles() {
    let g = graph();
    assert!(g.contains_key("commands::restore") && g.contains_key("bucket"));
    assert!(
        g["pipeline"].contains("execute"),
        "the reader of imports is broken: {g:?}"
    );
    if let Some(c) = find_cycle(&g) {
        panic!("import cycle: {}", c.join(" -> "));
    }
}

/// Every crate of the workspace, not only this one: the engine's modules (where
/// `pairs.rs` and `plan.rs` once imported each other) and testkit's.
#[test]
fn no_crate_of_the_workspace_has_an_import_cycle() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for krate in ["engine", "testkit", "cli"] {
        let g = graph_of(&workspace.join(krate).join("src"));
        assert!(
            g.len() >= 3,
            "{krate}: the reader of imports found no modules: {g:?}"
        );
        if let Some(c) = find_cycle(&g) {
            panic!("{krate}: import cycle: {}", c.join(" -> "));
        }
    }
    let engine = graph_of(&workspace.join("engine/src"));
    assert!(
        engine["plan"].contains("pairs") && engine["model"].contains("compact"),
        "the reader of imports is broken: {engine:?}"
    );
}

/// The edges of the graph that break the floors: a command importing another command,
/// or a module that is not a command importing one.
fn upward_imports(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut out = Vec::new();
    for (m, deps) in g {
        for d in deps.iter().filter(|d| d.starts_with("commands::")) {
            if m.starts_with("commands::") {
                out.push(format!("command {m} imports command {d}"));
            } else {
                out.push(format!("{m} imports command {d}"));
            }
        }
    }
    out
}

#[test]
fn no_command_imports_another_and_nothing_imports_a_command() {
    let g = graph();
    assert!(
        g["commands::drill"].contains("pipeline"),
        "the reader of imports is broken: {g:?}"
    );
    let wrong = upward_imports(&g);
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Source files (relative to `src/`) outside `s3/` whose code names the S3 client.
fn s3_client_users() -> BTreeSet<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeSet::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p
                .strip_prefix(&root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            if rel == "s3" || rel == "s3.rs" || rel == "architecture.rs" {
                continue;
            }
            if p.is_dir() {
                dirs.push(p);
                continue;
            }
            let src = std::fs::read_to_string(&p).unwrap();
            let names_it = src
                .lines()
                .map(str::trim_start)
                .filter(|l| !l.starts_with("//"))
                .any(|l| l.contains("S3Bucket") || l.contains("S3::") || l.contains("S3Connector"));
            if names_it {
                out.insert(rel);
            }
        }
    }
    out
}

#[test]
fn only_the_edge_builds_the_s3_client() {
    assert_eq!(
        s3_client_users(),
        BTreeSet::from(["pipeline.rs".to_owned()]),
        "only pipeline.rs may name S3Bucket, S3:: or S3Connector outside s3/"
    );
}

#[test]
fn a_cycle_is_found() {
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(find_cycle(&g).unwrap().len(), 4);
    g.get_mut("c").unwrap().clear();
    assert_eq!(find_cycle(&g), None);
    g.insert(
        "commands::a".to_owned(),
        BTreeSet::from(["commands::b".to_owned(), "pipeline".to_owned()]),
    );
    g.insert(
        "pipeline".to_owned(),
        BTreeSet::from(["commands::c".to_owned()]),
    );
    assert_eq!(
        upward_imports(&g),
        [
            "command commands::a imports command commands::b",
            "pipeline imports command commands::c"
        ]
    );
    assert_eq!(
        mentions(
            "use crate::{bucket::Bucket, run};\nlet x = crate::commands::scan::f();\n// crate::zzz"
        ),
        BTreeSet::from([
            "bucket".to_owned(),
            "run".to_owned(),
            "commands::scan".to_owned()
        ])
    );
}
