//! The synchronous engine across MPI ranks (data parallel): each rank integrates its share
//! of a minibatch or evaluation chunk, and what the later steps read per sample — window
//! integrals, losses, predictions — is joined over the ranks in sample order, so that every
//! rank forms the same update, bit for bit, as one process with all the ranks' threads.

use super::SyncEngine;
use crate::distributed;
use crate::error::SimError;

/// The per-sample results of the last minibatch or evaluation chunk, joined over the ranks
/// in sample order (set only when there is more than one rank).
#[derive(Debug, Default)]
pub(super) struct Joined {
    /// Per layer: forward window integrals, samples x neurons.
    integral: Vec<Vec<f32>>,
    /// Per layer: reversed window integrals (empty below the first reversed layer, and for
    /// an evaluation).
    rintegral: Vec<Vec<f32>>,
    losses: Vec<f32>,
    predictions: Vec<usize>,
}

impl Joined {
    /// Layer `l`'s forward or reversed window integrals, samples x neurons.
    pub(super) fn integrals(&self, l: usize, reversed: bool) -> &[f32] {
        if reversed {
            &self.rintegral[l]
        } else {
            &self.integral[l]
        }
    }

    /// Each sample's loss and predicted class, in sample order.
    pub(super) fn outcomes(&self) -> impl Iterator<Item = (f32, usize)> + '_ {
        self.losses
            .iter()
            .copied()
            .zip(self.predictions.iter().copied())
    }
}

impl SyncEngine {
    /// The samples of `indices` this rank integrates ([`distributed::share`]): all of them
    /// with one rank.
    pub(super) fn local<'a>(&self, indices: &'a [usize]) -> &'a [usize] {
        let c = &self.collective;
        &indices[distributed::share(indices.len(), c.rank(), c.ranks(), self.threads)]
    }

    /// After this rank's blocks of `local` samples ran with `result`: with one rank, the
    /// result; with more, every rank's per-sample results (with the window integrals when
    /// `integrals`, for an update) joined into `self.joined`, or the lowest failing rank's
    /// error on every rank.
    pub(super) fn join_ranks(
        &mut self,
        local: usize,
        result: Result<(), SimError>,
        integrals: bool,
        what: &str,
    ) -> Result<(), SimError> {
        if self.collective.ranks() == 1 {
            return result;
        }
        let (layers, first) = (self.sizes.len(), self.first_reversed_layer());
        let mut parts: Vec<Vec<f32>> = Vec::new();
        if result.is_ok() {
            if integrals {
                parts.extend((0..layers).map(|l| self.gather_local(l, local, false)));
                parts.extend((first..layers).map(|l| self.gather_local(l, local, true)));
            }
            let spaces = self.used_workspaces(local);
            parts.push(
                spaces
                    .iter()
                    .flat_map(|w| w.losses.iter().copied())
                    .collect(),
            );
            // A class travels as its bits, exactly.
            let classes = spaces.iter().flat_map(|w| w.predictions.iter());
            parts.push(classes.map(|&p| f32::from_bits(p as u32)).collect());
        }
        let mine = result
            .as_ref()
            .map(|_| parts.iter().map(Vec::as_slice).collect());
        let mut all = distributed::concat(self.collective.as_ref(), mine, what)?.into_iter();
        let mut joined = Joined::default();
        if integrals {
            joined.integral = all.by_ref().take(layers).collect();
            joined.rintegral = vec![Vec::new(); first];
            joined.rintegral.extend(all.by_ref().take(layers - first));
        }
        joined.losses = all.next().unwrap_or_default();
        let classes = all.next().unwrap_or_default();
        joined.predictions = classes.iter().map(|p| p.to_bits() as usize).collect();
        self.joined = Some(joined);
        Ok(())
    }
}
