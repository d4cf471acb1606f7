//! The asynchronous event-driven engine (bsp-model.md §5): no global clock and no barrier
//! in the simulated system.
//!
//! Every neuron is an actor ([`actor`]) with its own state, local time and inputs; it
//! integrates its own equations between events and emits send-on-delta events. A synapse
//! delivers an event scaled by its C after its own delay; the forward wave runs up, the
//! output neurons form their error from their readouts and the teacher value, and the
//! backward wave runs down through the reversed systems over the same synapses. Each synapse
//! updates its C from the two window integrals it carried as soon as its windows have closed, while
//! later samples' waves are in flight (samples start every `sample_interval`: pipelining).
//!
//! Actors are split over worker threads ([`worker`]), which exchange events over crossbeam
//! channels in windows of the lookahead ([`comm`]); [`schedule`] says when each sample's
//! windows open and close; `build` draws the delays and sets the engine up, `advance` runs
//! the workers over a stretch of simulated time. Asynchrony lives in simulated time, so a
//! seed gives the same numbers at any thread count (tested), and across MPI ranks
//! ([`ranks`]) the numbers of one process with every rank's threads.

use std::collections::VecDeque;
use std::sync::Arc;

use super::{Counters, Engine, Gathered, Tally};
use crate::config::{AsyncSettings, LearningMethod, Settings};
use crate::data::Dataset;
use crate::distributed::Collective;
use crate::error::SimError;
use crate::learning::optimiser::OptimiserState;
use crate::learning::{argmax, connections, injection};
use crate::neuron::LayerNeurons;
use crate::topology::Projection;
use crate::trace::{Selection, TraceSink};

pub mod actor;
mod advance;
mod build;
pub mod comm;
pub mod delays;
pub mod optimiser;
pub mod parts;
pub mod ranks;
pub mod schedule;
pub mod worker;

use actor::StepRule;
use delays::Delays;
use optimiser::Optimiser;
use parts::Parted;
use schedule::{OptimiserStep, Sample, Timing};
use worker::{Work, Worker};

/// Stream of the seeded generator that draws synaptic delays.
pub const DELAY_STREAM: u64 = 2;

/// The asynchronous BSP engine.
#[derive(Debug)]
pub struct AsyncEngine {
    pub settings: Settings,
    rule: StepRule,
    timing: Timing,
    /// The coefficients; a layer pair in `parted` holds none here (a dense pair of a rank
    /// that keeps only its part: [`parts`]).
    projections: Vec<Projection>,
    /// Per layer pair: this rank's part of the coefficients, across MPI ranks.
    parted: Vec<Option<Parted>>,
    neurons: Vec<LayerNeurons>,
    delays: Vec<Delays>,
    sizes: Vec<usize>,
    base: Vec<u32>,
    slots: usize,
    workers: Vec<Worker>,
    /// Two workers split by waves (forward and reversed), not by neurons
    /// ([`worker::Role`]): one logical worker, so one block of rows per projection.
    waves: bool,
    /// Whether the model allows the wave split (see `build::wave_split_fits`).
    wave_fits: bool,
    /// The coefficient rows lag behind the workers' transposed copies (see `advance`).
    rows_behind: bool,
    /// Whether the input layer's events are pooled by value where they may be
    /// (`worker::pools`; on unless switched off).
    pool_inputs: bool,
    /// Plain steps layer by layer (`worker::span`).
    spans: bool,
    /// Rows of the workers' input rings (the longest delay, plus one).
    ring: u64,
    /// Boundary up to which simulated time has been processed.
    now: u64,
    /// Earliest start of the next sample.
    next_start: u64,
    next_seq: u64,
    /// Samples started or scheduled whose work is not complete, in order.
    in_flight: VecDeque<Sample>,
    /// Completion time of each slot's last occupant.
    slot_free: Vec<u64>,
    /// Starts of recent training samples whose updates may still fall after a new
    /// sample's first read (for the staleness count).
    recent: VecDeque<u64>,
    counters: Counters,
    /// Event bookkeeping summed over calls (conservation and local-time checks).
    work: Work,
    /// The trace selection while a traced call runs.
    trace: Option<Selection>,
    /// Set when `neurons_mut` handed out the neurons (a restore): the workers' copies are
    /// refreshed before they next run.
    neurons_changed: bool,
    /// The per-synapse optimiser (`learning.optimiser`): like the coefficients, each
    /// worker holds the rows of its own postsynaptic neurons while it runs.
    optimiser: Optimiser,
    /// The MPI ranks sharing the engine, each running its share of the workers.
    ranks: ranks::Ranks,
    /// Threads kept from call to call for the workers the calling thread does not run
    /// (built at the first call that needs them; see `advance`).
    pool: Option<rayon_core::ThreadPool>,
}

