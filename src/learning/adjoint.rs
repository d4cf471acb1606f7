//! The discrete adjoint of the synchronous engine's forward window: a forward pass that
//! records every layer's state and input current at every step (the "tape"), then a reverse
//! pass through the recorded steps that carries the adjoint λ of every neuron's state back
//! to the start of the window. It is the `adjoint` rule (the exact gradient, a yardstick)
//! and, injecting BSP's error instead, the batched form of the `linearised` rule.
//!
//! The forward pass is the engine's: fixed step, layers in input-side-first order, layer
//! l+1's current at step n is C·D_l of the same step (`coupling: same_step`) or of step
//! n − 1 (`delayed`), the readout is the mean (or integral) of the output signal. Reversing
//! it, at step n and layer l:
//!
//! ```text
//! a_l^n  = dt · ε                  (l = L: the readout's adjoint, ε per output neuron)
//!        = Cᵀ_l · g_{l+1}^n        (l < L, same step; delayed: g_{l+1}^{n+1})
//! λ_l[out] += a_l^n                (D = x_out − reference)
//! (λ_l, g_l^n) = adjoint of the step (x_l^{n−1}, u_l^n) ↦ x_l^n, applied to λ_l
//! ```
//!
//! where g_l^n is the adjoint of neuron l's input current at step n. With ε = −∂L/∂I_L,
//! λ is the adjoint of −L, and −∂L/∂C_ji = Σ_n g_j^n · D_i^n (delayed: D_i^{n−1}): a sum
//! over time of the same presynaptic-signal times postsynaptic-reversed-signal product that
//! BSP forms from whole window integrals, G1 = (Σ_n dt D_i^n)(Σ_n dt D̂_j^n).
//!
//! With [`Net::with_rates`] the same pass also gives the neurons' side, for method 1: the
//! adjoint of each neuron's fifteen rates (K1, K2, K3 per element), summed over the steps
//! of its window and carried through the rest state the window starts from
//! (`neuron::adjoint::rest_rates`). Layer 0 is then recorded and reversed too.

mod batch;

pub use batch::{losses, run_batch, Batch};

use super::output_error::{argmax, readout, readout_slope};
use crate::config::{Coupling, OutputError, Readout, Settings};
use crate::data::Dataset;
use crate::error::SimError;
use crate::neuron::adjoint::{adjoint_layer, rest_rates, Rates, Scheme};
use crate::neuron::layer::{self, LayerCoefficients, LayerState, Ports, Stepping};
use crate::neuron::{LayerNeurons, System, ELEMENTS};
use crate::real::Real;
use crate::topology::Projection;

/// What the reverse pass injects and what it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// ε = −∂L/∂I (the exact gradient); keeps D and g at every step.
    Exact,
    /// ε = e, the output error BSP injects; keeps per-sample window integrals of D and of
    /// g (the linearised reversed signal), for a G1 of BSP's product-of-integrals form.
    Linearised,
}

/// A network in the form the adjoint computes with, in precision `T`.
#[derive(Debug, Clone)]
pub struct Net<T> {
    /// The synapses, input side first; public so that a test can perturb one coefficient.
    pub weights: Vec<Projection<T>>,
    coefficients: Vec<LayerCoefficients<T>>,
    rest: Vec<[Vec<T>; ELEMENTS]>,
    reference: Vec<Vec<T>>,
    sizes: Vec<usize>,
    scheme: Scheme<T>,
    output: usize,
    gain: T,
    steps: usize,
    window: T,
    readout: Readout,
    error: OutputError,
    /// `coupling: delayed`: layer l+1's current at step n is C·D_l of step n − 1.
    delayed: bool,
    /// Also compute the neurons' rate adjoints ([`Batch::rates`]).
    rates: bool,
}

