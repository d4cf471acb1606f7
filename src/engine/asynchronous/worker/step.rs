//! One step of a worker's actors: arrivals join the inputs, windows open, sleeping actors
//! wake, every awake actor integrates its forward and reversed system (batched where it can,
//! the `linearised` replay actor by actor), sends on delta, and windows close.

use super::batch::Batched;
use super::delivery::RowGuard;
use super::record::record;
use super::stimulus::Replayed;
use super::{emit, Position, Shared, Stop, Worker};
use crate::config::LearningMethod;
use crate::engine::asynchronous::comm::EventKind;
use crate::learning::linearised;
use crate::neuron::adjoint::Scheme;
use crate::neuron::System;
use crate::trace::Wave;

impl Worker {
    /// One step of every awake own actor, with the window controls that fall on it. With
    /// `direct`, the events that may go straight to the input rings do
    /// ([`Worker::deliver_fired`]); `rows` are the row blocks the reversed events read.
    pub(super) fn step(
        &mut self,
        sh: &Shared<'_>,
        rows: &[Vec<RowGuard<'_, '_>>],
        n: u64,
        direct: bool,
    ) -> Result<(), Stop> {
        let tm = sh.timing;
        let layers = sh.sizes.len();
        // A resting system wakes when an input reaches it (a window that opens at n sets
        // its systems' rest from their inputs again, below).
        for l in 0..layers {
            let [f, rv] = &mut self.populations[l];
            f.take_arrivals(&mut self.ring_f[l], n);
            rv.take_arrivals(&mut self.ring_r[l], n);
        }
        // Windows opening at n (the stimulus and the teacher are local control inputs).
        let [forward, reversed] = [System::Forward, System::Reversed].map(|s| self.role.runs(s));
        for smp in sh.samples {
            if n == smp.start {
                self.clear_slot(smp.slot, sh.sizes);
            }
            for l in 0..layers {
                if forward && n == smp.start + tm.fwd_offset[l] {
                    self.open_forward(sh, smp, l, n);
                }
                if reversed
                    && smp.train
                    && l >= tm.first_reversed
                    && n == smp.start + tm.rev_offset[l]
                {
                    self.open_reversed(sh, smp, l, n);
                }
            }
        }
        // Integrate.
        let linear = !self.trajectories.is_empty();
        for l in 0..layers {
            self.advance_time(l, n);
            if linear && l >= tm.first_reversed {
                // The state before this step and its current, for the reversed replay.
                let f = &self.populations[l][System::Forward as usize];
                if let Some(slot) = f.window {
                    for (jj, traj) in self.trajectories[l].iter_mut().enumerate() {
                        if !f.quiescent[jj] {
                            let x = std::array::from_fn(|e| f.state.x[e][jj]);
                            traj.record(
                                slot,
                                (n + tm.forward - f.closes) as usize,
                                &x,
                                f.input[jj],
                            );
                        }
                    }
                }
            }
            self.step_layer(sh, l, System::Forward, n)?;
            self.step_layer(sh, l, System::Reversed, n)?;
            let systems = [System::Forward, System::Reversed];
            let direct = systems.map(|s| direct && self.delivers_fired(sh, l, s, n));
            self.emit_fired(sh, l, n, direct);
            for s in systems.into_iter().filter(|&s| direct[s as usize]) {
                self.deliver_fired(sh, rows, l, s, n);
            }
        }
        // Windows closing at n + 1.
        for smp in sh.samples {
            for l in 0..layers {
                if forward && n + 1 == smp.start + tm.fwd_offset[l] + tm.forward {
                    self.close_forward(sh, smp, l, n + 1);
                }
                if reversed
                    && smp.train
                    && l >= tm.first_reversed
                    && n + 1 == smp.start + tm.rev_offset[l] + tm.backward
                {
                    self.close_reversed(sh, smp, l, n + 1)?;
                }
            }
        }
        Ok(())
    }

    /// Layer `l`'s actors reach step `n + 1` (counting a step asked of them before their
    /// local time, which must never happen).
    pub(super) fn advance_time(&mut self, l: usize, n: u64) {
        if n < self.time[l] {
            self.work.time_regressions += self.ranges[l].len() as u64;
        }
        self.time[l] = n + 1;
    }

