//! Per-layer-pair histograms of the synaptic coefficients C at the start and the end of a
//! run: the start is the network the run's seed builds (every run starts from it, and a
//! resumed run too), the end is the run directory's `checkpoint.json` (its last complete
//! epoch).

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::chart::{legend_strip, tick, Key};
use super::{padded, text, Figure, FONT, PALETTE, SIZE};
use crate::checkpoint::Checkpoint;
use crate::topology::build::build_network;

/// Histogram bins per panel.
const BINS: usize = 40;

/// Panels per row.
const COLUMNS: usize = 3;

/// The coefficients of every layer pair at the start and at the end of a run.
pub struct WeightHistograms {
    pub title: String,
    /// Epochs the end state has trained.
    pub epochs: usize,
    /// Per layer pair: (C at the start, C at the end).
    pub pairs: Vec<(Vec<f32>, Vec<f32>)>,
}

impl WeightHistograms {
    /// Reads the end state from `run_dir`'s checkpoint and rebuilds the start from its
    /// model and seed.
    pub fn read(run_dir: &Path, title: &str) -> Result<WeightHistograms, String> {
        let (ck, file) = Checkpoint::load(run_dir).map_err(|e| e.to_string())?;
        let model = ck.model(&file, None).map_err(|e| e.to_string())?;
        ck.check(&file, &model.network.layers)
            .map_err(|e| e.to_string())?;
        let start = build_network(&model, ck.seed).projections();
        let pairs = start
            .iter()
            .zip(&ck.projections)
            .map(|(a, b)| (a.coefficients().to_vec(), b.coefficients().to_vec()))
            .collect();
        Ok(WeightHistograms {
            title: format!(
                "{title}: synaptic coefficients C at the start and after {}",
                crate::text::plural(ck.epochs_done, "epoch")
            ),
            epochs: ck.epochs_done,
            pairs,
        })
    }

    fn rows(&self) -> usize {
        self.pairs.len().div_ceil(COLUMNS).max(1)
    }
}

/// Mean and standard deviation of `v`.
fn mean_sd(v: &[f32]) -> (f64, f64) {
    let n = v.len().max(1) as f64;
    let mean = v.iter().map(|&x| x as f64).sum::<f64>() / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Counts of `v` in `BINS` equal bins over `lo..hi`.
fn histogram(v: &[f32], lo: f64, hi: f64) -> Vec<u64> {
    let mut counts = vec![0u64; BINS];
    let width = (hi - lo).max(f64::MIN_POSITIVE);
    for &x in v {
        let b = (((x as f64 - lo) / width) * BINS as f64).floor();
        counts[(b.max(0.0) as usize).min(BINS - 1)] += 1;
    }
    counts
}

/// A number for a caption: 3 significant digits, no useless zeros.
fn short(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return tick(&v);
    }
    let digits = (2 - v.abs().log10().floor() as i32).max(0) as usize;
    tick(&format!("{v:.digits$}").parse().unwrap_or(v))
}

impl Figure for WeightHistograms {
    fn size(&self) -> (u32, u32) {
        (SIZE.0, SIZE.1.max(80 + 300 * self.rows() as u32))
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let start = PALETTE[7];
        let end = PALETTE[0];
        let root = super::titled(root, &self.title, 18)?;
        let keys = [
            Key {
                colour: start,
                line: true,
                label: "start (the seed's initial C)".into(),
            },
            Key {
                colour: end,
                line: true,
                label: format!("end (after {})", crate::text::plural(self.epochs, "epoch")),
            },
        ];
        let area = legend_strip(&root, &keys)?;
        let columns = self.pairs.len().clamp(1, COLUMNS);
        let panels = area.split_evenly((self.rows(), columns));
        for (l, ((a, b), panel)) in self.pairs.iter().zip(panels).enumerate() {
            let (lo, hi) = a
                .iter()
                .chain(b)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x as f64), hi.max(x as f64))
                });
            let (lo, hi) = if lo < hi {
                (lo, hi)
            } else {
                (lo - 0.5, lo + 0.5)
            };
            let (ha, hb) = (histogram(a, lo, hi), histogram(b, lo, hi));
            let top = ha.iter().chain(&hb).copied().max().unwrap_or(1) as f64;
            let mut chart = ChartBuilder::on(&panel)
                .caption(
                    format!("layer {l} → {} ({} synapses)", l + 1, a.len()),
                    (FONT, 15),
                )
                .margin(10)
                .x_label_area_size(36)
                .y_label_area_size(56)
                .build_cartesian_2d(padded(lo, hi), 0.0..top * 1.25)
                .map_err(text)?;
            chart
                .configure_mesh()
                .x_desc("C")
                .y_desc("synapses")
                .light_line_style(RGBColor(238, 238, 238))
                .label_style((FONT, 12))
                .axis_desc_style((FONT, 13))
                .x_labels(5)
                .x_label_formatter(&|v| short(*v))
                .y_label_formatter(&|v| short(*v))
                .draw()
                .map_err(text)?;
            let width = (hi - lo) / BINS as f64;
            for (counts, colour, fill) in [(&ha, start, 0.35), (&hb, end, 0.25)] {
                chart
                    .draw_series(counts.iter().enumerate().filter(|(_, &c)| c > 0).map(
                        |(i, &c)| {
                            let x0 = lo + i as f64 * width;
                            Rectangle::new(
                                [(x0, 0.0), (x0 + width, c as f64)],
                                colour.mix(fill).filled(),
                            )
                        },
                    ))
                    .map_err(text)?;
                // The outline as a step line, so that both shapes stay visible where they
                // overlap.
                let mut steps = vec![(lo, 0.0)];
                for (i, &c) in counts.iter().enumerate() {
                    let x0 = lo + i as f64 * width;
                    steps.push((x0, c as f64));
                    steps.push((x0 + width, c as f64));
                }
                steps.push((hi, 0.0));
                chart
                    .draw_series(LineSeries::new(steps, colour.stroke_width(2)))
                    .map_err(text)?;
            }
            let ((ma, sa), (mb, sb)) = (mean_sd(a), mean_sd(b));
            for (k, (name, m, s, colour)) in [("start", ma, sa, start), ("end", mb, sb, end)]
                .into_iter()
                .enumerate()
            {
                chart
                    .draw_series(std::iter::once(Text::new(
                        format!("{name}: mean {}, sd {}", short(m), short(s)),
                        (lo + (hi - lo) * 0.02, top * (1.22 - 0.09 * k as f64)),
                        (FONT, 12).into_font().color(&colour),
                    )))
                    .map_err(text)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_falls_in_a_bin() {
        let v = [-1.0f32, -0.5, 0.0, 0.5, 1.0];
        let h = histogram(&v, -1.0, 1.0);
        assert_eq!(h.iter().sum::<u64>(), 5);
        assert_eq!(h[0], 1);
        assert_eq!(h[BINS - 1], 1);
    }

    #[test]
    fn captions_carry_three_significant_digits() {
        assert_eq!(short(0.123456), "0.123");
        assert_eq!(short(12.3456), "12.3");
        assert_eq!(short(-0.000123456), "-0.000123");
        assert_eq!(short(2000.0), "2000");
    }
}
