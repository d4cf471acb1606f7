//! Synaptic delays: drawn per synapse from the seed's delay stream (fixed, uniform, normal,
//! exponential; rand_distr) and rounded to whole steps of dt, as NEST rounds delays to its
//! resolution.

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, Normal, Uniform};

use crate::config::Delay;

/// Delays of one projection, in steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Delays {
    Fixed(u64),
    PerSynapse(Vec<u16>),
}

impl Delays {
    #[inline]
    pub(super) fn of(&self, k: usize) -> u64 {
        match self {
            Delays::Fixed(d) => *d,
            Delays::PerSynapse(v) => v[k] as u64,
        }
    }
}

/// Draws one projection's delays (in whole steps; NEST rounds delays to the resolution).
pub(super) fn draw_delays(delay: Delay, synapses: usize, dt: f32, rng: &mut ChaCha8Rng) -> Delays {
    let steps = |v: f32| (v.max(0.0) / dt).round().min(u16::MAX as f32) as u16;
    let many = |f: &mut dyn FnMut(&mut ChaCha8Rng) -> f32, rng: &mut ChaCha8Rng| {
        Delays::PerSynapse((0..synapses).map(|_| steps(f(rng))).collect())
    };
    match delay {
        Delay::Fixed { value } => Delays::Fixed(steps(value) as u64),
        Delay::Uniform { low, high } if low == high => Delays::Fixed(steps(low) as u64),
        Delay::Uniform { low, high } => {
            let d = Uniform::new_inclusive(low, high).expect("validated: low <= high");
            many(&mut |r| d.sample(r), rng)
        }
        Delay::Normal { mean, std } => {
            let d = Normal::new(mean, std).expect("validated: std >= 0");
            many(&mut |r| d.sample(r), rng)
        }
        Delay::Exponential { min, mean } if mean == min => Delays::Fixed(steps(min) as u64),
        Delay::Exponential { min, mean } => {
            let d = Exp::new(1.0 / (mean - min)).expect("validated: mean > min");
            many(&mut |r| min + d.sample(r), rng)
        }
    }
}

/// (min, rounded mean, max) of a projection's delays in steps.
pub(super) fn delay_stats(d: &Delays) -> (u64, u64, u64) {
    match d {
        Delays::Fixed(k) => (*k, *k, *k),
        Delays::PerSynapse(v) if v.is_empty() => (0, 0, 0),
        Delays::PerSynapse(v) => {
            let min = *v.iter().min().expect("non-empty") as u64;
            let max = *v.iter().max().expect("non-empty") as u64;
            let mean = v.iter().map(|&k| k as f64).sum::<f64>() / v.len() as f64;
            (min, mean.round() as u64, max)
        }
    }
}
