//! The `bsp-sim` command line: parses flags, calls the library, draws progress bars, prints
//! results and maps errors to exit codes (1: the run failed, 2: bad input or usage).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use bsp_sim::data::{fetch, DatasetName};
use bsp_sim::engine::Tally;
use bsp_sim::report::{EpochRecord, Summary};
use bsp_sim::run::{self, Observer, RunOptions};
use bsp_sim::{Error, Model};

#[derive(Parser)]
#[command(
    name = "bsp-sim",
    version,
    about = "Simulate and train Wuxing ODE neuron networks by Backward Signal Propagation"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
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
enum DataAction {
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            let interrupted = matches!(e.downcast_ref::<Error>(), Some(Error::Interrupted { .. }));
            ExitCode::from(if interrupted {
                130
            } else if is_input_error(&e) {
                2
            } else {
                1
            })
        }
    }
}

/// Whether the user's input (model file, data, checkpoint) is at fault rather than the run.
fn is_input_error(e: &anyhow::Error) -> bool {
    use bsp_sim::error::{CheckpointError, ConfigError};
    e.downcast_ref::<ConfigError>().is_some()
        || e.downcast_ref::<bsp_sim::data::DataError>().is_some()
        || e.downcast_ref::<CheckpointError>().is_some()
        || e.downcast_ref::<bsp_sim::error::TraceError>().is_some()
        || matches!(
            e.downcast_ref::<bsp_sim::error::PlotError>(),
            Some(p) if !matches!(p, bsp_sim::error::PlotError::Draw { .. })
        )
        || matches!(
            e.downcast_ref::<Error>(),
            Some(
                Error::Config(_)
                    | Error::Data(_)
                    | Error::Checkpoint(_)
                    | Error::Causal(_)
                    | Error::Trace(_)
            )
        )
        || matches!(
            e.downcast_ref::<Error>(),
            Some(Error::Plot(p)) if !matches!(p, bsp_sim::error::PlotError::Draw { .. })
        )
}

fn git_commit() -> Option<String> {
    Some(env!("BSP_SIM_GIT_COMMIT").to_string()).filter(|s| !s.is_empty())
}

