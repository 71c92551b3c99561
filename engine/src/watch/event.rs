//! What a bucket notification says, whatever carried it: an S3 Event Notification
//! (`Records[]`, sent to SQS, SNS, or pushed to an HTTP endpoint by radosgw or MinIO), an
//! S3 event through EventBridge (`detail`), or either wrapped in an SNS envelope.
//!
//! Only the events that change a key's history become an [`Event`]: a new version
//! (PUT, POST, COPY, multipart completion), a new delete marker (a DELETE without a
//! version id, or a lifecycle expiration of a current object), and a permanent removal
//! (a DELETE of one version by its id, or a lifecycle expiration of a noncurrent
//! version). Everything else (tagging, ACLs, restores, transitions, S3's test event) is
//! counted and dropped.
//!
//! Keys: AWS's `Records[]` carry the key form-URL-encoded (`red flower.jpg` arrives as
//! `red+flower.jpg`, a literal `+` as `%2B`), and so does MinIO; radosgw
//! (`eventSource` `ceph:s3`) sends it as it is (measured on 16.2: `dir a/ü+&?=%.txt`
//! arrives verbatim), and so does EventBridge.

use super::seq::Sequencer;
use crate::model::{ETag, VersionId};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

/// What an event did to its key's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A new version (PUT, POST, COPY, CompleteMultipartUpload).
    Created,
    /// A new delete marker: a DELETE without a version id in a versioned bucket, or a
    /// lifecycle expiration of a current version.
    DeleteMarker,
    /// One version (or delete marker) removed for good by a DELETE naming its id (in an
    /// unversioned bucket: the object deleted).
    Removed,
    /// One version removed for good by a lifecycle rule (noncurrent version expiration,
    /// or an expired delete marker).
    Expired,
}

impl EventKind {
    /// True for the two kinds that add an entry to the key's history.
    pub fn adds_entry(self) -> bool {
        matches!(self, EventKind::Created | EventKind::DeleteMarker)
    }
}

/// One change of one key's history, as a notification reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// The key, decoded.
    pub key: String,
    /// What happened.
    pub kind: EventKind,
    /// The version (or delete marker) id. `None` where the server sent none: moto sends
    /// none at all, radosgw none for a new delete marker. Such an event is never placed
    /// by guess: the key is read again from the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<VersionId>,
    /// The per-key sequencer, if the server sent one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequencer: Option<Sequencer>,
    /// When the server finished the request (`eventTime`; microseconds on radosgw,
    /// milliseconds on AWS, seconds through EventBridge).
    pub time: DateTime<Utc>,
    /// The ETag (unquoted) of a new version; empty otherwise.
    #[serde(default, skip_serializing_if = "ETag::is_empty")]
    pub etag: ETag,
    /// The size of a new version; 0 otherwise.
    #[serde(default)]
    pub size: u64,
    /// The event name as sent (`ObjectCreated:Put`, …), for the record.
    pub name: String,
}

/// What one message held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The events that change a history, in message order.
    pub events: Vec<Event>,
    /// Records that change no history (tagging, ACL, restore, transition, test events).
    pub ignored: usize,
    /// Records of another bucket than the one asked for.
    pub other_bucket: usize,
}

/// A message that is not a bucket notification.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EventError {
    /// Not JSON.
    #[error("the message is not JSON: {0}")]
    NotJson(String),
    /// JSON, but neither `Records[]`, an EventBridge S3 event, an SNS envelope, nor S3's
    /// test event.
    #[error("the message is not an S3 event notification (no Records, no EventBridge detail)")]
    NotNotification,
    /// A record lacks a field every S3 record has.
    #[error("an event record has no {field}")]
    Missing {
        /// The field.
        field: &'static str,
    },
    /// A field does not parse.
    #[error("an event record's {field} is invalid: {value:?}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What it held.
        value: String,
    },
}

/// Parse one message body (an SQS message, an HTTP POST) into the events of `bucket`
/// (records of other buckets are counted, not returned).
pub fn parse_message(body: &[u8], bucket: &str) -> Result<Parsed, EventError> {
    let v: Value = serde_json::from_slice(body).map_err(|e| EventError::NotJson(e.to_string()))?;
    let mut out = Parsed::default();
    parse_value(&v, bucket, &mut out, 0)?;
    Ok(out)
}