impl AsyncEngine {
    /// An engine over these projections and neurons, with `threads` workers. `seed` draws
    /// the synaptic delays (on their own stream).
    pub fn new(
        settings: Settings,
        config: &AsyncSettings,
        projections: Vec<Projection>,
        neurons: Vec<LayerNeurons>,
        threads: usize,
        seed: u64,
    ) -> Self {
        let parted = vec![None; projections.len()];
        Self::with_parts(
            settings,
            config,
            projections,
            parted,
            neurons,
            threads,
            seed,
        )
    }

    /// When each sample's windows open and close.
    pub fn timing(&self) -> &Timing {
        &self.timing
    }

    /// Simulated time processed so far.
    pub fn now(&self) -> schedule::SimTime {
        schedule::SimTime(self.now)
    }

    /// Schedules samples `indices` (at most `slots` of them) and returns them; the last one
    /// carries `step`.
    fn schedule(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        train: bool,
        scale: f32,
        step: Option<OptimiserStep>,
    ) -> Vec<Sample> {
        let connections = self.settings.method == LearningMethod::Connections;
        let last = indices.len().saturating_sub(1);
        indices
            .iter()
            .enumerate()
            .map(|(k, &index)| {
                let seq = self.next_seq;
                let slot = (seq % self.slots as u64) as usize;
                let start = self.next_start.max(self.now).max(self.slot_free[slot]);
                let done = self.timing.completion(start, train, connections);
                self.slot_free[slot] = self.timing.boundary(done) + 1;
                self.next_start = start + self.timing.interval;
                self.next_seq += 1;
                if train && connections {
                    // With an optimiser only a minibatch's last sample changes C (its step).
                    let changes = !self.optimiser.active || (step.is_some() && k == last);
                    self.count_staleness(start, changes);
                }
                let s = Sample {
                    seq,
                    slot,
                    index,
                    label: data.labels[index] as usize,
                    start,
                    train,
                    scale,
                    step: step.filter(|_| k == last),
                };
                self.in_flight.push_back(s.clone());
                s
            })
            .collect()
    }

    /// Takes the readouts of finished samples and forms the tally of `samples`; their
    /// predictions are appended to `predicted`.
    fn tally(&mut self, samples: &[Sample], predicted: &mut Vec<usize>) -> Tally {
        let finished = std::mem::take(&mut self.workers[0].finished);
        let mut t = Tally::default();
        let classes = *self.sizes.last().expect("layers");
        let mut e = vec![0.0; classes];
        for s in samples {
            let y = finished
                .iter()
                .find(|(seq, _)| *seq == s.seq)
                .map(|(_, y)| y.as_slice())
                .expect("every sample's readout is recorded at its readout time");
            t.samples += 1;
            t.loss += self.settings.error.error(y, s.label, &mut e) as f64;
            let p = argmax(y);
            t.correct += usize::from(p == s.label);
            predicted.push(p);
        }
        t
    }

    /// Drops completed samples.
    fn retire(&mut self) {
        let connections = self.settings.method == LearningMethod::Connections;
        while let Some(s) = self.in_flight.front() {
            let done = self
                .timing
                .boundary(self.timing.completion(s.start, s.train, connections));
            if done > self.now {
                break;
            }
            self.in_flight.pop_front();
        }
    }

    /// Staleness of a training sample starting at `start`: per projection, how many other
    /// samples' updates land on its synapses between its first read (its forward wave
    /// reaching the projection) and its own update. Only earlier samples can (the schedule
    /// is monotone), and the schedule is static, so it is counted when the sample is placed.
    /// `changes`: whether its own update changes C (not so for a sample that only adds to
    /// its minibatch's sum before the optimiser's step).
    fn count_staleness(&mut self, start: u64, changes: bool) {
        let tm = &self.timing;
        let last_update = |s: u64| {
            (0..tm.layers() - 1)
                .map(|l| tm.boundary(tm.update_due(s, l)))
                .max()
                .unwrap_or(s)
        };
        while self
            .recent
            .front()
            .is_some_and(|&o| last_update(o) <= start)
        {
            self.recent.pop_front();
        }
        for l in 0..tm.layers() - 1 {
            let read = start + tm.fwd_offset[l];
            let write = tm.boundary(tm.update_due(start, l));
            let stale = self
                .recent
                .iter()
                .map(|&o| tm.boundary(tm.update_due(o, l)))
                .filter(|&w| w > read && w < write)
                .count();
            self.counters.staleness_sum += stale as f64;
            self.counters.staleness_count += 1;
        }
        if changes {
            self.recent.push_back(start);
        }
    }

    /// Hands the workers' records to `sink` in (time, neuron, wave, kind) order.
    fn flush_records(&mut self, sink: &mut dyn TraceSink) {
        let mut all: Vec<worker::Record> = self
            .workers
            .iter_mut()
            .flat_map(|w| std::mem::take(&mut w.records))
            .collect();
        all.sort_unstable_by_key(|r| r.key);
        for r in &all {
            match &r.item {
                worker::RecordItem::Event(e) => sink.event(e),
                worker::RecordItem::State(s) => sink.state(s),
            }
        }
    }

