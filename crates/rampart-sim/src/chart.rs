//! The chart of a simulation: per run, requests served, degraded and failed per second
//! (top) and the worker pool's use (bottom), the incident shaded, runs side by side;
//! written as SVG and PNG with `plotters`.
//!
//! Text needs a TrueType font, read at run time so that building needs no system
//! library: the file named by `RAMPART_CHART_FONT`, else a common system font (DejaVu
//! Sans, Liberation Sans, Arial). Without one the chart is drawn without text, and
//! [`ChartFiles::note`] says so.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::report::{Report, RunReport};

/// Where the chart was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartFiles {
    /// The SVG file.
    pub svg: PathBuf,
    /// The PNG file.
    pub png: PathBuf,
    /// Why the chart has no text, if it has none.
    pub note: Option<String>,
}

/// A chart that could not be drawn or written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChartError(String);

impl std::fmt::Display for ChartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot write the chart: {}", self.0)
    }
}

impl std::error::Error for ChartError {}

/// The chart's size in pixels.
const SIZE: (u32, u32) = (1200, 720);

/// System fonts tried, in order, when `RAMPART_CHART_FONT` names none.
const FONTS: [&str; 7] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Writes `DIR/STEM.svg` and `DIR/STEM.png`.
///
/// # Errors
///
/// A [`ChartError`] when a file cannot be written or drawn.
pub fn write_chart(report: &Report, dir: &Path, stem: &str) -> Result<ChartFiles, ChartError> {
    let text = font();
    let svg = dir.join(format!("{stem}.svg"));
    let png = dir.join(format!("{stem}.png"));
    {
        let root = SVGBackend::new(&svg, SIZE).into_drawing_area();
        draw(&root, report, text.is_ok())?;
        root.present()
            .map_err(|e| ChartError(format!("{}: {e}", svg.display())))?;
    }
    {
        let root = BitMapBackend::new(&png, SIZE).into_drawing_area();
        draw(&root, report, text.is_ok())?;
        root.present()
            .map_err(|e| ChartError(format!("{}: {e}", png.display())))?;
    }
    Ok(ChartFiles {
        svg,
        png,
        note: text.err(),
    })
}

/// Registers a font for the chart's text, once per process.
fn font() -> Result<(), String> {
    static FONT: OnceLock<Result<(), String>> = OnceLock::new();
    FONT.get_or_init(|| {
        let named = std::env::var_os("RAMPART_CHART_FONT").map(PathBuf::from);
        let candidates = named.iter().cloned().chain(FONTS.iter().map(PathBuf::from));
        for path in candidates {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            // plotters keeps fonts for the whole process: the bytes live as long.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                return Ok(());
            }
        }
        Err(
            "no TrueType font found (set RAMPART_CHART_FONT to a .ttf file): the chart has no text"
                .to_owned(),
        )
    })
    .clone()
}

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    text: bool,
) -> Result<(), ChartError> {
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| ChartError(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let root = if text {
        root.titled(
            &format!("rampart simulate {}", report.scenario),
            ("sans-serif", 22),
        )
        .map_err(err)?
    } else {
        root.clone()
    };
    let columns = root.split_evenly((1, report.runs.len().max(1)));
    for (run, column) in report.runs.iter().zip(&columns) {
        let (top, bottom) = column.split_vertically(SIZE.1 * 3 / 5);
        requests_panel(&top, report, run, text).map_err(err)?;
        pool_panel(&bottom, report, run, text).map_err(err)?;
    }
    Ok(())
}

const SERVED: RGBColor = RGBColor(46, 139, 87);
const DEGRADED: RGBColor = RGBColor(230, 145, 30);
const FAILED: RGBColor = RGBColor(200, 40, 40);
const POOL: RGBColor = RGBColor(40, 90, 180);
const INCIDENT: RGBColor = RGBColor(235, 235, 235);

fn seconds(run: &RunReport) -> u32 {
    u32::try_from(run.series.served.len().max(1)).unwrap_or(u32::MAX)
}

/// A panel's coordinates: seconds across, a count up.
type Panel<'a, DB> = ChartContext<
    'a,
    DB,
    Cartesian2d<plotters::coord::types::RangedCoordu32, plotters::coord::types::RangedCoordu32>,
>;

/// A panel of `run` from 0 to `top`, with its caption and axes when there is `text`,
/// and the incident (from the first change of a dependency to the last) shaded.
fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    report: &Report,
    run: &RunReport,
    top: u32,
    text: bool,
) -> Result<Panel<'a, DB>, DrawingAreaErrorKind<DB::ErrorType>> {
    let mut builder = ChartBuilder::on(area);
    builder.margin(12);
    if text {
        builder
            .caption(caption, ("sans-serif", 16))
            .x_label_area_size(28)
            .y_label_area_size(52);
    }
    let mut chart = builder.build_cartesian_2d(0..seconds(run), 0..top)?;
    if text {
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc("seconds")
            .draw()?;
    }
    if let Some((from, to)) = report.incident_ms {
        let (from, to) = ((from / 1000) as u32, (to / 1000) as u32);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(from, 0), (to, top)],
            INCIDENT.filled(),
        )))?;
    }
    Ok(chart)
}

fn requests_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    run: &RunReport,
    text: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let s = &run.series;
    let top = [&s.served, &s.degraded, &s.failed]
        .iter()
        .flat_map(|v| v.iter().copied())
        .max()
        .unwrap_or(1)
        .max(1)
        * 11
        / 10;
    let caption = format!("{}: requests per second", run.name);
    let mut chart = panel(area, &caption, report, run, top, text)?;
    for (values, color, label) in [
        (&s.served, SERVED, "served"),
        (&s.degraded, DEGRADED, "degraded"),
        (&s.failed, FAILED, "failed"),
    ] {
        let points = values.iter().enumerate().map(|(i, v)| (i as u32, *v));
        let series = chart.draw_series(LineSeries::new(points, color.stroke_width(2)))?;
        if text {
            series.label(label).legend(move |(x, y)| {
                PathElement::new([(x, y), (x + 16, y)], color.stroke_width(2))
            });
        }
    }
    if text {
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::UpperRight)
            .draw()?;
    }
    Ok(())
}

fn pool_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    report: &Report,
    run: &RunReport,
    text: bool,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let mut chart = panel(area, "worker pool in use (%)", report, run, 100, text)?;
    let points = run
        .series
        .utilisation_permille
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u32, p / 10));
    chart.draw_series(LineSeries::new(points, POOL.stroke_width(2)))?;
    Ok(())
}
