//! The asynchronous engine across MPI ranks: the R·T workers of one process with R·T
//! threads, rank r running workers `rT .. (r+1)T`.
//!
//! A worker's actors, input rings and synapse rows are the ones it would have in one
//! process ([`super::worker::owned`] over all R·T workers). At each lookahead window's end
//! the rank's workers hand their events to the rank's funnel ([`super::comm::Funnel`]),
//! which runs on the thread that started MPI: it packs them (25 bytes an event: time,
//! origin, seq, kind, slot, value), all-gathers them with the other ranks through the
//! [`Collective`], and hands the other ranks' events back; every worker merges them with
//! its rank's by (time, origin, seq), so deliveries, and every floating-point sum, come in
//! the order of one process. Each rank keeps its rows and, of the other ranks' rows, the
//! columns its backward deliveries read ([`super::parts`]), and applies those columns'
//! updates itself ([`super::worker`]'s `remote`), so neither rows nor per-row ΔC cross
//! ranks. After each call one more all-gather agrees on the outcome (the lowest failing
//! rank's error on every rank, [`SimError::Rank`]) and carries each rank's counts and, for
//! method 1, its neurons' K3.

use std::ops::Range;
use std::sync::Arc;

use super::comm::{Event, EventKind, Funnel};
use super::delays::delay_stats;
use super::worker::{owned_by, Work, Worker};
use super::AsyncEngine;
use crate::config::LearningMethod;
use crate::distributed::{self, Collective};
use crate::error::SimError;
use crate::learning::optimiser::Moments;

/// The ranks an engine runs on (one process: [`distributed::Single`]).
#[derive(Debug)]
pub struct Ranks {
    pub collective: Arc<dyn Collective>,
    /// Workers per rank (`--threads`).
    pub threads: usize,
}

impl Ranks {
    /// One process with `threads` workers.
    pub fn single(threads: usize) -> Self {
        Ranks {
            collective: distributed::single(),
            threads,
        }
    }

    /// Whether more than one rank shares the engine.
    pub fn spread(&self) -> bool {
        self.collective.ranks() > 1
    }

    /// Workers over all ranks.
    pub fn workers(&self) -> usize {
        self.threads * self.collective.ranks()
    }

    /// The workers rank `rank` runs.
    fn of(&self, rank: usize) -> Range<usize> {
        rank * self.threads..(rank + 1) * self.threads
    }

    /// The workers this rank runs.
    pub fn local(&self) -> Range<usize> {
        self.of(self.collective.rank())
    }

    /// The neurons of a layer of `n` that rank `rank`'s workers own (contiguous).
    fn neurons_of(&self, n: usize, rank: usize) -> Range<usize> {
        owned_by(n, &self.of(rank), self.workers())
    }
}

/// Bytes of a packed event.
const EVENT_BYTES: usize = 25;
/// First byte of a rank's window message: its events follow, or a worker of it stopped.
const GOING: u8 = 0;
const STOPPED: u8 = 1;

fn pack(events: Option<&[Event]>) -> Vec<u8> {
    let Some(events) = events else {
        return vec![STOPPED];
    };
    let mut out = Vec::with_capacity(1 + EVENT_BYTES * events.len());
    out.push(GOING);
    for e in events {
        out.extend_from_slice(&e.time.to_le_bytes());
        out.extend_from_slice(&e.origin.to_le_bytes());
        out.extend_from_slice(&e.seq.to_le_bytes());
        out.push(match e.kind {
            EventKind::Forward => 0,
            EventKind::Backward => 1,
            EventKind::Readout => 2,
            EventKind::ForwardIntegral => 3,
            EventKind::BackwardIntegral => 4,
        });
        out.extend_from_slice(&e.slot.to_le_bytes());
        out.extend_from_slice(&e.value.to_le_bytes());
    }
    out
}

/// A rank's events, `Ok(None)` when it stopped, `Err` for bytes that are no message.
fn unpack(bytes: &[u8], out: &mut Vec<Event>) -> Result<Option<()>, ()> {
    match bytes.split_first() {
        Some((&STOPPED, [])) => Ok(None),
        Some((&GOING, rest)) if rest.len() % EVENT_BYTES == 0 => {
            for b in rest.chunks_exact(EVENT_BYTES) {
                let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
                let kind = match b[16] {
                    0 => EventKind::Forward,
                    1 => EventKind::Backward,
                    2 => EventKind::Readout,
                    3 => EventKind::ForwardIntegral,
                    4 => EventKind::BackwardIntegral,
                    _ => return Err(()),
                };
                out.push(Event {
                    time: u64::from_le_bytes(b[0..8].try_into().expect("8")),
                    origin: u32_at(8),
                    seq: u32_at(12),
                    kind,
                    slot: u32_at(17),
                    value: f32::from_bits(u32_at(21)),
                });
            }
            Ok(Some(()))
        }
        _ => Err(()),
    }
}

