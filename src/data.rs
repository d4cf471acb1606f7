//! Training data: finding, downloading, reading and synthesising MNIST-style data sets.
//!
//! The entry point is [`load`], which looks for the four IDX files of a data set in the
//! directories of a [`DataSearch`] (see [`locate`]), optionally fetches them into the user
//! cache dir when they are missing (see [`fetch`]), and reads them (see [`idx`]) into a
//! [`Split`] of two [`Dataset`]s whose pixels are `f32` in `[0, 1]`. [`synthetic`] makes a
//! small seeded stand-in with the same shape for demos and fast tests.
//!
//! This module is one of the two places where the library does I/O (the other is `trace`);
//! it never prints: progress goes to the caller's [`Progress`] and failures
//! come back as [`DataError`]s whose messages say what to do next.

pub mod augment;
pub mod fetch;
pub mod idx;
pub mod locate;
pub mod synthetic;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

pub use locate::DataSearch;

use crate::progress::Progress;

/// The real data sets the simulator knows how to find, fetch and verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DatasetName {
    /// LeCun, Cortes and Burges' handwritten digits.
    Mnist,
    /// Zalando Research's drop-in replacement with images of clothing.
    FashionMnist,
}

impl DatasetName {
    /// Every known data set, in the order they are listed in messages.
    pub const ALL: [DatasetName; 2] = [DatasetName::Mnist, DatasetName::FashionMnist];

    /// The canonical name, which is also the name of the data set's folder on disk.
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }
}

impl fmt::Display for DatasetName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DatasetName {
    type Err = DataError;

    /// Accepts the canonical names, case-insensitively, and `fashion_mnist` as an alias.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "mnist" => Ok(DatasetName::Mnist),
            "fashion-mnist" | "fashion_mnist" => Ok(DatasetName::FashionMnist),
            _ => Err(DataError::UnknownDataset {
                name: s.to_string(),
            }),
        }
    }
}

/// A labelled set of images, flattened for the simulator's input layer.
///
/// Images are `f32` in `[0, 1]` (pixel / 255), stored row-major as `len() x dim`;
/// labels are in `0..classes`.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// The data set's name (`mnist`, `fashion-mnist`, `synthetic`), for reports.
    pub name: String,
    /// `len() * dim` pixel intensities in `[0, 1]`, one image after the other.
    pub images: Vec<f32>,
    /// One label per image, each below `classes`.
    pub labels: Vec<u8>,
    /// Number of pixels per image (784 for 28x28).
    pub dim: usize,
    /// Number of classes the labels are drawn from.
    pub classes: usize,
}

impl Dataset {
    /// Number of images (and labels).
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the set holds no image at all.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `i`-th image as `dim` pixels.
    ///
    /// # Panics
    /// If `i >= self.len()`, like slice indexing.
    pub fn image(&self, i: usize) -> &[f32] {
        &self.images[i * self.dim..(i + 1) * self.dim]
    }

    /// Keeps only the first `n` samples (no-op when `n >= len()`), to run quick experiments
    /// on a prefix of a large set.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.labels.truncate(n);
            self.images.truncate(n * self.dim);
        }
    }

    /// The same set's name, labels and shape with no images (for a transformed copy).
    pub fn clone_without_images(&self) -> Dataset {
        Dataset {
            name: self.name.clone(),
            images: Vec::new(),
            labels: self.labels.clone(),
            dim: self.dim,
            classes: self.classes,
        }
    }

    /// Converts raw IDX bytes into a data set, scaling pixels from `0..=255` to `[0, 1]`.
    fn from_idx(name: &str, pixels: &[u8], labels: Vec<u8>, dim: usize, classes: usize) -> Self {
        Dataset {
            name: name.to_string(),
            images: pixels.iter().map(|&p| f32::from(p) / 255.0).collect(),
            labels,
            dim,
            classes,
        }
    }
}

/// A data set's training and test parts.
#[derive(Debug, Clone)]
pub struct Split {
    /// The part the network learns from.
    pub train: Dataset,
    /// The held-out part used to measure accuracy.
    pub test: Dataset,
}

