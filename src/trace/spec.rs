//! What to record: the `trace:` section of a model file and the compact `--trace` spec
//! string, both parsed into a [`TraceSection`] and resolved against the network's layer
//! sizes into a [`Selection`].
//!
//! The spec string is `key=value` pairs separated by `;`, e.g.
//! `layers=1,3;neurons=0-9;samples=every:100;waves=forward,backward;what=events,states;every=5`.
//!
//! | key | values | default |
//! |---|---|---|
//! | `layers` | `all`, or ids and ranges: `1,3`, `0-2` | `all` |
//! | `neurons` | `all`, `spread:N` (N neurons evenly spaced across each layer, all of a smaller one), or ids and ranges per layer (clipped to each layer's size) | `spread:10` |
//! | `samples` | `all`, `every:N` (dataset index a multiple of N), or ids and ranges | `every:1000` |
//! | `waves` | `forward`, `backward`, or both (`forward,backward`) | both |
//! | `what` | `events`, `states`, or both | both |
//! | `every` | state interval in integration steps, >= 1 | `5` |
//! | `theta` | send-on-delta threshold on D, > 0 | `0.05` |
//! | `theta_backward` | threshold on D̂ (the backward wave weakens layer by layer) | `theta` |
//! | `vcd` | `true` or `false`: also write `waves.vcd` | `true` |
//!
//! A key given on the command line overrides the same key of the model's `trace:` section.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{SampleSelect, Selection, Wave, What};

/// Keys of the spec string, for messages.
pub const KEYS: &str = "layers, neurons, samples, waves, what, every, theta, theta_backward, vcd";

/// Ten neurons spread across each layer: the first ten of an image's input layer are its
/// blank corner, and spread neurons show the wave wherever it runs.
pub const DEFAULT_NEURONS: &str = "spread:10";
pub const DEFAULT_SAMPLES: &str = "every:1000";
pub const DEFAULT_EVERY: usize = 5;
pub const DEFAULT_THETA: f32 = 0.05;
/// Thresholds of [`TraceSection::everything`] (`bsp-sim trace`): fine enough to show the
/// backward wave of `models/mnist.yaml` down to layer 1, where D̂ stays below 0.03 (it
/// shrinks about tenfold per layer from the output's ~0.5).
pub const EVERYTHING_THETA: f32 = 0.01;
pub const EVERYTHING_THETA_BACKWARD: f32 = 0.002;

/// A list of ids in YAML: one number, a list of numbers, or the spec syntax as text
/// (`all`, `0-9`, `every:100`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum Ids {
    One(usize),
    Many(Vec<usize>),
    Text(String),
}

impl Ids {
    fn text(&self) -> String {
        match self {
            Ids::One(n) => n.to_string(),
            Ids::Many(v) => v.iter().map(usize::to_string).collect::<Vec<_>>().join(","),
            Ids::Text(s) => s.clone(),
        }
    }
}

/// The `trace:` section of a model file (every field optional; see the module doc for the
/// defaults). Also the parsed form of a `--trace` spec string.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraceSection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layers: Option<Ids>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub neurons: Option<Ids>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<Ids>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waves: Option<Vec<Wave>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub what: Option<Vec<What>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theta_backward: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vcd: Option<bool>,
}

/// A spec that does not parse or resolve: the key (or YAML field) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    pub key: String,
    pub detail: String,
}

fn err(key: &str, detail: impl Into<String>) -> SpecError {
    SpecError {
        key: key.to_string(),
        detail: detail.into(),
    }
}

impl TraceSection {
    /// Everything: all layers, all neurons, all samples, both waves, events and states at
    /// every step, with fine thresholds (what `bsp-sim trace` records).
    pub fn everything() -> TraceSection {
        TraceSection {
            layers: Some(Ids::Text("all".into())),
            neurons: Some(Ids::Text("all".into())),
            samples: Some(Ids::Text("all".into())),
            waves: Some(Wave::BOTH.to_vec()),
            what: Some(vec![What::Events, What::States]),
            every: Some(1),
            theta: Some(EVERYTHING_THETA),
            theta_backward: Some(EVERYTHING_THETA_BACKWARD),
            vcd: Some(true),
        }
    }

