//! Helpers shared by the data tests: the real data root, IDX builders, gzip and a
//! loopback HTTP server.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bsp_sim::data::DataSearch;

/// The real data root: a directory holding `mnist/` and `fashion-mnist/` as gzip IDX files,
/// found the way `bsp-sim` finds data — `BSP_SIM_DATA` if set (CI points it at its copy),
/// else `./data`, the user cache (where `bsp-sim run` and `bsp-sim data fetch` put their
/// downloads) and the system directory — and downloaded into the user cache, as `bsp-sim`
/// would, when none has both. Fails the test (never skips) when the data can be neither
/// found nor downloaded.
pub fn data_root() -> PathBuf {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(find_or_fetch_root).clone()
}

fn find_or_fetch_root() -> PathBuf {
    use bsp_sim::data::{fetch, DatasetName};
    let has = |root: &Path, n: DatasetName| {
        [
            "train-images-idx3-ubyte.gz",
            "train-labels-idx1-ubyte.gz",
            "t10k-images-idx3-ubyte.gz",
            "t10k-labels-idx1-ubyte.gz",
        ]
        .iter()
        .all(|f| root.join(n.as_str()).join(f).is_file())
    };
    let complete = |root: &Path| DatasetName::ALL.iter().all(|&n| has(root, n));
    if let Some(root) = std::env::var_os("BSP_SIM_DATA").filter(|v| !v.is_empty()) {
        let root = PathBuf::from(root);
        assert!(
            complete(&root),
            "BSP_SIM_DATA={} lacks mnist/ or fashion-mnist/ (gzip IDX files); point it at the \
             directory holding both, or unset it to use the user cache",
            root.display()
        );
        return root;
    }
    let search = DataSearch::from_environment(None, None);
    if let Some(root) = search.candidates().into_iter().find(|r| complete(r)) {
        return root;
    }
    let Some(cache) = search.cache_dir.clone() else {
        panic!("no data found and no user cache directory to download into; set BSP_SIM_DATA");
    };
    for name in DatasetName::ALL {
        if !has(&cache, name) {
            fetch::fetch(
                name,
                &cache,
                &fetch::default_mirrors(name),
                &bsp_sim::progress::NoProgress,
            )
            .unwrap_or_else(|e| {
                panic!(
                    "the data tests need MNIST and Fashion-MNIST: none found in {:?}, and the \
                     download into {} failed: {e}\nset BSP_SIM_DATA to a directory holding \
                     mnist/ and fashion-mnist/",
                    search.candidates(),
                    cache.display()
                )
            });
        }
    }
    cache
}

/// Path of a real gzip-compressed file, e.g. `real_gz("mnist", "t10k-labels-idx1-ubyte")`.
pub fn real_gz(dataset: &str, base: &str) -> PathBuf {
    data_root().join(dataset).join(format!("{base}.gz"))
}

/// Decompresses a gzip file into memory.
pub fn gunzip(path: &Path) -> Vec<u8> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Compresses bytes with gzip.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("gzip");
    enc.finish().expect("gzip")
}

/// An IDX image file of `n` images of `rows x cols`, with `data` after the header.
pub fn idx_images(n: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x803, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

/// An IDX label file holding `labels`.
pub fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x801, labels.len() as u32] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(labels);
    v
}

/// Writes a tiny valid data set (`train` and `test` images of 2x2) into `dir`.
pub fn write_tiny_set(dir: &Path, train: usize, test: usize) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
    let images = |n: usize| idx_images(n as u32, 2, 2, &vec![255u8; n * 4]);
    write(&dir.join("train-images-idx3-ubyte"), &images(train));
    write(
        &dir.join("train-labels-idx1-ubyte"),
        &idx_labels(&labels(train)),
    );
    write(&dir.join("t10k-images-idx3-ubyte"), &images(test));
    write(
        &dir.join("t10k-labels-idx1-ubyte"),
        &idx_labels(&labels(test)),
    );
}

pub fn write(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// A search path holding only `dir` (as `--data`), so tests never see the user's files.
pub fn only(dir: &Path) -> DataSearch {
    DataSearch {
        cli_dir: Some(dir.to_path_buf()),
        ..DataSearch::default()
    }
}

/// All names in a directory, sorted (hidden temporary files included).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    names.sort();
    names
}

/// What the test server answers for a request path: a body, or `None` for 404.
pub type Handler = dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync;

/// A tiny_http server on 127.0.0.1 that answers from a handler in a background thread.
/// It stops when dropped, and by itself after 120 s in any case.
pub struct TestServer {
    pub port: u16,
    pub requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    pub fn start(handler: Box<Handler>) -> Self {
        let server = tiny_http::Server::http("127.0.0.1:0").expect("bind loopback");
        let port = server.server_addr().to_ip().expect("ip listener").port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let (stop2, requests2) = (stop.clone(), requests.clone());
        let thread = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
                let Ok(Some(req)) = server.recv_timeout(Duration::from_millis(50)) else {
                    continue;
                };
                requests2.fetch_add(1, Ordering::SeqCst);
                let _ = match handler(req.url()) {
                    Some(body) => req.respond(tiny_http::Response::from_data(body)),
                    None => req.respond(tiny_http::Response::empty(404)),
                };
            }
        });
        TestServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// A server that serves the real data root (`/mnist/...`), with `alter` applied to
    /// the bytes of each file it serves (given the request path).
    pub fn serving_data(alter: fn(&str, Vec<u8>) -> Vec<u8>) -> Self {
        let root = data_root();
        Self::start(Box::new(move |url| {
            let rel = url.trim_start_matches('/');
            if rel.contains("..") {
                return None;
            }
            let bytes = std::fs::read(root.join(rel)).ok()?;
            Some(alter(url, bytes))
        }))
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/{path}", self.port)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
