//! Delivery: a worker applies the events of the last window, in (time, origin, seq) order,
//! to its own actors' input rings — each synapse scales the event by its C and delivers it
//! its delay later (a resting actor wakes when its row is taken). Forward deliveries of a dense
//! projection read a transposed copy of the worker's own rows, one contiguous row per
//! presynaptic neuron.

use std::sync::RwLockReadGuard;

use super::layer_index::LayerIndex;
use super::pools::{InputPools, Part};
use super::ring::Ring;
use super::{Shared, Worker};
use crate::engine::asynchronous::comm::{Event, EventKind};
use crate::engine::asynchronous::delays::Delays;
use crate::neuron::System;
use crate::topology::projection::Shape;

/// A read lock on one worker's row block of a projection.
pub(super) type RowGuard<'g, 'a> = RwLockReadGuard<'g, &'a mut [f32]>;

/// Read-locks every row block of every projection.
pub(super) fn lock_rows<'g, 'a>(sh: &'g Shared<'a>) -> Vec<Vec<RowGuard<'g, 'a>>> {
    (sh.rows.iter())
        .map(|blocks| {
            (blocks.iter())
                .map(|b| b.read().expect("rows lock"))
                .collect()
        })
        .collect()
}

impl Worker {
    /// Forgets the transposed coefficients (someone else changed C).
    pub fn invalidate(&mut self) {
        self.transposed.clear();
    }

    /// Transposes the own rows of every dense projection (when invalidated).
    pub fn transpose(&mut self, sh: &Shared<'_>) {
        if !self.transposed.is_empty() {
            return;
        }
        // The reversed wave's deliveries read the rows.
        if !self.role.runs(System::Forward) {
            self.transposed = vec![Vec::new(); sh.shapes.len()];
            return;
        }
        self.pools.stale();
        self.transposed = sh
            .shapes
            .iter()
            .enumerate()
            .map(|(l, shape)| match shape {
                Shape::Sparse(..) => Vec::new(),
                Shape::Dense => {
                    let (pre, n_own) = (sh.sizes[l], self.ranges[l + 1].len());
                    let block = sh.rows[l][self.id].read().expect("rows lock");
                    let mut ct = vec![0.0; pre * n_own];
                    super::transpose::transpose_into(&mut ct, &block, n_own, pre);
                    ct
                }
            })
            .collect();
    }

