//! A minibatch through the adjoint: its samples split over threads in contiguous blocks,
//! each with its own tape, and the factors of the update gathered in sample order.

use super::{forward, reverse, Mode, Net, Tape};
use crate::data::Dataset;
use crate::error::SimError;
use crate::neuron::adjoint::Rates;
use crate::neuron::ELEMENTS;
use crate::parallel;
use crate::real::Real;

/// A minibatch's result: per layer pair, the two factors whose outer-product sum over
/// `rows` is the update direction, plus the forward pass's losses and predictions.
#[derive(Debug, Clone)]
pub struct Batch<T> {
    /// `Exact`: samples x steps (per-step signals); `Linearised`: samples (integrals).
    pub rows: usize,
    /// Per layer pair l: presynaptic factor, rows x n_l (D per step, or ∫D dt); `Exact`
    /// with [`Net::with_rates`] keeps no per-step factors (empty).
    pub pre: Vec<Vec<T>>,
    /// Per layer pair l: postsynaptic factor, rows x n_{l+1} (g per step, or Σ g).
    pub post: Vec<Vec<T>>,
    /// With [`Net::with_rates`], per layer: each (sample, neuron)'s rate adjoint,
    /// `rates[l][rate][element][sample · n_l + j]`: −∂L/∂k (`Exact`), or the linearised rule's
    /// local counterpart (`Linearised`); empty otherwise.
    pub rates: Vec<Rates<T>>,
    pub losses: Vec<T>,
    pub predictions: Vec<usize>,
    /// Element updates the clamp set to zero during the forward windows, and all updates.
    pub clamped: usize,
    pub element_steps: usize,
}

/// Runs the forward window and the reverse pass for `indices` as one minibatch, split into
/// contiguous blocks of samples over `threads` threads (each with its tape in `tapes`).
///
/// The result is gathered in sample order, and every sample's numbers are computed alone,
/// so it does not depend on the thread count. The outer-product sum of `pre` and `post`
/// per layer pair is then −∂L/∂C summed over the batch (`Exact`) or the linearised rule's
/// G1 (`Linearised`). Cost: about twice the engine's forward window, plus the tape
/// (5 states and a current per neuron of layers >= 1, per sample and step).
pub fn run_batch<T: Real>(
    net: &Net<T>,
    data: &Dataset,
    indices: &[usize],
    mode: Mode,
    threads: usize,
    tapes: &mut Vec<Tape<T>>,
) -> Result<Batch<T>, SimError> {
    let blocks = indices
        .len()
        .div_ceil(parallel::block_size(indices.len(), threads));
    if tapes.len() < blocks {
        tapes.resize_with(blocks, Tape::default);
    }
    parallel::for_blocks(
        indices,
        threads,
        tapes,
        "the adjoint pass",
        |tape, block| {
            forward(net, tape, data, block, Some(mode))?;
            reverse(net, tape, block, mode)
        },
    )?;
    let used = &tapes[..blocks];
    let last = net.sizes.len() - 1;
    let gather = |pick: &dyn Fn(&Tape<T>) -> &[T]| -> Vec<T> {
        let mut out = Vec::with_capacity(used.iter().map(|t| pick(t).len()).sum());
        for t in used {
            out.extend_from_slice(pick(t));
        }
        out
    };
    let (mut pre, mut post) = (Vec::new(), Vec::new());
    for l in 0..last {
        match mode {
            Mode::Exact => {
                pre.push(gather(&|t| &t.d_steps[l]));
                post.push(gather(&|t| &t.g_steps[l + 1]));
            }
            Mode::Linearised => {
                pre.push(gather(&|t| &t.integral[l][..t.rows * net.sizes[l]]));
                post.push(gather(&|t| {
                    &t.g_integral[l + 1][..t.rows * net.sizes[l + 1]]
                }));
            }
        }
    }
    let neurons: usize = net.sizes.iter().sum();
    let rates = if net.rates {
        (0..=last)
            .map(|l| {
                std::array::from_fn(|rate| {
                    std::array::from_fn(|k| gather(&|t| &t.rates[l][rate][k][..]))
                })
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(Batch {
        rows: match mode {
            Mode::Exact => indices.len() * net.steps,
            Mode::Linearised => indices.len(),
        },
        pre,
        post,
        rates,
        losses: used.iter().flat_map(|t| t.losses.iter().copied()).collect(),
        predictions: used
            .iter()
            .flat_map(|t| t.predictions.iter().copied())
            .collect(),
        clamped: used.iter().map(|t| t.clamped).sum(),
        element_steps: indices.len() * net.steps * neurons * ELEMENTS,
    })
}

/// The per-sample losses of the forward window alone (no tape), in one thread: what
/// finite differences perturb.
pub fn losses<T: Real>(
    net: &Net<T>,
    data: &Dataset,
    indices: &[usize],
) -> Result<Vec<T>, SimError> {
    let mut tape = Tape::default();
    forward(net, &mut tape, data, indices, None)?;
    Ok(tape.losses)
}
