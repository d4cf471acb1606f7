//! Plain steps layer by layer: between two control steps (a window opening or closing, an
//! update, a call's last step) only the waves' own signal events move, and each wave is a
//! chain in which a layer reads only the layer below it (forward) or above it (reversed).
//! A worker that delivers alone runs such a span one layer at a time: the layer's steps,
//! then its events into the next layer's ring rows over the whole span.
//!
//! Every actor still takes its arrivals, steps and fires at the same steps, every ring row
//! gets the same terms in the same order: the same floats as step by step. What changes is
//! where the coefficients come from. Step by step, each event reads its synapses' column
//! from the L2 cache; over a span, the rows are filled a tile of slots at a time, and a
//! tile's coefficients, read by every event of the span, stay in the L1 cache.

use super::delivery::{forward_source, RowGuard, Term};
use super::ring::Ring;
use super::step::number_unsent;
use super::{Shared, Stop, Worker};
use crate::config::LearningMethod;
use crate::neuron::System;

/// Steps in a span at most: the rings grow to hold a span's arrivals.
const SPAN: u64 = 64;

impl Worker {
    /// Whether this worker may run spans of plain steps from boundary `t` (when `direct`:
    /// one step per window, delivering alone, no update at `t + 1`, not the call's last
    /// step): the engine allows it, every projection groups its events (dense, one fixed
    /// delay), nothing is traced, and no `linearised` replay records the forward windows
    /// step by step.
    pub(super) fn spans_apply(&self, sh: &Shared<'_>, direct: bool) -> bool {
        direct
            && sh.spans
            && sh.trace.is_none()
            && self.trajectories.is_empty()
            && self
                .grouped
                .iter()
                .all(|g| g.is_some_and(|g| g.1 > 0 && g.2 > 0))
    }

    /// The end (exclusive) of the plain steps from `t`, at most [`SPAN`] and before `to - 1`
    /// (the call's last step): a step at which a window opens, a slot clears, a window
    /// closes at its end, or an update falls on its end is not plain. Windows of both waves
    /// count, whichever this worker runs: the wave split's waves meet where any closes.
    pub(super) fn plain_until(&self, sh: &Shared<'_>, t: u64, to: u64) -> u64 {
        let tm = sh.timing;
        let mut end = to.saturating_sub(1).min(t + SPAN);
        let mut cut = |control: u64| {
            if (t..end).contains(&control) {
                end = control;
            }
        };
        let updates = sh.settings.method == LearningMethod::Connections;
        for s in sh.samples {
            cut(s.start);
            for l in 0..sh.sizes.len() {
                let opens = s.start + tm.fwd_offset[l];
                cut(opens);
                cut(opens + tm.forward - 1);
                if s.train && l >= tm.first_reversed {
                    let opens = s.start + tm.rev_offset[l];
                    cut(opens);
                    cut(opens + tm.backward - 1);
                }
                if updates && s.train && l + 1 < sh.sizes.len() {
                    cut(tm.boundary(tm.update_due(s.start, l)).saturating_sub(1));
                }
            }
        }
        end
    }

    /// Runs the plain steps `t..end` ([`Worker::plain_until`]) layer by layer: the forward
    /// systems from the input layer up, then the reversed ones from the output layer down.
    /// `rows` are the row blocks the reversed events read.
    pub(super) fn run_span(
        &mut self,
        sh: &Shared<'_>,
        rows: &[Vec<RowGuard<'_, '_>>],
        t: u64,
        end: u64,
    ) -> Result<(), Stop> {
        let longest = self
            .grouped
            .iter()
            .flatten()
            .map(|g| g.0)
            .max()
            .unwrap_or(0);
        for ring in self.ring_f.iter_mut().chain(self.ring_r.iter_mut()) {
            ring.grow(SPAN + 1 + longest, t);
        }
        let mut terms = std::mem::take(&mut self.span_terms);
        let mut ends = std::mem::take(&mut self.span_ends);
        let result = self.span_layers(sh, rows, t..end, &mut terms, &mut ends);
        self.span_terms = terms;
        self.span_ends = ends;
        result
    }

