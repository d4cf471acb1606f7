//! The default trace selection shows something: neurons spread across every layer (not an
//! image's blank corner), and a default traced run records the forward wave in every layer.

use bsp_sim::run::{self, RunOptions, Silent};
use bsp_sim::trace::spec::spread;
use bsp_sim::trace::TraceSection;
use bsp_sim::Model;

#[test]
fn default_neurons_are_spread_across_each_layer() {
    let sel = TraceSection::default()
        .resolve(&[784, 300, 300, 10])
        .unwrap();
    let ids = &sel.neurons;
    assert_eq!(
        ids[0],
        vec![39, 117, 196, 274, 352, 431, 509, 588, 666, 744]
    );
    assert_eq!(ids[1], vec![15, 45, 75, 105, 135, 165, 195, 225, 255, 285]);
    assert_eq!(ids[3], (0..10).collect::<Vec<_>>());
    // Layer 0 reaches the middle of a 28x28 image (row 12, column 16), where digits are.
    assert!(ids[0].contains(&(12 * 28 + 16)));
}

#[test]
fn spread_takes_the_middle_of_equal_shares_and_all_of_a_small_layer() {
    assert_eq!(spread(10, 2), vec![2, 7]);
    assert_eq!(spread(5, 10), vec![0, 1, 2, 3, 4]);
    assert_eq!(spread(100, 1), vec![50]);
    let s = TraceSection::parse("neurons=spread:3").unwrap();
    assert_eq!(
        s.resolve(&[9, 2]).unwrap().neurons,
        vec![vec![1, 4, 7], vec![0, 1]]
    );
    let e = TraceSection::parse("neurons=spread:0")
        .unwrap()
        .resolve(&[9, 2])
        .unwrap_err();
    assert!(
        e.detail.contains("spread:N needs a whole number N >= 1"),
        "{e:?}"
    );
}

#[test]
fn a_default_traced_demo_run_shows_the_forward_wave_in_every_layer() {
    let model = Model::load("models/demo.yaml".as_ref()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        epochs: Some(1),
        threads: Some(1),
        out: dir.path().to_path_buf(),
        trace: Some(TraceSection::default()),
        ..RunOptions::default()
    };
    let out = run::run(&model, &opts, &mut Silent).unwrap();
    let text = std::fs::read_to_string(out.run_dir.join("trace/events.csv")).unwrap();
    let mut forward = [0usize; 3];
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[5] == "forward" {
            forward[f[3].parse::<usize>().unwrap()] += 1;
        }
    }
    assert!(
        forward.iter().all(|&n| n > 0),
        "forward events per layer: {forward:?}"
    );
}
