//! Downloading from a loopback mirror: success, fall-through, and every kind of damage,
//! which must leave no partial or temporary file behind.

use std::cell::Cell;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::Ordering;

use bsp_sim::data::fetch::{builtin_mirrors, default_mirrors, fetch, MIRROR_ENV_VAR};
use bsp_sim::data::{load, DataError, DataSearch, DatasetName};
use bsp_sim::progress::{NoProgress, Progress};

use crate::common::{data_root, gzip, listing, only, TestServer};

const GZ_NAMES: [&str; 4] = [
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
];
const TRAIN_LABELS_SHA256: &str =
    "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5";

/// Progress that keeps what a bar would show: the current part's total and units done.
#[derive(Default)]
struct Recorded {
    total: Cell<Option<u64>>,
    done: Cell<u64>,
    finished: Cell<bool>,
}

impl Progress for Recorded {
    fn start(&self, _what: &str, total: Option<u64>) {
        if total.is_some() {
            self.total.set(total);
        }
        self.done.set(0);
    }
    fn advance(&self, n: u64) {
        self.done.set(self.done.get() + n);
    }
    fn finish(&self) {
        self.finished.set(true);
    }
}

fn unchanged(_: &str, bytes: Vec<u8>) -> Vec<u8> {
    bytes
}

fn fetch_mnist(server: &TestServer, dest: &Path) -> Result<std::path::PathBuf, DataError> {
    fetch(
        DatasetName::Mnist,
        dest,
        &[server.url("mnist/")],
        &NoProgress,
    )
}

/// After a failed fetch, only complete files that precede `bad` may be in the directory.
fn assert_only_complete_files(dir: &Path, bad: &str) {
    let names = listing(dir);
    assert!(
        !names.iter().any(|n| n.starts_with('.')),
        "temp file left: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.contains(bad)),
        "partial {bad} left: {names:?}"
    );
    for n in &names {
        let ours = std::fs::read(dir.join(n)).expect("read");
        let real = std::fs::read(data_root().join("mnist").join(n)).expect("read real");
        assert!(ours == real, "{n} differs from the real file");
    }
}

#[test]
fn fetch_downloads_verifies_and_keeps_the_gz_files() {
    let server = TestServer::serving_data(unchanged);
    let tmp = tempfile::tempdir().expect("tempdir");
    let progress = Recorded::default();
    let dir = fetch(
        DatasetName::Mnist,
        tmp.path(),
        &[server.url("mnist/")],
        &progress,
    )
    .expect("fetch from loopback");
    assert_eq!(dir, tmp.path().join("mnist"));
    assert_eq!(listing(&dir), GZ_NAMES.to_vec());
    assert_only_complete_files(&dir, "(none)");
    let last = std::fs::metadata(data_root().join("mnist/t10k-labels-idx1-ubyte.gz"))
        .expect("stat")
        .len();
    assert_eq!(
        progress.total.get(),
        Some(last),
        "the total is the last file's size"
    );
    assert_eq!(progress.done.get(), last, "units are the bytes received");
    assert!(
        progress.finished.get(),
        "a complete fetch finishes its progress"
    );
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);

    let split = load(DatasetName::Mnist, &only(tmp.path()), false, &NoProgress)
        .expect("load fetched files");
    assert_eq!((split.train.len(), split.test.len()), (60_000, 10_000));

    // Files already present and intact are not downloaded again.
    fetch_mnist(&server, tmp.path()).expect("second fetch");
    assert_eq!(server.requests.load(Ordering::SeqCst), 4);
}

#[test]
fn fetch_falls_through_to_the_next_mirror() {
    let server = TestServer::serving_data(unchanged);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mirrors = [server.url("no-such-mirror/"), server.url("mnist")];
    let dir =
        fetch(DatasetName::Mnist, tmp.path(), &mirrors, &NoProgress).expect("second mirror works");
    assert_eq!(listing(&dir), GZ_NAMES.to_vec());
    assert_eq!(
        server.requests.load(Ordering::SeqCst),
        8,
        "each file: a 404, then the file"
    );
}

