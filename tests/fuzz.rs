//! Fuzzing the readers of outside files (issue 12): model YAML, IDX files, checkpoints and
//! trace specs, with proptest-generated and mutated inputs. Whatever the input, the reader
//! returns a value or an error whose exit code is 2 (bad input) — never a panic. Thousands
//! of cases, in seconds.

use bsp_sim::checkpoint::Checkpoint;
use bsp_sim::data::idx::{read_idx_images, read_idx_labels};
use bsp_sim::run::{build_engine, restore};
use bsp_sim::trace::TraceSection;
use bsp_sim::{Error, Model};
use proptest::prelude::*;
use serde_json::Value;

const MODEL: &str = r#"
name: fuzz
seed: 3
data:
  dataset: synthetic
  synthetic: {classes: 4, dim: 6, train: 40, test: 20, noise: 0.3}
network:
  layers: [6, 8, 4]
  connectivity: [{kind: full}, {kind: random, fan_in: 3}]
  init: {distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}
neuron: {k1: 2.0, k2: 1.0, k3: 1.0, input: J, output: S, clamp: true}
integration: {method: euler, dt: 0.1, forward_window: 2.0, backward_window: 2.0}
error: {kind: softmax, beta: 3.0}
learning: {method: connections, lr: 0.1, kt: 0.0, batch_size: 10, epochs: 2}
trace: {layers: all, neurons: 0-3, samples: every:5}
"#;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Edits of a byte string: overwrite, insert, delete or cut at a position.
#[derive(Debug, Clone)]
enum ByteEdit {
    Set(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Cut(usize),
}

fn byte_edits() -> impl Strategy<Value = Vec<ByteEdit>> {
    let edit = prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        any::<usize>().prop_map(ByteEdit::Delete),
        any::<usize>().prop_map(ByteEdit::Cut),
    ];
    prop::collection::vec(edit, 1..6)
}

fn apply(bytes: &[u8], edits: &[ByteEdit]) -> Vec<u8> {
    let mut v = bytes.to_vec();
    for e in edits {
        let at = |i: usize, len: usize| if len == 0 { 0 } else { i % len };
        match *e {
            ByteEdit::Set(i, b) if !v.is_empty() => {
                let i = at(i, v.len());
                v[i] = b;
            }
            ByteEdit::Insert(i, b) => {
                let i = at(i, v.len() + 1);
                v.insert(i, b);
            }
            ByteEdit::Delete(i) if !v.is_empty() => {
                let i = at(i, v.len());
                v.remove(i);
            }
            ByteEdit::Cut(i) => v.truncate(at(i, v.len() + 1)),
            _ => {}
        }
    }
    v
}

/// Values that break assumptions: zero, negative, huge, fractional, out of type.
fn odd_number() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("-1".to_string()),
        Just("1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("4294967296".to_string()),
        Just("1e30".to_string()),
        Just("-0.0".to_string()),
        Just(".nan".to_string()),
        Just(".inf".to_string()),
        Just("0.000001".to_string()),
        Just("[]".to_string()),
        Just("~".to_string()),
        (0u64..100_000).prop_map(|n| n.to_string()),
    ]
}

fn assert_exit_2(e: impl Into<Error>, what: &str) {
    let e: Error = e.into();
    assert_eq!(e.exit_code(), 2, "{what}: {e}");
}

