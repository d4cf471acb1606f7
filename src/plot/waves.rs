//! Wave plots of a trace directory: event rasters per layer, D(t) and D̂(t) of chosen
//! neurons, and events per layer over time. The CSV files are streamed once each; only
//! the drawn presentation's rows and the histogram are kept.

use std::collections::HashSet;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{tick, time_chart, Key, YAxis};
use super::elements::Elements;
use super::raster::{Raster, RasterStack};
use super::{padded, save, text, Figure, PlotOptions, PlotOutcome, PALETTE};
use crate::error::PlotError;
use crate::trace::csv::{rows, EventRow, StateRow};
use crate::trace::manifest::{Manifest, TraceState};

/// Time bins of the events-per-layer histogram.
const BINS: usize = 50;

/// "epoch E sample S, ..." for a message (the first 20, then how many more).
fn list_presentations(seen: &std::collections::BTreeSet<(usize, usize)>) -> String {
    if seen.is_empty() {
        return "no presentation".into();
    }
    let mut parts: Vec<String> = seen
        .iter()
        .take(20)
        .map(|(e, s)| format!("epoch {e} sample {s}"))
        .collect();
    if seen.len() > 20 {
        parts.push(format!("and {} more", seen.len() - 20));
    }
    parts.join(", ")
}

/// "layer 0: neurons 0-9; layer 2: neurons 1, 4" for a message.
fn list_neurons(recorded: &[Vec<usize>]) -> String {
    let layers: Vec<String> = recorded
        .iter()
        .enumerate()
        .filter(|(_, ns)| !ns.is_empty())
        .map(|(l, ns)| format!("layer {l}: neurons {}", ranges(ns)))
        .collect();
    if layers.is_empty() {
        "no neuron".into()
    } else {
        layers.join("; ")
    }
}

/// Sorted ids as ranges: `0-9, 12, 20-21`.
fn ranges(ids: &[usize]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let mut j = i;
        while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
            j += 1;
        }
        out.push(if j > i {
            format!("{}-{}", ids[i], ids[j])
        } else {
            ids[i].to_string()
        });
        i = j + 1;
    }
    out.join(", ")
}

