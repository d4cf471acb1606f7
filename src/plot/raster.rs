//! Event rasters of one presentation: recorded neuron against time, one colour per wave,
//! the two windows shaded. [`Raster`] is one layer; [`RasterStack`] is every recorded layer
//! in one figure, the input layer at the bottom, so that the forward wave is seen climbing
//! and the backward wave coming down. The rows are the recorded neurons (labelled with
//! their ids), not the whole layer.

use std::collections::HashMap;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{legend_strip, time_chart, time_panel, Key, Panel, TimeChart, YAxis};
use super::{text, wave_colour, Figure, SIZE};
use crate::trace::csv::EventRow;
use crate::trace::Wave;

/// Events of one layer in one presentation.
pub struct Raster {
    pub title: String,
    pub window: f64,
    pub period: f64,
    /// The recorded neurons of the layer, in row order.
    pub neurons: Vec<usize>,
    pub events: Vec<EventRow>,
}

/// Events of every recorded layer in one presentation, one panel per layer.
pub struct RasterStack {
    pub title: String,
    pub window: f64,
    pub period: f64,
    /// (layer, its recorded neurons in row order), from the input layer up.
    pub layers: Vec<(usize, Vec<usize>)>,
    /// The presentation's events of all layers.
    pub events: Vec<EventRow>,
}

/// The name of a wave in legends.
fn wave_name(wave: Wave) -> &'static str {
    match wave {
        Wave::Forward => "forward wave (D) events",
        Wave::Backward => "backward wave (D̂) events",
    }
}

/// The waves that have events, in legend order, and their legend keys.
fn waves_present<'a>(events: impl Iterator<Item = &'a EventRow> + Clone) -> (Vec<Wave>, Vec<Key>) {
    let present: Vec<Wave> = Wave::BOTH
        .into_iter()
        .filter(|w| events.clone().any(|e| e.wave == *w))
        .collect();
    let keys = present
        .iter()
        .map(|&w| Key {
            colour: wave_colour(w),
            line: false,
            label: wave_name(w).into(),
        })
        .collect();
    (present, keys)
}

/// A neuron-row axis: rows `-0.5..rows-0.5`, labelled with the neuron ids at integer
/// positions only.
fn neuron_labels(neurons: &[usize]) -> impl Fn(&f64) -> String {
    let ids = neurons.to_vec();
    move |v: &f64| {
        let r = v.round();
        if (v - r).abs() > 1e-6 || r < 0.0 {
            return String::new();
        }
        ids.get(r as usize)
            .map(|n| n.to_string())
            .unwrap_or_default()
    }
}

/// Draws the events of `layer` (its recorded `neurons` as rows) in `waves` on `chart`.
fn draw_events<DB: DrawingBackend>(
    chart: &mut TimeChart<'_, DB>,
    layer: usize,
    neurons: &[usize],
    events: &[EventRow],
    waves: &[Wave],
) -> Result<(), String> {
    let radius = if neurons.len() > 100 { 1 } else { 3 };
    let row_of: HashMap<usize, usize> = neurons.iter().enumerate().map(|(r, &n)| (n, r)).collect();
    for &wave in waves {
        let colour = wave_colour(wave);
        let points = events
            .iter()
            .filter(|e| e.wave == wave && e.layer == layer)
            .filter_map(|e| row_of.get(&e.neuron).map(|&r| (e.time, r as f64)))
            .map(|p| Circle::new(p, radius, colour.filled()));
        chart.draw_series(points).map_err(text)?;
    }
    Ok(())
}

impl Figure for Raster {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let rows = self.neurons.len().max(1);
        let (present, keys) = waves_present(self.events.iter());
        let label = neuron_labels(&self.neurons);
        let mut chart = time_chart(
            root,
            &self.title,
            &keys,
            self.period,
            self.window,
            YAxis {
                range: -0.5..rows as f64 - 0.5,
                desc: "neuron",
                labels: Some(&label),
                ticks: rows.min(25) + 1,
            },
        )?;
        let layer = self.events.first().map_or(0, |e| e.layer);
        draw_events(&mut chart, layer, &self.neurons, &self.events, &present)
    }
}

/// Height of one layer's panel in a stack, in pixels.
const PANEL: u32 = 170;

impl Figure for RasterStack {
    fn size(&self) -> (u32, u32) {
        (SIZE.0, (100 + PANEL * self.layers.len() as u32).max(SIZE.1))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let (present, keys) = waves_present(self.events.iter());
        let root = super::titled(root, &self.title, 18)?;
        let area = legend_strip(&root, &keys)?;
        let panels = area.split_evenly((self.layers.len().max(1), 1));
        let height = panels.first().map_or(PANEL, |p| p.dim_in_pixel().1);
        // The highest layer on top.
        for (i, ((layer, neurons), panel)) in self.layers.iter().rev().zip(panels).enumerate() {
            let rows = neurons.len().max(1);
            let label = neuron_labels(neurons);
            let desc = format!("layer {layer}: neuron");
            let mut chart = time_panel(
                panel,
                self.period,
                self.window,
                YAxis {
                    range: -0.5..rows as f64 - 0.5,
                    desc: &desc,
                    labels: Some(&label),
                    ticks: rows.min((height / 16) as usize) + 1,
                },
                Panel {
                    window_labels: i == 0,
                    x_desc: i + 1 == self.layers.len(),
                    minor_grid: false,
                },
            )?;
            draw_events(&mut chart, *layer, neurons, &self.events, &present)?;
        }
        Ok(())
    }
}
