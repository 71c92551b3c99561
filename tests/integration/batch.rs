//! `plan --emit batch-ops`: the manifest replayed as Batch Operations would run it, then
//! the remainder applied, restores the state at T exactly. `batch submit`, `status` and
//! `reconcile` against moto for S3 and a stand-in for S3 Control on a loopback port
//! (moto has no S3 Control): the requests the SDK sends are recorded and checked.

use crate::inventory::history;
use crate::support::*;
use aws_sdk_s3::types::{MetadataDirective, StorageClass};
use md5::Digest as _;
use s3rewind_engine::keys::{copy_source, form_decode};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

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
    let ops = strs(&remainder["actions"], "op");
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

fn md5_hex(bytes: &[u8]) -> String {
    md5::Md5::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// One request the stand-in for S3 Control received.
#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    /// Header names lowercased.
    headers: Vec<(String, String)>,
    body: String,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The text of the element at `path` (`Manifest/Location/ETag`) under the root.
    fn xml(&self, path: &str) -> Option<String> {
        let doc = roxmltree::Document::parse(&self.body).ok()?;
        let mut node = doc.root_element();
        for name in path.split('/') {
            node = node.children().find(|c| c.has_tag_name(name))?;
        }
        Some(node.text().unwrap_or_default().to_owned())
    }
}

/// A stand-in for S3 Control on a loopback port (a thread with a std listener, not a
/// mock inside the binary): it records every request and answers CreateJob with a job
/// id and DescribeJob with the job body it is given, as AWS's REST-XML does.
struct FakeControl {
    endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    describe: Arc<Mutex<String>>,
}

const JOB_ID: &str = "0f1e2d3c-4b5a-6978-8a9b-c0d1e2f3a4b5";
const ACCOUNT: &str = "123456789012";
const ROLE: &str = "arn:aws:iam::123456789012:role/batch";

impl FakeControl {
    fn start() -> FakeControl {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
        let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
        let describe: Arc<Mutex<String>> = Arc::default();
        let (rq, ds) = (requests.clone(), describe.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let (rq, ds) = (rq.clone(), ds.clone());
                std::thread::spawn(move || serve(stream, &rq, &ds));
            }
        });
        FakeControl {
            endpoint,
            requests,
            describe,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }

    /// What DescribeJob answers from now on (the inside of `<Job>`).
    fn set_job(&self, inner: &str) {
        *self.describe.lock().unwrap() = inner.to_owned();
    }
}

fn serve(
    mut stream: std::net::TcpStream,
    requests: &Mutex<Vec<Recorded>>,
    describe: &Mutex<String>,
) {
    use std::io::{BufRead, BufReader, Read, Write};
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).unwrap();
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if headers
        .iter()
        .any(|(n, v)| n == "expect" && v.eq_ignore_ascii_case("100-continue"))
    {
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").unwrap();
    }
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let rec = Recorded {
        method: method.clone(),
        path: path.clone(),
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    requests.lock().unwrap().push(rec);
    const NS: &str = "http://awss3control.amazonaws.com/doc/2018-08-20/";
    let (status, xml) = if method == "POST" && path == "/v20180820/jobs" {
        (
            "200 OK",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><CreateJobResult xmlns="{NS}"><JobId>{JOB_ID}</JobId></CreateJobResult>"#
            ),
        )
    } else if method == "GET" && path == format!("/v20180820/jobs/{JOB_ID}") {
        (
            "200 OK",
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><DescribeJobResult xmlns="{NS}"><Job>{}</Job></DescribeJobResult>"#,
                describe.lock().unwrap()
            ),
        )
    } else {
        (
            "404 Not Found",
            r#"<?xml version="1.0" encoding="UTF-8"?><ErrorResponse><Error><Code>NotFoundException</Code><Message>no such job</Message></Error></ErrorResponse>"#
                .to_owned(),
        )
    };
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nx-amz-request-id: fake\r\nConnection: close\r\n\r\n{xml}",
        xml.len()
    );
}

