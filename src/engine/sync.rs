//! The synchronous engine: a global clock with fixed step dt; all neurons of a minibatch step
//! in lockstep; a barrier separates the forward window, the backward window and the update.
//!
//! Within one step, layers advance input side first and, with `coupling: same_step`, each
//! layer's synapses see the signal its presynaptic layer produced in that same step; with
//! `coupling: delayed` every layer sees the signal of the previous step (the asynchronous
//! engine's zero-delay semantics). The backward window runs output side first through the
//! reversed systems, coupled the same way. Since no layer reads one downstream of it,
//! `window` lets a layer take a chunk of steps before the next one does, giving each
//! layer's drive over the chunk as one matrix product: the same numbers as lockstep steps.
//!
//! Parallelism: the minibatch is split into contiguous blocks of samples, one per thread,
//! each integrating its samples' windows independently. The update then sums over the whole
//! batch in sample order, split over threads by postsynaptic rows. No value depends on which
//! thread computed it, so a seed gives the same numbers at any thread count (tested).
//!
//! The forward window's first layer pair takes the sparse input drive (`input`) where it
//! applies: layer 0 tabulated per distinct input value and layer 1 driven from the nonzero
//! inputs only, equal to the dense path up to the order of layer 1's sums.
//!
//! Across MPI ranks (`ranks`) each rank takes its share of the blocks and the per-sample
//! results are joined in sample order before the update: the same numbers again.

use std::sync::Arc;

use super::{Counters, Engine, Tally};
use crate::config::{LearningMethod, LearningRule, Settings};
use crate::data::Dataset;
use crate::distributed::{self, Collective};
use crate::error::SimError;
use crate::learning::adjoint::Tape;
use crate::learning::optimiser::OptimiserState;
use crate::learning::{argmax, injection, readout};
use crate::neuron::layer::LayerState;
use crate::neuron::LayerNeurons;
use crate::parallel;
use crate::topology::Projection;
use crate::trace::probe::Probe;
use crate::trace::{Selection, TraceSink, Wave};

mod input;
mod learn;
mod ranks;
mod window;

/// Samples per evaluation pass (split over the threads).
const EVAL_CHUNK: usize = 400;

/// Per-thread buffers for `rows` samples.
#[derive(Debug, Default)]
struct Workspace {
    rows: usize,
    forward: Vec<LayerState>,
    reversed: Vec<LayerState>,
    /// Per layer: the entry layers' input current and each system's signal integral (the
    /// signals themselves live in `history`).
    current: Vec<Vec<f32>>,
    integral: Vec<Vec<f32>>,
    rintegral: Vec<Vec<f32>>,
    /// Output-layer forward signal at every step (for the time-varying error).
    output_trace: Vec<f32>,
    readout: Vec<f32>,
    error: Vec<f32>,
    losses: Vec<f32>,
    predictions: Vec<usize>,
    /// Records the block's traced samples (idle without a trace).
    probe: Probe,
    /// Layer 0 tabulated per input value and layer 1's drive from it (`input`).
    input: input::InputDrive,
    /// Each layer's signals over a chunk of steps and one layer's drive (`window`).
    history: window::History,
}

impl Workspace {
    fn ensure(&mut self, sizes: &[usize], rows: usize) {
        if self.rows == rows && self.forward.len() == sizes.len() {
            return;
        }
        self.rows = rows;
        let buf = |n: usize| vec![0.0f32; rows * n];
        self.forward = sizes.iter().map(|&n| LayerState::new(rows, n)).collect();
        self.reversed = sizes.iter().map(|&n| LayerState::new(rows, n)).collect();
        self.current = sizes.iter().map(|&n| buf(n)).collect();
        self.integral = sizes.iter().map(|&n| buf(n)).collect();
        self.rintegral = sizes.iter().map(|&n| buf(n)).collect();
        let classes = *sizes.last().unwrap_or(&0);
        self.readout = buf(classes);
        self.error = buf(classes);
    }
}

/// The synchronous BSP engine.
#[derive(Debug)]
pub struct SyncEngine {
    pub settings: Settings,
    projections: Vec<Projection>,
    neurons: Vec<LayerNeurons>,
    sizes: Vec<usize>,
    threads: usize,
    workspaces: Vec<Workspace>,
    counters: Counters,
    /// Per-thread tapes of the `adjoint` and `linearised` rules.
    tapes: Vec<Tape<f32>>,
    /// Each synapse's optimiser state (`learning.optimiser`; empty for `sgd`).
    optimiser: OptimiserState,
    /// Whether the forward window may take the sparse input drive (`input`) where it
    /// applies; off, every layer is integrated and driven densely.
    sparse_input: bool,
    /// The ranks this engine is one of (one process: [`distributed::Single`]).
    collective: Arc<dyn Collective>,
    /// The last batch's per-sample results joined over the ranks (more than one rank).
    joined: Option<ranks::Joined>,
}

