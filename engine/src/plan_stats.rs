//! The counts that summarise a plan ([`PlanStats`]): in a module of their own, below
//! both the planner ([`crate::plan`]) and the estimate ([`crate::estimate`]) made from
//! them.

use serde::{Deserialize, Serialize};

/// Counts that summarise a plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanStats {
    /// Keys that exist at T (within the prefix).
    pub keys_at_target: u64,
    /// Keys already in the target state: nothing to do.
    pub unchanged: u64,
    /// Copy actions.
    pub copies: u64,
    /// Delete-marker actions.
    pub delete_markers: u64,
    /// Bytes the copy actions will copy.
    pub bytes_to_copy: u64,
    /// Copies whose source is archived (GLACIER, DEEP_ARCHIVE) and needs a restore first.
    pub archived: u64,
    /// Keys left as they are although they differ from T (see the warnings).
    pub left_alone: u64,
    /// Keys that exist now at the destination (under its prefix): what the delete
    /// markers are a share of (see [`DeleteLimit`]).
    #[serde(default)]
    pub keys_now: u64,
    /// Versions and delete markers under the destination prefix when the plan was made
    /// (what a listing of that range returns); 0 when not known. The executor weighs a
    /// listing of the range against a HEAD per action with it.
    #[serde(default)]
    pub versions_now: u64,
}

impl PlanStats {
    /// The versions and delete markers the destination range held when planned; for a
    /// plan file written before `versions_now` was recorded, an estimate of 20 per
    /// current key.
    pub fn entries_now(&self) -> u64 {
        match self.versions_now {
            0 => self.keys_now.saturating_mul(20),
            n => n,
        }
    }
}
