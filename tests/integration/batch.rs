//! `plan --emit batch-ops`: the manifest replayed as Batch Operations would run it, then
//! the remainder applied, restores the state at T exactly.

use crate::inventory::history;
use crate::support::*;
use aws_sdk_s3::types::{MetadataDirective, StorageClass};
use s3rewind_engine::keys::{copy_source, form_decode};

/// Do what one S3PutObjectCopy task does: CopyObject of the row's version onto the same
/// key of the target bucket, metadata and tags copied, the job's storage class.
async fn replay(m: &Moto, manifest: &str, target: &str, class: Option<&str>) -> usize {
    let mut n = 0;
    for line in manifest.lines() {
        let fields: Vec<&str> = line.split(',').collect();
        assert_eq!(fields.len(), 3, "{line}");
        let key = form_decode(fields[1]).unwrap();
        let mut req = m
            .client
            .copy_object()
            .bucket(target)
            .key(&key)
            .copy_source(copy_source(fields[0], &key, fields[2]))
            .metadata_directive(MetadataDirective::Copy);
        if let Some(c) = class {
            req = req.storage_class(StorageClass::from(c));
        }
        req.send()
            .await
            .unwrap_or_else(|e| panic!("copy {line}: {e:?}"));
        n += 1;
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_manifest_replayed_and_the_remainder_applied_restore_the_state_at_t() {
    let m = Moto::start().await;
    let (t, want) = history(&m, "batchops").await;
    let dir = m.path("batch");
    let dir_s = dir.to_str().unwrap();
    m.run(&[
        "plan",
        "s3://batchops",
        "--at",
        &t,
        "--emit",
        "batch-ops",
        dir_s,
        "--batch-manifest-uri",
        "s3://ops/manifests/",
        "--batch-report-uri",
        "s3://ops/reports",
        "--batch-role-arn",
        "arn:aws:iam::123456789012:role/batch",
    ])
    .expect_code(0);
    let manifest = std::fs::read_to_string(dir.join("manifest-STANDARD.csv")).unwrap();
    // The copies: the overwritten key, the deleted ones and the one overwritten after T;
    // keys with `+`, `%`, spaces and unicode are encoded.
    assert_eq!(manifest.lines().count(), 4, "{manifest}");
    assert!(manifest.contains("batchops,docs/a%2Bb.txt,"), "{manifest}");
    assert!(
        manifest.contains("batchops,docs/100%25%20done.txt,"),
        "{manifest}"
    );
    let job: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("create-job-STANDARD.json")).unwrap(),
    )
    .unwrap();
    let copy = &job["Operation"]["S3PutObjectCopy"];
    assert_eq!(copy["TargetResource"], "arn:aws:s3:::batchops");
    assert_eq!(copy["MetadataDirective"], "COPY");
    assert_eq!(copy["StorageClass"], "STANDARD");
    assert!(copy.get("NewObjectTagging").is_none(), "tags are copied");
    assert_eq!(job["Report"]["ReportScope"], "AllTasks");
    assert_eq!(job["Report"]["Bucket"], "arn:aws:s3:::ops");
    assert_eq!(job["Report"]["Prefix"], "reports");
    assert_eq!(
        job["Manifest"]["Location"]["ObjectArn"],
        "arn:aws:s3:::ops/manifests/manifest-STANDARD.csv"
    );
    assert_eq!(
        job["Manifest"]["Spec"]["Fields"],
        serde_json::json!(["Bucket", "Key", "VersionId"])
    );
    assert_eq!(job["RoleArn"], "arn:aws:iam::123456789012:role/batch");
    let remainder: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("remainder.json")).unwrap())
            .unwrap();
    assert_eq!(remainder["schema"], "s3rewind.plan/v1");
    let ops: Vec<&str> = remainder["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["delete_marker"], "{remainder}");

    // Half done is not done: the state differs until both parts ran.
    assert_ne!(m.contents("batchops", "").await, want);
    assert_eq!(replay(&m, &manifest, "batchops", Some("STANDARD")).await, 4);
    assert_ne!(m.contents("batchops", "").await, want);
    m.run(&[
        "apply",
        dir.join("remainder.json").to_str().unwrap(),
        "--yes",
    ])
    .expect_code(0);
    assert_eq!(m.contents("batchops", "").await, want);
    m.run(&["verify", "s3://batchops", "--at", &t])
        .expect_code(0);
}
