//! `bsp-sim plot` as a researcher uses it: a folder holding one run plots that run (several
//! are listed), and a sample, epoch or neuron that was not recorded is refused with what was.

use assert_cmd::Command;

fn bsp() -> Command {
    Command::cargo_bin("bsp-sim").unwrap()
}

/// One traced epoch of the demo on 300 samples into `out`.
fn traced_run(out: &std::path::Path, seed: &str) {
    let status = bsp()
        .args([
            "run",
            "models/demo.yaml",
            "--epochs",
            "1",
            "--quiet",
            "--threads",
            "1",
        ])
        .args([
            "--set",
            "data.synthetic.train=300",
            "--set",
            "data.synthetic.test=100",
        ])
        .args(["--seed", seed, "--trace", "samples=every:100", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(status.status.success(), "{status:?}");
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_folder_with_one_run_plots_it_and_one_with_several_lists_them() {
    let dir = tempfile::tempdir().unwrap();
    traced_run(dir.path(), "1");
    let out = bsp().arg("plot").arg(dir.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let run = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    for stem in [
        "metrics",
        "raster-layer0",
        "raster-layer2",
        "events-per-layer",
        "signals",
    ] {
        for ext in ["svg", "png"] {
            let f = run.join("plots").join(format!("{stem}.{ext}"));
            assert!(f.is_file(), "{} missing", f.display());
        }
    }
    traced_run(dir.path(), "2");
    let out = bsp().arg("plot").arg(dir.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("holds 2 runs"), "{err}");
    assert!(
        err.contains("demo-") && err.contains("-s1") && err.contains("-s2"),
        "{err}"
    );
}

#[test]
fn an_unrecorded_sample_epoch_or_neuron_is_refused_with_what_was_recorded() {
    let dir = tempfile::tempdir().unwrap();
    traced_run(dir.path(), "1");
    let run = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--sample", "7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("sample 7 was not recorded"), "{err}");
    assert!(
        err.contains("epoch 1 sample 0") && err.contains("epoch 1 sample 200"),
        "{err}"
    );

    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--epoch", "3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("epoch 3 was not recorded"),
        "{}",
        stderr(&out)
    );

    // Layer 1 of the demo has 32 neurons; the default records 10 spread across it.
    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--neurons", "1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("layer 1, neuron 0"), "{err}");
    assert!(
        err.contains("layer 1: neurons 1, 4, 8, 11, 14, 17, 20, 24, 27, 30"),
        "{err}"
    );

    let out = bsp()
        .arg("plot")
        .arg(&run)
        .args(["--neurons", "1:4", "--sample", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}
