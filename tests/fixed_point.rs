//! Method 1 (fixed points): which sign of the K3 update lowers the loss, checked by finite
//! differences, for the paper's G1 and the reversed-trace-only variant; the exact adjoint of
//! every neuron rate (K1, K2, K3 per element, through the steps and the rest state) against
//! finite differences; the gradient rules of method 1 (`adjoint`, `linearised`) lowering the
//! loss at any thread count; and the gradient check's method-1 table.

mod common;

use bsp_sim::engine::Engine;
use bsp_sim::gradcheck::gradcheck;
use bsp_sim::learning::adjoint::{losses, run_batch, Mode, Net};
use bsp_sim::neuron::adjoint::{K1, K2, K3};
use bsp_sim::progress::NoProgress;
use bsp_sim::run::{build_engine, build_sync_engine, epoch_order, load_data};

fn setup(signal: &str) -> (bsp_sim::Model, bsp_sim::data::Split) {
    let yaml = common::synthetic_yaml("[6, 5, 4]", "fixed_points", "softmax", 0.05).replace(
        "epochs: 3}",
        &format!("epochs: 3, fixed_point_signal: {signal}}}"),
    );
    let m = common::model(&yaml);
    let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
    (m, split)
}

/// Finite-difference derivative of the batch loss with respect to each neuron's K3 of its
/// output element, and the update direction one method-1 step takes.
fn gradient_and_step(signal: &str) -> (Vec<f64>, Vec<f64>) {
    let (m, split) = setup(signal);
    let batch: Vec<usize> = (0..40).collect();
    let loss = |engine: &mut Box<dyn Engine>| engine.evaluate(&split.train, &batch).unwrap().loss;
    let mut engine = build_engine(&m, 3, 1).unwrap();
    let base: Vec<Vec<f32>> = engine.neurons().iter().map(|l| l.k3_out.clone()).collect();
    let mut grad = Vec::new();
    let h = 1e-2f32;
    for l in 0..base.len() {
        for j in 0..base[l].len() {
            let k = base[l][j];
            engine.neurons_mut()[l].set_k3_out(j, k + h).unwrap();
            let up = loss(&mut engine);
            engine.neurons_mut()[l].set_k3_out(j, k - h).unwrap();
            let down = loss(&mut engine);
            engine.neurons_mut()[l].set_k3_out(j, k).unwrap();
            grad.push((up - down) / (2.0 * h as f64));
        }
    }
    engine.train_batch(&split.train, &batch, 0.05).unwrap();
    let step: Vec<f64> = engine
        .neurons()
        .iter()
        .zip(&base)
        .flat_map(|(l, b)| {
            l.k3_out
                .iter()
                .zip(b)
                .map(|(a, b)| (a - b) as f64)
                .collect::<Vec<_>>()
        })
        .collect();
    (grad, step)
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (na * nb)
}

/// Lowering K3 raises the resting output; the reversed-trace signal moves K3 against the
/// loss gradient (a descent direction).
#[test]
fn reversed_signal_moves_k3_down_the_loss_gradient() {
    let (grad, step) = gradient_and_step("reversed");
    let c = cosine(&step, &grad.iter().map(|g| -g).collect::<Vec<_>>());
    assert!(c > 0.5, "cosine(step, -gradient) = {c}");
}

/// The paper's product G1 = ∫D ∫D̂ is still a descent direction overall here, but less
/// aligned: its sign flips for neurons whose own forward signal is negative.
#[test]
fn paper_signal_is_less_aligned_than_reversed_signal() {
    let (grad, step) = gradient_and_step("paper");
    let neg: Vec<f64> = grad.iter().map(|g| -g).collect();
    let paper = cosine(&step, &neg);
    let (grad_r, step_r) = gradient_and_step("reversed");
    let reversed = cosine(&step_r, &grad_r.iter().map(|g| -g).collect::<Vec<_>>());
    eprintln!("cosine with -gradient: paper {paper:.3}, reversed {reversed:.3}");
    assert!(paper < reversed, "paper {paper} vs reversed {reversed}");
}

