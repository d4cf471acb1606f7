//! Accuracy and loss per epoch from one or more runs' `metrics.csv` (the synchronous and
//! asynchronous engine of a `compare` run on one chart).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{padded, text, Figure, FONT, PALETTE};
use crate::report::EpochRecord;

/// Two panels: accuracy (%) and mean loss against the epoch, test and train of every run.
pub struct MetricsFigure {
    pub title: String,
    /// (label, records): the label is empty for a single run, else `sync` or `async`.
    pub runs: Vec<(String, Vec<EpochRecord>)>,
}

type Pick = fn(&EpochRecord) -> f64;

/// One line of a panel: legend name, colour, whether to mark the points, the points.
struct Series {
    name: String,
    colour: RGBColor,
    markers: bool,
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
                markers: true,
                points: points(test),
            });
            out.push(Series {
                name: name("train"),
                colour: PALETTE[(2 * k + 1) % 10],
                markers: false,
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
        legend: SeriesLabelPosition,
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
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(y_desc)
            .light_line_style(RGBColor(238, 238, 238))
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .draw()
            .map_err(text)?;
        for Series {
            name,
            colour,
            markers,
            points,
        } in series
        {
            let style = colour.stroke_width(2);
            chart
                .draw_series(LineSeries::new(points.clone(), style))
                .map_err(text)?
                .label(name)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
            if markers {
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(text)?;
            }
        }
        chart
            .configure_series_labels()
            .label_font((FONT, 13))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .position(legend)
            .draw()
            .map_err(text)?;
        Ok(())
    }
}

impl Figure for MetricsFigure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let root = root.titled(&self.title, (FONT, 22)).map_err(text)?;
        let panels = root.split_evenly((1, 2));
        let accuracy = self.series(|r| 100.0 * r.test_accuracy, |r| 100.0 * r.train_accuracy);
        let lower = SeriesLabelPosition::LowerRight;
        self.panel(&panels[0], "accuracy", "accuracy (%)", accuracy, lower)?;
        let loss = self.series(|r| r.test_loss, |r| r.train_loss);
        let upper = SeriesLabelPosition::UpperRight;
        self.panel(&panels[1], "loss", "mean loss (per sample)", loss, upper)
    }
}