/// A DescribeJob `<Job>` body.
fn job_xml(status: &str, created: &str, total: u64, ok: u64, failed: u64) -> String {
    format!(
        "<JobId>{JOB_ID}</JobId><ConfirmationRequired>true</ConfirmationRequired>\
         <Description>s3rewind restore</Description><Status>{status}</Status>\
         <Priority>10</Priority><ProgressSummary><TotalNumberOfTasks>{total}</TotalNumberOfTasks>\
         <NumberOfTasksSucceeded>{ok}</NumberOfTasksSucceeded><NumberOfTasksFailed>{failed}</NumberOfTasksFailed></ProgressSummary>\
         <FailureReasons><member><FailureCode>TaskFailed</FailureCode><FailureReason>1 task failed</FailureReason></member></FailureReasons>\
         <Report><Bucket>arn:aws:s3:::ops</Bucket><Format>Report_CSV_20180820</Format><Enabled>true</Enabled>\
         <Prefix>reports</Prefix><ReportScope>AllTasks</ReportScope></Report>\
         <CreationTime>{created}</CreationTime><RoleArn>{ROLE}</RoleArn>"
    )
}

/// `plan --emit batch-ops` of the usual history into DIR, with the manifest and report
/// locations but no account or role (placeholders).
async fn emitted(m: &Moto, bucket: &str) -> (String, BTreeMap<String, Vec<u8>>, PathBuf) {
    let (t, want) = history(m, bucket).await;
    m.bucket("ops", true).await;
    let dir = m.path("batch");
    m.run(&[
        "plan",
        &format!("s3://{bucket}"),
        "--at",
        &t,
        "--emit",
        "batch-ops",
        dir.to_str().unwrap(),
        "--batch-manifest-uri",
        "s3://ops/manifests/",
        "--batch-report-uri",
        "s3://ops/reports",
    ])
    .expect_code(0);
    (t, want, dir)
}

