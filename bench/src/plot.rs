//! The plot of BENCHMARKS.md: each comparison's ratio as a bar on a log scale around 1,
//! with its target marked. plotters draws into an RGB buffer with a TrueType font read
//! from a file (no system font library), and png encodes the buffer.

use crate::report::{Row, Target};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use std::path::Path;

const WIDTH: u32 = 1200;
const ROW_HEIGHT: u32 = 34;
const TOP: i32 = 60;
const LABEL_WIDTH: i32 = 520;
const BAR_WIDTH: f64 = 620.0;
/// The axis runs from 1/10 to 10^MAX_DECADES.
const MIN_DECADE: f64 = -1.0;
const MAX_DECADES: f64 = 4.0;

/// Where a TrueType font is found (Debian's fonts-dejavu-core, which `scripts/dev bench`
/// installs when missing).
const FONTS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
];

/// Draws the rows that have a ratio into `path` (PNG).
pub(crate) fn draw(rows: &[Row], path: &Path) -> anyhow::Result<()> {
    font()?;
    let rows: Vec<&Row> = rows.iter().filter(|r| r.ratio().is_some()).collect();
    let height = TOP as u32 + ROW_HEIGHT * rows.len() as u32 + 40;
    let mut buffer = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let title = ("sans-serif", 20).into_font();
        let text = ("sans-serif", 13).into_font();
        let heading = "ours / baseline, log scale (rate rows: above 1 is ours ahead; time-per-call rows: above 1 is ours slower); black mark: the target";
        root.draw(&Text::new(heading, (10, 15), title))
            .map_err(plot_error)?;
        axis(&root, height, &text)?;
        for (i, row) in rows.iter().enumerate() {
            let y = TOP + (i as u32 * ROW_HEIGHT) as i32;
            bar(&root, row, y, &text)?;
        }
        root.present().map_err(plot_error)?;
    }
    encode(&buffer, height, path)
}

/// The x position of a ratio.
fn x(ratio: f64) -> i32 {
    let decade = ratio.max(1e-3).log10().clamp(MIN_DECADE, MAX_DECADES);
    LABEL_WIDTH + ((decade - MIN_DECADE) / (MAX_DECADES - MIN_DECADE) * BAR_WIDTH) as i32
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, plotters::coord::Shift>;

fn axis(root: &Area<'_>, height: u32, font: &FontDesc<'_>) -> anyhow::Result<()> {
    let bottom = height as i32 - 30;
    for decade in (MIN_DECADE as i32)..=(MAX_DECADES as i32) {
        let value = 10f64.powi(decade);
        let at = x(value);
        let colour = if decade == 0 {
            BLACK
        } else {
            RGBColor(210, 210, 210)
        };
        root.draw(&PathElement::new(vec![(at, TOP - 8), (at, bottom)], colour))
            .map_err(plot_error)?;
        let label = if value < 1.0 {
            format!("{value}")
        } else {
            format!("{value:.0}")
        };
        root.draw(&Text::new(label, (at - 8, bottom + 6), font.clone()))
            .map_err(plot_error)?;
    }
    Ok(())
}

fn bar(root: &Area<'_>, row: &Row, y: i32, font: &FontDesc<'_>) -> anyhow::Result<()> {
    let ratio = row.ratio().unwrap_or(1.0);
    let label = format!("{}: {}", row.group, row.name);
    root.draw(&Text::new(label, (10, y + 8), font.clone()))
        .map_err(plot_error)?;
    let colour = match row.verdict() {
        "met" => RGBColor(60, 150, 80),
        "missed" => RGBColor(200, 70, 60),
        _ => RGBColor(90, 120, 180),
    };
    let (from, to) = (x(1.0), x(ratio));
    let corners = [
        (from.min(to), y + 4),
        (from.max(to), y + ROW_HEIGHT as i32 - 8),
    ];
    root.draw(&Rectangle::new(corners, colour.filled()))
        .map_err(plot_error)?;
    let mut right = from.max(to);
    if let Some(target) = row.target {
        let t = match target {
            Target::AtLeast(t) | Target::AtMost(t) => t,
        };
        let at = x(t);
        let mark = vec![(at, y), (at, y + ROW_HEIGHT as i32 - 4)];
        root.draw(&PathElement::new(mark, BLACK.stroke_width(3)))
            .map_err(plot_error)?;
        right = right.max(at);
    }
    let value = format!("{ratio:.2}");
    root.draw(&Text::new(value, (right + 6, y + 8), font.clone()))
        .map_err(plot_error)?;
    Ok(())
}

/// Registers the first font found as `sans-serif`.
fn font() -> anyhow::Result<()> {
    let path = FONTS.iter().find(|p| Path::new(p).exists());
    let Some(path) = path else {
        anyhow::bail!("no TrueType font for the plot: install Debian's fonts-dejavu-core (scripts/dev bench does)");
    };
    let bytes: &'static [u8] = Box::leak(std::fs::read(path)?.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow::anyhow!("{path} is not a font plotters can read"))
}

fn encode(buffer: &[u8], height: u32, path: &Path) -> anyhow::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, WIDTH, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.write_header()?.write_image_data(buffer)?;
    Ok(())
}

fn plot_error<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow::anyhow!("drawing the plot: {e:?}")
}
