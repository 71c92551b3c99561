//! `s3rewind audit s3://BUCKET`: read the bucket's configurations, let the engine decide
//! which recovery scenarios they cover ([`s3rewind_engine::audit`]), print the matrix.
//!
//! A configuration that is not set is not an error. One that cannot be read (access
//! denied, an answer the SDK cannot parse) is reported and counted as not set; a missing
//! bucket, an unreachable endpoint or unusable credentials end the command.
//!
//! Each replication rule's destination bucket is read too, best effort (its region,
//! versioning, lifecycle and Object Lock, through a client for its region): a replica in
//! another account is often not readable, which is noted, never an error.

use crate::args::AuditArgs;
use crate::bucket::{Endpoint, ErrorKind, S3Error};
use crate::error::{CliError, CliResult, Exit, from_s3};
use crate::pipeline::App;
use s3rewind_engine::audit::{
    AuditOptions, AuditReport, BucketFacts, Coverage, Replica, ReplicaStatus, Unreadable, audit,
    policy_denials,
};
use s3rewind_engine::{Versioning, parse_s3_uri};

/// Keep a read's value; note an unreadable configuration; stop on anything else.
fn keep<T>(
    facts: &mut BucketFacts,
    what: &str,
    r: Result<Option<T>, S3Error>,
) -> CliResult<Option<T>> {
    match r {
        Ok(v) => Ok(v),
        Err(e) if matches!(e.kind, ErrorKind::AccessDenied | ErrorKind::Other) => {
            tracing::info!(error = %e, "{what} not read");
            facts.unreadable.push(Unreadable {
                configuration: what.to_owned(),
                reason: match (&e.code, e.status) {
                    (Some(c), _) => c.clone(),
                    (None, Some(s)) => format!("HTTP {s}"),
                    (None, None) => e.message.clone(),
                },
            });
            Ok(None)
        }
        Err(e) => Err(from_s3(e, &facts.bucket)),
    }
}

/// Read everything the audit looks at.
pub async fn read_facts(app: &App, bucket: &str) -> CliResult<BucketFacts> {
    let config = app.endpoint.config(bucket);
    let mut f = BucketFacts::new(bucket);
    // The versioning read also tells whether the bucket exists at all.
    let versioning = app.endpoint.bucket(bucket).versioning().await.map(Some);
    if let Some(v) = keep(&mut f, "versioning configuration", versioning)? {
        f.versioning = v.status;
        f.mfa_delete = v.mfa_delete;
    }
    f.region = keep(&mut f, "bucket location", config.region().await)?;
    f.lifecycle = keep(
        &mut f,
        "lifecycle configuration",
        config.lifecycle_rules().await,
    )?
    .unwrap_or_default();
    f.replication = keep(
        &mut f,
        "replication configuration",
        config.replication_rules().await,
    )?
    .unwrap_or_default();
    let mut replicas: Vec<Replica> = Vec::new();
    for r in &mut f.replication {
        if r.destination_bucket.is_empty() {
            continue;
        }
        // Best effort: another account's bucket may not be readable.
        match app.endpoint.config(&r.destination_bucket).region().await {
            Ok(region) => r.destination_region = region,
            Err(e) => tracing::info!(error = %e, "replica's region not read"),
        }
        // One read per replica bucket, however many rules name it.
        let replica = match replicas.iter().find(|x| x.bucket == r.destination_bucket) {
            Some(x) => x.clone(),
            None => {
                let x =
                    read_replica(app, &r.destination_bucket, r.destination_region.as_deref()).await;
                replicas.push(x.clone());
                x
            }
        };
        r.replica = Some(replica);
    }
    f.object_lock = keep(
        &mut f,
        "Object Lock configuration",
        config.object_lock().await,
    )?;
    if let Some(text) = keep(&mut f, "bucket policy", config.policy().await)? {
        f.has_policy = true;
        match policy_denials(&text, bucket) {
            Ok(d) => f.denials = d,
            Err(reason) => f.unreadable.push(Unreadable {
                configuration: "bucket policy".to_owned(),
                reason,
            }),
        }
    }
    f.public_access_block = keep(
        &mut f,
        "public access block",
        config.public_access_block().await,
    )?;
    f.encryption = keep(&mut f, "default encryption", config.encryption().await)?;
    Ok(f)
}

/// Why a read failed, in a few words (the S3 error code, else the status or message).
fn reason(e: &S3Error) -> String {
    match (&e.code, e.status) {
        (Some(c), _) => c.clone(),
        (None, Some(s)) => format!("HTTP {s}"),
        (None, None) => e.message.clone(),
    }
}

