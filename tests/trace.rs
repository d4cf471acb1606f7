//! Traces: recording changes no result, the send-on-delta rule, each format read back
//! (CSV with the csv crate, VCD with the vcd crate's parser), the manifest's status for
//! complete, interrupted and failed runs, spec errors, and the plots.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::engine::Tally;
use bsp_sim::report::{RunStatus, Summary};
use bsp_sim::run::{self, build_engine, load_data, Observer, RunOptions, Silent};
use bsp_sim::trace::csv::{read_events, read_states};
use bsp_sim::trace::manifest::{Manifest, TraceStatus};
use bsp_sim::trace::{Selection, StateSample, TraceSection, TraceSink, Wave, WaveEvent};
use bsp_sim::Error;

/// A [6, 8, 4] network on the synthetic set (200 train samples, batch 10).
fn small_model() -> bsp_sim::Model {
    common::model(&common::synthetic_yaml(
        "[6, 8, 4]",
        "connections",
        "softmax",
        0.3,
    ))
}

fn opts(out: &Path, epochs: usize, trace: Option<&str>) -> RunOptions {
    RunOptions {
        epochs: Some(epochs),
        threads: Some(2),
        out: out.to_path_buf(),
        trace: trace.map(|s| TraceSection::parse(s).unwrap()),
        ..RunOptions::default()
    }
}

/// Collects everything an engine records.
struct VecSink {
    sel: Selection,
    events: Vec<WaveEvent>,
    states: Vec<StateSample>,
}

impl VecSink {
    fn new(spec: &str, layers: &[usize]) -> Self {
        VecSink {
            sel: TraceSection::parse(spec).unwrap().resolve(layers).unwrap(),
            events: Vec::new(),
            states: Vec::new(),
        }
    }
}

impl TraceSink for VecSink {
    fn selection(&self) -> &Selection {
        &self.sel
    }
    fn event(&mut self, e: &WaveEvent) {
        self.events.push(*e);
    }
    fn state(&mut self, s: &StateSample) {
        self.states.push(*s);
    }
}

fn manifest(run_dir: &Path) -> Manifest {
    Manifest::read(&run_dir.join("trace")).unwrap()
}

