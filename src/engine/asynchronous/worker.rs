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
//! Sleeping actors (at rest, nothing arriving) are not integrated: a system wakes at the
//! step an input reaches it (its own increment in its input ring's row of that step).

use std::ops::Range;
use std::sync::{Mutex, RwLock};

use super::actor::StepRule;
use super::comm::{Comm, Event, EventKind, PeerGone};
use super::delays::Delays;
use super::optimiser::OptimiserRows;
use super::schedule::{Sample, Timing};
use crate::config::{LearningRule, Settings};
use crate::data::Dataset;
use crate::learning::linearised::Trajectory;
use crate::learning::optimiser::OptimiserState;
use crate::neuron::{LayerNeurons, System};
use crate::topology::projection::Shape;
use crate::trace::Selection;

mod batch;
mod delivery;
mod fixed_points;
mod layer_index;
mod pools;
mod population;
mod record;
mod remote;
mod ring;
mod span;
mod step;
mod stimulus;
mod stop;
mod transpose;
mod update;
mod windows;

use batch::Batch;
pub use fixed_points::NeuronLearning;
use layer_index::{locate, owner_of, LayerIndex};
use population::Population;
use ring::Ring;

pub use record::{Record, RecordItem};
pub use stop::Stop;

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
    /// Data set indices of the images the next call's samples start with: the wave split's
    /// reversed wave reads them ahead for the forward one (`Worker::read_ahead`).
    pub ahead: &'a [usize],
    pub shapes: Vec<Shape<'a>>,
    /// `rows[l][w]`: coefficients of projection l's postsynaptic rows owned by worker w.
    pub rows: Vec<Vec<RwLock<&'a mut [f32]>>>,
    /// `optimiser_rows[l][w]`: the optimiser state of the synapses in `rows[l][w]` (empty
    /// without a per-synapse optimiser). Only worker w touches it.
    pub optimiser_rows: Vec<Vec<Mutex<OptimiserRows<'a>>>>,
    /// `deltas[l][w]`: the change of each synapse in `rows[l][w]` at the last optimiser
    /// step; written by worker w, read after the update barrier by the workers that own the
    /// presynaptic neurons (their reversed inputs follow the change).
    pub deltas: Vec<Vec<RwLock<&'a mut [f32]>>>,
    /// Per projection, when this MPI rank keeps only its part of it (`parts`): the
    /// columns, this rank's presynaptic neurons, that the other ranks' workers' blocks in
    /// `rows` and `deltas` hold of their rows.
    pub slabs: Vec<Option<Range<usize>>>,
    /// Per projection: per-synapse delays in canonical order, or one fixed delay.
    pub delays: &'a [Delays],
    pub workers: usize,
    /// The workers this process runs (all of them, unless MPI ranks share the engine: then
    /// this rank's, and the rows of the others are kept up to date here too).
    pub local: Range<usize>,
    /// What to record, if anything.
    pub trace: Option<&'a Selection>,
    /// Whether the input layer's events may be pooled by value (`worker::pools`).
    pub pool_inputs: bool,
    /// Whether plain steps may run layer by layer (`worker::span`).
    pub spans: bool,
    /// Whether the rows must hold every update at the end of the call (else the stale
    /// columns of the rows nobody reads during a call wait in the transposed copy).
    pub write_back: bool,
}

impl Shared<'_> {
    /// Row width and first column of worker `w`'s blocks of projection `l`: whole rows, or
    /// the slab of this rank's columns of another rank's rows.
    pub fn block_width(&self, l: usize, w: usize) -> (usize, usize) {
        match &self.slabs[l] {
            Some(cols) if !self.local.contains(&w) => (cols.len(), cols.start),
            _ => (self.sizes[l], 0),
        }
    }
}

/// The neurons of `layer` owned by worker `w` of `workers`.
pub fn owned(n: usize, w: usize, workers: usize) -> Range<usize> {
    w * n / workers..(w + 1) * n / workers
}

/// The neurons of a layer of `n` that the consecutive workers `ws` of `workers` own
/// together (one contiguous range: an MPI rank's).
pub fn owned_by(n: usize, ws: &Range<usize>, workers: usize) -> Range<usize> {
    owned(n, ws.start, workers).start..owned(n, ws.end - 1, workers).end
}

/// Work done, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    pub events: u64,
    pub deliveries: u64,
    pub synapse_updates: u64,
    /// Every event put on the wire (signals, readouts, window integrals); the signal events
    /// a worker delivers to its own actors as they fire (`Worker::deliver_fired`) are not.
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

