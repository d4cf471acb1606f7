//! Engines run a network through its forward and backward windows and apply the BSP update.
//!
//! * [`sync`]: the synchronous engine — one global clock with a fixed step, lockstep layers,
//!   barriers between the forward window, the backward window and the update (bsp-model.md
//!   §5). Vectorised over the minibatch and spread over threads.
//! * [`asynchronous`]: the asynchronous event-driven engine, where every neuron is an actor with
//!   its own local time, and workers exchange timestamped events over crossbeam channels.
//!
//! Both implement [`Engine`], so `run`, `eval` and `compare` drive them the same way.

use std::sync::Arc;

use crate::data::Dataset;
use crate::distributed::Collective;
use crate::error::SimError;
use crate::learning::optimiser::OptimiserState;
use crate::neuron::LayerNeurons;
use crate::topology::Projection;
use crate::trace::TraceSink;

pub mod asynchronous;
pub mod sync;

/// What one training minibatch or evaluation pass measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Samples seen.
    pub samples: usize,
    /// Sum of per-sample losses (before the update, for training).
    pub loss: f64,
    /// Samples whose prediction (argmax of the readout) matched the label.
    pub correct: usize,
}

impl Tally {
    pub fn add(&mut self, other: Tally) {
        self.samples += other.samples;
        self.loss += other.loss;
        self.correct += other.correct;
    }

    pub fn mean_loss(&self) -> f64 {
        self.loss / self.samples.max(1) as f64
    }

    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.samples.max(1) as f64
    }
}

/// Work an engine has done, for `bsp-sim compare`.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counters {
    pub samples_trained: u64,
    pub samples_evaluated: u64,
    /// Output events emitted (asynchronous: send-on-delta events of both waves).
    pub events: u64,
    /// Synaptic deliveries: one per event and synapse carrying it (asynchronous), one per
    /// synapse and step (synchronous: its dense multiply-adds).
    pub deliveries: u64,
    /// Events between the element actors inside neurons (`actor: element`).
    #[serde(default)]
    pub element_events: u64,
    /// Synapse updates applied (one coefficient changed by one sample or minibatch).
    pub synapse_updates: u64,
    /// Sum and count of update staleness: other updates a synapse saw between reading its
    /// C for a sample and writing that sample's update (with a per-synapse optimiser, the
    /// optimiser steps: the other samples' G2 only add to their minibatch's sum).
    pub staleness_sum: f64,
    pub staleness_count: u64,
}

impl Counters {
    pub fn mean_staleness(&self) -> f64 {
        self.staleness_sum / self.staleness_count.max(1) as f64
    }
}

/// Every coefficient and the optimiser state, as a checkpoint keeps them ([`Engine::gather`]).
#[derive(Debug, Clone)]
pub struct Gathered {
    pub projections: Vec<Projection>,
    pub optimiser: Option<OptimiserState>,
}

/// The interface the runner drives; implemented by every engine.
pub trait Engine: Send {
    /// `sync` or `async`.
    fn name(&self) -> &'static str;
    /// Trains on the samples `indices` of `data` as one minibatch with learning rate `lr`.
    fn train_batch(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
    ) -> Result<Tally, SimError>;
    /// Trains as [`Engine::train_batch`] does and records into `trace` the samples,
    /// neurons and waves its `selection()` asks for: output events (send-on-delta with the
    /// selection's theta) and element states, with times relative to each sample's
    /// presentation (see [`crate::trace`]). Recording must not change any result. The
    /// default is for engines that cannot record yet.
    fn train_batch_traced(
        &mut self,
        data: &Dataset,
        indices: &[usize],
        lr: f32,
        trace: &mut dyn TraceSink,
    ) -> Result<Tally, SimError> {
        let _ = (data, indices, lr, trace);
        Err(SimError::TraceUnsupported(self.name().into()))
    }
    /// [`Engine::finish`], recording what the remaining work emits (the asynchronous
    /// engine's last backward waves) into `trace`.
    fn finish_traced(&mut self, trace: &mut dyn TraceSink) -> Result<(), SimError> {
        let _ = trace;
        self.finish()
    }
    /// Forward pass only over `indices`; returns loss and accuracy.
    fn evaluate(&mut self, data: &Dataset, indices: &[usize]) -> Result<Tally, SimError> {
        self.classify(data, indices).map(|(tally, _)| tally)
    }
    /// [`Engine::evaluate`], and each sample's predicted class (the argmax of its readout,
    /// as `Tally::correct` counts it), in the order of `indices`: what a confusion matrix
    /// is made of.
    fn classify(
        &mut self,
        data: &Dataset,
        indices: &[usize],
    ) -> Result<(Tally, Vec<usize>), SimError>;
    /// The current synaptic coefficients, input side first.
    fn projections(&self) -> &[Projection];
    /// The current neuron state parameters (moved by method 1).
    fn neurons(&self) -> &[LayerNeurons];
    fn projections_mut(&mut self) -> &mut [Projection];
    fn neurons_mut(&mut self) -> &mut [LayerNeurons];
    /// Completes the work in flight (the asynchronous engine's pipelined backward waves
    /// and updates), so that `projections` and `neurons` are final.
    fn finish(&mut self) -> Result<(), SimError> {
        Ok(())
    }
    /// Work done so far.
    fn counters(&self) -> Counters;
    /// The per-synapse optimiser state (`learning.optimiser`) a checkpoint must keep for an
    /// exact resume; `None` when there is none (`sgd`).
    fn optimiser_state(&self) -> Option<&OptimiserState> {
        None
    }
    /// Runs this engine as one rank of `collective` (MPI ranks), each rank taking its share
    /// of the work with the same results as one process with every rank's threads. The
    /// default accepts only one rank: an engine that cannot spread over ranks says so.
    fn set_collective(&mut self, collective: Arc<dyn Collective>) -> Result<(), SimError> {
        if collective.ranks() == 1 {
            return Ok(());
        }
        Err(SimError::NotDistributed {
            what: format!("the {} engine", self.name()),
            ranks: collective.ranks(),
            detail: "it runs in one process only so far; run it without mpirun (the same --threads gives the same numbers), or use engine: sync".into(),
        })
    }
    /// What a checkpoint keeps of the engine: every coefficient and the per-synapse
    /// optimiser state, on the rank that writes it. Across MPI ranks every rank calls it
    /// (an engine whose ranks each keep only a part gathers the parts here) and only rank
    /// 0's answer is whole; the default copies [`Engine::projections`] and
    /// [`Engine::optimiser_state`], which every rank keeps whole.
    fn gather(&mut self) -> Result<Option<Gathered>, SimError> {
        Ok(Some(Gathered {
            projections: self.projections().to_vec(),
            optimiser: self.optimiser_state().cloned(),
        }))
    }
    /// Restores a checkpoint's optimiser state; refused when it does not fit.
    fn set_optimiser_state(&mut self, _state: OptimiserState) -> Result<(), String> {
        Err("this engine keeps no per-synapse optimiser state".into())
    }
}