fn summary(run_dir: &Path) -> Summary {
    serde_json::from_str(&std::fs::read_to_string(run_dir.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn recording_changes_no_result() {
    let dir = tempfile::tempdir().unwrap();
    let m = small_model();
    let plain = run::run(&m, &opts(&dir.path().join("a"), 2, None), &mut Silent).unwrap();
    let spec = "layers=all;neurons=all;samples=all;every=1;theta=0.001";
    let traced = run::run(&m, &opts(&dir.path().join("b"), 2, Some(spec)), &mut Silent).unwrap();
    let key = |s: &Summary| {
        s.metrics
            .iter()
            .map(|r| (r.train_loss, r.train_accuracy, r.test_loss, r.test_accuracy))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&plain.summary), key(&traced.summary));
    let (a, _) = Checkpoint::load(&plain.run_dir).unwrap();
    let (b, _) = Checkpoint::load(&traced.run_dir).unwrap();
    assert_eq!(a.projections, b.projections, "weights differ with tracing");
    assert!(!plain.run_dir.join("trace").exists());
    let mf = manifest(&traced.run_dir);
    assert_eq!(mf.status, TraceStatus::Complete);
    // Every sample of both epochs was recorded.
    assert_eq!(mf.counts.presentations, 400);
    assert!(mf.counts.events > 1000, "{} events", mf.counts.events);
}

/// A recording run integrates its windows one step at a time (the probe sees the layers
/// in step order); an unrecorded one layer by layer over chunks of steps, each layer's
/// drive over a chunk one matrix product. Both must give the same numbers bit for bit,
/// also where a chunk ends inside a window: batches of 80 on 2 threads are blocks of 40
/// rows, so the 30-step windows run as chunks of 26 and 4 steps (1,024 rows a product),
/// and the evaluation's blocks of 50 as chunks of 21 and 9; with `delayed` coupling a
/// chunk's first step reads the signal the previous chunk ended with, and the
/// time-varying error replays the forward output step by step.
#[test]
fn chunked_windows_give_the_numbers_of_lockstep_steps() {
    for (coupling, backward_input) in [("same_step", "constant"), ("delayed", "time_varying")] {
        let yaml = common::synthetic_yaml("[6, 8, 8, 4]", "connections", "softmax", 0.3)
            .replace(
                "backward_window: 3.0}",
                &format!("backward_window: 3.0, coupling: {coupling}}}"),
            )
            .replace(
                "beta: 3.0}",
                &format!("beta: 3.0, backward_input: {backward_input}}}"),
            )
            .replace("batch_size: 10", "batch_size: 80");
        let m = common::model(&yaml);
        let dir = tempfile::tempdir().unwrap();
        let plain = run::run(&m, &opts(&dir.path().join("a"), 1, None), &mut Silent).unwrap();
        let spec = "layers=all;neurons=all;samples=all;every=1;theta=0.001";
        let traced =
            run::run(&m, &opts(&dir.path().join("b"), 1, Some(spec)), &mut Silent).unwrap();
        let (a, _) = Checkpoint::load(&plain.run_dir).unwrap();
        let (b, _) = Checkpoint::load(&traced.run_dir).unwrap();
        assert_eq!(a.projections, b.projections, "{coupling}, {backward_input}");
        let (pa, pb) = (&plain.summary.metrics[0], &traced.summary.metrics[0]);
        assert_eq!(pa.train_loss, pb.train_loss, "{coupling}, {backward_input}");
        assert_eq!(pa.test_loss, pb.test_loss, "{coupling}, {backward_input}");
        assert!(pa.train_loss.is_finite() && pa.train_loss > 0.0);
    }
}

/// Runs one traced minibatch of the small model and returns the sink and the tally.
fn traced_batch(spec: &str, threads: usize) -> (VecSink, Tally) {
    let m = small_model();
    let split = load_data(
        &m,
        3,
        None,
        true,
        None,
        None,
        &bsp_sim::progress::NoProgress,
    )
    .unwrap();
    let mut engine = build_engine(&m, 3, threads).unwrap();
    let mut sink = VecSink::new(spec, &m.network.layers);
    let batch: Vec<usize> = (0..10).map(|k| 7 * k).collect();
    let t = engine
        .train_batch_traced(&split.train, &batch, 0.3, &mut sink)
        .unwrap();
    (sink, t)
}

#[test]
fn events_follow_the_send_on_delta_rule_of_the_dense_signal() {
    let (theta, theta_backward) = (0.02f32, 0.005f32);
    let (sink, _) = traced_batch(
        &format!(
            "layers=all;neurons=all;samples=all;every=1;theta={theta};theta_backward={theta_backward}"
        ),
        2,
    );
    // Rebuild the events from the dense states (every step) with the rule.
    let mut expected = Vec::new();
    let mut last: HashMap<(usize, usize, usize, Wave), f32> = HashMap::new();
    let mut states = sink.states.clone();
    states.sort_by(|a, b| {
        (a.sample, a.wave)
            .cmp(&(b.sample, b.wave))
            .then(a.time.total_cmp(&b.time))
    });
    for s in &states {
        let l = last
            .entry((s.sample, s.layer, s.neuron, s.wave))
            .or_insert(0.0);
        let t = match s.wave {
            Wave::Forward => theta,
            Wave::Backward => theta_backward,
        };
        if (s.signal - *l).abs() >= t {
            *l = s.signal;
            expected.push((s.sample, s.layer, s.neuron, s.wave, s.time, s.signal));
        }
    }
    let mut got: Vec<_> = sink
        .events
        .iter()
        .map(|e| (e.sample, e.layer, e.neuron, e.wave, e.time, e.value))
        .collect();
    let order = |v: &mut Vec<(usize, usize, usize, Wave, f64, f32)>| {
        v.sort_by(|a, b| {
            (a.0, a.1, a.2, a.3)
                .cmp(&(b.0, b.1, b.2, b.3))
                .then(a.4.total_cmp(&b.4))
        })
    };
    order(&mut expected);
    order(&mut got);
    assert!(!got.is_empty());
    assert_eq!(got, expected);
    // Both waves, forward within [0, T], backward within (T, T + T_b]; layer 0 has no
    // backward wave under method 2.
    assert!(got.iter().any(|e| e.3 == Wave::Backward));
    for e in &got {
        match e.3 {
            Wave::Forward => assert!(e.4 > 0.0 && e.4 <= 3.0, "{e:?}"),
            Wave::Backward => assert!(e.4 > 3.0 && e.4 <= 6.0 && e.1 > 0, "{e:?}"),
        }
    }
}

#[test]
fn selection_limits_what_is_recorded_and_threads_do_not_matter() {
    let spec = "layers=1,2;neurons=1-2;samples=0,14,35;waves=backward;what=events;theta=0.001";
    let (one, t1) = traced_batch(spec, 1);
    let (three, t3) = traced_batch(spec, 3);
    assert_eq!(t1, t3);
    assert_eq!(one.events, three.events);
    assert!(one.states.is_empty());
    assert!(!one.events.is_empty());
    for e in &one.events {
        assert!([0, 14, 35].contains(&e.sample));
        assert!(e.layer == 1 || e.layer == 2);
        assert!(e.neuron == 1 || e.neuron == 2);
        assert_eq!(e.wave, Wave::Backward);
    }
}

/// A run of the small model with everything recorded in epoch 1.
fn recorded_run(dir: &Path) -> PathBuf {
    let spec = "layers=all;neurons=all;samples=every:50;every=2;theta=0.01";
    run::run(&small_model(), &opts(dir, 1, Some(spec)), &mut Silent)
        .unwrap()
        .run_dir
}

#[test]
fn csv_files_read_back_as_the_engine_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let run_dir = recorded_run(dir.path());
    let events = read_events(&run_dir.join("trace/events.csv")).unwrap();
    let states = read_states(&run_dir.join("trace/states.csv")).unwrap();
    let mf = manifest(&run_dir);
    assert_eq!(events.len() as u64, mf.counts.events);
    assert_eq!(states.len() as u64, mf.counts.states);
    assert_eq!(mf.counts.presentations, 4, "samples 0, 50, 100, 150");
    // The same batches replayed into a memory sink give the same records.
    let m = small_model();
    let split = load_data(
        &m,
        3,
        None,
        true,
        None,
        None,
        &bsp_sim::progress::NoProgress,
    )
    .unwrap();
    let mut engine = build_engine(&m, 3, 2).unwrap();
    let mut sink = VecSink {
        sel: run::trace_selection(
            &m,
            &opts(
                dir.path(),
                1,
                Some("layers=all;neurons=all;samples=every:50;every=2;theta=0.01"),
            ),
        )
        .unwrap()
        .unwrap()
        .0,
        events: Vec::new(),
        states: Vec::new(),
    };
    for batch in run::epoch_order(3, 0, split.train.len()).chunks(10) {
        engine
            .train_batch_traced(&split.train, batch, 0.3, &mut sink)
            .unwrap();
    }
    let back: Vec<WaveEvent> = events.iter().map(|r| r.event()).collect();
    assert_eq!(back, sink.events);
    assert!(events.iter().all(|r| r.epoch == 1));
    assert_eq!(states.len(), sink.states.len());
    for (r, s) in states.iter().zip(&sink.states) {
        assert_eq!(
            (r.sample, r.layer, r.neuron, r.wave),
            (s.sample, s.layer, s.neuron, s.wave)
        );
        assert_eq!(r.time, s.time);
        assert_eq!(r.signal, s.signal);
        assert_eq!(r.elements(), s.elements);
    }
    // The header is the documented one.
    let text = std::fs::read_to_string(run_dir.join("trace/events.csv")).unwrap();
    assert!(text.starts_with("epoch,sample,time,layer,neuron,wave,value\n"));
    let text = std::fs::read_to_string(run_dir.join("trace/states.csv")).unwrap();
    assert!(text.starts_with("epoch,sample,time,layer,neuron,wave,signal,J,S,M,H,T\n"));
}

#[test]
fn vcd_parses_and_holds_every_event() {
    use std::io::BufReader;
    let dir = tempfile::tempdir().unwrap();
    let run_dir = recorded_run(dir.path());
    let events = read_events(&run_dir.join("trace/events.csv")).unwrap();
    let mf = manifest(&run_dir);
    let file = std::fs::File::open(run_dir.join("trace/waves.vcd")).unwrap();
    let mut parser = vcd::Parser::new(BufReader::new(file));
    let header = parser.parse_header().unwrap();
    // A real signal per recorded neuron and wave.
    let mut codes = HashMap::new();
    for wave in ["forward", "backward"] {
        for (l, n) in [(0, 6), (1, 8), (2, 4)] {
            for j in 0..n {
                let (layer, neuron) = (format!("layer{l}"), format!("n{j}"));
                let var = header
                    .find_var(&["bsp", wave, layer.as_str(), neuron.as_str()])
                    .unwrap_or_else(|| panic!("no signal {wave} layer{l} n{j}"));
                assert_eq!(var.var_type, vcd::VarType::Real);
                codes.insert(var.code, (wave, l, j));
            }
        }
    }
    let mut time = 0u64;
    let mut changes = Vec::new();
    for cmd in parser {
        match cmd.unwrap() {
            vcd::Command::Timestamp(t) => {
                assert!(t >= time, "time went back");
                time = t;
            }
            vcd::Command::ChangeReal(id, v) => changes.push((time, codes[&id], v)),
            _ => {}
        }
    }
    // Every event is a change at (presentation start + time) / tick; the rest are the
    // resets to 0 at each presentation's start.
    let period = mf.time.forward_window + mf.time.backward_window;
    let mut starts: HashMap<usize, f64> = HashMap::new();
    let mut expected = Vec::new();
    for e in &events {
        let n = starts.len();
        let start = *starts.entry(e.sample).or_insert(n as f64 * period);
        let tick = ((start + e.time) / mf.time.vcd_tick).round() as u64;
        expected.push((tick, (e.wave.as_str(), e.layer, e.neuron), e.value as f64));
    }
    let resets = changes.len() - expected.len();
    assert_eq!(resets as u64, mf.counts.presentations * codes.len() as u64);
    let period_ticks = (period / mf.time.vcd_tick).round() as u64;
    let mut got: Vec<_> = changes
        .iter()
        .filter(|c| !(c.2 == 0.0 && c.0 % period_ticks == 0))
        .copied()
        .collect();
    let key = |v: &mut Vec<(u64, (&str, usize, usize), f64)>| {
        v.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)).then(a.2.total_cmp(&b.2)))
    };
    key(&mut got);
    key(&mut expected);
    assert_eq!(got, expected);
}

