//! Helpers of the reliability tests: model files, the binary, and waiting for a run's
//! files.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A synthetic model of `epochs` epochs, about 0.1 s each on one thread.
pub fn yaml(epochs: usize) -> String {
    format!(
        r#"
name: rel
seed: 5
data:
  dataset: synthetic
  synthetic: {{classes: 4, dim: 16, train: 600, test: 100, noise: 0.3}}
network:
  layers: [16, 24, 4]
  connectivity: [{{kind: full}}]
  init: {{distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}}
integration: {{dt: 0.1, forward_window: 3.0, backward_window: 3.0}}
error: {{kind: softmax, beta: 3.0}}
learning: {{lr: 0.1, batch_size: 10, epochs: {epochs}}}
"#
    )
}

/// Writes `text` as `name` under `dir` and returns its path.
pub fn write_model(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The `bsp-sim` binary under test.
pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("bsp-sim")
}

/// `bsp-sim ARGS` as an assert_cmd command.
pub fn bsp() -> assert_cmd::Command {
    assert_cmd::Command::cargo_bin("bsp-sim").unwrap()
}

/// Starts `bsp-sim ARGS` in the background, output captured.
pub fn spawn(args: &[&str]) -> Child {
    Command::new(bin())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits (at most a minute) until `f` holds.
pub fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "gave up waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The only run directory under `out`, once it exists and holds a checkpoint.
pub fn run_dir_with_checkpoint(out: &Path) -> PathBuf {
    let mut dir = None;
    wait_for("the first checkpoint", || {
        dir = std::fs::read_dir(out).ok().and_then(|mut d| {
            let e = d.next()?.ok()?;
            e.path().join("checkpoint.json").is_file().then(|| e.path())
        });
        dir.is_some()
    });
    dir.unwrap()
}

/// Sends a signal (by name, e.g. `TERM`) to a child process.
pub fn signal(child: &Child, name: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{name}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{name} failed");
}

/// The text of `path`.
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The one run directory a command created under `out`.
pub fn only_run_dir(out: &Path) -> PathBuf {
    let mut dirs = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path());
    let dir = dirs.next().expect("no run directory was created");
    assert!(
        dirs.next().is_none(),
        "more than one run directory in {}",
        out.display()
    );
    dir
}