    /// Event bookkeeping: (events sent by all workers, events taken in by each worker,
    /// local-time regressions). Split by neurons, every event goes to every worker, so each
    /// worker's count equals the total sent when none is lost or duplicated; split by waves,
    /// a wave takes in its own events and, where the waves meet, the other's.
    pub fn event_balance(&self) -> (u64, Vec<u64>, u64) {
        let sent = self.workers.iter().map(|w| w.work.sent).sum::<u64>() + self.work.sent;
        let received = self.workers.iter().map(|w| w.work.received).collect();
        (
            sent,
            received,
            self.work.time_regressions
                + self
                    .workers
                    .iter()
                    .map(|w| w.work.time_regressions)
                    .sum::<u64>(),
        )
    }

    fn collect_work(&mut self) {
        let mut w = Work::default();
        for worker in self.workers.iter_mut() {
            w.events += worker.work.events;
            w.deliveries += worker.work.deliveries;
            w.synapse_updates += worker.work.synapse_updates;
            self.counters.element_events += worker.work.element_events;
            worker.work.element_events = 0;
            self.work.sent += worker.work.sent;
            self.work.time_regressions += worker.work.time_regressions;
            worker.work.events = 0;
            worker.work.deliveries = 0;
            worker.work.synapse_updates = 0;
            worker.work.sent = 0;
            worker.work.time_regressions = 0;
        }
        self.counters.events += w.events;
        self.counters.deliveries += w.deliveries;
        self.counters.synapse_updates += w.synapse_updates;
    }

    /// Runs `indices` through the network (trained or evaluated), `slots` at a time; the
    /// samples' predictions are appended to `predicted`; the last sample carries `step`.
    fn pass(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        train: bool,
        scale: f32,
        predicted: &mut Vec<usize>,
        step: Option<OptimiserStep>,
    ) -> Result<Tally, SimError> {
        let mut total = Tally::default();
        let chunks = indices.len().div_ceil(self.slots);
        for (c, chunk) in indices.chunks(self.slots).enumerate() {
            let step = step.filter(|_| c + 1 == chunks);
            let samples = self.schedule(data, chunk, train, scale, step);
            let ahead = indices.chunks(self.slots).nth(c + 1).unwrap_or_default();
            let to = samples
                .iter()
                .map(|s| self.timing.readout(s.start))
                .max()
                .unwrap_or(self.now);
            // The rows hold every update when the call returns.
            self.advance(to, Some((data, ahead)), c + 1 == chunks)?;
            self.collect_work();
            total.add(self.tally(&samples, predicted));
            self.retire();
        }
        Ok(total)
    }
}

impl Engine for AsyncEngine {
    fn train_batch(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
    ) -> Result<Tally, SimError> {
        let injected = injection(self.settings.rule, self.settings.error_scale);
        let batch = indices.len().max(1);
        // With an optimiser the samples sum the batch-mean G2 (lr 1), and the batch's last
        // sample ends it with the optimiser step, as the synchronous engine's barrier does.
        let (scale, step) = if self.optimiser.active && !indices.is_empty() {
            let step = self.optimiser.next_step(lr);
            (connections::scale(1.0, batch, injected), Some(step))
        } else {
            (connections::scale(lr, batch, injected), None)
        };
        let t = self.pass(data, indices, true, scale, &mut Vec::new(), step)?;
        self.counters.samples_trained += t.samples as u64;
        Ok(t)
    }

    fn train_batch_traced(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
        trace: &mut dyn TraceSink,
    ) -> Result<Tally, SimError> {
        self.trace = Some(trace.selection().clone());
        let result = self.train_batch(data, indices, lr);
        self.trace = None;
        self.flush_records(trace);
        result
    }

    fn finish_traced(&mut self, trace: &mut dyn TraceSink) -> Result<(), SimError> {
        self.trace = Some(trace.selection().clone());
        let result = self.finish();
        self.trace = None;
        self.flush_records(trace);
        result
    }

    fn classify(
        &mut self,
        data: &Dataset,
        indices: &[usize],
    ) -> Result<(Tally, Vec<usize>), SimError> {
        self.finish()?;
        let mut predicted = Vec::with_capacity(indices.len());
        let t = self.pass(data, indices, false, 0.0, &mut predicted, None)?;
        self.counters.samples_evaluated += t.samples as u64;
        // Evaluation leaves nothing in flight: the engine equals a fresh one again.
        self.finish()?;
        Ok((t, predicted))
    }