fn parse_value(v: &Value, bucket: &str, out: &mut Parsed, depth: u8) -> Result<(), EventError> {
    // An SNS envelope (raw delivery off): the notification is a JSON string in Message.
    if v.get("Type").and_then(Value::as_str) == Some("Notification")
        && let Some(inner) = v.get("Message").and_then(Value::as_str)
        && depth == 0
    {
        let inner: Value =
            serde_json::from_str(inner).map_err(|e| EventError::NotJson(e.to_string()))?;
        return parse_value(&inner, bucket, out, depth + 1);
    }
    if let Some(records) = v.get("Records").and_then(Value::as_array) {
        for r in records {
            record(r, bucket, out)?;
        }
        return Ok(());
    }
    if v.get("Event").and_then(Value::as_str) == Some("s3:TestEvent") {
        out.ignored += 1;
        return Ok(());
    }
    if v.get("source").and_then(Value::as_str) == Some("aws.s3") && v.get("detail").is_some() {
        return eventbridge(v, bucket, out);
    }
    Err(EventError::NotNotification)
}

/// The kind of a `Records[]` event name (with or without the `s3:` prefix).
fn kind_of(name: &str) -> Option<EventKind> {
    let name = name.strip_prefix("s3:").unwrap_or(name);
    let (group, what) = name.split_once(':').unwrap_or((name, ""));
    match (group, what) {
        // MinIO files metadata changes under ObjectCreated: they add no version.
        ("ObjectCreated", "PutTagging" | "DeleteTagging" | "PutRetention" | "PutLegalHold") => None,
        ("ObjectCreated", _) => Some(EventKind::Created),
        ("ObjectRemoved", "DeleteMarkerCreated") => Some(EventKind::DeleteMarker),
        ("ObjectRemoved", "Delete" | "DeleteAllVersions") => Some(EventKind::Removed),
        ("LifecycleExpiration", "DeleteMarkerCreated") => Some(EventKind::DeleteMarker),
        ("LifecycleExpiration", "Delete") => Some(EventKind::Expired),
        ("LifecycleDelMarkerExpiration", _) => Some(EventKind::Expired),
        _ => None,
    }
}

fn str_field<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// A size sent as a number or a string (both are seen).
fn size_field(v: Option<&Value>) -> Result<u64, EventError> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n.as_u64().ok_or_else(|| EventError::Invalid {
            field: "size",
            value: n.to_string(),
        }),
        Some(Value::String(s)) if s.is_empty() => Ok(0),
        Some(Value::String(s)) => s.parse().map_err(|_| EventError::Invalid {
            field: "size",
            value: s.clone(),
        }),
        Some(other) => Err(EventError::Invalid {
            field: "size",
            value: other.to_string(),
        }),
    }
}

fn time_field(s: Option<&str>) -> Result<DateTime<Utc>, EventError> {
    let s = s.ok_or(EventError::Missing { field: "eventTime" })?;
    // moto sends its local clock without an offset (`2026-12-05T10:00:07.123456`): UTC
    // on the servers it runs on, and taken as UTC here.
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc())
        })
        .map_err(|_| EventError::Invalid {
            field: "eventTime",
            value: s.to_owned(),
        })
}

fn version_field(s: Option<&str>) -> Option<VersionId> {
    s.filter(|s| !s.is_empty()).map(VersionId::new)
}

fn etag_of(kind: EventKind, s: Option<&str>) -> ETag {
    match (kind, s) {
        (EventKind::Created, Some(e)) => ETag::new(e.trim_matches('"')),
        _ => ETag::default(),
    }
}

fn record(r: &Value, bucket: &str, out: &mut Parsed) -> Result<(), EventError> {
    let name = str_field(r, &["eventName"]).ok_or(EventError::Missing { field: "eventName" })?;
    let Some(kind) = kind_of(name) else {
        out.ignored += 1;
        return Ok(());
    };
    let s3 = r.get("s3").ok_or(EventError::Missing { field: "s3" })?;
    let in_bucket = str_field(s3, &["bucket", "name"]).ok_or(EventError::Missing {
        field: "s3.bucket.name",
    })?;
    if in_bucket != bucket {
        out.other_bucket += 1;
        return Ok(());
    }
    let object = s3
        .get("object")
        .ok_or(EventError::Missing { field: "s3.object" })?;
    let raw_key = str_field(object, &["key"]).ok_or(EventError::Missing {
        field: "s3.object.key",
    })?;
    let key = if str_field(r, &["eventSource"]) == Some("ceph:s3") {
        raw_key.to_owned()
    } else {
        form_decode(raw_key).ok_or_else(|| EventError::Invalid {
            field: "s3.object.key",
            value: raw_key.to_owned(),
        })?
    };
    let size = created_size(kind, object)?;
    out.events.push(Event {
        key,
        kind,
        version_id: version_field(str_field(object, &["versionId"])),
        sequencer: str_field(object, &["sequencer"]).and_then(Sequencer::parse),
        time: time_field(str_field(r, &["eventTime"]))?,
        etag: etag_of(kind, str_field(object, &["eTag"])),
        size,
        name: name.strip_prefix("s3:").unwrap_or(name).to_owned(),
    });
    Ok(())
}

