//! Each neuron's layer and owning worker by its global id: the look-ups every window's
//! events need.

use super::owned;

/// (layer, index in layer) of a global neuron id.
#[inline]
pub(super) fn locate(base: &[u32], gid: u32) -> (usize, usize) {
    let l = base.partition_point(|&b| b <= gid) - 1;
    (l, (gid - base[l]) as usize)
}

/// Each neuron's layer and owning worker by global id: [`LayerIndex::locate`] and
/// [`LayerIndex::owner`] in one look-up each, for the events of every window.
#[derive(Debug, Default)]
pub(super) struct LayerIndex {
    /// Per neuron: (layer, owning worker).
    of: Vec<(u16, u16)>,
    /// Per layer and worker: the first neuron it owns.
    first: Vec<Vec<usize>>,
}

impl LayerIndex {
    /// The table for layers starting at `base` (ends with the total), split over
    /// `workers` as [`owned`] splits them.
    pub(super) fn new(base: &[u32], workers: usize) -> Self {
        let sizes: Vec<usize> = base.windows(2).map(|b| (b[1] - b[0]) as usize).collect();
        let mut of = Vec::with_capacity(base[base.len() - 1] as usize);
        for (l, &n) in sizes.iter().enumerate() {
            for w in 0..workers {
                of.extend(std::iter::repeat_n(
                    (l as u16, w as u16),
                    owned(n, w, workers).len(),
                ));
            }
        }
        let first = (sizes.iter())
            .map(|&n| (0..workers).map(|w| owned(n, w, workers).start).collect())
            .collect();
        LayerIndex { of, first }
    }

    /// Whether it is the empty default (not built yet).
    pub(super) fn is_empty(&self) -> bool {
        self.of.is_empty()
    }

    /// (layer, index in layer) of global neuron id `gid`, as [`locate`].
    #[inline]
    pub(super) fn locate(&self, base: &[u32], gid: u32) -> (usize, usize) {
        let l = self.of[gid as usize].0 as usize;
        (l, (gid - base[l]) as usize)
    }

    /// (the worker owning global neuron `gid`, the first neuron of its layer that worker
    /// owns), as [`owner_of`] and [`owned`].
    #[inline]
    pub(super) fn owner(&self, gid: u32) -> (usize, usize) {
        let (l, w) = self.of[gid as usize];
        (w as usize, self.first[l as usize][w as usize])
    }
}

/// The worker owning neuron `j` of a layer of `n` (inverse of [`owned`]).
pub(super) fn owner_of(n: usize, j: usize, workers: usize) -> usize {
    (0..workers)
        .find(|&w| owned(n, w, workers).contains(&j))
        .expect("every neuron has an owner")
}

#[cfg(test)]
mod tests {
    use super::{locate, owner_of, LayerIndex};
    use crate::engine::asynchronous::worker::owned;

    #[test]
    fn the_layer_index_agrees_with_the_search() {
        // Layers of 3, 0 (empty), 4 and 1 neurons.
        let base = [0, 3, 3, 7, 8];
        for workers in 1..=3 {
            let index = LayerIndex::new(&base, workers);
            for gid in 0..8 {
                let (l, j) = locate(&base, gid);
                assert_eq!(index.locate(&base, gid), (l, j), "neuron {gid}");
                let n = (base[l + 1] - base[l]) as usize;
                let w = owner_of(n, j, workers);
                assert_eq!(index.owner(gid), (w, owned(n, w, workers).start));
            }
        }
        let index = LayerIndex::new(&base, 1);
        assert_eq!(index.locate(&base, 3), (2, 0));
        assert_eq!(index.locate(&base, 7), (3, 0));
    }
}
