//! `bsp-sim trace`: one training sample, on a fresh network or a checkpoint's, with
//! everything recorded (all layers, all neurons, both waves, events and states at every
//! step) into a new run directory — the quickest way to see a forward wave and the backward
//! wave it causes.

use std::path::PathBuf;

use crate::checkpoint::Checkpoint;
use crate::engine::Tally;
use crate::error::{Result, TraceError};
use crate::run::{build_engine, load_data, new_run_dir, recorded_selection, restore, trace_info};

use crate::trace::manifest::{trace_dir, Manifest, TraceStatus};
use crate::trace::{Recorder, TraceSection};
use crate::Model;

/// Options of `bsp-sim trace`.
#[derive(Debug, Clone, Default)]
pub struct SampleOptions {
    /// Dataset index of the training sample.
    pub sample: usize,
    /// Start from this run directory's (or file's) checkpoint instead of a fresh network.
    pub checkpoint: Option<PathBuf>,
    pub seed: Option<u64>,
    /// Parent directory of the new run directory.
    pub out: PathBuf,
    pub data_dir: Option<PathBuf>,
    pub offline: bool,
    /// Keys overriding "everything" (e.g. `theta=0.01`, or `every=5` for smaller files).
    pub spec: Option<TraceSection>,
}

/// What `bsp-sim trace` wrote; `Display` gives its report (the sample's loss, the files
/// and how to plot them).
#[derive(Debug, Clone)]
pub struct SampleOutcome {
    /// Dataset index of the sample.
    pub sample: usize,
    pub run_dir: PathBuf,
    pub trace_dir: PathBuf,
    pub manifest: Manifest,
    /// Loss and correctness of the sample before the update.
    pub tally: Tally,
    pub label: u8,
}

/// Trains on one sample with full recording; see the module doc.
pub fn record_sample(model: &Model, opts: &SampleOptions) -> Result<SampleOutcome> {
    let loaded = match &opts.checkpoint {
        Some(p) => Some(Checkpoint::load(p)?),
        None => None,
    };
    let (model, seed, epoch) = match &loaded {
        Some((ck, file)) => (
            ck.model(file, model.path.as_deref())?,
            ck.seed,
            ck.epochs_done + 1,
        ),
        None => (model.clone(), opts.seed.unwrap_or(model.seed), 1),
    };
    let split = load_data(
        &model,
        seed,
        opts.data_dir.clone(),
        opts.offline,
        None,
        Some(0),
        &crate::progress::NoProgress,
    )?;
    let n = split.train.len();
    if opts.sample >= n {
        return Err(TraceError {
            origin: "--sample".into(),
            key: opts.sample.to_string(),
            detail: format!(
                "is not a training sample: the training set has {n} (0..={})",
                n.saturating_sub(1)
            ),
        }
        .into());
    }
    let mut engine = build_engine(&model, seed, 1)?;
    if let Some((ck, file)) = &loaded {
        restore(engine.as_mut(), ck, file)?;
    }
    // Fine thresholds, so that the weak deep backward wave shows too.
    let section = match &opts.spec {
        Some(s) => TraceSection::everything().merged(s),
        None => TraceSection::everything(),
    };
    let given: Vec<_> = opts
        .spec
        .iter()
        .map(|s| (s, "--trace".to_string()))
        .collect();
    crate::run::refuse_ignored_keys(&model, &given)?;
    let selection = section
        .resolve(&model.network.layers)
        .map_err(|e| TraceError {
            origin: "--trace".into(),
            key: e.key,
            detail: e.detail,
        })?;
    let selection = recorded_selection(selection, &model);
    let run_dir = new_run_dir(&opts.out, &format!("{}-trace", model.name), seed)?;
    let _lock = crate::fsutil::RunLock::acquire(&run_dir)?;
    crate::fsutil::write_atomic(&run_dir.join("model.yaml"), model.yaml().as_bytes())?;
    let info = trace_info(
        &model,
        engine.as_ref(),
        &run_dir,
        seed,
        crate::run::recorded_spec(&model, section),
    );
    let dir = trace_dir(&run_dir);
    let mut recorder = Recorder::create(&dir, selection, info)?;
    recorder.set_epoch(epoch)?;
    let learning = &model.training;
    let lr = learning.schedule.lr(learning.lr, epoch - 1);
    let result = engine
        .train_batch_traced(&split.train, &[opts.sample], lr, &mut recorder)
        .and_then(|t| engine.finish_traced(&mut recorder).map(|()| t));
    let flushed = recorder.flush();
    let (status, error) = match (&result, &flushed) {
        (Ok(_), Ok(())) => (TraceStatus::Complete, None),
        (Err(e), _) => (TraceStatus::Failed, Some(e.to_string())),
        (_, Err(e)) => (TraceStatus::Failed, Some(e.to_string())),
    };
    let trace_dir = recorder.finish(status, error)?;
    let tally = result?;
    flushed?;
    let manifest = Manifest::read(&trace_dir).map_err(|detail| crate::error::PlotError::Input {
        path: trace_dir.clone(),
        detail,
    })?;
    Ok(SampleOutcome {
        sample: opts.sample,
        run_dir,
        trace_dir,
        manifest,
        tally,
        label: split.train.labels[opts.sample],
    })
}

impl std::fmt::Display for SampleOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let c = &self.manifest.counts;
        writeln!(
            f,
            "sample {} (label {}): loss {:.4}, {}; {} events, {} state rows",
            self.sample,
            self.label,
            self.tally.mean_loss(),
            if self.tally.correct == 1 {
                "predicted right"
            } else {
                "predicted wrong"
            },
            c.events,
            c.states
        )?;
        writeln!(f, "trace in {}", self.trace_dir.display())?;
        let files = &self.manifest.files;
        for file in [&files.events, &files.states, &files.vcd]
            .into_iter()
            .flatten()
        {
            writeln!(f, "  {}", self.trace_dir.join(file).display())?;
        }
        writeln!(f, "  {}", self.trace_dir.join("manifest.json").display())?;
        write!(f, "plot it: bsp-sim plot {}", self.run_dir.display())
    }
}
