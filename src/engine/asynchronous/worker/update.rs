//! The synapse update (method 2): when both of a synapse's windows have closed, it adds
//! lr · G2 of its two carried window integrals to its C. A worker writes only the rows it owns (its
//! postsynaptic neurons), keeps its transposed copy in step, and adjusts the inputs the
//! changed synapses feed.
//!
//! With a per-synapse optimiser (`learning.optimiser` other than `sgd`) a sample's G2 goes
//! into its synapse's sum for the minibatch instead, and the minibatch's last sample ends
//! it: each synapse takes one optimiser step on its batch-mean G2 with its own moments
//! (`learning::optimiser::step_synapses`), the synchronous engine's arithmetic. Between
//! steps C does not move, so a minibatch's samples see the same C unless their waves
//! overlap a step (pipelining).

use std::ops::Range;
use std::sync::RwLockWriteGuard;

use super::transpose::{transpose_into, write_back};
use super::{owned, owner_of, Role, Sample, Shared, Worker};
use crate::config::LearningMethod;
use crate::engine::asynchronous::delays::Delays;
use crate::learning::connections::{change, column_changes, row_changes, update_sample};
use crate::learning::optimiser;
use crate::neuron::System;
use crate::topology::projection::Shape;

impl Worker {
    pub(super) fn updates_due(&self, sh: &Shared<'_>, t: u64) -> bool {
        sh.settings.method == LearningMethod::Connections
            && sh.samples.iter().any(|s| {
                s.train
                    && (0..sh.sizes.len() - 1)
                        .any(|l| sh.timing.boundary(sh.timing.update_due(s.start, l)) == t)
            })
    }

    /// Method 2: every synapse whose windows have both closed adds lr * G2 to its C.
    /// The rows are this worker's; the postsynaptic current is adjusted by ΔC times the
    /// value each synapse carries, so the input stays the sum of C times carried values.
    pub(super) fn apply_updates(&mut self, sh: &Shared<'_>, t: u64) {
        // The rows of other ranks' workers, which this rank keeps too (none with one rank).
        self.update_remote_rows(sh, t);
        if !sh.optimiser_rows.is_empty() {
            return self.apply_optimiser_updates(sh, t);
        }
        let kt = sh.settings.kt;
        for s in sh.samples.iter().filter(|s| s.train) {
            for l in 0..sh.sizes.len() - 1 {
                if sh.timing.boundary(sh.timing.update_due(s.start, l)) != t {
                    continue;
                }
                let (pre, post) = (sh.sizes[l], sh.sizes[l + 1]);
                // Lent out for the call below (which borrows the whole worker).
                let (pre_int, post_int) = (
                    std::mem::take(&mut self.pre_integral[l]),
                    std::mem::take(&mut self.post_integral[l + 1]),
                );
                let p = &pre_int[s.slot * pre..(s.slot + 1) * pre];
                let q = &post_int[s.slot * post..(s.slot + 1) * post];
                let own = self.ranges[l + 1].clone();
                let shape = sh.shapes[l];
                if let Shape::Dense = shape {
                    // The transposed copy and the forward inputs go with the forward
                    // systems; rows updated row by row (`rows_apart`) carry the reversed
                    // inputs' compensation. The wave split's waves each do their half.
                    if self.role.runs(System::Forward) {
                        self.update_dense(sh, l, p, &q[own.clone()], s.scale);
                    }
                    if self.rows_apart(sh, l) {
                        self.update_rows(sh, l, p, &q[own.clone()], s.scale);
                    }
                } else {
                    let mut block = sh.rows[l][self.id].write().expect("rows lock");
                    let carried = &self.carried_f[l];
                    let old = carried.iter().any(|&v| v != 0.0).then(|| block.to_vec());
                    update_sample(&shape, pre, own.clone(), &mut block[..], p, q, s.scale, kt);
                    self.work.synapse_updates += block.len() as u64;
                    if let Some(old) = old {
                        for_rows(&shape, pre, own.clone(), |jj, k0, cols| {
                            let mut comp = 0.0f32;
                            for (m, i) in cols.enumerate() {
                                comp += (block[k0 + m] - old[k0 + m]) * carried[i];
                            }
                            self.populations[l + 1][0].input[jj] += comp;
                        });
                    }
                }
                // Reversed currents of own presynaptic neurons, for later samples' backward
                // waves already carried by these synapses.
                let carried = &self.carried_r[l + 1];
                if self.role == Role::Both
                    && !self.rows_apart(sh, l)
                    && l >= sh.timing.first_reversed
                    && carried.iter().any(|&v| v != 0.0)
                {
                    let dense = matches!(shape, Shape::Dense);
                    let own_pre = self.ranges[l].clone();
                    let mut comp = vec![0.0f32; own_pre.len()];
                    let own_p = &p[own_pre.clone()];
                    // Outer loop over j, so the inner loop runs along contiguous i (and
                    // vectorises); each comp[ii] still sums over j in increasing order.
                    for (j, &v) in carried.iter().enumerate() {
                        // A zero change adds exactly nothing: skip it.
                        if v == 0.0 || q[j] == 0.0 {
                            continue;
                        }
                        if dense {
                            let changes = &mut self.changes;
                            changes.resize(own_p.len(), 0.0);
                            row_changes(changes, own_p, q[j], s.scale, kt);
                            for (cv, &d) in comp.iter_mut().zip(&*changes) {
                                *cv += d * v;
                            }
                            continue;
                        }
                        for (ii, cv) in comp.iter_mut().enumerate() {
                            let i = own_pre.start + ii;
                            if synapse_exists(&shape, pre, i, j) {
                                *cv += change(p[i], q[j], s.scale, kt, false) * v;
                            }
                        }
                    }
                    for (u, cv) in self.populations[l][1].input.iter_mut().zip(&comp) {
                        *u += cv;
                    }
                }
                self.pre_integral[l] = pre_int;
                self.post_integral[l + 1] = post_int;
            }
        }
    }

