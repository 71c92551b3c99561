//! `batch reconcile` decided: which of a plan's copies the Batch Operations jobs made.
//!
//! The CLI reads the plan, the manifests' tasks ([`Task`]), each finished job's
//! completion report ([`JobReport`]) and one listing of the destination; this module
//! compares them. [`Comparison::new`] ties every report row to its task and settles the
//! tasks the report says failed; the others are looked for in the listing of
//! [`Comparison::listing_prefix`], where [`Comparison::settle`] finds the version each
//! copy created ([`find_copy`]) or says why the task remains. What is done is journaled
//! by the CLI; [`remaining`] is the plan minus those copies.

use super::report::{Found, Listed, MatchedBy, ReportRow, find_copy};
use super::with_actions;
use crate::keys::encode_key;
use crate::timeline::KeyHistory;
use crate::{Action, CopyAction, RestorePlan, Timeline, Version};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One manifest row: a copy of the plan, and the manifest it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    /// The manifest file it is in.
    pub manifest: String,
    /// The destination key (the source key: Batch Operations copies onto the same key).
    pub key: String,
    /// The source version copied.
    pub source_version_id: String,
    /// The source version's ETag.
    pub etag: String,
    /// Its size.
    pub size: u64,
}

impl Task {
    /// A plan's copy, as reconcile needs it (the one place that reads a copy's fields).
    pub fn of(manifest: &str, c: &CopyAction) -> Task {
        Task {
            manifest: manifest.to_owned(),
            key: c.key.to_string(),
            source_version_id: c.source_version_id.to_string(),
            etag: c.etag.to_string(),
            size: c.size,
        }
    }
}

/// A finished job and its completion report's rows.
#[derive(Debug, Clone)]
pub struct JobReport {
    /// The job id.
    pub job_id: String,
    /// `Complete`, `Failed` or `Cancelled`.
    pub status: String,
    /// When the job was created: its copies are written after.
    pub created: DateTime<Utc>,
    /// Its manifest file, when recorded by `batch submit`.
    pub manifest: Option<String>,
    /// The report lists every task (not only the failed ones).
    pub all_tasks: bool,
    /// The report's rows.
    pub rows: Vec<ReportRow>,
}

/// What reconcile decided for one task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The job made the copy: this version.
    Done {
        /// The version the copy created.
        new_version_id: String,
        /// The key's current version before it.
        previous_version_id: Option<String>,
        /// When it was written.
        time: DateTime<Utc>,
    },
    /// Left for `apply`, and why.
    Remains(String),
}

/// A listed version, as [`find_copy`] needs it (the one place that reads a listed
/// version's fields).
fn listed_of(v: &Version) -> Listed {
    Listed {
        version_id: v.version_id.to_string(),
        delete_marker: v.delete_marker,
        etag: v.etag.to_string(),
        size: v.size,
        last_modified: v.last_modified,
    }
}

/// The longest common prefix of some keys.
pub fn common_prefix<'a>(mut keys: impl Iterator<Item = &'a str>) -> String {
    let Some(first) = keys.next() else {
        return String::new();
    };
    let mut len = first.len();
    for k in keys {
        len = first
            .char_indices()
            .zip(k.chars())
            .take_while(|((_, a), b)| a == b)
            .last()
            .map_or(0, |((i, a), _)| i + a.len_utf8())
            .min(len);
    }
    first[..len].to_owned()
}

/// The tasks compared with the jobs' reports, before the listing.
#[derive(Debug)]
pub struct Comparison<'a> {
    tasks: &'a [Task],
    jobs: &'a [JobReport],
    /// Task → (job index, its reported row).
    row_of: HashMap<usize, (usize, &'a ReportRow)>,
    /// Report rows that name no task of the manifests (another job's report?).
    pub stray: u64,
    /// What is decided so far, by task index.
    outcome: BTreeMap<usize, Outcome>,
    /// Tasks to look for in the listing: (task, job).
    look: Vec<(usize, usize)>,
}

/// The comparison's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settled {
    /// Every task of the reconciled jobs, by index into the tasks.
    pub outcome: BTreeMap<usize, Outcome>,
    /// What a reader should know of some keys: `(key, detail)`.
    pub notes: Vec<(String, String)>,
}

