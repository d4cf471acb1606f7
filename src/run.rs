//! A training run: load the data, build the network from the seed, train epoch by epoch
//! with per-epoch evaluation, and write `metrics.csv`, `predictions.csv` (the epoch's test
//! predictions), `summary.json` and a checkpoint into the run directory after every epoch.
//! The caller observes progress through [`Observer`]; the library itself prints nothing.
//! Its parts: `assemble` (engine, network, data, restore, sample order), `recording` (what
//! a run traces), `evaluation` (`bsp-sim eval`), [`gradcheck`] (`bsp-sim gradcheck`) and
//! [`sample`] (`bsp-sim trace`: one sample, recorded in full).

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use crate::checkpoint::{self, Checkpoint, Plan};
use crate::config::{EngineKind, Model};
use crate::data::Split;
use crate::distributed::{self, Collective};
use crate::engine::sync::SyncEngine;
use crate::engine::{Engine, Tally};
use crate::error::{EmptySet, Error, Result, SimError};
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
mod resume;
pub mod sample;

pub use assemble::{
    build_async_engine, build_engine, build_engine_on, build_sync_engine, epoch_order, load_data,
    restore, thread_count,
};
pub use evaluation::{evaluate_checkpoint, Evaluation};
pub use recording::{
    recorded_selection, recorded_spec, refuse_ignored_keys, trace_info, trace_selection,
};
pub use resume::resume_model;

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
    /// The MPI ranks this process is one of (`None`: one process). Rank 0 writes the run
    /// directory; the others compute their share and write nothing.
    pub collective: Option<Arc<dyn Collective>>,
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
    /// Something the user should know that is not an error (e.g. a resumed run's writer
    /// was killed).
    fn note(&mut self, _text: &str) {}
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
            "done: {} in {:.1} s; final test accuracy {}; outputs in {}",
            crate::text::plural(s.epochs_done, "epoch"),
            s.wall_seconds,
            s.final_test_accuracy
                .map_or("n/a".into(), |a| format!("{:.2}%", 100.0 * a)),
            self.run_dir.display()
        )
    }
}