    /// [`Worker::run_span`] with its buffers: each layer's steps, then its events of the
    /// span into the rows of the layer they go to.
    fn span_layers(
        &mut self,
        sh: &Shared<'_>,
        rows: &[Vec<RowGuard<'_, '_>>],
        steps: std::ops::Range<u64>,
        terms: &mut Vec<Term>,
        ends: &mut Vec<usize>,
    ) -> Result<(), Stop> {
        let layers = sh.sizes.len();
        let first = sh.timing.first_reversed;
        let forward = (self.role.runs(System::Forward))
            .then_some(0..layers)
            .into_iter()
            .flatten()
            .map(|l| (l, System::Forward, l + 1 < layers));
        let reversed = (self.role.runs(System::Reversed))
            .then_some(first..layers)
            .into_iter()
            .flatten()
            .rev()
            .map(|l| (l, System::Reversed, l > first));
        for (l, system, sends) in forward.chain(reversed) {
            let Some((target, at)) =
                self.span_layer(sh, l, system, steps.clone(), sends, terms, ends)?
            else {
                continue;
            };
            match system {
                System::Forward => {
                    let source = forward_source(&self.transposed, &self.pools);
                    let coefficients = |b: usize, start: usize| &source(target, b)[start..];
                    accumulate_steps(&mut self.ring_f[target], at, ends, terms, coefficients);
                }
                System::Reversed => {
                    let coefficients = |w: usize, start: usize| &rows[target][w][start..];
                    accumulate_steps(&mut self.ring_r[target], at, ends, terms, coefficients);
                }
            }
        }
        Ok(())
    }

    /// Layer `l`'s steps in `system` over `steps`: arrivals, the step, the count of its
    /// events, and (if they go anywhere) their terms, step by step in `terms`, where step
    /// k's end in `ends[k]`. Returns where the first step's terms arrive (target layer,
    /// arrival step), if any were gathered.
    #[allow(clippy::too_many_arguments)]
    fn span_layer(
        &mut self,
        sh: &Shared<'_>,
        l: usize,
        system: System,
        steps: std::ops::Range<u64>,
        sends: bool,
        terms: &mut Vec<Term>,
        ends: &mut Vec<usize>,
    ) -> Result<Option<(usize, u64)>, Stop> {
        let which = system as usize;
        terms.clear();
        ends.clear();
        let mut first = None;
        // A worker with both waves keeps the local time with the forward systems.
        let keeps_time = system == System::Forward || !self.role.runs(System::Forward);
        for n in steps.clone() {
            let ring = match system {
                System::Forward => &mut self.ring_f[l],
                System::Reversed => &mut self.ring_r[l],
            };
            self.populations[l][which].take_arrivals(ring, n);
            if keeps_time {
                self.advance_time(l, n);
            }
            self.step_layer(sh, l, system, n)?;
            let fired = &self.fired[which];
            self.work.events += fired.len() as u64;
            if sends {
                number_unsent(&mut self.seq[l], fired);
                let (target, at) = self.fired_terms(sh, l, system, n, terms);
                first.get_or_insert((target, at - (n - steps.start)));
            }
            ends.push(terms.len());
        }
        Ok(first.filter(|_| !terms.is_empty()))
    }
}

