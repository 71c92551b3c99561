//! `ls`, `history`, `diff` and `timeline`: exploring a bucket's history before deciding
//! what to restore, one file per command.
//!
//! All four are read-only: one listing (ListObjectVersions) or a snapshot into a
//! [`Timeline`](s3rewind_engine::Timeline), then the engine's computations on it
//! ([`s3rewind_engine::explore`]). `timeline` also runs detection (which may read the
//! first bytes of suspicious versions, see [`crate::pipeline::detect`]) to mark the
//! suspected incidents, and can draw an SVG picture ([`svg`]).

pub mod diff;
pub mod history;
pub mod ls;
pub mod svg;
pub mod timeline;