    /// Parses a spec string (`key=value;key=value`). An empty string gives the defaults.
    pub fn parse(spec: &str) -> Result<TraceSection, SpecError> {
        let mut s = TraceSection::default();
        for part in spec.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let Some((key, value)) = part.split_once('=') else {
                return Err(err(
                    part,
                    format!("is not `key=value`; the keys are {KEYS}"),
                ));
            };
            let (key, value) = (key.trim(), value.trim());
            match key {
                "layers" => s.layers = Some(Ids::Text(value.into())),
                "neurons" => s.neurons = Some(Ids::Text(value.into())),
                "samples" => s.samples = Some(Ids::Text(value.into())),
                "waves" => s.waves = Some(parse_words(key, value, parse_wave)?),
                "what" => s.what = Some(parse_words(key, value, parse_what)?),
                "every" => {
                    s.every = Some(value.parse().map_err(|_| {
                        err(key, format!("`{value}` is not a whole number of steps"))
                    })?)
                }
                "theta" => {
                    s.theta = Some(
                        value
                            .parse()
                            .map_err(|_| err(key, format!("`{value}` is not a number")))?,
                    )
                }
                "theta_backward" => {
                    s.theta_backward = Some(
                        value
                            .parse()
                            .map_err(|_| err(key, format!("`{value}` is not a number")))?,
                    )
                }
                "vcd" => {
                    s.vcd = Some(
                        value
                            .parse()
                            .map_err(|_| err(key, format!("`{value}` is not true or false")))?,
                    )
                }
                other => {
                    return Err(err(
                        other,
                        format!("is not a trace key; the keys are {KEYS}"),
                    ))
                }
            }
        }
        Ok(s)
    }

    /// `self` with every key that `over` sets replaced by `over`'s.
    pub fn merged(&self, over: &TraceSection) -> TraceSection {
        TraceSection {
            layers: over.layers.clone().or_else(|| self.layers.clone()),
            neurons: over.neurons.clone().or_else(|| self.neurons.clone()),
            samples: over.samples.clone().or_else(|| self.samples.clone()),
            waves: over.waves.clone().or_else(|| self.waves.clone()),
            what: over.what.clone().or_else(|| self.what.clone()),
            every: over.every.or(self.every),
            theta: over.theta.or(self.theta),
            theta_backward: over.theta_backward.or(self.theta_backward),
            vcd: over.vcd.or(self.vcd),
        }
    }

    /// The canonical spec string of this section with every default filled in.
    pub fn to_spec(&self) -> String {
        let list = |v: Vec<&str>| v.join(",");
        format!(
            "layers={};neurons={};samples={};waves={};what={};every={};theta={};theta_backward={};vcd={}",
            self.layers.as_ref().map_or("all".into(), Ids::text),
            self.neurons
                .as_ref()
                .map_or(DEFAULT_NEURONS.into(), Ids::text),
            self.samples
                .as_ref()
                .map_or(DEFAULT_SAMPLES.into(), Ids::text),
            list(self.waves().iter().map(|w| w.as_str()).collect()),
            list(
                self.what()
                    .iter()
                    .map(|w| match w {
                        What::Events => "events",
                        What::States => "states",
                    })
                    .collect()
            ),
            self.every.unwrap_or(DEFAULT_EVERY),
            self.theta.unwrap_or(DEFAULT_THETA),
            self.theta_backward
                .or(self.theta)
                .unwrap_or(DEFAULT_THETA),
            self.vcd.unwrap_or(true),
        )
    }

    fn waves(&self) -> Vec<Wave> {
        self.waves.clone().unwrap_or_else(|| Wave::BOTH.to_vec())
    }

    fn what(&self) -> Vec<What> {
        self.what
            .clone()
            .unwrap_or_else(|| vec![What::Events, What::States])
    }

    /// Resolves the section against a network with `layers` neurons per layer.
    pub fn resolve(&self, layers: &[usize]) -> Result<Selection, SpecError> {
        let layer_ids = match &self.layers {
            None => (0..layers.len()).collect(),
            Some(ids) => parse_ids("layers", &ids.text(), Some(layers.len()))?,
        };
        if let Some(&bad) = layer_ids.iter().find(|&&l| l >= layers.len()) {
            return Err(err(
                "layers",
                format!(
                    "names layer {bad} but the network has {} layers (0..={}); pick layers from network.layers",
                    layers.len(),
                    layers.len() - 1
                ),
            ));
        }
        let widest = layer_ids.iter().map(|&l| layers[l]).max().unwrap_or(0);
        let neuron_text = self
            .neurons
            .as_ref()
            .map_or(DEFAULT_NEURONS.into(), Ids::text);
        let neurons = match neuron_text.trim().strip_prefix("spread:") {
            Some(count) => {
                let count: usize =
                    count
                        .trim()
                        .parse()
                        .ok()
                        .filter(|&n| n >= 1)
                        .ok_or_else(|| {
                            err(
                                "neurons",
                                format!("`{neuron_text}`: spread:N needs a whole number N >= 1"),
                            )
                        })?;
                (0..layers.len())
                    .map(|l| {
                        if layer_ids.contains(&l) {
                            spread(layers[l], count)
                        } else {
                            Vec::new()
                        }
                    })
                    .collect::<Vec<Vec<usize>>>()
            }
            None => {
                let neuron_ids = parse_ids("neurons", &neuron_text, Some(widest))?;
                (0..layers.len())
                    .map(|l| {
                        if layer_ids.contains(&l) {
                            neuron_ids.range(..layers[l]).copied().collect()
                        } else {
                            Vec::new()
                        }
                    })
                    .collect::<Vec<Vec<usize>>>()
            }
        };
        if neurons.iter().all(Vec::is_empty) {
            return Err(err(
                "neurons",
                format!(
                    "`{neuron_text}` selects no neuron: the widest selected layer has {widest} neurons (0..={}); ranges are clipped to each layer",
                    widest.saturating_sub(1)
                ),
            ));
        }
        let sample_text = self
            .samples
            .as_ref()
            .map_or(DEFAULT_SAMPLES.into(), Ids::text);
        let samples = match sample_text.as_str() {
            "all" => SampleSelect::All,
            t if t.starts_with("every:") => {
                let n: usize = t["every:".len()..].trim().parse().map_err(|_| {
                    err(
                        "samples",
                        format!("`{t}`: every:N needs a whole number N >= 1"),
                    )
                })?;
                if n == 0 {
                    return Err(err(
                        "samples",
                        "every:0 selects nothing; use every:1 or all",
                    ));
                }
                SampleSelect::Every(n)
            }
            t => SampleSelect::Ids(parse_ids("samples", t, None)?),
        };
        let waves = self.waves();
        if waves.is_empty() {
            return Err(err("waves", "is empty; use forward, backward or both"));
        }
        let what = self.what();
        if what.is_empty() {
            return Err(err("what", "is empty; use events, states or both"));
        }
        let every = self.every.unwrap_or(DEFAULT_EVERY);
        if every == 0 {
            return Err(err("every", "must be at least 1 step"));
        }
        let theta = self.theta.unwrap_or(DEFAULT_THETA);
        let theta_backward = self.theta_backward.unwrap_or(theta);
        for (key, t) in [("theta", theta), ("theta_backward", theta_backward)] {
            if !(t.is_finite() && t > 0.0) {
                return Err(err(
                    key,
                    format!("must be a number > 0, got {t}; e.g. 0.05"),
                ));
            }
        }
        Ok(Selection {
            neurons,
            samples,
            waves,
            events: what.contains(&What::Events),
            states: what.contains(&What::States),
            every,
            theta,
            theta_backward,
            vcd: self.vcd.unwrap_or(true),
        })
    }
}

