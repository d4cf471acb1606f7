//! Text with combining marks (D̂) in the PNG figures. plotters' bitmap text draws every
//! glyph at its pen position and ignores its bearing, so a combining circumflex, whose
//! outline sits left of its pen with no advance, lands after the "D" (or is lost), and a
//! mark drawn for lower case would sit on a capital's top. [`MarkedText`] wraps a backend and
//! draws any text that holds a combining mark itself: glyphs at their bearings, each mark
//! centred over its base glyph's ink and raised above it. Every other call (and all text
//! without marks) goes to the wrapped backend unchanged; SVG needs none of this, a browser
//! shapes the text itself.

use std::sync::OnceLock;

use ab_glyph::{point, Font, FontRef, PxScale, Rect, ScaleFont};
use plotters::prelude::DrawingBackend;
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingErrorKind,
};

/// The font file's bytes, set once when the figures' font is registered.
static FONT_BYTES: OnceLock<&'static [u8]> = OnceLock::new();

/// Keeps the font the figures use, so that [`MarkedText`] lays out glyphs with the same
/// font plotters measures them with.
pub fn set_font(bytes: &'static [u8]) {
    let _ = FONT_BYTES.set(bytes);
}

/// Whether `c` is a combining diacritical mark (drawn over the glyph before it).
pub fn is_combining(c: char) -> bool {
    matches!(c, '\u{0300}'..='\u{036F}' | '\u{20D0}'..='\u{20FF}')
}

/// A backend whose text with combining marks is drawn by `draw_marked`.
pub struct MarkedText<DB> {
    inner: DB,
}

impl<DB: DrawingBackend> MarkedText<DB> {
    pub fn new(inner: DB) -> Self {
        MarkedText { inner }
    }
}

impl<DB: DrawingBackend> DrawingBackend for MarkedText<DB> {
    type ErrorType = DB::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn draw_text<TStyle: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &TStyle,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        let font = FONT_BYTES
            .get()
            .and_then(|b| FontRef::try_from_slice(b).ok());
        match font {
            Some(font) if text.chars().any(is_combining) => {
                draw_marked(&mut self.inner, &font, text, style, pos)
            }
            _ => self.inner.draw_text(text, style, pos),
        }
    }

    fn estimate_text_size<TStyle: BackendTextStyle>(
        &self,
        text: &str,
        style: &TStyle,
    ) -> Result<(u32, u32), DrawingErrorKind<Self::ErrorType>> {
        self.inner.estimate_text_size(text, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<Self::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }
}

/// One glyph's coverage: where its pixels go (before anchoring and rotation).
struct Placed {
    bounds: Rect,
    /// (x, y, coverage) relative to `bounds.min`.
    pixels: Vec<(u32, u32, f32)>,
}

/// Lays out `text` in `font` at `size` pixels: glyphs at their pen positions and bearings
/// (with kerning), the baseline at `size / 2` as plotters places it, and each combining
/// mark moved so that its ink is centred over the previous glyph's and clears its top by
/// a twentieth of the size (at least a pixel). Returns the glyphs' pixels in text coordinates.
fn layout(font: &FontRef<'_>, size: f32, text: &str) -> Vec<Placed> {
    let scaled = font.as_scaled(PxScale::from(size));
    let baseline = size / 2.0;
    let gap = (size * 0.05).max(1.0);
    let mut pen = 0.0f32;
    let mut prev = None;
    let mut base: Option<Rect> = None;
    let mut out = Vec::new();
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            pen += scaled.kern(p, id);
        }
        prev = Some(id);
        let mut glyph = scaled.scaled_glyph(c);
        glyph.position = point(pen, baseline);
        pen += scaled.h_advance(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let mut bounds = outline.px_bounds();
        if is_combining(c) {
            if let Some(b) = base {
                let dx = ((b.min.x + b.max.x) - (bounds.min.x + bounds.max.x)) / 2.0;
                let dy = (b.min.y - gap - bounds.max.y).min(0.0);
                let (dx, dy) = (dx.round(), dy.round());
                bounds.min.x += dx;
                bounds.max.x += dx;
                bounds.min.y += dy;
                bounds.max.y += dy;
            }
        } else {
            base = Some(bounds);
        }
        let mut pixels = Vec::new();
        outline.draw(|x, y, v| pixels.push((x, y, v)));
        out.push(Placed { bounds, pixels });
    }
    out
}

/// Draws `text` as [`layout`] places it, anchored and rotated as plotters' own text is
/// (the same layout box, so it lines up with what plotters measured).
fn draw_marked<DB: DrawingBackend, TStyle: BackendTextStyle>(
    backend: &mut DB,
    font: &FontRef<'_>,
    text: &str,
    style: &TStyle,
    pos: BackendCoord,
) -> Result<(), DrawingErrorKind<DB::ErrorType>> {
    let colour = style.color();
    if colour.alpha == 0.0 {
        return Ok(());
    }
    let ((min_x, min_y), (max_x, max_y)) = style
        .layout_box(text)
        .map_err(|e| DrawingErrorKind::FontError(Box::new(e)))?;
    let (width, height) = (max_x - min_x, max_y - min_y);
    let dx = match style.anchor().h_pos {
        HPos::Left => 0,
        HPos::Right => -width,
        HPos::Center => -width / 2,
    };
    let dy = match style.anchor().v_pos {
        VPos::Top => 0,
        VPos::Center => -height / 2,
        VPos::Bottom => -height,
    };
    let trans = style.transform();
    let (w, h) = backend.get_size();
    for glyph in layout(font, style.size() as f32, text) {
        let (gx, gy) = (glyph.bounds.min.x as i32, glyph.bounds.min.y as i32);
        for (x, y, v) in glyph.pixels {
            let (x, y) = trans.transform(gx + x as i32 + dx - min_x, gy + y as i32 + dy - min_y);
            let (x, y) = (pos.0 + x, pos.1 + y);
            if x >= 0 && x < w as i32 && y >= 0 && y < h as i32 {
                let c = BackendColor {
                    alpha: colour.alpha * v.clamp(0.0, 1.0) as f64,
                    rgb: colour.rgb,
                };
                backend.draw_pixel((x, y), c)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn font() -> Option<FontRef<'static>> {
        let bytes = super::super::FONT_PATHS
            .iter()
            .find_map(|p| std::fs::read(p).ok())?;
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        FontRef::try_from_slice(bytes).ok()
    }

    #[test]
    fn a_circumflex_sits_centred_above_its_capital() {
        let Some(font) = font() else {
            eprintln!("no system font: skipped");
            return;
        };
        let glyphs = layout(&font, 18.0, "D\u{302}");
        assert_eq!(glyphs.len(), 2);
        let (d, hat) = (glyphs[0].bounds, glyphs[1].bounds);
        assert!(hat.max.y < d.min.y, "hat {hat:?} above D {d:?}");
        let centre = |r: Rect| (r.min.x + r.max.x) / 2.0;
        assert!((centre(hat) - centre(d)).abs() <= 1.0, "{hat:?} over {d:?}");
    }
}
