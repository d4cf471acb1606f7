//! Batched integration of one layer's forward or reversed systems: the inner loop of the
//! synchronous engine.
//!
//! Storage is structure-of-arrays: element `k` of neuron `j` in batch row `r` lives at
//! `x[k][r * n + j]`, so the loop over neurons is contiguous in every array and vectorises.
//! Coefficients are per neuron (method 1 moves a neuron's own K3), stored the same way.
//! Every type is generic over the number type (`f32` by default; the gradient check runs the
//! same kernel in `f64`), and each neuron's step is `neuron::kernel::raw`.

#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod euler512;
mod span;

use super::kernel::{self, clamp_nonneg, EULER, RK4, SEMI_IMPLICIT};
use super::{Coefficients, Integrator, System, ELEMENTS};
use crate::real::Real;

/// Per-neuron coefficients of one system for a whole layer, `[element][neuron]`.
#[derive(Debug, Clone)]
pub struct LayerCoefficients<T = f32> {
    pub n: usize,
    pub gen: [Vec<T>; ELEMENTS],
    pub decay: [Vec<T>; ELEMENTS],
    pub inhib: [Vec<T>; ELEMENTS],
    /// Set while every neuron has the same coefficients, so kernels can keep them in
    /// registers instead of loading fifteen per neuron.
    shared: Option<Coefficients<T>>,
}

impl LayerCoefficients {
    /// The same coefficients in the number type `T`.
    pub fn to<T: Real>(&self) -> LayerCoefficients<T> {
        let conv = |v: &[Vec<f32>; ELEMENTS]| {
            v.each_ref()
                .map(|e| e.iter().map(|&x| T::from_f32(x)).collect())
        };
        LayerCoefficients {
            n: self.n,
            gen: conv(&self.gen),
            decay: conv(&self.decay),
            inhib: conv(&self.inhib),
            shared: self.shared.map(|c| c.to()),
        }
    }
}

impl<T: Real> LayerCoefficients<T> {
    /// Every neuron of the layer with the same coefficients.
    pub fn uniform(c: &Coefficients<T>, n: usize) -> Self {
        LayerCoefficients {
            n,
            gen: c.gen.map(|v| vec![v; n]),
            decay: c.decay.map(|v| vec![v; n]),
            inhib: c.inhib.map(|v| vec![v; n]),
            shared: Some(*c),
        }
    }

    /// The common coefficients, if every neuron has the same.
    pub fn shared(&self) -> Option<Coefficients<T>> {
        self.shared
    }

    /// Neuron `j`'s coefficients.
    #[inline(always)]
    pub fn get(&self, j: usize) -> Coefficients<T> {
        Coefficients {
            gen: std::array::from_fn(|k| self.gen[k][j]),
            decay: std::array::from_fn(|k| self.decay[k][j]),
            inhib: std::array::from_fn(|k| self.inhib[k][j]),
        }
    }

    /// Replaces neuron `j`'s coefficients.
    pub fn set(&mut self, j: usize, c: &Coefficients<T>) {
        if self.shared.is_some_and(|s| s != *c) {
            self.shared = None;
        }
        for k in 0..ELEMENTS {
            self.gen[k][j] = c.gen[k];
            self.decay[k][j] = c.decay[k];
            self.inhib[k][j] = c.inhib[k];
        }
    }
}

/// State of one system of a layer for `rows` samples at once.
#[derive(Debug, Clone, Default)]
pub struct LayerState<T = f32> {
    pub rows: usize,
    pub n: usize,
    pub x: [Vec<T>; ELEMENTS],
}

impl<T: Real> LayerState<T> {
    pub fn new(rows: usize, n: usize) -> Self {
        LayerState {
            rows,
            n,
            x: std::array::from_fn(|_| vec![T::ZERO; rows * n]),
        }
    }

    /// Puts every sample at rest: `rest[k][j]` is neuron j's fixed point of element k.
    pub fn reset(&mut self, rest: &[Vec<T>; ELEMENTS]) {
        for k in 0..ELEMENTS {
            for row in self.x[k].chunks_exact_mut(self.n) {
                row.copy_from_slice(&rest[k]);
            }
        }
    }
}

