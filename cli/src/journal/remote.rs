//! Journals kept in S3 (`--journal s3://BUCKET/PREFIX/`), for runners that do not outlive
//! their run: a CI job, a DR account's ephemeral runner. Without it the undo record dies
//! with the machine.
//!
//! # How
//!
//! The journal is the same `s3rewind.journal/v1` text as a local one, and every rule of
//! [`crate::journal`] (one run per journal, torn lines, the lock) applies to it unchanged,
//! because a run writes a **local working copy** and this module keeps S3 in step with it:
//!
//! - **Before the command**, [`Remote::open`] lists PREFIX, checks the segments form one
//!   chain (below) and downloads them into the working copy (`<journal dir>/s3/`). A
//!   working copy left by a run on this host that holds more than S3 (a crash before its
//!   last upload) is kept, and what S3 lacks is uploaded first; one that disagrees with S3
//!   is renamed `*.stale-<unix time>`, never deleted, and S3's text is used.
//! - **While it runs**, every 5 seconds the whole lines appended since the last upload
//!   become one new object, a *segment*; nothing is ever overwritten or deleted.
//! - **After it**, the rest is uploaded and the prefix is listed again: the segments must
//!   be exactly the chain this process believes it wrote (read back through the listing,
//!   not taken from the upload replies), else the command fails (exit 4).
//!
//! A crash loses at most the last five seconds of records from S3: as for a torn local
//! line, a resumed restore plans from the bucket itself, so nothing is copied twice; an
//! undo then misses those keys and says nothing of them — the window is the price of one
//! request per five seconds instead of one per action.
//!
//! # Segments
//!
//! `PREFIX/<seq>-<offset>-<writer>.jsonl`: `seq` counts from 0 (8 digits or more),
//! `offset` is the byte offset of the segment's first byte in the whole journal (12
//! digits or more), `writer` names the process that wrote it. Read back, the segments must
//! be numbered 0, 1, 2… without a gap, one per number, each starting where the previous
//! ended and ending with a newline; anything else under PREFIX is refused (exit 4), as is
//! a chain two processes wrote at once (two segments with one number). Two hosts writing
//! one S3 journal at once are caught when it is next read (by either of them at its end,
//! or by any later run), not prevented: S3 has no lock to take.

use crate::bucket::{Bucket, Endpoint};
use crate::error::{CliError, CliResult, from_s3};
use crate::output::Printer;
use s3rewind_engine::Location;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// How often a running command uploads what its journal gained.
pub const UPLOAD_EVERY: Duration = Duration::from_secs(5);

/// `s3://BUCKET/PREFIX/` as a journal location: the prefix ends with `/` (one is added),
/// or is empty (the whole bucket holds the journal).
pub fn parse_url(text: &str) -> Result<Location, String> {
    let mut l = s3rewind_engine::parse_s3_uri(text).map_err(|e| e.to_string())?;
    if !l.prefix.is_empty() && !l.prefix.ends_with('/') {
        l.prefix.push('/');
    }
    Ok(l)
}

/// One segment as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Segment {
    key: String,
    seq: u64,
    offset: u64,
    writer: String,
    size: u64,
}

fn segment_key(prefix: &str, seq: u64, offset: u64, writer: &str) -> String {
    format!("{prefix}{seq:08}-{offset:012}-{writer}.jsonl")
}

/// `(seq, offset, writer)` of a segment's name below the prefix.
fn parse_segment(name: &str) -> Option<(u64, u64, String)> {
    let stem = name.strip_suffix(".jsonl")?;
    let mut parts = stem.splitn(3, '-');
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let seq = parts.next().filter(|s| digits(s))?.parse().ok()?;
    let offset = parts.next().filter(|s| digits(s))?.parse().ok()?;
    let writer = parts
        .next()
        .filter(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()))?;
    Some((seq, offset, writer.to_owned()))
}

