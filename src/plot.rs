//! Pictures of a run directory (`bsp-sim plot`), drawn with plotters as SVG and PNG into
//! `RUN_DIR/plots/`:
//!
//! * `metrics`: test and train accuracy and loss per epoch from `metrics.csv`; a directory
//!   with `sync/` and `async/` (or a sweep's `async-…`) run directories (the `bsp-sim
//!   compare` layout) gets all of them on one chart ([`metrics`]);
//! * `raster-layer<l>`: the events of one presentation, neuron against time, forward and
//!   backward waves in two colours ([`waves`]);
//! * `signals`: D(t) and D̂(t) of chosen neurons from the dense states;
//! * `raster-layers`: the rasters of every recorded layer stacked in one figure
//!   ([`raster`]);
//! * `events-per-layer`: events per presentation in time bins, per layer and wave: the
//!   forward wave climbing the layers and the backward wave coming down;
//! * `elements-layer<l>-neuron<j>`: the five element states of a recorded neuron
//!   ([`elements`]);
//! * `weights`: per layer pair, C at the start and the end of the run ([`weights`]);
//! * `confusion`: the last evaluation's confusion matrix from `predictions.csv`
//!   ([`confusion`]).
//!
//! PNG text goes through [`glyphs::MarkedText`], so that D̂ keeps its circumflex.
//!
//! Labels need a TrueType font: the first of `$BSP_SIM_FONT` and the usual system paths
//! (DejaVu Sans, Liberation Sans, Noto Sans) is loaded once.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::PlotError;
use crate::report::{read_metrics, RunState, Summary};
use crate::trace::manifest::{Manifest, DIR_NAME};

pub mod chart;
pub mod confusion;
pub mod elements;
pub mod glyphs;
pub mod metrics;
pub mod raster;
pub mod waves;
pub mod weights;

/// Pixel size of every figure.
pub const SIZE: (u32, u32) = (1000, 600);
/// The font family the figures ask for (registered from a system font file).
pub const FONT: &str = "sans-serif";

/// Options of `bsp-sim plot`.
#[derive(Debug, Clone, Default)]
pub struct PlotOptions {
    /// (layer, neuron) pairs for the signals and elements plots; empty: the first recorded
    /// neuron of each recorded layer.
    pub neurons: Vec<(usize, usize)>,
    /// The presentation to draw: the first of this sample (default: the first recorded).
    pub sample: Option<usize>,
    /// ... in this epoch.
    pub epoch: Option<usize>,
    /// Output directory (default `RUN_DIR/plots`).
    pub out: Option<PathBuf>,
}

/// What `plot` wrote.
#[derive(Debug, Clone, Default)]
pub struct PlotOutcome {
    pub files: Vec<PathBuf>,
    /// Plots skipped and why.
    pub notes: Vec<String>,
}

/// Parses `--neurons`: `layer:neuron` pairs separated by commas.
pub fn parse_neurons(text: &str) -> Result<Vec<(usize, usize)>, PlotError> {
    text.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (l, n) = p
                .split_once(':')
                .ok_or_else(|| PlotError::Neurons(text.into()))?;
            let l = l
                .trim()
                .parse()
                .map_err(|_| PlotError::Neurons(text.into()))?;
            let n = n
                .trim()
                .parse()
                .map_err(|_| PlotError::Neurons(text.into()))?;
            Ok((l, n))
        })
        .collect()
}

/// One run directory to draw, with its label in a comparison.
struct RunDir {
    label: String,
    dir: PathBuf,
}

