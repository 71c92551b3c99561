//! Reading a Batch Operations job's completion report back, and finding the version each
//! copy task created.
//!
//! A completion report (`Report_CSV_20180820`) is a `manifest.json` under
//! `REPORT-PREFIX/job-JOB-ID/` that names result CSV files (one per outcome), each row
//! `Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage` (the
//! manifest's `ReportSchema`; AWS's own example rows carry the HTTP status before the
//! error code, so the two are told apart by which one is a number).
//!
//! The report names the *source* version of each task, never the version its copy
//! created. [`find_copy`] finds that version in a listing of the destination key: a
//! version written at or after the job's creation with the source's size and ETag (or,
//! when no ETag matches — a multipart or SSE-KMS source, whose copy gets another ETag —
//! the size alone), and says how sure it is.

use chrono::{DateTime, Timelike, Utc};
use serde::Deserialize;

/// The report's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportManifest {
    /// `Report_CSV_20180820`.
    pub format: String,
    /// When the report was written.
    #[serde(default)]
    pub report_creation_date: Option<String>,
    /// The result files.
    #[serde(default)]
    pub results: Vec<ReportFile>,
    /// The columns of the result files.
    #[serde(default)]
    pub report_schema: Option<String>,
}

/// One result file of a report.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReportFile {
    /// `succeeded` or `failed`: the outcome of every task in the file.
    pub task_execution_status: String,
    /// The bucket it is in (a name).
    pub bucket: String,
    /// Its key.
    pub key: String,
    /// The hex MD5 of its bytes.
    #[serde(default, rename = "MD5Checksum")]
    pub md5_checksum: Option<String>,
}

/// The only report format there is.
pub const REPORT_FORMAT: &str = "Report_CSV_20180820";

/// Parse a report's `manifest.json`.
pub fn parse_report_manifest(bytes: &[u8]) -> Result<ReportManifest, String> {
    let m: ReportManifest = serde_json::from_slice(bytes)
        .map_err(|e| format!("not a Batch Operations completion report manifest: {e}"))?;
    if m.format != REPORT_FORMAT {
        return Err(format!(
            "completion report format {:?}: only {REPORT_FORMAT} is read",
            m.format
        ));
    }
    Ok(m)
}

/// What the report says of one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The source bucket.
    pub bucket: String,
    /// The key, as the report carries it (the manifest's form: URL-encoded).
    pub key: String,
    /// The source version id (empty when the manifest had none).
    pub version_id: String,
    /// True for `succeeded`.
    pub succeeded: bool,
    /// The error code of a failed task (`InvalidObjectState`, `AccessDenied`…).
    pub error_code: Option<String>,
    /// The HTTP status of the task's request.
    pub http_status: Option<u16>,
    /// The result message.
    pub message: String,
}

/// Parse a result CSV (quoted fields allowed, as AWS quotes messages).
pub fn parse_report_rows(text: &str) -> Result<Vec<ReportRow>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let r = record.map_err(|e| format!("result row {}: {e}", i + 1))?;
        if r.len() < 4 {
            if r.iter().all(str::is_empty) {
                continue;
            }
            return Err(format!(
                "result row {} has {} fields; a completion report row has 7 (Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage)",
                i + 1,
                r.len()
            ));
        }
        let field = |n: usize| r.get(n).unwrap_or_default().trim().to_owned();
        let (a, b) = (field(4), field(5));
        // ErrorCode and HTTPStatusCode, in whichever order the file has them.
        let (code, status) = match (a.parse::<u16>(), b.parse::<u16>()) {
            (Ok(s), Err(_)) => (b, Some(s)),
            (Err(_), Ok(s)) => (a, Some(s)),
            (Ok(s), Ok(_)) => (b, Some(s)),
            (Err(_), Err(_)) => (if a.is_empty() { b } else { a }, None),
        };
        let status_text = field(3);
        out.push(ReportRow {
            bucket: field(0),
            key: r.get(1).unwrap_or_default().to_owned(),
            version_id: field(2),
            succeeded: status_text.eq_ignore_ascii_case("succeeded"),
            error_code: Some(code).filter(|c| !c.is_empty()),
            http_status: status,
            message: field(6),
        });
    }
    Ok(out)
}

/// One entry of a destination key's listing, newest first: what [`find_copy`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The version id.
    pub version_id: String,
    /// A delete marker.
    pub delete_marker: bool,
    /// ETag, without quotes.
    pub etag: String,
    /// Size.
    pub size: u64,
    /// LastModified.
    pub last_modified: DateTime<Utc>,
}

/// How a copy was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchedBy {
    /// Size and ETag equal the source's.
    SizeAndEtag,
    /// Size only: no version had the source's ETag (a multipart or SSE-KMS source's
    /// copy gets another ETag).
    SizeOnly,
}

/// The version a copy task created, as far as a listing can tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// This version.
    Copy {
        /// The version the copy created.
        version_id: String,
        /// The key's current version just before it (`None`: absent, or a delete
        /// marker).
        previous_version_id: Option<String>,
        /// When it was written.
        last_modified: DateTime<Utc>,
        /// How it was recognised.
        matched_by: MatchedBy,
        /// Other versions that matched as well (the oldest was taken: the job's copy
        /// precedes any later write of the same content).
        others: Vec<String>,
    },
    /// No version written since the job began matches.
    NotFound,
}

