//! Damaged IDX files: each kind of damage gives its own error naming the file.

use std::path::Path;

use bsp_sim::data::idx::{read_idx_images, read_idx_labels};
use bsp_sim::data::{load, DataError, DatasetName};
use bsp_sim::progress::NoProgress;

use crate::common::{gzip, idx_images, idx_labels, only, real_gz, write, write_tiny_set};

fn shown(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn label_file_read_as_images_is_bad_magic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("train-images-idx3-ubyte.gz");
    write(&path, &gzip(&idx_labels(&[1, 2, 3])));
    let err = read_idx_images(&path).expect_err("labels are not images");
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: 0x803,
                found: 0x801,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains(&shown(&path)), "{msg}");
    assert!(
        msg.contains("expected magic 0x00000803 (IDX images), found 0x00000801"),
        "{msg}"
    );
    assert!(msg.contains("is this really an IDX images file?"), "{msg}");

    let err = read_idx_labels(&path.with_extension("x")).expect_err("missing file");
    assert!(matches!(err, DataError::Io { .. }), "{err}");
}

#[test]
fn images_read_as_labels_is_bad_magic() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("labels");
    write(&path, &idx_images(1, 1, 1, &[0]));
    let err = read_idx_labels(&path).expect_err("images are not labels");
    assert!(
        matches!(
            err,
            DataError::BadMagic {
                expected: 0x801,
                found: 0x803,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn header_count_larger_than_data_is_truncated() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("mnist").join("t10k-images-idx3-ubyte");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    write(&path, &idx_images(100, 28, 28, &vec![7u8; 50 * 784]));
    let err = read_idx_images(&path).expect_err("truncated");
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            DataError::BadLength {
                expected: 78_400,
                found: 39_200,
                ..
            }
        ),
        "{msg}"
    );
    for needle in [
        shown(&path).as_str(),
        "file is truncated",
        "header says 100 images of 28x28 = 78400 bytes, found 39200",
        "bsp-sim data fetch mnist",
    ] {
        assert!(msg.contains(needle), "message lacks `{needle}`:\n{msg}");
    }
}

#[test]
fn extra_bytes_and_short_headers_are_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let long = tmp.path().join("long");
    let mut bytes = idx_labels(&[1, 2]);
    bytes.push(3);
    write(&long, &bytes);
    let err = read_idx_labels(&long).expect_err("too long");
    assert!(
        matches!(
            err,
            DataError::BadLength {
                expected: 2,
                found: 3,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("too long"), "{err}");

    let short = tmp.path().join("fashion-mnist-short");
    write(&short, &idx_images(1, 28, 28, &[])[..10]);
    let err = read_idx_images(&short).expect_err("short header");
    let msg = err.to_string();
    assert!(matches!(err, DataError::BadHeader { .. }), "{msg}");
    assert!(
        msg.contains(&shown(&short)) && msg.contains("16-byte header"),
        "{msg}"
    );
    assert!(msg.contains("bsp-sim data fetch fashion-mnist"), "{msg}");

    let empty = tmp.path().join("empty");
    write(&empty, &[]);
    assert!(matches!(
        read_idx_images(&empty),
        Err(DataError::BadHeader { .. })
    ));

    let zero = tmp.path().join("zero");
    write(&zero, &idx_images(5, 0, 28, &[]));
    assert!(matches!(
        read_idx_images(&zero),
        Err(DataError::BadHeader { .. })
    ));

    let huge = tmp.path().join("huge");
    write(&huge, &idx_images(u32::MAX, u32::MAX, u32::MAX, &[1, 2, 3]));
    assert!(
        read_idx_images(&huge).is_err(),
        "absurd dimensions must fail, not panic"
    );
}

#[test]
fn label_out_of_range_is_rejected() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let path = tmp.path().join("labels");
    write(&path, &idx_labels(&[0, 9, 10, 3]));
    let err = read_idx_labels(&path).expect_err("label 10");
    assert!(
        matches!(
            err,
            DataError::BadLabel {
                index: 2,
                label: 10,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains(&shown(&path)), "{err}");
}

#[test]
fn cut_off_gzip_is_reported_as_truncated_stream() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let full = std::fs::read(real_gz("mnist", "t10k-labels-idx1-ubyte")).expect("read");
    let path = tmp.path().join("t10k-labels-idx1-ubyte.gz");
    write(&path, &full[..full.len() / 2]);
    let err = read_idx_labels(&path).expect_err("cut-off gzip");
    let msg = err.to_string();
    assert!(matches!(err, DataError::Decompress { .. }), "{msg}");
    assert!(
        msg.contains("truncated gzip stream") && msg.contains(&shown(&path)),
        "{msg}"
    );
}

#[test]
fn image_and_label_counts_must_agree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mnist");
    write_tiny_set(&dir, 3, 2);
    let labels = dir.join("train-labels-idx1-ubyte");
    write(&labels, &idx_labels(&[1, 2, 3, 4]));
    let err = load(DatasetName::Mnist, &only(tmp.path()), false, &NoProgress)
        .expect_err("3 images, 4 labels");
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            DataError::CountMismatch {
                images: 3,
                labels: 4,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.contains(&shown(&labels)), "{msg}");
    assert!(
        msg.contains(&shown(&dir.join("train-images-idx3-ubyte"))),
        "{msg}"
    );
}

#[test]
fn train_and_test_image_sizes_must_agree() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mnist");
    write_tiny_set(&dir, 3, 2);
    write(
        &dir.join("t10k-images-idx3-ubyte"),
        &idx_images(2, 3, 3, &[0; 18]),
    );
    let err =
        load(DatasetName::Mnist, &only(tmp.path()), false, &NoProgress).expect_err("2x2 vs 3x3");
    assert!(
        matches!(
            err,
            DataError::DimMismatch {
                train_dim: 4,
                test_dim: 9,
                ..
            }
        ),
        "{err}"
    );
}
