//! Charts people look at: training curves ([`curves`]) and evaluation figures
//! ([`evaluation`]: ROC and precision-recall curves, confusion matrices, predicted against
//! true values). Each is drawn as SVG by hand (no plotting dependency) and, for a `.png`
//! path, rendered by resvg with an embedded font, so no system font is needed. Any input
//! draws something: non-finite values leave gaps, a single point or a constant gets a padded
//! range, and no data at all still gives the axes.

mod axis;
pub mod curves;
pub mod evaluation;
mod png;

pub use curves::{line_chart_svg, write_chart, Series};
pub use evaluation::{evaluation_svg, Evaluation};

use crate::error::{Error, Result};
use crate::files::write_atomically;
use std::path::Path;

/// A chart file's format, from its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.svg`: the drawing itself.
    Svg,
    /// `.png`: the drawing rendered at twice its size.
    Png,
}

impl Format {
    /// The format `path` names, or an error for any other extension.
    pub fn of(path: &Path) -> Result<Format> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("svg") => Ok(Format::Svg),
            Some("png") => Ok(Format::Png),
            _ => Err(Error::InvalidConfig(format!(
                "{}: plots are .svg or .png files (name the file something.svg or .png)",
                path.display()
            ))),
        }
    }
}

/// The text that marks a chart as drawn by run `run_id` (an SVG comment, a PNG text chunk),
/// so that a resumed run knows the file is its own.
pub fn run_tag(run_id: &str) -> String {
    format!("gpumlp run {run_id}")
}

/// Writes the chart `svg` to `path` atomically, so a crash never leaves half a chart: as SVG
/// or as PNG, by the extension, tagged with `run_id` when given ([`run_tag`]).
pub fn save(path: &Path, svg: &str, run_id: Option<&str>) -> Result<()> {
    let bytes = match Format::of(path)? {
        Format::Svg => {
            let mut svg = svg.to_string();
            if let (Some(id), Some(end)) = (run_id, svg.find('\n')) {
                svg.insert_str(end + 1, &format!("<!-- {} -->\n", run_tag(id)));
            }
            svg.into_bytes()
        }
        Format::Png => png::render(svg, run_id.map(run_tag).as_deref())?,
    };
    write_atomically(path, &bytes)
}

/// Tableau 10: distinct hues that stay apart for most colour-blind readers.
pub(super) const PALETTE: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
    "#9c755f", "#bab0ac",
];

/// An SVG document's opening: the root element, `width` × `height`, on white.
pub(super) fn canvas(width: f64, height: f64) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n"
    )
}

pub(super) fn series_colour(index: usize) -> &'static str {
    PALETTE[index % PALETTE.len()]
}

/// Past the palette's ten colours, lines repeat a colour but get a dash pattern.
pub(super) fn series_dash(index: usize) -> &'static str {
    if index < PALETTE.len() {
        ""
    } else {
        r#" stroke-dasharray="6 3""#
    }
}

/// At most `max_chars` characters, the last one an ellipsis when something was cut.
pub(super) fn shortened(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut short: String = text.chars().take(max_chars - 1).collect();
    short.push('…');
    short
}

pub(super) fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => escaped.push('\u{fffd}'),
            c => escaped.push(c),
        }
    }
    escaped
}
