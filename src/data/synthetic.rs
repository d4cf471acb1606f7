//! A seeded synthetic stand-in for MNIST: noisy copies of one random prototype per class.
//!
//! Real data takes seconds to read and is not on every machine, while the demo model and
//! most tests only need *some* learnable data of the right shape. Each class gets a random
//! prototype image in `[0, 1]^dim`; a sample is its class's prototype plus independent
//! Gaussian noise per pixel, clamped back to `[0, 1]`. With noise around 0.3 to 0.5 a
//! single sample is ambiguous pixel by pixel but the class is recoverable from the whole
//! image, which makes the task learnable but not trivial. Everything is drawn from one
//! `ChaCha8Rng` seeded by the caller, so the same seed gives bit-identical data on every
//! platform.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::{Dataset, Split};

/// Name given to synthetic data sets in reports.
pub const NAME: &str = "synthetic";

/// Shape and difficulty of a synthetic data set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SyntheticSpec {
    /// Number of classes; labels are `0..classes`. Capped at 256, the range of a `u8` label.
    pub classes: usize,
    /// Pixels per image.
    pub dim: usize,
    /// Number of training samples.
    pub train: usize,
    /// Number of test samples.
    pub test: usize,
    /// Standard deviation of the per-pixel Gaussian noise; its absolute value is used, and
    /// a non-finite value counts as 0 (noise-free prototypes).
    pub noise: f32,
}

impl Default for SyntheticSpec {
    /// Ten classes of 8x8 images, 2000 training and 500 test samples, noise 0.4: enough to
    /// learn in seconds, hard enough that an untrained network scores near chance.
    fn default() -> Self {
        SyntheticSpec {
            classes: 10,
            dim: 64,
            train: 2000,
            test: 500,
            noise: 0.4,
        }
    }
}

/// Generates a training and a test set from the same class prototypes.
///
/// Labels are balanced (each class appears `len / classes` times, give or take one) and
/// shuffled. The same `spec` and `seed` always give identical data; different seeds give
/// different prototypes and samples. A spec with no class produces empty sets.
/// Cost: `O((train + test + classes) * dim)` random draws.
pub fn generate(spec: &SyntheticSpec, seed: u64) -> Split {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let classes = spec.classes.min(256);
    let noise = if spec.noise.is_finite() {
        spec.noise.abs()
    } else {
        0.0
    };
    let prototypes: Vec<f32> = (0..classes * spec.dim)
        .map(|_| rng.random::<f32>())
        .collect();
    let mut part = |n: usize| {
        let n = if classes == 0 { 0 } else { n };
        // `classes <= 256`, so every label fits in a `u8`.
        let mut labels: Vec<u8> = (0..n).map(|i| (i % classes.max(1)) as u8).collect();
        labels.shuffle(&mut rng);
        let mut images = Vec::with_capacity(n * spec.dim);
        for &label in &labels {
            let proto = &prototypes[usize::from(label) * spec.dim..][..spec.dim];
            images.extend(proto.iter().map(|&p| {
                let z: f32 = rng.sample(StandardNormal);
                (p + noise * z).clamp(0.0, 1.0)
            }));
        }
        Dataset {
            name: NAME.to_string(),
            images,
            labels,
            dim: spec.dim,
            classes,
        }
    };
    let train = part(spec.train);
    let test = part(spec.test);
    Split { train, test }
}
