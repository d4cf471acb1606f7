//! One writer per run directory: run directory names are created atomically, the
//! directory's lock is exclusive while its writer lives and free once it is gone, and a
//! live run cannot be resumed by a second process.

use std::collections::BTreeSet;

use bsp_sim::fsutil::lock::{holder, RunLock};
use bsp_sim::run::new_run_dir;
use predicates::prelude::*;
use predicates::str::contains;

use super::common::*;

#[test]
fn runs_started_at_once_get_distinct_directories() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_path_buf();
    let dirs: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| new_run_dir(&out, "same", 1).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let distinct: BTreeSet<_> = dirs.iter().collect();
    assert_eq!(distinct.len(), 8, "{dirs:?}");
    assert!(dirs.iter().all(|d| d.is_dir()));
}

#[test]
fn the_lock_is_exclusive_and_released_with_its_holder() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(holder(dir.path()), None);
    let lock = RunLock::acquire(dir.path()).unwrap();
    let busy = RunLock::acquire(dir.path()).unwrap_err();
    assert_eq!(busy.exit_code(), 2);
    assert!(busy
        .to_string()
        .contains(&format!("pid {}", std::process::id())));
    assert!(holder(dir.path()).is_some());
    drop(lock);
    assert_eq!(holder(dir.path()), None);
    RunLock::acquire(dir.path()).unwrap();
}

#[test]
fn a_live_run_cannot_be_resumed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.yaml", &yaml(1000));
    let out = dir.path().join("runs");
    let mut child = spawn(&[
        "run",
        model.to_str().unwrap(),
        "-q",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let run_dir = run_dir_with_checkpoint(&out);
    bsp()
        .args(["run", "--resume", run_dir.to_str().unwrap(), "-q"])
        .assert()
        .code(2)
        .stderr(
            contains("being written by another bsp-sim process")
                .and(contains(format!("pid {}", child.id())))
                .and(contains("panicked").not()),
        );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bsp_sim_trace_holds_the_lock_of_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.yaml", &yaml(1));
    let out = dir.path().join("runs");
    bsp()
        .args(["trace", model.to_str().unwrap(), "--sample", "3", "--out"])
        .arg(&out)
        .assert()
        .success();
    let run_dir = only_run_dir(&out);
    let lock = read(&run_dir.join("writer.lock"));
    assert!(lock.starts_with("pid "), "{lock}");
    assert_eq!(holder(&run_dir), None, "released when the process ended");
}
