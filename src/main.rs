//! The `bsp-sim` command line: parses flags, calls the library, draws progress bars, prints
//! results and maps errors to exit codes (1: the run failed, 2: bad input or usage).

use std::path::PathBuf;
use std::process::ExitCode;

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
        /// Gradient check (as `bsp-sim gradcheck`) on every N-th training batch, before its
        /// update; rows go to gradcheck.csv in the run directory.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        gradcheck_every: Option<u64>,
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
            ExitCode::from(if is_input_error(&e) { 2 } else { 1 })
        }
    }
}

/// Whether the user's input (model file, data, checkpoint) is at fault rather than the run.
fn is_input_error(e: &anyhow::Error) -> bool {
    use bsp_sim::error::{CheckpointError, ConfigError};
    e.downcast_ref::<ConfigError>().is_some()
        || e.downcast_ref::<bsp_sim::data::DataError>().is_some()
        || e.downcast_ref::<CheckpointError>().is_some()
        || matches!(
            e.downcast_ref::<Error>(),
            Some(Error::Config(_) | Error::Data(_) | Error::Checkpoint(_) | Error::Causal(_))
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
            gradcheck_every,
        } => {
            let path = model;
            let model = Model::load(&path)?;
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
        Command::Validate { model } => {
            let m = Model::load(&model)?;
            let engine = run::build_engine(&m, m.file.seed, 1)?;
            let f = &m.file;
            println!("{}: ok", model.display());
            println!("  name       {}", f.name);
            println!("  layers     {:?}", f.network.layers);
            println!(
                "  synapses   {}",
                bsp_sim::engine::Engine::projections(&engine)
                    .iter()
                    .map(|p| p.synapses())
                    .sum::<usize>()
            );
            println!("  fixed point B0 = {:?}", m.neuron.rest);
            println!(
                "  windows    forward {} + backward {} steps of dt {}",
                engine.settings.forward_steps, engine.settings.backward_steps, engine.settings.dt
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