/// −∂L/∂k from the adjoint (Exact mode, through every step and, by the implicit function
/// theorem, through the rest state each window starts from) equals central finite
/// differences of the loss in which the perturbed neuron's rest state is solved again, for
/// all fifteen rates of every neuron (layer 0 included), every integrator and both
/// couplings: relative error below 1e-6 in f64 (step 1e-6; a wrong derivative, or a
/// missing rest term, gives errors of order 1).
#[test]
fn rate_adjoint_matches_central_finite_differences() {
    let data = common::dataset(
        vec![
            vec![0.1, 0.9, 0.3, 0.0, 1.0, 0.5],
            vec![0.7, 0.2, 0.5, 0.8, 0.4, 0.0],
            vec![0.0, 0.0, 1.0, 0.6, 0.2, 0.9],
        ],
        vec![2, 0, 3],
        4,
    );
    let idx = [0, 1, 2];
    for method in ["euler", "semi_implicit", "rk4", "euler, coupling: delayed"] {
        let yaml = common::synthetic_yaml("[6, 5, 4]", "fixed_points", "softmax", 0.1)
            .replace(
                "integration: {dt: 0.1,",
                &format!("integration: {{method: {method}, dt: 0.1,"),
            )
            .replace("std: 1.0", "std: 2.5");
        let m = common::model(&yaml);
        let engine = build_sync_engine(&m, 5, 1);
        let net =
            Net::<f64>::new(&engine.settings, engine.projections(), engine.neurons()).with_rates();
        let b = run_batch(&net, &data, &idx, Mode::Exact, 2, &mut Vec::new()).unwrap();
        let loss = |n: &Net<f64>| losses(n, &data, &idx).unwrap().iter().sum::<f64>();
        let h = 1e-6;
        let (mut err, mut norm) = (0.0f64, 0.0f64);
        for (l, &n) in net.sizes().iter().enumerate() {
            for j in 0..n {
                for rate in [K1, K2, K3] {
                    for e in 0..5 {
                        let shifted = |d: f64| {
                            let mut p = net.clone();
                            p.perturb_rate(l, j, rate, e, d).unwrap();
                            loss(&p)
                        };
                        let fd = (shifted(h) - shifted(-h)) / (2.0 * h);
                        let descent: f64 =
                            (0..idx.len()).map(|r| b.rates[l][rate][e][r * n + j]).sum();
                        err += (descent + fd).powi(2);
                        norm += fd * fd;
                    }
                }
            }
        }
        let rel = (err / norm).sqrt();
        assert!(norm > 1e-6, "{method}: zero gradient");
        assert!(rel < 1e-6, "{method}: relative error {rel:e}");
    }
}

/// The synthetic [6, 8, 4] model for method 1 by a gradient rule.
fn k3_model(rule: &str, optimiser: &str) -> bsp_sim::Model {
    k3_model_kt(rule, optimiser, 0.0)
}

/// As [`k3_model`], with the limiter `kt`.
fn k3_model_kt(rule: &str, optimiser: &str, kt: f32) -> bsp_sim::Model {
    let yaml = common::synthetic_yaml("[6, 8, 4]", "fixed_points", "softmax", 0.0).replace(
        "method: fixed_points,",
        &format!("method: fixed_points, rule: {rule}, kt: {kt}, optimiser: {optimiser},"),
    );
    common::model(&yaml)
}

/// With the limiter on (kt > 0, per sample), the local rule's K3 is still the same at 1
/// and 2 threads, plain steps and adam.
#[test]
fn method_one_with_the_limiter_gives_the_same_k3_at_any_thread_count() {
    for optimiser in ["{kind: sgd}", "{kind: adam}"] {
        let m = k3_model_kt("linearised", optimiser, 0.5);
        let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
        let mut one = build_sync_engine(&m, 3, 1);
        train_k3(&mut one, &split, 0.03, 0, 2);
        let mut two = build_sync_engine(&m, 3, 2);
        train_k3(&mut two, &split, 0.03, 0, 2);
        assert_eq!(k3s(&one), k3s(&two), "{optimiser}: K3 differs at 2 threads");
        let base = build_sync_engine(&m, 3, 1);
        assert_ne!(k3s(&one), k3s(&base), "{optimiser}: K3 did not move");
    }
}

/// Trains K3 alone for `epochs` epochs from `engine`'s state (epoch numbers from `first`);
/// returns the training-set loss after.
fn train_k3(
    engine: &mut dyn Engine,
    split: &bsp_sim::data::Split,
    lr: f32,
    first: usize,
    epochs: usize,
) -> f64 {
    for epoch in first..first + epochs {
        for batch in epoch_order(3, epoch, split.train.len()).chunks(10) {
            engine.train_batch(&split.train, batch, lr).unwrap();
        }
    }
    let all: Vec<usize> = (0..split.train.len()).collect();
    engine.evaluate(&split.train, &all).unwrap().mean_loss()
}

