//! bsp-sim: a simulator of networks of symmetric five-element ODE neurons ("Wuxing" units)
//! trained by Backward Signal Propagation (Jiang & Fu, Algorithms 2025, 18(10), 594).
//!
//! Reading order follows the paper: [`neuron`] (the forward and reversed five-element
//! systems), [`topology`] (the network on petgraph), [`learning`] (the output error and the
//! local G1/G2 rule), [`engine`] (the synchronous engine and the asynchronous event-driven
//! one), then [`run`] (epochs, metrics, checkpoints) and [`data`] (IDX data sets).
//! [`causal`] is the causal-distance theory tool (paper 3.2, Fig. 5); [`gradcheck`]
//! measures BSP's update against the exact gradient through the engine's dynamics
//! (`learning::adjoint`).
//! The library never prints and never exits; the `bsp-sim` binary does both.

pub mod bench;
pub mod causal;
pub mod checkpoint;
pub mod compare;
pub mod config;
pub mod data;
pub mod distributed;
pub mod engine;
pub mod error;
pub mod fsutil;
pub mod gradcheck;
pub mod learning;
pub mod neuron;
pub mod parallel;
pub mod plot;
pub mod progress;
pub mod real;
pub mod report;
pub mod run;
pub mod text;
pub mod topology;
pub mod trace;
pub mod validate;

pub use config::Model;
pub use error::{Error, Result};
