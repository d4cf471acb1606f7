//! Wave plots of a trace directory: event rasters per layer, D(t) and D^(t) of chosen
//! neurons, and events per layer over time. The CSV files are streamed once each; only
//! the drawn presentation's rows and the histogram are kept.

use std::collections::HashSet;
use std::path::Path;

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{padded, save, text, wave_colour, Figure, PlotOptions, PlotOutcome, FONT, PALETTE};
use crate::error::PlotError;
use crate::trace::csv::{rows, EventRow, StateRow};
use crate::trace::manifest::{Manifest, TraceState};
use crate::trace::Wave;

/// Time bins of the events-per-layer histogram.
const BINS: usize = 50;

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
        opts.neurons.clone()
    };
    let mut shown_states: Vec<StateRow> = Vec::new();
    if let Some(name) = &manifest.files.states {
        for row in
            rows::<StateRow>(&trace.join(name), complete.states.map(|e| e.bytes)).map_err(input)?
        {
            let s = row.map_err(input)?;
            if chosen.is_none() && wanted(s.epoch, s.sample) {
                chosen = Some((s.epoch, s.sample));
            }
            if chosen == Some((s.epoch, s.sample)) && neurons.contains(&(s.layer, s.neuron)) {
                shown_states.push(s);
            }
        }
    }
    let Some((epoch, sample)) = chosen else {
        outcome.notes.push(format!(
            "{}: no recorded presentation{}: no wave plots",
            trace.display(),
            match (opts.sample, opts.epoch) {
                (None, None) => String::new(),
                _ => " matches --sample/--epoch".into(),
            }
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
                    manifest.selection.theta, manifest.selection.theta_backward
                ),
                window,
                period,
                neurons: manifest.layers[l],
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
                "{title}: events per layer over time ({} presentations)",
                presentations.len()
            ),
            window,
            period,
            series: counts
                .iter()
                .enumerate()
                .filter(|(l, _)| !recorded[*l].is_empty())
                .map(|(l, c)| (l, c.iter().map(|&k| k as f64 / n).collect()))
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
            title: format!("{title}: D(t) then D^(t) ({which})"),
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

/// A chart over one presentation's time axis: title, labelled axes, light grid, and a line
/// at the end of the forward window.
fn time_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    period: f64,
    window: f64,
    y: std::ops::Range<f64>,
    y_desc: &str,
) -> Result<ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>, String> {
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 18))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..period, y.clone())
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_desc(TIME)
        .y_desc(y_desc)
        .light_line_style(RGBColor(238, 238, 238))
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .draw()
        .map_err(text)?;
    window_line(&mut chart, window, y)?;
    Ok(chart)
}

/// Draws the series labels of a time chart.
fn legend<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
) -> Result<(), String> {
    chart
        .configure_series_labels()
        .label_font((FONT, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(text)
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

/// Events of one layer in one presentation: neuron against time, one colour per wave.
struct Raster {
    title: String,
    window: f64,
    period: f64,
    neurons: usize,
    events: Vec<EventRow>,
}

impl Figure for Raster {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let y = -0.5..self.neurons as f64 - 0.5;
        let mut chart = time_chart(root, &self.title, self.period, self.window, y, "neuron")?;
        let radius = if self.neurons > 100 { 1 } else { 2 };
        for wave in Wave::BOTH {
            let colour = wave_colour(wave);
            let name = match wave {
                Wave::Forward => "forward wave (D)",
                Wave::Backward => "backward wave (D^)",
            };
            let points = self
                .events
                .iter()
                .filter(|e| e.wave == wave)
                .map(|e| Circle::new((e.time, e.neuron as f64), radius, colour.filled()));
            chart
                .draw_series(points)
                .map_err(text)?
                .label(format!("{name} events"))
                .legend(move |(x, y)| Circle::new((x + 10, y), 4, colour.filled()));
        }
        legend(&mut chart)
    }
}

/// D(t) over the forward window and D^(t) over the backward window of chosen neurons.
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
        let mut chart = time_chart(
            root,
            &self.title,
            self.period,
            self.window,
            y,
            "output deviation D, D^ (element units)",
        )?;
        for (k, (name, points)) in self.series.iter().enumerate() {
            let style = PALETTE[k % 10].stroke_width(2);
            // Forward and backward windows as two pieces, so no line joins them at T.
            let (fwd, bwd): (Vec<_>, Vec<_>) = points.iter().partition(|p| p.0 <= self.window);
            chart
                .draw_series(LineSeries::new(fwd, style))
                .map_err(text)?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            chart
                .draw_series(LineSeries::new(bwd, style))
                .map_err(text)?;
        }
        legend(&mut chart)
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
        let y = 0.0..(hi * 1.1).max(1.0);
        let width = self.period / BINS as f64;
        let y_desc = format!("events per presentation per {width:.2} time units");
        let mut chart = time_chart(root, &self.title, self.period, self.window, y, &y_desc)?;
        for (l, counts) in &self.series {
            let style = PALETTE[l % 10].stroke_width(2);
            let points = counts
                .iter()
                .enumerate()
                .map(|(b, &c)| ((b as f64 + 0.5) * width, c));
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(text)?
                .label(format!("layer {l}"))
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        }
        legend(&mut chart)
    }
}
