//! Window control: an actor's forward and reversed windows open (back to rest, the stimulus
//! or the teacher's error as input) and close (readout, the window integrals its synapses carried,
//! a reset event, and for method 1 the neuron's own fixed-point update) at the times its
//! layer's schedule gives — local knowledge, no global clock.

use super::{emit, Shared, Stop, Worker};
use crate::config::LearningMethod;
use crate::engine::asynchronous::comm::EventKind;
use crate::engine::asynchronous::schedule::Sample;
use crate::learning::{fixed_points, injection, readout};
use crate::neuron::ELEMENTS;

impl Worker {
    pub(super) fn open_forward(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, n: u64) {
        let closes = n + sh.timing.forward;
        let own = self.ranges[l].clone();
        let image = (l == 0).then(|| sh.data.expect("data for starting samples").image(smp.index));
        let nr = &self.neurons[l];
        for (jj, a) in self.actors[l].iter_mut().enumerate() {
            let j = own.start + jj;
            if let Some(image) = image {
                a.forward.input = sh.settings.gain * image[j];
            }
            let rest = std::array::from_fn(|k| nr.rest[k][j]);
            a.forward.open(smp.slot, closes, &rest);
            if let Some(traj) = self.trajectories.get_mut(l).and_then(|t| t.get_mut(jj)) {
                traj.open(smp.slot, &rest);
            }
        }
        self.asleep_f[l] = self.actors[l]
            .iter()
            .filter(|a| a.forward.quiescent)
            .count();
    }

    pub(super) fn open_reversed(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, n: u64) {
        let closes = n + sh.timing.backward;
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        let mut error = Vec::new();
        if l == last {
            let classes = sh.sizes[last];
            let y = &self.readouts[smp.slot * classes..(smp.slot + 1) * classes];
            error = vec![0.0; classes];
            sh.settings.error.error(y, smp.label, &mut error);
        }
        let nr = &self.neurons[l];
        // The linearised pass starts from a zero adjoint and takes the error itself.
        let linear = !self.trajectories.is_empty();
        let scale = injection(sh.settings.rule, sh.settings.error_scale);
        for (jj, a) in self.actors[l].iter_mut().enumerate() {
            let j = own.start + jj;
            if l == last {
                a.reversed.input = scale * error[j];
            }
            let rest = if linear {
                [0.0; ELEMENTS]
            } else {
                std::array::from_fn(|k| nr.rest_reversed[k][j])
            };
            a.reversed.open(smp.slot, closes, &rest);
        }
        self.asleep_r[l] = self.actors[l]
            .iter()
            .filter(|a| a.reversed.quiescent)
            .count();
    }

    pub(super) fn close_forward(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, t: u64) {
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        for (jj, a) in self.actors[l].iter_mut().enumerate() {
            let j = own.start + jj;
            let gid = sh.base[l] + j as u32;
            let f = a.forward;
            self.own_forward[l][smp.slot * own.len() + jj] = f.integral;
            if l == last {
                let y = readout(
                    sh.settings.readout,
                    f.integral,
                    sh.settings.forward_window(),
                );
                emit(&mut self.outbox, a, t, gid, EventKind::Readout, f.window, y);
            } else {
                if f.sent_integral != 0.0 {
                    emit(
                        &mut self.outbox,
                        a,
                        t,
                        gid,
                        EventKind::ForwardIntegral,
                        f.window,
                        f.sent_integral,
                    );
                }
                // Back to rest: the synapses carry zero again.
                if f.sent != 0.0 {
                    emit(
                        &mut self.outbox,
                        a,
                        t,
                        gid,
                        EventKind::Forward,
                        f.window,
                        0.0,
                    );
                    self.work.events += 1;
                }
            }
            a.forward.sent = 0.0;
            a.forward.window = None;
            if l == 0 {
                a.forward.input = 0.0;
            }
        }
    }

    pub(super) fn close_reversed(
        &mut self,
        sh: &Shared<'_>,
        smp: &Sample,
        l: usize,
        t: u64,
    ) -> Result<(), Stop> {
        let s = sh.settings;
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        let first = sh.timing.first_reversed;
        for jj in 0..own.len() {
            let j = own.start + jj;
            let gid = sh.base[l] + j as u32;
            let a = &mut self.actors[l][jj];
            let r = a.reversed;
            if s.method == LearningMethod::Connections {
                if r.sent_integral != 0.0 {
                    emit(
                        &mut self.outbox,
                        a,
                        t,
                        gid,
                        EventKind::BackwardIntegral,
                        r.window,
                        r.sent_integral,
                    );
                }
            } else {
                // Method 1: the neuron moves its own fixed point from its own two window integrals.
                let forward = self.own_forward[l][smp.slot * own.len() + jj];
                let window = s.forward_window();
                let g2 = fixed_points::g2(s.fixed_point_signal, forward, r.integral, window, s.kt);
                let nr = &mut self.neurons[l];
                fixed_points::apply(nr, j, g2, smp.scale).map_err(|detail| Stop::FixedPoint {
                    layer: l,
                    neuron: j,
                    detail,
                })?;
            }
            if r.sent != 0.0 && l > first {
                emit(
                    &mut self.outbox,
                    a,
                    t,
                    gid,
                    EventKind::Backward,
                    r.window,
                    0.0,
                );
                self.work.events += 1;
            }
            a.reversed.sent = 0.0;
            a.reversed.window = None;
            if l == last {
                a.reversed.input = 0.0;
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
