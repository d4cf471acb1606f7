//! Accuracy and loss per epoch from one or more runs' `metrics.csv` (the synchronous and
//! asynchronous engine of a `compare` run on one chart).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{legend_strip, tick, Key};
use super::{padded, text, Figure, FONT, PALETTE};
use crate::report::EpochRecord;

/// Two panels: accuracy (%) and mean loss against the epoch, test and train of every run.
pub struct MetricsFigure {
    pub title: String,
    /// (label, records): the label is empty for a single run, else `sync` or `async`.
    pub runs: Vec<(String, Vec<EpochRecord>)>,
}

type Pick = fn(&EpochRecord) -> f64;

/// One line of a panel: legend name, colour, test (circles, solid) or train (squares,
/// thinner), dashed (every run after the first: async beside sync), the points.
struct Series {
    name: String,
    colour: RGBColor,
    test: bool,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

impl MetricsFigure {
    /// Every series of one panel: (legend name, colour, with markers, points).
    fn series(&self, test: Pick, train: Pick) -> Vec<Series> {
        let mut out = Vec::new();
        for (k, (label, records)) in self.runs.iter().enumerate() {
            let name = |what: &str| {
                if label.is_empty() {
                    what.to_string()
                } else {
                    format!("{label} {what}")
                }
            };
            let points = |f: Pick| records.iter().map(|r| (r.epoch as f64, f(r))).collect();
            out.push(Series {
                name: name("test"),
                colour: PALETTE[(2 * k) % 10],
                test: true,
                dashed: k > 0,
                points: points(test),
            });
            out.push(Series {
                name: name("train"),
                colour: PALETTE[(2 * k + 1) % 10],
                test: false,
                dashed: k > 0,
                points: points(train),
            });
        }
        out
    }

    fn panel<DB: DrawingBackend>(
        &self,
        area: &DrawingArea<DB, Shift>,
        caption: &str,
        y_desc: &str,
        series: Vec<Series>,
    ) -> Result<(), String> {
        let epochs = self
            .runs
            .iter()
            .flat_map(|(_, r)| r.iter().map(|r| r.epoch))
            .max()
            .unwrap_or(1) as f64;
        let ys = series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
        let (lo, hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| {
            (a.min(y), b.max(y))
        });
        let mut chart = ChartBuilder::on(area)
            .caption(caption, (FONT, 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.5..epochs + 0.5, padded(lo, hi))
            .map_err(text)?;
        // Integer epochs only: a tick at every epoch up to 20, else at a round step.
        let epoch_label = |v: &f64| {
            let r = v.round();
            if (v - r).abs() < 1e-6 && r >= 1.0 {
                format!("{r}")
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_desc)
            .light_line_style(RGBColor(238, 238, 238))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .x_labels((epochs as usize).min(20) + 1)
            .x_label_formatter(&epoch_label)
            .y_label_formatter(&tick)
            .draw()
            .map_err(text)?;
        for Series {
            colour,
            test,
            dashed,
            points,
            ..
        } in series
        {
            let style = colour.stroke_width(if test { 2 } else { 1 });
            if dashed {
                chart
                    .draw_series(DashedLineSeries::new(points.clone(), 8, 5, style))
                    .map_err(text)?;
            } else {
                chart
                    .draw_series(LineSeries::new(points.clone(), style))
                    .map_err(text)?;
            }
            // Every epoch is marked, so a one-epoch run still shows its points.
            if test {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, colour.filled())))
                    .map_err(text)?;
            } else {
                chart
                    .draw_series(
                        points
                            .iter()
                            .map(|&p| TriangleMarker::new(p, 5, colour.filled())),
                    )
                    .map_err(text)?;
            }
        }
        Ok(())
    }
}

impl Figure for MetricsFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let root = super::titled(root, &self.title, 22)?;
        let accuracy = self.series(|r| 100.0 * r.test_accuracy, |r| 100.0 * r.train_accuracy);
        let keys: Vec<Key> = accuracy
            .iter()
            .map(|s| Key {
                colour: s.colour,
                line: !s.test,
                label: format!("{}{}", s.name, if s.dashed { " (dashed)" } else { "" }),
            })
            .collect();
        let root = legend_strip(&root, &keys)?;
        let panels = root.split_evenly((1, 2));
        self.panel(&panels[0], "accuracy", "accuracy (%)", accuracy)?;
        let loss = self.series(|r| r.test_loss, |r| r.train_loss);
        self.panel(&panels[1], "loss", "mean loss (per sample)", loss)
    }
}
