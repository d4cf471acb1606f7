//! Run outputs: per-epoch metrics (`metrics.csv`), the last evaluation's test predictions
//! (`predictions.csv`, for a confusion matrix) and the run summary (`summary.json`),
//! written atomically with [`crate::fsutil::write_atomic`] (the summary after every epoch,
//! as a status file: [`crate::fsutil::write_status`]), so a reader never sees a
//! half-written file presented as complete; and [`RunState`], what a reader makes of a run
//! directory whose summary says `running`: still running (its writer holds the directory's
//! lock) or interrupted at its last complete epoch (the writer is gone).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil::{lock, WriterInfo};

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
    /// Threads over all ranks: per rank times `ranks` (the one-process run with this many
    /// threads gives the same numbers).
    pub threads: usize,
    /// MPI ranks (absent: one process).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ranks: Option<usize>,
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
    /// The training and test limits (the first N samples), if any.
    #[serde(default)]
    pub train_limit: Option<usize>,
    #[serde(default)]
    pub test_limit: Option<usize>,
    /// The process that writes (or wrote) this run directory.
    #[serde(default)]
    pub writer: Option<WriterInfo>,
    /// What `--resume` changed in the plan stored in the checkpoint (e.g. `epochs_planned
    /// 2 -> 4 (--epochs)`), one entry per change.
    #[serde(default)]
    pub plan_changes: Vec<String>,
    /// Across MPI ranks: the exchanges so far (how many of each kind, and the bytes all
    /// ranks sent in them); absent for one process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<crate::distributed::Traffic>,
}

impl Summary {
    /// Reads `DIR/summary.json`.
    pub fn read(dir: &Path) -> Result<Summary, String> {
        let path = dir.join(SUMMARY_FILE);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Writes `DIR/summary.json` as a status file (atomically, fsynced; rewritable in place
    /// on a full disk).
    pub fn write(&self, dir: &Path) -> Result<(), crate::error::OutputError> {
        let json = serde_json::to_string_pretty(self).expect("summary serialises");
        crate::fsutil::write_status(&dir.join(SUMMARY_FILE), json.as_bytes())
    }

    /// What this summary, read from `dir`, means now: see [`RunState`].
    pub fn state(&self, dir: &Path) -> RunState {
        if self.status != RunStatus::Running {
            return RunState::Ended(self.status);
        }
        match (lock::holder(dir), &self.writer) {
            (Some(holder), _) => RunState::Running { holder },
            (None, Some(w)) if !w.is_this_host() => RunState::Unknown { writer: w.clone() },
            (None, writer) => RunState::Vanished {
                epochs_done: self.epochs_done,
                writer: writer.clone(),
            },
        }
    }
}

/// Name of the summary inside a run directory.
pub const SUMMARY_FILE: &str = "summary.json";

/// What a run directory's status means to a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunState {
    /// The summary's final status (`complete`, `interrupted`, `failed`).
    Ended(RunStatus),
    /// A live process holds the directory's lock and writes it.
    Running { holder: String },
    /// The summary says `running` but nobody holds the lock: the writer was killed (kill -9,
    /// a second Ctrl-C, power loss) after `epochs_done` complete epochs.
    Vanished {
        epochs_done: usize,
        writer: Option<WriterInfo>,
    },
    /// The writer ran on another host, whose lock cannot be checked from here.
    Unknown { writer: WriterInfo },
}

impl std::fmt::Display for RunState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunState::Ended(s) => write!(f, "{}", format!("{s:?}").to_lowercase()),
            RunState::Running { holder } => write!(f, "running ({holder})"),
            RunState::Vanished {
                epochs_done,
                writer,
            } => {
                write!(f, "interrupted at epoch {}", epochs_done + 1)?;
                if let Some(w) = writer {
                    write!(f, " (its writer, {w}, is gone)")?;
                }
                match epochs_done {
                    0 => write!(f, "; no epoch complete"),
                    n => write!(f, "; epochs 1..{n} complete"),
                }
            }
            RunState::Unknown { writer } => write!(
                f,
                "running or stopped on another host ({writer}); check there"
            ),
        }
    }
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

/// The file in a run directory that holds the last evaluated epoch's test predictions.
pub const PREDICTIONS_FILE: &str = "predictions.csv";

/// One test sample's prediction: a row of `predictions.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// The epoch after which the test set was evaluated (1-based).
    pub epoch: usize,
    /// The sample's index in the test set.
    pub sample: usize,
    /// Its class.
    pub label: usize,
    /// The class the network predicted: the argmax of its readout.
    pub predicted: usize,
}

/// Renders predictions as CSV with a header row.
pub fn predictions_csv(rows: &[Prediction]) -> Vec<u8> {
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in rows {
        w.serialize(r).expect("in-memory csv");
    }
    w.into_inner().expect("in-memory csv")
}

/// Reads `predictions.csv` back.
pub fn read_predictions(path: &Path) -> Result<Vec<Prediction>, String> {
    let mut rd = csv::Reader::from_path(path).map_err(|e| format!("{}: {e}", path.display()))?;
    rd.deserialize()
        .collect::<Result<Vec<Prediction>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}
