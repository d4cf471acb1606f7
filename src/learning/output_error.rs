//! The output error that starts the backward wave, and the readout it is formed from.
//!
//! Nothing here reads a global quantity: an output neuron's readout comes from its own
//! forward-window integral, and the error from the readouts of the output layer and the
//! teacher value (softmax couples the output layer laterally, as in the paper's §3).
//! Generic over [`Real`], so that the engines (`f32`) and the gradient check (`f64`) form
//! the same error with the same code.

use crate::config::{ErrorKind, LearningRule, OutputError, Readout};
use crate::real::Real;

impl OutputError {
    /// Writes the error `e` injected into the reversed output systems for readout `y` and
    /// class `label`, and returns the sample's loss (half squared error, or cross-entropy of
    /// softmax(beta · y)).
    ///
    /// `squared`: e = amplitude · onehot − y. `softmax`: e = onehot − softmax(beta · y). Both
    /// are minus the derivative of their loss with respect to y (up to the factor beta for
    /// softmax, see [`OutputError::descent_per_error`]), so injecting e descends the loss.
    pub fn error<T: Real>(&self, y: &[T], label: usize, e: &mut [T]) -> T {
        match self.kind {
            ErrorKind::Squared => {
                let amplitude = T::from_f32(self.amplitude);
                let mut loss = T::ZERO;
                for (k, (ek, &yk)) in e.iter_mut().zip(y).enumerate() {
                    let target = if k == label { amplitude } else { T::ZERO };
                    *ek = target - yk;
                    loss += T::from_f32(0.5) * *ek * *ek;
                }
                loss
            }
            ErrorKind::Softmax => {
                let beta = T::from_f32(self.beta);
                let mut max = T::from_f64(f64::NEG_INFINITY);
                for &v in y {
                    let b = beta * v;
                    if b > max {
                        max = b;
                    }
                }
                let mut z = T::ZERO;
                for (ek, &yk) in e.iter_mut().zip(y) {
                    *ek = (beta * yk - max).exp();
                    z += *ek;
                }
                for (k, ek) in e.iter_mut().enumerate() {
                    let p = *ek / z;
                    *ek = if k == label { T::ONE - p } else { -p };
                }
                z.ln() - (beta * y[label] - max)
            }
        }
    }

    /// −∂L/∂y per unit of error e: 1 for the squared error, beta for softmax.
    pub fn descent_per_error<T: Real>(&self) -> T {
        match self.kind {
            ErrorKind::Squared => T::ONE,
            ErrorKind::Softmax => T::from_f32(self.beta),
        }
    }
}

/// The current injected into a reversed output system per unit of error: `error.scale` for
/// `bsp`, whose reversed systems are nonlinear and expansive for large inputs (a small
/// injection keeps them in range; the update divides it out again), and 1 for the linear
/// passes of `linearised` and `adjoint`.
pub fn injection(rule: LearningRule, error_scale: f32) -> f32 {
    match rule {
        LearningRule::Bsp => error_scale,
        LearningRule::Linearised | LearningRule::Adjoint => 1.0,
    }
}

/// The readout y of an output neuron from its forward-window integral over a window of
/// length `window`.
#[inline]
pub fn readout<T: Real>(kind: Readout, integral: T, window: T) -> T {
    match kind {
        Readout::Mean => integral / window,
        Readout::Integral => integral,
    }
}

/// ∂y/∂I of the readout.
pub fn readout_slope<T: Real>(kind: Readout, window: T) -> T {
    match kind {
        Readout::Mean => T::ONE / window,
        Readout::Integral => T::ONE,
    }
}

/// Index of the largest value (first on ties): the predicted class.
pub fn argmax<T: PartialOrd>(y: &[T]) -> usize {
    let mut best = 0;
    for (k, v) in y.iter().enumerate() {
        if *v > y[best] {
            best = k;
        }
    }
    best
}
