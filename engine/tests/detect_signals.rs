//! One history per detection rule, built by hand on the simulator: each test shows the
//! rule firing on damage and staying quiet on the healthy look-alike it exists for.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use s3rewind_engine::detect::{
    Confidence, DamageKind, DetectOptions, ScanReport, detect, per_key_target,
};
use s3rewind_engine::{PutMeta, SimBucket, StorageClass, Versioning};
use s3rewind_testkit::scenarios::{samples_for, timeline_of};

const OWNER: &str = "owner-main";

fn t(day: i64, h: i64, m: i64, s: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 4, 0, 0, 0).unwrap()
        + TimeDelta::seconds(day * 86_400 + h * 3600 + m * 60 + s)
}

struct Rng(s3rewind_testkit::Prng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }

    fn text(&mut self, n: usize) -> Vec<u8> {
        const W: &[&str] = &[
            "alpha", "beta", "gamma", "delta", "report", "total", "north",
        ];
        let mut v = Vec::new();
        while v.len() < n {
            v.extend_from_slice(W[(self.next() % W.len() as u64) as usize].as_bytes());
            v.push(if self.next().is_multiple_of(9) {
                b'\n'
            } else {
                b' '
            });
        }
        v.truncate(n);
        v
    }
}

fn put(b: &mut SimBucket, key: &str, bytes: &[u8], at: DateTime<Utc>, owner: &str) {
    let meta = PutMeta {
        content_type: None,
        owner_id: Some(owner.to_owned()),
        storage_class: None,
        multipart_parts: None,
    };
    b.put_with(key, bytes, at, &meta);
}

/// A week of ordinary activity: 40 text documents created on day 0 and edited now and
/// then (random sizes) until day 6.
fn office(rng: &mut Rng) -> (SimBucket, Vec<String>) {
    let mut b = SimBucket::new(Versioning::Enabled, "v");
    let keys: Vec<String> = (0..40)
        .map(|i| format!("docs/team{}/note-{i:02}.txt", i % 4))
        .collect();
    for (i, k) in keys.iter().enumerate() {
        let n = 2_000 + (rng.next() % 8_000) as usize;
        put(&mut b, k, &rng.text(n), t(0, 9, 0, i as i64 * 5), OWNER);
    }
    for day in 1..=6 {
        for h in [10, 12, 15] {
            let k = &keys[(rng.next() % keys.len() as u64) as usize];
            let n = 2_000 + (rng.next() % 8_000) as usize;
            put(&mut b, k, &rng.text(n), t(day, h, 7, 0), OWNER);
        }
    }
    (b, keys)
}

fn scan(b: &SimBucket, options: &DetectOptions) -> ScanReport {
    detect(&timeline_of(b), &[], options)
}

fn scan_with_content(b: &SimBucket) -> ScanReport {
    let tl = timeline_of(b);
    let options = DetectOptions::default();
    let wanted = s3rewind_engine::detect::sample_plan(&tl, &options, None, true);
    detect(&tl, &samples_for(b, &wanted), &options)
}