/// Draws the wave plots of the trace directory `trace` into `out` (file names prefixed).
pub fn plot_trace(
    trace: &Path,
    out: &Path,
    prefix: &str,
    title: &str,
    opts: &PlotOptions,
    outcome: &mut PlotOutcome,
) -> Result<(), PlotError> {
    let input = |detail: String| PlotError::Input {
        path: trace.to_path_buf(),
        detail,
    };
    let manifest = Manifest::read(trace).map_err(input)?;
    let state = manifest.state(trace);
    if !matches!(state, TraceState::Ended(_)) {
        outcome.notes.push(format!("{}: {state}", trace.display()));
    }
    // Only what the writer's last flush left whole.
    let complete = manifest.complete.clone();
    let window = manifest.time.forward_window;
    let period = window + manifest.time.backward_window;
    let layers = manifest.layers.len();
    let wanted = |epoch: usize, sample: usize| {
        opts.sample.is_none_or(|s| s == sample) && opts.epoch.is_none_or(|e| e == epoch)
    };
    let mut chosen: Option<(usize, usize)> = None;
    let recorded = manifest.selection.neuron_ids();

    // Events: the chosen presentation's, and the histogram over all presentations.
    let mut shown_events: Vec<EventRow> = Vec::new();
    let mut counts = vec![vec![0u64; BINS]; layers];
    let mut presentations: HashSet<(usize, usize)> = HashSet::new();
    // Every presentation in either file, for the message when --sample/--epoch misses.
    let mut seen: std::collections::BTreeSet<(usize, usize)> = Default::default();
    if let Some(name) = &manifest.files.events {
        for row in
            rows::<EventRow>(&trace.join(name), complete.events.map(|e| e.bytes)).map_err(input)?
        {
            let e = row.map_err(input)?;
            if chosen.is_none() && wanted(e.epoch, e.sample) {
                chosen = Some((e.epoch, e.sample));
            }
            if chosen == Some((e.epoch, e.sample)) {
                shown_events.push(e);
            }
            presentations.insert((e.epoch, e.sample));
            seen.insert((e.epoch, e.sample));
            let bin = ((e.time / period * BINS as f64) as usize).min(BINS - 1);
            if let Some(c) = counts.get_mut(e.layer) {
                c[bin] += 1;
            }
        }
    }
    // States of the chosen neurons in the chosen presentation.
    let neurons: Vec<(usize, usize)> = if opts.neurons.is_empty() {
        recorded
            .iter()
            .enumerate()
            .filter_map(|(l, ns)| ns.first().map(|&j| (l, j)))
            .collect()
    } else {
        for &(l, j) in &opts.neurons {
            if !recorded.get(l).is_some_and(|ns| ns.contains(&j)) {
                return Err(PlotError::NotRecorded {
                    what: format!("--neurons {l}:{j} (layer {l}, neuron {j})"),
                    trace: trace.to_path_buf(),
                    recorded: list_neurons(&recorded),
                });
            }
        }
        opts.neurons.clone()
    };
    let mut shown_states: Vec<StateRow> = Vec::new();
    if let Some(name) = &manifest.files.states {
        for row in
            rows::<StateRow>(&trace.join(name), complete.states.map(|e| e.bytes)).map_err(input)?
        {
            let s = row.map_err(input)?;
            seen.insert((s.epoch, s.sample));
            if chosen.is_none() && wanted(s.epoch, s.sample) {
                chosen = Some((s.epoch, s.sample));
            }
            if chosen == Some((s.epoch, s.sample)) && neurons.contains(&(s.layer, s.neuron)) {
                shown_states.push(s);
            }
        }
    }
    let Some((epoch, sample)) = chosen else {
        if opts.sample.is_some() || opts.epoch.is_some() {
            let what = match (opts.sample, opts.epoch) {
                (Some(s), Some(e)) => format!("sample {s} in epoch {e}"),
                (Some(s), None) => format!("sample {s}"),
                (None, Some(e)) => format!("epoch {e}"),
                (None, None) => unreachable!("checked above"),
            };
            return Err(PlotError::NotRecorded {
                what,
                trace: trace.to_path_buf(),
                recorded: list_presentations(&seen),
            });
        }
        outcome.notes.push(format!(
            "{}: no recorded presentation: no wave plots",
            trace.display(),
        ));
        return Ok(());
    };
    let which = format!("sample {sample}, epoch {epoch}");

    if manifest.files.events.is_some() {
        for (l, ns) in recorded.iter().enumerate() {
            if ns.is_empty() {
                continue;
            }
            let fig = Raster {
                title: format!(
                    "{title}: layer {l} events ({which}, theta {} / {})",
                    tick(&(manifest.selection.theta as f64)),
                    tick(&(manifest.selection.theta_backward as f64))
                ),
                window,
                period,
                neurons: ns.clone(),
                events: shown_events
                    .iter()
                    .filter(|e| e.layer == l)
                    .copied()
                    .collect(),
            };
            outcome
                .files
                .extend(save(&fig, out, &format!("{prefix}raster-layer{l}"))?);
        }
        let layers: Vec<(usize, Vec<usize>)> = recorded
            .iter()
            .enumerate()
            .filter(|(_, ns)| !ns.is_empty())
            .map(|(l, ns)| (l, ns.clone()))
            .collect();
        if layers.len() > 1 {
            let fig = RasterStack {
                title: format!(
                    "{title}: events of every recorded layer ({which}, theta {} / {})",
                    tick(&(manifest.selection.theta as f64)),
                    tick(&(manifest.selection.theta_backward as f64))
                ),
                window,
                period,
                layers,
                events: shown_events.clone(),
            };
            outcome
                .files
                .extend(save(&fig, out, &format!("{prefix}raster-layers"))?);
        }
        let n = presentations.len().max(1) as f64;
        let fig = EventsPerLayer {
            title: format!(
                "{title}: events per neuron over time, per layer ({})",
                crate::text::plural(presentations.len(), "presentation")
            ),
            window,
            period,
            series: counts
                .iter()
                .enumerate()
                .filter(|(l, _)| !recorded[*l].is_empty())
                .map(|(l, c)| {
                    let per = n * recorded[l].len().max(1) as f64;
                    (l, c.iter().map(|&k| k as f64 / per).collect())
                })
                .collect(),
        };
        outcome
            .files
            .extend(save(&fig, out, &format!("{prefix}events-per-layer"))?);
    } else {
        outcome.notes.push("no events recorded: no rasters".into());
    }

    if shown_states.is_empty() {
        outcome.notes.push(format!(
            "no states of {neurons:?} in {which}: no signals or elements plots (record what=states, pick --neurons among the recorded)"
        ));
    } else {
        let fig = Signals {
            title: format!("{title}: D(t) then D̂(t) ({which})"),
            window,
            period,
            series: neurons
                .iter()
                .map(|&(l, j)| {
                    let points = shown_states
                        .iter()
                        .filter(|s| s.layer == l && s.neuron == j)
                        .map(|s| (s.time, s.signal as f64))
                        .collect();
                    (format!("layer {l} neuron {j}"), points)
                })
                .filter(|(_, p): &(String, Vec<(f64, f64)>)| !p.is_empty())
                .collect(),
        };
        outcome
            .files
            .extend(save(&fig, out, &format!("{prefix}signals"))?);
        for &(l, j) in &neurons {
            let states: Vec<StateRow> = shown_states
                .iter()
                .filter(|s| s.layer == l && s.neuron == j)
                .copied()
                .collect();
            if states.is_empty() {
                continue;
            }
            let fig = Elements {
                title: format!("{title}: elements of layer {l} neuron {j} ({which})"),
                window,
                period,
                states,
            };
            outcome.files.extend(save(
                &fig,
                out,
                &format!("{prefix}elements-layer{l}-neuron{j}"),
            )?);
        }
    }
    Ok(())
}

