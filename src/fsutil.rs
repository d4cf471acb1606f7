//! File helpers every writer of outputs shares: atomic writes through a temporary file and a
//! rename, and directory creation naming the directory in its error. A foundation, so that
//! `trace`, `report`, `checkpoint` and the commands can all use it without depending on each
//! other.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::OutputError;

/// Writes `contents` to `path` through a temporary file and a rename.
pub fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), OutputError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let out_err = |source| OutputError {
        path: path.to_path_buf(),
        cause: source,
    };
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(contents)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(out_err(e));
    }
    Ok(())
}

/// Creates `dir` (and parents), naming the directory in the error.
pub fn create_dir(dir: &Path) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(|source| OutputError {
        path: dir.to_path_buf(),
        cause: source,
    })?;
    Ok(dir.to_path_buf())
}
