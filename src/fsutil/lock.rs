//! One writer per run directory: an exclusive advisory lock (`flock` through
//! [`std::fs::File::try_lock`]) on `RUN_DIR/writer.lock`, taken by `run`, `--resume` and
//! `trace` before they write and held for the process's life. The kernel releases it when
//! the process ends however it ends (kill -9 included), so a reader that can take the lock
//! knows that nobody writes the directory any more, whatever the status files still say.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{BusyError, Error, OutputError};

/// Name of the lock file inside a run directory.
pub const LOCK_FILE: &str = "writer.lock";

/// The process that writes (or wrote) a run directory, as its status files record it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterInfo {
    pub pid: u32,
    pub host: String,
}

impl WriterInfo {
    /// This process.
    pub fn current() -> Self {
        WriterInfo {
            pid: std::process::id(),
            host: host_name(),
        }
    }

    /// Whether the writer ran on this machine (where its lock can be checked).
    pub fn is_this_host(&self) -> bool {
        self.host == host_name()
    }
}

impl std::fmt::Display for WriterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on host {}", self.pid, self.host)
    }
}

/// The machine's host name (Linux's `/proc/sys/kernel/hostname`, else `$HOSTNAME`, else
/// `unknown`).
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// The exclusive lock on a run directory; released when dropped or when the process ends.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
    dir: PathBuf,
}

impl RunLock {
    /// Takes the lock of `dir` (which must exist), or fails with [`BusyError`] (exit code
    /// 2) naming the process that holds it.
    pub fn acquire(dir: &Path) -> Result<RunLock, Error> {
        let path = dir.join(LOCK_FILE);
        let io = |cause| OutputError {
            path: path.clone(),
            cause,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(BusyError {
                    dir: dir.to_path_buf(),
                    holder: describe(&mut file),
                }
                .into())
            }
            Err(TryLockError::Error(e)) => return Err(io(e).into()),
        }
        file.set_len(0).map_err(io)?;
        writeln!(file, "{}", WriterInfo::current()).map_err(io)?;
        Ok(RunLock {
            _file: file,
            dir: dir.to_path_buf(),
        })
    }

    /// The locked run directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Who holds the lock of `dir` right now: `Some` (the holder as its lock file names it)
/// while a process writes the directory, `None` when nobody does (or the directory has no
/// lock file).
pub fn holder(dir: &Path) -> Option<String> {
    let mut file = File::open(dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => None,
        Err(TryLockError::WouldBlock) => Some(describe(&mut file)),
        // A file system without locks: nothing can be said, so claim nothing.
        Err(TryLockError::Error(_)) => None,
    }
}

fn describe(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.read_to_string(&mut text);
    match text.trim() {
        "" => "another process".into(),
        t => t.to_string(),
    }
}