/// Sets the stop flag after `after` batches, like the binary's Ctrl-C handler.
struct StopAfter {
    flag: Arc<AtomicBool>,
    after: usize,
    batches: usize,
}

impl Observer for StopAfter {
    fn batch_done(&mut self, _done: usize, _running: &Tally) {
        self.batches += 1;
        if self.batches == self.after {
            self.flag.store(true, Ordering::SeqCst);
        }
    }
}

#[test]
fn interrupted_run_marks_manifest_and_summary() {
    let dir = tempfile::tempdir().unwrap();
    let flag = Arc::new(AtomicBool::new(false));
    let o = RunOptions {
        stop: Some(flag.clone()),
        ..opts(dir.path(), 3, Some("samples=all"))
    };
    let mut obs = StopAfter {
        flag,
        after: 3,
        batches: 0,
    };
    let err = run::run(&small_model(), &o, &mut obs).unwrap_err();
    let Error::Interrupted { epoch, run_dir, .. } = err else {
        panic!("expected an interruption, got {err}");
    };
    assert_eq!(epoch, 1);
    assert_eq!(obs.batches, 3, "stopped between batches");
    let mf = manifest(&run_dir);
    assert_eq!(mf.status, TraceStatus::Interrupted);
    assert!(mf.finished.is_some());
    assert_eq!(mf.counts.presentations, 30, "three batches of 10 recorded");
    assert_eq!(
        read_events(&run_dir.join("trace/events.csv"))
            .unwrap()
            .len() as u64,
        mf.counts.events
    );
    assert_eq!(summary(&run_dir).status, RunStatus::Interrupted);
}

