//! Method 1 (each neuron moves its own K3) on the asynchronous engine by the local
//! `linearised` rule and with a per-neuron optimiser: without overlap it is the synchronous
//! engine's method 1; pipelined, it gives the same K3 at any thread count; it lowers the
//! loss; and a run resumes exactly with its per-neuron moments.

mod common;

use common::{data, train_samples as train};

use bsp_sim::engine::Engine;
use bsp_sim::run::build_engine;
use bsp_sim::Model;

const ADAM: &str = "{kind: adam, beta1: 0.9, beta2: 0.999, eps: 1.0e-8}";
const SGD: &str = "{kind: sgd}";

/// Send-on-delta, jittered delays and several samples in flight.
const BUSY: &str = "{theta: 0.02, theta_backward: 0.002, delay: {kind: uniform, low: 0.0, high: 0.35}, sample_interval: 3.0, max_in_flight: 6}";

/// One sample at a time, every step an event, no delay: the synchronous engine with
/// `coupling: delayed`, up to rounding.
const QUIET: &str = "{theta: 0.0, sample_interval: 100.0}";

/// The synthetic [6, 8, 4] method-1 model with `coupling: delayed`, `rule`, `optimiser`,
/// minibatches of 5, the limiter `kt` and learning rate `lr`, on `engine`.
fn yaml(engine: &str, async_yaml: &str, rule: &str, optimiser: &str, kt: f32, lr: f32) -> String {
    let yaml = common::synthetic_yaml("[6, 8, 4]", "fixed_points", "softmax", lr)
        .replace(
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0}",
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0, coupling: delayed}",
        )
        .replace(
            "batch_size: 10,",
            &format!("batch_size: 5, kt: {kt}, rule: {rule}, optimiser: {optimiser},"),
        );
    format!("{yaml}engine: {engine}\nasync: {async_yaml}\n")
}

fn model(engine: &str, async_yaml: &str, rule: &str, optimiser: &str, lr: f32) -> Model {
    common::model(&yaml(engine, async_yaml, rule, optimiser, 0.0, lr))
}

/// ln K3 of every neuron's output element, layer after layer.
fn ln_k3(e: &dyn Engine) -> Vec<f32> {
    e.neurons()
        .iter()
        .flat_map(|l| l.k3_out.iter().map(|k| k.ln()))
        .collect()
}

#[test]
fn without_overlap_async_method_one_is_the_synchronous_engines() {
    // One sample at a time: every sample of a minibatch sees the same K3, each neuron's
    // replay is the batched reverse pass of that neuron, and the minibatch's last sample
    // steps every neuron on the batch's summed direction as the synchronous barrier does
    // (summed per sample, so the engines agree to rounding, not bit for bit).
    for (optimiser, lr, batch) in [(ADAM, 0.03, 5), (SGD, 0.3, 1)] {
        let build = |engine: &str| {
            common::model(
                &yaml(engine, QUIET, "linearised", optimiser, 0.0, lr)
                    .replace("batch_size: 5,", &format!("batch_size: {batch},")),
            )
        };
        let (sync, asyn) = (build("sync"), build("async"));
        let split = data(&sync);
        let mut s = build_engine(&sync, 3, 1).unwrap();
        let mut a = build_engine(&asyn, 3, 2).unwrap();
        let start = ln_k3(s.as_ref());
        assert_eq!(start, ln_k3(a.as_ref()), "same initial K3");
        train(s.as_mut(), &sync, &split, 60);
        train(a.as_mut(), &asyn, &split, 60);
        let (ks, ka) = (ln_k3(s.as_ref()), ln_k3(a.as_ref()));
        let moved = common::max_diff(&ks, &start);
        let diff = common::max_diff(&ks, &ka);
        assert!(moved > 0.02, "{optimiser}: ln K3 moved by only {moved}");
        assert!(
            diff < 1e-4 * moved.max(1.0),
            "{optimiser}: ln K3 differs by {diff} (moved {moved})"
        );
        assert_eq!(
            s.optimiser_state().map(|o| o.step),
            a.optimiser_state().map(|o| o.step)
        );
        common::assert_same_test_loss(s.as_mut(), a.as_mut(), &split, optimiser);
    }
}

