//! Corruption detection against moto: `scan`, and `plan`/`restore` with
//! `--before-corruption` and `--per-key`.
//!
//! moto's timestamps are whole seconds and writes cannot be back-dated, so each history
//! is built over a few seconds (normal activity one change per second, then an incident
//! in one second) and detection is tuned to that scale with [`TUNE`].

use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Detection thresholds for histories that last seconds instead of days.
const TUNE: &[&str] = &["--window", "1s", "--gap", "2s", "--established", "0s"];

/// `args` followed by [`TUNE`].
fn tuned<'a>(args: &[&'a str]) -> Vec<&'a str> {
    args.iter().chain(TUNE).copied().collect()
}

/// Bytes that look like ciphertext (splitmix64).
pub fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(n);
    out
}

/// A text document of a size that differs per key and revision.
pub fn text_doc(i: usize, rev: usize) -> Vec<u8> {
    let line = format!("Quarterly report {i}, revision {rev}: revenue, costs and notes.\n");
    line.repeat(5 + i * 3 + rev).into_bytes()
}

/// A healthy office bucket: `n` text documents, then one normal edit per second for
/// three seconds and a delete. Returns the current contents and every key's current
/// version id.
pub async fn office(
    m: &Moto,
    bucket: &str,
    n: usize,
) -> (BTreeMap<String, Vec<u8>>, BTreeMap<String, String>) {
    m.bucket(bucket, true).await;
    let mut contents = BTreeMap::new();
    let mut ids = BTreeMap::new();
    for i in 0..n {
        let key = format!("docs/report-{i:02}.txt");
        let body = text_doc(i, 0);
        ids.insert(key.clone(), m.put(bucket, &key, &body).await);
        contents.insert(key, body);
    }
    m.put(bucket, "tmp/scratch.txt", b"scratch space, deleted soon")
        .await;
    for (i, rev) in [(1usize, 1usize), (3, 2), (5, 1)] {
        next_second().await;
        let key = format!("docs/report-{i:02}.txt");
        let body = text_doc(i, rev);
        ids.insert(key.clone(), m.put(bucket, &key, &body).await);
        contents.insert(key, body);
    }
    next_second().await;
    m.delete(bucket, "tmp/scratch.txt").await;
    next_second().await;
    (contents, ids)
}

/// Encrypt `keys` in place, in one burst, the way ransomware does: random bytes of the
/// original size plus a 28-byte header (`overhead` 0: a stream cipher, same size).
async fn encrypt(
    m: &Moto,
    bucket: &str,
    contents: &BTreeMap<String, Vec<u8>>,
    keys: &[String],
    overhead: usize,
) {
    next_second().await;
    for (n, key) in keys.iter().enumerate() {
        let len = contents[key].len() + overhead;
        m.put(bucket, key, &random_bytes(len, 1000 + n as u64))
            .await;
    }
}

fn first_keys(contents: &BTreeMap<String, Vec<u8>>, n: usize) -> Vec<String> {
    contents
        .keys()
        .filter(|k| k.starts_with("docs/"))
        .take(n)
        .cloned()
        .collect()
}

