//! The `bsp-sim` command line: bad input gives a clear message naming the file, the field
//! and the fix, a non-zero exit code, and never a panic.

mod common;

use assert_cmd::Command;
use predicates::prelude::*;
use predicates::str::contains;

fn bsp() -> Command {
    Command::cargo_bin("bsp-sim").unwrap()
}

const GOOD: &str = r#"
name: t
seed: 3
data:
  dataset: synthetic
  synthetic: {classes: 4, dim: 6, train: 100, test: 50, noise: 0.3}
network:
  layers: [6, 8, 4]
  connectivity: [{kind: full}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
learning: {lr: 0.1, batch_size: 10, epochs: 1}
"#;

/// Writes `yaml` as `name` in a fresh directory and returns both.
fn model_file(name: &str, yaml: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, yaml).unwrap();
    (dir, path)
}

/// The one run directory a `bsp-sim run --out OUT` wrote.
fn only_run_dir(out: &std::path::Path) -> std::path::PathBuf {
    let mut dirs = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path());
    let dir = dirs.next().expect("a run directory");
    assert!(
        dirs.next().is_none(),
        "more than one run under {}",
        out.display()
    );
    dir
}

/// Runs `bsp-sim ARGS` expecting failure with every fragment in stderr and no panic.
fn fails_with(args: &[&str], code: i32, fragments: &[&str]) {
    let mut assert = bsp().args(args).assert().failure().code(code);
    for f in fragments {
        assert = assert.stderr(contains(*f));
    }
    assert.stderr(contains("panicked").not());
}

/// Runs `bsp-sim run PATH -q --out OUT` expecting failure as [`fails_with`] does.
fn fails_to_run(path: &std::path::Path, out: &std::path::Path, code: i32, fragments: &[&str]) {
    let (path, out) = (path.to_str().unwrap(), out.to_str().unwrap());
    fails_with(&["run", path, "-q", "--out", out], code, fragments);
}

#[test]
fn good_model_validates_and_runs() {
    let (dir, path) = model_file("good.yaml", GOOD);
    bsp()
        .args(["validate", path.to_str().unwrap()])
        .assert()
        .success()
        .stdout(contains("ok"));
    let out = dir.path().join("runs");
    bsp()
        .args([
            "run",
            path.to_str().unwrap(),
            "-q",
            "--out",
            out.to_str().unwrap(),
        ])
        .assert()
        .success()
        .stdout(contains("epoch   1").and(contains("final test accuracy")));
}

/// `validate` states the memory estimate: for models/mnist.yaml by hand, 328,200 synapses x
/// 32 B + 1,394 neurons x 256 B + 1,394 neurons x 50 samples x 160 B (no tape, no synthetic
/// data) = 22,011,264 bytes.
#[test]
fn validate_states_the_memory_estimate() {
    let model = concat!(env!("CARGO_MANIFEST_DIR"), "/models/mnist.yaml");
    bsp().args(["validate", model]).assert().success().stdout(
        contains("synapses   328200").and(contains("memory     22.0 MB estimated (22011264 bytes")),
    );
}

#[test]
fn eval_writes_the_predictions_of_the_checkpoint() {
    let (dir, path) = model_file("good.yaml", GOOD);
    let out = dir.path().join("runs");
    let (path_s, out_s) = (path.to_str().unwrap(), out.to_str().unwrap());
    bsp()
        .args(["run", path_s, "-q", "--out", out_s])
        .assert()
        .success();
    let run_dir = only_run_dir(&out);
    let csv = dir.path().join("eval.csv");
    bsp()
        .args(["eval", run_dir.to_str().unwrap(), "--predictions"])
        .arg(&csv)
        .assert()
        .success()
        .stdout(contains("predictions written to"));
    // The same checkpoint, the same test set: the run's own predictions.csv, byte for byte.
    let written = std::fs::read_to_string(&csv).unwrap();
    assert_eq!(written.lines().count(), 51, "a header and 50 test samples");
    assert_eq!(
        written,
        std::fs::read_to_string(run_dir.join("predictions.csv")).unwrap()
    );
    // An unwritable destination is named, after the accuracy was printed.
    let bad = dir.path().join("missing").join("eval.csv");
    fails_with(
        &[
            "eval",
            run_dir.to_str().unwrap(),
            "--predictions",
            bad.to_str().unwrap(),
        ],
        1,
        &["cannot write", "eval.csv"],
    );
}

