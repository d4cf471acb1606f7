//! Checkpoints: a versioned JSON file holding the model file, the seed, how many epochs are
//! done, the synaptic coefficients, the neurons' trained state and the metrics so far —
//! enough for `bsp-sim eval` and for `--resume` to continue exactly.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::ModelFile;
use crate::error::CheckpointError;
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
    /// Each synapse's optimiser state (`learning.optimiser` other than `sgd`), so that
    /// `--resume` continues exactly; absent for `sgd`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimiser: Option<OptimiserState>,
}

impl Checkpoint {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: ModelFile,
        seed: u64,
        epochs_done: usize,
        train_limit: Option<usize>,
        test_limit: Option<usize>,
        projections: Vec<Projection>,
        neurons: Vec<NeuronState>,
        metrics: Vec<EpochRecord>,
    ) -> Self {
        Checkpoint {
            format: FORMAT.to_string(),
            version: VERSION,
            model,
            seed,
            epochs_done,
            train_limit,
            test_limit,
            projections,
            neurons,
            metrics,
            optimiser: None,
        }
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

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("checkpoint serialises")
    }
}