/// What the exchanges of one call name in their errors.
const EVENTS: &str = "the asynchronous engine's events";
const OUTCOME: &str = "the asynchronous engine's outcome";

/// The funnel's loop over the `windows` of one call, on the thread that started MPI:
/// `Ok(true)` when every rank went through them all, `Ok(false)` when a worker of some rank
/// stopped (every rank sees it at the same window; dropping the funnel then releases this
/// rank's workers), or the exchange's own failure (a timeout: no further exchange).
pub fn funnel(funnel: Funnel, c: &dyn Collective, windows: u64) -> Result<bool, SimError> {
    let mut others = Vec::new();
    for _ in 0..windows {
        let mine = funnel.gather();
        let all = c.all_gather_bytes(&pack(mine.as_deref()), EVENTS)?;
        let mut going = mine.is_some();
        for (rank, bytes) in all.iter().enumerate() {
            if rank == c.rank() {
                continue;
            }
            match unpack(bytes, &mut others) {
                Ok(Some(())) => {}
                Ok(None) => going = false,
                Err(()) => {
                    return Err(SimError::Rank {
                        rank,
                        ranks: c.ranks(),
                        message: format!("{EVENTS}: sent a garbled message; every rank must run the same bsp-sim binary"),
                        code: 1,
                    })
                }
            }
        }
        if !going {
            return Ok(false);
        }
        funnel.scatter(std::mem::take(&mut others));
    }
    Ok(true)
}

/// First byte of a rank's outcome: its counts follow, it stopped because another rank did,
/// or it failed (exit code, message).
const DONE: u8 = 0;
const PEER: u8 = 1;
const FAILED: u8 = 2;

impl AsyncEngine {
    /// Runs this engine as one rank of `collective`: its workers become workers
    /// `rT .. (r+1)T` of all R·T.
    pub(super) fn spread(&mut self, collective: Arc<dyn Collective>) -> Result<(), SimError> {
        let threads = self.workers.len();
        self.ranks = Ranks {
            collective,
            threads,
        };
        let (all, local) = (self.ranks.workers(), self.ranks.local());
        if let Some(part) =
            (self.parted.iter().flatten()).find(|p| p.blocks.len() != all || p.local != local)
        {
            return Err(SimError::NotDistributed {
                what: "the asynchronous engine".into(),
                ranks: self.ranks.collective.ranks(),
                detail: format!(
                    "its coefficients were cut for workers {:?} of {}, not {local:?} of {all}",
                    part.local,
                    part.blocks.len()
                ),
            });
        }
        let ring = self
            .delays
            .iter()
            .map(|d| delay_stats(d).2)
            .max()
            .unwrap_or(0)
            + 1;
        let all = self.ranks.workers();
        let fixed_points =
            (self.settings.method == LearningMethod::FixedPoints).then_some(&self.optimiser.state);
        self.workers = self
            .ranks
            .local()
            .map(|w| {
                let neurons = &self.neurons;
                Worker::new(w, all, &self.sizes, self.slots, ring, neurons, fixed_points)
            })
            .collect();
        // Across ranks the workers split the neurons.
        self.waves = false;
        Ok(())
    }