#[test]
fn failed_run_marks_manifest_failed_with_the_error() {
    // Squared error at a huge rate with the limiter off runs away within an epoch.
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "squared", 1e4);
    let m = common::model(&yaml);
    let dir = tempfile::tempdir().unwrap();
    let err = run::run(&m, &opts(dir.path(), 3, Some("samples=all")), &mut Silent).unwrap_err();
    assert!(err.to_string().contains("diverged"), "{err}");
    let run_dir = std::fs::read_dir(dir.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let mf = manifest(&run_dir);
    assert_eq!(mf.status, TraceStatus::Failed);
    assert!(mf.error.as_deref().unwrap_or("").contains("diverged"));
    assert_eq!(summary(&run_dir).status, RunStatus::Failed);
}

#[test]
fn bad_specs_name_the_key_and_the_fix() {
    let layers = [6, 8, 4];
    let bad = |spec: &str| TraceSection::parse(spec).and_then(|s| s.resolve(&layers).map(|_| s));
    for (spec, key, fragment) in [
        ("layer=1", "layer", "keys are"),
        ("layers=3", "layers", "has 3 layers"),
        ("layers=1-x", "layers", "not an id or a range"),
        ("neurons=8", "neurons", "widest selected layer has 8"),
        ("samples=every:0", "samples", "every:1"),
        ("waves=sideways", "waves", "forward, backward"),
        ("what=spikes", "what", "events, states"),
        ("every=0", "every", "at least 1"),
        ("theta=-1", "theta", "> 0"),
        ("theta", "theta", "key=value"),
    ] {
        let e = bad(spec).unwrap_err();
        assert_eq!(e.key, key, "{spec}");
        assert!(e.detail.contains(fragment), "{spec}: {}", e.detail);
    }
    // Neuron ranges are clipped per layer.
    let s = TraceSection::parse("neurons=2-7")
        .unwrap()
        .resolve(&layers)
        .unwrap();
    assert_eq!(
        s.neurons,
        vec![vec![2, 3, 4, 5], vec![2, 3, 4, 5, 6, 7], vec![2, 3]]
    );
    // A model file's section is checked at load time, naming the field.
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.3)
        + "trace: {layers: [0, 5]}\n";
    let e = bsp_sim::Model::from_yaml(&yaml, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("trace.layers"), "{e}");
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.3)
        + "trace: {layers: 1, neurons: 0-3, samples: {every: 3}}\n";
    let e = bsp_sim::Model::from_yaml(&yaml, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("trace"), "{e}");
}

