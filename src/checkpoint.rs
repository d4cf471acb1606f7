//! Checkpoints: a versioned JSON file holding the model file, the seed, how many epochs are
//! done, the synaptic coefficients, the neurons' trained state and the metrics so far —
//! enough for `bsp-sim eval` and for `--resume` to continue exactly — and the plan it was
//! trained under (planned epochs, thread count). A loaded checkpoint is checked against
//! itself and its own model before anything uses it ([`Checkpoint::check`]): a damaged or
//! hand-edited file is an error naming the file and the part, never a panic.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::{Model, ModelFile};
use crate::error::{CheckpointError, ConfigError};
use crate::learning::optimiser::OptimiserState;
use crate::neuron::NeuronState;
use crate::report::EpochRecord;
use crate::topology::Projection;

/// Name of the checkpoint file inside a run directory.
pub const FILE_NAME: &str = "checkpoint.json";
const FORMAT: &str = "bsp-sim-checkpoint";
const VERSION: u32 = 1;

/// Everything a run needs to be evaluated or resumed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: String,
    pub version: u32,
    pub model: ModelFile,
    pub seed: u64,
    /// Epochs completed.
    pub epochs_done: usize,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub projections: Vec<Projection>,
    pub neurons: Vec<NeuronState>,
    pub metrics: Vec<EpochRecord>,
    /// Epochs the run was planned for (absent in checkpoints written before it was kept:
    /// then the model's `learning.epochs`).
    #[serde(default)]
    pub epochs_planned: Option<usize>,
    /// Worker threads of the run that wrote it, for the record (results do not depend on
    /// it).
    #[serde(default)]
    pub threads: Option<usize>,
    /// Each synapse's optimiser state (`learning.optimiser` other than `sgd`), so that
    /// `--resume` continues exactly; absent for `sgd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimiser: Option<OptimiserState>,
}

/// How a run was trained, as a checkpoint keeps it for `--resume`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub seed: u64,
    pub epochs_done: usize,
    pub epochs_planned: usize,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub threads: usize,
}

impl Checkpoint {
    pub fn new(
        model: ModelFile,
        plan: Plan,
        projections: Vec<Projection>,
        neurons: Vec<NeuronState>,
        metrics: Vec<EpochRecord>,
    ) -> Self {
        Checkpoint {
            format: FORMAT.to_string(),
            version: VERSION,
            model,
            seed: plan.seed,
            epochs_done: plan.epochs_done,
            train_limit: plan.train_limit,
            test_limit: plan.test_limit,
            projections,
            neurons,
            metrics,
            epochs_planned: Some(plan.epochs_planned),
            threads: Some(plan.threads),
            optimiser: None,
        }
    }

    /// The checkpoint's own model, validated; an invalid one is the checkpoint's fault
    /// (`file` is named, once). `path` resolves a relative `data.dir`.
    pub fn model(&self, file: &Path, path: Option<&Path>) -> Result<Model, CheckpointError> {
        Model::from_file(self.model.clone(), path).map_err(|e| CheckpointError::Model {
            path: file.to_path_buf(),
            detail: match e {
                ConfigError::Invalid { field, detail, .. } => format!("field `{field}` {detail}"),
                other => other.to_string(),
            },
        })
    }

    /// Checks the checkpoint against itself and a network of `layers`: the
    /// epochs against the metrics and the plan, one neuron state per layer and neuron with
    /// finite positive rates, one projection per layer pair with the pair's sizes, dense
    /// coefficients `pre * post`, sparse rows (`row_ptr`) starting at 0, never decreasing
    /// and ending at the number of synapses, presynaptic indices (`col`) in range, and
    /// finite coefficients.
    pub fn check(&self, file: &Path, layers: &[usize]) -> Result<(), CheckpointError> {
        check(self, layers).map_err(|detail| CheckpointError::Invalid {
            path: file.to_path_buf(),
            detail,
        })
    }

    /// Reads a checkpoint from a file, or from `DIR/checkpoint.json` given a run directory.
    pub fn load(path: &Path) -> Result<(Checkpoint, PathBuf), CheckpointError> {
        let file = if path.is_dir() {
            path.join(FILE_NAME)
        } else {
            path.to_path_buf()
        };
        if !file.exists() {
            return Err(CheckpointError::Missing {
                path: path.to_path_buf(),
            });
        }
        let read_err = |detail: String| CheckpointError::Read {
            path: file.clone(),
            detail,
        };
        let text = std::fs::read_to_string(&file).map_err(|e| read_err(e.to_string()))?;
        let ck: Checkpoint = serde_json::from_str(&text).map_err(|e| {
            read_err(format!(
                "{e}; the file is damaged or not a bsp-sim checkpoint"
            ))
        })?;
        if ck.format != FORMAT || ck.version != VERSION {
            return Err(read_err(format!(
                "format {} version {} is not {FORMAT} version {VERSION}; re-run training with this bsp-sim",
                ck.format, ck.version
            )));
        }
        Ok((ck, file))
    }

