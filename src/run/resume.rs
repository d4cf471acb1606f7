//! `--resume RUN_DIR`: the run continues the plan its checkpoint stores (model, seed,
//! limits, planned epochs), as the only writer of its directory. A flag that would change
//! the plan is applied and recorded in the summary (`--epochs`, `--threads`) or refused with
//! the reason (`--seed`, `--train-limit`, `--test-limit`, a different MODEL); a directory a
//! live process still writes is refused.

use std::path::{Path, PathBuf};

use super::{Observer, RunOptions};
use crate::checkpoint::{Checkpoint, Plan};
use crate::config::Model;
use crate::error::{CheckpointError, Result};
use crate::fsutil::RunLock;
use crate::report::{RunState, Summary};

/// A run being resumed: its checkpoint, directory, lock and plan.
pub(super) struct Continuation {
    pub ck: Checkpoint,
    /// The checkpoint file.
    pub file: PathBuf,
    pub run_dir: PathBuf,
    pub lock: RunLock,
    /// The checkpoint's model.
    pub model: Model,
    pub plan: Plan,
    /// What the command line changed in the stored plan, for the summary.
    pub changes: Vec<String>,
}

/// The run directory of `path` (a run directory or its checkpoint file).
fn run_dir_of(path: &Path) -> PathBuf {
    if path.is_file() {
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        path.to_path_buf()
    }
}

/// The model a run directory was trained with (its checkpoint's), for `bsp-sim run --resume
/// DIR` without MODEL. A relative `data.dir` resolves against the model file the run was
/// started from, as the summary records it.
pub fn resume_model(path: &Path) -> Result<Model> {
    let (ck, file) = Checkpoint::load(path)?;
    let origin = Summary::read(&run_dir_of(path))
        .ok()
        .and_then(|s| s.model_path)
        .map(PathBuf::from);
    Ok(ck.model(&file, origin.as_deref())?)
}

/// Locks the run directory of `path`, loads and checks its checkpoint, and works out the
/// plan to continue; see the module doc.
pub(super) fn continuation(
    model: &Model,
    path: &Path,
    opts: &RunOptions,
    threads: usize,
    obs: &mut dyn Observer,
) -> Result<Continuation> {
    let run_dir = run_dir_of(path);
    if !run_dir.is_dir() {
        return Err(CheckpointError::Missing {
            path: path.to_path_buf(),
        }
        .into());
    }
    // Read what the summary means before this process takes the lock itself.
    let before = Summary::read(&run_dir).ok().map(|s| s.state(&run_dir));
    if let Some(RunState::Running { holder }) = before {
        return Err(crate::error::BusyError {
            dir: run_dir,
            holder,
        }
        .into());
    }
    let lock = RunLock::acquire(&run_dir)?;
    let (ck, file) = Checkpoint::load(path)?;
    let ck_model = ck.model(&file, model.path.as_deref())?;
    let refuse = |detail: String| CheckpointError::Plan {
        dir: run_dir.clone(),
        detail,
    };
    let as_json = |m: &crate::config::ModelFile| serde_json::to_value(m).ok();
    if as_json(model.file()) != as_json(&ck.model) {
        return Err(refuse(format!(
            "the model {} differs from the one this run was trained with (kept in its checkpoint); \
             leave MODEL out (bsp-sim run --resume DIR) or pass the run's own model.yaml",
            model.display_path()
        ))
        .into());
    }
    ck.check(&file, &ck_model.network.layers)?;
    if let Some(seed) = opts.seed.filter(|&s| s != ck.seed) {
        return Err(refuse(format!(
            "--seed {seed} differs from the run's seed {}; a resumed run continues with its own seed \
             (drop --seed, or start a new run)",
            ck.seed
        ))
        .into());
    }
    for (flag, given, stored) in [
        ("--train-limit", opts.train_limit, ck.train_limit),
        ("--test-limit", opts.test_limit, ck.test_limit),
    ] {
        if let Some(n) = given.filter(|&n| Some(n) != stored) {
            let was = stored.map_or("no limit".to_string(), |s| s.to_string());
            return Err(refuse(format!(
                "{flag} {n} differs from the run's ({was}); changing the data set mid-run would \
                 not continue the same run (drop {flag}, or start a new run)"
            ))
            .into());
        }
    }
    let stored = ck.epochs_planned(&ck_model);
    let planned = opts.epochs.unwrap_or(stored);
    if planned < ck.epochs_done {
        return Err(refuse(format!(
            "--epochs {planned} is below the {} epochs already done; give at least that many",
            ck.epochs_done
        ))
        .into());
    }
    let mut changes = Vec::new();
    if planned != stored {
        changes.push(format!("epochs_planned {stored} -> {planned} (--epochs)"));
    }
    if let Some(t) = ck.threads.filter(|&t| t != threads) {
        changes.push(format!(
            "threads {t} -> {threads} (results do not depend on it)"
        ));
    }
    if let Some(state @ RunState::Vanished { .. }) = &before {
        obs.note(&format!(
            "{} was {state}; resuming from its checkpoint (epoch {})",
            run_dir.display(),
            ck.epochs_done
        ));
    }
    let plan = Plan {
        seed: ck.seed,
        epochs_done: ck.epochs_done,
        epochs_planned: planned,
        train_limit: ck.train_limit,
        test_limit: ck.test_limit,
        threads,
    };
    Ok(Continuation {
        ck,
        file,
        run_dir,
        lock,
        model: ck_model,
        plan,
        changes,
    })
}