/// Trains `model` as `opts` says, writing outputs under `opts.out/<run-id>` (or into the
/// run directory being resumed, whose checkpoint's plan it continues: `run::resume`). The
/// process holds the run directory's lock ([`crate::fsutil::RunLock`]) until it returns.
pub fn run(model: &Model, opts: &RunOptions, obs: &mut dyn Observer) -> Result<RunOutcome> {
    let threads = thread_count(opts.threads);
    let started = Instant::now();
    let comm = opts.collective.clone().unwrap_or_else(distributed::single);
    let ranks = comm.ranks();
    let refuse = |what: &str, detail: &str| {
        Err(Error::from(SimError::NotDistributed {
            what: what.into(),
            ranks,
            detail: detail.into(),
        }))
    };
    if ranks > 1 && opts.resume.is_some() {
        return refuse("--resume", "resume with one process: --threads R x T gives the same numbers as R ranks of T threads");
    }
    if ranks > 1 && opts.gradcheck_every.is_some() && model.engine == EngineKind::Async {
        return refuse("--gradcheck-every on the asynchronous engine", "each rank keeps only its part of the coefficients: check the gradient with one process (--threads R x T gives the same numbers), or on a checkpoint with `bsp-sim gradcheck`");
    }

    let resumed = match &opts.resume {
        Some(dir) => Some(resume::continuation(model, dir, opts, threads, obs)?),
        None => None,
    };
    let (model, plan) = match &resumed {
        Some(c) => (c.model.clone(), c.plan),
        None => {
            let plan = Plan {
                seed: opts.seed.unwrap_or(model.seed),
                epochs_done: 0,
                epochs_planned: opts.epochs.unwrap_or(model.training.epochs),
                train_limit: opts.train_limit,
                test_limit: opts.test_limit,
                // Over all ranks: what one process would need for the same numbers.
                threads: threads * ranks,
            };
            (model.clone(), plan)
        }
    };
    let seed = plan.seed;
    let selection = trace_selection(&model, opts)?;
    if ranks > 1 && selection.is_some() {
        return refuse(
            "recording traces",
            "run without --trace (or with --no-trace), or record with one process",
        );
    }

    let split = load_data(
        &model,
        seed,
        opts.data_dir.clone(),
        opts.offline,
        plan.train_limit,
        plan.test_limit,
        obs.download_progress().as_ref(),
    )?;
    check_not_empty(&split, &plan, &model)?;
    if ranks > 1 {
        // Each rank's share depends on the threads, the results on all the rest.
        let fingerprint = format!("{}\n{plan:?}\n{threads}", model.yaml());
        let what = "the ranks' models and options";
        if let Some(rank) =
            distributed::first_differing(comm.as_ref(), fingerprint.as_bytes(), what)?
        {
            return refuse(
                "this run",
                &format!("rank {rank} was given another model, seed, limit or --threads than rank 0; give every rank the same arguments"),
            );
        }
    }
    let mut engine = build_engine_on(&model, seed, threads, &comm)?;
    let writer = comm.rank() == 0;
    let mut metrics = Vec::new();
    let (run_dir, _lock, changes) = match resumed {
        Some(c) => {
            restore(engine.as_mut(), &c.ck, &c.file)?;
            metrics = c.ck.metrics.clone();
            (c.run_dir, Some(c.lock), c.changes)
        }
        None if writer => {
            let created = new_output_dir(&model, seed, opts);
            if ranks > 1 {
                // The other ranks learn the directory's name, or rank 0's failure.
                let name = created
                    .as_ref()
                    .map(|(d, _)| d.as_os_str().as_encoded_bytes());
                let name = name.map_err(|e| (e.exit_code(), e.to_string()));
                distributed::from_rank0(comm.as_ref(), name, "the run directory's name")?;
            }
            let (dir, lock) = created?;
            (dir, Some(lock), Vec::new())
        }
        None => {
            let name = distributed::from_rank0(comm.as_ref(), Ok(&[]), "the run directory's name")?;
            let dir = PathBuf::from(String::from_utf8_lossy(&name).into_owned());
            (dir, None, Vec::new())
        }
    };

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
        threads: threads * ranks,
        ranks: (ranks > 1).then_some(ranks),
        git_commit: opts.git_commit.clone(),
        bsp_sim_version: env!("CARGO_PKG_VERSION").into(),
        started: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        epochs_done: plan.epochs_done,
        epochs_planned: plan.epochs_planned,
        train_samples: split.train.len(),
        test_samples: split.test.len(),
        wall_seconds: 0.0,
        final_test_accuracy: None,
        best_test_accuracy: None,
        error: None,
        metrics: Vec::new(),
        counters: Default::default(),
        train_limit: plan.train_limit,
        test_limit: plan.test_limit,
        writer: Some(fsutil::WriterInfo::current()),
        plan_changes: changes,
        exchanges: Vec::new(),
    };
    summary.record(&metrics, started);
    if writer {
        summary.write(&run_dir)?;
    }
    obs.run_started(&run_dir, &summary);

    let result = train_epochs(
        &model,
        engine.as_mut(),
        &split,
        &plan,
        &mut metrics,
        &run_dir,
        Hooks {
            recorder: recorder.as_mut(),
            writer,
            ranks: comm.as_ref(),
            stop: opts.stop.as_deref(),
            gradcheck: opts.gradcheck_every.map(|every| (every.max(1), threads)),
            summary: &mut summary,
            started,
        },
        obs,
    );
    summary.record(&metrics, started);
    summary.counters = engine.counters();
    summary.exchanges = comm.traffic();
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
                let _ = summary.write(&run_dir);
                return Err(e.into());
            }
        }
    }
    if !writer {
        return result.map(|()| RunOutcome { run_dir, summary });
    }
    match result {
        Ok(()) => {
            summary.status = RunStatus::Complete;
            summary.write(&run_dir)?;
            Ok(RunOutcome { run_dir, summary })
        }
        Err(e) => {
            summary.status = match e {
                Error::Interrupted { .. } => RunStatus::Interrupted,
                _ => RunStatus::Failed,
            };
            summary.error = Some(e.to_string());
            // The original error matters more than a failure to record it.
            let _ = summary.write(&run_dir);
            Err(e)
        }
    }
}

