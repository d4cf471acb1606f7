//! Simulation settings derived from a validated model: step counts, ports, error and
//! learning rule, in the units the integration loops use.

use super::{
    BackwardInput, Coupling, ErrorKind, FixedPointSignal, LearningMethod, LearningRule, ModelFile,
    Optimiser, Readout,
};
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
        }
    }

    /// Length of the forward window actually integrated.
    pub fn forward_window(&self) -> f32 {
        self.forward_steps as f32 * self.dt
    }
}
