//! Where pictures are drawn: SVG, PNG or an animated GIF in memory, then written atomically; the font, the
//! colours and the encoders.

use crate::error::ScoreError;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Once;

/// The drawing area every picture function draws on (any backend).
pub(crate) type Area<'a, DB> = DrawingArea<DB, plotters::coord::Shift>;

/// Register the embedded DejaVu Sans as "sans-serif": PNG and GIF text needs no system fonts.
pub(crate) fn register_font() {
    static FONT: Once = Once::new();
    FONT.call_once(|| {
        let _ = plotters::style::register_font(
            "sans-serif",
            FontStyle::Normal,
            dejavu::sans::regular(),
        );
    });
}

/// `title` shortened to fit the width of `area` at `size` pixels (never clipped at the picture's edge): the
/// part before its first ": " — a data set's name or a long file path — loses its start ("…/data.csv"), any
/// other text its middle.
pub(crate) fn fitted<DB: DrawingBackend>(area: &Area<'_, DB>, title: &str, size: f64) -> String {
    register_font();
    let font = TextStyle::from(("sans-serif", size).into_font());
    let room = area.dim_in_pixel().0.saturating_sub(24);
    let fits = |t: &str| {
        area.estimate_text_size(t, &font)
            .map(|(w, _)| w <= room)
            .unwrap_or(true)
    };
    if fits(title) {
        return title.to_string();
    }
    let (head, tail) = match title.find(": ") {
        Some(i) => (&title[..i], &title[i..]),
        None => ("", title),
    };
    let head: Vec<char> = head.chars().collect();
    for keep in (0..head.len()).rev() {
        let t = format!(
            "…{}{tail}",
            head[head.len() - keep..].iter().collect::<String>()
        );
        if fits(&t) {
            return t;
        }
    }
    let chars: Vec<char> = title.chars().collect();
    for keep in (4..chars.len()).rev() {
        let t = format!(
            "{}…{}",
            chars[..keep / 2].iter().collect::<String>(),
            chars[chars.len() - keep / 2..].iter().collect::<String>()
        );
        if fits(&t) {
            return t;
        }
    }
    "…".into()
}

