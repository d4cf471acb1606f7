//! Window control: an actor's forward and reversed windows open (back to rest, the stimulus
//! or the teacher's error as input) and close (readout, the window integrals its synapses carried,
//! a reset event, and for method 1 the neuron's own fixed-point update) at the times its
//! layer's schedule gives — local knowledge, no global clock.

use super::ring::Ring;
use super::{emit, Shared, Stop, Worker};
use crate::config::LearningMethod;
use crate::config::LocalStep;
use crate::engine::asynchronous::comm::EventKind;
use crate::engine::asynchronous::schedule::Sample;
use crate::learning::{injection, readout};
use crate::neuron::ELEMENTS;

impl Worker {
    pub(super) fn open_forward(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, n: u64) {
        let closes = n + sh.timing.forward;
        let own = self.ranges[l].clone();
        let nr = &self.neurons[l];
        let pop = &mut self.populations[l][0];
        if l == 0 {
            let image = sh.data.expect("data for starting samples").image(smp.index);
            for (u, &v) in pop.input.iter_mut().zip(&image[own.clone()]) {
                *u = sh.settings.gain * v;
            }
        } else {
            settle_inputs(&mut pop.input, &self.carried_f[l - 1], &self.ring_f[l]);
        }
        let rest = |jj: usize| std::array::from_fn(|k| nr.rest[k][own.start + jj]);
        pop.open(smp.slot, closes, rest);
        // A neuron whose fixed point moved (method 1) sends its bias, its rest output less
        // the reference B_ref, from the window's first step, input or not: it cannot sleep.
        let out = sh.settings.output_port;
        for (jj, j) in own.clone().enumerate() {
            if pop.quiescent[jj] && nr.rest[out][j] != nr.reference[j] {
                pop.quiescent[jj] = false;
                pop.asleep -= 1;
            }
        }
        if let Some(trajs) = self.trajectories.get_mut(l) {
            for (jj, traj) in trajs.iter_mut().enumerate() {
                traj.open(smp.slot, &rest(jj));
            }
        }
        if l == 0 {
            let image = sh.data.expect("data for starting samples").image(smp.index);
            let alike = self.pooling_fits(sh);
            self.pools.open(n, closes, image, alike);
            let basis = self.replay_basis(sh);
            let steps = (sh.timing.forward, sh.settings.input_port, out);
            let pop = &self.populations[0][0];
            self.stimulus.open(pop, basis, n, &sh.rule, steps);
        }
    }

    /// What the input layer's responses depend on besides the input value — its shared
    /// coefficients, rest state and reference — when its windows may be replayed
    /// ([`super::stimulus`]): plain fixed steps, every own neuron alike, and no one
    /// looking at its states during the window (trace, `linearised` record).
    fn replay_basis(
        &self,
        sh: &Shared<'_>,
    ) -> Option<(crate::neuron::Coefficients<f32>, [f32; ELEMENTS], f32)> {
        let watched = self.trace_mask.first().is_some_and(|m| m.contains(&true))
            || self.trajectories.first().is_some_and(|t| !t.is_empty());
        let own = self.ranges[0].clone();
        if watched || own.is_empty() || !self.inputs_alike(sh, own.clone()) {
            return None;
        }
        let nr = &self.neurons[0];
        let rest: [f32; ELEMENTS] = std::array::from_fn(|k| nr.rest[k][own.start]);
        Some((nr.forward.shared()?, rest, nr.reference[own.start]))
    }

    /// Whether the input layer's events may be pooled by value ([`super::pools`]): every
    /// input neuron alike (shared coefficients, rest state and reference, not learning),
    /// plain fixed steps.
    fn pooling_fits(&self, sh: &Shared<'_>) -> bool {
        sh.pool_inputs
            && sh.settings.method == LearningMethod::Connections
            && self.inputs_alike(sh, 0..sh.sizes[0])
    }

