//! A layer pair's synapses in the precision the gradient tools compute in: the same dense
//! (matrix product) or compressed-sparse-row layout as [`Projection`], with the forward
//! drive, its transpose (which carries the adjoint down a layer) and the outer-product sum
//! that turns per-step traces into ∂L/∂C.

use super::Projection;
use crate::real::Real;

/// The synapses of one layer pair, coefficients in the topology's canonical order.
#[derive(Debug, Clone, PartialEq)]
pub enum Weights<T> {
    /// `c[j * pre + i]` is C from presynaptic i to postsynaptic j.
    Dense { pre: usize, post: usize, c: Vec<T> },
    /// CSR by postsynaptic neuron, as [`Projection::Sparse`].
    Sparse {
        pre: usize,
        post: usize,
        row_ptr: Vec<usize>,
        col: Vec<u32>,
        c: Vec<T>,
    },
}

impl<T: Real> Weights<T> {
    /// A copy of a projection's coefficients in precision `T`.
    pub fn from_projection(p: &Projection) -> Self {
        let conv = |c: &[f32]| c.iter().map(|&v| T::from_f32(v)).collect();
        match p {
            Projection::Dense { pre, post, c } => Weights::Dense {
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
            } => Weights::Sparse {
                pre: *pre,
                post: *post,
                row_ptr: row_ptr.clone(),
                col: col.clone(),
                c: conv(c),
            },
        }
    }

    pub fn pre(&self) -> usize {
        match self {
            Weights::Dense { pre, .. } | Weights::Sparse { pre, .. } => *pre,
        }
    }

    pub fn post(&self) -> usize {
        match self {
            Weights::Dense { post, .. } | Weights::Sparse { post, .. } => *post,
        }
    }

    /// The coefficients in canonical order (by post, then pre).
    pub fn coefficients(&self) -> &[T] {
        match self {
            Weights::Dense { c, .. } | Weights::Sparse { c, .. } => c,
        }
    }

    pub fn coefficients_mut(&mut self) -> &mut [T] {
        match self {
            Weights::Dense { c, .. } | Weights::Sparse { c, .. } => c,
        }
    }

    /// Forward drive `out[r][j] = sum_i C_ji d[r][i]` (paper Eq. 20), as
    /// [`Projection::forward`] computes it.
    pub fn forward(&self, rows: usize, d: &[T], out: &mut [T]) {
        match self {
            Weights::Dense { pre, post, c } => {
                assert!(d.len() >= rows * pre && out.len() >= rows * post);
                // SAFETY: d is rows x pre, c is post x pre (read transposed), out rows x post.
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
            Weights::Sparse {
                pre,
                post,
                row_ptr,
                col,
                c,
            } => {
                for r in 0..rows {
                    let dr = &d[r * pre..(r + 1) * pre];
                    for (j, o) in out[r * post..(r + 1) * post].iter_mut().enumerate() {
                        let mut acc = T::ZERO;
                        for k in row_ptr[j]..row_ptr[j + 1] {
                            acc += c[k] * dr[col[k] as usize];
                        }
                        *o = acc;
                    }
                }
            }
        }
    }

    /// Transposed drive `out[r][i] = sum_j C_ji a[r][j]`: the adjoint of [`Self::forward`]
    /// (and the reversed drive of paper Eq. 21).
    pub fn backward(&self, rows: usize, a: &[T], out: &mut [T]) {
        match self {
            Weights::Dense { pre, post, c } => {
                assert!(a.len() >= rows * post && out.len() >= rows * pre);
                // SAFETY: a is rows x post, c is post x pre, out is rows x pre.
                unsafe {
                    T::gemm(
                        rows,
                        *post,
                        *pre,
                        T::ONE,
                        a.as_ptr(),
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
            Weights::Sparse {
                pre,
                post,
                row_ptr,
                col,
                c,
            } => {
                out[..rows * pre].fill(T::ZERO);
                for r in 0..rows {
                    let ar = &a[r * post..(r + 1) * post];
                    let or = &mut out[r * pre..(r + 1) * pre];
                    for (j, &h) in ar.iter().enumerate() {
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
            Weights::Dense { .. } => {
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
            Weights::Sparse {
                row_ptr, col, c, ..
            } => {
                let mut g = vec![T::ZERO; c.len()];
                for j in 0..post {
                    for k in row_ptr[j]..row_ptr[j + 1] {
                        let i = col[k] as usize;
                        let mut acc = T::ZERO;
                        for r in 0..rows {
                            acc += pre_tr[r * pre + i] * post_tr[r * post + j];
                        }
                        g[k] = acc;
                    }
                }
                g
            }
        }
    }
}
