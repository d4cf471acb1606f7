//! Batched integration: the awake actors of one layer and system stepped by the synchronous
//! engine's structure-of-arrays kernel — in place when at most half of them rest (the
//! resting ones put back as they were), else gathered into the kernel's arrays and back.
//! The kernel's lanes are independent, so either way each actor gets the arithmetic of
//! stepping it alone, several times faster.

use super::{Shared, Worker};
use crate::neuron::layer::{self as kernel, LayerCoefficients, LayerState, Ports, Stepping};
use crate::neuron::{System, ELEMENTS};

/// Buffers for integrating the awake actors of a layer that has resting ones.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Own-actor indices gathered, or stepped in place among resting ones.
    pub idx: Vec<usize>,
    /// The resting actors' states, output deviations and integrals, kept while the kernel
    /// steps the whole layer in place.
    kept: Vec<(usize, [f32; ELEMENTS], f32, f32)>,
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
    /// The awake actors listed in `Batch::idx`, in place among the resting ones (put back
    /// as they were): output deviations in `signal`, already added to `integral`.
    Listed,
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
        if coef
            .as_ref()
            .is_none_or(|c| !c.shared().is_some_and(|c| c.same_bits(&shared)))
        {
            *coef = Some(LayerCoefficients::uniform(&shared, own.len()));
        }
        let coef = coef.as_ref().expect("built above");
        let stepping = Stepping {
            integrator: rule.integrator,
            dt: rule.dt,
            clamp: rule.clamp,
        };
        let pop = &mut self.populations[l][which];
        // At most half rest: step them all in place and put the resting ones back, cheaper
        // than gathering the awake ones (demo.yaml: 7% less time).
        let listed = pop.asleep > 0 && pop.asleep * 2 <= pop.len();
        if listed {
            b.idx.clear();
            b.kept.clear();
            for jj in 0..pop.len() {
                if pop.quiescent[jj] {
                    let x = std::array::from_fn(|e| pop.state.x[e][jj]);
                    b.kept.push((jj, x, pop.signal[jj], pop.integral[jj]));
                } else {
                    b.idx.push(jj);
                }
            }
        }
        if pop.asleep == 0 || listed {
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
            if !listed {
                return Batched::All;
            }
            for &(jj, x, signal, integral) in &b.kept {
                for (e, &v) in x.iter().enumerate() {
                    pop.state.x[e][jj] = v;
                }
                pop.signal[jj] = signal;
                pop.integral[jj] = integral;
            }
            return Batched::Listed;
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
