//! Running the workers over simulated time: each worker lent the coefficient rows (and
//! their optimiser state) of the neurons it owns, one thread per worker (the calling thread
//! and threads kept from call to call), events exchanged window by window, the first real
//! error kept; method 1's moved neurons merged back.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, RwLock};

use super::comm::Comm;
use super::optimiser::split_rows;
use super::schedule::Sample;
use super::worker::{self, Shared};
use super::{ranks, AsyncEngine};
use crate::config::LearningMethod;
use crate::data::Dataset;
use crate::error::SimError;
use crate::parallel;
use crate::topology::projection::Shape;

/// How long the two waves of a wave split poll each other before blocking: a sample
/// interval's work is a few hundred microseconds, and a blocked thread takes about as long
/// to wake on a virtual machine.
const WAVE_PATIENCE: std::time::Duration = std::time::Duration::from_millis(5);

impl AsyncEngine {
    /// Runs every worker from `now` to boundary `to`. `write_back`: the coefficient rows
    /// must hold every update when it returns (the end of an [`Engine`](crate::engine::Engine) call); otherwise
    /// the rows nobody reads during a call (`worker::update::rows_idle`) may lag behind
    /// the workers' transposed copies until then. `data`: the data set of the samples that
    /// start, and the images of those the next call starts (to be read ahead).
    pub(super) fn advance(
        &mut self,
        to: u64,
        data: Option<(&Dataset, &[usize])>,
        write_back: bool,
    ) -> Result<(), SimError> {
        let to = self.timing.boundary(to);
        // Nothing to run, unless rows lag behind and must not.
        if to < self.now || (to == self.now && !(write_back && self.rows_behind)) {
            return Ok(());
        }
        self.rows_behind = true;
        if std::mem::take(&mut self.neurons_changed) {
            for w in self.workers.iter_mut() {
                w.neurons.clone_from(&self.neurons);
            }
        }
        let samples: Vec<Sample> = self.in_flight.iter().cloned().collect();
        // Over all ranks: this process runs `self.ranks.local()` of them. Split by waves,
        // the two threads are one logical worker that owns every row.
        let threads = if self.waves { 1 } else { self.ranks.workers() };
        let (from, sizes, base, delays, timing, settings, rule) = (
            self.now,
            &self.sizes,
            &self.base,
            &self.delays,
            &self.timing,
            &self.settings,
            self.rule,
        );
        let mut shapes = Vec::new();
        let mut rows = Vec::new();
        let mut lens = Vec::new();
        let slabs = (self.parted.iter())
            .map(|q| q.as_ref().map(|q| q.cols.clone()))
            .collect();
        for (p, part) in self.projections.iter_mut().zip(self.parted.iter_mut()) {
            if let Some(part) = part {
                lens.push(part.blocks.iter().map(Vec::len).collect());
                rows.push(
                    (part.blocks.iter_mut())
                        .map(|b| RwLock::new(b.as_mut_slice()))
                        .collect(),
                );
                shapes.push(Shape::Dense);
                continue;
            }
            let (shape, c) = p.shape_and_coefficients();
            let post = sizes[shapes.len() + 1];
            let block_lens: Vec<usize> = (0..threads)
                .map(|w| {
                    let r = worker::owned(post, w, threads);
                    match shape {
                        Shape::Dense => r.len() * sizes[shapes.len()],
                        Shape::Sparse(row_ptr, _) => row_ptr[r.end] - row_ptr[r.start],
                    }
                })
                .collect();
            rows.push(split_rows(c, &block_lens).map(RwLock::new).collect());
            lens.push(block_lens);
            shapes.push(shape);
        }
        // The optimiser's state of each synapse goes with its row, to the worker that owns it.
        let (optimiser_rows, deltas) = self.optimiser.lend(&lens);
        let shared = Shared {
            settings,
            rule,
            timing,
            sizes,
            base,
            samples: &samples,
            data: data.map(|(d, _)| d),
            ahead: data.map_or(&[], |(_, ahead)| ahead),
            shapes,
            rows,
            optimiser_rows,
            deltas,
            slabs,
            delays,
            workers: threads,
            local: self.ranks.local(),
            trace: self.trace.as_ref(),
            pool_inputs: self.pool_inputs,
            spans: self.spans,
            write_back,
        };
        for w in self.workers.iter_mut() {
            w.index(&shared.shapes, sizes);
        }
        let (comms, funnel) = if self.ranks.spread() {
            let (comms, funnel) = Comm::funnelled(self.workers.len());
            (comms, Some(funnel))
        } else {
            let comms = if self.waves {
                Comm::pair(WAVE_PATIENCE)
            } else {
                Comm::mesh(threads)
            };
            (comms, None)
        };
        let collective = Arc::clone(&self.ranks.collective);
        let windows = (to - from).div_ceil(timing.lookahead);
        let (shared, samples) = (&shared, &samples);
        // One worker's call, its panic or stop turned into an error.
        let run = move |w: &mut worker::Worker, comm: Comm| {
            let outcome = catch_unwind(AssertUnwindSafe(|| w.run(shared, &comm, from, to)));
            drop(comm);
            match outcome {
                Ok(Ok(())) => Ok(()),
                Ok(Err(stop)) => match stop.into_error(samples, settings.dt) {
                    Some(e) => Err(e),
                    None => Err(SimError::WorkerPanic {
                        during: String::new(),
                        message: String::new(),
                    }),
                },
                Err(p) => {
                    let at = format!(
                        "actor layer {} neuron {} (worker {}) at step {}",
                        w.position.layer, w.position.neuron, w.id, w.position.step
                    );
                    Err(parallel::panic_error(&at, &p))
                }
            }
        };
        // This thread runs the first worker itself, unless it funnels the rank's events to
        // the other ranks while the workers run; the others run on threads kept from call
        // to call (a call is a few samples: a thread started and joined for each costs
        // more than 5% of it).
        let pooled = self.workers.len() - usize::from(funnel.is_none());
        if pooled > 0 && self.pool.as_ref().map(|p| p.current_num_threads()) != Some(pooled) {
            let pool = rayon_core::ThreadPoolBuilder::new()
                .num_threads(pooled)
                .thread_name(|k| format!("bsp-async-{k}"))
                .build()
                .map_err(|e| SimError::WorkerPanic {
                    during: "starting the asynchronous engine's threads".into(),
                    message: e.to_string(),
                })?;
            self.pool = Some(pool);
        }
        let mut results: Vec<Result<(), SimError>> = self.workers.iter().map(|_| Ok(())).collect();
        let mut jobs = self.workers.iter_mut().zip(comms).zip(results.iter_mut());
        let first = if funnel.is_none() { jobs.next() } else { None };
        let funnelled = match &self.pool {
            Some(pool) => pool.in_place_scope(|scope| {
                for ((w, comm), result) in jobs {
                    scope.spawn(move |_| *result = run(w, comm));
                }
                if let Some(((w, comm), result)) = first {
                    *result = run(w, comm);
                }
                funnel.map(|f| ranks::funnel(f, collective.as_ref(), windows))
            }),
            None => {
                if let Some(((w, comm), result)) = first {
                    *result = run(w, comm);
                }
                None
            }
        };
        // A worker that stopped because a peer did reports an empty panic; prefer the cause.
        let mut first_err = None;
        let secondary =
            |e: &SimError| matches!(e, SimError::WorkerPanic { during, .. } if during.is_empty());
        for r in results {
            if let Err(e) = r {
                if first_err.is_none()
                    || (!secondary(&e) && first_err.as_ref().is_some_and(secondary))
                {
                    first_err = Some(e);
                }
            }
        }
        self.agree(first_err.map_or(Ok(()), Err), funnelled)?;
        self.now = to;
        self.rows_behind = !write_back;
        self.merge_neurons();
        Ok(())
    }

    /// Method 1 moved neurons (and their optimiser moments) inside the workers; copy each
    /// worker's own neurons back.
    fn merge_neurons(&mut self) {
        if self.settings.method != LearningMethod::FixedPoints {
            return;
        }
        let state = &mut self.optimiser.state;
        for w in &self.workers {
            for (l, r) in w.ranges.iter().enumerate() {
                for j in r.clone() {
                    self.neurons[l].copy_neuron(&w.neurons[l], j);
                    state.set_moments(l, j, w.learning.state.moments(l, j));
                }
            }
        }
        for w in self.workers.iter_mut() {
            w.neurons.clone_from(&self.neurons);
            w.learning.state.clone_from(state);
        }
    }
}