/// A picture error naming the file.
pub(crate) fn plot_err(path: &Path, e: impl std::fmt::Display) -> ScoreError {
    ScoreError::Plot {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Any plotting error as text.
pub(crate) fn txt(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Write bytes atomically ([`crate::files`]): a failed write leaves no partial file.
pub(crate) fn write_bytes(path: &Path, bytes: Result<Vec<u8>, String>) -> Result<(), ScoreError> {
    bytes
        .and_then(|b| crate::files::write_atomic(path, &b).map_err(|e| crate::files::describe(&e)))
        .map_err(|e| plot_err(path, e))
}

/// Run a drawing on an SVG or PNG canvas according to the extension of the path. The picture is drawn in
/// memory and written atomically: a failed drawing or write leaves no partial file.
macro_rules! on_canvas {
    ($path:expr, $size:expr, |$root:ident| $body:expr) => {{
        let path: &std::path::Path = $path.as_ref();
        $crate::plot::canvas::register_font();
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        let (w, h): (u32, u32) = $size;
        let bytes: Result<Vec<u8>, String> = match ext.as_str() {
            "svg" => {
                let mut svg = String::new();
                let r = {
                    let $root = SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area();
                    let r: Result<(), String> = $body;
                    r.and_then(|_| $root.present().map_err(|e| e.to_string()))
                };
                r.map(|_| svg.into_bytes())
            }
            "png" => {
                let mut rgb = vec![0u8; 3 * w as usize * h as usize];
                let r = {
                    let $root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
                    let r: Result<(), String> = $body;
                    r.and_then(|_| $root.present().map_err(|e| e.to_string()))
                };
                r.and_then(|_| $crate::plot::canvas::encode_png(&rgb, w, h))
            }
            other => Err(format!(
                "unsupported extension `{other}` (use .svg or .png)"
            )),
        };
        $crate::plot::canvas::write_bytes(path, bytes)
    }};
}
pub(crate) use on_canvas;

/// Encode an RGB buffer as PNG.
pub(crate) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().map_err(txt)?;
    writer.write_image_data(rgb).map_err(txt)?;
    writer.finish().map_err(txt)?;
    Ok(out)
}

/// Draws frame k of an animation on a bitmap area.
pub(crate) type DrawFrame<'a> =
    dyn Fn(usize, &Area<'_, BitMapBackend<'_>>) -> Result<(), String> + 'a;

/// The most frames of one animation (a GIF of 640 × 640 frames is about 100 kB to 200 kB a frame).
pub const MAX_FRAMES: usize = 500;

/// An animated GIF of `frames` pictures of `size` pixels, each drawn by `draw(k, area)`, looping forever with
/// `delay_ms` between frames (the last one held for a second at least); written atomically (`.gif` only).
/// Pure Rust (`gif`, `color_quant`): one 255-colour palette learned from the first frame serves every frame,
/// and pixels that did not change since the previous frame are stored as transparent, which compresses well.
pub(crate) fn animate(
    path: &Path,
    size: (u32, u32),
    frames: usize,
    delay_ms: u32,
    draw: &DrawFrame<'_>,
) -> Result<(), ScoreError> {
    register_font();
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    if !ext.eq_ignore_ascii_case("gif") {
        return Err(plot_err(path, "an animation is written as .gif"));
    }
    check_frames(path, frames)?;
    let (w, h) = size;
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return Err(plot_err(
            path,
            format!("{w} × {h} pixels: a frame is 1 to 4096 a side"),
        ));
    }
    let bytes = (|| -> Result<Vec<u8>, String> {
        let mut rgb = vec![0u8; 3 * w as usize * h as usize];
        let frame_rgb = |k: usize, rgb: &mut [u8]| -> Result<(), String> {
            let root = BitMapBackend::with_buffer(rgb, (w, h)).into_drawing_area();
            draw(k, &root)?;
            root.present().map_err(txt)
        };
        frame_rgb(0, &mut rgb)?;
        let mut palette = Palette::of(&rgb);
        let mut out = Vec::new();
        {
            let mut enc =
                gif::Encoder::new(&mut out, w as u16, h as u16, &palette.colours).map_err(txt)?;
            enc.set_repeat(gif::Repeat::Infinite).map_err(txt)?;
            let mut previous: Vec<u8> = Vec::new();
            for k in 0..frames {
                if k > 0 {
                    frame_rgb(k, &mut rgb)?;
                }
                let indices = palette.indices(&rgb);
                // pixels that did not change are transparent: they keep the previous frame's colour
                let mut frame = gif::Frame {
                    width: w as u16,
                    height: h as u16,
                    dispose: gif::DisposalMethod::Keep,
                    ..Default::default()
                };
                if previous.is_empty() {
                    frame.buffer = indices.clone().into();
                } else {
                    let diff: Vec<u8> = indices
                        .iter()
                        .zip(&previous)
                        .map(|(&i, &p)| if i == p { TRANSPARENT } else { i })
                        .collect();
                    frame.buffer = diff.into();
                    frame.transparent = Some(TRANSPARENT);
                }
                // the last frame holds for a second at least before the loop starts again
                let ms = if k + 1 == frames {
                    delay_ms.max(1000)
                } else {
                    delay_ms
                };
                frame.delay = (ms / 10).clamp(1, u16::MAX as u32) as u16;
                enc.write_frame(&frame).map_err(txt)?;
                previous = indices;
            }
        }
        Ok(out)
    })();
    write_bytes(path, bytes)
}

/// Refuse an animation of no frames or too many (before any drawing).
pub(crate) fn check_frames(path: &Path, n: usize) -> Result<(), ScoreError> {
    if n == 0 || n > MAX_FRAMES {
        return Err(plot_err(
            path,
            format!("{n} frames: an animation has 1 to {MAX_FRAMES}"),
        ));
    }
    Ok(())
}

/// The palette index left for "unchanged" pixels.
const TRANSPARENT: u8 = 255;

/// One palette for every frame of an animation: 255 colours learned from the first frame (NeuQuant), and a
/// cache from colour to index (pictures repeat few colours).
struct Palette {
    quant: color_quant::NeuQuant,
    colours: Vec<u8>,
    cache: std::collections::HashMap<[u8; 3], u8>,
}

impl Palette {
    fn of(rgb: &[u8]) -> Palette {
        let rgba: Vec<u8> = rgb
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect();
        let quant = color_quant::NeuQuant::new(10, TRANSPARENT as usize, &rgba);
        let mut colours = quant.color_map_rgb();
        colours.extend([0, 0, 0]); // the transparent index
        Palette {
            quant,
            colours,
            cache: std::collections::HashMap::new(),
        }
    }

    fn indices(&mut self, rgb: &[u8]) -> Vec<u8> {
        rgb.chunks_exact(3)
            .map(|p| {
                let key = [p[0], p[1], p[2]];
                *self
                    .cache
                    .entry(key)
                    .or_insert_with(|| self.quant.index_of(&[p[0], p[1], p[2], 255]) as u8)
            })
            .collect()
    }
}

/// Line and marker colours on white (matplotlib's tab10, first six).
pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// Light colours that stay visible over the dark end of the heat map.
pub(crate) const ON_HEAT: [RGBColor; 6] = [
    RGBColor(255, 255, 255),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(23, 190, 207),
    RGBColor(255, 187, 120),
    RGBColor(247, 182, 210),
];

/// Colours of point sets compared on white: reference data grey, then samples orange, then blue.
pub(crate) const SETS: [RGBColor; 3] = [RGBColor(150, 150, 150), PALETTE[1], PALETTE[0]];

/// Viridis-like colour ramp, t ∈ [0, 1].
pub(crate) fn ramp(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let s = t * (STOPS.len() - 1) as f64;
    let i = (s.floor() as usize).min(STOPS.len() - 2);
    let f = s - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    let mix = |u: f64, v: f64| (u + (v - u) * f).round() as u8;
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// The padded range of the finite values of several series.
pub(crate) fn span<'a>(series: impl Iterator<Item = &'a Vec<f64>>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in series.flatten().filter(|v| v.is_finite()) {
        lo = lo.min(*v);
        hi = hi.max(*v);
    }
    if lo < hi {
        let pad = 0.05 * (hi - lo);
        (lo - pad, hi + pad)
    } else if lo.is_finite() {
        (lo - 1.0, lo + 1.0) // a constant series
    } else {
        (-1.0, 1.0) // nothing finite to show
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_titles_are_shortened_to_fit_never_clipped() {
        let mut svg = String::new();
        let root = SVGBackend::with_string(&mut svg, (480, 300)).into_drawing_area();
        let long = format!(
            "{}/data.csv: samples (orange) over held-out data (grey)",
            "/very/long/path".repeat(8)
        );
        let t = fitted(&root, &long, 20.0);
        assert!(
            t.starts_with('…') && t.ends_with(".csv: samples (orange) over held-out data (grey)"),
            "{t}"
        );
        let font = TextStyle::from(("sans-serif", 20.0).into_font());
        assert!(root.estimate_text_size(&t, &font).unwrap().0 <= 456);
        // a short title is kept as it is; a long one without a name loses its middle
        assert_eq!(fitted(&root, "samples", 20.0), "samples");
        let t = fitted(&root, &"x".repeat(300), 20.0);
        assert!(t.contains('…') && t.len() < 300, "{t}");
    }
}
