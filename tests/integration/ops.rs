//! Operations: `audit` against moto buckets configured each way (its JSON parsed), and
//! `policy` output (valid, scoped, and the same as the book's copy in docs/src/iam.md).

use crate::support::Moto;
use aws_sdk_s3::types::{
    BucketLifecycleConfiguration, BucketLocationConstraint, CreateBucketConfiguration,
    DefaultRetention, DeleteMarkerReplication, DeleteMarkerReplicationStatus, Destination,
    ExpirationStatus, LifecycleRule, LifecycleRuleFilter, NoncurrentVersionExpiration,
    ObjectLockConfiguration, ObjectLockEnabled, ObjectLockRetentionMode, ObjectLockRule,
    ReplicationConfiguration, ReplicationRule, ReplicationRuleFilter, ReplicationRuleStatus,
};
use serde_json::Value;

/// Run `audit` with JSON output; check the schema and the exit code's agreement with it.
fn audit(m: &Moto, bucket: &str) -> (i32, Value) {
    let r = m.run(&["--output", "json", "audit", &format!("s3://{bucket}")]);
    let doc = r.json();
    assert_eq!(doc["schema"], "s3rewind.audit/v1", "{}", r.stdout);
    assert_eq!(doc["bucket"], bucket);
    let rows = doc["scenarios"].as_array().unwrap();
    let names: Vec<&str> = rows
        .iter()
        .map(|s| s["scenario"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "region_failure",
            "accidental_delete",
            "permanent_version_delete",
            "corruption",
            "bucket_deleted"
        ]
    );
    for s in rows {
        let c = s["coverage"].as_str().unwrap();
        assert!(["covered", "partly", "not_covered"].contains(&c), "{c}");
        assert_eq!(
            s["fixes"].as_array().unwrap().is_empty(),
            c == "covered",
            "{s}"
        );
    }
    let all = doc["all_covered"].as_bool().unwrap();
    assert_eq!(
        r.code,
        if all { 0 } else { 1 },
        "{}\n{}",
        r.stdout,
        r.stderr
    );
    // No configuration read failed on moto: missing ones are "not set", not errors.
    assert!(
        doc["configuration"]["unreadable"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{}",
        doc["configuration"]["unreadable"]
    );
    (r.code, doc)
}

fn coverage<'a>(doc: &'a Value, scenario: &str) -> &'a str {
    doc["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == scenario)
        .unwrap()["coverage"]
        .as_str()
        .unwrap()
}

