//! Figures and tables for the experiments: CSV (atomic) and plotters figures in SVG and PNG.
//!
//! Text is drawn with the DejaVu Sans font from Debian's `fonts-dejavu-core` (set `LOTTERY_FONT`
//! to another `.ttf` to override); [`init_fonts`] fails with a clear message when it is missing.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::{Error, Result};

const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/local/share/fonts/DejaVuSans.ttf",
];

/// Register the sans-serif font once per process.
pub fn init_fonts() -> Result<()> {
    static DONE: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        let candidates: Vec<PathBuf> = std::env::var_os("LOTTERY_FONT")
            .map(|p| vec![PathBuf::from(p)])
            .unwrap_or_else(|| FONT_PATHS.iter().map(PathBuf::from).collect());
        for path in &candidates {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                return plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                    .map_err(|_| format!("{} is not a usable TrueType font", path.display()));
            }
        }
        Err(
            "no font for figures: install fonts-dejavu-core (apt) or set LOTTERY_FONT to a .ttf"
                .into(),
        )
    })
    .clone()
    .map_err(|reason| Error::param("font", reason))
}

/// Mean and (population) standard deviation.
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    let s = (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt();
    (m, s)
}

/// One curve of a line plot.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub name: String,
    /// Points $(x, y)$.
    pub points: Vec<(f64, f64)>,
    /// Symmetric error bars (same length as `points`), if any.
    pub err: Option<Vec<f64>>,
    /// Dashed (for theoretical bounds) rather than solid with markers.
    pub dashed: bool,
}

impl Series {
    /// A measured curve.
    pub fn line(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            err: None,
            dashed: false,
        }
    }

    /// A bound drawn dashed.
    pub fn bound(name: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Series {
            name: name.into(),
            points,
            err: None,
            dashed: true,
        }
    }
}

/// One panel of a figure.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Title.
    pub title: String,
    /// Axis labels.
    pub x_label: String,
    /// Axis labels.
    pub y_label: String,
    /// Log-scale axes.
    pub log_x: bool,
    /// Log-scale axes.
    pub log_y: bool,
    /// Curves.
    pub series: Vec<Series>,
    /// Heat map cells $(x_0, x_1, y_0, y_1, v)$ with $0 \le v \le 1$, drawn under the curves.
    pub cells: Vec<(f64, f64, f64, f64, f64)>,
    /// Legend in the lower right corner instead of the upper right.
    pub legend_lower: bool,
}

/// Tableau's ten colours and black: a panel of up to 11 curves repeats none (the `one_shot`
/// panels draw 10).
const PALETTE: [RGBColor; 11] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(0, 0, 0),
];

