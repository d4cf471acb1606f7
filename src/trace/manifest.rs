//! `manifest.json`: what a trace directory holds — run, model, seed, selection, time
//! convention, files, counts and status. Written atomically: `running` when the recording
//! starts (and refreshed every epoch), then `complete`, `interrupted` (Ctrl-C) or `failed`.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::OutputError;
use crate::fsutil::write_atomic;

/// Name of the manifest inside a trace directory.
pub const FILE_NAME: &str = "manifest.json";
/// Name of the trace directory inside a run directory.
pub const DIR_NAME: &str = "trace";
pub const FORMAT: &str = "bsp-sim-trace";
pub const VERSION: u32 = 1;

/// The trace directory of a run: `RUN_DIR/trace`, or `trace-2`, `trace-3`, ... when a
/// resumed run records again.
pub fn trace_dir(run_dir: &Path) -> PathBuf {
    let mut dir = run_dir.join(DIR_NAME);
    let mut k = 1;
    while dir.exists() {
        k += 1;
        dir = run_dir.join(format!("{DIR_NAME}-{k}"));
    }
    dir
}

/// Status of a recording.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceStatus {
    Running,
    Complete,
    /// Stopped early by the user (Ctrl-C); the files hold everything up to the last batch.
    Interrupted,
    /// Stopped early by an error (see `error`).
    Failed,
}

/// The time convention of the files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeInfo {
    /// Integration step of the engine (0 for an engine without a global step).
    pub dt: f64,
    /// T: the forward window runs over [0, T] of a presentation.
    pub forward_window: f64,
    /// T_b: the backward window runs over [T, T + T_b].
    pub backward_window: f64,
    /// Model time units per VCD tick.
    pub vcd_tick: f64,
    pub note: String,
}

/// Files of the trace directory (relative names), absent when not recorded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Files {
    pub events: Option<String>,
    pub states: Option<String>,
    pub vcd: Option<String>,
}

/// Records written so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Recorded (epoch, sample) presentations.
    pub presentations: u64,
    pub events: u64,
    pub states: u64,
}

/// The selection as recorded: the canonical spec and the neurons it resolved to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectionInfo {
    /// The spec string with every default filled in (`--trace` accepts it back).
    pub spec: String,
    /// Per network layer, the recorded neurons as ranges (`0-9`; empty: none).
    pub neurons: Vec<String>,
    pub waves: Vec<crate::trace::Wave>,
    pub events: bool,
    pub states: bool,
    pub every: usize,
    pub theta: f32,
    pub theta_backward: f32,
}

impl SelectionInfo {
    /// Per network layer, the recorded neurons.
    pub fn neuron_ids(&self) -> Vec<Vec<usize>> {
        self.neurons
            .iter()
            .map(|r| crate::trace::spec::parse_ranges(r).unwrap_or_default())
            .collect()
    }
}

/// `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub status: TraceStatus,
    pub error: Option<String>,
    pub run_id: String,
    pub model_name: String,
    pub seed: u64,
    pub engine: String,
    pub layers: Vec<usize>,
    pub selection: SelectionInfo,
    pub time: TimeInfo,
    pub files: Files,
    pub counts: Counts,
    pub started: String,
    pub finished: Option<String>,
}

impl Manifest {
    /// Writes the manifest into `dir` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), OutputError> {
        let json = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_atomic(&dir.join(FILE_NAME), json.as_bytes())
    }

    /// Reads `manifest.json` from a trace directory.
    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(FILE_NAME);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
