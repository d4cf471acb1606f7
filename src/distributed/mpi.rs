//! The [`Collective`] over MPI (rsmpi over the system's MPI library, e.g. Open MPI), for a
//! process that an MPI launcher (`mpirun`) started.
//!
//! Every exchange is two collectives: an all-gather of each rank's message length, then an
//! all-gather-v of the messages; both are non-blocking (`MPI_Iallgather`,
//! `MPI_Iallgatherv`) and polled against a timeout. A rank that hangs therefore ends the
//! job with [`SimError::ExchangeTimeout`] (the binary aborts the job) instead of a hang; a
//! rank that exits or is killed is seen by `mpirun`, which ends the job at once.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use mpi::datatype::PartitionMut;
use mpi::environment::Universe;
use mpi::request::{Request, StaticScope};
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use super::{Collective, Traffic};
use crate::error::SimError;

/// The environment variable that sets the exchange timeout, in seconds.
pub const TIMEOUT_VAR: &str = "BSP_SIM_MPI_TIMEOUT";
/// The exchange timeout unless [`TIMEOUT_VAR`] says otherwise: longer than any minibatch,
/// evaluation chunk or checkpoint write between two exchanges.
pub const DEFAULT_TIMEOUT_SECONDS: u64 = 600;

/// How long [`MpiWorld`]'s wait polls without sleeping.
const YIELDING: Duration = Duration::from_micros(200);

/// MPI's world communicator, initialised for this process; MPI is finalised when it drops.
pub struct MpiWorld {
    world: SimpleCommunicator,
    rank: usize,
    ranks: usize,
    /// The thread that initialised MPI (`MPI_THREAD_FUNNELED`): the only one that calls it.
    thread: ThreadId,
    timeout: Duration,
    /// Per exchange (`what`): all-gathers so far and the bytes all ranks sent in them.
    traffic: Mutex<BTreeMap<String, (u64, u64)>>,
    /// Dropped last: finalises MPI.
    _universe: Universe,
}

// SAFETY: MPI is initialised with MPI_THREAD_FUNNELED, and every call into it checks that
// it comes from the initialising thread (`all_gather_bytes` refuses any other), so sharing
// the handle between threads never lets two threads call MPI.
unsafe impl Send for MpiWorld {}
unsafe impl Sync for MpiWorld {}

impl std::fmt::Debug for MpiWorld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MpiWorld(rank {} of {})", self.rank, self.ranks)
    }
}

/// Whether an MPI launcher started this process (Open MPI, or a PMI/PMIx launcher such as
/// MPICH's or Slurm's).
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"]
        .iter()
        .any(|v| std::env::var_os(v).is_some())
}

