//! What a run records: the trace selection from the model's section and the command line,
//! with the asynchronous engine's own thresholds, and the run facts the trace manifest keeps.

use std::path::Path;

use super::RunOptions;
use crate::config::{EngineKind, Model};
use crate::engine::Engine;
use crate::error::Result;
use crate::trace::{Selection, TraceSection};

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
    let mut given = vec![];
    if let Some(m) = &model.trace {
        given.push((m, format!("{}: trace", model.display_path())));
    }
    if let Some(o) = &opts.trace {
        given.push((o, "--trace".to_string()));
    }
    refuse_ignored_keys(model, &given)?;
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
        recorded_spec(model, section),
    )))
}

/// Refuses, for the asynchronous engine, a `theta` or `theta_backward` key the user gave
/// (in one of `given`, named by its origin): that engine records the events it really
/// sends, with its own `async.theta` and `async.theta_backward`, so the key would be
/// ignored.
pub fn refuse_ignored_keys(
    model: &Model,
    given: &[(&TraceSection, String)],
) -> Result<(), crate::error::TraceError> {
    if model.engine != EngineKind::Async {
        return Ok(());
    }
    let a = &model.asynchronous;
    for (s, origin) in given {
        let key = match (s.theta, s.theta_backward) {
            (Some(_), _) => "theta",
            (None, Some(_)) => "theta_backward",
            (None, None) => continue,
        };
        return Err(crate::error::TraceError {
            origin: origin.clone(),
            key: key.into(),
            detail: format!(
                "does not apply to engine: async, which records the events it sends with its own thresholds \
                 (async.theta {}, async.theta_backward {}); set those in the model file and drop the key",
                a.theta,
                a.theta_backward
            ),
        });
    }
    Ok(())
}

/// The spec string the manifest records: the section's, with the thresholds the engine
/// really uses (the asynchronous engine's own).
pub fn recorded_spec(model: &Model, mut section: TraceSection) -> String {
    if model.engine == EngineKind::Async {
        let a = &model.asynchronous;
        section.theta = Some(a.theta);
        section.theta_backward = Some(a.theta_backward);
    }
    section.to_spec()
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