    /// Steps the awake actors of layer `l` in `system` (if its window is open): integration,
    /// send-on-delta, the trace, and the events of those that fired.
    pub(super) fn step_layer(
        &mut self,
        sh: &Shared<'_>,
        l: usize,
        system: System,
        n: u64,
    ) -> Result<(), Stop> {
        let which = system as usize;
        self.fired[which].clear();
        let Some(slot) = self.populations[l][which].window else {
            return Ok(());
        };
        let s = sh.settings;
        let rule = sh.rule;
        let tm = sh.timing;
        let own = self.ranges[l].clone();
        self.position = Position {
            layer: l,
            neuron: own.start,
            step: n,
        };
        let linear = system == System::Reversed && !self.trajectories.is_empty();
        let mut fired = std::mem::take(&mut self.fired[which]);
        // The input layer may replay its stimulus' responses instead of integrating.
        let replayed = match (l, system) {
            (0, System::Forward) => self
                .stimulus
                .step(&mut self.populations[0][0], n, &mut fired),
            _ => Replayed::No,
        };
        let batched = if linear || !matches!(replayed, Replayed::No) {
            Batched::No
        } else {
            self.integrate_batch(sh, l, system)
        };
        let (theta, wave, phase, output, reference) = match system {
            System::Forward => (
                rule.theta,
                Wave::Forward,
                "forward",
                s.output_port,
                &self.neurons[l].reference,
            ),
            System::Reversed => (
                rule.theta_backward,
                Wave::Backward,
                "backward",
                s.input_port,
                &self.neurons[l].reference_reversed,
            ),
        };
        let pop = &mut self.populations[l][which];
        let finite = match (replayed, batched) {
            (Replayed::Yes, _) => true,
            (Replayed::NonFinite, _) => false,
            (Replayed::No, Batched::All) => pop.send_on_delta(theta, rule.dt, &mut fired),
            (Replayed::No, Batched::Listed) => pop.send_on_delta_awake(theta, rule.dt, &mut fired),
            (Replayed::No, Batched::Awake) => {
                let mut finite = true;
                for &jj in &self.batch.idx {
                    let d = pop.signal[jj];
                    if pop.signal_one(jj, d, theta, rule.dt) {
                        fired.push(jj as u32);
                    }
                    finite &= d.is_finite();
                }
                finite
            }
            (Replayed::No, Batched::No) => {
                let nr = &self.neurons[l];
                let fixed_points = s.method == LearningMethod::FixedPoints;
                let scheme = Scheme {
                    integrator: rule.integrator,
                    dt: rule.dt,
                    clamp: rule.clamp,
                    input: s.input_port,
                };
                for jj in 0..pop.len() {
                    if pop.quiescent[jj] {
                        continue;
                    }
                    let j = own.start + jj;
                    self.position.neuron = j;
                    let mut one = pop.get(jj);
                    let (sent, signal) = if linear {
                        // The linearised pass replays the forward window backwards.
                        let traj = &self.trajectories[l][jj];
                        let m = (n + tm.backward - one.closes) as usize;
                        let (x, u) = traj.get(slot, traj.steps() - 1 - m);
                        let unit = nr.forward.shared().unwrap_or_else(|| nr.forward.get(j));
                        let (g, k3) = linearised::reversed_step(
                            &unit,
                            &scheme,
                            s.output_port,
                            (x, u),
                            one.input,
                            &mut one.x,
                            fixed_points,
                        );
                        if fixed_points {
                            // Method 1 also sums the adjoint of the K3 it moves.
                            self.learning.rate[l][slot * pop.len() + jj] += k3;
                        }
                        (one.signal(g, theta, rule.dt), g)
                    } else {
                        let layer_c = match system {
                            System::Forward => &nr.forward,
                            System::Reversed => &nr.reversed,
                        };
                        let input = match system {
                            System::Forward => s.input_port,
                            System::Reversed => s.output_port,
                        };
                        let c = layer_c.shared().unwrap_or_else(|| layer_c.get(j));
                        one.integrate(system, &c, input, &rule);
                        let sent = one.observe(system, output, reference[j], &rule);
                        (sent, one.x[output] - reference[j])
                    };
                    self.work.element_events += one.element_events;
                    pop.set(jj, &one);
                    pop.signal[jj] = signal;
                    if sent.is_some() {
                        fired.push(jj as u32);
                    }
                    if !signal.is_finite() {
                        return Err(Stop::NonFinite {
                            phase,
                            layer: l,
                            slot,
                        });
                    }
                }
                true
            }
        };
        if !finite {
            return Err(Stop::NonFinite {
                phase,
                layer: l,
                slot,
            });
        }
        let pop = &self.populations[l][which];
        if sh.trace.is_some() {
            for jj in 0..pop.len() {
                if !self.trace_mask[l][jj] || pop.quiescent[jj] {
                    continue;
                }
                let j = own.start + jj;
                let sent = fired
                    .binary_search(&(jj as u32))
                    .is_ok()
                    .then_some(pop.sent[jj]);
                record(
                    &mut self.records,
                    sh,
                    wave,
                    l,
                    j,
                    sh.base[l] + j as u32,
                    n + 1,
                    &pop.get(jj),
                    sent,
                    pop.signal[jj],
                );
            }
        }
        debug_assert!(fired.is_sorted(), "actors fire in neuron order");
        self.fired[which] = fired;
        Ok(())
    }

