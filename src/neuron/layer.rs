//! Batched integration of one layer's forward or reversed systems: the inner loop of the
//! synchronous engine.
//!
//! Storage is structure-of-arrays: element `k` of neuron `j` in batch row `r` lives at
//! `x[k][r * n + j]`, so the loop over neurons is contiguous in every array and vectorises.
//! Coefficients are per neuron (method 1 moves a neuron's own K3), stored the same way.

use super::{clamp_nonneg, Coefficients, Integrator, System, ELEMENTS};

/// Per-neuron coefficients of one system for a whole layer, `[element][neuron]`.
#[derive(Debug, Clone)]
pub struct LayerCoefficients {
    pub n: usize,
    pub gen: [Vec<f32>; ELEMENTS],
    pub decay: [Vec<f32>; ELEMENTS],
    pub inhib: [Vec<f32>; ELEMENTS],
    /// Set while every neuron has the same coefficients, so kernels can keep them in
    /// registers instead of loading fifteen per neuron.
    shared: Option<Coefficients>,
}

impl LayerCoefficients {
    /// Every neuron of the layer with the same coefficients.
    pub fn uniform(c: &Coefficients, n: usize) -> Self {
        LayerCoefficients {
            n,
            gen: c.gen.map(|v| vec![v; n]),
            decay: c.decay.map(|v| vec![v; n]),
            inhib: c.inhib.map(|v| vec![v; n]),
            shared: Some(*c),
        }
    }

    /// The common coefficients, if every neuron has the same.
    pub fn shared(&self) -> Option<Coefficients> {
        self.shared
    }

    /// Neuron `j`'s coefficients.
    pub fn get(&self, j: usize) -> Coefficients {
        Coefficients {
            gen: std::array::from_fn(|k| self.gen[k][j]),
            decay: std::array::from_fn(|k| self.decay[k][j]),
            inhib: std::array::from_fn(|k| self.inhib[k][j]),
        }
    }

    /// Replaces neuron `j`'s coefficients.
    pub fn set(&mut self, j: usize, c: &Coefficients) {
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
#[derive(Debug, Clone)]
pub struct LayerState {
    pub rows: usize,
    pub n: usize,
    pub x: [Vec<f32>; ELEMENTS],
}

impl LayerState {
    pub fn new(rows: usize, n: usize) -> Self {
        LayerState {
            rows,
            n,
            x: std::array::from_fn(|_| vec![0.0; rows * n]),
        }
    }

    /// Puts every sample at rest: `rest[k][j]` is neuron j's fixed point of element k.
    pub fn reset(&mut self, rest: &[Vec<f32>; ELEMENTS]) {
        for k in 0..ELEMENTS {
            for row in self.x[k].chunks_exact_mut(self.n) {
                row.copy_from_slice(&rest[k]);
            }
        }
    }
}

/// Where a step reads its input and writes its output signal.
pub struct Ports<'a> {
    /// Element receiving `input`.
    pub input: usize,
    /// Input current per (row, neuron), added to the input element's derivative.
    pub current: &'a [f32],
    /// Element whose deviation is the output signal.
    pub output: usize,
    /// Reference level of the output element per neuron (the signal is `x - reference`).
    pub reference: &'a [f32],
    /// Receives the output signal after the step, per (row, neuron).
    pub signal: &'a mut [f32],
    /// Accumulates `dt * signal` (the window integral of the signal).
    pub integral: &'a mut [f32],
}

/// Advances every sample of a layer by one step of `dt`, then writes the output signal and
/// adds it to its integral. Cost: about 20 flops per neuron and row (Euler), four times that
/// for RK4.
#[allow(clippy::too_many_arguments)]
pub fn step(
    system: System,
    c: &LayerCoefficients,
    state: &mut LayerState,
    ports: Ports<'_>,
    dt: f32,
    integrator: Integrator,
    clamp: bool,
    scratch: &mut Vec<f32>,
) {
    match (integrator, system) {
        (Integrator::Euler, System::Forward) => euler::<false, false>(c, state, ports, dt, clamp),
        (Integrator::Euler, System::Reversed) => euler::<true, false>(c, state, ports, dt, clamp),
        (Integrator::SemiImplicit, System::Forward) => {
            euler::<false, true>(c, state, ports, dt, clamp)
        }
        (Integrator::SemiImplicit, System::Reversed) => {
            euler::<true, true>(c, state, ports, dt, clamp)
        }
        (Integrator::Rk4, _) => rk4(system, c, state, ports, dt, clamp, scratch),
    }
}

#[inline(always)]
const fn src(i: usize, reversed: bool) -> usize {
    if reversed {
        (i + 1) % ELEMENTS
    } else {
        (i + 4) % ELEMENTS
    }
}

#[inline(always)]
const fn inh(i: usize, reversed: bool) -> usize {
    if reversed {
        (i + 2) % ELEMENTS
    } else {
        (i + 3) % ELEMENTS
    }
}

/// Coefficient access for the Euler kernel: one set for the whole layer, or one per neuron.
trait Rates {
    /// (generative, decay, inhibitory) coefficient of element `i` for neuron `j`.
    fn at(&self, i: usize, j: usize) -> (f32, f32, f32);
}

/// Every neuron alike (the common case): coefficients stay in registers.
struct Shared(Coefficients);

impl Rates for Shared {
    #[inline(always)]
    fn at(&self, i: usize, _j: usize) -> (f32, f32, f32) {
        (self.0.gen[i], self.0.decay[i], self.0.inhib[i])
    }
}

/// Per-neuron coefficients, each slice cut to the layer's length so that the indexing in
/// the inner loop needs no bounds check.
struct PerNeuron<'a>([&'a [f32]; 5], [&'a [f32]; 5], [&'a [f32]; 5]);

