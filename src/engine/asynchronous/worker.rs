//! A worker thread's share of the asynchronous engine: the neuron actors it owns (a
//! contiguous range of every layer), their input rings, the synapse rows it owns (those of
//! its postsynaptic neurons), and the window loop.
//!
//! Per window of `lookahead` steps a worker: takes in the events everyone emitted in the
//! previous window (sorted by (time, origin, seq)); records readouts and window traces;
//! applies the synapse updates that fell due (then waits for the other workers, since
//! other workers read its rows); delivers the signal events to its actors' input rings
//! (scaled by C, at arrival time = emission + the synapse's delay); then steps its actors
//! through the window, each integrating its own equations, and emits their events.
//!
//! Sleeping actors (at rest, nothing arriving) are not integrated: an event delivered to
//! one pushes it into the worker's priority queue keyed by (arrival time, actor), and it
//! wakes when the window reaches that time.

use std::cmp::Reverse;
use std::ops::Range;
use std::sync::RwLock;

use priority_queue::PriorityQueue;

use super::actor::{NeuronActor, StepRule};
use super::comm::{Comm, Event, EventKind, PeerGone};
use super::schedule::{Sample, Timing};
use crate::config::{LearningRule, Settings};
use crate::data::Dataset;
use crate::error::SimError;
use crate::learning::linearised::{self, Trajectory};
use crate::neuron::adjoint::{Scheme, Unit};
use crate::neuron::layer::{self as kernel, LayerCoefficients, LayerState, Ports};
use crate::neuron::LayerNeurons;
use crate::neuron::{System, ELEMENTS};
use crate::topology::projection::Shape;
use crate::trace::{Selection, Wave};

mod delivery;
mod record;
mod update;
mod windows;

use record::record;
pub use record::{Record, RecordItem};

/// What every worker reads during a call (coefficient rows behind per-worker locks).
pub struct Shared<'a> {
    pub settings: &'a Settings,
    pub rule: StepRule,
    pub timing: &'a Timing,
    pub sizes: &'a [usize],
    /// Global index of each layer's first neuron.
    pub base: &'a [u32],
    pub samples: &'a [Sample],
    /// Images of samples that start during this call.
    pub data: Option<&'a Dataset>,
    pub shapes: Vec<Shape<'a>>,
    /// `rows[l][w]`: coefficients of projection l's postsynaptic rows owned by worker w.
    pub rows: Vec<Vec<RwLock<&'a mut [f32]>>>,
    /// Per projection: per-synapse delays in canonical order, or one fixed delay.
    pub delays: &'a [Delays],
    pub workers: usize,
    /// What to record, if anything.
    pub trace: Option<&'a Selection>,
}

/// Delays of one projection, in steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Delays {
    Fixed(u64),
    PerSynapse(Vec<u16>),
}

impl Delays {
    #[inline]
    fn of(&self, k: usize) -> u64 {
        match self {
            Delays::Fixed(d) => *d,
            Delays::PerSynapse(v) => v[k] as u64,
        }
    }
}

/// The neurons of `layer` owned by worker `w` of `workers`.
pub fn owned(n: usize, w: usize, workers: usize) -> Range<usize> {
    w * n / workers..(w + 1) * n / workers
}

/// Work done, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    pub events: u64,
    pub deliveries: u64,
    pub synapse_updates: u64,
    /// Every event put on the wire (signals, readouts, window integrals).
    pub sent: u64,
    /// Every event taken in (each worker takes in every event).
    pub received: u64,
    /// Steps an actor was asked to take at a time before its local time (must stay 0).
    pub time_regressions: u64,
    /// Events between the element actors inside neurons (element granularity).
    pub element_events: u64,
}

/// A sparse projection's synapses onto a worker's rows, grouped by presynaptic neuron:
/// entries `start[i]..start[i + 1]` are (postsynaptic j, coefficient index).
type ByPre = (Vec<usize>, Vec<(u32, u32)>);

/// Where a worker was when it stopped with an error or panicked.
#[derive(Debug, Clone, Copy, Default)]
pub struct Position {
    pub layer: usize,
    pub neuron: usize,
    pub step: u64,
}