    /// Emits the events of layer `l`'s actors that fired at step `n`, neuron by neuron (a
    /// neuron's forward event before its reversed one, as their seq numbers order them):
    /// a window's own events then come out sorted by (time, origin, seq), but for those of
    /// windows that close, and the exchange has next to nothing to sort. A system whose
    /// events are `direct` ([`Worker::deliver_fired`]) only counts them.
    fn emit_fired(&mut self, sh: &Shared<'_>, l: usize, n: u64, direct: [bool; 2]) {
        // Forward events go up from every layer but the last, reversed ones down from the
        // layers above the first reversed one.
        let sends = [l < sh.sizes.len() - 1, l > sh.timing.first_reversed];
        let kinds = [EventKind::Forward, EventKind::Backward];
        let [forward, reversed] = &self.fired;
        self.work.events += (forward.len() + reversed.len()) as u64;
        let pops = &self.populations[l];
        let first = sh.base[l] + self.ranges[l].start as u32;
        // Everything an event needs, looked up once per call, not once per event.
        let systems = [0, 1].map(|w| (kinds[w], pops[w].window, &pops[w].sent[..]));
        let (seq, out) = (&mut self.seq[l][..], &mut self.outbox);
        out.reserve(forward.len() + reversed.len());
        // Events delivered as they fire are numbered as if sent, so that every event keeps
        // its seq at any split; when no system emits, no merge.
        if (0..2).all(|w| !sends[w] || direct[w]) {
            for list in [forward, reversed].iter().zip(sends).filter(|s| s.1) {
                number_unsent(seq, list.0);
            }
            return;
        }
        let mut send = |which: usize, jj: u32| {
            let (kind, window, sent) = systems[which];
            let jj = jj as usize;
            if direct[which] {
                seq[jj] = seq[jj].wrapping_add(1);
                return;
            }
            emit(
                out,
                &mut seq[jj],
                n + 1,
                first + jj as u32,
                kind,
                window,
                sent[jj],
            );
        };
        match sends {
            [false, false] => {}
            // One system sends: its list is in order already.
            [true, false] => forward.iter().for_each(|&jj| send(0, jj)),
            [false, true] => reversed.iter().for_each(|&jj| send(1, jj)),
            // A branch-free merge of the two ascending lists (they interleave unpredictably).
            [true, true] => {
                let (mut a, mut b) = (0, 0);
                loop {
                    let f = forward.get(a).copied().unwrap_or(u32::MAX);
                    let r = reversed.get(b).copied().unwrap_or(u32::MAX);
                    if f == u32::MAX && r == u32::MAX {
                        break;
                    }
                    let which = usize::from(r < f);
                    a += 1 - which;
                    b += which;
                    send(which, f.min(r));
                }
            }
        }
    }
}

/// Advances the counters of the `fired` actors whose events are delivered without being
/// sent: every event keeps its sequence number at any split.
pub(super) fn number_unsent(seq: &mut [u32], fired: &[u32]) {
    for &jj in fired {
        seq[jj as usize] = seq[jj as usize].wrapping_add(1);
    }
}
