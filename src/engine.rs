//! Engines run a network through its forward and backward windows and apply the BSP update.
//!
//! * [`sync`]: the synchronous engine — one global clock with a fixed step, lockstep layers,
//!   barriers between the forward window, the backward window and the update (bsp-model.md
//!   §5). Vectorised over the minibatch and spread over threads.
//! * `event` (next): the asynchronous event-driven engine, where every neuron is an actor
//!   with its own local time and priority queue, and workers exchange timestamped events
//!   over crossbeam channels. It will implement [`Engine`] so that `run`, `eval` and
//!   `compare` drive both the same way.

use crate::data::Dataset;
use crate::error::SimError;
use crate::topology::Projection;
use crate::trace::TraceSink;

pub mod neurons;
pub mod settings;
pub mod sync;

pub use neurons::LayerNeurons;
pub use settings::Settings;

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

/// The interface the runner drives; implemented by every engine.
pub trait Engine {
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
        Err(SimError::TraceUnsupported(
            std::any::type_name::<Self>().into(),
        ))
    }
    /// Forward pass only over `indices`; returns loss and accuracy.
    fn evaluate(&mut self, data: &Dataset, indices: &[usize]) -> Result<Tally, SimError>;
    /// The current synaptic coefficients, input side first.
    fn projections(&self) -> &[Projection];
    /// The current neuron state parameters (moved by method 1).
    fn neurons(&self) -> &[LayerNeurons];
}
