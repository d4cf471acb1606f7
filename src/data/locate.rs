//! Finding the four IDX files of a data set among the usual places.
//!
//! Users keep MNIST in many layouts: a shared data root with one folder per data set
//! (`DIR/mnist/...`), the data set's own folder (`DIR/...`, typical of `--data` pointing
//! straight at it), gzip-compressed or not, and with the original `-idx3-ubyte` or the
//! common `.idx3-ubyte` spelling. This module accepts all of them so that nobody has to
//! rename files, and remembers every directory it tried so that a failure can list them.

use std::path::{Path, PathBuf};

use super::DatasetName;

/// Directory that Debian's `dataset-*` packages install into (one folder per data set).
pub const SYSTEM_DIR: &str = "/usr/share/datasets";

/// Environment variable naming a data root, for tests and users without `--data`.
pub const ENV_VAR: &str = "BSP_SIM_DATA";

/// The file names of an MNIST-style data set, without compression suffix, in the order
/// train images, train labels, test images, test labels.
pub const BASE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The user cache directory that downloads go to: `dirs::cache_dir()/bsp-sim`
/// (`~/.cache/bsp-sim` on Linux), or `None` if the system has no notion of one.
pub fn cache_dir() -> Option<PathBuf> {
    dirs::cache_dir().map(|d| d.join("bsp-sim"))
}

/// Where to look for data, in priority order; `None` entries are skipped.
///
/// The order is: the `--data DIR` flag, the model file's `data.dir` (already resolved
/// relative to the model file), `$BSP_SIM_DATA`, `./data`, the user cache dir
/// (`dirs::cache_dir()/bsp-sim`, where downloads go) and `/usr/share/datasets`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DataSearch {
    /// From the `--data DIR` command-line flag.
    pub cli_dir: Option<PathBuf>,
    /// From the model file's `data.dir`.
    pub model_dir: Option<PathBuf>,
    /// From the `BSP_SIM_DATA` environment variable.
    pub env_dir: Option<PathBuf>,
    /// `./data` in the working directory.
    pub cwd_data: Option<PathBuf>,
    /// The user cache dir, also the download destination.
    pub cache_dir: Option<PathBuf>,
    /// The system-wide data set directory.
    pub system_dir: Option<PathBuf>,
}

impl DataSearch {
    /// Fills the search path from the process environment: `$BSP_SIM_DATA` (if set and
    /// non-empty), `./data` under the current directory, the user cache dir and
    /// [`SYSTEM_DIR`], after the two directories given by the caller.
    pub fn from_environment(cli_dir: Option<PathBuf>, model_dir: Option<PathBuf>) -> Self {
        let env_dir = std::env::var_os(ENV_VAR)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let cwd_data = Some(
            std::env::current_dir()
                .map(|d| d.join("data"))
                .unwrap_or_else(|_| PathBuf::from("data")),
        );
        DataSearch {
            cli_dir,
            model_dir,
            env_dir,
            cwd_data,
            cache_dir: cache_dir(),
            system_dir: Some(PathBuf::from(SYSTEM_DIR)),
        }
    }

    /// The directories to search, in priority order, without `None`s and duplicates.
    pub fn candidates(&self) -> Vec<PathBuf> {
        let all = [
            &self.cli_dir,
            &self.model_dir,
            &self.env_dir,
            &self.cwd_data,
            &self.cache_dir,
            &self.system_dir,
        ];
        let mut out: Vec<PathBuf> = Vec::new();
        for dir in all.into_iter().flatten() {
            if !out.contains(dir) {
                out.push(dir.clone());
            }
        }
        out
    }
}

/// The four files of a data set as found on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetFiles {
    /// Training images (`train-images-idx3-ubyte` in one of its spellings).
    pub train_images: PathBuf,
    /// Training labels.
    pub train_labels: PathBuf,
    /// Test images (`t10k-images-idx3-ubyte`).
    pub test_images: PathBuf,
    /// Test labels.
    pub test_labels: PathBuf,
}

/// Searches the candidate directories of `search` in order and returns the first complete
/// set of files.
pub fn find(name: DatasetName, search: &DataSearch) -> Option<DatasetFiles> {
    search
        .candidates()
        .iter()
        .find_map(|dir| find_in(name, dir))
}

/// Looks for the data set in one candidate directory: first in `dir/<name>/`, then in
/// `dir` itself, unless `dir` is named after another data set (so that `--data
/// data/mnist` never passes MNIST off as Fashion-MNIST).
pub fn find_in(name: DatasetName, dir: &Path) -> Option<DatasetFiles> {
    dirs_to_try(name, dir)
        .into_iter()
        .find_map(|d| files_in(&d))
}

/// Every directory [`find`] looks into for `search`, in order, for error messages.
pub fn looked_in(name: DatasetName, search: &DataSearch) -> Vec<PathBuf> {
    search
        .candidates()
        .iter()
        .flat_map(|dir| dirs_to_try(name, dir))
        .collect()
}

/// The spellings accepted for one base name, most common first.
pub fn spellings(base: &str) -> Vec<String> {
    let dotted = base.replacen("-idx", ".idx", 1);
    vec![
        format!("{base}.gz"),
        base.to_string(),
        format!("{dotted}.gz"),
        dotted,
    ]
}

/// The directories inside one candidate that may hold the files.
fn dirs_to_try(name: DatasetName, dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.join(name.as_str())];
    let other_dataset = dir
        .file_name()
        .and_then(|f| f.to_str())
        .and_then(|f| f.parse::<DatasetName>().ok())
        .is_some_and(|d| d != name);
    if !other_dataset {
        out.push(dir.to_path_buf());
    }
    out
}

/// The four files in `dir`, if all are present in some accepted spelling.
fn files_in(dir: &Path) -> Option<DatasetFiles> {
    let find_one = |base: &str| {
        spellings(base)
            .into_iter()
            .map(|s| dir.join(s))
            .find(|p| p.is_file())
    };
    Some(DatasetFiles {
        train_images: find_one(BASE_NAMES[0])?,
        train_labels: find_one(BASE_NAMES[1])?,
        test_images: find_one(BASE_NAMES[2])?,
        test_labels: find_one(BASE_NAMES[3])?,
    })
}

/// The text of [`super::DataError::NotFound`]: where we looked, why the download failed,
/// and the commands that fix it.
pub(crate) fn not_found_message(
    dataset: DatasetName,
    looked_in: &[PathBuf],
    download_error: Option<&str>,
) -> String {
    let mut msg = format!("{dataset} data set not found; looked in:");
    if looked_in.is_empty() {
        msg.push_str("\n  (no directory: the search path is empty)");
    }
    for dir in looked_in {
        msg.push_str(&format!("\n  {}", dir.display()));
    }
    if let Some(err) = download_error {
        msg.push_str(&format!("\nthe automatic download failed: {err}"));
    }
    msg.push_str(&format!(
        "\nto get the files, run `bsp-sim data fetch {dataset}`, or put the four files \
         ({}, {}, {}, {}, gzip-compressed or not) into DIR/{dataset}/ and pass `--data DIR` \
         or set `{ENV_VAR}=DIR`",
        BASE_NAMES[0], BASE_NAMES[1], BASE_NAMES[2], BASE_NAMES[3]
    ));
    if dataset == DatasetName::FashionMnist {
        msg.push_str(&format!(
            "\non Debian, `apt-get install dataset-fashion-mnist` installs them under \
             {SYSTEM_DIR}/fashion-mnist"
        ));
    }
    msg
}
