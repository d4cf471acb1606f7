//! The seeded synthetic data set: shapes, determinism and learnability.

use bsp_sim::data::synthetic::{generate, SyntheticSpec};
use bsp_sim::data::Dataset;

fn spec() -> SyntheticSpec {
    SyntheticSpec {
        classes: 4,
        dim: 16,
        train: 101,
        test: 33,
        noise: 0.4,
    }
}

#[test]
fn synthetic_has_the_requested_shape() {
    let s = generate(&spec(), 1);
    for (d, n) in [(&s.train, 101), (&s.test, 33)] {
        assert_eq!(d.len(), n);
        assert_eq!(d.dim, 16);
        assert_eq!(d.classes, 4);
        assert_eq!(d.images.len(), n * 16);
        assert!(d.images.iter().all(|&p| (0.0..=1.0).contains(&p)));
        assert!(d.labels.iter().all(|&l| l < 4));
        let mut h = [0usize; 4];
        d.labels.iter().for_each(|&l| h[usize::from(l)] += 1);
        assert!(h.iter().all(|&c| c >= n / 4 && c <= n / 4 + 1), "{h:?}");
    }
    assert_eq!(s.train.name, "synthetic");
}

#[test]
fn synthetic_is_deterministic_per_seed() {
    let (a, b, c) = (
        generate(&spec(), 7),
        generate(&spec(), 7),
        generate(&spec(), 8),
    );
    assert_eq!(a.train.images, b.train.images);
    assert_eq!(a.train.labels, b.train.labels);
    assert_eq!(a.test.images, b.test.images);
    assert_ne!(a.train.images, c.train.images);
    assert_ne!(a.test.images, c.test.images);
}

/// Nearest-centroid accuracy of `test` with centroids estimated on `train`.
fn centroid_accuracy(train: &Dataset, test: &Dataset) -> f64 {
    let mut centroids = vec![0.0f64; train.classes * train.dim];
    let mut counts = vec![0.0f64; train.classes];
    for i in 0..train.len() {
        let c = usize::from(train.labels[i]);
        counts[c] += 1.0;
        for (k, &p) in train.image(i).iter().enumerate() {
            centroids[c * train.dim + k] += f64::from(p);
        }
    }
    for c in 0..train.classes {
        for k in 0..train.dim {
            centroids[c * train.dim + k] /= counts[c];
        }
    }
    let correct = (0..test.len())
        .filter(|&i| {
            let dist = |c: usize| -> f64 {
                test.image(i)
                    .iter()
                    .zip(&centroids[c * test.dim..(c + 1) * test.dim])
                    .map(|(&p, &m)| (f64::from(p) - m).powi(2))
                    .sum()
            };
            let best = (0..test.classes)
                .min_by(|&a, &b| dist(a).total_cmp(&dist(b)))
                .unwrap_or(0);
            best == usize::from(test.labels[i])
        })
        .count();
    correct as f64 / test.len() as f64
}

#[test]
fn synthetic_is_learnable_but_noisy() {
    let s = generate(&SyntheticSpec::default(), 3);
    let acc = centroid_accuracy(&s.train, &s.test);
    assert!(acc > 0.9, "nearest-centroid accuracy {acc} should be high");
    // Not trivial: two samples of the same class differ substantially.
    let same: Vec<usize> = (0..s.train.len())
        .filter(|&i| s.train.labels[i] == s.train.labels[0])
        .take(2)
        .collect();
    let diff: f32 = s
        .train
        .image(same[0])
        .iter()
        .zip(s.train.image(same[1]))
        .map(|(a, b)| (a - b).abs())
        .sum::<f32>()
        / s.train.dim as f32;
    assert!(
        diff > 0.15,
        "mean pixel difference {diff} within a class is too small"
    );
}

#[test]
fn degenerate_specs_do_not_panic() {
    let empty = generate(
        &SyntheticSpec {
            classes: 0,
            noise: f32::NAN,
            ..spec()
        },
        0,
    );
    assert!(empty.train.is_empty() && empty.test.is_empty());
    let flat = generate(
        &SyntheticSpec {
            noise: f32::NAN,
            ..spec()
        },
        0,
    );
    assert!(flat.train.images.iter().all(|p| p.is_finite()));
}