#[test]
fn every_mirror_failing_lists_each_failure() {
    let server = TestServer::serving_data(unchanged);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mirrors = [server.url("a/"), server.url("b/")];
    let err =
        fetch(DatasetName::Mnist, tmp.path(), &mirrors, &NoProgress).expect_err("both mirrors 404");
    let msg = err.to_string();
    assert!(matches!(&err, DataError::AllMirrorsFailed { failures, .. } if failures.len() == 2));
    for url in [
        server.url("a/train-images-idx3-ubyte.gz"),
        server.url("b/train-images-idx3-ubyte.gz"),
    ] {
        assert!(msg.contains(&url), "message lacks {url}:\n{msg}");
    }
    assert!(msg.contains("404"), "{msg}");
    assert_eq!(listing(&tmp.path().join("mnist")), Vec::<String>::new());
}

#[test]
fn truncated_download_is_rejected_and_removed() {
    fn half(url: &str, mut bytes: Vec<u8>) -> Vec<u8> {
        if url.ends_with("train-labels-idx1-ubyte.gz") {
            bytes.truncate(bytes.len() / 2);
        }
        bytes
    }
    let server = TestServer::serving_data(half);
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch_mnist(&server, tmp.path()).expect_err("half a file");
    let msg = err.to_string();
    let url = server.url("mnist/train-labels-idx1-ubyte.gz");
    match &err {
        DataError::HashMismatch {
            file,
            url: u,
            expected,
            actual,
        } => {
            assert_eq!(file, "train-labels-idx1-ubyte.gz");
            assert_eq!(u, &url);
            assert_eq!(expected, TRAIN_LABELS_SHA256);
            assert_eq!(actual, "truncated gzip stream");
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    assert!(
        msg.contains(&url) && msg.contains("truncated gzip stream"),
        "{msg}"
    );
    assert_only_complete_files(&tmp.path().join("mnist"), "train-labels");
}

#[test]
fn flipped_byte_is_a_hash_mismatch_and_removed() {
    fn flip(url: &str, bytes: Vec<u8>) -> Vec<u8> {
        if !url.ends_with("train-labels-idx1-ubyte.gz") {
            return bytes;
        }
        // Flip one byte of the content and recompress, so the gzip stream itself is valid.
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(bytes.as_slice())
            .read_to_end(&mut raw)
            .expect("gunzip");
        raw[1000] ^= 0x01;
        gzip(&raw)
    }
    let server = TestServer::serving_data(flip);
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch_mnist(&server, tmp.path()).expect_err("flipped byte");
    let msg = err.to_string();
    let DataError::HashMismatch {
        expected, actual, ..
    } = &err
    else {
        panic!("expected HashMismatch, got {msg}");
    };
    assert_eq!(expected, TRAIN_LABELS_SHA256);
    assert_eq!(actual.len(), 64);
    assert_ne!(actual, expected);
    assert!(
        msg.contains(TRAIN_LABELS_SHA256) && msg.contains(actual.as_str()),
        "{msg}"
    );
    assert!(msg.contains("train-labels-idx1-ubyte.gz"), "{msg}");
    assert_only_complete_files(&tmp.path().join("mnist"), "train-labels");
}

#[test]
fn wrong_file_is_a_hash_mismatch_and_removed() {
    fn swap(url: &str, bytes: Vec<u8>) -> Vec<u8> {
        if url.ends_with("train-images-idx3-ubyte.gz") {
            // A valid gzip of a valid IDX file, but the wrong one.
            return std::fs::read(crate::common::real_gz("mnist", "t10k-images-idx3-ubyte"))
                .expect("read");
        }
        bytes
    }
    let server = TestServer::serving_data(swap);
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch_mnist(&server, tmp.path()).expect_err("wrong file");
    assert!(matches!(err, DataError::HashMismatch { .. }), "{err}");
    assert_eq!(listing(&tmp.path().join("mnist")), Vec::<String>::new());
}

#[test]
fn corrupt_gzip_stream_is_rejected_and_removed() {
    fn corrupt(url: &str, mut bytes: Vec<u8>) -> Vec<u8> {
        if url.ends_with("t10k-labels-idx1-ubyte.gz") {
            let mid = bytes.len() / 2;
            bytes[mid] ^= 0xff;
        }
        bytes
    }
    let server = TestServer::serving_data(corrupt);
    let tmp = tempfile::tempdir().expect("tempdir");
    let err = fetch_mnist(&server, tmp.path()).expect_err("corrupt stream");
    assert!(matches!(err, DataError::HashMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("t10k-labels-idx1-ubyte.gz"),
        "{err}"
    );
    assert_only_complete_files(&tmp.path().join("mnist"), "t10k-labels");
}

/// The only test that touches `BSP_SIM_MIRROR`, so no other test can race with it.
#[test]
fn load_downloads_through_the_mirror_variable_and_reports_failures() {
    assert_eq!(builtin_mirrors(DatasetName::Mnist).len(), 2);
    assert!(builtin_mirrors(DatasetName::FashionMnist)[0].contains("fashion-mnist"));

    std::env::set_var(MIRROR_ENV_VAR, "http://host/{dataset}/files/");
    assert_eq!(
        default_mirrors(DatasetName::FashionMnist),
        vec!["http://host/fashion-mnist/files/".to_string()]
    );

    // A mirror that answers 404: the error says which URL failed and why, where we
    // looked, and how to get the files.
    let dead = TestServer::start(Box::new(|_| None));
    std::env::set_var(MIRROR_ENV_VAR, dead.url(""));
    assert_eq!(
        default_mirrors(DatasetName::Mnist),
        vec![dead.url("mnist/")]
    );
    let tmp = tempfile::tempdir().expect("tempdir");
    let cache = tmp.path().join("cache");
    let search = DataSearch {
        cli_dir: Some(tmp.path().join("cli")),
        cache_dir: Some(cache.clone()),
        ..DataSearch::default()
    };
    let err = load(DatasetName::Mnist, &search, true, &NoProgress).expect_err("download fails");
    let msg = err.to_string();
    assert!(
        matches!(
            &err,
            DataError::NotFound {
                download_error: Some(_),
                ..
            }
        ),
        "{msg}"
    );
    for needle in [
        "automatic download failed",
        &dead.url("mnist/train-images-idx3-ubyte.gz"),
        "404",
        &tmp.path().join("cli").display().to_string(),
        &cache.display().to_string(),
        "bsp-sim data fetch mnist",
        "--data DIR",
    ] {
        assert!(msg.contains(needle), "message lacks `{needle}`:\n{msg}");
    }

    // A working mirror: the files land in the cache dir and are read from there.
    let server = TestServer::serving_data(unchanged);
    std::env::set_var(MIRROR_ENV_VAR, server.url(""));
    let split = load(DatasetName::Mnist, &search, true, &NoProgress);
    std::env::remove_var(MIRROR_ENV_VAR);
    let split = split.expect("download into the cache");
    assert_eq!(split.train.labels[0], 5);
    assert_eq!(listing(&cache.join("mnist")), GZ_NAMES.to_vec());
}

/// A server that announces a full `Content-Length` but closes the connection halfway,
/// which tiny_http cannot do; a plain loopback socket serves exactly one such response.
fn serve_one_cut_response(body: Vec<u8>) -> (u16, std::thread::JoinHandle<()>) {
    use std::io::Write;
    use std::time::{Duration, Instant};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            };
            let _ = conn.set_nonblocking(false);
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut request = Vec::new();
            let mut buf = [0u8; 1024];
            while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => request.extend_from_slice(&buf[..n]),
                }
            }
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(&body[..body.len() / 2]);
            let _ = conn.flush();
            return;
        }
    });
    (port, thread)
}