/// Draws every plot the run directory has data for; see the module doc.
pub fn plot_run(dir: &Path, opts: &PlotOptions) -> Result<PlotOutcome, PlotError> {
    if !dir.is_dir() {
        return Err(PlotError::Input {
            path: dir.to_path_buf(),
            detail: "not a directory".into(),
        });
    }
    // A `compare` directory: `sync`, then `async`, then the sweep's `async-…` runs by name.
    let mut labels: Vec<String> = vec!["sync".into(), "async".into()];
    let mut swept: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| n.starts_with("async-"))
                .collect()
        })
        .unwrap_or_default();
    swept.sort();
    labels.extend(swept);
    if let Some(single) = single_run_inside(dir)? {
        let mut opts = opts.clone();
        opts.out = opts.out.or_else(|| Some(single.join("plots")));
        return plot_run(&single, &opts);
    }
    let mut runs: Vec<RunDir> = labels
        .iter()
        .map(|l| RunDir {
            label: l.to_string(),
            dir: dir.join(l),
        })
        .filter(|r| r.dir.join("metrics.csv").is_file() || r.dir.join(DIR_NAME).is_dir())
        .collect();
    if runs.is_empty() {
        runs.push(RunDir {
            label: String::new(),
            dir: dir.to_path_buf(),
        });
    }
    let out = opts.out.clone().unwrap_or_else(|| dir.join("plots"));
    let mut outcome = PlotOutcome::default();
    let title = title_of(&runs);

    let mut series = Vec::new();
    for r in &runs {
        if let Ok(summary) = Summary::read(&r.dir) {
            let state = summary.state(&r.dir);
            if !matches!(state, RunState::Ended(_)) {
                outcome.notes.push(format!("{}: {state}", r.dir.display()));
            }
        }
        let path = r.dir.join("metrics.csv");
        if path.is_file() {
            let records = read_metrics(&path).map_err(|detail| PlotError::Input {
                path: path.clone(),
                detail,
            })?;
            series.push((r.label.clone(), records));
        }
    }
    let traced: Vec<&RunDir> = runs
        .iter()
        .filter(|r| {
            let m = r.dir.join(DIR_NAME).join(crate::trace::manifest::FILE_NAME);
            m.is_file()
        })
        .collect();
    if series.is_empty() && traced.is_empty() {
        return Err(PlotError::Nothing {
            dir: dir.to_path_buf(),
        });
    }
    crate::fsutil::create_dir(&out).map_err(|e| PlotError::Draw {
        path: out.clone(),
        detail: e.cause.to_string(),
    })?;
    if !series.is_empty() {
        let fig = metrics::MetricsFigure {
            title: format!("{title}: accuracy and loss per epoch"),
            runs: series,
        };
        outcome.files.extend(save(&fig, &out, "metrics")?);
    } else {
        outcome
            .notes
            .push("no metrics.csv: no accuracy plot".into());
    }

    for r in &runs {
        let prefix = if r.label.is_empty() {
            String::new()
        } else {
            format!("{}-", r.label)
        };
        run_figures(r, &out, &prefix, &title, &mut outcome)?;
    }

    if traced.is_empty() {
        outcome
            .notes
            .push("no trace/manifest.json: no wave plots".into());
    }
    for r in traced {
        let prefix = if r.label.is_empty() {
            String::new()
        } else {
            format!("{}-", r.label)
        };
        waves::plot_trace(
            &r.dir.join(DIR_NAME),
            &out,
            &prefix,
            &title,
            opts,
            &mut outcome,
        )?;
    }
    if outcome.files.is_empty() {
        return Err(PlotError::Nothing {
            dir: dir.to_path_buf(),
        });
    }
    Ok(outcome)
}