impl<T: Real> Net<T> {
    /// The engine's network (settings, coefficients, neuron rates and rest states) in `T`.
    pub fn new(settings: &Settings, projections: &[Projection], neurons: &[LayerNeurons]) -> Self {
        let f = T::from_f32;
        Net {
            weights: projections.iter().map(Projection::to).collect(),
            coefficients: neurons.iter().map(|l| l.forward.to()).collect(),
            rest: neurons
                .iter()
                .map(|l| l.rest.each_ref().map(|v| v.iter().map(|&r| f(r)).collect()))
                .collect(),
            reference: neurons
                .iter()
                .map(|l| l.reference.iter().map(|&v| f(v)).collect())
                .collect(),
            sizes: neurons.iter().map(|l| l.n).collect(),
            scheme: Scheme {
                integrator: settings.integrator,
                dt: f(settings.dt),
                clamp: settings.clamp,
                input: settings.input_port,
            },
            output: settings.output_port,
            gain: f(settings.gain),
            steps: settings.forward_steps,
            window: f(settings.forward_window()),
            readout: settings.readout,
            error: settings.error,
            delayed: settings.coupling == Coupling::Delayed,
            rates: false,
        }
    }

    /// The same network, with the reverse pass also giving every neuron's rate adjoint.
    pub fn with_rates(mut self) -> Self {
        self.rates = true;
        self
    }

    /// Rate `rate` (`neuron::adjoint::K1`, `K2`, `K3`) of element `element` of neuron `j`
    /// of layer `l`.
    pub fn rate(&self, l: usize, j: usize, rate: usize, element: usize) -> T {
        let c = &self.coefficients[l];
        match rate {
            0 => c.gen[element][j],
            1 => c.decay[element][j],
            _ => c.inhib[element][j],
        }
    }

    /// The output element's index.
    pub fn output(&self) -> usize {
        self.output
    }

    /// Layer sizes, input layer first.
    pub fn sizes(&self) -> &[usize] {
        &self.sizes
    }

    /// Moves rate `rate` (`neuron::adjoint::K1`, `K2`, `K3`) of element `element` of neuron
    /// `j` of layer `l` by `delta` and re-solves that neuron's rest state (Newton, in `T`),
    /// keeping its signal reference: what a finite-difference check of a rate perturbs.
    /// `None` when the new rates have no fixed point near the old one.
    pub fn perturb_rate(
        &mut self,
        l: usize,
        j: usize,
        rate: usize,
        element: usize,
        delta: T,
    ) -> Option<()> {
        let mut c = self.coefficients[l].get(j);
        match rate {
            0 => c.gen[element] += delta,
            1 => c.decay[element] += delta,
            _ => c.inhib[element] += delta,
        }
        let start: [T; ELEMENTS] = std::array::from_fn(|k| self.rest[l][k][j]);
        let rest = crate::neuron::adjoint::fixed_point_near(&c, &start)?;
        self.coefficients[l].set(j, &c);
        for (k, v) in rest.into_iter().enumerate() {
            self.rest[l][k][j] = v;
        }
        Some(())
    }

    /// Steps of the forward window.
    pub fn steps(&self) -> usize {
        self.steps
    }
}

/// (sizes, rows, steps, mode, rates): what a [`Tape`]'s buffers are allocated for.
type Shape = (Vec<usize>, usize, usize, Option<Mode>, bool);

/// One thread's buffers for a block of samples: the current state and the tape.
#[derive(Debug, Default)]
pub struct Tape<T> {
    /// What the buffers are allocated for.
    shape: Option<Shape>,
    rows: usize,
    x: Vec<LayerState<T>>,
    current: Vec<Vec<T>>,
    signal: Vec<Vec<T>>,
    integral: Vec<Vec<T>>,
    /// Layers >= 1 (all layers with rates): the state before every step and the current of
    /// every step.
    states: Vec<[Vec<T>; ELEMENTS]>,
    currents: Vec<Vec<T>>,
    /// `Exact`: D of layers < L and g of layers >= 1 per (sample, step), sample-major.
    d_steps: Vec<Vec<T>>,
    g_steps: Vec<Vec<T>>,
    /// `Linearised`: Σ_n g per sample, layers >= 1.
    g_integral: Vec<Vec<T>>,
    lambda: Vec<[Vec<T>; ELEMENTS]>,
    /// With rates: each (sample, neuron)'s rate adjoint, per layer.
    rates: Vec<Rates<T>>,
    g_now: Vec<Vec<T>>,
    a: Vec<T>,
    inject: Vec<T>,
    losses: Vec<T>,
    predictions: Vec<usize>,
    clamped: usize,
}

