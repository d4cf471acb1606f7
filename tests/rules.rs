//! Every engine runs every rule it accepts, and refuses the others: different rules give
//! different weights, the same rule gives the same weights on both engines (within the
//! rounding of the asynchronous engine's summed event increments), and every update branch
//! (limiter on and off, dense and sparse, both methods, every rule, both engines) gives the
//! same numbers at any thread count.

mod common;

use bsp_sim::data::Split;
use bsp_sim::engine::Engine;
use bsp_sim::run::{build_engine, load_data};
use bsp_sim::Model;

/// The synthetic [6, 8, 4] model with event semantics (`coupling: delayed`), `engine`, the
/// `learning` fields `rule`, the given wiring and limiter, minibatches of `batch`, and an
/// `async` section that reproduces the synchronous clock (theta 0, no delay, no overlap).
fn yaml(engine: &str, rule: &str, wiring: &str, kt: f32, batch: usize) -> String {
    common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.05)
        .replace(
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0}",
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0, coupling: delayed}",
        )
        .replace("[{kind: full}]", wiring)
        .replace(
            "batch_size: 10,",
            &format!("batch_size: {batch}, kt: {kt}, rule: {rule},"),
        )
        + &format!("engine: {engine}\nasync: {{theta: 0.0, sample_interval: 100.0}}\n")
}

fn model(engine: &str, rule: &str, wiring: &str, kt: f32, batch: usize) -> Model {
    common::model(&yaml(engine, rule, wiring, kt, batch))
}

fn data(m: &Model) -> Split {
    load_data(m, 3, None, true, None, None, &bsp_sim::progress::NoProgress).unwrap()
}

/// The coefficients after training on `samples` samples with `threads` threads.
fn trained(m: &Model, split: &Split, samples: usize, threads: usize) -> Vec<f32> {
    let mut e = build_engine(m, 3, threads).unwrap();
    let order: Vec<usize> = (0..samples).map(|k| k % split.train.len()).collect();
    for b in order.chunks(m.training.batch_size) {
        e.train_batch(&split.train, b, 0.05).unwrap();
    }
    e.finish().unwrap();
    coefficients(e.as_ref())
}

