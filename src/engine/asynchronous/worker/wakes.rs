//! When a worker's sleeping actors wake: each sleeping actor's earliest pending arrival, and
//! a priority queue of the layers by their earliest one.
//!
//! An event delivered to a dense layer reaches every own neuron of it, so keeping one queue
//! entry per sleeping neuron cost a hash and a heap update for each of its (up to hundreds
//! of) deliveries, a seventh of the engine's time. Here a delivery writes one number per
//! neuron, and the queue holds a layer, touched only when the layer's earliest arrival moves
//! forward. The same actors wake at the same steps as with an entry per actor.

use std::cmp::Reverse;
use std::hash::BuildHasherDefault;

use priority_queue::PriorityQueue;
use rustc_hash::FxHasher;

use super::population::Population;

/// No pending arrival.
const NEVER: u64 = u64::MAX;

/// Pending wake-ups of one worker's actors.
#[derive(Debug, Default)]
pub(super) struct Wakes {
    /// Per layer and own neuron, the earliest step at which an input reaches it while it
    /// sleeps ([`NEVER`]: none).
    at: Vec<Vec<u64>>,
    /// Per layer, the earliest of `at` as queued (`NEVER`: the layer is not queued).
    queued: Vec<u64>,
    /// Layers with pending arrivals, earliest first (Fx-hashed: the keys are layer indices).
    queue: PriorityQueue<u16, Reverse<u64>, BuildHasherDefault<FxHasher>>,
}

impl Wakes {
    /// No pending arrival for `own[l]` neurons of each layer l.
    pub(super) fn new(own: impl Iterator<Item = usize>) -> Self {
        let at: Vec<Vec<u64>> = own.map(|n| vec![NEVER; n]).collect();
        Wakes {
            queued: vec![NEVER; at.len()],
            at,
            queue: PriorityQueue::with_default_hasher(),
        }
    }

    /// Own neuron `jj` of layer `l`, asleep, receives input at step `at`.
    #[inline]
    pub(super) fn arrive(&mut self, l: usize, jj: usize, at: u64) {
        let slot = &mut self.at[l][jj];
        *slot = (*slot).min(at);
        if at < self.queued[l] {
            self.queued[l] = at;
            self.queue.push_increase(l as u16, Reverse(at));
        }
    }

    /// Every resting one of the first `n_own` actors of `pop` (own neurons of layer `l`)
    /// receives input at step `at`.
    #[inline]
    pub(super) fn arrive_all(&mut self, l: usize, pop: &Population, n_own: usize, at: u64) {
        if pop.asleep > 0 {
            for jj in 0..n_own {
                if pop.quiescent[jj] {
                    self.arrive(l, jj, at);
                }
            }
        }
    }

    /// Calls `wake(l, jj)` for every own neuron with an arrival at or before step `n` (each
    /// once; its arrival is then forgotten), layer by layer.
    pub(super) fn due(&mut self, n: u64, mut wake: impl FnMut(usize, usize)) {
        while let Some((_, Reverse(at))) = self.queue.peek() {
            if *at > n {
                break;
            }
            let (l, _) = self.queue.pop().expect("peeked");
            let l = l as usize;
            let mut next = NEVER;
            for (jj, slot) in self.at[l].iter_mut().enumerate() {
                if *slot <= n {
                    *slot = NEVER;
                    wake(l, jj);
                } else {
                    next = next.min(*slot);
                }
            }
            self.queued[l] = next;
            if next != NEVER {
                self.queue.push(l as u16, Reverse(next));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The (step, layer, neuron) at which each pending arrival wakes, over steps 0..steps.
    fn woken(w: &mut Wakes, steps: u64) -> Vec<(u64, usize, usize)> {
        let mut out = Vec::new();
        for n in 0..steps {
            w.due(n, |l, jj| out.push((n, l, jj)));
        }
        out
    }

    #[test]
    fn each_neuron_wakes_once_at_its_earliest_arrival() {
        let mut w = Wakes::new([3, 2].into_iter());
        w.arrive(0, 2, 5);
        w.arrive(0, 2, 3); // earlier: wins
        w.arrive(0, 1, 4);
        w.arrive(1, 0, 3);
        w.arrive(1, 0, 7); // later: forgotten
        assert_eq!(woken(&mut w, 10), [(3, 0, 2), (3, 1, 0), (4, 0, 1)]);
        // Nothing left; a new arrival after a wake is kept.
        w.arrive(1, 1, 12);
        assert_eq!(woken(&mut w, 12), []);
        w.due(12, |l, jj| assert_eq!((l, jj), (1, 1)));
        assert!(w.queue.is_empty() && w.queued == [NEVER, NEVER]);
    }
}
