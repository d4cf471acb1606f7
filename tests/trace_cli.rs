//! The trace commands from the command line: `run --trace`, `trace`, `plot`, bad specs,
//! and Ctrl-C during a run (outputs marked interrupted, exit code 130).

use std::path::{Path, PathBuf};
use std::process::{Command as StdCommand, Stdio};
use std::time::{Duration, Instant};

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

const MODEL: &str = r#"
name: t
seed: 3
data:
  dataset: synthetic
  synthetic: {classes: 4, dim: 6, train: 100, test: 50, noise: 0.3}
network:
  layers: [6, 8, 4]
  connectivity: [{kind: full}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0}
learning: {lr: 0.1, batch_size: 10, epochs: 1}
"#;

fn bsp() -> Command {
    Command::cargo_bin("bsp-sim").unwrap()
}

fn setup() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    std::fs::write(&path, MODEL).unwrap();
    (dir, path)
}

/// The only run directory under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let mut dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    dirs.pop().unwrap()
}

#[test]
fn bad_trace_spec_exits_2_naming_the_key() {
    let (dir, model) = setup();
    let out = dir.path().join("runs");
    for (spec, fragment) in [
        ("layers=7", "layers"),
        ("samples=every:x", "samples"),
        ("colour=red", "colour"),
    ] {
        bsp()
            .args(["run", model.to_str().unwrap(), "-q", "--out"])
            .arg(&out)
            .args(["--trace", spec])
            .assert()
            .failure()
            .code(2)
            .stderr(
                contains("--trace")
                    .and(contains(fragment))
                    .and(contains("panicked").not()),
            );
    }
    assert!(!out.exists(), "no run directory for a bad spec");
}

#[test]
fn run_with_default_trace_then_plot() {
    let (dir, model) = setup();
    let out = dir.path().join("runs");
    bsp()
        .args(["run", model.to_str().unwrap(), "-q", "--out"])
        .arg(&out)
        .arg("--trace")
        .assert()
        .success();
    let run = run_dir(&out);
    let manifest = std::fs::read_to_string(run.join("trace/manifest.json")).unwrap();
    assert!(manifest.contains("\"status\": \"complete\""));
    assert!(
        manifest.contains("samples=every:1000"),
        "the default selection"
    );
    bsp()
        .arg("plot")
        .arg(&run)
        .assert()
        .success()
        .stdout(contains("metrics.svg").and(contains("raster-layer1.png")));
}

#[test]
fn trace_command_prints_where_the_files_are() {
    let (dir, model) = setup();
    let out = dir.path().join("runs");
    bsp()
        .args(["trace", model.to_str().unwrap(), "--sample", "4", "--out"])
        .arg(&out)
        .assert()
        .success()
        .stdout(
            contains("events.csv")
                .and(contains("states.csv"))
                .and(contains("waves.vcd"))
                .and(contains("manifest.json"))
                .and(contains("bsp-sim plot")),
        );
    let run = run_dir(&out);
    bsp()
        .arg("plot")
        .arg(&run)
        .args(["--neurons", "2:1"])
        .assert()
        .success()
        .stdout(contains("signals.svg"));
    bsp()
        .arg("plot")
        .arg(&run)
        .args(["--neurons", "2-1"])
        .assert()
        .failure()
        .code(2)
        .stderr(contains("layer:neuron"));
    bsp()
        .args(["trace", model.to_str().unwrap(), "--sample", "100", "--out"])
        .arg(&out)
        .assert()
        .failure()
        .code(2)
        .stderr(contains("--sample").and(contains("has 100")));
}

#[test]
fn plot_of_a_directory_without_runs_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    bsp()
        .arg("plot")
        .arg(dir.path())
        .assert()
        .failure()
        .code(2)
        .stderr(contains("nothing to plot"));
}

#[test]
fn ctrl_c_marks_the_run_interrupted_and_exits_130() {
    let (dir, model) = setup();
    let out = dir.path().join("runs");
    let child = StdCommand::new(assert_cmd::cargo::cargo_bin("bsp-sim"))
        .args(["run", model.to_str().unwrap(), "-q", "--epochs", "1000000"])
        .arg("--out")
        .arg(&out)
        .args(["--trace", "samples=all"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the run has finished an epoch, then interrupt it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let started = out.is_dir()
            && std::fs::read_dir(&out)
                .unwrap()
                .any(|e| e.unwrap().path().join("metrics.csv").exists());
        if started {
            break;
        }
        assert!(Instant::now() < deadline, "the run did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = StdCommand::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("interrupted") && stderr.contains("--resume"),
        "{stderr}"
    );
    let run = run_dir(&out);
    let summary = std::fs::read_to_string(run.join("summary.json")).unwrap();
    assert!(summary.contains("\"status\": \"interrupted\""), "{summary}");
    let manifest = std::fs::read_to_string(run.join("trace/manifest.json")).unwrap();
    assert!(
        manifest.contains("\"status\": \"interrupted\""),
        "{manifest}"
    );
}
