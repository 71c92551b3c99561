//! Integration tests: the `s3rewind` binary against a real S3 server (moto), over HTTP.
//!
//! Each test starts its own moto server on a free loopback port (state is in memory, so
//! tests are isolated and can run in parallel), builds a history with real S3 calls, runs
//! the binary, and checks the result by reading objects back: content, not only ids.

mod support;

// Restores: in place, into another bucket or prefix, prefix-limited, awkward keys, paging.
mod restore;
// Fidelity, multipart, archives, gates, drift, kill -9 and resume, undo, other endpoints.
mod execution;
// Bad input and refusals: one clear line, a documented exit code, no writes.
mod errors;
// verify: differences by version, size+ETag, or content (--deep).
mod verify;
// undelete: copy last versions back, or remove delete markers.
mod undelete;
// --to-dir: the state at T as files, atomic, with mtimes; keys that are not paths.
mod to_dir;
// Corruption detection: scan, --sample, --validate-cmd, --before-corruption, --per-key.
mod scan;
// Exploring: history, diff, timeline (text, JSON, SVG).
mod explore;
// The conformance suite: the same restore scenarios on moto and on Ceph radosgw.
mod conformance;
// Operations: audit (recovery readiness of a bucket's configuration) and policy.
mod ops;
// Every command's --output json against the schemas the book documents (docs/src/json-output.md).
mod schemas;
// Faults on the wire: a restore through a fault-injecting proxy (scripts/s3proxy.py).
mod faults;
// --inventory: plans from an S3 Inventory report, checksums, staleness.
mod inventory;
// plan --emit batch-ops: the manifest replayed against moto, then the remainder applied.
mod batch;
// watch: a watched index from radosgw's pushed notifications equals a full listing.
mod watch;