/// A worker's persistent state.
#[derive(Debug)]
pub struct Worker {
    pub id: usize,
    pub ranges: Vec<Range<usize>>,
    pub actors: Vec<Vec<NeuronActor>>,
    /// Per layer: input increments by arrival step, `ring[(t % R) * n_own + j]`.
    ring_f: Vec<Vec<f32>>,
    ring_r: Vec<Vec<f32>>,
    ring_len: u64,
    /// Per layer, all neurons: the value each neuron's synapses carry (last delivered).
    carried_f: Vec<Vec<f32>>,
    carried_r: Vec<Vec<f32>>,
    /// Per layer: `[slot * n + i]` sent-signal integrals of closed windows (all neurons).
    pre_integral: Vec<Vec<f32>>,
    post_integral: Vec<Vec<f32>>,
    /// Per layer, own neurons: exact forward integral (method 1's own integral).
    own_forward: Vec<Vec<f32>>,
    /// `[slot * classes + k]`: output readouts.
    pub readouts: Vec<f32>,
    /// Readouts of finished samples, by sample seq (kept by worker 0 for the tally).
    pub finished: Vec<(u64, Vec<f32>)>,
    /// Per sparse projection: for each presynaptic i, its synapses onto own rows as
    /// (postsynaptic j, index into the coefficients).
    by_pre: Vec<Option<ByPre>>,
    /// Per dense projection: its own rows transposed, `ct[i * n_own + jj]` = C from i to
    /// own neuron jj, so a forward event's deliveries read one contiguous row. Rebuilt
    /// when the coefficients were changed from outside ([`Worker::invalidate`]).
    transposed: Vec<Vec<f32>>,
    /// Sleeping actors to wake, keyed by (arrival step, global id).
    wake: PriorityQueue<(u16, u32), Reverse<(u64, u32)>>,
    /// Per layer: how many own actors sleep in the forward / reversed system (deliveries
    /// skip the wake check when none does).
    asleep_f: Vec<usize>,
    asleep_r: Vec<usize>,
    /// Events emitted in the window just processed, not yet exchanged.
    outbox: Vec<Event>,
    /// Events of the last window, exchanged, waiting for the next boundary.
    pub inbox: Vec<Event>,
    pub work: Work,
    /// Per layer, own neurons: method 1 moves them; merged back after the call.
    pub neurons: Vec<LayerNeurons>,
    pub position: Position,
    /// Recorded events and states of traced samples (taken by the engine after a call).
    pub records: Vec<Record>,
    /// Per layer, own neurons: recorded by the trace selection.
    trace_mask: Vec<Vec<bool>>,
    /// Buffers of the batched integration.
    batch: Batch,
    /// `linearised` rule, per layer from the first reversed one, own neurons: the recorded
    /// forward windows the reversed pass replays (empty for the other rules).
    trajectories: Vec<Vec<Trajectory>>,
}

/// The awake actors of one layer and system gathered into structure-of-arrays form, so
/// that one call of the synchronous engine's vectorised kernel (`neuron::layer::step`)
/// integrates them all: the same arithmetic as stepping them one by one, several times
/// faster.
#[derive(Debug, Default)]
struct Batch {
    /// Own-actor indices gathered.
    idx: Vec<usize>,
    state: Option<LayerState>,
    current: Vec<f32>,
    reference: Vec<f32>,
    signal: Vec<f32>,
    integral: Vec<f32>,
    scratch: Vec<f32>,
    /// Per (layer, system): every own neuron with the layer's shared coefficients.
    coefficients: Vec<[Option<LayerCoefficients>; 2]>,
}

