//! The asynchronous event-driven engine: consistency with the synchronous engine, thread
//! independence, conservation of events, pipelining, learning, and its configuration errors.

mod common;

use bsp_sim::data::Split;
use bsp_sim::engine::asynchronous::AsyncEngine;
use bsp_sim::engine::Engine;
use bsp_sim::run::{build_async_engine, build_engine, load_data};
use bsp_sim::Model;

/// The synthetic model ([6, 8, 4], windows of 3) with `coupling: delayed`, the given engine
/// and `async` section, and minibatches of `batch`.
fn yaml(engine: &str, async_yaml: &str, batch: usize) -> String {
    yaml_of("[6, 8, 4]", engine, async_yaml, batch)
}

/// [`yaml`] with other layers.
fn yaml_of(layers: &str, engine: &str, async_yaml: &str, batch: usize) -> String {
    let yaml = common::synthetic_yaml(layers, "connections", "softmax", 0.05)
        .replace(
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0}",
            "integration: {dt: 0.1, forward_window: 3.0, backward_window: 3.0, coupling: delayed}",
        )
        .replace("batch_size: 10", &format!("batch_size: {batch}"));
    format!("{yaml}engine: {engine}\nasync: {async_yaml}\n")
}

fn model(engine: &str, async_yaml: &str, batch: usize) -> Model {
    common::model(&yaml(engine, async_yaml, batch))
}

fn data(m: &Model) -> Split {
    load_data(m, 3, None, true, None, None, &bsp_sim::progress::NoProgress).unwrap()
}

/// Trains on `samples` samples (cycling through the training set) with lr 0.05.
fn train(engine: &mut dyn Engine, m: &Model, split: &Split, samples: usize) {
    let order: Vec<usize> = (0..samples).map(|k| k % split.train.len()).collect();
    for b in order.chunks(m.training.batch_size) {
        engine.train_batch(&split.train, b, 0.05).unwrap();
    }
    engine.finish().unwrap();
}

/// Per test sample: (loss, correct).
fn per_sample(engine: &mut dyn Engine, split: &Split) -> Vec<(f64, usize)> {
    (0..split.test.len())
        .map(|i| {
            let t = engine.evaluate(&split.test, &[i]).unwrap();
            (t.loss, t.correct)
        })
        .collect()
}

fn coefficients(e: &dyn Engine) -> Vec<f32> {
    e.projections()
        .iter()
        .flat_map(|p| p.coefficients().to_vec())
        .collect()
}

#[test]
fn async_reproduces_sync_with_zero_delay_zero_theta_no_overlap_batch_one() {
    // No overlap: a sample starts after the previous one's update (3 + 3 + slack < 100).
    let sync = model("sync", "{theta: 0.0, sample_interval: 100.0}", 1);
    let asyn = model("async", "{theta: 0.0, sample_interval: 100.0}", 1);
    let split = data(&sync);
    let mut s = build_engine(&sync, 3, 1).unwrap();
    let mut a = build_engine(&asyn, 3, 1).unwrap();
    assert_eq!(
        coefficients(s.as_ref()),
        coefficients(a.as_ref()),
        "same initial C"
    );
    train(s.as_mut(), &sync, &split, 300);
    train(a.as_mut(), &asyn, &split, 300);
    let (cs, ca) = (coefficients(s.as_ref()), coefficients(a.as_ref()));
    let moved = cs
        .iter()
        .zip(&coefficients(build_engine(&sync, 3, 1).unwrap().as_ref()))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    let diff = cs
        .iter()
        .zip(&ca)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    // The weights moved by O(0.1-1) during training; the engines agree to float rounding
    // (the async input is a running sum of event increments, the sync one a fresh product).
    assert!(moved > 0.05, "training moved the weights by only {moved}");
    assert!(diff < 1e-4, "weights differ by {diff} (moved {moved})");
    let (ps, pa) = (
        per_sample(s.as_mut(), &split),
        per_sample(a.as_mut(), &split),
    );
    for (k, ((ls, oks), (la, oka))) in ps.iter().zip(&pa).enumerate() {
        assert_eq!(oks, oka, "prediction differs on test sample {k}");
        assert!(
            (ls - la).abs() < 1e-4,
            "loss differs on test sample {k}: {ls} vs {la}"
        );
    }
}

