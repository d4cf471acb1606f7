//! `--resume` continues the plan its checkpoint stores: planned epochs, limits and seed;
//! `--epochs` and `--threads` are applied and recorded in the summary; `--seed`, a limit
//! or a MODEL that would change the run are refused with the reason.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::report::{EpochRecord, RunStatus, Summary};
use bsp_sim::run::{run, Observer, RunOptions, Silent};
use predicates::prelude::*;
use predicates::str::contains;

use super::common::*;

/// Sets the stop flag after epoch `at`, as Ctrl-C would.
struct StopAfter {
    at: usize,
    flag: Arc<AtomicBool>,
}

impl Observer for StopAfter {
    fn epoch_done(&mut self, r: &EpochRecord) {
        if r.epoch == self.at {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

/// A run of `yaml(5)` planned for 3 epochs on 300 samples, interrupted after epoch 1.
fn interrupted(dir: &std::path::Path) -> (bsp_sim::Model, std::path::PathBuf) {
    let m = bsp_sim::Model::from_yaml(&yaml(5), None).unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let opts = RunOptions {
        out: dir.to_path_buf(),
        epochs: Some(3),
        train_limit: Some(300),
        seed: Some(9),
        threads: Some(2),
        stop: Some(flag.clone()),
        ..Default::default()
    };
    let e = run(&m, &opts, &mut StopAfter { at: 1, flag }).unwrap_err();
    assert_eq!(e.exit_code(), 130);
    let run_dir = std::fs::read_dir(dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    (m, run_dir)
}

#[test]
fn resume_continues_the_stored_plan() {
    let dir = tempfile::tempdir().unwrap();
    let (m, run_dir) = interrupted(dir.path());
    let (ck, _) = Checkpoint::load(&run_dir).unwrap();
    assert_eq!((ck.epochs_planned, ck.threads), (Some(3), Some(2)));
    let opts = RunOptions {
        resume: Some(run_dir.clone()),
        threads: Some(1),
        ..Default::default()
    };
    let out = run(&m, &opts, &mut Silent).unwrap();
    let s = &out.summary;
    // Not the model's 5 epochs, not the whole 600 samples, not the model's seed.
    assert_eq!((s.epochs_done, s.epochs_planned), (3, 3));
    assert_eq!((s.train_samples, s.seed), (300, 9));
    assert_eq!(
        s.plan_changes,
        vec!["threads 2 -> 1 (results do not depend on it)"]
    );
    // The same numbers as a straight run of that plan.
    let straight = run(
        &m,
        &RunOptions {
            out: dir.path().join("straight"),
            epochs: Some(3),
            train_limit: Some(300),
            seed: Some(9),
            ..Default::default()
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(s.metrics.len(), 3);
    assert_eq!(s.final_test_accuracy, straight.summary.final_test_accuracy);
    let (a, _) = Checkpoint::load(&straight.run_dir).unwrap();
    let (b, _) = Checkpoint::load(&run_dir).unwrap();
    assert!(a.projections == b.projections);
}

#[test]
fn resume_applies_and_records_a_new_epoch_count() {
    let dir = tempfile::tempdir().unwrap();
    let (m, run_dir) = interrupted(dir.path());
    let opts = RunOptions {
        resume: Some(run_dir.clone()),
        epochs: Some(2),
        threads: Some(2),
        ..Default::default()
    };
    let s = run(&m, &opts, &mut Silent).unwrap().summary;
    assert_eq!((s.epochs_done, s.epochs_planned), (2, 2));
    assert_eq!(s.plan_changes, vec!["epochs_planned 3 -> 2 (--epochs)"]);
    assert_eq!(
        Summary::read(&run_dir).unwrap().plan_changes,
        s.plan_changes
    );
    assert_eq!(s.status, RunStatus::Complete);
    // Fewer epochs than done is refused.
    let e = run(
        &m,
        &RunOptions {
            resume: Some(run_dir),
            epochs: Some(1),
            ..Default::default()
        },
        &mut Silent,
    )
    .unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        e.to_string().contains("below the 2 epochs already done"),
        "{e}"
    );
}

#[test]
fn resume_refuses_flags_and_models_that_change_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let (_, run_dir) = interrupted(dir.path());
    let other = write_model(
        dir.path(),
        "other.yaml",
        &yaml(5).replace("lr: 0.1", "lr: 0.2"),
    );
    let same = write_model(dir.path(), "same.yaml", &yaml(5));
    let d = run_dir.to_str().unwrap();
    for (args, says) in [
        (
            vec!["--seed", "10"],
            "--seed 10 differs from the run's seed 9",
        ),
        (
            vec!["--train-limit", "200"],
            "--train-limit 200 differs from the run's (300)",
        ),
        (
            vec!["--test-limit", "50"],
            "--test-limit 50 differs from the run's (no limit)",
        ),
        (
            vec![other.to_str().unwrap()],
            "differs from the one this run was trained with",
        ),
    ] {
        bsp()
            .args(["run", "--resume", d, "-q"])
            .args(&args)
            .assert()
            .code(2)
            .stderr(contains(says).and(contains("panicked").not()));
    }
    // The same seed, or the run's own model, is accepted.
    bsp()
        .args([
            "run",
            same.to_str().unwrap(),
            "--resume",
            d,
            "-q",
            "--seed",
            "9",
        ])
        .assert()
        .success();
}