#[test]
fn connection_cut_mid_body_is_a_download_error_and_removed() {
    let body = std::fs::read(data_root().join("mnist/train-images-idx3-ubyte.gz")).expect("read");
    let (port, thread) = serve_one_cut_response(body);
    let tmp = tempfile::tempdir().expect("tempdir");
    let mirror = format!("http://127.0.0.1:{port}/");
    let err = fetch(
        DatasetName::Mnist,
        tmp.path(),
        std::slice::from_ref(&mirror),
        &NoProgress,
    )
    .expect_err("cut connection");
    let _ = thread.join();
    let msg = err.to_string();
    assert!(
        matches!(&err, DataError::Download { url, .. } if url == &format!("{mirror}train-images-idx3-ubyte.gz")),
        "{msg}"
    );
    assert!(msg.contains("the connection failed after"), "{msg}");
    assert!(
        !tmp.path().join("mnist").exists(),
        "failed first fetch leaves no folder"
    );
    assert_eq!(listing(tmp.path()), Vec::<String>::new());
    // Nor does it leave a cache dir it had to create.
    let cache = tmp.path().join("new-cache");
    let err = fetch(DatasetName::Mnist, &cache, &[], &NoProgress);
    assert!(matches!(err, Err(DataError::Download { .. })), "{err:?}");
    assert!(!cache.exists());
}
