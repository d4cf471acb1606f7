//! What a run records: the trace selection from the model's section and the command line,
//! with the asynchronous engine's own thresholds, and the run facts the trace manifest keeps.

use std::path::Path;

use super::RunOptions;
use crate::config::{EngineKind, Model};
use crate::engine::Engine;
use crate::error::Result;
use crate::trace::Selection;

/// The run's trace selection: the model's `trace:` section with `--trace` keys over it,
/// resolved against the network; `None` when nothing is to be recorded.
pub fn trace_selection(
    model: &Model,
    opts: &RunOptions,
) -> Result<Option<(Selection, String)>, crate::error::TraceError> {
    if opts.no_trace {
        return Ok(None);
    }
    let section = match (&model.trace, &opts.trace) {
        (None, None) => return Ok(None),
        (Some(m), None) => m.clone(),
        (None, Some(o)) => o.clone(),
        (Some(m), Some(o)) => m.merged(o),
    };
    let origin = match &opts.trace {
        Some(_) => "--trace".to_string(),
        None => format!("{}: trace", model.display_path()),
    };
    let selection =
        section
            .resolve(&model.network.layers)
            .map_err(|e| crate::error::TraceError {
                origin,
                key: e.key,
                detail: e.detail,
            })?;
    Ok(Some((
        recorded_selection(selection, model),
        section.to_spec(),
    )))
}

/// The selection as recorded for `model`: the asynchronous engine records the events it
/// really sends, so its own thresholds replace the selection's (which apply to the events
/// derived from the synchronous engine's signals).
pub fn recorded_selection(mut selection: Selection, model: &Model) -> Selection {
    if model.engine == EngineKind::Async {
        let a = &model.asynchronous;
        selection.theta = a.theta;
        selection.theta_backward = a.theta_backward;
    }
    selection
}

/// What the trace manifest says about this run.
pub fn trace_info(
    model: &Model,
    engine: &dyn Engine,
    run_dir: &Path,
    seed: u64,
    spec: String,
) -> crate::trace::recorder::RunInfo {
    let s = model.settings.clone();
    let dt = crate::trace::decimal(s.dt);
    crate::trace::recorder::RunInfo {
        run_id: run_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        model_name: model.name.clone(),
        seed,
        engine: engine.name().into(),
        layers: model.network.layers.clone(),
        spec,
        dt,
        forward_window: crate::trace::step_time(s.forward_steps, dt),
        backward_window: crate::trace::step_time(s.backward_steps, dt),
    }
}
