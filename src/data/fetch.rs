//! Downloading a data set's four files from a list of mirrors, verified before use.
//!
//! Each file is streamed into a hidden temporary file beside its destination, decompressed
//! to check the SHA-256 of its uncompressed content against the published hash, and only
//! then renamed into place. A rename within one directory is atomic, so a crash, a cut-off
//! download or a damaged mirror never leaves a file that [`super::locate`] would pick up:
//! the temporary file is removed on every error path (its guard deletes it on drop).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flate2::read::MultiGzDecoder;
use sha2::{Digest, Sha256};

use super::idx::{describe_gzip_error, is_gzip};
use super::locate::BASE_NAMES;
use super::{DataError, DatasetName};
use crate::progress::Progress;

/// Where downloads go by default; defined beside the search order that looks there too.
pub use super::locate::cache_dir;

/// Environment variable whose URL replaces the built-in mirrors (see [`default_mirrors`]).
pub const MIRROR_ENV_VAR: &str = "BSP_SIM_MIRROR";

/// Time allowed to open a connection to a mirror.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Time allowed for the response headers, and for each read of the body, so that a
/// stalled mirror fails instead of hanging the run.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// SHA-256 of the uncompressed MNIST files, in the order of [`BASE_NAMES`].
const MNIST_SHA256: [&str; 4] = [
    "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
];

/// SHA-256 of the uncompressed Fashion-MNIST files, in the order of [`BASE_NAMES`].
const FASHION_MNIST_SHA256: [&str; 4] = [
    "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
];

/// The four files of a data set as `(base name, SHA-256 of the uncompressed content)`.
pub fn known_files(name: DatasetName) -> [(&'static str, &'static str); 4] {
    let hashes = match name {
        DatasetName::Mnist => MNIST_SHA256,
        DatasetName::FashionMnist => FASHION_MNIST_SHA256,
    };
    [0, 1, 2, 3].map(|i| (BASE_NAMES[i], hashes[i]))
}

