/*!
Engine benchmarks: how many listed versions per second each stage of a restore handles.

Four groups, each at 100k and 1M listed entries (versions and delete markers), on the
synthetic histories of `s3rewind_benches` (five entries per key on average):

- `timeline_build`: SDK-shaped pages of 1,000 → `TimelineBuilder` → `Timeline`;
- `state_at`: `Timeline::state_at(T)` for T in the middle of the history;
- `plan`: `plan(current, state_at(T))` for an in-place restore;
- `end_to_end`: pages → timeline → current and target states → plan.

Throughput is in listed entries (`Throughput::Elements`), so criterion reports
versions per second for every stage. Inputs are prepared outside the timed part (the
pages a build consumes are cloned beforehand), and outputs are dropped outside it too.

Run with `cargo bench -p s3rewind-benches` or `scripts/bench` (which also prints a
summary). Sample counts are small so that the whole run takes a few minutes on 2 cores.
*/

// `criterion_group!` defines a public `fn benches` that cannot carry a doc comment.
#![allow(missing_docs)]

use criterion::{
    BatchSize, BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group,
    criterion_main, measurement::WallTime,
};
use s3rewind_benches::{HistorySpec, generate};
use s3rewind_engine::{
    BucketState, Destination, ListPage, Location, PlanOptions, Timeline, TimelineBuilder, plan,
};
use std::hint::black_box;
use std::sync::OnceLock;
use std::time::Duration;

/// The listing sizes benchmarked.
const SIZES: [usize; 2] = [100_000, 1_000_000];

/// Everything the groups share for one size, made once (the 1M history takes seconds).
struct Data {
    pages: Vec<ListPage>,
    timeline: Timeline,
    current: BucketState,
    target: BucketState,
    options: PlanOptions,
}

fn data(entries: usize) -> &'static Data {
    static SMALL: OnceLock<Data> = OnceLock::new();
    static LARGE: OnceLock<Data> = OnceLock::new();
    let cell = if entries == SIZES[0] { &SMALL } else { &LARGE };
    cell.get_or_init(|| {
        let history = generate(HistorySpec::new(entries));
        let at = history.midpoint();
        let pages = history.pages();
        let timeline = build(pages.clone());
        assert_eq!(timeline.len(), entries);
        let options = PlanOptions::new(
            Location {
                bucket: "bench".to_owned(),
                prefix: String::new(),
            },
            Destination::InPlace,
            at,
        );
        Data {
            current: timeline.current(),
            target: timeline.state_at(at),
            pages,
            timeline,
            options,
        }
    })
}

fn build(pages: Vec<ListPage>) -> Timeline {
    let mut builder = TimelineBuilder::new();
    for page in pages {
        builder
            .push_page(page)
            .expect("generated pages are in list order");
    }
    builder.finish()
}

fn label(entries: usize) -> String {
    if entries.is_multiple_of(1_000_000) {
        format!("{}M", entries / 1_000_000)
    } else {
        format!("{}k", entries / 1_000)
    }
}

/// A group with few samples: at 1M entries one iteration takes up to a second or so.
fn group<'c>(c: &'c mut Criterion, name: &str) -> BenchmarkGroup<'c, WallTime> {
    let mut g = c.benchmark_group(name);
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1));
    g
}

/// Set the group up for `entries`: throughput in entries, and enough time for ten
/// samples (one iteration of the 1M end-to-end run takes over a second on 2 cores).
fn size(g: &mut BenchmarkGroup<'_, WallTime>, entries: usize) {
    let seconds = if entries >= 1_000_000 { 16 } else { 4 };
    g.throughput(Throughput::Elements(entries as u64));
    g.measurement_time(Duration::from_secs(seconds));
}

fn timeline_build(c: &mut Criterion) {
    let mut g = group(c, "timeline_build");
    for n in SIZES {
        size(&mut g, n);
        g.bench_function(label(n), |b| {
            let d = data(n);
            b.iter_batched(|| d.pages.clone(), build, BatchSize::PerIteration);
        });
    }
    g.finish();
}

fn state_at(c: &mut Criterion) {
    let mut g = group(c, "state_at");
    for n in SIZES {
        size(&mut g, n);
        g.bench_function(label(n), |b| {
            let d = data(n);
            b.iter_with_large_drop(|| d.timeline.state_at(black_box(d.options.at)));
        });
    }
    g.finish();
}

fn plan_in_place(c: &mut Criterion) {
    let mut g = group(c, "plan");
    for n in SIZES {
        size(&mut g, n);
        g.bench_function(label(n), |b| {
            let d = data(n);
            b.iter_with_large_drop(|| plan(black_box(&d.current), &d.target, &d.options));
        });
    }
    g.finish();
}

fn end_to_end(c: &mut Criterion) {
    let mut g = group(c, "end_to_end");
    for n in SIZES {
        size(&mut g, n);
        g.bench_function(label(n), |b| {
            let d = data(n);
            b.iter_batched(
                || d.pages.clone(),
                |pages| {
                    let timeline = build(pages);
                    let restore = plan(
                        &timeline.current(),
                        &timeline.state_at(d.options.at),
                        &d.options,
                    );
                    (timeline, restore)
                },
                BatchSize::PerIteration,
            );
        });
    }
    g.finish();
}

criterion_group!(benches, timeline_build, state_at, plan_in_place, end_to_end);
criterion_main!(benches);
