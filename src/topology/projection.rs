//! A layer pair's synapses in computable form: dense (`full` wiring, matrix products through
//! `matrixmultiply`) or compressed sparse rows (one-to-one and random wiring).
//!
//! Two operations, each over a batch of `rows` samples stored row-major: the forward drive
//! `u_j = sum_i C_ji D_i` (paper Eq. 20) and the reversed drive `û_i = sum_j C_ji D̂_j`
//! (Eq. 21, same C, reversed direction). The learning rule that changes C lives in
//! `learning::connections`.

use serde::{Deserialize, Serialize};

/// The synapses of one layer pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Projection {
    /// `c[j * pre + i]` is C from presynaptic i to postsynaptic j.
    Dense {
        pre: usize,
        post: usize,
        c: Vec<f32>,
    },
    /// CSR by postsynaptic neuron: synapses of j are `row_ptr[j]..row_ptr[j + 1]`.
    Sparse {
        pre: usize,
        post: usize,
        row_ptr: Vec<usize>,
        col: Vec<u32>,
        c: Vec<f32>,
    },
}

impl Projection {
    /// A dense projection from `(post, pre, c)` triples covering every pair in row order.
    pub fn dense(
        pre: usize,
        post: usize,
        synapses: impl Iterator<Item = (usize, usize, f32)>,
    ) -> Self {
        let mut c = vec![0.0; pre * post];
        for (j, i, v) in synapses {
            c[j * pre + i] = v;
        }
        Projection::Dense { pre, post, c }
    }

    /// A sparse projection from `(post, pre, c)` triples sorted by `post`.
    pub fn sparse(
        pre: usize,
        post: usize,
        synapses: impl Iterator<Item = (usize, usize, f32)>,
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
    pub fn coefficients_mut(&mut self) -> &mut [f32] {
        match self {
            Projection::Dense { c, .. } | Projection::Sparse { c, .. } => c,
        }
    }

    /// The coefficients in the topology's canonical edge order (by post, then pre).
    pub fn coefficients(&self) -> &[f32] {
        match self {
            Projection::Dense { c, .. } | Projection::Sparse { c, .. } => c,
        }
    }

    /// Forward drive: `out[r][j] = sum_i C_ji * d[r][i]` for `rows` samples.
    pub fn forward(&self, rows: usize, d: &[f32], out: &mut [f32]) {
        match self {
            Projection::Dense { pre, post, c } => {
                debug_assert_eq!(d.len(), rows * pre);
                debug_assert_eq!(out.len(), rows * post);
                // SAFETY: the slices hold rows x pre, post x pre and rows x post elements,
                // as the strides below describe.
                unsafe {
                    matrixmultiply::sgemm(
                        rows,
                        *pre,
                        *post,
                        1.0,
                        d.as_ptr(),
                        *pre as isize,
                        1,
                        c.as_ptr(),
                        1,
                        *pre as isize,
                        0.0,
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
                        *o = col[a..b]
                            .iter()
                            .zip(&c[a..b])
                            .map(|(&i, &w)| w * dr[i as usize])
                            .sum();
                    }
                }
            }
        }
    }

    /// Reversed drive: `out[r][i] = sum_j C_ji * dhat[r][j]`.
    pub fn backward(&self, rows: usize, dhat: &[f32], out: &mut [f32]) {
        match self {
            Projection::Dense { pre, post, c } => {
                // SAFETY: dhat is rows x post, c is post x pre, out is rows x pre.
                unsafe {
                    matrixmultiply::sgemm(
                        rows,
                        *post,
                        *pre,
                        1.0,
                        dhat.as_ptr(),
                        *post as isize,
                        1,
                        c.as_ptr(),
                        *pre as isize,
                        1,
                        0.0,
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
                out.fill(0.0);
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

    /// The structure and the coefficients, split so that the coefficients can be written
    /// while the structure is read.
    pub fn shape_and_coefficients(&mut self) -> (Shape<'_>, &mut [f32]) {
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
