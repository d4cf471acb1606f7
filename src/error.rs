//! Errors of the library, one enum per subsystem folded into [`enum@Error`]. Messages are
//! lower-case, name the file, field, layer or sample concerned, and say what to do next.
//!
//! An operating-system error is written into the message of the error that wraps it and
//! kept in a field named `cause`, not `source`: were it also the `source()`, every printer
//! of the whole chain (the binary's `{:#}`) would repeat it.

use std::path::PathBuf;

use thiserror::Error;

use crate::data::DataError;

/// A model file that cannot be read, parsed or accepted.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read model file {path}: {cause}")]
    Read {
        path: PathBuf,
        cause: std::io::Error,
    },
    #[error("{path}: invalid YAML: {detail}\nfix the field at the line and column shown (models/mnist.yaml documents every field)")]
    Parse { path: String, detail: String },
    #[error("{path}: {arg}: {detail}\nfix the field path or the value (models/mnist.yaml documents every field; a section is set whole in YAML flow style, e.g. --set 'learning.schedule={{kind: constant}}')")]
    Override {
        path: String,
        arg: String,
        detail: String,
    },
    #[error("{path}: field `{field}` {detail}")]
    Invalid {
        path: String,
        field: String,
        detail: String,
    },
}

/// A simulation that could not go on.
#[derive(Debug, Error)]
pub enum SimError {
    #[error(
        "the {phase} integration diverged: a state of layer {layer} became non-finite on sample {sample} (dataset index); \
         lower learning.lr, turn on the limiter (learning.kt: 0.1), lower error.scale (e.g. 0.1) to keep the reversed units linear, \
         or lower integration.dt (now {dt})"
    )]
    NonFinite {
        phase: &'static str,
        layer: usize,
        sample: usize,
        dt: f32,
    },
    #[error(
        "the reverse pass of learning.rule `adjoint`/`linearised` diverged: an adjoint of layer {layer} became non-finite on sample {sample} (dataset index); \
         the forward window's linearisation is unstable where explicit steps are (dt * k3 * state > 2, dt = {dt}): lower learning.lr, \
         or use integration.method: semi_implicit, which stays stable at any state size"
    )]
    AdjointDiverged {
        layer: usize,
        sample: usize,
        dt: f32,
    },
    #[error(
        "the data has {found} values per sample but network.layers[0] is {expected}; \
         set network.layers[0] to {found}"
    )]
    InputSize { expected: usize, found: usize },
    #[error(
        "the data has {found} classes but the output layer (last of network.layers) has {expected} neurons; \
         set it to {found}"
    )]
    OutputSize { expected: usize, found: usize },
    #[error(
        "method 1 moved neuron {neuron} of layer {layer} to rates without a positive fixed point ({detail}); \
         lower learning.lr"
    )]
    FixedPoint {
        layer: usize,
        neuron: usize,
        detail: String,
    },
    #[error("a worker thread panicked while {during}: {message}")]
    WorkerPanic { during: String, message: String },
    #[error("no training samples for {during}; raise data.train_limit or --batch")]
    NoSamples { during: String },
    #[error("engine `{0}` is not implemented yet; use `engine: sync`")]
    EngineUnavailable(String),
    #[error("the {0} engine does not record traces yet; run without --trace (and without a trace: section) or use `engine: sync`")]
    TraceUnsupported(String),
    #[error("learning.rule: {0} on the synchronous engine runs its backward pass on a tape and records no waves; run without --trace (and without a trace: section), or with engine: async, which records both waves of `linearised`")]
    RuleNotRecorded(&'static str),
    /// An error one rank of an MPI job met, as every rank learns it at the next exchange
    /// (the lowest failing rank's, so that all ranks end with the same error).
    #[error("rank {rank} of {ranks}: {message}")]
    Rank {
        rank: usize,
        ranks: usize,
        message: String,
        /// The exit code the error has on its own rank.
        code: u8,
    },
    #[error("rank {rank} of {ranks}: {what} had no answer from every rank within {seconds} s (BSP_SIM_MPI_TIMEOUT): a rank died or hangs; the job ends")]
    ExchangeTimeout {
        rank: usize,
        ranks: usize,
        what: String,
        seconds: u64,
    },
    #[error("{what} cannot run across {ranks} MPI ranks: {detail}")]
    NotDistributed {
        what: String,
        ranks: usize,
        detail: String,
    },
}

impl SimError {
    /// The exit code of `bsp-sim` for this error: 2 for a request the model or data cannot
    /// serve, the failing rank's own code for a rank's error, else 1.
    pub fn exit_code(&self) -> u8 {
        match self {
            // A request the model cannot serve, not a failure of the run.
            SimError::TraceUnsupported(_)
            | SimError::RuleNotRecorded(_)
            | SimError::NotDistributed { .. }
            // Data whose shape does not fit the network: bad input, not a failed run.
            | SimError::InputSize { .. }
            | SimError::OutputSize { .. } => 2,
            SimError::Rank { code, .. } => *code,
            _ => 1,
        }
    }
}