/// The mirrors compiled into the program, each a base URL ending in `/`.
pub fn builtin_mirrors(name: DatasetName) -> Vec<String> {
    let urls: &[&str] = match name {
        DatasetName::Mnist => &[
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        DatasetName::FashionMnist => {
            &["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
        }
    };
    urls.iter().map(|u| u.to_string()).collect()
}

/// The mirrors to download `name` from: `$BSP_SIM_MIRROR` if set, else [`builtin_mirrors`].
///
/// `BSP_SIM_MIRROR` is one base URL. If it contains `{dataset}`, that is replaced by the
/// data set's name (`https://host/{dataset}/`); otherwise it is taken as the root of a
/// tree laid out like a data directory, and `<dataset>/` is appended
/// (`http://127.0.0.1:8000/` serves `http://127.0.0.1:8000/mnist/train-images-idx3-ubyte.gz`).
pub fn default_mirrors(name: DatasetName) -> Vec<String> {
    match std::env::var(MIRROR_ENV_VAR) {
        Ok(url) if !url.trim().is_empty() => vec![mirror_url(name, &url)],
        _ => builtin_mirrors(name),
    }
}

/// The download base for `name` from a user-given mirror URL, read as `BSP_SIM_MIRROR` is:
/// `{dataset}` is replaced by the data set's name, otherwise `<dataset>/` is appended.
pub fn mirror_url(name: DatasetName, url: &str) -> String {
    let url = url.trim();
    if url.contains("{dataset}") {
        url.replace("{dataset}", name.as_str())
    } else {
        format!("{}/{name}/", url.trim_end_matches('/'))
    }
}

/// Downloads the four files of `name` into `dest/<name>/` and returns that directory.
///
/// Each file is tried on every mirror in order until one delivers it intact; files already
/// present with the right content are not downloaded again. Files are kept as served
/// (`.gz`). `progress` is started for each file downloaded, with its name and the size the
/// server announces, advanced by the bytes received, and finished when all four are there.
///
/// Errors: [`DataError::Io`] if the directory cannot be created or written,
/// [`DataError::Download`] for a network or HTTP failure, [`DataError::HashMismatch`] for
/// a damaged or cut-off file (with `actual` = `truncated gzip stream` for the latter), and
/// [`DataError::AllMirrorsFailed`] listing each mirror's error when several were tried.
pub fn fetch(
    name: DatasetName,
    dest: &Path,
    mirrors: &[String],
    progress: &dyn Progress,
) -> Result<PathBuf, DataError> {
    let dir = dest.join(name.as_str());
    let existed = (dest.is_dir(), dir.is_dir());
    fs::create_dir_all(&dir).map_err(|source| DataError::Io {
        path: dir.clone(),
        cause: source,
    })?;
    let result = fetch_into(name, &dir, mirrors, progress);
    if result.is_err() {
        // Leave no empty folders behind from a failed first attempt; `remove_dir` only
        // succeeds on an empty directory, so verified files from this call are kept.
        if !existed.1 {
            let _ = fs::remove_dir(&dir);
        }
        if !existed.0 {
            let _ = fs::remove_dir(dest);
        }
    }
    if result.is_ok() {
        progress.finish();
    }
    result.map(|()| dir)
}

/// The body of [`fetch`], once `dir` exists.
fn fetch_into(
    name: DatasetName,
    dir: &Path,
    mirrors: &[String],
    progress: &dyn Progress,
) -> Result<(), DataError> {
    if mirrors.is_empty() {
        return Err(DataError::Download {
            url: "(none)".to_string(),
            detail: "no mirror is configured".to_string(),
        });
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(CONNECT_TIMEOUT))
        .timeout_recv_response(Some(READ_TIMEOUT))
        .timeout_per_read(Some(READ_TIMEOUT))
        .build()
        .into();
    for (base, sha) in known_files(name) {
        let present = [format!("{base}.gz"), base.to_string()]
            .iter()
            .any(|f| sha256_uncompressed(&dir.join(f)).is_ok_and(|h| h == sha));
        if present {
            continue;
        }
        let file = format!("{base}.gz");
        let mut failures = Vec::new();
        let mut done = false;
        for mirror in mirrors {
            let url = join_url(mirror, &file);
            match download_one(&agent, &url, dir, &file, sha, progress) {
                Ok(()) => {
                    done = true;
                    break;
                }
                Err(e) => failures.push(e),
            }
        }
        if !done {
            return Err(if failures.len() == 1 {
                failures.remove(0)
            } else {
                DataError::AllMirrorsFailed { file, failures }
            });
        }
    }
    Ok(())
}

/// Formats the failures of [`DataError::AllMirrorsFailed`], one per line.
pub(crate) fn list_failures(failures: &[DataError]) -> String {
    failures.iter().map(|e| format!("\n  - {e}")).collect()
}

/// SHA-256 (lower-case hex) of a file's content after gzip decompression (if it is
/// compressed). A gzip stream that does not decompress gives its description as error.
pub fn sha256_uncompressed(path: &Path) -> Result<String, String> {
    let mut file = File::open(path).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 2];
    let got = read_up_to(&mut file, &mut magic).map_err(|e| e.to_string())?;
    let head = io::Cursor::new(magic[..got].to_vec());
    let whole = BufReader::new(head.chain(file));
    let mut hasher = Sha256::new();
    if is_gzip(&magic[..got]) {
        io::copy(&mut MultiGzDecoder::new(whole), &mut hasher)
            .map_err(|e| describe_gzip_error(&e))?;
    } else {
        let mut whole = whole;
        io::copy(&mut whole, &mut hasher).map_err(|e| e.to_string())?;
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Downloads one URL to `dir/file` through a temporary file, verifying the content hash.
fn download_one(
    agent: &ureq::Agent,
    url: &str,
    dir: &Path,
    file: &str,
    sha: &str,
    progress: &dyn Progress,
) -> Result<(), DataError> {
    let download_err = |detail: String| DataError::Download {
        url: url.to_string(),
        detail,
    };
    let response = agent
        .get(url)
        .call()
        .map_err(|e| download_err(e.to_string()))?;
    let announced = response.body().content_length();
    progress.start(file, announced);
    let mut body = response.into_body().into_reader();
    let mut part = PartFile::create(dir, file)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut received: u64 = 0;
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let of = announced.map(|n| format!(" of {n}")).unwrap_or_default();
                return Err(download_err(format!(
                    "the connection failed after {received}{of} bytes: {e}"
                )));
            }
        };
        part.write_all(&buf[..n])?;
        received += n as u64;
        progress.advance(n as u64);
    }
    part.finish_writing()?;
    let actual = sha256_uncompressed(&part.path).unwrap_or_else(|detail| detail);
    if actual != sha {
        return Err(DataError::HashMismatch {
            file: file.to_string(),
            url: url.to_string(),
            expected: sha.to_string(),
            actual,
        });
    }
    // A mirror that sent the content uncompressed (e.g. through `Content-Encoding: gzip`
    // decoded on the way) must not leave raw bytes under a `.gz` name.
    let mut magic = [0u8; 2];
    let got = File::open(&part.path)
        .and_then(|mut f| read_up_to(&mut f, &mut magic))
        .map_err(|source| DataError::Io {
            path: part.path.clone(),
            cause: source,
        })?;
    let name = if is_gzip(&magic[..got]) {
        file
    } else {
        // A stale `.gz` would be found before the raw file, so it must go.
        let _ = fs::remove_file(dir.join(file));
        file.trim_end_matches(".gz")
    };
    part.persist(&dir.join(name))
}

