//! The per-synapse optimiser (`learning.optimiser`) on the asynchronous engine: it learns,
//! it gives the same numbers at any thread count (dense and sparse, pipelined, with delays
//! and send-on-delta), without overlap it is the synchronous engine's optimiser, and
//! `--resume` continues its moments exactly.

mod common;

use common::{coefficients, data, train_samples as train};

use bsp_sim::run::build_engine;
use bsp_sim::Model;

const ADAM: &str = "{kind: adam, beta1: 0.9, beta2: 0.999, eps: 1.0e-8}";
const MOMENTUM: &str = "{kind: momentum, beta: 0.9}";

/// Send-on-delta, jittered delays, pipelining (several samples in flight, so minibatches
/// overlap their optimiser steps), as `tests/event.rs` exercises the plain update.
const BUSY: &str = "{theta: 0.02, theta_backward: 0.002, delay: {kind: uniform, low: 0.0, high: 0.35}, sample_interval: 3.0, max_in_flight: 6}";

/// The synthetic [6, 8, 4] model with `coupling: delayed`, `rule`, `optimiser`, minibatches
/// of 5 and learning rate `lr`, on `engine` with its `async` section.
fn yaml(engine: &str, async_yaml: &str, rule: &str, optimiser: &str, lr: f32) -> String {
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", lr)
        .replace(
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0}",
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0, coupling: delayed}",
        )
        .replace(
            "batch_size: 10,",
            &format!("batch_size: 5, kt: 0.1, rule: {rule}, optimiser: {optimiser},"),
        );
    format!("{yaml}engine: {engine}\nasync: {async_yaml}\n")
}

fn model(engine: &str, async_yaml: &str, rule: &str, optimiser: &str, lr: f32) -> Model {
    common::model(&yaml(engine, async_yaml, rule, optimiser, lr))
}

#[test]
fn async_adam_lowers_the_loss() {
    let m = model(
        "async",
        "{theta: 0.005, theta_backward: 0.0005, delay: {kind: fixed, value: 0.1}}",
        "linearised",
        ADAM,
        0.01,
    );
    let split = data(&m);
    let mut e = build_engine(&m, 3, 2).unwrap();
    let test: Vec<usize> = (0..split.test.len()).collect();
    let before = e.evaluate(&split.test, &test).unwrap();
    train(e.as_mut(), &m, &split, 400);
    let after = e.evaluate(&split.test, &test).unwrap();
    assert!(
        after.mean_loss() < before.mean_loss() - 0.1,
        "loss {} -> {}",
        before.mean_loss(),
        after.mean_loss()
    );
    assert!(after.accuracy() > before.accuracy() + 0.1);
    let state = e.optimiser_state().expect("adam keeps moments");
    assert_eq!(state.step, 80, "400 samples / batch 5 = 80 steps");
    assert!(state.v.iter().flatten().all(|&v| v >= 0.0));
    assert!(state.v.iter().flatten().any(|&v| v > 0.0));
}

#[test]
fn same_numbers_at_any_thread_count_for_every_optimiser_rule_and_wiring() {
    for (rule, opt, wiring) in [
        ("linearised", ADAM, "full"),
        ("bsp", ADAM, "full"),
        ("bsp", MOMENTUM, "full"),
        ("linearised", ADAM, "random, fan_in: 3"),
        ("bsp", MOMENTUM, "random, fan_in: 3"),
    ] {
        let text = yaml("async", BUSY, rule, opt, 0.01)
            .replace("[{kind: full}]", &format!("[{{kind: {wiring}}}]"));
        let m = common::model(&text);
        let split = data(&m);
        let mut runs = Vec::new();
        for threads in [1, 2, 3] {
            let mut e = build_engine(&m, 3, threads).unwrap();
            let start = coefficients(e.as_ref());
            train(e.as_mut(), &m, &split, 120);
            let eval = e
                .evaluate(&split.test, &(0..50).collect::<Vec<_>>())
                .unwrap();
            let state = e.optimiser_state().cloned();
            runs.push((start, coefficients(e.as_ref()), e.counters(), eval, state));
        }
        let what = format!("{rule} {opt} {wiring}");
        assert!(runs[0].0 != runs[0].1, "{what}: did not train");
        for r in &runs[1..] {
            assert!(r.1 == runs[0].1, "{what}: coefficients depend on threads");
            assert_eq!(r.2, runs[0].2, "{what}: counts depend on threads");
            assert_eq!(r.3, runs[0].3, "{what}: evaluation depends on threads");
            assert!(r.4 == runs[0].4, "{what}: moments depend on threads");
        }
    }
}

