//! The binary's side of MPI: whether `mpirun` started this process (with the `mpi`
//! feature), the ranks handed to `bsp-sim run`, and how an error ends a job: one every rank
//! knows is printed by rank 0 alone; one only this rank knows is printed with its rank and
//! ends every rank (`MPI_Abort`), so that no rank waits for it.

use std::process::ExitCode;
use std::sync::Arc;

use bsp_sim::distributed::Collective;
use bsp_sim::error::SimError;
use bsp_sim::Error;

/// The ranks of this job: one process unless `mpirun` started it.
pub struct Ranks {
    #[cfg(feature = "mpi")]
    world: Option<Arc<bsp_sim::distributed::mpi::MpiWorld>>,
}

impl Ranks {
    /// Initialises MPI when an MPI launcher started this process (with the `mpi` feature).
    pub fn launch() -> Result<Ranks, String> {
        #[cfg(feature = "mpi")]
        {
            let world = bsp_sim::distributed::mpi::MpiWorld::from_launcher()?;
            Ok(Ranks {
                world: world.map(Arc::new),
            })
        }
        #[cfg(not(feature = "mpi"))]
        Ok(Ranks {})
    }

    /// The collective `bsp-sim run` spreads over; `None` for one process.
    pub fn collective(&self) -> Option<Arc<dyn Collective>> {
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.world {
            return Some(Arc::clone(w) as Arc<dyn Collective>);
        }
        None
    }

    /// This process's rank and the number of ranks.
    pub fn position(&self) -> (usize, usize) {
        self.collective().map_or((0, 1), |c| (c.rank(), c.ranks()))
    }

    /// Reports `e` and gives the exit code: with one process as always; across ranks, an
    /// error every rank met at the same point (a rank's error carried by an exchange, an
    /// interrupt, a refusal) is printed by rank 0 only, and any other ends the whole job.
    pub fn fail(&self, e: anyhow::Error) -> ExitCode {
        let lib = e.downcast_ref::<Error>();
        let code = lib.map_or(1, Error::exit_code);
        let (rank, ranks) = self.position();
        if ranks == 1 {
            say(format!("error: {e:#}\n"));
            return ExitCode::from(code);
        }
        let agreed = matches!(
            lib,
            Some(
                Error::Interrupted { .. }
                    | Error::Sim(SimError::Rank { .. } | SimError::NotDistributed { .. })
            )
        );
        if agreed {
            if rank == 0 {
                say(format!("error: {e:#}\n"));
            }
            return ExitCode::from(code);
        }
        // A timeout names its rank already.
        let timeout = matches!(lib, Some(Error::Sim(SimError::ExchangeTimeout { .. })));
        if timeout {
            say(format!("error: {e:#}\n"));
        } else {
            say(format!("error: rank {rank} of {ranks}: {e:#}\n"));
        }
        #[cfg(feature = "mpi")]
        if let Some(w) = &self.world {
            w.abort(i32::from(code));
        }
        ExitCode::from(code)
    }
}

/// Writes `line` to standard error in one write: under `mpirun` a rank's standard error is
/// forwarded as it is written, and a message written piece by piece can be cut by the
/// launcher's own output (its MPI_Abort banner).
fn say(line: String) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
