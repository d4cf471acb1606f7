//! Run outputs: per-epoch metrics (`metrics.csv`), the run summary (`summary.json`) and
//! atomic file writes, so a reader never sees a half-written file presented as complete.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::OutputError;

/// One epoch's measurements: a row of `metrics.csv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// 1-based epoch number.
    pub epoch: usize,
    pub engine: String,
    pub lr: f32,
    pub train_samples: usize,
    /// Mean loss and accuracy over the epoch's training minibatches (before each update).
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub test_samples: usize,
    pub test_loss: f64,
    pub test_accuracy: f64,
    /// Wall time of the epoch's training (without evaluation), seconds.
    pub train_seconds: f64,
    pub samples_per_second: f64,
}

/// Status of a run as written in `summary.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Complete,
    /// Stopped by the user (Ctrl-C) between two batches.
    Interrupted,
    Failed,
}

/// `summary.json`: what was run and what it reached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    pub status: RunStatus,
    pub run_id: String,
    pub model_name: String,
    pub model_path: Option<String>,
    pub engine: String,
    pub seed: u64,
    pub threads: usize,
    pub git_commit: Option<String>,
    pub bsp_sim_version: String,
    pub started: String,
    pub epochs_done: usize,
    pub epochs_planned: usize,
    pub train_samples: usize,
    pub test_samples: usize,
    pub wall_seconds: f64,
    pub final_test_accuracy: Option<f64>,
    pub best_test_accuracy: Option<f64>,
    pub error: Option<String>,
    pub metrics: Vec<EpochRecord>,
    /// Work the engine did (events, deliveries, updates, staleness).
    #[serde(default)]
    pub counters: crate::engine::Counters,
}

/// Writes `contents` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let out_err = |source| OutputError {
        path: path.to_path_buf(),
        cause: source,
    };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(out_err(e));
    }
    Ok(())
}

/// Renders the metrics as CSV with a header row.
pub fn metrics_csv(records: &[EpochRecord]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.serialize(r).expect("in-memory csv");
    }
    w.into_inner().expect("in-memory csv")
}

/// Reads `metrics.csv` back.
pub fn read_metrics(path: &Path) -> Result<Vec<EpochRecord>, String> {
    let mut rd = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rd.deserialize()
        .collect::<Result<Vec<EpochRecord>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Creates `dir` (and parents), naming the directory in the error.
pub fn create_dir(dir: &Path) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    Ok(dir.to_path_buf())
}
