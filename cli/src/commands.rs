//! The commands, one module each. Each reads what it needs from S3 (through
//! [`crate::s3`]), hands data to the engine, and prints through the
//! [`Printer`](crate::output::Printer). All checks that can refuse happen before the first
//! write.

pub mod audit;
pub mod batch;
pub mod drill;
pub mod explore;
pub mod gates;
pub mod index;
pub mod policy;
pub mod restore;
pub mod scan;
pub mod to_dir;
pub mod undelete;
pub mod undo;
pub mod verify;
pub mod watch;