impl<T: Real> Tape<T> {
    fn ensure(
        &mut self,
        sizes: &[usize],
        rows: usize,
        steps: usize,
        record: Option<Mode>,
        rates: bool,
    ) {
        let shape = (sizes.to_vec(), rows, steps, record, rates);
        if self.shape.as_ref() == Some(&shape) {
            // Everything else is overwritten before it is read.
            for v in self.integral.iter_mut().chain(&mut self.g_integral) {
                v.fill(T::ZERO);
            }
            for v in self.lambda.iter_mut().flatten() {
                v.fill(T::ZERO);
            }
            for v in self.rates.iter_mut().flatten().flatten() {
                v.fill(T::ZERO);
            }
            return;
        }
        self.shape = Some(shape);
        let z = |n: usize| vec![T::ZERO; n];
        let zx = |n: usize| -> [Vec<T>; ELEMENTS] { std::array::from_fn(|_| vec![T::ZERO; n]) };
        self.rows = rows;
        let last = sizes.len() - 1;
        self.x = sizes.iter().map(|&n| LayerState::new(rows, n)).collect();
        self.current = sizes.iter().map(|&n| z(rows * n)).collect();
        self.signal = sizes.iter().map(|&n| z(rows * n)).collect();
        self.integral = sizes.iter().map(|&n| z(rows * n)).collect();
        let rec = record.is_some();
        // Per-step synapse factors: the exact ∂L/∂C, not needed when the rates are wanted.
        let exact = record == Some(Mode::Exact) && !rates;
        let keep = |on: bool, n: usize| if on { rows * n * steps } else { 0 };
        let taped = |l: usize| rec && (l > 0 || rates);
        self.states = (0..=last).map(|l| zx(keep(taped(l), sizes[l]))).collect();
        self.currents = (0..=last).map(|l| z(keep(taped(l), sizes[l]))).collect();
        let per_neuron = |n: usize| if rates { rows * n } else { 0 };
        self.rates = sizes
            .iter()
            .map(|&n| std::array::from_fn(|_| zx(per_neuron(n))))
            .collect();
        self.d_steps = (0..=last)
            .map(|l| z(keep(exact && l < last, sizes[l])))
            .collect();
        self.g_steps = (0..=last)
            .map(|l| z(keep(exact && l > 0, sizes[l])))
            .collect();
        self.g_integral = sizes.iter().map(|&n| z(rows * n)).collect();
        self.lambda = sizes.iter().map(|&n| zx(rows * n)).collect();
        self.g_now = sizes.iter().map(|&n| z(rows * n)).collect();
        self.a = z(rows * sizes.iter().max().copied().unwrap_or(0));
        self.inject = z(rows * sizes[last]);
    }
}

