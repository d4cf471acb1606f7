//! When things happen in the asynchronous engine: simulated time, each sample's windows in
//! each layer, and when each synapse's update falls due.
//!
//! Simulated time is a count of integration steps (`SimTime`, totally ordered); synaptic
//! delays are whole steps. An actor in layer l knows its own window times from the sample's
//! start and its layer's offset — the sum of the mean delays of the projections below it,
//! which is when the wave of that sample reaches it. That is local knowledge (a neuron's own
//! clock), not a global clock: no actor ever waits for another.

use std::fmt;

/// Simulated time in steps of `integration.dt`. Events are ordered by (time, origin, seq).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(pub u64);

impl SimTime {
    /// Model time units, for reports.
    pub fn units(self, dt: f32) -> f64 {
        self.0 as f64 * dt as f64
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "step {}", self.0)
    }
}

/// Window lengths and per-layer offsets, in steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    pub forward: u64,
    pub backward: u64,
    /// Steps between the starts of consecutive samples.
    pub interval: u64,
    /// Per layer: forward window opening after the sample's start.
    pub fwd_offset: Vec<u64>,
    /// Per layer: reversed window opening after the sample's start.
    pub rev_offset: Vec<u64>,
    /// Per projection: its longest delay (a synapse's window has closed once its last
    /// event can have arrived).
    pub max_delay: Vec<u64>,
    /// Lowest layer whose reversed system runs (1 for method 2, 0 for method 1).
    pub first_reversed: usize,
    /// Steps processed between exchanges: one step plus the minimum delay, so no event
    /// emitted in a window can arrive inside it.
    pub lookahead: u64,
}

impl Timing {
    /// `mean_delay[l]` and `max_delay[l]` per projection, `min_delay` over all synapses.
    pub fn new(
        forward: u64,
        backward: u64,
        interval: u64,
        mean_delay: &[u64],
        max_delay: Vec<u64>,
        min_delay: u64,
        first_reversed: usize,
    ) -> Self {
        let layers = mean_delay.len() + 1;
        let mut fwd_offset = vec![0u64; layers];
        for l in 1..layers {
            fwd_offset[l] = fwd_offset[l - 1] + mean_delay[l - 1];
        }
        // The output neurons exchange readouts over lateral synapses of the minimum delay,
        // then open their reversed windows; the wave then moves down a layer per mean delay.
        let mut rev_offset = vec![0u64; layers];
        rev_offset[layers - 1] = fwd_offset[layers - 1] + forward + min_delay;
        for l in (0..layers - 1).rev() {
            rev_offset[l] = rev_offset[l + 1] + mean_delay[l];
        }
        Timing {
            forward,
            backward,
            interval,
            fwd_offset,
            rev_offset,
            max_delay,
            first_reversed,
            lookahead: 1 + min_delay,
        }
    }

    pub fn layers(&self) -> usize {
        self.fwd_offset.len()
    }

    /// Time the output readouts of a sample started at `start` are known everywhere.
    pub fn readout(&self, start: u64) -> u64 {
        start + self.fwd_offset[self.layers() - 1] + self.forward
    }

    /// Time projection `l`'s synapses have both windows of the sample closed.
    pub fn update_due(&self, start: u64, l: usize) -> u64 {
        start + self.rev_offset[l + 1] + self.backward + self.max_delay[l]
    }

    /// Time a sample has finished: its last update applied (training) or its readout known.
    pub fn completion(&self, start: u64, train: bool, connections: bool) -> u64 {
        if !train {
            return self.readout(start);
        }
        if connections {
            (0..self.layers() - 1)
                .map(|l| self.update_due(start, l))
                .max()
                .unwrap_or(start)
        } else {
            start + self.rev_offset[self.first_reversed] + self.backward
        }
    }

    /// The exchange boundary at or after `t`: where a change due at `t` takes effect.
    pub fn boundary(&self, t: u64) -> u64 {
        t.div_ceil(self.lookahead) * self.lookahead
    }
}

/// One sample in flight.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Position in the run's sequence of samples (orders everything about it).
    pub seq: u64,
    /// Slot of the per-sample tables (window integrals, readouts); free again when it completes.
    pub slot: usize,
    /// Index in the data set.
    pub index: usize,
    pub label: usize,
    pub start: u64,
    /// Trained (forward and backward waves, update) or evaluated (forward only).
    pub train: bool,
    /// lr / (batch size * error scale): the per-sample update scale. With a per-synapse
    /// optimiser, 1 / (batch size * error scale): the sample's share of its batch-mean G2.
    pub scale: f32,
    /// The last sample of a training minibatch under a per-synapse optimiser: once its own
    /// update has been added to the batch's G2, each synapse takes optimiser step `t` with
    /// learning rate `lr`. `None` for every other sample, and for `sgd`.
    pub step: Option<OptimiserStep>,
}

/// The optimiser step a minibatch ends with (`learning.optimiser` other than `sgd`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OptimiserStep {
    /// Minibatches trained so far, this one included (Adam's bias correction).
    pub t: u64,
    pub lr: f32,
}
