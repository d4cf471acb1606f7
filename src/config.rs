//! The model file: a plain serde image of the YAML (`ModelFile`), parsed with line/column
//! errors and turned into the validated domain [`Model`] by [`Model::from_file`].
//!
//! Every default of `bsp-model.md` is a field here (with the documented value as the serde
//! default), so a model file can state or override each one; `deny_unknown_fields`
//! everywhere, so a typo is an error rather than a silently ignored setting.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::neuron::{Element, Integrator};

/// The YAML file as written by a user.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelFile {
    pub name: String,
    #[serde(default = "default_seed")]
    pub seed: u64,
    #[serde(default)]
    pub engine: EngineKind,
    pub data: DataSection,
    pub network: NetworkSection,
    #[serde(default)]
    pub neuron: NeuronSection,
    #[serde(default)]
    pub integration: IntegrationSection,
    #[serde(default)]
    pub input: InputSection,
    #[serde(default)]
    pub error: ErrorSection,
    pub learning: LearningSection,
    /// Settings of the asynchronous event-driven engine (`engine: async`).
    #[serde(default, rename = "async")]
    pub asynchronous: AsyncSection,
    /// What `bsp-sim run` records of the waves (absent: nothing); see `trace::spec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<crate::trace::TraceSection>,
}

fn default_seed() -> u64 {
    1
}

/// Which engine runs the model: `sync` (global clock, barriers) or `async` (event-driven
/// neuron actors, no global clock).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[default]
    Sync,
    Async,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// `mnist`, `fashion-mnist` or `synthetic`.
    pub dataset: String,
    /// Directory to look in first (relative paths are relative to the model file).
    #[serde(default)]
    pub dir: Option<PathBuf>,
    /// Fetch the files into the cache dir when they are not found.
    #[serde(default = "yes")]
    pub download: bool,
    #[serde(default)]
    pub train_limit: Option<usize>,
    #[serde(default)]
    pub test_limit: Option<usize>,
    /// Shape of the seeded synthetic data set (only with `dataset: synthetic`).
    #[serde(default)]
    pub synthetic: Option<SyntheticSection>,
    /// Training-image augmentation (`data::augment`); absent: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub augment: Option<AugmentSection>,
}

/// `data.augment`: every training image translated by whole pixels (dx, dy) drawn in
/// [-shift, shift] per (seed, epoch, sample), zero fill; test images are never changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AugmentSection {
    pub shift: usize,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SyntheticSection {
    pub classes: usize,
    pub dim: usize,
    pub train: usize,
    pub test: usize,
    pub noise: f32,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkSection {
    /// Neurons per layer, input layer first.
    pub layers: Vec<usize>,
    /// One entry per layer pair, or a single entry used for every pair.
    pub connectivity: Vec<Connectivity>,
    /// Initial synaptic coefficients C.
    pub init: InitSection,
}

/// How one layer pair is wired (bsp-model.md §3).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Connectivity {
    /// Every presynaptic neuron feeds every postsynaptic one.
    Full,
    /// Fan-out one: each presynaptic neuron feeds exactly one postsynaptic neuron. Without
    /// `shuffle`, neighbours (contiguous blocks) share a postsynaptic neuron; with it, the
    /// presynaptic neurons are first put in a seeded random order, so each postsynaptic
    /// neuron gathers neurons from all over the previous layer.
    OneToOne {
        #[serde(default)]
        shuffle: bool,
    },
    /// Each postsynaptic neuron draws `fan_in` distinct presynaptic neurons at random.
    Random { fan_in: usize },
}

/// A named rand_distr distribution for the initial C.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "distribution", rename_all = "snake_case", deny_unknown_fields)]
pub enum InitSection {
    /// Normal(mean, std); with `fan_in_scaled`, std is divided by sqrt(fan-in).
    Normal {
        mean: f32,
        std: f32,
        #[serde(default)]
        fan_in_scaled: bool,
    },
    /// Uniform on [low, high); with `fan_in_scaled`, both bounds are divided by sqrt(fan-in).
    Uniform {
        low: f32,
        high: f32,
        #[serde(default)]
        fan_in_scaled: bool,
    },
}

/// A per-element rate: one number for all five elements, or a list of five (J, S, M, H, T).
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Rate {
    Uniform(f32),
    PerElement([f32; 5]),
}

