//! The learning rules: everything that turns what a synapse or a neuron observed into a
//! change of its parameters, in the paper's vocabulary.
//!
//! * [`output_error`]: the readout of an output neuron and the error e that starts the
//!   backward wave (squared or softmax; §3);
//! * [`limiter()`]: G2 = atan(kt · G1) / kt (Eq. 18);
//! * [`connections`]: method 2, a synapse's C += scale · G2(I_pre · Î_post) (Eq. 22, 23),
//!   per synapse and batched;
//! * [`fixed_points`]: method 1, a neuron's K3 ← K3 · exp(−scale · G2) (Eq. 17-19);
//! * [`linearised`]: the local variant whose reversed pass is each neuron's own forward step
//!   linearised along its own recorded trajectory, one neuron at a time (what an actor of the
//!   asynchronous engine runs);
//! * [`adjoint`]: the exact gradient −∂L/∂C through the engine's discretised window (a
//!   yardstick, not local), and the batched form of `linearised` the synchronous engine runs.
//!
//! The rules are named by [`crate::config::LearningRule`] (`bsp`, `linearised`, `adjoint`)
//! and [`crate::config::LearningMethod`] (connections, fixed points); the model file
//! validation refuses a rule an engine cannot run (`LearningRule::runs_on`). What each rule
//! reads, and how to add one, is in ARCHITECTURE.md ("Learning rules").

pub mod adjoint;
pub mod connections;
pub mod fixed_points;
pub mod limiter;
pub mod linearised;
pub mod optimiser;

pub mod output_error;

pub use limiter::{atan, limiter};
pub use output_error::{argmax, injection, readout};