proptest! {
    #![proptest_config(config())]

    /// Byte-level mutations of a valid model file.
    #[test]
    fn model_yaml_mutated(edits in byte_edits()) {
        let text = String::from_utf8_lossy(&apply(MODEL.as_bytes(), &edits)).into_owned();
        if let Err(e) = Model::from_yaml(&text, None) {
            assert_exit_2(e, "model yaml");
        }
    }

    /// Every number of a valid model file replaced by an odd one, a few at a time.
    #[test]
    fn model_yaml_odd_numbers(picks in prop::collection::vec((any::<usize>(), odd_number()), 1..4)) {
        let mut tokens: Vec<String> = split_numbers(MODEL);
        let numbers: Vec<usize> = (0..tokens.len()).filter(|&i| i % 2 == 1).collect();
        for (k, n) in picks {
            tokens[numbers[k % numbers.len()]] = n;
        }
        let text = tokens.concat();
        match Model::from_yaml(&text, None) {
            Ok(m) => {
                // A model that validates must also build, within the memory it was checked for.
                let est = bsp_sim::config::memory::estimate(m.file()).total.unwrap();
                prop_assert!(est <= bsp_sim::config::memory::limit().0);
                if est < 1 << 24 {
                    build_engine(&m, m.seed, 1).unwrap();
                }
            }
            Err(e) => assert_exit_2(e, "model yaml"),
        }
    }

    /// IDX image and label files, raw and gzipped, mutated.
    #[test]
    fn idx_files_mutated(edits in byte_edits(), gz in any::<bool>(), labels in any::<bool>()) {
        let good = if labels { idx_labels(&[1, 2, 3, 9]) } else { idx_images(3, 2, 2, &[9; 12]) };
        let mut bytes = if gz { gzip(&good) } else { good };
        bytes = apply(&bytes, &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, &bytes).unwrap();
        let r = if labels {
            read_idx_labels(&path).map(|_| ())
        } else {
            read_idx_images(&path).map(|_| ())
        };
        if let Err(e) = r {
            assert_exit_2(e, "idx");
        }
    }

    /// IDX headers with any dimensions: never an allocation of the announced size.
    #[test]
    fn idx_headers_any_dimensions(n in any::<u32>(), rows in any::<u32>(), cols in any::<u32>(), extra in 0usize..64) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, idx_images(n, rows, cols, &vec![1; extra])).unwrap();
        if let Err(e) = read_idx_images(&path) {
            assert_exit_2(e, "idx");
        }
    }

    /// Trace specs built from the spec's own vocabulary, and arbitrary text.
    #[test]
    fn trace_specs(spec in spec_text(), junk in ".{0,40}") {
        for text in [spec, junk] {
            match TraceSection::parse(&text) {
                Ok(section) => {
                    if let Err(e) = section.resolve(&[6, 8, 4]) {
                        assert_exit_2(trace_error(e), "trace spec");
                    }
                }
                Err(e) => assert_exit_2(trace_error(e), "trace spec"),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..config() })]

    /// A valid checkpoint (dense and sparse pairs) with a few of its values replaced, or
    /// arrays shortened: loaded, checked and restored into the model's engine, or refused.
    #[test]
    fn checkpoints_mutated(edits in prop::collection::vec((any::<usize>(), json_value()), 1..4), cut in any::<bool>()) {
        let mut v = checkpoint_fixture();
        for (k, value) in edits {
            mutate(&mut v, k, value, cut);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        std::fs::write(&path, v.to_string()).unwrap();
        let result: Result<(), Error> = (|| {
            let (ck, file) = Checkpoint::load(&path)?;
            let m = ck.model(&file, None)?;
            let mut engine = build_engine(&m, ck.seed, 1)?;
            restore(engine.as_mut(), &ck, &file)?;
            Ok(())
        })();
        if let Err(e) = result {
            assert_exit_2(e, "checkpoint");
        }
    }

    /// A checkpoint's bytes mutated (cut, flipped).
    #[test]
    fn checkpoint_bytes_mutated(edits in byte_edits()) {
        let bytes = apply(checkpoint_fixture().to_string().as_bytes(), &edits);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.json");
        std::fs::write(&path, bytes).unwrap();
        if let Err(e) = Checkpoint::load(&path) {
            assert_exit_2(e, "checkpoint");
        }
    }
}

/// `MODEL` split into alternating text and number tokens (numbers at odd indices).
fn split_numbers(text: &str) -> Vec<String> {
    let mut tokens = vec![String::new()];
    let mut in_number = false;
    for c in text.chars() {
        let digit = c.is_ascii_digit() || (in_number && c == '.');
        if digit != in_number {
            tokens.push(String::new());
            in_number = digit;
        }
        tokens.last_mut().unwrap().push(c);
    }
    tokens
}