    fn finish(&mut self) -> Result<(), SimError> {
        let connections = self.settings.method == LearningMethod::Connections;
        let to = self
            .in_flight
            .iter()
            .map(|s| self.timing.completion(s.start, s.train, connections))
            .max();
        if let Some(to) = to {
            self.advance(to, None, true)?;
            self.collect_work();
            self.retire();
        } else if self.rows_behind {
            self.advance(self.now, None, true)?;
        }
        if self.in_flight.is_empty() {
            for w in self.workers.iter_mut() {
                w.settle(&self.base);
            }
        }
        Ok(())
    }

    fn projections(&self) -> &[Projection] {
        debug_assert!(
            self.parted.iter().all(Option::is_none),
            "a rank's part is read through `gather`"
        );
        &self.projections
    }

    fn gather(&mut self) -> Result<Option<Gathered>, SimError> {
        if self.parted.iter().all(Option::is_none) {
            return Ok(Some(Gathered {
                projections: self.projections.clone(),
                optimiser: self.optimiser_state().cloned(),
            }));
        }
        let c = Arc::clone(&self.ranks.collective);
        let state = &self.optimiser.state;
        // Method 2's moments are per synapse, laid out as the coefficients (method 1's are
        // per neuron: every rank has them all).
        let per_synapse = self.optimiser.per_synapse;
        let (mut projections, mut m, mut v) = (Vec::new(), Vec::new(), Vec::new());
        for (l, (p, part)) in self.projections.iter().zip(&self.parted).enumerate() {
            let Some(part) = part else {
                // Whole on every rank: only the writer copies it.
                let root = c.rank() == 0;
                projections.push(root.then(|| p.clone()));
                if per_synapse {
                    m.extend(state.m.get(l).map(|x| root.then(|| x.clone())));
                    v.extend(state.v.get(l).map(|x| root.then(|| x.clone())));
                }
                continue;
            };
            let lens: Vec<usize> = part.blocks.iter().map(Vec::len).collect();
            let blocks: Vec<&[f32]> = part.blocks.iter().map(Vec::as_slice).collect();
            projections
                .push(parts::gather(c.as_ref(), part, &blocks)?.map(|w| parts::whole(part, w)));
            for (flat, out) in [(state.m.get(l), &mut m), (state.v.get(l), &mut v)] {
                if let Some(flat) = flat.filter(|_| per_synapse) {
                    out.push(parts::gather(
                        c.as_ref(),
                        part,
                        &parts::blocks_of(flat, &lens),
                    )?);
                }
            }
        }
        if c.rank() != 0 {
            return Ok(None);
        }
        let projections: Vec<Projection> = projections.into_iter().flatten().collect();
        let optimiser = self.optimiser_state().map(|state| {
            let mut whole = state.clone();
            if per_synapse {
                whole.m = m.into_iter().flatten().collect();
                whole.v = v.into_iter().flatten().collect();
            }
            whole
        });
        Ok(Some(Gathered {
            projections,
            optimiser,
        }))
    }

    fn projections_mut(&mut self) -> &mut [Projection] {
        for w in self.workers.iter_mut() {
            w.invalidate();
        }
        &mut self.projections
    }

    fn neurons(&self) -> &[LayerNeurons] {
        &self.neurons
    }

    fn neurons_mut(&mut self) -> &mut [LayerNeurons] {
        // Restoring a checkpoint replaces the neurons: the workers' copies follow before
        // they next run (copying them now would copy the neurons before the change).
        self.neurons_changed = true;
        &mut self.neurons
    }

    fn counters(&self) -> Counters {
        self.counters
    }

    fn optimiser_state(&self) -> Option<&OptimiserState> {
        self.optimiser.active.then_some(&self.optimiser.state)
    }

    fn set_collective(&mut self, collective: Arc<dyn Collective>) -> Result<(), SimError> {
        if collective.ranks() == 1 {
            return Ok(());
        }
        self.spread(collective)
    }

    fn set_optimiser_state(&mut self, state: OptimiserState) -> Result<(), String> {
        let opt = self.settings.optimiser;
        let fits = match self.settings.method {
            LearningMethod::Connections => state.fits(opt, &self.projections),
            LearningMethod::FixedPoints => state.fits_lengths(opt, &self.sizes),
        };
        if !self.optimiser.active || !fits {
            return Err(format!(
                "its optimiser state does not fit learning.optimiser `{}` on these layer pairs",
                opt.name()
            ));
        }
        if !self.in_flight.is_empty() {
            return Err(
                "samples are still in flight: restore the optimiser state before training".into(),
            );
        }
        self.optimiser.restore(state);
        if self.settings.method == LearningMethod::FixedPoints {
            for w in self.workers.iter_mut() {
                w.learning.state.clone_from(&self.optimiser.state);
                w.learning.clear();
            }
        }
        Ok(())
    }

    fn name(&self) -> &'static str {
        "async"
    }
}
