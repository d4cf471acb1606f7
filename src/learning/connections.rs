//! Method 2, the synapses learn (paper Eq. 22, 18, 23): a synapse from i to j changes its
//! coefficient by `scale · G2(G1)` per sample, G1 = I_i · Î_j, the product of the two window
//! integrals it observed (its presynaptic neuron's forward signal and its postsynaptic
//! neuron's reversed signal), and G2 the limiter.
//!
//! Every rule that moves coefficients ends here: `bsp` with the reversed systems' integrals,
//! `linearised` with the linearised reversed pass's integrals, `adjoint` with per-step
//! signals (one "row" per sample and step, no limiter). [`change`] is one synapse's change
//! for one sample; [`update`] the batched form over a whole projection (matrix product when
//! the limiter is off), [`update_sample`] one sample over a block of postsynaptic rows (the
//! asynchronous engine's worker rows). All three compute the same arithmetic.

use std::ops::Range;

use super::limiter::{atan, atan_in_place, limiter};
use crate::topology::projection::{Projection, Shape};

/// Postsynaptic rows per matrix product of the limiter-free dense update. Threads take whole
/// chunks, so each coefficient is computed by the same call whatever the thread count (a
/// product split at other rows would round its edge tiles differently).
const CHUNK: usize = 64;

/// The update scale for a minibatch of `batch` samples: `lr / batch`, divided by the error
/// scale for rules whose backward wave was injected `error_scale` times the error (so that
/// lr means the same whatever the injected amplitude).
pub fn scale(lr: f32, batch: usize, error_scale: f32) -> f32 {
    lr / (batch as f32 * error_scale)
}

/// One sample's change of one coefficient, `scale · G2(p · q)`, as [`update`] computes it
/// for a projection of this shape: a dense row takes `1/kt` out of its sum over the batch
/// (one division per synapse), a sparse row divides per term. The two agree to rounding.
#[inline(always)]
pub fn change(p: f32, q: f32, scale: f32, kt: f32, dense: bool) -> f32 {
    if dense && kt != 0.0 {
        scale / kt * atan(kt * q * p)
    } else {
        scale * limiter(p * q, kt)
    }
}

/// [`change`] of a dense synapse from a presynaptic neuron with integral `p` onto each
/// postsynaptic neuron with integral `q[j]`, into `out[j]`, bit for bit; the arctangents a
/// block at a time ([`atan_in_place`]).
pub fn column_changes(out: &mut [f32], p: f32, q: &[f32], scale: f32, kt: f32) {
    dense_changes(out, q.iter().map(|&qj| (p, qj)), scale, kt);
}

/// [`change`] of a dense synapse from each presynaptic neuron with integral `p[i]` onto a
/// postsynaptic neuron with integral `q`, into `out[i]`, bit for bit (as
/// [`column_changes`]).
pub fn row_changes(out: &mut [f32], p: &[f32], q: f32, scale: f32, kt: f32) {
    dense_changes(out, p.iter().map(|&pi| (pi, q)), scale, kt);
}

/// `out[k] = change(p, q, scale, kt, true)` for the k-th pair (p, q).
#[inline(always)]
fn dense_changes(out: &mut [f32], pairs: impl Iterator<Item = (f32, f32)>, scale: f32, kt: f32) {
    debug_assert_eq!(out.len(), pairs.size_hint().0);
    if kt == 0.0 {
        for (o, (p, q)) in out.iter_mut().zip(pairs) {
            *o = change(p, q, scale, kt, true);
        }
        return;
    }
    // change() = scale / kt * atan(kt * q * p), taken apart.
    for (o, (p, q)) in out.iter_mut().zip(pairs) {
        *o = kt * q * p;
    }
    atan_in_place(out);
    for o in out.iter_mut() {
        *o *= scale / kt;
    }
}

