//! The five element states J, S, M, H, T of one recorded neuron over one presentation, from
//! `states.csv`: the forward system's elements in the forward window, then the reversed
//! system's in the backward window (the system that wave integrates), the two windows
//! shaded.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{time_chart, Key, YAxis};
use super::{padded, text, Figure};
use crate::trace::csv::StateRow;
use crate::trace::Wave;

/// The elements in generative order, with their names and colours (metal grey, water blue,
/// wood green, fire red, soil ochre).
const ELEMENTS: [(&str, RGBColor); 5] = [
    ("J (metal)", RGBColor(90, 90, 90)),
    ("S (water)", RGBColor(31, 119, 180)),
    ("M (wood)", RGBColor(44, 160, 44)),
    ("H (fire)", RGBColor(214, 39, 40)),
    ("T (soil)", RGBColor(188, 140, 30)),
];

/// The five elements of one neuron against time.
pub struct Elements {
    pub title: String,
    pub window: f64,
    pub period: f64,
    /// The neuron's state rows in time order.
    pub states: Vec<StateRow>,
}

impl Elements {
    /// `(time, value)` of element `k` (0 = J ... 4 = T) in `wave`'s window.
    fn series(&self, k: usize, wave: Wave) -> Vec<(f64, f64)> {
        self.states
            .iter()
            .filter(|s| s.wave == wave)
            .map(|s| (s.time, [s.j, s.s, s.m, s.h, s.t][k] as f64))
            .collect()
    }
}

impl Figure for Elements {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        // Per element, its forward and its backward piece: the two windows integrate two
        // systems, so no line joins them.
        let series: Vec<Vec<(f64, f64)>> = (0..ELEMENTS.len())
            .flat_map(|k| Wave::BOTH.map(|w| self.series(k, w)))
            .collect();
        let (lo, hi) = series
            .iter()
            .flatten()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), p| {
                (a.min(p.1), b.max(p.1))
            });
        let keys: Vec<Key> = ELEMENTS
            .iter()
            .map(|&(name, colour)| Key {
                colour,
                line: true,
                label: name.into(),
            })
            .collect();
        let mut chart = time_chart(
            root,
            &self.title,
            &keys,
            self.period,
            self.window,
            YAxis {
                range: padded(lo, hi),
                desc: "element state (forward system, then reversed)",
                labels: None,
                ticks: 10,
            },
        )?;
        for (k, points) in series.into_iter().enumerate() {
            let style = ELEMENTS[k / 2].1.stroke_width(2);
            chart
                .draw_series(LineSeries::new(points, style))
                .map_err(text)?;
        }
        Ok(())
    }
}