    /// Indexes sparse projections by presynaptic neuron (once; the wiring never changes).
    pub fn index(&mut self, shapes: &[Shape<'_>], sizes: &[usize]) {
        if self.by_pre.len() == shapes.len() {
            return;
        }
        self.by_pre = shapes
            .iter()
            .enumerate()
            .map(|(l, shape)| match shape {
                Shape::Dense => None,
                Shape::Sparse(row_ptr, col) => {
                    let own = &self.ranges[l + 1];
                    let mut count = vec![0usize; sizes[l] + 1];
                    for j in own.clone() {
                        for &i in &col[row_ptr[j]..row_ptr[j + 1]] {
                            count[i as usize + 1] += 1;
                        }
                    }
                    for i in 0..sizes[l] {
                        count[i + 1] += count[i];
                    }
                    let mut fill = count.clone();
                    let mut entries = vec![(0u32, 0u32); count[sizes[l]]];
                    for j in own.clone() {
                        for k in row_ptr[j]..row_ptr[j + 1] {
                            let i = col[k] as usize;
                            entries[fill[i]] = (j as u32, k as u32);
                            fill[i] += 1;
                        }
                    }
                    Some((count, entries))
                }
            })
            .collect();
    }

    /// Per projection whose events go into a [`Group`] (dense, one fixed delay): its delay
    /// and the own post- and presynaptic neuron counts. Fixed for a call: found at its start.
    pub(super) fn find_grouped(&mut self, sh: &Shared<'_>) {
        let ranges = &self.ranges;
        self.grouped = (0..sh.sizes.len() - 1)
            .map(|l| match (&sh.shapes[l], &sh.delays[l]) {
                (Shape::Dense, Delays::Fixed(d)) => {
                    Some((*d, ranges[l + 1].len(), ranges[l].len()))
                }
                _ => None,
            })
            .collect();
    }

    /// Applies this window's signal events to the own actors' input rings, in event order.
    /// `rows`: every row block, read-locked (see [`Worker::run`]).
    ///
    /// Over a dense projection with one fixed delay, the events of a layer emitted at one
    /// step all land in one ring row: they are gathered into a [`Group`] and added to the
    /// row in one pass, each slot's sum still taken in event order (the same floats as one
    /// pass per event, without loading and storing the row once per event).
    pub(super) fn deliver(
        &mut self,
        sh: &Shared<'_>,
        rows: &[Vec<RowGuard<'_, '_>>],
        inbox: &[Event],
    ) {
        let layers = sh.sizes.len();
        // A wave's worker delivers only its wave's events (it takes in the other's at the
        // exchanges, for their readouts and integrals).
        let [forward_wave, reversed_wave] =
            [System::Forward, System::Reversed].map(|s| self.role.runs(s));
        let [mut forward, mut backward] = std::mem::take(&mut self.groups);
        let grouped = std::mem::take(&mut self.grouped);
        let mut next = 0;
        while let Some(ev) = inbox.get(next) {
            next += 1;
            let (l, i) = self.layer_index.locate(sh.base, ev.origin);
            match ev.kind {
                EventKind::Forward if forward_wave && l + 1 < layers => {
                    if let Some((delay, n_own, _)) = grouped[l].filter(|g| g.1 > 0) {
                        // This event and the forward ones after it from the same layer (they
                        // come in runs), each a column of C into the ring row of its
                        // arrival step, with the layer's look-ups made once for the run.
                        let origins = sh.base[l]..sh.base[l + 1];
                        let mut run = Run::from(inbox, next - 1, EventKind::Forward, origins);
                        // The input layer's pixels of equal value pooled (`pools`), over
                        // the events of one window.
                        let pooled = (l == 0)
                            .then(|| self.pools.prepare(ev.time, &self.transposed[0], n_own))
                            .flatten();
                        if let Some((_, closes)) = pooled {
                            run.last_time = closes;
                        }
                        let pools = &self.pools;
                        let (block, parts) = match pooled {
                            Some((tag, _)) => (POOLS + tag, pools.parts(tag)),
                            None => (OWN, &[][..]),
                        };
                        next = run.walk(&mut self.carried_f[l], |i, ev, delta| {
                            let Some((block, column)) = forward_column(parts, block, i) else {
                                return;
                            };
                            let at = ev.time + delay;
                            if forward.key != Some((l + 1, at)) {
                                let source = forward_source(&self.transposed, pools);
                                forward.flush(&mut self.ring_f, source);
                                forward.key = Some((l + 1, at));
                            }
                            forward.terms.push((block, column * n_own, delta));
                            self.work.deliveries += n_own as u64;
                        });
                        continue;
                    }
                    let delta = carry(&mut self.carried_f[l][i], ev.value);
                    if delta == 0.0 {
                        continue;
                    }
                    let own = self.ranges[l + 1].clone();
                    if own.is_empty() {
                        continue;
                    }
                    let block = &rows[l][self.id];
                    let ring = &mut self.ring_f[l + 1];
                    let n_own = own.len();
                    let delays = &sh.delays[l];
                    let pre = sh.sizes[l];
                    match (&sh.shapes[l], &self.by_pre[l]) {
                        (Shape::Dense, _) => {
                            for jj in 0..n_own {
                                let k = (own.start + jj) * pre + i;
                                let at = ev.time + delays.of(k);
                                ring.add(at, jj, block[jj * pre + i] * delta);
                            }
                            self.work.deliveries += n_own as u64;
                        }
                        (Shape::Sparse(row_ptr, _), Some((start, entries))) => {
                            let base = row_ptr[own.start];
                            for &(j, k) in &entries[start[i]..start[i + 1]] {
                                let jj = j as usize - own.start;
                                let at = ev.time + delays.of(k as usize);
                                ring.add(at, jj, block[k as usize - base] * delta);
                            }
                            self.work.deliveries += (start[i + 1] - start[i]) as u64;
                        }
                        (Shape::Sparse(..), None) => unreachable!("indexed before the first run"),
                    }
                }
                EventKind::Backward if reversed_wave && l > sh.timing.first_reversed => {
                    // Neuron j = i of layer l sends back to layer l - 1 over projection l - 1.
                    let (j, p) = (i, l - 1);
                    if let Some((delay, _, n_own)) = grouped[p].filter(|g| g.2 > 0) {
                        // As forward: the run of this layer's reversed events, each a row
                        // of C (of its owner's block) into the ring row of its arrival step.
                        let origins = sh.base[l]..sh.base[l + 1];
                        let own_start = self.ranges[p].start;
                        let run = Run::from(inbox, next - 1, EventKind::Backward, origins);
                        next = run.walk(&mut self.carried_r[l], |j, ev, delta| {
                            let at = ev.time + delay;
                            if backward.key != Some((p, at)) {
                                let source = |p: usize, w: usize| &rows[p][w][..];
                                backward.flush(&mut self.ring_r, source);
                                backward.key = Some((p, at));
                            }
                            let index = &self.layer_index;
                            let (owner, start) = row_start(index, sh, p, own_start, ev.origin, j);
                            backward.terms.push((owner, start, delta));
                            self.work.deliveries += n_own as u64;
                        });
                        continue;
                    }
                    let delta = carry(&mut self.carried_r[l][j], ev.value);
                    if delta == 0.0 {
                        continue;
                    }
                    let (owner, first_row) = self.layer_index.owner(ev.origin);
                    let (width, col0) = sh.block_width(p, owner);
                    let own = self.ranges[p].clone();
                    if own.is_empty() {
                        continue;
                    }
                    let block = &rows[p][owner];
                    let cols = own.start - col0..own.end - col0;
                    let ring = &mut self.ring_r[p];
                    let n_own = own.len();
                    let delays = &sh.delays[p];
                    let pre = sh.sizes[p];

                    match &sh.shapes[p] {
                        Shape::Dense => {
                            let row = &block[(j - first_row) * width..][..width];
                            for ii in 0..n_own {
                                let k = j * pre + own.start + ii;
                                let at = ev.time + delays.of(k);
                                ring.add(at, ii, row[cols.start + ii] * delta);
                            }
                            self.work.deliveries += n_own as u64;
                        }
                        Shape::Sparse(row_ptr, col) => {
                            let base = row_ptr[first_row];
                            for k in row_ptr[j]..row_ptr[j + 1] {
                                let i = col[k] as usize;
                                if own.contains(&i) {
                                    let ii = i - own.start;
                                    let at = ev.time + delays.of(k);
                                    ring.add(at, ii, block[k - base] * delta);
                                    self.work.deliveries += 1;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        forward.flush(
            &mut self.ring_f,
            forward_source(&self.transposed, &self.pools),
        );
        backward.flush(&mut self.ring_r, |p, w| &rows[p][w][..]);
        self.groups = [forward, backward];
        self.grouped = grouped;
    }
}

impl Worker {
    /// Whether this worker is the only one to deliver its actors' signal events, all of
    /// them to actors of its own: alone in the engine, or one wave of the wave split (each
    /// wave's events stay with it). Then the events of a step can go straight from the
    /// actors that fired to the input rings ([`Worker::deliver_fired`]).
    pub(super) fn delivers_alone(&self, sh: &Shared<'_>) -> bool {
        match self.role {
            super::Role::Both => sh.workers == 1,
            super::Role::Wave(_) => true,
        }
    }

    /// Whether the events layer `l`'s actors fire in `system` at step `n` may be delivered
    /// as they fire, given that nothing else changes the ring row they go to before the
    /// boundary (`run_windows` checks the window: one step, no update at its end, not the
    /// call's last). They must go into a [`Group`] (a dense projection with one fixed
    /// delay), and the layer's window must not close at `n + 1`: its close's returns to
    /// zero carry the same time, and in the window's order they come neuron by neuron
    /// between the fired events.
    pub(super) fn delivers_fired(&self, sh: &Shared<'_>, l: usize, system: System, n: u64) -> bool {
        let pop = &self.populations[l][system as usize];
        let grouped = match system {
            System::Forward => (l + 1 < sh.sizes.len())
                .then(|| self.grouped[l])
                .flatten()
                .is_some_and(|g| g.1 > 0),
            System::Reversed => (l > sh.timing.first_reversed)
                .then(|| self.grouped[l - 1])
                .flatten()
                .is_some_and(|g| g.2 > 0),
        };
        grouped && pop.window.is_some() && pop.closes != n + 1
    }

    /// Delivers the events of layer `l`'s actors that fired in `system` at step `n` (time
    /// `n + 1`) from the fired list, as [`Worker::deliver`] would deliver them from the
    /// window's events at the boundary: each neuron's change of carried value, in neuron
    /// order, one term of a [`Group`] into the ring row of its arrival step. The same
    /// floats, without an event to build, sort and walk.
    pub(super) fn deliver_fired(
        &mut self,
        sh: &Shared<'_>,
        rows: &[Vec<RowGuard<'_, '_>>],
        l: usize,
        system: System,
        n: u64,
    ) {
        let mut group = std::mem::take(&mut self.groups[system as usize]);
        let key = self.fired_terms(sh, l, system, n, &mut group.terms);
        if !group.terms.is_empty() {
            group.key = Some(key);
        }
        match system {
            System::Forward => group.flush(
                &mut self.ring_f,
                forward_source(&self.transposed, &self.pools),
            ),
            System::Reversed => group.flush(&mut self.ring_r, |p, w| &rows[p][w][..]),
        }
        self.groups[system as usize] = group;
    }

    /// Appends to `terms` the terms of layer `l`'s events fired in `system` at step `n`
    /// (the fired list) as [`Worker::deliver_fired`] delivers them, and counts their
    /// deliveries; returns the ring row they go to: (target layer, arrival step). Their
    /// coefficients are in [`forward_source`]'s blocks (forward) or the row blocks
    /// (reversed).
    pub(super) fn fired_terms(
        &mut self,
        sh: &Shared<'_>,
        l: usize,
        system: System,
        n: u64,
        terms: &mut Vec<Term>,
    ) -> (usize, u64) {
        let which = system as usize;
        let fired = &self.fired[which];
        let sent = &self.populations[l][which].sent;
        let first = self.ranges[l].start;
        let before = terms.len();
        terms.reserve(fired.len());
        let (key, n_own) = match system {
            System::Forward => {
                let (delay, n_own, _) = self.grouped[l].expect("checked by delivers_fired");
                let pooled = (l == 0)
                    .then(|| self.pools.prepare(n + 1, &self.transposed[0], n_own))
                    .flatten();
                let parts = pooled.map_or(&[][..], |(tag, _)| self.pools.parts(tag));
                let pool_block = pooled.map_or(OWN, |(tag, _)| POOLS + tag);
                let carried = &mut self.carried_f[l];
                push_terms(fired, first, sent, carried, terms, |i| {
                    forward_column(parts, pool_block, i).map(|(b, column)| (b, column * n_own))
                });
                ((l + 1, n + 1 + delay), n_own)
            }
            System::Reversed => {
                let p = l - 1;
                let (delay, _, n_own) = self.grouped[p].expect("checked by delivers_fired");
                let own_start = self.ranges[p].start;
                let (carried, index) = (&mut self.carried_r[l], &self.layer_index);
                push_terms(fired, first, sent, carried, terms, |j| {
                    let origin = sh.base[l] + j as u32;
                    Some(row_start(index, sh, p, own_start, origin, j))
                });
                ((p, n + 1 + delay), n_own)
            }
        };
        self.work.deliveries += ((terms.len() - before) * n_own) as u64;
        key
    }
}

/// Appends a term for each of the `fired` actors (own indices; the layer's first own
/// neuron is `first`) whose synapses' carried value changes to its `sent` value: `at(i)`
/// says where neuron i's coefficients start (`None`: it delivers nothing).
#[inline(always)]
fn push_terms(
    fired: &[u32],
    first: usize,
    sent: &[f32],
    carried: &mut [f32],
    terms: &mut Vec<Term>,
    at: impl Fn(usize) -> Option<(usize, usize)>,
) {
    for &jj in fired {
        let i = first + jj as usize;
        let delta = carry(&mut carried[i], sent[jj as usize]);
        if delta == 0.0 {
            continue;
        }
        if let Some((block, start)) = at(i) {
            terms.push((block, start, delta));
        }
    }
}

/// A neuron's synapses now carry `value`: returns the change from what they carried, which
/// they deliver (scaled by each one's C).
#[inline(always)]
fn carry(carried: &mut f32, value: f32) -> f32 {
    value - std::mem::replace(carried, value)
}

/// Where input neuron `i`'s forward event reads its coefficients, given the window's pool
/// `parts` (empty: no pools) and the pools' block: its own column (`OWN`), its pool's column
/// sum, or nothing (a member: its pool's first pixel delivers for it).
#[inline(always)]
fn forward_column(parts: &[u32], pools: usize, i: usize) -> Option<(usize, usize)> {
    match parts.get(i).map(|&p| Part::of(p)) {
        None | Some(Part::Own) => Some((OWN, i)),
        Some(Part::Pool(k)) => Some((pools, k)),
        Some(Part::Member) => None,
    }
}

/// Where a reversed event of neuron j (global id `origin`) reads its coefficients over
/// projection `p`: (its owner, the start of the own presynaptic neurons' part of row j in
/// the owner's block). The block holds whole rows, or across ranks the slab of this rank's
/// columns (which hold every own presynaptic neuron, from `own_start`).
#[inline(always)]
fn row_start(
    index: &LayerIndex,
    sh: &Shared<'_>,
    p: usize,
    own_start: usize,
    origin: u32,
    j: usize,
) -> (usize, usize) {
    let (owner, first_row) = index.owner(origin);
    let (width, col0) = sh.block_width(p, owner);
    (owner, (j - first_row) * width + own_start - col0)
}

/// A forward term's block: a presynaptic neuron's own column of the transposed rows, or
/// (`POOLS + tag`) an input pool's column sum.
const OWN: usize = 0;
const POOLS: usize = 1;

/// Where a forward group's terms read their coefficients: the transposed rows of the
/// projection into target layer `l`, or the input pools' sums.
pub(super) fn forward_source<'c>(
    transposed: &'c [Vec<f32>],
    pools: &'c InputPools,
) -> impl Fn(usize, usize) -> &'c [f32] {
    move |l, block| match block {
        OWN => &transposed[l - 1][..],
        tag => pools.sums(tag - POOLS),
    }
}

/// A run of events of one kind from one layer's neurons, in the window's order: they come
/// in runs, each layer's events of a step together.
struct Run<'e> {
    events: &'e [Event],
    /// Index in the window of the run's first event.
    first: usize,
    kind: EventKind,
    /// Global ids of the layer's neurons.
    origins: std::ops::Range<u32>,
    /// The run ends before an event of a later time.
    last_time: u64,
}

impl<'e> Run<'e> {
    /// The run that starts at `inbox[first]`.
    fn from(
        inbox: &'e [Event],
        first: usize,
        kind: EventKind,
        origins: std::ops::Range<u32>,
    ) -> Self {
        Run {
            events: inbox,
            first,
            kind,
            origins,
            last_time: u64::MAX,
        }
    }

    /// Walks the run: each event replaces its neuron's carried value in `carried` (indexed
    /// within the layer), and `each(neuron, event, change)` sees the events that change it.
    /// Returns the index after the run.
    #[inline(always)]
    fn walk(self, carried: &mut [f32], mut each: impl FnMut(usize, &Event, f32)) -> usize {
        let mut at = self.first;
        while let Some(ev) = self.events.get(at) {
            if ev.kind != self.kind
                || !self.origins.contains(&ev.origin)
                || ev.time > self.last_time
            {
                break;
            }
            at += 1;
            let i = (ev.origin - self.origins.start) as usize;
            let delta = carry(&mut carried[i], ev.value);
            if delta != 0.0 {
                each(i, ev, delta);
            }
        }
        at
    }
}

/// One event's term of a ring row: (the block holding its coefficients, their offset
/// there, the change of carried value they scale).
pub(super) type Term = (usize, usize, f32);

/// Events bound for one ring row (one target layer, one arrival step), not yet added:
/// per event, where the coefficients of its synapses onto the own actors start, and its
/// change.
#[derive(Debug, Default)]
pub(super) struct Group {
    /// (target layer, arrival step); `None` while empty.
    key: Option<(usize, u64)>,
    terms: Vec<Term>,
}

impl Group {
    /// Adds the gathered events to their row of the target layer's ring and empties the
    /// group. `source(l, b)`: the coefficients in block b for target layer l.
    fn flush<'c>(&mut self, rings: &mut [Ring], source: impl Fn(usize, usize) -> &'c [f32]) {
        let Some((l, at)) = self.key.take() else {
            return;
        };
        let row = rings[l].row_mut(at);
        let n_own = row.len();
        accumulate(row, &self.terms, |b, start| {
            &source(l, b)[start..start + n_own]
        });
        self.terms.clear();
    }
}

/// `row[j] += c[j] * delta` for each term `(b, start, delta)` in order, with `c =
/// coefficients(b, start)`, a block of the row held in registers across the terms: every
/// slot's sum is taken in term order, as with one pass per term.
///
/// A block's slots are independent chains of additions, each waiting on the one before:
/// blocks of 128 keep sixteen 256-bit registers' chains in flight (four, with blocks of
/// 32, left the adder waiting on its latency); the rest of the row goes in 64, 32, 16 and 8.
fn accumulate<'c>(
    row: &mut [f32],
    terms: &[(usize, usize, f32)],
    coefficients: impl Fn(usize, usize) -> &'c [f32],
) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    {
        // SAFETY: the build has AVX-512F (the cfg above).
        unsafe { simd::accumulate(row, terms, &coefficients) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    accumulate_portable(row, terms, coefficients)
}

/// [`accumulate`] in the vectors the compiler chooses (256-bit ones on x86-64).
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "avx512f"),
    allow(dead_code)
)]
fn accumulate_portable<'c>(
    row: &mut [f32],
    terms: &[(usize, usize, f32)],
    coefficients: impl Fn(usize, usize) -> &'c [f32],
) {
    let mut start = blocks::<128>(row, 0, terms, &coefficients);
    start = blocks::<64>(row, start, terms, &coefficients);
    start = blocks::<32>(row, start, terms, &coefficients);
    start = blocks::<16>(row, start, terms, &coefficients);
    start = blocks::<8>(row, start, terms, &coefficients);
    let n = row.len();
    for &(b, offset, delta) in terms {
        let c = coefficients(b, offset);
        for (slot, &ck) in row[start..].iter_mut().zip(&c[start..n]) {
            *slot += ck * delta;
        }
    }
}