/// Which systems of its neurons a worker integrates.
///
/// Between the closes of windows the forward and the reversed systems do not read each
/// other: forward events go up into forward systems, backward events down into reversed
/// ones. What crosses is the output readouts (the error a reversed window starts from),
/// the window integrals (a synapse's update reads one of each) and the updates. So two
/// workers can each take one wave of every neuron and exchange only at those boundaries,
/// instead of splitting the neurons and exchanging every window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Both systems of the neurons it owns (the neuron split).
    Both,
    /// One system of every neuron (the wave split), each wave's events kept with it.
    Wave(System),
}

impl Role {
    /// Whether a worker in this role integrates `system`.
    pub fn runs(self, system: System) -> bool {
        match self {
            Role::Both => true,
            Role::Wave(own) => own == system,
        }
    }
}

/// A worker's persistent state.
#[derive(Debug)]
pub struct Worker {
    pub id: usize,
    pub role: Role,
    pub ranges: Vec<Range<usize>>,
    /// Per layer: the own actors' forward and reversed systems (`[forward, reversed]`).
    populations: Vec<[Population; 2]>,
    /// Per layer, own actors: events emitted so far (the `seq` of the next one).
    seq: Vec<Vec<u32>>,
    /// Per layer: local time, the step the own actors have reached.
    time: Vec<u64>,
    /// Scratch: the actors of a layer that fired this step, forward and reversed.
    fired: [Vec<u32>; 2],
    /// Per layer: the input increments of the own forward and reversed systems by
    /// arrival step.
    ring_f: Vec<Ring>,
    ring_r: Vec<Ring>,
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
    /// Readouts of finished samples, by sample seq (kept by this process's first worker
    /// for the tally).
    pub finished: Vec<(u64, Vec<f32>)>,
    /// Per sparse projection: for each presynaptic i, its synapses onto own rows as
    /// (postsynaptic j, index into the coefficients).
    by_pre: Vec<Option<ByPre>>,
    /// Per dense projection: its own rows transposed, `ct[i * n_own + jj]` = C from i to
    /// own neuron jj, so a forward event's deliveries read one contiguous row. Rebuilt
    /// when the coefficients were changed from outside ([`Worker::invalidate`]).
    transposed: Vec<Vec<f32>>,
    /// Per dense projection, per presynaptic neuron: its column in `transposed` is newer
    /// than in the rows (written back at the end of the call; see `update::rows_idle`).
    stale: Vec<Vec<bool>>,
    /// Events emitted in the window just processed, not yet exchanged.
    outbox: Vec<Event>,
    /// A window closed in it: its events are not in order (see `comm::order`).
    closed: bool,
    /// Events of the last window, exchanged, waiting for the next boundary.
    pub inbox: Vec<Event>,
    /// Per dense projection with one fixed delay: the delay and the own post- and
    /// presynaptic neuron counts (`deliver`'s groups; set at each call's start).
    grouped: Vec<Option<(u64, usize, usize)>>,
    /// The exchange's buffer for sorting and merging events.
    scratch: Vec<Event>,
    /// Each neuron's layer (built at the first run).
    layer_index: LayerIndex,
    /// Deliveries gathered for one ring row, forward and backward (see `deliver`).
    groups: [delivery::Group; 2],
    /// A span's terms of one layer's events, and where each step's end (see `span`).
    span_terms: Vec<delivery::Term>,
    span_ends: Vec<usize>,
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
    /// The input layer's windows replayed from its stimulus' responses.
    stimulus: stimulus::Stimulus,
    /// The input layer's events pooled by value, per window.
    pools: pools::InputPools,
    /// Images the forward wave has yet to open, last first ([`Worker::read_ahead`]).
    unread: Vec<usize>,
    /// Per own neuron: the input change of a synapse update (scratch).
    comp: Vec<f32>,
    /// One neuron's synapse changes in a dense update (scratch).
    changes: Vec<f32>,
    /// The presynaptic neurons whose synapses a dense update changes (scratch).
    active: Vec<usize>,
    /// `linearised` rule, per layer from the first reversed one, own neurons: the recorded
    /// forward windows the reversed pass replays (empty for the other rules).
    trajectories: Vec<Vec<Trajectory>>,
    /// Method 1: the replay's K3 sums and the per-neuron optimiser (merged like `neurons`).
    pub learning: NeuronLearning,
}

