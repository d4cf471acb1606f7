//! A layer pair's synapses in computable form: dense (`full` wiring, matrix products through
//! `matrixmultiply`) or compressed sparse rows (one-to-one and random wiring).
//!
//! Two operations, each over a batch of `rows` samples stored row-major: the forward drive
//! `u_j = sum_i C_ji D_i` (paper Eq. 20) and the reversed drive `û_i = sum_j C_ji D̂_j`
//! (Eq. 21, same C, reversed direction), which is also the transpose that carries the
//! adjoint down a layer; and the outer-product sum that turns per-step traces into ∂L/∂C.
//! Generic over the number type: the engines compute in `f32`, the gradient check the very
//! same operations in `f64`. The learning rule that changes C lives in `learning::connections`.

use serde::{Deserialize, Serialize};

use crate::real::Real;

/// The synapses of one layer pair, coefficients of type `T` in the topology's canonical
/// order (by post, then pre).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Projection<T = f32> {
    /// `c[j * pre + i]` is C from presynaptic i to postsynaptic j.
    Dense { pre: usize, post: usize, c: Vec<T> },
    /// CSR by postsynaptic neuron: synapses of j are `row_ptr[j]..row_ptr[j + 1]`.
    Sparse {
        pre: usize,
        post: usize,
        row_ptr: Vec<usize>,
        col: Vec<u32>,
        c: Vec<T>,
    },
}

impl Projection {
    /// A copy in the number type `T` (the gradient check's `f64`).
    pub fn to<T: Real>(&self) -> Projection<T> {
        let conv = |c: &[f32]| c.iter().map(|&v| T::from_f32(v)).collect();
        match self {
            Projection::Dense { pre, post, c } => Projection::Dense {
                pre: *pre,
                post: *post,
                c: conv(c),
            },
            Projection::Sparse {
                pre,
                post,
                row_ptr,
                col,
                c,
            } => Projection::Sparse {
                pre: *pre,
                post: *post,
                row_ptr: row_ptr.clone(),
                col: col.clone(),
                c: conv(c),
            },
        }
    }
}

impl<T: Real> Projection<T> {
    /// A dense projection from `(post, pre, c)` triples covering every pair in row order.
    pub fn dense(
        pre: usize,
        post: usize,
        synapses: impl Iterator<Item = (usize, usize, T)>,
    ) -> Self {
        let mut c = vec![T::ZERO; pre * post];
        for (j, i, v) in synapses {
            c[j * pre + i] = v;
        }
        Projection::Dense { pre, post, c }
    }

    /// A sparse projection from `(post, pre, c)` triples sorted by `post`.
    pub fn sparse(
        pre: usize,
        post: usize,
        synapses: impl Iterator<Item = (usize, usize, T)>,
    ) -> Self {
        let mut row_ptr = vec![0usize; post + 1];
        let mut col = Vec::new();
        let mut c = Vec::new();
        for (j, i, v) in synapses {
            row_ptr[j + 1] += 1;
            col.push(i as u32);
            c.push(v);
        }
        for j in 0..post {
            row_ptr[j + 1] += row_ptr[j];
        }
        Projection::Sparse {
            pre,
            post,
            row_ptr,
            col,
            c,
        }
    }

    pub fn pre(&self) -> usize {
        match self {
            Projection::Dense { pre, .. } | Projection::Sparse { pre, .. } => *pre,
        }
    }

    pub fn post(&self) -> usize {
        match self {
            Projection::Dense { post, .. } | Projection::Sparse { post, .. } => *post,
        }
    }

    /// Number of synapses (multiply-adds per sample for one drive).
    pub fn synapses(&self) -> usize {
        match self {
            Projection::Dense { c, .. } | Projection::Sparse { c, .. } => c.len(),
        }
    }

    /// Mutable access to the coefficients in canonical order.
    pub fn coefficients_mut(&mut self) -> &mut [T] {
        match self {
            Projection::Dense { c, .. } | Projection::Sparse { c, .. } => c,
        }
    }

    /// The coefficients in the topology's canonical edge order (by post, then pre).
    pub fn coefficients(&self) -> &[T] {
        match self {
            Projection::Dense { c, .. } | Projection::Sparse { c, .. } => c,
        }
    }