/// A configuration that exercises everything: send-on-delta, jittered delays, pipelining
/// (samples start every window, so several are in flight), minibatches.
const BUSY: &str = "{theta: 0.02, theta_backward: 0.002, delay: {kind: uniform, low: 0.0, high: 0.35}, sample_interval: 3.0, max_in_flight: 6}";

#[test]
fn results_are_bit_identical_at_1_2_and_4_threads() {
    let m = model("async", BUSY, 10);
    let split = data(&m);
    let mut runs = Vec::new();
    for threads in [1, 2, 4] {
        let mut e = build_engine(&m, 3, threads).unwrap();
        train(e.as_mut(), &m, &split, 120);
        let eval = e
            .evaluate(&split.test, &(0..50).collect::<Vec<_>>())
            .unwrap();
        runs.push((coefficients(e.as_ref()), e.counters(), eval));
    }
    for r in &runs[1..] {
        assert!(
            r.0 == runs[0].0,
            "coefficients differ between thread counts"
        );
        assert_eq!(r.1, runs[0].1, "event counts differ between thread counts");
        assert_eq!(r.2, runs[0].2, "evaluation differs between thread counts");
    }
    assert!(runs[0].1.events > 0 && runs[0].1.deliveries > 0);
}

/// At zero delay a lone worker delivers most of its events as its actors fire, straight into
/// the input rings; split by neurons, the workers exchange every event at every step. The
/// numbers are the same: two hidden layers (events both ways between hidden layers), windows
/// that close (whose returns to zero go by the exchange), updates at boundaries (after
/// which deliveries read the new C), pipelined samples and calls that end mid-flight.
#[test]
fn events_delivered_as_they_fire_give_the_numbers_of_the_exchange() {
    let spec = "{theta: 0.01, theta_backward: 0.001, delay: {kind: fixed, value: 0.0}, sample_interval: 3.0, max_in_flight: 4}";
    let m = common::model(&yaml_of("[6, 12, 12, 4]", "async", spec, 3));
    let split = data(&m);
    let mut runs = Vec::new();
    for threads in [1, 3] {
        let mut e: AsyncEngine = build_async_engine(&m, 3, threads);
        train(&mut e, &m, &split, 60);
        let eval = e
            .evaluate(&split.test, &(0..30).collect::<Vec<_>>())
            .unwrap();
        let (sent, ..) = e.event_balance();
        runs.push((coefficients(&e), e.counters(), eval, sent));
    }
    assert!(runs[0].0 == runs[1].0, "coefficients differ");
    assert_eq!(runs[0].1, runs[1].1, "counts differ");
    assert_eq!(runs[0].2, runs[1].2, "evaluation differs");
    // The lone worker put a fraction of the events on the wire that the split ones did.
    assert!(
        runs[0].3 * 4 < runs[1].3,
        "sent {} and {}",
        runs[0].3,
        runs[1].3
    );
}

/// A worker that delivers alone runs the plain steps between two control steps layer by
/// layer (its forward layers up, then its reversed layers down, each over the whole span,
/// its events added to the next layer's rows tile by tile). The numbers are those of
/// stepping every layer at each step: one worker and the wave split, with windows long
/// enough for spans of many steps, pipelined samples, two hidden layers and updates that
/// end spans; and the input layer pooled by value, whose pools' sums the span reads.
#[test]
fn spans_of_plain_steps_give_the_numbers_of_step_by_step() {
    let spec = "{theta: 0.01, theta_backward: 0.001, delay: {kind: fixed, value: 0.0}}";
    let m = common::model(&yaml_of("[6, 40, 24, 4]", "async", spec, 3).replace(
        "forward_window: 3.0, backward_window: 3.0",
        "forward_window: 9.0, backward_window: 8.0",
    ));
    let split = data(&m);
    for threads in [1, 2] {
        let mut runs = Vec::new();
        for spans in [true, false] {
            let mut e: AsyncEngine = build_async_engine(&m, 3, threads);
            e.run_spans(spans);
            train(&mut e, &m, &split, 40);
            let eval = e
                .evaluate(&split.test, &(0..30).collect::<Vec<_>>())
                .unwrap();
            runs.push((coefficients(&e), e.counters(), eval));
        }
        assert!(
            runs[0].0 == runs[1].0,
            "coefficients differ ({threads} threads)"
        );
        assert_eq!(runs[0].1, runs[1].1, "counts differ ({threads} threads)");
        assert_eq!(
            runs[0].2, runs[1].2,
            "evaluation differs ({threads} threads)"
        );
        assert!(runs[0].1.events > 0);
    }
}

