//! Finding data sets: file spellings, layouts, search order and the not-found message.

use std::path::PathBuf;

use bsp_sim::data::{load, DataError, DataSearch, DatasetName};
use bsp_sim::progress::NoProgress;

use crate::common::{data_root, gunzip, listing, only, real_gz, write, write_tiny_set};

const BASES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn hidden() -> NoProgress {
    NoProgress
}

#[test]
fn raw_uncompressed_files_are_read_like_gzipped_ones() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("mnist");
    std::fs::create_dir(&dir).expect("mkdir");
    for base in BASES {
        write(&dir.join(base), &gunzip(&real_gz("mnist", base)));
    }
    let raw = load(DatasetName::Mnist, &only(tmp.path()), false, &hidden()).expect("raw load");
    let gz = load(DatasetName::Mnist, &only(&data_root()), false, &hidden()).expect("gz load");
    assert_eq!(raw.train.len(), 60_000);
    assert_eq!(raw.train.labels, gz.train.labels);
    assert_eq!(raw.test.images, gz.test.images);
}

#[test]
fn dotted_spelling_directly_in_the_data_dir_is_found() {
    // `--data` pointing straight at a folder of `*.idx3-ubyte` files, mixed compression.
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    let src = |b: &str| real_gz("mnist", b);
    write(&d.join("train-images.idx3-ubyte"), &gunzip(&src(BASES[0])));
    std::fs::copy(src(BASES[1]), d.join("train-labels.idx1-ubyte.gz")).expect("copy");
    write(&d.join("t10k-images.idx3-ubyte"), &gunzip(&src(BASES[2])));
    // Gzip is detected by content, not by name.
    std::fs::copy(src(BASES[3]), d.join("t10k-labels.idx1-ubyte")).expect("copy");
    let split = load(DatasetName::Mnist, &only(d), false, &hidden()).expect("load");
    assert_eq!(split.train.len(), 60_000);
    assert_eq!(split.test.len(), 10_000);
    assert_eq!(split.train.labels[0], 5);
}

#[test]
fn a_folder_named_after_another_data_set_is_not_used() {
    // `--data .../mnist` while asking for fashion-mnist must not return MNIST.
    let err = load(
        DatasetName::FashionMnist,
        &only(&data_root().join("mnist")),
        false,
        &hidden(),
    )
    .expect_err("mnist folder must not satisfy fashion-mnist");
    assert!(matches!(err, DataError::NotFound { .. }), "{err}");
}

#[test]
fn search_order_is_cli_model_env_cwd_cache_system() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dirs: Vec<PathBuf> = ["cli", "model", "env", "cwd", "cache", "system"]
        .iter()
        .map(|n| tmp.path().join(n))
        .collect();
    // Each directory holds a different-sized set, so the size tells which one was read.
    for (i, d) in dirs.iter().enumerate() {
        write_tiny_set(&d.join("mnist"), i + 1, 1);
    }
    let mut search = DataSearch {
        cli_dir: Some(dirs[0].clone()),
        model_dir: Some(dirs[1].clone()),
        env_dir: Some(dirs[2].clone()),
        cwd_data: Some(dirs[3].clone()),
        cache_dir: Some(dirs[4].clone()),
        system_dir: Some(dirs[5].clone()),
    };
    assert_eq!(search.candidates(), dirs);
    let size = |s: &DataSearch| {
        load(DatasetName::Mnist, s, false, &hidden())
            .expect("tiny set")
            .train
            .len()
    };
    assert_eq!(size(&search), 1, "cli_dir wins");
    search.cli_dir = None;
    assert_eq!(size(&search), 2, "then model_dir");
    search.model_dir = Some(tmp.path().join("empty"));
    assert_eq!(size(&search), 3, "an empty directory is skipped");
    search.env_dir = None;
    search.cwd_data = None;
    assert_eq!(size(&search), 5, "then the cache dir");
    // A tiny set in cli_dir also beats the real data in env_dir.
    let real = DataSearch {
        cli_dir: Some(dirs[0].clone()),
        env_dir: Some(data_root()),
        ..DataSearch::default()
    };
    assert_eq!(size(&real), 1);
}

