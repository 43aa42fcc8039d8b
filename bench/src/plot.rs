//! The plots of BENCHMARKS.md: each comparison's ratio as a bar on a log scale around 1,
//! with its target marked; and the per-language figures, a panel per measure. plotters draws into an RGB buffer with a TrueType font read
//! from a file (no system font library), and png encodes the buffer.

use crate::report::{GuestFigures, Row, Target};
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
        let heading = "ours / baseline, log scale (rate rows: above 1 is ours ahead; time-per-call and p99 rows: above 1 is ours slower); black mark: the target";
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

/// A panel of the per-language plot: its title, the figure it reads, the figure's unit.
type Measure = (&'static str, fn(&GuestFigures) -> f64, &'static str);

/// The per-language plot: for each measure of the guests table, one bar per listener on
/// a log scale (smaller is better for all five), so languages compare at a glance.
pub(crate) fn draw_languages(guests: &[GuestFigures], path: &Path) -> anyhow::Result<()> {
    font()?;
    let measures: [Measure; 5] = [
        ("component size", |g| g.bytes as f64 / 1e3, "KB"),
        (
            "compile (first load)",
            |g| g.compile.as_secs_f64() * 1e3,
            "ms",
        ),
        (
            "precompiled load",
            |g| g.precompiled_load.as_secs_f64() * 1e3,
            "ms",
        ),
        (
            "time per event (fresh instance)",
            |g| g.time_per_event.as_secs_f64() * 1e6,
            "µs",
        ),
        (
            "time per event (instance reused)",
            |g| g.time_per_event_reused.as_secs_f64() * 1e6,
            "µs",
        ),
    ];
    let panel_height = TOP as u32 + ROW_HEIGHT * guests.len() as u32 + 10;
    let height = panel_height * measures.len() as u32;
    let mut buffer = vec![0u8; (WIDTH * height * 3) as usize];
    {
        let root = BitMapBackend::with_buffer(&mut buffer, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_error)?;
        let panels = root.split_evenly((measures.len(), 1));
        for (panel, (title, value, unit)) in panels.iter().zip(measures) {
            let values: Vec<f64> = guests.iter().map(|g| value(g).max(1e-3)).collect();
            measure_panel(
                panel,
                &format!("{title}, {unit}, log scale"),
                guests,
                &values,
                unit,
            )?;
        }
        root.present().map_err(plot_error)?;
    }
    encode(&buffer, height, path)
}

fn measure_panel(
    area: &Area<'_>,
    title: &str,
    guests: &[GuestFigures],
    values: &[f64],
    unit: &str,
) -> anyhow::Result<()> {
    let low = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let high = values
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .log10()
        .ceil()
        .max(low + 1.0);
    let at = |v: f64| {
        LABEL_WIDTH + ((v.log10() - low) / (high - low) * BAR_WIDTH).clamp(0.0, BAR_WIDTH) as i32
    };
    let text = ("sans-serif", 13).into_font();
    area.draw(&Text::new(
        title.to_owned(),
        (10, 15),
        ("sans-serif", 18).into_font(),
    ))
    .map_err(plot_error)?;
    for (i, (guest, &v)) in guests.iter().zip(values).enumerate() {
        let y = TOP - 20 + (i as u32 * ROW_HEIGHT) as i32;
        let label = format!("{} in {}", guest.example, guest.language);
        area.draw(&Text::new(label, (10, y + 8), text.clone()))
            .map_err(plot_error)?;
        let corners = [
            (LABEL_WIDTH, y + 4),
            (at(v).max(LABEL_WIDTH + 1), y + ROW_HEIGHT as i32 - 8),
        ];
        area.draw(&Rectangle::new(corners, RGBColor(90, 120, 180).filled()))
            .map_err(plot_error)?;
        let figure = if v >= 100.0 {
            format!("{v:.0} {unit}")
        } else {
            format!("{v:.2} {unit}")
        };
        area.draw(&Text::new(figure, (at(v) + 6, y + 8), text.clone()))
            .map_err(plot_error)?;
    }
    Ok(())
}