fn dispatch(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Run {
            model,
            epochs,
            train_limit,
            test_limit,
            seed,
            threads,
            out,
            resume,
            data,
            offline,
            quiet,
            trace,
            no_trace,
            gradcheck_every,
        } => {
            let path = model;
            let model = Model::load(&path)?;
            let trace = trace.as_deref().map(parse_trace).transpose()?;
            let opts = RunOptions {
                epochs,
                train_limit,
                test_limit,
                seed,
                threads,
                out,
                resume,
                data_dir: data,
                offline,
                git_commit: git_commit(),
                run_name: None,
                trace,
                no_trace,
                stop: Some(stop_on_ctrl_c()),
                gradcheck_every: gradcheck_every.map(|n| n as usize),
            };
            let mut obs = Console::new(quiet);
            let outcome =
                run::run(&model, &opts, &mut obs).with_context(|| format!("{}", path.display()))?;
            let s = &outcome.summary;
            println!(
                "done: {} epochs in {:.1} s; final test accuracy {}; outputs in {}",
                s.epochs_done,
                s.wall_seconds,
                s.final_test_accuracy
                    .map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a)),
                outcome.run_dir.display()
            );
            Ok(())
        }
        Command::Trace {
            model,
            sample,
            checkpoint,
            seed,
            trace,
            out,
            data,
            offline,
        } => {
            let m = Model::load(&model)?;
            let opts = bsp_sim::trace::sample::SampleOptions {
                sample,
                checkpoint,
                seed,
                out,
                data_dir: data,
                offline,
                spec: trace.as_deref().map(parse_trace).transpose()?,
            };
            let o = bsp_sim::trace::sample::record_sample(&m, &opts)
                .with_context(|| format!("{}", model.display()))?;
            let c = &o.manifest.counts;
            println!(
                "sample {sample} (label {}): loss {:.4}, {}; {} events, {} state rows",
                o.label,
                o.tally.mean_loss(),
                if o.tally.correct == 1 {
                    "predicted right"
                } else {
                    "predicted wrong"
                },
                c.events,
                c.states
            );
            println!("trace in {}", o.trace_dir.display());
            for f in [
                &o.manifest.files.events,
                &o.manifest.files.states,
                &o.manifest.files.vcd,
            ]
            .into_iter()
            .flatten()
            {
                println!("  {}", o.trace_dir.join(f).display());
            }
            println!("  {}", o.trace_dir.join("manifest.json").display());
            println!("plot it: bsp-sim plot {}", o.run_dir.display());
            Ok(())
        }
        Command::Plot {
            run_dir,
            neurons,
            sample,
            epoch,
            out,
        } => {
            let opts = bsp_sim::plot::PlotOptions {
                neurons: match neurons {
                    Some(n) => bsp_sim::plot::parse_neurons(&n)?,
                    None => Vec::new(),
                },
                sample,
                epoch,
                out,
            };
            let o = bsp_sim::plot::plot_run(&run_dir, &opts)?;
            for note in &o.notes {
                eprintln!("note: {note}");
            }
            for f in &o.files {
                println!("{}", f.display());
            }
            Ok(())
        }
        Command::Eval {
            checkpoint,
            test_limit,
            threads,
            data,
            offline,
        } => {
            let opts = RunOptions {
                test_limit,
                threads,
                data_dir: data,
                offline,
                ..RunOptions::default()
            };
            let mut obs = Console::new(false);
            let (t, ck) = run::evaluate_checkpoint(&checkpoint, &opts, &mut obs)?;
            println!(
                "{} after {} epochs: test accuracy {:.2}% ({} / {}), mean loss {:.4}",
                ck.model.name,
                ck.epochs_done,
                100.0 * t.accuracy(),
                t.correct,
                t.samples,
                t.mean_loss()
            );
            Ok(())
        }
        Command::Compare {
            model,
            epochs,
            train_limit,
            test_limit,
            seed,
            threads,
            theta,
            jitter,
            sample_interval,
            out,
            data,
            offline,
            quiet,
        } => {
            let path = model;
            let model = Model::load(&path)?;
            let opts = bsp_sim::compare::CompareOptions {
                run: RunOptions {
                    epochs,
                    train_limit,
                    test_limit,
                    seed,
                    threads,
                    out,
                    data_dir: data,
                    offline,
                    git_commit: git_commit(),
                    ..RunOptions::default()
                },
                thetas: theta,
                jitters: jitter,
                intervals: sample_interval,
            };
            let mut obs = Console::new(quiet);
            let cmp = bsp_sim::compare::compare(&model, &opts, &mut obs)
                .with_context(|| format!("{}", path.display()))?;
            println!("\n{}", cmp.to_markdown());
            println!("written to {}", cmp.dir.display());
            Ok(())
        }
        Command::Validate { model } => {
            let m = Model::load(&model)?;
            let engine = run::build_engine(&m, m.file.seed, 1)?;
            let settings = bsp_sim::engine::Settings::from_model(&m);
            let f = &m.file;
            println!("{}: ok", model.display());
            println!("  name       {}", f.name);
            println!("  layers     {:?}", f.network.layers);
            println!(
                "  synapses   {}",
                engine
                    .projections()
                    .iter()
                    .map(|p| p.synapses())
                    .sum::<usize>()
            );
            println!("  fixed point B0 = {:?}", m.neuron.rest);
            println!(
                "  windows    forward {} + backward {} steps of dt {}",
                settings.forward_steps, settings.backward_steps, settings.dt
            );
            println!(
                "  learning   {:?}, lr {}, batch {}, {} epochs",
                f.learning.method, f.learning.lr, f.learning.batch_size, f.learning.epochs
            );
            Ok(())
        }
        Command::Causal {
            model,
            json,
            sample,
        } => {
            let report = match model {
                Some(path) => {
                    let m = Model::load(&path)?;
                    bsp_sim::causal::analyze(&m, sample).map_err(Error::from)?
                }
                None => bsp_sim::causal::analyze_neuron(&bsp_sim::causal::default_neuron(), sample)
                    .map_err(Error::from)?,
            };
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_markdown());
            }
            Ok(())
        }
        Command::Gradcheck {
            model,
            batch,
            shuffle,
            checkpoint,
            seed,
            json,
            threads,
            data,
            offline,
        } => {
            let m = Model::load(&model)?;
            let opts = bsp_sim::gradient::check::CheckOptions {
                batch: batch as usize,
                shuffle,
                seed,
                checkpoint,
                threads,
                data_dir: data,
                offline,
            };
            let report =
                bsp_sim::gradient::check::gradcheck_model(&m, &opts, &ProgressBar::hidden())
                    .with_context(|| format!("{}", model.display()))?;
            if json {
                println!("{}", report.to_json());
            } else {
                print!("{}", report.to_markdown());
            }
            Ok(())
        }
        Command::Data {
            action: DataAction::Fetch { name, dest, mirror },
        } => {
            let name: DatasetName = name
                .parse()
                .map_err(|e: bsp_sim::data::DataError| anyhow::anyhow!(e))?;
            let dest = match dest.or_else(fetch::cache_dir) {
                Some(d) => d,
                None => anyhow::bail!("no user cache directory on this system; pass --dest DIR"),
            };
            let mirrors = match mirror {
                Some(m) => vec![fetch::mirror_url(name, &m)],
                None => fetch::default_mirrors(name),
            };
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
                )
                .expect("valid template"),
            );
            let dir = fetch::fetch(name, &dest, &mirrors, &bar).map_err(Error::from)?;
            bar.finish_and_clear();
            println!("{name} ready in {}", dir.display());
            Ok(())
        }
        Command::Bench {
            model,
            samples,
            threads,
            data,
        } => {
            let m = Model::load(&model)?;
            if m.file.engine == bsp_sim::config::EngineKind::Async {
                let r = bsp_sim::bench::bench_async(&m, samples, threads, data)?;
                println!(
                    "model              {} (async vs sync, coupling: delayed)",
                    m.file.name
                );
                println!("threads            {}", r.threads);
                println!("samples timed      {}", r.samples);
                println!(
                    "async              {:.2} s, {:.1} samples/s, {:.0} events/sample",
                    r.async_seconds, r.async_samples_per_second, r.events_per_sample
                );
                println!(
                    "deliveries         {:.3e} per sample, {:.3e} per second",
                    r.deliveries_per_sample, r.deliveries_per_second
                );
                println!(
                    "sync               {:.2} s, {:.1} samples/s",
                    r.sync_seconds, r.sync_samples_per_second
                );
                println!("async / sync time  {:.2}", r.time_ratio());
                return Ok(());
            }
            let r = bsp_sim::bench::bench(&m, samples, threads, data)?;
            println!("model              {}", m.file.name);
            println!("threads            {}", r.threads);
            println!("batch size         {}", r.batch_size);
            println!("samples timed      {} in {:.2} s", r.samples, r.seconds);
            println!("training           {:.1} samples/s", r.samples_per_second);
            println!(
                "synaptic MACs      {:.3e} per sample",
                r.synaptic_macs_per_sample
            );
            println!(
                "flops              {:.3e} per sample ({:.2} GFLOP/s achieved)",
                r.flops_per_sample, r.achieved_gflops
            );
            let (a, b, c) = r.roofline_shape;
            println!(
                "sgemm roofline     {:.2} GFLOP/s ({a}x{b} by {b}x{c}, {} threads)",
                r.roofline_gflops, r.threads
            );
            println!(
                "roofline bound     {:.1} samples/s",
                r.roofline_samples_per_second
            );
            println!("ratio to roofline  {:.2}x", r.ratio_to_roofline());
            Ok(())
        }
    }
}