/// Where a step reads its input and writes its output signal.
pub struct Ports<'a, T = f32> {
    /// Element receiving `input`.
    pub input: usize,
    /// Input current per (row, neuron), added to the input element's derivative.
    pub current: &'a [T],
    /// Element whose deviation is the output signal.
    pub output: usize,
    /// Reference level of the output element per neuron (the signal is `x - reference`).
    pub reference: &'a [T],
    /// Receives the output signal after the step, per (row, neuron).
    pub signal: &'a mut [T],
    /// Accumulates `dt * signal` (the window integral of the signal).
    pub integral: &'a mut [T],
}

/// How a layer is stepped: scheme, step size and clamp.
#[derive(Debug, Clone, Copy)]
pub struct Stepping<T = f32> {
    pub integrator: Integrator,
    pub dt: T,
    pub clamp: bool,
}

/// Advances every sample of a layer by one step of `dt`, then writes the output signal and
/// adds it to its integral. Cost: about 20 flops per neuron and row (Euler), four times that
/// for RK4.
pub fn step<T: Real>(
    system: System,
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
) {
    dispatch::<T, false>(system, c, state, ports, how);
}

/// [`step`], returning how many element updates the clamp set to zero (the gradient
/// check's measure of how nonlinear a window was).
pub fn step_counting_clamps<T: Real>(
    system: System,
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
) -> usize {
    dispatch::<T, true>(system, c, state, ports, how)
}

fn dispatch<T: Real, const COUNT: bool>(
    system: System,
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
) -> usize {
    let rev = system == System::Reversed;
    match (kernel::code(how.integrator), rev) {
        (EULER, false) => rates::<T, false, EULER, COUNT>(c, state, ports, how),
        (EULER, true) => rates::<T, true, EULER, COUNT>(c, state, ports, how),
        (SEMI_IMPLICIT, false) => rates::<T, false, SEMI_IMPLICIT, COUNT>(c, state, ports, how),
        (SEMI_IMPLICIT, true) => rates::<T, true, SEMI_IMPLICIT, COUNT>(c, state, ports, how),
        (_, false) => rates::<T, false, RK4, COUNT>(c, state, ports, how),
        (_, true) => rates::<T, true, RK4, COUNT>(c, state, ports, how),
    }
}

/// How [`steps`] reads `ports.current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// One `rows x n` layer per step, step after step.
    PerStep,
    /// One `rows x n` layer, the same at every step (an entry layer's input).
    Held,
}

/// Advances every sample of a layer by `steps` steps in a row: `ports.signal` receives one
/// `rows x n` layer per step, step after step, and `ports.current` is read as `drive` says.
/// The numbers are those of `steps` calls of [`step`], each element's operations in the same
/// order; but each block of neurons keeps its state in registers over the whole span, so
/// the state is read and written once instead of once per step.
pub fn steps<T: Real>(
    system: System,
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
    (steps, drive): (usize, Drive),
) {
    let width = state.rows * state.n;
    let layers = if drive == Drive::PerStep { steps } else { 1 };
    assert!(
        ports.current.len() >= layers * width && ports.signal.len() >= steps * width,
        "a span of {steps} steps needs {layers} layers of drive and {steps} of signal"
    );
    let steps = span::Span {
        steps,
        drive_stride: if drive == Drive::PerStep { width } else { 0 },
    };
    let rev = system == System::Reversed;
    match (kernel::code(how.integrator), rev) {
        (EULER, false) => span_output::<T, false, EULER>(c, state, ports, how, steps),
        (EULER, true) => span_output::<T, true, EULER>(c, state, ports, how, steps),
        (SEMI_IMPLICIT, false) => {
            span_output::<T, false, SEMI_IMPLICIT>(c, state, ports, how, steps)
        }
        (SEMI_IMPLICIT, true) => span_output::<T, true, SEMI_IMPLICIT>(c, state, ports, how, steps),
        (_, false) => span_output::<T, false, RK4>(c, state, ports, how, steps),
        (_, true) => span_output::<T, true, RK4>(c, state, ports, how, steps),
    }
}

