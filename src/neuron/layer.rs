//! Batched integration of one layer's forward or reversed systems: the inner loop of the
//! synchronous engine.
//!
//! Storage is structure-of-arrays: element `k` of neuron `j` in batch row `r` lives at
//! `x[k][r * n + j]`, so the loop over neurons is contiguous in every array and vectorises.
//! Coefficients are per neuron (method 1 moves a neuron's own K3), stored the same way.
//! Every type is generic over the number type (`f32` by default; the gradient check runs the
//! same kernel in `f64`), and each neuron's step is `neuron::kernel::raw`.

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

/// Coefficient access for the kernel: one set for the whole layer, or one per neuron.
trait Rates<T> {
    /// Neuron `j`'s coefficients.
    fn at(&self, j: usize) -> Coefficients<T>;
}

/// Every neuron alike (the common case): coefficients stay in registers.
struct Shared<T>(Coefficients<T>);

impl<T: Copy> Rates<T> for Shared<T> {
    #[inline(always)]
    fn at(&self, _j: usize) -> Coefficients<T> {
        self.0
    }
}

/// Per-neuron coefficients, each slice cut to the layer's length so that the indexing in
/// the inner loop needs no bounds check.
struct PerNeuron<'a, T>([&'a [T]; 5], [&'a [T]; 5], [&'a [T]; 5]);

impl<T: Copy> Rates<T> for PerNeuron<'_, T> {
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
    let n = state.n;
    match c.shared() {
        Some(shared) => rows::<T, REV, K, COUNT, _>(&Shared(shared), state, ports, how),
        None => {
            let rates = PerNeuron(cut(&c.gen, n), cut(&c.decay, n), cut(&c.inhib, n));
            rows::<T, REV, K, COUNT, _>(&rates, state, ports, how)
        }
    }
}

fn cut<T>(v: &[Vec<T>; 5], n: usize) -> [&[T]; 5] {
    std::array::from_fn(|i| &v[i][..n])
}

#[inline(always)]
fn rows<T: Real, const REV: bool, const K: u8, const COUNT: bool, R: Rates<T>>(
    rates: &R,
    state: &mut LayerState<T>,
    ports: Ports<'_, T>,
    how: Stepping<T>,
) -> usize {
    let n = state.n;
    let (dt, clamp, input) = (how.dt, how.clamp, ports.input);
    let reference = &ports.reference[..n];
    let mut clamped = 0usize;
    let [x0, x1, x2, x3, x4] = &mut state.x;
    for r in 0..state.rows {
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
            let v = kernel::raw::<T, REV, K>(&rates.at(j), &x, input, cur[j], dt);
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
        let out: &[T] = match ports.output {
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
