//! The command line's flags and subcommands (clap derive): what `bsp-sim --help` shows.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

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
    Run {
        /// Model file (YAML), e.g. models/mnist.yaml.
        model: PathBuf,
        /// Number of epochs (overrides learning.epochs).
        #[arg(long)]
        epochs: Option<usize>,
        /// Use only the first N training samples.
        #[arg(long)]
        train_limit: Option<usize>,
        /// Use only the first N test samples.
        #[arg(long)]
        test_limit: Option<usize>,
        /// Random seed (overrides the model's seed).
        #[arg(long)]
        seed: Option<u64>,
        /// Worker threads (default: all cores); results do not depend on it.
        #[arg(long)]
        threads: Option<usize>,
        /// Directory that receives the run directory.
        #[arg(long, default_value = "traces")]
        out: PathBuf,
        /// Continue the run in RUN_DIR from its last checkpoint.
        #[arg(long, value_name = "RUN_DIR")]
        resume: Option<PathBuf>,
        /// Look for the data set here first.
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        /// Never download data.
        #[arg(long)]
        offline: bool,
        /// No progress bars.
        #[arg(long, short)]
        quiet: bool,
        /// Record traces: `key=value;...` with keys layers, neurons, samples, waves, what,
        /// every, theta, vcd (README, Traces); without a value, the defaults. Overrides the
        /// model's `trace:` section key by key.
        #[arg(long, value_name = "SPEC", num_args = 0..=1, default_missing_value = "")]
        trace: Option<String>,
        /// Record nothing, even if the model has a `trace:` section.
        #[arg(long, conflicts_with = "trace")]
        no_trace: bool,
        /// Gradient check (as `bsp-sim gradcheck`) on every N-th training batch, before its
        /// update; rows go to gradcheck.csv in the run directory.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        gradcheck_every: Option<u64>,
    },
    /// Train on one sample and record everything (all layers and neurons, both waves,
    /// events and states) into a new run directory.
    Trace {
        /// Model file (YAML).
        model: PathBuf,
        /// Dataset index of the training sample.
        #[arg(long, value_name = "N")]
        sample: usize,
        /// Start from this run directory's or file's checkpoint instead of a fresh network.
        #[arg(long, value_name = "PATH")]
        checkpoint: Option<PathBuf>,
        #[arg(long)]
        seed: Option<u64>,
        /// Keys overriding "everything", e.g. `theta=0.01` or `every=5`.
        #[arg(long, value_name = "SPEC")]
        trace: Option<String>,
        /// Directory that receives the run directory.
        #[arg(long, default_value = "traces")]
        out: PathBuf,
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[arg(long)]
        offline: bool,
    },
    /// Draw a run directory's metrics and traces as SVG and PNG into RUN_DIR/plots.
    Plot {
        /// A run directory (`run`, `trace`), or a `compare` directory with sync/ and async/.
        run_dir: PathBuf,
        /// Neurons for the D(t)/D̂(t) plot, as layer:neuron pairs, e.g. `1:0,2:3`.
        #[arg(long, value_name = "L:N,...")]
        neurons: Option<String>,
        /// Draw this sample's presentation (default: the first recorded).
        #[arg(long, value_name = "N")]
        sample: Option<usize>,
        /// ... in this epoch.
        #[arg(long, value_name = "E")]
        epoch: Option<usize>,
        /// Output directory (default RUN_DIR/plots).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Evaluate a trained run (its directory or a checkpoint file) on the test set.
    Eval {
        /// A run directory written by `bsp-sim run`, or a checkpoint.json.
        checkpoint: PathBuf,
        #[arg(long)]
        test_limit: Option<usize>,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[arg(long)]
        offline: bool,
    },
    /// Run a model synchronously and asynchronously with the same seed and data, and print
    /// (and write) a side-by-side table: accuracy per epoch, time, events, deliveries,
    /// updates, staleness. Lists sweep the asynchronous side.
    Compare {
        model: PathBuf,
        #[arg(long)]
        epochs: Option<usize>,
        #[arg(long)]
        train_limit: Option<usize>,
        #[arg(long)]
        test_limit: Option<usize>,
        #[arg(long)]
        seed: Option<u64>,
        #[arg(long)]
        threads: Option<usize>,
        /// Send-on-delta thresholds to sweep, e.g. `0,0.01,0.05`.
        #[arg(long, value_delimiter = ',', value_name = "THETA,...")]
        theta: Vec<f32>,
        /// Delay jitters J to sweep: delays uniform in [d, d + J] (model time units).
        #[arg(long, value_delimiter = ',', value_name = "J,...")]
        jitter: Vec<f32>,
        /// Sample intervals to sweep (model time units).
        #[arg(long, value_delimiter = ',', value_name = "I,...")]
        sample_interval: Vec<f32>,
        /// Directory that receives the comparison directory.
        #[arg(long, default_value = "traces")]
        out: PathBuf,
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[arg(long)]
        offline: bool,
        #[arg(long, short)]
        quiet: bool,
    },
    /// Check a model file and describe the network it builds.
    Validate { model: PathBuf },
    /// Causal distances (paper 3.2, Fig. 5): per-neuron tables, parameter distances, and the
    /// check dist_forward(a, b) == dist_reversed(b, a) over the model's whole network.
    Causal {
        /// Model file (YAML); without it, a single neuron with input J and output S.
        model: Option<PathBuf>,
        /// Print the report as JSON instead of Markdown.
        #[arg(long)]
        json: bool,
        /// Check only N source elements, drawn with the model's seed (every target is
        /// still checked for each); the output says how many pairs were checked.
        #[arg(long, value_name = "N")]
        sample: Option<usize>,
    },
    /// Gradient check (issue 5): per layer pair, BSP's update G1 (and the linearised rule's)
    /// against the descent direction −∂L/∂C from the exact discrete adjoint of the
    /// synchronous engine's window: cosine, angle, sign agreement, norm ratio.
    Gradcheck {
        /// Model file (YAML).
        model: PathBuf,
        /// Samples in the minibatch (the first N training samples).
        #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
        batch: u64,
        /// Take the batch from the seeded order of epoch 1 instead of the first N samples.
        #[arg(long)]
        shuffle: bool,
        /// Coefficients from a run directory or checkpoint.json (default: the seed's
        /// initial ones); the model file must build the same network.
        #[arg(long, value_name = "RUN_DIR|CHECKPOINT")]
        checkpoint: Option<PathBuf>,
        /// Seed of the network and of --shuffle (default: the checkpoint's, else the model's).
        #[arg(long)]
        seed: Option<u64>,
        /// Print the report as JSON instead of Markdown.
        #[arg(long)]
        json: bool,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
        #[arg(long)]
        offline: bool,
    },
    /// Manage data sets.
    Data {
        #[command(subcommand)]
        action: DataAction,
    },
    /// Measure training throughput against a matrix-multiply roofline on this machine.
    Bench {
        model: PathBuf,
        /// Training samples to time.
        #[arg(long, default_value_t = 2000)]
        samples: usize,
        #[arg(long)]
        threads: Option<usize>,
        #[arg(long, value_name = "DIR")]
        data: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub enum DataAction {
    /// Download a data set into the cache directory, verifying SHA-256 hashes.
    Fetch {
        /// mnist or fashion-mnist
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
