//! The command line's flags and subcommands (clap derive): what `bsp-sim --help` shows.
//! Flags that several subcommands share are one `Args` struct each, flattened into them.

use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};

/// The most worker threads `--threads` accepts.
pub const MAX_THREADS: usize = 256;

#[derive(Parser)]
#[command(
    name = "bsp-sim",
    version,
    about = "Simulate and train Wuxing ODE neuron networks by Backward Signal Propagation"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train a model and evaluate it after every epoch.
    Run(RunArgs),
    /// Train on one sample and record everything (all layers and neurons, both waves,
    /// events and states) into a new run directory.
    Trace(TraceArgs),
    /// Draw a run directory's metrics, weights, confusion matrix and traces as SVG and PNG
    /// into RUN_DIR/plots.
    Plot(PlotArgs),
    /// Evaluate a trained run (its directory or a checkpoint file) on the test set.
    Eval(EvalArgs),
    /// Run a model synchronously and asynchronously with the same seed and data, and print
    /// (and write) a side-by-side table: accuracy per epoch, time, events, deliveries,
    /// updates, staleness. Lists sweep the asynchronous side.
    Compare(CompareArgs),
    /// Check a model file and describe the network it builds.
    Validate(ValidateArgs),
    /// Causal distances (paper 3.2, Fig. 5): per-neuron tables, parameter distances, and the
    /// check dist_forward(a, b) == dist_reversed(b, a) over the model's whole network.
    Causal(CausalArgs),
    /// Gradient check: per layer pair, BSP's update G1 (and the linearised rule's)
    /// against the descent direction −∂L/∂C from the exact discrete adjoint of the
    /// synchronous engine's window: cosine, angle, sign agreement, norm ratio.
    Gradcheck(GradcheckArgs),
    /// Manage data sets.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Measure training throughput against a matrix-multiply roofline on this machine (the
    /// report opens with the machine: CPU, cores, vector units, date).
    Bench(BenchArgs),
}

/// `--data`: where the data set is looked for first.
#[derive(Args)]
pub struct DataDir {
    /// Look for the data set here first.
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
}

/// `--data` and `--offline`: where the data set comes from.
#[derive(Args)]
pub struct DataArgs {
    #[command(flatten)]
    pub dir: DataDir,
    /// Never download data.
    #[arg(long)]
    pub offline: bool,
}

/// `--threads`.
#[derive(Args)]
pub struct Threads {
    /// Worker threads, 1 to 256 (default: all cores); a seed's results do not depend on it.
    #[arg(long, value_parser = parse_threads)]
    pub threads: Option<usize>,
}

/// `--set`: overrides of single fields of the model file.
#[derive(Args)]
pub struct Sets {
    /// Override one field of the model file, typed and checked as if it were in the file,
    /// e.g. `--set learning.lr=0.01 --set engine=async`; repeatable, applied in order. A
    /// section or list is given whole in YAML flow style:
    /// `--set 'async.delay={kind: fixed, value: 0.5}'`.
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub set: Vec<String>,
}