/// Read a replica bucket's versioning, lifecycle and Object Lock, through a client for
/// its region (S3 answers a request for a bucket in another region with a redirect).
/// Never fails: what cannot be read is recorded in the [`Replica`].
async fn read_replica(app: &App, bucket: &str, region: Option<&str>) -> Replica {
    let endpoint: std::sync::Arc<dyn Endpoint> = match region {
        Some(r) if app.connect.region.as_deref() != Some(r) => {
            app.connector
                .connect(&crate::bucket::ConnectOptions {
                    region: Some(r.to_owned()),
                    ..app.connect.clone()
                })
                .await
        }
        _ => app.endpoint.clone(),
    };
    let v = match endpoint.bucket(bucket).versioning().await {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, "replica not read");
            let status = if e.kind == ErrorKind::NoSuchBucket {
                ReplicaStatus::Missing
            } else {
                ReplicaStatus::Unreadable
            };
            return Replica::not_read(bucket, status, reason(&e));
        }
    };
    let mut x = Replica::read(bucket, v.status);
    x.mfa_delete = v.mfa_delete;
    let mut unreadable = |what: &str, e: S3Error| {
        tracing::info!(error = %e, "replica's {what} not read");
        x.unreadable.push(Unreadable {
            configuration: what.to_owned(),
            reason: reason(&e),
        });
    };
    let config = endpoint.config(bucket);
    let lifecycle = config.lifecycle_rules().await;
    let lock = config.object_lock().await;
    let (mut lifecycle_rules, mut object_lock) = (Vec::new(), None);
    match lifecycle {
        Ok(l) => lifecycle_rules = l.unwrap_or_default(),
        Err(e) => unreadable("lifecycle configuration", e),
    }
    match lock {
        Ok(l) => object_lock = l,
        Err(e) => unreadable("Object Lock configuration", e),
    }
    x.lifecycle = lifecycle_rules;
    x.object_lock = object_lock;
    x
}

/// The configuration as read, one line per setting in the order the audit reads them.
/// Over 120 lines only because each setting's line is its own small format.
fn describe_configuration(f: &BucketFacts) -> Vec<String> {
    let mut out = Vec::new();
    out.push(format!(
        "versioning: {}{}",
        f.versioning,
        if f.mfa_delete { ", MFA Delete on" } else { "" }
    ));
    if f.lifecycle.is_empty() {
        out.push("lifecycle: no rules".to_owned());
    }
    for r in &f.lifecycle {
        let mut parts = Vec::new();
        if let Some(d) = r.noncurrent_days {
            parts.push(format!("noncurrent versions expire after {d} days"));
        }
        if let Some(d) = r.expiration_days {
            parts.push(format!("current objects expire after {d} days"));
        }
        if r.expired_object_delete_marker {
            parts.push("expired delete markers removed".to_owned());
        }
        if let Some(d) = r.abort_incomplete_upload_days {
            parts.push(format!("incomplete uploads aborted after {d} days"));
        }
        out.push(format!(
            "lifecycle rule {:?}{}{}: {}",
            r.id,
            if r.prefix.is_empty() {
                String::new()
            } else {
                format!(" on {:?}", r.prefix)
            },
            if r.enabled { "" } else { " (disabled)" },
            if parts.is_empty() {
                "nothing that affects recovery".to_owned()
            } else {
                parts.join(", ")
            }
        ));
    }
    if f.replication.is_empty() {
        out.push("replication: none".to_owned());
    }
    for r in &f.replication {
        out.push(format!(
            "replication rule {:?}{}: to s3://{}{}{}, delete markers {}replicated{}",
            r.id,
            if r.enabled { "" } else { " (disabled)" },
            r.destination_bucket,
            r.destination_region
                .as_deref()
                .map(|x| format!(" in {x}"))
                .unwrap_or_default(),
            r.destination_account
                .as_deref()
                .map(|a| format!(" (account {a})"))
                .unwrap_or_default(),
            if r.delete_marker_replication {
                ""
            } else {
                "not "
            },
            if r.prefix.is_empty() {
                String::new()
            } else {
                format!(", prefix {:?}", r.prefix)
            }
        ));
    }
    let mut described: Vec<&str> = Vec::new();
    for x in f.replication.iter().filter_map(|r| r.replica.as_ref()) {
        if described.contains(&x.bucket.as_str()) {
            continue;
        }
        described.push(&x.bucket);
        out.push(format!(
            "replica s3://{}: {}",
            x.bucket,
            match x.status {
                ReplicaStatus::Missing => "does not exist".to_owned(),
                ReplicaStatus::Unreadable => format!(
                    "not readable ({})",
                    x.reason.as_deref().unwrap_or("no reason given")
                ),
                ReplicaStatus::Read => format!(
                    "versioning {}, {}, {}",
                    x.versioning
                        .map_or_else(|| "unknown".to_owned(), |v| v.to_string()),
                    x.window_days().map_or_else(
                        || "no noncurrent-version expiration".to_owned(),
                        |d| format!("noncurrent versions expire after {d} days")
                    ),
                    describe_lock(x.object_lock.as_ref())
                ),
            }
        ));
    }
    out.push(describe_lock(f.object_lock.as_ref()));
    out.push(if !f.has_policy {
        "bucket policy: none".to_owned()
    } else if f.denials.is_empty() {
        "bucket policy: denies none of s3:DeleteBucket, s3:DeleteObjectVersion, s3:PutLifecycleConfiguration, s3:PutBucketVersioning, s3:BypassGovernanceRetention".to_owned()
    } else {
        let mut d: Vec<String> = f
            .denials
            .iter()
            .map(|d| {
                if d.unconditional() {
                    d.action.clone()
                } else {
                    format!("{} (limited)", d.action)
                }
            })
            .collect();
        d.dedup();
        format!("bucket policy: denies {}", d.join(", "))
    });
    out.push(match &f.public_access_block {
        Some(p) if p.all() => "public access block: all four settings on".to_owned(),
        Some(_) => "public access block: partial".to_owned(),
        None => "public access block: none".to_owned(),
    });
    out.push(match &f.encryption {
        Some(e) => format!("default encryption: {}", e.algorithm),
        None => "default encryption: none".to_owned(),
    });
    out
}