    /// One sample's update of the own rows of dense projection `l` (`q`: the post integrals
    /// of the own rows), synapse by synapse with `change()`, as `update_sample` does, but
    /// only over the presynaptic neurons whose forward window carried something: a synapse
    /// with p = 0 has G2 = 0 and nothing to add. It runs along the transposed copy (one
    /// contiguous row of own postsynaptic neurons per presynaptic neuron, vectorised), writes
    /// the new values back into the rows, and adjusts the forward input of each own neuron
    /// by ΔC times the carried value, summed over i in increasing order as before: the same
    /// numbers as updating every synapse.
    fn update_dense(&mut self, sh: &Shared<'_>, l: usize, p: &[f32], q: &[f32], scale: f32) {
        let kt = sh.settings.kt;
        let pre = sh.sizes[l];
        let n_own = q.len();
        // The new values go into the rows, unless nobody reads them before the call ends:
        // then the columns wait in `stale` (see `write_back_stale`). In the wave split the
        // reversed wave updates the rows it reads itself (`update_rows`).
        let idle = Self::rows_idle(sh, l);
        let mut block = (!idle && self.role == Role::Both && !self.rows_apart(sh, l))
            .then(|| sh.rows[l][self.id].write().expect("rows lock"));
        let carried = &self.carried_f[l];
        let ct = &mut self.transposed[l];
        if l == 0 {
            self.pools.stale();
        }
        let comp = &mut self.comp;
        comp.clear();
        comp.resize(n_own, 0.0);
        let follow = carried.iter().any(|&v| v != 0.0);
        let active = &mut self.active;
        active.clear();
        active.extend((0..pre).filter(|&i| p[i] != 0.0));
        let changes = &mut self.changes;
        changes.resize(n_own, 0.0);
        // A tile's columns are written back while they are still in the L1 cache.
        for columns in active.chunks(TILE) {
            for &i in columns {
                column_changes(changes, p[i], q, scale, kt);
                let column = &mut ct[i * n_own..(i + 1) * n_own];
                let v = carried[i];
                if follow && v != 0.0 {
                    for ((c, &d), cv) in column.iter_mut().zip(&*changes).zip(comp.iter_mut()) {
                        let c0 = *c;
                        *c = c0 + d;
                        *cv += (*c - c0) * v;
                    }
                } else {
                    for (c, &d) in column.iter_mut().zip(&*changes) {
                        *c += d;
                    }
                }
            }
            if let Some(block) = block.as_mut() {
                write_back(block, ct, columns, n_own);
            }
        }
        if idle {
            let stale = &mut self.stale[l];
            stale.resize(pre, false);
            for &i in active.iter() {
                stale[i] = true;
            }
        }
        self.work.synapse_updates += (pre * n_own) as u64;
        if follow {
            for (u, &cv) in self.populations[l + 1][0].input.iter_mut().zip(comp.iter()) {
                *u += cv;
            }
        }
    }