/// [`accumulate`] over the blocks of `B` slots from `start` that fit in the row; returns
/// where they end.
#[inline(always)]
fn blocks<'c, const B: usize>(
    row: &mut [f32],
    mut start: usize,
    terms: &[(usize, usize, f32)],
    coefficients: &impl Fn(usize, usize) -> &'c [f32],
) -> usize {
    while start + B <= row.len() {
        let out: &mut [f32; B] = (&mut row[start..start + B]).try_into().unwrap();
        let mut acc = *out;
        for &(b, offset, delta) in terms {
            let c: &[f32; B] = coefficients(b, offset)[start..start + B]
                .try_into()
                .unwrap();
            for k in 0..B {
                acc[k] += c[k] * delta;
            }
        }
        *out = acc;
        start += B;
    }
    start
}

/// [`accumulate`] in 512-bit registers, which the compiler does not choose by itself: blocks
/// of 128 slots in eight registers, then one block of the rest with its last register
/// masked (no scalar tail). Each lane rounds the product and then the sum, as the scalar
/// code does: the same bits.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod simd {
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub(super) fn accumulate<'c>(
        row: &mut [f32],
        terms: &[(usize, usize, f32)],
        coefficients: &impl Fn(usize, usize) -> &'c [f32],
    ) {
        let n = row.len();
        let mut start = 0;
        while n - start > 128 {
            block::<8>(row, start, 128, terms, coefficients);
            start += 128;
        }
        let len = n - start;
        match len.div_ceil(16) {
            0 => {}
            1 => block::<1>(row, start, len, terms, coefficients),
            2 => block::<2>(row, start, len, terms, coefficients),
            3 => block::<3>(row, start, len, terms, coefficients),
            4 => block::<4>(row, start, len, terms, coefficients),
            5 => block::<5>(row, start, len, terms, coefficients),
            6 => block::<6>(row, start, len, terms, coefficients),
            7 => block::<7>(row, start, len, terms, coefficients),
            _ => block::<8>(row, start, len, terms, coefficients),
        }
    }

    /// The slots `start..start + len` of the row, `len` in `16 * (V - 1) + 1..=16 * V`,
    /// in `V` registers held across the terms.
    #[target_feature(enable = "avx512f")]
    #[inline]
    fn block<'c, const V: usize>(
        row: &mut [f32],
        start: usize,
        len: usize,
        terms: &[(usize, usize, f32)],
        coefficients: &impl Fn(usize, usize) -> &'c [f32],
    ) {
        let row = &mut row[start..start + len];
        let last = len - 16 * (V - 1);
        let mask: __mmask16 = if last == 16 { !0 } else { (1 << last) - 1 };
        // Loads and stores stay inside the slice: every register but the last is whole,
        // and the last touches only its first `last` lanes.
        let load = |p: *const f32, k: usize| {
            // SAFETY: `p` points at `len` values (see above).
            unsafe {
                if k + 1 < V {
                    _mm512_loadu_ps(p.add(16 * k))
                } else {
                    _mm512_maskz_loadu_ps(mask, p.add(16 * k))
                }
            }
        };
        let mut acc: [__m512; V] = std::array::from_fn(|k| load(row.as_ptr(), k));
        for &(b, offset, delta) in terms {
            let c = &coefficients(b, offset)[start..start + len];
            let d = _mm512_set1_ps(delta);
            for (k, a) in acc.iter_mut().enumerate() {
                *a = _mm512_add_ps(*a, _mm512_mul_ps(load(c.as_ptr(), k), d));
            }
        }
        let p = row.as_mut_ptr();
        for (k, &a) in acc.iter().enumerate() {
            // SAFETY: as the loads.
            unsafe {
                if k + 1 < V {
                    _mm512_storeu_ps(p.add(16 * k), a)
                } else {
                    _mm512_mask_storeu_ps(p.add(16 * k), mask, a)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{accumulate, accumulate_portable};

    /// The blocked accumulation gives every slot the bits of adding the terms one pass at a
    /// time, in order, at row lengths that take every block size, whole and masked (the
    /// 512-bit path where the build has it), and so does the portable one.
    #[test]
    fn accumulate_adds_in_term_order() {
        for n in [1, 10, 16, 17, 32, 125, 128, 129, 300] {
            let values = |seed: u32| -> Vec<f32> {
                (0..n as u32)
                    .map(|k| ((k * 7919 + seed * 104_729) % 1000) as f32 / 997.0 - 0.5)
                    .collect()
            };
            let blocks = [values(1), values(2)];
            let terms = [(0, 0, 0.3f32), (1, 0, -1.7e-3), (0, 0, 2.5e4), (1, 0, 1e-7)];
            let mut expected = values(3);
            for &(b, _, delta) in &terms {
                for (slot, &c) in expected.iter_mut().zip(&blocks[b]) {
                    *slot += c * delta;
                }
            }
            let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let mut row = values(3);
            accumulate(&mut row, &terms, |b, start| &blocks[b][start..]);
            assert_eq!(bits(&row), bits(&expected), "row of {n}");
            let mut row = values(3);
            accumulate_portable(&mut row, &terms, |b, start| &blocks[b][start..]);
            assert_eq!(bits(&row), bits(&expected), "row of {n}, portable");
            if n >= 125 {
                // And not what one sum of the scaled columns per slot would give.
                let mut fused = values(3);
                for (k, slot) in fused.iter_mut().enumerate() {
                    *slot += terms.iter().map(|&(b, _, d)| blocks[b][k] * d).sum::<f32>();
                }
                assert_ne!(bits(&fused), bits(&expected));
            }
        }
    }
}
