//! Mechanical checks of the broker's layering that the compiler cannot make (style.md's
//! "where blocking work runs is decided in one layer").
//!
//! Goal: request handlers and the follower fetcher never decide where blocking work runs (no
//! `spawn_blocking` or `block_in_place` of their own: they call the partition layer, whose
//! `log` field is private, or the group coordinator service), and the test-only escape hatch
//! to the raw log (`Partition::storage_for_tests`) is used by no production file.
//! Method: read every source file of the crate and look for the names.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a source directory") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn sources() -> Vec<(String, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    assert!(files.len() > 20, "the broker's sources were found");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("a readable source file");
            let name = path
                .strip_prefix(&root)
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            (name, text)
        })
        .collect()
}

/// Lines of `text` that call `needle`, comments left out.
fn uses(text: &str, needle: &str) -> Vec<String> {
    text.lines()
        .filter(|line| !line.trim_start().starts_with("//") && line.contains(needle))
        .map(str::to_string)
        .collect()
}

#[test]
fn handlers_and_the_fetcher_leave_blocking_decisions_to_the_partition_layer() {
    let mut offenders = Vec::new();
    for (name, text) in sources() {
        let checked = name.starts_with("handlers/") || name == "cluster/fetcher.rs";
        if !checked {
            continue;
        }
        for needle in ["spawn_blocking", "block_in_place"] {
            for line in uses(&text, needle) {
                offenders.push(format!("{name}: {}", line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}

#[test]
fn no_production_file_reaches_the_raw_log() {
    let mut offenders = Vec::new();
    for (name, text) in sources() {
        if name == "partitions/io.rs" {
            continue;
        }
        for line in uses(&text, "storage_for_tests") {
            offenders.push(format!("{name}: {}", line.trim()));
        }
    }
    assert!(offenders.is_empty(), "{offenders:#?}");
}