#[test]
fn pipelined_method_one_gives_the_same_k3_at_any_thread_count() {
    for (rule, optimiser, kt) in [
        ("linearised", ADAM, 0.0),
        ("linearised", SGD, 0.5),
        ("bsp", ADAM, 0.1),
    ] {
        let m = common::model(&yaml("async", BUSY, rule, optimiser, kt, 0.03));
        let split = data(&m);
        let mut runs = Vec::new();
        for threads in [1, 2, 3] {
            let mut e = build_engine(&m, 3, threads).unwrap();
            let start = ln_k3(e.as_ref());
            train(e.as_mut(), &m, &split, 60);
            let eval = e
                .evaluate(&split.test, &(0..40).collect::<Vec<_>>())
                .unwrap();
            let state = e.optimiser_state().cloned();
            let k3: Vec<u32> = ln_k3(e.as_ref()).iter().map(|k| k.to_bits()).collect();
            runs.push((start != ln_k3(e.as_ref()), k3, e.counters(), eval, state));
        }
        let what = format!("{rule} {optimiser}");
        assert!(runs[0].0, "{what}: K3 did not move");
        for r in &runs[1..] {
            assert!(r.1 == runs[0].1, "{what}: K3 depends on threads");
            assert_eq!(r.2, runs[0].2, "{what}: counts depend on threads");
            assert_eq!(r.3, runs[0].3, "{what}: evaluation depends on threads");
            assert!(r.4 == runs[0].4, "{what}: moments depend on threads");
        }
    }
}

#[test]
fn async_method_one_by_the_local_rule_lowers_the_loss() {
    let m = model("async", BUSY, "linearised", ADAM, 0.03);
    let split = data(&m);
    let mut e = build_engine(&m, 3, 2).unwrap();
    let all: Vec<usize> = (0..split.train.len()).collect();
    let before = e.evaluate(&split.train, &all).unwrap().mean_loss();
    train(e.as_mut(), &m, &split, 600);
    let after = e.evaluate(&split.train, &all).unwrap().mean_loss();
    // The synchronous engine on the same samples, for scale: K3 alone on fixed random C
    // moves this loss little (tests/fixed_point.rs asks 0.003 of it).
    let sync = model("sync", BUSY, "linearised", ADAM, 0.03);
    let mut s = build_engine(&sync, 3, 2).unwrap();
    train(s.as_mut(), &sync, &split, 600);
    let reference = s.evaluate(&split.train, &all).unwrap().mean_loss();
    assert!(after < before - 0.003, "training loss {before} -> {after}");
    assert!(
        before - after > 0.5 * (before - reference),
        "async lowered the loss by {}, sync by {}",
        before - after,
        before - reference
    );
    let state = e.optimiser_state().expect("adam keeps per-neuron moments");
    assert_eq!(state.step, 120, "600 samples / batch 5 = 120 steps");
    assert_eq!(state.v.len(), 3, "one group of moments per layer");
    assert!(state.v.iter().flatten().any(|&v| v > 0.0));
}

#[test]
fn an_async_method_one_run_resumes_exactly_with_its_moments() {
    let m = model("async", BUSY, "linearised", ADAM, 0.03);
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = common::straight_and_resumed(&m, dir.path(), 2, 2);
    assert_eq!(b.epochs_done, 2);
    assert!(a.neurons == b.neurons, "K3 differs after resume");
    assert_eq!(a.optimiser, b.optimiser, "moments differ after resume");
    assert_eq!(a.metrics[1].test_loss, b.metrics[1].test_loss);
    // Without the moments the resumed run would restart adam: K3 would differ.
    let c = common::resumed_without_moments(&m, dir.path(), 2, 2);
    assert!(a.neurons != c.neurons, "the moments had no effect");
}

#[test]
fn the_exact_gradient_of_method_one_stays_off_the_asynchronous_engine() {
    // `adjoint` reads the whole network (not local): the actors cannot run it.
    let text = yaml("async", BUSY, "adjoint", ADAM, 0.0, 0.03);
    let e = Model::from_yaml(&text, None).unwrap_err().to_string();
    assert!(e.contains("learning.rule") && e.contains("adjoint"), "{e}");
    model("async", BUSY, "linearised", ADAM, 0.03);
    model("async", BUSY, "bsp", ADAM, 0.03);
}
