//! The per-synapse optimiser (`learning.optimiser`): it is really applied, it gives the same
//! weights at any thread count for every rule and limiter, `--resume` continues it exactly,
//! `sgd` leaves the plain update untouched, and the validation refuses what cannot run. The
//! asynchronous engine's optimiser: `tests/optimiser_async.rs`.

mod common;

use common::{data, trained};

use bsp_sim::run::{run, RunOptions, Silent};
use bsp_sim::Model;

/// The synthetic [6, 8, 4] model on the synchronous engine with `rule`, limiter `kt`,
/// batches of 5 and `optimiser` (YAML flow mapping, or "" for none).
fn yaml(rule: &str, kt: f32, optimiser: &str, lr: f32) -> String {
    common::optimiser_yaml(rule, kt, optimiser, lr, "")
}

fn model(rule: &str, kt: f32, optimiser: &str, lr: f32) -> Model {
    common::model(&yaml(rule, kt, optimiser, lr))
}

const ADAM: &str = "{kind: adam, beta1: 0.9, beta2: 0.999, eps: 1.0e-8}";
const MOMENTUM: &str = "{kind: momentum, beta: 0.9}";

#[test]
fn same_weights_at_any_thread_count_for_every_rule_limiter_and_optimiser() {
    for rule in ["bsp", "linearised", "adjoint"] {
        for kt in [0.0, 0.1] {
            for opt in [ADAM, MOMENTUM] {
                let m = model(rule, kt, opt, 0.01);
                let split = data(&m);
                let (start, one) = trained(&m, &split, 8, 1);
                let (_, two) = trained(&m, &split, 8, 2);
                let (_, three) = trained(&m, &split, 8, 3);
                assert!(one != start, "{rule} kt {kt} {opt}: did not train");
                assert!(
                    one == two && one == three,
                    "{rule} kt {kt} {opt}: weights depend on the thread count"
                );
            }
        }
    }
}

/// Adam's first step moves each synapse by lr in the direction of its own batch-mean G2,
/// whatever the G2's size: the sign of sgd's first step, the size lr (eps aside).
#[test]
fn adams_first_step_is_lr_in_the_direction_of_each_synapses_own_g2() {
    for rule in ["bsp", "linearised", "adjoint"] {
        let lr = 1e-3;
        let (adam, sgd) = (model(rule, 0.1, ADAM, lr), model(rule, 0.1, "", 1.0));
        let split = data(&adam);
        let (start, a) = trained(&adam, &split, 1, 1);
        let (_, s) = trained(&sgd, &split, 1, 1);
        let mut moved = 0;
        for ((c0, ca), cs) in start.iter().zip(&a).zip(&s) {
            let (da, ds) = (ca - c0, cs - c0);
            if ds.abs() > 1e-6 {
                moved += 1;
                assert_eq!(da.signum(), ds.signum(), "{rule}: adam moved against G2");
                assert!(
                    (da.abs() - lr).abs() < 1e-5,
                    "{rule}: first adam step {da}, not lr {lr} (sgd's step {ds})"
                );
            } else {
                assert!(da.abs() <= lr * 1.0001, "{rule}: {da}");
            }
        }
        assert!(
            moved > start.len() / 2,
            "{rule}: only {moved} synapses moved"
        );
    }
}

#[test]
fn momentum_accumulates_each_synapses_own_g2() {
    // With beta 0 momentum is sgd, bit for bit; with beta 0.9 the weights move further.
    let split = data(&model("bsp", 0.1, "", 0.05));
    let (start, sgd) = trained(&model("bsp", 0.1, "", 0.05), &split, 6, 1);
    let (_, zero) = trained(
        &model("bsp", 0.1, "{kind: momentum, beta: 0.0}", 0.05),
        &split,
        6,
        1,
    );
    let (_, heavy) = trained(&model("bsp", 0.1, MOMENTUM, 0.05), &split, 6, 1);
    let dist = |c: &[f32]| {
        c.iter()
            .zip(&start)
            .map(|(a, b)| (a - b) * (a - b))
            .sum::<f32>()
            .sqrt()
    };
    let d = sgd
        .iter()
        .zip(&zero)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(d < 1e-6, "momentum 0 differs from sgd by {d}");
    assert!(
        dist(&heavy) > 2.0 * dist(&sgd),
        "momentum 0.9 moved {} vs sgd {}",
        dist(&heavy),
        dist(&sgd)
    );
}

#[test]
fn resume_continues_the_optimiser_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("linearised", 0.1, ADAM, 0.003);
    let (a, b, one) = common::straight_and_resumed(&m, dir.path(), 3, 2);
    let state = one.optimiser.expect("the checkpoint keeps the moments");
    assert_eq!(state.step, 40, "200 samples / batch 5 = 40 steps");
    assert!(state.v.iter().flatten().any(|&v| v > 0.0));
    assert_eq!(a.projections, b.projections, "weights differ after resume");
    assert_eq!(a.optimiser, b.optimiser, "moments differ after resume");
    // Without the moments the resumed run would restart Adam: the weights would differ.
    let c = common::resumed_without_moments(&m, dir.path(), 3, 2);
    assert!(a.projections != c.projections, "the moments had no effect");
}

#[test]
fn sgd_checkpoints_and_model_files_are_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let m = model("bsp", 0.1, "", 0.05);
    assert!(!serde_json::to_string(m.file())
        .unwrap()
        .contains("optimiser"));
    let out = run(
        &m,
        &RunOptions {
            epochs: Some(1),
            out: dir.path().to_path_buf(),
            ..RunOptions::default()
        },
        &mut Silent,
    )
    .unwrap();
    let text = std::fs::read_to_string(out.run_dir.join("checkpoint.json")).unwrap();
    assert!(!text.contains("optimiser"));
    // An explicit sgd is the default, bit for bit.
    let split = data(&m);
    let (_, a) = trained(&m, &split, 4, 1);
    let (_, b) = trained(&model("bsp", 0.1, "{kind: sgd}", 0.05), &split, 4, 1);
    assert!(a == b);
}

#[test]
fn the_validation_refuses_what_cannot_run_naming_the_field() {
    let refused = |text: String, field: &str| {
        let e = Model::from_yaml(&text, None).unwrap_err().to_string();
        assert!(e.contains(field), "{e}");
        e
    };
    // Method 1's per-neuron optimiser runs on both engines.
    let method_one =
        yaml("bsp", 0.1, ADAM, 0.01).replace("method: connections", "method: fixed_points");
    Model::from_yaml(&method_one, None).unwrap();
    Model::from_yaml(&(method_one + "engine: async\n"), None).unwrap();
    refused(
        yaml("bsp", 0.1, "{kind: momentum, beta: 1.0}", 0.01),
        "learning.optimiser.beta",
    );
    refused(
        yaml("bsp", 0.1, "{kind: adam, eps: 0.0}", 0.01),
        "learning.optimiser.eps",
    );
    refused(
        yaml("bsp", 0.1, "{kind: adam, beta2: -0.1}", 0.01),
        "learning.optimiser",
    );
    // The defaults fill in what is left out, and every optimiser runs on the asynchronous
    // engine (tests/optimiser_async.rs).
    let m = model("bsp", 0.1, "{kind: adam}", 0.01);
    assert_eq!(
        m.settings.optimiser,
        bsp_sim::config::Optimiser::Adam {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8
        }
    );
    common::model(&(yaml("bsp", 0.1, "{kind: sgd}", 0.01) + "engine: async\n"));
    common::model(&(yaml("linearised", 0.1, ADAM, 0.01) + "engine: async\n"));
}
