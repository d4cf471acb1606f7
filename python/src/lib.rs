//! `bsp_sim._native`: the bsp-sim library as a Python extension module (pyo3). It loads
//! models (with overrides), trains and compares them with progress reported to a Python
//! callable, evaluates checkpoints and reads them into numpy arrays; the `bsp_sim` package wraps it in
//! Python classes. Errors carry the message the `bsp-sim` command line prints.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2};
use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyKeyboardInterrupt};
use pyo3::prelude::*;

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::compare::{self, CompareOptions};
use bsp_sim::config::Override;
use bsp_sim::engine::Tally;
use bsp_sim::report::{EpochRecord, Summary};
use bsp_sim::run::{self, Observer, RunOptions};
use bsp_sim::topology::Projection;
use bsp_sim::{validate, Error};

create_exception!(
    _native,
    BspSimError,
    PyException,
    "An error of bsp-sim: a bad model file, override, data set, checkpoint or trace, or a run that failed; the message is the one the bsp-sim command line prints."
);

/// A library error as a Python exception: Ctrl-C becomes `KeyboardInterrupt`, anything
/// else `BspSimError`, each with the command line's message (`context: error`).
fn py_err(e: Error, context: Option<&str>) -> PyErr {
    let message = match context {
        Some(c) => format!("{c}: {e}"),
        None => e.to_string(),
    };
    match e {
        Error::Interrupted { .. } => PyKeyboardInterrupt::new_err(message),
        _ => BspSimError::new_err(message),
    }
}

/// A validated model file, with its overrides applied.
#[pyclass(module = "bsp_sim._native", frozen)]
struct Model {
    inner: bsp_sim::Model,
}

#[pymethods]
impl Model {
    /// Reads and validates a model file; `overrides` are (field path, YAML value) pairs,
    /// typed and checked as if they were in the file.
    #[staticmethod]
    #[pyo3(signature = (path, overrides = Vec::new()))]
    fn load(path: PathBuf, overrides: Vec<(String, String)>) -> PyResult<Model> {
        let overrides: Vec<Override> = overrides.iter().map(|(p, v)| Override::new(p, v)).collect();
        let inner = bsp_sim::Model::load_with_overrides(&path, &overrides)
            .map_err(|e| py_err(e.into(), None))?;
        Ok(Model { inner })
    }

    #[getter]
    fn name(&self) -> String {
        self.inner.name.clone()
    }

    #[getter]
    fn path(&self) -> Option<PathBuf> {
        self.inner.path.clone()
    }

    #[getter]
    fn seed(&self) -> u64 {
        self.inner.seed
    }

    #[getter]
    fn engine(&self) -> &'static str {
        match self.inner.engine {
            bsp_sim::config::EngineKind::Sync => "sync",
            bsp_sim::config::EngineKind::Async => "async",
        }
    }

    #[getter]
    fn layers(&self) -> Vec<usize> {
        self.inner.network.layers.clone()
    }

    #[getter]
    fn epochs(&self) -> usize {
        self.inner.training.epochs
    }

    #[getter]
    fn lr(&self) -> f32 {
        self.inner.training.lr
    }

    /// The model as YAML (what a run directory's model.yaml holds).
    #[getter]
    fn yaml(&self) -> String {
        self.inner.yaml()
    }

    /// What `bsp-sim validate` prints: the network the model builds.
    fn describe(&self) -> PyResult<String> {
        validate::validate(&self.inner)
            .map(|r| r.to_string())
            .map_err(|e| py_err(e, None))
    }
}

/// Reports a run's progress to a Python callable as `(event, json)`; a pending Ctrl-C
/// asks the run to stop after the current minibatch.
struct PyObserver {
    callback: Option<Py<PyAny>>,
    stop: Arc<AtomicBool>,
}