fn bounds(p: &Panel) -> (f64, f64, f64, f64) {
    let mut xs: Vec<f64> = Vec::new();
    let mut ys: Vec<f64> = Vec::new();
    for s in &p.series {
        for (i, &(x, y)) in s.points.iter().enumerate() {
            let e = s.err.as_ref().map_or(0.0, |e| e[i]);
            if x.is_finite() && (!p.log_x || x > 0.0) {
                xs.push(x);
            }
            for v in [y - e, y + e] {
                if v.is_finite() && (!p.log_y || v > 0.0) {
                    ys.push(v);
                }
            }
        }
    }
    for &(x0, x1, y0, y1, _) in &p.cells {
        xs.extend([x0, x1]);
        ys.extend([y0, y1]);
    }
    let lo = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    let hi = |v: &[f64]| v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (mut x0, mut x1, mut y0, mut y1) = (lo(&xs), hi(&xs), lo(&ys), hi(&ys));
    if !(x0.is_finite() && x1.is_finite()) {
        (x0, x1) = (1.0, 2.0);
    }
    if !(y0.is_finite() && y1.is_finite()) {
        (y0, y1) = (1.0, 2.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    if y1 <= y0 {
        y1 = y0 + y0.abs().max(1.0) * 0.1;
    }
    if p.log_y {
        (y0 / 1.5, y1 * 1.5, x0, x1).into_ordered()
    } else {
        let pad = 0.05 * (y1 - y0);
        (y0 - pad, y1 + pad, x0, x1).into_ordered()
    }
}

trait Ordered {
    fn into_ordered(self) -> (f64, f64, f64, f64);
}

impl Ordered for (f64, f64, f64, f64) {
    /// (y0, y1, x0, x1) → (x0, x1, y0, y1)
    fn into_ordered(self) -> (f64, f64, f64, f64) {
        (self.2, self.3, self.0, self.1)
    }
}

/// Tick label: plain for moderate values, scientific otherwise, no trailing zeros.
fn tick(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-2..1e4).contains(&a) {
        let s = format!("{v:.0e}");
        return s.replace("e-0", "e-").replace("e0", "");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, p: &Panel) -> Result<()> {
    let err = |e: String| Error::param("plot", e);
    let (x0, x1, y0, y1) = bounds(p);
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(&p.title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(60);
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc(p.x_label.as_str())
                .y_desc(p.y_label.as_str())
                .label_style(("sans-serif", 12))
                .x_labels(7)
                .y_labels(7)
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .draw()
                .map_err(|e| err(e.to_string()))?;
            for &(cx0, cx1, cy0, cy1, v) in &p.cells {
                let shade = (255.0 * (1.0 - v.clamp(0.0, 1.0))) as u8;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(cx0, cy0), (cx1, cy1)],
                        RGBColor(shade, shade, shade).filled(),
                    )))
                    .map_err(|e| err(e.to_string()))?;
            }
            for (i, s) in p.series.iter().enumerate() {
                let color = PALETTE[i % PALETTE.len()];
                let pts: Vec<(f64, f64)> = s
                    .points
                    .iter()
                    .cloned()
                    .filter(|&(x, y)| {
                        x.is_finite()
                            && y.is_finite()
                            && (!p.log_x || x > 0.0)
                            && (!p.log_y || y > 0.0)
                    })
                    .collect();
                let style = ShapeStyle {
                    color: color.to_rgba(),
                    filled: false,
                    stroke_width: 2,
                };
                let anno = if s.dashed {
                    chart
                        .draw_series(DashedLineSeries::new(pts.clone(), 6, 4, style))
                        .map_err(|e| err(e.to_string()))?
                } else {
                    chart
                        .draw_series(LineSeries::new(pts.clone(), style))
                        .map_err(|e| err(e.to_string()))?
                };
                anno.label(s.name.as_str()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
                });
                if !s.dashed && pts.len() <= 60 {
                    chart
                        .draw_series(
                            pts.iter()
                                .map(|&(x, y)| Circle::new((x, y), 3, color.filled())),
                        )
                        .map_err(|e| err(e.to_string()))?;
                }
                if let Some(errs) = &s.err {
                    chart
                        .draw_series(s.points.iter().zip(errs).filter(|(_, e)| **e > 0.0).map(
                            |(&(x, y), &e)| {
                                let lo = if p.log_y {
                                    (y - e).max(y * 1e-3)
                                } else {
                                    y - e
                                };
                                ErrorBar::new_vertical(x, lo, y, y + e, color.stroke_width(1), 6)
                            },
                        ))
                        .map_err(|e| err(e.to_string()))?;
                }
            }
            if p.series.iter().any(|s| !s.name.is_empty()) {
                chart
                    .configure_series_labels()
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font(("sans-serif", 12))
                    .position(if p.legend_lower {
                        SeriesLabelPosition::LowerRight
                    } else {
                        SeriesLabelPosition::UpperRight
                    })
                    .draw()
                    .map_err(|e| err(e.to_string()))?;
            }
        }};
    }
    match (p.log_x, p.log_y) {
        (false, false) => body!(builder
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(|e| err(e.to_string()))?),
        (true, false) => body!(builder
            .build_cartesian_2d((x0..x1).log_scale(), y0..y1)
            .map_err(|e| err(e.to_string()))?),
        (false, true) => body!(builder
            .build_cartesian_2d(x0..x1, (y0..y1).log_scale())
            .map_err(|e| err(e.to_string()))?),
        (true, true) => body!(builder
            .build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())
            .map_err(|e| err(e.to_string()))?),
    }
    Ok(())
}

fn draw_all<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    panels: &[Panel],
    cols: usize,
) -> Result<()> {
    root.fill(&WHITE)
        .map_err(|e| Error::param("plot", e.to_string()))?;
    let rows = panels.len().div_ceil(cols);
    let areas = root.split_evenly((rows, cols));
    for (area, p) in areas.iter().zip(panels) {
        draw_panel(area, p)?;
    }
    root.present()
        .map_err(|e| Error::param("plot", e.to_string()))
}

/// Draw `panels` on a grid with `cols` columns into `<stem>.svg` and `<stem>.png` (both written
/// atomically).
pub fn figure(stem: &Path, panels: &[Panel], cols: usize) -> Result<()> {
    init_fonts()?;
    let cols = cols.max(1).min(panels.len().max(1));
    let rows = panels.len().div_ceil(cols);
    let size = (480 * cols as u32, 380 * rows as u32);
    let mut svg = String::new();
    draw_all(
        SVGBackend::with_string(&mut svg, size).into_drawing_area(),
        panels,
        cols,
    )?;
    crate::io::write_atomic(&stem.with_extension("svg"), svg.as_bytes())?;
    let png = stem.with_extension("png");
    let tmp = stem.with_extension("tmp.png");
    draw_all(
        BitMapBackend::new(&tmp, size).into_drawing_area(),
        panels,
        cols,
    )?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &png))
        .map_err(|e| Error::Io {
            path: png.clone(),
            source: e,
        })?;
    crate::io::sync_parent(&png)
}