#[test]
fn a_nightly_fixed_size_append_is_routine_after_its_first_night() {
    // Fixed-size binary records, and CSV rows (text, where a fixed growth alone is
    // taken for an append rather than a cipher's overhead).
    for ext in ["dat", "csv"] {
        let mut rng = Rng(s3rewind_testkit::Prng(1));
        let (mut b, _) = office(&mut rng);
        let tables: Vec<String> = (0..20)
            .map(|i| format!("warehouse/t{i:02}.{ext}"))
            .collect();
        let mut content: Vec<Vec<u8>> = tables
            .iter()
            .map(|_| {
                let n = 3_000 + (rng.next() % 2_000) as usize;
                rng.text(n)
            })
            .collect();
        for (k, c) in tables.iter().zip(&content) {
            put(&mut b, k, c, t(0, 1, 0, 0), OWNER);
        }
        // Every night each table gets 24 more rows of exactly 20 bytes.
        for night in 1..=6 {
            for (i, k) in tables.iter().enumerate() {
                content[i].extend(rng.text(480));
                put(&mut b, k, &content[i], t(night, 2, 0, i as i64 * 3), OWNER);
            }
        }
        let whole = scan(&b, &DetectOptions::default());
        if ext == "csv" {
            // Text files growing by a fixed amount: alone, not worth a report.
            assert!(whole.incidents.is_empty(), "{whole}");
        } else {
            // The first night has no baseline yet: it is reported, weakly.
            assert_eq!(whole.incidents.len(), 1, "{whole}");
            assert_eq!(whole.incidents[0].start, t(1, 2, 0, 0));
            assert_eq!(whole.incidents[0].confidence, Confidence::Low, "{whole}");
            assert!(
                whole.incidents[0].evidence[0].contains("typical of cipher overhead"),
                "{whole}"
            );
        }
        // Scanning the last day: routine.
        let last_day = DetectOptions {
            since: Some(t(6, 0, 0, 0)),
            ..DetectOptions::default()
        };
        assert!(scan(&b, &last_day).incidents.is_empty());

        // An attack with the same +480 bytes on three times as many keys is not routine.
        let mut victims = tables.clone();
        for i in 0..40 {
            let k = format!("docs/more-{i:02}.txt");
            put(&mut b, &k, &rng.text(3_000), t(2, 9, 0, i), OWNER);
            victims.push(k);
        }
        for (i, k) in victims.iter().enumerate() {
            let size = b.head(k).unwrap().version.size as usize;
            put(
                &mut b,
                k,
                &rng.bytes(size + 480),
                t(7, 3, 0, i as i64),
                OWNER,
            );
        }
        let report = scan(&b, &last_day);
        assert_eq!(report.incidents.len(), 1, "{ext}: {report}");
        let i = &report.incidents[0];
        assert_eq!(i.kinds, [DamageKind::Encrypted]);
        assert_eq!(i.keys.len(), 60);
        assert!(
            i.evidence.iter().all(|e| !e.contains("routine")),
            "{report}"
        );
    }
}

/// 30 documents copied to `<key><suffix>` then deleted, one every few seconds.
fn rename_all(b: &mut SimBucket, keys: &[String], suffix: &str, encrypt: Option<&mut Rng>) {
    let mut rng = encrypt;
    for (i, k) in keys.iter().enumerate() {
        let at = t(7, 22, 0, i as i64 * 3);
        let bytes = b.head(k).unwrap().content.clone().unwrap().to_vec();
        let copy = match rng.as_deref_mut() {
            Some(r) => r.bytes(bytes.len() + 16),
            None => bytes,
        };
        put(b, &format!("{k}{suffix}"), &copy, at, OWNER);
        b.delete_by(k, at + TimeDelta::seconds(1), OWNER);
    }
}

#[test]
fn renames_that_keep_the_bytes_are_moves_and_encrypted_copies_are_not() {
    let mut rng = Rng(s3rewind_testkit::Prng(2));
    let (base, keys) = office(&mut rng);
    let mut moved = base.clone();
    rename_all(&mut moved, &keys[..30], ".processed", None);
    let report = scan(&moved, &DetectOptions::default());
    assert!(report.incidents.is_empty(), "{report}");

    let mut locked = base;
    rename_all(&mut locked, &keys[..30], ".processed", Some(&mut rng));
    let report = scan(&locked, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    let i = &report.incidents[0];
    assert_eq!(i.kinds, [DamageKind::Renamed, DamageKind::Planted]);
    assert_eq!(i.keys.len(), 60);
    for k in &i.keys {
        let original = !k.key.ends_with(".processed");
        assert_eq!(k.last_good_version.is_some(), original, "{}", k.key);
    }
}

#[test]
fn moving_a_folder_is_not_a_wipe_but_deleting_it_is() {
    let mut rng = Rng(s3rewind_testkit::Prng(3));
    let (base, keys) = office(&mut rng);
    let folder: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("docs/team1/"))
        .collect();
    assert_eq!(folder.len(), 10);
    let mut moved = base.clone();
    for (i, k) in folder.iter().enumerate() {
        let at = t(7, 11, 0, i as i64 * 2);
        let bytes = moved.head(k).unwrap().content.clone().unwrap().to_vec();
        put(
            &mut moved,
            &k.replace("docs/", "archive/"),
            &bytes,
            at,
            OWNER,
        );
        moved.delete_by(k, at + TimeDelta::seconds(1), OWNER);
    }
    let report = scan(&moved, &DetectOptions::default());
    assert!(report.incidents.is_empty(), "{report}");

    let mut wiped = base;
    for (i, k) in folder.iter().enumerate() {
        wiped.delete_by(k, t(7, 11, 0, i as i64 * 2), OWNER);
    }
    let report = scan(&wiped, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.incidents[0].kinds, [DamageKind::Deleted]);
    assert_eq!(report.incidents[0].keys.len(), 10);
}

