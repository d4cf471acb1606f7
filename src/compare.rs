//! `bsp-sim compare`: the same model, seed and data run synchronously and asynchronously,
//! side by side — accuracy per epoch, wall time, events, synaptic deliveries, the sync
//! run's dense-equivalent operations, updates applied and their staleness — with optional
//! sweeps of the asynchronous side's theta, delay jitter and sample interval.
//!
//! Both sides use the event semantics `coupling: delayed` (a presynaptic signal reaches the
//! next layer one step later, as between event-driven neurons), so with theta 0, no delay
//! and no overlap they compute the same thing; whatever differs in the table is what
//! asynchrony, send-on-delta and pipelining change.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::{Coupling, Delay, EngineKind};
use crate::engine::Counters;
use crate::error::Result;
use crate::fsutil;
use crate::run::{self, Observer, RunOptions};
use crate::Model;

/// What to run besides the model's own settings.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    pub run: RunOptions,
    /// Async send-on-delta thresholds to sweep (empty: the model's).
    pub thetas: Vec<f32>,
    /// Delay jitter J to sweep: delays uniform in [d, d + J] around the model's base delay
    /// d (empty: the model's delay).
    pub jitters: Vec<f32>,
    /// Sample intervals to sweep (empty: the model's).
    pub intervals: Vec<f32>,
}

/// One run of the comparison.
#[derive(Debug, Clone, Serialize)]
pub struct CompareRow {
    pub label: String,
    pub engine: String,
    pub theta: Option<f32>,
    pub jitter: Option<f32>,
    pub sample_interval: Option<f32>,
    pub run_dir: PathBuf,
    /// Test accuracy after each epoch.
    pub test_accuracy: Vec<f64>,
    pub train_seconds: f64,
    pub wall_seconds: f64,
    pub counters: Counters,
}

/// The whole comparison, as written to `compare.json` and `compare.md`.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub model: String,
    pub seed: u64,
    pub threads: usize,
    pub dir: PathBuf,
    pub rows: Vec<CompareRow>,
}

/// Runs the comparison under `opts.run.out/compare-<model>-<time>-s<seed>/`.
pub fn compare(model: &Model, opts: &CompareOptions, obs: &mut dyn Observer) -> Result<Comparison> {
    let seed = opts.run.seed.unwrap_or(model.seed);
    let dir = run::new_run_dir(&opts.run.out, &format!("compare-{}", model.name), seed)?;
    fsutil::create_dir(&dir)?;
    let mut rows = Vec::new();

    let mut sync = model.file().clone();
    sync.engine = EngineKind::Sync;
    sync.integration.coupling = Coupling::Delayed;
    rows.push(one(model, sync, "sync", None, None, None, &dir, opts, obs)?);

    let base = model.asynchronous.clone();
    let thetas = if opts.thetas.is_empty() {
        vec![base.theta]
    } else {
        opts.thetas.clone()
    };
    let jitters: Vec<Option<f32>> = if opts.jitters.is_empty() {
        vec![None]
    } else {
        opts.jitters.iter().map(|&j| Some(j)).collect()
    };
    let intervals: Vec<Option<f32>> = if opts.intervals.is_empty() {
        vec![base.sample_interval]
    } else {
        opts.intervals.iter().map(|&i| Some(i)).collect()
    };
    let sweep = thetas.len() * jitters.len() * intervals.len() > 1;
    for &theta in &thetas {
        for &jitter in &jitters {
            for &interval in &intervals {
                let mut f = model.file().clone();
                f.engine = EngineKind::Async;
                f.integration.coupling = Coupling::Delayed;
                f.asynchronous.theta = theta;
                f.asynchronous.sample_interval = interval;
                if let Some(j) = jitter {
                    let d = base_delay(base.delay);
                    f.asynchronous.delay = Delay::Uniform {
                        low: d,
                        high: d + j,
                    };
                }
                let mut label = String::from("async");
                if sweep {
                    write!(label, "-theta{theta}").ok();
                    if let Some(j) = jitter {
                        write!(label, "-jitter{j}").ok();
                    }
                    if let Some(i) = interval {
                        write!(label, "-interval{i}").ok();
                    }
                }
                rows.push(one(
                    model,
                    f,
                    &label,
                    Some(theta),
                    jitter,
                    interval,
                    &dir,
                    opts,
                    obs,
                )?);
            }
        }
    }
    let cmp = Comparison {
        model: model.name.clone(),
        seed,
        threads: run::thread_count(opts.run.threads),
        dir: dir.clone(),
        rows,
    };
    fsutil::write_atomic(&dir.join("compare.md"), cmp.to_markdown().as_bytes())?;
    let json = serde_json::to_string_pretty(&cmp).expect("comparison serialises");
    fsutil::write_atomic(&dir.join("compare.json"), json.as_bytes())?;
    Ok(cmp)
}