fn incident_keys(incident: &Value) -> BTreeSet<String> {
    incident["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["key"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_finds_encryption_in_place_and_nothing_in_a_healthy_history() {
    let m = Moto::start().await;
    let (healthy, _) = office(&m, "healthy", 10).await;
    let r = m.run(&tuned(&["--output", "json", "scan", "s3://healthy"]));
    r.expect_code(0);
    let report = r.json();
    assert_eq!(report["schema"], "s3rewind.scan/v1");
    assert_eq!(report["incidents"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["stats"]["keys"], healthy.len() + 1);
    let r = m.run(&tuned(&["scan", "s3://healthy"]));
    r.expect_code(0);
    assert!(r.stdout.contains("No incident found."), "{}", r.stdout);

    let (contents, ids) = office(&m, "office", 10).await;
    let victims = first_keys(&contents, 6);
    encrypt(&m, "office", &contents, &victims, 28).await;
    let r = m.run(&tuned(&["--output", "json", "scan", "s3://office"]));
    r.expect_code(1);
    let report = r.json();
    let incidents = report["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1, "{report}");
    let i = &incidents[0];
    assert_eq!(
        incident_keys(i),
        victims.iter().cloned().collect(),
        "{report}"
    );
    assert_eq!(i["kinds"], serde_json::json!(["encrypted"]), "{report}");
    assert_eq!(i["confidence"], "high", "content confirms it: {report}");
    for k in i["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        assert_eq!(k["kind"], "encrypted");
        assert_eq!(k["last_good_version"], ids[key].as_str(), "{key}");
    }

    // The human report names the keys, the kind and the evidence.
    let r = m.run(&tuned(&["scan", "s3://office"]));
    r.expect_code(1);
    for needle in [
        "Incident 1:",
        "encrypted",
        "confidence high",
        "evidence:",
        "grew by exactly 28 bytes",
        victims[0].as_str(),
        "last good",
        "--before-corruption",
    ] {
        assert!(
            r.stdout.contains(needle),
            "missing {needle:?}:\n{}",
            r.stdout
        );
    }

    // A window that ends before the incident sees nothing.
    let before = m
        .run(&[
            "--output",
            "json",
            "history",
            &format!("s3://office/{}", victims[0]),
        ])
        .json()["entries"][1]["last_modified"]
        .as_str()
        .unwrap()
        .to_owned();
    m.run(&tuned(&["scan", "s3://office", "--until", &before]))
        .expect_code(0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_samples_find_what_metadata_cannot() {
    let m = Moto::start().await;
    let (contents, _) = office(&m, "stream", 10).await;
    let victims = first_keys(&contents, 6);
    // A stream cipher: same sizes, so no size signature; only the bytes tell.
    encrypt(&m, "stream", &contents, &victims, 0).await;

    let r = m.run(&tuned(&[
        "--output",
        "json",
        "scan",
        "s3://stream",
        "--sample",
        "0",
    ]));
    r.expect_code(0);
    assert_eq!(r.json()["stats"]["samples"], 0);

    for budget in [&["--sample", "40"][..], &[][..]] {
        let mut args = vec!["--output", "json", "scan", "s3://stream"];
        args.extend_from_slice(budget);
        let r = m.run(&tuned(&args));
        r.expect_code(1);
        let report = r.json();
        let i = &report["incidents"][0];
        assert_eq!(
            incident_keys(i),
            victims.iter().cloned().collect(),
            "{report}"
        );
        assert_eq!(i["kinds"], serde_json::json!(["encrypted"]), "{report}");
        assert!(
            report["stats"]["samples_bad"].as_u64().unwrap() >= 6,
            "{report}"
        );
        let content = i["keys"][0]["content"].as_str().unwrap_or_default();
        assert!(content.contains("bits/byte"), "{report}");
    }
}

/// A PDF of `len` bytes (more than the 4 KiB a sample reads), ending in `%%EOF`.
fn pdf(i: usize, len: usize) -> Vec<u8> {
    let mut out = format!("%PDF-1.4\n% report {i}\n").into_bytes();
    let body = format!("{i} 0 obj << /Type /Page /Contents (quarterly figures) >> endobj\n");
    while out.len() + body.len() + 6 < len {
        out.extend_from_slice(body.as_bytes());
    }
    out.extend_from_slice(b"%%EOF\n");
    out
}

/// Accepts a PDF only when it starts with `%PDF` and ends with `%%EOF`: it needs the
/// whole object, not the first bytes.
const PDF_VALIDATOR: &str = r#"f=$(mktemp); cat > "$f"; head -c 4 "$f" | grep -q '%PDF' && tail -c 6 "$f" | grep -q '%%EOF'; r=$?; rm -f "$f"; exit $r"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validator_flags_damaged_pdfs_it_receives_whole() {
    let m = Moto::start().await;
    m.bucket("pdfs", true).await;
    let mut originals = BTreeMap::new();
    for i in 0..8 {
        let key = format!("reports/r{i}.pdf");
        let body = pdf(i, 6000 + i * 500);
        m.put("pdfs", &key, &body).await;
        originals.insert(key, body);
    }
    next_second().await;
    m.put("pdfs", "reports/r0.pdf", &pdf(0, 6100)).await; // a normal edit
    next_second().await;
    next_second().await;
    // A broken upload job: every PDF cut short; the first 4 KiB are still a fine PDF.
    let damaged: Vec<String> = originals.keys().skip(1).take(6).cloned().collect();
    for key in &damaged {
        let body = &originals[key];
        m.put("pdfs", key, &body[..body.len() * 2 / 3]).await;
    }

    // Metadata and the first bytes see nothing wrong.
    m.run(&tuned(&["scan", "s3://pdfs", "--deep"]))
        .expect_code(0);

    let r = m.run(&tuned(&[
        "--output",
        "json",
        "scan",
        "s3://pdfs",
        "--deep",
        "--validate-cmd",
        PDF_VALIDATOR,
    ]));
    r.expect_code(1);
    let report = r.json();
    let i = &report["incidents"][0];
    assert_eq!(
        incident_keys(i),
        damaged.iter().cloned().collect(),
        "{report}"
    );
    assert_eq!(i["kinds"], serde_json::json!(["invalid"]), "{report}");

    // A validator that cannot be started is a usage error, before any verdict.
    let r = m.run(&tuned(&[
        "scan",
        "s3://pdfs",
        "--deep",
        "--validate-cmd",
        "/nonexistent/validator",
    ]));
    r.expect_code(2);
    assert!(
        r.stderr.contains("the validator cannot be started"),
        "{}",
        r.stderr
    );
    // One that hangs is killed at the time limit; the scan goes on without its verdict.
    let r = m.run(&tuned(&[
        "scan",
        "s3://pdfs",
        "--sample",
        "2",
        "--validate-cmd",
        "sleep 30",
        "--validate-timeout",
        "1s",
    ]));
    r.expect_code(0);
    assert!(r.stderr.contains("--validate-timeout"), "{}", r.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_before_corruption_undoes_a_locked_rename() {
    let m = Moto::start().await;
    let (contents, _) = office(&m, "files", 10).await;
    let victims = first_keys(&contents, 7);
    next_second().await;
    // Ransomware that writes `X.locked` (encrypted, +28 bytes), deletes X and leaves a
    // note.
    for (n, key) in victims.iter().enumerate() {
        let locked = random_bytes(contents[key].len() + 28, 77 + n as u64);
        m.put("files", &format!("{key}.locked"), &locked).await;
        m.delete("files", key).await;
    }
    m.put("files", "docs/HOW-TO-RESTORE.txt", b"send 1 BTC")
        .await;

    let r = m.run(&tuned(&["--output", "json", "scan", "s3://files"]));
    r.expect_code(1);
    let report = r.json();
    let i = &report["incidents"][0];
    assert!(
        i["kinds"]
            .as_array()
            .unwrap()
            .contains(&Value::from("renamed")),
        "{report}"
    );
    // Each original is renamed (its last good version is the one before the marker);
    // each `.locked` copy, and the note, did not exist before.
    let mut want: BTreeSet<String> = victims.iter().cloned().collect();
    want.extend(victims.iter().map(|k| format!("{k}.locked")));
    want.insert("docs/HOW-TO-RESTORE.txt".into());
    assert_eq!(incident_keys(i), want, "{report}");
    for k in i["keys"].as_array().unwrap() {
        let key = k["key"].as_str().unwrap();
        let created = key.ends_with(".locked") || key == "docs/HOW-TO-RESTORE.txt";
        assert_eq!(k["last_good_version"].is_null(), created, "{k}");
    }

    let plan = m.run(&tuned(&[
        "--output",
        "json",
        "plan",
        "s3://files",
        "--before-corruption",
    ]));
    plan.expect_code(0);
    let p = plan.json();
    // The originals come back (copies of their last versions); the `.locked` copies and
    // the note get delete markers.
    assert_eq!(p["stats"]["copies"], victims.len(), "{p}");
    assert_eq!(p["stats"]["delete_markers"], victims.len() + 1, "{p}");

    m.run(&tuned(&[
        "restore",
        "s3://files",
        "--before-corruption",
        "--yes",
    ]))
    .expect_code(0);
    assert_eq!(m.contents("files", "").await, contents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_per_key_fixes_only_the_damaged_keys() {
    let m = Moto::start().await;
    let (mut contents, _) = office(&m, "docs", 10).await;
    let victims = first_keys(&contents, 6);
    encrypt(&m, "docs", &contents, &victims, 28).await;
    // Legitimate work after the incident: an untouched key edited (it shrinks, so it
    // shares no size signature with the attack), and a new key.
    for _ in 0..3 {
        next_second().await;
    }
    let untouched = "docs/report-09.txt".to_owned();
    assert!(!victims.contains(&untouched));
    let edit = b"Quarterly report 9, final: approved.\n".to_vec();
    m.put("docs", &untouched, &edit).await;
    m.put(
        "docs",
        "docs/new-memo.txt",
        b"A new memo written after the incident.\n",
    )
    .await;

    let plan = m.run(&tuned(&[
        "--output",
        "json",
        "plan",
        "s3://docs",
        "--per-key",
    ]));
    plan.expect_code(0);
    let p = plan.json();
    assert_eq!(p["stats"]["copies"], victims.len(), "{p}");
    assert_eq!(p["stats"]["delete_markers"], 0, "{p}");

    m.run(&tuned(&["restore", "s3://docs", "--per-key", "--yes"]))
        .expect_code(0);
    contents.insert(untouched, edit);
    contents.insert(
        "docs/new-memo.txt".into(),
        b"A new memo written after the incident.\n".to_vec(),
    );
    assert_eq!(m.contents("docs", "").await, contents);

    // The same history restored --before-corruption loses the later work.
    let p = m
        .run(&tuned(&[
            "--output",
            "json",
            "plan",
            "s3://docs",
            "--before-corruption",
        ]))
        .json();
    assert!(p["stats"]["delete_markers"].as_u64().unwrap() >= 1, "{p}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_key_brings_back_the_originals_of_a_few_locked_copies() {
    let m = Moto::start().await;
    let (contents, _) = office(&m, "mixed", 10).await;
    let victims = first_keys(&contents, 6);
    encrypt(&m, "mixed", &contents, &victims, 28).await;
    // Two renames: too few for a rename signal, but their copies' content is damaged;
    // the incident takes the deleted originals along, so no warning is needed.
    for key in ["docs/report-08.txt", "docs/report-09.txt"] {
        let locked = random_bytes(contents[key].len() + 28, 5);
        m.put("mixed", &format!("{key}.locked"), &locked).await;
        m.delete("mixed", key).await;
    }
    let r = m.run(&tuned(&[
        "--output",
        "json",
        "plan",
        "s3://mixed",
        "--per-key",
    ]));
    r.expect_code(0);
    assert!(
        !r.stderr.contains("--per-key would remove the copies"),
        "{}",
        r.stderr
    );
    let p = r.json();
    // The six encrypted keys and the two originals come back; the copies go.
    assert_eq!(p["stats"]["copies"], 8, "{p}");
    assert_eq!(p["stats"]["delete_markers"], 2, "{p}");
    m.run(&tuned(&["restore", "s3://mixed", "--per-key", "--yes"]))
        .expect_code(0);
    assert_eq!(m.contents("mixed", "").await, contents);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_refuses_bad_input() {
    let m = Moto::start().await;
    m.bucket("plain", false).await;
    m.put("plain", "k", b"v").await;
    m.bucket("versioned", true).await;
    m.put("versioned", "k", b"v").await;

    let r = m.run(&["scan", "s3://plain"]);
    r.expect_code(4);
    assert!(r.stderr.contains("s3rewind: error:"), "{}", r.stderr);
    let r = m.run(&["scan", "s3://no-such-bucket"]);
    r.expect_code(3);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = m.run(&["scan", "s3://versioned", "--since", "yesterday"]);
    r.expect_code(2);
    assert!(r.stderr.contains("invalid TIME"), "{}", r.stderr);
    m.run(&["scan", "s3://versioned", "--since", "1h", "--until", "2h"])
        .expect_code(2);
    m.run(&["scan", "s3://versioned", "--window", "soon"])
        .expect_code(2);
    m.run(&["scan", "s3://versioned", "--sample", "3", "--deep"])
        .expect_code(2);
    // Nothing to restore to before: a documented exit 1, nothing written.
    let before = m.versions("versioned").await;
    let r = m.run(&["restore", "s3://versioned", "--before-corruption", "--yes"]);
    r.expect_code(1);
    assert!(r.stderr.contains("found no incident"), "{}", r.stderr);
    assert_eq!(m.versions("versioned").await, before);
}