/// A new run directory under `opts.out`, locked, with the model file written into it.
fn new_output_dir(
    model: &Model,
    seed: u64,
    opts: &RunOptions,
) -> Result<(PathBuf, fsutil::RunLock)> {
    let dir = match &opts.run_name {
        Some(name) => fsutil::create_dir(&opts.out.join(name))?,
        None => new_run_dir(&opts.out, &model.name, seed)?,
    };
    let lock = fsutil::RunLock::acquire(&dir)?;
    // The file as read, or with its `--set` overrides applied.
    fsutil::write_atomic(&dir.join("model.yaml"), model.yaml().as_bytes())?;
    Ok((dir, lock))
}

/// Refuses a run with nothing to test (its accuracy would read 0.00%) or, with epochs
/// left to train, nothing to train on.
fn check_not_empty(split: &Split, plan: &Plan, model: &Model) -> Result<(), EmptySet> {
    if split.test.is_empty() {
        return Err(EmptySet {
            set: "test",
            cause: limit_cause("test", plan.test_limit, model.test_limit),
        });
    }
    if split.train.is_empty() && plan.epochs_done < plan.epochs_planned {
        return Err(EmptySet {
            set: "training",
            cause: limit_cause("train", plan.train_limit, model.train_limit),
        });
    }
    Ok(())
}

/// Why a set is empty: the flag or field that limited it to nothing.
pub(crate) fn limit_cause(name: &str, flag: Option<usize>, field: Option<usize>) -> String {
    match (flag, field) {
        (Some(n), _) => format!("--{name}-limit {n}"),
        (None, Some(n)) => format!("data.{name}_limit: {n}"),
        (None, None) => "the data set holds none".into(),
    }
}