/// The object's size for a creation (0 for any other kind of event).
fn created_size(kind: EventKind, object: &Value) -> Result<u64, EventError> {
    if kind == EventKind::Created {
        size_field(object.get("size"))
    } else {
        Ok(0)
    }
}

fn eventbridge(v: &Value, bucket: &str, out: &mut Parsed) -> Result<(), EventError> {
    let detail = &v["detail"];
    let detail_type = str_field(v, &["detail-type"]).unwrap_or_default();
    let reason = str_field(detail, &["reason"]).unwrap_or_default();
    let deletion = str_field(detail, &["deletion-type"]).unwrap_or_default();
    let kind = match (detail_type, deletion) {
        ("Object Created", _) => EventKind::Created,
        ("Object Deleted", "Delete Marker Created") => EventKind::DeleteMarker,
        ("Object Deleted", _) if reason == "Lifecycle Expiration" => EventKind::Expired,
        ("Object Deleted", _) => EventKind::Removed,
        _ => {
            out.ignored += 1;
            return Ok(());
        }
    };
    if str_field(detail, &["bucket", "name"]) != Some(bucket) {
        out.other_bucket += 1;
        return Ok(());
    }
    let object = detail.get("object").ok_or(EventError::Missing {
        field: "detail.object",
    })?;
    let key = str_field(object, &["key"])
        .ok_or(EventError::Missing {
            field: "detail.object.key",
        })?
        .to_owned();
    let size = created_size(kind, object)?;
    out.events.push(Event {
        key,
        kind,
        version_id: version_field(str_field(object, &["version-id"])),
        sequencer: str_field(object, &["sequencer"]).and_then(Sequencer::parse),
        time: time_field(str_field(v, &["time"]))?,
        etag: etag_of(kind, str_field(object, &["etag"])),
        size,
        name: format!("{detail_type}: {reason}"),
    });
    Ok(())
}