/// The segments under the journal's prefix, in order; refused (exit 4) unless they are
/// one chain (see the module docs).
async fn read_chain(bucket: &dyn Bucket, url: &str, prefix: &str) -> CliResult<Vec<Segment>> {
    // One ListObjectsV2 pass, through the cross-check's pager of that API (it refuses a
    // listing that goes backwards or stalls).
    let (objects, _) = crate::crosscheck::current_objects(bucket, prefix).await?;
    let mut segments = Vec::with_capacity(objects.len());
    for o in objects {
        let name = o.key.strip_prefix(prefix).unwrap_or(&o.key);
        let Some((seq, offset, writer)) = parse_segment(name) else {
            return Err(CliError::refused(format!(
                "journal {url} holds s3://{}/{}, which is not a journal segment: give --journal a prefix of its own (s3://BUCKET/PREFIX/ that only s3rewind writes to); nothing was written",
                bucket.name(),
                o.key
            )));
        };
        segments.push(Segment {
            key: o.key,
            seq,
            offset,
            writer,
            size: o.size,
        });
    }
    segments.sort_by(|a, b| (a.seq, &a.writer).cmp(&(b.seq, &b.writer)));
    let mut at = 0u64;
    for (i, s) in segments.iter().enumerate() {
        if s.seq != i as u64 {
            let (what, then) = if s.seq < i as u64 {
                (
                    format!(
                        "two processes wrote segment {} (writers {} and {})",
                        s.seq,
                        segments[i - 1].writer,
                        s.writer
                    ),
                    "two runs wrote this journal at once; give each run its own --journal",
                )
            } else {
                (
                    format!("segment {i} is missing"),
                    "a segment was deleted, or its upload is not yet visible; do not write to this journal until it is whole",
                )
            };
            return Err(CliError::refused(format!(
                "journal {url} is not one chain of segments: {what}; {then}; nothing was written"
            )));
        }
        if s.offset != at {
            return Err(CliError::refused(format!(
                "journal {url}: segment {} starts at byte {} but the segments before it end at byte {at}; the journal is damaged or was written by two processes; nothing was written",
                s.seq, s.offset
            )));
        }
        at += s.size;
    }
    Ok(segments)
}

/// What this process has uploaded of its working copy.
#[derive(Debug, Default)]
struct Uploaded {
    /// Bytes of the working copy that are in S3.
    bytes: u64,
    /// The next segment's number.
    next: u64,
    /// Segments this process uploaded.
    segments: u64,
}

/// A journal kept in S3 and its local working copy.
#[derive(Debug)]
pub struct Remote {
    url: String,
    location: Location,
    bucket: Arc<dyn Bucket>,
    local: PathBuf,
    writer: String,
    /// Segments found when it was opened.
    found: u64,
    state: tokio::sync::Mutex<Uploaded>,
}

/// The working copy of the journal at `location`, under `journal_dir`.
fn working_copy(journal_dir: &Path, location: &Location) -> PathBuf {
    let safe: String = location
        .bucket
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let ident = format!("{}/{}", location.bucket, location.prefix);
    journal_dir.join("s3").join(format!(
        "{safe}-{:016x}.jsonl",
        s3rewind_engine::hash::fnv1a(ident.bytes())
    ))
}

/// A name for this process's segments: unlikely to be shared by two processes.
fn writer_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let seed = format!("{host}|{}|{nanos}", std::process::id());
    format!("{:016x}", s3rewind_engine::hash::fnv1a(seed.bytes()))
}