fn spec_text() -> impl Strategy<Value = String> {
    let key = prop_oneof![
        Just("layers"),
        Just("neurons"),
        Just("samples"),
        Just("waves"),
        Just("what"),
        Just("every"),
        Just("theta"),
        Just("theta_backward"),
        Just("vcd"),
        Just("bogus"),
    ];
    let value = prop_oneof![
        Just("all".to_string()),
        Just("every:0".to_string()),
        Just("every:3".to_string()),
        Just("forward,backward".to_string()),
        Just("events".to_string()),
        Just("true".to_string()),
        Just("-1".to_string()),
        Just("18446744073709551615".to_string()),
        Just("3-1".to_string()),
        Just("0-18446744073709551615".to_string()),
        Just("nan".to_string()),
        Just("".to_string()),
        "[0-9,:-]{0,12}",
    ];
    prop::collection::vec((key, value), 0..5).prop_map(|kv| {
        kv.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    })
}

fn trace_error(e: bsp_sim::trace::spec::SpecError) -> Error {
    Error::Trace(bsp_sim::error::TraceError {
        origin: "--trace".into(),
        key: e.key,
        detail: e.detail,
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        Just(serde_json::json!(0)),
        Just(serde_json::json!(-1)),
        Just(serde_json::json!(1)),
        Just(serde_json::json!(7)),
        Just(serde_json::json!(u64::MAX)),
        Just(serde_json::json!(1e30)),
        Just(serde_json::json!(-0.5)),
        Just(serde_json::json!([])),
        Just(serde_json::json!("x")),
        (0u32..50).prop_map(|n| serde_json::json!(n)),
    ]
}

/// Replaces the `k`-th leaf of `v` (in document order) by `value`, or with `cut`, removes
/// the last element of the array holding it.
fn mutate(v: &mut Value, k: usize, value: Value, cut: bool) {
    let mut leaves = Vec::new();
    collect_leaves(v, String::new(), &mut leaves);
    let pointer = &leaves[k % leaves.len()];
    if cut {
        let parent = &pointer[..pointer.rfind('/').unwrap_or(0)];
        if let Some(Value::Array(a)) = v.pointer_mut(parent) {
            a.pop();
            return;
        }
    }
    if let Some(slot) = v.pointer_mut(pointer) {
        *slot = value;
    }
}

fn collect_leaves(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => m
            .iter()
            .for_each(|(k, x)| collect_leaves(x, format!("{at}/{k}"), out)),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| collect_leaves(x, format!("{at}/{i}"), out)),
        _ => out.push(at),
    }
}

/// A valid checkpoint of the model's initial network, built once.
fn checkpoint_fixture() -> Value {
    use std::sync::OnceLock;
    static FIXTURE: OnceLock<Value> = OnceLock::new();
    FIXTURE
        .get_or_init(|| {
            let m = Model::from_yaml(MODEL, None).unwrap();
            let engine = build_engine(&m, m.seed, 1).unwrap();
            let ck = Checkpoint::new(
                m.file().clone(),
                bsp_sim::checkpoint::Plan {
                    seed: m.seed,
                    epochs_done: 0,
                    epochs_planned: 2,
                    train_limit: None,
                    test_limit: None,
                    threads: 1,
                },
                engine.projections().to_vec(),
                engine.neurons().iter().map(|n| n.state()).collect(),
                vec![],
            );
            serde_json::from_str(&ck.to_json()).unwrap()
        })
        .clone()
}

fn idx_images(n: u32, rows: u32, cols: u32, data: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x803, n, rows, cols] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(data);
    v
}

fn idx_labels(labels: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    for x in [0x801, labels.len() as u32] {
        v.extend_from_slice(&x.to_be_bytes());
    }
    v.extend_from_slice(labels);
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}