/// Adds the terms of consecutive steps to consecutive rows of `ring`: step k's terms
/// (`terms[ends[k - 1]..ends[k]]`) to the row of arrival step `at + k`, each slot's sum
/// taken in term order from the row's value, as [`super::delivery`]'s accumulation of one
/// row does: the same bits. `coefficients(b, start)`: a term's coefficients from `start`.
///
/// The rows are filled a tile of [`TILE`] slots at a time, every step's terms for one
/// tile before the next tile: the tile's coefficients stay in the L1 cache across the span.
/// Steps go [`STEPS`] at a time, their sums independent chains of additions in flight
/// together (one step's chain alone would leave the adder waiting on its latency).
fn accumulate_steps<'c>(
    ring: &mut Ring,
    at: u64,
    ends: &[usize],
    terms: &[Term],
    coefficients: impl Fn(usize, usize) -> &'c [f32],
) {
    let n = ring.width();
    // Each term's coefficients, looked up once for all tiles.
    let columns: Vec<Column<'c>> = (terms.iter())
        .map(|&(b, start, delta)| (&coefficients(b, start)[..n], delta))
        .collect();
    // The steps with terms: their rows (marked as holding arrivals) and terms.
    let mut steps: Vec<(usize, &[Column<'_>])> = Vec::with_capacity(ends.len());
    let mut first = 0;
    for (k, &stop) in ends.iter().enumerate() {
        if stop > first {
            let arrival = at + k as u64;
            ring.row_mut(arrival);
            steps.push((ring.index(arrival), &columns[first..stop]));
        }
        first = stop;
    }
    let mut rows = ring.rows_mut();
    let mut tile = 0;
    while tile < n {
        let width = TILE.min(n - tile);
        let mut groups = steps.chunks_exact(STEPS);
        for group in groups.by_ref() {
            let index: [usize; STEPS] = std::array::from_fn(|g| group[g].0);
            let lists: [_; STEPS] = std::array::from_fn(|g| group[g].1);
            let rows = rows
                .get_disjoint_mut(index)
                .expect("a span's rows are distinct");
            let mut tiles = rows.map(|r| &mut r[tile..tile + width]);
            // SAFETY: every column holds `n` values (sliced so above), and tile + width <= n.
            unsafe { add_tiles(&mut tiles, &lists, tile) };
        }
        for &(row, list) in groups.remainder() {
            // SAFETY: as above.
            unsafe { add_tiles(&mut [&mut rows[row][tile..tile + width]], &[list], tile) };
        }
        tile += width;
    }
}

/// A term's coefficients (sliced to the row's length) and the change they scale.
type Column<'c> = (&'c [f32], f32);

/// Slots per tile: two 512-bit registers. A tile's coefficients over a 300-neuron layer's
/// columns take 38 KB, inside the L1 cache.
const TILE: usize = 32;

/// Steps whose sums are taken together.
const STEPS: usize = 4;

/// `rows[g][s] += c[tile + s] * delta` for each `(c, delta)` of `lists[g]` in order.
///
/// # Safety
///
/// Every column holds at least `tile + rows[0].len()` values.
#[inline(always)]
unsafe fn add_tiles(rows: &mut [&mut [f32]], lists: &[&[Column<'_>]], tile: usize) {
    #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
    {
        // SAFETY: the build has AVX-512F (the cfg above); the columns' length is the
        // caller's promise.
        unsafe { simd::add_tiles(rows, lists, tile) }
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
    add_tiles_portable(rows, lists, tile)
}

/// [`add_tiles`] in the vectors the compiler chooses, a step at a time.
#[cfg_attr(
    all(target_arch = "x86_64", target_feature = "avx512f"),
    allow(dead_code)
)]
fn add_tiles_portable(rows: &mut [&mut [f32]], lists: &[&[Column<'_>]], tile: usize) {
    for (row, list) in rows.iter_mut().zip(lists) {
        if let Ok(out) = <&mut [f32; TILE]>::try_from(&mut **row) {
            let mut acc = *out;
            for &(c, delta) in list.iter() {
                let c: &[f32; TILE] = c[tile..tile + TILE].try_into().expect("a whole tile");
                for s in 0..TILE {
                    acc[s] += c[s] * delta;
                }
            }
            *out = acc;
            continue;
        }
        for &(c, delta) in list.iter() {
            for (slot, &ck) in row.iter_mut().zip(&c[tile..]) {
                *slot += ck * delta;
            }
        }
    }
}

/// [`add_tiles`] in 512-bit registers: two per step, masked where the tile is partial,
/// the steps' terms taken in lockstep while every step has one. Each lane rounds the
/// product and then the sum, as the scalar code does.
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod simd {
    use super::{Column, STEPS, TILE};
    use std::arch::x86_64::*;

    /// # Safety
    ///
    /// Every column of `lists` holds at least `tile + rows[0].len()` values, and the CPU
    /// has AVX-512F.
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(super) unsafe fn add_tiles(rows: &mut [&mut [f32]], lists: &[&[Column<'_>]], tile: usize) {
        // SAFETY: passed on.
        unsafe {
            if rows[0].len() == TILE {
                tiles::<true>(rows, lists, tile)
            } else {
                tiles::<false>(rows, lists, tile)
            }
        }
    }

    /// [`add_tiles`], with whole tiles (`FULL`: unmasked loads, which the multiplication
    /// takes as its operand) or a partial one.
    /// # Safety
    ///
    /// As [`add_tiles`].
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn tiles<const FULL: bool>(
        rows: &mut [&mut [f32]],
        lists: &[&[Column<'_>]],
        tile: usize,
    ) {
        let width = rows[0].len();
        assert!((1..=TILE).contains(&width) && rows.iter().all(|r| r.len() == width));
        debug_assert!(lists
            .iter()
            .flat_map(|l| l.iter())
            .all(|c| c.0.len() >= tile + width));
        let lanes = |w: usize| -> __mmask16 {
            if w >= 16 {
                !0
            } else {
                (1 << w) - 1
            }
        };
        let mask = [lanes(width), lanes(width.saturating_sub(16))];
        // SAFETY: every row has `width` slots (asserted above) and every column at least
        // `tile + width` values (the caller's promise); the loads and stores touch only
        // those (masked unless `FULL`, when `width` is the whole tile).
        let load = |p: *const f32, h: usize| unsafe {
            if FULL {
                _mm512_loadu_ps(p.add(16 * h))
            } else {
                _mm512_maskz_loadu_ps(mask[h], p.add(16 * h))
            }
        };
        let mut acc = [[_mm512_setzero_ps(); 2]; STEPS];
        for (a, row) in acc.iter_mut().zip(rows.iter()) {
            *a = [load(row.as_ptr(), 0), load(row.as_ptr(), 1)];
        }
        let add = |a: &mut [__m512; 2], &(c, delta): &Column<'_>| {
            // SAFETY: as `load` (the column holds `tile + width` values).
            let c = unsafe { c.as_ptr().add(tile) };
            let d = _mm512_set1_ps(delta);
            for (h, v) in a.iter_mut().enumerate() {
                *v = _mm512_add_ps(*v, _mm512_mul_ps(load(c, h), d));
            }
        };
        let mut done = 0;
        if let [l0, l1, l2, l3] = lists {
            let together = l0.iter().zip(*l1).zip(*l2).zip(*l3);
            for (((t0, t1), t2), t3) in together {
                let [a0, a1, a2, a3] = &mut acc;
                add(a0, t0);
                add(a1, t1);
                add(a2, t2);
                add(a3, t3);
                done += 1;
            }
        }
        for (a, list) in acc.iter_mut().zip(lists) {
            for term in &list[done..] {
                add(a, term);
            }
        }
        for (a, row) in acc.iter().zip(rows.iter_mut()) {
            for (h, &v) in a.iter().enumerate() {
                // SAFETY: as the loads.
                unsafe {
                    if FULL {
                        _mm512_storeu_ps(row.as_mut_ptr().add(16 * h), v)
                    } else {
                        _mm512_mask_storeu_ps(row.as_mut_ptr().add(16 * h), mask[h], v)
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{accumulate_steps, add_tiles_portable, Column, Ring, TILE};

    /// Over consecutive rows, tile by tile, each slot gets the bits of adding the step's
    /// terms one at a time in order to what the row held, at row lengths with whole and
    /// partial tiles; a step without terms leaves its row untouched.
    #[test]
    fn a_span_s_rows_get_their_steps_terms_in_order() {
        for n in [1, 15, 16, 17, 40, 300] {
            let value = |k: usize| ((k * 7919 % 1000) as f32 - 500.0) * 1.37e-3;
            let blocks: Vec<Vec<f32>> = (0..2)
                .map(|b| (0..4 * n).map(|k| value(k + 31 * b)).collect())
                .collect();
            let terms: Vec<(usize, usize, f32)> = vec![
                (0, 0, 0.3),
                (1, 2 * n, -1.7),
                (0, 3 * n, 2.1e-3),
                (1, n, 0.9),
            ];
            let ends = [2, 2, 3, 4];
            let mut ring = Ring::new(n, 8);
            ring.row_mut(5)
                .iter_mut()
                .enumerate()
                .for_each(|(s, v)| *v = value(s + 5));
            accumulate_steps(&mut ring, 5, &ends, &terms, |b, start| &blocks[b][start..]);
            let mut expected = vec![vec![0.0f32; n]; 4];
            expected[0] = (0..n).map(|s| value(s + 5)).collect();
            let mut first = 0;
            for (k, &stop) in ends.iter().enumerate() {
                for &(b, start, delta) in &terms[first..stop] {
                    for s in 0..n {
                        expected[k][s] += blocks[b][start + s] * delta;
                    }
                }
                first = stop;
            }
            for (k, want) in expected.iter().enumerate() {
                let mut input = vec![0.0; n];
                ring.take_into(5 + k as u64, &mut input, false, |_, _| {});
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&input), bits(want), "n {n}, step {k}");
            }
            assert!(ring.untouched(), "n {n}: only the steps' rows were used");
        }
    }

    /// The portable tile gives the bits of one term at a time, whole and partial.
    #[test]
    fn the_portable_tile_adds_in_term_order() {
        let c: Vec<f32> = (0..80).map(|k| (k as f32 - 20.0) * 0.731).collect();
        for width in [TILE, 5] {
            let mut row = vec![0.25f32; width];
            let step: &[Column<'_>] = &[(&c[..], 0.5f32), (&c[3..], -1.25)];
            add_tiles_portable(&mut [&mut row[..]], &[step], 16);
            for (s, &v) in row.iter().enumerate() {
                let want = 0.25 + c[16 + s] * 0.5 + c[19 + s] * -1.25;
                assert_eq!(v.to_bits(), want.to_bits());
            }
        }
    }
}
