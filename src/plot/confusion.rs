//! The confusion matrix of a run's last evaluation, from `predictions.csv` (each test
//! sample's label and predicted class, written after every epoch): true class against
//! predicted class, each cell's count written in it and shaded by its share of its row (so
//! a rare class is as readable as a common one), each class's recall beside its row.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{text, Figure, FONT};
use crate::report::Prediction;

/// `counts[label][predicted]` over `rows`, for `classes` classes (at least every label and
/// prediction seen).
pub fn counts(rows: &[Prediction], classes: usize) -> Vec<Vec<u64>> {
    let n = rows
        .iter()
        .map(|r| r.label.max(r.predicted) + 1)
        .max()
        .unwrap_or(0)
        .max(classes);
    let mut m = vec![vec![0u64; n]; n];
    for r in rows {
        m[r.label][r.predicted] += 1;
    }
    m
}

/// A confusion matrix with its title.
pub struct Confusion {
    pub title: String,
    /// `counts[label][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// The figure of `rows` (the predictions of one epoch).
    pub fn new(title: &str, rows: &[Prediction]) -> Confusion {
        let counts = counts(rows, 0);
        let total: u64 = counts.iter().flatten().sum();
        let correct: u64 = (0..counts.len()).map(|k| counts[k][k]).sum();
        let epoch = rows.first().map_or(0, |r| r.epoch);
        Confusion {
            title: format!(
                "{title}: confusion matrix after epoch {epoch} (test accuracy {}%, {correct} / {total})",
                super::chart::tick(&((10000.0 * correct as f64 / total.max(1) as f64).round() / 100.0))
            ),
            counts,
        }
    }
}

impl Figure for Confusion {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let n = self.counts.len().max(1);
        let root = super::titled(root, &self.title, 18)?;
        let (w, h) = root.dim_in_pixel();
        // A square plotting area in the middle (with its axis labels left and below), the
        // recall column to its right, its heading above.
        let (labels_x, labels_y, top) = (52u32, 44u32, 22u32);
        let side = (h.saturating_sub(labels_y + top + 8))
            .min(w.saturating_sub(labels_x + 200))
            .max(100);
        let width = side + labels_x + 8;
        let x0 = w.saturating_sub(width + 70) / 2;
        let matrix = root.clone().shrink((x0, top), (width, side + labels_y + 8));
        let mut chart = ChartBuilder::on(&matrix)
            .margin(4)
            .x_label_area_size(labels_y)
            .y_label_area_size(labels_x)
            .build_cartesian_2d(-0.5..n as f64 - 0.5, -0.5..n as f64 - 0.5)
            .map_err(text)?;
        // Row 0 on top: the y axis runs from the last class up to class 0.
        let row_y = |r: usize| (n - 1 - r) as f64;
        let class_label = |v: &f64, flip: bool| {
            let r = v.round();
            if (v - r).abs() > 1e-6 || r < 0.0 || r as usize >= n {
                return String::new();
            }
            let k = if flip { n - 1 - r as usize } else { r as usize };
            k.to_string()
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("predicted class")
            .y_desc("true class")
            .label_style((FONT, 13))
            .axis_desc_style((FONT, 14))
            .x_labels(n.min(30) + 1)
            .y_labels(n.min(30) + 1)
            .x_label_formatter(&|v| class_label(v, false))
            .y_label_formatter(&|v| class_label(v, true))
            .draw()
            .map_err(text)?;
        let base = RGBColor(31, 119, 180);
        let font = (FONT, if n <= 12 { 13 } else { 9 });
        for (r, row) in self.counts.iter().enumerate() {
            let total = row.iter().sum::<u64>().max(1) as f64;
            for (c, &k) in row.iter().enumerate() {
                let share = k as f64 / total;
                let (x, y) = (c as f64, row_y(r));
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x - 0.5, y - 0.5), (x + 0.5, y + 0.5)],
                        base.mix(0.04 + 0.96 * share).filled(),
                    )))
                    .map_err(text)?;
                if n <= 30 && k > 0 {
                    let colour = if share > 0.5 { WHITE } else { BLACK };
                    chart
                        .draw_series(std::iter::once(Text::new(
                            k.to_string(),
                            (x, y),
                            font.into_font()
                                .color(&colour)
                                .pos(Pos::new(HPos::Center, VPos::Center)),
                        )))
                        .map_err(text)?;
                }
            }
            // The class's recall beside its row.
            let recall = row.get(r).copied().unwrap_or(0) as f64 / total;
            let (px, py) = chart.backend_coord(&(n as f64 - 0.5, row_y(r)));
            let origin = root.get_base_pixel();
            root.draw(&Text::new(
                format!(
                    "{}%",
                    super::chart::tick(&((1000.0 * recall).round() / 10.0))
                ),
                (px - origin.0 + 8, py - origin.1),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK.mix(0.7))
                    .pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(text)?;
        }
        let (px, py) = chart.backend_coord(&(n as f64 - 0.5, n as f64 - 0.5));
        let origin = root.get_base_pixel();
        root.draw(&Text::new(
            "recall",
            (px - origin.0 + 8, py - origin.1 - 4),
            (FONT, 13)
                .into_font()
                .color(&BLACK.mix(0.7))
                .pos(Pos::new(HPos::Left, VPos::Bottom)),
        ))
        .map_err(text)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(label: usize, predicted: usize) -> Prediction {
        Prediction {
            epoch: 1,
            sample: 0,
            label,
            predicted,
        }
    }

    #[test]
    fn counts_are_rows_of_labels_and_columns_of_predictions() {
        let m = counts(&[p(0, 0), p(0, 2), p(2, 2), p(1, 0)], 0);
        assert_eq!(m, vec![vec![1, 0, 1], vec![1, 0, 0], vec![0, 0, 1]]);
        assert_eq!(counts(&[p(0, 0)], 4).len(), 4);
    }
}