/// [`steps`] with the output element, counted from the input one, fixed at compile time.
fn span_output<T: Real, const REV: bool, const K: u8>(
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
    steps: span::Span,
) {
    match (ports.output + ELEMENTS - ports.input) % ELEMENTS {
        0 => span_rates::<T, REV, K, 0>(c, state, ports, how, steps),
        1 => span_rates::<T, REV, K, 1>(c, state, ports, how, steps),
        2 => span_rates::<T, REV, K, 2>(c, state, ports, how, steps),
        3 => span_rates::<T, REV, K, 3>(c, state, ports, how, steps),
        _ => span_rates::<T, REV, K, 4>(c, state, ports, how, steps),
    }
}

fn span_rates<T: Real, const REV: bool, const K: u8, const OUT: usize>(
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
    steps: span::Span,
) {
    let shape = (state.n, state.rows);
    let x = rotated(&mut state.x, ports.input);
    match c.shared() {
        Some(shared) => {
            let rates = Shared(rotate(&shared, ports.input));
            span::rows::<T, REV, K, OUT, _>(&rates, x, shape, ports, how, steps)
        }
        None => {
            let rates = PerNeuron::new(c, state.n, ports.input);
            span::rows::<T, REV, K, OUT, _>(&rates, x, shape, ports, how, steps)
        }
    }
}

/// Element `(i + by) % 5` of `v` as element `i`.
///
/// Both kernels relabel a layer's elements so that its input element is element 0. The
/// systems are cyclic (element i is fed by element i−1 and inhibited by i−2; reversed, by
/// i+1 and i+2), so the relabelled system is the same system, and with the input at a
/// constant index the current is added to one element, with no branch on the index in the
/// vectorised loop and no `0 · u` in the other four.
fn rotate_by<A: Copy>(v: [A; ELEMENTS], by: usize) -> [A; ELEMENTS] {
    std::array::from_fn(|i| v[(i + by) % ELEMENTS])
}

/// The coefficients relabelled as [`rotate_by`] does.
fn rotate<T: Copy>(c: &Coefficients<T>, by: usize) -> Coefficients<T> {
    Coefficients {
        gen: rotate_by(c.gen, by),
        decay: rotate_by(c.decay, by),
        inhib: rotate_by(c.inhib, by),
    }
}

/// A layer's elements relabelled as [`rotate_by`] does.
fn rotated<T>(x: &mut [Vec<T>; ELEMENTS], by: usize) -> [&mut [T]; ELEMENTS] {
    let mut x = x.each_mut().map(|v| v.as_mut_slice());
    x.rotate_left(by);
    x
}

/// Coefficient access for the kernel: one set for the whole layer, or one per neuron.
trait Rates<T> {
    /// A block's coefficients in [`steps`].
    type Block: span::LaneRates<T>;

    /// Neuron `j`'s coefficients.
    fn at(&self, j: usize) -> Coefficients<T>;

    /// The coefficients of neurons `j..j + lanes`, one per lane.
    fn block(&self, j: usize, lanes: usize) -> Self::Block;
}

/// Every neuron alike (the common case): coefficients stay in registers.
struct Shared<T>(Coefficients<T>);

impl<T: Copy> Rates<T> for Shared<T> {
    type Block = Coefficients<T>;

    #[inline(always)]
    fn at(&self, _j: usize) -> Coefficients<T> {
        self.0
    }

    #[inline(always)]
    fn block(&self, _j: usize, _lanes: usize) -> Coefficients<T> {
        self.0
    }
}

/// Per-neuron coefficients, each slice cut to the layer's length so that the indexing in
/// the inner loop needs no bounds check.
struct PerNeuron<'a, T>([&'a [T]; 5], [&'a [T]; 5], [&'a [T]; 5]);

impl<'a, T> PerNeuron<'a, T> {
    /// The first `n` neurons' coefficients, relabelled as [`rotate_by`] does.
    fn new(c: &'a LayerCoefficients<T>, n: usize, by: usize) -> Self {
        let cut = |v: &'a [Vec<T>; 5]| rotate_by(v.each_ref().map(|e| &e[..n]), by);
        PerNeuron(cut(&c.gen), cut(&c.decay), cut(&c.inhib))
    }
}

