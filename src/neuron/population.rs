//! Per-layer neuron parameters as the engines integrate them: coefficients of the forward
//! and reversed systems, each neuron's rest state, and the reference levels signals are
//! measured against. Method 1 (fixed points) moves a neuron's own K3 and so its rest.

use serde::{Deserialize, Serialize};

use super::layer::LayerCoefficients;
use super::{fixed_point, Coefficients, NeuronParams, System, ELEMENTS};

/// The neurons of one layer.
#[derive(Debug, Clone)]
pub struct LayerNeurons {
    pub n: usize,
    pub base: NeuronParams,
    /// Each neuron's K3 of its output element (the parameter method 1 adjusts).
    pub k3_out: Vec<f32>,
    pub forward: LayerCoefficients,
    pub reversed: LayerCoefficients,
    /// Forward fixed point per element and neuron: the state a window starts from.
    pub rest: [Vec<f32>; ELEMENTS],
    /// Reversed fixed point per element and neuron.
    pub rest_reversed: [Vec<f32>; ELEMENTS],
    /// Forward signal reference: the output element's rest under the *initial* parameters
    /// (B_ref), so a moved fixed point acts like a bias (bsp-model.md §4, method 1).
    pub reference: Vec<f32>,
    /// Reversed signal reference: the reversed system's current rest at its output element,
    /// so the reversed signal is zero when no error arrives.
    pub reference_reversed: Vec<f32>,
}

/// The part of a layer's neurons that training changes, as stored in checkpoints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NeuronState {
    pub k3_out: Vec<f32>,
}

impl LayerNeurons {
    /// `n` identical neurons at their common fixed point.
    pub fn uniform(base: &NeuronParams, n: usize) -> Self {
        let out = base.output.index();
        let inp = base.input.index();
        LayerNeurons {
            n,
            base: base.clone(),
            k3_out: vec![base.k3[out]; n],
            forward: LayerCoefficients::uniform(&base.coefficients(System::Forward), n),
            reversed: LayerCoefficients::uniform(&base.coefficients(System::Reversed), n),
            rest: base.rest.map(|v| vec![v; n]),
            rest_reversed: base.rest_reversed.map(|v| vec![v; n]),
            reference: vec![base.rest[out]; n],
            reference_reversed: vec![base.rest_reversed[inp]; n],
        }
    }

    /// Sets neuron `j`'s output-element K3, re-solving its fixed points.
    ///
    /// Returns an error message when the new rates have no positive fixed point.
    pub fn set_k3_out(&mut self, j: usize, k3_out: f32) -> Result<(), String> {
        let b = &self.base;
        let (out, inp) = (b.output.index(), b.input.index());
        let mut k3 = b.k3;
        k3[out] = k3_out;
        let rest = fixed_point(System::Forward, b.k1, b.k2, k3)?;
        let rest_rev = fixed_point(System::Reversed, b.k1, b.k2, k3)?;
        self.k3_out[j] = k3_out;
        self.forward
            .set(j, &Coefficients::new(System::Forward, b.k1, b.k2, k3));
        self.reversed
            .set(j, &Coefficients::new(System::Reversed, b.k1, b.k2, k3));
        for k in 0..ELEMENTS {
            self.rest[k][j] = rest[k];
            self.rest_reversed[k][j] = rest_rev[k];
        }
        self.reference_reversed[j] = rest_rev[inp];
        Ok(())
    }

    /// Copies neuron `j` (its rates, rest and references) from `other`.
    pub fn copy_neuron(&mut self, other: &LayerNeurons, j: usize) {
        if self.k3_out[j] == other.k3_out[j] {
            return;
        }
        self.k3_out[j] = other.k3_out[j];
        self.forward.set(j, &other.forward.get(j));
        self.reversed.set(j, &other.reversed.get(j));
        for k in 0..ELEMENTS {
            self.rest[k][j] = other.rest[k][j];
            self.rest_reversed[k][j] = other.rest_reversed[k][j];
        }
        self.reference_reversed[j] = other.reference_reversed[j];
    }

    pub fn state(&self) -> NeuronState {
        NeuronState {
            k3_out: self.k3_out.clone(),
        }
    }

    /// Restores a checkpointed state.
    pub fn restore(&mut self, state: &NeuronState) -> Result<(), String> {
        if state.k3_out.len() != self.n {
            return Err(format!(
                "layer has {} neurons but the checkpoint stores {}",
                self.n,
                state.k3_out.len()
            ));
        }
        for (j, &k) in state.k3_out.iter().enumerate() {
            if k != self.k3_out[j] {
                self.set_k3_out(j, k)?;
            }
        }
        Ok(())
    }
}
