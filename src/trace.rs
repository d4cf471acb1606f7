//! Traces: spike-like send-on-delta events and dense element states of the forward and the
//! backward wave, recorded while a run goes and written in standard formats.
//!
//! * [`spec`]: what to record — the `trace:` section of a model file and the compact
//!   `--trace` spec string, resolved against the network into a [`Selection`].
//! * [`TraceSink`]: the engine-agnostic interface an engine calls with every [`WaveEvent`] and
//!   [`StateSample`] of the selected samples and neurons. The asynchronous engine calls it
//!   with its real send-on-delta events; the synchronous engine derives them from its
//!   per-step signals with [`probe::Probe`].
//! * [`Recorder`]: the sink that streams to files under `RUN_DIR/trace/` with bounded memory:
//!   [`csv`] (`events.csv`, `states.csv`), [`vcd`] (`waves.vcd`, one `real` signal per neuron
//!   and wave) and [`manifest`] (`manifest.json`: selection, files, status).
//!
//! This module only writes and reads trace files; `bsp-sim trace` (one training sample
//! recorded in full), which builds an engine and loads data, is `run::sample`.
//!
//! Time. An event's `time` is simulated time within its sample's presentation: the forward
//! window runs from 0 to T (`integration.forward_window`), the backward window from T to
//! T + T_b. A presentation is identified by (epoch, sample). In the VCD file, presentations
//! are laid end to end: the k-th recorded presentation starts at k · (T + T_b).
//!
//! Recording only reads the engine's state; it never changes a result (tested).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

pub mod csv;
pub mod manifest;
pub mod probe;
pub mod recorder;
pub mod spec;
pub mod vcd;

pub use recorder::Recorder;
pub use spec::TraceSection;

/// The decimal value a user wrote for an `f32` setting (0.1, not 0.10000000149): the
/// shortest decimal that reads back as the same `f32`.
pub fn decimal(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(x as f64)
}

/// Presentation time at the end of integration step `steps` (counted from the start of the
/// forward window) of length `dt`, rounded to 1e-9 so that 3 steps of 0.1 print as 0.3.
pub fn step_time(steps: usize, dt: f64) -> f64 {
    (steps as f64 * dt * 1e9).round() / 1e9
}

/// Which wave a trace belongs to: the forward systems' window or the reversed systems'.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Wave {
    /// The forward wave: D(t) = E_out(t) - B_ref of the forward system.
    Forward,
    /// The backward wave: D̂(t) = Ê_in(t) - B̂_ref of the reversed system.
    Backward,
}

impl Wave {
    pub const BOTH: [Wave; 2] = [Wave::Forward, Wave::Backward];

    pub fn as_str(self) -> &'static str {
        match self {
            Wave::Forward => "forward",
            Wave::Backward => "backward",
        }
    }
}

impl fmt::Display for Wave {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What to record: send-on-delta output events, dense element states, or both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum What {
    Events,
    States,
}

/// One spike-like output event: the output deviation of `neuron` moved by at least theta
/// since its last event and is now `value`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaveEvent {
    /// Simulated time within the sample's presentation (see the module doc).
    pub time: f64,
    /// Dataset index of the sample.
    pub sample: usize,
    pub layer: usize,
    pub neuron: usize,
    pub wave: Wave,
    /// The output deviation D (forward) or D̂ (backward) at `time`.
    pub value: f32,
}

/// The five elements of one neuron's system (forward in the forward wave, reversed in the
/// backward wave) at one time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StateSample {
    pub time: f64,
    pub sample: usize,
    pub layer: usize,
    pub neuron: usize,
    pub wave: Wave,
    /// The output deviation D or D̂ at `time`.
    pub signal: f32,
    /// Elements J, S, M, H, T of the system integrated in `wave`.
    pub elements: [f32; 5],
}

/// Which samples are recorded, by dataset index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SampleSelect {
    All,
    /// Samples whose dataset index is a multiple of N.
    Every(usize),
    Ids(BTreeSet<usize>),
}

/// A resolved trace selection: validated against the network, what engines consult.
#[derive(Debug, Clone, PartialEq)]
pub struct Selection {
    /// Per network layer, the recorded neurons in increasing order (empty: layer not
    /// recorded).
    pub neurons: Vec<Vec<usize>>,
    pub samples: SampleSelect,
    pub waves: Vec<Wave>,
    pub events: bool,
    pub states: bool,
    /// States are recorded every `every` integration steps.
    pub every: usize,
    /// Send-on-delta threshold on the forward output deviation D.
    pub theta: f32,
    /// Send-on-delta threshold on the backward output deviation D̂.
    pub theta_backward: f32,
    /// Also write the VCD file.
    pub vcd: bool,
}

impl Selection {
    /// Whether the sample with dataset index `sample` is recorded.
    pub fn wants_sample(&self, sample: usize) -> bool {
        match &self.samples {
            SampleSelect::All => true,
            SampleSelect::Every(n) => sample.is_multiple_of(*n),
            SampleSelect::Ids(ids) => ids.contains(&sample),
        }
    }

    /// The send-on-delta threshold of `wave`.
    pub fn theta(&self, wave: Wave) -> f32 {
        match wave {
            Wave::Forward => self.theta,
            Wave::Backward => self.theta_backward,
        }
    }

    pub fn wants_wave(&self, wave: Wave) -> bool {
        self.waves.contains(&wave)
    }

    /// Recorded neurons of `layer` (empty for a layer that is not recorded).
    pub fn neurons(&self, layer: usize) -> &[usize] {
        self.neurons.get(layer).map_or(&[], Vec::as_slice)
    }

    /// Every (layer, neuron) recorded, input layer first.
    pub fn signals(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.neurons
            .iter()
            .enumerate()
            .flat_map(|(l, ns)| ns.iter().map(move |&j| (l, j)))
    }
}

/// The interface engines record through. Calls are infallible so that recording never
/// disturbs the integration: a sink keeps its first I/O error and reports it when the
/// runner flushes it between batches.
///
/// Contract for an engine:
/// * record only samples with `selection().wants_sample(id)`, neurons in
///   `selection().neurons(layer)` and waves in `selection().waves`;
/// * call [`TraceSink::event`] (if `selection().events`) when the output deviation has
///   moved by at least `selection().theta(wave)` since the last event, with `time` relative to the
///   sample's presentation (forward window from 0, backward window from T), in
///   non-decreasing time per (sample, layer, neuron, wave);
/// * call [`TraceSink::state`] (if `selection().states`) at least every `selection().every`
///   steps (or the engine's equivalent interval of simulated time).
pub trait TraceSink {
    fn selection(&self) -> &Selection;
    fn event(&mut self, event: &WaveEvent);
    fn state(&mut self, state: &StateSample);
}
