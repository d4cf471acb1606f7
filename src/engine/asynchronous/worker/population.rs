//! The forward (or reversed) systems of a worker's own actors in one layer, held as
//! structure of arrays: the batched kernel integrates them in place and send-on-delta runs
//! as one vectorised pass, with no gathering into the kernel's arrays and back.
//!
//! Windows open and close for a whole layer at once (the schedule is per layer), so the
//! window's slot and closing step are kept once. An actor's system as one value
//! ([`SystemState`]) is still what the per-actor paths (element actors, adaptive steps,
//! the `linearised` replay, per-neuron coefficients) and the trace take: [`Population::get`]
//! and [`Population::set`] convert, with the same arithmetic as before.

use crate::engine::asynchronous::actor::{send_on_delta, SystemState};
use crate::neuron::layer::LayerState;
use crate::neuron::ELEMENTS;

/// One layer's forward or reversed systems of a worker's own actors.
#[derive(Debug, Clone)]
pub struct Population {
    /// `state.x[e][jj]`: element e of own actor jj.
    pub state: LayerState,
    /// Input current into each system's input element (sum of delivered events).
    pub input: Vec<f32>,
    /// Last value sent (the deviation the synapses currently carry).
    pub sent: Vec<f32>,
    /// Integral of the own output deviation over the open window.
    pub integral: Vec<f32>,
    /// Integral of the sent signal over the open window.
    pub sent_integral: Vec<f32>,
    /// The output deviation after the last step (scratch of the batched step).
    pub signal: Vec<f32>,
    /// Resting: nothing to integrate until an input arrives.
    pub quiescent: Vec<bool>,
    /// How many actors rest.
    pub asleep: usize,
    /// Adaptive sub-step exponents.
    pub halvings: Vec<u32>,
    /// Element granularity: the value each element actor last sent.
    pub elements_sent: Vec<[f32; ELEMENTS]>,
    /// Sample slot of the open window, if one is open.
    pub window: Option<usize>,
    /// Step at which the open window closes.
    pub closes: u64,
    /// Send-on-delta scratch: 1 where an actor fired this step.
    fire: Vec<u8>,
}

impl Population {
    pub fn new(n: usize) -> Self {
        Population {
            state: LayerState::new(1, n),
            input: vec![0.0; n],
            sent: vec![0.0; n],
            integral: vec![0.0; n],
            sent_integral: vec![0.0; n],
            signal: vec![0.0; n],
            quiescent: vec![false; n],
            asleep: 0,
            halvings: vec![0; n],
            elements_sent: vec![[0.0; ELEMENTS]; n],
            window: None,
            closes: 0,
            fire: vec![0; n],
        }
    }

    pub fn len(&self) -> usize {
        self.input.len()
    }

    /// Own actor `jj`'s system as one value.
    pub fn get(&self, jj: usize) -> SystemState {
        SystemState {
            x: std::array::from_fn(|e| self.state.x[e][jj]),
            input: self.input[jj],
            sent: self.sent[jj],
            integral: self.integral[jj],
            sent_integral: self.sent_integral[jj],
            window: self.window,
            closes: self.closes,
            halvings: self.halvings[jj],
            element_events: 0,
            quiescent: self.quiescent[jj],
            elements_sent: self.elements_sent[jj],
        }
    }

    /// Writes back what a step of actor `jj` changed (not the window, which is the layer's).
    pub fn set(&mut self, jj: usize, s: &SystemState) {
        for e in 0..ELEMENTS {
            self.state.x[e][jj] = s.x[e];
        }
        self.input[jj] = s.input;
        self.sent[jj] = s.sent;
        self.integral[jj] = s.integral;
        self.sent_integral[jj] = s.sent_integral;
        self.halvings[jj] = s.halvings;
        self.quiescent[jj] = s.quiescent;
        self.elements_sent[jj] = s.elements_sent;
    }

    /// Opens a window for sample `slot` ([`SystemState::open`] for every actor): back to
    /// rest (`rest(jj)`), integrals cleared, resting where no input flows.
    pub fn open(&mut self, slot: usize, closes: u64, rest: impl Fn(usize) -> [f32; ELEMENTS]) {
        for jj in 0..self.len() {
            let r = rest(jj);
            for (e, &v) in r.iter().enumerate() {
                self.state.x[e][jj] = v;
            }
            self.elements_sent[jj] = r;
            self.quiescent[jj] = self.input[jj] == 0.0;
        }
        self.integral.fill(0.0);
        self.sent_integral.fill(0.0);
        self.window = Some(slot);
        self.closes = closes;
        self.asleep = self.quiescent.iter().filter(|&&q| q).count();
    }

    /// Send-on-delta after a step of every actor (none resting) whose output deviations
    /// are in `signal` and already in `integral`: [`SystemState::signal`]'s arithmetic, one
    /// vectorised pass. Appends the actors that fired to `fired`; returns whether every
    /// deviation is finite.
    pub fn send_on_delta(&mut self, theta: f32, dt: f32, fired: &mut Vec<u32>) -> bool {
        let mut finite = true;
        for (((&d, sent), si), fire) in self
            .signal
            .iter()
            .zip(self.sent.iter_mut())
            .zip(self.sent_integral.iter_mut())
            .zip(self.fire.iter_mut())
        {
            finite &= d.is_finite();
            *fire = send_on_delta(d, sent, si, theta, dt) as u8;
        }
        // Few fire: test eight flags at a time.
        let words = self.fire.chunks_exact(8);
        let tail = words.remainder();
        let mut base = 0u32;
        for word in words {
            let mut w = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            while w != 0 {
                fired.push(base + w.trailing_zeros() / 8);
                w &= w - 1;
            }
            base += 8;
        }
        fired.extend(
            (tail.iter().enumerate())
                .filter(|(_, &f)| f != 0)
                .map(|(k, _)| base + k as u32),
        );
        finite
    }

    /// Send-on-delta of one actor whose output deviation, in `signal`, is already in its
    /// integral. Returns whether it fired.
    #[inline]
    pub fn send_one(&mut self, jj: usize, theta: f32, dt: f32) -> bool {
        self.send(jj, self.signal[jj], theta, dt)
    }

    /// Send-on-delta of one actor whose step gave output deviation `d` (not yet in its
    /// integral): [`SystemState::signal`]. Returns whether it fired.
    #[inline]
    pub fn signal_one(&mut self, jj: usize, d: f32, theta: f32, dt: f32) -> bool {
        self.integral[jj] += dt * d;
        self.send(jj, d, theta, dt)
    }

    /// [`send_on_delta`] of actor `jj` at output deviation `d`.
    #[inline(always)]
    fn send(&mut self, jj: usize, d: f32, theta: f32, dt: f32) -> bool {
        send_on_delta(
            d,
            &mut self.sent[jj],
            &mut self.sent_integral[jj],
            theta,
            dt,
        )
    }
}