impl PyObserver {
    fn send(&self, event: &str, payload: String) {
        Python::attach(|py| {
            if let Some(cb) = &self.callback {
                if let Err(e) = cb.call1(py, (event, payload)) {
                    // A failing progress display must not fail the run.
                    e.write_unraisable(py, None);
                }
            }
            if py.check_signals().is_err() {
                self.stop.store(true, Ordering::SeqCst);
            }
        });
    }
}

impl Observer for PyObserver {
    fn run_started(&mut self, run_dir: &Path, summary: &Summary) {
        let mut v = serde_json::to_value(summary).unwrap_or_default();
        v["run_dir"] = run_dir.display().to_string().into();
        self.send("run_started", v.to_string());
    }

    fn epoch_started(&mut self, epoch: usize, epochs: usize, samples: usize) {
        let v = serde_json::json!({"epoch": epoch, "epochs": epochs, "samples": samples});
        self.send("epoch_started", v.to_string());
    }

    fn batch_done(&mut self, done: usize, running: &Tally) {
        let v = serde_json::json!({
            "done": done,
            "loss": running.mean_loss(),
            "accuracy": running.accuracy(),
        });
        self.send("batch_done", v.to_string());
    }

    fn epoch_done(&mut self, record: &EpochRecord) {
        self.send(
            "epoch_done",
            serde_json::to_string(record).unwrap_or_default(),
        );
    }
}

/// The run options both `run` and `compare` take.
#[allow(clippy::too_many_arguments)]
fn options(
    epochs: Option<usize>,
    out: PathBuf,
    threads: Option<usize>,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    seed: Option<u64>,
    stop: Arc<AtomicBool>,
) -> PyResult<RunOptions> {
    if let Some(t) = threads {
        if !(1..=256).contains(&t) {
            return Err(BspSimError::new_err(format!(
                "threads must be between 1 and 256, got {t}"
            )));
        }
    }
    Ok(RunOptions {
        epochs,
        out,
        threads,
        train_limit,
        test_limit,
        seed,
        stop: Some(stop),
        ..RunOptions::default()
    })
}

/// Trains `model` (as `bsp-sim run`) and returns the run directory. `trace` is a trace
/// spec (`""` for the defaults, `None` for the model's own `trace:` section, if any).
#[pyfunction]
#[pyo3(signature = (model, epochs=None, out=PathBuf::from("traces"), threads=None, train_limit=None, test_limit=None, seed=None, trace=None, no_trace=false, progress=None))]
#[allow(clippy::too_many_arguments)]
fn run_model(
    py: Python<'_>,
    model: &Model,
    epochs: Option<usize>,
    out: PathBuf,
    threads: Option<usize>,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    seed: Option<u64>,
    trace: Option<String>,
    no_trace: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<PathBuf> {
    let stop = Arc::new(AtomicBool::new(false));
    let mut opts = options(
        epochs,
        out,
        threads,
        train_limit,
        test_limit,
        seed,
        stop.clone(),
    )?;
    opts.no_trace = no_trace;
    if let Some(spec) = trace {
        let section = bsp_sim::trace::TraceSection::parse(&spec).map_err(|e| {
            py_err(
                Error::Trace(bsp_sim::error::TraceError {
                    origin: "trace".into(),
                    key: e.key,
                    detail: e.detail,
                }),
                None,
            )
        })?;
        opts.trace = Some(section);
    }
    let mut obs = PyObserver {
        callback: progress,
        stop,
    };
    let m = &model.inner;
    let outcome = py.detach(|| run::run(m, &opts, &mut obs));
    outcome
        .map(|o| o.run_dir)
        .map_err(|e| py_err(e, Some(&m.display_path())))
}

/// Runs `bsp-sim compare` and returns `compare.json`'s contents as JSON text.
#[pyfunction]
#[pyo3(signature = (model, epochs=None, out=PathBuf::from("traces"), threads=None, train_limit=None, test_limit=None, seed=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn compare_model(
    py: Python<'_>,
    model: &Model,
    epochs: Option<usize>,
    out: PathBuf,
    threads: Option<usize>,
    train_limit: Option<usize>,
    test_limit: Option<usize>,
    seed: Option<u64>,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let stop = Arc::new(AtomicBool::new(false));
    let run = options(
        epochs,
        out,
        threads,
        train_limit,
        test_limit,
        seed,
        stop.clone(),
    )?;
    let opts = CompareOptions {
        run,
        ..CompareOptions::default()
    };
    let mut obs = PyObserver {
        callback: progress,
        stop,
    };
    let m = &model.inner;
    let cmp = py
        .detach(|| compare::compare(m, &opts, &mut obs))
        .map_err(|e| py_err(e, Some(&m.display_path())))?;
    serde_json::to_string(&cmp).map_err(|e| BspSimError::new_err(e.to_string()))
}