/// The wave split — one worker integrates the forward systems of every neuron, the other
/// the reversed ones, and they exchange only where windows close and updates fall — gives
/// the numbers of one worker: two hidden layers (a reversed layer that both receives and
/// sends), samples pipelined, minibatches of 2 (so calls end between the engine's chunks
/// of 4 samples), at zero delay (where two threads choose it) and at a fixed delay (where
/// it is asked for). Each system wakes on its own arrivals: a resting system whose input
/// arrived after its window opened once stayed asleep unless its other system woke it,
/// which this split, holding the two systems apart, showed.
#[test]
fn the_wave_split_gives_the_numbers_of_one_worker() {
    for delay in [0.0, 0.1] {
        let spec = format!("{{delay: {{kind: fixed, value: {delay}}}}}");
        let m = common::model(&yaml_of("[6, 12, 12, 4]", "async", &spec, 2).replace(
            "forward_window: 3.0, backward_window: 3.0",
            "forward_window: 10.0, backward_window: 10.0",
        ));
        let split = data(&m);
        let mut one: AsyncEngine = build_async_engine(&m, 3, 1);
        let mut waves: AsyncEngine = build_async_engine(&m, 3, 2);
        assert_eq!(waves.split_is_by_waves(), delay == 0.0, "the default split");
        waves.split_by_waves(true).unwrap();
        let mut runs = Vec::new();
        for e in [&mut one, &mut waves] {
            train(e, &m, &split, 41);
            let eval = e
                .evaluate(&split.test, &(0..30).collect::<Vec<_>>())
                .unwrap();
            runs.push((coefficients(e), e.counters(), eval));
        }
        assert!(
            runs[0].0 == runs[1].0,
            "coefficients differ (delay {delay})"
        );
        assert_eq!(runs[0].1, runs[1].1, "counts differ (delay {delay})");
        assert_eq!(runs[0].2, runs[1].2, "evaluation differs (delay {delay})");
        assert!(runs[0].1.events > 0);
    }
    // Jittered delays keep the neuron split.
    let mut jittered: AsyncEngine = build_async_engine(&model("async", BUSY, 10), 3, 2);
    assert!(!jittered.split_is_by_waves());
    assert!(jittered.split_by_waves(true).is_err());
}

#[test]
fn no_event_is_lost_or_duplicated_and_local_time_never_goes_back() {
    let m = model("async", BUSY, 10);
    let split = data(&m);
    for threads in [1, 3] {
        let mut e: AsyncEngine = build_async_engine(&m, 3, threads);
        train(&mut e, &m, &split, 60);
        let (sent, received, regressions) = e.event_balance();
        assert!(sent > 0);
        assert_eq!(received.len(), threads);
        for (w, r) in received.iter().enumerate() {
            assert_eq!(
                *r, sent,
                "worker {w} of {threads} took in {r} events of {sent}"
            );
        }
        assert_eq!(regressions, 0, "an actor stepped backwards in local time");
        assert!(e.now().0 > 0);
    }
}

#[test]
fn pipelining_makes_updates_stale_and_spacing_removes_it() {
    let split = data(&model("async", "{}", 10));
    let staleness = |async_yaml: &str| {
        let m = model("async", async_yaml, 10);
        let mut e = build_engine(&m, 3, 1).unwrap();
        train(e.as_mut(), &m, &split, 40);
        e.counters().mean_staleness()
    };
    let tight = staleness("{sample_interval: 3.0}");
    let spaced = staleness("{sample_interval: 50.0}");
    // With a sample every window, the next sample's forward wave reads C before this one's
    // backward wave has written it: one other update lands in between.
    assert!(tight >= 0.9, "staleness {tight} with overlapping samples");
    assert_eq!(spaced, 0.0);
}

