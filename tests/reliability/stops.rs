//! Honest files after any stop: SIGTERM is handled like Ctrl-C, the summary is rewritten
//! after every epoch, a kill -9 leaves files that readers report as interrupted (never
//! `running`), a cut last row is never read, and a status rewrite needs no temporary file.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use bsp_sim::report::{EpochRecord, RunStatus, Summary};
use bsp_sim::run::{run, Observer, RunOptions};
use bsp_sim::trace::csv::read_events;
use bsp_sim::trace::manifest::Manifest;
use predicates::prelude::*;
use predicates::str::contains;

use super::common::*;

#[test]
fn sigterm_is_handled_like_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.yaml", &yaml(1000));
    let out = dir.path().join("runs");
    let child = spawn(&[
        "run",
        model.to_str().unwrap(),
        "-q",
        "--threads",
        "1",
        "--out",
        out.to_str().unwrap(),
    ]);
    let run_dir = run_dir_with_checkpoint(&out);
    signal(&child, "TERM");
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "stderr: {stderr}");
    assert!(stderr.contains("--resume"), "stderr: {stderr}");
    let s = Summary::read(&run_dir).unwrap();
    assert_eq!(s.status, RunStatus::Interrupted);
    assert!(s.epochs_done >= 1);
}

/// Reads `summary.json` at the end of every epoch.
struct SummaryAtEpochEnd {
    dir: std::path::PathBuf,
    seen: Vec<(usize, usize, RunStatus)>,
}

impl Observer for SummaryAtEpochEnd {
    fn run_started(&mut self, run_dir: &std::path::Path, _: &Summary) {
        self.dir = run_dir.to_path_buf();
    }
    fn epoch_done(&mut self, r: &EpochRecord) {
        let s = Summary::read(&self.dir).unwrap();
        self.seen.push((r.epoch, s.epochs_done, s.status));
    }
}

#[test]
fn summary_is_rewritten_after_every_epoch() {
    let dir = tempfile::tempdir().unwrap();
    let m = bsp_sim::Model::from_yaml(&yaml(3), None).unwrap();
    let mut obs = SummaryAtEpochEnd {
        dir: Default::default(),
        seen: vec![],
    };
    let opts = RunOptions {
        out: dir.path().to_path_buf(),
        threads: Some(1),
        ..Default::default()
    };
    run(&m, &opts, &mut obs).unwrap();
    let running = RunStatus::Running;
    assert_eq!(
        obs.seen,
        vec![(1, 1, running), (2, 2, running), (3, 3, running)]
    );
}

#[test]
fn kill_9_is_reported_as_interrupted_with_the_complete_rows() {
    let dir = tempfile::tempdir().unwrap();
    let model = write_model(dir.path(), "m.yaml", &yaml(1000));
    let out = dir.path().join("runs");
    let mut child = spawn(&[
        "run",
        model.to_str().unwrap(),
        "-q",
        "--threads",
        "1",
        "--trace",
        "samples=every:7",
        "--out",
        out.to_str().unwrap(),
    ]);
    let run_dir = run_dir_with_checkpoint(&out);
    // The checkpoint is written just before the summary; a kill between the two leaves the
    // summary one epoch behind (resume reads the checkpoint), so wait for both.
    wait_for("the first epoch's summary", || {
        Summary::read(&run_dir).is_ok_and(|s| s.epochs_done >= 1)
    });
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();

    // The files say `running`, and say enough to tell that nobody runs it.
    let s = Summary::read(&run_dir).unwrap();
    assert_eq!(s.status, RunStatus::Running);
    assert!(s.epochs_done >= 1, "the summary lags the checkpoint");
    assert_eq!(s.writer.as_ref().unwrap().pid, child.id());
    let trace = run_dir.join("trace");
    let manifest = Manifest::read(&trace).unwrap();
    let events = manifest.complete.events.expect("extent of events.csv");
    let len = std::fs::metadata(trace.join("events.csv")).unwrap().len();
    assert!(events.bytes <= len && events.rows > 0);
    assert_eq!(manifest.writer.as_ref().unwrap().pid, child.id());

    // Readers say what happened.
    let eval = bsp()
        .args(["eval", run_dir.to_str().unwrap()])
        .assert()
        .success();
    eval.stdout(contains("interrupted at epoch").and(contains("is gone")));
    bsp()
        .args(["plot", run_dir.to_str().unwrap()])
        .assert()
        .success()
        .stderr(
            contains("interrupted at epoch")
                .and(contains(format!("events rows 0..{} complete", events.rows))),
        );

    // A cut last row (no newline) is never read, whether or not it parses.
    let path = trace.join("events.csv");
    let whole = read_events(&path).unwrap().len();
    let mut text = std::fs::read(&path).unwrap();
    text.extend_from_slice(b"1,12217,0.6,0,0,forward,0.13");
    std::fs::write(&path, &text).unwrap();
    assert_eq!(read_events(&path).unwrap().len(), whole);

    // --resume continues it, saying where it was interrupted.
    bsp()
        .args([
            "run",
            "--resume",
            run_dir.to_str().unwrap(),
            "-q",
            "--epochs",
        ])
        .arg((s.epochs_done + 1).to_string())
        .args(["--no-trace"])
        .assert()
        .success()
        .stderr(contains("was interrupted at epoch"));
    assert_eq!(Summary::read(&run_dir).unwrap().status, RunStatus::Complete);
}

#[test]
fn ctrl_c_before_the_first_checkpoint_does_not_advise_resume() {
    let dir = tempfile::tempdir().unwrap();
    let m = bsp_sim::Model::from_yaml(&yaml(3), None).unwrap();
    let opts = RunOptions {
        out: dir.path().to_path_buf(),
        stop: Some(Arc::new(AtomicBool::new(true))),
        ..Default::default()
    };
    let e = run(&m, &opts, &mut bsp_sim::run::Silent).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.exit_code(), 130);
    assert!(!text.contains("--resume"), "{text}");
    assert!(text.contains("nothing to resume"), "{text}");
}

#[test]
fn a_status_rewrite_needs_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    bsp_sim::fsutil::write_status(&path, br#"{"status": "running"}"#).unwrap();
    // Make the temporary file impossible, as a full disk does.
    std::fs::create_dir(dir.path().join("summary.json.tmp")).unwrap();
    let failed = format!(r#"{{"status": "failed", "error": "{}"}}"#, "x".repeat(2000));
    bsp_sim::fsutil::write_status(&path, failed.as_bytes()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&read(&path)).unwrap();
    assert_eq!(v["status"], "failed");
    // Without the reserve it would not fit: a plain atomic write fails here.
    assert!(bsp_sim::fsutil::write_atomic(&path, failed.as_bytes()).is_err());
}
