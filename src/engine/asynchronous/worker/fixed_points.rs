//! Method 1 on a worker: each own neuron moves the K3 of its output element when its
//! reversed window closes, by the published G1 (its two window integrals) or by the
//! `linearised` replay's G1 (the K3 adjoint it summed over its own replayed steps, plus its
//! rest state's shift). With `sgd` the change lands at once, sample by sample; with a
//! per-neuron optimiser the sample adds to its minibatch's sum, and the minibatch's last
//! sample steps every neuron of the layer with its own moments, the synchronous engine's
//! arithmetic (`learning::fixed_points::apply_rates`).

use std::ops::Range;

use super::{Shared, Stop};
use crate::config::LearningRule;
use crate::engine::asynchronous::schedule::Sample;
use crate::learning::fixed_points;
use crate::learning::limiter::limiter;
use crate::learning::optimiser::{change, OptimiserState};
use crate::neuron::{LayerNeurons, ELEMENTS};

/// What a worker keeps for method 1 besides its neurons.
#[derive(Debug, Clone, Default)]
pub struct NeuronLearning {
    /// `linearised`: per layer, `[slot * n_own + jj]`: the adjoint of the output element's
    /// K3 summed over the steps replayed so far in that slot's reversed window.
    pub rate: Vec<Vec<f32>>,
    /// With an optimiser: per layer, own neurons: the minibatch's descent directions of
    /// ln K3 summed so far (in the units the optimiser takes).
    grad: Vec<Vec<f32>>,
    /// The per-neuron optimiser's moments of whole layers, a copy of the engine's; this
    /// worker writes only its own neurons' (merged back after a call).
    pub state: OptimiserState,
}

impl NeuronLearning {
    /// State for own neuron ranges `ranges`, `slots` samples in flight and the engine's
    /// per-neuron optimiser `state`.
    pub fn new(ranges: &[Range<usize>], slots: usize, state: OptimiserState) -> Self {
        NeuronLearning {
            rate: ranges.iter().map(|r| vec![0.0; slots * r.len()]).collect(),
            grad: ranges.iter().map(|r| vec![0.0; r.len()]).collect(),
            state,
        }
    }

    /// Zeroes the minibatch sums (a restored optimiser state starts a fresh minibatch).
    pub fn clear(&mut self) {
        for g in self.grad.iter_mut() {
            g.fill(0.0);
        }
    }

    /// Own neuron `j` (index `jj` among the own ones) of layer `l` takes sample `smp`'s
    /// share of its K3 change. `forward`, `reversed`: its two window integrals; `lambda0`:
    /// its replay's adjoint of the window's initial state (`linearised`); `rate` is read
    /// from the slot's sum. With a per-neuron optimiser and `smp` the minibatch's last,
    /// the step is taken afterwards by [`NeuronLearning::step_layer`].
    #[allow(clippy::too_many_arguments)]
    pub fn take(
        &mut self,
        sh: &Shared<'_>,
        neurons: &mut LayerNeurons,
        smp: &Sample,
        (l, j, jj, n_own): (usize, usize, usize, usize),
        forward: f32,
        reversed: f32,
        lambda0: &[f32; ELEMENTS],
    ) -> Result<(), Stop> {
        let s = sh.settings;
        let fail = |detail: String| Stop::FixedPoint {
            layer: l,
            neuron: j,
            detail,
        };
        let g2 = match s.rule {
            LearningRule::Linearised => {
                let output = neurons.base.output.index();
                let rest = std::array::from_fn(|k| neurons.rest[k][j]);
                let c = neurons.forward.get(j);
                let rate = self.rate[l][smp.slot * n_own + jj];
                let g1 = fixed_points::replay_g1(&c, &rest, lambda0, (rate, output, neurons.k3_out[j]))
                    .ok_or_else(|| {
                        fail("the Jacobian at its rest state is singular, so the rest state does not move smoothly with its rates".into())
                    })?;
                limiter(g1, s.kt)
            }
            // The published G1 (validation keeps `adjoint` off this engine).
            _ => fixed_points::g2(
                s.fixed_point_signal,
                forward,
                reversed,
                s.forward_window(),
                s.kt,
            ),
        };
        let d = fixed_points::descent(s.rule, g2);
        if s.optimiser.is_sgd() {
            // Plain steps: ln K3 moves by scale · d now.
            fixed_points::apply(neurons, j, -d, smp.scale).map_err(fail)
        } else {
            self.grad[l][jj] += smp.scale * d;
            Ok(())
        }
    }

    /// The per-neuron optimiser's step of layer `l`'s own neurons `own` at the end of a
    /// minibatch (`t`: minibatches so far, `lr`): ln K3 moves by the optimiser's change of
    /// the summed descent direction, each neuron with its own moments.
    pub fn step_layer(
        &mut self,
        sh: &Shared<'_>,
        neurons: &mut LayerNeurons,
        l: usize,
        own: Range<usize>,
        (t, lr): (u64, f32),
    ) -> Result<(), Stop> {
        let opt = sh.settings.optimiser;
        for (jj, j) in own.enumerate() {
            let g = std::mem::take(&mut self.grad[l][jj]);
            let mut moments = self.state.moments(l, j);
            let step = change(opt, lr, t, g, &mut moments);
            self.state.set_moments(l, j, moments);
            fixed_points::apply(neurons, j, -step, 1.0).map_err(|detail| Stop::FixedPoint {
                layer: l,
                neuron: j,
                detail,
            })?;
        }
        Ok(())
    }
}
