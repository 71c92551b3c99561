//! Bad input and refusals: one clear line on stderr, a documented exit code, no writes.

use crate::support::*;

/// Stderr is exactly one `s3rewind: error:` line.
#[track_caller]
fn one_error_line(r: &Run) -> &str {
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line on stderr:\n{}", r.stderr);
    assert!(lines[0].starts_with("s3rewind: error: "), "{}", lines[0]);
    lines[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_never_versioned_and_bad_arguments() {
    let m = Moto::start().await;
    m.bucket("plain", false).await;
    m.put("plain", "k", b"v").await;
    m.bucket("good", true).await;
    m.put("good", "k", b"v").await;
    let before = (m.versions("plain").await, m.versions("good").await);

    let r = m.run(&["restore", "s3://no-such-bucket", "--at", "1h", "--yes"]);
    r.expect_code(3);
    assert!(one_error_line(&r).contains("\"no-such-bucket\" does not exist"));

    let r = m.run(&["restore", "s3://plain", "--at", "1h", "--yes"]);
    r.expect_code(4);
    assert!(one_error_line(&r).contains("point-in-time restore is impossible"));
    let r = m.run(&["plan", "s3://plain", "--at", "1h"]);
    r.expect_code(4);

    // Destination bucket missing.
    let r = m.run(&[
        "restore",
        "s3://good",
        "--at",
        "1h",
        "--to",
        "s3://missing-dest",
    ]);
    r.expect_code(3);
    assert!(one_error_line(&r).contains("missing-dest"));

    for (args, needle) in [
        (
            vec!["plan", "s3://good", "--at", "yesterday"],
            "invalid TIME",
        ),
        (
            vec!["plan", "s3://good", "--at", "2099-01-01T00:00:00Z"],
            "in the future",
        ),
        (vec!["plan", "good", "--at", "1h"], "expected s3://BUCKET"),
        (
            vec!["plan", "s3://Bad Bucket", "--at", "1h"],
            "invalid bucket name",
        ),
        (
            vec![
                "plan",
                "s3://good/a/",
                "--at",
                "1h",
                "--to",
                "s3://good/a/b/",
            ],
            "overlaps",
        ),
    ] {
        let r = m.run(&args);
        r.expect_code(2);
        assert!(
            one_error_line(&r).contains(needle),
            "{args:?}: {}",
            r.stderr
        );
    }
    // clap's own usage errors also exit 2.
    m.run(&["plan", "s3://good", "--at", "1h", "--page-size", "0"])
        .expect_code(2);
    m.run(&["restore", "s3://good"]).expect_code(2);

    // Plan files: unreadable, not JSON, wrong schema, tampered.
    let missing = m.run(&["apply", "/nonexistent/plan.json", "--yes"]);
    missing.expect_code(2);
    assert!(one_error_line(&missing).contains("cannot read plan file"));
    let bad = m.path("bad.json");
    std::fs::write(&bad, "{not json").unwrap();
    m.run(&["apply", bad.to_str().unwrap(), "--yes"])
        .expect_code(2);
    std::fs::write(&bad, r#"{"schema":"s3rewind.plan/v99"}"#).unwrap();
    let r = m.run(&["apply", bad.to_str().unwrap(), "--yes"]);
    r.expect_code(2);
    assert!(one_error_line(&r).contains("schema"));

    assert_eq!(
        (m.versions("plain").await, m.versions("good").await),
        before,
        "nothing may be written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_plan_is_refused() {
    let m = Moto::start().await;
    m.bucket("b1x", true).await;
    m.put("b1x", "docs/a", b"1").await;
    let t = ts(checkpoint().await);
    m.put("b1x", "docs/a", b"2").await;
    m.put("b1x", "other/z", b"2").await;
    let plan = m.path("p.json");
    m.run(&[
        "plan",
        "s3://b1x/docs/",
        "--at",
        &t,
        "--out",
        plan.to_str().unwrap(),
    ])
    .expect_code(0);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(text.contains("\"key\": \"docs/a\""));
    std::fs::write(
        &plan,
        text.replace("\"key\": \"docs/a\"", "\"key\": \"other/z\""),
    )
    .unwrap();
    let before = m.versions("b1x").await;
    let r = m.run(&["apply", plan.to_str().unwrap(), "--yes"]);
    r.expect_code(2);
    assert!(one_error_line(&r).contains("outside the destination prefix"));
    assert_eq!(m.versions("b1x").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_and_unknown_keys() {
    let (m, (key, secret)) = Moto::start_with_auth().await;
    m.bucket("locked", true).await;
    m.put("locked", "k", b"v").await;
    let before = m.versions("locked").await;
    let r = m.run_with(
        &["restore", "s3://locked", "--at", "1h", "--yes"],
        &[
            ("AWS_ACCESS_KEY_ID", &key),
            ("AWS_SECRET_ACCESS_KEY", &secret),
        ],
    );
    r.expect_code(5);
    let line = one_error_line(&r);
    assert!(line.contains("access denied"), "{line}");
    assert!(!r.stderr.contains(&secret));
    let r = m.run_with(
        &["plan", "s3://locked", "--at", "1h"],
        &[
            ("AWS_ACCESS_KEY_ID", "AKIANOTKNOWN"),
            ("AWS_SECRET_ACCESS_KEY", "nope"),
        ],
    );
    r.expect_code(5);
    one_error_line(&r);
    assert_eq!(m.versions("locked").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_and_missing_credentials() {
    let m = Moto::start().await;
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut cmd = std::process::Command::new(binary());
    isolate_env(&mut cmd, m.dir.path());
    let out = cmd
        .args([
            "--endpoint-url",
            &format!("http://127.0.0.1:{port}"),
            "--max-attempts",
            "1",
        ])
        .args(["plan", "s3://any-bucket", "--at", "1h"])
        .output()
        .unwrap();
    let r = Run::from(out);
    r.expect_code(6);
    assert!(one_error_line(&r).contains("cannot reach the S3 endpoint"));

    let mut cmd = std::process::Command::new(binary());
    isolate_env(&mut cmd, m.dir.path());
    let out = cmd
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .args([
            "--endpoint-url",
            &m.endpoint,
            "plan",
            "s3://any-bucket",
            "--at",
            "1h",
        ])
        .output()
        .unwrap();
    let r = Run::from(out);
    r.expect_code(8);
    assert!(
        one_error_line(&r).contains("no AWS credentials"),
        "{}",
        r.stderr
    );

    // A profile that does not exist: its own message and code, not "cannot reach".
    std::fs::create_dir_all(m.dir.path().join(".aws")).unwrap();
    let config = m.dir.path().join(".aws/config");
    std::fs::write(&config, "[profile real]\nregion = us-east-1\n").unwrap();
    let mut cmd = std::process::Command::new(binary());
    isolate_env(&mut cmd, m.dir.path());
    let out = cmd
        .env("AWS_CONFIG_FILE", &config)
        .args([
            "--endpoint-url",
            &m.endpoint,
            "--profile",
            "missing-profile",
            "plan",
            "s3://any-bucket",
            "--at",
            "1h",
        ])
        .output()
        .unwrap();
    let r = Run::from(out);
    r.expect_code(8);
    let line = one_error_line(&r);
    assert!(
        line.contains("profile") && line.contains("missing-profile"),
        "{line}"
    );
}

/// A stand-in for the EC2 instance metadata service on a loopback port that has no
/// credentials to give: with `token`, it hands out a session token (IMDSv2) and then
/// answers 404 (an instance without a role); without, it answers 404 to everything (a
/// proxy, a CI runner's metadata endpoint).
fn metadata_without_credentials(token: bool) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                    break;
                }
            }
            let reply = if token && first.starts_with("PUT /latest/api/token") {
                "HTTP/1.1 200 OK\r\nx-aws-ec2-metadata-token-ttl-seconds: 21600\r\nContent-Length: 5\r\nConnection: close\r\n\r\ntoken"
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            };
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    endpoint
}

/// Where the instance metadata endpoint answers but gives no credentials, the run stops
/// with exit 8 and one line (not exit 6 after the SDK's multi-line dump); an endpoint URL
/// that is not one is a usage error (exit 2), not an unreachable endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_without_credentials_is_exit_8_and_a_bad_endpoint_url_exit_2() {
    let m = Moto::start().await;
    for token in [false, true] {
        let metadata = metadata_without_credentials(token);
        let mut cmd = std::process::Command::new(binary());
        isolate_env(&mut cmd, m.dir.path());
        let out = cmd
            .env_remove("AWS_ACCESS_KEY_ID")
            .env_remove("AWS_SECRET_ACCESS_KEY")
            .env_remove("AWS_EC2_METADATA_DISABLED")
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", &metadata)
            .args([
                "--endpoint-url",
                &m.endpoint,
                "plan",
                "s3://any-bucket",
                "--at",
                "1h",
            ])
            .output()
            .unwrap();
        let r = Run::from(out);
        r.expect_code(8);
        let line = one_error_line(&r);
        assert!(line.contains("no AWS credentials"), "{line}");
    }
    for (option, value) in [
        ("--endpoint-url", "not-a-url"),
        ("--endpoint-url", "localhost:9000"),
    ] {
        let mut cmd = std::process::Command::new(binary());
        isolate_env(&mut cmd, m.dir.path());
        let out = cmd
            .args([option, value, "plan", "s3://any-bucket", "--at", "1h"])
            .output()
            .unwrap();
        let r = Run::from(out);
        r.expect_code(2);
        assert!(r.stderr.contains("not an endpoint URL"), "{}", r.stderr);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_output_at_any_verbosity() {
    let m = Moto::start().await;
    m.bucket("sec", true).await;
    m.bucket("sec-copy", true).await;
    m.put("sec", "k", b"v1").await;
    let t = ts(checkpoint().await);
    m.put("sec", "k", b"v2").await;
    let secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRETKEY";
    let token = "FQoGZXIvYXdzEXAMPLESESSIONTOKENxyz123";
    for (verbosity, rust_log) in [("-v", ""), ("-vvv", ""), ("-vvv", "trace")] {
        let mut env = vec![
            ("AWS_SECRET_ACCESS_KEY", secret),
            ("AWS_SESSION_TOKEN", token),
        ];
        if !rust_log.is_empty() {
            env.push(("RUST_LOG", rust_log));
        }
        let r = m.run_with(
            &[
                verbosity,
                "restore",
                "s3://sec",
                "--at",
                &t,
                "--yes",
                "--to",
                "s3://sec-copy/",
            ],
            &env,
        );
        r.expect_code(0);
        for s in [secret, token] {
            assert!(
                !r.stdout.contains(s) && !r.stderr.contains(s),
                "secret leaked at {verbosity} {rust_log}"
            );
        }
        assert!(!r.stderr.is_empty() || verbosity == "-v");
    }
}

#[test]
fn completions_man_page_and_options_checked_before_any_request() {
    let run = |args: &[&str]| {
        let mut cmd = std::process::Command::new(binary());
        isolate_env(&mut cmd, std::path::Path::new("/nonexistent"));
        // An endpoint nobody listens on: an option error must come before any request.
        cmd.args(["--endpoint-url", "http://127.0.0.1:9"])
            .args(args);
        let out = cmd.output().unwrap();
        Run::from(out)
    };
    let r = run(&["completions", "bash"]);
    r.expect_code(0);
    assert!(r.stdout.contains("_s3rewind()") && r.stdout.contains("--max-delete-markers"));
    for shell in ["zsh", "fish", "powershell"] {
        let r = run(&["completions", shell]);
        r.expect_code(0);
        assert!(r.stdout.contains("restore"), "{shell}");
    }
    let r = run(&["man"]);
    r.expect_code(0);
    assert!(r.stdout.contains(".TH s3rewind 1"), "{}", r.stdout);
    let r = run(&[
        "restore",
        "s3://b",
        "--at",
        "1h",
        "--storage-class",
        "STANDARD_1A",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("possible values"), "{}", r.stderr);
    let r = run(&[
        "restore",
        "s3://b",
        "--at",
        "1h",
        "--journal",
        "https://example.com/j.jsonl",
    ]);
    r.expect_code(2);
    assert!(
        r.stderr
            .contains("give a local file, or s3://BUCKET/PREFIX/"),
        "{}",
        r.stderr
    );
    // An s3:// journal is a location to check like any other, before any request.
    let r = run(&[
        "restore",
        "s3://b",
        "--at",
        "1h",
        "--journal",
        "s3://b/j.jsonl",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("invalid bucket name"), "{}", r.stderr);
    let r = run(&[
        "restore",
        "s3://b",
        "--at",
        "1h",
        "--part-size",
        "5 parsecs",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("invalid size"), "{}", r.stderr);
    let r = run(&[
        "restore",
        "s3://b",
        "--at",
        "1h",
        "--max-delete-markers",
        "120%",
    ]);
    r.expect_code(2);
    assert!(r.stderr.contains("delete-marker limit"), "{}", r.stderr);
}
