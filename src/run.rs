//! A training run: load the data, build the network from the seed, train epoch by epoch
//! with per-epoch evaluation, and write `metrics.csv`, `summary.json` and a checkpoint into
//! the run directory after every epoch. The caller observes progress through [`Observer`];
//! the library itself prints nothing. Its parts: `assemble` (engine, network, data,
//! restore, sample order), `recording` (what a run traces), `evaluation` (`bsp-sim eval`),
//! [`gradcheck`] (`bsp-sim gradcheck`) and [`sample`] (`bsp-sim trace`: one sample, recorded
//! in full).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::checkpoint::{self, Checkpoint};
use crate::config::Model;
use crate::data::Split;
use crate::engine::sync::SyncEngine;
use crate::engine::{Engine, Tally};
use crate::error::{Error, Result};
use crate::fsutil;
use crate::neuron::LayerNeurons;
use crate::progress::{NoProgress, Progress};
use crate::report::{self, EpochRecord, RunStatus, Summary};
use crate::trace::manifest::TraceStatus;
use crate::trace::{Recorder, TraceSection};

mod assemble;
mod evaluation;
pub mod gradcheck;
mod recording;
pub mod sample;

pub use assemble::{
    build_async_engine, build_engine, build_sync_engine, epoch_order, load_data, restore,
    thread_count,
};
pub use evaluation::{evaluate_checkpoint, Evaluation};
pub use recording::{recorded_selection, trace_info, trace_selection};

pub use crate::topology::build::build_network;

/// The file `--gradcheck-every` writes into the run directory, and its columns: the batch's
/// epoch (1-based), index within the epoch and samples trained before it in the epoch, then
/// one row per rule (`bsp`, `linearised`) and layer pair (`all`: every pair together).
pub const GRADCHECK_FILE: &str = "gradcheck.csv";
const GRADCHECK_HEADER: &str = "epoch,batch,samples_before,rule,pair,cosine,angle_degrees,sign_agreement,norm_ratio,batch_mean_loss,clamped_fraction\n";

/// Command-line overrides and output settings of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub epochs: Option<usize>,
    pub train_limit: Option<usize>,
    pub test_limit: Option<usize>,
    pub seed: Option<u64>,
    pub threads: Option<usize>,
    /// Parent directory of run directories (default `traces`).
    pub out: PathBuf,
    /// Run directory to continue from.
    pub resume: Option<PathBuf>,
    /// `--data DIR`.
    pub data_dir: Option<PathBuf>,
    /// Never download.
    pub offline: bool,
    /// The bsp-sim source commit, when known.
    pub git_commit: Option<String>,
    /// Name of the run directory under `out` (default: `<model>-<UTC time>-s<seed>`).
    pub run_name: Option<String>,
    /// `--trace SPEC`: record traces; its keys override the model's `trace:` section.
    pub trace: Option<TraceSection>,
    /// `--no-trace`: record nothing even if the model has a `trace:` section.
    pub no_trace: bool,
    /// Set (by the binary's Ctrl-C handler) to stop the run between two batches.
    pub stop: Option<Arc<AtomicBool>>,
    /// Run the gradient check on every N-th training batch (before its update) and append
    /// the per-layer comparisons to `gradcheck.csv` in the run directory.
    pub gradcheck_every: Option<usize>,
}

/// Progress callbacks; every method has a do-nothing default.
pub trait Observer {
    /// Where the progress of a data download goes (nowhere by default).
    fn download_progress(&mut self) -> Box<dyn Progress> {
        Box::new(NoProgress)
    }
    fn run_started(&mut self, _run_dir: &Path, _summary: &Summary) {}
    fn epoch_started(&mut self, _epoch: usize, _epochs: usize, _samples: usize) {}
    fn batch_done(&mut self, _samples_done: usize, _running: &Tally) {}
    fn epoch_done(&mut self, _record: &EpochRecord) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl Observer for Silent {}

/// What a finished run reports; `Display` gives the one line `bsp-sim run` ends with.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub run_dir: PathBuf,
    pub summary: Summary,
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.summary;
        write!(
            f,
            "done: {} epochs in {:.1} s; final test accuracy {}; outputs in {}",
            s.epochs_done,
            s.wall_seconds,
            s.final_test_accuracy
                .map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a)),
            self.run_dir.display()
        )
    }
}

