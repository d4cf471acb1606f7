//! The `bsp-sim` command line: parses flags, calls the library, draws progress bars, prints
//! results and maps errors to exit codes (`bsp_sim::Error::exit_code`: 2 bad input or usage,
//! 130 interrupted, 1 the run failed).

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use bsp_sim::data::{fetch, DatasetName};
use bsp_sim::progress::NoProgress;
use bsp_sim::run::{self, RunOptions};
use bsp_sim::{Error, Model};

mod cli {
    pub mod args;
    pub mod console;
}

use cli::args::{Cli, Command, DataAction};
use cli::console::{stop_on_ctrl_c, Console, DownloadBar};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            // Every library error reaches here as a `bsp_sim::Error` (perhaps under a
            // context naming the model file); the binary's own failures exit with 1.
            ExitCode::from(e.downcast_ref::<Error>().map_or(1, Error::exit_code))
        }
    }
}

/// Loads a model file, its error folded into the library's [`Error`].
fn load_model(path: &std::path::Path) -> bsp_sim::Result<Model> {
    Ok(Model::load(path)?)
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
            let model = load_model(&path)?;
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
            println!("{outcome}");
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
            let m = load_model(&model)?;
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
            println!("{o}");
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
                    Some(n) => bsp_sim::plot::parse_neurons(&n).map_err(Error::from)?,
                    None => Vec::new(),
                },
                sample,
                epoch,
                out,
            };
            let o = bsp_sim::plot::plot_run(&run_dir, &opts).map_err(Error::from)?;
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
            println!(
                "{}",
                run::evaluate_checkpoint(&checkpoint, &opts, &mut obs)?
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
            let model = load_model(&path)?;
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
            let m = load_model(&model)?;
            println!("{}", bsp_sim::validate::validate(&m)?);
            Ok(())
        }
        Command::Causal {
            model,
            json,
            sample,
        } => {
            let report = match model {
                Some(path) => {
                    let m = load_model(&path)?;
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
            let m = load_model(&model)?;
            let opts = bsp_sim::gradient::check::CheckOptions {
                batch: batch as usize,
                shuffle,
                seed,
                checkpoint,
                threads,
                data_dir: data,
                offline,
            };
            let report = bsp_sim::gradient::check::gradcheck_model(&m, &opts, &NoProgress)
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
            let name: DatasetName = name.parse().map_err(Error::from)?;
            let dest = match dest.or_else(fetch::cache_dir) {
                Some(d) => d,
                None => anyhow::bail!("no user cache directory on this system; pass --dest DIR"),
            };
            let mirrors = match mirror {
                Some(m) => vec![fetch::mirror_url(name, &m)],
                None => fetch::default_mirrors(name),
            };
            let bar = DownloadBar::for_fetch();
            let dir = fetch::fetch(name, &dest, &mirrors, &bar).map_err(Error::from)?;
            println!("{name} ready in {}", dir.display());
            Ok(())
        }
        Command::Bench {
            model,
            samples,
            threads,
            data,
        } => {
            let m = load_model(&model)?;
            if m.file.engine == bsp_sim::config::EngineKind::Async {
                println!(
                    "{}",
                    bsp_sim::bench::bench_async(&m, samples, threads, data)?
                );
            } else {
                println!("{}", bsp_sim::bench::bench(&m, samples, threads, data)?);
            }
            Ok(())
        }
    }
}

/// Parses a `--trace` spec string.
fn parse_trace(spec: &str) -> bsp_sim::Result<bsp_sim::trace::TraceSection> {
    bsp_sim::trace::TraceSection::parse(spec).map_err(|e| {
        Error::Trace(bsp_sim::error::TraceError {
            origin: "--trace".into(),
            key: e.key,
            detail: e.detail,
        })
    })
}