#[allow(clippy::too_many_arguments)]
fn train_epochs(
    model: &Model,
    engine: &mut dyn Engine,
    split: &Split,
    plan: &Plan,
    metrics: &mut Vec<EpochRecord>,
    run_dir: &Path,
    mut hooks: Hooks<'_>,
    obs: &mut dyn Observer,
) -> Result<()> {
    let seed = plan.seed;
    let epochs = plan.epochs_done..plan.epochs_planned;
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
        // This epoch's shifted copy of the training set (`data.augment`); tests stay plain.
        let shift = learning.augment_shift;
        let augmented =
            (shift > 0).then(|| crate::data::augment::shifted(&split.train, shift, seed, epoch));
        let train = augmented.as_ref().unwrap_or(&split.train);
        obs.epoch_started(epoch + 1, total, order.len());
        let t0 = Instant::now();
        let mut running = Tally::default();
        if let Some(r) = hooks.recorder.as_deref_mut() {
            r.set_epoch(epoch + 1)?;
        }
        for (b, batch) in order.chunks(learning.batch_size).enumerate() {
            let mut stop = hooks.stop.is_some_and(|s| s.load(Ordering::Relaxed));
            if hooks.ranks.ranks() > 1 {
                // Every rank stops at the same batch, whichever saw the signal.
                stop = distributed::any(hooks.ranks, stop, "the stop flag's exchange")?;
            }
            if stop {
                let advice = if run_dir.join(checkpoint::FILE_NAME).is_file() {
                    format!(
                        "the run directory keeps its last complete epoch ({}): continue with --resume {}",
                        metrics.len(),
                        run_dir.display()
                    )
                } else {
                    "no epoch was complete, so there is nothing to resume: start the run again"
                        .to_string()
                };
                return Err(Error::Interrupted {
                    epoch: epoch + 1,
                    run_dir: run_dir.to_path_buf(),
                    advice,
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
                let r = crate::gradcheck::gradcheck(&model.name, &mut sync, train, batch, threads)?;
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
                    let t = engine.train_batch_traced(train, batch, lr, r);
                    r.flush()?;
                    t?
                }
                None => engine.train_batch(train, batch, lr)?,
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
        let (test, predicted) = engine.classify(&split.test, &test_indices)?;
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
        // Every rank takes part: a rank may keep only its part of the coefficients.
        let gathered = engine.gather()?;
        let Some(gathered) = gathered.filter(|_| hooks.writer) else {
            obs.epoch_done(&record);
            continue;
        };
        fsutil::write_atomic(&run_dir.join("metrics.csv"), &report::metrics_csv(metrics))?;
        if probe.is_some() {
            fsutil::write_atomic(&probe_path, probe_csv.as_bytes())?;
        }
        let predictions: Vec<report::Prediction> = test_indices
            .iter()
            .zip(&predicted)
            .map(|(&sample, &predicted)| report::Prediction {
                epoch: epoch + 1,
                sample,
                label: split.test.labels[sample] as usize,
                predicted,
            })
            .collect();
        fsutil::write_atomic(
            &run_dir.join(report::PREDICTIONS_FILE),
            &report::predictions_csv(&predictions),
        )?;
        let mut ck = Checkpoint::new(
            model.file().clone(),
            Plan {
                epochs_done: epoch + 1,
                ..*plan
            },
            gathered.projections,
            engine.neurons().iter().map(LayerNeurons::state).collect(),
            metrics.clone(),
        );
        ck.optimiser = gathered.optimiser;
        // Streamed: a wide network's checkpoint is never whole in memory as text.
        fsutil::write_atomic_with(&run_dir.join(checkpoint::FILE_NAME), |w| ck.write_json(w))?;
        // After the checkpoint: the summary never claims an epoch the checkpoint lacks.
        hooks.summary.record(metrics, hooks.started);
        hooks.summary.counters = engine.counters();
        hooks.summary.exchanges = hooks.ranks.traffic();
        hooks.summary.write(run_dir)?;
        obs.epoch_done(&record);
    }
    Ok(())
}

/// What the epoch loop checks and writes besides training: the trace recorder, the stop
/// flag, the gradient check, and the summary it rewrites after every epoch.
struct Hooks<'a> {
    recorder: Option<&'a mut Recorder>,
    /// Whether this process writes the run directory (rank 0).
    writer: bool,
    /// The ranks, which agree on the stop flag before every batch.
    ranks: &'a dyn Collective,
    stop: Option<&'a AtomicBool>,
    /// `--gradcheck-every`: (every N batches, threads).
    gradcheck: Option<(usize, usize)>,
    summary: &'a mut Summary,
    started: Instant,
}

impl Summary {
    /// Records the metrics so far: epochs done, final and best test accuracy, wall time.
    fn record(&mut self, metrics: &[EpochRecord], started: Instant) {
        self.wall_seconds = started.elapsed().as_secs_f64();
        self.epochs_done = metrics.len();
        self.final_test_accuracy = metrics.last().map(|m| m.test_accuracy);
        self.best_test_accuracy = metrics
            .iter()
            .map(|m| m.test_accuracy)
            .fold(None, |b: Option<f64>, a| Some(b.map_or(a, |b| b.max(a))));
        self.metrics = metrics.to_vec();
    }
}

/// Creates `OUT/<name>-<UTC timestamp>-s<seed>`, with a numeric suffix if it exists
/// already; atomic ([`fsutil::create_new_dir`]): two runs started in the same second get
/// two directories.
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
    Ok(fsutil::create_new_dir(out, &base)?)
}
