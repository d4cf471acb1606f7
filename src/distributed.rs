//! Processes that share one run (MPI ranks): the [`Collective`] the engines exchange
//! through, the one-process [`Single`], each rank's [`share`] of a batch, and [`concat()`],
//! the exchange that joins every rank's vectors in rank order and carries a rank's error to
//! all. With the `mpi` feature, `distributed::mpi` is the [`Collective`] over MPI.
//!
//! The engines never call MPI: they call these functions, so the default build needs no
//! MPI library and a one-process run takes the code paths it always took.

use std::fmt::Debug;
use std::ops::Range;
use std::sync::Arc;

use crate::error::SimError;
use crate::parallel;

#[cfg(feature = "mpi")]
pub mod mpi;

/// What the engines need of a set of processes: who they are, and an all-gather.
pub trait Collective: Send + Sync + Debug {
    /// This process's rank, 0-based.
    fn rank(&self) -> usize;
    /// The number of ranks.
    fn ranks(&self) -> usize;
    /// Every rank's `bytes`, in rank order; `what` names the exchange in errors (e.g. a
    /// timeout while a rank is gone).
    fn all_gather_bytes(&self, bytes: &[u8], what: &str) -> Result<Vec<Vec<u8>>, SimError>;
    /// What the exchanges carried so far, per exchange (its `what`), in order of name;
    /// empty for one process.
    fn traffic(&self) -> Vec<Traffic> {
        Vec::new()
    }
}

/// The all-gathers of one kind (`what`) so far: how many, and the bytes all ranks sent in
/// them (each rank receives them all), as `summary.json` records them.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Traffic {
    pub what: String,
    pub calls: u64,
    pub bytes: u64,
}

/// One process: rank 0 of 1; an all-gather returns its own bytes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Single;

impl Collective for Single {
    fn rank(&self) -> usize {
        0
    }
    fn ranks(&self) -> usize {
        1
    }
    fn all_gather_bytes(&self, bytes: &[u8], _what: &str) -> Result<Vec<Vec<u8>>, SimError> {
        Ok(vec![bytes.to_vec()])
    }
}

/// The one-process collective, shared.
pub fn single() -> Arc<dyn Collective> {
    Arc::new(Single)
}

/// The contiguous range of `n` samples that `rank` of `ranks` takes when each rank runs
/// `threads` threads: the blocks threads `rank·threads .. (rank+1)·threads` of one process
/// with `ranks·threads` threads would take ([`parallel::block_size`]). Empty when the
/// batch runs out before this rank.
pub fn share(n: usize, rank: usize, ranks: usize, threads: usize) -> Range<usize> {
    let per = parallel::block_size(n, ranks * threads) * threads;
    (rank * per).min(n)..((rank + 1) * per).min(n)
}

/// Every rank's vectors joined: each rank gives the same number of parts (or the error it
/// met), and part k of the result is part k of rank 0, then rank 1, and so on. When any
/// rank failed, every rank returns the lowest failing rank's error as [`SimError::Rank`],
/// so all ranks stop together with the same message and exit code.
pub fn concat(
    c: &dyn Collective,
    mine: Result<Vec<&[f32]>, &SimError>,
    what: &str,
) -> Result<Vec<Vec<f32>>, SimError> {
    let mine = mine.map_err(|e| (e.exit_code(), e.to_string()));
    let all = c.all_gather_bytes(&encode(mine), what)?;
    let mut out: Vec<Vec<f32>> = Vec::new();
    for (rank, bytes) in all.iter().enumerate() {
        let parts = decode(bytes).map_err(|(code, message)| SimError::Rank {
            rank,
            ranks: c.ranks(),
            message,
            code,
        })?;
        if rank == 0 {
            out = vec![Vec::new(); parts.len()];
        }
        if parts.len() != out.len() {
            return Err(SimError::Rank {
                rank,
                ranks: c.ranks(),
                message: format!(
                    "{what}: sent {} vectors where rank 0 sent {}; every rank must run the same bsp-sim binary and model",
                    parts.len(),
                    out.len()
                ),
                code: 1,
            });
        }
        for (o, p) in out.iter_mut().zip(parts) {
            o.extend(p);
        }
    }
    Ok(out)
}

