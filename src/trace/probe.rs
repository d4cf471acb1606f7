//! The probe a lockstep engine (the synchronous one) puts on its per-step signals: it turns
//! the dense output deviations of the recorded samples and neurons into send-on-delta events
//! (emit when D moved by at least theta since the last event; the reference at the start of
//! each window is 0, the rest level) and samples the element states every k steps.
//!
//! A probe belongs to one worker's block of samples and buffers only that block's records
//! for one minibatch; the engine drains it into the [`TraceSink`] after the block's threads
//! have joined, in block order, so the output does not depend on the thread count.

use super::{Selection, StateSample, TraceSink, Wave, WaveEvent};

/// Per-block recording buffer. Empty (and free) while no sample of the block is recorded.
#[derive(Debug, Default)]
pub struct Probe {
    /// (row in the block, dataset index) of each recorded sample.
    rows: Vec<(usize, usize)>,
    /// Per layer, the offset of its recorded neurons within a row's `last` slots.
    offsets: Vec<usize>,
    stride: usize,
    /// Last value sent per (recorded row, recorded neuron).
    last: Vec<f32>,
    events: Vec<Vec<WaveEvent>>,
    states: Vec<Vec<StateSample>>,
}

impl Probe {
    /// Starts a minibatch block whose rows hold the samples `samples` (dataset indices).
    pub fn begin(&mut self, sel: &Selection, samples: &[usize]) {
        self.rows.clear();
        self.rows.extend(
            samples
                .iter()
                .enumerate()
                .filter(|(_, &s)| sel.wants_sample(s))
                .map(|(r, &s)| (r, s)),
        );
        self.offsets.clear();
        let mut total = 0;
        for ns in &sel.neurons {
            self.offsets.push(total);
            total += ns.len();
        }
        self.stride = total;
        self.last.clear();
        self.last.resize(self.rows.len() * total, 0.0);
        let k = self.rows.len();
        self.events.resize_with(k, Vec::new);
        self.states.resize_with(k, Vec::new);
        self.events.iter_mut().for_each(Vec::clear);
        self.states.iter_mut().for_each(Vec::clear);
    }

    /// Whether this block records anything.
    pub fn is_active(&self) -> bool {
        !self.rows.is_empty()
    }

    /// Starts a window: every signal starts from its rest level, deviation 0.
    pub fn begin_window(&mut self) {
        self.last.fill(0.0);
    }

    /// Observes one layer after integration step `step` (0-based within the window) ending
    /// at presentation time `time`: `signal[r * n + j]` is the output deviation and
    /// `x[k][r * n + j]` element k of neuron j in block row r.
    #[allow(clippy::too_many_arguments)]
    pub fn observe(
        &mut self,
        sel: &Selection,
        wave: Wave,
        layer: usize,
        step: usize,
        time: f64,
        n: usize,
        signal: &[f32],
        x: &[Vec<f32>; 5],
    ) {
        let neurons = sel.neurons(layer);
        if neurons.is_empty() || !sel.wants_wave(wave) {
            return;
        }
        let state_due = sel.states && (step + 1).is_multiple_of(sel.every);
        let theta = sel.theta(wave);
        let base = self.offsets[layer];
        for (k, &(r, sample)) in self.rows.iter().enumerate() {
            for (m, &j) in neurons.iter().enumerate() {
                let i = r * n + j;
                let value = signal[i];
                if sel.events {
                    let slot = k * self.stride + base + m;
                    if (value - self.last[slot]).abs() >= theta {
                        self.last[slot] = value;
                        self.events[k].push(WaveEvent {
                            time,
                            sample,
                            layer,
                            neuron: j,
                            wave,
                            value,
                        });
                    }
                }
                if state_due {
                    self.states[k].push(StateSample {
                        time,
                        sample,
                        layer,
                        neuron: j,
                        wave,
                        signal: value,
                        elements: std::array::from_fn(|e| x[e][i]),
                    });
                }
            }
        }
    }

    /// Hands the block's records to `sink`, sample by sample, and empties the buffers.
    pub fn drain(&mut self, sink: &mut dyn TraceSink) {
        for (events, states) in self.events.iter_mut().zip(&mut self.states) {
            for e in events.drain(..) {
                sink.event(&e);
            }
            for s in states.drain(..) {
                sink.state(&s);
            }
        }
        self.rows.clear();
    }
}
