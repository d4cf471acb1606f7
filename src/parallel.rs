//! Blocks of samples on scoped threads: the harness in which the synchronous engine and the
//! adjoint pass run their per-thread work, with a worker's panic turned into an error.
//!
//! A batch of `n` samples is split into contiguous blocks of `n.div_ceil(threads)` samples
//! (the last may be shorter), one per thread, each with its own state; results are gathered
//! by the caller in block order, so nothing depends on which thread ran a block.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::SimError;

/// Samples per block for a batch of `n` samples over `threads` threads.
pub fn block_size(n: usize, threads: usize) -> usize {
    n.div_ceil(threads.max(1)).max(1)
}

/// Runs `work(state, block)` for each block of `indices` on its own scoped thread, with the
/// block's own element of `states` (which must hold at least one per block). Returns the
/// first block's error in block order; a panic becomes [`SimError::WorkerPanic`] naming
/// `during`.
pub fn for_blocks<S: Send>(
    indices: &[usize],
    threads: usize,
    states: &mut [S],
    during: &str,
    work: impl Fn(&mut S, &[usize]) -> Result<(), SimError> + Sync,
) -> Result<(), SimError> {
    let per = block_size(indices.len(), threads);
    debug_assert!(states.len() >= indices.len().div_ceil(per));
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = indices
            .chunks(per)
            .zip(states.iter_mut())
            .map(|(block, state)| {
                scope.spawn(move || catch_unwind(AssertUnwindSafe(|| work(state, block))))
            })
            .collect();
        let mut result = Ok(());
        for h in handles {
            let r = match h.join() {
                Ok(Ok(r)) => r,
                Ok(Err(p)) | Err(p) => Err(panic_error(during, &p)),
            };
            if result.is_ok() {
                result = r;
            }
        }
        result
    })
}

/// The error for a worker thread that panicked during `during` with payload `p`.
pub fn panic_error(during: &str, p: &Box<dyn std::any::Any + Send>) -> SimError {
    let message = if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    };
    SimError::WorkerPanic {
        during: during.to_string(),
        message,
    }
}
