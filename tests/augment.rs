//! Input-shift augmentation (`data.augment: {shift: N}`): it changes the training, gives the
//! same weights at any thread count, leaves the test images and unaugmented runs alone, and
//! the validation refuses shifts the images cannot take, naming the field.

mod common;

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::run::{run, RunOptions, Silent};
use bsp_sim::Model;

/// A synthetic model with 3x3 images (dim 9) on the synchronous engine, plus `extra` in the
/// data section.
fn yaml(extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!("\n  {extra}")
    };
    common::synthetic_yaml("[9, 8, 4]", "connections", "softmax", 0.05)
        .replace("dim: 6,", "dim: 9,")
        .replace("noise: 0.3}", &format!("noise: 0.3}}{extra}"))
}

/// The checkpoint's coefficients and test accuracy after 2 epochs with `threads`.
fn trained(text: &str, threads: usize) -> (Vec<bsp_sim::topology::Projection>, f64) {
    let dir = tempfile::tempdir().unwrap();
    let m = common::model(text);
    let out = run(
        &m,
        &RunOptions {
            epochs: Some(2),
            threads: Some(threads),
            out: dir.path().to_path_buf(),
            ..RunOptions::default()
        },
        &mut Silent,
    )
    .unwrap();
    let (ck, _) = Checkpoint::load(&out.run_dir).unwrap();
    let acc = ck.metrics.last().unwrap().test_accuracy;
    (ck.projections, acc)
}

#[test]
fn shifted_training_is_deterministic_and_differs_from_plain() {
    let plain = trained(&yaml(""), 1);
    let one = trained(&yaml("augment: {shift: 1}"), 1);
    let two = trained(&yaml("augment: {shift: 1}"), 2);
    assert_eq!(one.0, two.0, "weights depend on the thread count");
    assert!(one.0 != plain.0, "the augmentation changed nothing");
    // Shift 0 is the plain run, bit for bit.
    assert_eq!(trained(&yaml("augment: {shift: 0}"), 1).0, plain.0);
}

#[test]
fn the_validation_refuses_shifts_the_images_cannot_take() {
    let refused = |text: String, detail: &str| {
        let e = Model::from_yaml(&text, None).unwrap_err().to_string();
        assert!(
            e.contains("data.augment.shift") && e.contains(detail),
            "{e}"
        );
    };
    refused(yaml("augment: {shift: 3}"), "below the image side (3)");
    refused(
        yaml("augment: {shift: 1}")
            .replace("dim: 9,", "dim: 6,")
            .replace("[9, 8, 4]", "[6, 8, 4]"),
        "square",
    );
    assert!(Model::from_yaml(&yaml("augment: {shift: 1, flip: true}"), None).is_err());
    common::model(&yaml("augment: {shift: 2}"));
}
