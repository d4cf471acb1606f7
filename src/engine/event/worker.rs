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
use crate::config::{FixedPointSignal, LearningMethod};
use crate::data::Dataset;
use crate::engine::{LayerNeurons, Settings};
use crate::error::SimError;
use crate::learning::{atan, limiter};
use crate::neuron::{Coefficients, System};
use crate::topology::projection::{update_rows, Shape};
use crate::trace::{Event as TraceEvent, Selection, StateSample, Wave};

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

/// A recorded event or state, with the key that orders records whatever the partition.
#[derive(Debug, Clone, Copy)]
pub struct Record {
    /// (step, global neuron id, wave: 0 forward / 1 backward, 0 event / 1 state): unique.
    pub key: (u64, u32, u8, u8),
    pub item: RecordItem,
}

#[derive(Debug, Clone, Copy)]
pub enum RecordItem {
    Event(TraceEvent),
    State(StateSample),
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
    /// Every event put on the wire (signals, readouts, traces).
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
    pre_trace: Vec<Vec<f32>>,
    post_trace: Vec<Vec<f32>>,
    /// Per layer, own neurons: exact forward integral (method 1's own trace).
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
            pre_trace: all(slots),
            post_trace: all(slots),
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
        }
    }

    /// Forgets the transposed coefficients (someone else changed C).
    pub fn invalidate(&mut self) {
        self.transposed.clear();
    }

    /// Transposes the own rows of every dense projection (when invalidated).
    pub fn transpose(&mut self, sh: &Shared<'_>) {
        if !self.transposed.is_empty() {
            return;
        }
        self.transposed = sh
            .shapes
            .iter()
            .enumerate()
            .map(|(l, shape)| match shape {
                Shape::Sparse(..) => Vec::new(),
                Shape::Dense => {
                    let (pre, n_own) = (sh.sizes[l], self.ranges[l + 1].len());
                    let block = sh.rows[l][self.id].read().expect("rows lock");
                    let mut ct = vec![0.0; pre * n_own];
                    for jj in 0..n_own {
                        for i in 0..pre {
                            ct[i * n_own + jj] = block[jj * pre + i];
                        }
                    }
                    ct
                }
            })
            .collect();
    }

    /// Indexes sparse projections by presynaptic neuron (once; the wiring never changes).
    pub fn index(&mut self, shapes: &[Shape<'_>], sizes: &[usize]) {
        if self.by_pre.len() == shapes.len() {
            return;
        }
        self.by_pre = shapes
            .iter()
            .enumerate()
            .map(|(l, shape)| match shape {
                Shape::Dense => None,
                Shape::Sparse(row_ptr, col) => {
                    let own = &self.ranges[l + 1];
                    let mut count = vec![0usize; sizes[l] + 1];
                    for j in own.clone() {
                        for &i in &col[row_ptr[j]..row_ptr[j + 1]] {
                            count[i as usize + 1] += 1;
                        }
                    }
                    for i in 0..sizes[l] {
                        count[i + 1] += count[i];
                    }
                    let mut fill = count.clone();
                    let mut entries = vec![(0u32, 0u32); count[sizes[l]]];
                    for j in own.clone() {
                        for k in row_ptr[j]..row_ptr[j + 1] {
                            let i = col[k] as usize;
                            entries[fill[i]] = (j as u32, k as u32);
                            fill[i] += 1;
                        }
                    }
                    Some((count, entries))
                }
            })
            .collect();
    }

    /// Runs the windows from boundary `from` to boundary `to`.
    pub fn run(&mut self, sh: &Shared<'_>, comm: &Comm, from: u64, to: u64) -> Result<(), Stop> {
        self.transpose(sh);
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

    /// Readouts and traces just received (boundary `t`): tables every worker keeps for
    /// all neurons.
    fn absorb(&mut self, sh: &Shared<'_>, t: u64) {
        let layers = sh.sizes.len();
        let classes = sh.sizes[layers - 1];
        for ev in &self.inbox {
            let (l, i) = locate(sh.base, ev.origin);
            let slot = ev.slot as usize;
            match ev.kind {
                EventKind::Readout => self.readouts[slot * classes + i] = ev.value,
                EventKind::ForwardTrace => self.pre_trace[l][slot * sh.sizes[l] + i] = ev.value,
                EventKind::BackwardTrace => self.post_trace[l][slot * sh.sizes[l] + i] = ev.value,
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

    fn updates_due(&self, sh: &Shared<'_>, t: u64) -> bool {
        sh.settings.method == LearningMethod::Connections
            && sh.samples.iter().any(|s| {
                s.train
                    && (0..sh.sizes.len() - 1)
                        .any(|l| sh.timing.boundary(sh.timing.update_due(s.start, l)) == t)
            })
    }

    /// Method 2: every synapse whose windows have both closed adds lr * G2 to its C.
    /// The rows are this worker's; the postsynaptic current is adjusted by ΔC times the
    /// value each synapse carries, so the input stays the sum of C times carried values.
    fn apply_updates(&mut self, sh: &Shared<'_>, t: u64) {
        let kt = sh.settings.kt;
        for s in sh.samples.iter().filter(|s| s.train) {
            for l in 0..sh.sizes.len() - 1 {
                if sh.timing.boundary(sh.timing.update_due(s.start, l)) != t {
                    continue;
                }
                let (pre, post) = (sh.sizes[l], sh.sizes[l + 1]);
                let p = &self.pre_trace[l][s.slot * pre..(s.slot + 1) * pre];
                let q = &self.post_trace[l + 1][s.slot * post..(s.slot + 1) * post];
                let own = self.ranges[l + 1].clone();
                let shape = sh.shapes[l];
                {
                    let mut block = sh.rows[l][self.id].write().expect("rows lock");
                    let carried = &self.carried_f[l];
                    let old = carried.iter().any(|&v| v != 0.0).then(|| block.to_vec());
                    update_rows(
                        &shape,
                        pre,
                        post,
                        own.clone(),
                        &mut block[..],
                        1,
                        p,
                        q,
                        s.scale,
                        kt,
                    );
                    if let Shape::Dense = shape {
                        let (ct, n_own) = (&mut self.transposed[l], own.len());
                        for jj in 0..n_own {
                            for i in 0..pre {
                                ct[i * n_own + jj] = block[jj * pre + i];
                            }
                        }
                    }
                    self.work.synapse_updates += block.len() as u64;
                    if let (Some(old), Shape::Dense) = (&old, shape) {
                        for jj in 0..own.len() {
                            let new_row = &block[jj * pre..(jj + 1) * pre];
                            let old_row = &old[jj * pre..(jj + 1) * pre];
                            let mut comp = 0.0f32;
                            for ((&c1, &c0), &v) in new_row.iter().zip(old_row).zip(carried.iter())
                            {
                                comp += (c1 - c0) * v;
                            }
                            self.actors[l + 1][jj].forward.input += comp;
                        }
                    } else if let Some(old) = old {
                        for_rows(&shape, pre, own.clone(), |jj, k0, cols| {
                            let mut comp = 0.0f32;
                            for (m, i) in cols.enumerate() {
                                comp += (block[k0 + m] - old[k0 + m]) * carried[i];
                            }
                            self.actors[l + 1][jj].forward.input += comp;
                        });
                    }
                }
                // Reversed currents of own presynaptic neurons, for later samples' backward
                // waves already carried by these synapses.
                let carried = &self.carried_r[l + 1];
                if l >= sh.timing.first_reversed && carried.iter().any(|&v| v != 0.0) {
                    let dense = matches!(shape, Shape::Dense);
                    for ii in 0..self.ranges[l].len() {
                        let i = self.ranges[l].start + ii;
                        let mut comp = 0.0f32;
                        for (j, &v) in carried.iter().enumerate() {
                            if v != 0.0 && synapse_exists(&shape, pre, i, j) {
                                comp += delta(p[i], q[j], s.scale, kt, dense) * v;
                            }
                        }
                        self.actors[l][ii].reversed.input += comp;
                    }
                }
            }
        }
    }

    /// Applies this window's signal events to the own actors' input rings, in event order.
    fn deliver(&mut self, sh: &Shared<'_>, inbox: &[Event]) {
        let layers = sh.sizes.len();
        let r = self.ring_len;
        for ev in inbox {
            let (l, i) = locate(sh.base, ev.origin);
            match ev.kind {
                EventKind::Forward if l + 1 < layers => {
                    let delta = ev.value - self.carried_f[l][i];
                    self.carried_f[l][i] = ev.value;
                    let own = self.ranges[l + 1].clone();
                    if delta == 0.0 || own.is_empty() {
                        continue;
                    }
                    let block = sh.rows[l][self.id].read().expect("rows lock");
                    let ring = &mut self.ring_f[l + 1];
                    let n_own = own.len();
                    let actors = &self.actors[l + 1];
                    let delays = &sh.delays[l];
                    let pre = sh.sizes[l];
                    let mut wake = |jj: usize, at: u64| {
                        if actors[jj].forward.quiescent {
                            let gid = sh.base[l + 1] + (own.start + jj) as u32;
                            self.wake
                                .push_increase((l as u16 + 1, jj as u32), Reverse((at, gid)));
                        }
                    };
                    match (&sh.shapes[l], &self.by_pre[l]) {
                        (Shape::Dense, _) if matches!(delays, Delays::Fixed(_)) => {
                            // One arrival time for all: a strided column of C into one ring row.
                            let at = ev.time + delays.of(0);
                            let row = &mut ring[(at % r) as usize * n_own..][..n_own];
                            let column = &self.transposed[l][i * n_own..(i + 1) * n_own];
                            for (slot, &c) in row.iter_mut().zip(column) {
                                *slot += c * delta;
                            }
                            if self.asleep_f[l + 1] > 0 {
                                for jj in 0..n_own {
                                    wake(jj, at);
                                }
                            }
                            self.work.deliveries += n_own as u64;
                        }
                        (Shape::Dense, _) => {
                            for jj in 0..n_own {
                                let k = (own.start + jj) * pre + i;
                                let at = ev.time + delays.of(k);
                                ring[(at % r) as usize * n_own + jj] += block[jj * pre + i] * delta;
                                wake(jj, at);
                            }
                            self.work.deliveries += n_own as u64;
                        }
                        (Shape::Sparse(row_ptr, _), Some((start, entries))) => {
                            let base = row_ptr[own.start];
                            for &(j, k) in &entries[start[i]..start[i + 1]] {
                                let jj = j as usize - own.start;
                                let at = ev.time + delays.of(k as usize);
                                ring[(at % r) as usize * n_own + jj] +=
                                    block[k as usize - base] * delta;
                                wake(jj, at);
                            }
                            self.work.deliveries += (start[i + 1] - start[i]) as u64;
                        }
                        (Shape::Sparse(..), None) => unreachable!("indexed before the first run"),
                    }
                }
                EventKind::Backward if l > sh.timing.first_reversed => {
                    // Neuron j = i of layer l sends back to layer l - 1 over projection l - 1.
                    let (j, p) = (i, l - 1);
                    let delta = ev.value - self.carried_r[l][j];
                    self.carried_r[l][j] = ev.value;
                    let own = self.ranges[p].clone();
                    if delta == 0.0 || own.is_empty() {
                        continue;
                    }
                    let owner = owner_of(sh.sizes[l], j, sh.workers);
                    let block = sh.rows[p][owner].read().expect("rows lock");
                    let first_row = owned(sh.sizes[l], owner, sh.workers).start;
                    let ring = &mut self.ring_r[p];
                    let n_own = own.len();
                    let delays = &sh.delays[p];
                    let pre = sh.sizes[p];
                    let actors = &self.actors[p];
                    let mut wake = |ii: usize, at: u64| {
                        if actors[ii].reversed.quiescent {
                            let gid = sh.base[p] + (own.start + ii) as u32;
                            self.wake
                                .push_increase((p as u16, ii as u32), Reverse((at, gid)));
                        }
                    };
                    match &sh.shapes[p] {
                        Shape::Dense if matches!(delays, Delays::Fixed(_)) => {
                            let row = &block[(j - first_row) * pre..(j - first_row + 1) * pre];
                            let at = ev.time + delays.of(0);
                            let slots = &mut ring[(at % r) as usize * n_own..][..n_own];
                            for (slot, &c) in slots.iter_mut().zip(&row[own.clone()]) {
                                *slot += c * delta;
                            }
                            if self.asleep_r[p] > 0 {
                                for ii in 0..n_own {
                                    wake(ii, at);
                                }
                            }
                            self.work.deliveries += n_own as u64;
                        }
                        Shape::Dense => {
                            let row = &block[(j - first_row) * pre..(j - first_row + 1) * pre];
                            for ii in 0..n_own {
                                let k = j * pre + own.start + ii;
                                let at = ev.time + delays.of(k);
                                ring[(at % r) as usize * n_own + ii] += row[own.start + ii] * delta;
                                wake(ii, at);
                            }
                            self.work.deliveries += n_own as u64;
                        }
                        Shape::Sparse(row_ptr, col) => {
                            let base = row_ptr[first_row];
                            for k in row_ptr[j]..row_ptr[j + 1] {
                                let i = col[k] as usize;
                                if own.contains(&i) {
                                    let ii = i - own.start;
                                    let at = ev.time + delays.of(k);
                                    ring[(at % r) as usize * n_own + ii] += block[k - base] * delta;
                                    wake(ii, at);
                                    self.work.deliveries += 1;
                                }
                            }
                        }
                    }
                }
                _ => {}
            }
        }
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
        for l in 0..layers {
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
                    let c = shared_f.unwrap_or_else(|| coefficients(&nr.forward, j));
                    let sent = a.forward.step(
                        System::Forward,
                        &c,
                        s.input_port,
                        s.output_port,
                        nr.reference[j],
                        &rule,
                    );
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
                    let c = shared_r.unwrap_or_else(|| coefficients(&nr.reversed, j));
                    let sent = a.reversed.step(
                        System::Reversed,
                        &c,
                        s.output_port,
                        s.input_port,
                        nr.reference_reversed[j],
                        &rule,
                    );
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
                            a.reversed.x[s.input_port] - nr.reference_reversed[j],
                        );
                    }
                    if !a.reversed.x[s.input_port].is_finite() {
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

    fn open_forward(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, n: u64) {
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
        }
        self.asleep_f[l] = self.actors[l]
            .iter()
            .filter(|a| a.forward.quiescent)
            .count();
    }

    fn open_reversed(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, n: u64) {
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
        for (jj, a) in self.actors[l].iter_mut().enumerate() {
            let j = own.start + jj;
            if l == last {
                a.reversed.input = sh.settings.error_scale * error[j];
            }
            let rest = std::array::from_fn(|k| nr.rest_reversed[k][j]);
            a.reversed.open(smp.slot, closes, &rest);
        }
        self.asleep_r[l] = self.actors[l]
            .iter()
            .filter(|a| a.reversed.quiescent)
            .count();
    }

    fn close_forward(&mut self, sh: &Shared<'_>, smp: &Sample, l: usize, t: u64) {
        let last = sh.sizes.len() - 1;
        let own = self.ranges[l].clone();
        for (jj, a) in self.actors[l].iter_mut().enumerate() {
            let j = own.start + jj;
            let gid = sh.base[l] + j as u32;
            let f = a.forward;
            self.own_forward[l][smp.slot * own.len() + jj] = f.integral;
            if l == last {
                let y = sh.settings.readout(f.integral);
                emit(&mut self.outbox, a, t, gid, EventKind::Readout, f.window, y);
            } else {
                if f.sent_integral != 0.0 {
                    emit(
                        &mut self.outbox,
                        a,
                        t,
                        gid,
                        EventKind::ForwardTrace,
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

    fn close_reversed(
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
                        EventKind::BackwardTrace,
                        r.window,
                        r.sent_integral,
                    );
                }
            } else {
                // Method 1: the neuron moves its own fixed point from its own two traces.
                let forward = match s.fixed_point_signal {
                    FixedPointSignal::Paper => self.own_forward[l][smp.slot * own.len() + jj],
                    FixedPointSignal::Reversed => s.forward_window(),
                };
                let g2 = limiter(forward * r.integral, s.kt);
                let nr = &mut self.neurons[l];
                let k3 = nr.k3_out[j] * (-smp.scale * g2).exp();
                nr.set_k3_out(j, k3).map_err(|detail| Stop::FixedPoint {
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
    fn clear_slot(&mut self, slot: usize, sizes: &[usize]) {
        for (l, &n) in sizes.iter().enumerate() {
            self.pre_trace[l][slot * n..(slot + 1) * n].fill(0.0);
            self.post_trace[l][slot * n..(slot + 1) * n].fill(0.0);
        }
        let classes = sizes[sizes.len() - 1];
        self.readouts[slot * classes..(slot + 1) * classes].fill(0.0);
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

/// Records an actor's event (`sent`) and, every `every` steps of its window, its state,
/// if its sample is traced. Times are from the sample's start.
#[allow(clippy::too_many_arguments)]
fn record(
    out: &mut Vec<Record>,
    sh: &Shared<'_>,
    wave: Wave,
    layer: usize,
    neuron: usize,
    gid: u32,
    step: u64,
    system: &super::actor::SystemState,
    sent: Option<f32>,
    signal: f32,
) {
    let Some(sel) = sh.trace else { return };
    let Some(slot) = system.window else { return };
    // A slot's previous occupant may still be listed: the newest sample already started.
    let Some(smp) = sh
        .samples
        .iter()
        .rev()
        .find(|s| s.slot == slot && s.start < step)
    else {
        return;
    };
    if !smp.train || !sel.wants_sample(smp.index) || !sel.wants_wave(wave) {
        return;
    }
    let time = crate::trace::step_time((step - smp.start) as usize, sh.settings.dt as f64);
    if let (Some(value), true) = (sent, sel.events) {
        out.push(Record {
            key: (step, gid, wave as u8, 0),
            item: RecordItem::Event(TraceEvent {
                time,
                sample: smp.index,
                layer,
                neuron,
                wave,
                value,
            }),
        });
    }
    let opened = system.closes
        - match wave {
            Wave::Forward => sh.timing.forward,
            Wave::Backward => sh.timing.backward,
        };
    if sel.states && (step - opened) % sel.every.max(1) as u64 == 0 {
        out.push(Record {
            key: (step, gid, wave as u8, 1),
            item: RecordItem::State(StateSample {
                time,
                sample: smp.index,
                layer,
                neuron,
                wave,
                signal,
                elements: system.x,
            }),
        });
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

fn coefficients(c: &crate::neuron::layer::LayerCoefficients, j: usize) -> Coefficients {
    Coefficients {
        gen: std::array::from_fn(|k| c.gen[k][j]),
        decay: std::array::from_fn(|k| c.decay[k][j]),
        inhib: std::array::from_fn(|k| c.inhib[k][j]),
    }
}

/// Calls `f(local row, first coefficient index in the block, presynaptic indices)` for the
/// rows `own` of a block.
fn for_rows(
    shape: &Shape<'_>,
    pre: usize,
    own: Range<usize>,
    mut f: impl FnMut(usize, usize, Box<dyn Iterator<Item = usize> + '_>),
) {
    match shape {
        Shape::Dense => {
            for jj in 0..own.len() {
                f(jj, jj * pre, Box::new(0..pre));
            }
        }
        Shape::Sparse(row_ptr, col) => {
            let base = row_ptr[own.start];
            for (jj, j) in own.enumerate() {
                let cols = col[row_ptr[j]..row_ptr[j + 1]].iter().map(|&i| i as usize);
                f(jj, row_ptr[j] - base, Box::new(cols));
            }
        }
    }
}

fn synapse_exists(shape: &Shape<'_>, _pre: usize, i: usize, j: usize) -> bool {
    match shape {
        Shape::Dense => true,
        Shape::Sparse(row_ptr, col) => col[row_ptr[j]..row_ptr[j + 1]].contains(&(i as u32)),
    }
}

/// The change one sample makes to one coefficient, as `update_rows` computes it.
fn delta(p: f32, q: f32, scale: f32, kt: f32, dense: bool) -> f32 {
    if dense && kt != 0.0 {
        scale / kt * atan(kt * q * p)
    } else {
        scale * limiter(p * q, kt)
    }
}
