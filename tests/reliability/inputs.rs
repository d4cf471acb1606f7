//! Every input checked before it is trusted: sizes and their memory at validation,
//! checkpoints against themselves and the network, empty sets, data of the wrong shape,
//! and trace keys the engine would ignore — each a clear error with exit code 2.

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::topology::Projection;
use predicates::prelude::*;
use predicates::str::contains;

use super::common::*;

/// `bsp-sim ARGS` fails with `code`, every fragment in stderr, and no panic.
fn fails(args: &[&str], code: i32, fragments: &[&str]) -> String {
    let out = bsp().args(args).assert().code(code).get_output().clone();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    for f in fragments {
        assert!(stderr.contains(f), "`{f}` not in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn layer_sizes_beyond_memory_are_refused_before_allocation() {
    let dir = tempfile::tempdir().unwrap();
    for (layers, says) in [
        ("[16, 18446744073709551615, 4]", "the sizes overflow"),
        ("[16, 100000000, 4]", "bytes"),
    ] {
        let m = write_model(
            dir.path(),
            "big.yaml",
            &yaml(1).replace("[16, 24, 4]", layers),
        );
        let m = m.to_str().unwrap();
        for cmd in ["validate", "run"] {
            fails(&[cmd, m], 2, &["big.yaml", "network.layers", says]);
        }
    }
}

#[test]
fn empty_test_sets_are_not_reported_as_results() {
    let dir = tempfile::tempdir().unwrap();
    let m = write_model(dir.path(), "m.yaml", &yaml(1));
    let out = dir.path().join("runs");
    let (m, o) = (m.to_str().unwrap(), out.to_str().unwrap());
    fails(
        &["run", m, "-q", "--test-limit", "0", "--out", o],
        2,
        &["no test samples (--test-limit 0)"],
    );
    assert!(!out.exists(), "nothing written for a refused run");
    bsp().args(["run", m, "-q", "--out", o]).assert().success();
    let run_dir = only_run_dir(&out);
    let d = run_dir.to_str().unwrap();
    fails(&["eval", d, "--test-limit", "0"], 2, &["no test samples"]);
}

/// A finished run of a sparse (random fan-in) network and its checkpoint's JSON.
fn sparse_run(dir: &std::path::Path) -> (std::path::PathBuf, serde_json::Value) {
    let yaml = yaml(1).replace("[{kind: full}]", "[{kind: random, fan_in: 5}]");
    let m = write_model(dir, "sparse.yaml", &yaml);
    let out = dir.join("runs");
    bsp()
        .args(["run", m.to_str().unwrap(), "-q", "--out"])
        .arg(&out)
        .assert()
        .success();
    let run_dir = only_run_dir(&out);
    let (ck, _) = Checkpoint::load(&run_dir).unwrap();
    assert!(matches!(ck.projections[0], Projection::Sparse { .. }));
    let json = serde_json::from_str(&read(&run_dir.join("checkpoint.json"))).unwrap();
    (run_dir, json)
}

#[test]
fn damaged_checkpoints_are_refused_naming_the_part() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, good) = sparse_run(dir.path());
    type Edit = fn(&mut serde_json::Value);
    let cases: [(Edit, &str); 8] = [
        (
            |v| v["neurons"] = serde_json::json!([]),
            "`neurons` holds 0 layers",
        ),
        (
            |v| {
                v["neurons"].as_array_mut().unwrap().pop();
            },
            "`neurons` holds 2 layers",
        ),
        (
            |v| v["neurons"][1]["k3_out"][0] = (-1.0).into(),
            "not a finite rate > 0",
        ),
        (|v| v["epochs_done"] = 99.into(), "epochs_done is 99"),
        (
            |v| v["projections"][0]["Sparse"]["row_ptr"][3] = 0.into(),
            "`row_ptr` decreases",
        ),
        (
            |v| v["projections"][0]["Sparse"]["col"][0] = 4000.into(),
            "beyond the 16 presynaptic neurons",
        ),
        (
            |v| {
                v["projections"][0]["Sparse"]["row_ptr"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            },
            "`row_ptr` has 24 entries",
        ),
        (
            |v| {
                v["projections"][1]["Sparse"]["c"]
                    .as_array_mut()
                    .unwrap()
                    .pop();
            },
            "all three must agree",
        ),
    ];
    let file = run_dir.join("checkpoint.json");
    for (edit, says) in cases {
        let mut v = good.clone();
        edit(&mut v);
        std::fs::write(&file, v.to_string()).unwrap();
        let d = run_dir.to_str().unwrap();
        fails(&["eval", d], 2, &["checkpoint.json", says]);
        fails(&["run", "--resume", d, "-q"], 2, &[says]);
    }
}

#[test]
fn a_bad_model_in_a_checkpoint_is_blamed_on_the_checkpoint_once() {
    let dir = tempfile::tempdir().unwrap();
    let (run_dir, mut v) = sparse_run(dir.path());
    v["model"]["learning"]["lr"] = (-1.0).into();
    let file = run_dir.join("checkpoint.json");
    std::fs::write(&file, v.to_string()).unwrap();
    let model = dir.path().join("sparse.yaml");
    let (d, m) = (run_dir.to_str().unwrap(), model.to_str().unwrap());
    for args in [vec!["eval", d], vec!["run", m, "--resume", d, "-q"]] {
        let stderr = fails(&args, 2, &["holds an invalid model", "learning.lr"]);
        assert_eq!(stderr.matches("checkpoint.json").count(), 1, "{stderr}");
        assert!(!stderr.contains("sparse.yaml"), "{stderr}");
    }
}

#[test]
fn images_of_the_wrong_shape_are_bad_data() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("mnist");
    std::fs::create_dir_all(&data).unwrap();
    let images = |n: u32| {
        let mut v = Vec::new();
        for x in [0x803, n, 28, 27] {
            v.extend_from_slice(&u32::to_be_bytes(x));
        }
        v.resize(16 + (n * 28 * 27) as usize, 7);
        v
    };
    let labels = |n: u32| {
        let mut v = Vec::new();
        for x in [0x801, n] {
            v.extend_from_slice(&u32::to_be_bytes(x));
        }
        v.extend((0..n).map(|i| (i % 10) as u8));
        v
    };
    for (name, bytes) in [
        ("train-images-idx3-ubyte", images(20)),
        ("train-labels-idx1-ubyte", labels(20)),
        ("t10k-images-idx3-ubyte", images(10)),
        ("t10k-labels-idx1-ubyte", labels(10)),
    ] {
        std::fs::write(data.join(name), bytes).unwrap();
    }
    let model = read(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/mnist.yaml"
    )));
    let m = write_model(dir.path(), "mnist.yaml", &model);
    let out = dir.path().join("runs");
    fails(
        &[
            "run",
            m.to_str().unwrap(),
            "-q",
            "--offline",
            "--data",
            dir.path().to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        2,
        &["756 values per sample", "network.layers[0]"],
    );
}