    /// The wave split's reversed wave: one sample's update of the rows of dense projection
    /// `l` (all of them: `q` the post integrals), with the arithmetic of [`update_dense`]
    /// on the transposed copy, so that the forward wave's copy and these rows stay equal
    /// bit for bit; the forward wave counts the synapse updates. Row by row, each change
    /// also goes into the reversed input of its presynaptic neuron times the value the
    /// synapse carries back, summed over j in increasing order as `apply_updates` sums it.
    fn update_rows(&mut self, sh: &Shared<'_>, l: usize, p: &[f32], q: &[f32], scale: f32) {
        let kt = sh.settings.kt;
        let pre = sh.sizes[l];
        let mut block = sh.rows[l][self.id].write().expect("rows lock");
        let carried = &self.carried_r[l + 1];
        let follow = carried.iter().any(|&v| v != 0.0);
        let comp = &mut self.comp;
        comp.clear();
        comp.resize(pre, 0.0);
        let changes = &mut self.changes;
        changes.resize(pre, 0.0);
        for ((row, &qj), &v) in block.chunks_exact_mut(pre).zip(q).zip(carried) {
            row_changes(changes, p, qj, scale, kt);
            // A presynaptic neuron that carried nothing leaves its synapses as they are, as
            // `update_dense` skips its column.
            if follow && v != 0.0 && qj != 0.0 {
                for (((c, &pi), cv), &d) in
                    row.iter_mut().zip(p).zip(comp.iter_mut()).zip(&*changes)
                {
                    let next = *c + d;
                    *c = if pi != 0.0 { next } else { *c };
                    *cv += d * v;
                }
            } else {
                for ((c, &pi), &d) in row.iter_mut().zip(p).zip(&*changes) {
                    let next = *c + d;
                    *c = if pi != 0.0 { next } else { *c };
                }
            }
        }
        if follow {
            for (u, &cv) in self.populations[l][1].input.iter_mut().zip(comp.iter()) {
                *u += cv;
            }
        }
    }

    /// Whether dense projection `l`'s rows are updated row by row ([`Worker::update_rows`],
    /// which also moves the reversed inputs) rather than written back from the transposed
    /// copy: the reversed wave's, and a lone worker's above the first reversed layer (it owns
    /// every row and every presynaptic neuron, so the compensation's sum over all rows is
    /// its own; the same arithmetic either way, without the transposes and without
    /// computing every change again for the compensation).
    fn rows_apart(&self, sh: &Shared<'_>, l: usize) -> bool {
        let lone = self.role == Role::Both && sh.workers == 1;
        (lone || self.role == Role::Wave(System::Reversed))
            && matches!(sh.shapes[l], Shape::Dense)
            && l >= sh.timing.first_reversed
    }

    /// Whether no one reads dense projection `l`'s rows during a call, so its updates may
    /// live in the transposed copy alone until the call ends: forward deliveries read the
    /// copy (one fixed delay), and no backward wave crosses it (it lies below the first
    /// reversed layer).
    fn rows_idle(sh: &Shared<'_>, l: usize) -> bool {
        l < sh.timing.first_reversed && matches!(sh.delays[l], Delays::Fixed(_))
    }