#[test]
fn an_age_cutoff_cleanup_is_not_a_wipe_but_a_random_one_is() {
    let mut rng = Rng(s3rewind_testkit::Prng(4));
    let (mut base, _) = office(&mut rng);
    // One export a day for a week, then many on the last day.
    let mut exports = Vec::new();
    for day in 0..7 {
        for i in 0..4 {
            let k = format!("exports/{day}-{i}.txt");
            put(&mut base, &k, &rng.text(1_500), t(day, 18, i, 0), OWNER);
            exports.push(k);
        }
    }
    // The first run of a cleanup: everything but the last two days' exports.
    let mut cleaned = base.clone();
    for (i, k) in exports[..20].iter().enumerate() {
        cleaned.delete_by(k, t(7, 4, 0, i as i64), OWNER);
    }
    let report = scan(&cleaned, &DetectOptions::default());
    assert!(report.incidents.is_empty(), "{report}");
    // The same number of deletes, but the newest ones survive only by chance.
    let mut wiped = base;
    for (i, k) in exports.iter().enumerate().filter(|(i, _)| i % 7 != 3) {
        wiped.delete_by(k, t(7, 4, 0, i as i64), OWNER);
    }
    let report = scan(&wiped, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.incidents[0].kinds, [DamageKind::Deleted]);
}