#[test]
fn without_overlap_async_adam_is_the_synchronous_engines_adam() {
    // theta 0, no delay, a sample starts after the previous one's update: every sample of a
    // minibatch sees the same C, and the batch's last sample steps every synapse on the
    // batch-mean G2 as the synchronous barrier does (summed per sample instead of per
    // batch, so the engines agree to rounding, not bit for bit: 2e-7 measured).
    let quiet = "{theta: 0.0, sample_interval: 100.0}";
    let sync = model("sync", quiet, "linearised", ADAM, 0.003);
    let asyn = model("async", quiet, "linearised", ADAM, 0.003);
    let split = data(&sync);
    let mut s = build_engine(&sync, 3, 1).unwrap();
    let mut a = build_engine(&asyn, 3, 2).unwrap();
    let start = coefficients(s.as_ref());
    assert_eq!(start, coefficients(a.as_ref()), "same initial C");
    train(s.as_mut(), &sync, &split, 100);
    train(a.as_mut(), &asyn, &split, 100);
    let (cs, ca) = (coefficients(s.as_ref()), coefficients(a.as_ref()));
    let moved = common::max_diff(&cs, &start);
    let diff = common::max_diff(&cs, &ca);
    // 20 adam steps of lr 0.003 move a synapse by up to 0.06.
    assert!(moved > 0.02, "training moved the weights by only {moved}");
    assert!(diff < 1e-5, "weights differ by {diff} (moved {moved})");
    let (ms, ma) = (s.optimiser_state().unwrap(), a.optimiser_state().unwrap());
    assert_eq!(ms.step, ma.step);
    common::assert_same_test_loss(s.as_mut(), a.as_mut(), &split, "adam");
}

#[test]
fn an_async_adam_run_resumes_exactly() {
    let m = model("async", BUSY, "linearised", ADAM, 0.003);
    let dir = tempfile::tempdir().unwrap();
    let (a, b, one) = common::straight_and_resumed(&m, dir.path(), 3, 2);
    let state = one.optimiser.expect("the checkpoint keeps the moments");
    assert_eq!(state.step, 40, "200 samples / batch 5 = 40 steps");
    assert!(state.v.iter().flatten().any(|&v| v > 0.0));
    assert_eq!(b.epochs_done, 3);
    assert!(
        a.projections == b.projections,
        "weights differ after resume"
    );
    assert_eq!(a.optimiser, b.optimiser, "moments differ after resume");
    assert_eq!(a.metrics[2].test_loss, b.metrics[2].test_loss);
    // Without the moments the resumed run would restart Adam: the weights would differ.
    let c = common::resumed_without_moments(&m, dir.path(), 3, 2);
    assert!(a.projections != c.projections, "the moments had no effect");
}

#[test]
fn the_validation_accepts_an_optimiser_on_the_asynchronous_engine() {
    for (opt, name) in [
        (ADAM, "adam"),
        (MOMENTUM, "momentum"),
        ("{kind: adam}", "adam"),
    ] {
        let m = model("async", BUSY, "linearised", opt, 0.01);
        assert_eq!(m.settings.optimiser.name(), name);
    }
    // Method 1's per-neuron optimiser (on ln K3) too (tests/fixed_point_async.rs).
    let text = yaml("async", BUSY, "bsp", ADAM, 0.01)
        .replace("method: connections", "method: fixed_points");
    let m = common::model(&text);
    assert_eq!(m.settings.optimiser.name(), "adam");
}