    /// Writes the columns that updates left in the transposed copy alone (`rows_idle`) into
    /// the rows, at the end of a call.
    pub(super) fn write_back_stale(&mut self, sh: &Shared<'_>) {
        for l in 0..self.stale.len() {
            if !self.stale[l].contains(&true) {
                continue;
            }
            let columns: Vec<usize> = (0..self.stale[l].len())
                .filter(|&i| self.stale[l][i])
                .collect();
            let mut block = sh.rows[l][self.id].write().expect("rows lock");
            write_back(
                &mut block,
                &self.transposed[l],
                &columns,
                self.ranges[l + 1].len(),
            );
            self.stale[l].fill(false);
        }
    }

    /// Whether a minibatch ends with an optimiser step on projection `l` at boundary `t`.
    pub(super) fn steps_at(sh: &Shared<'_>, l: usize, t: u64) -> bool {
        sh.samples.iter().any(|s| {
            s.train && s.step.is_some() && sh.timing.boundary(sh.timing.update_due(s.start, l)) == t
        })
    }

    /// With a per-synapse optimiser: every synapse whose windows have both closed adds its
    /// sample's share of the batch-mean G2 to its sum; a minibatch's last sample then steps
    /// the optimiser over the own rows. The forward inputs of own neurons follow the change
    /// at once (ΔC times the carried value); the reversed inputs of the presynaptic neurons,
    /// which other workers may own, follow in [`Worker::follow_optimiser_steps`].
    fn apply_optimiser_updates(&mut self, sh: &Shared<'_>, t: u64) {
        for l in 0..sh.sizes.len() - 1 {
            if Self::steps_at(sh, l, t) {
                sh.deltas[l][self.id]
                    .write()
                    .expect("deltas lock")
                    .fill(0.0);
            }
        }
        for s in sh.samples.iter().filter(|s| s.train) {
            for l in 0..sh.sizes.len() - 1 {
                if sh.timing.boundary(sh.timing.update_due(s.start, l)) != t {
                    continue;
                }
                let (pre, post) = (sh.sizes[l], sh.sizes[l + 1]);
                let p = &self.pre_integral[l][s.slot * pre..(s.slot + 1) * pre];
                let q = &self.post_integral[l + 1][s.slot * post..(s.slot + 1) * post];
                let own = self.ranges[l + 1].clone();
                let shape = sh.shapes[l];
                let Some((block, change)) = optimiser_sample(sh, s, l, self.id, own.clone(), p, q)
                else {
                    continue;
                };
                if let Shape::Dense = shape {
                    transpose_into(&mut self.transposed[l], &block, own.len(), pre);
                    self.pools.stale();
                }
                self.work.synapse_updates += block.len() as u64;
                let carried = &self.carried_f[l];
                if carried.iter().any(|&v| v != 0.0) {
                    for_rows(&shape, pre, own.clone(), |jj, k0, cols| {
                        let mut comp = 0.0f32;
                        for (m, i) in cols.enumerate() {
                            comp += change[k0 + m] * carried[i];
                        }
                        self.populations[l + 1][0].input[jj] += comp;
                    });
                }
            }
        }
    }