/// One block of a minibatch: the samples a thread integrates.
struct Block<'a> {
    data: &'a Dataset,
    indices: &'a [usize],
}

impl SyncEngine {
    /// An engine over these projections and neurons, using `threads` worker threads.
    pub fn new(
        settings: Settings,
        projections: Vec<Projection>,
        neurons: Vec<LayerNeurons>,
        threads: usize,
    ) -> Self {
        let sizes: Vec<usize> = neurons.iter().map(|l| l.n).collect();
        let threads = threads.max(1);
        let optimiser = match settings.method {
            LearningMethod::Connections => OptimiserState::new(settings.optimiser, &projections),
            LearningMethod::FixedPoints => OptimiserState::zeros(settings.optimiser, &sizes),
        };
        SyncEngine {
            settings,
            projections,
            neurons,
            sizes,
            threads,
            workspaces: (0..threads).map(|_| Workspace::default()).collect(),
            counters: Counters::default(),
            tapes: Vec::new(),
            optimiser,
            sparse_input: true,
            collective: distributed::single(),
            joined: None,
        }
    }

    /// Turns the sparse input drive on (the default) or off. Both integrate the same
    /// equations; they differ in the order of layer 1's drive sums, so results agree to float
    /// rounding. Off is the dense reference path (`bsp-sim bench` times both).
    pub fn set_sparse_input(&mut self, on: bool) {
        self.sparse_input = on;
    }

    /// Whether the next forward window takes the sparse input drive.
    pub fn sparse_input(&self) -> bool {
        self.sparse_input && input::applies(&self.neurons[0], &self.projections[0])
    }

    /// Multiply-adds of synaptic drive per training sample (forward and backward windows,
    /// plus the update), the dominant cost.
    pub fn synaptic_macs_per_training_sample(&self) -> f64 {
        let s = &self.settings;
        let fwd: usize = self.projections.iter().map(Projection::synapses).sum();
        // The reversed drive into layer l goes through projection l, from the first layer
        // whose reversed system is integrated.
        let bwd: usize = self.projections[self.first_reversed_layer()..]
            .iter()
            .map(Projection::synapses)
            .sum();
        (fwd * s.forward_steps + bwd * s.backward_steps + fwd) as f64
    }

    /// Neuron element updates per training sample (each about 20 flops with Euler).
    pub fn neuron_steps_per_training_sample(&self) -> f64 {
        let s = &self.settings;
        let n: usize = self.sizes.iter().sum();
        let first = self.first_reversed_layer();
        let nr: usize = self.sizes[first..].iter().sum();
        (n * s.forward_steps + nr * s.backward_steps) as f64
    }

    /// Samples per thread block for a batch of `batch` (contiguous blocks, in sample order).
    fn block_size(&self, batch: usize) -> usize {
        parallel::block_size(batch, self.threads)
    }

    /// The workspaces holding the blocks of the last batch of `batch` samples, in order.
    fn used_workspaces(&self, batch: usize) -> &[Workspace] {
        &self.workspaces[..batch.div_ceil(self.block_size(batch))]
    }

    /// The lowest layer whose reversed system the learning rule needs: layer 1 for method 2
    /// (layer 0 has no incoming synapse), layer 0 for method 1 (every neuron moves its own
    /// fixed point).
    fn first_reversed_layer(&self) -> usize {
        match self.settings.method {
            LearningMethod::Connections => 1,
            LearningMethod::FixedPoints => 0,
        }
    }

