//! PNG output: the SVG chart rendered by resvg at twice its size, with DejaVu Sans embedded in
//! the binary (so a headless machine without fonts draws the same text), and the run's tag as
//! a PNG text chunk before the pixels.

use crate::error::{Error, Result};
use resvg::{tiny_skia, usvg};

/// DejaVu Sans (Bitstream Vera licence, assets/fonts/LICENSE-DejaVu.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// Pixels per SVG unit: sharp on high-density screens and in documents.
const SCALE: f32 = 2.0;

/// The PNG bytes of `svg`, with `tag` (if any) as a `Comment` text chunk.
pub(super) fn render(svg: &str, tag: Option<&str>) -> Result<Vec<u8>> {
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        Error::InvalidConfig(format!("cannot render the chart as PNG: {what}: {e}"))
    };
    let mut options = usvg::Options::default();
    let fonts = options.fontdb_mut();
    fonts.load_font_data(FONT.to_vec());
    fonts.set_sans_serif_family("DejaVu Sans");
    options.font_family = "DejaVu Sans".into();
    let tree = usvg::Tree::from_str(svg, &options).map_err(|e| fail("parse", &e))?;
    let size = tree.size();
    let (width, height) = (
        (size.width() * SCALE).ceil() as u32,
        (size.height() * SCALE).ceil() as u32,
    );
    let mut pixmap = tiny_skia::Pixmap::new(width, height)
        .ok_or_else(|| fail("size", &format!("{width} × {height} pixels")))?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(SCALE, SCALE),
        &mut pixmap.as_mut(),
    );
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let text = |e: png::EncodingError| fail("encode", &e);
        encoder
            .add_text_chunk("Software".into(), "gpumlp".into())
            .map_err(text)?;
        if let Some(tag) = tag {
            encoder
                .add_text_chunk("Comment".into(), tag.into())
                .map_err(text)?;
        }
        let mut writer = encoder.write_header().map_err(text)?;
        writer
            .write_image_data(&pixmap.take_demultiplied())
            .map_err(text)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_renders_to_a_png_with_its_text_drawn() {
        let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="40" font-family="sans-serif"><rect width="120" height="40" fill="white"/><text x="4" y="28" font-size="24">gpumlp</text></svg>"#;
        let png = render(svg, Some("gpumlp run 00ff")).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(&png));
        let mut reader = decoder.read_info().unwrap();
        let info = reader.info();
        assert_eq!((info.width, info.height), (240, 80));
        let comment = info
            .uncompressed_latin1_text
            .iter()
            .find(|t| t.keyword == "Comment")
            .map(|t| t.text.clone());
        assert_eq!(comment.as_deref(), Some("gpumlp run 00ff"));
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        reader.next_frame(&mut pixels).unwrap();
        // The font drew the word: some pixels are dark, most are white.
        let dark = pixels.chunks(4).filter(|p| p[0] < 100).count();
        assert!(dark > 200 && dark < 240 * 80 / 2, "{dark} dark pixels");
    }
}