impl MpiWorld {
    /// Initialises MPI when an MPI launcher started this process; `None` otherwise, so
    /// that a plain `bsp-sim run` never touches MPI.
    pub fn from_launcher() -> Result<Option<MpiWorld>, String> {
        if !launched_by_mpirun() {
            return Ok(None);
        }
        let timeout = match std::env::var(TIMEOUT_VAR) {
            Err(_) => DEFAULT_TIMEOUT_SECONDS,
            Ok(s) => match s.trim().parse::<u64>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(format!(
                        "{TIMEOUT_VAR}={s}: not a whole number of seconds above 0; set it e.g. to {DEFAULT_TIMEOUT_SECONDS}"
                    ))
                }
            },
        };
        let (universe, _) = mpi::initialize_with_threading(mpi::Threading::Funneled)
            .ok_or("MPI was initialised twice in this process")?;
        let world = universe.world();
        Ok(Some(MpiWorld {
            rank: world.rank() as usize,
            ranks: world.size() as usize,
            world,
            thread: std::thread::current().id(),
            timeout: Duration::from_secs(timeout),
            traffic: Mutex::default(),
            _universe: universe,
        }))
    }

    /// Ends every rank of the job with `code` (`MPI_Abort`): for an error that only this
    /// rank knows, which would leave the others waiting at their next exchange.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }

    /// Polls `req` until it completes: yielding the core between polls for the first
    /// [`YIELDING`] (the asynchronous engine exchanges every few microseconds, and a sleep
    /// lasts tens of them), then sleeping up to 1 ms between polls (an oversubscribed rank
    /// must not take the core of a rank still computing). On timeout the request is left to
    /// MPI, whose buffers the caller then leaks, and the job is to be aborted.
    fn wait<D: ?Sized>(
        &self,
        mut req: Request<'static, D, StaticScope>,
        what: &str,
    ) -> Result<(), SimError> {
        let start = Instant::now();
        let mut pause = Duration::from_micros(1);
        loop {
            match req.test() {
                Ok(_) => return Ok(()),
                Err(r) => req = r,
            }
            if start.elapsed() < YIELDING {
                std::thread::yield_now();
                continue;
            }
            if start.elapsed() > self.timeout {
                // Dropping a pending request panics in rsmpi; the job ends instead.
                std::mem::forget(req);
                return Err(SimError::ExchangeTimeout {
                    rank: self.rank,
                    ranks: self.ranks,
                    what: what.to_string(),
                    seconds: self.timeout.as_secs(),
                });
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }
}

impl Collective for MpiWorld {
    fn rank(&self) -> usize {
        self.rank
    }

    fn ranks(&self) -> usize {
        self.ranks
    }

    fn traffic(&self) -> Vec<Traffic> {
        let t = self.traffic.lock().map(|t| t.clone()).unwrap_or_default();
        t.into_iter()
            .map(|(what, (calls, bytes))| Traffic { what, calls, bytes })
            .collect()
    }

    fn all_gather_bytes(&self, bytes: &[u8], what: &str) -> Result<Vec<Vec<u8>>, SimError> {
        if std::thread::current().id() != self.thread {
            return Err(SimError::NotDistributed {
                what: what.to_string(),
                ranks: self.ranks,
                detail: "MPI is called only from the thread that started it".into(),
            });
        }
        // The rendezvous, on buffers MPI may keep if a rank never answers: leaked for the
        // request's lifetime, taken back once it completed.
        let send_ptr = Box::into_raw(vec![bytes.len() as u64].into_boxed_slice());
        let lens_ptr = Box::into_raw(vec![0u64; self.ranks].into_boxed_slice());
        // SAFETY: both come from `Box::into_raw` just above and have no other reference.
        let (send, lens): (&'static [u64], &'static mut [u64]) =
            unsafe { (&*send_ptr, &mut *lens_ptr) };
        let req = self
            .world
            .immediate_all_gather_into(StaticScope, send, lens);
        self.wait(req, what)?;
        // SAFETY: the request completed, so MPI no longer uses the buffers, which came
        // from `Box::leak` above and are not referenced elsewhere.
        let (_, lens) = unsafe { (Box::from_raw(send_ptr), Box::from_raw(lens_ptr)) };
        let total: u64 = lens.iter().sum();
        let too_big = |n: u64| n > Count::MAX as u64;
        if too_big(total) {
            return Err(SimError::NotDistributed {
                what: what.to_string(),
                ranks: self.ranks,
                detail: format!(
                    "the ranks' messages add up to {total} bytes, past MPI's count limit ({} bytes); use fewer samples per batch",
                    Count::MAX
                ),
            });
        }
        if let Ok(mut t) = self.traffic.lock() {
            let entry = t.entry(what.to_string()).or_default();
            entry.0 += 1;
            entry.1 += total;
        }
        let counts: Vec<Count> = lens.iter().map(|&n| n as Count).collect();
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |at, &n| {
                let d = *at;
                *at += n;
                Some(d)
            })
            .collect();
        // The messages, polled too: a rank may stop between the two collectives.
        let send_ptr = Box::into_raw(bytes.to_vec().into_boxed_slice());
        let buf_ptr = Box::into_raw(vec![0u8; total as usize].into_boxed_slice());
        // SAFETY: as above; the partition borrows `buf` for as long as the request runs.
        let (send, buf): (&'static [u8], &'static mut [u8]) =
            unsafe { (&*send_ptr, &mut *buf_ptr) };
        let part_ptr = Box::into_raw(Box::new(PartitionMut::new(
            buf,
            counts.clone(),
            displs.clone(),
        )));
        // SAFETY: from `Box::into_raw` just above, no other reference.
        let partition = unsafe { &mut *part_ptr };
        let req = self
            .world
            .immediate_all_gather_varcount_into(StaticScope, send, partition);
        self.wait(req, what)?;
        // SAFETY: the request completed; the partition (which borrowed `buf`) goes first.
        let buf = unsafe {
            drop(Box::from_raw(part_ptr));
            drop(Box::from_raw(send_ptr));
            Box::from_raw(buf_ptr)
        };
        Ok(counts
            .iter()
            .zip(&displs)
            .map(|(&n, &d)| buf[d as usize..(d + n) as usize].to_vec())
            .collect())
    }
}