impl Rates for PerNeuron<'_> {
    #[inline(always)]
    fn at(&self, i: usize, j: usize) -> (f32, f32, f32) {
        (self.0[i][j], self.1[i][j], self.2[i][j])
    }
}

/// Explicit Euler, or with `IMPLICIT` the semi-implicit (Patankar) variant that divides by
/// the loss terms instead of subtracting them.
fn euler<const REV: bool, const IMPLICIT: bool>(
    c: &LayerCoefficients,
    state: &mut LayerState,
    ports: Ports<'_>,
    dt: f32,
    clamp: bool,
) {
    let n = state.n;
    match c.shared() {
        Some(shared) => euler_rows::<REV, IMPLICIT, _>(&Shared(shared), state, ports, dt, clamp),
        None => {
            let rates = PerNeuron(cut(&c.gen, n), cut(&c.decay, n), cut(&c.inhib, n));
            euler_rows::<REV, IMPLICIT, _>(&rates, state, ports, dt, clamp)
        }
    }
}

fn cut(v: &[Vec<f32>; 5], n: usize) -> [&[f32]; 5] {
    std::array::from_fn(|i| &v[i][..n])
}

#[inline(always)]
fn euler_rows<const REV: bool, const IMPLICIT: bool, R: Rates>(
    rates: &R,
    state: &mut LayerState,
    ports: Ports<'_>,
    dt: f32,
    clamp: bool,
) {
    let n = state.n;
    // The input current reaches one element: a 0/1 mask keeps the loop free of branches.
    let mask: [f32; 5] = std::array::from_fn(|i| if i == ports.input { 1.0 } else { 0.0 });
    let reference = &ports.reference[..n];
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
            let u = cur[j];
            let next: [f32; 5] = std::array::from_fn(|i| {
                let (g, d, h) = rates.at(i, j);
                let produce = g * x[src(i, REV)] + mask[i] * u;
                let loss_rate = d + h * x[inh(i, REV)];
                let v = if IMPLICIT {
                    (x[i] + dt * produce) / (1.0 + dt * loss_rate)
                } else {
                    x[i] + dt * (produce - loss_rate * x[i])
                };
                if clamp {
                    clamp_nonneg(v)
                } else {
                    v
                }
            });
            r0[j] = next[0];
            r1[j] = next[1];
            r2[j] = next[2];
            r3[j] = next[3];
            r4[j] = next[4];
        }
        // The output signal in a second, contiguous pass over the chosen element.
        let out: &[f32] = match ports.output {
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
}