    /// Runs `work` on each thread's block of `indices`, in parallel, catching panics.
    fn for_blocks(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        during: &str,
        work: impl Fn(&Self, &mut Workspace, Block<'_>) -> Result<(), SimError> + Sync,
    ) -> Result<(), SimError> {
        self.joined = None;
        let mut spaces = std::mem::take(&mut self.workspaces);
        let this = &*self;
        let result = parallel::for_blocks(indices, self.threads, &mut spaces, during, |ws, b| {
            work(this, ws, Block { data, indices: b })
        });
        self.workspaces = spaces;
        result
    }

    /// Integrates the forward window for a block and forms readouts, losses and predictions.
    fn forward(
        &self,
        ws: &mut Workspace,
        block: &Block<'_>,
        trace: Option<&Selection>,
    ) -> Result<(), SimError> {
        let s = &self.settings;
        let rows = block.indices.len();
        ws.ensure(&self.sizes, rows);
        let n0 = self.sizes[0];
        for (r, &idx) in block.indices.iter().enumerate() {
            let image = block.data.image(idx);
            for (c, &p) in ws.current[0][r * n0..(r + 1) * n0].iter_mut().zip(image) {
                *c = s.gain * p;
            }
        }
        ws.input.ready = false;
        if self.sparse_input() {
            let (first, neurons) = (&self.projections[0], &self.neurons[0]);
            ws.input.prepare(s, neurons, first, rows, &ws.current[0]);
        }
        ws.output_trace.clear();
        if let Some(sel) = trace {
            ws.probe.begin(sel, block.indices);
        }
        self.window(Wave::Forward, ws, block, trace)?;
        let last = self.sizes.len() - 1;
        let classes = self.sizes[last];
        ws.losses.clear();
        ws.predictions.clear();
        for r in 0..rows {
            let y = &mut ws.readout[r * classes..(r + 1) * classes];
            let window = s.forward_window();
            for (yk, &i) in y.iter_mut().zip(&ws.integral[last][r * classes..]) {
                *yk = readout(s.readout, i, window);
            }
            let label = block.data.labels[block.indices[r]] as usize;
            let e = &mut ws.error[r * classes..(r + 1) * classes];
            ws.losses.push(s.error.error(y, label, e));
            ws.predictions.push(argmax(y));
        }
        Ok(())
    }

    /// Injects the output error and integrates the backward window through the reversed
    /// systems, output layer first.
    fn backward(
        &self,
        ws: &mut Workspace,
        block: &Block<'_>,
        trace: Option<&Selection>,
    ) -> Result<(), SimError> {
        let last = self.sizes.len() - 1;
        let injected = injection(self.settings.rule, self.settings.error_scale);
        for (c, &e) in ws.current[last].iter_mut().zip(&ws.error) {
            *c = injected * e;
        }
        self.window(Wave::Backward, ws, block, trace)
    }

    /// Layer `l`'s window integrals of the last batch of `batch` samples, in batch order:
    /// joined over the ranks, or gathered from this process's threads.
    fn gather(&self, l: usize, batch: usize, reversed: bool) -> Vec<f32> {
        match &self.joined {
            Some(j) => j.integrals(l, reversed).to_vec(),
            None => self.gather_local(l, batch, reversed),
        }
    }

    /// Gathers this process's per-thread window integrals of layer `l` into batch order.
    fn gather_local(&self, l: usize, batch: usize, reversed: bool) -> Vec<f32> {
        let mut out = Vec::with_capacity(batch * self.sizes[l]);
        for ws in self.used_workspaces(batch) {
            let src = if reversed {
                &ws.rintegral[l]
            } else {
                &ws.integral[l]
            };
            out.extend_from_slice(&src[..ws.rows * self.sizes[l]]);
        }
        out
    }

    /// One training minibatch; with a trace, the blocks' probes are drained into it in
    /// block order after the windows (also when a window failed, to keep what was seen).
    fn train(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
        trace: Option<&mut dyn TraceSink>,
    ) -> Result<Tally, SimError> {
        if trace.is_some() && self.collective.ranks() > 1 {
            return Err(SimError::NotDistributed {
                what: "recording traces".into(),
                ranks: self.collective.ranks(),
                detail:
                    "run without --trace (and without a trace: section), or record with one process"
                        .into(),
            });
        }
        if self.settings.rule != LearningRule::Bsp {
            if trace.is_some() {
                return Err(SimError::RuleNotRecorded(self.settings.rule.name()));
            }
            let tally = self.train_gradient(data, indices, lr)?;
            self.count(indices.len());
            return Ok(tally);
        }
        let sel = trace.as_deref().map(TraceSink::selection);
        let local = self.local(indices);
        let windows = self.for_blocks(data, local, "training", |this, ws, block| {
            this.forward(ws, &block, sel)?;
            this.backward(ws, &block, sel)
        });
        if let Some(sink) = trace {
            let blocks = local.len().div_ceil(self.block_size(local.len()));
            for ws in &mut self.workspaces[..blocks] {
                ws.probe.drain(sink);
            }
        }
        self.join_ranks(local.len(), windows, true, "the minibatch's exchange")?;
        let tally = self.tally(indices.len(), data, indices, &mut Vec::new());
        self.update(indices.len(), lr)?;
        self.count(indices.len());
        Ok(tally)
    }

    /// Adds a trained minibatch of `samples` to the counters: its samples, its synaptic
    /// multiply-adds and the parameters its update changed.
    fn count(&mut self, samples: usize) {
        let n = samples as u64;
        let macs = self.synaptic_macs_per_training_sample() as u64;
        let updated: u64 = match self.settings.method {
            LearningMethod::Connections => {
                self.projections.iter().map(|p| p.synapses() as u64).sum()
            }
            LearningMethod::FixedPoints => self.sizes.iter().map(|&n| n as u64).sum(),
        };
        let c = &mut self.counters;
        c.samples_trained += n;
        c.deliveries += n * macs;
        c.synapse_updates += updated;
    }

    /// The tally of the samples in the workspaces (a chunk or minibatch just run), their
    /// predictions appended to `predicted`.
    fn tally(
        &self,
        batch: usize,
        data: &Dataset,
        indices: &[usize],
        predicted: &mut Vec<usize>,
    ) -> Tally {
        let outcomes: Vec<(f32, usize)> = match &self.joined {
            Some(j) => j.outcomes().collect(),
            None => self
                .used_workspaces(batch)
                .iter()
                .flat_map(|ws| {
                    ws.losses
                        .iter()
                        .copied()
                        .zip(ws.predictions.iter().copied())
                })
                .collect(),
        };
        let mut t = Tally::default();
        for (k, (loss, pred)) in outcomes.into_iter().enumerate() {
            t.samples += 1;
            t.loss += loss as f64;
            t.correct += usize::from(pred == data.labels[indices[k]] as usize);
            predicted.push(pred);
        }
        t
    }
}

impl Engine for SyncEngine {
    fn train_batch(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
    ) -> Result<Tally, SimError> {
        self.train(data, indices, lr, None)
    }

