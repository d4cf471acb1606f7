//! The synchronous engine's sparse input drive (layer 0 tabulated per input value, layer 1
//! driven from the nonzero inputs only) against the dense path it replaces, and the
//! update's skipping of zero presynaptic integrals against the dense sum.
//!
//! The tolerance: both paths integrate the same equations and differ only in the order in
//! which layer 1's drive is summed, so after ten minibatches of `models/mnist.yaml` every
//! coefficient agrees within `TOLERANCE` times the largest coefficient (measured: about 2e-7
//! after 40 minibatches), and the predictions are the same.

mod common;

use bsp_sim::data::Split;
use bsp_sim::engine::sync::SyncEngine;
use bsp_sim::engine::Engine;
use bsp_sim::learning::connections;
use bsp_sim::learning::limiter::atan;
use bsp_sim::progress::NoProgress;
use bsp_sim::run::{build_sync_engine, load_data};
use bsp_sim::topology::Projection;
use bsp_sim::Model;

/// Largest coefficient difference between the two paths, relative to the largest
/// coefficient.
const TOLERANCE: f32 = 1e-5;

fn mnist(overrides: &[(&str, &str)]) -> (Model, Split) {
    let set: Vec<_> = overrides
        .iter()
        .map(|(p, v)| bsp_sim::config::overrides::Override::new(p, v))
        .collect();
    let m = Model::load_with_overrides("models/mnist.yaml".as_ref(), &set).unwrap();
    let split = load_data(&m, m.seed, None, true, Some(500), Some(200), &NoProgress)
        .expect("MNIST under BSP_SIM_DATA");
    (m, split)
}

/// The engine after `batches` minibatches of the model's size, with or without the
/// sparse input drive.
fn trained(m: &Model, split: &Split, batches: usize, threads: usize, sparse: bool) -> SyncEngine {
    let mut e = build_sync_engine(m, m.seed, threads);
    e.set_sparse_input(sparse);
    assert_eq!(
        e.sparse_input(),
        sparse,
        "the sparse drive applies to this model"
    );
    let batch = m.training.batch_size;
    let order: Vec<usize> = (0..batches * batch)
        .map(|k| k % split.train.len())
        .collect();
    for b in order.chunks(batch) {
        e.train_batch(&split.train, b, m.training.lr).unwrap();
    }
    e
}

/// Largest |a - b| over the largest |b|.
fn relative_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let diff = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    let size = b.iter().map(|y| y.abs()).fold(0.0, f32::max);
    diff / size
}

fn assert_paths_agree(m: &Model, split: &Split, batches: usize) {
    let mut sparse = trained(m, split, batches, 2, true);
    let mut dense = trained(m, split, batches, 2, false);
    let (a, b) = (common::coefficients(&sparse), common::coefficients(&dense));
    let start = common::coefficients(&build_sync_engine(m, m.seed, 1));
    assert!(
        relative_difference(&b, &start) > 1e-3,
        "training moved the coefficients"
    );
    let d = relative_difference(&a, &b);
    assert!(d <= TOLERANCE, "sparse vs dense: relative difference {d}");
    let test: Vec<usize> = (0..split.test.len()).collect();
    let (ts, ps) = sparse.classify(&split.test, &test).unwrap();
    let (td, pd) = dense.classify(&split.test, &test).unwrap();
    assert_eq!(ps, pd, "same predictions");
    assert!(
        (ts.loss - td.loss).abs() <= 1e-4 * td.loss.abs(),
        "{ts:?} vs {td:?}"
    );
}

#[test]
fn sparse_and_dense_input_drives_agree_to_rounding_on_mnist() {
    let (m, split) = mnist(&[]);
    assert_paths_agree(&m, &split, 10);
}

#[test]
fn with_delayed_coupling_and_without_the_limiter_too() {
    let (m, split) = mnist(&[("integration.coupling", "delayed"), ("learning.kt", "0.0")]);
    assert_paths_agree(&m, &split, 6);
}