#[test]
fn a_larger_theta_sends_fewer_events() {
    let split = data(&model("async", "{}", 10));
    let events = |theta: f32| {
        let m = model("async", &format!("{{theta: {theta}}}"), 10);
        let mut e = build_engine(&m, 3, 1).unwrap();
        train(e.as_mut(), &m, &split, 30);
        e.counters().events
    };
    let (e0, e1, e2) = (events(0.0), events(0.01), events(0.05));
    assert!(e0 > e1 && e1 > e2 && e2 > 0, "events {e0} {e1} {e2}");
}

#[test]
fn async_learning_lowers_the_loss() {
    let m = model(
        "async",
        "{theta: 0.005, theta_backward: 0.0005, delay: {kind: fixed, value: 0.1}}",
        10,
    );
    let split = data(&m);
    let mut e = build_engine(&m, 3, 2).unwrap();
    let test: Vec<usize> = (0..split.test.len()).collect();
    let before = e.evaluate(&split.test, &test).unwrap();
    train(e.as_mut(), &m, &split, 600);
    let after = e.evaluate(&split.test, &test).unwrap();
    assert!(
        after.mean_loss() < before.mean_loss() - 0.05,
        "loss {} -> {}",
        before.mean_loss(),
        after.mean_loss()
    );
    assert!(after.accuracy() > before.accuracy());
}

#[test]
fn adaptive_local_steps_follow_the_rk4_solution() {
    // Euler at dt 0.1 is off by O(dt); the adaptive Heun steps at a tight tolerance land on
    // the RK4 trajectory (the sync engine with rk4) much more closely.
    let rk4 =
        yaml("sync", "{}", 1).replace("coupling: delayed}", "coupling: delayed, method: rk4}");
    let euler = yaml("async", "{}", 1);
    let adaptive = yaml(
        "async",
        "{step: {kind: adaptive, tolerance: 1.0e-6, max_halvings: 10}}",
        1,
    );
    let split = data(&common::model(&rk4));
    let loss = |y: &str| {
        per_sample(
            build_engine(&common::model(y), 3, 1).unwrap().as_mut(),
            &split,
        )
    };
    let (r, e, a) = (loss(&rk4), loss(&euler), loss(&adaptive));
    let dist = |x: &[(f64, usize)]| {
        x.iter()
            .zip(&r)
            .map(|(p, q)| (p.0 - q.0).abs())
            .fold(0.0, f64::max)
    };
    assert!(
        dist(&a) < dist(&e) / 10.0,
        "adaptive {} vs euler {}",
        dist(&a),
        dist(&e)
    );
}

