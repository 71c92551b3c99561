/*!
The pure engine of s3rewind: point-in-time state and restore plans for versioned S3 buckets.

This crate does no network I/O, reads no clock and needs no async runtime. Data goes in
(listing pages) and data comes out (states, plans); the `s3rewind` CLI does all the
talking to S3. Its only I/O is on what the caller hands it: [`inventory`] and [`index`]
read from readers they are given (an inventory report's data files, a saved index) and
[`index`] writes to a writer it is given; and the inventory sort spills its sorted runs
as files into the directory the caller names ([`inventory::SortOptions::spill_dir`]),
removed when the sorted entries are dropped.

# Brief overview

- [`ListPage`] / [`Entry`] / [`Version`]: what `ListObjectVersions` says, key by key.
- [`TimelineBuilder`] → [`Timeline`]: every key's versions and delete markers in list order,
  built page by page; the SDK's separate version and delete-marker lists are merged back
  (see [`timeline`] for the tie rule). What cannot be ordered for sure becomes an
  [`Anomaly`].
- [`Timeline::state_at`] → [`BucketState`]: which version each key had at T (inclusive),
  with the keys whose state is uncertain or ambiguous.
- [`plan()`] → [`RestorePlan`]: the fewest [`Action`]s that turn a destination's current
  state into a target state, with [`PlanStats`] and [`Warning`]s; serialisable as a
  versioned JSON document.
- [`SimBucket`]: an in-memory model of S3 versioning (including suspended versioning and
  `null` versions) that the property tests apply plans to.
- [`detect()`] → [`ScanReport`]: suspected incidents (encryption, renames, wipes,
  truncation, wrong types, new writers) with the affected keys' last good versions;
  [`restore_point`] and [`per_key_target`] turn them into a target state. The
  healthy and damaged histories the detector is measured on live in the unpublished
  `s3rewind-testkit` crate (`testkit/`).
- [`paths`]: which keys can be written as files under a directory (`--to-dir`), and why
  the others cannot.

```
use s3rewind_engine::{plan, Destination, Location, PlanOptions, SimBucket, TimelineBuilder, Versioning};
use chrono::{TimeZone, Utc};

let t = |s: i64| Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap();
let mut bucket = SimBucket::new(Versioning::Enabled, "v");
bucket.put("index.html", b"<h1>hello</h1>", t(0));
bucket.put("app.js", b"console.log(1)", t(0));
// 09:41: a bad deploy overwrites one file, deletes another and adds a third.
bucket.put("index.html", b"<h1>oops</h1>", t(100));
bucket.delete("app.js", t(100));
bucket.put("junk.txt", b"junk", t(100));

let mut builder = TimelineBuilder::new();
for page in bucket.list_pages("", 2) {
    builder.push_page(page).unwrap();
}
let timeline = builder.finish();
let options = PlanOptions::new(
    Location { bucket: "site".into(), prefix: String::new() },
    Destination::InPlace,
    t(50),
);
let plan = plan(&timeline.current(), &timeline.state_at(t(50)), &options);
assert_eq!((plan.stats.copies, plan.stats.delete_markers), (2, 1));

bucket.apply(&plan, None, t(200)).unwrap();
assert_eq!(bucket.current_contents(), bucket.truth_at(t(50)));
```
*/

#![deny(missing_docs)]

pub mod audit;
pub mod batch;
pub mod compact;
pub mod detect;
pub mod error;
pub mod estimate;
pub mod explore;
pub mod hash;
pub mod index;
pub mod inventory;
pub mod keys;
pub mod location;
pub mod model;
pub mod pairs;
pub mod paths;
pub mod plan;
pub mod plan_stats;
pub mod policy;
pub mod prng;
pub mod sample;
pub mod select;
pub mod sim;
pub mod state;
pub mod time;
pub mod timeline;
pub mod undelete;
pub mod undo;
pub mod verify;
pub mod watch;

pub use detect::{
    ContentSample, DetectOptions, SAMPLE_BYTES, ScanReport, detect, per_key_target, restore_point,
    sample_plan,
};
pub use error::{PlanError, TimeError, TimelineError, UriError};
pub use location::{Destination, Location, destination_key, parse_s3_uri};
pub use model::{
    ETag, Entry, ListPage, NULL_VERSION, OwnerId, StorageClass, Version, VersionId, Versioning,
};
pub use plan::stream::{Seen, StreamPlanner, destination_keys};
pub use plan::{
    Action, CopyAction, DeleteLimit, DeleteMarkerAction, Expect, KnownCopy, PLAN_SCHEMA,
    PlanOptions, PlanStats, Planner, RestorePlan, Selection, UncertainHandling, Warning, plan,
    preflight,
};
pub use sim::{ApplyReport, PageFill, PutMeta, SimBucket, SimError, SimPage, SimVersion};
pub use state::{BucketState, StateEntry, Uncertain};
pub use time::{ResolvedTime, TimeForm, parse_time};
pub use timeline::{Anomaly, Change, KeyHistory, ListOrder, Timeline, TimelineBuilder};
