//! Runs that never lie (issue 12): every stop leaves files that say what happened, inputs
//! are checked before anything is allocated or trusted, one process writes a run directory,
//! and `--resume` continues the plan the checkpoint stores. One test binary; the files are
//! named by behaviour.

#[path = "reliability/common.rs"]
mod common;
#[path = "reliability/inputs.rs"]
mod inputs;
#[path = "reliability/resume.rs"]
mod resume;
#[path = "reliability/stops.rs"]
mod stops;
#[path = "reliability/writers.rs"]
mod writers;
