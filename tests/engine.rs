//! The synchronous engine against a neuron-by-neuron reference simulation, its
//! thread-count independence, learning that lowers the loss, and predictions that agree
//! with the accuracy on both engines.

mod common;

use bsp_sim::config::OutputError;
use bsp_sim::neuron::{step_one, Integrator, System};
use bsp_sim::progress::NoProgress;
use bsp_sim::run::{build_engine, load_data};
use bsp_sim::topology::Projection;

fn dense(p: &Projection) -> (usize, usize, Vec<f32>) {
    match p {
        Projection::Dense { pre, post, c } => (*pre, *post, c.clone()),
        _ => panic!("expected a dense projection"),
    }
}

/// Forward and backward windows and the method-2 update, one neuron at a time with the
/// single-neuron integrator: an independent implementation of bsp-model.md §3-4.
fn reference_update(
    model: &bsp_sim::Model,
    weights: &[(usize, usize, Vec<f32>)],
    images: &[Vec<f32>],
    labels: &[u8],
    lr: f32,
) -> Vec<Vec<f32>> {
    let f = model.file();
    let p = &model.neuron;
    let (dt, steps) = (
        f.integration.dt,
        (f.integration.forward_window / f.integration.dt).round() as usize,
    );
    let (inp, out) = (p.input.index(), p.output.index());
    let cf = p.coefficients(System::Forward);
    let cr = p.coefficients(System::Reversed);
    let sizes = &f.network.layers;
    let err = OutputError {
        kind: f.error.kind,
        beta: f.error.beta,
        amplitude: f.error.target_amplitude,
    };
    let mut delta: Vec<Vec<f32>> = weights
        .iter()
        .map(|(pre, post, _)| vec![0.0; pre * post])
        .collect();
    for (img, &label) in images.iter().zip(labels) {
        // Forward window.
        let mut x: Vec<Vec<[f32; 5]>> = sizes.iter().map(|&n| vec![p.rest; n]).collect();
        let mut d: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let mut int: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        for _ in 0..steps {
            for l in 0..sizes.len() {
                for j in 0..sizes[l] {
                    let current = if l == 0 {
                        f.input.gain * img[j]
                    } else {
                        let (pre, _, c) = &weights[l - 1];
                        (0..*pre).map(|i| c[j * pre + i] * d[l - 1][i]).sum()
                    };
                    let mut u = [0.0; 5];
                    u[inp] = current;
                    x[l][j] = step_one(
                        &cf,
                        System::Forward,
                        &x[l][j],
                        &u,
                        dt,
                        Integrator::Euler,
                        true,
                    );
                    d[l][j] = x[l][j][out] - p.rest[out];
                    int[l][j] += dt * d[l][j];
                }
            }
        }
        let last = sizes.len() - 1;
        let y: Vec<f32> = int[last].iter().map(|v| v / (steps as f32 * dt)).collect();
        let mut e = vec![0.0; sizes[last]];
        err.error(&y, label as usize, &mut e);
        // Backward window through the reversed systems.
        let mut xr: Vec<Vec<[f32; 5]>> = sizes.iter().map(|&n| vec![p.rest_reversed; n]).collect();
        let mut dr: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        let mut intr: Vec<Vec<f32>> = sizes.iter().map(|&n| vec![0.0; n]).collect();
        for _ in 0..steps {
            for l in (1..sizes.len()).rev() {
                for i in 0..sizes[l] {
                    let current = if l == last {
                        e[i]
                    } else {
                        let (_, post, c) = &weights[l];
                        let pre = sizes[l];
                        (0..*post).map(|j| c[j * pre + i] * dr[l + 1][j]).sum()
                    };
                    let mut u = [0.0; 5];
                    u[out] = current;
                    xr[l][i] = step_one(
                        &cr,
                        System::Reversed,
                        &xr[l][i],
                        &u,
                        dt,
                        Integrator::Euler,
                        true,
                    );
                    dr[l][i] = xr[l][i][inp] - p.rest_reversed[inp];
                    intr[l][i] += dt * dr[l][i];
                }
            }
        }
        for (l, (pre, post, _)) in weights.iter().enumerate() {
            for j in 0..*post {
                for i in 0..*pre {
                    delta[l][j * pre + i] += int[l][i] * intr[l + 1][j];
                }
            }
        }
    }
    weights
        .iter()
        .zip(delta)
        .map(|((_, _, c), dc)| {
            c.iter()
                .zip(dc)
                .map(|(c, g)| c + lr / images.len() as f32 * g)
                .collect()
        })
        .collect()
}

