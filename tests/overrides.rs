//! `--set PATH=VALUE` and `Model::load_with_overrides`: an override is typed and checked as
//! if it were in the model file, its errors name it, and a run's `model.yaml` holds the
//! file with the overrides applied.

use assert_cmd::Command;
use bsp_sim::config::{EngineKind, Override};
use bsp_sim::run::{self, RunOptions, Silent};
use bsp_sim::Model;

const DEMO: &str = "models/demo.yaml";

fn bsp() -> Command {
    Command::cargo_bin("bsp-sim").unwrap()
}

fn load(sets: &[&str]) -> Result<Model, String> {
    let overrides: Vec<Override> = sets
        .iter()
        .map(|s| Override::from_arg(s))
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    Model::load_with_overrides(DEMO.as_ref(), &overrides).map_err(|e| e.to_string())
}

#[test]
fn overrides_set_typed_fields_at_any_depth() {
    let base = Model::load(DEMO.as_ref()).unwrap();
    let m = load(&[
        "learning.lr=0.01",
        "engine=async",
        "network.layers=[64, 20, 10]",
        "async.delay={kind: fixed, value: 0.5}",
        "data.synthetic.noise=0.25",
    ])
    .unwrap();
    assert_eq!(m.training.lr, 0.01);
    assert_ne!(base.training.lr, 0.01);
    assert_eq!(m.engine, EngineKind::Async);
    assert_eq!(m.network.layers, vec![64, 20, 10]);
    assert_eq!(
        m.asynchronous.delay,
        bsp_sim::config::Delay::Fixed { value: 0.5 }
    );
    // Untouched fields keep the file's values exactly.
    assert_eq!(m.seed, base.seed);
    assert_eq!(m.training.batch_size, base.training.batch_size);
    assert_eq!(m.settings.dt, base.settings.dt);
    // Later overrides win, and may go inside an earlier one.
    let m = load(&["learning.lr=0.5", "learning.lr=0.02"]).unwrap();
    assert_eq!(m.training.lr, 0.02);
    // A section absent from the file is created.
    let m = load(&["trace.layers=1,2", "trace.every=3"]).unwrap();
    let t = m.trace.expect("trace section");
    assert_eq!(t.every, Some(3));
}

#[test]
fn an_override_reads_a_number_exactly_as_the_file_would() {
    let text = std::fs::read_to_string(DEMO).unwrap();
    for lr in ["0.1", "0.003", "0.0123456789", "3e-4", "1"] {
        let edited = text.replace("lr: 0.003", &format!("lr: {lr}"));
        assert_ne!(edited, text.replace("lr: 0.003", "lr: 0.2"));
        let in_file = Model::from_yaml(&edited, None).unwrap();
        let set = load(&[&format!("learning.lr={lr}")]).unwrap();
        assert_eq!(
            in_file.training.lr.to_bits(),
            set.training.lr.to_bits(),
            "{lr}"
        );
    }
}

#[test]
fn unknown_fields_wrong_types_and_invalid_values_name_the_override() {
    let e = load(&["learning.lrr=0.1"]).unwrap_err();
    assert!(e.contains("--set learning.lrr=0.1"), "{e}");
    assert!(e.contains("unknown field `lrr`"), "{e}");
    assert!(e.contains("expected one of"), "{e}");

    let e = load(&["learning.lr=0.01", "learning.lr=fast"]).unwrap_err();
    assert!(e.contains("--set learning.lr=fast"), "{e}");
    assert!(e.contains("learning.lr"), "{e}");
    assert!(!e.contains("--set learning.lr=0.01"), "{e}");

    let e = load(&["engine=asynch"]).unwrap_err();
    assert!(e.contains("--set engine=asynch"), "{e}");
    assert!(e.contains("unknown variant `asynch`"), "{e}");

    let e = load(&["seed=1.5"]).unwrap_err();
    assert!(e.contains("--set seed=1.5") && e.contains("u64"), "{e}");

    // Validation after parsing: the message names the file, the override and the field.
    let e = load(&["learning.lr=-1"]).unwrap_err();
    assert!(
        e.contains("models/demo.yaml with --set learning.lr=-1"),
        "{e}"
    );
    assert!(e.contains("must be finite and >= 0"), "{e}");

    // A path through a single value, and an argument without `=`.
    let e = load(&["learning.lr.x=1"]).unwrap_err();
    assert!(e.contains("`learning.lr` is a single value"), "{e}");
    let e = load(&["learning.lr"]).unwrap_err();
    assert!(e.contains("expected PATH=VALUE"), "{e}");
    let e = load(&["learning..lr=1"]).unwrap_err();
    assert!(e.contains("not a field path"), "{e}");
}

#[test]
fn the_file_own_errors_keep_their_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    let text = std::fs::read_to_string(DEMO)
        .unwrap()
        .replace("lr: 0.003", "lr: fast");
    std::fs::write(&path, text).unwrap();
    let e = Model::load_with_overrides(&path, &[Override::new("learning.lr", "0.01")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("line"), "{e}");
    assert!(e.contains("invalid YAML"), "{e}");
}

#[test]
fn set_on_the_command_line_fails_with_exit_code_2_and_reaches_every_model_command() {
    for cmd in ["run", "compare", "trace", "bench", "gradcheck", "validate"] {
        let mut c = bsp();
        c.args([cmd, DEMO, "--set", "learning.lrr=1"]);
        if cmd == "trace" {
            c.args(["--sample", "0"]);
        }
        let out = c.output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{cmd}: {err}");
        assert!(err.contains("--set learning.lrr=1"), "{cmd}: {err}");
    }
}

#[test]
fn a_run_with_overrides_equals_the_edited_file_and_writes_it_as_model_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("edited.yaml");
    let text = std::fs::read_to_string(DEMO)
        .unwrap()
        .replace("lr: 0.003", "lr: 0.007")
        .replace("train: 3000", "train: 300")
        .replace("test: 1000", "test: 100");
    std::fs::write(&edited, &text).unwrap();
    let opts = |name: &str| RunOptions {
        epochs: Some(1),
        threads: Some(1),
        out: dir.path().to_path_buf(),
        run_name: Some(name.into()),
        ..RunOptions::default()
    };
    let a = run::run(&Model::load(&edited).unwrap(), &opts("file"), &mut Silent).unwrap();
    let set = load(&[
        "learning.lr=0.007",
        "data.synthetic.train=300",
        "data.synthetic.test=100",
    ])
    .unwrap();
    let b = run::run(&set, &opts("set"), &mut Silent).unwrap();
    let ck = |d: &std::path::Path| std::fs::read_to_string(d.join("checkpoint.json")).unwrap();
    let (ca, cb) = (ck(&a.run_dir), ck(&b.run_dir));
    let coefficients = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["projections"].clone()
    };
    assert_eq!(coefficients(&ca), coefficients(&cb));
    assert_eq!(a.summary.final_test_accuracy, b.summary.final_test_accuracy);

    // model.yaml: the overridden model, which loads back to the same model.
    let yaml = std::fs::read_to_string(b.run_dir.join("model.yaml")).unwrap();
    assert!(
        yaml.starts_with("# models/demo.yaml with --set learning.lr=0.007"),
        "{yaml}"
    );
    let back = Model::load(&b.run_dir.join("model.yaml")).unwrap();
    assert_eq!(back.training.lr, 0.007);
    assert_eq!(back.file().data.synthetic.as_ref().unwrap().train, 300);
    // Without overrides it is the file as written, comments and all.
    assert_eq!(
        std::fs::read_to_string(a.run_dir.join("model.yaml")).unwrap(),
        text
    );
}
