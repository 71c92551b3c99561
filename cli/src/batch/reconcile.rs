//! `batch reconcile` over inputs that do not fit in memory: the manifests' tasks and the
//! completion reports' rows sorted by key onto disk, each row tied to its task there,
//! and the engine's comparison ([`Comparison`]) run on a few thousand tasks at a time, in
//! key order, each with the report rows tied to them.
//!
//! The engine ties a report row `(KEY, VERSION)` to the task whose encoded key is `KEY`
//! (the report's form), else to the task whose key is `KEY` (a report that carries keys
//! decoded), else to none (a stray row). Here the same is done on disk: the rows are
//! sorted by the key their `KEY` decodes to (where encoding it again gives `KEY` back) and
//! looked up among the tasks; those not tied are sorted by `KEY` itself and looked up
//! again. A tied row is handed to the engine under its task's encoded key, so that it
//! ties there exactly as it did (the last row of the last job naming a task wins).
//!
//! Memory holds one chunk of tasks and their rows, and a sparse index of each file.

use crate::error::{CliError, CliResult};
use crate::spill::{Sorter, Spilled, record};
use s3rewind_engine::batch::reconcile::{Comparison, JobReport, Settled, Task};
use s3rewind_engine::batch::report::ReportRow;
use s3rewind_engine::keys::{encode_key, form_decode};
use s3rewind_engine::timeline::KeyHistory;

/// Records sorted in memory before they go to disk, and tasks compared at a time.
pub const CHUNK: usize = if cfg!(test) { 3 } else { 50_000 };

/// What separates a key from its version id, and those from an ordinal, in the keys the
/// files are sorted by: no S3 key or version id holds it, and it sorts before every other
/// character, so that `key\0…` sorts as `key` does.
const SEP: char = '\0';

/// `KEY\0VERSION`: a task's key and version, the key its group is sorted by.
fn group_key(key: &str, version: &str) -> String {
    format!("{key}{SEP}{version}")
}

/// The task key of a group key.
fn key_of_group(group: &str) -> &str {
    group.split_once(SEP).map_or(group, |(k, _)| k)
}

/// The group key of a sort key `KEY\0VERSION\0ORDINALS`.
fn group_of(sort_key: &str) -> &str {
    sort_key.rsplit_once(SEP).map_or(sort_key, |(g, _)| g)
}

/// One manifest line, sorted by `KEY\0VERSION\0INDEX` (INDEX: its place among every
/// manifest's lines, in the order they were read).
#[derive(Debug, Clone)]
struct TaskLine {
    key: String,
    manifest: String,
}
record!(TaskLine { key, manifest });

/// The tasks of one key and version (a manifest may name it twice, or two manifests
/// once each), with the plan's copy they stand for.
#[derive(Debug, Clone)]
pub struct TaskGroup {
    /// `KEY\0VERSION`.
    key: String,
    /// Each task: its manifest, and its index among every manifest's lines.
    tasks: Vec<(String, u64)>,
    /// The source version's ETag.
    etag: String,
    /// Its size.
    size: u64,
}
record!(TaskGroup {
    key,
    tasks,
    etag,
    size
});

/// One report row, sorted by `KEY\0VERSION\0JOB ORDINAL` (KEY: the task key it is
/// looked up or tied by; JOB and ORDINAL fixed-width, so that they sort as numbers).
#[derive(Debug, Clone)]
pub struct RowRecord {
    key: String,
    job: u64,
    ordinal: u64,
    bucket: String,
    row_key: String,
    version_id: String,
    succeeded: bool,
    error_code: Option<String>,
    http_status: Option<u64>,
    message: String,
}
record!(RowRecord {
    key,
    job,
    ordinal,
    bucket,
    row_key,
    version_id,
    succeeded,
    error_code,
    http_status,
    message
});

impl RowRecord {
    fn new(job: usize, ordinal: u64, row: &ReportRow) -> RowRecord {
        RowRecord {
            key: String::new(),
            job: job as u64,
            ordinal,
            bucket: row.bucket.clone(),
            row_key: row.key.clone(),
            version_id: row.version_id.clone(),
            succeeded: row.succeeded,
            error_code: row.error_code.clone(),
            http_status: row.http_status.map(u64::from),
            message: row.message.clone(),
        }
    }

