//! Events and the conservative exchange between workers.
//!
//! Workers advance in windows of `lookahead` steps. No event emitted inside a window can
//! arrive inside it (its delay is at least the minimum delay and it is emitted at the end
//! of a step), so after each window every worker sorts the events it emitted by
//! (time, origin, seq), sends them to every other worker over a crossbeam channel,
//! receives theirs, and merges them into one list in that order. Each worker then applies, in that order, the deliveries to the
//! actors it owns. The order — and so every floating-point sum — is the same however the
//! actors are split, which makes a run bit-identical at any thread count.
//!
//! One channel per ordered pair of workers keeps each peer's messages in order, so a fast
//! worker's next message never stands in for a slow one's current message.
//!
//! Across MPI ranks ([`super::ranks`]) each worker also hands its events to its rank's
//! [`Funnel`], which exchanges the rank's events with the other ranks and hands back
//! theirs; the union, sorted, is what one process with every rank's workers would sort.

use std::cell::RefCell;
use std::sync::Arc;

use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};

/// What an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// A forward output deviation (send-on-delta), to the next layer's forward systems.
    Forward,
    /// A reversed output deviation, to the previous layer's reversed systems.
    Backward,
    /// An output neuron's readout, to the other output neurons (lateral).
    Readout,
    /// A neuron's sent-signal integral over its closed forward window: what each of its
    /// outgoing synapses observed from the forward events it carried.
    ForwardIntegral,
    /// The same for the reversed window (the backward events a synapse carried).
    BackwardIntegral,
}

impl EventKind {
    /// A window's control message (readout, integral) rather than a signal change.
    #[inline]
    pub fn is_control(self) -> bool {
        !matches!(self, EventKind::Forward | EventKind::Backward)
    }
}

/// A timestamped event. Ordered by (time, origin, seq), unique per event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    /// Emission time in steps (it arrives `delay` steps later).
    pub time: u64,
    /// Global index of the emitting neuron.
    pub origin: u32,
    /// The emitter's event counter.
    pub seq: u32,
    pub kind: EventKind,
    /// Slot of the sample the event belongs to.
    pub slot: u32,
    pub value: f32,
}

impl Event {
    /// The event's place in the order: (time, origin, seq), packed so that it compares as
    /// one number.
    #[inline]
    pub fn key(&self) -> u128 {
        (u128::from(self.time) << 64) | (u128::from(self.origin) << 32) | u128::from(self.seq)
    }
}

