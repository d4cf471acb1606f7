//! The asynchronous event-driven engine: consistency with the synchronous engine, thread
//! independence, conservation of events, and learning.

mod common;

use bsp_sim::engine::Engine;
use bsp_sim::run::{build_engine, load_data};
use bsp_sim::Model;

/// The synthetic model with `coupling: delayed` and an `async` section.
fn model(engine: &str, async_yaml: &str, batch: usize, layers: &str) -> Model {
    let yaml = common::synthetic_yaml(layers, "connections", "softmax", 0.05)
        .replace(
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0}",
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0, coupling: delayed}",
        )
        .replace("batch_size: 10", &format!("batch_size: {batch}"));
    common::model(&format!("{yaml}engine: {engine}\nasync: {async_yaml}\n"))
}

fn train(m: &Model, threads: usize, samples: usize) -> (Box<dyn Engine>, Vec<f32>) {
    let split = load_data(m, 3, None, true, None, None, &indicatif::ProgressBar::hidden()).unwrap();
    let mut engine = build_engine(m, 3, threads).unwrap();
    let batch = m.file.learning.batch_size;
    let order: Vec<usize> = (0..samples).map(|k| k % split.train.len()).collect();
    for b in order.chunks(batch) {
        engine.train_batch(&split.train, b, 0.05).unwrap();
    }
    engine.finish().unwrap();
    let test: Vec<usize> = (0..split.test.len()).collect();
    let mut correct = Vec::new();
    for &i in &test {
        let t = engine.evaluate(&split.test, &[i]).unwrap();
        correct.push(t.loss as f32);
    }
    (engine, correct)
}

fn max_abs_diff(a: &dyn Engine, b: &dyn Engine) -> f32 {
    a.projections()
        .iter()
        .zip(b.projections())
        .flat_map(|(p, q)| p.coefficients().iter().zip(q.coefficients()).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f32::max)
}

#[test]
fn async_reproduces_sync_with_zero_delay_and_theta() {
    let layers = "[6, 8, 4]";
    let sync = model("sync", "{theta: 0.0, sample_interval: 100.0}", 1, layers);
    let asyn = model("async", "{theta: 0.0, sample_interval: 100.0}", 1, layers);
    let (s, sl) = train(&sync, 1, 300);
    let (a, al) = train(&asyn, 1, 300);
    let d = max_abs_diff(s.as_ref(), a.as_ref());
    eprintln!("max |C_sync - C_async| = {d:e}");
    let ld = sl.iter().zip(&al).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max);
    eprintln!("max loss diff = {ld:e}");
    assert!(d < 1e-4, "weights differ by {d}");
}

#[test]
fn debug_forward_only() {
    let layers = "[6, 8, 4]";
    let sync = model("sync", "{theta: 0.0, sample_interval: 100.0}", 1, layers);
    let asyn = model("async", "{theta: 0.0, sample_interval: 100.0}", 1, layers);
    let (_, sl) = train(&sync, 1, 0);
    let (_, al) = train(&asyn, 1, 0);
    eprintln!("{:?}\n{:?}", &sl[..5], &al[..5]);
    let (i0, _) = train(&sync, 1, 0);
    let (s, _) = train(&sync, 1, 1);
    let (a, _) = train(&asyn, 1, 1);
    for l in 0..2 {
        let d: Vec<(f32, f32)> = (0..6).map(|k| (s.projections()[l].coefficients()[k] - i0.projections()[l].coefficients()[k], a.projections()[l].coefficients()[k] - i0.projections()[l].coefficients()[k])).collect();
        eprintln!("{d:?}");
    }
    eprintln!("{:e}", max_abs_diff(s.as_ref(), a.as_ref()));
    for (p, q) in s.projections().iter().zip(a.projections()) {
        eprintln!("{:?}\n{:?}", &p.coefficients()[..6], &q.coefficients()[..6]);
    }
}
