//! Deterministic input-shift augmentation (`data.augment: {shift: N}`): each training image
//! of an epoch is translated by whole pixels (dx, dy) in [-N, N], the uncovered border filled
//! with zeros. The shift of a sample is drawn from its own position of a ChaCha8 stream keyed
//! by (seed, epoch, sample index), so it is the same at any thread count, on both engines,
//! in any batch order and after `--resume`. Test images are never shifted.
//!
//! This changes the training data the network sees (it is not part of the learning rule):
//! results with it are not comparable with runs on the plain images.

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::Dataset;

/// Streams `AUGMENT_STREAM + epoch` draw each epoch's shifts (the sample order uses 1000 +
/// epoch, the initialisation 1, the delays 2).
const AUGMENT_STREAM: u64 = 1 << 32;

/// The shift (dx, dy), each in `[-shift, shift]`, of training sample `index` in `epoch`
/// (0-based). Two 32-bit words at the sample's own position of the stream, each mapped to
/// `0..2·shift+1` by a multiply-shift (no rejection, so the stream position is fixed; the
/// bias is below 2^-27 for the shifts allowed).
pub fn shift_of(seed: u64, epoch: usize, index: usize, shift: usize) -> (i32, i32) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(AUGMENT_STREAM + epoch as u64);
    rng.set_word_pos(2 * index as u128);
    let span = 2 * shift as u64 + 1;
    let mut draw = || ((u64::from(rng.next_u32()) * span) >> 32) as i32 - shift as i32;
    let dx = draw();
    (dx, draw())
}

/// `image` (`side` x `side`, row-major) translated by `dx` columns right and `dy` rows down
/// into `out`, zeros where nothing is shifted in.
pub fn translate(image: &[f32], side: usize, dx: i32, dy: i32, out: &mut [f32]) {
    out.fill(0.0);
    let s = side as i32;
    for y in 0..s {
        let sy = y - dy;
        if !(0..s).contains(&sy) {
            continue;
        }
        for x in 0..s {
            let sx = x - dx;
            if (0..s).contains(&sx) {
                out[(y * s + x) as usize] = image[(sy * s + sx) as usize];
            }
        }
    }
}

/// Side of the square images of `dim` pixels, if they are square.
pub fn side(dim: usize) -> Option<usize> {
    let s = (dim as f64).sqrt().round() as usize;
    (s * s == dim).then_some(s)
}

/// The training set of `epoch` with every image shifted by [`shift_of`]; labels unchanged.
///
/// # Panics
/// If the images are not square (the model validation refuses that before).
pub fn shifted(data: &Dataset, shift: usize, seed: u64, epoch: usize) -> Dataset {
    let side = side(data.dim).expect("augmentation needs square images");
    let mut images = vec![0.0f32; data.images.len()];
    for (i, out) in images.chunks_exact_mut(data.dim).enumerate() {
        let (dx, dy) = shift_of(seed, epoch, i, shift);
        translate(data.image(i), side, dx, dy, out);
    }
    Dataset {
        images,
        ..data.clone_without_images()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x3 image 1..9 shifted one right and one down: the first row and column are zero,
    /// the rest is the top-left 2x2 block (1 2 / 4 5).
    #[test]
    fn translate_moves_pixels_and_fills_zeros() {
        let img: Vec<f32> = (1..=9).map(|v| v as f32).collect();
        let mut out = vec![9.9; 9];
        translate(&img, 3, 1, 1, &mut out);
        assert_eq!(out, [0.0, 0.0, 0.0, 0.0, 1.0, 2.0, 0.0, 4.0, 5.0]);
        translate(&img, 3, -1, 0, &mut out);
        assert_eq!(out, [2.0, 3.0, 0.0, 5.0, 6.0, 0.0, 8.0, 9.0, 0.0]);
        translate(&img, 3, 0, 0, &mut out);
        assert_eq!(out, img);
    }

    #[test]
    fn shifts_are_keyed_by_seed_epoch_and_index_and_cover_the_range() {
        let draws: Vec<_> = (0..2000).map(|i| shift_of(1, 0, i, 2)).collect();
        assert!(draws
            .iter()
            .all(|&(x, y)| (-2..=2).contains(&x) && (-2..=2).contains(&y)));
        for v in -2..=2 {
            let n = draws.iter().filter(|d| d.0 == v).count();
            assert!((300..500).contains(&n), "dx {v}: {n} of 2000");
        }
        // The same key gives the same shift, in any order; another epoch or seed another.
        assert_eq!(shift_of(1, 0, 1234, 2), draws[1234]);
        let other: Vec<_> = (0..2000).map(|i| shift_of(1, 1, i, 2)).collect();
        assert!(other != draws);
        let seeded: Vec<_> = (0..2000).map(|i| shift_of(2, 0, i, 2)).collect();
        assert!(seeded != draws);
    }

    #[test]
    fn side_of_square_images() {
        assert_eq!(side(784), Some(28));
        assert_eq!(side(6), None);
    }
}