impl Worker {
    pub fn new(
        id: usize,
        workers: usize,
        sizes: &[usize],
        slots: usize,
        ring_len: u64,
        neurons: &[LayerNeurons],
        // Method 1: the engine's per-neuron optimiser state.
        fixed_points: Option<&OptimiserState>,
    ) -> Self {
        let ranges: Vec<_> = sizes.iter().map(|&n| owned(n, id, workers)).collect();
        let own = |f: &dyn Fn(usize) -> usize| -> Vec<Vec<f32>> {
            ranges.iter().map(|r| vec![0.0; f(r.len())]).collect()
        };
        let all =
            |per: usize| -> Vec<Vec<f32>> { sizes.iter().map(|&n| vec![0.0; n * per]).collect() };
        Worker {
            id,
            role: Role::Both,
            populations: ranges
                .iter()
                .map(|r| [Population::new(r.len()), Population::new(r.len())])
                .collect(),
            seq: ranges.iter().map(|r| vec![0; r.len()]).collect(),
            time: vec![0; sizes.len()],
            fired: Default::default(),
            ring_f: ranges
                .iter()
                .map(|r| Ring::new(r.len(), ring_len))
                .collect(),
            ring_r: ranges
                .iter()
                .map(|r| Ring::new(r.len(), ring_len))
                .collect(),
            carried_f: all(1),
            carried_r: all(1),
            pre_integral: all(slots),
            post_integral: all(slots),
            own_forward: own(&|n| n * slots),
            readouts: vec![0.0; slots * sizes[sizes.len() - 1]],
            finished: Vec::new(),
            by_pre: Vec::new(),
            transposed: Vec::new(),
            stale: vec![Vec::new(); sizes.len() - 1],
            outbox: Vec::new(),
            closed: false,
            inbox: Vec::new(),
            grouped: Vec::new(),
            scratch: Vec::new(),
            layer_index: LayerIndex::default(),
            groups: Default::default(),
            span_terms: Vec::new(),
            span_ends: Vec::new(),
            work: Work::default(),
            neurons: neurons.to_vec(),
            position: Position::default(),
            records: Vec::new(),
            trace_mask: Vec::new(),
            batch: Batch::default(),
            stimulus: Default::default(),
            pools: Default::default(),
            unread: Vec::new(),
            comp: Vec::new(),
            changes: Vec::new(),
            active: Vec::new(),
            trajectories: Vec::new(),
            learning: fixed_points
                .map(|state| NeuronLearning::new(&ranges, slots, state.clone()))
                .unwrap_or_default(),
            ranges,
        }
    }