#[test]
fn unsupported_async_settings_are_clear_errors() {
    for (extra, field) in [
        (
            "{actor: element, step: {kind: adaptive, tolerance: 0.001}}",
            "async.actor",
        ),
        ("{sample_interval: 1.0}", "async.sample_interval"),
        ("{theta: -1.0}", "async.theta"),
        (
            "{delay: {kind: uniform, low: 0.5, high: 0.1}}",
            "async.delay",
        ),
        ("{max_in_flight: 0}", "async.max_in_flight"),
    ] {
        let err = Model::from_yaml(&yaml("async", extra, 1), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{extra}: {err}");
    }
    let tv = yaml("async", "{}", 1).replace(
        "error: {kind: softmax",
        "error: {backward_input: time_varying, kind: softmax",
    );
    let err = Model::from_yaml(&tv, None).unwrap_err().to_string();
    assert!(err.contains("error.backward_input"), "{err}");
}

#[test]
fn element_actors_with_theta_zero_are_the_neuron_actors() {
    // Every element sends every change: each integrates with its neighbours' values of
    // the previous step, which is explicit Euler, so the runs agree bit for bit. Element
    // actors deliver the input layer's events pixel by pixel; so do the neuron actors here
    // (their pooling by value changes the rounding).
    let neuron = model("async", "{theta: 0.01, sample_interval: 3.0}", 10);
    let element = model(
        "async",
        "{theta: 0.01, sample_interval: 3.0, actor: element}",
        10,
    );
    let split = data(&neuron);
    let mut a: AsyncEngine = build_async_engine(&neuron, 3, 2);
    a.pool_input_events(false);
    let mut b = build_engine(&element, 3, 2).unwrap();
    train(&mut a, &neuron, &split, 60);
    train(b.as_mut(), &element, &split, 60);
    assert!(coefficients(&a) == coefficients(b.as_ref()));
    assert_eq!(a.counters().element_events, 0);
    assert!(b.counters().element_events > b.counters().events);
    // Quantised couplings inside the neuron (element_theta > 0) change the numbers a
    // little and send fewer internal events; tolerance 0.05 on C.
    let coarse = model(
        "async",
        "{theta: 0.01, sample_interval: 3.0, actor: element, element_theta: 0.001}",
        10,
    );
    let mut c = build_engine(&coarse, 3, 2).unwrap();
    train(c.as_mut(), &coarse, &split, 60);
    let diff = coefficients(&a)
        .iter()
        .zip(&coefficients(c.as_ref()))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(
        diff > 0.0 && diff < 0.05,
        "element_theta 0.001 moved C by {diff}"
    );
    assert!(c.counters().element_events < b.counters().element_events);
}

#[test]
fn element_waves_arrive_one_hop_per_step_the_causal_distance() {
    use bsp_sim::causal::tables::DistanceTable;
    use bsp_sim::causal::Loop;
    use bsp_sim::engine::asynchronous::actor::first_arrivals;
    use bsp_sim::neuron::{Element, System};
    let m = model("async", "{actor: element}", 1);
    for (system, input) in [
        (System::Forward, Element::J),
        (System::Reversed, Element::S),
    ] {
        let table = DistanceTable::of_neuron(&m.neuron, system, Loop::Combined);
        let arrivals = first_arrivals(&m.neuron, system, 1.0, 0.1, 20);
        for e in Element::ALL {
            let hops = table.get(input, e).expect("every element is reachable") as u64;
            assert_eq!(
                arrivals[e.index()],
                Some(hops + 1),
                "{system:?}: element {e} at causal distance {hops} from {input}"
            );
        }
    }
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config { cases: 8, ..Default::default() })]

    /// Random send-on-delta thresholds, delay jitter, sample spacing and partitions: every
    /// worker takes in every event sent, no actor steps back in time, and the weights equal
    /// the single-thread run's bit for bit.
    #[test]
    fn random_async_configurations_conserve_events_and_ignore_threads(
        theta in 0.0f32..0.05,
        jitter in 0.0f32..0.5,
        interval in proptest::sample::select(vec![3.0f32, 4.5, 8.0]),
        threads in 2usize..5,
    ) {
        let yaml = format!(
            "{{theta: {theta}, theta_backward: {}, delay: {{kind: uniform, low: 0.0, high: {jitter}}}, sample_interval: {interval}, max_in_flight: 5}}",
            theta / 10.0
        );
        let m = model("async", &yaml, 10);
        let split = data(&m);
        let mut one: AsyncEngine = build_async_engine(&m, 3, 1);
        let mut many: AsyncEngine = build_async_engine(&m, 3, threads);
        train(&mut one, &m, &split, 40);
        train(&mut many, &m, &split, 40);
        let (sent, received, regressions) = many.event_balance();
        proptest::prop_assert!(received.iter().all(|&r| r == sent));
        proptest::prop_assert_eq!(regressions, 0);
        proptest::prop_assert!(coefficients(&one) == coefficients(&many));
        proptest::prop_assert_eq!(one.counters(), many.counters());
    }
}

#[test]
fn an_async_run_resumes_exactly() {
    let m = model("async", BUSY, 10);
    let dir = tempfile::tempdir().unwrap();
    let (a, b, _) = common::straight_and_resumed(&m, dir.path(), 2, 2);
    assert_eq!(b.epochs_done, 2);
    assert!(a.projections == b.projections, "resumed weights differ");
    assert_eq!(a.metrics[1].test_loss, b.metrics[1].test_loss);
}