#[test]
fn a_new_writer_overwriting_many_keys_is_reported_unless_content_clears_it() {
    let mut rng = Rng(s3rewind_testkit::Prng(5));
    let (mut b, keys) = office(&mut rng);
    // Another account rewrites 12 documents in two minutes: new text, random sizes.
    for (i, k) in keys.iter().take(12).enumerate() {
        let n = 2_000 + (rng.next() % 8_000) as usize;
        put(
            &mut b,
            k,
            &rng.text(n),
            t(7, 13, 0, i as i64 * 10),
            "owner-unknown",
        );
    }
    let report = scan(&b, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    let i = &report.incidents[0];
    assert_eq!(i.kinds, [DamageKind::Overwritten]);
    assert_eq!(i.confidence, Confidence::Low);
    assert_eq!(i.writers, ["owner-unknown"]);
    assert!(
        i.evidence.iter().any(|e| e.contains("first seen")),
        "{report}"
    );
    // Sampled, the new versions are fine text: the content clears the writer.
    let report = scan_with_content(&b);
    assert!(report.incidents.is_empty(), "{report}");
}

#[test]
fn a_storage_class_change_strengthens_an_incident() {
    let mut rng = Rng(s3rewind_testkit::Prng(6));
    let (base, keys) = office(&mut rng);
    let attack = |class: Option<StorageClass>, rng: &mut Rng| {
        let mut b = base.clone();
        for (i, k) in keys.iter().take(20).enumerate() {
            let size = b.head(k).unwrap().version.size as usize;
            let meta = PutMeta {
                content_type: None,
                owner_id: Some(OWNER.to_owned()),
                storage_class: class,
                multipart_parts: None,
            };
            b.put_with(k, &rng.bytes(size + 28), t(7, 3, 0, i as i64 * 60), &meta);
        }
        scan(&b, &DetectOptions::default())
    };
    let plain = attack(None, &mut rng);
    let archived = attack(Some(StorageClass::new("DEEP_ARCHIVE")), &mut rng);
    assert_eq!(plain.incidents.len(), 1);
    assert_eq!(archived.incidents.len(), 1);
    assert!(archived.incidents[0].score > plain.incidents[0].score);
    assert!(
        archived.incidents[0]
            .evidence
            .iter()
            .any(|e| e.contains("storage class")),
        "{archived}"
    );
}

#[test]
fn one_content_over_many_keys_is_wrong_but_identical_new_files_are_not_alone() {
    let mut rng = Rng(s3rewind_testkit::Prng(7));
    let (base, keys) = office(&mut rng);
    let page = rng.text(700);
    // A notice copied into six folders: new files, nothing lost.
    let mut notes = base.clone();
    for i in 0..6 {
        put(
            &mut notes,
            &format!("docs/f{i}/NOTICE.txt"),
            &page,
            t(7, 9, 0, i),
            OWNER,
        );
    }
    assert!(scan(&notes, &DetectOptions::default()).incidents.is_empty());
    // The same bytes written over eight different documents.
    let mut over = base;
    for (i, k) in keys.iter().take(8).enumerate() {
        put(&mut over, k, &page, t(7, 9, 0, i as i64 * 30), OWNER);
    }
    let report = scan(&over, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.incidents[0].kinds, [DamageKind::WrongType]);
    assert_eq!(report.incidents[0].keys.len(), 8);
}

/// The tuning of a scan against a bucket whose whole history took seconds (a local S3
/// server in a demo or a test): 1-second bins, 2-second gaps, every object established.
fn quick() -> DetectOptions {
    DetectOptions {
        bin_secs: Some(1),
        gap_secs: Some(2),
        established_secs: Some(0),
        ..DetectOptions::default()
    }
}

/// Scan with up to 1,000 content samples, as the CLI does by default.
fn scan_sampled(b: &SimBucket, options: &DetectOptions) -> ScanReport {
    let tl = timeline_of(b);
    let wanted = s3rewind_engine::detect::sample_plan(&tl, options, Some(1000), false);
    detect(&tl, &samples_for(b, &wanted), options)
}

/// Ransomware's rename: `k` written again, encrypted, as `k.locked` (16 bytes longer)
/// at 00:00:05, and `k` deleted.
fn lock(b: &mut SimBucket, rng: &mut Rng, k: &str) {
    let size = b.head(k).unwrap().version.size as usize;
    put(
        b,
        &format!("{k}.locked"),
        &rng.bytes(size + 16),
        t(0, 0, 0, 5),
        OWNER,
    );
    b.delete_by(k, t(0, 0, 0, 5), OWNER);
}

/// 20 text documents uploaded in the first second of the bucket's life.
fn young_docs(rng: &mut Rng) -> (SimBucket, Vec<String>) {
    let mut b = SimBucket::new(Versioning::Enabled, "v");
    let keys: Vec<String> = (0..20).map(|i| format!("docs/report-{i:02}.txt")).collect();
    for k in &keys {
        let n = 300 + (rng.next() % 500) as usize;
        put(&mut b, k, &rng.text(n), t(0, 0, 0, 0), OWNER);
    }
    (b, keys)
}

#[test]
fn a_few_locked_copies_bring_their_deleted_originals_along() {
    // Eight documents encrypted in place, then three renamed to `.locked` (random bytes)
    // with the original deleted: too few renames for a rename run of their own, but the
    // copies' content is damaged. Once with three other documents, once with three of
    // the encrypted ones.
    for renamed_from in [8..11, 5..8] {
        let mut rng = Rng(s3rewind_testkit::Prng(11));
        let (mut b, keys) = young_docs(&mut rng);
        for k in &keys[..8] {
            let size = b.head(k).unwrap().version.size as usize;
            put(&mut b, k, &rng.bytes(size + 16), t(0, 0, 0, 5), OWNER);
        }
        for k in &keys[renamed_from.clone()] {
            lock(&mut b, &mut rng, k);
        }
        let report = scan_sampled(&b, &quick());
        assert_eq!(report.incidents.len(), 1, "{report}");
        let i = &report.incidents[0];
        for k in &keys[renamed_from.clone()] {
            assert!(
                i.keys.iter().any(|a| a.key == format!("{k}.locked")),
                "{k}.locked: {report}"
            );
            let a = i
                .keys
                .iter()
                .find(|a| &a.key == k)
                .unwrap_or_else(|| panic!("{k} is not in the incident:\n{report}"));
            assert!(a.last_good_version.is_some(), "{k}");
        }
        // --per-key brings every original back as it was before the incident, and
        // removes the copies.
        let tl = timeline_of(&b);
        let target = per_key_target(&tl, &report);
        let before = b.truth_at(t(0, 0, 0, 4));
        for k in &keys[..11] {
            let v = target.get(k).unwrap_or_else(|| panic!("{k} stays deleted"));
            assert_eq!(
                b.version(k, &v.version_id.as_str())
                    .unwrap()
                    .content
                    .as_ref(),
                before.get(k),
                "{k}"
            );
        }
        for k in &keys[renamed_from] {
            assert!(target.get(&format!("{k}.locked")).is_none());
        }
    }
}

/// 20 documents created at the start, then one of them edited every `every` seconds
/// until `until` (a baseline in every bin of at least that width), then all 20 encrypted
/// in place at `until`.
fn steady_then_encrypted(rng: &mut Rng, every: i64, until: DateTime<Utc>) -> SimBucket {
    let (mut b, keys) = young_docs(rng);
    let mut at = t(0, 0, 0, 0) + TimeDelta::seconds(every);
    let mut i = 0;
    while at < until {
        let k = &keys[i % keys.len()];
        let n = 300 + (rng.next() % 500) as usize;
        put(&mut b, k, &rng.text(n), at, OWNER);
        at += TimeDelta::seconds(every);
        i += 1;
    }
    for k in &keys {
        let size = b.head(k).unwrap().version.size as usize;
        put(&mut b, k, &rng.bytes(size + 28), until, OWNER);
    }
    b
}

fn burst_evidence(b: &SimBucket, options: &DetectOptions) -> String {
    let report = scan(b, options);
    assert_eq!(report.incidents.len(), 1, "{report}");
    report.incidents[0]
        .evidence
        .iter()
        .find(|e| e.starts_with("burst:"))
        .unwrap_or_else(|| panic!("no burst:\n{report}"))
        .clone()
}

#[test]
fn burst_evidence_speaks_in_the_bins_unit() {
    // Seconds, and the time to the second, for bins under a minute.
    let mut rng = Rng(s3rewind_testkit::Prng(12));
    let b = steady_then_encrypted(&mut rng, 1, t(0, 0, 0, 40));
    let e = burst_evidence(&b, &quick());
    assert!(e.contains(" in 1 second at 2026-05-04 00:00:40;"), "{e}");
    let e = burst_evidence(
        &b,
        &DetectOptions {
            bin_secs: Some(5),
            ..quick()
        },
    );
    assert!(e.contains(" in 5 seconds at 2026-05-04 00:00:40;"), "{e}");
    // Minutes and hours for longer bins, to the minute; a bin that is not a whole number
    // of minutes starts at any second, and says so.
    let b = steady_then_encrypted(&mut rng, 1200, t(2, 10, 0, 0));
    let day = |bin_secs| DetectOptions {
        bin_secs: Some(bin_secs),
        ..DetectOptions::default()
    };
    let e = burst_evidence(&b, &day(600));
    assert!(e.contains(" in 10 minutes at 2026-05-06 10:00;"), "{e}");
    let e = burst_evidence(&b, &day(7200));
    assert!(e.contains(" in 2 hours at 2026-05-06 10:00;"), "{e}");
    let e = burst_evidence(&b, &day(90));
    let start = t(2, 10, 0, 0).timestamp().div_euclid(90) * 90;
    let start = DateTime::from_timestamp(start, 0).unwrap();
    let want = format!(" in 90 seconds at {};", start.format("%Y-%m-%d %H:%M:%S"));
    assert!(e.contains(&want), "{e} (want {want})");
}

/// A PNG of `n` bytes: the signature and header, then compressed-looking bytes.
fn png(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    v.extend(rng.bytes(n.saturating_sub(v.len())));
    v
}

#[test]
fn a_burst_needs_a_baseline() {
    // A young bucket: 30 photos uploaded in its first second, then (second 3) a job
    // rewrites 20 of them as thumbnails of about 2 KB. Metadata sees a size collapse
    // (weak on its own); 20 overwrites in one bin is a "burst" only against a baseline
    // the bucket does not have yet.
    let mut rng = Rng(s3rewind_testkit::Prng(13));
    let mut b = SimBucket::new(Versioning::Enabled, "v");
    let keys: Vec<String> = (0..30).map(|i| format!("photos/p{i:02}.png")).collect();
    for k in &keys {
        let n = 10_000 + (rng.next() % 30_000) as usize;
        put(&mut b, k, &png(&mut rng, n), t(0, 0, 0, 0), OWNER);
    }
    let mut young = b.clone();
    for k in &keys[..20] {
        let n = 2_000 + (rng.next() % 150) as usize;
        put(&mut young, k, &png(&mut rng, n), t(0, 0, 0, 3), OWNER);
    }
    let report = scan(&young, &quick());
    assert!(report.incidents.is_empty(), "{report}");

    // The same job after the bucket has been seen working (an upload a second for half
    // a minute): the burst counts, and the pair is worth a (weak) look.
    let mut seen = b;
    for s in 1..=30 {
        let n = 10_000 + (rng.next() % 30_000) as usize;
        put(
            &mut seen,
            &format!("photos/new-{s:02}.png"),
            &png(&mut rng, n),
            t(0, 0, 0, s),
            OWNER,
        );
        let k = &keys[20 + s as usize % 10];
        put(&mut seen, k, &png(&mut rng, n), t(0, 0, 0, s), OWNER);
    }
    for k in &keys[..20] {
        let n = 2_000 + (rng.next() % 150) as usize;
        put(&mut seen, k, &png(&mut rng, n), t(0, 0, 0, 40), OWNER);
    }
    let report = scan(&seen, &quick());
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.incidents[0].confidence, Confidence::Low);
    assert!(
        report.incidents[0]
            .evidence
            .iter()
            .any(|e| e.starts_with("burst:")),
        "{report}"
    );
}

