//! The forward (or reversed) systems of a worker's own actors in one layer, held as
//! structure of arrays: the batched kernel integrates them in place and send-on-delta runs
//! as one vectorised pass, with no gathering into the kernel's arrays and back.
//!
//! Windows open and close for a whole layer at once (the schedule is per layer), so the
//! window's slot and closing step are kept once. An actor's system as one value
//! ([`SystemState`]) is still what the per-actor paths (element actors, adaptive steps,
//! the `linearised` replay, per-neuron coefficients) and the trace take: [`Population::get`]
//! and [`Population::set`] convert, with the same arithmetic as before.

use super::ring::Ring;
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

    /// Adds the arrivals at step `n` from `ring` to the inputs, and wakes each resting
    /// actor an arrival made the input of nonzero: its own arrivals, whatever its state when
    /// they were delivered (a window may have opened since), and nobody else's.
    pub fn take_arrivals(&mut self, ring: &mut Ring, n: u64) {
        let (quiescent, asleep) = (&mut self.quiescent, &mut self.asleep);
        ring.take_into(n, &mut self.input, *asleep > 0, |jj, u| {
            if quiescent[jj] && u != 0.0 {
                quiescent[jj] = false;
                *asleep -= 1;
            }
        });
    }

    /// Send-on-delta after a step of every actor (none resting) whose output deviations
    /// are in `signal` and already in `integral`: [`SystemState::signal`]'s arithmetic, one
    /// vectorised pass. Appends the actors that fired to `fired`; returns whether every
    /// deviation is finite.
    pub fn send_on_delta(&mut self, theta: f32, dt: f32, fired: &mut Vec<u32>) -> bool {
        self.send_on_delta_of::<false>(theta, dt, fired)
    }

    /// [`Population::send_on_delta`] of the awake actors only, after a step of every actor
    /// that put the resting ones back as they were: those neither fire nor integrate what
    /// they send, and their deviations are not looked at.
    pub fn send_on_delta_awake(&mut self, theta: f32, dt: f32, fired: &mut Vec<u32>) -> bool {
        self.send_on_delta_of::<true>(theta, dt, fired)
    }

    /// Send-on-delta of every actor, or (`AWAKE`) of those that do not rest.
    fn send_on_delta_of<const AWAKE: bool>(
        &mut self,
        theta: f32,
        dt: f32,
        fired: &mut Vec<u32>,
    ) -> bool {
        #[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
        {
            // SAFETY: the build has AVX-512F (the cfg above).
            unsafe { simd::send_on_delta::<AWAKE>(self, theta, dt, fired) }
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "avx512f")))]
        self.send_on_delta_bytes::<AWAKE>(theta, dt, fired)
    }

    /// [`Population::send_on_delta`] without AVX-512: one vectorised pass that marks a
    /// byte per actor, then the marks read eight at a time (few fire).
    #[cfg_attr(
        all(target_arch = "x86_64", target_feature = "avx512f"),
        allow(dead_code)
    )]
    fn send_on_delta_bytes<const AWAKE: bool>(
        &mut self,
        theta: f32,
        dt: f32,
        fired: &mut Vec<u32>,
    ) -> bool {
        let mut finite = true;
        for ((((&d, sent), si), fire), &rests) in self
            .signal
            .iter()
            .zip(self.sent.iter_mut())
            .zip(self.sent_integral.iter_mut())
            .zip(self.fire.iter_mut())
            .zip(self.quiescent.iter())
        {
            if AWAKE && rests {
                *fire = 0;
                continue;
            }
            finite &= d.is_finite();
            *fire = send_on_delta(d, sent, si, theta, dt) as u8;
        }
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

/// Send-on-delta sixteen actors at a time in AVX-512 registers: the comparison gives the
/// lanes that fire as a mask, and a compressing store writes their indices, with no branch
/// per actor or per group of actors (which lanes fire is unpredictable; a branch on them
/// cost more than the arithmetic).
#[cfg(all(target_arch = "x86_64", target_feature = "avx512f"))]
mod simd {
    use super::Population;
    use crate::engine::asynchronous::actor::send_on_delta as one;
    use std::arch::x86_64::*;

    /// [`Population::send_on_delta`]: [`one`]'s arithmetic lane by lane (a separate
    /// multiply and add, as Rust does not contract them); with `AWAKE`, only in the lanes
    /// of actors that do not rest.
    #[target_feature(enable = "avx512f")]
    pub(super) fn send_on_delta<const AWAKE: bool>(
        pop: &mut Population,
        theta: f32,
        dt: f32,
        fired: &mut Vec<u32>,
    ) -> bool {
        let n = pop.signal.len();
        let blocks = n / 16;
        fired.reserve(n);
        let (vtheta, vdt) = (_mm512_set1_ps(theta), _mm512_set1_ps(dt));
        let (inf, zero) = (_mm512_set1_ps(f32::INFINITY), _mm512_setzero_ps());
        let mut index = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        let sixteen = _mm512_set1_epi32(16);
        let mut finite: __mmask16 = 0xffff;
        let mut len = fired.len();
        let out = fired.as_mut_ptr();
        for b in 0..blocks {
            let k = b * 16;
            let d: &[f32; 16] = pop.signal[k..k + 16].try_into().expect("sixteen");
            let sent: &mut [f32; 16] = (&mut pop.sent[k..k + 16]).try_into().expect("sixteen");
            let awake: __mmask16 = if AWAKE {
                let rests: &[bool; 16] = pop.quiescent[k..k + 16].try_into().expect("sixteen");
                // SAFETY: sixteen bools are sixteen bytes, each 0 or 1.
                let rests = unsafe { _mm_loadu_si128(rests.as_ptr().cast()) };
                let awake = _mm_cmpeq_epi8(rests, _mm_setzero_si128());
                _mm_movemask_epi8(awake) as __mmask16
            } else {
                !0
            };
            // SAFETY: every load and store below reads or writes a checked `[f32; 16]`.
            unsafe {
                let vd = _mm512_loadu_ps(d.as_ptr());
                let vs = _mm512_loadu_ps(sent.as_ptr());
                let moved = _mm512_sub_ps(vd, vs);
                let emit = awake
                    & if theta == 0.0 {
                        _mm512_cmp_ps_mask::<_CMP_NEQ_UQ>(moved, zero)
                    } else {
                        _mm512_cmp_ps_mask::<_CMP_GE_OQ>(_mm512_abs_ps(moved), vtheta)
                    };
                let vs = _mm512_mask_mov_ps(vs, emit, vd);
                _mm512_storeu_ps(sent.as_mut_ptr(), vs);
                let si: &mut [f32; 16] = (&mut pop.sent_integral[k..k + 16])
                    .try_into()
                    .expect("sixteen");
                let vsi = _mm512_loadu_ps(si.as_ptr());
                let vsi = _mm512_mask_add_ps(vsi, awake, vsi, _mm512_mul_ps(vdt, vs));
                _mm512_storeu_ps(si.as_mut_ptr(), vsi);
                finite &= _mm512_cmp_ps_mask::<_CMP_LT_OQ>(_mm512_abs_ps(vd), inf) | !awake;
                // `fired` has room for n indices past `len` (reserved above).
                _mm512_mask_compressstoreu_epi32(out.add(len).cast(), emit, index);
                len += emit.count_ones() as usize;
            }
            index = _mm512_add_epi32(index, sixteen);
        }
        // SAFETY: the first `len` indices are written (the old ones and the compressed ones).
        unsafe { fired.set_len(len) };
        let mut all_finite = finite == 0xffff;
        for k in blocks * 16..n {
            if AWAKE && pop.quiescent[k] {
                continue;
            }
            let d = pop.signal[k];
            all_finite &= d.is_finite();
            if one(d, &mut pop.sent[k], &mut pop.sent_integral[k], theta, dt) {
                fired.push(k as u32);
            }
        }
        all_finite
    }
}

#[cfg(test)]
mod tests {
    use super::Population;
    use crate::engine::asynchronous::actor::send_on_delta;

    /// The batched send-on-delta against the one-actor rule, bit for bit: thresholds met
    /// exactly, NaN and infinite deviations, theta 0, and a partial last block.
    #[test]
    fn the_batched_pass_is_the_one_actor_rule() {
        for theta in [0.0f32, 0.02] {
            for n in [1, 16, 37, 300] {
                let mut pop = Population::new(n);
                let mut seed = 12345u32;
                let mut next = || {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    (seed >> 8) as f32 / (1 << 24) as f32 - 0.5
                };
                for k in 0..n {
                    pop.sent[k] = 0.1 * next();
                    pop.sent_integral[k] = next();
                    pop.signal[k] = match k % 7 {
                        0 => pop.sent[k],
                        1 => pop.sent[k] + 0.02,
                        _ => pop.sent[k] + 0.05 * next(),
                    };
                }
                if n == 37 {
                    pop.signal[5] = f32::INFINITY; // in a block of sixteen
                    pop.signal[33] = f32::NAN; // in the partial block
                }
                let before = pop.clone();
                let (mut want, mut fired_want) = (pop.clone(), Vec::new());
                let mut finite_want = true;
                for k in 0..n {
                    let d = want.signal[k];
                    finite_want &= d.is_finite();
                    let (s, si) = (&mut want.sent[k], &mut want.sent_integral[k]);
                    if send_on_delta(d, s, si, theta, 0.1) {
                        fired_want.push(k as u32);
                    }
                }
                let mut fired = vec![99];
                let finite = pop.send_on_delta(theta, 0.1, &mut fired);
                assert_eq!(fired[0], 99, "earlier entries stay");
                assert_eq!(fired[1..], fired_want[..], "theta {theta}, n {n}");
                assert_eq!(finite, finite_want);
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&pop.sent), bits(&want.sent));
                assert_eq!(bits(&pop.sent_integral), bits(&want.sent_integral));
                let mut bytes = before;
                let mut fired_bytes = Vec::new();
                assert_eq!(
                    bytes.send_on_delta_bytes::<false>(theta, 0.1, &mut fired_bytes),
                    finite
                );
                assert_eq!(fired_bytes, fired_want);
                assert_eq!(bits(&bytes.sent), bits(&want.sent));
            }
        }
    }

    /// The pass over the awake actors only: the resting ones (some in every block, and the
    /// NaN and infinite ones among them) neither fire, nor integrate, nor count as
    /// non-finite; the awake ones follow the one-actor rule, bit for bit.
    #[test]
    fn the_awake_pass_leaves_resting_actors_alone() {
        for theta in [0.0f32, 0.02] {
            for n in [5, 16, 37, 300] {
                let mut pop = Population::new(n);
                for k in 0..n {
                    pop.sent[k] = 0.01 * (k % 11) as f32;
                    pop.sent_integral[k] = 0.5 - 0.003 * k as f32;
                    pop.signal[k] = pop.sent[k] + if k % 3 == 0 { 0.03 } else { 0.001 };
                    pop.quiescent[k] = k % 5 == 1 || k % 7 == 4;
                }
                pop.signal[1] = f32::NAN; // resting
                pop.signal[n - 1] = f32::INFINITY;
                pop.quiescent[n - 1] = true;
                let before = pop.clone();
                let mut want = pop.clone();
                let mut fired_want = Vec::new();
                for k in (0..n).filter(|&k| !want.quiescent[k]) {
                    let d = want.signal[k];
                    let (s, si) = (&mut want.sent[k], &mut want.sent_integral[k]);
                    if send_on_delta(d, s, si, theta, 0.1) {
                        fired_want.push(k as u32);
                    }
                }
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                let mut fired = Vec::new();
                assert!(pop.send_on_delta_awake(theta, 0.1, &mut fired), "n {n}");
                assert_eq!(fired, fired_want, "theta {theta}, n {n}");
                assert_eq!(bits(&pop.sent), bits(&want.sent));
                assert_eq!(bits(&pop.sent_integral), bits(&want.sent_integral));
                let mut bytes = before;
                let mut fired_bytes = Vec::new();
                assert!(bytes.send_on_delta_bytes::<true>(theta, 0.1, &mut fired_bytes));
                assert_eq!(fired_bytes, fired_want);
                assert_eq!(bits(&bytes.sent_integral), bits(&want.sent_integral));
                // An awake actor's NaN is seen.
                pop.signal[0] = f32::NAN;
                assert!(!pop.send_on_delta_awake(theta, 0.1, &mut fired));
            }
        }
    }
}
