//! Batched integration: the awake actors of one layer and system gathered into the
//! synchronous engine's structure-of-arrays kernel and back (the same arithmetic as stepping
//! them one by one, several times faster).

use super::{Shared, Worker};
use crate::neuron::layer::{self as kernel, LayerCoefficients, LayerState, Ports, Stepping};
use crate::neuron::{System, ELEMENTS};

/// The awake actors of one layer and system gathered into structure-of-arrays form, so
/// that one call of the synchronous engine's vectorised kernel (`neuron::layer::step`)
/// integrates them all: the same arithmetic as stepping them one by one, several times
/// faster.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Own-actor indices gathered.
    idx: Vec<usize>,
    state: Option<LayerState>,
    current: Vec<f32>,
    reference: Vec<f32>,
    signal: Vec<f32>,
    integral: Vec<f32>,
    /// Per (layer, system): every own neuron with the layer's shared coefficients.
    coefficients: Vec<[Option<LayerCoefficients>; 2]>,
}

impl Worker {
    /// Integrates every awake actor of layer `l` in `system` with one call of the batched
    /// kernel, when the layer's neurons share their coefficients and the actors take plain
    /// fixed steps (element actors and adaptive steps integrate one by one). Returns
    /// whether it did.
    pub(super) fn integrate_batch(&mut self, sh: &Shared<'_>, l: usize, system: System) -> bool {
        let rule = &sh.rule;
        if rule.element_theta.is_some() || rule.local != crate::config::LocalStep::Fixed {
            return false;
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
            return false;
        };
        let own = self.ranges[l].clone();
        let b = &mut self.batch;
        b.idx.clear();
        for (jj, a) in self.actors[l].iter().enumerate() {
            let sys = match system {
                System::Forward => &a.forward,
                System::Reversed => &a.reversed,
            };
            if sys.window.is_some() && !sys.quiescent {
                b.idx.push(jj);
            }
        }
        let k = b.idx.len();
        if k == 0 {
            return true;
        }
        if b.coefficients.len() != sh.sizes.len() {
            b.coefficients = (0..sh.sizes.len()).map(|_| [None, None]).collect();
        }
        let which = system as usize;
        let coef = &mut b.coefficients[l][which];
        if coef.as_ref().is_none_or(|c| c.shared() != Some(shared)) {
            *coef = Some(LayerCoefficients::uniform(&shared, own.len()));
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
            let a = &self.actors[l][jj];
            let sys = match system {
                System::Forward => &a.forward,
                System::Reversed => &a.reversed,
            };
            for e in 0..ELEMENTS {
                state.x[e][m] = sys.x[e];
            }
            b.current[m] = sys.input;
            b.reference[m] = reference[own.start + jj];
        }
        kernel::step(
            system,
            b.coefficients[l][which].as_ref().expect("built above"),
            state,
            Ports {
                input,
                current: &b.current,
                output,
                reference: &b.reference,
                signal: &mut b.signal,
                integral: &mut b.integral,
            },
            Stepping {
                integrator: rule.integrator,
                dt: rule.dt,
                clamp: rule.clamp,
            },
        );
        for (m, &jj) in b.idx.iter().enumerate() {
            let a = &mut self.actors[l][jj];
            let sys = match system {
                System::Forward => &mut a.forward,
                System::Reversed => &mut a.reversed,
            };
            for e in 0..ELEMENTS {
                sys.x[e] = state.x[e][m];
            }
        }
        true
    }
}