#[test]
fn malformed_yaml_names_file_line_and_column() {
    let (_d, path) = model_file("broken.yaml", &GOOD.replace("[6, 8, 4]", "[6, 8, 4"));
    fails_with(
        &["validate", path.to_str().unwrap()],
        2,
        &["broken.yaml", "line", "column"],
    );
}

#[test]
fn unknown_field_is_named() {
    let (_d, path) = model_file(
        "typo.yaml",
        &GOOD.replace("  layers:", "  lyers: 3\n  layers:"),
    );
    fails_with(
        &["validate", path.to_str().unwrap()],
        2,
        &["typo.yaml", "unknown field `lyers`", "layers"],
    );
}

#[test]
fn k1_not_above_k2_has_no_fixed_point() {
    let yaml = format!("{GOOD}neuron: {{k1: 1.0, k2: 1.5, k3: 1.0}}\n");
    let (_d, path) = model_file("rates.yaml", &yaml);
    fails_with(
        &["validate", path.to_str().unwrap()],
        2,
        &["rates.yaml", "neuron.k1", "k1 > k2", "raise k1"],
    );
}

#[test]
fn empty_layer_is_named() {
    let (_d, path) = model_file("empty.yaml", &GOOD.replace("[6, 8, 4]", "[6, 0, 4]"));
    fails_with(
        &["validate", path.to_str().unwrap()],
        2,
        &["empty.yaml", "network.layers[1]", "at least one neuron"],
    );
}

#[test]
fn input_layer_must_match_the_data() {
    let (d, path) = model_file("shape.yaml", &GOOD.replace("[6, 8, 4]", "[7, 8, 4]"));
    let out = d.path().join("runs");
    fails_with(
        &[
            "run",
            path.to_str().unwrap(),
            "-q",
            "--out",
            out.to_str().unwrap(),
        ],
        2,
        &[
            "shape.yaml",
            "network.layers[0]",
            "set network.layers[0] to 6",
        ],
    );
}

#[test]
fn output_layer_must_match_the_classes() {
    let (d, path) = model_file("classes.yaml", &GOOD.replace("[6, 8, 4]", "[6, 8, 3]"));
    let out = d.path().join("runs");
    fails_to_run(&path, &out, 2, &["4 classes", "set it to 4"]);
}

#[test]
fn diverging_integration_names_layer_sample_and_dt() {
    let yaml = format!("{GOOD}integration: {{dt: 0.9, forward_window: 9.0, backward_window: 9.0}}\ninput: {{gain: 40.0}}\n");
    let (d, path) = model_file("diverge.yaml", &yaml);
    let out = d.path().join("runs");
    fails_to_run(
        &path,
        &out,
        1,
        &[
            "diverge.yaml",
            "non-finite",
            "layer",
            "sample",
            "integration.dt",
        ],
    );
    // The run directory records the failure rather than looking complete.
    let run_dir = only_run_dir(&out);
    let summary = std::fs::read_to_string(run_dir.join("summary.json")).unwrap();
    assert!(summary.contains("\"status\": \"failed\""), "{summary}");
}

#[test]
fn missing_model_file_is_named() {
    fails_with(
        &["validate", "/nonexistent/model.yaml"],
        2,
        &["/nonexistent/model.yaml"],
    );
}

