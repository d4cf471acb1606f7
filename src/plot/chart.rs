//! The pieces the figures share: a legend strip above the chart, axis numbers without a
//! useless ".0", and a chart over one presentation's time axis with the forward and
//! backward windows shaded and labelled (alone with its title and legend, or as one panel
//! of a stack).

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{text, FONT, PALETTE};

/// The time axis' description.
pub const TIME: &str = "time within presentation (model time units; forward window, then backward)";

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

/// A chart on the time axis of one presentation.
pub type TimeChart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// The y axis of a time panel: its range, description, tick labels (default [`tick`]) and
/// how many ticks to aim for.
pub struct YAxis<'f> {
    pub range: std::ops::Range<f64>,
    pub desc: &'f str,
    pub labels: Option<&'f dyn Fn(&f64) -> String>,
    pub ticks: usize,
}

/// A chart over one presentation's time axis: title, legend strip, labelled axes, light
/// grid, and the forward and backward windows shaded and labelled.
pub fn time_chart<'a, DB: DrawingBackend>(
    root: &'a DrawingArea<DB, Shift>,
    title: &str,
    keys: &[Key],
    period: f64,
    window: f64,
    y: YAxis<'_>,
) -> Result<TimeChart<'a, DB>, String> {
    let root = super::titled(root, title, 18)?;
    let area = legend_strip(&root, keys)?;
    time_panel(area, period, window, y, Panel::ALONE)
}

/// What a time panel draws besides its data: the names of the shaded windows, the time
/// axis' description and the light minor grid (a stack names its windows in its top panel
/// only, describes time under its bottom one, and leaves out the minor grid, which would
/// grey its short panels).
#[derive(Debug, Clone, Copy)]
pub struct Panel {
    pub window_labels: bool,
    pub x_desc: bool,
    pub minor_grid: bool,
}

impl Panel {
    /// A chart on its own.
    pub const ALONE: Panel = Panel {
        window_labels: true,
        x_desc: true,
        minor_grid: true,
    };
}

/// The chart of [`time_chart`] on `area` without title or legend, drawing what `panel`
/// says.
pub fn time_panel<'a, DB: DrawingBackend>(
    area: DrawingArea<DB, Shift>,
    period: f64,
    window: f64,
    y: YAxis<'_>,
    panel: Panel,
) -> Result<TimeChart<'a, DB>, String> {
    let range = y.range.clone();
    let mut chart = ChartBuilder::on(&area)
        .margin(12)
        .margin_top(if panel.window_labels { 20 } else { 4 })
        .x_label_area_size(if panel.x_desc { 40 } else { 22 })
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..period, range.clone())
        .map_err(text)?;
    // The windows first, so that the data is drawn over them.
    let shade = [
        (0.0, window, PALETTE[0].mix(0.07), "forward window"),
        (window, period, PALETTE[1].mix(0.07), "backward window"),
    ];
    for (a, b, colour, _) in shade {
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(a, range.start), (b, range.end)],
                colour.filled(),
            )))
            .map_err(text)?;
    }
    let default_labels = tick;
    let mut mesh = chart.configure_mesh();
    mesh.y_desc(y.desc)
        .light_line_style(if panel.minor_grid {
            ShapeStyle::from(RGBColor(238, 238, 238))
        } else {
            ShapeStyle::from(TRANSPARENT)
        })
        .label_style((FONT, 13))
        .axis_desc_style((FONT, 14))
        .x_label_formatter(&tick)
        .y_labels(y.ticks);
    if panel.x_desc {
        mesh.x_desc(TIME);
    }
    match y.labels {
        Some(f) => mesh.y_label_formatter(f),
        None => mesh.y_label_formatter(&default_labels),
    };
    mesh.draw().map_err(text)?;
    chart
        .draw_series(LineSeries::new(
            vec![(window, range.start), (window, range.end)],
            BLACK.mix(0.4).stroke_width(1),
        ))
        .map_err(text)?;
    // The windows' names go above the plotting area, where they cannot cover data.
    if panel.window_labels {
        let base = area.get_base_pixel();
        for (a, b, _, label) in shade {
            let (x, y) = chart.backend_coord(&((a + b) / 2.0, range.end));
            area.draw(&Text::new(
                label,
                (x - base.0, y - base.1 - 3),
                (FONT, 13)
                    .into_font()
                    .color(&BLACK.mix(0.6))
                    .pos(Pos::new(HPos::Center, VPos::Bottom)),
            ))
            .map_err(text)?;
        }
    }
    Ok(chart)
}
