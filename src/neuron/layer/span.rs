//! A layer over a span of consecutive steps, each block of neurons carried through the
//! whole span in registers: the synchronous engine's kernel when a chunk's drive is known.
//!
//! [`super::step`] sweeps the layer once per step, so every step reads and writes each
//! neuron's five elements and its integral: 48 of the 56 bytes a neuron-step moves. Here a
//! block of [`LANES`] neurons of one sample loads them once, takes every step of the span
//! (reading that step's drive, writing that step's signal) and stores them once. Each
//! element's operations are those of `step`, in the same order, so the numbers are bit for
//! bit those of `steps` calls of it. `step` keeps its own sweep: a span of one step, padded
//! blocks and all, made the asynchronous engine, which steps a layer one step at a time,
//! 8-10% slower.

use super::{kernel, Ports, Rates, Stepping};
use crate::neuron::kernel::clamp_nonneg;
use crate::neuron::{Coefficients, ELEMENTS};
use crate::real::Real;

/// Neurons per block: two 256-bit registers of `f32` per element, so a block's five
/// elements, integral and reference fit the sixteen vector registers of AVX2.
pub(super) const LANES: usize = 16;

/// A block's coefficients, one per lane.
pub(super) trait LaneRates<T> {
    fn lane(&self, l: usize) -> Coefficients<T>;
}

/// Every lane alike: the coefficients stay in registers.
impl<T: Copy> LaneRates<T> for Coefficients<T> {
    #[inline(always)]
    fn lane(&self, _l: usize) -> Coefficients<T> {
        *self
    }
}

/// Per-lane coefficients of a block, `[element][lane]` (lanes past the layer's end are
/// zero: their state stays zero and nothing of them is written).
pub(super) struct PerLane<T> {
    pub(super) gen: [[T; LANES]; ELEMENTS],
    pub(super) decay: [[T; LANES]; ELEMENTS],
    pub(super) inhib: [[T; LANES]; ELEMENTS],
}

impl<T: Copy> LaneRates<T> for PerLane<T> {
    #[inline(always)]
    fn lane(&self, l: usize) -> Coefficients<T> {
        Coefficients {
            gen: std::array::from_fn(|i| self.gen[i][l]),
            decay: std::array::from_fn(|i| self.decay[i][l]),
            inhib: std::array::from_fn(|i| self.inhib[i][l]),
        }
    }
}

/// The steps of a span and where each step's drive is.
#[derive(Debug, Clone, Copy)]
pub(super) struct Span {
    pub(super) steps: usize,
    /// Values from one step's drive to the next's (0: the same drive every step).
    pub(super) drive_stride: usize,
}

/// Every sample of the layer through the span. `x` and the rates are relabelled with the
/// input at element 0 (`super::rotate_by`); `OUT` is the output element so relabelled.
#[inline(always)]
pub(super) fn rows<T, const REV: bool, const K: u8, const OUT: usize, R>(
    rates: &R,
    mut x: [&mut [T]; ELEMENTS],
    (n, samples): (usize, usize),
    ports: Ports<'_, T>,
    how: Stepping<T>,
    span: Span,
) where
    T: Real,
    R: Rates<T>,
{
    let width = samples * n;
    let Ports {
        current,
        reference,
        signal,
        integral,
        ..
    } = ports;
    for r in 0..samples {
        for j in (0..n).step_by(LANES) {
            let lanes = LANES.min(n - j);
            let block = Block {
                at: r * n + j,
                lanes,
                width,
                span,
            };
            let reference = pad(&reference[j..j + lanes]);
            let rates = rates.block(j, lanes);
            let io = (&mut x, current, &mut *signal, &mut *integral, &reference);
            match (lanes == LANES, how.clamp) {
                (true, true) => block.run::<T, REV, K, OUT, true, true, _>(&rates, io, how.dt),
                (true, false) => block.run::<T, REV, K, OUT, true, false, _>(&rates, io, how.dt),
                (false, true) => block.run::<T, REV, K, OUT, false, true, _>(&rates, io, how.dt),
                (false, false) => block.run::<T, REV, K, OUT, false, false, _>(&rates, io, how.dt),
            }
        }
    }
}

/// Up to [`LANES`] values, zero past their end.
#[inline(always)]
fn pad<T: Real>(v: &[T]) -> [T; LANES] {
    let mut out = [T::ZERO; LANES];
    out[..v.len()].copy_from_slice(v);
    out
}

/// What a block reads and writes: the layer's state, the drive, the signal, the integral
/// and its neurons' reference levels.
type Io<'a, 'b, T> = (
    &'a mut [&'b mut [T]; ELEMENTS],
    &'a [T],
    &'a mut [T],
    &'a mut [T],
    &'a [T; LANES],
);

/// One block: `lanes` neurons of one sample, from index `at` of every per-step layer.
struct Block {
    at: usize,
    lanes: usize,
    /// Values per step in `signal` (samples x neurons).
    width: usize,
    span: Span,
}

impl Block {
    /// `FULL`: all [`LANES`] lanes are neurons (every block but a layer's last); `CLAMP`:
    /// elements clamped at zero.
    #[inline(always)]
    fn run<
        T,
        const REV: bool,
        const K: u8,
        const OUT: usize,
        const FULL: bool,
        const CLAMP: bool,
        C,
    >(
        &self,
        rates: &C,
        (x, current, signal, integral, reference): Io<'_, '_, T>,
        dt: T,
    ) where
        T: Real,
        C: LaneRates<T>,
    {
        let (at, lanes) = (self.at, if FULL { LANES } else { self.lanes });
        let mut s: [[T; LANES]; ELEMENTS] = std::array::from_fn(|k| pad(&x[k][at..at + lanes]));
        let mut acc = pad(&integral[at..at + lanes]);
        for i in 0..self.span.steps {
            let o = i * self.width + at;
            let d = i * self.span.drive_stride + at;
            let cur = pad(&current[d..d + lanes]);
            let mut sig = [T::ZERO; LANES];
            for l in 0..LANES {
                let e = std::array::from_fn(|k| s[k][l]);
                let v = kernel::raw::<T, REV, K>(&rates.lane(l), &e, 0, cur[l], dt);
                let next = if CLAMP { v.map(clamp_nonneg) } else { v };
                for k in 0..ELEMENTS {
                    s[k][l] = next[k];
                }
                sig[l] = next[OUT] - reference[l];
                acc[l] += dt * sig[l];
            }
            signal[o..o + lanes].copy_from_slice(&sig[..lanes]);
        }
        for k in 0..ELEMENTS {
            x[k][at..at + lanes].copy_from_slice(&s[k][..lanes]);
        }
        integral[at..at + lanes].copy_from_slice(&acc[..lanes]);
    }
}