impl Rate {
    pub fn values(self) -> [f32; 5] {
        match self {
            Rate::Uniform(v) => [v; 5],
            Rate::PerElement(v) => v,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NeuronSection {
    #[serde(default = "default_k1")]
    pub k1: Rate,
    #[serde(default = "default_k2")]
    pub k2: Rate,
    #[serde(default = "default_k3")]
    pub k3: Rate,
    /// Input element (J, S, M, H or T).
    #[serde(default = "default_input")]
    pub input: Element,
    /// Output element; must differ from the input.
    #[serde(default = "default_output")]
    pub output: Element,
    /// Clamp every element at zero after each step (the unit's nonlinearity).
    #[serde(default = "yes")]
    pub clamp: bool,
}

fn default_k1() -> Rate {
    Rate::Uniform(2.0)
}
fn default_k2() -> Rate {
    Rate::Uniform(1.0)
}
fn default_k3() -> Rate {
    Rate::Uniform(1.0)
}
fn default_input() -> Element {
    Element::J
}
fn default_output() -> Element {
    Element::S
}

impl Default for NeuronSection {
    fn default() -> Self {
        NeuronSection {
            k1: default_k1(),
            k2: default_k2(),
            k3: default_k3(),
            input: default_input(),
            output: default_output(),
            clamp: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IntegrationSection {
    #[serde(default)]
    pub method: Integrator,
    #[serde(default = "default_dt")]
    pub dt: f32,
    /// Length T of the forward window, in model time units.
    #[serde(default = "default_window")]
    pub forward_window: f32,
    /// Length of the backward window.
    #[serde(default = "default_window")]
    pub backward_window: f32,
    /// How the synchronous engine couples layers within a step (the asynchronous engine is
    /// always `delayed`).
    #[serde(default)]
    pub coupling: Coupling,
}

/// When a presynaptic signal reaches the next layer in the synchronous engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Coupling {
    /// Layers advance input side first and layer l+1's step uses the signal layer l reached
    /// in the same step, as a feed-forward pass would.
    #[default]
    SameStep,
    /// Every layer's step uses the signal its presynaptic layer reached at the end of the
    /// previous step: a synapse with zero delay between event-driven neurons, whose input is
    /// constant between events. The asynchronous engine's semantics; choose it to compare.
    Delayed,
}

fn default_dt() -> f32 {
    0.1
}
fn default_window() -> f32 {
    10.0
}

impl Default for IntegrationSection {
    fn default() -> Self {
        IntegrationSection {
            method: Integrator::Euler,
            dt: default_dt(),
            forward_window: default_window(),
            backward_window: default_window(),
            coupling: Coupling::SameStep,
        }
    }
}

/// How an image enters layer 0.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct InputSection {
    /// Current into each layer-0 neuron's input element: `gain * pixel`.
    #[serde(default = "default_gain")]
    pub gain: f32,
}

fn default_gain() -> f32 {
    2.0
}

impl Default for InputSection {
    fn default() -> Self {
        InputSection {
            gain: default_gain(),
        }
    }
}

/// The error formed at the output layer (bsp-model.md §3).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSection {
    #[serde(default)]
    pub kind: ErrorKind,
    /// Inverse temperature of the softmax error.
    #[serde(default = "default_beta")]
    pub beta: f32,
    /// Height of the one-hot target of the squared error.
    #[serde(default = "one")]
    pub target_amplitude: f32,
    /// The current injected into the reversed output systems is `scale * e`. Small values
    /// keep the reversed units near rest, where they respond linearly; large errors drive
    /// them into their expansive range, which amplifies the backward wave layer by layer.
    /// The update is divided by `scale` again, so in the linear range lr keeps its meaning.
    #[serde(default = "one")]
    pub scale: f32,
    /// `constant` (the window-mean error) or `time_varying` (target - D(t), replayed).
    #[serde(default)]
    pub backward_input: BackwardInput,
    /// Readout y of an output neuron: `mean` or `integral` of D over the forward window.
    #[serde(default)]
    pub readout: Readout,
}

fn default_beta() -> f32 {
    3.0
}
fn one() -> f32 {
    1.0
}

impl Default for ErrorSection {
    fn default() -> Self {
        ErrorSection {
            kind: ErrorKind::Softmax,
            beta: default_beta(),
            target_amplitude: 1.0,
            scale: 1.0,
            backward_input: BackwardInput::Constant,
            readout: Readout::Mean,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// e = target - y
    Squared,
    /// e = one_hot - softmax(beta * y)
    #[default]
    Softmax,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BackwardInput {
    #[default]
    Constant,
    TimeVarying,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Readout {
    #[default]
    Mean,
    Integral,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LearningSection {
    /// `connections` (method 2, paper Eq. 23) or `fixed_points` (method 1, Eq. 17-19).
    #[serde(default)]
    pub method: LearningMethod,
    /// Learning rate of the first epoch.
    pub lr: f32,
    /// Limiter G2 = atan(kt * G1) / kt; 0 turns it off (G2 = G1).
    #[serde(default)]
    pub kt: f32,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    pub epochs: usize,
    /// Learning rate per epoch.
    #[serde(default)]
    pub schedule: Schedule,
    /// Method 1 only: how a neuron forms its G1 from its own two traces.
    #[serde(default)]
    pub fixed_point_signal: FixedPointSignal,
    /// Method 2 only: `bsp` (the paper's rule), `adjoint` (the exact gradient) or
    /// `linearised` (BSP with each neuron's reversed system linearised along its own
    /// forward trajectory).
    #[serde(default)]
    pub rule: LearningRule,
    /// Method 2 only: how each synapse turns its batch-mean G2 into a change, keeping only
    /// state of its own (`learning::optimiser`). `sgd` (the default) is the plain update.
    #[serde(default, skip_serializing_if = "Optimiser::is_sgd")]
    pub optimiser: Optimiser,
    /// Method 2 only: decoupled weight decay λ per synapse, C ← C − lr·λ·C at every update
    /// beside the optimiser's change, reading only the synapse's own C (`learning::optimiser`).
    /// 0 (the default) is off.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub weight_decay: f32,
}

fn is_zero(x: &f32) -> bool {
    *x == 0.0
}

/// The per-synapse optimiser of method 2 (`learning::optimiser`): local, each synapse reads
/// its own batch-mean G2 and its own moments only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Optimiser {
    /// C += lr · g (g: the synapse's batch-mean G2).
    #[default]
    Sgd,
    /// Heavy ball: m ← beta · m + g; C += lr · m.
    Momentum {
        #[serde(default = "default_beta1")]
        beta: f32,
    },
    /// Per-synapse Adam: bias-corrected first and second moments of the synapse's own g.
    Adam {
        #[serde(default = "default_beta1")]
        beta1: f32,
        #[serde(default = "default_beta2")]
        beta2: f32,
        #[serde(default = "default_eps")]
        eps: f32,
    },
}

fn default_beta1() -> f32 {
    0.9
}

fn default_beta2() -> f32 {
    0.999
}

fn default_eps() -> f32 {
    1e-8
}

impl Optimiser {
    /// The name in the model file.
    pub fn name(self) -> &'static str {
        match self {
            Optimiser::Sgd => "sgd",
            Optimiser::Momentum { .. } => "momentum",
            Optimiser::Adam { .. } => "adam",
        }
    }

    pub fn is_sgd(&self) -> bool {
        *self == Optimiser::Sgd
    }
}

/// Where a synapse's update direction comes from (method 2; see `gradient`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LearningRule {
    /// The paper's rule: G1 = ∫D_pre dt · ∫D̂_post dt from the reversed systems,
    /// C += lr · G2 (Eq. 22, 18, 23).
    #[default]
    Bsp,
    /// The exact gradient of the loss through the engine's discretised window (discrete
    /// adjoint, not local): C -= lr · batch-mean ∂L/∂C. The limiter `kt` does not apply.
    Adjoint,
    /// Local: the backward window runs each neuron's forward step linearised along its own
    /// recorded trajectory (in reverse time, with its clamp mask) instead of the reversed
    /// system; G1 keeps BSP's product-of-integrals form and the limiter applies.
    Linearised,
}

impl LearningRule {
    /// The name in the model file.
    pub fn name(self) -> &'static str {
        match self {
            LearningRule::Bsp => "bsp",
            LearningRule::Adjoint => "adjoint",
            LearningRule::Linearised => "linearised",
        }
    }

    /// Whether a synapse's change reads only its own two window integrals and a neuron's
    /// reversed pass only its own state and inputs (`adjoint` reads the whole network).
    pub fn is_local(self) -> bool {
        self != LearningRule::Adjoint
    }

    /// Whether `engine` runs this rule: the synchronous engine runs all three, the
    /// asynchronous one the local rules (each actor keeps what its rule needs).
    pub fn runs_on(self, engine: EngineKind) -> bool {
        match engine {
            EngineKind::Sync => true,
            EngineKind::Async => self.is_local(),
        }
    }
}

/// Method 1's modulation signal for neuron j (both are local to the neuron).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FixedPointSignal {
    /// G1 = ∫D_j dt · ∫D̂_j dt, as the paper writes Eq. 17.
    #[default]
    Paper,
    /// G1 = T · ∫D̂_j dt: the reversed trace alone, the window length standing in for the
    /// forward factor. The sign then always follows the error (measured by finite
    /// differences in tests/fixed_point.rs); the paper's product flips sign wherever the
    /// neuron's own forward signal is negative.
    Reversed,
}

fn default_batch() -> usize {
    50
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LearningMethod {
    #[default]
    Connections,
    FixedPoints,
}

/// Learning-rate schedule over epochs.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Schedule {
    Constant,
    /// lr * decay^epoch
    Exponential {
        decay: f32,
    },
    /// lr * factor^(epoch / every)
    Step {
        every: usize,
        factor: f32,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule::Exponential { decay: 0.8 }
    }
}

impl Schedule {
    /// Learning rate of epoch `epoch` (0-based) given the base rate.
    pub fn lr(self, base: f32, epoch: usize) -> f32 {
        match self {
            Schedule::Constant => base,
            Schedule::Exponential { decay } => base * decay.powi(epoch as i32),
            Schedule::Step { every, factor } => base * factor.powi((epoch / every.max(1)) as i32),
        }
    }
}

mod asynchronous;
mod checks;
pub mod memory;
mod model;
pub mod overrides;
pub mod settings;
pub use asynchronous::{ActorGranularity, AsyncSection, Delay, LocalStep};
pub use model::{DataSource, Model, NetworkSpec, Training};
pub use overrides::Override;
pub use settings::{AsyncSettings, OutputError, Settings};