/// Everything that can go wrong while finding, fetching or reading data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// None of the search directories holds the four files of the data set.
    #[error("{}", locate::not_found_message(*dataset, looked_in, download_error.as_deref()))]
    NotFound {
        /// The data set that was asked for.
        dataset: DatasetName,
        /// Every directory that was searched, in order.
        looked_in: Vec<PathBuf>,
        /// Why the automatic download failed, when one was attempted.
        download_error: Option<String>,
    },
    /// A file or directory could not be read, written or created.
    #[error("cannot access {}: {cause}; check that the path exists and is readable (and writable for downloads)", path.display())]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying operating-system error, part of the message and therefore not
        /// also the error's `source()` (which `{:#}` would print a second time).
        cause: std::io::Error,
    },
    /// The file does not start with the IDX magic number of the expected kind.
    #[error("{}: expected magic 0x{expected:08x} ({kind}), found 0x{found:08x}; is this really an {kind} file?", path.display(), kind = idx::magic_kind(*expected))]
    BadMagic {
        /// The file that was read.
        path: PathBuf,
        /// The magic number that was expected.
        expected: u32,
        /// The first four bytes of the (decompressed) file.
        found: u32,
    },
    /// The data after the header is shorter or longer than the header says.
    #[error("{}: file is {}: header says {what} = {expected} bytes, found {found}; re-download with `bsp-sim data fetch {}`", path.display(), if found < expected { "truncated" } else { "too long" }, idx::dataset_hint(path))]
    BadLength {
        /// The file that was read.
        path: PathBuf,
        /// What the header announces, e.g. `60000 images of 28x28`.
        what: String,
        /// Number of data bytes the header announces.
        expected: u64,
        /// Number of data bytes actually present.
        found: u64,
    },
    /// The header is unreadable or its dimensions make no sense.
    #[error("{}: bad header: {detail}; the file is damaged or not an IDX file, re-download it with `bsp-sim data fetch {}`", path.display(), idx::dataset_hint(path))]
    BadHeader {
        /// The file that was read.
        path: PathBuf,
        /// What is wrong with it.
        detail: String,
    },
    /// The gzip stream could not be decompressed.
    #[error("{}: cannot decompress: {detail}; the file is damaged or partly downloaded, re-download it with `bsp-sim data fetch {}`", path.display(), idx::dataset_hint(path))]
    Decompress {
        /// The file that was read.
        path: PathBuf,
        /// What the decompressor reported.
        detail: String,
    },
    /// A label lies outside `0..10`.
    #[error("{}: label {label} at index {index} is not below 10; this is not an MNIST-style label file, re-download it with `bsp-sim data fetch {}`", path.display(), idx::dataset_hint(path))]
    BadLabel {
        /// The label file.
        path: PathBuf,
        /// Position of the first offending label.
        index: usize,
        /// Its value.
        label: u8,
    },
    /// The image and label files of one part disagree on the number of samples.
    #[error("{} holds {images} images but {} holds {labels} labels; the two files come from different data sets or one is damaged, re-download them with `bsp-sim data fetch {}`", images_path.display(), labels_path.display(), idx::dataset_hint(images_path))]
    CountMismatch {
        /// The image file.
        images_path: PathBuf,
        /// The label file.
        labels_path: PathBuf,
        /// Number of images in it.
        images: usize,
        /// Number of labels in the label file.
        labels: usize,
    },
    /// The training and test images have different sizes.
    #[error("{} has {train_dim} pixels per image but {} has {test_dim}; both parts must come from the same data set", train_path.display(), test_path.display())]
    DimMismatch {
        /// The training image file.
        train_path: PathBuf,
        /// The test image file.
        test_path: PathBuf,
        /// Pixels per training image.
        train_dim: usize,
        /// Pixels per test image.
        test_dim: usize,
    },
    /// An HTTP request failed (connection, timeout, HTTP status, cut-off body).
    #[error("download of {url} failed: {detail}; check the network or set BSP_SIM_MIRROR to another mirror")]
    Download {
        /// The URL that was requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// A downloaded file does not decompress to the known content.
    #[error("{file} from {url} is damaged: expected sha-256 {expected} of the uncompressed file, got {actual}; the download was cut off or the mirror serves another file, retry or set BSP_SIM_MIRROR to another mirror")]
    HashMismatch {
        /// Name of the file (e.g. `train-images-idx3-ubyte.gz`).
        file: String,
        /// Where it was downloaded from.
        url: String,
        /// The known SHA-256 of the uncompressed content.
        expected: String,
        /// The SHA-256 that was computed, or why none could be (`truncated gzip stream`).
        actual: String,
    },
    /// Every mirror failed for one file; each failure is listed.
    #[error(
        "could not download {file} from any mirror:{}",
        fetch::list_failures(failures)
    )]
    AllMirrorsFailed {
        /// Name of the file that could not be fetched.
        file: String,
        /// One error per mirror tried, in order.
        failures: Vec<DataError>,
    },
    /// A data-set name that is not one of [`DatasetName::ALL`].
    #[error("unknown data set `{name}`; valid names are: mnist, fashion-mnist")]
    UnknownDataset {
        /// The name as given.
        name: String,
    },
}

