//! Decoupled per-synapse weight decay (`learning.weight_decay`): after one minibatch it has
//! moved each coefficient by exactly −lr·λ·C0 besides the rule's change, for every rule and
//! optimiser; it gives the same weights at any thread count; 0 (the default) changes nothing,
//! bit for bit; and the validation refuses what cannot run, naming the field.

mod common;

use common::{data, trained};

use bsp_sim::Model;

/// The synthetic [6, 8, 4] model on the synchronous engine with `rule`, limiter 0.1, batches
/// of 5, `optimiser` (YAML flow mapping, or "" for none) and `extra` learning fields.
fn yaml(rule: &str, optimiser: &str, lr: f32, extra: &str) -> String {
    common::optimiser_yaml(rule, 0.1, optimiser, lr, extra)
}

const ADAM: &str = "{kind: adam}";

/// The first minibatch's windows run on the initial weights with or without decay, so the
/// rule's change ΔC is the same and C_decay − C_plain = (1 − lr·λ)·C0 + ΔC − (C0 + ΔC)
/// = −lr·λ·C0 per synapse (here lr 0.01, λ 2: −0.02·C0), on both code paths (the plain
/// sgd update and the optimiser) and for every rule.
#[test]
fn one_batch_of_decay_moves_each_synapse_by_minus_lr_lambda_c() {
    for rule in ["bsp", "linearised", "adjoint"] {
        for opt in ["", ADAM] {
            let plain = common::model(&yaml(rule, opt, 0.01, ""));
            let decayed = common::model(&yaml(rule, opt, 0.01, " weight_decay: 2.0,"));
            let split = data(&plain);
            let (c0, a) = trained(&plain, &split, 1, 1);
            let (_, b) = trained(&decayed, &split, 1, 1);
            assert!(a != c0, "{rule} {opt}: did not train");
            for ((c, a), b) in c0.iter().zip(&a).zip(&b) {
                let want = -0.02 * c;
                assert!(
                    (b - a - want).abs() < 1e-6 * (1.0 + c.abs()),
                    "{rule} {opt}: C0 {c}: decay moved it by {} not {want}",
                    b - a
                );
            }
        }
    }
}

#[test]
fn decay_gives_the_same_weights_at_any_thread_count_and_shrinks_them() {
    let norm = |c: &[f32]| c.iter().map(|x| x * x).sum::<f32>().sqrt();
    for rule in ["bsp", "linearised"] {
        let m = common::model(&yaml(rule, ADAM, 0.01, " weight_decay: 5.0,"));
        let split = data(&m);
        let (_, one) = trained(&m, &split, 8, 1);
        let (_, two) = trained(&m, &split, 8, 2);
        let (_, three) = trained(&m, &split, 8, 3);
        assert!(one == two && one == three, "{rule}: depends on threads");
        let (_, plain) = trained(&common::model(&yaml(rule, ADAM, 0.01, "")), &split, 8, 1);
        assert!(norm(&one) < norm(&plain), "{rule}: decay did not shrink C");
    }
}

#[test]
fn zero_decay_is_the_default_bit_for_bit_and_is_not_written() {
    for opt in ["", ADAM] {
        let absent = common::model(&yaml("linearised", opt, 0.01, ""));
        let zero = common::model(&yaml("linearised", opt, 0.01, " weight_decay: 0.0,"));
        assert!(!serde_json::to_string(zero.file())
            .unwrap()
            .contains("weight_decay"));
        let split = data(&absent);
        assert!(trained(&absent, &split, 4, 1) == trained(&zero, &split, 4, 1));
    }
}

#[test]
fn the_validation_refuses_what_cannot_run_naming_the_field() {
    let refused = |text: String, detail: &str| {
        let e = Model::from_yaml(&text, None).unwrap_err().to_string();
        assert!(e.contains("learning.weight_decay"), "{e}");
        assert!(e.contains(detail), "{e}");
    };
    refused(yaml("bsp", "", 0.01, " weight_decay: -0.1,"), ">= 0");
    refused(yaml("bsp", "", 0.01, " weight_decay: .nan,"), ">= 0");
    refused(yaml("bsp", "", 0.01, " weight_decay: .inf,"), ">= 0");
    refused(
        yaml("bsp", "", 0.01, " weight_decay: 100.0,"),
        "< 1 / learning.lr",
    );
    refused(
        yaml("bsp", "", 0.01, " weight_decay: 0.5,")
            .replace("method: connections", "method: fixed_points"),
        "method 2",
    );
    refused(
        yaml("bsp", "", 0.01, " weight_decay: 0.5,") + "engine: async\n",
        "engine: sync",
    );
    // Off, it is accepted wherever the rest of the file is.
    common::model(&(yaml("bsp", "", 0.01, " weight_decay: 0.0,") + "engine: async\n"));
}