/// The figures of one run directory's outputs besides its metrics: the weight histograms
/// (from `checkpoint.json`) and the confusion matrix (from `predictions.csv`). A run
/// without them (a trace, or a run from before `predictions.csv`) gets a note.
fn run_figures(
    r: &RunDir,
    out: &Path,
    prefix: &str,
    title: &str,
    outcome: &mut PlotOutcome,
) -> Result<(), PlotError> {
    let checkpoint = r.dir.join(crate::checkpoint::FILE_NAME);
    if checkpoint.is_file() {
        match weights::WeightHistograms::read(&r.dir, title) {
            Ok(fig) => outcome
                .files
                .extend(save(&fig, out, &format!("{prefix}weights"))?),
            Err(e) => outcome.notes.push(format!("{e}: no weights plot")),
        }
    }
    let path = r.dir.join(crate::report::PREDICTIONS_FILE);
    if path.is_file() {
        let rows = crate::report::read_predictions(&path).map_err(|detail| PlotError::Input {
            path: path.clone(),
            detail,
        })?;
        if rows.is_empty() {
            outcome
                .notes
                .push(format!("{}: no rows: no confusion matrix", path.display()));
        } else {
            let fig = confusion::Confusion::new(title, &rows);
            outcome
                .files
                .extend(save(&fig, out, &format!("{prefix}confusion"))?);
        }
    } else if r.dir.join("metrics.csv").is_file() {
        outcome.notes.push(format!(
            "{}: no {}: no confusion matrix",
            r.dir.display(),
            crate::report::PREDICTIONS_FILE
        ));
    }
    Ok(())
}

/// Whether `dir` is itself something to plot: a run directory (metrics or a trace) or a
/// `compare` directory (`sync/`).
fn is_plottable(dir: &Path) -> bool {
    dir.join("metrics.csv").is_file()
        || dir.join("summary.json").is_file()
        || dir.join(DIR_NAME).is_dir()
        || dir.join("sync").join("metrics.csv").is_file()
}

/// For a folder of run directories (`--out` of `bsp-sim run`, e.g. `traces`): the one run
/// it holds; several are an error that lists them. `None` when `dir` is itself a run.
fn single_run_inside(dir: &Path) -> Result<Option<PathBuf>, PlotError> {
    if is_plottable(dir) {
        return Ok(None);
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir() && is_plottable(p))
                .collect()
        })
        .unwrap_or_default();
    runs.sort();
    match runs.len() {
        0 => Ok(None),
        1 => Ok(runs.pop()),
        count => Err(PlotError::SeveralRuns {
            dir: dir.to_path_buf(),
            count,
            list: runs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join("\n  "),
        }),
    }
}

/// "model, seed S" from the first summary.json or trace manifest found.
fn title_of(runs: &[RunDir]) -> String {
    for r in runs {
        if let Ok(text) = std::fs::read_to_string(r.dir.join("summary.json")) {
            if let Ok(s) = serde_json::from_str::<Summary>(&text) {
                return format!("{}, seed {}", s.model_name, s.seed);
            }
        }
        if let Ok(m) = Manifest::read(&r.dir.join(DIR_NAME)) {
            return format!("{}, seed {}", m.model_name, m.seed);
        }
    }
    "bsp-sim run".into()
}

/// A figure that can draw itself on any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;

    /// Its size in pixels (at [`DPI`]); most figures are [`SIZE`].
    fn size(&self) -> (u32, u32) {
        SIZE
    }
}

/// Writes `fig` as `out/stem.svg` and `out/stem.png`.
pub fn save(fig: &impl Figure, out: &Path, stem: &str) -> Result<Vec<PathBuf>, PlotError> {
    ensure_font()?;
    let svg = out.join(format!("{stem}.svg"));
    let png = out.join(format!("{stem}.png"));
    let draw_err = |path: &Path| {
        let path = path.to_path_buf();
        move |detail: String| PlotError::Draw { path, detail }
    };
    {
        let root = SVGBackend::new(&svg, fig.size()).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| draw_err(&svg)(e.to_string()))?;
        fig.draw(&root).map_err(draw_err(&svg))?;
        root.present().map_err(|e| draw_err(&svg)(e.to_string()))?;
    }
    {
        let root =
            glyphs::MarkedText::new(BitMapBackend::new(&png, fig.size())).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| draw_err(&png)(e.to_string()))?;
        fig.draw(&root).map_err(draw_err(&png))?;
        root.present().map_err(|e| draw_err(&png)(e.to_string()))?;
    }
    set_png_dpi(&png, DPI).map_err(draw_err(&png))?;
    Ok(vec![svg, png])
}

/// The resolution the PNGs declare: [`SIZE`] is then a 5 x 3 inch figure.
pub const DPI: u32 = 200;

