//! The synapse rows of workers on other MPI ranks, kept up to date on this rank.
//!
//! Across ranks a rank keeps, of the other ranks' rows, what its workers' backward
//! deliveries read: the columns of its own presynaptic neurons of a dense pair
//! ([`crate::engine::asynchronous::parts`]), every row of a sparse one (and, with a
//! per-synapse optimiser, their moments). A synapse's update reads only the two window
//! integrals it carried, which every worker receives as events, and its own state, so each
//! rank applies the updates of those synapses itself, with the same arithmetic in the same
//! order as their owners: they stay bit-identical on every rank without exchanging them.
//! The remote workers' blocks are dealt round-robin over this rank's workers; the forward
//! and reversed inputs the changes feed belong to the owners, which adjust them.

use super::update::optimiser_sample;
use super::{owned, Shared, Worker};
use crate::config::LearningMethod;
use crate::learning::connections::{change, update_sample};
use crate::topology::projection::Shape;

impl Worker {
    /// The workers of other ranks whose rows this worker updates.
    fn remote_blocks(&self, sh: &Shared<'_>) -> Vec<usize> {
        let local = sh.local.len().max(1);
        let me = self.id - sh.local.start;
        (0..sh.workers)
            .filter(|w| !sh.local.contains(w) && w % local == me)
            .collect()
    }

    /// Applies, to the rows of other ranks' workers dealt to this one, the updates that fell
    /// due at boundary `t` (what `apply_updates` does to the own rows, less the inputs).
    pub(super) fn update_remote_rows(&mut self, sh: &Shared<'_>, t: u64) {
        if sh.local.len() == sh.workers || sh.settings.method != LearningMethod::Connections {
            return;
        }
        let blocks = self.remote_blocks(sh);
        if blocks.is_empty() {
            return;
        }
        let kt = sh.settings.kt;
        let with_optimiser = !sh.optimiser_rows.is_empty();
        let due = |s: &super::Sample, l: usize| {
            s.train && sh.timing.boundary(sh.timing.update_due(s.start, l)) == t
        };
        if with_optimiser {
            for l in 0..sh.sizes.len() - 1 {
                if Self::steps_at(sh, l, t) {
                    for &w in &blocks {
                        sh.deltas[l][w].write().expect("deltas lock").fill(0.0);
                    }
                }
            }
        }
        for s in sh.samples.iter() {
            for l in 0..sh.sizes.len() - 1 {
                if !due(s, l) {
                    continue;
                }
                let (pre, post) = (sh.sizes[l], sh.sizes[l + 1]);
                let p = &self.pre_integral[l][s.slot * pre..(s.slot + 1) * pre];
                let q = &self.post_integral[l + 1][s.slot * post..(s.slot + 1) * post];
                let shape = sh.shapes[l];
                for &w in &blocks {
                    let posts = owned(post, w, sh.workers);
                    if with_optimiser {
                        optimiser_sample(sh, s, l, w, posts, p, q);
                    } else {
                        let mut block = sh.rows[l][w].write().expect("rows lock");
                        match shape {
                            // As `update_dense`: only the presynaptic neurons that carried
                            // something, C + ΔC per synapse.
                            Shape::Dense => {
                                // Whole rows, or the slab of this rank's columns (`parts`).
                                let (width, col0) = sh.block_width(l, w);
                                let p = &p[col0..col0 + width];
                                for (jj, j) in posts.enumerate() {
                                    let row = &mut block[jj * width..(jj + 1) * width];
                                    for (i, c) in row.iter_mut().enumerate() {
                                        if p[i] != 0.0 {
                                            *c += change(p[i], q[j], s.scale, kt, true);
                                        }
                                    }
                                }
                            }
                            Shape::Sparse(..) => {
                                update_sample(&shape, pre, posts, &mut block, p, q, s.scale, kt)
                            }
                        }
                    }
                }
            }
        }
    }
}