/// Lines of a log, `n` bytes.
fn log_lines(rng: &mut Rng, n: usize) -> Vec<u8> {
    let mut v = Vec::new();
    while v.len() < n {
        v.extend_from_slice(
            format!("2026-05-04T00:00:00Z INFO id={:016x} ok\n", rng.next()).as_bytes(),
        );
    }
    v.truncate(n);
    v
}

#[test]
fn a_fixed_size_append_to_text_files_is_not_taken_for_encryption_without_content() {
    // A job appends exactly 64 bytes to ten log files for the first time. Without
    // content that is the same metadata as a cipher adding 64 bytes; but line-oriented
    // text files that grow by a fixed amount are more often appended to.
    let append = |b: &mut SimBucket, keys: &[String], at: DateTime<Utc>, rng: &mut Rng| {
        for k in keys {
            let mut bytes = b.head(k).unwrap().content.clone().unwrap().to_vec();
            bytes.extend(log_lines(rng, 64));
            put(b, k, &bytes, at, OWNER);
        }
    };
    let logs: Vec<String> = (0..10).map(|i| format!("logs/svc-{i}.log")).collect();

    // A young bucket, scanned at the scale of seconds: not reported.
    let mut rng = Rng(s3rewind_testkit::Prng(14));
    let mut young = SimBucket::new(Versioning::Enabled, "v");
    for k in &logs {
        let n = 2_000 + (rng.next() % 3_000) as usize;
        put(&mut young, k, &log_lines(&mut rng, n), t(0, 0, 0, 0), OWNER);
    }
    append(&mut young, &logs, t(0, 0, 0, 3), &mut rng);
    let report = scan(&young, &quick());
    assert!(report.incidents.is_empty(), "{report}");

    // A week-old office bucket: the ten overwrites in one bin are a burst, so the
    // pair is worth a look, but no more than that.
    let (mut office_bucket, docs) = office(&mut rng);
    for k in &logs {
        let n = 2_000 + (rng.next() % 3_000) as usize;
        put(
            &mut office_bucket,
            k,
            &log_lines(&mut rng, n),
            t(0, 8, 0, 0),
            OWNER,
        );
    }
    let mut appended = office_bucket.clone();
    append(&mut appended, &logs, t(7, 9, 0, 0), &mut rng);
    let report = scan(&appended, &DetectOptions::default());
    assert!(
        report
            .incidents
            .iter()
            .all(|i| i.confidence == Confidence::Low),
        "{report}"
    );
    // Sampled, the new versions are text: nothing is left.
    let report = scan_with_content(&appended);
    assert!(report.incidents.is_empty(), "{report}");

    // The same +64 bytes of random data over documents of several types is still
    // taken for a cipher.
    let mut encrypted = office_bucket;
    let mut victims: Vec<String> = Vec::new();
    for (i, ext) in ["pdf", "docx", "png", "xlsx", "jpg"]
        .iter()
        .cycle()
        .take(10)
        .enumerate()
    {
        let k = format!("shared/file-{i}.{ext}");
        put(
            &mut encrypted,
            &k,
            &rng.bytes(5_000 + i * 300),
            t(1, 10, 0, i as i64),
            OWNER,
        );
        victims.push(k);
    }
    for k in victims.iter().chain(&docs[..2]) {
        let size = encrypted.head(k).unwrap().version.size as usize;
        put(
            &mut encrypted,
            k,
            &rng.bytes(size + 64),
            t(7, 9, 0, 0),
            OWNER,
        );
    }
    let report = scan(&encrypted, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.incidents[0].kinds, [DamageKind::Encrypted]);
    assert!(
        report.incidents[0].confidence >= Confidence::Medium,
        "{report}"
    );
}