/// The update of a minibatch of `rows` samples: `C_ji += scale · Σ_r G2(pre[r][i] ·
/// post[r][j])` (`pre` is rows x pre, `post` rows x post, row-major). Split over `threads`
/// by postsynaptic rows; every coefficient is summed in batch order whatever the split, so
/// the result does not depend on `threads`.
pub fn update(
    projection: &mut Projection,
    rows: usize,
    pre_int: &[f32],
    post_int: &[f32],
    scale: f32,
    kt: f32,
    threads: usize,
) {
    let (pre, post) = (projection.pre(), projection.post());
    let dense = matches!(projection, Projection::Dense { .. });
    // Limiter-free dense rows go through the matrix product in whole chunks.
    let unit = if dense && kt == 0.0 { CHUNK } else { 1 };
    let blocks = projection.row_blocks(threads, unit);
    let (shape, c) = projection.shape_and_coefficients();
    let shape = &shape;
    let mut rest: &mut [f32] = c;
    std::thread::scope(|scope| {
        for (posts, coef) in blocks {
            let (block, tail) = std::mem::take(&mut rest).split_at_mut(coef.len());
            rest = tail;
            scope.spawn(move || {
                update_rows(
                    shape, pre, post, posts, block, rows, pre_int, post_int, scale, kt,
                )
            });
        }
    });
}

/// The update of postsynaptic rows `posts`, whose coefficients are `block`.
#[allow(clippy::too_many_arguments)]
fn update_rows(
    shape: &Shape<'_>,
    pre: usize,
    post: usize,
    posts: Range<usize>,
    block: &mut [f32],
    rows: usize,
    pre_int: &[f32],
    post_int: &[f32],
    scale: f32,
    kt: f32,
) {
    match shape {
        Shape::Dense if kt == 0.0 => {
            for start in posts.clone().step_by(CHUNK) {
                let end = (start + CHUNK).min(posts.end);
                let at = (start - posts.start) * pre;
                // SAFETY: post_int is rows x post (columns start..end are read), pre_int is
                // rows x pre, block holds (end - start) x pre coefficients from `at`.
                unsafe {
                    matrixmultiply::sgemm(
                        end - start,
                        rows,
                        pre,
                        scale,
                        post_int.as_ptr().add(start),
                        1,
                        post as isize,
                        pre_int.as_ptr(),
                        pre as isize,
                        1,
                        1.0,
                        block.as_mut_ptr().add(at),
                        pre as isize,
                        1,
                    );
                }
            }
        }
        Shape::Dense => {
            // G2 = atan(kt G1) / kt per sample: sum the atan terms, divide once.
            match Nonzero::of(rows, pre, pre_int, &post_int[..rows * post]) {
                Some(nz) => sums_over_nonzero(&nz, post, posts, block, rows, post_int, scale, kt),
                None => {
                    let mut acc = vec![0.0f32; pre];
                    let mut terms = vec![0.0f32; pre];
                    for (jj, j) in posts.enumerate() {
                        acc.fill(0.0);
                        for r in 0..rows {
                            let h = kt * post_int[r * post + j];
                            let pr = &pre_int[r * pre..(r + 1) * pre];
                            for (t, &p) in terms.iter_mut().zip(pr) {
                                *t = h * p;
                            }
                            atan_in_place(&mut terms);
                            for (a, &t) in acc.iter_mut().zip(&terms) {
                                *a += t;
                            }
                        }
                        let crow = &mut block[jj * pre..(jj + 1) * pre];
                        for (cv, a) in crow.iter_mut().zip(&acc) {
                            *cv += scale / kt * a;
                        }
                    }
                }
            }
        }
        Shape::Sparse(row_ptr, col) => {
            let base = row_ptr[posts.start];
            for j in posts {
                for k in row_ptr[j]..row_ptr[j + 1] {
                    let i = col[k] as usize;
                    let mut acc = 0.0f32;
                    for r in 0..rows {
                        acc += limiter(pre_int[r * pre + i] * post_int[r * post + j], kt);
                    }
                    block[k - base] += scale * acc;
                }
            }
        }
    }
}

/// The nonzero presynaptic integrals of each sample, for an update whose inputs are mostly
/// exact zeros (layer 0 on images: a zero pixel's integral is 0). A zero integral adds
/// atan(h · 0) = ±0 to a synapse's sum, which leaves the sum as it is, so summing over the
/// nonzero ones only gives the dense result bit for bit (while every postsynaptic integral
/// is finite: `h · 0` would be NaN for an infinite h).
struct Nonzero {
    /// Row r's entries are `start[r]..start[r + 1]` of `at` (presynaptic index) and `value`.
    start: Vec<usize>,
    at: Vec<u32>,
    value: Vec<f32>,
}