impl<'a> Comparison<'a> {
    /// Tie each report row to its task (the report carries the manifest's encoded key;
    /// the raw key is accepted too, should a report carry keys decoded), settle the tasks
    /// the report says failed, and keep the rest (reported succeeded, or not reported) to
    /// look for in the listing.
    pub fn new(tasks: &'a [Task], jobs: &'a [JobReport]) -> Comparison<'a> {
        let mut by_encoded: HashMap<(String, String), usize> = HashMap::new();
        let mut by_raw: HashMap<(String, String), usize> = HashMap::new();
        for (i, t) in tasks.iter().enumerate() {
            by_encoded.insert((encode_key(&t.key), t.source_version_id.clone()), i);
            by_raw.insert((t.key.clone(), t.source_version_id.clone()), i);
        }
        let mut row_of = HashMap::new();
        let mut stray = 0u64;
        for (ji, r) in jobs.iter().enumerate() {
            for row in &r.rows {
                let id = (row.key.clone(), row.version_id.clone());
                match by_encoded.get(&id).or_else(|| by_raw.get(&id)) {
                    Some(&i) => {
                        row_of.insert(i, (ji, row));
                    }
                    None => stray += 1,
                }
            }
        }
        let mut c = Comparison {
            tasks,
            jobs,
            row_of,
            stray,
            outcome: BTreeMap::new(),
            look: Vec::new(),
        };
        for i in 0..tasks.len() {
            let Some(ji) = c.job_of(i) else { continue };
            match c.row_of.get(&i) {
                Some((_, row)) if !row.succeeded => {
                    c.outcome.insert(i, Outcome::Remains(failed_task(row)));
                }
                _ => c.look.push((i, ji)),
            }
        }
        c
    }

    /// The job a task belongs to: the one whose report names it, else the one whose
    /// manifest holds it (a task of no reconciled job: `None`).
    fn job_of(&self, i: usize) -> Option<usize> {
        if let Some((ji, _)) = self.row_of.get(&i) {
            return Some(*ji);
        }
        self.jobs
            .iter()
            .position(|r| r.manifest.as_deref() == Some(self.tasks[i].manifest.as_str()))
    }

    /// The range of the destination to list (one listing, the longest prefix common to
    /// the keys looked for); `None` when nothing is to be looked for.
    pub fn listing_prefix(&self) -> Option<String> {
        (!self.look.is_empty())
            .then(|| common_prefix(self.look.iter().map(|(i, _)| self.tasks[*i].key.as_str())))
    }

    /// The keys to look for in the listing, in task order (a key may come twice).
    pub fn looked_for(&self) -> impl Iterator<Item = &str> {
        self.look.iter().map(|(i, _)| self.tasks[*i].key.as_str())
    }

    /// Look for each remaining task's copy in the listing of `bucket` (none: nothing was
    /// listed) and settle it.
    pub fn settle(self, listing: Option<&Timeline>, bucket: &str) -> Settled {
        self.settle_with(|key| listing.and_then(|l| l.get(key)), bucket)
    }

    /// [`settle`](Self::settle) with each key's listed history found by `history`
    /// (`None`: the key was not listed): a caller that keeps the listing on disk looks
    /// up the keys of [`looked_for`](Self::looked_for).
    pub fn settle_with<'h>(
        self,
        history: impl Fn(&str) -> Option<&'h KeyHistory>,
        bucket: &str,
    ) -> Settled {
        let mut outcome = self.outcome;
        let mut notes = Vec::new();
        for (i, ji) in &self.look {
            let t = &self.tasks[*i];
            let r = &self.jobs[*ji];
            let entries: Vec<Listed> = history(&t.key)
                .map(|h| h.entries.iter().map(listed_of).collect())
                .unwrap_or_default();
            let reported_ok = self.row_of.contains_key(i);
            let decided = match find_copy(
                &entries,
                &t.source_version_id,
                &t.etag,
                t.size,
                r.created,
            ) {
                Found::Copy {
                    version_id,
                    previous_version_id,
                    last_modified,
                    matched_by,
                    others,
                } => {
                    let mut said = Vec::new();
                    if matched_by == MatchedBy::SizeOnly {
                        said.push(format!(
                            "matched by size only: no version since the job began has the source's ETag {} (a multipart or SSE-KMS source's copy gets another)",
                            t.etag
                        ));
                    }
                    if !others.is_empty() {
                        said.push(format!(
                            "{} other version(s) since the job began match too ({}); took the oldest, {version_id}, as the job's copy",
                            others.len(),
                            others.join(", ")
                        ));
                    }
                    if !reported_ok {
                        said.push(format!(
                            "not in job {}'s completion report{}; a copy of it was found",
                            r.job_id,
                            if r.all_tasks {
                                ""
                            } else {
                                " (it reports failed tasks only)"
                            }
                        ));
                    }
                    notes.extend(said.into_iter().map(|s| (t.key.clone(), s)));
                    Outcome::Done {
                        new_version_id: version_id,
                        previous_version_id,
                        time: last_modified,
                    }
                }
                Found::NotFound if reported_ok => Outcome::Remains(format!(
                    "the report says the copy succeeded, but no version of s3://{bucket}/{} written since job {} began has its size ({} bytes); left for apply, which checks the key first",
                    t.key, r.job_id, t.size
                )),
                Found::NotFound => Outcome::Remains(format!(
                    "not in job {}'s completion report ({}), and no copy of it was found",
                    r.job_id, r.status
                )),
            };
            outcome.insert(*i, decided);
        }
        Settled { outcome, notes }
    }
}

/// Why a task the report says failed remains.
fn failed_task(row: &ReportRow) -> String {
    let code = row
        .error_code
        .clone()
        .unwrap_or_else(|| "failed".to_owned());
    let status = row
        .http_status
        .map(|s| format!(" (HTTP {s})"))
        .unwrap_or_default();
    format!(
        "the job's task failed: {code}{status}{}",
        if row.message.is_empty() {
            String::new()
        } else {
            format!(": {}", row.message)
        }
    )
}

/// The plan minus the copies done (`(key, source version id)`): what `apply` still has
/// to do.
pub fn remaining(plan: &RestorePlan, done: &BTreeSet<(String, String)>) -> RestorePlan {
    let rest: Vec<Action> = plan
        .actions
        .iter()
        .filter(|a| match a {
            Action::Copy(c) => {
                !done.contains(&(c.key.to_string(), c.source_version_id.to_string()))
            }
            Action::DeleteMarker(_) => true,
        })
        .cloned()
        .collect();
    with_actions(plan, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_of_keys() {
        assert_eq!(
            common_prefix(["docs/a", "docs/b", "docs/ab"].into_iter()),
            "docs/"
        );
        assert_eq!(common_prefix(["x"].into_iter()), "x");
        assert_eq!(common_prefix(["ü1", "ü2"].into_iter()), "ü");
        assert_eq!(common_prefix(["a", "b"].into_iter()), "");
        assert_eq!(common_prefix(std::iter::empty()), "");
    }
}
