//! Method 1 (fixed points): which sign of the K3 update lowers the loss, checked by finite
//! differences, for the paper's G1 and the reversed-trace-only variant.

mod common;

use bsp_sim::engine::Engine;
use bsp_sim::progress::NoProgress;
use bsp_sim::run::{build_engine, load_data};

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