/// Finds the data set `name`, fetching it into the cache dir if it is missing and `download`
/// is true, and reads its training and test parts.
///
/// The directories of `search` are tried in order (see [`DataSearch::candidates`]). When
/// nothing is found and the download is off or fails, the error is
/// [`DataError::NotFound`], which lists where it looked, why the download failed (URL and
/// cause) and the commands that get the files. Files that are found but damaged give the
/// [`idx`] error that describes the damage instead.
///
/// `progress` receives the download progress in bytes; it is left untouched otherwise.
pub fn load(
    name: DatasetName,
    search: &DataSearch,
    download: bool,
    progress: &dyn Progress,
) -> Result<Split, DataError> {
    if let Some(files) = locate::find(name, search) {
        return read_split(name, &files);
    }
    let not_found = |download_error: Option<String>| DataError::NotFound {
        dataset: name,
        looked_in: locate::looked_in(name, search),
        download_error,
    };
    if !download {
        return Err(not_found(None));
    }
    let Some(cache) = search.cache_dir.as_deref() else {
        return Err(not_found(Some(
            "no user cache directory is known on this system to download into".to_string(),
        )));
    };
    let dir = fetch::fetch(name, cache, &fetch::default_mirrors(name), progress)
        .map_err(|e| not_found(Some(e.to_string())))?;
    match locate::find_in(name, &dir) {
        Some(files) => read_split(name, &files),
        None => Err(not_found(Some(format!(
            "the download into {} finished but the files are not there",
            dir.display()
        )))),
    }
}

/// Reads one part (images and labels) and checks that the two files agree.
fn read_part(name: DatasetName, images: &Path, labels: &Path) -> Result<Dataset, DataError> {
    let (pixels, n, rows, cols) = idx::read_idx_images(images)?;
    let label_values = idx::read_idx_labels(labels)?;
    if label_values.len() != n {
        return Err(DataError::CountMismatch {
            images_path: images.to_path_buf(),
            labels_path: labels.to_path_buf(),
            images: n,
            labels: label_values.len(),
        });
    }
    Ok(Dataset::from_idx(
        name.as_str(),
        &pixels,
        label_values,
        rows * cols,
        idx::CLASSES,
    ))
}

/// Reads the four files of a located data set.
fn read_split(name: DatasetName, files: &locate::DatasetFiles) -> Result<Split, DataError> {
    let train = read_part(name, &files.train_images, &files.train_labels)?;
    let test = read_part(name, &files.test_images, &files.test_labels)?;
    if train.dim != test.dim {
        return Err(DataError::DimMismatch {
            train_path: files.train_images.clone(),
            test_path: files.test_images.clone(),
            train_dim: train.dim,
            test_dim: test.dim,
        });
    }
    Ok(Split { train, test })
}