    /// The epochs planned: as stored, else the model's.
    pub fn epochs_planned(&self, model: &Model) -> usize {
        self.epochs_planned.unwrap_or(model.training.epochs)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("checkpoint serialises")
    }

    /// Streams the checkpoint's JSON (what [`Checkpoint::to_json`] returns) into `w`.
    pub fn write_json(&self, w: &mut dyn std::io::Write) -> std::io::Result<()> {
        serde_json::to_writer(w, self).map_err(std::io::Error::other)
    }
}

fn check(ck: &Checkpoint, layers: &[usize]) -> Result<(), String> {
    if ck.metrics.len() != ck.epochs_done {
        return Err(format!(
            "epochs_done is {} but the metrics hold {} epochs",
            ck.epochs_done,
            ck.metrics.len()
        ));
    }
    if let Some(planned) = ck.epochs_planned {
        if ck.epochs_done > planned {
            return Err(format!(
                "epochs_done ({}) is beyond the {planned} epochs planned",
                ck.epochs_done
            ));
        }
    }
    if ck.neurons.len() != layers.len() {
        return Err(format!(
            "`neurons` holds {} layers, the model's network has {}",
            ck.neurons.len(),
            layers.len()
        ));
    }
    for (l, (state, &n)) in ck.neurons.iter().zip(layers).enumerate() {
        if state.k3_out.len() != n {
            return Err(format!(
                "`neurons[{l}]` holds {} neurons, layer {l} has {n}",
                state.k3_out.len()
            ));
        }
        if let Some(j) = state
            .k3_out
            .iter()
            .position(|k| !(k.is_finite() && *k > 0.0))
        {
            return Err(format!(
                "`neurons[{l}].k3_out[{j}]` is {}, not a finite rate > 0",
                state.k3_out[j]
            ));
        }
    }
    let pairs = layers.len().saturating_sub(1);
    if ck.projections.len() != pairs {
        return Err(format!(
            "`projections` holds {} layer pairs, the model's network has {pairs}",
            ck.projections.len()
        ));
    }
    for (l, p) in ck.projections.iter().enumerate() {
        let (pre, post) = (layers[l], layers[l + 1]);
        if p.pre() != pre || p.post() != post {
            return Err(format!(
                "`projections[{l}]` connects {} to {} neurons, layer pair {l} is {pre} to {post}",
                p.pre(),
                p.post()
            ));
        }
        check_projection(p).map_err(|d| format!("`projections[{l}]`: {d}"))?;
    }
    Ok(())
}

fn check_projection(p: &Projection) -> Result<(), String> {
    match p {
        Projection::Dense { pre, post, c } => {
            if Some(c.len()) != pre.checked_mul(*post) {
                return Err(format!(
                    "a dense pair of {pre} x {post} needs {} coefficients, it holds {}",
                    pre.saturating_mul(*post),
                    c.len()
                ));
            }
        }
        Projection::Sparse {
            pre,
            post,
            row_ptr,
            col,
            c,
        } => {
            if row_ptr.len() != post + 1 {
                return Err(format!(
                    "`row_ptr` has {} entries, {post} rows need {}",
                    row_ptr.len(),
                    post + 1
                ));
            }
            if row_ptr[0] != 0 {
                return Err(format!("`row_ptr` starts at {}, not 0", row_ptr[0]));
            }
            if let Some(j) = row_ptr.windows(2).position(|w| w[1] < w[0]) {
                return Err(format!(
                    "`row_ptr` decreases at row {j} ({} then {})",
                    row_ptr[j],
                    row_ptr[j + 1]
                ));
            }
            if row_ptr[*post] != c.len() || col.len() != c.len() {
                return Err(format!(
                    "`row_ptr` ends at {}, `col` has {} entries and `c` {}: all three must agree",
                    row_ptr[*post],
                    col.len(),
                    c.len()
                ));
            }
            if let Some(k) = col.iter().position(|&i| i as usize >= *pre) {
                return Err(format!(
                    "`col[{k}]` is {}, beyond the {pre} presynaptic neurons",
                    col[k]
                ));
            }
        }
    }
    if let Some(k) = p.coefficients().iter().position(|c| !c.is_finite()) {
        return Err(format!("coefficient {k} is not finite"));
    }
    Ok(())
}