/// Polls before blocking: a window's work is a few microseconds, less than parking and
/// waking a thread costs, so a worker that finishes first polls for its peers, yielding
/// its core now and then (spinning 20 microseconds before the first yield measured 1.9x
/// slower on 2 cores).
fn recv(rx: &Receiver<Message>) -> Result<Message, crossbeam_channel::RecvError> {
    for spin in 0..SPINS {
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(TryRecvError::Disconnected) => return Err(crossbeam_channel::RecvError),
            Err(TryRecvError::Empty) if spin % 256 == 255 => std::thread::yield_now(),
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
    rx.recv()
}

/// Polls of [`recv`] before it blocks.
const SPINS: u32 = 2_000;

/// [`recv`] for what crosses ranks, which takes an MPI exchange longer than a window's
/// work: polls, yielding the core, for up to [`PATIENCE`] before it blocks (waking a
/// blocked thread costs more than the exchange).
fn recv_remote(rx: &Receiver<Message>) -> Result<Message, crossbeam_channel::RecvError> {
    recv_within(rx, PATIENCE)
}

/// Polls, yielding the core, for up to `patience`, then blocks.
fn recv_within(
    rx: &Receiver<Message>,
    patience: std::time::Duration,
) -> Result<Message, crossbeam_channel::RecvError> {
    let start = std::time::Instant::now();
    while start.elapsed() < patience {
        match rx.try_recv() {
            Ok(m) => return Ok(m),
            Err(TryRecvError::Disconnected) => return Err(crossbeam_channel::RecvError),
            Err(TryRecvError::Empty) => std::thread::yield_now(),
        }
    }
    rx.recv()
}

/// How long [`recv_remote`] polls.
const PATIENCE: std::time::Duration = std::time::Duration::from_micros(200);

enum Message {
    Events(Batch),
    Token,
}

/// One worker's events of one window, shared with the peers that read them.
type Batch = Arc<Vec<Event>>;

/// A worker's ends of the all-to-all channels.
pub struct Comm {
    id: usize,
    to: Vec<Option<Sender<Message>>>,
    from: Vec<Option<Receiver<Message>>>,
    /// Across ranks: the channels to and from the rank's funnel (own events out, the other
    /// ranks' events in).
    remote: Option<(Sender<Message>, Receiver<Message>)>,
    /// The lists this worker sent, taken again once every peer has let go of them: a
    /// window's exchange allocates nothing.
    sent: RefCell<Vec<Batch>>,
    /// The peers' lists of the window being merged (a kept buffer).
    received: RefCell<Vec<Batch>>,
    /// The two waves of the wave split ([`Comm::pair`]).
    waves: bool,
    /// Poll a peer, yielding the core, for this long before blocking (the wave split,
    /// whose exchanges are a sample interval apart: waking a blocked thread costs more
    /// than the two waves' difference in work); `None`: [`recv`]'s short polling.
    patience: Option<std::time::Duration>,
}

/// The funnel's ends of the channels to a rank's workers (one per worker, in order).
pub struct Funnel {
    from: Vec<Receiver<Message>>,
    to: Vec<Sender<Message>>,
}

impl Funnel {
    /// The events every worker of this rank emitted in the window, in worker order; `None`
    /// when a worker stopped (it returned an error or panicked) instead of sending.
    pub fn gather(&self) -> Option<Vec<Event>> {
        let mut all = Vec::new();
        let mut complete = true;
        // Every worker is waited for (or seen gone), so none is left sending to a funnel
        // that no longer listens.
        for rx in &self.from {
            match recv_remote(rx) {
                Ok(Message::Events(events)) => all.extend_from_slice(&events),
                Ok(Message::Token) | Err(_) => complete = false,
            }
        }
        complete.then_some(all)
    }

    /// Hands the other ranks' events of the window to every worker of this rank (a worker
    /// that is gone misses them; its own report says why).
    pub fn scatter(&self, events: Vec<Event>) {
        let events = Arc::new(events);
        for tx in &self.to {
            let _ = tx.send(Message::Events(Arc::clone(&events)));
        }
    }
}

/// Merges the sorted `other` into the sorted `all` (keys are unique: no ties to order).
fn merge_into(all: &mut Vec<Event>, other: &[Event], scratch: &mut Vec<Event>) {
    if other.is_empty() {
        return;
    }
    scratch.clear();
    merge_two(all, other, scratch);
    std::mem::swap(all, scratch);
}

/// Appends the union of the sorted `a` and `b` to `out`, in order. The lists of two workers
/// of the neuron split interleave in long runs (each owns a block of every layer), those of
/// the wave split neuron by neuron (at a window's close each neuron sends one integral in
/// each wave), so each run is found by galloping: a run of one costs a comparison or two,
/// a long run a binary search, and is copied whole.
fn merge_two<'e>(mut a: &'e [Event], mut b: &'e [Event], out: &mut Vec<Event>) {
    out.reserve(a.len() + b.len());
    while let (Some(x), Some(y)) = (a.first(), b.first()) {
        if x.key() > y.key() {
            std::mem::swap(&mut a, &mut b);
            continue;
        }
        // a's run below b's head (a[0] is below it).
        let head = y.key();
        let mut bound = 1;
        while bound < a.len() && a[bound].key() < head {
            bound *= 2;
        }
        let from = bound / 2;
        let run = from + a[from..bound.min(a.len())].partition_point(|e| e.key() < head);
        out.extend_from_slice(&a[..run]);
        a = &a[run..];
    }
    out.extend_from_slice(a);
    out.extend_from_slice(b);
}

/// Merges the sorted `lists` (one per worker) into the empty `all`, pairwise through
/// `scratch` after the first two.
fn merge_all(lists: &[Batch], all: &mut Vec<Event>, scratch: &mut Vec<Event>) {
    match lists {
        [] => {}
        [one] => all.extend_from_slice(one),
        [first, second, rest @ ..] => {
            merge_two(first, second, all);
            for list in rest {
                merge_into(all, list, scratch);
            }
        }
    }
}

/// Sorts a worker's events unless they are `sorted` already: the signal events a window's
/// steps emit come in order (step by step, layer by layer, neuron by neuron); the
/// readouts and integrals of a window's close come after them, out of order.
fn order(events: &mut Vec<Event>, sorted: bool, scratch: &mut Vec<Event>) {
    if sorted {
        debug_assert!(events.windows(2).all(|w| w[0].key() < w[1].key()));
    } else {
        sort_runs(events, scratch);
    }
}