    /// Forward drive: `out[r][j] = sum_i C_ji * d[r][i]` for `rows` samples.
    pub fn forward(&self, rows: usize, d: &[T], out: &mut [T]) {
        match self {
            Projection::Dense { pre, post, c } => {
                assert!(d.len() >= rows * pre && out.len() >= rows * post);
                // SAFETY: the slices hold rows x pre, post x pre and rows x post elements,
                // as the strides below describe.
                unsafe {
                    T::gemm(
                        rows,
                        *pre,
                        *post,
                        T::ONE,
                        d.as_ptr(),
                        *pre as isize,
                        1,
                        c.as_ptr(),
                        1,
                        *pre as isize,
                        T::ZERO,
                        out.as_mut_ptr(),
                        *post as isize,
                        1,
                    );
                }
            }
            Projection::Sparse {
                pre,
                post,
                row_ptr,
                col,
                c,
            } => {
                for r in 0..rows {
                    let dr = &d[r * pre..(r + 1) * pre];
                    let or = &mut out[r * post..(r + 1) * post];
                    for (j, o) in or.iter_mut().enumerate() {
                        let (a, b) = (row_ptr[j], row_ptr[j + 1]);
                        // From −0, as `Iterator::sum` of floats starts.
                        *o = col[a..b]
                            .iter()
                            .zip(&c[a..b])
                            .fold(-T::ZERO, |acc, (&i, &w)| acc + w * dr[i as usize]);
                    }
                }
            }
        }
    }

    /// Reversed drive: `out[r][i] = sum_j C_ji * dhat[r][j]` (also the adjoint of
    /// [`Self::forward`]).
    pub fn backward(&self, rows: usize, dhat: &[T], out: &mut [T]) {
        match self {
            Projection::Dense { pre, post, c } => {
                assert!(dhat.len() >= rows * post && out.len() >= rows * pre);
                // SAFETY: dhat is rows x post, c is post x pre, out is rows x pre.
                unsafe {
                    T::gemm(
                        rows,
                        *post,
                        *pre,
                        T::ONE,
                        dhat.as_ptr(),
                        *post as isize,
                        1,
                        c.as_ptr(),
                        *pre as isize,
                        1,
                        T::ZERO,
                        out.as_mut_ptr(),
                        *pre as isize,
                        1,
                    );
                }
            }
            Projection::Sparse {
                pre,
                post,
                row_ptr,
                col,
                c,
            } => {
                out[..rows * pre].fill(T::ZERO);
                for r in 0..rows {
                    let hr = &dhat[r * post..(r + 1) * post];
                    let or = &mut out[r * pre..(r + 1) * pre];
                    for (j, &h) in hr.iter().enumerate() {
                        for k in row_ptr[j]..row_ptr[j + 1] {
                            or[col[k] as usize] += c[k] * h;
                        }
                    }
                }
            }
        }
    }

    /// `sum_r pre[r][i] * post[r][j]` for every synapse (i, j), in canonical order: the
    /// gradient from per-step traces (rows = samples x steps) or G1 from per-sample
    /// integrals (rows = samples). Dense pairs use one matrix product; the sum runs over
    /// `rows` in order, so the result does not depend on how the rows were computed.
    pub fn outer(&self, rows: usize, pre_tr: &[T], post_tr: &[T]) -> Vec<T> {
        let (pre, post) = (self.pre(), self.post());
        assert!(pre_tr.len() >= rows * pre && post_tr.len() >= rows * post);
        match self {
            Projection::Dense { .. } => {
                let mut g = vec![T::ZERO; pre * post];
                // SAFETY: post_tr is rows x post (read transposed), pre_tr rows x pre,
                // g post x pre.
                unsafe {
                    T::gemm(
                        post,
                        rows,
                        pre,
                        T::ONE,
                        post_tr.as_ptr(),
                        1,
                        post as isize,
                        pre_tr.as_ptr(),
                        pre as isize,
                        1,
                        T::ZERO,
                        g.as_mut_ptr(),
                        pre as isize,
                        1,
                    );
                }
                g
            }
            Projection::Sparse { .. } => self.outer_map(rows, pre_tr, post_tr, |g| g),
        }
    }

