//! The `s3rewind` binary: everything lives in the library.

/// mimalloc instead of the system allocator: planning from an inventory allocates and
/// frees a few strings per entry on several threads, and glibc's malloc spent about a
/// sixth of a 10M-entry plan's CPU on it (measured with perf; benches/README.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    s3rewind::main()
}