fn coefficients(e: &dyn Engine) -> Vec<f32> {
    e.projections()
        .iter()
        .flat_map(|p| p.coefficients().to_vec())
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

const FULL: &str = "[{kind: full}]";

#[test]
fn each_rule_is_really_applied_on_each_engine() {
    let split = data(&model("sync", "bsp", FULL, 0.1, 1));
    let run = |engine, rule| trained(&model(engine, rule, FULL, 0.1, 1), &split, 60, 1);
    let start = coefficients(
        build_engine(&model("sync", "bsp", FULL, 0.1, 1), 3, 1)
            .unwrap()
            .as_ref(),
    );
    let sync: Vec<_> = ["bsp", "linearised", "adjoint"]
        .map(|r| (r, run("sync", r)))
        .into();
    let asyn: Vec<_> = ["bsp", "linearised"].map(|r| (r, run("async", r))).into();
    for (rule, c) in sync.iter().chain(&asyn) {
        assert!(max_diff(c, &start) > 1e-3, "{rule} did not train");
    }
    for runs in [&sync, &asyn] {
        for (i, (ra, a)) in runs.iter().enumerate() {
            for (rb, b) in &runs[i + 1..] {
                let d = max_diff(a, b);
                assert!(
                    d > 1e-4,
                    "{ra} and {rb} gave the same weights (differ by {d})"
                );
            }
        }
    }
}

#[test]
fn every_rule_counts_its_samples_and_updates() {
    for (engine, rules) in [
        ("sync", &["bsp", "linearised", "adjoint"][..]),
        ("async", &["bsp", "linearised"][..]),
    ] {
        for rule in rules {
            let m = model(engine, rule, FULL, 0.1, 10);
            let split = data(&m);
            let mut e = build_engine(&m, 3, 1).unwrap();
            let order: Vec<usize> = (0..30).collect();
            for b in order.chunks(10) {
                e.train_batch(&split.train, b, 0.05).unwrap();
            }
            e.finish().unwrap();
            let c = e.counters();
            assert_eq!(c.samples_trained, 30, "{engine} {rule}");
            assert!(
                c.synapse_updates >= 3 * (6 * 8 + 8 * 4),
                "{engine} {rule}: {c:?}"
            );
            assert!(c.deliveries > 0, "{engine} {rule}: {c:?}");
        }
    }
}

#[test]
fn the_same_rule_gives_the_same_weights_on_both_engines() {
    for rule in ["bsp", "linearised"] {
        let (s, a) = (
            model("sync", rule, FULL, 0.1, 1),
            model("async", rule, FULL, 0.1, 1),
        );
        let split = data(&s);
        let start = coefficients(build_engine(&s, 3, 1).unwrap().as_ref());
        let (cs, ca) = (trained(&s, &split, 200, 1), trained(&a, &split, 200, 1));
        let moved = max_diff(&cs, &start);
        let diff = max_diff(&cs, &ca);
        // Weights move by O(0.1); the engines agree to the rounding of the asynchronous
        // input, a running sum of event increments (and for `linearised`, of ĝ = g / dt).
        assert!(
            moved > 0.05,
            "{rule}: training moved the weights by only {moved}"
        );
        assert!(
            diff < 1e-4,
            "{rule}: engines differ by {diff} (moved {moved})"
        );
    }
}

#[test]
fn every_update_branch_gives_the_same_numbers_at_any_thread_count() {
    let cases = [
        ("sync", "bsp", FULL, 0.0),
        ("sync", "bsp", FULL, 0.1),
        ("sync", "bsp", "[{kind: random, fan_in: 3}]", 0.0),
        ("sync", "bsp", "[{kind: random, fan_in: 3}]", 0.1),
        ("sync", "linearised", FULL, 0.1),
        ("sync", "adjoint", FULL, 0.0),
        ("async", "bsp", FULL, 0.0),
        ("async", "bsp", FULL, 0.1),
        ("async", "bsp", "[{kind: random, fan_in: 3}]", 0.1),
        ("async", "linearised", FULL, 0.1),
    ];
    for (engine, rule, wiring, kt) in cases {
        let m = model(engine, rule, wiring, kt, 10);
        let split = data(&m);
        let one = trained(&m, &split, 100, 1);
        for threads in [2, 3] {
            assert!(
                trained(&m, &split, 100, threads) == one,
                "{engine} {rule} {wiring} kt {kt}: weights differ at {threads} threads"
            );
        }
    }
}

#[test]
fn method_one_gives_the_same_neurons_at_any_thread_count() {
    for engine in ["sync", "async"] {
        let m = common::model(
            &yaml(engine, "bsp", FULL, 0.1, 10)
                .replace("method: connections", "method: fixed_points"),
        );
        let split = data(&m);
        let k3 = |threads| {
            let mut e = build_engine(&m, 3, threads).unwrap();
            let order: Vec<usize> = (0..100).map(|k| k % split.train.len()).collect();
            for b in order.chunks(10) {
                e.train_batch(&split.train, b, 0.05).unwrap();
            }
            e.finish().unwrap();
            e.neurons()
                .iter()
                .flat_map(|l| l.k3_out.clone())
                .collect::<Vec<f32>>()
        };
        let one = k3(1);
        assert!(one.iter().any(|&k| k != 1.0), "{engine}: no K3 moved");
        assert!(k3(2) == one, "{engine}: K3 differs at 2 threads");
    }
}

#[test]
fn a_rule_an_engine_cannot_run_is_refused_naming_the_field_and_the_alternative() {
    let Err(err) = Model::from_yaml(&yaml("async", "adjoint", FULL, 0.0, 1), None) else {
        panic!("adjoint on async must be refused")
    };
    let err = err.to_string();
    assert!(
        err.contains("learning.rule") && err.contains("linearised") && err.contains("engine: sync"),
        "{err}"
    );
    let element =
        yaml("async", "linearised", FULL, 0.1, 1).replace("async: {", "async: {actor: element, ");
    let err = Model::from_yaml(&element, None).err().unwrap().to_string();
    assert!(
        err.contains("async.actor") && err.contains("neuron"),
        "{err}"
    );
    let adaptive = yaml("async", "linearised", FULL, 0.1, 1).replace(
        "async: {",
        "async: {step: {kind: adaptive, tolerance: 0.001}, ",
    );
    let err = Model::from_yaml(&adaptive, None).err().unwrap().to_string();
    assert!(err.contains("async.step") && err.contains("fixed"), "{err}");
}

#[test]
fn error_scale_is_bsps_alone_the_linear_passes_inject_the_error_itself() {
    for engine in ["sync", "async"] {
        let m = model(engine, "linearised", FULL, 0.1, 1);
        let scaled = common::model(
            &yaml(engine, "linearised", FULL, 0.1, 1)
                .replace("beta: 3.0}", "beta: 3.0, scale: 0.1}"),
        );
        assert_eq!(scaled.settings.error_scale, 0.1);
        let split = data(&m);
        assert!(
            trained(&m, &split, 30, 1) == trained(&scaled, &split, 30, 1),
            "{engine}: error.scale changed the linearised rule"
        );
    }
}

#[test]
fn a_traced_run_records_linearised_on_async_and_refuses_it_on_sync() {
    use assert_cmd::Command;
    let dir = tempfile::tempdir().unwrap();
    for engine in ["sync", "async"] {
        let path = dir.path().join(format!("{engine}.yaml"));
        let text = yaml(engine, "linearised", FULL, 0.1, 10)
            .replace("train: 200, test: 100", "train: 20, test: 10");
        std::fs::write(&path, text).unwrap();
        let out = dir.path().join(format!("out-{engine}"));
        let mut cmd = Command::cargo_bin("bsp-sim").unwrap();
        cmd.args(["run", path.to_str().unwrap(), "--epochs", "1", "--quiet"])
            .args(["--trace", "samples=all", "--out", out.to_str().unwrap()]);
        let result = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&result.stderr);
        if engine == "sync" {
            assert_eq!(result.status.code(), Some(2), "{stderr}");
            assert!(
                stderr.contains("learning.rule: linearised") && stderr.contains("engine: async"),
                "{stderr}"
            );
        } else {
            assert!(result.status.success(), "{stderr}");
            let run = std::fs::read_dir(&out)
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path();
            let events = std::fs::read_to_string(run.join("trace/events.csv")).unwrap();
            assert!(events.contains(",forward,") && events.contains(",backward,"));
        }
    }
}