/// Every key in a bucket (current objects).
async fn keys_of(m: &Moto, bucket: &str) -> Vec<String> {
    m.client
        .list_objects_v2()
        .bucket(bucket)
        .send()
        .await
        .unwrap()
        .contents()
        .iter()
        .map(|o| o.key().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: one submission followed through the S3 Control stub's requests, in order.
async fn batch_submit_uploads_the_manifest_and_creates_the_job_with_its_real_etag() {
    let m = Moto::start().await;
    let control = FakeControl::start();
    let (_, _, dir) = emitted(&m, "subm").await;
    let d = dir.to_str().unwrap();
    let ce = ["--control-endpoint-url", control.endpoint.as_str()];
    // Bad input: one line, the documented exit code, nothing written anywhere.
    let empty = m.path("empty");
    std::fs::create_dir_all(&empty).unwrap();
    for (args, code, says) in [
        (
            vec!["batch", "submit", "/nonexistent/dir", "-y"],
            2,
            "not a directory",
        ),
        (
            vec!["batch", "submit", empty.to_str().unwrap(), "-y"],
            2,
            "create-job",
        ),
        (
            vec!["batch", "submit", d, "-y", "--account-id", ACCOUNT],
            2,
            "--role-arn",
        ),
        (
            vec!["batch", "submit", d, "-y", "--role-arn", ROLE],
            2,
            "--account-id",
        ),
        (
            vec![
                "batch",
                "submit",
                d,
                "-y",
                "--role-arn",
                ROLE,
                "--account-id",
                "12",
            ],
            2,
            "12-digit",
        ),
        // No terminal to confirm on, and no --yes.
        (
            vec![
                "batch",
                "submit",
                d,
                "--role-arn",
                ROLE,
                "--account-id",
                ACCOUNT,
            ],
            4,
            "confirmation",
        ),
    ] {
        let mut argv = args.clone();
        argv.extend(ce);
        let r = m.run(&argv);
        r.expect_code(code);
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
        assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
    }
    // A request file that is not ours is refused too.
    let bad = m.path("bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("create-job-STANDARD.json"),
        r#"{"AccountId": "1", "Tags": []}"#,
    )
    .unwrap();
    std::fs::write(bad.join("manifest-STANDARD.csv"), "b,k,v\n").unwrap();
    let r = m.run(&["batch", "submit", bad.to_str().unwrap(), "-y", ce[0], ce[1]]);
    r.expect_code(2);
    assert!(
        r.stderr.contains("create-job-STANDARD.json"),
        "{}",
        r.stderr
    );
    assert!(control.requests().is_empty(), "{:?}", control.requests());
    assert!(keys_of(&m, "ops").await.is_empty());
    assert!(!dir.join("jobs.json").exists());
    // S3 Control unreachable: refused before the manifest is uploaded.
    let r = m.run(&[
        "batch",
        "submit",
        d,
        "--yes",
        "--account-id",
        ACCOUNT,
        "--role-arn",
        ROLE,
        "--control-endpoint-url",
        "http://127.0.0.1:9",
    ]);
    r.expect_code(6);
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("nothing was written"), "{}", r.stderr);
    assert!(keys_of(&m, "ops").await.is_empty());
    assert!(!dir.join("jobs.json").exists());

    let r = m.run(&[
        "--output",
        "json",
        "batch",
        "submit",
        d,
        "--yes",
        "--account-id",
        ACCOUNT,
        "--role-arn",
        ROLE,
        ce[0],
        ce[1],
    ]);
    r.expect_code(0);
    let doc = r.json();
    crate::schemas::check_document("s3rewind.batch-submit/v1", &doc);
    assert_eq!(doc["jobs"][0]["job_id"], JOB_ID, "{doc:#}");
    // The manifest is in S3 as it is in DIR, and the request carries its real ETag.
    let local = std::fs::read(dir.join("manifest-STANDARD.csv")).unwrap();
    let uploaded = m
        .client
        .get_object()
        .bucket("ops")
        .key("manifests/manifest-STANDARD.csv")
        .send()
        .await
        .unwrap();
    let etag = uploaded.e_tag().unwrap().trim_matches('"').to_owned();
    let body = uploaded.body.collect().await.unwrap().into_bytes().to_vec();
    assert_eq!(body, local);
    assert_eq!(etag, md5_hex(&local));
    // A DescribeJob first (is S3 Control there?), then the one CreateJob.
    let reqs: Vec<Recorded> = control
        .requests()
        .into_iter()
        .filter(|q| q.method == "POST")
        .collect();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    let q = &reqs[0];
    assert_eq!(
        (q.method.as_str(), q.path.as_str()),
        ("POST", "/v20180820/jobs")
    );
    assert_eq!(q.header("x-amz-account-id"), Some(ACCOUNT));
    // The SDK's endpoint rules put the account id in front of the endpoint's host.
    let host = q.header("host").unwrap();
    assert!(host.starts_with(&format!("{ACCOUNT}.127.0.0.1:")), "{host}");
    assert!(
        q.header("authorization")
            .unwrap()
            .starts_with("AWS4-HMAC-SHA256")
    );
    let x = |p: &str| q.xml(p).unwrap_or_else(|| panic!("no {p} in {}", q.body));
    assert_eq!(
        x("Operation/S3PutObjectCopy/TargetResource"),
        "arn:aws:s3:::subm"
    );
    assert_eq!(x("Operation/S3PutObjectCopy/MetadataDirective"), "COPY");
    assert_eq!(x("Operation/S3PutObjectCopy/StorageClass"), "STANDARD");
    assert_eq!(
        x("Manifest/Location/ObjectArn"),
        "arn:aws:s3:::ops/manifests/manifest-STANDARD.csv"
    );
    assert_eq!(x("Manifest/Location/ETag"), etag);
    assert_eq!(x("Manifest/Spec/Format"), "S3BatchOperations_CSV_20180820");
    assert_eq!(x("Report/Bucket"), "arn:aws:s3:::ops");
    assert_eq!(x("Report/Prefix"), "reports");
    assert_eq!(x("Report/ReportScope"), "AllTasks");
    assert_eq!(x("Report/Enabled"), "true");
    assert_eq!(x("Report/Format"), "Report_CSV_20180820");
    assert_eq!(x("RoleArn"), ROLE);
    assert_eq!(x("Priority"), "10");
    assert_eq!(x("ConfirmationRequired"), "true");
    let token = x("ClientRequestToken");
    assert!(
        token.starts_with("s3rewind-") && token.len() <= 64,
        "{token}"
    );
    let jobs: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("jobs.json")).unwrap()).unwrap();
    assert_eq!(jobs["schema"], "s3rewind.batch-jobs/v1");
    assert_eq!(jobs["jobs"][0]["job_id"], JOB_ID);
    assert_eq!(jobs["jobs"][0]["manifest_etag"], etag.as_str());
    assert_eq!(jobs["jobs"][0]["client_request_token"], token.as_str());

    // Submitting again creates nothing: the job is recorded.
    let r = m.run(&["batch", "submit", d, "--yes", ce[0], ce[1]]);
    r.expect_code(0);
    assert!(r.stderr.contains("already submitted"), "{}", r.stderr);
    let created = |c: &FakeControl| c.requests().iter().filter(|q| q.method == "POST").count();
    assert_eq!(created(&control), 1);

    // status: DescribeJob, from DIR's jobs.json.
    control.set_job(&job_xml("Active", "2026-01-02T03:04:05Z", 4, 2, 1));
    let r = m.run(&["--output", "json", "batch", "status", d, ce[0], ce[1]]);
    r.expect_code(1); // a task failed
    let doc = r.json();
    crate::schemas::check_document("s3rewind.batch-status/v1", &doc);
    let job = &doc["jobs"][0];
    assert_eq!(job["status"], "Active");
    assert_eq!(job["progress_percent"], 75.0);
    assert_eq!(job["tasks_failed"], 1);
    assert_eq!(job["failure_reasons"][0]["code"], "TaskFailed");
    assert_eq!(job["created_at"], "2026-01-02T03:04:05Z");
    let q = control.requests().pop().unwrap();
    assert_eq!(q.method, "GET");
    assert_eq!(q.path, format!("/v20180820/jobs/{JOB_ID}"));
    assert_eq!(q.header("x-amz-account-id"), Some(ACCOUNT));
    // A job id needs its account; an unknown job is "not found".
    m.run(&["batch", "status", JOB_ID, ce[0], ce[1]])
        .expect_code(2);
    let r = m.run(&[
        "batch",
        "status",
        "nope",
        "--account-id",
        ACCOUNT,
        ce[0],
        ce[1],
    ]);
    r.expect_code(3);
    control.set_job(&job_xml("Complete", "2026-01-02T03:04:05Z", 4, 4, 0));
    let r = m.run(&[
        "batch",
        "status",
        JOB_ID,
        "--account-id",
        ACCOUNT,
        ce[0],
        ce[1],
    ]);
    r.expect_code(0);
    assert!(r.stdout.contains("Complete"), "{}", r.stdout);
}

