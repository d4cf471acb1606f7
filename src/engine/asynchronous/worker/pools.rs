//! The input layer's events pooled by value: pixels of equal value live the same forward
//! window (their actors start at one rest state, take the same constant input and step on
//! the same kernel, lane by lane the same arithmetic: [`super::stimulus`]), so they send
//! equal changes at equal steps. Layer 1 receives Σ_i C[j,i]·δ over them, which is the
//! pool's column sum Σ_i C[j,i] times δ: the pool's first pixel delivers that sum, the
//! others nothing. An MNIST image's ~150 lit pixels take ~67 values, so more than half of the
//! input layer's deliveries go (measured in BENCHMARKS.md).
//!
//! The sums are rounded once per pool and window (and again after an update of the first
//! layer pair) rather than once per event: the numbers differ from delivering pixel by
//! pixel by float rounding, and they are the same at any number of workers (each worker
//! sums its own rows' columns over the same members in the same order). Pooling applies
//! where the input layer's neurons are alike (shared coefficients, one rest state and
//! reference), their steps plain (fixed, no element actors), the neurons do not learn
//! (method 2), and the first layer pair is dense with one fixed delay; anything else
//! delivers pixel by pixel.

/// A pixel that delivers its own column: alone at its value, or black.
const DIRECT: u32 = u32::MAX;
/// A pixel whose pool's first pixel delivers for it.
const MEMBER: u32 = u32::MAX - 1;

/// What an input-layer event delivers (see [`InputPools::part`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    /// Its own column of C.
    Own,
    /// Pool k's column sum.
    Pool(usize),
    /// Nothing: its pool's first pixel delivered for it.
    Member,
}

impl Part {
    /// An entry of [`InputPools::parts`].
    #[inline]
    pub fn of(entry: u32) -> Part {
        match entry {
            DIRECT => Part::Own,
            MEMBER => Part::Member,
            k => Part::Pool(k as usize),
        }
    }
}

/// The pools of one forward window of the input layer.
#[derive(Debug, Default)]
struct Window {
    /// Times the window's events carry: after `opens`, up to `closes` (the close's return
    /// to zero).
    opens: u64,
    closes: u64,
    /// Per input neuron: the pool it leads, or [`MEMBER`], or [`DIRECT`] (empty: no pools).
    part: Vec<u32>,
    /// Pool k's members, ascending: `members[starts[k]..starts[k + 1]]`.
    members: Vec<u32>,
    starts: Vec<usize>,
    /// `sums[k * n_own + jj]`: pool k's column sum for own postsynaptic neuron jj, valid
    /// while `summed`.
    sums: Vec<f32>,
    summed: bool,
}

/// The pools of the windows whose events a worker may still deliver.
#[derive(Debug, Default)]
pub(super) struct InputPools {
    /// The last window opened and the one before it (events of its close may still be on
    /// the way when the next opens).
    windows: [Option<Window>; 2],
}

impl InputPools {
    /// At the open of the input layer's forward window, whose events carry times in
    /// (`opens`, `closes`]: pools the pixels of `values` (the image) by value, if `alike`
    /// (the conditions in the module's documentation); otherwise every pixel delivers its
    /// own column.
    pub fn open(&mut self, opens: u64, closes: u64, values: &[f32], alike: bool) {
        let mut w = self.windows[1].take().unwrap_or_default();
        self.windows[1] = self.windows[0].take();
        w.opens = opens;
        w.closes = closes;
        w.summed = false;
        w.part.clear();
        w.members.clear();
        w.starts.clear();
        if alike {
            // Lit pixels by (value, index): runs of one value, each ascending.
            let mut lit: Vec<(u32, u32)> = (values.iter().enumerate())
                .filter(|(_, v)| **v != 0.0)
                .map(|(i, v)| (v.to_bits(), i as u32))
                .collect();
            lit.sort_unstable();
            w.part.resize(values.len(), DIRECT);
            for run in lit.chunk_by(|a, b| a.0 == b.0) {
                if run.len() < 2 {
                    continue;
                }
                let k = w.starts.len() as u32;
                w.starts.push(w.members.len());
                w.part[run[0].1 as usize] = k;
                for &(_, i) in &run[1..] {
                    w.part[i as usize] = MEMBER;
                }
                w.members.extend(run.iter().map(|&(_, i)| i));
            }
            w.starts.push(w.members.len());
        }
        self.windows[0] = Some(w);
    }

    /// The first layer pair's coefficients changed: the sums are taken again at their next
    /// use.
    pub fn stale(&mut self) {
        for w in self.windows.iter_mut().flatten() {
            w.summed = false;
        }
    }