impl Remote {
    /// Read the journal at `url` from `endpoint` into its working copy under
    /// `journal_dir` (see the module docs); refused (exit 4) when the segments are not one
    /// chain or another process holds the working copy.
    pub async fn open(
        endpoint: &dyn Endpoint,
        url: &str,
        journal_dir: &Path,
        printer: &Printer,
    ) -> CliResult<Remote> {
        let location = parse_url(url).map_err(|e| CliError::usage(format!("{url:?}: {e}")))?;
        let url = format!("s3://{}/{}", location.bucket, location.prefix);
        let bucket = endpoint.bucket(&location.bucket);
        let chain = read_chain(bucket.as_ref(), &url, &location.prefix).await?;
        let mut text = Vec::new();
        for s in &chain {
            let before = text.len() as u64;
            bucket
                .download_current(&s.key, &mut text)
                .await
                .map_err(|e| from_s3(e, bucket.name()))?;
            let got = text.len() as u64 - before;
            if got != s.size || !text.ends_with(b"\n") {
                return Err(CliError::refused(format!(
                    "journal {url}: segment {} read back as {got} bytes{} but is listed with {}; it changed while being read, or is not whole; nothing was written",
                    s.seq,
                    if text.ends_with(b"\n") {
                        ""
                    } else {
                        " without a final newline"
                    },
                    s.size
                )));
            }
        }
        let local = working_copy(journal_dir, &location);
        if let Some(dir) = local.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                CliError::failure(format!(
                    "cannot create the journal directory {}: {e}",
                    dir.display()
                ))
            })?;
        }
        crate::journal::check_not_in_use(&local)?;
        let uploaded = text.len() as u64;
        match std::fs::read(&local) {
            Ok(held) if held.starts_with(&text) => {
                // A run on this host wrote more than reached S3: upload the rest first.
                if held.len() > text.len() {
                    printer.info(format!(
                        "journal {url}: the working copy {} holds {} bytes S3 does not; they are uploaded now",
                        local.display(),
                        held.len() - text.len()
                    ));
                }
            }
            Ok(held) if text.starts_with(&held) => write_file(&local, &text)?,
            Ok(_) => {
                let stale =
                    local.with_extension(format!("jsonl.stale-{}", chrono::Utc::now().timestamp()));
                std::fs::rename(&local, &stale).map_err(|e| {
                    CliError::failure(format!("cannot move {} aside: {e}", local.display()))
                })?;
                printer.warn(format!(
                    "journal {url}: the working copy on this host disagreed with S3; it is kept as {} and S3's journal is used",
                    stale.display()
                ));
                write_file(&local, &text)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => write_file(&local, &text)?,
            Err(e) => {
                return Err(CliError::failure(format!(
                    "cannot read the journal's working copy {}: {e}",
                    local.display()
                )));
            }
        }
        tracing::debug!(journal = %url, segments = chain.len(), bytes = uploaded, local = %local.display(), "journal read from S3");
        Ok(Remote {
            url,
            location,
            bucket,
            local,
            writer: writer_name(),
            found: chain.len() as u64,
            state: tokio::sync::Mutex::new(Uploaded {
                bytes: uploaded,
                next: chain.len() as u64,
                ..Uploaded::default()
            }),
        })
    }

    /// The journal's URL (`s3://BUCKET/PREFIX/`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether S3 held no segment of it when it was opened.
    pub fn was_empty(&self) -> bool {
        self.found == 0
    }

    /// The local working copy the command reads and appends to.
    pub fn local(&self) -> &Path {
        &self.local
    }

    /// Upload the whole lines the working copy gained since the last upload, as one new
    /// segment. Returns whether one was written.
    pub async fn upload(&self) -> CliResult<bool> {
        use std::io::{Read, Seek};
        let mut st = self.state.lock().await;
        // Only what was appended since the last upload is read, not the whole journal.
        let mut tail = Vec::new();
        let read = std::fs::File::open(&self.local).and_then(|mut f| {
            f.seek(std::io::SeekFrom::Start(st.bytes))?;
            f.read_to_end(&mut tail)
        });
        match read {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => {
                return Err(CliError::failure(format!(
                    "cannot read the journal's working copy {}: {e}",
                    self.local.display()
                )));
            }
        }
        // Whole lines only: a line being written stays for the next upload.
        let Some(whole) = tail.iter().rposition(|&b| b == b'\n').map(|i| i + 1) else {
            return Ok(false);
        };
        tail.truncate(whole);
        let key = segment_key(&self.location.prefix, st.next, st.bytes, &self.writer);
        self.bucket
            .put(&key, tail, "application/x-ndjson")
            .await
            .map_err(|e| from_s3(e, self.bucket.name()))?;
        st.bytes += whole as u64;
        st.next += 1;
        st.segments += 1;
        Ok(true)
    }

    /// Upload every [`UPLOAD_EVERY`] until dropped (the task is aborted by
    /// [`Remote::finish`]); a failed upload is retried at the next tick.
    pub fn spawn_uploads(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let me = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(UPLOAD_EVERY);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = me.upload().await {
                    tracing::warn!(journal = %me.url, error = %e.message, "could not upload the journal's new lines; retrying");
                }
            }
        })
    }

    /// Upload the rest and read the chain back: it must be exactly what this process
    /// believes S3 holds (exit 4 otherwise). Says where the journal is.
    pub async fn finish(&self, printer: &Printer) -> CliResult<()> {
        let mut last_error = None;
        for _ in 0..3 {
            match self.upload().await {
                Ok(_) => {
                    last_error = None;
                    break;
                }
                Err(e) => last_error = Some(e),
            }
        }
        if let Some(e) = last_error {
            return Err(CliError::new(
                e.exit,
                format!(
                    "journal {}: the last records could not be uploaded ({}); they are in {} and the next run with this --journal uploads them",
                    self.url,
                    e.message,
                    self.local.display()
                ),
            ));
        }
        let st = self.state.lock().await;
        let chain = read_chain(self.bucket.as_ref(), &self.url, &self.location.prefix).await?;
        let held: u64 = chain.iter().map(|s| s.size).sum();
        if chain.len() as u64 != st.next
            || held != st.bytes
            || chain
                .iter()
                .rev()
                .take(st.segments as usize)
                .any(|s| s.writer != self.writer)
        {
            return Err(CliError::refused(format!(
                "journal {}: read back, S3 holds {} segments ({held} bytes) where this run wrote up to segment {} ({} bytes): another process wrote to it at the same time; its working copy is {}",
                self.url,
                chain.len(),
                st.next,
                st.bytes,
                self.local.display()
            )));
        }
        if st.segments > 0 {
            printer.info(format!(
                "journal {}: {} segments, {} bytes ({} segments uploaded by this run; read back and checked)",
                self.url,
                chain.len(),
                held,
                st.segments
            ));
        }
        Ok(())
    }
}