/// Declares `dpi` in a PNG file (a `pHYs` chunk after the header), so that a document
/// places the figure at its intended size.
fn set_png_dpi(path: &Path, dpi: u32) -> Result<(), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let with = png_with_dpi(&bytes, dpi).ok_or("not a PNG file")?;
    crate::fsutil::write_atomic(path, &with).map_err(|e| e.to_string())
}

/// `png` with a `pHYs` chunk of `dpi` (in pixels per metre, as PNG stores it) inserted
/// after its `IHDR` chunk; `None` when it is not a PNG. An existing `pHYs` is kept.
pub fn png_with_dpi(png: &[u8], dpi: u32) -> Option<Vec<u8>> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !png.starts_with(SIGNATURE) || png.len() < 33 || &png[12..16] != b"IHDR" {
        return None;
    }
    if png.windows(4).any(|w| w == b"pHYs") {
        return Some(png.to_vec());
    }
    let ihdr_end = 8 + 4 + 4 + 13 + 4;
    let ppm = (dpi as f64 / 0.0254).round() as u32;
    let mut chunk = Vec::with_capacity(21);
    chunk.extend_from_slice(&9u32.to_be_bytes());
    let mut body = b"pHYs".to_vec();
    body.extend_from_slice(&ppm.to_be_bytes());
    body.extend_from_slice(&ppm.to_be_bytes());
    body.push(1); // the unit is the metre
    chunk.extend_from_slice(&body);
    chunk.extend_from_slice(&crc32(&body).to_be_bytes());
    let mut out = png[..ihdr_end].to_vec();
    out.extend_from_slice(&chunk);
    out.extend_from_slice(&png[ihdr_end..]);
    Some(out)
}

/// The CRC-32 (ISO-HDLC, as PNG uses) of `data`, bit by bit (chunks here are short).
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= b as u32;
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Font files tried, in order, after `$BSP_SIM_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers the first loadable font as [`FONT`], once per process.
fn ensure_font() -> Result<(), PlotError> {
    static FONT_LOADED: OnceLock<Result<(), String>> = OnceLock::new();
    let result = FONT_LOADED.get_or_init(|| {
        let mut tried: Vec<String> = Vec::new();
        let candidates = std::env::var_os("BSP_SIM_FONT")
            .map(PathBuf::from)
            .into_iter()
            .chain(FONT_PATHS.iter().map(PathBuf::from));
        for path in candidates {
            tried.push(path.display().to_string());
            if let Ok(bytes) = std::fs::read(&path) {
                // The registry keeps fonts for the life of the process.
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font(FONT, FontStyle::Normal, bytes).is_ok() {
                    glyphs::set_font(bytes);
                    return Ok(());
                }
            }
        }
        Err(tried.join(", "))
    });
    result.clone().map_err(|tried| PlotError::NoFont { tried })
}

/// Colours of successive series (the matplotlib "tab10" palette).
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of a wave: forward blue, backward red.
pub fn wave_colour(wave: crate::trace::Wave) -> RGBColor {
    match wave {
        crate::trace::Wave::Forward => PALETTE[0],
        crate::trace::Wave::Backward => PALETTE[1],
    }
}

/// `lo..hi` widened a little (and made non-empty) for an axis.
pub fn padded(lo: f64, hi: f64) -> std::ops::Range<f64> {
    let (lo, hi) = if lo.is_finite() && hi.is_finite() && lo <= hi {
        (lo, hi)
    } else {
        (0.0, 1.0)
    };
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad)..(hi + pad)
}

/// `area` with `title` drawn across its top, and the area below it. The title is set a
/// few pixels lower than plotters sets it, so that a mark over a capital (D̂) stays inside
/// the figure.
pub fn titled<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    size: u32,
) -> Result<DrawingArea<DB, Shift>, String> {
    area.margin(6, 0, 0, 0)
        .titled(title, (FONT, size))
        .map_err(text)
}

/// Maps a plotters error to text.
pub fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}