#[test]
fn an_async_trace_records_only_the_thresholds_it_uses() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!("engine: async\n{}", yaml(1));
    let m = write_model(dir.path(), "async.yaml", &yaml);
    let out = dir.path().join("runs");
    let (m, o) = (m.to_str().unwrap(), out.to_str().unwrap());
    for spec in ["theta=0.1", "samples=every:50;theta_backward=0.001"] {
        fails(
            &["run", m, "-q", "--trace", spec, "--out", o],
            2,
            &["--trace", "does not apply to engine: async", "async.theta"],
        );
    }
    bsp()
        .args(["run", m, "-q", "--trace", "samples=every:50", "--out", o])
        .assert()
        .success()
        .stderr(contains("panicked").not());
    let run_dir = only_run_dir(&out);
    let manifest = bsp_sim::trace::manifest::Manifest::read(&run_dir.join("trace")).unwrap();
    let model = bsp_sim::Model::from_yaml(&yaml, None).unwrap();
    let a = &model.asynchronous;
    let backward = a.theta_backward;
    assert_eq!(manifest.selection.theta, a.theta);
    assert_eq!(manifest.selection.theta_backward, backward);
    let spec = &manifest.selection.spec;
    assert!(
        spec.contains(&format!("theta={};", a.theta))
            && spec.contains(&format!("theta_backward={backward};")),
        "{spec}"
    );
}
