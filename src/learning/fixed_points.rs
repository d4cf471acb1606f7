//! Method 1, the neurons learn (paper Eq. 17-19): a neuron moves its own fixed point by
//! changing the K3 of its output element, from its own two window integrals, G1 = I · Î
//! (the paper's form) or `window · Î` (the reversed-trace variant, which descends: see
//! `FixedPointSignal`), through the same limiter G2 as the synapses.

use super::limiter::limiter;
use crate::config::FixedPointSignal;
use crate::neuron::LayerNeurons;

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