#[test]
fn model_trace_section_records_and_cli_keys_override_it() {
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.3)
        + "trace: {layers: [2], neurons: all, samples: \"every:100\", waves: [forward], what: [events], theta: 0.01}\n";
    let m = common::model(&yaml);
    let dir = tempfile::tempdir().unwrap();
    let out = run::run(&m, &opts(&dir.path().join("a"), 1, None), &mut Silent).unwrap();
    let mf = manifest(&out.run_dir);
    assert_eq!(mf.selection.neurons, vec!["", "", "0-3"]);
    assert_eq!(mf.files.states, None);
    let events = read_events(&out.run_dir.join("trace/events.csv")).unwrap();
    assert!(!events.is_empty());
    assert!(events
        .iter()
        .all(|e| e.layer == 2 && e.wave == Wave::Forward && e.sample % 100 == 0));
    // --trace layers=1 overrides the section's layers only.
    let out = run::run(
        &m,
        &opts(&dir.path().join("b"), 1, Some("layers=1")),
        &mut Silent,
    )
    .unwrap();
    let mf = manifest(&out.run_dir);
    assert_eq!(mf.selection.neurons, vec!["", "0-7", ""]);
    assert!(mf.selection.spec.contains("samples=every:100"));
    // --no-trace turns the section off.
    let o = RunOptions {
        no_trace: true,
        ..opts(&dir.path().join("c"), 1, None)
    };
    let out = run::run(&m, &o, &mut Silent).unwrap();
    assert!(!out.run_dir.join("trace").exists());
}