    /// The same worker in `role` (before it has run).
    pub fn in_role(mut self, role: Role) -> Self {
        self.role = role;
        if role == Role::Wave(System::Reversed) {
            // The reversed wave's events of a neuron sort after its forward ones of the
            // same step, as one worker's counter orders them, and never tie with them.
            for seq in self.seq.iter_mut() {
                seq.fill(1 << 31);
            }
        }
        self
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
            ring.clear();
        }
        for pop in self.populations.iter_mut().flatten() {
            debug_assert!(pop.window.is_none());
            pop.input.fill(0.0);
            pop.halvings.fill(0);
        }
        for v in self.carried_f.iter_mut().chain(self.carried_r.iter_mut()) {
            debug_assert!(v.iter().all(|&c| c == 0.0));
            v.fill(0.0);
        }
    }

    /// Runs the windows from boundary `from` to boundary `to`; the rows hold every update
    /// when it returns if `sh.write_back`.
    pub fn run(&mut self, sh: &Shared<'_>, comm: &Comm, from: u64, to: u64) -> Result<(), Stop> {
        let result = self.run_windows(sh, comm, from, to);
        if sh.write_back {
            self.write_back_stale(sh);
        }
        result
    }

    fn run_windows(
        &mut self,
        sh: &Shared<'_>,
        comm: &Comm,
        from: u64,
        to: u64,
    ) -> Result<(), Stop> {
        self.transpose(sh);
        if self.layer_index.is_empty() {
            self.layer_index = LayerIndex::new(sh.base, sh.workers);
        }
        self.find_grouped(sh);
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
        if self.role == Role::Wave(System::Reversed) && sh.data.is_some() {
            let later = sh.samples.iter().filter(|s| s.start > from);
            self.unread.clear();
            self.unread.extend(sh.ahead.iter().rev());
            self.unread.extend(later.map(|s| s.index).rev());
        }
        // Deliveries read the row blocks under read locks held from window to window, and
        // let go before this worker writes its own rows in an update. No peer writes its
        // rows while these are held: it updates only after the exchange that needs this
        // worker's events of the window, and this worker has delivered by then.
        let mut rows = None;
        // The forward wave's deliveries read only the transposed copies.
        let reads_rows = self.role.runs(System::Reversed);
        while t < to {
            let inbox = std::mem::take(&mut self.inbox);
            let guards = rows.get_or_insert_with(|| {
                if reads_rows {
                    delivery::lock_rows(sh)
                } else {
                    Vec::new()
                }
            });
            self.deliver(sh, guards, &inbox);
            self.inbox = inbox;
            debug_assert!(self.outbox.is_empty());
            // Whether updates fall on the boundary this window ends at (found once).
            let updates = self.updates_due(sh, t + look);
            // A window of one step whose events reach nobody else and change no ring row
            // before the boundary delivers as its actors fire: at the boundary the updates'
            // new C would scale them, and a call's last events wait in the inbox.
            let direct = look == 1 && !updates && t + 1 < to && self.delivers_alone(sh);
            // Plain steps ahead: layer by layer (`span`); the inbox was delivered above and
            // the span's events stay with this worker.
            if self.spans_apply(sh, direct) {
                let end = self.plain_until(sh, t, to);
                if end > t + 1 {
                    self.inbox.clear();
                    self.run_span(sh, guards, t, end)?;
                    t = end;
                    continue;
                }
            }
            for n in t..t + look {
                self.step(sh, guards, n, direct)?;
            }
            self.work.sent += self.outbox.len() as u64;
            // The buffers go round: the outbox comes back empty, the inbox is refilled.
            let sorted = !std::mem::take(&mut self.closed);
            let taken = if self.role == Role::Both || updates || self.windows_close(sh, t + look) {
                let taken = comm
                    .exchange(&mut self.outbox, sorted, &mut self.inbox, &mut self.scratch)
                    .map_err(|PeerGone| Stop::Peer)?;
                self.read_ahead(sh);
                taken
            } else {
                Comm::keep(&mut self.outbox, sorted, &mut self.inbox, &mut self.scratch);
                self.inbox.len()
            };
            self.work.received += taken as u64;
            t += look;
            // Boundary t: everything emitted before it is known to every worker.
            self.absorb(sh, t);
            if updates {
                rows = None;
                self.apply_updates(sh, t);
                // Split by waves nobody reads the other's copy of C: no need to wait.
                if self.role == Role::Both {
                    comm.barrier().map_err(|_| Stop::Peer)?;
                }
                // Every row has its new C: reversed inputs follow the optimiser's changes.
                self.follow_optimiser_steps(sh, t);
            }
        }
        Ok(())
    }

    /// The wave split's reversed wave, which waits for the forward one at their meetings:
    /// after one, it reads the image of one sample the forward wave has yet to open (later
    /// in this call, or in the next), so that the forward wave finds it in the cache. On some
    /// machines memory left idle for a few seconds is slow to touch again (BENCHMARKS.md:
    /// about 35 µs per image on a virtual machine, against 1.5 µs from memory); the data
    /// set's images are read once an epoch.
    fn read_ahead(&mut self, sh: &Shared<'_>) {
        let (Some(data), Some(index)) = (sh.data, self.unread.pop()) else {
            return;
        };
        // One value of every cache line (16 values) and the last.
        let image = data.image(index);
        let lines = image.iter().step_by(16).chain(image.last());
        std::hint::black_box(lines.fold(0.0f32, |a, &v| a + v));
    }

    /// Readouts and window integrals just received (boundary `t`): tables every worker keeps for
    /// all neurons.
    fn absorb(&mut self, sh: &Shared<'_>, t: u64) {
        let layers = sh.sizes.len();
        let classes = sh.sizes[layers - 1];
        // Signal events (nearly all) are the deliveries' business: passed over unlocated.
        for ev in self.inbox.iter().filter(|ev| ev.kind.is_control()) {
            let (l, i) = self.layer_index.locate(sh.base, ev.origin);
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
        if self.id == sh.local.start && self.role.runs(System::Forward) {
            for s in sh.samples {
                if sh.timing.boundary(sh.timing.readout(s.start)) == t {
                    let y = self.readouts[s.slot * classes..(s.slot + 1) * classes].to_vec();
                    self.finished.push((s.seq, y));
                }
            }
        }
    }
}

impl Worker {
    /// The wave split: whether a window closes in the window ending at boundary `t`. The
    /// waves exchange their events there (readouts and window integrals cross) and where
    /// an update falls (it reads both integrals); elsewhere each wave's events stay with it,
    /// as nothing of the other wave reads them.
    fn windows_close(&self, sh: &Shared<'_>, t: u64) -> bool {
        let tm = sh.timing;
        let within = |close: u64| close <= t && close + tm.lookahead > t;
        sh.samples.iter().any(|s| {
            (0..sh.sizes.len()).any(|l| {
                within(s.start + tm.fwd_offset[l] + tm.forward)
                    || (s.train
                        && l >= tm.first_reversed
                        && within(s.start + tm.rev_offset[l] + tm.backward))
            })
        })
    }
}

/// Appends an event from `origin` and advances its emitter's counter.
#[inline(always)]
fn emit(
    out: &mut Vec<Event>,
    seq: &mut u32,
    time: u64,
    origin: u32,
    kind: EventKind,
    slot: Option<usize>,
    value: f32,
) {
    out.push(Event {
        time,
        origin,
        seq: *seq,
        kind,
        slot: slot.unwrap_or(0) as u32,
        value,
    });
    *seq = seq.wrapping_add(1);
}