/// Rank 0's `bytes` on every rank (e.g. the run directory it created), or rank 0's failure
/// (its exit code and message) as [`SimError::Rank`]; the other ranks' arguments are not
/// read.
pub fn from_rank0(
    c: &dyn Collective,
    mine: Result<&[u8], (u8, String)>,
    what: &str,
) -> Result<Vec<u8>, SimError> {
    let message = match mine {
        Ok(bytes) => {
            let mut out = vec![OK];
            out.extend_from_slice(bytes);
            out
        }
        Err(failure) => encode(Err(failure)),
    };
    let all = c.all_gather_bytes(&message, what)?;
    let first = all.first().map_or(&[][..], Vec::as_slice);
    match first.split_first() {
        Some((&OK, bytes)) => Ok(bytes.to_vec()),
        _ => {
            let (code, message) = decode(first)
                .err()
                .unwrap_or((1, "sent a garbled message".into()));
            Err(SimError::Rank {
                rank: 0,
                ranks: c.ranks(),
                message,
                code,
            })
        }
    }
}

/// The lowest rank whose `bytes` differ from rank 0's (e.g. a fingerprint of the model
/// and the options every rank must share), or `None` when all agree.
pub fn first_differing(
    c: &dyn Collective,
    bytes: &[u8],
    what: &str,
) -> Result<Option<usize>, SimError> {
    let all = c.all_gather_bytes(bytes, what)?;
    Ok(all.iter().position(|b| *b != all[0]))
}

/// Whether `flag` is set on any rank (e.g. Ctrl-C seen by one rank only), so that all
/// ranks act on it at the same point.
pub fn any(c: &dyn Collective, flag: bool, what: &str) -> Result<bool, SimError> {
    let all = c.all_gather_bytes(&[u8::from(flag)], what)?;
    Ok(all.iter().any(|b| b.first() == Some(&1)))
}

/// Status byte of a message: the parts follow, or a failure (exit code, message).
const OK: u8 = 0;
const FAILED: u8 = 1;

/// `[OK][k: u32][k lengths: u64][values: f32]`, little-endian; or `[FAILED][code][message]`.
fn encode(mine: Result<Vec<&[f32]>, (u8, String)>) -> Vec<u8> {
    match mine {
        Ok(parts) => {
            let values: usize = parts.iter().map(|p| p.len()).sum();
            let mut out = Vec::with_capacity(5 + 8 * parts.len() + 4 * values);
            out.push(OK);
            out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
            for p in &parts {
                out.extend_from_slice(&(p.len() as u64).to_le_bytes());
            }
            for p in &parts {
                for v in *p {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
            out
        }
        Err((code, message)) => {
            let mut out = vec![FAILED, code];
            out.extend_from_slice(message.as_bytes());
            out
        }
    }
}

/// The parts of a message, or its failure (exit code, message).
fn decode(bytes: &[u8]) -> Result<Vec<Vec<f32>>, (u8, String)> {
    let garbled = || (1, "sent a garbled message".to_string());
    match bytes.first() {
        Some(&FAILED) => {
            let code = bytes.get(1).copied().unwrap_or(1);
            let message = String::from_utf8_lossy(bytes.get(2..).unwrap_or_default());
            Err((code, message.into_owned()))
        }
        Some(&OK) if bytes.len() >= 5 => {
            let k = u32::from_le_bytes(bytes[1..5].try_into().expect("4 bytes")) as usize;
            let lens_end = 5 + 8 * k;
            let lens: Vec<usize> = bytes
                .get(5..lens_end)
                .ok_or_else(garbled)?
                .chunks_exact(8)
                .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")) as usize)
                .collect();
            let mut values = bytes[lens_end..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")));
            if bytes[lens_end..].len() != 4 * lens.iter().sum::<usize>() {
                return Err(garbled());
            }
            Ok(lens
                .iter()
                .map(|&n| values.by_ref().take(n).collect())
                .collect())
        }
        _ => Err(garbled()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_the_blocks_of_ranks_times_threads() {
        // 10 samples over 2 ranks x 2 threads: blocks of 3 (3, 3, 3, 1), so rank 0 takes
        // the first two blocks and rank 1 the rest.
        assert_eq!(share(10, 0, 2, 2), 0..6);
        assert_eq!(share(10, 1, 2, 2), 6..10);
        // 3 samples over 4 ranks x 1 thread: the last rank has none.
        assert_eq!(share(3, 3, 4, 1), 3..3);
    }

    #[test]
    fn a_message_round_trips_and_a_failure_keeps_its_code() {
        let parts: Vec<&[f32]> = vec![&[1.0, -2.5], &[], &[f32::NAN]];
        let back = decode(&encode(Ok(parts))).unwrap();
        assert_eq!(back[0], vec![1.0, -2.5]);
        assert!(back[1].is_empty());
        assert!(back[2][0].is_nan());
        let e = SimError::InputSize {
            expected: 3,
            found: 4,
        };
        let (code, message) = decode(&encode(Err((e.exit_code(), e.to_string())))).unwrap_err();
        assert_eq!((code, message), (2, e.to_string()));
        assert!(decode(&[OK, 1, 0, 0, 0, 9]).is_err());
    }
}
