//! Method 1, the neurons learn (paper Eq. 17-19): a neuron moves its own fixed point by
//! changing the K3 of its output element.
//!
//! * `bsp` (the paper): from its own two window integrals, G1 = I · Î (the published form)
//!   or `window · Î` (the reversed-trace variant, which descends: see `FixedPointSignal`),
//!   through the same limiter G2 as the synapses: [`g2`], [`apply`].
//! * `linearised` (local) and `adjoint` (exact): by the causal-distance correspondence the
//!   paper describes, K3 of the output element acts on that element through the term
//!   −K3 · x_out · x_inh(out), so its change pairs the neuron's own reversed signal at the
//!   output element with the forward state of the two elements that term couples, step by
//!   step over the window, plus the rest state's own shift (`neuron::adjoint`): [`rate_g1`],
//!   [`apply_rates`]. `adjoint` injects −∂L/∂I, making this −∂L/∂ln K3 exactly.

use super::limiter::limiter;
use super::optimiser::{change, OptimiserState};
use crate::config::{FixedPointSignal, LearningRule, Optimiser};
use crate::neuron::adjoint::{rest_rates, Rates, K3};
use crate::neuron::{Coefficients, LayerNeurons, ELEMENTS};
use crate::real::Real;

/// One sample's G2 for a neuron whose forward window integral is `forward` and reversed
/// window integral `reversed`, over a forward window of length `window`.
#[inline]
pub fn g2(signal: FixedPointSignal, forward: f32, reversed: f32, window: f32, kt: f32) -> f32 {
    let forward = match signal {
        FixedPointSignal::Paper => forward,
        FixedPointSignal::Reversed => window,
    };
    limiter(forward * reversed, kt)
}

/// Applies a batch's summed G2 to neuron `j` of `neurons`: K3 ← K3 · exp(−scale · ΣG2).
/// K3 down raises the neuron's resting output (Eq. 19); the fixed points are solved again.
/// Returns the solver's message when the new rates have no positive fixed point.
pub fn apply(neurons: &mut LayerNeurons, j: usize, g2_sum: f32, scale: f32) -> Result<(), String> {
    let k3 = neurons.k3_out[j] * (-scale * g2_sum).exp();
    neurons.set_k3_out(j, k3)
}

/// The gradient rules' G1 of neuron `j` for sample `row`: its rate adjoint for the output
/// element's K3 times that K3, i.e. the descent direction of ln K3 (so that the update is
/// multiplicative, like [`apply`], and K3 stays positive).
#[inline]
pub fn rate_g1<T: Real>(
    rates: &Rates<T>,
    output: usize,
    n: usize,
    row: usize,
    j: usize,
    k3: f32,
) -> f32 {
    rates[K3][output][row * n + j].to_f64() as f32 * k3
}

/// The `linearised` rule's G1 of one neuron from its own replay (an actor of the
/// asynchronous engine): `rate`, the adjoint of its output element's K3 summed over the
/// window's replayed steps, plus that K3's share through the rest state the window started
/// from (`rest`, with `lambda0` the adjoint of the window's initial state), times that K3,
/// `k3` — the batched engine's [`rate_g1`] for one sample. `c`: the neuron's forward
/// coefficients. `None` when the Jacobian at rest is singular.
pub fn replay_g1(
    c: &Coefficients,
    rest: &[f32; ELEMENTS],
    lambda0: &[f32; ELEMENTS],
    (rate, output, k3): (f32, usize, f32),
) -> Option<f32> {
    let shift = rest_rates(c, rest, lambda0)?;
    Some((rate + shift[K3][output]) * k3)
}

/// Which way a sample's G2 moves ln K3: the published rule down (K3 ← K3·exp(−G2), Eq. 19),
/// the gradient rules, whose G1 is the descent direction of ln K3, up.
#[inline]
pub fn descent(rule: LearningRule, g2: f32) -> f32 {
    match rule {
        LearningRule::Bsp => -g2,
        LearningRule::Linearised | LearningRule::Adjoint => g2,
    }
}

/// Method 1 by a gradient rule for layer `l`: each neuron's batch-mean G2 of its
/// [`rate_g1`] (limiter `kt` per sample; `kt` 0 for `adjoint`), g = `unit` · Σ_rows G2
/// summed in row order (the same at any thread count), moves its ln K3 by the per-neuron
/// optimiser's change (`sgd`: lr · g, plain gradient descent on ln K3; `adam`: about lr per
/// batch whatever the neuron's gradient scale), from the neuron's own moments in `state`
/// (group `l`). Returns the neuron and the solver's message when the new rates have no
/// positive fixed point.
#[allow(clippy::too_many_arguments)]
pub fn apply_rates<T: Real>(
    neurons: &mut LayerNeurons,
    l: usize,
    rates: &Rates<T>,
    rows: usize,
    unit: f32,
    kt: f32,
    (opt, lr): (Optimiser, f32),
    state: &mut OptimiserState,
) -> Result<(), (usize, String)> {
    let (n, output) = (neurons.n, neurons.base.output.index());
    for j in 0..n {
        let k3 = neurons.k3_out[j];
        let sum: f32 = (0..rows)
            .map(|r| limiter(rate_g1(rates, output, n, r, j, k3), kt))
            .sum();
        let mut moments = state.moments(l, j);
        let step = change(opt, lr, state.step, unit * sum, &mut moments);
        state.set_moments(l, j, moments);
        apply(neurons, j, -step, 1.0).map_err(|detail| (j, detail))?;
    }
    Ok(())
}