    /// Sorted under `key` (a task key).
    fn under(mut self, key: &str) -> RowRecord {
        self.key = format!(
            "{}{SEP}{:010}{:016}",
            group_key(key, &self.version_id),
            self.job,
            self.ordinal
        );
        self
    }

    /// The report row, its key the encoded key of the task it is tied to.
    fn tied_row(&self) -> ReportRow {
        ReportRow {
            bucket: self.bucket.clone(),
            key: encode_key(key_of_group(group_of(&self.key))),
            version_id: self.version_id.clone(),
            succeeded: self.succeeded,
            error_code: self.error_code.clone(),
            http_status: self.http_status.and_then(|s| u16::try_from(s).ok()),
            message: self.message.clone(),
        }
    }
}

/// A plan's copies by key and source version: `(ETag, size)` of each copy whose key is
/// among `keys` (sorted), read from the plan's actions after `after`.
pub type PlanCopies<'a> = dyn FnMut(&[&str]) -> CliResult<std::collections::HashMap<(String, String), (String, u64)>>
    + 'a;

/// The manifests' tasks, on disk by key and version.
pub struct Tasks {
    groups: Spilled<TaskGroup>,
    /// Tasks read.
    pub len: u64,
}

impl Tasks {
    /// Read the tasks `lines` gives (manifest name, key decoded, version id; in the order
    /// the manifests were read), each tied to the plan's copy `copies` finds for its key
    /// (`missing` words the error of a task the plan has no such copy for).
    pub fn read(
        lines: impl IntoIterator<Item = CliResult<(String, String, String)>>,
        copies: &mut PlanCopies<'_>,
        missing: impl Fn(&str, &str, &str) -> CliError,
    ) -> CliResult<Tasks> {
        let mut sorter = Sorter::<TaskLine>::new()?;
        let mut len = 0u64;
        for line in lines {
            let (manifest, key, version) = line?;
            sorter.push(TaskLine {
                key: format!("{}{SEP}{len:016}", group_key(&key, &version)),
                manifest,
            })?;
            len += 1;
        }
        let lines = sorter.sorted()?;
        let mut groups = Spilled::<TaskGroup>::new()?;
        // Groups gathered a batch at a time (never splitting a key), the plan's copies
        // of the batch's keys read at once.
        let mut batch: Vec<TaskGroup> = Vec::new();
        let mut fill = |batch: &mut Vec<TaskGroup>| -> CliResult<()> {
            let mut keys: Vec<&str> = batch.iter().map(|g| key_of_group(&g.key)).collect();
            keys.dedup();
            let found = copies(&keys)?;
            for g in batch.iter_mut() {
                let (key, version) = g.key.split_once(SEP).expect("a group key");
                let Some((etag, size)) = found.get(&(key.to_owned(), version.to_owned())) else {
                    return Err(missing(&g.tasks[0].0, key, version));
                };
                g.etag.clone_from(etag);
                g.size = *size;
            }
            for g in batch.drain(..) {
                groups.push_next(&g, "the tasks")?;
            }
            Ok(())
        };
        let mut failed = None;
        lines.scan(|l| {
            let (group, index) = l.key.rsplit_once(SEP).expect("a task line's key");
            let index: u64 = index.parse().unwrap_or_default();
            if let Some(last) = batch.last_mut()
                && last.key == group
            {
                last.tasks.push((l.manifest, index));
                return Ok(true);
            }
            if batch.len() >= CHUNK
                && batch
                    .last()
                    .is_some_and(|g| key_of_group(&g.key) != key_of_group(group))
                && let Err(e) = fill(&mut batch)
            {
                failed = Some(e);
                return Ok(false);
            }
            batch.push(TaskGroup {
                key: group.to_owned(),
                tasks: vec![(l.manifest, index)],
                etag: String::new(),
                size: 0,
            });
            Ok(true)
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        fill(&mut batch)?;
        groups.seal()?;
        Ok(Tasks { groups, len })
    }
}

/// The completion reports' rows, each tied to its task (or counted as stray).
pub struct Rows {
    /// Tied rows, by `KEY\0VERSION\0JOB ORDINAL` of their task: those tied by their
    /// encoded key, and those tied by their key as it stands.
    tied: [Spilled<RowRecord>; 2],
    /// Rows that name no task.
    pub stray: u64,
}

/// Report rows gathered as the reports are read, sorted onto disk, then tied to their
/// tasks ([`tie`](Self::tie)).
pub struct RowsBuilder {
    encoded: Sorter<RowRecord>,
    raw: Sorter<RowRecord>,
    ordinal: u64,
}

impl RowsBuilder {
    /// No row yet.
    pub fn new() -> CliResult<RowsBuilder> {
        Ok(RowsBuilder {
            encoded: Sorter::new()?,
            raw: Sorter::new()?,
            ordinal: 0,
        })
    }

    /// The next row of job `job` (the jobs in order, each job's rows in report order).
    pub fn add(&mut self, job: usize, row: &ReportRow) -> CliResult<()> {
        let r = RowRecord::new(job, self.ordinal, row);
        self.ordinal += 1;
        match form_decode(&row.key) {
            Ok(key) if encode_key(&key) == row.key => self.encoded.push(r.under(&key)),
            _ => self.raw.push(r.under(&row.key)),
        }
    }

    /// Tie each row to a task of `tasks`, as the module docs say.
    pub fn tie(self, tasks: &Tasks) -> CliResult<Rows> {
        let RowsBuilder {
            encoded, mut raw, ..
        } = self;
        // Not tied by the key they decode to: looked up again by the key as it stands.
        let tied_encoded = tie_pass(tasks, &encoded.sorted()?, |r| {
            let row_key = r.row_key.clone();
            raw.push(r.clone().under(&row_key))
        })?;
        let mut stray = 0u64;
        let tied_raw = tie_pass(tasks, &raw.sorted()?, |_| {
            stray += 1;
            Ok(())
        })?;
        Ok(Rows {
            tied: [tied_encoded, tied_raw],
            stray,
        })
    }
}

/// The rows of `rows` (sorted) whose group `tasks` holds, on disk in their order; each
/// other row is handed to `missed`.
fn tie_pass(
    tasks: &Tasks,
    rows: &Spilled<RowRecord>,
    mut missed: impl FnMut(&RowRecord) -> CliResult<()>,
) -> CliResult<Spilled<RowRecord>> {
    let mut tied = Spilled::<RowRecord>::new()?;
    let mut after = None;
    loop {
        let batch = rows.next_batch(&mut after, CHUNK)?;
        if batch.is_empty() {
            break;
        }
        for (r, hit) in batch.iter().zip(found_groups(tasks, &batch)?) {
            if hit {
                tied.push_next(r, "the report rows")?;
            } else {
                missed(r)?;
            }
        }
    }
    tied.seal()?;
    Ok(tied)
}

/// For each row of `batch` (sorted), whether the tasks hold its group.
fn found_groups(tasks: &Tasks, batch: &[RowRecord]) -> CliResult<Vec<bool>> {
    let mut groups: Vec<&str> = batch.iter().map(|r| group_of(&r.key)).collect();
    groups.dedup();
    let found = tasks.groups.get(&groups)?;
    let held: std::collections::HashSet<&str> = groups
        .iter()
        .zip(&found)
        .filter(|(_, f)| f.is_some())
        .map(|(g, _)| *g)
        .collect();
    Ok(batch
        .iter()
        .map(|r| held.contains(group_of(&r.key)))
        .collect())
}

/// A few thousand tasks (never splitting a key), in key order, and their rows.
pub struct Chunk {
    /// The tasks, by key and version, then in manifest order.
    pub tasks: Vec<Task>,
    /// Each task's index among every manifest's lines.
    pub index: Vec<u64>,
    /// The jobs, each with the rows tied to these tasks (in report order).
    pub jobs: Vec<JobReport>,
    /// The last task key.
    pub last_key: String,
}

impl Chunk {
    /// Decide the chunk's tasks: the engine's comparison, each key it looks for found in
    /// `listing` (the destination's histories in `bucket`, on disk).
    pub fn settle(&self, listing: &Spilled<KeyHistory>, bucket: &str) -> CliResult<Settled> {
        let comparison = Comparison::new(&self.tasks, &self.jobs);
        let mut looked: Vec<String> = comparison.looked_for().map(str::to_owned).collect();
        looked.sort_unstable();
        looked.dedup();
        let keys: Vec<&str> = looked.iter().map(String::as_str).collect();
        let found = listing.get(&keys)?;
        let listed: std::collections::HashMap<&str, &KeyHistory> = keys
            .iter()
            .zip(&found)
            .filter_map(|(k, h)| h.as_ref().map(|h| (*k, h)))
            .collect();
        Ok(comparison.settle_with(|k| listed.get(k).copied(), bucket))
    }
}

/// Hand the tasks to `f` a chunk at a time, in key order, each with the rows tied to
/// them; `jobs` are the jobs (their rows are not read).
pub fn each_chunk(
    tasks: &Tasks,
    rows: &Rows,
    jobs: &[JobReport],
    mut f: impl FnMut(Chunk) -> CliResult<()>,
) -> CliResult<()> {
    let mut after: [Option<String>; 2] = [None, None];
    let mut groups: Vec<TaskGroup> = Vec::new();
    let mut count = 0usize;
    let mut run = |groups: &mut Vec<TaskGroup>| -> CliResult<()> {
        let Some(last) = groups.last() else {
            return Ok(());
        };
        let last_group = last.key.clone();
        let mut by_job: Vec<Vec<(u64, ReportRow)>> = vec![Vec::new(); jobs.len()];
        for (list, after) in rows.tied.iter().zip(after.iter_mut()) {
            let from = after.take();
            *after = from.clone();
            list.scan_from(from.as_deref(), |r| {
                if group_of(&r.key) > last_group.as_str() {
                    return Ok(false);
                }
                *after = Some(r.key.clone());
                if let Some(rows) = by_job.get_mut(r.job as usize) {
                    rows.push((r.ordinal, r.tied_row()));
                }
                Ok(true)
            })?;
        }
        let mut chunk = Chunk {
            tasks: Vec::new(),
            index: Vec::new(),
            jobs: Vec::with_capacity(jobs.len()),
            last_key: key_of_group(&last_group).to_owned(),
        };
        for (job, mut rows) in jobs.iter().zip(by_job) {
            rows.sort_by_key(|(ordinal, _)| *ordinal);
            chunk.jobs.push(JobReport {
                rows: rows.into_iter().map(|(_, r)| r).collect(),
                ..job.clone()
            });
        }
        for g in groups.drain(..) {
            let (key, version) = g.key.split_once(SEP).expect("a group key");
            // In manifest order: the lines were grouped in `KEY\0VERSION\0INDEX` order.
            for (manifest, index) in g.tasks {
                chunk.tasks.push(Task {
                    manifest,
                    key: key.to_owned(),
                    source_version_id: version.to_owned(),
                    etag: g.etag.clone(),
                    size: g.size,
                });
                chunk.index.push(index);
            }
        }
        f(chunk)
    };
    let mut failed = None;
    tasks.groups.scan(|g| {
        if count >= CHUNK
            && groups
                .last()
                .is_some_and(|l| key_of_group(&l.key) != key_of_group(&g.key))
        {
            count = 0;
            if let Err(e) = run(&mut groups) {
                failed = Some(e);
                return Ok(false);
            }
        }
        count += g.tasks.len();
        groups.push(g);
        Ok(true)
    })?;
    if let Some(e) = failed {
        return Err(e);
    }
    run(&mut groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use proptest::prelude::*;
    use s3rewind_engine::batch::reconcile::{Comparison, Outcome};
    use s3rewind_engine::timeline::KeyHistory;
    use s3rewind_engine::{ETag, Version, VersionId};
    use std::collections::{BTreeMap, HashMap};

    /// Keys whose encoded and raw forms meet: `a b` encodes to `a%20b`, itself a key.
    const KEYS: [&str; 8] = ["a", "a b", "a%20b", "a+b", "b/1", "b/2", "c", "é"];
    const VERSIONS: [&str; 2] = ["v1", "v2"];

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn version(id: &str, at: i64, size: u64, etag: &str, marker: bool) -> Version {
        Version {
            version_id: VersionId::new(id),
            last_modified: t(at),
            delete_marker: marker,
            etag: ETag::new(etag),
            size,
            storage_class: None,
            owner_id: None,
            is_latest: false,
        }
    }

    /// A row's key: the task key encoded (the report's form), as it stands, or another
    /// text that names no key.
    fn row_key(form: u8, key: &str) -> String {
        match form % 3 {
            0 => encode_key(key),
            1 => key.to_owned(),
            _ => format!("{key}%zz"),
        }
    }

    type Lines = [(usize, usize, usize)];
    type Rows = [(usize, u8, usize, usize, bool)];
    type Listed = [(usize, i64, u64, bool, bool)];

    /// Reconcile the tasks `lines` (manifest, key, version), the report `rows` (job, form
    /// of the key, key, version, succeeded) and the destination's versions `listed` (key,
    /// time, size, same ETag, delete marker) a few tasks at a time from disk, and as the
    /// engine does holding them all: the same outcome for every task, the same notes, the
    /// same stray rows.
    fn same_as_whole(
        lines: &Lines,
        rows: &Rows,
        listed: &Listed,
        manifest_of_second: bool,
    ) -> Result<(), TestCaseError> {
        {
            let manifests = ["m1", "m2"];
            let task_lines: Vec<(String, String, String)> = lines
                .iter()
                .map(|(m, k, v)| {
                    (
                        manifests[*m].to_owned(),
                        KEYS[*k].to_owned(),
                        VERSIONS[*v].to_owned(),
                    )
                })
                .collect();
            let copy_of = |key: &str, v: &str| (format!("e-{key}-{v}"), (key.len() % 3) as u64);
            let jobs: Vec<JobReport> = (0..2)
                .map(|j| JobReport {
                    job_id: format!("job{j}"),
                    status: "Complete".into(),
                    created: t(2 * j as i64),
                    manifest: (j == 0 || manifest_of_second).then(|| manifests[j].to_owned()),
                    all_tasks: j == 0,
                    rows: Vec::new(),
                })
                .collect();
            let report_rows: Vec<(usize, ReportRow)> = rows
                .iter()
                .map(|(job, form, k, v, ok)| {
                    (
                        *job,
                        ReportRow {
                            bucket: "src".into(),
                            key: row_key(*form, KEYS[*k]),
                            version_id: VERSIONS[*v].to_owned(),
                            succeeded: *ok,
                            error_code: (!ok).then(|| "AccessDenied".to_owned()),
                            http_status: (!ok).then_some(403),
                            message: String::new(),
                        },
                    )
                })
                .collect();
            // The destination's histories: copies of a task's size and ETag, or not.
            let mut histories: BTreeMap<String, KeyHistory> = BTreeMap::new();
            for (n, (k, at, size, same_etag, marker)) in listed.iter().enumerate() {
                let key = KEYS[*k];
                let (etag, _) = copy_of(key, "v1");
                let h = histories
                    .entry(key.to_owned())
                    .or_insert_with(|| KeyHistory {
                        key: key.to_owned(),
                        entries: Vec::new(),
                    });
                h.entries.insert(
                    0,
                    version(
                        &format!("n{n}"),
                        *at,
                        *size,
                        if *same_etag { &etag } else { "other" },
                        *marker,
                    ),
                );
            }
            let history = |k: &str| histories.get(k);

            // The whole, as the engine takes it.
            let whole_tasks: Vec<Task> = task_lines
                .iter()
                .map(|(m, k, v)| {
                    let (etag, size) = copy_of(k, v);
                    Task {
                        manifest: m.clone(),
                        key: k.clone(),
                        source_version_id: v.clone(),
                        etag,
                        size,
                    }
                })
                .collect();
            let mut whole_jobs = jobs.clone();
            for (j, r) in &report_rows {
                whole_jobs[*j].rows.push(r.clone());
            }
            let comparison = Comparison::new(&whole_tasks, &whole_jobs);
            let stray = comparison.stray;
            let whole = comparison.settle_with(history, "dst");
            let mut whole_notes = whole.notes.clone();
            whole_notes.sort();

            // From disk, a few tasks at a time.
            let mut copies =
                |keys: &[&str]| -> CliResult<HashMap<(String, String), (String, u64)>> {
                    Ok(keys
                        .iter()
                        .flat_map(|k| {
                            VERSIONS
                                .iter()
                                .map(move |v| (((*k).to_owned(), (*v).to_owned()), copy_of(k, v)))
                        })
                        .collect())
                };
            let tasks = Tasks::read(
                task_lines.iter().cloned().map(Ok),
                &mut copies,
                |_, k, v| CliError::usage(format!("no copy of {k} {v}")),
            )
            .unwrap();
            let mut builder = RowsBuilder::new().unwrap();
            for (j, r) in &report_rows {
                builder.add(*j, r).unwrap();
            }
            let tied = builder.tie(&tasks).unwrap();
            prop_assert_eq!(tied.stray, stray);
            let mut outcome: BTreeMap<usize, Outcome> = BTreeMap::new();
            let mut notes = Vec::new();
            let mut last: Option<String> = None;
            each_chunk(&tasks, &tied, &jobs, |c| {
                // In key order, no key in two chunks.
                assert!(
                    last.as_deref()
                        .is_none_or(|l| c.tasks.first().is_none_or(|t| t.key.as_str() > l))
                );
                last = Some(c.last_key.clone());
                let settled = Comparison::new(&c.tasks, &c.jobs).settle_with(history, "dst");
                for (i, o) in settled.outcome {
                    outcome.insert(c.index[i] as usize, o);
                }
                notes.extend(settled.notes);
                Ok(())
            })
            .unwrap();
            notes.sort();
            prop_assert_eq!(outcome, whole.outcome);
            prop_assert_eq!(notes, whole_notes);
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(s3rewind_testkit::proptest_config(128))]
        /// Reconciled a few tasks at a time from disk, every task is decided as the
        /// engine decides it over every task and row held: rows in the report's form,
        /// decoded, or naming no task; a task twice; two jobs naming one task; copies
        /// found or not.
        #[test]
        fn chunks_from_disk_decide_as_the_whole(
            lines in prop::collection::vec((0usize..2, 0usize..8, 0usize..2), 0..14),
            rows in prop::collection::vec((0usize..2, 0u8..3, 0usize..8, 0usize..2, any::<bool>()), 0..14),
            listed in prop::collection::vec((0usize..8, 0i64..6, 0u64..3, any::<bool>(), any::<bool>()), 0..16),
            manifest_of_second: bool,
        ) {
            same_as_whole(&lines, &rows, &listed, manifest_of_second)?;
        }
    }

    /// Two rows of one job tie to one task, one by its encoded key and one by its key as
    /// it stands (the task `a%20b`; no task `a b`): the later row in the report decides,
    /// in either order, though the two are found in two lists.
    #[test]
    fn the_later_of_two_rows_tied_two_ways_decides() {
        // Key 2 is "a%20b"; form 0 encodes it, form 1 leaves it as it stands.
        for rows in [
            [(0, 1, 2, 0, false), (0, 0, 2, 0, true)],
            [(0, 0, 2, 0, true), (0, 1, 2, 0, false)],
            [(0, 1, 2, 0, true), (0, 0, 2, 0, false)],
        ] {
            same_as_whole(
                &[(0, 2, 0), (0, 6, 0)],
                &rows,
                &[(2, 3, 2, true, false)],
                false,
            )
            .unwrap();
        }
    }
}