/// A trace selection (`--trace` spec or `trace:` section) that cannot be used.
#[derive(Debug, Error)]
#[error(
    "{origin}: `{key}` {detail}; a trace spec is key=value pairs separated by `;` with keys \
     layers, neurons, samples, waves, what, every, theta, vcd (README, section Traces), \
     e.g. `layers=1,2;neurons=0-9;samples=every:100`"
)]
pub struct TraceError {
    /// `--trace` or the model file's `trace:` section.
    pub origin: String,
    pub key: String,
    pub detail: String,
}

/// A plot that cannot be drawn.
#[derive(Debug, Error)]
pub enum PlotError {
    #[error("cannot read {path}: {detail}; pass a run directory written by `bsp-sim run`, `trace` or `compare`")]
    Input { path: PathBuf, detail: String },
    #[error("{dir} has nothing to plot (no metrics.csv, no trace/ with events or states); pass a run directory written by `bsp-sim run`, `trace` or `compare`")]
    Nothing { dir: PathBuf },
    #[error("no font for the labels: looked for {tried}; install a TrueType font (Debian: apt-get install fonts-dejavu-core) or set BSP_SIM_FONT=/path/to/font.ttf")]
    NoFont { tried: String },
    #[error("cannot draw {path}: {detail}; check free disk space and permissions")]
    Draw { path: PathBuf, detail: String },
    #[error("--neurons: `{0}` is not a list of layer:neuron pairs; write e.g. `1:0,2:3`")]
    Neurons(String),
    #[error("{what} was not recorded in {trace}; recorded: {recorded}")]
    NotRecorded {
        what: String,
        trace: PathBuf,
        recorded: String,
    },
    #[error("{dir} holds {count} runs; plot one of them:\n  {list}")]
    SeveralRuns {
        dir: PathBuf,
        count: usize,
        list: String,
    },
}

/// A checkpoint or run directory that cannot be used.
#[derive(Debug, Error)]
pub enum CheckpointError {
    #[error("cannot read checkpoint {path}: {detail}")]
    Read { path: PathBuf, detail: String },
    #[error("checkpoint {path} does not match the model: {detail}")]
    Mismatch { path: PathBuf, detail: String },
    #[error("{path} holds no checkpoint (looked for checkpoint.json); pass a run directory written by `bsp-sim run` or a checkpoint file")]
    Missing { path: PathBuf },
    #[error("checkpoint {path} holds an invalid model: {detail}; the file is damaged or was edited by hand: resume or evaluate another run")]
    Model { path: PathBuf, detail: String },
    #[error("checkpoint {path} is not consistent: {detail}; the file is damaged or was edited by hand: resume or evaluate another run")]
    Invalid { path: PathBuf, detail: String },
    #[error("--resume {dir}: {detail}")]
    Plan { dir: PathBuf, detail: String },
}

/// A run directory that another live process writes (it holds the directory's lock).
#[derive(Debug, Error)]
#[error("{dir} is being written by another bsp-sim process ({holder}); wait for it to end or stop it (Ctrl-C, kill -TERM), or use another run directory")]
pub struct BusyError {
    pub dir: PathBuf,
    pub holder: String,
}

/// A run or evaluation left without samples (its accuracy would read 0.00%).
#[derive(Debug, Error)]
#[error(
    "no {set} samples ({cause}): an empty set has no accuracy to report; use a limit of at least 1"
)]
pub struct EmptySet {
    /// `test` or `training`.
    pub set: &'static str,
    /// The flag or field that emptied it.
    pub cause: String,
}

/// Errors of the causal-distance tool (`bsp-sim causal`).
#[derive(Debug, Error)]
pub enum CausalError {
    #[error("--sample must be at least 1 (it is the number of source elements to check); omit it to check every pair")]
    EmptySample,
}

/// Writing outputs failed.
#[derive(Debug, Error)]
#[error(
    "cannot write {path}: {cause}; check free disk space and permissions, or choose another --out"
)]
pub struct OutputError {
    pub path: PathBuf,
    pub cause: std::io::Error,
}

/// Any library error.
#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Sim(#[from] SimError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error(transparent)]
    Causal(#[from] CausalError),
    #[error(transparent)]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Plot(#[from] PlotError),
    #[error(transparent)]
    Busy(#[from] BusyError),
    #[error(transparent)]
    Empty(#[from] EmptySet),
    #[error("interrupted (Ctrl-C or SIGTERM) in epoch {epoch}; outputs are marked interrupted and {advice}")]
    Interrupted {
        epoch: usize,
        run_dir: PathBuf,
        /// What to do next: `--resume RUN_DIR` when an epoch is checkpointed, else start
        /// again.
        advice: String,
    },
}

impl Error {
    /// The exit code of `bsp-sim` when a command ends with this error: 2 when the user's
    /// input is at fault (model file, data, checkpoint, causal options, trace spec, plot
    /// input, a run directory another process writes, an empty test set), 130 when Ctrl-C
    /// or SIGTERM interrupted the run, and 1 when the run itself failed
    /// (diverging simulation, outputs that cannot be written, a figure that cannot be
    /// drawn).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Interrupted { .. } => 130,
            Error::Sim(e) => e.exit_code(),
            Error::Plot(PlotError::Draw { .. }) | Error::Output(_) => 1,
            Error::Config(_)
            | Error::Data(_)
            | Error::Checkpoint(_)
            | Error::Causal(_)
            | Error::Trace(_)
            | Error::Plot(_)
            | Error::Busy(_)
            | Error::Empty(_) => 2,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
