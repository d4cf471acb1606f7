//! The exact gradient (`gradient`): the discrete adjoint against central finite
//! differences, its forward pass against the engine's, the `adjoint` and `linearised`
//! training rules (loss goes down, thread-count independence), and the gradient check's
//! measured agreement with BSP.

mod common;

use bsp_sim::engine::Engine;
use bsp_sim::gradcheck::gradcheck;
use bsp_sim::learning::adjoint::losses;
use bsp_sim::learning::adjoint::{run_batch, Mode, Net};
use bsp_sim::progress::NoProgress;
use bsp_sim::run::{build_sync_engine, epoch_order, load_data};

/// A small synthetic model with the given layers, wiring, integrator, error and readout.
fn small(layers: &str, wiring: &str, method: &str, error: &str, readout: &str) -> bsp_sim::Model {
    let yaml = common::synthetic_yaml(layers, "connections", error, 0.1)
        .replace("[{kind: full}]", wiring)
        .replace(
            "integration: {dt: 0.1,",
            &format!("integration: {{method: {method}, dt: 0.1,"),
        )
        .replace("beta: 3.0}", &format!("beta: 3.0, readout: {readout}}}"))
        .replace("std: 1.0", "std: 2.5");
    common::model(&yaml)
}

fn images() -> bsp_sim::data::Dataset {
    common::dataset(
        vec![
            vec![0.1, 0.9, 0.3, 0.0, 1.0, 0.5],
            vec![0.7, 0.2, 0.5, 0.8, 0.4, 0.0],
            vec![0.0, 0.0, 1.0, 0.6, 0.2, 0.9],
        ],
        vec![2, 0, 3],
        4,
    )
}

/// ∂L/∂C from the adjoint equals central finite differences of the loss computed through
/// the same window, to a relative error below 1e-6 (f64, step 1e-5; the truncation error
/// is ~1e-10 and rounding ~1e-11, so 1e-6 leaves room only for a wrong derivative or a
/// kink of the clamp crossed by the perturbation). Every integrator, both losses, both
/// readouts, dense and sparse wiring; the clamp acts in the dense cases' windows (asserted).
#[test]
fn adjoint_matches_central_finite_differences() {
    let cases = [
        ("[{kind: full}]", "euler", "softmax", "mean"),
        ("[{kind: full}]", "euler", "squared", "integral"),
        ("[{kind: full}]", "semi_implicit", "softmax", "mean"),
        ("[{kind: full}]", "rk4", "squared", "mean"),
        ("[{kind: random, fan_in: 3}]", "euler", "softmax", "mean"),
        ("[{kind: one_to_one}]", "rk4", "softmax", "integral"),
        // Event semantics: layer l+1 sees layer l's signal of the previous step.
        (
            "[{kind: full}]",
            "euler, coupling: delayed",
            "softmax",
            "mean",
        ),
        (
            "[{kind: random, fan_in: 3}]",
            "rk4, coupling: delayed",
            "squared",
            "integral",
        ),
    ];
    let data = images();
    let idx = [0, 1, 2];
    for (wiring, method, error, readout) in cases {
        let what = format!("{wiring} {method} {error} {readout}");
        let m = small("[6, 5, 4]", wiring, method, error, readout);
        let engine = build_sync_engine(&m, 5, 1);
        let net = Net::<f64>::new(&engine.settings, engine.projections(), engine.neurons());
        let b = run_batch(&net, &data, &idx, Mode::Exact, 2, &mut Vec::new()).unwrap();
        if wiring.contains("full") {
            assert!(b.clamped > 0, "{what}: the clamp never acted");
        }
        let loss = |n: &Net<f64>| losses(n, &data, &idx).unwrap().iter().sum::<f64>();
        let h = 1e-5;
        let (mut err, mut norm) = (0.0f64, 0.0f64);
        for l in 0..net.weights.len() {
            let descent = net.weights[l].outer(b.rows, &b.pre[l], &b.post[l]);
            for (k, &d) in descent.iter().enumerate() {
                let mut plus = net.clone();
                plus.weights[l].coefficients_mut()[k] += h;
                let mut minus = net.clone();
                minus.weights[l].coefficients_mut()[k] -= h;
                let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
                err += (d + fd).powi(2);
                norm += fd * fd;
            }
        }
        let rel = (err / norm).sqrt();
        assert!(norm > 1e-6, "{what}: zero gradient");
        assert!(rel < 1e-6, "{what}: relative error {rel:e}");
    }
}