#[test]
fn method_2_update_matches_reference_simulation() {
    for error in ["softmax", "squared"] {
        let m = common::model(&common::synthetic_yaml(
            "[5, 4, 3]",
            "connections",
            error,
            0.05,
        ));
        let mut engine = build_engine(&m, 11, 2).unwrap();
        let before: Vec<_> = engine.projections().iter().map(dense).collect();
        let images = vec![
            vec![0.1, 0.9, 0.3, 0.0, 1.0],
            vec![0.7, 0.2, 0.5, 0.8, 0.4],
            vec![0.0, 0.0, 1.0, 0.6, 0.2],
        ];
        let labels = vec![2, 0, 1];
        let data = common::dataset(images.clone(), labels.clone(), 3);
        engine.train_batch(&data, &[0, 1, 2], 0.05).unwrap();
        let expected = reference_update(&m, &before, &images, &labels, 0.05);
        for (l, (p, want)) in engine.projections().iter().zip(&expected).enumerate() {
            let (_, _, got) = dense(p);
            let moved: f32 = before[l]
                .2
                .iter()
                .zip(&got)
                .map(|(a, b)| (a - b).abs())
                .sum();
            assert!(moved > 1e-4, "{error}: layer pair {l} did not learn");
            for (k, (g, w)) in got.iter().zip(want).enumerate() {
                assert!(
                    (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                    "{error}: pair {l} synapse {k}: {g} vs {w}"
                );
            }
        }
    }
}

fn train_and_collect(threads: usize) -> Vec<Vec<f32>> {
    let m = common::model(&common::synthetic_yaml(
        "[6, 7, 5, 4]",
        "connections",
        "softmax",
        0.01,
    ));
    let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
    let mut engine = build_engine(&m, 3, threads).unwrap();
    let order = bsp_sim::run::epoch_order(3, 0, split.train.len());
    for batch in order.chunks(10) {
        engine.train_batch(&split.train, batch, 0.01).unwrap();
    }
    let test: Vec<usize> = (0..split.test.len()).collect();
    let t = engine.evaluate(&split.test, &test).unwrap();
    let mut out: Vec<Vec<f32>> = engine
        .projections()
        .iter()
        .map(|p| p.coefficients().to_vec())
        .collect();
    // The evaluation's loss sum (split into two f32s, so every bit counts) and its count.
    let hi = t.loss as f32;
    out.push(vec![hi, (t.loss - hi as f64) as f32, t.correct as f32]);
    out
}

#[test]
fn same_seed_same_weights_at_any_thread_count() {
    let one = train_and_collect(1);
    for threads in [2, 3, 4] {
        let other = train_and_collect(threads);
        assert!(
            one.iter()
                .flatten()
                .zip(other.iter().flatten())
                .all(|(a, b)| a.to_bits() == b.to_bits()),
            "weights differ between 1 and {threads} threads"
        );
    }
}

#[test]
fn training_lowers_the_loss_and_beats_chance() {
    // The time-varying error also pushes during the window's rise, when D(t) is still near
    // zero, so it takes a smaller rate (at 0.5 it runs away).
    for (error, backward, lr) in [
        ("softmax", "constant", 0.5),
        ("squared", "constant", 0.5),
        ("softmax", "time_varying", 0.1),
    ] {
        let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", error, lr).replace(
            "beta: 3.0}",
            &format!("beta: 3.0, backward_input: {backward}}}"),
        );
        let m = common::model(&yaml);
        let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
        let mut engine = build_engine(&m, 3, 2).unwrap();
        let test: Vec<usize> = (0..split.test.len()).collect();
        let before = engine.evaluate(&split.test, &test).unwrap();
        for epoch in 0..5 {
            let order = bsp_sim::run::epoch_order(3, epoch, split.train.len());
            for batch in order.chunks(10) {
                engine.train_batch(&split.train, batch, lr).unwrap();
            }
        }
        let after = engine.evaluate(&split.test, &test).unwrap();
        assert!(
            after.mean_loss() < 0.8 * before.mean_loss(),
            "{error}/{backward}: test loss {} -> {}",
            before.mean_loss(),
            after.mean_loss()
        );
        assert!(
            after.accuracy() > 0.5,
            "{error}/{backward}: accuracy {} (chance 0.25)",
            after.accuracy()
        );
    }
}

