//! `bsp-sim run` across MPI ranks (`mpirun`, feature `mpi`), both engines, against the same
//! run on one process with every rank's threads: the same checkpoint, metrics and counters
//! bit for bit, a rank's error in rank 0's message and exit code, a rank that does not
//! answer ending the job at the exchange timeout, and clear refusals of what does not
//! spread over ranks yet.
//! Needs `mpirun` (Debian: openmpi-bin); built only with `--features mpi`.
#![cfg(feature = "mpi")]

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bsp-sim");

/// A small synthetic model: 95 training samples in batches of 10, so that over 4 ranks of
/// 1 thread a batch splits 3, 3, 3, 1 and the last one 2, 2, 1, 0 (a rank with none).
const MODEL: &str = r#"
name: m
seed: 5
engine: sync
data:
  dataset: synthetic
  synthetic: {classes: 4, dim: 12, train: 95, test: 60, noise: 0.5}
network:
  layers: [12, 10, 4]
  connectivity: [{kind: full}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
learning: {lr: 0.05, batch_size: 10, epochs: 2}
"#;

fn model_file(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("model.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `mpirun -n RANKS bsp-sim ARGS` (as root too, more ranks than cores allowed).
fn mpirun<S: AsRef<OsStr>>(ranks: usize, args: &[S]) -> Output {
    Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-n"])
        .arg(ranks.to_string())
        .arg(BIN)
        .args(args)
        .output()
        .expect("mpirun (Debian: apt-get install openmpi-bin libopenmpi-dev)")
}

fn one_process<S: AsRef<OsStr>>(args: &[S]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The one run directory under `out`.
fn run_dir(out: &Path) -> PathBuf {
    let dirs: Vec<_> = std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "one run directory under {}", out.display());
    dirs[0].clone()
}

/// A run's checkpoint and metrics with the wall-clock columns left out.
fn results(out: &Path) -> (Value, String) {
    let dir = run_dir(out);
    let mut ck: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("checkpoint.json")).unwrap())
            .unwrap();
    for m in ck["metrics"].as_array_mut().unwrap() {
        let m = m.as_object_mut().unwrap();
        m.remove("train_seconds");
        m.remove("samples_per_second");
    }
    let metrics = std::fs::read_to_string(dir.join("metrics.csv")).unwrap();
    let timeless: Vec<String> = metrics
        .lines()
        .map(|l| l.split(',').take(9).collect::<Vec<_>>().join(","))
        .collect();
    (ck, timeless.join("\n"))
}

/// Runs `extra` on one process of 4 threads, 2 ranks of 2 and 4 ranks of 1, and checks that
/// all three leave the same checkpoint and metrics, and that only rank 0 wrote.
fn same_as_threads(extra: &[&str]) {
    same_as_threads_in(MODEL, extra, &[(2, 2), (4, 1)]);
}

/// Runs `extra` on `yaml` as R ranks of T threads for each (R, T) of `layouts` and as one
/// process of R·T threads, and checks that each pair leaves the same checkpoint, metrics
/// and counters (events, deliveries, updates), and that only rank 0 wrote.
fn same_as_threads_in(yaml: &str, extra: &[&str], layouts: &[(usize, usize)]) {
    let d = tempfile::tempdir().unwrap();
    let model = model_file(d.path(), yaml);
    let args = |out: &str, threads: usize| -> Vec<String> {
        let mut a: Vec<String> = ["run", model.to_str().unwrap(), "--quiet", "--out", out]
            .iter()
            .map(|s| s.to_string())
            .collect();
        a.extend(["--threads".into(), threads.to_string()]);
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let p = |name: &str| d.path().join(name).to_str().unwrap().to_string();
    let summary = |name: &str| -> Value {
        let dir = run_dir(&d.path().join(name));
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap()
    };
    for &(ranks, threads) in layouts {
        let (one, many) = (
            format!("t{}", ranks * threads),
            format!("r{ranks}x{threads}"),
        );
        if !d.path().join(&one).exists() {
            ok(&one_process(&args(&p(&one), ranks * threads)));
        }
        ok(&mpirun(ranks, &args(&p(&many), threads)));
        let want = results(&d.path().join(&one));
        let got = results(&d.path().join(&many));
        assert_eq!(got.0, want.0, "{many}: checkpoint differs from {one}");
        assert_eq!(got.1, want.1, "{many}: metrics differ from {one}");
        let (s, s1) = (summary(&many), summary(&one));
        assert_eq!(
            s["counters"], s1["counters"],
            "{many}: counters differ from {one}"
        );
        assert_eq!(s["status"], "complete");
        assert_eq!(s["threads"], ranks * threads);
        assert_eq!(s["ranks"], ranks);
    }
}

#[test]
fn sync_over_ranks_equals_the_same_threads_in_one_process() {
    same_as_threads(&[]);
}

#[test]
fn adam_and_the_limiter_over_ranks_equal_threads() {
    same_as_threads(&[
        "--set",
        "learning.optimiser={kind: adam}",
        "--set",
        "learning.kt=0.5",
    ]);
}

#[test]
fn method_1_over_ranks_equals_threads() {
    same_as_threads(&["--set", "learning.method=fixed_points"]);
}

/// The asynchronous engine on the small model, fewer samples (every window's events cross
/// the ranks): full wiring, no delay.
const ASYNC: [&str; 6] = [
    "--set",
    "engine=async",
    "--set",
    "data.synthetic={classes: 4, dim: 12, train: 40, test: 20, noise: 0.5}",
    "--set",
    "learning.epochs=1",
];

/// A deeper network for the asynchronous engine: sparse and dense layer pairs, delays drawn
/// per synapse (so each synapse's own arrival time, and the rings, are exercised).
const ASYNC_DEEP: &str = r#"
name: deep
seed: 5
engine: async
data:
  dataset: synthetic
  synthetic: {classes: 4, dim: 12, train: 40, test: 20, noise: 0.5}
network:
  layers: [12, 9, 7, 4]
  connectivity: [{kind: random, fan_in: 5}, {kind: full}, {kind: random, fan_in: 3}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
learning: {lr: 0.05, batch_size: 10, epochs: 1}
async: {delay: {kind: uniform, low: 0.1, high: 0.5}, theta: 0.01}
"#;

/// The layouts the asynchronous tests run: 2 ranks of 1 thread, 4 of 1 (more ranks than
/// this machine may have cores), 2 of 2.
const ASYNC_LAYOUTS: [(usize, usize); 3] = [(2, 1), (4, 1), (2, 2)];

#[test]
fn async_over_ranks_equals_threads() {
    same_as_threads_in(MODEL, &ASYNC, &ASYNC_LAYOUTS);
}

#[test]
fn async_adam_and_the_limiter_over_ranks_equal_threads_on_sparse_delayed_wiring() {
    let extra = [
        "--set",
        "learning.optimiser={kind: adam}",
        "--set",
        "learning.kt=0.5",
    ];
    same_as_threads_in(ASYNC_DEEP, &extra, &ASYNC_LAYOUTS);
}

#[test]
fn async_linearised_over_ranks_equals_threads() {
    let mut extra = ASYNC.to_vec();
    extra.extend(["--set", "learning.rule=linearised"]);
    same_as_threads_in(MODEL, &extra, &ASYNC_LAYOUTS);
}

#[test]
fn async_method_1_over_ranks_equals_threads() {
    same_as_threads_in(
        ASYNC_DEEP,
        &["--set", "learning.method=fixed_points"],
        &ASYNC_LAYOUTS,
    );
    // The local rule with the per-neuron adam: each rank's moments reach rank 0's checkpoint.
    same_as_threads_in(
        ASYNC_DEEP,
        &[
            "--set",
            "learning.method=fixed_points",
            "--set",
            "learning.rule=linearised",
            "--set",
            "learning.optimiser={kind: adam}",
            "--set",
            "learning.lr=0.03",
        ],
        &ASYNC_LAYOUTS,
    );
}

/// A data set (2x2 images) whose training images are dark and whose second test image is
/// bright: with a large input gain only that test sample diverges, and over 2 ranks of 1
/// thread it is rank 1's.
fn diverging_set(dir: &Path) {
    let mnist = dir.join("mnist");
    std::fs::create_dir_all(&mnist).unwrap();
    let images = |pixels: &[u8]| {
        let mut v = Vec::new();
        for x in [0x803u32, (pixels.len() / 4) as u32, 2, 2] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend_from_slice(pixels);
        v
    };
    let labels = |n: u32| {
        let mut v = Vec::new();
        for x in [0x801u32, n] {
            v.extend_from_slice(&x.to_be_bytes());
        }
        v.extend((0..n).map(|i| (i % 2) as u8));
        v
    };
    let write = |name: &str, bytes: Vec<u8>| std::fs::write(mnist.join(name), bytes).unwrap();
    write("train-images-idx3-ubyte", images(&[0; 16]));
    write("train-labels-idx1-ubyte", labels(4));
    write(
        "t10k-images-idx3-ubyte",
        images(&[0, 0, 0, 0, 255, 255, 255, 255]),
    );
    write("t10k-labels-idx1-ubyte", labels(2));
}

#[test]
fn a_rank_error_reaches_rank_0_with_its_exit_code() {
    rank_error_reaches_rank_0("sync", 3);
}

/// On the asynchronous engine an error is met by the worker that owns the actor: with one
/// neuron in layer 1, over 2 workers that is worker 1, rank 1's.
#[test]
fn an_async_rank_error_reaches_rank_0_with_its_exit_code() {
    rank_error_reaches_rank_0("async", 1);
}

/// A run on `engine` whose second test sample diverges (layer 1 of `hidden` neurons), over
/// 2 ranks of 1 thread, where rank 1 meets the error.
fn rank_error_reaches_rank_0(engine: &str, hidden: usize) {
    let d = tempfile::tempdir().unwrap();
    diverging_set(d.path());
    let model = model_file(
        d.path(),
        &r#"
name: bad
seed: 1
engine: ENGINE
data: {dataset: mnist}
network:
  layers: [4, HIDDEN, 10]
  connectivity: [{kind: full}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
input: {gain: 1.0e38}
integration: {method: euler, dt: 1.0, forward_window: 10.0, backward_window: 10.0}
learning: {lr: 0.1, batch_size: 4, epochs: 1}
"#
        .replace("ENGINE", engine)
        .replace("HIDDEN", &hidden.to_string()),
    );
    let out_dir = d.path().join("out");
    let args = [
        "run",
        model.to_str().unwrap(),
        "--quiet",
        "--offline",
        "--threads",
        "1",
        "--data",
        d.path().to_str().unwrap(),
        "--out",
        out_dir.to_str().unwrap(),
    ];
    let mut alone = args;
    let alone_out = d.path().join("alone");
    *alone.last_mut().unwrap() = alone_out.to_str().unwrap();
    let single = one_process(&alone);
    let single_err = String::from_utf8_lossy(&single.stderr);
    assert_eq!(single.status.code(), Some(1), "{single_err}");
    assert!(
        single_err.contains("on sample 1 (dataset index)"),
        "{single_err}"
    );
    let out = mpirun(2, &args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("rank 1 of 2: the forward integration diverged")
            && err.contains("on sample 1 (dataset index)"),
        "{err}"
    );
    // Printed once, by rank 0, and recorded in rank 0's summary.
    assert_eq!(err.matches("error: ").count(), 1, "{err}");
    let summary = std::fs::read_to_string(run_dir(&d.path().join("out")).join("summary.json"));
    assert!(summary.unwrap().contains("rank 1 of 2"));
}

/// Starts a 2-rank run long enough to be stopped in the middle, and gives rank 1's pid
/// (a child of this `mpirun` whose environment says rank 1).
fn start_long_job(dir: &Path, timeout: u64, engine: &str) -> (std::process::Child, u32) {
    let model = MODEL
        .replace("epochs: 2", "epochs: 100000")
        .replace("engine: sync", &format!("engine: {engine}"));
    let model = model_file(dir, &model);
    let mut child = Command::new("mpirun")
        .args(["--allow-run-as-root", "--oversubscribe", "-x"])
        .arg(format!("BSP_SIM_MPI_TIMEOUT={timeout}"))
        .args(["-n", "2", BIN, "run"])
        .arg(&model)
        .args(["--quiet", "--threads", "1", "--out"])
        .arg(dir.join("out"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    match rank_1_of(child.id()) {
        Some(pid) => {
            // Let it reach the training loop.
            std::thread::sleep(Duration::from_secs(2));
            (child, pid)
        }
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rank 1 of the job never started");
        }
    }
}

/// The child of `parent` whose environment says rank 1, within a minute.
fn rank_1_of(parent: u32) -> Option<u32> {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        for entry in std::fs::read_dir("/proc").ok()?.flatten() {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            // pid (comm) state ppid ...
            let ppid = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().nth(1));
            if ppid != Some(&parent.to_string()) {
                continue;
            }
            let env = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            let rank1 = env
                .split(|&b| b == 0)
                .any(|v| v == b"OMPI_COMM_WORLD_RANK=1");
            if let (true, Ok(pid)) = (rank1, entry.file_name().to_string_lossy().parse()) {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill").args([sig, &pid.to_string()]).status();
}

#[test]
fn a_rank_that_hangs_ends_the_job_at_the_exchange_timeout() {
    a_hung_rank_ends_the_job("sync");
}

/// The asynchronous engine exchanges every window: a rank stopped there ends the job too.
#[test]
fn an_async_rank_that_hangs_ends_the_job_at_the_exchange_timeout() {
    a_hung_rank_ends_the_job("async");
}

fn a_hung_rank_ends_the_job(engine: &str) {
    let d = tempfile::tempdir().unwrap();
    let (child, rank1) = start_long_job(d.path(), 3, engine);
    signal(rank1, "-STOP");
    let stopped = Instant::now();
    let out = child.wait_with_output().unwrap();
    signal(rank1, "-KILL");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("rank 0 of 2: ") && err.contains("had no answer from every rank within 3 s"),
        "{err}"
    );
    assert_eq!(err.matches("rank 0 of 2").count(), 1, "{err}");
    assert!(stopped.elapsed() < Duration::from_secs(60), "{err}");
}

#[test]
fn a_rank_that_dies_ends_the_job() {
    let d = tempfile::tempdir().unwrap();
    let (child, rank1) = start_long_job(d.path(), 600, "sync");
    signal(rank1, "-KILL");
    let killed = Instant::now();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    // mpirun notices first and ends the job, long before the exchange timeout.
    assert!(killed.elapsed() < Duration::from_secs(60), "{err}");
}

#[test]
fn what_does_not_spread_over_ranks_is_refused_clearly() {
    let d = tempfile::tempdir().unwrap();
    let model = model_file(d.path(), MODEL);
    let m = model.to_str().unwrap();
    let out = d.path().join("out");
    let o = out.to_str().unwrap();
    for (extra, says) in [
        (
            &["--set", "engine=async", "--trace"][..],
            "recording traces cannot run across 2 MPI ranks",
        ),
        (
            &["--set", "engine=async", "--resume", "anywhere"][..],
            "--resume cannot run across 2 MPI ranks",
        ),
        (
            &["--trace"][..],
            "recording traces cannot run across 2 MPI ranks",
        ),
        (
            &["--set", "learning.rule=adjoint"][..],
            "learning.rule: adjoint cannot run across 2 MPI ranks",
        ),
        (
            &["--set", "engine=async", "--gradcheck-every", "1"][..],
            "--gradcheck-every on the asynchronous engine cannot run across 2 MPI ranks",
        ),
    ] {
        let mut args = vec!["run", m, "--quiet", "--threads", "1", "--out", o];
        args.extend(extra);
        let r = mpirun(2, &args);
        let err = String::from_utf8_lossy(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{extra:?}: {err}");
        assert!(err.contains(says), "{extra:?}: {err}");
        assert_eq!(err.matches("error: ").count(), 1, "{extra:?}: {err}");
    }
    // Ranks given different models or threads: refused before any work.
    let r = Command::new("mpirun")
        .args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-n",
            "1",
            BIN,
            "run",
            m,
        ])
        .args(["--threads", "1", "--out", o, ":", "-n", "1", BIN, "run", m])
        .args(["--threads", "2", "--out", o])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&r.stderr);
    assert_eq!(r.status.code(), Some(2), "{err}");
    assert!(
        err.contains("rank 1 was given another model, seed, limit or --threads than rank 0"),
        "{err}"
    );
    let r = mpirun(2, &["validate", m]);
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(
        err.contains("only `bsp-sim run` spreads over MPI ranks"),
        "{err}"
    );
}