#[test]
fn candidates_skip_none_and_duplicates() {
    let a = PathBuf::from("/a");
    let search = DataSearch {
        cli_dir: Some(a.clone()),
        env_dir: Some(a.clone()),
        system_dir: Some(PathBuf::from("/s")),
        ..DataSearch::default()
    };
    assert_eq!(search.candidates(), vec![a, PathBuf::from("/s")]);
}

#[test]
fn not_found_lists_every_directory_and_the_fixes() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let names = ["cli", "model", "env", "cwd", "cache", "system"];
    let dirs: Vec<PathBuf> = names.iter().map(|n| tmp.path().join(n)).collect();
    // A partial set (three of four files) must not count as found.
    let partial = dirs[2].join("fashion-mnist");
    write_tiny_set(&partial, 2, 2);
    std::fs::remove_file(partial.join("t10k-labels-idx1-ubyte")).expect("rm");
    let search = DataSearch {
        cli_dir: Some(dirs[0].clone()),
        model_dir: Some(dirs[1].clone()),
        env_dir: Some(dirs[2].clone()),
        cwd_data: Some(dirs[3].clone()),
        cache_dir: Some(dirs[4].clone()),
        system_dir: Some(dirs[5].clone()),
    };
    let err = load(DatasetName::FashionMnist, &search, false, &hidden()).expect_err("not found");
    let msg = err.to_string();
    let DataError::NotFound {
        dataset,
        looked_in,
        download_error,
    } = err
    else {
        panic!("expected NotFound, got {msg}");
    };
    assert_eq!(dataset, DatasetName::FashionMnist);
    assert!(download_error.is_none());
    for d in &dirs {
        assert!(
            looked_in.contains(d),
            "{} not in {looked_in:?}",
            d.display()
        );
        assert!(looked_in.contains(&d.join("fashion-mnist")));
        assert!(msg.contains(&d.display().to_string()), "{msg}");
    }
    for needle in [
        "fashion-mnist data set not found",
        "bsp-sim data fetch fashion-mnist",
        "--data DIR",
        "BSP_SIM_DATA=DIR",
        "apt-get install dataset-fashion-mnist",
    ] {
        assert!(msg.contains(needle), "message lacks `{needle}`:\n{msg}");
    }
    // Nothing was created while searching.
    assert_eq!(listing(tmp.path()), vec!["env".to_string()]);
}

#[test]
fn mnist_not_found_does_not_suggest_the_fashion_package() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = load(DatasetName::Mnist, &only(tmp.path()), false, &hidden()).expect_err("empty");
    let msg = err.to_string();
    assert!(msg.contains("bsp-sim data fetch mnist"), "{msg}");
    assert!(msg.contains(&tmp.path().display().to_string()), "{msg}");
    assert!(!msg.contains("apt-get"), "{msg}");
}

#[test]
fn dataset_names_parse_and_display() {
    for (s, n) in [
        ("mnist", DatasetName::Mnist),
        ("fashion-mnist", DatasetName::FashionMnist),
        ("fashion_mnist", DatasetName::FashionMnist),
    ] {
        assert_eq!(s.parse::<DatasetName>().expect("valid name"), n);
    }
    assert_eq!(DatasetName::Mnist.to_string(), "mnist");
    assert_eq!(DatasetName::FashionMnist.to_string(), "fashion-mnist");
    let err = "cifar".parse::<DatasetName>().expect_err("unknown");
    assert!(matches!(&err, DataError::UnknownDataset { name } if name == "cifar"));
    let msg = err.to_string();
    assert!(
        msg.contains("cifar") && msg.contains("mnist, fashion-mnist"),
        "{msg}"
    );
}
