//! One step of a worker's actors: arrivals join the inputs, windows open, sleeping actors
//! wake, every awake actor integrates its forward and reversed system (batched where it can,
//! the `linearised` replay actor by actor), sends on delta, and windows close.

use std::cmp::Reverse;

use super::record::record;
use super::{emit, Position, Shared, Stop, Worker};
use crate::engine::asynchronous::comm::EventKind;
use crate::learning::linearised;
use crate::neuron::adjoint::Scheme;
use crate::neuron::System;
use crate::trace::Wave;

impl Worker {
    /// One step of every awake own actor, with the window controls that fall on it.
    pub(super) fn step(&mut self, sh: &Shared<'_>, n: u64) -> Result<(), Stop> {
        let s = sh.settings;
        let tm = sh.timing;
        let layers = sh.sizes.len();
        let last = layers - 1;
        let r = self.ring_len;
        // Arrivals at n join the inputs.
        for l in 0..layers {
            let n_own = self.ranges[l].len();
            let slot = (n % r) as usize * n_own;
            if l > 0 {
                for (a, v) in self.actors[l]
                    .iter_mut()
                    .zip(&mut self.ring_f[l][slot..slot + n_own])
                {
                    a.forward.input += *v;
                    *v = 0.0;
                }
            }
            if l < last {
                for (a, v) in self.actors[l]
                    .iter_mut()
                    .zip(&mut self.ring_r[l][slot..slot + n_own])
                {
                    a.reversed.input += *v;
                    *v = 0.0;
                }
            }
        }
        // Windows opening at n (the stimulus and the teacher are local control inputs).
        for smp in sh.samples {
            if n == smp.start {
                self.clear_slot(smp.slot, sh.sizes);
            }
            for l in 0..layers {
                if n == smp.start + tm.fwd_offset[l] {
                    self.open_forward(sh, smp, l, n);
                }
                if smp.train && l >= tm.first_reversed && n == smp.start + tm.rev_offset[l] {
                    self.open_reversed(sh, smp, l, n);
                }
            }
        }
        while let Some((_, Reverse((at, _)))) = self.wake.peek() {
            if *at > n {
                break;
            }
            let ((l, jj), _) = self.wake.pop().expect("peeked");
            let (l, a) = (l as usize, &mut self.actors[l as usize][jj as usize]);
            if a.forward.quiescent && a.forward.input != 0.0 {
                a.forward.quiescent = false;
                self.asleep_f[l] -= 1;
            }
            if a.reversed.quiescent && a.reversed.input != 0.0 {
                a.reversed.quiescent = false;
                self.asleep_r[l] -= 1;
            }
        }
        // Integrate.
        let rule = sh.rule;
        let linear = !self.trajectories.is_empty();
        let scheme = Scheme {
            integrator: rule.integrator,
            dt: rule.dt,
            clamp: rule.clamp,
            input: s.input_port,
        };
        for l in 0..layers {
            if linear && l >= tm.first_reversed {
                // The state before this step and its current, for the reversed replay.
                for (a, traj) in self.actors[l].iter().zip(&mut self.trajectories[l]) {
                    let f = &a.forward;
                    if let (Some(slot), false) = (f.window, f.quiescent) {
                        traj.record(slot, (n + tm.forward - f.closes) as usize, &f.x, f.input);
                    }
                }
            }
            let batched = [
                self.integrate_batch(sh, l, System::Forward),
                !linear && self.integrate_batch(sh, l, System::Reversed),
            ];
            let nr = &self.neurons[l];
            let shared_f = nr.forward.shared();
            let shared_r = nr.reversed.shared();
            for jj in 0..self.ranges[l].len() {
                let j = self.ranges[l].start + jj;
                let gid = sh.base[l] + j as u32;
                let a = &mut self.actors[l][jj];
                if n < a.time {
                    self.work.time_regressions += 1;
                }
                a.time = n + 1;
                if a.forward.window.is_some() && !a.forward.quiescent {
                    self.position = Position {
                        layer: l,
                        neuron: j,
                        step: n,
                    };
                    if !batched[0] {
                        let c = shared_f.unwrap_or_else(|| nr.forward.get(j));
                        a.forward
                            .integrate(System::Forward, &c, s.input_port, &rule);
                    }
                    let sent =
                        a.forward
                            .observe(System::Forward, s.output_port, nr.reference[j], &rule);
                    self.work.element_events += std::mem::take(&mut a.forward.element_events);
                    if self.trace_mask[l][jj] {
                        record(
                            &mut self.records,
                            sh,
                            Wave::Forward,
                            l,
                            j,
                            gid,
                            n + 1,
                            &a.forward,
                            sent,
                            a.forward.x[s.output_port] - nr.reference[j],
                        );
                    }
                    if !a.forward.x[s.output_port].is_finite() {
                        return Err(Stop::NonFinite {
                            phase: "forward",
                            layer: l,
                            slot: a.forward.window.unwrap_or(0),
                        });
                    }
                    if let Some(v) = sent {
                        if l < last {
                            emit(
                                &mut self.outbox,
                                a,
                                n + 1,
                                gid,
                                EventKind::Forward,
                                a.forward.window,
                                v,
                            );
                        }
                        self.work.events += 1;
                    }
                }
                if a.reversed.window.is_some() && !a.reversed.quiescent {
                    self.position = Position {
                        layer: l,
                        neuron: j,
                        step: n,
                    };
                    let (sent, signal) = if linear {
                        // The linearised pass replays the forward window backwards.
                        let traj = &self.trajectories[l][jj];
                        let m = (n + tm.backward - a.reversed.closes) as usize;
                        let slot = a.reversed.window.unwrap_or(0);
                        let (x, u) = traj.get(slot, traj.steps() - 1 - m);
                        let unit = shared_f.unwrap_or_else(|| nr.forward.get(j));
                        let r = &mut a.reversed;
                        let g = linearised::reversed_step(
                            &unit,
                            &scheme,
                            s.output_port,
                            x,
                            u,
                            r.input,
                            &mut r.x,
                        );
                        (r.signal(g, rule.theta_backward, rule.dt), g)
                    } else {
                        if !batched[1] {
                            let c = shared_r.unwrap_or_else(|| nr.reversed.get(j));
                            a.reversed
                                .integrate(System::Reversed, &c, s.output_port, &rule);
                        }
                        let reference = nr.reference_reversed[j];
                        let sent =
                            a.reversed
                                .observe(System::Reversed, s.input_port, reference, &rule);
                        (sent, a.reversed.x[s.input_port] - reference)
                    };
                    self.work.element_events += std::mem::take(&mut a.reversed.element_events);
                    if self.trace_mask[l][jj] {
                        record(
                            &mut self.records,
                            sh,
                            Wave::Backward,
                            l,
                            j,
                            gid,
                            n + 1,
                            &a.reversed,
                            sent,
                            signal,
                        );
                    }
                    if !signal.is_finite() {
                        return Err(Stop::NonFinite {
                            phase: "backward",
                            layer: l,
                            slot: a.reversed.window.unwrap_or(0),
                        });
                    }
                    if let Some(v) = sent {
                        if l > tm.first_reversed {
                            emit(
                                &mut self.outbox,
                                a,
                                n + 1,
                                gid,
                                EventKind::Backward,
                                a.reversed.window,
                                v,
                            );
                        }
                        self.work.events += 1;
                    }
                }
            }
        }
        // Windows closing at n + 1.
        for smp in sh.samples {
            for l in 0..layers {
                if n + 1 == smp.start + tm.fwd_offset[l] + tm.forward {
                    self.close_forward(sh, smp, l, n + 1);
                }
                if smp.train
                    && l >= tm.first_reversed
                    && n + 1 == smp.start + tm.rev_offset[l] + tm.backward
                {
                    self.close_reversed(sh, smp, l, n + 1)?;
                }
            }
        }
        Ok(())
    }
}