/// Joins a mirror's base URL and a file name with exactly one `/`.
fn join_url(base: &str, file: &str) -> String {
    format!("{}/{file}", base.trim_end_matches('/'))
}

/// Reads until `buf` is full or the input ends, returning the number of bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

/// A hidden temporary file that is deleted on drop unless [`PartFile::persist`] renamed it.
struct PartFile {
    path: PathBuf,
    file: Option<File>,
    persisted: bool,
}

impl PartFile {
    /// Creates `dir/.<file>.<pid>-<n>.part`, a name no other process or call can share.
    fn create(dir: &Path, file: &str) -> Result<Self, DataError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = dir.join(format!(".{file}.{}-{n}.part", std::process::id()));
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|source| DataError::Io {
                path: path.clone(),
                cause: source,
            })?;
        Ok(PartFile {
            path,
            file: Some(f),
            persisted: false,
        })
    }

    fn io_err(&self, source: io::Error) -> DataError {
        DataError::Io {
            path: self.path.clone(),
            cause: source,
        }
    }

    fn write_all(&mut self, bytes: &[u8]) -> Result<(), DataError> {
        match self.file.as_mut() {
            Some(f) => f.write_all(bytes).map_err(|e| self.io_err(e)),
            None => Err(self.io_err(io::Error::other("file already closed"))),
        }
    }

    /// Flushes the data to disk and closes the file, so that a rename after a crash
    /// cannot expose an empty or partial file.
    fn finish_writing(&mut self) -> Result<(), DataError> {
        if let Some(f) = self.file.take() {
            f.sync_all().map_err(|e| self.io_err(e))?;
        }
        Ok(())
    }

    /// Atomically moves the file to `target`, replacing any older file there.
    fn persist(mut self, target: &Path) -> Result<(), DataError> {
        self.finish_writing()?;
        fs::rename(&self.path, target).map_err(|source| DataError::Io {
            path: target.to_path_buf(),
            cause: source,
        })?;
        self.persisted = true;
        Ok(())
    }
}

impl Drop for PartFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.persisted {
            // Nothing more can be done if removal fails; the name is hidden and ends in
            // `.part`, so the locator never mistakes it for a data file.
            let _ = fs::remove_file(&self.path);
        }
    }
}