/// The adjoint's forward pass (in f32) is the engine's window: same losses and predictions.
#[test]
fn adjoint_forward_is_the_engine_forward() {
    for method in ["euler", "semi_implicit", "rk4", "euler, coupling: delayed"] {
        let m = small("[6, 5, 4]", "[{kind: full}]", method, "softmax", "mean");
        let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
        let mut engine = build_sync_engine(&m, 3, 2);
        let idx: Vec<usize> = (0..split.test.len()).collect();
        let t = engine.evaluate(&split.test, &idx).unwrap();
        let net = Net::<f32>::new(&engine.settings, engine.projections(), engine.neurons());
        let ours: f64 = losses(&net, &split.test, &idx)
            .unwrap()
            .iter()
            .map(|&v| v as f64)
            .sum();
        assert!(
            (ours - t.loss).abs() <= 1e-6 * t.loss.abs(),
            "{method}: loss {ours} vs engine {}",
            t.loss
        );
    }
}

/// Trains the [6, 8, 4] synthetic model with `rule` for 5 epochs; returns the test loss
/// and accuracy before and after, and the final coefficients.
fn train(rule: &str, lr: f32, threads: usize) -> (f64, f64, f64, Vec<Vec<f32>>) {
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", lr).replace(
        "method: connections,",
        &format!("method: connections, rule: {rule},"),
    );
    let m = common::model(&yaml);
    let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
    let mut engine = build_sync_engine(&m, 3, threads);
    let test: Vec<usize> = (0..split.test.len()).collect();
    let before = engine.evaluate(&split.test, &test).unwrap();
    for epoch in 0..5 {
        for batch in epoch_order(3, epoch, split.train.len()).chunks(10) {
            engine.train_batch(&split.train, batch, lr).unwrap();
        }
    }
    let after = engine.evaluate(&split.test, &test).unwrap();
    let w = engine
        .projections()
        .iter()
        .map(|p| p.coefficients().to_vec())
        .collect();
    (before.mean_loss(), after.mean_loss(), after.accuracy(), w)
}

#[test]
fn adjoint_and_linearised_rules_lower_the_loss() {
    // The adjoint's lr is in gradient units: BSP's G1 is about T^2 / beta = 3 times the
    // gradient here (window 3, beta 3), so lr 1.5 matches the BSP tests' 0.5.
    for (rule, lr) in [("adjoint", 1.5), ("linearised", 0.5)] {
        let (before, after, acc, _) = train(rule, lr, 2);
        assert!(
            after < 0.8 * before,
            "{rule}: test loss {before} -> {after}"
        );
        assert!(acc > 0.5, "{rule}: accuracy {acc} (chance 0.25)");
    }
}

#[test]
fn gradient_rules_give_the_same_weights_at_any_thread_count() {
    for rule in ["adjoint", "linearised"] {
        let one = train(rule, 0.5, 1).3;
        for threads in [2, 3] {
            let other = train(rule, 0.5, threads).3;
            assert!(
                one.iter()
                    .flatten()
                    .zip(other.iter().flatten())
                    .all(|(a, b)| a.to_bits() == b.to_bits()),
                "{rule}: weights differ between 1 and {threads} threads"
            );
        }
    }
}

/// Measured: at initialisation, with no clamping, BSP's G1 points within ~6 degrees of the
/// descent direction (cosine 0.995; the reversed units are mildly nonlinear at error scale 1),
/// the linearised rule within ~1 degree (0.9998), and both are about T^2 / beta times as long.
#[test]
fn gradcheck_at_initialisation_bsp_is_close_and_linearised_closer() {
    let m = common::model(&common::synthetic_yaml(
        "[6, 8, 4]",
        "connections",
        "softmax",
        0.1,
    ));
    let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
    let mut engine = build_sync_engine(&m, 3, 2);
    let idx: Vec<usize> = (0..50).collect();
    let r = gradcheck("test", &mut engine, &split.train, &idx, 2).unwrap();
    assert_eq!(r.comparisons.len(), 6);
    assert!(
        r.finite_difference_error < 1e-6,
        "adjoint vs finite difference along G1: {}",
        r.finite_difference_error
    );
    for c in &r.comparisons {
        let (min_cos, rule) = match c.rule {
            "bsp" => (0.95, "bsp"),
            _ => (0.999, "linearised"),
        };
        assert!(
            c.cosine > min_cos,
            "{rule} pair {:?}: cosine {}",
            c.pair,
            c.cosine
        );
        assert!(c.sign_agreement > 0.8, "{rule}: signs {}", c.sign_agreement);
        // About T^2 / beta = 9 / 3 (window 3, beta 3): G1 multiplies whole-window integrals
        // where the gradient sums D(t) g(t), larger when D is still rising (measured ~4.6-5).
        assert!(
            c.norm_ratio > 2.4 && c.norm_ratio < 6.0,
            "{rule}: norm ratio {}",
            c.norm_ratio
        );
    }
    // The check does not train.
    let again = gradcheck("test", &mut engine, &split.train, &idx, 1).unwrap();
    assert_eq!(again.comparisons, r.comparisons);
}