/// Sorts `events` by key, merging the ascending runs they come in pairwise through
/// `scratch` (the event buffers are not reallocated once they have grown; only the short
/// list of run bounds is). A worker emits a window's events step by step, layer by layer,
/// neuron by neuron, so they come sorted (a check, no copy) but for the events of the
/// windows that close, a run or two more. Keys are unique, so any correct sort gives this
/// order.
fn sort_runs(events: &mut Vec<Event>, scratch: &mut Vec<Event>) {
    if events.windows(2).all(|w| w[0].key() < w[1].key()) {
        return;
    }
    // Where each ascending run starts, and the end.
    let mut bounds = vec![0];
    bounds.extend((1..events.len()).filter(|&k| events[k].key() < events[k - 1].key()));
    bounds.push(events.len());
    while bounds.len() > 2 {
        scratch.clear();
        let mut merged = vec![0];
        for pair in bounds.windows(3).step_by(2) {
            merge_two(
                &events[pair[0]..pair[1]],
                &events[pair[1]..pair[2]],
                scratch,
            );
            merged.push(pair[2]);
        }
        // An odd run out stays as it is.
        if bounds.len() % 2 == 0 {
            let last = bounds[bounds.len() - 2];
            scratch.extend_from_slice(&events[last..]);
            merged.push(events.len());
        }
        std::mem::swap(events, scratch);
        bounds = merged;
    }
}

/// The peer stopped (it returned an error or panicked; its own report says why).
#[derive(Debug, Clone, Copy)]
pub struct PeerGone;

impl Comm {
    /// Channels between `n` workers.
    pub fn mesh(n: usize) -> Vec<Comm> {
        let mut comms: Vec<Comm> = (0..n)
            .map(|id| Comm {
                id,
                to: (0..n).map(|_| None).collect(),
                from: (0..n).map(|_| None).collect(),
                remote: None,
                sent: RefCell::default(),
                received: RefCell::default(),
                waves: false,
                patience: None,
            })
            .collect();
        for a in 0..n {
            for b in 0..n {
                if a != b {
                    let (tx, rx) = unbounded();
                    comms[a].to[b] = Some(tx);
                    comms[b].from[a] = Some(rx);
                }
            }
        }
        comms
    }

    /// Channels between the two workers of a wave split, which poll each other for up to
    /// `patience` before blocking.
    pub fn pair(patience: std::time::Duration) -> Vec<Comm> {
        let mut comms = Comm::mesh(2);
        for c in comms.iter_mut() {
            c.patience = Some(patience);
            c.waves = true;
        }
        comms
    }

    /// Channels between `n` workers of one rank, and between each of them and the rank's
    /// funnel, which exchanges their events with the other ranks.
    pub fn funnelled(n: usize) -> (Vec<Comm>, Funnel) {
        let mut comms = Comm::mesh(n);
        let mut funnel = Funnel {
            from: Vec::with_capacity(n),
            to: Vec::with_capacity(n),
        };
        for c in comms.iter_mut() {
            let (out_tx, out_rx) = unbounded();
            let (in_tx, in_rx) = unbounded();
            funnel.from.push(out_rx);
            funnel.to.push(in_tx);
            c.remote = Some((out_tx, in_rx));
        }
        (comms, funnel)
    }

    /// Sends `own` (this window's events; `sorted` if they are in order already) to every
    /// peer and fills `all` with the union of everyone's events, sorted; `own` comes back
    /// empty, a buffer for the next window. `scratch`: the caller's buffer for the sorts
    /// and merges, kept from window to window. Returns how many events were taken in.
    ///
    /// Between the two waves of the wave split ([`Comm::pair`]) each wave delivers only its
    /// own events and reads only the readouts and integrals of the other's: `all` is then
    /// its own list followed by those, with no merge.
    pub fn exchange(
        &self,
        own: &mut Vec<Event>,
        sorted: bool,
        all: &mut Vec<Event>,
        scratch: &mut Vec<Event>,
    ) -> Result<usize, PeerGone> {
        if self.to.iter().all(Option::is_none) && self.remote.is_none() {
            Comm::keep(own, sorted, all, scratch);
            return Ok(all.len());
        }
        order(own, sorted, scratch);
        all.clear();
        let mut sent = self.sent.borrow_mut();
        // A list every peer has merged and let go of (the one of two windows ago at the
        // latest: every peer merged it before it sent last window's) takes the events.
        let mut batch = match sent.iter().position(|b| Arc::strong_count(b) == 1) {
            Some(k) => sent.swap_remove(k),
            None => Batch::default(),
        };
        let list = Arc::get_mut(&mut batch).expect("no peer holds a list it merged");
        list.clear();
        std::mem::swap(list, own);
        // The funnel first: it waits for every worker of the rank before the ranks meet.
        if let Some((tx, _)) = &self.remote {
            tx.send(Message::Events(Arc::new(batch.to_vec())))
                .map_err(|_| PeerGone)?;
        }
        for tx in self.to.iter().flatten() {
            tx.send(Message::Events(Arc::clone(&batch)))
                .map_err(|_| PeerGone)?;
        }
        let mut received = self.received.borrow_mut();
        received.clear();
        received.push(Arc::clone(&batch));
        sent.push(batch);
        for (peer, rx) in self.from.iter().enumerate() {
            let Some(rx) = rx else { continue };
            debug_assert_ne!(peer, self.id);
            match self.recv(rx) {
                Ok(Message::Events(events)) => received.push(events),
                Ok(Message::Token) | Err(_) => return Err(PeerGone),
            }
        }
        let taken = received.iter().map(|list| list.len()).sum();
        if self.waves {
            let (mine, theirs) = received.split_first().expect("the own list");
            all.extend_from_slice(mine);
            for list in theirs {
                all.extend(list.iter().filter(|e| e.kind.is_control()));
            }
        } else {
            // Every worker sends its events sorted, so the union is a merge, not a sort.
            merge_all(&received, all, scratch);
        }
        // Let go of the peers' lists at once, for them to fill again.
        received.clear();
        if let Some((_, rx)) = &self.remote {
            match recv_remote(rx) {
                Ok(Message::Events(events)) => {
                    // The other ranks' events, rank after rank: sorted runs, not one.
                    let mut remote = events.as_ref().clone();
                    remote.sort_by_key(Event::key);
                    merge_into(all, &remote, scratch);
                    return Ok(taken + remote.len());
                }
                Ok(Message::Token) | Err(_) => return Err(PeerGone),
            }
        }
        Ok(taken)
    }

