//! The validated model: a parsed [`ModelFile`] checked field by field (naming the field and
//! the fix) and resolved into the domain types the engines and the runner consume. This is
//! the second of configuration's two phases: nothing outside `config` reads the raw file,
//! which a `Model` keeps only to write it back (`model.yaml`, checkpoints) and to derive
//! variants (`compare`, `bench`), each validated again.

use std::path::{Path, PathBuf};

use super::checks::{augment_shift, check_async, check_optimiser, check_weight_decay};
use super::overrides::Override;
use super::{
    AsyncSettings, BackwardInput, Connectivity, EngineKind, InitSection, LearningRule, ModelFile,
    Schedule, Settings,
};
use crate::data::DatasetName;
use crate::error::ConfigError;
use crate::neuron::{Integrator, NeuronParams};
use crate::trace::TraceSection;

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
    /// The file as parsed (written back into run directories and checkpoints).
    file: ModelFile,
    /// The YAML text of `file`: the model file as written, or with overrides applied.
    text: String,
    pub name: String,
    pub seed: u64,
    pub engine: EngineKind,
    pub data: DataSource,
    /// Training and test samples used (the first N), if limited.
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub network: NetworkSpec,
    pub neuron: NeuronParams,
    /// Integration, error and learning rule in the units the engines integrate with.
    pub settings: Settings,
    pub training: Training,
    /// The asynchronous engine's settings.
    pub asynchronous: AsyncSettings,
    /// What to record, if the file has a `trace:` section.
    pub trace: Option<TraceSection>,
}

/// The network to build: layer sizes, each layer pair's wiring (a single entry in the file
/// is repeated for every pair) and the initial coefficients' distribution.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    pub layers: Vec<usize>,
    pub connectivity: Vec<Connectivity>,
    pub init: InitSection,
}

/// How training proceeds: the learning-rate schedule, the minibatch, the planned epochs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Training {
    pub lr: f32,
    pub schedule: Schedule,
    pub batch_size: usize,
    pub epochs: usize,
    /// `data.augment.shift`: training images shifted by up to this many pixels (0: none).
    pub augment_shift: usize,
}

impl Model {
    /// Read, parse and validate a model file.
    pub fn load(path: &Path) -> Result<Model, ConfigError> {
        Model::load_with_overrides(path, &[])
    }

    /// Read and parse a model file, apply `overrides` (each typed and checked as if it were
    /// in the file) and validate the result; the model's [`Model::yaml`] is the file with
    /// the overrides applied.
    pub fn load_with_overrides(path: &Path, overrides: &[Override]) -> Result<Model, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            cause: source,
        })?;
        Model::from_yaml_with_overrides(&text, Some(path), overrides)
    }

    /// Parse and validate YAML text; `path` is used in messages and to resolve `data.dir`.
    pub fn from_yaml(text: &str, path: Option<&Path>) -> Result<Model, ConfigError> {
        Model::from_yaml_with_overrides(text, path, &[])
    }

    /// [`Model::from_yaml`] with `overrides` applied to the parsed file before validation.
    pub fn from_yaml_with_overrides(
        text: &str,
        path: Option<&Path>,
        overrides: &[Override],
    ) -> Result<Model, ConfigError> {
        let source = display_path(path);
        let file: ModelFile = serde_saphyr::from_str(text).map_err(|e| ConfigError::Parse {
            path: source.clone(),
            detail: e.to_string(),
        })?;
        if overrides.is_empty() {
            let mut model = Model::from_file(file, path)?;
            model.text = text.to_string();
            return Ok(model);
        }
        let file = super::overrides::apply(&file, overrides, &source)?;
        let mut model = Model::from_file(file, path).map_err(|e| match e {
            // A field the overrides touched is named with them.
            ConfigError::Invalid {
                path,
                field,
                detail,
            } => {
                let touched: Vec<&str> = overrides
                    .iter()
                    .filter(|o| field.starts_with(&o.path) || o.path.starts_with(&field))
                    .map(|o| o.label.as_str())
                    .collect();
                let with = if touched.is_empty() {
                    overrides.iter().map(|o| o.label.as_str()).collect()
                } else {
                    touched
                };
                ConfigError::Invalid {
                    path: format!("{path} with {}", with.join(" ")),
                    field,
                    detail,
                }
            }
            other => other,
        })?;
        let labels: Vec<&str> = overrides.iter().map(|o| o.label.as_str()).collect();
        let body = serde_saphyr::to_string(model.file()).map_err(|e| ConfigError::Override {
            path: source.clone(),
            arg: labels.join(" "),
            detail: format!("cannot write the model back as YAML: {e}"),
        })?;
        model.text = format!("# {source} with {}\n{body}", labels.join(" "));
        Ok(model)
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
        if l.rule == LearningRule::Linearised {
            {
                if file.error.backward_input != BackwardInput::Constant {
                    return Err(invalid(
                        "error.backward_input",
                        "must be constant with learning.rule: linearised (it injects the window error)".into(),
                    ));
                }
                let steps = |w: f32| (w / i.dt).round();
                if steps(i.backward_window) != steps(i.forward_window) {
                    return Err(invalid(
                        "integration.backward_window",
                        format!(
                            "must equal integration.forward_window ({}) with learning.rule: linearised: its backward window replays the forward trajectory",
                            i.forward_window
                        ),
                    ));
                }
            }
        }
        check_optimiser(&file).map_err(|(field, detail)| invalid(field, detail))?;
        check_weight_decay(&file).map_err(|detail| invalid("learning.weight_decay", detail))?;
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
        check_async(&file).map_err(|(field, detail)| invalid(field, detail))?;

        // Before anything is sized from the layers (the trace section's neurons, the data,
        // the network).
        super::memory::check(&file).map_err(|(field, detail)| invalid(field, detail))?;
        if let Some(t) = &file.trace {
            t.resolve(layers)
                .map_err(|e| invalid(&format!("trace.{}", e.key), e.detail))?;
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

        let l = &file.learning;
        Ok(Model {
            path: path.map(Path::to_path_buf),
            name: file.name.clone(),
            seed: file.seed,
            engine: file.engine,
            data,
            train_limit: file.data.train_limit,
            test_limit: file.data.test_limit,
            network: NetworkSpec {
                layers: file.network.layers.clone(),
                connectivity: file_connectivity(&file),
                init: file.network.init,
            },
            neuron,
            settings: Settings::from_file(&file),
            training: Training {
                lr: l.lr,
                schedule: l.schedule,
                batch_size: l.batch_size,
                epochs: l.epochs,
                augment_shift: augment_shift(&file)
                    .map_err(|d| invalid("data.augment.shift", d))?,
            },
            asynchronous: AsyncSettings::from_section(&file.asynchronous),
            trace: file.trace.clone(),
            text: String::new(),
            file,
        })
    }

    /// The file as parsed: what a run directory's `model.yaml` and a checkpoint hold, and
    /// what a variant (`compare`, `bench`) is derived from before it is validated again.
    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    /// The model as YAML: the file's text as read, with a header naming the overrides
    /// when there were any (what a run directory's `model.yaml` holds). A model built from
    /// a [`ModelFile`] alone is written out from it.
    pub fn yaml(&self) -> String {
        if self.text.is_empty() {
            serde_saphyr::to_string(&self.file).unwrap_or_default()
        } else {
            self.text.clone()
        }
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
