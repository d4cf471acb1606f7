//! Whole runs: output files, exact resume, and checkpoint evaluation.

mod common;

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::report::{read_metrics, read_predictions, RunStatus, Summary};
use bsp_sim::run::{evaluate_checkpoint, run, RunOptions, Silent};

fn opts(out: &std::path::Path, epochs: usize) -> RunOptions {
    RunOptions {
        epochs: Some(epochs),
        threads: Some(2),
        out: out.to_path_buf(),
        ..RunOptions::default()
    }
}

/// A [6, 8, 4] network on the synthetic set, method 2, softmax error.
fn small_model() -> bsp_sim::Model {
    common::model(&common::synthetic_yaml(
        "[6, 8, 4]",
        "connections",
        "softmax",
        0.3,
    ))
}

#[test]
fn run_writes_metrics_summary_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let m = small_model();
    let out = run(&m, &opts(dir.path(), 2), &mut Silent).unwrap();
    let metrics = read_metrics(&out.run_dir.join("metrics.csv")).unwrap();
    assert_eq!(metrics.len(), 2);
    assert_eq!(metrics[1].epoch, 2);
    assert_eq!(metrics[0].train_samples, 200);
    assert_eq!(metrics[0].test_samples, 100);
    let summary: Summary =
        serde_json::from_str(&std::fs::read_to_string(out.run_dir.join("summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary.status, RunStatus::Complete);
    assert_eq!(summary.seed, 3);
    assert_eq!(summary.final_test_accuracy, Some(metrics[1].test_accuracy));
    let (ck, _) = Checkpoint::load(&out.run_dir).unwrap();
    assert_eq!(ck.epochs_done, 2);
    // Evaluating the checkpoint reproduces the last epoch's test accuracy and every
    // prediction of its predictions.csv exactly.
    let evaluation =
        evaluate_checkpoint(&out.run_dir, &RunOptions::default(), &mut Silent).unwrap();
    assert_eq!(evaluation.tally.accuracy(), metrics[1].test_accuracy);
    let written = read_predictions(&out.run_dir.join("predictions.csv")).unwrap();
    assert_eq!(written.len(), 100);
    assert_eq!(evaluation.predictions, written);
}

#[test]
fn resume_continues_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let m = small_model();
    let straight = run(&m, &opts(&dir.path().join("a"), 3), &mut Silent).unwrap();
    let first = run(&m, &opts(&dir.path().join("b"), 1), &mut Silent).unwrap();
    let resumed = run(
        &m,
        &RunOptions {
            resume: Some(first.run_dir.clone()),
            ..opts(&dir.path().join("b"), 3)
        },
        &mut Silent,
    )
    .unwrap();
    assert_eq!(resumed.run_dir, first.run_dir);
    let (a, _) = Checkpoint::load(&straight.run_dir).unwrap();
    let (b, _) = Checkpoint::load(&resumed.run_dir).unwrap();
    assert_eq!(b.epochs_done, 3);
    assert_eq!(a.projections, b.projections, "weights differ after resume");
    let acc = |c: &Checkpoint| {
        c.metrics
            .iter()
            .map(|r| (r.train_loss, r.test_accuracy))
            .collect::<Vec<_>>()
    };
    assert_eq!(acc(&a), acc(&b));
}