/// Find, in `entries` (one key, newest first), the version a copy of a source version
/// of `size` bytes and ETag `etag` created at or after `job_created` (compared in whole
/// seconds, as S3 stamps versions). The source version itself never counts.
pub fn find_copy(
    entries: &[Listed],
    source_version_id: &str,
    etag: &str,
    size: u64,
    job_created: DateTime<Utc>,
) -> Found {
    let since = job_created.with_nanosecond(0).unwrap_or(job_created);
    let eligible = |e: &&Listed| {
        !e.delete_marker
            && e.version_id != source_version_id
            && e.last_modified >= since
            && e.size == size
    };
    let by_etag: Vec<usize> = (0..entries.len())
        .filter(|&i| eligible(&&entries[i]) && !etag.is_empty() && entries[i].etag == etag)
        .collect();
    let (matches, matched_by) = if by_etag.is_empty() {
        (
            (0..entries.len())
                .filter(|&i| eligible(&&entries[i]))
                .collect::<Vec<_>>(),
            MatchedBy::SizeOnly,
        )
    } else {
        (by_etag, MatchedBy::SizeAndEtag)
    };
    // Newest first: the last match is the oldest.
    let Some(&chosen) = matches.last() else {
        return Found::NotFound;
    };
    let previous_version_id = entries
        .get(chosen + 1)
        .filter(|e| !e.delete_marker)
        .map(|e| e.version_id.clone());
    Found::Copy {
        version_id: entries[chosen].version_id.clone(),
        previous_version_id,
        last_modified: entries[chosen].last_modified,
        matched_by,
        others: matches[..matches.len() - 1]
            .iter()
            .map(|&i| entries[i].version_id.clone())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }

    fn v(id: &str, etag: &str, size: u64, at: i64) -> Listed {
        Listed {
            version_id: id.into(),
            delete_marker: false,
            etag: etag.into(),
            size,
            last_modified: t(at),
        }
    }

    #[test]
    fn a_report_manifest_and_its_rows_are_read_in_either_column_order() {
        let m = parse_report_manifest(
            br#"{"Format":"Report_CSV_20180820","ReportCreationDate":"2019-04-05T17:48:39.725Z",
            "Results":[{"TaskExecutionStatus":"failed","Bucket":"r","MD5Checksum":"x","Key":"p/job-1/results/a.csv"}],
            "ReportSchema":"Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}"#,
        )
        .unwrap();
        assert_eq!(m.results[0].key, "p/job-1/results/a.csv");
        assert_eq!(m.results[0].md5_checksum.as_deref(), Some("x"));
        assert!(parse_report_manifest(br#"{"Format":"Report_ORC"}"#).is_err());
        let rows = parse_report_rows(
            "b,a%20b,v1,succeeded,200,,Successful\n\
             b,c,v2,failed,InvalidObjectState,403,\"Object is \"\"archived\"\", restore it\"\n\
             b,d,v3,failed,404,NoSuchKey,gone\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[0].succeeded);
        assert_eq!(rows[0].key, "a%20b");
        assert_eq!(
            (rows[0].http_status, rows[0].error_code.clone()),
            (Some(200), None)
        );
        assert_eq!(rows[1].error_code.as_deref(), Some("InvalidObjectState"));
        assert_eq!(rows[1].http_status, Some(403));
        assert_eq!(rows[1].message, "Object is \"archived\", restore it");
        assert_eq!(rows[2].error_code.as_deref(), Some("NoSuchKey"));
        assert_eq!(rows[2].http_status, Some(404));
        assert!(parse_report_rows("b,k\n").is_err());
    }

    #[test]
    fn the_copy_is_the_oldest_match_since_the_job_began() {
        // Newest first: a later identical write, the job's copy, a delete marker, the
        // source version (same content, but before the job).
        let dm = Listed {
            version_id: "dm".into(),
            delete_marker: true,
            etag: String::new(),
            size: 0,
            last_modified: t(5),
        };
        let entries = vec![
            v("later", "e", 3, 30),
            v("copy", "e", 3, 20),
            dm,
            v("src", "e", 3, 1),
        ];
        match find_copy(
            &entries,
            "src",
            "e",
            3,
            t(19) + chrono::Duration::milliseconds(700),
        ) {
            Found::Copy {
                version_id,
                previous_version_id,
                matched_by,
                others,
                ..
            } => {
                assert_eq!(version_id, "copy");
                // What was current before it was a delete marker: absent.
                assert_eq!(previous_version_id, None);
                assert_eq!(matched_by, MatchedBy::SizeAndEtag);
                assert_eq!(others, ["later"]);
            }
            other => panic!("{other:?}"),
        }
        // Nothing since the job began: not found, even though the source matches.
        assert_eq!(find_copy(&entries, "src", "e", 3, t(31)), Found::NotFound);
        // A multipart source: the copy has another ETag; matched by size alone.
        let mp = vec![v("copy", "md5", 3, 20), v("prev", "old", 9, 2)];
        match find_copy(&mp, "src", "abc-2", 3, t(10)) {
            Found::Copy {
                matched_by,
                previous_version_id,
                ..
            } => {
                assert_eq!(matched_by, MatchedBy::SizeOnly);
                assert_eq!(previous_version_id.as_deref(), Some("prev"));
            }
            other => panic!("{other:?}"),
        }
        // Another size is never a match.
        assert_eq!(find_copy(&mp, "src", "md5", 4, t(10)), Found::NotFound);
    }
}
