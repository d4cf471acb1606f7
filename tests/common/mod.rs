//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::data::{Dataset, Split};
use bsp_sim::engine::Engine;
use bsp_sim::run::{run, RunOptions, Silent};
use bsp_sim::Model;

/// A model from YAML text; panics with the error if it does not validate.
pub fn model(yaml: &str) -> Model {
    Model::from_yaml(yaml, None).unwrap_or_else(|e| panic!("test model: {e}"))
}

/// A small synthetic model: `layers`, full wiring, softmax error, the given extra YAML.
pub fn synthetic_yaml(layers: &str, method: &str, error: &str, lr: f32) -> String {
    format!(
        r#"
name: test
seed: 3
data:
  dataset: synthetic
  synthetic: {{classes: 4, dim: 6, train: 200, test: 100, noise: 0.3}}
network:
  layers: {layers}
  connectivity: [{{kind: full}}]
  init: {{distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}}
integration: {{dt: 0.1, forward_window: 3.0, backward_window: 3.0}}
error: {{kind: {error}, beta: 3.0}}
learning: {{method: {method}, lr: {lr}, batch_size: 10, epochs: 3}}
"#
    )
}

/// The synthetic [6, 8, 4] model on the synchronous engine with `rule`, limiter `kt`,
/// batches of 5, `optimiser` (YAML flow mapping, or "" for none) and `extra` learning fields.
pub fn optimiser_yaml(rule: &str, kt: f32, optimiser: &str, lr: f32, extra: &str) -> String {
    let opt = if optimiser.is_empty() {
        String::new()
    } else {
        format!(" optimiser: {optimiser},")
    };
    synthetic_yaml("[6, 8, 4]", "connections", "softmax", lr).replace(
        "batch_size: 10,",
        &format!("batch_size: 5, kt: {kt}, rule: {rule},{opt}{extra}"),
    )
}

/// A dataset from explicit images and labels.
pub fn dataset(images: Vec<Vec<f32>>, labels: Vec<u8>, classes: usize) -> Dataset {
    let dim = images[0].len();
    Dataset {
        name: "test".into(),
        images: images.concat(),
        labels,
        dim,
        classes,
    }
}

/// The model's data, seed 3, synthetic or offline.
pub fn data(m: &Model) -> Split {
    bsp_sim::run::load_data(m, 3, None, true, None, None, &bsp_sim::progress::NoProgress).unwrap()
}

/// Every synaptic coefficient of an engine, projection after projection.
pub fn coefficients(e: &dyn Engine) -> Vec<f32> {
    e.projections()
        .iter()
        .flat_map(|p| p.coefficients().to_vec())
        .collect()
}

/// The coefficients before and after `batches` minibatches of 5 with `threads` threads
/// (seed 3, the model's lr).
pub fn trained(m: &Model, split: &Split, batches: usize, threads: usize) -> (Vec<f32>, Vec<f32>) {
    let mut e = bsp_sim::run::build_engine(m, 3, threads).unwrap();
    let start = coefficients(e.as_ref());
    let order: Vec<usize> = (0..batches * 5).map(|k| k % split.train.len()).collect();
    for b in order.chunks(5) {
        e.train_batch(&split.train, b, m.training.lr).unwrap();
    }
    e.finish().unwrap();
    (start, coefficients(e.as_ref()))
}

/// Trains `samples` samples (cycling through the training set) in the model's minibatches
/// at the model's lr, then completes the work in flight.
pub fn train_samples(e: &mut dyn Engine, m: &Model, split: &Split, samples: usize) {
    let order: Vec<usize> = (0..samples).map(|k| k % split.train.len()).collect();
    for b in order.chunks(m.training.batch_size) {
        e.train_batch(&split.train, b, m.training.lr).unwrap();
    }
    e.finish().unwrap();
}

/// `bsp-sim run` of `m` in `dir` with `threads` threads: `epochs` epochs straight, and one
/// epoch then resumed to `epochs`. Returns the two final checkpoints (straight, resumed) and
/// the one-epoch checkpoint.
pub fn straight_and_resumed(
    m: &Model,
    dir: &std::path::Path,
    epochs: usize,
    threads: usize,
) -> (Checkpoint, Checkpoint, Checkpoint) {
    let opts = |sub: &str, epochs: usize| RunOptions {
        epochs: Some(epochs),
        threads: Some(threads),
        out: dir.join(sub),
        ..RunOptions::default()
    };
    let straight = run(m, &opts("straight", epochs), &mut Silent).unwrap();
    let first = run(m, &opts("resumed", 1), &mut Silent).unwrap();
    let (one, _) = Checkpoint::load(&first.run_dir).unwrap();
    let resumed = run(
        m,
        &RunOptions {
            resume: Some(first.run_dir.clone()),
            ..opts("resumed", epochs)
        },
        &mut Silent,
    )
    .unwrap();
    let (a, _) = Checkpoint::load(&straight.run_dir).unwrap();
    let (b, _) = Checkpoint::load(&resumed.run_dir).unwrap();
    (a, b, one)
}

/// As the resumed half of [`straight_and_resumed`], with the optimiser's moments dropped
/// from the one-epoch checkpoint before resuming (what a run that lost them would do).
pub fn resumed_without_moments(
    m: &Model,
    dir: &std::path::Path,
    epochs: usize,
    threads: usize,
) -> Checkpoint {
    let opts = |epochs: usize| RunOptions {
        epochs: Some(epochs),
        threads: Some(threads),
        out: dir.join("without-moments"),
        ..RunOptions::default()
    };
    let first = run(m, &opts(1), &mut Silent).unwrap();
    let path = first.run_dir.join("checkpoint.json");
    let (mut ck, _) = Checkpoint::load(&path).unwrap();
    assert!(ck.optimiser.is_some(), "the checkpoint keeps the moments");
    ck.optimiser = None;
    std::fs::write(&path, ck.to_json()).unwrap();
    let restarted = run(
        m,
        &RunOptions {
            resume: Some(first.run_dir.clone()),
            ..opts(epochs)
        },
        &mut Silent,
    )
    .unwrap();
    Checkpoint::load(&restarted.run_dir).unwrap().0
}

/// The largest absolute difference between two equally long runs of numbers.
pub fn max_diff(x: &[f32], y: &[f32]) -> f32 {
    x.iter()
        .zip(y)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max)
}

/// Asserts that two engines' mean losses on the whole test set agree within 1e-3.
pub fn assert_same_test_loss(a: &mut dyn Engine, b: &mut dyn Engine, split: &Split, what: &str) {
    let test: Vec<usize> = (0..split.test.len()).collect();
    let (ta, tb) = (
        a.evaluate(&split.test, &test).unwrap(),
        b.evaluate(&split.test, &test).unwrap(),
    );
    assert!(
        (ta.mean_loss() - tb.mean_loss()).abs() < 1e-3,
        "{what}: {ta:?} {tb:?}"
    );
}