/// `--quiet`.
#[derive(Args)]
pub struct Quiet {
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The length, size, seed and output of training runs (`run`, `compare`).
#[derive(Args)]
pub struct RunShape {
    /// Number of epochs (overrides learning.epochs).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Use only the first N training samples.
    #[arg(long)]
    pub train_limit: Option<usize>,
    /// Use only the first N test samples.
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Random seed (overrides the model's seed).
    #[arg(long)]
    pub seed: Option<u64>,
    #[command(flatten)]
    pub threads: Threads,
    /// Directory that receives the new run (or comparison) directory.
    #[arg(long, default_value = "traces")]
    pub out: PathBuf,
}

#[derive(Args)]
pub struct RunArgs {
    /// Model file (YAML), e.g. models/mnist.yaml; with --resume it may be left out (the
    /// run's own model is used), and must be the run's model if given.
    #[arg(required_unless_present = "resume")]
    pub model: Option<PathBuf>,
    #[command(flatten)]
    pub sets: Sets,
    #[command(flatten)]
    pub shape: RunShape,
    /// Continue the run in RUN_DIR from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub quiet: Quiet,
    /// Record traces: `key=value;...` with keys layers, neurons, samples, waves, what,
    /// every, theta, vcd (README, Traces); without a value, the defaults. Overrides the
    /// model's `trace:` section key by key.
    #[arg(long, value_name = "SPEC", num_args = 0..=1, default_missing_value = "")]
    pub trace: Option<String>,
    /// Record nothing, even if the model has a `trace:` section.
    #[arg(long, conflicts_with = "trace")]
    pub no_trace: bool,
    /// Gradient check (as `bsp-sim gradcheck`) on every N-th training batch, before its
    /// update; rows go to gradcheck.csv in the run directory.
    #[arg(long, value_name = "N", value_parser = at_least_one())]
    pub gradcheck_every: Option<usize>,
}

#[derive(Args)]
pub struct TraceArgs {
    /// Model file (YAML).
    pub model: PathBuf,
    #[command(flatten)]
    pub sets: Sets,
    /// Dataset index of the training sample.
    #[arg(long, value_name = "N")]
    pub sample: usize,
    /// Start from this run directory's or file's checkpoint instead of a fresh network.
    #[arg(long, value_name = "PATH")]
    pub checkpoint: Option<PathBuf>,
    /// Seed of the fresh network (default: the model's); a --checkpoint brings its own.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keys overriding "everything", e.g. `theta=0.01` or `every=5`.
    #[arg(long, value_name = "SPEC")]
    pub trace: Option<String>,
    /// Directory that receives the run directory.
    #[arg(long, default_value = "traces")]
    pub out: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args)]
pub struct PlotArgs {
    /// A run directory (`run`, `trace`), or a `compare` directory with sync/ and async/.
    pub run_dir: PathBuf,
    /// Neurons for the D(t)/D̂(t) plot and the element-state (J, S, M, H, T) figures, as
    /// layer:neuron pairs, e.g. `1:0,2:3` (default: the first recorded of each layer).
    #[arg(long, value_name = "L:N,...")]
    pub neurons: Option<String>,
    /// Draw this sample's presentation (default: the first recorded).
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
    /// Draw the presentation of this epoch (default: the first recorded); with --sample,
    /// that sample's presentation in this epoch.
    #[arg(long, value_name = "E")]
    pub epoch: Option<usize>,
    /// Output directory (default RUN_DIR/plots).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

#[derive(Args)]
pub struct EvalArgs {
    /// A run directory written by `bsp-sim run`, or a checkpoint.json.
    pub checkpoint: PathBuf,
    /// Use only the first N test samples (default: the run's own limit).
    #[arg(long)]
    pub test_limit: Option<usize>,
    /// Also write each test sample's predicted class to this CSV file (the columns of a run's
    /// predictions.csv: epoch, sample, label, predicted), written whole or not at all.
    #[arg(long, value_name = "FILE")]
    pub predictions: Option<PathBuf>,
    #[command(flatten)]
    pub threads: Threads,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args)]
pub struct CompareArgs {
    /// Model file (YAML).
    pub model: PathBuf,
    #[command(flatten)]
    pub sets: Sets,
    #[command(flatten)]
    pub shape: RunShape,
    /// Send-on-delta thresholds to sweep, e.g. `0,0.01,0.05`.
    #[arg(long, value_delimiter = ',', value_name = "THETA,...")]
    pub theta: Vec<f32>,
    /// Delay jitters J to sweep: delays uniform in [d, d + J] (model time units).
    #[arg(long, value_delimiter = ',', value_name = "J,...")]
    pub jitter: Vec<f32>,
    /// Sample intervals to sweep (model time units).
    #[arg(long, value_delimiter = ',', value_name = "I,...")]
    pub sample_interval: Vec<f32>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub quiet: Quiet,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// Model file (YAML).
    pub model: PathBuf,
    #[command(flatten)]
    pub sets: Sets,
}

#[derive(Args)]
pub struct CausalArgs {
    /// Model file (YAML); without it, a single neuron with input J and output S.
    pub model: Option<PathBuf>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    /// Check only N source elements, drawn with the model's seed (every target is
    /// still checked for each); the output says how many pairs were checked.
    #[arg(long, value_name = "N")]
    pub sample: Option<usize>,
}

#[derive(Args)]
pub struct GradcheckArgs {
    /// Model file (YAML).
    pub model: PathBuf,
    #[command(flatten)]
    pub sets: Sets,
    /// Samples in the minibatch (the first N training samples).
    #[arg(long, default_value_t = 100, value_parser = at_least_one())]
    pub batch: usize,
    /// Take the batch from the seeded order of epoch 1 instead of the first N samples.
    #[arg(long)]
    pub shuffle: bool,
    /// Coefficients from a run directory or checkpoint.json (default: the seed's
    /// initial ones); the model file must build the same network.
    #[arg(long, value_name = "RUN_DIR|CHECKPOINT")]
    pub checkpoint: Option<PathBuf>,
    /// Seed of the network and of --shuffle (default: the checkpoint's, else the model's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the report as JSON instead of Markdown.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub threads: Threads,
    #[command(flatten)]
    pub data: DataArgs,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Model file (YAML).
    pub model: PathBuf,
    #[command(flatten)]
    pub sets: Sets,
    /// Training samples to time (sync: per configuration and round).
    #[arg(long, default_value_t = 2000)]
    pub samples: usize,
    #[command(flatten)]
    pub threads: Threads,
    #[command(flatten)]
    pub data: DataDir,
}

#[derive(Subcommand)]
pub enum DataAction {
    /// Download a data set into the cache directory, verifying SHA-256 hashes.
    Fetch {
        /// The data set: mnist or fashion-mnist.
        name: String,
        /// Destination directory (default: the user cache dir).
        #[arg(long)]
        dest: Option<PathBuf>,
        /// Base URL to download from instead of the public mirrors: files are fetched from
        /// URL/<name>/, or from URL with `{dataset}` replaced by the name.
        #[arg(long)]
        mirror: Option<String>,
    },
}

/// A count of at least 1 (`--batch`, `--gradcheck-every`).
fn at_least_one() -> RangedU64ValueParser<usize> {
    RangedU64ValueParser::new().range(1..)
}

/// Parses `--threads`: a whole number from 1 to [`MAX_THREADS`].
fn parse_threads(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of threads"))?;
    match n {
        0 => Err("must be at least 1".into()),
        n if n > MAX_THREADS => Err(format!("must be at most {MAX_THREADS}")),
        n => Ok(n),
    }
}