    /// Per synapse, `Σ_r f(pre_tr[r][i] · post_tr[r][j])` in the coefficients' order: each
    /// sample's product mapped by `f` before the sum over `rows` (with the limiter as `f`,
    /// the G2 a synapse adds up over a batch), so no matrix product; `outer` is `f = id`.
    pub fn outer_map(
        &self,
        rows: usize,
        pre_tr: &[T],
        post_tr: &[T],
        f: impl Fn(T) -> T,
    ) -> Vec<T> {
        let (pre, post) = (self.pre(), self.post());
        assert!(pre_tr.len() >= rows * pre && post_tr.len() >= rows * post);
        let sum = |i: usize, j: usize| {
            let mut acc = T::ZERO;
            for r in 0..rows {
                acc += f(pre_tr[r * pre + i] * post_tr[r * post + j]);
            }
            acc
        };
        match self {
            Projection::Dense { .. } => (0..post)
                .flat_map(|j| (0..pre).map(move |i| (i, j)))
                .map(|(i, j)| sum(i, j))
                .collect(),
            Projection::Sparse { row_ptr, col, .. } => (0..post)
                .flat_map(|j| (row_ptr[j]..row_ptr[j + 1]).map(move |k| (col[k] as usize, j)))
                .map(|(i, j)| sum(i, j))
                .collect(),
        }
    }

    /// The structure and the coefficients, split so that the coefficients can be written
    /// while the structure is read.
    pub fn shape_and_coefficients(&mut self) -> (Shape<'_>, &mut [T]) {
        match self {
            Projection::Dense { c, .. } => (Shape::Dense, c),
            Projection::Sparse {
                row_ptr, col, c, ..
            } => (Shape::Sparse(row_ptr, col), c),
        }
    }

    /// Splits the postsynaptic rows into at most `parts` contiguous blocks of similar size,
    /// each a whole number of `unit` rows (but the last): `(rows, coefficient range)` per
    /// block.
    pub fn row_blocks(
        &self,
        parts: usize,
        unit: usize,
    ) -> Vec<(std::ops::Range<usize>, std::ops::Range<usize>)> {
        let post = self.post();
        let units = post.div_ceil(unit.max(1));
        let parts = parts.clamp(1, units.max(1));
        let start_of = |j: usize| match self {
            Projection::Dense { pre, .. } => j * pre,
            Projection::Sparse { row_ptr, .. } => row_ptr[j],
        };
        (0..parts)
            .map(|p| {
                let row = |u: usize| (u * unit.max(1)).min(post);
                let (a, b) = (row(p * units / parts), row((p + 1) * units / parts));
                (a..b, start_of(a)..start_of(b))
            })
            .collect()
    }
}

/// The structure of a projection without its coefficients.
#[derive(Clone, Copy)]
pub enum Shape<'a> {
    Dense,
    Sparse(&'a [usize], &'a [u32]),
}

#[cfg(test)]
mod tests {
    use super::Projection;

    /// Two samples, pre = [1, 2] then [3, -1], post = [2] then [0.5]: per synapse
    /// Σ_r f(pre_r · post_r), by hand.
    #[test]
    fn outer_map_sums_each_samples_mapped_product() {
        let (pre, post) = ([1.0, 2.0, 3.0, -1.0], [2.0, 0.5]);
        let dense = Projection::<f64>::dense(2, 1, [(0, 0, 0.0), (0, 1, 0.0)].into_iter());
        assert_eq!(dense.outer(2, &pre, &post), vec![2.0 + 1.5, 4.0 - 0.5]);
        assert_eq!(dense.outer_map(2, &pre, &post, |g| g), vec![3.5, 3.5]);
        let square = dense.outer_map(2, &pre, &post, |g| g * g);
        assert_eq!(square, vec![4.0 + 2.25, 16.0 + 0.25]);
        // Only synapse 1 -> 0 exists.
        let sparse = Projection::<f64>::sparse(2, 1, [(0, 1, 0.0)].into_iter());
        assert_eq!(sparse.outer(2, &pre, &post), vec![3.5]);
        assert_eq!(sparse.outer_map(2, &pre, &post, |g| g * g), vec![16.25]);
    }
}
