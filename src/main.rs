//! The `bsp-sim` command line: parses flags, calls the library, prints its results and
//! maps errors to exit codes (`bsp_sim::Error::exit_code`: 2 bad input or usage, 130
//! interrupted, 1 the run failed).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

use bsp_sim::config::{EngineKind, Override};
use bsp_sim::data::{fetch, DatasetName};
use bsp_sim::progress::NoProgress;
use bsp_sim::{bench, causal, compare, fsutil, plot, report, run, validate};
use bsp_sim::{Error, Model};

mod cli {
    pub mod args;
    pub mod console;
    pub mod options;
    pub mod ranks;
}

use cli::args::{
    BenchArgs, CausalArgs, Cli, Command, CompareArgs, DataAction, EvalArgs, GradcheckArgs,
    PlotArgs, RunArgs, Sets, TraceArgs,
};
use cli::console::{Console, DownloadBar};
use cli::ranks::Ranks;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ranks = match Ranks::launch() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    match dispatch(cli.command, &ranks) {
        Ok(()) => ExitCode::SUCCESS,
        // Every library error reaches here as a `bsp_sim::Error` (perhaps under a
        // context naming the model file); the binary's own failures exit with 1.
        Err(e) => ranks.fail(e),
    }
}

fn dispatch(command: Command, ranks: &Ranks) -> anyhow::Result<()> {
    if ranks.position().1 > 1 && !matches!(command, Command::Run(_)) {
        anyhow::bail!("only `bsp-sim run` spreads over MPI ranks; run this command without mpirun");
    }
    match command {
        Command::Run(a) => run(&a, ranks),
        Command::Trace(a) => trace(&a),
        Command::Plot(a) => plot(&a),
        Command::Eval(a) => eval(&a),
        Command::Compare(a) => compare(&a),
        Command::Validate(a) => validate(&a.model, &a.sets),
        Command::Causal(a) => causal(&a),
        Command::Gradcheck(a) => gradcheck(&a),
        Command::Data {
            action: DataAction::Fetch { name, dest, mirror },
        } => fetch_data(&name, dest, mirror),
        Command::Bench(a) => bench(&a),
    }
}

/// Loads a model file with its `--set` overrides, its error folded into the library's
/// [`Error`].
fn load_model(path: &Path, sets: &Sets) -> bsp_sim::Result<Model> {
    let overrides = sets
        .set
        .iter()
        .map(|arg| Override::from_arg(arg))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Model::load_with_overrides(path, &overrides)?)
}

/// Names the model file in front of a failure that happened while using it; errors that
/// name their own file (a checkpoint, an output, a locked run directory, an interrupted
/// run) are left as they are, so that no path is printed twice or blamed wrongly.
fn in_model<T>(r: bsp_sim::Result<T>, path: &Path) -> anyhow::Result<T> {
    match r {
        Err(
            e @ (Error::Config(_)
            | Error::Checkpoint(_)
            | Error::Output(_)
            | Error::Busy(_)
            | Error::Empty(_)
            | Error::Interrupted { .. }),
        ) => Err(e.into()),
        r => r.with_context(|| path.display().to_string()),
    }
}

fn run(a: &RunArgs, ranks: &Ranks) -> anyhow::Result<()> {
    let model = match (&a.model, &a.resume) {
        (Some(path), _) => load_model(path, &a.sets)?,
        (None, Some(_)) if !a.sets.set.is_empty() => anyhow::bail!(
            "--set changes the model, and a resumed run continues its own: give the run's MODEL with the same --set, or start a new run"
        ),
        (None, Some(dir)) => run::resume_model(dir)?,
        (None, None) => anyhow::bail!("give a MODEL file, or --resume RUN_DIR"),
    };
    let mut opts = a.options()?;
    opts.collective = ranks.collective();
    let rank = ranks.position().0;
    // Rank 0 draws the progress and prints the result; the others compute silently.
    let (mut console, mut silent) = (Console::new(a.quiet.quiet), run::Silent);
    let obs: &mut dyn run::Observer = if rank == 0 { &mut console } else { &mut silent };
    let outcome = run::run(&model, &opts, obs);
    let shown = a
        .model
        .as_deref()
        .or(a.resume.as_deref())
        .unwrap_or(Path::new("."));
    let outcome = in_model(outcome, shown)?;
    if rank == 0 {
        println!("{outcome}");
    }
    Ok(())
}

fn trace(a: &TraceArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model, &a.sets)?;
    let outcome = run::sample::record_sample(&model, &a.options()?);
    println!("{}", in_model(outcome, &a.model)?);
    Ok(())
}

fn plot(a: &PlotArgs) -> anyhow::Result<()> {
    let outcome = plot::plot_run(&a.run_dir, &a.options()?).map_err(Error::from)?;
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    for f in &outcome.files {
        println!("{}", f.display());
    }
    Ok(())
}

fn eval(a: &EvalArgs) -> anyhow::Result<()> {
    let mut obs = Console::new(false);
    let evaluation = run::evaluate_checkpoint(&a.checkpoint, &a.options(), &mut obs)?;
    println!("{evaluation}");
    if let Some(path) = &a.predictions {
        fsutil::write_atomic(path, &report::predictions_csv(&evaluation.predictions))?;
        println!("predictions written to {}", path.display());
    }
    Ok(())
}

fn compare(a: &CompareArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model, &a.sets)?;
    let mut obs = Console::new(a.quiet.quiet);
    let cmp = in_model(compare::compare(&model, &a.options(), &mut obs), &a.model)?;
    println!("\n{}", cmp.to_markdown());
    println!("written to {}", cmp.dir.display());
    Ok(())
}

fn validate(path: &Path, sets: &Sets) -> anyhow::Result<()> {
    println!("{}", validate::validate(&load_model(path, sets)?)?);
    Ok(())
}

fn causal(a: &CausalArgs) -> anyhow::Result<()> {
    let report = match &a.model {
        Some(path) => causal::analyze(&load_model(path, &Sets { set: Vec::new() })?, a.sample),
        None => causal::analyze_neuron(&causal::default_neuron(), a.sample),
    }
    .map_err(Error::from)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_markdown());
    }
    Ok(())
}

fn gradcheck(a: &GradcheckArgs) -> anyhow::Result<()> {
    let model = load_model(&a.model, &a.sets)?;
    let report = run::gradcheck::gradcheck_model(&model, &a.options(), &NoProgress);
    let report = in_model(report, &a.model)?;
    if a.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_markdown());
    }
    Ok(())
}

fn fetch_data(name: &str, dest: Option<PathBuf>, mirror: Option<String>) -> anyhow::Result<()> {
    let name: DatasetName = name.parse().map_err(Error::from)?;
    let Some(dest) = dest.or_else(fetch::cache_dir) else {
        anyhow::bail!("no user cache directory on this system; pass --dest DIR");
    };
    let mirrors = match mirror {
        Some(m) => vec![fetch::mirror_url(name, &m)],
        None => fetch::default_mirrors(name),
    };
    let dir =
        fetch::fetch(name, &dest, &mirrors, &DownloadBar::for_fetch()).map_err(Error::from)?;
    println!("{name} ready in {}", dir.display());
    Ok(())
}

fn bench(a: &BenchArgs) -> anyhow::Result<()> {
    let m = load_model(&a.model, &a.sets)?;
    let (samples, threads, data) = (a.samples, a.threads.threads, a.data.data.clone());
    if m.engine == EngineKind::Async {
        println!("{}", bench::bench_async(&m, samples, threads, data)?);
    } else {
        println!("{}", bench::bench(&m, samples, threads, data)?);
    }
    Ok(())
}
