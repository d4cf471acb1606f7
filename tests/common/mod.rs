//! Helpers shared by the integration tests.
#![allow(dead_code)]

use bsp_sim::data::Dataset;
use bsp_sim::Model;

/// A model from YAML text; panics with the error if it does not validate.
pub fn model(yaml: &str) -> Model {
    Model::from_yaml(yaml, None).unwrap_or_else(|e| panic!("test model: {e}"))
}

/// A small synthetic model: `layers`, full wiring, softmax error, the given extra YAML.
pub fn synthetic_yaml(layers: &str, method: &str, error: &str, lr: f32) -> String {
    format!(
        r#"
name: test
seed: 3
data:
  dataset: synthetic
  synthetic: {{classes: 4, dim: 6, train: 200, test: 100, noise: 0.3}}
network:
  layers: {layers}
  connectivity: [{{kind: full}}]
  init: {{distribution: normal, mean: 0.0, std: 1.0, fan_in_scaled: true}}
integration: {{dt: 0.1, forward_window: 3.0, backward_window: 3.0}}
error: {{kind: {error}, beta: 3.0}}
learning: {{method: {method}, lr: {lr}, batch_size: 10, epochs: 3}}
"#
    )
}

/// A dataset from explicit images and labels.
pub fn dataset(images: Vec<Vec<f32>>, labels: Vec<u8>, classes: usize) -> Dataset {
    let dim = images[0].len();
    Dataset {
        name: "test".into(),
        images: images.concat(),
        labels,
        dim,
        classes,
    }
}