fn fixes(doc: &Value, scenario: &str) -> String {
    doc["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["scenario"] == scenario)
        .unwrap()["fixes"]
        .to_string()
}

async fn replicate(m: &Moto, source: &str, replica: &str, account: Option<&str>) {
    let mut dest = Destination::builder().bucket(format!("arn:aws:s3:::{replica}"));
    if let Some(a) = account {
        dest = dest.account(a);
    }
    m.client
        .put_bucket_replication()
        .bucket(source)
        .replication_configuration(
            ReplicationConfiguration::builder()
                .role("arn:aws:iam::123456789012:role/replication")
                .rules(
                    ReplicationRule::builder()
                        .id("dr")
                        .priority(1)
                        .status(ReplicationRuleStatus::Enabled)
                        .filter(ReplicationRuleFilter::builder().prefix("").build())
                        .delete_marker_replication(
                            DeleteMarkerReplication::builder()
                                .status(DeleteMarkerReplicationStatus::Disabled)
                                .build(),
                        )
                        .destination(dest.build().unwrap())
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

async fn bucket_in(m: &Moto, name: &str, region: BucketLocationConstraint) {
    m.client
        .create_bucket()
        .bucket(name)
        .create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(region)
                .build(),
        )
        .send()
        .await
        .unwrap();
}

async fn lock_bucket(m: &Moto, name: &str, days: i32) {
    m.client
        .create_bucket()
        .bucket(name)
        .object_lock_enabled_for_bucket(true)
        .send()
        .await
        .unwrap();
    m.client
        .put_object_lock_configuration()
        .bucket(name)
        .object_lock_configuration(
            ObjectLockConfiguration::builder()
                .object_lock_enabled(ObjectLockEnabled::Enabled)
                .rule(
                    ObjectLockRule::builder()
                        .default_retention(
                            DefaultRetention::builder()
                                .mode(ObjectLockRetentionMode::Compliance)
                                .days(days)
                                .build(),
                        )
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn audit_of_an_unconfigured_bucket_covers_nothing_and_says_how() {
    let m = Moto::start().await;
    m.bucket("plain", false).await;
    let (code, doc) = audit(&m, "plain");
    assert_eq!(code, 1);
    for s in [
        "region_failure",
        "accidental_delete",
        "permanent_version_delete",
        "corruption",
        "bucket_deleted",
    ] {
        assert_eq!(coverage(&doc, s), "not_covered", "{s}");
    }
    assert!(fixes(&doc, "accidental_delete").contains("enable versioning"));
    assert_eq!(doc["configuration"]["versioning"], "unversioned");
    assert!(
        doc["configuration"]["replication"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(doc["configuration"]["object_lock"].is_null());
    // The text form names the verdicts and the fixes too.
    let r = m.run(&["audit", "s3://plain"]);
    r.expect_code(1);
    assert!(r.stdout.contains("NOT COVERED"), "{}", r.stdout);
    assert!(r.stdout.contains("fix: enable versioning"), "{}", r.stdout);
    assert!(
        r.stdout.contains("0 of 5 scenarios covered"),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn audit_credits_versioning_and_reports_a_short_noncurrent_expiration() {
    let m = Moto::start().await;
    m.bucket("docs", true).await;
    let (_, doc) = audit(&m, "docs");
    assert_eq!(doc["configuration"]["versioning"], "enabled");
    assert_eq!(coverage(&doc, "accidental_delete"), "covered");
    assert_eq!(coverage(&doc, "corruption"), "covered");
    assert_eq!(coverage(&doc, "permanent_version_delete"), "not_covered");
    assert!(doc["recovery_window_days"].is_null());

    m.client
        .put_bucket_lifecycle_configuration()
        .bucket("docs")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("tidy")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(7)
                                .build(),
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
    let (code, doc) = audit(&m, "docs");
    assert_eq!(code, 1);
    assert_eq!(doc["recovery_window_days"], 7);
    assert_eq!(doc["configuration"]["lifecycle"][0]["noncurrent_days"], 7);
    assert_eq!(coverage(&doc, "accidental_delete"), "partly");
    assert_eq!(coverage(&doc, "corruption"), "partly");
    assert!(
        fixes(&doc, "accidental_delete").contains("beyond 7 days"),
        "{}",
        fixes(&doc, "accidental_delete")
    );
    // A window of 7 days is what was asked for: covered.
    let r = m.run(&["--output", "json", "audit", "s3://docs", "--min-days", "7"]);
    assert_eq!(coverage(&r.json(), "accidental_delete"), "covered");
}

#[tokio::test]
async fn audit_reads_replication_to_a_bucket_in_another_region() {
    let m = Moto::start().await;
    m.bucket("prod", true).await;
    bucket_in(&m, "prod-replica", BucketLocationConstraint::EuWest1).await;
    m.set_versioning(
        "prod-replica",
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;
    replicate(&m, "prod", "prod-replica", None).await;
    let (code, doc) = audit(&m, "prod");
    assert_eq!(code, 1);
    let rule = &doc["configuration"]["replication"][0];
    assert_eq!(rule["destination_bucket"], "prod-replica", "{rule}");
    assert_eq!(rule["destination_region"], "eu-west-1", "{rule}");
    assert_eq!(rule["delete_marker_replication"], false);
    assert_eq!(doc["configuration"]["region"], "us-east-1");
    assert_eq!(coverage(&doc, "region_failure"), "covered");
    // Same account (no destination account named): a permanent delete may reach it too.
    assert_eq!(coverage(&doc, "permanent_version_delete"), "partly");
    assert!(fixes(&doc, "permanent_version_delete").contains("another account"));
}

/// A versioned bucket replicated whole to `replica` in another account; the audit's JSON.
async fn audit_with_replica(m: &Moto, source: &str, replica: &str) -> (i32, Value) {
    m.bucket(source, true).await;
    replicate(m, source, replica, Some("222233334444")).await;
    audit(m, source)
}

fn replica_of(doc: &Value) -> &Value {
    &doc["configuration"]["replication"][0]["replica"]
}

#[tokio::test]
async fn audit_reads_the_replica_and_a_sound_one_keeps_every_credit() {
    let m = Moto::start().await;
    bucket_in(&m, "dr-sound", BucketLocationConstraint::EuWest1).await;
    m.set_versioning(
        "dr-sound",
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;
    let (_, doc) = audit_with_replica(&m, "src-sound", "dr-sound").await;
    let x = replica_of(&doc);
    assert_eq!(x["bucket"], "dr-sound", "{x}");
    assert_eq!(x["status"], "read", "{x}");
    assert_eq!(x["versioning"], "enabled", "{x}");
    assert_eq!(doc["configuration"]["region"], "us-east-1");
    assert_eq!(
        doc["configuration"]["replication"][0]["destination_region"],
        "eu-west-1"
    );
    assert_eq!(coverage(&doc, "region_failure"), "covered");
    assert_eq!(coverage(&doc, "permanent_version_delete"), "covered");
    let r = m.run(&["audit", "s3://src-sound"]);
    assert!(
        r.stdout.contains(
            "replica s3://dr-sound: versioning Enabled, no noncurrent-version expiration"
        ),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn audit_of_an_unversioned_replica_covers_region_failure_only_partly() {
    let m = Moto::start().await;
    bucket_in(&m, "dr-plain", BucketLocationConstraint::EuWest1).await;
    let (code, doc) = audit_with_replica(&m, "src-plain", "dr-plain").await;
    assert_eq!(code, 1);
    assert_eq!(replica_of(&doc)["versioning"], "unversioned");
    for s in [
        "region_failure",
        "permanent_version_delete",
        "bucket_deleted",
    ] {
        assert_eq!(coverage(&doc, s), "partly", "{s}");
        assert!(
            fixes(&doc, s).contains("enable versioning on s3://dr-plain"),
            "{s}: {}",
            fixes(&doc, s)
        );
    }
    assert_eq!(coverage(&doc, "accidental_delete"), "covered");
}

#[tokio::test]
async fn audit_of_a_replica_that_expires_versions_early_says_how_far_it_reaches() {
    let m = Moto::start().await;
    bucket_in(&m, "dr-short", BucketLocationConstraint::EuWest1).await;
    m.set_versioning(
        "dr-short",
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;
    m.client
        .put_bucket_lifecycle_configuration()
        .bucket("dr-short")
        .lifecycle_configuration(
            BucketLifecycleConfiguration::builder()
                .rules(
                    LifecycleRule::builder()
                        .id("tidy")
                        .status(ExpirationStatus::Enabled)
                        .filter(LifecycleRuleFilter::builder().prefix("").build())
                        .noncurrent_version_expiration(
                            NoncurrentVersionExpiration::builder()
                                .noncurrent_days(3)
                                .build(),
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
    let (code, doc) = audit_with_replica(&m, "src-short", "dr-short").await;
    assert_eq!(code, 1);
    assert_eq!(replica_of(&doc)["lifecycle"][0]["noncurrent_days"], 3);
    assert_eq!(coverage(&doc, "region_failure"), "partly");
    assert_eq!(coverage(&doc, "bucket_deleted"), "partly");
    assert!(
        fixes(&doc, "region_failure").contains("on s3://dr-short beyond 3 days"),
        "{}",
        fixes(&doc, "region_failure")
    );
    // The source itself keeps its versions: its own scenarios are not the replica's.
    assert_eq!(coverage(&doc, "corruption"), "covered");
    assert!(doc["recovery_window_days"].is_null());
}

#[tokio::test]
async fn audit_of_replication_to_a_missing_bucket_covers_nothing() {
    let m = Moto::start().await;
    let (code, doc) = audit_with_replica(&m, "src-gone", "dr-gone").await;
    assert_eq!(code, 1);
    assert_eq!(
        replica_of(&doc)["status"],
        "missing",
        "{}",
        replica_of(&doc)
    );
    assert_eq!(coverage(&doc, "region_failure"), "not_covered");
    let because = doc["scenarios"][0]["because"].to_string();
    assert!(because.contains("does not exist"), "{because}");
}

#[tokio::test]
async fn audit_credits_a_same_account_replica_under_compliance_lock() {
    let m = Moto::start().await;
    lock_bucket(&m, "dr-locked", 90).await;
    m.bucket("src-locked", true).await;
    replicate(&m, "src-locked", "dr-locked", None).await;
    let (_, doc) = audit(&m, "src-locked");
    assert_eq!(replica_of(&doc)["object_lock"]["mode"], "COMPLIANCE");
    assert_eq!(coverage(&doc, "permanent_version_delete"), "covered");
    // Same region: a regional outage takes both.
    assert_eq!(coverage(&doc, "region_failure"), "partly");
}

#[tokio::test]
async fn audit_reads_what_the_bucket_policy_denies() {
    let m = Moto::start().await;
    m.bucket("guarded", true).await;
    let put_policy = |policy: String| {
        let c = m.client.clone();
        async move {
            c.put_bucket_policy()
                .bucket("guarded")
                .policy(policy)
                .send()
                .await
                .unwrap();
        }
    };
    put_policy(
        r#"{"Version": "2012-10-17", "Statement": [
          {"Sid": "NoVersionDeletes", "Effect": "Deny", "Principal": "*",
           "Action": "s3:DeleteObjectVersion", "Resource": "arn:aws:s3:::guarded/*"}]}"#
            .to_owned(),
    )
    .await;
    let (_, doc) = audit(&m, "guarded");
    assert_eq!(doc["configuration"]["has_policy"], true);
    assert_eq!(
        doc["configuration"]["denials"][0]["action"],
        "s3:DeleteObjectVersion"
    );
    // A lifecycle rule could still expire every version.
    assert_eq!(coverage(&doc, "permanent_version_delete"), "partly");
    assert!(fixes(&doc, "permanent_version_delete").contains("s3:PutLifecycleConfiguration"));

    put_policy(
        r#"{"Version": "2012-10-17", "Statement": [
          {"Sid": "Guard", "Effect": "Deny", "Principal": {"AWS": "*"},
           "Action": ["s3:DeleteObjectVersion", "s3:PutLifecycleConfiguration", "s3:DeleteBucket"],
           "Resource": ["arn:aws:s3:::guarded", "arn:aws:s3:::guarded/*"]}]}"#
            .to_owned(),
    )
    .await;
    let (_, doc) = audit(&m, "guarded");
    assert_eq!(coverage(&doc, "permanent_version_delete"), "covered");
    assert_eq!(coverage(&doc, "bucket_deleted"), "covered");
}

#[tokio::test]
async fn audit_covers_every_scenario_with_object_lock_and_cross_region_replication() {
    let m = Moto::start().await;
    lock_bucket(&m, "vault", 90).await;
    bucket_in(&m, "vault-dr", BucketLocationConstraint::EuWest1).await;
    m.set_versioning(
        "vault-dr",
        aws_sdk_s3::types::BucketVersioningStatus::Enabled,
    )
    .await;
    replicate(&m, "vault", "vault-dr", Some("222233334444")).await;
    let (code, doc) = audit(&m, "vault");
    let lock = &doc["configuration"]["object_lock"];
    assert_eq!(lock["enabled"], true, "{lock}");
    assert_eq!(lock["mode"], "COMPLIANCE");
    assert_eq!(lock["days"], 90);
    assert_eq!(
        doc["configuration"]["replication"][0]["destination_account"],
        "222233334444"
    );
    assert_eq!(doc["all_covered"], true, "{:#}", doc["scenarios"]);
    assert_eq!(code, 0);
    let r = m.run(&["audit", "s3://vault"]);
    r.expect_code(0);
    assert!(
        r.stdout.contains("OK: 5 of 5 scenarios covered"),
        "{}",
        r.stdout
    );
}

#[tokio::test]
async fn audit_of_a_missing_bucket_or_a_prefix_is_an_error() {
    let m = Moto::start().await;
    let r = m.run(&["audit", "s3://nosuch"]);
    r.expect_code(3);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    m.bucket("b1b", true).await;
    m.run(&["audit", "s3://b1b/logs/"]).expect_code(2);
}

#[test]
fn policy_prints_valid_scoped_documents() {
    let run = |args: &[&str]| {
        let out = std::process::Command::new(crate::support::binary())
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, text) = run(&["policy", "restore", "s3://acme-docs/reports/"]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["Version"], "2012-10-17");
    // The text is the bare IAM document (IAM refuses unknown top-level elements).
    let mut top: Vec<&String> = doc.as_object().unwrap().keys().collect();
    top.sort();
    assert_eq!(top, ["Statement", "Version"]);
    assert!(!text.contains("s3:DeleteObjectVersion"));
    assert!(text.contains("\"arn:aws:s3:::acme-docs/reports/*\""));
    assert!(
        text.contains("\"reports/*\""),
        "the listing is conditioned on the prefix"
    );
    // --output json wraps the same policy in a schema'd document.
    let (_, json) = run(&[
        "--output",
        "json",
        "policy",
        "restore",
        "s3://acme-docs/reports/",
    ]);
    let wrapped: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(wrapped["schema"], "s3rewind.policy/v1");
    assert_eq!(wrapped["command"], "restore");
    assert_eq!(wrapped["source"]["bucket"], "acme-docs");
    assert_eq!(wrapped["policy"], doc);
    let (_, markers) = run(&[
        "policy",
        "undelete",
        "s3://acme-docs",
        "--remove-delete-markers",
    ]);
    assert!(markers.contains("s3:DeleteObjectVersion"));
    let (code, _) = run(&["policy", "drill", "s3://acme-docs"]);
    assert_eq!(code, 2, "a drill needs its scratch location");
    // KMS: a key id or alias is not what IAM names; any key is granted through S3 only,
    // and said so on stderr.
    let (code, _) = run(&["policy", "restore", "--kms-key-arn", "alias/backup"]);
    assert_eq!(code, 2);
    let out = std::process::Command::new(crate::support::binary())
        .args(["policy", "restore", "s3://acme-docs", "--kms"])
        .output()
        .unwrap();
    let kms: Value = serde_json::from_slice(&out.stdout).unwrap();
    let last = kms["Statement"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        last["Action"],
        serde_json::json!(["kms:Decrypt", "kms:GenerateDataKey"])
    );
    assert_eq!(last["Resource"], "*");
    assert_eq!(
        last["Condition"]["StringLike"]["kms:ViaService"],
        "s3.*.amazonaws.com"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--kms-key-arn"),
        "the wildcard is named on stderr"
    );
    // An undo lists nothing and deletes no version; a drill's cleanup adds no marker.
    let (_, undo) = run(&["policy", "undo", "s3://acme-docs"]);
    assert!(undo.contains("s3:DeleteObject\"") && undo.contains("s3:PutObject\""));
    assert!(!undo.contains("s3:ListBucketVersions") && !undo.contains("s3:DeleteObjectVersion"));
    let (_, drill) = run(&[
        "policy",
        "drill",
        "s3://acme-docs",
        "--scratch",
        "s3://scratch/drill/",
        "--cleanup",
    ]);
    assert!(drill.contains("s3:DeleteObjectVersion") && !drill.contains("s3:DeleteObject\""));
    let (code, _) = run(&["policy", "audit", "s3://acme-docs/x/"]);
    assert_eq!(code, 2);
    let (code, audit) = run(&[
        "policy",
        "audit",
        "s3://acme-docs",
        "--replica",
        "s3://acme-dr",
    ]);
    assert_eq!(code, 0);
    assert!(audit.contains("\"arn:aws:s3:::acme-dr\""), "{audit}");
    assert!(audit.contains("\"ReplicaBucket\""), "{audit}");
}

/// The book's policies (docs/src/iam.md) are pasted from `s3rewind policy …`: they must
/// stay equal to it.
#[test]
fn documented_policies_are_the_commands_output() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/src/iam.md"))
            .unwrap();
    // Commands are quoted in prose, where lines wrap.
    let flat = readme.split_whitespace().collect::<Vec<_>>().join(" ");
    for args in [
        &["policy", "plan", "s3://acme-docs"][..],
        &["policy", "restore", "s3://acme-docs"][..],
        &["policy", "undo", "s3://acme-docs"][..],
        &[
            "policy",
            "watch",
            "s3://acme-docs",
            "--queue",
            "https://sqs.us-east-1.amazonaws.com/111122223333/s3rewind-acme-docs",
        ][..],
        &[
            "policy",
            "verify",
            "s3://acme-docs",
            "--deep",
            "--kms-key-arn",
            "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        ][..],
    ] {
        let out = std::process::Command::new(crate::support::binary())
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            readme.contains(text.trim_end()),
            "docs/src/iam.md does not contain the output of `s3rewind {}`:\n{text}",
            args.join(" ")
        );
        assert!(
            flat.contains(&format!("s3rewind {}", args.join(" "))),
            "docs/src/iam.md does not say which command printed it: s3rewind {}",
            args.join(" ")
        );
    }
}

/// `--version` names the crate version and the commit the binary was built from (or
/// `unknown` outside a repository), and `man --dir` writes a page per command.
#[test]
fn version_names_the_commit_and_man_writes_every_page() {
    let out = std::process::Command::new(crate::support::binary())
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with(&format!("s3rewind {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(crate::support::binary())
        .args(["man", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for page in [
        "s3rewind.1",
        "s3rewind-restore.1",
        "s3rewind-batch-reconcile.1",
    ] {
        assert!(dir.path().join(page).exists(), "no {page}");
    }
}
