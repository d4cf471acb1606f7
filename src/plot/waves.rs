//! Wave plots of a trace directory: event rasters per layer, D(t) and D̂(t) of chosen
//! neurons, and events per layer over time. The CSV files are streamed once each; only
//! the drawn presentation's rows and the histogram are kept.

use std::collections::HashSet;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{padded, save, text, wave_colour, Figure, PlotOptions, PlotOutcome, FONT, PALETTE};
use crate::error::PlotError;
use crate::trace::csv::{rows, EventRow, StateRow};
use crate::trace::manifest::{Manifest, TraceState};
use crate::trace::Wave;

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
            "no states of {neurons:?} in {which}: no signals plot (record what=states, pick --neurons among the recorded)"
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
    }
    Ok(())
}

/// One entry of a legend strip: its marker (a dot or a line) in a colour, and its text.
pub struct Key {
    pub colour: RGBColor,
    pub line: bool,
    pub label: String,
}

/// Draws `keys` in one row across the top of `area` (above the chart, so the legend never
/// covers data) and returns the area below it.
pub fn legend_strip<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    keys: &[Key],
) -> Result<DrawingArea<DB, Shift>, String> {
    let (strip, rest) = area.split_vertically(30);
    let mut x = 80i32;
    for k in keys {
        let y = 14i32;
        if k.line {
            strip
                .draw(&PathElement::new(
                    vec![(x, y), (x + 22, y)],
                    k.colour.stroke_width(2),
                ))
                .map_err(text)?;
        } else {
            strip
                .draw(&Circle::new((x + 11, y), 4, k.colour.filled()))
                .map_err(text)?;
        }
        strip
            .draw(&Text::new(
                k.label.clone(),
                (x + 28, y - 3),
                (FONT, 14).into_font().color(&BLACK),
            ))
            .map_err(text)?;
        x += 44 + 8 * k.label.chars().count() as i32;
    }
    Ok(rest)
}

/// A number on an axis without a useless ".0": 2 not 2.0, 0.25 not 0.25000000000000006.
pub fn tick(v: &f64) -> String {
    let s = format!("{:.6}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A chart over one presentation's time axis: title, legend strip, labelled axes, light
/// grid, and the forward and backward windows shaded and labelled.
#[allow(clippy::too_many_arguments)]
fn time_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    keys: &[Key],
    period: f64,
    window: f64,
    y: std::ops::Range<f64>,
    y_desc: &str,
    y_labels: Option<&dyn Fn(&f64) -> String>,
    y_ticks: usize,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let root = super::titled(root, title, 18)?;
    let area = legend_strip(&root, keys)?;
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_top(4)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..period, y.clone())
        .map_err(text)?;
    // The windows first, so that the data is drawn over them.
    let shade = [
        (0.0, window, PALETTE[0].mix(0.07), "forward window"),
        (window, period, PALETTE[1].mix(0.07), "backward window"),
    ];
    for (a, b, colour, _) in shade {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, y.start), (b, y.end)],
                colour.filled(),
            )))
            .map_err(text)?;
    }
    let default_labels = tick;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc(TIME)
        .y_desc(y_desc)
        .light_line_style(RGBColor(238, 238, 238))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .x_label_formatter(&tick)
        .y_labels(y_ticks);
    match y_labels {
        Some(f) => mesh.y_label_formatter(f),
        None => mesh.y_label_formatter(&default_labels),
    };
    mesh.draw().map_err(text)?;
    window_line(&mut chart, window, y.clone())?;
    for (a, b, _, label) in shade {
        let x = (a + b) / 2.0;
        let top = y.end - (y.end - y.start) * 0.01;
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (x, top),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK.mix(0.6))
                    .pos(Pos::new(HPos::Center, VPos::Top)),
            )))
            .map_err(text)?;
    }
    Ok(chart)
}

/// Marks the end of the forward window on a time axis.
fn window_line<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    window: f64,
    y: std::ops::Range<f64>,
) -> Result<(), String> {
    chart
        .draw_series(LineSeries::new(
            vec![(window, y.start), (window, y.end)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(text)?;
    Ok(())
}

const TIME: &str = "time within presentation (model time units; forward window, then backward)";

/// Events of one layer in one presentation: recorded neuron against time, one colour per
/// wave. The rows are the recorded neurons (labelled with their ids), not the whole layer.
struct Raster {
    title: String,
    window: f64,
    period: f64,
    /// The recorded neurons of the layer, in row order.
    neurons: Vec<usize>,
    events: Vec<EventRow>,
}

/// The name of a wave in legends.
fn wave_name(wave: Wave) -> &'static str {
    match wave {
        Wave::Forward => "forward wave (D) events",
        Wave::Backward => "backward wave (D̂) events",
    }
}

impl Figure for Raster {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let rows = self.neurons.len().max(1);
        let y = -0.5..rows as f64 - 0.5;
        let present: Vec<Wave> = Wave::BOTH
            .into_iter()
            .filter(|w| self.events.iter().any(|e| e.wave == *w))
            .collect();
        let keys: Vec<Key> = present
            .iter()
            .map(|&w| Key {
                colour: wave_colour(w),
                line: false,
                label: wave_name(w).into(),
            })
            .collect();
        let ids = self.neurons.clone();
        let label = move |v: &f64| {
            let r = v.round();
            if (v - r).abs() > 1e-6 || r < 0.0 {
                return String::new();
            }
            ids.get(r as usize)
                .map(|n| n.to_string())
                .unwrap_or_default()
        };
        let mut chart = time_chart(
            root,
            &self.title,
            &keys,
            self.period,
            self.window,
            y,
            "neuron",
            Some(&label),
            rows.min(25) + 1,
        )?;
        let radius = if rows > 100 { 1 } else { 3 };
        let row_of: std::collections::HashMap<usize, usize> = self
            .neurons
            .iter()
            .enumerate()
            .map(|(r, &n)| (n, r))
            .collect();
        for wave in present {
            let colour = wave_colour(wave);
            let points = self
                .events
                .iter()
                .filter(|e| e.wave == wave)
                .filter_map(|e| row_of.get(&e.neuron).map(|&r| (e.time, r as f64)))
                .map(|p| Circle::new(p, radius, colour.filled()));
            chart.draw_series(points).map_err(text)?;
        }
        Ok(())
    }
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
            y,
            "output deviation D, D̂ (element units)",
            None,
            10,
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
            "events per neuron per presentation, per {} time units",
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
            y,
            &y_desc,
            None,
            10,
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