impl Worker {
    pub fn new(
        id: usize,
        workers: usize,
        sizes: &[usize],
        slots: usize,
        ring_len: u64,
        neurons: &[LayerNeurons],
    ) -> Self {
        let ranges: Vec<_> = sizes.iter().map(|&n| owned(n, id, workers)).collect();
        let own = |f: &dyn Fn(usize) -> usize| -> Vec<Vec<f32>> {
            ranges.iter().map(|r| vec![0.0; f(r.len())]).collect()
        };
        let all =
            |per: usize| -> Vec<Vec<f32>> { sizes.iter().map(|&n| vec![0.0; n * per]).collect() };
        Worker {
            id,
            actors: ranges
                .iter()
                .map(|r| vec![NeuronActor::default(); r.len()])
                .collect(),
            ring_f: own(&|n| n * ring_len as usize),
            ring_r: own(&|n| n * ring_len as usize),
            ring_len,
            carried_f: all(1),
            carried_r: all(1),
            pre_integral: all(slots),
            post_integral: all(slots),
            own_forward: own(&|n| n * slots),
            readouts: vec![0.0; slots * sizes[sizes.len() - 1]],
            finished: Vec::new(),
            by_pre: Vec::new(),
            transposed: Vec::new(),
            wake: PriorityQueue::new(),
            asleep_f: vec![0; sizes.len()],
            asleep_r: vec![0; sizes.len()],
            outbox: Vec::new(),
            inbox: Vec::new(),
            work: Work::default(),
            neurons: neurons.to_vec(),
            ranges,
            position: Position::default(),
            records: Vec::new(),
            trace_mask: Vec::new(),
            batch: Batch::default(),
            trajectories: Vec::new(),
        }
    }

    /// With nothing in flight every synapse carries zero, so every input is exactly zero:
    /// drop the rounding residue of the summed increments, and the adaptive step sizes,
    /// so that a drained engine equals a fresh one (a resumed run continues exactly).
    pub fn settle(&mut self, base: &[u32]) {
        // Events of the last window not yet delivered only bring synapses back to zero.
        for ev in std::mem::take(&mut self.inbox) {
            let (l, i) = locate(base, ev.origin);
            match ev.kind {
                EventKind::Forward => self.carried_f[l][i] = ev.value,
                EventKind::Backward => self.carried_r[l][i] = ev.value,
                _ => {}
            }
        }
        for ring in self.ring_f.iter_mut().chain(self.ring_r.iter_mut()) {
            ring.fill(0.0);
        }
        for a in self.actors.iter_mut().flatten() {
            debug_assert!(a.forward.window.is_none() && a.reversed.window.is_none());
            for sys in [&mut a.forward, &mut a.reversed] {
                sys.input = 0.0;
                sys.halvings = 0;
            }
        }
        for v in self.carried_f.iter_mut().chain(self.carried_r.iter_mut()) {
            debug_assert!(v.iter().all(|&c| c == 0.0));
            v.fill(0.0);
        }
    }

    /// Runs the windows from boundary `from` to boundary `to`.
    pub fn run(&mut self, sh: &Shared<'_>, comm: &Comm, from: u64, to: u64) -> Result<(), Stop> {
        self.transpose(sh);
        if sh.settings.rule == LearningRule::Linearised && self.trajectories.is_empty() {
            let slots = self.readouts.len() / sh.sizes[sh.sizes.len() - 1];
            let steps = sh.timing.forward as usize;
            self.trajectories = (self.ranges.iter().enumerate())
                .map(|(l, r)| {
                    let keep = l >= sh.timing.first_reversed;
                    vec![Trajectory::new(slots, steps); if keep { r.len() } else { 0 }]
                })
                .collect();
        }
        self.trace_mask = self
            .ranges
            .iter()
            .enumerate()
            .map(|(l, r)| {
                let chosen = sh.trace.map_or(&[][..], |t| t.neurons(l));
                r.clone()
                    .map(|j| chosen.binary_search(&j).is_ok())
                    .collect()
            })
            .collect();
        let look = sh.timing.lookahead;
        let mut t = from;
        while t < to {
            let inbox = std::mem::take(&mut self.inbox);
            self.deliver(sh, &inbox);
            for n in t..t + look {
                self.step(sh, n)?;
            }
            self.work.sent += self.outbox.len() as u64;
            self.inbox = comm
                .exchange(std::mem::take(&mut self.outbox))
                .map_err(|PeerGone| Stop::Peer)?;
            self.work.received += self.inbox.len() as u64;
            t += look;
            // Boundary t: everything emitted before it is known to every worker.
            self.absorb(sh, t);
            if self.updates_due(sh, t) {
                self.apply_updates(sh, t);
                comm.barrier().map_err(|_| Stop::Peer)?;
            }
        }
        Ok(())
    }

