//! From flags to the library's options: each subcommand's arguments become the options
//! struct of the library call it makes (`RunOptions`, `SampleOptions`, ...).

use bsp_sim::compare::CompareOptions;
use bsp_sim::error::TraceError;
use bsp_sim::plot::PlotOptions;
use bsp_sim::run::gradcheck::CheckOptions;
use bsp_sim::run::sample::SampleOptions;
use bsp_sim::run::RunOptions;
use bsp_sim::trace::TraceSection;
use bsp_sim::{Error, Result};

use super::args::{
    CompareArgs, DataArgs, EvalArgs, GradcheckArgs, PlotArgs, RunArgs, RunShape, TraceArgs,
};
use super::console::stop_on_ctrl_c;

impl RunArgs {
    /// The options of `bsp-sim run`; installs the Ctrl-C handler that stops the run.
    pub fn options(&self) -> Result<RunOptions> {
        Ok(RunOptions {
            resume: self.resume.clone(),
            trace: self.trace.as_deref().map(parse_trace).transpose()?,
            no_trace: self.no_trace,
            stop: Some(stop_on_ctrl_c()),
            gradcheck_every: self.gradcheck_every,
            ..shaped(&self.shape, &self.data)
        })
    }
}

impl CompareArgs {
    /// The options of `bsp-sim compare`.
    pub fn options(&self) -> CompareOptions {
        CompareOptions {
            run: shaped(&self.shape, &self.data),
            thetas: self.theta.clone(),
            jitters: self.jitter.clone(),
            intervals: self.sample_interval.clone(),
        }
    }
}

impl EvalArgs {
    /// The options of `bsp-sim eval`.
    pub fn options(&self) -> RunOptions {
        RunOptions {
            test_limit: self.test_limit,
            threads: self.threads.threads,
            data_dir: self.data.dir.data.clone(),
            offline: self.data.offline,
            ..RunOptions::default()
        }
    }
}

impl TraceArgs {
    /// The options of `bsp-sim trace`.
    pub fn options(&self) -> Result<SampleOptions> {
        Ok(SampleOptions {
            sample: self.sample,
            checkpoint: self.checkpoint.clone(),
            seed: self.seed,
            out: self.out.clone(),
            data_dir: self.data.dir.data.clone(),
            offline: self.data.offline,
            spec: self.trace.as_deref().map(parse_trace).transpose()?,
        })
    }
}

impl GradcheckArgs {
    /// The options of `bsp-sim gradcheck`.
    pub fn options(&self) -> CheckOptions {
        CheckOptions {
            batch: self.batch,
            shuffle: self.shuffle,
            seed: self.seed,
            checkpoint: self.checkpoint.clone(),
            threads: self.threads.threads,
            data_dir: self.data.dir.data.clone(),
            offline: self.data.offline,
        }
    }
}

impl PlotArgs {
    /// The options of `bsp-sim plot`.
    pub fn options(&self) -> Result<PlotOptions> {
        Ok(PlotOptions {
            neurons: match &self.neurons {
                Some(n) => bsp_sim::plot::parse_neurons(n)?,
                None => Vec::new(),
            },
            sample: self.sample,
            epoch: self.epoch,
            out: self.out.clone(),
        })
    }
}

/// The run options `run` and `compare` share: the run's shape, its data and the source
/// commit recorded in summary.json.
fn shaped(shape: &RunShape, data: &DataArgs) -> RunOptions {
    RunOptions {
        epochs: shape.epochs,
        train_limit: shape.train_limit,
        test_limit: shape.test_limit,
        seed: shape.seed,
        threads: shape.threads.threads,
        out: shape.out.clone(),
        data_dir: data.dir.data.clone(),
        offline: data.offline,
        git_commit: git_commit(),
        ..RunOptions::default()
    }
}

/// The bsp-sim source commit the binary was built from (build.rs), when known.
fn git_commit() -> Option<String> {
    Some(env!("BSP_SIM_GIT_COMMIT").to_string()).filter(|s| !s.is_empty())
}

/// Parses a `--trace` spec string; errors name `--trace` as their origin.
fn parse_trace(spec: &str) -> Result<TraceSection> {
    TraceSection::parse(spec).map_err(|e| {
        Error::Trace(TraceError {
            origin: "--trace".into(),
            key: e.key,
            detail: e.detail,
        })
    })
}