/// Trains `model` as `opts` says, writing outputs under `opts.out/<run-id>` (or into the
/// run directory being resumed).
pub fn run(model: &Model, opts: &RunOptions, obs: &mut dyn Observer) -> Result<RunOutcome> {
    let threads = thread_count(opts.threads);
    let started = Instant::now();

    // Resume: the checkpoint's model, seed and limits win, so the continuation is exact.
    let resumed = match &opts.resume {
        Some(dir) => Some(Checkpoint::load(dir)?),
        None => None,
    };
    let (model, seed, train_limit, test_limit) = match &resumed {
        Some((ck, _)) => (
            Model::from_file(ck.model.clone(), model.path.as_deref())?,
            ck.seed,
            ck.train_limit,
            ck.test_limit,
        ),
        None => (
            model.clone(),
            opts.seed.unwrap_or(model.seed),
            opts.train_limit,
            opts.test_limit,
        ),
    };
    let epochs = opts.epochs.unwrap_or(model.training.epochs);
    let selection = trace_selection(&model, opts)?;

    let split = load_data(
        &model,
        seed,
        opts.data_dir.clone(),
        opts.offline,
        train_limit,
        test_limit,
        obs.download_progress().as_ref(),
    )?;
    let mut engine = build_engine(&model, seed, threads)?;
    let mut metrics = Vec::new();
    let mut first_epoch = 0;
    let run_dir = match &resumed {
        Some((ck, file)) => {
            restore(engine.as_mut(), ck, file)?;
            metrics = ck.metrics.clone();
            first_epoch = ck.epochs_done;
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        }
        None => match &opts.run_name {
            Some(name) => opts.out.join(name),
            None => new_run_dir(&opts.out, &model.name, seed)?,
        },
    };
    fsutil::create_dir(&run_dir)?;
    if resumed.is_none() {
        let copy = match &model.path {
            Some(p) => std::fs::read(p).unwrap_or_default(),
            None => Vec::new(),
        };
        fsutil::write_atomic(&run_dir.join("model.yaml"), &copy)?;
    }

    let mut recorder = match selection {
        Some((selection, spec)) => {
            let dir = crate::trace::manifest::trace_dir(&run_dir);
            let info = trace_info(&model, engine.as_ref(), &run_dir, seed, spec);
            Some(Recorder::create(&dir, selection, info)?)
        }
        None => None,
    };

    let mut summary = Summary {
        status: RunStatus::Running,
        run_id: run_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model_name: model.name.clone(),
        model_path: model.path.as_ref().map(|p| p.display().to_string()),
        engine: engine.name().into(),
        seed,
        threads,
        git_commit: opts.git_commit.clone(),
        bsp_sim_version: env!("CARGO_PKG_VERSION").into(),
        started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        epochs_done: first_epoch,
        epochs_planned: epochs,
        train_samples: split.train.len(),
        test_samples: split.test.len(),
        wall_seconds: 0.0,
        final_test_accuracy: None,
        best_test_accuracy: None,
        error: None,
        metrics: metrics.clone(),
        counters: Default::default(),
    };
    write_summary(&run_dir, &summary)?;
    obs.run_started(&run_dir, &summary);

    let result = train_epochs(
        &model,
        engine.as_mut(),
        &split,
        seed,
        first_epoch..epochs,
        &mut metrics,
        &run_dir,
        (train_limit, test_limit),
        Hooks {
            recorder: recorder.as_mut(),
            stop: opts.stop.as_deref(),
            gradcheck: opts.gradcheck_every.map(|every| (every.max(1), threads)),
        },
        obs,
    );
    summary.wall_seconds = started.elapsed().as_secs_f64();
    summary.epochs_done = metrics.len();
    summary.final_test_accuracy = metrics.last().map(|m| m.test_accuracy);
    summary.best_test_accuracy = metrics
        .iter()
        .map(|m| m.test_accuracy)
        .fold(None, |b: Option<f64>, a| Some(b.map_or(a, |b| b.max(a))));
    summary.metrics = metrics;
    summary.counters = engine.counters();
    if let Some(r) = recorder {
        let (status, message) = match &result {
            Ok(()) => (TraceStatus::Complete, None),
            Err(Error::Interrupted { .. }) => (TraceStatus::Interrupted, None),
            Err(e) => (TraceStatus::Failed, Some(e.to_string())),
        };
        let finished = r.finish(status, message);
        if result.is_ok() {
            if let Err(e) = finished {
                summary.status = RunStatus::Failed;
                summary.error = Some(e.to_string());
                let _ = write_summary(&run_dir, &summary);
                return Err(e.into());
            }
        }
    }
    match result {
        Ok(()) => {
            summary.status = RunStatus::Complete;
            write_summary(&run_dir, &summary)?;
            Ok(RunOutcome { run_dir, summary })
        }
        Err(e) => {
            summary.status = match e {
                Error::Interrupted { .. } => RunStatus::Interrupted,
                _ => RunStatus::Failed,
            };
            summary.error = Some(e.to_string());
            // The original error matters more than a failure to record it.
            let _ = write_summary(&run_dir, &summary);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn train_epochs(
    model: &Model,
    engine: &mut dyn Engine,
    split: &Split,
    seed: u64,
    epochs: std::ops::Range<usize>,
    metrics: &mut Vec<EpochRecord>,
    run_dir: &Path,
    limits: (Option<usize>, Option<usize>),
    mut hooks: Hooks<'_>,
    obs: &mut dyn Observer,
) -> Result<()> {
    let learning = &model.training;
    let probe = hooks.gradcheck;
    let probe_path = run_dir.join(GRADCHECK_FILE);
    let mut probe_csv = match probe {
        Some(_) => {
            std::fs::read_to_string(&probe_path).unwrap_or_else(|_| GRADCHECK_HEADER.to_string())
        }
        None => String::new(),
    };
    let total = epochs.end;
    let test_indices: Vec<usize> = (0..split.test.len()).collect();
    for epoch in epochs {
        let lr = learning.schedule.lr(learning.lr, epoch);
        let order = epoch_order(seed, epoch, split.train.len());
        obs.epoch_started(epoch + 1, total, order.len());
        let t0 = Instant::now();
        let mut running = Tally::default();
        if let Some(r) = hooks.recorder.as_deref_mut() {
            r.set_epoch(epoch + 1)?;
        }
        for (b, batch) in order.chunks(learning.batch_size).enumerate() {
            if hooks.stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
                return Err(Error::Interrupted {
                    epoch: epoch + 1,
                    run_dir: run_dir.to_path_buf(),
                });
            }
            if let Some((_, threads)) = probe.filter(|(every, _)| b % every == 0) {
                // The check runs on a synchronous copy of the current weights.
                let mut sync = SyncEngine::new(
                    model.settings.clone(),
                    engine.projections().to_vec(),
                    engine.neurons().to_vec(),
                    threads,
                );
                let r = crate::gradcheck::gradcheck(
                    &model.name,
                    &mut sync,
                    &split.train,
                    batch,
                    threads,
                )?;
                for c in &r.comparisons {
                    probe_csv.push_str(&format!(
                        "{},{},{},{},{},{},{},{},{},{},{}\n",
                        epoch + 1,
                        b,
                        running.samples,
                        c.rule,
                        c.pair.map_or("all".to_string(), |p| p.to_string()),
                        c.cosine,
                        c.angle_degrees,
                        c.sign_agreement,
                        c.norm_ratio,
                        r.mean_loss,
                        r.clamped_fraction
                    ));
                }
            }
            let tally = match hooks.recorder.as_deref_mut() {
                Some(r) => {
                    let t = engine.train_batch_traced(&split.train, batch, lr, r);
                    r.flush()?;
                    t?
                }
                None => engine.train_batch(&split.train, batch, lr)?,
            };
            running.add(tally);
            obs.batch_done(running.samples, &running);
        }
        // The asynchronous engine's last backward waves are still in flight.
        match hooks.recorder.as_deref_mut() {
            Some(r) => {
                let done = engine.finish_traced(r);
                r.flush()?;
                done?
            }
            None => engine.finish()?,
        }
        let train_seconds = t0.elapsed().as_secs_f64();
        let test = engine.evaluate(&split.test, &test_indices)?;
        let record = EpochRecord {
            epoch: epoch + 1,
            engine: engine.name().into(),
            lr,
            train_samples: running.samples,
            train_loss: running.mean_loss(),
            train_accuracy: running.accuracy(),
            test_samples: test.samples,
            test_loss: test.mean_loss(),
            test_accuracy: test.accuracy(),
            train_seconds,
            samples_per_second: running.samples as f64 / train_seconds.max(1e-9),
        };
        metrics.push(record.clone());
        fsutil::write_atomic(&run_dir.join("metrics.csv"), &report::metrics_csv(metrics))?;
        if probe.is_some() {
            fsutil::write_atomic(&probe_path, probe_csv.as_bytes())?;
        }
        let mut ck = Checkpoint::new(
            model.file().clone(),
            seed,
            epoch + 1,
            limits.0,
            limits.1,
            engine.projections().to_vec(),
            engine.neurons().iter().map(LayerNeurons::state).collect(),
            metrics.clone(),
        );
        ck.optimiser = engine.optimiser_state().cloned();
        fsutil::write_atomic(
            &run_dir.join(checkpoint::FILE_NAME),
            ck.to_json().as_bytes(),
        )?;
        obs.epoch_done(&record);
    }
    Ok(())
}

/// What the epoch loop checks besides training: the trace recorder and the stop flag.
struct Hooks<'a> {
    recorder: Option<&'a mut Recorder>,
    stop: Option<&'a AtomicBool>,
    /// `--gradcheck-every`: (every N batches, threads).
    gradcheck: Option<(usize, usize)>,
}

fn write_summary(dir: &Path, summary: &Summary) -> Result<(), Error> {
    let json = serde_json::to_string_pretty(summary).expect("summary serialises");
    Ok(fsutil::write_atomic(
        &dir.join("summary.json"),
        json.as_bytes(),
    )?)
}

/// `OUT/<name>-<UTC timestamp>-s<seed>`, with a numeric suffix if it exists already.
pub fn new_run_dir(out: &Path, name: &str, seed: u64) -> Result<PathBuf, Error> {
    let stamp: String = humantime::format_rfc3339_seconds(SystemTime::now())
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .collect();
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = format!("{safe}-{stamp}-s{seed}");
    let mut dir = out.join(&base);
    let mut k = 1;
    while dir.exists() {
        k += 1;
        dir = out.join(format!("{base}-{k}"));
    }
    Ok(dir)
}