#[test]
fn unwritable_trace_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let err = run::run(&small_model(), &opts(&blocker, 1, Some("")), &mut Silent).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("cannot write") && text.contains("--out"),
        "{text}"
    );
}

#[test]
fn trace_command_records_one_sample_in_full() {
    use bsp_sim::run::sample::{record_sample, SampleOptions};
    let dir = tempfile::tempdir().unwrap();
    let m = small_model();
    let o = record_sample(
        &m,
        &SampleOptions {
            sample: 5,
            out: dir.path().to_path_buf(),
            ..SampleOptions::default()
        },
    )
    .unwrap();
    assert_eq!(o.manifest.status, TraceStatus::Complete);
    assert_eq!(o.manifest.counts.presentations, 1);
    let states = read_states(&o.trace_dir.join("states.csv")).unwrap();
    // Every step of both windows: 30 forward steps x 18 neurons, 30 backward x 12.
    assert_eq!(states.len(), 30 * 18 + 30 * 12);
    assert!(states.iter().all(|s| s.sample == 5));
    let err = record_sample(
        &m,
        &SampleOptions {
            sample: 200,
            out: dir.path().to_path_buf(),
            ..SampleOptions::default()
        },
    )
    .unwrap_err();
    assert!(err.to_string().contains("has 200"), "{err}");
}

