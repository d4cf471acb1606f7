//! File helpers every writer of outputs shares: atomic writes through a temporary file and a
//! rename (file and directory fsynced), status files that can still be rewritten on a full
//! disk, run directories created atomically, and the lock that makes one process the only
//! writer of a run directory ([`lock`]). A foundation, so that `trace`, `report`,
//! `checkpoint` and the commands can all use it without depending on each other.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::OutputError;

pub mod lock;

pub use lock::{RunLock, WriterInfo};

/// Bytes of spaces a status file ([`write_status`]) carries after its JSON, so that a
/// later rewrite in place (when no temporary file can be written: a full disk) has room for
/// a longer status and an error message without allocating a block.
pub const STATUS_RESERVE: usize = 4096;

fn out_err(path: &Path) -> impl Fn(std::io::Error) -> OutputError + '_ {
    move |cause| OutputError {
        path: path.to_path_buf(),
        cause,
    }
}

fn tmp_path(path: &Path) -> PathBuf {
    path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ))
}

/// Writes `contents` to `path` through a temporary file and a rename, and fsyncs the file
/// and its directory: after a crash or power loss the path holds the old or the new
/// contents, and the rename itself is on disk.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    replace(path, |f| f.write_all(contents), true)
}

/// [`write_atomic`] for contents that `write` streams out (buffered), so that a large file
/// (a wide network's checkpoint) never sits whole in memory.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<(), OutputError> {
    replace(
        path,
        |f| {
            let mut w = std::io::BufWriter::new(f);
            write(&mut w)?;
            w.flush()
        },
        true,
    )
}

fn replace(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
    durable: bool,
) -> Result<(), OutputError> {
    let tmp = tmp_path(path);
    let result = (|| {
        let mut f = File::create(&tmp)?;
        write(&mut f)?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)?;
        if durable {
            sync_parent(path)?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(out_err(path)(e));
    }
    Ok(())
}

/// Fsyncs the directory holding `path`, so that a rename or a new entry in it is durable.
pub fn sync_parent(path: &Path) -> std::io::Result<()> {
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(dir) => sync_dir(dir),
        None => sync_dir(Path::new(".")),
    }
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

/// Writes a status file (`summary.json`, the trace `manifest.json`): `json` followed by
/// [`STATUS_RESERVE`] spaces (JSON allows trailing white space), atomically as
/// [`write_atomic`] does. When that fails — on a full disk the temporary file cannot be
/// written — the existing file is overwritten in place instead, within its own length (its
/// reserve), which needs no new block on a file system that overwrites in place (ext4, xfs;
/// not a copy-on-write one). The in-place rewrite is not atomic; it is the last resort that
/// lets a failed run still say `failed` rather than `running`.
pub fn write_status(path: &Path, json: &[u8]) -> Result<(), OutputError> {
    status(path, json, true)
}

/// [`write_status`] without the fsyncs, for a status refreshed often (the trace manifest
/// after every flush): atomic for readers, but a power loss may lose the refresh.
pub fn write_status_quick(path: &Path, json: &[u8]) -> Result<(), OutputError> {
    status(path, json, false)
}

fn status(path: &Path, json: &[u8], durable: bool) -> Result<(), OutputError> {
    let mut padded = Vec::with_capacity(json.len() + STATUS_RESERVE + 1);
    padded.extend_from_slice(json);
    padded.resize(json.len() + STATUS_RESERVE, b' ');
    padded.push(b'\n');
    match replace(path, |f| f.write_all(&padded), durable) {
        Ok(()) => Ok(()),
        Err(first) => match overwrite_in_place(path, json) {
            Ok(true) => Ok(()),
            _ => Err(first),
        },
    }
}

/// Overwrites `path` from its start with `json` and spaces up to its current length;
/// `Ok(false)` when the file does not exist or `json` does not fit.
fn overwrite_in_place(path: &Path, json: &[u8]) -> std::io::Result<bool> {
    let mut f = match OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(_) => return Ok(false),
    };
    let len = f.metadata()?.len() as usize;
    if json.len() + 1 > len {
        return Ok(false);
    }
    let mut bytes = json.to_vec();
    bytes.resize(len - 1, b' ');
    bytes.push(b'\n');
    f.seek(SeekFrom::Start(0))?;
    f.write_all(&bytes)?;
    f.sync_data()?;
    Ok(true)
}

/// Creates `dir` (and parents), naming the directory in the error.
pub fn create_dir(dir: &Path) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(out_err(dir))?;
    Ok(dir.to_path_buf())
}

/// Creates a new directory `parent/base`, or `parent/base-2`, `base-3`, ... when that
/// exists: each attempt is one `create_dir`, which fails if the name is taken, so two
/// processes starting at once never get the same directory.
pub fn create_new_dir(parent: &Path, base: &str) -> Result<PathBuf, OutputError> {
    create_dir(parent)?;
    let mut k = 1;
    loop {
        let dir = match k {
            1 => parent.join(base),
            k => parent.join(format!("{base}-{k}")),
        };
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && k < 100_000 => k += 1,
            Err(e) => return Err(out_err(&dir)(e)),
        }
    }
}