    /// Whether the input neurons `range` live alike under equal inputs: plain fixed steps
    /// (no element actors), shared coefficients, one rest state and one reference.
    fn inputs_alike(&self, sh: &Shared<'_>, range: std::ops::Range<usize>) -> bool {
        let rule = &sh.rule;
        let nr = &self.neurons[0];
        let alike = |v: &[f32]| {
            v[range.clone()]
                .windows(2)
                .all(|w| w[0].to_bits() == w[1].to_bits())
        };
        rule.element_theta.is_none()
            && rule.local == LocalStep::Fixed
            && nr.forward.shared().is_some()
            && nr.rest.iter().all(|r| alike(r))
            && alike(&nr.reference)
    }

    pub(super) fn open_reversed(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, n: u64) {
        let closes = n + sh.timing.backward;
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        let pop = &mut self.populations[l][1];
        if l == last {
            let classes = sh.sizes[last];
            let y = &self.readouts[smp.slot * classes..(smp.slot + 1) * classes];
            let mut error = vec![0.0; classes];
            sh.settings.error.error(y, smp.label, &mut error);
            let scale = injection(sh.settings.rule, sh.settings.error_scale);
            for (u, &e) in pop.input.iter_mut().zip(&error[own.clone()]) {
                *u = scale * e;
            }
        } else {
            settle_inputs(&mut pop.input, &self.carried_r[l + 1], &self.ring_r[l]);
        }
        let nr = &self.neurons[l];
        // The linearised pass starts from a zero adjoint and takes the error itself.
        let linear = !self.trajectories.is_empty();
        if let Some(rate) = self.learning.rate.get_mut(l).filter(|_| linear) {
            rate[smp.slot * own.len()..(smp.slot + 1) * own.len()].fill(0.0);
        }
        pop.open(smp.slot, closes, |jj| {
            if linear {
                [0.0; ELEMENTS]
            } else {
                std::array::from_fn(|k| nr.rest_reversed[k][own.start + jj])
            }
        });
    }

    pub(super) fn close_forward(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, t: u64) {
        self.closed = true;
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        let pop = &mut self.populations[l][0];
        if l == 0 {
            self.stimulus.close(pop);
        }
        let window = pop.window;
        self.own_forward[l][smp.slot * own.len()..(smp.slot + 1) * own.len()]
            .copy_from_slice(&pop.integral);
        for jj in 0..own.len() {
            let j = own.start + jj;
            let gid = sh.base[l] + j as u32;
            let seq = &mut self.seq[l][jj];
            if l == last {
                let y = readout(
                    sh.settings.readout,
                    pop.integral[jj],
                    sh.settings.forward_window(),
                );
                emit(&mut self.outbox, seq, t, gid, EventKind::Readout, window, y);
            } else {
                if pop.sent_integral[jj] != 0.0 {
                    emit(
                        &mut self.outbox,
                        seq,
                        t,
                        gid,
                        EventKind::ForwardIntegral,
                        window,
                        pop.sent_integral[jj],
                    );
                }
                // Back to rest: the synapses carry zero again.
                if pop.sent[jj] != 0.0 {
                    emit(
                        &mut self.outbox,
                        seq,
                        t,
                        gid,
                        EventKind::Forward,
                        window,
                        0.0,
                    );
                    self.work.events += 1;
                }
            }
        }
        pop.sent.fill(0.0);
        pop.window = None;
        if l == 0 {
            pop.input.fill(0.0);
        }
    }

