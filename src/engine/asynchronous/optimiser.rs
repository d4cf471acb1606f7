//! The per-synapse optimiser on the asynchronous engine (`learning.optimiser` other than
//! `sgd`): each synapse's moments, the G2 it has summed in the current minibatch and its
//! last change, kept in canonical coefficient order and lent, row block by row block, to
//! the worker that owns the synapse's postsynaptic neuron (as the coefficients are).
//!
//! A minibatch's samples add their share of the batch-mean G2 as their updates fall due;
//! the last one carries the step ([`OptimiserStep`]) at which every synapse moves by
//! `learning::optimiser::step_synapses`, the synchronous engine's arithmetic
//! (`worker::update`).

use std::sync::{Mutex, RwLock};

use super::schedule::OptimiserStep;
use crate::config::{LearningMethod, Settings};
use crate::learning::optimiser::OptimiserState;

/// A worker's share of the optimiser state of one projection, row for row with its
/// coefficients: the G2 its synapses have summed so far in the current minibatch, and
/// their moments (`m` empty for `sgd`, `v` unless `adam`).
pub struct OptimiserRows<'a> {
    pub grad: &'a mut [f32],
    pub m: &'a mut [f32],
    pub v: &'a mut [f32],
}

/// What the workers of one call borrow: `rows[l][w]` and `deltas[l][w]` cover the synapses
/// of `Shared::rows[l][w]` (both empty without an optimiser).
pub type Lent<'a> = (
    Vec<Vec<Mutex<OptimiserRows<'a>>>>,
    Vec<Vec<RwLock<&'a mut [f32]>>>,
);

/// The engine's optimiser state.
#[derive(Debug)]
pub struct Optimiser {
    /// Whether minibatches end with an optimiser step (`learning.optimiser` not `sgd`).
    pub active: bool,
    /// Whether that step moves synapses (method 2) rather than neurons' K3 (method 1,
    /// whose moments the workers keep with their neurons: `worker::fixed_points`).
    pub per_synapse: bool,
    /// The moments and the step count (minibatches trained): per projection, one per
    /// synapse (method 2), or per layer, one per neuron (method 1). Every parameter has
    /// applied every counted step once nothing is in flight (as after `Engine::finish`,
    /// when a checkpoint reads it).
    pub state: OptimiserState,
    /// Per projection: each synapse's G2 summed over the samples of its current minibatch
    /// whose updates have fallen due (zero between minibatches; empty for `sgd`).
    grads: Vec<Vec<f32>>,
    /// Per projection: the change each synapse made at its last optimiser step, read by
    /// the workers that own its presynaptic neuron to adjust their reversed inputs.
    deltas: Vec<Vec<f32>>,
}

impl Optimiser {
    /// The state of synapses stored in blocks of `lens[l]` coefficients per projection (a
    /// whole projection, or a rank's part of it), or of `sizes[l]` neurons per layer.
    pub fn new(settings: &Settings, lens: &[usize], sizes: &[usize]) -> Self {
        let active = !settings.optimiser.is_sgd();
        let per_synapse = active && settings.method == LearningMethod::Connections;
        let zeros = || -> Vec<Vec<f32>> {
            lens.iter()
                .map(|&n| vec![0.0; if per_synapse { n } else { 0 }])
                .collect()
        };
        let state = match settings.method {
            LearningMethod::Connections => OptimiserState::zeros(settings.optimiser, lens),
            LearningMethod::FixedPoints => OptimiserState::zeros(settings.optimiser, sizes),
        };
        Optimiser {
            active,
            per_synapse,
            state,
            grads: zeros(),
            deltas: zeros(),
        }
    }

    /// The step a minibatch trained with learning rate `lr` ends with (counted now).
    pub fn next_step(&mut self, lr: f32) -> OptimiserStep {
        self.state.step += 1;
        OptimiserStep {
            t: self.state.step,
            lr,
        }
    }

    /// Replaces the state (a checkpoint's); nothing may be in flight.
    pub fn restore(&mut self, state: OptimiserState) {
        self.state = state;
        for g in self.grads.iter_mut() {
            g.fill(0.0);
        }
    }

    /// Lends each worker its rows: `lens[l][w]` synapses of projection `l` to worker `w`.
    pub fn lend<'a>(&'a mut self, lens: &[Vec<usize>]) -> Lent<'a> {
        let (mut rows, mut deltas) = (Vec::new(), Vec::new());
        if !self.per_synapse {
            return (rows, deltas);
        }
        let mut m = self.state.m.iter_mut();
        let mut v = self.state.v.iter_mut();
        for ((g, d), lens) in self.grads.iter_mut().zip(&mut self.deltas).zip(lens) {
            let mut m = split_rows(m.next().map_or(Default::default(), |x| x), lens);
            let mut v = split_rows(v.next().map_or(Default::default(), |x| x), lens);
            let blocks = split_rows(g, lens)
                .map(|grad| {
                    Mutex::new(OptimiserRows {
                        grad,
                        m: m.next().unwrap_or_default(),
                        v: v.next().unwrap_or_default(),
                    })
                })
                .collect();
            rows.push(blocks);
            deltas.push(split_rows(d, lens).map(RwLock::new).collect());
        }
        (rows, deltas)
    }
}

/// Splits `all` into consecutive blocks of `lens` (the rows each worker owns); an empty
/// `all` (state the optimiser does not keep) gives empty blocks.
pub fn split_rows<'a>(all: &'a mut [f32], lens: &[usize]) -> std::vec::IntoIter<&'a mut [f32]> {
    let keep = !all.is_empty();
    let mut rest = all;
    let mut blocks = Vec::with_capacity(lens.len());
    for &len in lens {
        let len = if keep { len } else { 0 };
        let (block, tail) = std::mem::take(&mut rest).split_at_mut(len);
        rest = tail;
        blocks.push(block);
    }
    blocks.into_iter()
}