    /// After the update barrier, when every worker has stepped its rows: the reversed input
    /// of each own presynaptic neuron i follows the changes of its synapses, Σ_j ΔC_ji times
    /// the value each carries back (summed in increasing j, whoever owns row j).
    pub(super) fn follow_optimiser_steps(&mut self, sh: &Shared<'_>, t: u64) {
        if sh.optimiser_rows.is_empty() {
            return;
        }
        for l in sh.timing.first_reversed..sh.sizes.len() - 1 {
            let carried = &self.carried_r[l + 1];
            if !Self::steps_at(sh, l, t) || carried.iter().all(|&v| v == 0.0) {
                continue;
            }
            let post = sh.sizes[l + 1];
            let deltas: Vec<_> = sh.deltas[l]
                .iter()
                .map(|d| d.read().expect("deltas lock"))
                .collect();
            let own_pre = self.ranges[l].clone();
            let mut comp = vec![0.0f32; own_pre.len()];
            for (j, &v) in carried.iter().enumerate() {
                if v == 0.0 {
                    continue;
                }
                let owner = owner_of(post, j, sh.workers);
                let first_row = owned(post, owner, sh.workers).start;
                let block = &deltas[owner];
                match sh.shapes[l] {
                    Shape::Dense => {
                        let (width, col0) = sh.block_width(l, owner);
                        let row = &block[(j - first_row) * width..][..width];
                        let cols = own_pre.start - col0..own_pre.end - col0;
                        for (cv, &d) in comp.iter_mut().zip(&row[cols]) {
                            *cv += d * v;
                        }
                    }
                    Shape::Sparse(row_ptr, col) => {
                        let base = row_ptr[first_row];
                        for k in row_ptr[j]..row_ptr[j + 1] {
                            let i = col[k] as usize;
                            if own_pre.contains(&i) {
                                comp[i - own_pre.start] += block[k - base] * v;
                            }
                        }
                    }
                }
            }
            for (u, cv) in self.populations[l][1].input.iter_mut().zip(&comp) {
                *u += cv;
            }
        }
    }
}

/// Sample `s`'s share of the batch-mean G2 (`p`, `q`: its window integrals of projection
/// `l`) into the sums of worker `w`'s rows `posts` and, when `s` ends its minibatch, the
/// optimiser step over them: each synapse moves on its own sum and moments, the sums
/// restart, and each change is added to `deltas[l][w]`. When it stepped: the rows, still
/// write-locked, and the changes.
pub(super) fn optimiser_sample<'g, 'a>(
    sh: &'g Shared<'a>,
    s: &Sample,
    l: usize,
    w: usize,
    posts: Range<usize>,
    p: &[f32],
    q: &[f32],
) -> Option<(RwLockWriteGuard<'g, &'a mut [f32]>, Vec<f32>)> {
    let shape = sh.shapes[l];
    let mut rows = sh.optimiser_rows[l][w].lock().expect("optimiser lock");
    let o = &mut *rows;
    // A slab of another rank's rows is a dense block of its own width (`parts`).
    let (width, col0) = sh.block_width(l, w);
    update_sample(
        &shape,
        width,
        posts,
        o.grad,
        &p[col0..],
        q,
        s.scale,
        sh.settings.kt,
    );
    let step = s.step?;
    let mut block = sh.rows[l][w].write().expect("rows lock");
    let mut change = vec![0.0f32; block.len()];
    optimiser::step_synapses(
        sh.settings.optimiser,
        step.lr,
        step.t,
        o.grad,
        &mut block,
        o.m,
        o.v,
        &mut change,
    );
    o.grad.fill(0.0);
    let mut delta = sh.deltas[l][w].write().expect("deltas lock");
    for (d, &c) in delta.iter_mut().zip(&change) {
        *d += c;
    }
    Some((block, change))
}

/// Calls `f(local row, first coefficient index in the block, presynaptic indices)` for the
/// rows `own` of a block.
fn for_rows(
    shape: &Shape<'_>,
    pre: usize,
    own: Range<usize>,
    mut f: impl FnMut(usize, usize, Box<dyn Iterator<Item = usize> + '_>),
) {
    match shape {
        Shape::Dense => {
            for jj in 0..own.len() {
                f(jj, jj * pre, Box::new(0..pre));
            }
        }
        Shape::Sparse(row_ptr, col) => {
            let base = row_ptr[own.start];
            for (jj, j) in own.enumerate() {
                let cols = col[row_ptr[j]..row_ptr[j + 1]].iter().map(|&i| i as usize);
                f(jj, row_ptr[j] - base, Box::new(cols));
            }
        }
    }
}

fn synapse_exists(shape: &Shape<'_>, _pre: usize, i: usize, j: usize) -> bool {
    match shape {
        Shape::Dense => true,
        Shape::Sparse(row_ptr, col) => col[row_ptr[j]..row_ptr[j + 1]].contains(&(i as u32)),
    }
}

/// Columns of a [`write_back`] call's tile in `update_dense` (written back while in L1).
const TILE: usize = 16;
