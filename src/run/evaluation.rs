//! `bsp-sim eval`: a trained checkpoint's accuracy on the test set.

use std::fmt;
use std::path::Path;

use super::assemble::{build_engine, load_data, restore, thread_count};
use super::{Observer, RunOptions};
use crate::checkpoint::Checkpoint;
use crate::config::Model;
use crate::engine::Tally;
use crate::error::Result;

/// What [`evaluate_checkpoint`] measured; `Display` gives the line `bsp-sim eval` prints.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The test set's tally.
    pub tally: Tally,
    /// The checkpoint that was evaluated.
    pub checkpoint: Checkpoint,
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
        )
    }
}

/// Evaluates a checkpoint (a file or a run directory) on its model's test set.
pub fn evaluate_checkpoint(
    path: &Path,
    opts: &RunOptions,
    obs: &mut dyn Observer,
) -> Result<Evaluation> {
    let (ck, file) = Checkpoint::load(path)?;
    let model = Model::from_file(ck.model.clone(), None)?;
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
    let mut engine = build_engine(&model, ck.seed, threads)?;
    restore(engine.as_mut(), &ck, &file)?;
    let indices: Vec<usize> = (0..split.test.len()).collect();
    let tally = engine.evaluate(&split.test, &indices)?;
    Ok(Evaluation {
        tally,
        checkpoint: ck,
    })
}
