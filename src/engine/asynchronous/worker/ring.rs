//! A layer's input ring: the increments that deliveries scheduled for the worker's own
//! actors of the layer, by arrival step, and which rows of it hold anything.
//!
//! Row `at % len` holds the increments arriving at step `at` (a delay never exceeds the
//! ring's length). A row nothing was delivered into is all zeros, and adding it to the
//! inputs would change nothing (an input is never −0, so `u + 0.0 == u` bit for bit), so
//! the step skips it: a layer outside its window costs nothing per step.

/// Increments by arrival step for `n_own` actors.
#[derive(Debug, Clone)]
pub(super) struct Ring {
    values: Vec<f32>,
    n_own: usize,
    /// Per row: something was delivered into it since it was last taken.
    used: Vec<bool>,
}

impl Ring {
    pub(super) fn new(n_own: usize, len: u64) -> Self {
        Ring {
            values: vec![0.0; n_own * len as usize],
            n_own,
            used: vec![false; len as usize],
        }
    }

    fn row(&self, at: u64) -> usize {
        (at % self.used.len() as u64) as usize
    }

    /// The row of arrivals at step `at`, to add into.
    #[inline]
    pub(super) fn row_mut(&mut self, at: u64) -> &mut [f32] {
        let row = self.row(at);
        self.used[row] = true;
        &mut self.values[row * self.n_own..][..self.n_own]
    }

    /// Adds `v` to own actor `jj`'s input arriving at step `at`.
    #[inline]
    pub(super) fn add(&mut self, at: u64, jj: usize, v: f32) {
        let row = self.row(at);
        self.used[row] = true;
        self.values[row * self.n_own + jj] += v;
    }

    /// Adds the arrivals at step `n` to `input` and empties their row. With `watch`,
    /// `arrived(jj, u)` first sees each actor whose increment is not zero, with its input u
    /// after it (a pass of its own, so that the adding stays one vectorised loop).
    pub(super) fn take_into(
        &mut self,
        n: u64,
        input: &mut [f32],
        watch: bool,
        mut arrived: impl FnMut(usize, f32),
    ) {
        let row = self.row(n);
        if !std::mem::take(&mut self.used[row]) {
            return;
        }
        let values = &mut self.values[row * self.n_own..][..self.n_own];
        if watch {
            for (jj, (&u, &v)) in input.iter().zip(values.iter()).enumerate() {
                if v != 0.0 {
                    arrived(jj, u + v);
                }
            }
        }
        for (u, v) in input.iter_mut().zip(values.iter_mut()) {
            *u += *v;
            *v = 0.0;
        }
    }

    /// Whether nothing was delivered into any row since it was last taken (then no
    /// increment waits for any actor).
    pub(super) fn untouched(&self) -> bool {
        !self.used.contains(&true)
    }

    /// Whether no increment waits for own actor `jj` at any step.
    pub(super) fn idle(&self, jj: usize) -> bool {
        (self.values.iter())
            .skip(jj)
            .step_by(self.n_own.max(1))
            .all(|&v| v == 0.0)
    }

    /// Every row, by index ([`Ring::index`]), to add into: mark them first ([`Ring::row_mut`]).
    pub(super) fn rows_mut(&mut self) -> Vec<&mut [f32]> {
        self.values.chunks_exact_mut(self.n_own.max(1)).collect()
    }

    /// The index of the row of arrivals at step `at` in [`Ring::rows_mut`].
    pub(super) fn index(&self, at: u64) -> usize {
        self.row(at)
    }

    /// Actors per row.
    pub(super) fn width(&self) -> usize {
        self.n_own
    }

    /// Rows held: arrivals up to `len() - 1` steps ahead of the step taken next.
    pub(super) fn len(&self) -> u64 {
        self.used.len() as u64
    }

    /// Grows the ring to `len` rows, keeping every pending increment at its step; `now` is
    /// the next step to be taken (every pending arrival falls in `now..now + len()`).
    pub(super) fn grow(&mut self, len: u64, now: u64) {
        let old = self.len();
        if len <= old {
            return;
        }
        let mut grown = Ring::new(self.n_own, len);
        for at in now..now + old {
            let row = self.row(at);
            if self.used[row] {
                let values = &self.values[row * self.n_own..][..self.n_own];
                grown.row_mut(at).copy_from_slice(values);
            }
        }
        *self = grown;
    }

    /// Drops every pending increment.
    pub(super) fn clear(&mut self) {
        self.values.fill(0.0);
        self.used.fill(false);
    }
}

#[cfg(test)]
mod tests {
    use super::Ring;

    #[test]
    fn arrivals_join_the_input_at_their_step_once() {
        let mut ring = Ring::new(3, 4);
        ring.add(5, 1, 0.5);
        ring.row_mut(6)[2] += 2.0;
        ring.add(9, 1, 0.25); // the same row as step 5, a lap later
        let mut input = [1.0, 1.0, 1.0];
        ring.take_into(4, &mut input, false, |_, _| {});
        assert_eq!(input, [1.0, 1.0, 1.0]);
        ring.take_into(5, &mut input, false, |_, _| {});
        assert_eq!(input, [1.0, 1.75, 1.0]);
        assert!(ring.idle(1) && !ring.idle(2) && !ring.untouched());
        ring.take_into(6, &mut input, false, |_, _| {});
        assert_eq!(input, [1.0, 1.75, 3.0]);
        // Taken rows are empty: taking them again adds nothing.
        ring.take_into(5, &mut input, false, |_, _| {});
        ring.take_into(6, &mut input, false, |_, _| {});
        assert_eq!(input, [1.0, 1.75, 3.0]);
        assert!((0..3).all(|jj| ring.idle(jj)) && ring.untouched());
    }

    /// Growing keeps each pending increment at its own step, wherever its row moves.
    #[test]
    fn a_grown_ring_keeps_its_arrivals() {
        let mut ring = Ring::new(2, 3);
        ring.add(7, 0, 1.5); // row 1 of 3
        ring.add(8, 1, 2.5); // row 2 of 3
        ring.grow(8, 6);
        assert_eq!(ring.len(), 8);
        let mut input = [0.0, 0.0];
        for n in 6..8 {
            ring.take_into(n, &mut input, false, |_, _| {});
        }
        assert_eq!(input, [1.5, 0.0]);
        ring.take_into(8, &mut input, false, |_, _| {});
        assert_eq!(input, [1.5, 2.5]);
        assert!(ring.untouched());
        // Never shrinks.
        ring.grow(2, 9);
        assert_eq!(ring.len(), 8);
    }
}