    /// A window whose events only their emitter reads: `all` becomes `own`, sorted, and
    /// `own` comes back empty.
    pub fn keep(
        own: &mut Vec<Event>,
        sorted: bool,
        all: &mut Vec<Event>,
        scratch: &mut Vec<Event>,
    ) {
        order(own, sorted, scratch);
        all.clear();
        std::mem::swap(own, all);
    }

    /// The next message from a peer: [`recv`], or polled for `patience`.
    fn recv(&self, rx: &Receiver<Message>) -> Result<Message, crossbeam_channel::RecvError> {
        match self.patience {
            None => recv(rx),
            Some(patience) => recv_within(rx, patience),
        }
    }

    /// Waits until every peer has reached the same point (after an update phase).
    pub fn barrier(&self) -> Result<(), PeerGone> {
        for tx in self.to.iter().flatten() {
            tx.send(Message::Token).map_err(|_| PeerGone)?;
        }
        for rx in self.from.iter().flatten() {
            match self.recv(rx) {
                Ok(Message::Token) => {}
                _ => return Err(PeerGone),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{merge_all, sort_runs, Batch, Event, EventKind};
    use proptest::prelude::*;

    fn event(time: u64, origin: u32) -> Event {
        Event {
            time,
            origin,
            seq: 0,
            kind: EventKind::Forward,
            slot: 0,
            value: origin as f32,
        }
    }

    proptest! {
        /// Any number of ascending runs, of any lengths, comes out as a full sort would put it.
        #[test]
        fn sort_runs_is_a_sort(runs in prop::collection::vec(
            prop::collection::btree_set((0u64..6, 0u32..500), 0..40), 0..9)
        ) {
            // Runs of distinct keys: each run ascending, keys unique across runs.
            let mut seen = std::collections::BTreeSet::new();
            let mut events = Vec::new();
            for run in runs {
                for (t, o) in run {
                    if seen.insert((t, o)) {
                        events.push(event(t, o));
                    }
                }
            }
            let mut expected = events.clone();
            expected.sort_by_key(Event::key);
            let mut scratch = Vec::new();
            sort_runs(&mut events, &mut scratch);
            prop_assert_eq!(events, expected);
        }

        /// Sorted lists of distinct keys, one per worker, merge into the sorted union.
        #[test]
        fn merge_all_is_the_sorted_union(keys in prop::collection::btree_set((0u64..6, 0u32..500), 0..120),
            owners in prop::collection::vec(0usize..4, 120)
        ) {
            let mut lists = vec![Vec::new(); 4];
            for (k, &(t, o)) in keys.iter().enumerate() {
                lists[owners[k]].push(event(t, o));
            }
            let lists: Vec<Batch> = lists.into_iter().map(Batch::new).collect();
            let mut all = Vec::new();
            merge_all(&lists, &mut all, &mut Vec::new());
            let expected: Vec<Event> = keys.iter().map(|&(t, o)| event(t, o)).collect();
            prop_assert_eq!(all, expected);
        }
    }
}