/// With the model's limiter on, the check adds the linearised rule's G2 (each sample's
/// product through atan(kt x) / kt, then summed): at a tiny kt it is G1 to rounding, and at
/// a large one every synapse's sum is bounded by samples x pi / (2 kt).
#[test]
fn gradcheck_reports_the_update_after_the_limiter() {
    let idx: Vec<usize> = (0..20).collect();
    let check = |kt: f32| {
        let m = common::model(&common::optimiser_yaml("linearised", kt, "", 0.1, ""));
        let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
        let mut engine = build_sync_engine(&m, 3, 1);
        gradcheck("test", &mut engine, &split.train, &idx, 1).unwrap()
    };
    let limited = "linearised, G2 after the limiter";
    let pairs = |r: &bsp_sim::gradcheck::Report, rule: &str| -> Vec<_> {
        r.comparisons
            .iter()
            .filter(|c| c.rule == rule)
            .cloned()
            .collect()
    };
    assert_eq!(check(0.0).comparisons.len(), 6, "kt 0: no limiter rows");
    let tiny = check(1e-4);
    assert_eq!(tiny.comparisons.len(), 9);
    for (g1, g2) in pairs(&tiny, "linearised").iter().zip(pairs(&tiny, limited)) {
        assert_eq!(g1.pair, g2.pair);
        assert!((g1.cosine - g2.cosine).abs() < 1e-6, "{g1:?} vs {g2:?}");
        assert!(
            (g1.norm_ratio / g2.norm_ratio - 1.0).abs() < 1e-5,
            "{g1:?} vs {g2:?}"
        );
    }
    let (kt, large) = (1e3, check(1e3));
    let (plain, capped) = (pairs(&large, "linearised"), pairs(&large, limited));
    for (g1, g2) in plain.iter().zip(&capped) {
        // |sum of G2| <= 20 pi / (2 kt) per synapse, so its norm is at most sqrt(synapses) times that.
        let bound = (g2.parameters as f64).sqrt() * 20.0 * std::f64::consts::FRAC_PI_2 / kt;
        let pair = g2.pair.map_or(
            large
                .gradient_norms
                .iter()
                .map(|n| n * n)
                .sum::<f64>()
                .sqrt(),
            |l| large.gradient_norms[l],
        );
        assert!(
            g2.norm_ratio * pair <= bound * (1.0 + 1e-9),
            "{g2:?}: above the bound {bound}"
        );
        assert!(g2.norm_ratio < g1.norm_ratio, "{g1:?} vs {g2:?}");
    }
}