    /// The window whose events carry `time`, with its sums taken over `ct` (the transposed
    /// own rows, `n_own` per pixel) if they are not: (its tag for [`Self::part`] and
    /// [`Self::sums`], its last event time). `None`: no window with pools holds `time`.
    pub fn prepare(&mut self, time: u64, ct: &[f32], n_own: usize) -> Option<(usize, u64)> {
        let k = (self.windows.iter()).position(|w| {
            w.as_ref()
                .is_some_and(|w| w.opens < time && time <= w.closes && !w.part.is_empty())
        })?;
        let w = self.windows[k].as_mut().expect("found above");
        // The close's return to zero alone is cheaper pixel by pixel than summing again
        // after an update that fell on the close.
        if !w.summed && time == w.closes {
            return None;
        }
        if !w.summed {
            let pools = w.starts.len() - 1;
            w.sums.clear();
            w.sums.resize(pools * n_own, 0.0);
            for (p, sum) in w.sums.chunks_exact_mut(n_own).enumerate() {
                for &i in &w.members[w.starts[p]..w.starts[p + 1]] {
                    let column = &ct[i as usize * n_own..(i as usize + 1) * n_own];
                    for (s, &c) in sum.iter_mut().zip(column) {
                        *s += c;
                    }
                }
            }
            w.summed = true;
        }
        Some((k, w.closes))
    }

    /// Per input neuron, what its event delivers in the window `tag` from
    /// [`Self::prepare`] (read with [`Part::of`]).
    pub fn parts(&self, tag: usize) -> &[u32] {
        self.windows[tag].as_ref().map_or(&[], |w| &w.part)
    }

    /// What input neuron `i`'s event delivers in the window `tag`.
    #[cfg(test)]
    fn part(&self, tag: usize, i: usize) -> Part {
        Part::of(self.parts(tag)[i])
    }

    /// The column sums of window `tag` (prepared), `n_own` per pool.
    pub fn sums(&self, tag: usize) -> &[f32] {
        self.windows[tag].as_ref().map_or(&[], |w| &w.sums)
    }
}

#[cfg(test)]
mod tests {
    use super::{InputPools, Part};

    /// Pixels pool by value (black ones and lone values deliver their own column), the
    /// first of each pool leads, and a pool's sums are its members' columns added in
    /// increasing pixel order; the sums follow a change of C once told.
    #[test]
    fn pixels_pool_by_value_and_pools_sum_their_columns() {
        let values = [0.5, 0.0, 0.25, 0.5, 1.0, 0.25, 0.5, 0.0];
        let n_own = 3;
        let mut ct: Vec<f32> = (0..values.len() * n_own)
            .map(|k| ((k * 37 % 11) as f32 - 5.0) * 0.1)
            .collect();
        let mut pools = InputPools::default();
        pools.open(10, 20, &values, true);
        assert_eq!(pools.prepare(10, &ct, n_own), None, "before the window");
        assert_eq!(pools.prepare(21, &ct, n_own), None, "after the window");
        let (tag, closes) = pools.prepare(11, &ct, n_own).unwrap();
        assert_eq!(closes, 20);
        assert_eq!(
            pools.prepare(20, &ct, n_own),
            Some((tag, closes)),
            "the close"
        );
        let parts: Vec<Part> = (0..values.len()).map(|i| pools.part(tag, i)).collect();
        let (Part::Pool(half), Part::Pool(quarter)) = (parts[0], parts[2]) else {
            panic!("{parts:?}")
        };
        assert_ne!(half, quarter);
        use Part::{Member, Own};
        assert_eq!(
            parts[1..],
            [Own, Part::Pool(quarter), Member, Own, Member, Member, Own]
        );
        let column = |ct: &[f32], i: usize| ct[i * n_own..(i + 1) * n_own].to_vec();
        let sum_of = |ct: &[f32], members: &[usize]| -> Vec<f32> {
            (0..n_own)
                .map(|jj| members.iter().fold(0.0f32, |s, &i| s + column(ct, i)[jj]))
                .collect()
        };
        let sums = |pools: &InputPools, k: usize| pools.sums(tag)[k * n_own..][..n_own].to_vec();
        assert_eq!(sums(&pools, half), sum_of(&ct, &[0, 3, 6]));
        assert_eq!(sums(&pools, quarter), sum_of(&ct, &[2, 5]));
        // A change of C: the old sums stand until the pools are told.
        ct[3 * n_own] += 1.0;
        pools.prepare(15, &ct, n_own).unwrap();
        assert_ne!(sums(&pools, half), sum_of(&ct, &[0, 3, 6]));
        pools.stale();
        assert_eq!(
            pools.prepare(20, &ct, n_own),
            None,
            "an update on the close: its events go pixel by pixel"
        );
        pools.prepare(15, &ct, n_own).unwrap();
        assert_eq!(sums(&pools, half), sum_of(&ct, &[0, 3, 6]));
        // The next window's events and the close of this one are told apart by time.
        pools.open(20, 30, &[1.0; 8], true);
        assert_eq!(pools.prepare(20, &ct, n_own).unwrap().0, 1);
        let (next, _) = pools.prepare(21, &ct, n_own).unwrap();
        assert_eq!(next, 0);
        assert_eq!(pools.part(next, 0), Part::Pool(0));
        assert_eq!(
            pools.sums(next),
            &sum_of(&ct, &[0, 1, 2, 3, 4, 5, 6, 7])[..]
        );
        // Neurons not alike: no pools, every pixel its own column.
        pools.open(30, 40, &values, false);
        assert_eq!(pools.prepare(35, &ct, n_own), None);
    }
}