    /// After this rank's workers ran a call (`local`, and `funnelled`: the funnel's outcome
    /// when ranks share the engine): with one rank `local` as it is; across ranks the same
    /// outcome on every rank — the lowest failing rank's error, or success with the other
    /// ranks' counts added and their method-1 neurons moved here too.
    pub(super) fn agree(
        &mut self,
        local: Result<(), SimError>,
        funnelled: Option<Result<bool, SimError>>,
    ) -> Result<(), SimError> {
        let Some(funnelled) = funnelled else {
            return local;
        };
        // A failed exchange leaves no rank to agree with.
        funnelled?;
        let c = Arc::clone(&self.ranks.collective);
        let method1 = self.settings.method == LearningMethod::FixedPoints;
        let moments = method1 && self.optimiser.active;
        let mut message = Vec::new();
        match &local {
            Err(SimError::WorkerPanic { during, .. }) if during.is_empty() => message.push(PEER),
            Err(e) => {
                message.extend([FAILED, e.exit_code()]);
                message.extend_from_slice(e.to_string().as_bytes());
            }
            Ok(()) => {
                message.push(DONE);
                let w = self.workers.iter().fold(Work::default(), |mut a, w| {
                    a.events += w.work.events;
                    a.deliveries += w.work.deliveries;
                    a.synapse_updates += w.work.synapse_updates;
                    a.sent += w.work.sent;
                    a.time_regressions += w.work.time_regressions;
                    a.element_events += w.work.element_events;
                    a
                });
                for v in [
                    w.events,
                    w.deliveries,
                    w.synapse_updates,
                    w.sent,
                    w.time_regressions,
                    w.element_events,
                ] {
                    message.extend_from_slice(&v.to_le_bytes());
                }
                // Layer by layer, the rank's neurons in order (its workers' ranges follow
                // each other).
                for l in (0..self.sizes.len()).filter(|_| method1) {
                    for w in &self.workers {
                        for &k in &w.neurons[l].k3_out[w.ranges[l].clone()] {
                            message.extend_from_slice(&k.to_le_bytes());
                        }
                    }
                }
                // Then, with a per-neuron optimiser, the same neurons' moments (m, v).
                for l in (0..self.sizes.len()).filter(|_| moments) {
                    for w in &self.workers {
                        for j in w.ranges[l].clone() {
                            let s = w.learning.state.moments(l, j);
                            message.extend_from_slice(&s.m.to_le_bytes());
                            message.extend_from_slice(&s.v.to_le_bytes());
                        }
                    }
                }
            }
        }
        let all = c.all_gather_bytes(&message, OUTCOME)?;
        let rank_error = |rank: usize, message: String, code: u8| SimError::Rank {
            rank,
            ranks: c.ranks(),
            message,
            code,
        };
        if let Some((rank, bytes)) = all
            .iter()
            .enumerate()
            .find(|(_, b)| b.first() == Some(&FAILED))
        {
            let code = bytes.get(1).copied().unwrap_or(1);
            let text = String::from_utf8_lossy(bytes.get(2..).unwrap_or_default());
            return Err(rank_error(rank, text.into_owned(), code));
        }
        if let Some(rank) = all.iter().position(|b| b.first() != Some(&DONE)) {
            return Err(rank_error(
                rank,
                "its workers stopped without a report".into(),
                1,
            ));
        }
        for (rank, bytes) in all.iter().enumerate() {
            if rank == c.rank() {
                continue;
            }
            let garbled = || rank_error(rank, format!("{OUTCOME}: sent a garbled message"), 1);
            let mut words = bytes[1..].chunks_exact(8);
            let mut next = || {
                words
                    .next()
                    .map(|b| u64::from_le_bytes(b.try_into().expect("8")))
            };
            let counts: Vec<u64> = (0..6).map_while(|_| next()).collect();
            let [events, deliveries, updates, sent, regressions, element] = counts[..] else {
                return Err(garbled());
            };
            self.counters.events += events;
            self.counters.deliveries += deliveries;
            self.counters.synapse_updates += updates;
            self.counters.element_events += element;
            self.work.sent += sent;
            self.work.time_regressions += regressions;
            if !method1 {
                continue;
            }
            let mut k3 = bytes[1 + 48..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4")));
            for l in 0..self.sizes.len() {
                for j in self.ranks.neurons_of(self.sizes[l], rank) {
                    let k = k3.next().ok_or_else(garbled)?;
                    let layer = &mut self.neurons[l];
                    if layer.k3_out[j] != k {
                        layer
                            .set_k3_out(j, k)
                            .map_err(|detail| SimError::FixedPoint {
                                layer: l,
                                neuron: j,
                                detail,
                            })?;
                    }
                }
            }
            for l in (0..self.sizes.len()).filter(|_| moments) {
                for j in self.ranks.neurons_of(self.sizes[l], rank) {
                    let (m, v) = (
                        k3.next().ok_or_else(garbled)?,
                        k3.next().ok_or_else(garbled)?,
                    );
                    self.optimiser.state.set_moments(l, j, Moments { m, v });
                }
            }
            if k3.next().is_some() {
                return Err(garbled());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_their_packing() {
        let events = [
            Event {
                time: u64::MAX - 3,
                origin: 7,
                seq: u32::MAX,
                kind: EventKind::BackwardIntegral,
                slot: 3,
                value: -0.0,
            },
            Event {
                time: 0,
                origin: 0,
                seq: 1,
                kind: EventKind::Readout,
                slot: 0,
                value: f32::MIN_POSITIVE,
            },
        ];
        let bytes = pack(Some(&events));
        assert_eq!(bytes.len(), 1 + 2 * EVENT_BYTES);
        let mut back = Vec::new();
        assert_eq!(unpack(&bytes, &mut back), Ok(Some(())));
        assert_eq!(back.len(), 2);
        for (a, b) in back.iter().zip(&events) {
            assert_eq!((a.key(), a.kind, a.slot), (b.key(), b.kind, b.slot));
            assert_eq!(a.value.to_bits(), b.value.to_bits());
        }
        assert_eq!(unpack(&pack(None), &mut back), Ok(None));
        assert_eq!(unpack(&bytes[..10], &mut back), Err(()));
    }
}