#[test]
fn continuous_inputs_take_the_sparse_drive_as_well() {
    // Nearly every nonzero pixel of a synthetic image is its own value: one group per input.
    let m = common::model(&common::synthetic_yaml(
        "[6, 5, 4]",
        "connections",
        "softmax",
        0.05,
    ));
    let split = common::data(&m);
    let mut values: Vec<u32> = split.train.images.iter().map(|p| p.to_bits()).collect();
    values.sort_unstable();
    values.dedup();
    assert!(values.len() > split.train.images.len() / 2);
    let a = common::coefficients(&trained(&m, &split, 8, 1, true));
    let b = common::coefficients(&trained(&m, &split, 8, 1, false));
    let d = relative_difference(&a, &b);
    assert!(d <= TOLERANCE, "relative difference {d}");
}

#[test]
fn the_sparse_drive_gives_the_same_numbers_at_any_thread_count() {
    let (m, split) = mnist(&[]);
    let one = common::coefficients(&trained(&m, &split, 2, 1, true));
    for threads in [2, 3] {
        let other = common::coefficients(&trained(&m, &split, 2, threads, true));
        assert!(
            one.iter()
                .zip(&other)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{threads} threads"
        );
    }
}

#[test]
fn the_limiter_update_skips_zero_integrals_bit_for_bit() {
    // 3 samples, 8 presynaptic neurons mostly at zero (the sparse branch), 2 postsynaptic.
    let (pre, post, rows) = (8, 2, 3);
    let pre_int: Vec<f32> = (0..rows * pre)
        .map(|k| {
            if k % 3 == 1 {
                0.37 * (k as f32) - 2.1
            } else {
                0.0
            }
        })
        .collect();
    let post_int = [0.8f32, -1.3, 2.2, 0.05, -0.7, 1.9];
    let c0: Vec<f32> = (0..pre * post).map(|k| 0.01 * k as f32 - 0.05).collect();
    let (scale, kt) = (0.003f32, 0.1f32);
    // The dense formula: per synapse, the atan terms summed in sample order, divided once.
    let mut expected = c0.clone();
    for j in 0..post {
        for i in 0..pre {
            let mut acc = 0.0f32;
            for r in 0..rows {
                acc += atan(kt * post_int[r * post + j] * pre_int[r * pre + i]);
            }
            expected[j * pre + i] += scale / kt * acc;
        }
    }
    for threads in [1, 2] {
        let mut p = Projection::Dense {
            pre,
            post,
            c: c0.clone(),
        };
        connections::update(&mut p, rows, &pre_int, &post_int, scale, kt, threads);
        let got = p.coefficients();
        assert!(
            got.iter()
                .zip(&expected)
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "{got:?} vs {expected:?}"
        );
        assert_ne!(got, &c0[..]);
    }
}

#[test]
fn method_one_leaves_the_sparse_drive_once_layer_zero_rates_differ() {
    let m = common::model(&common::synthetic_yaml(
        "[6, 5, 4]",
        "fixed_points",
        "softmax",
        0.05,
    ));
    let split = common::data(&m);
    let (mut sparse, mut dense) = (build_sync_engine(&m, 3, 2), build_sync_engine(&m, 3, 2));
    dense.set_sparse_input(false);
    assert!(
        sparse.sparse_input(),
        "every layer-0 neuron alike at the start"
    );
    let batch: Vec<usize> = (0..10).collect();
    for e in [&mut sparse, &mut dense] {
        e.train_batch(&split.train, &batch, m.training.lr).unwrap();
    }
    // Method 1 moved each layer-0 neuron's own K3: no table serves them all any more.
    let k3 = &sparse.neurons()[0].k3_out;
    assert!(k3.iter().any(|&k| k != k3[0]));
    assert!(!sparse.sparse_input());
    let (a, b) = (&sparse.neurons()[0].k3_out, &dense.neurons()[0].k3_out);
    let d = relative_difference(a, b);
    assert!(
        d <= TOLERANCE,
        "K3 after the sparse and the dense first batch: {d}"
    );
}