/// In the reversed units' linear range the update does not depend on the injected error
/// amplitude: `error.scale` is divided out again.
#[test]
fn error_scale_is_divided_out_in_the_linear_range() {
    let update = |scale: f32| {
        let yaml = common::synthetic_yaml("[5, 4, 3]", "connections", "softmax", 0.05).replace(
            "error: {kind: softmax, beta: 3.0}",
            &format!("error: {{kind: softmax, beta: 3.0, scale: {scale}}}"),
        );
        let m = common::model(&yaml);
        let mut engine = build_engine(&m, 11, 1).unwrap();
        let before = engine.projections()[1].coefficients().to_vec();
        let data = common::dataset(
            vec![vec![0.1, 0.9, 0.3, 0.0, 1.0], vec![0.7, 0.2, 0.5, 0.8, 0.4]],
            vec![2, 0],
            3,
        );
        engine.train_batch(&data, &[0, 1], 0.05).unwrap();
        let after = engine.projections()[1].coefficients().to_vec();
        after
            .iter()
            .zip(&before)
            .map(|(a, b)| a - b)
            .collect::<Vec<f32>>()
    };
    let (small, smaller) = (update(0.01), update(0.001));
    for (a, b) in small.iter().zip(&smaller) {
        assert!((a - b).abs() <= 0.02 * a.abs().max(1e-6), "{a} vs {b}");
    }
    // At scale 1 the reversed units are already measurably nonlinear.
    let unit = update(1.0);
    assert!(unit
        .iter()
        .zip(&small)
        .any(|(a, b)| (a - b).abs() > 0.02 * b.abs()));
}

/// `classify` is `evaluate` with the predictions: the same tally on both engines, one
/// prediction per sample, and exactly `correct` of them equal to the label.
#[test]
fn classify_predicts_what_evaluate_counts_on_both_engines() {
    for engine_name in ["sync", "async"] {
        let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.5)
            + &format!("engine: {engine_name}\n");
        let m = common::model(&yaml);
        let split = load_data(&m, 3, None, true, None, None, &NoProgress).unwrap();
        let mut engine = build_engine(&m, 3, 2).unwrap();
        for batch in bsp_sim::run::epoch_order(3, 0, split.train.len()).chunks(10) {
            engine.train_batch(&split.train, batch, 0.5).unwrap();
        }
        engine.finish().unwrap();
        let test: Vec<usize> = (0..split.test.len()).collect();
        let tally = engine.evaluate(&split.test, &test).unwrap();
        let (again, predicted) = engine.classify(&split.test, &test).unwrap();
        assert_eq!(tally, again, "{engine_name}");
        assert_eq!(predicted.len(), test.len(), "{engine_name}");
        let correct = test
            .iter()
            .zip(&predicted)
            .filter(|(&i, &p)| split.test.labels[i] as usize == p)
            .count();
        assert_eq!(correct, tally.correct, "{engine_name}");
        assert!(predicted.iter().all(|&p| p < 4), "{engine_name}");
    }
}