#[test]
fn plots_are_drawn_for_a_run_and_a_comparison() {
    use bsp_sim::plot::{plot_run, PlotOptions};
    let dir = tempfile::tempdir().unwrap();
    let run_dir = recorded_run(dir.path());
    let out = plot_run(&run_dir, &PlotOptions::default()).unwrap();
    let names: Vec<String> = out
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for stem in [
        "metrics",
        "raster-layer0",
        "raster-layer1",
        "raster-layer2",
        "events-per-layer",
        "signals",
    ] {
        for ext in ["svg", "png"] {
            let name = format!("{stem}.{ext}");
            assert!(names.contains(&name), "{name} missing from {names:?}");
            let len = std::fs::metadata(run_dir.join("plots").join(&name))
                .unwrap()
                .len();
            assert!(len > 1000, "{name} has {len} bytes");
        }
    }
    let svg = |name: &str| std::fs::read_to_string(run_dir.join("plots").join(name)).unwrap();
    let m = svg("metrics.svg");
    assert!(
        m.contains("test")
            && m.contains("train")
            && m.contains("accuracy (%)")
            && m.contains("seed 3")
    );
    let r = svg("raster-layer1.svg");
    assert!(r.contains("forward wave") && r.contains("backward wave") && r.contains("<circle"));
    assert!(svg("events-per-layer.svg").contains("layer 2"));
    assert!(svg("signals.svg").contains("layer 1 neuron 0"));
    let png = std::fs::read(run_dir.join("plots/metrics.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");

    // The `compare` layout: sync/ and async/ run directories on one chart.
    let cmp = dir.path().join("cmp");
    for label in ["sync", "async"] {
        std::fs::create_dir_all(cmp.join(label)).unwrap();
        std::fs::copy(
            run_dir.join("metrics.csv"),
            cmp.join(label).join("metrics.csv"),
        )
        .unwrap();
    }
    let out = plot_run(&cmp, &PlotOptions::default()).unwrap();
    assert!(out.files.iter().any(|f| f.ends_with("metrics.svg")));
    let m = std::fs::read_to_string(cmp.join("plots/metrics.svg")).unwrap();
    assert!(
        m.contains("sync test") && m.contains("async test"),
        "both engines on one chart"
    );

    // Chosen neurons and presentation.
    let o = PlotOptions {
        neurons: bsp_sim::plot::parse_neurons("2:3,1:4").unwrap(),
        sample: Some(100),
        out: Some(dir.path().join("p2")),
        ..PlotOptions::default()
    };
    plot_run(&run_dir, &o).unwrap();
    let s = std::fs::read_to_string(dir.path().join("p2/signals.svg")).unwrap();
    assert!(
        s.contains("layer 2 neuron 3")
            && s.contains("layer 1 neuron 4")
            && s.contains("sample 100")
    );
    // Nothing to plot is an error naming the directory.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let e = plot_run(&empty, &PlotOptions::default())
        .unwrap_err()
        .to_string();
    assert!(e.contains("nothing to plot"), "{e}");
}

#[test]
fn demo_model_documents_the_default_section() {
    // models/demo.yaml carries the trace section commented out; uncommented it validates and
    // spells out the defaults.
    let text = std::fs::read_to_string("models/demo.yaml").unwrap();
    let start = text.find("#trace:").expect("a commented trace section");
    let section: String = text[start..]
        .lines()
        .map(|l| l.strip_prefix('#').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let yaml = format!("{}{section}\n", &text[..start]);
    let m = bsp_sim::Model::from_yaml(&yaml, None).unwrap();
    let written = m.trace.expect("the section parses");
    let layers = &m.network.layers;
    assert_eq!(
        written.resolve(layers).unwrap(),
        TraceSection::default().resolve(layers).unwrap()
    );
}

/// The asynchronous engine records its real send-on-delta events: tracing changes no
/// result, the records do not depend on the thread count, consecutive events of a neuron
/// differ by at least the engine's theta, and the backward wave is recorded too.
#[test]
fn async_engine_records_its_events() {
    let yaml = common::synthetic_yaml("[6, 8, 4]", "connections", "softmax", 0.3)
        + "engine: async\nasync: {theta: 0.02, theta_backward: 0.002, sample_interval: 3.0}\n";
    let m = common::model(&yaml);
    let dir = tempfile::tempdir().unwrap();
    let spec = "layers=all;neurons=all;samples=all;what=events";
    let plain = run::run(&m, &opts(&dir.path().join("a"), 1, None), &mut Silent).unwrap();
    let traced = run::run(&m, &opts(&dir.path().join("b"), 1, Some(spec)), &mut Silent).unwrap();
    let key = |s: &Summary| {
        s.metrics
            .iter()
            .map(|r| (r.train_loss, r.test_loss, r.test_accuracy))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&plain.summary), key(&traced.summary));
    assert_eq!(manifest(&traced.run_dir).status, TraceStatus::Complete);
    let one = RunOptions {
        threads: Some(1),
        ..opts(&dir.path().join("c"), 1, Some(spec))
    };
    let single = run::run(&m, &one, &mut Silent).unwrap();
    let events = read_events(&traced.run_dir.join("trace/events.csv")).unwrap();
    let events1 = read_events(&single.run_dir.join("trace/events.csv")).unwrap();
    if let Some(k) = (0..events.len().min(events1.len())).find(|&k| events[k] != events1[k]) {
        panic!(
            "event {k} of {}/{} differs: {:?} vs {:?}",
            events.len(),
            events1.len(),
            events[k],
            events1[k]
        );
    }
    assert_eq!(
        events.len(),
        events1.len(),
        "recorded events differ between 2 threads and 1"
    );
    assert!(events.iter().any(|e| e.wave == Wave::Backward));
    let mut last: HashMap<(usize, usize, usize, Wave), f32> = HashMap::new();
    for e in &events {
        let ev = e;
        let theta = if ev.wave == Wave::Forward {
            0.02
        } else {
            0.002
        };
        if let Some(prev) = last.insert((ev.sample, ev.layer, ev.neuron, ev.wave), ev.value) {
            assert!(
                (ev.value - prev).abs() >= theta * 0.999,
                "{ev:?} after {prev}"
            );
        }
    }
}
