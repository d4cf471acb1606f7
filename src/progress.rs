//! Progress reporting without a terminal: the library announces long work (downloads)
//! through [`Progress`], and the binary decides how to show it.

/// Receives the progress of one task made of units (a download, counted in bytes).
///
/// The library calls [`start`](Progress::start) for each part of the task (each file of a
/// data set), [`advance`](Progress::advance) as units arrive, and
/// [`finish`](Progress::finish) once when the whole task has succeeded. A task that fails
/// is not finished: its last state stays as it was, next to the error.
pub trait Progress {
    /// A part named `what` begins at 0 of `total` units (`None`: the size is not known in
    /// advance).
    fn start(&self, what: &str, total: Option<u64>);
    /// `n` more units of the current part are done.
    fn advance(&self, n: u64);
    /// The task is complete.
    fn finish(&self);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _what: &str, _total: Option<u64>) {}
    fn advance(&self, _n: u64) {}
    fn finish(&self) {}
}