fn write_file(path: &Path, text: &[u8]) -> CliResult<()> {
    std::fs::write(path, text).map_err(|e| {
        CliError::failure(format!(
            "cannot write the journal's working copy {}: {e}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bucket::MemStore;
    use crate::output::OutputFormat;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .unwrap();
        f.write_all(text.as_bytes()).unwrap();
    }

    fn keys(store: &MemStore) -> Vec<String> {
        store.with("jnl", |s| s.current_contents().into_keys().collect())
    }

    #[tokio::test]
    async fn only_whole_lines_are_uploaded_each_as_a_new_segment() {
        let store = MemStore::new();
        store.create("jnl", s3rewind_engine::Versioning::Enabled);
        let dir = tempfile::tempdir().unwrap();
        let (printer, _) = Printer::capturing(OutputFormat::Text, true);
        let r = Remote::open(
            store.endpoint().as_ref(),
            "s3://jnl/x",
            dir.path(),
            &printer,
        )
        .await
        .unwrap();
        assert_eq!(r.url(), "s3://jnl/x/");
        assert!(r.was_empty());
        assert!(!r.upload().await.unwrap(), "nothing to upload");
        append(r.local(), "{\"a\":1}\n{\"b\":");
        assert!(r.upload().await.unwrap());
        append(r.local(), "2}\n");
        assert!(r.upload().await.unwrap(), "the rest of the line, now whole");
        r.finish(&printer).await.unwrap();
        let k = keys(&store);
        assert_eq!(k.len(), 2, "{k:?}");
        assert!(k[0].starts_with("x/00000000-000000000000-"), "{k:?}");
        assert!(k[1].starts_with("x/00000001-000000000008-"), "{k:?}");
        // Read back elsewhere: the same text.
        let other = tempfile::tempdir().unwrap();
        let again = Remote::open(
            store.endpoint().as_ref(),
            "s3://jnl/x/",
            other.path(),
            &printer,
        )
        .await
        .unwrap();
        assert!(!again.was_empty());
        assert_eq!(
            std::fs::read_to_string(again.local()).unwrap(),
            "{\"a\":1}\n{\"b\":2}\n"
        );
    }

    #[tokio::test]
    async fn a_second_writer_at_the_same_time_fails_the_first_at_its_end() {
        let store = MemStore::new();
        store.create("jnl", s3rewind_engine::Versioning::Enabled);
        let (printer, _) = Printer::capturing(OutputFormat::Text, true);
        let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let one = Remote::open(
            store.endpoint().as_ref(),
            "s3://jnl/x/",
            d1.path(),
            &printer,
        )
        .await
        .unwrap();
        let two = Remote::open(
            store.endpoint().as_ref(),
            "s3://jnl/x/",
            d2.path(),
            &printer,
        )
        .await
        .unwrap();
        append(one.local(), "{\"one\":1}\n");
        append(two.local(), "{\"two\":2}\n");
        one.upload().await.unwrap();
        two.upload().await.unwrap();
        let e = one.finish(&printer).await.unwrap_err();
        assert_eq!(e.exit, crate::error::Exit::Refused, "{}", e.message);
        assert!(
            e.message.contains("two processes wrote segment 0"),
            "{}",
            e.message
        );
    }

    #[test]
    fn segment_names_read_back() {
        let k = segment_key("j/", 7, 1234, "ab12");
        assert_eq!(k, "j/00000007-000000001234-ab12.jsonl");
        assert_eq!(
            parse_segment(k.strip_prefix("j/").unwrap()),
            Some((7, 1234, "ab12".to_owned()))
        );
        assert_eq!(
            parse_segment("123456789-1234567890123-w.jsonl"),
            Some((123_456_789, 1_234_567_890_123, "w".to_owned()))
        );
        for bad in [
            "x.jsonl",
            "1-2.jsonl",
            "1-2-.jsonl",
            "a-2-w.jsonl",
            "1-2-w.json",
            "1-2-w/x.jsonl",
            "-1-2-w.jsonl",
        ] {
            assert_eq!(parse_segment(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_journal_url_names_a_folder() {
        assert_eq!(parse_url("s3://b-1/j").unwrap().prefix, "j/");
        assert_eq!(parse_url("s3://b-1/j/").unwrap().prefix, "j/");
        assert_eq!(parse_url("s3://b-1").unwrap().prefix, "");
        assert!(parse_url("s3://").is_err());
    }
}