/// Parses a `--trace` spec string.
fn parse_trace(spec: &str) -> Result<bsp_sim::trace::TraceSection, bsp_sim::error::TraceError> {
    bsp_sim::trace::TraceSection::parse(spec).map_err(|e| bsp_sim::error::TraceError {
        origin: "--trace".into(),
        key: e.key,
        detail: e.detail,
    })
}

/// A flag that the first Ctrl-C sets (the run stops after the current batch, marks its
/// outputs `interrupted` and exits with 130); a second Ctrl-C exits at once.
fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let installed = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\ninterrupted: finishing the current batch (Ctrl-C again to quit at once)");
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not stop the run cleanly: {e}");
    }
    stop
}

/// Progress bars and per-epoch lines on the terminal.
struct Console {
    quiet: bool,
    bar: Option<ProgressBar>,
}

impl Console {
    fn new(quiet: bool) -> Self {
        Console { quiet, bar: None }
    }
}

impl Observer for Console {
    fn download_bar(&mut self) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("downloading {msg} [{bar:30}] {bytes}/{total_bytes}")
                .expect("valid template"),
        );
        bar
    }

    fn run_started(&mut self, run_dir: &std::path::Path, s: &Summary) {
        eprintln!(
            "{}: {} train / {} test samples, seed {}, {} threads -> {}",
            s.model_name,
            s.train_samples,
            s.test_samples,
            s.seed,
            s.threads,
            run_dir.display()
        );
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, samples: usize) {
        if self.quiet {
            return;
        }
        let bar = ProgressBar::new(samples as u64);
        bar.set_style(
            ProgressStyle::with_template(&format!(
                "epoch {epoch}/{epochs} [{{bar:30}}] {{pos}}/{{len}} {{per_sec}} {{msg}}"
            ))
            .expect("valid template"),
        );
        self.bar = Some(bar);
    }

    fn batch_done(&mut self, done: usize, running: &Tally) {
        if let Some(bar) = &self.bar {
            bar.set_position(done as u64);
            bar.set_message(format!(
                "loss {:.4} acc {:.2}%",
                running.mean_loss(),
                100.0 * running.accuracy()
            ));
        }
    }

    fn epoch_done(&mut self, r: &EpochRecord) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        println!(
            "epoch {:>3}  lr {:.5}  train loss {:.4} acc {:6.2}%  test loss {:.4} acc {:6.2}%  {:.0} samples/s",
            r.epoch,
            r.lr,
            r.train_loss,
            100.0 * r.train_accuracy,
            r.test_loss,
            100.0 * r.test_accuracy,
            r.samples_per_second
        );
    }
}
