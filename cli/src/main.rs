//! The `s3rewind` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    s3rewind::main()
}