    pub(super) fn close_reversed(
        &mut self,
        sh: &Shared<'_>,
        smp: &Sample,
        l: usize,
        t: u64,
    ) -> Result<(), Stop> {
        self.closed = true;
        let s = sh.settings;
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        let first = sh.timing.first_reversed;
        let pop = &mut self.populations[l][1];
        let window = pop.window;
        for jj in 0..own.len() {
            let j = own.start + jj;
            let gid = sh.base[l] + j as u32;
            let seq = &mut self.seq[l][jj];
            if s.method == LearningMethod::Connections {
                if pop.sent_integral[jj] != 0.0 {
                    emit(
                        &mut self.outbox,
                        seq,
                        t,
                        gid,
                        EventKind::BackwardIntegral,
                        window,
                        pop.sent_integral[jj],
                    );
                }
            } else {
                // Method 1: the neuron moves its own fixed point from what it observed itself.
                let forward = self.own_forward[l][smp.slot * own.len() + jj];
                let lambda0 = std::array::from_fn(|e| pop.state.x[e][jj]);
                self.learning.take(
                    sh,
                    &mut self.neurons[l],
                    smp,
                    (l, j, jj, own.len()),
                    forward,
                    pop.integral[jj],
                    &lambda0,
                )?;
            }
            if pop.sent[jj] != 0.0 && l > first {
                emit(
                    &mut self.outbox,
                    seq,
                    t,
                    gid,
                    EventKind::Backward,
                    window,
                    0.0,
                );
                self.work.events += 1;
            }
        }
        pop.sent.fill(0.0);
        pop.window = None;
        if l == last {
            pop.input.fill(0.0);
        }
        if let Some(step) = smp.step {
            if s.method == LearningMethod::FixedPoints {
                // The minibatch's last sample: every own neuron of the layer takes its step.
                let at = (step.t, step.lr);
                self.learning
                    .step_layer(sh, &mut self.neurons[l], l, own, at)?;
            }
        }
        Ok(())
    }

    /// Resets the per-sample tables of `slot` as a new sample starts in it (the previous
    /// occupant has completed: the in-flight bound guarantees it).
    pub(super) fn clear_slot(&mut self, slot: usize, sizes: &[usize]) {
        for (l, &n) in sizes.iter().enumerate() {
            self.pre_integral[l][slot * n..(slot + 1) * n].fill(0.0);
            self.post_integral[l][slot * n..(slot + 1) * n].fill(0.0);
        }
        let classes = sizes[sizes.len() - 1];
        self.readouts[slot * classes..(slot + 1) * classes].fill(0.0);
    }
}

/// At a window's opening: when no neuron of the layer an actor listens to carries a
/// signal (`carried`) and no increment waits in the actor's column of the ring (`ring`,
/// `[slot * n_own + jj]`), its input current, a running sum of event increments, is exactly
/// zero in exact arithmetic, and is set so. Otherwise the rounding residue would stay from
/// sample to sample, a small constant input that a per-synapse adam turns into steady
/// steps (`Worker::settle` drops it only when nothing is in flight). Actor by actor, so
/// the result does not depend on how actors are split over workers.
fn settle_inputs(input: &mut [f32], carried: &[f32], ring: &Ring) {
    if carried.iter().any(|&v| v != 0.0) {
        return;
    }
    if ring.untouched() {
        input.fill(0.0);
        return;
    }
    for (jj, u) in input.iter_mut().enumerate() {
        if ring.idle(jj) {
            *u = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::settle_inputs;
    use crate::engine::asynchronous::worker::ring::Ring;

    #[test]
    fn only_actors_that_nothing_reaches_lose_their_residue() {
        // Three own actors, a ring of two slots: an increment waits for actor 1 only.
        let mut ring = Ring::new(3, 2);
        ring.add(1, 1, 0.5);
        let mut input = [1e-7, -2e-8, 3e-7];
        settle_inputs(&mut input, &[0.0, 0.0], &ring);
        assert_eq!(input, [0.0, -2e-8, 0.0]);
        // A presynaptic neuron still carries a signal: every input stays as it is.
        let mut input = [1e-7, -2e-8, 3e-7];
        settle_inputs(&mut input, &[0.0, 0.25], &Ring::new(3, 2));
        assert_eq!(input, [1e-7, -2e-8, 3e-7]);
    }
}