#[test]
fn missing_model_file_gives_its_os_error_once_and_exit_code_2_in_every_command() {
    let missing = "/nonexistent/model.yaml";
    for args in [
        &["validate", missing][..],
        &["run", missing, "-q"],
        &["trace", missing, "--sample", "0"],
        &["compare", missing, "-q"],
        &["gradcheck", missing],
        &["bench", missing],
        &["causal", missing],
    ] {
        let out = bsp().args(args).assert().failure().code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        assert!(stderr.contains(missing), "{args:?}: {stderr}");
        assert_eq!(
            stderr.matches("(os error 2)").count(),
            1,
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn unwritable_output_directory_is_named() {
    let (d, path) = model_file("good.yaml", GOOD);
    let blocker = d.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let out = blocker.join("runs");
    fails_to_run(&path, &out, 1, &["cannot write", "--out"]);
    let (path, out) = (path.to_str().unwrap(), out.to_str().unwrap());
    let failed = bsp()
        .args(["run", path, "-q", "--out", out])
        .assert()
        .failure();
    let stderr = String::from_utf8_lossy(&failed.get_output().stderr).into_owned();
    assert_eq!(stderr.matches("(os error").count(), 1, "{stderr}");
}

#[test]
fn eval_of_a_directory_without_checkpoint_says_what_to_pass() {
    let d = tempfile::tempdir().unwrap();
    fails_with(
        &["eval", d.path().to_str().unwrap()],
        2,
        &["checkpoint.json", "bsp-sim run"],
    );
}

#[path = "data/common.rs"]
#[allow(dead_code)]
mod data_common;

/// A `bsp-sim` command that sees no data anywhere: empty data dir, cache and working dir.
fn isolated(home: &std::path::Path) -> Command {
    let mut cmd = bsp();
    cmd.env("BSP_SIM_DATA", home.join("nodata"))
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("BSP_SIM_MIRROR")
        .current_dir(home);
    cmd
}

const MNIST_MODEL: &str = r#"
name: t
data: {dataset: mnist}
network:
  layers: [784, 10]
  connectivity: [{kind: full}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
learning: {lr: 0.003, epochs: 1}
"#;

#[test]
fn missing_data_lists_where_it_looked_and_how_to_get_it() {
    let (d, path) = model_file("m.yaml", MNIST_MODEL);
    isolated(d.path())
        .args(["run", path.to_str().unwrap(), "--offline", "-q"])
        .assert()
        .failure()
        .code(2)
        .stderr(
            contains("m.yaml")
                .and(contains("nodata"))
                .and(contains("bsp-sim data fetch mnist")),
        )
        .stderr(contains("panicked").not());
}

#[test]
fn wrong_idx_magic_names_the_file() {
    let (d, path) = model_file("m.yaml", MNIST_MODEL);
    let bad = d.path().join("bad").join("mnist");
    std::fs::create_dir_all(&bad).unwrap();
    for f in [
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        std::fs::copy(
            data_common::real_gz("mnist", f),
            bad.join(format!("{f}.gz")),
        )
        .unwrap();
    }
    // A label file where the training images should be.
    std::fs::copy(
        data_common::real_gz("mnist", "train-labels-idx1-ubyte"),
        bad.join("train-images-idx3-ubyte.gz"),
    )
    .unwrap();
    isolated(d.path())
        .args(["run", path.to_str().unwrap(), "--offline", "-q", "--data"])
        .arg(d.path().join("bad"))
        .assert()
        .failure()
        .code(2)
        .stderr(contains("train-images-idx3-ubyte.gz").and(contains("magic")))
        .stderr(contains("panicked").not());
}

#[test]
fn data_fetch_downloads_and_verifies_from_a_mirror() {
    let server = data_common::TestServer::serving_data(|_, b| b);
    let d = tempfile::tempdir().unwrap();
    let dest = d.path().join("cache");
    isolated(d.path())
        .args([
            "data",
            "fetch",
            "fashion-mnist",
            "--mirror",
            &server.url(""),
            "--dest",
        ])
        .arg(&dest)
        .assert()
        .success()
        .stdout(contains("fashion-mnist ready"));
    assert!(dest
        .join("fashion-mnist/t10k-labels-idx1-ubyte.gz")
        .is_file());
    // Then a run trains on the fetched files, found through --data.
    let (_m, path) = model_file("f.yaml", &MNIST_MODEL.replace("mnist", "fashion-mnist"));
    isolated(d.path())
        .args([
            "run",
            path.to_str().unwrap(),
            "--offline",
            "-q",
            "--train-limit",
            "50",
        ])
        .args(["--test-limit", "20", "--data"])
        .arg(&dest)
        .assert()
        .success()
        .stdout(contains("epoch   1"));
}

#[test]
fn help_works_for_the_binary_and_every_subcommand() {
    bsp()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Usage: bsp-sim"));
    for sub in [
        &["run"][..],
        &["trace"],
        &["plot"],
        &["eval"],
        &["compare"],
        &["validate"],
        &["causal"],
        &["gradcheck"],
        &["data"],
        &["data", "fetch"],
        &["bench"],
    ] {
        bsp()
            .args(sub)
            .arg("--help")
            .assert()
            .success()
            .stdout(contains("Usage: bsp-sim"));
    }
}

#[test]
fn threads_must_be_between_1_and_256() {
    let (_d, path) = model_file("good.yaml", GOOD);
    let path = path.to_str().unwrap();
    for (n, says) in [("0", "must be at least 1"), ("257", "must be at most 256")] {
        for sub in ["run", "compare", "gradcheck", "bench"] {
            fails_with(&[sub, path, "--threads", n], 2, &["--threads", says]);
        }
        fails_with(&["eval", path, "--threads", n], 2, &["--threads", says]);
    }
    bsp()
        .args(["run", "--help"])
        .assert()
        .success()
        .stdout(contains("1 to 256"));
}
