//! The model file's `async:` section: the asynchronous engine's thresholds, synaptic
//! delays, pipelining, actor granularity and local integration, as written (validated into
//! `AsyncSettings` by `config::model`).

use serde::{Deserialize, Serialize};

/// The asynchronous engine's settings (bsp-model.md §5).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AsyncSection {
    /// Send-on-delta threshold: an actor emits an event when its output deviation has moved
    /// by at least `theta` since its last event; 0 sends every change.
    #[serde(default)]
    pub theta: f32,
    /// Send-on-delta threshold of the reversed systems (the backward wave); default
    /// `theta`. The backward wave is often far smaller than the forward one (it carries
    /// the error), so it may need a finer threshold.
    #[serde(default)]
    pub theta_backward: Option<f32>,
    /// Synaptic delay, fixed or drawn per synapse from the seed; rounded to whole steps of
    /// `integration.dt` (as NEST does).
    #[serde(default)]
    pub delay: Delay,
    /// Simulated time between the starts of consecutive samples; samples whose waves are
    /// still in flight overlap (pipelining). Default: the longer window, the tightest
    /// spacing at which a neuron's system serves one sample at a time.
    #[serde(default)]
    pub sample_interval: Option<f32>,
    /// Bound on samples in flight (started, updates not yet applied); a sample waits for a
    /// slot, which bounds memory.
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// What one actor owns: a whole neuron (its five elements in both systems), or one
    /// element.
    #[serde(default)]
    pub actor: ActorGranularity,
    /// `actor: element` only: an element sends its value to the elements it drives (k1,
    /// k3 couplings) when it has moved by at least this much; 0 sends every change.
    #[serde(default)]
    pub element_theta: f32,
    /// How an actor integrates between events.
    #[serde(default)]
    pub step: LocalStep,
}

fn default_in_flight() -> usize {
    4
}

impl Default for AsyncSection {
    fn default() -> Self {
        AsyncSection {
            theta: 0.0,
            theta_backward: None,
            delay: Delay::default(),
            sample_interval: None,
            max_in_flight: default_in_flight(),
            actor: ActorGranularity::Neuron,
            element_theta: 0.0,
            step: LocalStep::Fixed,
        }
    }
}

/// A synaptic delay distribution (model time units). Draws use the seed's delay stream.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Delay {
    Fixed {
        value: f32,
    },
    Uniform {
        low: f32,
        high: f32,
    },
    /// Normal, truncated at zero.
    Normal {
        mean: f32,
        std: f32,
    },
    /// `min` plus an exponential with mean `mean - min`.
    Exponential {
        min: f32,
        mean: f32,
    },
}

impl Default for Delay {
    fn default() -> Self {
        Delay::Fixed { value: 0.0 }
    }
}

/// The unit of concurrency in the asynchronous engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorGranularity {
    /// One actor per neuron, owning the five elements of both of its systems.
    #[default]
    Neuron,
    /// One actor per element of each system: the couplings inside a neuron (k1 generative,
    /// k3 inhibitory) travel as events too, and each element integrates only its own
    /// equation from the values the others last sent it (quantised-state style). Explicit
    /// or semi-implicit Euler, fixed steps.
    Element,
}

/// Local integration of an actor between events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum LocalStep {
    /// One step of `integration.method` per `integration.dt`.
    #[default]
    Fixed,
    /// Error-controlled sub-steps (Heun with an Euler error estimate), halving the step
    /// until the estimated local error of every element is below `tolerance`; the actor
    /// keeps its step size between events and tries doubling it again.
    Adaptive {
        tolerance: f32,
        #[serde(default = "default_max_halvings")]
        max_halvings: u32,
    },
}

fn default_max_halvings() -> u32 {
    8
}
