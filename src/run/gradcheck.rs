//! `bsp-sim gradcheck` as a command: the model's training data, its network from the seed
//! or a checkpoint, and the chosen batch, handed to [`crate::gradcheck::gradcheck`].

use crate::checkpoint::Checkpoint;
use crate::error::SimError;
use crate::gradcheck::{gradcheck, Report};

/// What `bsp-sim gradcheck` checks: which batch, which weights.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    /// Samples in the batch (at most the training set).
    pub batch: usize,
    /// Take the batch from the seeded order of the first epoch instead of the first samples.
    pub shuffle: bool,
    /// Seed of the network and of the order (default: the checkpoint's, else the model's).
    pub seed: Option<u64>,
    /// A run directory or checkpoint whose coefficients replace the initial ones.
    pub checkpoint: Option<std::path::PathBuf>,
    pub threads: Option<usize>,
    pub data_dir: Option<std::path::PathBuf>,
    pub offline: bool,
}

/// Loads the model's training data, builds its network from the seed (or a checkpoint)
/// and runs [`gradcheck`] on the chosen batch.
pub fn gradcheck_model(
    model: &crate::Model,
    opts: &CheckOptions,
    progress: &dyn crate::progress::Progress,
) -> crate::Result<Report> {
    let ck = match &opts.checkpoint {
        Some(p) => Some(Checkpoint::load(p)?),
        None => None,
    };
    let seed = opts
        .seed
        .or(ck.as_ref().map(|(c, _)| c.seed))
        .unwrap_or(model.seed);
    let threads = super::thread_count(opts.threads);
    let split = super::load_data(
        model,
        seed,
        opts.data_dir.clone(),
        opts.offline,
        None,
        Some(0),
        progress,
    )?;
    // The check is defined on the synchronous engine's discretisation, whatever `engine`
    // the model names.
    let mut engine = super::build_sync_engine(model, seed, threads);
    if let Some((ck, file)) = &ck {
        super::restore(&mut engine, ck, file)?;
    }
    let n = opts.batch.min(split.train.len());
    if n == 0 {
        return Err(SimError::NoSamples {
            during: "the gradient check".into(),
        }
        .into());
    }
    let indices: Vec<usize> = if opts.shuffle {
        super::epoch_order(seed, 0, split.train.len())[..n].to_vec()
    } else {
        (0..n).collect()
    };
    Ok(gradcheck(
        &model.name,
        &mut engine,
        &split.train,
        &indices,
        threads,
    )?)
}
