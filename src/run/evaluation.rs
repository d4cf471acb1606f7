//! `bsp-sim eval`: a trained checkpoint's accuracy on the test set (refused on an empty
//! one) and each test sample's predicted class, with what the run directory's status means
//! now (e.g. a run whose writer was killed: "interrupted at epoch E").

use std::fmt;
use std::path::Path;

use super::assemble::{build_engine, load_data, restore, thread_count};
use super::{Observer, RunOptions};
use crate::checkpoint::Checkpoint;
use crate::engine::Tally;
use crate::error::{EmptySet, Result};
use crate::report::{Prediction, RunState, Summary};

/// What [`evaluate_checkpoint`] measured; `Display` gives the line `bsp-sim eval` prints.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The test set's tally.
    pub tally: Tally,
    /// Each test sample's predicted class, in test-set order (`epoch` is the checkpoint's
    /// epochs done): the rows of a `predictions.csv`.
    pub predictions: Vec<Prediction>,
    /// The checkpoint that was evaluated.
    pub checkpoint: Checkpoint,
    /// The state of the run directory it came from, when it has a summary.
    pub run_state: Option<RunState>,
}

impl fmt::Display for Evaluation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, ck) = (&self.tally, &self.checkpoint);
        write!(
            f,
            "{} after {} epochs: test accuracy {:.2}% ({} / {}), mean loss {:.4}",
            ck.model.name,
            ck.epochs_done,
            100.0 * t.accuracy(),
            t.correct,
            t.samples,
            t.mean_loss()
        )?;
        if let Some(state) = &self.run_state {
            write!(f, "\nrun: {state}")?;
        }
        Ok(())
    }
}

/// Evaluates a checkpoint (a file or a run directory) on its model's test set.
pub fn evaluate_checkpoint(
    path: &Path,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Evaluation> {
    let (ck, file) = Checkpoint::load(path)?;
    let model = ck.model(&file, None)?;
    let threads = thread_count(opts.threads);
    let split = load_data(
        &model,
        ck.seed,
        opts.data_dir.clone(),
        opts.offline,
        Some(0),
        opts.test_limit.or(ck.test_limit),
        obs.download_progress().as_ref(),
    )?;
    if split.test.is_empty() {
        return Err(EmptySet {
            set: "test",
            cause: super::limit_cause("test", opts.test_limit.or(ck.test_limit), model.test_limit),
        }
        .into());
    }
    let mut engine = build_engine(&model, ck.seed, threads)?;
    restore(engine.as_mut(), &ck, &file)?;
    let indices: Vec<usize> = (0..split.test.len()).collect();
    let (tally, predicted) = engine.classify(&split.test, &indices)?;
    let predictions = indices
        .iter()
        .zip(predicted)
        .map(|(&sample, predicted)| Prediction {
            epoch: ck.epochs_done,
            sample,
            label: split.test.labels[sample] as usize,
            predicted,
        })
        .collect();
    let run_dir = file.parent().unwrap_or(Path::new("."));
    let run_state = Summary::read(run_dir).ok().map(|s| s.state(run_dir));
    Ok(Evaluation {
        tally,
        predictions,
        checkpoint: ck,
        run_state,
    })
}