impl Nonzero {
    /// The compacted rows, when at least half of `pre_int` is zero and `post_int` finite.
    fn of(rows: usize, pre: usize, pre_int: &[f32], post_int: &[f32]) -> Option<Self> {
        let pre_int = &pre_int[..rows * pre];
        let nonzero = pre_int.iter().filter(|&&p| p != 0.0).count();
        if pre == 0 || 2 * nonzero > pre_int.len() || !post_int.iter().all(|q| q.is_finite()) {
            return None;
        }
        let mut nz = Nonzero {
            start: Vec::with_capacity(rows + 1),
            at: Vec::with_capacity(nonzero),
            value: Vec::with_capacity(nonzero),
        };
        nz.start.push(0);
        for row in pre_int.chunks_exact(pre.max(1)) {
            for (i, &p) in row.iter().enumerate().filter(|(_, &p)| p != 0.0) {
                nz.at.push(i as u32);
                nz.value.push(p);
            }
            nz.start.push(nz.at.len());
        }
        Some(nz)
    }

    /// Row `r`'s presynaptic indices and integrals.
    fn row(&self, r: usize) -> (&[u32], &[f32]) {
        let range = self.start[r]..self.start[r + 1];
        (&self.at[range.clone()], &self.value[range])
    }
}

/// The limiter's dense update of rows `posts` (coefficients `block`, `posts.len()` x
/// `pre`) where most presynaptic integrals are zero: per sample r and nonzero p_i, the atan
/// terms of i's synapses onto every row go into i's sums at once (contiguous over the rows,
/// vectorised, in place of scattering each row's terms over i); then each coefficient takes
/// its sum. Every sum runs over the samples in order, as the row-by-row form sums it.
#[allow(clippy::too_many_arguments)]
fn sums_over_nonzero(
    nz: &Nonzero,
    post: usize,
    posts: Range<usize>,
    block: &mut [f32],
    rows: usize,
    post_int: &[f32],
    scale: f32,
    kt: f32,
) {
    let n = posts.len();
    let pre = block.len() / n.max(1);
    // sums[i * n + jj]: presynaptic i onto row jj.
    let mut sums = vec![0.0f32; pre * n];
    let (mut h, mut terms) = (vec![0.0f32; n], vec![0.0f32; n]);
    for r in 0..rows {
        for (hj, j) in h.iter_mut().zip(posts.clone()) {
            *hj = kt * post_int[r * post + j];
        }
        let (at, values) = nz.row(r);
        for (&i, &p) in at.iter().zip(values) {
            for (t, &hj) in terms.iter_mut().zip(&h) {
                *t = hj * p;
            }
            atan_in_place(&mut terms);
            let i = i as usize;
            for (a, &t) in sums[i * n..(i + 1) * n].iter_mut().zip(&terms) {
                *a += t;
            }
        }
    }
    // Transposed into the rows sixteen presynaptic neurons at a time (their sums' cache
    // lines stay in L1 while the rows go by).
    for i0 in (0..pre).step_by(16) {
        let i1 = (i0 + 16).min(pre);
        for (jj, crow) in block.chunks_exact_mut(pre).enumerate() {
            for (i, cv) in (i0..i1).zip(&mut crow[i0..i1]) {
                *cv += scale / kt * sums[i * n + jj];
            }
        }
    }
}

/// One sample's update of the postsynaptic rows `posts` (coefficients `block`): `C_ji +=
/// change(pre[i], post[j])`, the same arithmetic as [`update`] for one row, computed
/// synapse by synapse so that it does not depend on which rows a block holds.
#[allow(clippy::too_many_arguments)]
pub fn update_sample(
    shape: &Shape<'_>,
    pre: usize,
    posts: Range<usize>,
    block: &mut [f32],
    pre_int: &[f32],
    post_int: &[f32],
    scale: f32,
    kt: f32,
) {
    match shape {
        Shape::Dense => {
            for (jj, j) in posts.enumerate() {
                let q = post_int[j];
                let crow = &mut block[jj * pre..(jj + 1) * pre];
                for (cv, &p) in crow.iter_mut().zip(&pre_int[..pre]) {
                    *cv += change(p, q, scale, kt, true);
                }
            }
        }
        Shape::Sparse(row_ptr, col) => {
            let base = row_ptr[posts.start];
            for j in posts {
                let q = post_int[j];
                for k in row_ptr[j]..row_ptr[j + 1] {
                    block[k - base] += change(pre_int[col[k] as usize], q, scale, kt, false);
                }
            }
        }
    }
}
