//! The model file: a plain serde image of the YAML (`ModelFile`), parsed with line/column
//! errors and turned into the validated domain [`Model`] by [`Model::from_file`].
//!
//! Every default of `bsp-model.md` is a field here (with the documented value as the serde
//! default), so a model file can state or override each one; `deny_unknown_fields`
//! everywhere, so a typo is an error rather than a silently ignored setting.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::data::DatasetName;
use crate::error::ConfigError;
use crate::neuron::{Element, Integrator, NeuronParams};

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
}

fn default_seed() -> u64 {
    1
}

/// Which engine runs the model. Only `sync` exists yet; `async` is the event-driven engine.
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

/// Where the training data comes from, resolved.
#[derive(Debug, Clone)]
pub enum DataSource {
    Named {
        name: DatasetName,
        dir: Option<PathBuf>,
        download: bool,
    },
    Synthetic(crate::data::synthetic::SyntheticSpec),
}

/// A validated model: what the engines and the runner consume.
#[derive(Debug, Clone)]
pub struct Model {
    /// The file it came from (for messages), if any.
    pub path: Option<PathBuf>,
    /// The file as parsed (copied into run summaries and checkpoints).
    pub file: ModelFile,
    pub data: DataSource,
    pub neuron: NeuronParams,
}

impl Model {
    /// Read, parse and validate a model file.
    pub fn load(path: &Path) -> Result<Model, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Model::from_yaml(&text, Some(path))
    }

    /// Parse and validate YAML text; `path` is used in messages and to resolve `data.dir`.
    pub fn from_yaml(text: &str, path: Option<&Path>) -> Result<Model, ConfigError> {
        let file: ModelFile = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: display_path(path),
            detail: e.to_string(),
        })?;
        Model::from_file(file, path)
    }

    /// Validate a parsed model file, reporting the offending field and the fix.
    pub fn from_file(file: ModelFile, path: Option<&Path>) -> Result<Model, ConfigError> {
        let p = display_path(path);
        let invalid = |field: &str, detail: String| ConfigError::Invalid {
            path: p.clone(),
            field: field.to_string(),
            detail,
        };

        let layers = &file.network.layers;
        if layers.len() < 2 {
            return Err(invalid(
                "network.layers",
                format!("needs at least an input and an output layer, got {layers:?}"),
            ));
        }
        if let Some(i) = layers.iter().position(|&n| n == 0) {
            return Err(invalid(
                &format!("network.layers[{i}]"),
                "layer is empty; give every layer at least one neuron".into(),
            ));
        }
        let pairs = layers.len() - 1;
        let conn = &file.network.connectivity;
        if conn.len() != 1 && conn.len() != pairs {
            return Err(invalid(
                "network.connectivity",
                format!(
                    "has {} entries for {pairs} layer pairs; give one entry per pair or a single entry for all",
                    conn.len()
                ),
            ));
        }
        for (l, c) in file_connectivity(&file).iter().enumerate() {
            if let Connectivity::Random { fan_in } = c {
                if *fan_in == 0 || *fan_in > layers[l] {
                    return Err(invalid(
                        &format!("network.connectivity[{l}].fan_in"),
                        format!(
                            "is {fan_in} but layer {l} has {} neurons; use 1..={}",
                            layers[l], layers[l]
                        ),
                    ));
                }
            }
        }
        match file.network.init {
            InitSection::Normal { std, mean, .. } => {
                if !(std.is_finite() && std >= 0.0 && mean.is_finite()) {
                    return Err(invalid(
                        "network.init.std",
                        format!("must be finite and >= 0, got {std}"),
                    ));
                }
            }
            InitSection::Uniform { low, high, .. } => {
                if !(low.is_finite() && high.is_finite() && low < high) {
                    return Err(invalid(
                        "network.init",
                        format!("uniform needs low < high, got low {low}, high {high}"),
                    ));
                }
            }
        }

        let n = &file.neuron;
        if n.input == n.output {
            return Err(invalid(
                "neuron.output",
                format!(
                    "equals neuron.input ({:?}); a node is never both input and output: pick another element, e.g. S",
                    n.input
                ),
            ));
        }
        let (k1, k2, k3) = (n.k1.values(), n.k2.values(), n.k3.values());
        for (name, k) in [("k1", k1), ("k2", k2), ("k3", k3)] {
            if k.iter().any(|v| !v.is_finite() || *v <= 0.0) {
                return Err(invalid(
                    &format!("neuron.{name}"),
                    format!("every rate must be finite and > 0, got {k:?}"),
                ));
            }
        }
        let neuron = NeuronParams::new(k1, k2, k3, n.input, n.output, n.clamp)
            .map_err(|detail| invalid("neuron.k1", detail))?;

        let i = &file.integration;
        if i.method == Integrator::SemiImplicit && !n.clamp {
            return Err(invalid(
                "integration.method",
                "semi_implicit needs neuron.clamp: true (it assumes non-negative elements); use euler or rk4".into(),
            ));
        }
        if !(i.dt.is_finite() && i.dt > 0.0) {
            return Err(invalid(
                "integration.dt",
                format!("must be > 0, got {}", i.dt),
            ));
        }
        for (name, w) in [
            ("integration.forward_window", i.forward_window),
            ("integration.backward_window", i.backward_window),
        ] {
            if !(w.is_finite() && w >= i.dt) {
                return Err(invalid(
                    name,
                    format!("must be at least one step (dt = {}), got {w}", i.dt),
                ));
            }
        }

        let l = &file.learning;
        if !(l.lr.is_finite() && l.lr >= 0.0) {
            return Err(invalid(
                "learning.lr",
                format!("must be finite and >= 0, got {}", l.lr),
            ));
        }
        if !(l.kt.is_finite() && l.kt >= 0.0) {
            return Err(invalid(
                "learning.kt",
                format!("must be >= 0 (0 turns the limiter off), got {}", l.kt),
            ));
        }
        if l.batch_size == 0 {
            return Err(invalid("learning.batch_size", "must be at least 1".into()));
        }
        if !(file.error.beta.is_finite() && file.error.beta > 0.0) {
            return Err(invalid(
                "error.beta",
                format!("must be > 0, got {}", file.error.beta),
            ));
        }
        if !(file.error.scale.is_finite() && file.error.scale > 0.0) {
            return Err(invalid(
                "error.scale",
                format!("must be > 0, got {}", file.error.scale),
            ));
        }
        if !file.input.gain.is_finite() {
            return Err(invalid("input.gain", "must be finite".into()));
        }

        let data = match file.data.dataset.as_str() {
            "synthetic" => {
                let s = file.data.synthetic.as_ref().ok_or_else(|| {
                    invalid(
                        "data.synthetic",
                        "dataset: synthetic needs a `synthetic: {classes, dim, train, test, noise}` section".into(),
                    )
                })?;
                if s.classes < 2 || s.dim == 0 || s.train == 0 || s.test == 0 {
                    return Err(invalid(
                        "data.synthetic",
                        "needs classes >= 2 and dim, train, test >= 1".into(),
                    ));
                }
                DataSource::Synthetic(crate::data::synthetic::SyntheticSpec {
                    classes: s.classes,
                    dim: s.dim,
                    train: s.train,
                    test: s.test,
                    noise: s.noise,
                })
            }
            other => {
                let name: DatasetName = other.parse().map_err(|_| {
                    invalid(
                        "data.dataset",
                        format!(
                            "unknown data set `{other}`; use mnist, fashion-mnist or synthetic"
                        ),
                    )
                })?;
                let dir = file
                    .data
                    .dir
                    .as_ref()
                    .map(|d| match path.and_then(Path::parent) {
                        Some(base) if d.is_relative() => base.join(d),
                        _ => d.clone(),
                    });
                DataSource::Named {
                    name,
                    dir,
                    download: file.data.download,
                }
            }
        };

        Ok(Model {
            path: path.map(Path::to_path_buf),
            file,
            data,
            neuron,
        })
    }

    /// Connectivity of each layer pair (a single entry is repeated).
    pub fn connectivity(&self) -> Vec<Connectivity> {
        file_connectivity(&self.file)
    }

    /// Where this model came from, for messages.
    pub fn display_path(&self) -> String {
        display_path(self.path.as_deref())
    }
}

fn file_connectivity(file: &ModelFile) -> Vec<Connectivity> {
    let pairs = file.network.layers.len().saturating_sub(1);
    match file.network.connectivity.as_slice() {
        [one] => vec![*one; pairs],
        many => many.to_vec(),
    }
}

fn display_path(path: Option<&Path>) -> String {
    path.map(|p| p.display().to_string())
        .unwrap_or_else(|| "<model>".to_string())
}