/// Decode a form-URL-encoded key (`+` is a space, `%XX` a byte); `None` when the bytes
/// are not UTF-8.
pub fn form_decode(s: &str) -> Option<String> {
    let spaced = s.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AWS_PUT: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3",
        "awsRegion":"us-east-1","eventTime":"2026-12-05T10:00:00.123Z",
        "eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"b"},
        "object":{"key":"dir/red+flower%2B1.jpg","size":12,"eTag":"abc",
        "versionId":"v1","sequencer":"0055AED6DCD90281E5"}}},
        {"eventTime":"2026-12-05T10:00:01Z","eventName":"ObjectRemoved:DeleteMarkerCreated",
        "s3":{"bucket":{"name":"b"},"object":{"key":"k","versionId":"d1","sequencer":"0055AED6DCD90281E6"}}},
        {"eventTime":"2026-12-05T10:00:02Z","eventName":"ObjectTagging:Put",
        "s3":{"bucket":{"name":"b"},"object":{"key":"k"}}},
        {"eventTime":"2026-12-05T10:00:02Z","eventName":"ObjectCreated:Put",
        "s3":{"bucket":{"name":"other"},"object":{"key":"k"}}}]}"#;

    #[test]
    fn records_are_decoded_and_filtered() {
        let p = parse_message(AWS_PUT.as_bytes(), "b").unwrap();
        assert_eq!((p.ignored, p.other_bucket), (1, 1));
        assert_eq!(p.events.len(), 2);
        let put = &p.events[0];
        assert_eq!(put.key, "dir/red flower+1.jpg");
        assert_eq!((put.kind, put.size), (EventKind::Created, 12));
        assert_eq!(put.version_id.as_ref().unwrap(), "v1");
        assert_eq!(put.etag, "abc");
        assert_eq!(put.time.timestamp_subsec_millis(), 123);
        let dm = &p.events[1];
        assert_eq!(
            (dm.kind, dm.etag.is_empty()),
            (EventKind::DeleteMarker, true)
        );
    }

    #[test]
    fn radosgw_and_moto_records_without_ids_keep_none() {
        // radosgw: a delete marker event with an empty versionId, the s3: prefix kept by
        // MinIO, microsecond times; moto: no versionId, no sequencer.
        let body = r#"{"Records":[{"eventTime":"2026-12-05T10:00:06.964330Z",
            "eventSource":"ceph:s3",
            "eventName":"s3:ObjectRemoved:DeleteMarkerCreated","s3":{"bucket":{"name":"b"},
            "object":{"key":"dir a/ü+&?=%.txt","versionId":"","sequencer":"B60C146BE9907A39","eTag":"x","size":5}}},
            {"eventTime":"2026-12-05T10:00:07Z","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"b"},"object":{"key":"k","size":"7","eTag":"\"y\""}}}]}"#;
        let p = parse_message(body.as_bytes(), "b").unwrap();
        assert_eq!(p.events[0].version_id, None);
        assert_eq!(
            p.events[0].key, "dir a/ü+&?=%.txt",
            "radosgw sends keys as they are"
        );
        assert_eq!(p.events[0].kind, EventKind::DeleteMarker);
        // A marker has no ETag or size, whatever the record repeats.
        assert_eq!((p.events[0].etag.is_empty(), p.events[0].size), (true, 0));
        assert_eq!(p.events[0].time.timestamp_subsec_micros(), 964_330);
        assert_eq!(p.events[1].version_id, None);
        assert_eq!(p.events[1].sequencer, None);
        // moto's eventTime has no offset.
        let moto = r#"{"Records":[{"eventTime":"2026-12-05T10:00:07.250000","eventName":"ObjectCreated:Put",
            "s3":{"bucket":{"name":"b"},"object":{"key":"k","size":1,"eTag":"e"}}}]}"#;
        let t = parse_message(moto.as_bytes(), "b").unwrap().events[0].time;
        assert_eq!(t.to_rfc3339(), "2026-12-05T10:00:07.250+00:00");
        assert_eq!(
            (p.events[1].size, p.events[1].etag.as_str()),
            (7, "y".into())
        );
    }

    #[test]
    fn eventbridge_and_sns_shapes() {
        let eb = r#"{"version":"0","detail-type":"Object Deleted","source":"aws.s3",
            "time":"2026-12-05T10:00:00Z","detail":{"bucket":{"name":"b"},
            "object":{"key":"a b+c","version-id":"v9","sequencer":"0A"},
            "reason":"Lifecycle Expiration","deletion-type":"Permanently Deleted"}}"#;
        let p = parse_message(eb.as_bytes(), "b").unwrap();
        assert_eq!(p.events[0].key, "a b+c", "EventBridge keys are not encoded");
        assert_eq!(p.events[0].kind, EventKind::Expired);
        let sns = serde_json::json!({"Type": "Notification", "Message": AWS_PUT}).to_string();
        let p = parse_message(sns.as_bytes(), "b").unwrap();
        assert_eq!(p.events.len(), 2);
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}"#;
        assert_eq!(parse_message(test.as_bytes(), "b").unwrap().ignored, 1);
        assert!(matches!(
            parse_message(b"{\"hello\":1}", "b"),
            Err(EventError::NotNotification)
        ));
        assert!(matches!(
            parse_message(b"nope", "b"),
            Err(EventError::NotJson(_))
        ));
    }

    #[test]
    fn event_names_map_to_kinds() {
        for (name, kind) in [
            ("ObjectCreated:Copy", Some(EventKind::Created)),
            (
                "ObjectCreated:CompleteMultipartUpload",
                Some(EventKind::Created),
            ),
            ("ObjectCreated:PutTagging", None),
            ("ObjectRemoved:Delete", Some(EventKind::Removed)),
            ("LifecycleExpiration:Delete", Some(EventKind::Expired)),
            (
                "LifecycleExpiration:DeleteMarkerCreated",
                Some(EventKind::DeleteMarker),
            ),
            ("LifecycleTransition", None),
            ("ObjectRestore:Completed", None),
        ] {
            assert_eq!(kind_of(name), kind, "{name}");
        }
    }
}
