//! Names the commit in `s3rewind --version`: `S3REWIND_COMMIT` is the short hash of HEAD
//! (with `-dirty` when tracked files differ from it), or `unknown` where there is no
//! repository (a crates.io tarball, a copied source tree) or no git. Nothing fails the build.

use std::path::Path;
use std::process::Command;

fn git(root: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(args)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8(out.stdout).ok()?.trim().to_owned())
}

fn main() {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| ".".into());
    // The workspace root: the cli crate sits one level below it. Only its own repository
    // counts, never one that happens to enclose an unpacked tarball.
    let root = Path::new(&manifest).join("..");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=S3REWIND_COMMIT");
    let commit = if let Ok(given) = std::env::var("S3REWIND_COMMIT") {
        // A packager that knows the commit (building from an archive) may say so.
        given
    } else if !root.join(".git").exists() {
        "unknown".to_owned()
    } else {
        match git(&root, &["rev-parse", "--short=12", "HEAD"]) {
            None => "unknown".to_owned(),
            Some(hash) => {
                let dirty = git(&root, &["status", "--porcelain", "--untracked-files=no"])
                    .is_some_and(|s| !s.is_empty());
                // Rebuild when HEAD moves, the index changes or a source file is edited.
                for p in [
                    git(&root, &["rev-parse", "--git-path", "HEAD"]),
                    git(&root, &["rev-parse", "--git-path", "index"]),
                    git(&root, &["rev-parse", "--git-path", "packed-refs"]),
                    git(&root, &["rev-parse", "--symbolic-full-name", "HEAD"])
                        .and_then(|r| git(&root, &["rev-parse", "--git-path", &r])),
                ]
                .into_iter()
                .flatten()
                {
                    let p = Path::new(&p);
                    let p = if p.is_absolute() {
                        p.to_owned()
                    } else {
                        root.join(p)
                    };
                    println!("cargo:rerun-if-changed={}", p.display());
                }
                for dir in ["cli/src", "engine/src", "Cargo.toml", "Cargo.lock"] {
                    println!("cargo:rerun-if-changed={}", root.join(dir).display());
                }
                if dirty { format!("{hash}-dirty") } else { hash }
            }
        }
    };
    println!("cargo:rustc-env=S3REWIND_COMMIT={commit}");
}