fn k3s(engine: &dyn Engine) -> Vec<u32> {
    engine
        .neurons()
        .iter()
        .flat_map(|l| l.k3_out.iter().map(|k| k.to_bits()))
        .collect()
}

/// Descent on ln K3 lowers the training loss, exactly (`adjoint`) and locally (`linearised`,
/// whose G1 is the same direction scaled by T / beta), with plain steps and with the
/// per-neuron adam; the same K3 at any thread count.
#[test]
fn method_one_gradient_rules_lower_the_loss_at_any_thread_count() {
    let adam = "{kind: adam, beta1: 0.9, beta2: 0.999, eps: 1.0e-8}";
    for (rule, optimiser, lr, drop) in [
        ("adjoint", "{kind: sgd}", 0.03, 0.003),
        ("linearised", "{kind: sgd}", 0.03, 0.003),
        ("linearised", adam, 0.03, 0.003),
    ] {
        let m = k3_model(rule, optimiser);
        let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
        let mut engine = build_sync_engine(&m, 3, 1);
        let all: Vec<usize> = (0..split.train.len()).collect();
        let before = engine.evaluate(&split.train, &all).unwrap().mean_loss();
        let after = train_k3(&mut engine, &split, lr, 0, 5);
        assert!(
            after < before - drop,
            "{rule} {optimiser}: training loss {before} -> {after}"
        );
        let mut other = build_sync_engine(&m, 3, 3);
        train_k3(&mut other, &split, lr, 0, 5);
        assert_eq!(k3s(&engine), k3s(&other), "{rule}: K3 differs at 3 threads");
    }
}

/// The per-neuron adam state of method 1 goes through a checkpoint: two epochs in one go
/// give the same K3 as one epoch, a save of K3 and moments, a fresh engine restored from
/// them, and a second epoch.
#[test]
fn method_one_optimiser_state_survives_a_restore() {
    let m = k3_model(
        "linearised",
        "{kind: adam, beta1: 0.9, beta2: 0.999, eps: 1.0e-8}",
    );
    let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
    let mut straight = build_sync_engine(&m, 3, 1);
    train_k3(&mut straight, &split, 0.03, 0, 2);
    let mut first = build_sync_engine(&m, 3, 1);
    train_k3(&mut first, &split, 0.03, 0, 1);
    let state = first.optimiser_state().cloned().expect("adam keeps state");
    let mut resumed = build_sync_engine(&m, 3, 1);
    for (l, n) in resumed.neurons_mut().iter_mut().enumerate() {
        n.restore(&first.neurons()[l].state()).unwrap();
    }
    resumed.set_optimiser_state(state).unwrap();
    train_k3(&mut resumed, &split, 0.03, 1, 1);
    assert_eq!(k3s(&straight), k3s(&resumed));
}

/// `bsp-sim gradcheck` on a method-1 model compares the rules' ln K3 changes with the
/// exact −∂L/∂ln K3: the linearised rule is that direction (cosine 1, norm ratio T / beta =
/// 1), the self-check along it agrees with finite differences, and a method-2 model has no
/// such table.
#[test]
fn gradcheck_of_method_one_compares_k3_updates_with_the_gradient() {
    let (m, split) = setup("paper");
    let mut engine = build_sync_engine(&m, 3, 2);
    let idx: Vec<usize> = (0..40).collect();
    let r = gradcheck("test", &mut engine, &split.train, &idx, 2).unwrap();
    let fd = r.k3_finite_difference_error.unwrap();
    assert!(fd < 1e-4, "finite-difference check {fd}");
    assert_eq!(r.k3_gradient_norms.len(), 3);
    assert_eq!(r.k3_comparisons.len(), 3 * 4);
    for c in &r.k3_comparisons {
        if c.rule == "linearised" {
            assert!(c.cosine > 0.999_999, "{:?}: cosine {}", c.pair, c.cosine);
            assert!(
                (c.norm_ratio - 1.0).abs() < 1e-6,
                "{:?}: {}",
                c.pair,
                c.norm_ratio
            );
        }
    }
    assert!(r.to_markdown().contains("| bsp (paper) | all |"));
    let connections = common::model(&common::synthetic_yaml(
        "[6, 5, 4]",
        "connections",
        "softmax",
        0.1,
    ));
    let mut engine = build_sync_engine(&connections, 3, 2);
    let r = gradcheck("test", &mut engine, &split.train, &idx, 2).unwrap();
    assert!(r.k3_comparisons.is_empty() && r.k3_finite_difference_error.is_none());
}