/// Integrates the forward window for `indices` (one block), recording the tape for `mode`,
/// and forms losses, predictions and the injection ε of the reverse pass.
fn forward<T: Real>(
    net: &Net<T>,
    tape: &mut Tape<T>,
    data: &Dataset,
    indices: &[usize],
    mode: Option<Mode>,
) -> Result<(), SimError> {
    let rows = indices.len();
    let (sizes, steps) = (&net.sizes, net.steps);
    let last = sizes.len() - 1;
    let rates = net.rates && mode.is_some();
    tape.ensure(sizes, rows, steps, mode, rates);
    for l in 0..=last {
        tape.x[l].reset(&net.rest[l]);
        // At rest the signal is zero (a delayed drive reads it before the first step).
        tape.signal[l].fill(T::ZERO);
    }
    let n0 = sizes[0];
    for (r, &i) in indices.iter().enumerate() {
        for (c, &p) in tape.current[0][r * n0..(r + 1) * n0]
            .iter_mut()
            .zip(data.image(i))
        {
            *c = net.gain * T::from_f32(p);
        }
    }
    let dt = net.scheme.dt;
    tape.clamped = 0;
    let exact = mode == Some(Mode::Exact) && !rates;
    for n in 0..steps {
        if net.delayed {
            for l in 1..=last {
                drive(net, tape, l, n, exact);
            }
        }
        for l in 0..=last {
            let nl = sizes[l];
            let len = rows * nl;
            if l > 0 && !net.delayed {
                drive(net, tape, l, n, exact);
            }
            if mode.is_some() && (l > 0 || rates) {
                for k in 0..ELEMENTS {
                    tape.states[l][k][n * len..(n + 1) * len].copy_from_slice(&tape.x[l].x[k]);
                }
                tape.currents[l][n * len..(n + 1) * len].copy_from_slice(&tape.current[l]);
            }
            tape.clamped += layer::step_counting_clamps(
                System::Forward,
                &net.coefficients[l],
                &mut tape.x[l],
                Ports {
                    input: net.scheme.input,
                    current: &tape.current[l][..len],
                    output: net.output,
                    reference: &net.reference[l],
                    signal: &mut tape.signal[l],
                    integral: &mut tape.integral[l],
                },
                Stepping {
                    integrator: net.scheme.integrator,
                    dt,
                    clamp: net.scheme.clamp,
                },
            );
        }
    }
    for l in 0..=last {
        if let Some(pos) = tape.integral[l].iter().position(|v| !v.is_finite()) {
            return Err(SimError::NonFinite {
                phase: "forward",
                layer: l,
                sample: indices[pos / sizes[l]],
                dt: dt.to_f64() as f32,
            });
        }
    }
    let classes = sizes[last];
    tape.losses.clear();
    tape.predictions.clear();
    let mut y = vec![T::ZERO; classes];
    let mut e = vec![T::ZERO; classes];
    let descent = net.error.descent_per_error::<T>() * readout_slope(net.readout, net.window);
    for r in 0..rows {
        for (yk, &i) in y.iter_mut().zip(&tape.integral[last][r * classes..]) {
            *yk = readout(net.readout, i, net.window);
        }
        let label = data.labels[indices[r]] as usize;
        tape.losses.push(net.error.error(&y, label, &mut e));
        tape.predictions.push(argmax(&y));
        let inj = &mut tape.inject[r * classes..(r + 1) * classes];
        for (v, &ek) in inj.iter_mut().zip(&e) {
            *v = match mode {
                Some(Mode::Linearised) => ek,
                _ => descent * ek,
            };
        }
    }
    Ok(())
}

/// Layer `l`'s input current at step `n` from layer l−1's current signal; for `Exact`, the
/// signal is kept as the presynaptic factor of ∂L/∂C at that step.
fn drive<T: Real>(net: &Net<T>, tape: &mut Tape<T>, l: usize, n: usize, exact: bool) {
    let rows = tape.rows;
    net.weights[l - 1].forward(rows, &tape.signal[l - 1], &mut tape.current[l]);
    if exact {
        let (nl, steps) = (net.sizes[l - 1], net.steps);
        for r in 0..rows {
            let at = (r * steps + n) * nl;
            tape.d_steps[l - 1][at..at + nl]
                .copy_from_slice(&tape.signal[l - 1][r * nl..(r + 1) * nl]);
        }
    }
}