#[test]
fn restored_neurons_reach_the_async_workers() {
    // Method 1 moves each neuron's own K3 inside the workers. A checkpoint restore writes
    // the trained neurons through `neurons_mut`; the workers must integrate with them, and
    // the next pass must not overwrite them with the workers' stale copies.
    let yaml = yaml("async", BUSY, 10).replace("method: connections", "method: fixed_points");
    let m = common::model(&yaml);
    let split = data(&m);
    let mut trained: AsyncEngine = build_async_engine(&m, 3, 2);
    train(&mut trained, &m, &split, 200);
    let k3: Vec<Vec<f32>> = trained.neurons().iter().map(|l| l.k3_out.clone()).collect();
    let defaults: AsyncEngine = build_async_engine(&m, 3, 2);
    assert!(
        defaults.neurons().iter().map(|l| &l.k3_out).ne(k3.iter()),
        "training moved no K3: the test would not see a lost restore"
    );
    let mut restored: AsyncEngine = build_async_engine(&m, 3, 2);
    for (l, n) in restored.neurons_mut().iter_mut().enumerate() {
        n.restore(&trained.neurons()[l].state()).unwrap();
    }
    assert_eq!(
        per_sample(&mut restored, &split),
        per_sample(&mut trained, &split)
    );
    let after: Vec<Vec<f32>> = restored
        .neurons()
        .iter()
        .map(|l| l.k3_out.clone())
        .collect();
    assert_eq!(after, k3, "evaluation replaced the restored K3");
}

/// The input layer's windows are replayed from one integration per distinct input value
/// (`worker::stimulus`) unless something watches layer 0's states: a trace of layer 0
/// turns the replay off. Both give the same coefficients, losses and event counts bit for
/// bit, on images of a few grey levels with black pixels (resting actors) and repeats
/// within and across images, at 1 and 2 threads.
#[test]
fn replaying_the_input_layer_gives_the_numbers_of_integrating_it() {
    let m = model("async", BUSY, 10);
    let train = grey_levels([0.0, 0.0, 0.25, 0.5, 1.0, 0.75]);
    let batches = minibatches(8, 10);
    for threads in [1, 2] {
        let mut runs = Vec::new();
        for watched in [
            None,
            Some("layers=0;neurons=all;samples=all"),
            Some("layers=1"),
        ] {
            let mut e = build_engine(&m, 3, threads).unwrap();
            for b in &batches {
                match watched {
                    None => e.train_batch(&train, b, 0.05).unwrap(),
                    Some(spec) => {
                        let mut sink = bsp_sim::trace::TraceSection::parse(spec)
                            .unwrap()
                            .resolve(&m.network.layers)
                            .map(Sink)
                            .unwrap();
                        e.train_batch_traced(&train, b, 0.05, &mut sink).unwrap()
                    }
                };
            }
            e.finish().unwrap();
            let eval = e.evaluate(&train, &(0..40).collect::<Vec<_>>()).unwrap();
            runs.push((coefficients(e.as_ref()), e.counters(), eval.loss));
        }
        for (k, r) in runs.iter().enumerate().skip(1) {
            assert!(
                r.0 == runs[0].0,
                "coefficients differ (run {k}, {threads} threads)"
            );
            assert_eq!(
                r.1, runs[0].1,
                "event counts differ (run {k}, {threads} threads)"
            );
            assert_eq!(r.2, runs[0].2, "loss differs (run {k}, {threads} threads)");
        }
        assert!(runs[0].2.is_finite() && runs[0].1.events > 0);
    }
}

/// Forty images of six pixels, each pixel one of `levels` (values repeat within and across
/// images; a level 0 is a black pixel, a resting actor), in four classes.
fn grey_levels(levels: [f32; 6]) -> bsp_sim::data::Dataset {
    let images: Vec<Vec<f32>> = (0..40)
        .map(|k| {
            (0..6)
                .map(|p| levels[(k * 7 + p * 3 + k / 5) % 6])
                .collect()
        })
        .collect();
    let labels = (0..40).map(|k| (k % 4) as u8).collect();
    common::dataset(images, labels, 4)
}

/// `count` minibatches of `size` of [`grey_levels`]' forty images.
fn minibatches(count: usize, size: usize) -> Vec<Vec<usize>> {
    (0..count)
        .map(|b| (0..size).map(|k| (b * size + k * 3) % 40).collect())
        .collect()
}

/// A trace sink that keeps nothing: only its selection matters here.
struct Sink(bsp_sim::trace::Selection);

impl bsp_sim::trace::TraceSink for Sink {
    fn selection(&self) -> &bsp_sim::trace::Selection {
        &self.0
    }
    fn event(&mut self, _: &bsp_sim::trace::WaveEvent) {}
    fn state(&mut self, _: &bsp_sim::trace::StateSample) {}
}

