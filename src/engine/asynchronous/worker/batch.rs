//! Batched integration: the awake actors of one layer and system stepped by the synchronous
//! engine's structure-of-arrays kernel — in place when none of them rests, else gathered
//! into the kernel's arrays and back (the same arithmetic as stepping them one by one,
//! several times faster).

use super::{Shared, Worker};
use crate::neuron::layer::{self as kernel, LayerCoefficients, LayerState, Ports, Stepping};
use crate::neuron::{System, ELEMENTS};

/// Buffers for integrating the awake actors of a layer that has resting ones.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Own-actor indices gathered.
    pub idx: Vec<usize>,
    state: Option<LayerState>,
    current: Vec<f32>,
    reference: Vec<f32>,
    signal: Vec<f32>,
    integral: Vec<f32>,
    /// Per (layer, system): every own neuron with the layer's shared coefficients.
    coefficients: Vec<[Option<LayerCoefficients>; 2]>,
}

/// How a layer's awake actors were integrated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Batched {
    /// Not by the kernel: each actor integrates itself.
    No,
    /// Every actor (none rests), in place: output deviations in `signal`, already added to
    /// `integral`.
    All,
    /// The awake actors listed in `Batch::idx`: output deviations in `signal`, not yet
    /// added to `integral`.
    Awake,
}

impl Worker {
    /// Integrates every awake actor of layer `l` in `system` with one call of the batched
    /// kernel, when the layer's neurons share their coefficients and the actors take plain
    /// fixed steps (element actors and adaptive steps integrate one by one).
    pub(super) fn integrate_batch(&mut self, sh: &Shared<'_>, l: usize, system: System) -> Batched {
        let rule = &sh.rule;
        if rule.element_theta.is_some() || rule.local != crate::config::LocalStep::Fixed {
            return Batched::No;
        }
        let nr = &self.neurons[l];
        let (layer_c, reference, input, output) = match system {
            System::Forward => (
                &nr.forward,
                &nr.reference,
                sh.settings.input_port,
                sh.settings.output_port,
            ),
            System::Reversed => (
                &nr.reversed,
                &nr.reference_reversed,
                sh.settings.output_port,
                sh.settings.input_port,
            ),
        };
        let Some(shared) = layer_c.shared() else {
            return Batched::No;
        };
        let own = self.ranges[l].clone();
        let reference = &reference[own.clone()];
        let b = &mut self.batch;
        if b.coefficients.len() != sh.sizes.len() {
            b.coefficients = (0..sh.sizes.len()).map(|_| [None, None]).collect();
        }
        let which = system as usize;
        let coef = &mut b.coefficients[l][which];
        if coef.as_ref().is_none_or(|c| c.shared() != Some(shared)) {
            *coef = Some(LayerCoefficients::uniform(&shared, own.len()));
        }
        let coef = coef.as_ref().expect("built above");
        let stepping = Stepping {
            integrator: rule.integrator,
            dt: rule.dt,
            clamp: rule.clamp,
        };
        let pop = &mut self.populations[l][which];
        if pop.asleep == 0 {
            kernel::step(
                system,
                coef,
                &mut pop.state,
                Ports {
                    input,
                    current: &pop.input,
                    output,
                    reference,
                    signal: &mut pop.signal,
                    integral: &mut pop.integral,
                },
                stepping,
            );
            return Batched::All;
        }
        b.idx.clear();
        b.idx
            .extend((0..pop.len()).filter(|&jj| !pop.quiescent[jj]));
        let k = b.idx.len();
        if k == 0 {
            return Batched::Awake;
        }
        let state = b.state.get_or_insert_with(|| LayerState::new(1, 0));
        state.n = k;
        for e in 0..ELEMENTS {
            state.x[e].resize(k, 0.0);
        }
        for buf in [
            &mut b.current,
            &mut b.reference,
            &mut b.signal,
            &mut b.integral,
        ] {
            buf.resize(k, 0.0);
        }
        for (m, &jj) in b.idx.iter().enumerate() {
            for e in 0..ELEMENTS {
                state.x[e][m] = pop.state.x[e][jj];
            }
            b.current[m] = pop.input[jj];
            b.reference[m] = reference[jj];
        }
        kernel::step(
            system,
            coef,
            state,
            Ports {
                input,
                current: &b.current,
                output,
                reference: &b.reference,
                signal: &mut b.signal,
                integral: &mut b.integral,
            },
            stepping,
        );
        for (m, &jj) in b.idx.iter().enumerate() {
            for e in 0..ELEMENTS {
                pop.state.x[e][jj] = state.x[e][m];
            }
            pop.signal[jj] = b.signal[m];
        }
        Batched::Awake
    }
}
