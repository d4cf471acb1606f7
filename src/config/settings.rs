//! Simulation settings derived from a validated model: step counts, ports, error and
//! learning rule, in the units the integration loops use.

use super::{
    ActorGranularity, AsyncSection, BackwardInput, Coupling, Delay, ErrorKind, FixedPointSignal,
    LearningMethod, LearningRule, LocalStep, ModelFile, Optimiser, Readout,
};
use crate::neuron::layer::Stepping;
use crate::neuron::Integrator;

/// How the output error is formed (its arithmetic is `learning::output_error`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OutputError {
    pub kind: ErrorKind,
    /// Softmax inverse temperature.
    pub beta: f32,
    /// Height of the squared error's one-hot target.
    pub amplitude: f32,
}

/// Everything an engine needs besides the network and neuron parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub dt: f32,
    pub forward_steps: usize,
    pub backward_steps: usize,
    pub integrator: Integrator,
    pub coupling: Coupling,
    pub clamp: bool,
    /// Current into a layer-0 neuron per unit pixel.
    pub gain: f32,
    /// Forward input element index (the reversed system's output).
    pub input_port: usize,
    /// Forward output element index (the reversed system's input).
    pub output_port: usize,
    pub error: OutputError,
    /// Injected reversed current per unit of error.
    pub error_scale: f32,
    pub backward_input: BackwardInput,
    pub readout: Readout,
    pub method: LearningMethod,
    pub kt: f32,
    pub fixed_point_signal: FixedPointSignal,
    /// Where method 2's update direction comes from.
    pub rule: LearningRule,
    /// Method 2's per-synapse optimiser (`sgd`: the plain update).
    pub optimiser: Optimiser,
    /// Method 2's decoupled per-synapse weight decay λ (0: off).
    pub weight_decay: f32,
}

impl Settings {
    /// The settings of a model file (validated by `Model::from_file`, which stores them
    /// as `Model::settings`).
    pub fn from_file(f: &ModelFile) -> Settings {
        let i = &f.integration;
        let steps = |w: f32| ((w / i.dt).round() as usize).max(1);
        Settings {
            dt: i.dt,
            forward_steps: steps(i.forward_window),
            backward_steps: steps(i.backward_window),
            integrator: i.method,
            coupling: i.coupling,
            clamp: f.neuron.clamp,
            gain: f.input.gain,
            input_port: f.neuron.input.index(),
            output_port: f.neuron.output.index(),
            error: OutputError {
                kind: f.error.kind,
                beta: f.error.beta,
                amplitude: f.error.target_amplitude,
            },
            error_scale: f.error.scale,
            backward_input: f.error.backward_input,
            readout: f.error.readout,
            method: f.learning.method,
            kt: f.learning.kt,
            fixed_point_signal: f.learning.fixed_point_signal,
            rule: f.learning.rule,
            optimiser: f.learning.optimiser,
            weight_decay: f.learning.weight_decay,
        }
    }

    /// How the layer kernel steps: scheme, dt and clamp.
    pub fn stepping(&self) -> Stepping {
        Stepping {
            integrator: self.integrator,
            dt: self.dt,
            clamp: self.clamp,
        }
    }

    /// Length of the forward window actually integrated.
    pub fn forward_window(&self) -> f32 {
        self.forward_steps as f32 * self.dt
    }
}

/// The asynchronous engine's settings, resolved from the model file's `async` section:
/// thresholds with their defaults applied, and what an actor is.
#[derive(Debug, Clone, PartialEq)]
pub struct AsyncSettings {
    /// Send-on-delta threshold of the forward systems.
    pub theta: f32,
    /// Send-on-delta threshold of the reversed systems (`theta` unless set).
    pub theta_backward: f32,
    /// Synaptic delays, drawn per synapse from the seed.
    pub delay: Delay,
    /// Simulated time between sample starts; `None`: the longer window.
    pub sample_interval: Option<f32>,
    /// Samples in flight at most (at least 1).
    pub max_in_flight: usize,
    /// `Some(threshold)` when every element is its own actor (`actor: element`), sending
    /// its value on that threshold; `None` for neuron actors.
    pub element_theta: Option<f32>,
    /// How an actor integrates between events.
    pub step: LocalStep,
}

impl AsyncSettings {
    /// The settings of a validated `async` section.
    pub fn from_section(a: &AsyncSection) -> AsyncSettings {
        AsyncSettings {
            theta: a.theta,
            theta_backward: a.theta_backward.unwrap_or(a.theta),
            delay: a.delay,
            sample_interval: a.sample_interval,
            max_in_flight: a.max_in_flight.max(1),
            element_theta: (a.actor == ActorGranularity::Element).then_some(a.element_theta),
            step: a.step,
        }
    }
}