/// Every affected key is `planted` exactly when the incident created it (it has no last
/// good version: restoring removes it).
fn assert_planted_means_created(report: &ScanReport) {
    for i in &report.incidents {
        for k in &i.keys {
            assert_eq!(
                k.kind == DamageKind::Planted,
                k.last_good_version.is_none(),
                "{} is {} with last good {:?}:\n{report}",
                k.key,
                k.kind,
                k.last_good_version
            );
        }
    }
}

#[test]
fn planted_is_the_label_of_the_keys_an_incident_created_and_of_no_other() {
    let mut rng = Rng(s3rewind_testkit::Prng(15));
    let (mut b, keys) = office(&mut rng);
    // A sync job truncates eight documents, and drops one file into five new folders
    // and over two existing documents.
    let dropped = rng.text(900);
    for (i, k) in keys[..8].iter().enumerate() {
        put(&mut b, k, b"", t(7, 10, 0, i as i64), OWNER);
    }
    for i in 0..5 {
        put(
            &mut b,
            &format!("drop/f{i}/sync.txt"),
            &dropped,
            t(7, 10, 0, 10 + i),
            OWNER,
        );
    }
    for (i, k) in keys[8..10].iter().enumerate() {
        put(&mut b, k, &dropped, t(7, 10, 0, 20 + i as i64), OWNER);
    }
    let report = scan(&b, &DetectOptions::default());
    assert_eq!(report.incidents.len(), 1, "{report}");
    assert_eq!(report.incidents[0].keys.len(), 15, "{report}");
    assert_planted_means_created(&report);

    // Encrypted `.locked` copies are planted too, with content or without.
    let mut rng = Rng(s3rewind_testkit::Prng(16));
    let (mut b, keys) = young_docs(&mut rng);
    for k in &keys[..8] {
        lock(&mut b, &mut rng, k);
    }
    for report in [scan(&b, &quick()), scan_sampled(&b, &quick())] {
        assert_eq!(report.incidents.len(), 1, "{report}");
        assert_eq!(
            report.incidents[0].kinds,
            [DamageKind::Renamed, DamageKind::Planted],
            "{report}"
        );
        assert_planted_means_created(&report);
    }
}
