//! The checks of a model file that reach across its sections: what the optimiser, the
//! weight decay, the augmentation and the `async` section allow depends on the method, the
//! rule, the engine and the data. Each names the field and the fix.

use super::{
    ActorGranularity, BackwardInput, Delay, EngineKind, LearningMethod, LearningRule, LocalStep,
    ModelFile, Optimiser,
};

/// `learning.optimiser`: its parameters, and where it runs (per synapse for method 2, on
/// either engine; per neuron on ln K3 for method 1, on the synchronous engine).
pub(super) fn check_optimiser(file: &ModelFile) -> Result<(), (&'static str, String)> {
    let opt = file.learning.optimiser;
    let unit = |x: f32| x.is_finite() && (0.0..1.0).contains(&x);
    match opt {
        Optimiser::Sgd => return Ok(()),
        Optimiser::Momentum { beta } if !unit(beta) => {
            return Err((
                "learning.optimiser.beta",
                format!("must be in [0, 1), got {beta}"),
            ))
        }
        Optimiser::Adam { beta1, beta2, eps } => {
            if !unit(beta1) || !unit(beta2) {
                return Err((
                    "learning.optimiser",
                    format!("adam's beta1 and beta2 must be in [0, 1), got {beta1} and {beta2}"),
                ));
            }
            if !(eps.is_finite() && eps > 0.0) {
                return Err(("learning.optimiser.eps", format!("must be > 0, got {eps}")));
            }
        }
        Optimiser::Momentum { .. } => {}
    }
    Ok(())
}

/// `data.augment.shift`: less than the side of the (square) images.
pub(super) fn augment_shift(file: &ModelFile) -> Result<usize, String> {
    let Some(a) = file.data.augment else {
        return Ok(0);
    };
    let dim = match &file.data.synthetic {
        Some(s) if file.data.dataset == "synthetic" => s.dim,
        _ => 28 * 28,
    };
    match crate::data::augment::side(dim) {
        None => Err(format!("needs square images; these have {dim} pixels")),
        Some(side) if a.shift >= side => Err(format!(
            "must be below the image side ({side}), got {}",
            a.shift
        )),
        Some(_) => Ok(a.shift),
    }
}

/// `learning.weight_decay`: a finite λ >= 0 with lr · λ < 1 (so that no update flips or
/// zeroes a coefficient), and, when on, method 2 on the synchronous engine.
pub(super) fn check_weight_decay(file: &ModelFile) -> Result<(), String> {
    let (wd, lr) = (file.learning.weight_decay, file.learning.lr);
    if !(wd.is_finite() && wd >= 0.0) {
        return Err(format!("must be a finite number >= 0, got {wd}"));
    }
    if wd == 0.0 {
        return Ok(());
    }
    if lr * wd >= 1.0 {
        return Err(format!(
            "must be < 1 / learning.lr = {} (each update multiplies C by 1 - lr * weight_decay), got {wd}; lower it or learning.lr",
            1.0 / lr
        ));
    }
    if file.learning.method != LearningMethod::Connections {
        return Err("decays synaptic coefficients (method 2); use learning.method: connections, or weight_decay: 0 with fixed_points".into());
    }
    if file.engine == EngineKind::Async {
        return Err("runs on the synchronous engine only (the asynchronous workers apply the plain update): use engine: sync, or weight_decay: 0".into());
    }
    Ok(())
}

/// The `async` section: checked whatever the engine (a file stays valid when `engine`
/// flips), plus what the asynchronous engine itself cannot do.
pub(super) fn check_async(file: &ModelFile) -> Result<(), (&'static str, String)> {
    let a = &file.asynchronous;
    let i = &file.integration;
    if !(a.theta.is_finite() && a.theta >= 0.0) {
        return Err((
            "async.theta",
            format!("must be >= 0 (0 sends every change), got {}", a.theta),
        ));
    }
    if let Some(t) = a.theta_backward {
        if !(t.is_finite() && t >= 0.0) {
            return Err((
                "async.theta_backward",
                format!("must be >= 0 (0 sends every change), got {t}"),
            ));
        }
    }
    let ok = match a.delay {
        Delay::Fixed { value } => value.is_finite() && value >= 0.0,
        Delay::Uniform { low, high } => {
            low.is_finite() && high.is_finite() && 0.0 <= low && low <= high
        }
        Delay::Normal { mean, std } => {
            mean.is_finite() && std.is_finite() && mean >= 0.0 && std >= 0.0
        }
        Delay::Exponential { min, mean } => {
            min.is_finite() && mean.is_finite() && 0.0 <= min && min <= mean
        }
    };
    if !ok {
        return Err((
            "async.delay",
            format!("{:?} is not a delay distribution on [0, inf): delays and their parameters must be finite and >= 0 (uniform: low <= high; exponential: min <= mean)", a.delay),
        ));
    }
    if let Some(v) = a.sample_interval {
        let longest = i.forward_window.max(i.backward_window);
        if !(v.is_finite() && v >= longest) {
            return Err((
                "async.sample_interval",
                format!("is {v} but must be at least the longer window ({longest}): a neuron's forward or reversed system serves one sample at a time; raise it or leave it out"),
            ));
        }
    }
    if a.max_in_flight == 0 {
        return Err(("async.max_in_flight", "must be at least 1".into()));
    }
    if let LocalStep::Adaptive {
        tolerance,
        max_halvings,
    } = a.step
    {
        if !(tolerance.is_finite() && tolerance > 0.0) {
            return Err((
                "async.step.tolerance",
                format!("must be > 0, got {tolerance}"),
            ));
        }
        if max_halvings > 20 {
            return Err((
                "async.step.max_halvings",
                format!("must be at most 20, got {max_halvings}"),
            ));
        }
    }
    if file.engine == EngineKind::Async {
        let rule = file.learning.rule;
        if !rule.runs_on(EngineKind::Async) {
            return Err((
                "learning.rule",
                format!("`{}` is not a local rule, and the asynchronous engine runs only local ones (`bsp`, `linearised`): use learning.rule: linearised, or engine: sync", rule.name()),
            ));
        }
        if rule == LearningRule::Linearised && a.actor == ActorGranularity::Element {
            return Err((
                "async.actor",
                "`element` actors exchange their reversed system's elements, which learning.rule: linearised does not run (a neuron replays its own forward step): use `neuron`".into(),
            ));
        }
        if rule == LearningRule::Linearised && a.step != LocalStep::Fixed {
            return Err((
                "async.step",
                "learning.rule: linearised replays fixed forward steps (it differentiates the step the neuron took); adaptive sub-steps have no recorded step to replay: use `fixed`".into(),
            ));
        }
        if a.actor == ActorGranularity::Element
            && (i.method == crate::neuron::Integrator::Rk4 || a.step != LocalStep::Fixed)
        {
            return Err((
                "async.actor",
                "`element` actors take explicit steps from the values their neighbours sent (integration.method euler or semi_implicit, async.step fixed); RK4 and adaptive steps need intermediate states of the other elements: use `neuron`".into(),
            ));
        }
        if !(a.element_theta.is_finite() && a.element_theta >= 0.0) {
            return Err((
                "async.element_theta",
                format!("must be >= 0, got {}", a.element_theta),
            ));
        }
        if file.error.backward_input == BackwardInput::TimeVarying {
            return Err((
                "error.backward_input",
                "the asynchronous engine injects a constant error (time_varying would need every output neuron's whole forward trace); use `constant` or `engine: sync`".into(),
            ));
        }
    }
    Ok(())
}
