//! `manifest.json`: what a trace directory holds — run, model, seed, selection, time
//! convention, files, counts and status. Written atomically: `running` when the recording
//! starts, refreshed after every flush (the current epoch, and the length and rows of each
//! file that were complete at that flush), then `complete`, `interrupted` (Ctrl-C, SIGTERM)
//! or `failed`. It names its writer (pid, host): a reader that finds `running` but the run
//! directory's lock free knows the writer is gone, and reads only the complete part
//! ([`Manifest::state`], [`Manifest::complete`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::OutputError;
use crate::fsutil::{lock, write_status, write_status_quick, WriterInfo};

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

/// How much of a file was complete at the writer's last flush: its length in bytes and
/// its rows (for `waves.vcd`: value changes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub bytes: u64,
    pub rows: u64,
}

/// The complete part of each file, as of the last flush.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Complete {
    pub events: Option<Extent>,
    pub states: Option<Extent>,
    pub vcd: Option<Extent>,
}

/// What a trace directory's status means to a reader now.
#[derive(Debug, Clone, PartialEq)]
pub enum TraceState {
    /// The manifest's final status.
    Ended(TraceStatus),
    /// A live process holds the run directory's lock.
    Running { holder: String },
    /// `running`, but nobody holds the lock: the writer was killed in `epoch`; `complete`
    /// says which rows are whole.
    Vanished {
        epoch: usize,
        writer: Option<WriterInfo>,
        complete: Complete,
    },
    /// Written on another host, whose lock cannot be checked from here.
    Unknown { writer: WriterInfo },
}

impl std::fmt::Display for TraceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TraceState::Ended(s) => write!(f, "{}", format!("{s:?}").to_lowercase()),
            TraceState::Running { holder } => write!(f, "running ({holder})"),
            TraceState::Vanished {
                epoch,
                writer,
                complete,
            } => {
                write!(f, "interrupted at epoch {epoch}")?;
                if let Some(w) = writer {
                    write!(f, " (its writer, {w}, is gone)")?;
                }
                for (name, e) in [("events", complete.events), ("states", complete.states)] {
                    if let Some(e) = e {
                        write!(f, "; {name} rows 0..{} complete", e.rows)?;
                    }
                }
                Ok(())
            }
            TraceState::Unknown { writer } => write!(
                f,
                "running or stopped on another host ({writer}); check there"
            ),
        }
    }
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
    /// The training epoch being recorded (1-based; 0 before the first).
    #[serde(default)]
    pub epoch: usize,
    /// The complete part of each file at the last flush.
    #[serde(default)]
    pub complete: Complete,
    /// The process that writes (or wrote) the trace.
    #[serde(default)]
    pub writer: Option<WriterInfo>,
}

impl Manifest {
    /// Writes the manifest into `dir` as a status file: atomically and fsynced, rewritable
    /// in place on a full disk ([`crate::fsutil::write_status`]).
    pub fn write(&self, dir: &Path) -> Result<(), OutputError> {
        let json = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_status(&dir.join(FILE_NAME), json.as_bytes())
    }

    /// As [`Manifest::write`] without the fsyncs: the refresh after every flush.
    pub fn refresh(&self, dir: &Path) -> Result<(), OutputError> {
        let json = serde_json::to_string_pretty(self).expect("manifest serialises");
        write_status_quick(&dir.join(FILE_NAME), json.as_bytes())
    }

    /// What the status of the trace in `dir` means now: the run directory (`dir`'s parent)
    /// is locked while its writer lives.
    pub fn state(&self, dir: &Path) -> TraceState {
        if self.status != TraceStatus::Running {
            return TraceState::Ended(self.status);
        }
        let run_dir = dir.parent().unwrap_or(dir);
        match (lock::holder(run_dir), &self.writer) {
            (Some(holder), _) => TraceState::Running { holder },
            (None, Some(w)) if !w.is_this_host() => TraceState::Unknown { writer: w.clone() },
            (None, writer) => TraceState::Vanished {
                epoch: self.epoch,
                writer: writer.clone(),
                complete: self.complete.clone(),
            },
        }
    }

    /// Reads `manifest.json` from a trace directory.
    pub fn read(dir: &Path) -> Result<Manifest, String> {
        let path = dir.join(FILE_NAME);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
    }
}