/// Write a completion report as Batch Operations does: `reports/job-ID/manifest.json`
/// naming one result CSV per outcome, each with its MD5.
async fn write_report(m: &Moto, rows: &[(String, String, bool)]) {
    let mut results = Vec::new();
    for (status, ok) in [("succeeded", true), ("failed", false)] {
        let csv: String = rows
            .iter()
            .filter(|r| r.2 == ok)
            .map(|(key, vid, _)| {
                if ok {
                    format!("subr,{key},{vid},succeeded,200,,Successful\n")
                } else {
                    format!(
                        "subr,{key},{vid},failed,403,AccessDenied,\"Access Denied, \"\"by policy\"\"\"\n"
                    )
                }
            })
            .collect();
        if csv.is_empty() {
            continue;
        }
        let key = format!("reports/job-{JOB_ID}/results/{status}.csv");
        m.put("ops", &key, csv.as_bytes()).await;
        results.push(serde_json::json!({
            "TaskExecutionStatus": status,
            "Bucket": "ops",
            "MD5Checksum": md5_hex(csv.as_bytes()),
            "Key": key,
        }));
    }
    let manifest = serde_json::json!({
        "Format": "Report_CSV_20180820",
        "ReportCreationDate": "2026-01-02T03:04:05.000Z",
        "Results": results,
        "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage",
    });
    m.put(
        "ops",
        &format!("reports/job-{JOB_ID}/manifest.json"),
        manifest.to_string().as_bytes(),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
// Longer than 120 lines on purpose: the whole Batch Operations path in order: emit, submit, job, reconcile, apply, verify, undo.
async fn a_reconciled_job_is_journaled_like_a_local_run_verify_apply_and_undo_follow() {
    let m = Moto::start().await;
    let control = FakeControl::start();
    let (t, want, dir) = emitted(&m, "subr").await;
    let d = dir.to_str().unwrap();
    let ce = ["--control-endpoint-url", control.endpoint.as_str()];
    let before = m.contents("subr", "").await;
    let versions_before = m.versions("subr").await;
    m.run(&[
        "batch",
        "submit",
        d,
        "--yes",
        "--account-id",
        ACCOUNT,
        "--role-arn",
        ROLE,
        ce[0],
        ce[1],
    ])
    .expect_code(0);
    // Not finished: reconcile refuses and writes nothing.
    control.set_job(&job_xml("Active", "2026-01-02T03:04:05Z", 4, 1, 0));
    let r = m.run(&["batch", "reconcile", d, ce[0], ce[1]]);
    r.expect_code(4);
    assert!(r.stderr.contains("Active"), "{}", r.stderr);
    assert!(!dir.join("remaining.json").exists());

    // The job runs: every task but one copies, as S3PutObjectCopy does; that one fails.
    next_second().await;
    let created = chrono::Utc::now();
    next_second().await;
    let manifest = std::fs::read_to_string(dir.join("manifest-STANDARD.csv")).unwrap();
    let rows: Vec<(String, String)> = manifest
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[1].to_owned(), f[2].to_owned())
        })
        .collect();
    assert_eq!(rows.len(), 4, "{manifest}");
    let failed_row = rows
        .iter()
        .position(|(k, _)| k == "docs/100%25%20done.txt")
        .expect("the key with `%` and a space is in the manifest");
    let ran: String = rows
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != failed_row)
        .map(|(_, (k, v))| format!("subr,{k},{v}\n"))
        .collect();
    assert_eq!(replay(&m, &ran, "subr", Some("STANDARD")).await, 3);
    let report: Vec<(String, String, bool)> = rows
        .iter()
        .enumerate()
        .map(|(i, (k, v))| (k.clone(), v.clone(), i != failed_row))
        .collect();
    write_report(&m, &report).await;
    control.set_job(&job_xml(
        "Complete",
        &created.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        4,
        3,
        1,
    ));
    let journal = m.path("batch.jsonl");
    let j = journal.to_str().unwrap();
    let r = m.run(&[
        "--output",
        "json",
        "batch",
        "reconcile",
        d,
        "--journal",
        j,
        ce[0],
        ce[1],
    ]);
    r.expect_code(1); // a task and the delete marker remain
    let doc = r.json();
    crate::schemas::check_document("s3rewind.batch-reconcile/v1", &doc);
    assert_eq!(doc["copies_found"], 3, "{doc:#}");
    assert_eq!(doc["journaled"], 3);
    assert_eq!(doc["failed"][0]["key"], "docs/100% done.txt");
    assert!(
        doc["failed"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("AccessDenied"),
        "{doc:#}"
    );
    assert!(doc["list_calls"].as_u64().unwrap() >= 1);
    // The journal holds what a local run would: for each copied key the version that
    // was current before and the version the job created.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&journal)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["type"], "start");
    let done: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "done").collect();
    assert_eq!(done.len(), 3);
    for d in &done {
        let key = d["key"].as_str().unwrap();
        let now = m
            .client
            .head_object()
            .bucket("subr")
            .key(key)
            .send()
            .await
            .unwrap();
        assert_eq!(d["new_version_id"], now.version_id().unwrap(), "{d}");
        assert_eq!(d["op"], "copy");
        let was = versions_before.iter().any(|(k, v, dm)| {
            k == key && !dm && Some(v.as_str()) == d["previous_version_id"].as_str()
        });
        // A key deleted after T had a delete marker as its current entry: absent.
        assert!(was || d["previous_version_id"].is_null(), "{d}");
    }
    // verify passes for the copied keys (the failed one still differs).
    let copied: Vec<String> = done
        .iter()
        .map(|d| d["key"].as_str().unwrap().to_owned())
        .collect();
    let mut argv = vec!["verify", "s3://subr", "--at", &t, "--journal", j];
    for k in &copied {
        argv.extend(["--include", k.as_str()]);
    }
    m.run(&argv).expect_code(0);
    m.run(&["verify", "s3://subr", "--at", &t]).expect_code(1);
    // What remains: the failed copy and the delete marker, as a plan apply runs.
    let remaining: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("remaining.json")).unwrap())
            .unwrap();
    assert_eq!(remaining["schema"], "s3rewind.plan/v1");
    let acts: Vec<(String, String)> = remaining["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["op"].as_str().unwrap().to_owned(),
                a["key"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        acts,
        [
            ("copy".to_owned(), "docs/100% done.txt".to_owned()),
            ("delete_marker".to_owned(), "new after T.txt".to_owned())
        ],
        "{remaining:#}"
    );
    // Reconciling again journals nothing twice.
    let r = m.run(&[
        "--output",
        "json",
        "batch",
        "reconcile",
        d,
        "--journal",
        j,
        ce[0],
        ce[1],
    ]);
    r.expect_code(1);
    assert_eq!(r.json()["journaled"], 0);
    // apply finishes the restore on the same journal; the state at T is reached.
    m.run(&[
        "apply",
        dir.join("remaining.json").to_str().unwrap(),
        "--yes",
        "--journal",
        j,
    ])
    .expect_code(0);
    assert_eq!(m.contents("subr", "").await, want);
    // undo from that journal puts back the state before the restore and removes nothing.
    m.run(&["undo", j, "--yes"]).expect_code(0);
    assert_eq!(m.contents("subr", "").await, before);
    let after = m.versions("subr").await;
    for v in &versions_before {
        assert!(after.contains(v), "{v:?} was removed");
    }
}