/// The reverse pass over a recorded block (see the module docs).
fn reverse<T: Real>(
    net: &Net<T>,
    tape: &mut Tape<T>,
    indices: &[usize],
    mode: Mode,
) -> Result<(), SimError> {
    let rows = tape.rows;
    let (sizes, steps) = (&net.sizes, net.steps);
    let last = sizes.len() - 1;
    let dt = net.scheme.dt;
    // Same step: layer l's signal drove layer l+1 in the same step, so within a step the
    // adjoint runs output side first. Delayed: it drove layer l+1 one step later, so layer l
    // reads g_{l+1} of the step after (processed just before), which input side first finds
    // still in place; after the last step there is none.
    // With rates, layer 0's neurons are reversed too (their rates act on the network).
    let first = usize::from(!net.rates);
    let order: Vec<usize> = if net.delayed {
        for g in &mut tape.g_now {
            g.fill(T::ZERO);
        }
        (first..=last).collect()
    } else {
        (first..=last).rev().collect()
    };
    for n in (0..steps).rev() {
        for &l in &order {
            let nl = sizes[l];
            let len = rows * nl;
            let Tape {
                a,
                inject,
                g_now,
                lambda,
                states,
                currents,
                g_steps,
                g_integral,
                rates,
                ..
            } = tape;
            if l == last {
                for (av, &e) in a.iter_mut().zip(inject.iter()) {
                    *av = dt * e;
                }
            } else {
                net.weights[l].backward(rows, &g_now[l + 1], a);
            }
            let xs: [&[T]; ELEMENTS] =
                std::array::from_fn(|k| &states[l][k][n * len..(n + 1) * len]);
            adjoint_layer(
                &net.coefficients[l],
                &net.scheme,
                net.output,
                xs,
                &currents[l][n * len..(n + 1) * len],
                a,
                &mut lambda[l],
                &mut g_now[l],
                net.rates.then(|| &mut rates[l]),
            );
            match mode {
                // Layer 0's g (the adjoint of the pixel drive) is no synapse's factor.
                Mode::Exact if l == 0 || net.rates => {}
                Mode::Exact => {
                    for r in 0..rows {
                        let at = (r * steps + n) * nl;
                        g_steps[l][at..at + nl].copy_from_slice(&g_now[l][r * nl..(r + 1) * nl]);
                    }
                }
                Mode::Linearised => {
                    for (s, &g) in g_integral[l].iter_mut().zip(&g_now[l][..len]) {
                        *s += g;
                    }
                }
            }
        }
    }
    for l in 1..=last {
        let bad = tape.lambda[l]
            .iter()
            .filter_map(|v| v.iter().position(|x| !x.is_finite()))
            .min();
        if let Some(pos) = bad {
            return Err(SimError::AdjointDiverged {
                layer: l,
                sample: indices[pos / sizes[l]],
                dt: dt.to_f64() as f32,
            });
        }
    }
    if net.rates {
        rest_term(net, tape)?;
    }
    Ok(())
}

/// Adds each (sample, neuron)'s rate adjoint through its rest state (λ now holds the
/// adjoint of the window's initial state).
fn rest_term<T: Real>(net: &Net<T>, tape: &mut Tape<T>) -> Result<(), SimError> {
    for (l, &n) in net.sizes.iter().enumerate() {
        for j in 0..n {
            let c = net.coefficients[l].get(j);
            let rest: [T; ELEMENTS] = std::array::from_fn(|k| net.rest[l][k][j]);
            for r in 0..tape.rows {
                let at = r * n + j;
                let lambda0: [T; ELEMENTS] = std::array::from_fn(|k| tape.lambda[l][k][at]);
                let add = rest_rates(&c, &rest, &lambda0).ok_or_else(|| SimError::FixedPoint {
                    layer: l,
                    neuron: j,
                    detail: "the Jacobian at its rest state is singular, so the rest state does not move smoothly with its rates".into(),
                })?;
                for (dst, src) in tape.rates[l].iter_mut().zip(&add) {
                    for (d, &v) in dst.iter_mut().zip(src) {
                        d[at] += v;
                    }
                }
            }
        }
    }
    Ok(())
}
