//! Replays the fuzz corpora: every committed seed and minimised crash under `fuzz/` goes
//! through the same harness as the fuzz target, so a fixed crash stays fixed.

use std::panic;
use std::path::{Path, PathBuf};

use scimkit_patch::fuzzing;

/// The files directly under `fuzz/<kind>/<target>/`, sorted; none if the folder is missing.
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz")
        .join(kind)
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| {
            entry
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .path()
        })
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `harness` over the seeds and regressions of `target`, and names every input that
/// panicked.
#[track_caller]
fn replay(target: &str, harness: fn(&[u8])) {
    let seeds = inputs("seeds", target);
    assert!(!seeds.is_empty(), "no seeds in fuzz/seeds/{target}/");
    let failed: Vec<String> = seeds
        .iter()
        .chain(&inputs("regressions", target))
        .filter(|path| {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            panic::catch_unwind(|| harness(&data)).is_err()
        })
        .map(|path| path.display().to_string())
        .collect();
    assert!(failed.is_empty(), "{target} panicked on: {failed:#?}");
}

#[test]
fn patch_apply_seeds() {
    replay("patch_apply", fuzzing::patch_apply);
}