/// Pixels of equal value send equal events, so the input layer's events are pooled by value
/// (`worker::pools`): the first pixel of each value delivers its pool's column sum. That
/// changes only float rounding against delivering pixel by pixel, delivers less, and gives
/// the same numbers at 1, 2 (at zero delay the wave split) and 3 threads, at zero delay
/// and at a fixed delay (where a window of events holds the close of one image and the
/// start of the next).
#[test]
fn pooling_the_input_layer_by_value_changes_only_rounding() {
    let train = grey_levels([0.0, 0.5, 0.25, 0.5, 1.0, 0.25]);
    let batches = minibatches(8, 5);
    for delay in [0.0, 0.1] {
        let spec = format!("{{delay: {{kind: fixed, value: {delay}}}}}");
        let m = common::model(&yaml_of("[6, 12, 12, 4]", "async", &spec, 5).replace(
            "forward_window: 3.0, backward_window: 3.0",
            "forward_window: 5.0, backward_window: 5.0",
        ));
        let run = |threads: usize, pool: bool| {
            let mut e: AsyncEngine = build_async_engine(&m, 3, threads);
            e.pool_input_events(pool);
            for b in &batches {
                e.train_batch(&train, b, 0.05).unwrap();
            }
            e.finish().unwrap();
            let eval = e.evaluate(&train, &(0..40).collect::<Vec<_>>()).unwrap();
            (coefficients(&e), e.counters(), eval)
        };
        let pooled: Vec<_> = [1, 2, 3].map(|threads| run(threads, true)).into();
        for (k, r) in pooled.iter().enumerate().skip(1) {
            let threads = k + 1;
            assert!(
                r.0 == pooled[0].0,
                "coefficients differ at {threads} threads (delay {delay})"
            );
            assert_eq!(
                r.1, pooled[0].1,
                "counts differ at {threads} threads (delay {delay})"
            );
            assert_eq!(
                r.2, pooled[0].2,
                "evaluation differs at {threads} threads (delay {delay})"
            );
        }
        let (c, counts, eval) = &pooled[0];
        let (c_apart, counts_apart, eval_apart) = run(1, false);
        assert!(
            counts.deliveries < counts_apart.deliveries * 9 / 10,
            "pooling delivered {} against {} (delay {delay})",
            counts.deliveries,
            counts_apart.deliveries
        );
        let initial = coefficients(&build_async_engine(&m, 3, 1));
        let largest = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max)
        };
        let (moved, diff) = (largest(c, &initial), largest(c, &c_apart));
        assert!(moved > 0.01, "training moved C by only {moved}");
        assert!(
            diff < 1e-4 * moved.max(1.0),
            "pooled and apart differ by {diff} (moved {moved}, delay {delay})"
        );
        assert!(
            (eval.loss - eval_apart.loss).abs() < 1e-4,
            "loss {} against {} (delay {delay})",
            eval.loss,
            eval_apart.loss
        );
    }
}

/// The rows of the first layer pair (read by no one during a call: forward deliveries read
/// the workers' transposed copies) may lag behind those copies between the engine's inner
/// chunks of samples, but hold every update when a call returns: taking the coefficients
/// out and handing them back (which makes the workers transpose them again) after every
/// minibatch changes nothing, at one and two threads (split by waves).
#[test]
fn the_coefficients_hold_every_update_when_a_call_returns() {
    let m = common::model(&yaml_of(
        "[6, 12, 12, 4]",
        "async",
        "{delay: {kind: fixed, value: 0.0}}",
        10,
    ));
    let split = data(&m);
    for threads in [1, 2] {
        let mut runs = Vec::new();
        for handled in [false, true] {
            let mut e: AsyncEngine = build_async_engine(&m, 3, threads);
            for b in (0..60).collect::<Vec<_>>().chunks(10) {
                e.train_batch(&split.train, b, 0.05).unwrap();
                if handled {
                    let c = coefficients(&e);
                    let mut k = 0;
                    for p in e.projections_mut() {
                        let n = p.coefficients().len();
                        p.coefficients_mut().copy_from_slice(&c[k..k + n]);
                        k += n;
                    }
                }
            }
            e.finish().unwrap();
            runs.push(coefficients(&e));
        }
        assert!(
            runs[0] == runs[1],
            "handing C back changed it ({threads} threads)"
        );
    }
}