/// Evaluates a run's checkpoint (a run directory or checkpoint.json) on its model's test
/// set, as `bsp-sim eval`: `(epochs_done, correct, samples, mean_loss, predictions)` with
/// one `(sample, label, predicted)` per test sample, in test-set order.
#[pyfunction]
#[pyo3(signature = (path, test_limit=None, threads=None, data=None, offline=false))]
#[allow(clippy::type_complexity)]
fn evaluate_checkpoint(
    py: Python<'_>,
    path: PathBuf,
    test_limit: Option<usize>,
    threads: Option<usize>,
    data: Option<PathBuf>,
    offline: bool,
) -> PyResult<(usize, usize, usize, f64, Vec<(usize, usize, usize)>)> {
    let opts = RunOptions {
        test_limit,
        data_dir: data,
        offline,
        ..options(
            None,
            PathBuf::new(),
            threads,
            None,
            None,
            None,
            Arc::default(),
        )?
    };
    let mut obs = PyObserver {
        callback: None,
        stop: Arc::default(),
    };
    let e = py
        .detach(|| run::evaluate_checkpoint(&path, &opts, &mut obs))
        .map_err(|e| py_err(e, None))?;
    let rows = e
        .predictions
        .iter()
        .map(|p| (p.sample, p.label, p.predicted))
        .collect();
    let t = &e.tally;
    Ok((
        e.checkpoint.epochs_done,
        t.correct,
        t.samples,
        t.mean_loss(),
        rows,
    ))
}

/// The coefficients C of a run's checkpoint (a run directory or checkpoint.json): one
/// float32 `[post, pre]` matrix per layer pair; a pair without a synapse holds 0.
#[pyfunction]
fn checkpoint_weights<'py>(
    py: Python<'py>,
    path: PathBuf,
) -> PyResult<Vec<Bound<'py, PyArray2<f32>>>> {
    let (ck, _) = Checkpoint::load(&path).map_err(|e| py_err(e.into(), None))?;
    Ok(ck
        .projections
        .iter()
        .map(|p| dense(p).into_pyarray(py))
        .collect())
}

/// A projection as a dense row-major `[post, pre]` matrix.
fn dense(p: &Projection) -> Array2<f32> {
    let (pre, post) = (p.pre(), p.post());
    let mut m = Array2::<f32>::zeros((post, pre));
    match p {
        Projection::Dense { c, .. } => {
            for j in 0..post {
                for i in 0..pre {
                    m[[j, i]] = c[j * pre + i];
                }
            }
        }
        Projection::Sparse {
            row_ptr, col, c, ..
        } => {
            for j in 0..post {
                for k in row_ptr[j]..row_ptr[j + 1] {
                    m[[j, col[k] as usize]] = c[k];
                }
            }
        }
    }
    m
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("BspSimError", m.py().get_type::<BspSimError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(run_model, m)?)?;
    m.add_function(wrap_pyfunction!(compare_model, m)?)?;
    m.add_function(wrap_pyfunction!(checkpoint_weights, m)?)?;
    m.add_function(wrap_pyfunction!(evaluate_checkpoint, m)?)?;
    Ok(())
}