/// D(t) over the forward window and D̂(t) over the backward window of chosen neurons.
struct Signals {
    title: String,
    window: f64,
    period: f64,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

impl Figure for Signals {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let ys = self.series.iter().flat_map(|s| s.1.iter().map(|p| p.1));
        let (lo, hi) = ys.fold((0.0f64, 0.0f64), |(a, b), y| (a.min(y), b.max(y)));
        let y = padded(lo, hi);
        let keys: Vec<Key> = self
            .series
            .iter()
            .enumerate()
            .map(|(k, (name, _))| Key {
                colour: PALETTE[k % 10],
                line: true,
                label: name.clone(),
            })
            .collect();
        let mut chart = time_chart(
            root,
            &self.title,
            &keys,
            self.period,
            self.window,
            YAxis {
                range: y,
                desc: "output deviation D, D̂ (element units)",
                labels: None,
                ticks: 10,
            },
        )?;
        for (k, (_, points)) in self.series.iter().enumerate() {
            let style = PALETTE[k % 10].stroke_width(2);
            // Forward and backward windows as two pieces, so no line joins them at T.
            let (fwd, bwd): (Vec<_>, Vec<_>) = points.iter().partition(|p| p.0 <= self.window);
            chart
                .draw_series(LineSeries::new(fwd, style))
                .map_err(text)?;
            chart
                .draw_series(LineSeries::new(bwd, style))
                .map_err(text)?;
        }
        Ok(())
    }
}

/// Events per presentation in each time bin, one line per layer.
struct EventsPerLayer {
    title: String,
    window: f64,
    period: f64,
    /// (layer, events per presentation per bin).
    series: Vec<(usize, Vec<f64>)>,
}

impl Figure for EventsPerLayer {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let hi = self
            .series
            .iter()
            .flat_map(|s| s.1.iter().copied())
            .fold(0.0f64, f64::max);
        let y = 0.0..(hi * 1.15).max(1e-3);
        let width = self.period / BINS as f64;
        let y_desc = format!(
            "events per neuron and presentation (bins of {})",
            tick(&width)
        );
        let keys: Vec<Key> = self
            .series
            .iter()
            .map(|(l, _)| Key {
                colour: PALETTE[l % 10],
                line: true,
                label: format!("layer {l}"),
            })
            .collect();
        let mut chart = time_chart(
            root,
            &self.title,
            &keys,
            self.period,
            self.window,
            YAxis {
                range: y,
                desc: &y_desc,
                labels: None,
                ticks: 10,
            },
        )?;
        for (l, counts) in &self.series {
            let style = PALETTE[l % 10].stroke_width(2);
            let points = counts
                .iter()
                .enumerate()
                .map(|(b, &c)| ((b as f64 + 0.5) * width, c));
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(text)?;
        }
        Ok(())
    }
}