fn print_text(app: &App, r: &AuditReport) {
    let p = &app.printer;
    let f = &r.configuration;
    p.line(format!(
        "Audit of s3://{}{}",
        r.bucket,
        f.region
            .as_deref()
            .map(|x| format!(" ({x})"))
            .unwrap_or_default()
    ));
    for line in describe_configuration(f) {
        p.line(format!("  {line}"));
    }
    p.line(match (r.recovery_window_days, f.versioning) {
        (_, Versioning::Unversioned) => "Recovery reaches back: nowhere (no versioning)".to_owned(),
        (Some(d), _) => format!("Recovery reaches back: {d} days (noncurrent-version expiration)"),
        (None, _) => {
            "Recovery reaches back: to the first version (nothing expires noncurrent versions)"
                .to_owned()
        }
    });
    p.line("");
    for (i, s) in r.scenarios.iter().enumerate() {
        let mark = match s.coverage {
            Coverage::Covered => "covered",
            Coverage::Partly => "PARTLY",
            Coverage::NotCovered => "NOT COVERED",
        };
        p.line(format!("{}. {:<46} {mark}", i + 1, s.title));
        for b in &s.because {
            p.line(format!("     {b}"));
        }
        for fix in &s.fixes {
            p.line(format!("     fix: {fix}"));
        }
    }
    if !r.notes.is_empty() {
        p.line("");
        p.line("Notes:");
        for n in &r.notes {
            p.line(format!("  - {n}"));
        }
    }
    let covered = r
        .scenarios
        .iter()
        .filter(|s| s.coverage == Coverage::Covered)
        .count();
    p.line("");
    p.line(format!(
        "{}: {covered} of {} scenarios covered",
        if r.all_covered { "OK" } else { "Not ready" },
        r.scenarios.len()
    ));
}

fn describe_lock(l: Option<&s3rewind_engine::audit::ObjectLock>) -> String {
    match l {
        Some(l) if l.enabled => match (&l.mode, l.days) {
            (Some(m), Some(d)) => format!("object lock: enabled, default retention {m} {d} days"),
            _ => "object lock: enabled, no default retention".to_owned(),
        },
        _ => "object lock: not enabled".to_owned(),
    }
}

/// `s3rewind audit`.
pub async fn audit_cmd(app: &App, args: &AuditArgs) -> CliResult<Exit> {
    let location = parse_s3_uri(&args.bucket)?;
    if !location.prefix.is_empty() {
        return Err(CliError::usage(format!(
            "audit takes a bucket (s3://{}), not a prefix: the configurations it reads are the bucket's",
            location.bucket
        )));
    }
    let facts = read_facts(app, &location.bucket).await?;
    let report = audit(
        &facts,
        &AuditOptions {
            min_days: args.min_days,
        },
    );
    print_text(app, &report);
    app.printer.json_value(&report);
    Ok(if report.all_covered {
        Exit::Ok
    } else {
        Exit::Partial
    })
}
