//! Why a worker stopped before the end of its call, and the error it becomes.

use super::Sample;
use crate::error::SimError;

/// Why a worker stopped early.
#[derive(Debug)]
pub enum Stop {
    Peer,
    NonFinite {
        phase: &'static str,
        layer: usize,
        slot: usize,
    },
    FixedPoint {
        layer: usize,
        neuron: usize,
        detail: String,
    },
}

impl Stop {
    pub fn into_error(self, samples: &[Sample], dt: f32) -> Option<SimError> {
        match self {
            Stop::Peer => None,
            Stop::NonFinite { phase, layer, slot } => Some(SimError::NonFinite {
                phase,
                layer,
                sample: samples
                    .iter()
                    .find(|s| s.slot == slot)
                    .map_or(0, |s| s.index),
                dt,
            }),
            Stop::FixedPoint {
                layer,
                neuron,
                detail,
            } => Some(SimError::FixedPoint {
                layer,
                neuron,
                detail,
            }),
        }
    }
}