    /// Readouts and window integrals just received (boundary `t`): tables every worker keeps for
    /// all neurons.
    fn absorb(&mut self, sh: &Shared<'_>, t: u64) {
        let layers = sh.sizes.len();
        let classes = sh.sizes[layers - 1];
        for ev in &self.inbox {
            let (l, i) = locate(sh.base, ev.origin);
            let slot = ev.slot as usize;
            match ev.kind {
                EventKind::Readout => self.readouts[slot * classes + i] = ev.value,
                EventKind::ForwardIntegral => {
                    self.pre_integral[l][slot * sh.sizes[l] + i] = ev.value
                }
                EventKind::BackwardIntegral => {
                    self.post_integral[l][slot * sh.sizes[l] + i] = ev.value
                }
                EventKind::Forward | EventKind::Backward => {}
            }
        }
        if self.id == 0 {
            for s in sh.samples {
                if sh.timing.boundary(sh.timing.readout(s.start)) == t {
                    let y = self.readouts[s.slot * classes..(s.slot + 1) * classes].to_vec();
                    self.finished.push((s.seq, y));
                }
            }
        }
    }

    /// Integrates every awake actor of layer `l` in `system` with one call of the batched
    /// kernel, when the layer's neurons share their coefficients and the actors take plain
    /// fixed steps (element actors and adaptive steps integrate one by one). Returns
    /// whether it did.
    fn integrate_batch(&mut self, sh: &Shared<'_>, l: usize, system: System) -> bool {
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
            rule.dt,
            rule.integrator,
            rule.clamp,
            &mut b.scratch,
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

    /// One step of every awake own actor, with the window controls that fall on it.
    fn step(&mut self, sh: &Shared<'_>, n: u64) -> Result<(), Stop> {
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
                        let unit = Unit::from(&shared_f.unwrap_or_else(|| nr.forward.get(j)));
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

/// Why a worker stopped early.
#[derive(Debug)]
pub enum Stop {
    Peer,
    NonFinite {
        phase: &'static str,
        layer: usize,
        slot: usize,
    },
    FixedPoint {
        layer: usize,
        neuron: usize,
        detail: String,
    },
}

impl Stop {
    pub fn into_error(self, samples: &[Sample], dt: f32) -> Option<SimError> {
        match self {
            Stop::Peer => None,
            Stop::NonFinite { phase, layer, slot } => Some(SimError::NonFinite {
                phase,
                layer,
                sample: samples
                    .iter()
                    .find(|s| s.slot == slot)
                    .map_or(0, |s| s.index),
                dt,
            }),
            Stop::FixedPoint {
                layer,
                neuron,
                detail,
            } => Some(SimError::FixedPoint {
                layer,
                neuron,
                detail,
            }),
        }
    }
}
fn emit(
    out: &mut Vec<Event>,
    a: &mut NeuronActor,
    time: u64,
    origin: u32,
    kind: EventKind,
    slot: Option<usize>,
    value: f32,
) {
    out.push(Event {
        time,
        origin,
        seq: a.seq,
        kind,
        slot: slot.unwrap_or(0) as u32,
        value,
    });
    a.seq = a.seq.wrapping_add(1);
}

/// (layer, index in layer) of a global neuron id.
#[inline]
fn locate(base: &[u32], gid: u32) -> (usize, usize) {
    let l = base.partition_point(|&b| b <= gid) - 1;
    (l, (gid - base[l]) as usize)
}

/// The worker owning neuron `j` of a layer of `n` (inverse of [`owned`]).
fn owner_of(n: usize, j: usize, workers: usize) -> usize {
    (0..workers)
        .find(|&w| owned(n, w, workers).contains(&j))
        .expect("every neuron has an owner")
}
