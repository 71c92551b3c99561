//! The commands, a module per command or family of commands (`restore`: plan, restore
//! and apply; `explore`: ls, history, diff and timeline): the arguments, then the stages
//! of [`crate::pipeline`] (or, for the read-only ones, a listing and the engine), then the
//! printed result through the [`Printer`](crate::output::Printer). All checks that can
//! refuse happen before the first write. No command imports another (see
//! `architecture.rs`): what two commands share is a stage.

pub mod audit;
pub mod batch;
pub mod drill;
pub mod explore;
pub mod index;
pub mod policy;
pub mod restore;
pub mod scan;
pub mod undelete;
pub mod undo;
pub mod verify;
pub mod watch;
