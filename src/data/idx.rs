//! Reader for the IDX format of MNIST-style files, gzip-compressed or raw.
//!
//! An IDX file is a big-endian header (a magic number giving the element type and the
//! number of dimensions, then one `u32` per dimension) followed by the elements. MNIST uses
//! two kinds: `0x00000803` (unsigned bytes, 3 dimensions: count x rows x cols) for images
//! and `0x00000801` (unsigned bytes, 1 dimension: count) for labels. Compression is
//! detected by the gzip magic bytes `1f 8b`, not by the file name, because users rename
//! files and some tools decompress in place without renaming.

use std::fs::File;
use std::io::{BufReader, ErrorKind, Read};
use std::path::Path;

use flate2::read::MultiGzDecoder;

use super::DataError;

/// Magic number of an IDX file of unsigned-byte images (count x rows x cols).
pub const IMAGES_MAGIC: u32 = 0x0000_0803;
/// Magic number of an IDX file of unsigned-byte labels (count).
pub const LABELS_MAGIC: u32 = 0x0000_0801;
/// Number of classes of MNIST and Fashion-MNIST; every label must be below it.
pub const CLASSES: usize = 10;

/// The first two bytes of every gzip stream.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Reads an IDX image file into its raw pixels.
///
/// Returns `(pixels, n, rows, cols)` with `pixels.len() == n * rows * cols`, one image
/// after the other, rows top to bottom. Fails with [`DataError::BadMagic`] if the file is
/// not an image file, [`DataError::BadHeader`] if the header is cut short or a dimension
/// is zero or absurd, and [`DataError::BadLength`] unless the data after the header has
/// exactly the announced length.
pub fn read_idx_images(path: &Path) -> Result<(Vec<u8>, usize, usize, usize), DataError> {
    let bytes = read_decompressed(path)?;
    let dims = parse_header(path, &bytes, IMAGES_MAGIC, 3)?;
    let (n, rows, cols) = (dims[0], dims[1], dims[2]);
    if rows == 0 || cols == 0 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!("images of {rows}x{cols} pixels have no pixel at all"),
        });
    }
    let what = format!("{n} images of {rows}x{cols}");
    let expected = n
        .checked_mul(rows)
        .and_then(|v| v.checked_mul(cols))
        .ok_or_else(|| DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!("{what} do not fit in memory"),
        })?;
    let data = check_length(path, bytes, 16, expected, what)?;
    Ok((data, n, rows, cols))
}

/// Reads an IDX label file, checking that every label is below [`CLASSES`].
///
/// Fails like [`read_idx_images`] for a bad magic number, header or length, and with
/// [`DataError::BadLabel`] naming the first label out of range.
pub fn read_idx_labels(path: &Path) -> Result<Vec<u8>, DataError> {
    let bytes = read_decompressed(path)?;
    let dims = parse_header(path, &bytes, LABELS_MAGIC, 1)?;
    let n = dims[0];
    let labels = check_length(path, bytes, 8, n, format!("{n} labels"))?;
    if let Some((index, &label)) = labels
        .iter()
        .enumerate()
        .find(|(_, &l)| usize::from(l) >= CLASSES)
    {
        return Err(DataError::BadLabel {
            path: path.to_path_buf(),
            index,
            label,
        });
    }
    Ok(labels)
}

/// Reads a whole file, decompressing it if it starts with the gzip magic bytes.
///
/// A gzip stream that ends early is reported as `truncated gzip stream`, the usual result
/// of an interrupted download.
pub fn read_decompressed(path: &Path) -> Result<Vec<u8>, DataError> {
    let io_err = |source| DataError::Io {
        path: path.to_path_buf(),
        cause: source,
    };
    let mut raw = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut raw))
        .map_err(io_err)?;
    if !raw.starts_with(&GZIP_MAGIC) {
        return Ok(raw);
    }
    let mut out = Vec::with_capacity(raw.len().saturating_mul(4));
    MultiGzDecoder::new(BufReader::new(raw.as_slice()))
        .read_to_end(&mut out)
        .map_err(|e| DataError::Decompress {
            path: path.to_path_buf(),
            detail: describe_gzip_error(&e),
        })?;
    Ok(out)
}

/// Whether a byte stream is gzip-compressed, judged by its first two bytes.
pub fn is_gzip(first_bytes: &[u8]) -> bool {
    first_bytes.starts_with(&GZIP_MAGIC)
}

/// Turns a decompressor error into the short phrase used in messages.
pub(crate) fn describe_gzip_error(e: &std::io::Error) -> String {
    if e.kind() == ErrorKind::UnexpectedEof {
        "truncated gzip stream".to_string()
    } else {
        format!("corrupt gzip stream ({e})")
    }
}

/// Checks the magic number and reads `ndims` big-endian dimensions after it.
fn parse_header(
    path: &Path,
    bytes: &[u8],
    magic: u32,
    ndims: usize,
) -> Result<Vec<usize>, DataError> {
    let header_len = 4 + 4 * ndims;
    if bytes.len() < 4 {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!(
                "the file is {} bytes long, too short to hold a magic number",
                bytes.len()
            ),
        });
    }
    let found = be_u32(&bytes[0..4]);
    if found != magic {
        return Err(DataError::BadMagic {
            path: path.to_path_buf(),
            expected: magic,
            found,
        });
    }
    if bytes.len() < header_len {
        return Err(DataError::BadHeader {
            path: path.to_path_buf(),
            detail: format!(
                "the file is {} bytes long, shorter than the {header_len}-byte header of an {}",
                bytes.len(),
                magic_kind(magic)
            ),
        });
    }
    Ok(bytes[4..header_len]
        .chunks_exact(4)
        .map(|c| be_u32(c) as usize)
        .collect())
}

/// Strips the header and checks that exactly `expected` data bytes follow it.
fn check_length(
    path: &Path,
    mut bytes: Vec<u8>,
    header_len: usize,
    expected: usize,
    what: String,
) -> Result<Vec<u8>, DataError> {
    let found = bytes.len() - header_len;
    if found != expected {
        return Err(DataError::BadLength {
            path: path.to_path_buf(),
            what,
            expected: expected as u64,
            found: found as u64,
        });
    }
    bytes.drain(..header_len);
    Ok(bytes)
}

/// Reads a big-endian `u32` from a slice of exactly four bytes.
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Human name of an IDX magic number, for messages.
pub(crate) fn magic_kind(magic: u32) -> &'static str {
    match magic {
        IMAGES_MAGIC => "IDX images",
        LABELS_MAGIC => "IDX labels",
        _ => "IDX",
    }
}

/// Guesses which data set a file belongs to from its path, so that messages can suggest
/// the right `bsp-sim data fetch` command.
pub(crate) fn dataset_hint(path: &Path) -> &'static str {
    let fashion = path
        .components()
        .any(|c| c.as_os_str().to_string_lossy().contains("fashion"));
    if fashion {
        "fashion-mnist"
    } else {
        "mnist"
    }
}
