//! The `linearised` rule, one neuron at a time: the reversed pass of a neuron is the
//! vector-Jacobian product of its own forward step, replayed backwards along its own recorded
//! forward window, instead of the reversed five-element system. It is what an actor of the
//! asynchronous engine runs; the synchronous engine runs the same arithmetic batched
//! (`learning::adjoint`, `Mode::Linearised`).
//!
//! What it reads, and so why it is local: a neuron reads its own recorded states and input
//! currents, its own rates, and what arrives at its reversed input (the output error at an
//! output neuron, Σ_j C_ji ĝ_j from the synapses above at a hidden one). A synapse still
//! multiplies its two window integrals, G1 = ∫D_pre dt · Σ_n g_post^n, and the limiter and
//! method 2's update apply unchanged (`learning::connections`).
//!
//! The reversed signal a neuron sends is ĝ = g / dt, the adjoint of its input current per
//! unit time, so that a synapse's integral of what it carried, Σ_n dt · ĝ^n, is Σ_n g^n, and
//! the input Σ C ĝ a neuron receives is the adjoint of its output signal per unit time
//! (dt · Σ C ĝ = Cᵀ g, the adjoint's `a`).

use crate::neuron::adjoint::{adjoint_step, Scheme, K3};
use crate::neuron::{Coefficients, ELEMENTS};

/// One neuron's recorded forward windows, one per sample slot: the state before every step
/// and the input current of that step. Memory: `slots · steps · 24` bytes per neuron.
#[derive(Debug, Clone, Default)]
pub struct Trajectory {
    steps: usize,
    x: Vec<[f32; ELEMENTS]>,
    u: Vec<f32>,
}

impl Trajectory {
    pub fn new(slots: usize, steps: usize) -> Self {
        Trajectory {
            steps,
            x: vec![[0.0; ELEMENTS]; slots * steps],
            u: vec![0.0; slots * steps],
        }
    }

    /// Bytes kept per neuron for `slots` samples in flight and windows of `steps` steps.
    pub fn bytes(slots: usize, steps: usize) -> usize {
        slots * steps * (ELEMENTS + 1) * std::mem::size_of::<f32>()
    }

    /// Starts slot `slot`'s window at rest: a neuron that sleeps through a step (at its
    /// fixed point, no input) stepped from `rest` under zero current.
    pub fn open(&mut self, slot: usize, rest: &[f32; ELEMENTS]) {
        let at = slot * self.steps;
        self.x[at..at + self.steps].fill(*rest);
        self.u[at..at + self.steps].fill(0.0);
    }

    /// Records forward step `step` of slot `slot`: taken from state `x` under current `u`.
    #[inline]
    pub fn record(&mut self, slot: usize, step: usize, x: &[f32; ELEMENTS], u: f32) {
        let at = slot * self.steps + step;
        self.x[at] = *x;
        self.u[at] = u;
    }

    /// Forward step `step` of slot `slot`: (state before it, its current).
    #[inline]
    pub fn get(&self, slot: usize, step: usize) -> (&[f32; ELEMENTS], f32) {
        let at = slot * self.steps + step;
        (&self.x[at], self.u[at])
    }

    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// One step of a neuron's linearised reversed pass, replaying the forward step taken from
/// `x` under current `u`: the adjoint `lambda` of the state after that step takes in
/// `dt · input` at the output element, becomes the adjoint of the state before it, and the
/// adjoint of the step's input current g is returned as ĝ = g / dt (the signal to send).
/// With `k3` (method 1) also the step's adjoint of the K3 of the `output` element, the rate
/// the neuron moves (summed over the window, plus the rest state's shift, it is the
/// neuron's G1 / K3: `learning::fixed_points::replay_g1`); else 0.
#[inline]
pub fn reversed_step(
    unit: &Coefficients,
    scheme: &Scheme<f32>,
    output: usize,
    (x, u): (&[f32; ELEMENTS], f32),
    input: f32,
    lambda: &mut [f32; ELEMENTS],
    k3: bool,
) -> (f32, f32) {
    lambda[output] += scheme.dt * input;
    let (back, g, rates) = adjoint_step(unit, scheme, (x, u), lambda, k3);
    *lambda = back;
    (g / scheme.dt, rates[K3][output])
}