fn config_error(yaml: &str) -> String {
    match bsp_sim::Model::from_yaml(yaml, None) {
        Ok(_) => panic!("model accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_rule_settings_name_the_field_and_the_fix() {
    let base = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.1);
    let with = |rule: &str| {
        base.replace(
            "method: connections,",
            &format!("method: connections, rule: {rule},"),
        )
    };
    let e = config_error(&with("backprop"));
    assert!(
        e.contains("backprop") && e.contains("adjoint") && e.contains("line"),
        "{e}"
    );
    let e = config_error(
        &with("linearised").replace("beta: 3.0}", "beta: 3.0, backward_input: time_varying}"),
    );
    assert!(
        e.contains("error.backward_input") && e.contains("constant"),
        "{e}"
    );
    let e =
        config_error(&with("linearised").replace("backward_window: 3.0", "backward_window: 2.0"));
    assert!(e.contains("integration.backward_window"), "{e}");
    // The same settings are fine with the paper's rule and with the adjoint.
    for ok in [
        base.replace("backward_window: 3.0", "backward_window: 2.0"),
        with("adjoint").replace("backward_window: 3.0", "backward_window: 2.0"),
    ] {
        bsp_sim::Model::from_yaml(&ok, None).unwrap();
    }
}

mod cli {
    use assert_cmd::Command;
    use predicates::prelude::*;
    use predicates::str::contains;

    fn model_file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.yaml");
        let yaml = super::common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.1);
        std::fs::write(&path, yaml).unwrap();
        let p = path.to_str().unwrap().to_string();
        (dir, p)
    }

    fn bsp() -> Command {
        Command::cargo_bin("bsp-sim").unwrap()
    }

    #[test]
    fn gradcheck_prints_a_table_and_json() {
        let (_d, path) = model_file();
        bsp()
            .args(["gradcheck", &path, "--batch", "20"])
            .assert()
            .success()
            .stdout(contains("| bsp | 0 → 1 |").and(contains("| linearised | all |")));
        let out = bsp()
            .args(["gradcheck", &path, "--batch", "20", "--shuffle", "--json"])
            .output()
            .unwrap();
        assert!(out.status.success());
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["samples"], 20);
        let rows = v["comparisons"].as_array().unwrap();
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|r| r["cosine"].as_f64().unwrap() > 0.9));
    }

    #[test]
    fn gradcheck_reads_a_run_directory() {
        let (d, path) = model_file();
        let out = d.path().join("runs");
        bsp()
            .args([
                "run",
                &path,
                "-q",
                "--epochs",
                "1",
                "--out",
                out.to_str().unwrap(),
            ])
            .assert()
            .success();
        let run_dir = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let trained = bsp()
            .args([
                "gradcheck",
                &path,
                "--batch",
                "20",
                "--json",
                "--checkpoint",
            ])
            .arg(&run_dir)
            .output()
            .unwrap();
        let initial = bsp()
            .args(["gradcheck", &path, "--batch", "20", "--json"])
            .output()
            .unwrap();
        assert!(trained.status.success() && initial.status.success());
        let loss = |o: &std::process::Output| {
            serde_json::from_slice::<serde_json::Value>(&o.stdout).unwrap()["mean_loss"]
                .as_f64()
                .unwrap()
        };
        assert!(
            loss(&trained) < loss(&initial),
            "training did not lower the batch loss"
        );
    }

    #[test]
    fn gradcheck_bad_input_is_a_clear_error() {
        let (d, path) = model_file();
        for (args, fragment) in [
            (vec!["--batch", "0"], "--batch"),
            (
                vec!["--checkpoint", "/nonexistent/run"],
                "holds no checkpoint",
            ),
        ] {
            bsp()
                .args(["gradcheck", &path])
                .args(&args)
                .assert()
                .failure()
                .code(2)
                .stderr(contains(fragment).and(contains("panicked").not()));
        }
        // A checkpoint of another network.
        let other = d.path().join("other.yaml");
        std::fs::write(
            &other,
            super::common::synthetic_yaml("[6, 5, 4]", "connections", "softmax", 0.1),
        )
        .unwrap();
        let out = d.path().join("runs");
        bsp()
            .args([
                "run",
                other.to_str().unwrap(),
                "-q",
                "--epochs",
                "1",
                "--out",
            ])
            .arg(&out)
            .assert()
            .success();
        let run_dir = std::fs::read_dir(&out)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        bsp()
            .args(["gradcheck", &path, "--checkpoint"])
            .arg(&run_dir)
            .assert()
            .failure()
            .code(2)
            .stderr(contains("does not match the model"));
    }
}

/// `--gradcheck-every N` writes one row per rule and layer pair for every N-th batch, and
/// does not change the training.
#[test]
fn run_with_gradcheck_every_writes_gradcheck_csv_and_trains_the_same() {
    use bsp_sim::run::{run, RunOptions, Silent};
    let m = common::model(&common::synthetic_yaml(
        "[6, 8, 4]",
        "connections",
        "softmax",
        0.3,
    ));
    let dir = tempfile::tempdir().unwrap();
    let go = |every: Option<usize>| {
        let opts = RunOptions {
            epochs: Some(2),
            threads: Some(2),
            out: dir.path().to_path_buf(),
            gradcheck_every: every,
            ..RunOptions::default()
        };
        run(&m, &opts, &mut Silent).unwrap().run_dir
    };
    let (probed, plain) = (go(Some(5)), go(None));
    assert!(!plain.join("gradcheck.csv").exists());
    let csv = std::fs::read_to_string(probed.join("gradcheck.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines
        .next()
        .unwrap()
        .starts_with("epoch,batch,samples_before,rule,pair,cosine"));
    // 200 samples in batches of 10: batches 0, 5, 10, 15 of each of 2 epochs, 6 rows each.
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 4 * 6);
    assert_eq!((rows[6][0], rows[6][1], rows[6][2]), ("1", "5", "50"));
    for r in &rows {
        let cos: f64 = r[5].parse().unwrap();
        assert!(cos > 0.5 && cos <= 1.0, "{r:?}");
    }
    let weights = |d: &std::path::Path| {
        bsp_sim::checkpoint::Checkpoint::load(d)
            .unwrap()
            .0
            .projections
    };
    assert_eq!(weights(&probed), weights(&plain));
}
