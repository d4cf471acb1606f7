//! Gradients: the exact derivative of the loss with respect to every synaptic coefficient,
//! ∂L/∂C, through the synchronous engine's own discretised dynamics — the yardstick the
//! paper's local rule is measured against (issue 5, "theory tools") and an alternative
//! training rule.
//!
//! BSP's modulation signal G1 = ∫D_pre dt · ∫D̂_post dt (paper Eq. 22) stands in for the
//! gradient: the reversed system plays the role of the adjoint. Linearised at rest, with
//! uniform rates, the reversed system *is* the transpose of the forward Jacobian, so BSP is
//! backpropagation with every neuron's derivative taken at rest (bsp-model.md §7). Here:
//!
//! * [`adjoint`]: the exact discrete adjoint (reverse mode through the recorded forward
//!   window: same step, same scheme, same clamp, same zero-delay layer order), giving
//!   −∂L/∂C = Σ_n g_post^n · D_pre^n;
//! * the `linearised` rule: the same reverse pass driven by BSP's output error e, kept in
//!   BSP's product-of-integrals form G1 = ∫D_pre · Σ_n g_post^n. Each neuron's reversed
//!   system is replaced by its own forward step's linearisation along its own recorded
//!   trajectory, replayed backwards, with its own clamp mask. The rule stays local: a synapse
//!   reads its two integrals, a neuron its own trajectory;
//! * [`check`]: `bsp-sim gradcheck`, cosine, angle, sign agreement and norm ratio of BSP's
//!   and the linearised G1 against −∂L/∂C, per layer pair.
//!
//! The code is generic over [`Real`] (`f32` to train at the engine's precision, `f64` to
//! check). [`kernel`] holds one neuron's step and its adjoint, [`weights`] the synapses.
//! Only method 2 (synaptic coefficients) is differentiated; method 1's K3 is not.

pub mod adjoint;
pub mod check;
pub mod kernel;
pub mod real;
pub mod weights;

pub use adjoint::{run_batch, Batch, Mode, Net, Tape};
pub use check::{gradcheck, Comparison, Report};
pub use real::Real;
pub use weights::Weights;