/// Writes sorted ids compactly as ranges: `[0, 1, 2, 5]` becomes `0-2,5` (empty: ``).
pub fn ranges(ids: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut k = i;
        while k + 1 < ids.len() && ids[k + 1] == ids[k] + 1 {
            k += 1;
        }
        parts.push(if k == i {
            ids[i].to_string()
        } else {
            format!("{}-{}", ids[i], ids[k])
        });
        i = k + 1;
    }
    parts.join(",")
}

/// Reads back what [`ranges`] wrote.
pub fn parse_ranges(text: &str) -> Result<Vec<usize>, SpecError> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    Ok(parse_ids("neurons", text, None)?.into_iter().collect())
}

fn parse_words<T>(key: &str, value: &str, one: fn(&str) -> Option<T>) -> Result<Vec<T>, SpecError> {
    value
        .split(',')
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .map(|w| one(w).ok_or_else(|| err(key, format!("`{w}` is not one of {}", allowed(key)))))
        .collect()
}

fn allowed(key: &str) -> &'static str {
    match key {
        "waves" => "forward, backward, both",
        _ => "events, states",
    }
}

fn parse_wave(w: &str) -> Option<Wave> {
    match w {
        "forward" | "fwd" => Some(Wave::Forward),
        "backward" | "bwd" => Some(Wave::Backward),
        _ => None,
    }
}

fn parse_what(w: &str) -> Option<What> {
    match w {
        "events" => Some(What::Events),
        "states" => Some(What::States),
        _ => None,
    }
}

/// Parses `all` (needs `all_below`), or comma-separated ids and inclusive ranges `a-b`.
/// `count` neuron ids evenly spaced across a layer of `size`, each in the middle of its
/// share of the layer (every neuron when the layer has no more than `count`).
pub fn spread(size: usize, count: usize) -> Vec<usize> {
    if size <= count {
        return (0..size).collect();
    }
    (0..count)
        .map(|k| (2 * k + 1) * size / (2 * count))
        .collect()
}

fn parse_ids(
    key: &str,
    text: &str,
    all_below: Option<usize>,
) -> Result<BTreeSet<usize>, SpecError> {
    let text = text.trim();
    if text == "all" {
        return match all_below {
            Some(n) => Ok((0..n).collect()),
            None => Err(err(key, "`all` is not allowed here")),
        };
    }
    let bad = |item: &str| {
        err(
            key,
            format!("`{item}` is not an id or a range; write e.g. `3`, `0-9`, `1,4,7` (or, for neurons, `spread:10`)"),
        )
    };
    let mut ids = BTreeSet::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(bad(text));
        }
        match item.split_once('-') {
            Some((a, b)) => {
                let a: usize = a.trim().parse().map_err(|_| bad(item))?;
                let b: usize = b.trim().parse().map_err(|_| bad(item))?;
                if a > b {
                    return Err(err(key, format!("range `{item}` is empty; write low-high")));
                }
                if b - a > 100_000_000 {
                    return Err(err(key, format!("range `{item}` is too large")));
                }
                ids.extend(a..=b);
            }
            None => {
                ids.insert(item.parse().map_err(|_| bad(item))?);
            }
        }
    }
    Ok(ids)
}