/// Writes `dx = f(x)` for every element, row and neuron.
fn derivative(
    system: System,
    c: &LayerCoefficients,
    n: usize,
    x: [&[f32]; 5],
    pin: usize,
    current: &[f32],
    dx: &mut [f32],
) {
    let len = x[0].len();
    for i in 0..ELEMENTS {
        let (s, q) = (system.source(i), system.inhibitor(i));
        let out = &mut dx[i * len..(i + 1) * len];
        for (idx, o) in out.iter_mut().enumerate() {
            let j = idx % n;
            let mut d = c.gen[i][j] * x[s][idx]
                - c.decay[i][j] * x[i][idx]
                - c.inhib[i][j] * x[i][idx] * x[q][idx];
            if i == pin {
                d += current[idx];
            }
            *o = d;
        }
    }
}

fn rk4(
    system: System,
    c: &LayerCoefficients,
    state: &mut LayerState,
    ports: Ports<'_>,
    dt: f32,
    clamp: bool,
    scratch: &mut Vec<f32>,
) {
    let n = state.n;
    let len = state.rows * n;
    scratch.resize(len * ELEMENTS * 5, 0.0);
    let (stages, tmp) = scratch.split_at_mut(len * ELEMENTS * 4);
    let (k1, rest) = stages.split_at_mut(len * ELEMENTS);
    let (k2, rest) = rest.split_at_mut(len * ELEMENTS);
    let (k3, k4) = rest.split_at_mut(len * ELEMENTS);
    let x: [&[f32]; 5] = std::array::from_fn(|i| state.x[i].as_slice());
    derivative(system, c, n, x, ports.input, ports.current, k1);
    for i in 0..ELEMENTS {
        for idx in 0..len {
            tmp[i * len + idx] = x[i][idx] + dt / 2.0 * k1[i * len + idx];
        }
    }
    let t: [&[f32]; 5] = std::array::from_fn(|i| &tmp[i * len..(i + 1) * len]);
    derivative(system, c, n, t, ports.input, ports.current, k2);
    for i in 0..ELEMENTS {
        for idx in 0..len {
            tmp[i * len + idx] = x[i][idx] + dt / 2.0 * k2[i * len + idx];
        }
    }
    let t: [&[f32]; 5] = std::array::from_fn(|i| &tmp[i * len..(i + 1) * len]);
    derivative(system, c, n, t, ports.input, ports.current, k3);
    for i in 0..ELEMENTS {
        for idx in 0..len {
            tmp[i * len + idx] = x[i][idx] + dt * k3[i * len + idx];
        }
    }
    let t: [&[f32]; 5] = std::array::from_fn(|i| &tmp[i * len..(i + 1) * len]);
    derivative(system, c, n, t, ports.input, ports.current, k4);
    for i in 0..ELEMENTS {
        let xi = &mut state.x[i];
        for idx in 0..len {
            let k = i * len + idx;
            let v = xi[idx] + dt / 6.0 * (k1[k] + 2.0 * k2[k] + 2.0 * k3[k] + k4[k]);
            xi[idx] = if clamp { clamp_nonneg(v) } else { v };
        }
    }
    let out = &state.x[ports.output];
    for idx in 0..len {
        let s = out[idx] - ports.reference[idx % n];
        ports.signal[idx] = s;
        ports.integral[idx] += dt * s;
    }
}