impl<T: Real> Rates<T> for PerNeuron<'_, T> {
    type Block = span::PerLane<T>;

    fn block(&self, j: usize, lanes: usize) -> span::PerLane<T> {
        let lane = |v: &[&[T]; 5]| {
            std::array::from_fn(|i| {
                std::array::from_fn(|l| if l < lanes { v[i][j + l] } else { T::ZERO })
            })
        };
        span::PerLane {
            gen: lane(&self.0),
            decay: lane(&self.1),
            inhib: lane(&self.2),
        }
    }

    #[inline(always)]
    fn at(&self, j: usize) -> Coefficients<T> {
        Coefficients {
            gen: std::array::from_fn(|i| self.0[i][j]),
            decay: std::array::from_fn(|i| self.1[i][j]),
            inhib: std::array::from_fn(|i| self.2[i][j]),
        }
    }
}

fn rates<T: Real, const REV: bool, const K: u8, const COUNT: bool>(
    c: &LayerCoefficients<T>,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
) -> usize {
    let (n, rows_of) = (state.n, state.rows);
    let by = ports.input;
    let x = rotated(&mut state.x, by);
    match c.shared() {
        Some(shared) => {
            let rates = Shared(rotate(&shared, by));
            // The Euler step of an `f32` layer in 512-bit registers, where the build has them.
            #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
            let (x, ports) = {
                let (mut x, mut ports) = (x, ports);
                let (dt, clamp) = (how.dt, how.clamp);
                if K == EULER
                    && !COUNT
                    && euler512::step::<T, REV>(
                        &rates.0,
                        &mut x,
                        (n, rows_of),
                        &mut ports,
                        dt,
                        clamp,
                    )
                {
                    return 0;
                }
                (x, ports)
            };
            rows::<T, REV, K, COUNT, _>(&rates, x, (n, rows_of), ports, how)
        }
        None => {
            let rates = PerNeuron::new(c, n, by);
            rows::<T, REV, K, COUNT, _>(&rates, x, (n, rows_of), ports, how)
        }
    }
}

/// One step of every sample; `x` and the rates are relabelled with the input at element 0.
#[inline(always)]
fn rows<T: Real, const REV: bool, const K: u8, const COUNT: bool, R: Rates<T>>(
    rates: &R,
    [x0, x1, x2, x3, x4]: [&mut [T]; ELEMENTS],
    (n, samples): (usize, usize),
    ports: Ports<'_, T>,
    how: Stepping<T>,
) -> usize {
    let (dt, clamp) = (how.dt, how.clamp);
    let reference = &ports.reference[..n];
    let mut clamped = 0usize;
    for r in 0..samples {
        let o = r * n;
        let (r0, r1, r2, r3, r4) = (
            &mut x0[o..o + n],
            &mut x1[o..o + n],
            &mut x2[o..o + n],
            &mut x3[o..o + n],
            &mut x4[o..o + n],
        );
        let cur = &ports.current[o..o + n];
        for j in 0..n {
            let x = [r0[j], r1[j], r2[j], r3[j], r4[j]];
            let v = kernel::raw::<T, REV, K>(&rates.at(j), &x, 0, cur[j], dt);
            if COUNT && clamp {
                clamped += v.iter().filter(|&&e| e < T::ZERO).count();
            }
            let next = if clamp { v.map(clamp_nonneg) } else { v };
            r0[j] = next[0];
            r1[j] = next[1];
            r2[j] = next[2];
            r3[j] = next[3];
            r4[j] = next[4];
        }
        // The output signal in a second, contiguous pass over the chosen element: a runtime
        // index into the state inside the loop above would keep it from vectorising.
        let out: &[T] = match (ports.output + ELEMENTS - ports.input) % ELEMENTS {
            0 => r0,
            1 => r1,
            2 => r2,
            3 => r3,
            _ => r4,
        };
        let sig = &mut ports.signal[o..o + n];
        let int = &mut ports.integral[o..o + n];
        for j in 0..n {
            let s = out[j] - reference[j];
            sig[j] = s;
            int[j] += dt * s;
        }
    }
    clamped
}
