//! `bsp-sim validate`: a model file that loads, validates and builds, described for a
//! person to check (network size, fixed point, integration windows, learning settings).

use std::fmt;

use crate::config::Model;
use crate::config::Settings;
use crate::error::Result;
use crate::run::build_engine;

/// What a valid model builds; `Display` gives the description `bsp-sim validate` prints.
#[derive(Debug, Clone)]
pub struct Validation {
    pub model: Model,
    /// Synapses of the network the model's seed builds.
    pub synapses: usize,
    /// The step counts and dt the engines integrate with.
    pub settings: Settings,
    /// The memory the model is estimated to take (`config::memory`, what model validation
    /// checks against this machine), in bytes; `None` if its sizes overflow.
    pub memory: Option<u64>,
}

/// Builds the model's engine from its seed (one thread) to count its synapses, and derives
/// its engine settings.
pub fn validate(model: &Model) -> Result<Validation> {
    let engine = build_engine(model, model.seed, 1)?;
    let synapses = engine.projections().iter().map(|p| p.synapses()).sum();
    Ok(Validation {
        model: model.clone(),
        synapses,
        settings: model.settings.clone(),
        memory: crate::config::memory::estimate(model.file()).total,
    })
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (m, s) = (&self.model, &self.settings);
        match &m.path {
            Some(path) => writeln!(f, "{}: ok", path.display())?,
            None => writeln!(f, "ok")?,
        }
        writeln!(f, "  name       {}", m.name)?;
        writeln!(f, "  layers     {:?}", m.network.layers)?;
        writeln!(f, "  synapses   {}", self.synapses)?;
        if let Some(bytes) = self.memory {
            writeln!(
                f,
                "  memory     {} estimated ({bytes} bytes: synapses, neurons x batch, tape, data)",
                crate::config::memory::human(bytes)
            )?;
        }
        writeln!(f, "  fixed point B0 = {:?}", m.neuron.rest)?;
        writeln!(
            f,
            "  windows    forward {} + backward {} steps of dt {}",
            s.forward_steps, s.backward_steps, s.dt
        )?;
        let t = &m.training;
        write!(
            f,
            "  learning   {:?}, lr {}, batch {}, {}",
            s.method,
            t.lr,
            t.batch_size,
            crate::text::plural(t.epochs, "epoch")
        )
    }
}