#[allow(clippy::too_many_arguments)]
fn one(
    model: &Model,
    file: crate::config::ModelFile,
    label: &str,
    theta: Option<f32>,
    jitter: Option<f32>,
    interval: Option<f32>,
    dir: &Path,
    opts: &CompareOptions,
    obs: &mut dyn Observer,
) -> Result<CompareRow> {
    let engine = match file.engine {
        EngineKind::Sync => "sync",
        EngineKind::Async => "async",
    };
    let m = Model::from_file(file, model.path.as_deref())?;
    let run_opts = RunOptions {
        out: dir.to_path_buf(),
        run_name: Some(label.to_string()),
        resume: None,
        ..opts.run.clone()
    };
    let outcome = run::run(&m, &run_opts, obs)?;
    let s = &outcome.summary;
    Ok(CompareRow {
        label: label.to_string(),
        engine: engine.into(),
        theta,
        jitter,
        sample_interval: interval,
        run_dir: outcome.run_dir.clone(),
        test_accuracy: s.metrics.iter().map(|m| m.test_accuracy).collect(),
        train_seconds: s.metrics.iter().map(|m| m.train_seconds).sum(),
        wall_seconds: s.wall_seconds,
        counters: s.counters,
    })
}

/// The lower end of a delay distribution: where the jittered delays start.
fn base_delay(d: Delay) -> f32 {
    match d {
        Delay::Fixed { value } => value,
        Delay::Uniform { low, .. } => low,
        Delay::Normal { mean, .. } => mean,
        Delay::Exponential { min, .. } => min,
    }
}

impl Comparison {
    /// The side-by-side table.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let epochs = self
            .rows
            .iter()
            .map(|r| r.test_accuracy.len())
            .max()
            .unwrap_or(0);
        writeln!(
            s,
            "# {} — sync vs async (seed {}, {})\n",
            self.model,
            self.seed,
            crate::text::plural(self.threads, "thread")
        )
        .ok();
        writeln!(s, "Both sides use `coupling: delayed` (event semantics). Deliveries: synaptic events delivered (async) or dense synapse-steps (sync). Staleness: mean number of other samples' updates a synapse received between reading C for a sample and writing its update.\n").ok();
        let mut header = String::from("| run |");
        let mut rule = String::from("|---|");
        for e in 1..=epochs {
            write!(header, " acc ep{e} |").ok();
            rule.push_str("---:|");
        }
        header.push_str(" train s | events | events/sample | deliveries | updates | staleness |");
        rule.push_str("---:|---:|---:|---:|---:|---:|");
        writeln!(s, "{header}\n{rule}").ok();
        for r in &self.rows {
            let c = &r.counters;
            let mut line = format!("| {} |", r.label);
            for e in 0..epochs {
                match r.test_accuracy.get(e) {
                    Some(a) => write!(line, " {:.2}% |", 100.0 * a).ok(),
                    None => write!(line, " |").ok(),
                };
            }
            let per = c.events as f64 / c.samples_trained.max(1) as f64;
            let events = if r.engine == "sync" {
                "-".to_string()
            } else {
                format!("{}", c.events)
            };
            let per = if r.engine == "sync" {
                "-".to_string()
            } else {
                format!("{per:.0}")
            };
            write!(
                line,
                " {:.1} | {} | {} | {:.3e} | {:.3e} | {:.2} |",
                r.train_seconds,
                events,
                per,
                c.deliveries as f64,
                c.synapse_updates as f64,
                c.mean_staleness()
            )
            .ok();
            writeln!(s, "{line}").ok();
        }
        if let Some(sync) = self.rows.iter().find(|r| r.engine == "sync") {
            writeln!(s).ok();
            for r in self.rows.iter().filter(|r| r.engine == "async") {
                writeln!(
                    s,
                    "- {}: wall-time ratio async/sync {:.2}; deliveries {:.1}% of the sync run's dense synapse-steps",
                    r.label,
                    r.train_seconds / sync.train_seconds.max(1e-9),
                    100.0 * r.counters.deliveries as f64 / sync.counters.deliveries.max(1) as f64
                )
                .ok();
            }
        }
        s
    }
}