/// Columns of a sweep's `results.csv` that never name a curve: the seeds a point averages over
/// and the keys that place it along the x axis.
const NOT_SERIES: [&str; 5] = ["seed", "branch_seed", "sparsity", "k", "level"];

/// The figure of a sweep's merged table (header first, as written to `results.csv`): test
/// accuracy against the fraction of weights remaining (log axis) for every training row, and
/// test instability against the rewind iteration for `lmc` rows; one curve per combination of
/// the varied settings other than the seed and the x-axis keys, each point the mean over seeds
/// with its 95% confidence interval ([`crate::stats::mean_ci95`]). Writes `<stem>.svg` and
/// `<stem>.png` (nothing when no row has a result to draw).
pub fn sweep_figure(table: &[Vec<String>], stem: &Path) -> Result<()> {
    let Some((header, rows)) = table.split_first() else {
        return Err(Error::param("figure", "empty table"));
    };
    let col = |name: &str| header.iter().position(|h| h == name);
    let run_dir = col("run_dir").ok_or_else(|| Error::param("figure", "no run_dir column"))?;
    let varying = &header[..run_dir];
    let num = |row: &Vec<String>, name: &str| -> Option<f64> {
        col(name).and_then(|i| row[i].parse::<f64>().ok())
    };
    let series_of = |row: &Vec<String>| -> String {
        let parts: Vec<String> = varying
            .iter()
            .zip(row)
            .filter(|(h, _)| !NOT_SERIES.contains(&h.as_str()))
            .map(|(h, v)| format!("{h}={v}"))
            .collect();
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(", ")
        }
    };
    let point_of = |row: &Vec<String>| -> String {
        let mut parts: Vec<String> = varying
            .iter()
            .zip(row)
            .filter(|(h, _)| !matches!(h.as_str(), "seed" | "branch_seed"))
            .map(|(h, v)| format!("{h}={v}"))
            .collect();
        for extra in ["level", "k"] {
            if let Some(i) = col(extra) {
                parts.push(format!("{extra}={}", row[i]));
            }
        }
        parts.join(",")
    };
    // (panel, series, point) -> (xs, ys)
    type Points = std::collections::BTreeMap<String, (Vec<f64>, Vec<f64>)>;
    let mut panels: [std::collections::BTreeMap<String, Points>; 2] = Default::default();
    for row in rows {
        let (panel, x, y) = match num(row, "instability_test") {
            Some(inst) => (1, num(row, "k"), Some(inst)),
            None => (
                0,
                num(row, "remaining").map(|r| 100.0 * r),
                num(row, "test_accuracy"),
            ),
        };
        let (Some(x), Some(y)) = (x, y) else { continue };
        let e = panels[panel]
            .entry(series_of(row))
            .or_default()
            .entry(point_of(row))
            .or_default();
        e.0.push(x);
        e.1.push(y);
    }
    let mut out = Vec::new();
    for (i, curves) in panels.iter().enumerate() {
        if curves.is_empty() {
            continue;
        }
        let mut series = Vec::new();
        for (name, points) in curves {
            let mut pts: Vec<(f64, f64, f64)> = points
                .values()
                .map(|(xs, ys)| {
                    let (my, h) = crate::stats::mean_ci95(ys);
                    (xs.iter().sum::<f64>() / xs.len() as f64, my, h)
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut s = Series::line(name.clone(), pts.iter().map(|p| (p.0, p.1)).collect());
            if pts.iter().any(|p| p.2.is_finite()) {
                s.err = Some(
                    pts.iter()
                        .map(|p| if p.2.is_finite() { p.2 } else { 0.0 })
                        .collect(),
                );
            }
            series.push(s);
        }
        let (title, x_label, y_label, log_x) = if i == 0 {
            (
                "Test accuracy (mean, 95% CI over seeds)",
                "% of weights remaining",
                "test accuracy",
                true,
            )
        } else {
            (
                "Instability (mean, 95% CI over seeds)",
                "rewind iteration k",
                "test instability",
                false,
            )
        };
        out.push(Panel {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x,
            log_y: false,
            series,
            cells: Vec::new(),
            legend_lower: i == 0,
        });
    }
    if out.is_empty() {
        // Nothing trained (data-free runs only): no figure.
        return Ok(());
    }
    let cols = out.len();
    figure(stem, &out, cols)
}