    fn train_batch_traced(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
        trace: &mut dyn TraceSink,
    ) -> Result<Tally, SimError> {
        self.train(data, indices, lr, Some(trace))
    }

    fn classify(
        &mut self,
        data: &Dataset,
        indices: &[usize],
    ) -> Result<(Tally, Vec<usize>), SimError> {
        // A fixed chunk size, so that the loss sum is grouped the same at any thread count.
        let mut total = Tally::default();
        let mut predicted = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(EVAL_CHUNK) {
            let local = self.local(chunk);
            let done = self.for_blocks(data, local, "evaluation", |this, ws, block| {
                this.forward(ws, &block, None)
            });
            self.join_ranks(local.len(), done, false, "the evaluation's exchange")?;
            total.add(self.tally(chunk.len(), data, chunk, &mut predicted));
        }
        let fwd: usize = self.projections.iter().map(Projection::synapses).sum();
        self.counters.samples_evaluated += indices.len() as u64;
        self.counters.deliveries += (indices.len() * fwd * self.settings.forward_steps) as u64;
        Ok((total, predicted))
    }

    fn name(&self) -> &'static str {
        "sync"
    }

    fn projections_mut(&mut self) -> &mut [Projection] {
        &mut self.projections
    }

    fn neurons_mut(&mut self) -> &mut [LayerNeurons] {
        &mut self.neurons
    }

    fn counters(&self) -> Counters {
        self.counters
    }

    fn optimiser_state(&self) -> Option<&OptimiserState> {
        (!self.settings.optimiser.is_sgd()).then_some(&self.optimiser)
    }

    fn set_collective(&mut self, collective: Arc<dyn Collective>) -> Result<(), SimError> {
        if collective.ranks() > 1 && self.settings.rule != LearningRule::Bsp {
            return Err(SimError::NotDistributed {
                what: format!("learning.rule: {}", self.settings.rule.name()),
                ranks: collective.ranks(),
                detail: "its tape runs in one process only so far; run it without mpirun (the same --threads gives the same numbers), or use learning.rule: bsp".into(),
            });
        }
        self.collective = collective;
        Ok(())
    }

    fn set_optimiser_state(&mut self, state: OptimiserState) -> Result<(), String> {
        let fits = match self.settings.method {
            LearningMethod::Connections => state.fits(self.settings.optimiser, &self.projections),
            LearningMethod::FixedPoints => state.fits_lengths(self.settings.optimiser, &self.sizes),
        };
        if !fits {
            return Err(format!(
                "its optimiser state does not fit learning.optimiser `{}` on these layers",
                self.settings.optimiser.name()
            ));
        }
        self.optimiser = state;
        Ok(())
    }

    fn projections(&self) -> &[Projection] {
        &self.projections
    }

    fn neurons(&self) -> &[LayerNeurons] {
        &self.neurons
    }
}
