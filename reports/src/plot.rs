//! Plots with plotters, as SVG or PNG by the file's extension: scatter plots (log axes, several
//! series, optional ringed points) and bar charts with one bar highlighted.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::{Path, PathBuf};

/// Why a plot could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("plot {path}: {message}")]
pub struct PlotError {
    /// The file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// Plot size in pixels.
pub const SIZE: (u32, u32) = (960, 600);

pub(crate) const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(255, 127, 14),
    RGBColor(23, 190, 207),
];

/// A named set of points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
}

/// A scatter plot.
#[derive(Clone, Debug)]
pub struct Scatter {
    /// Title.
    pub title: String,
    /// X axis label, with its unit.
    pub x_label: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// The series.
    pub series: Vec<Series>,
    /// Points to ring (e.g. the Pareto-optimal ones), with their legend entry.
    pub front: Option<Series>,
    /// Legend in the upper left (for rising data) instead of the lower right.
    pub legend_left: bool,
}

/// A bar chart.
#[derive(Clone, Debug)]
pub struct Bars {
    /// Title.
    pub title: String,
    /// Y axis label, with its unit.
    pub y_label: String,
    /// `(label, value)` per bar.
    pub bars: Vec<(String, f64)>,
    /// Index of the bar drawn in the highlight color, and its legend text.
    pub highlight: Option<(usize, String)>,
}

/// An axis value in short form: `950`, `12k`, `3.5M`, `2G`; fractions keep two decimals.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let (x, unit) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let t = if (x - x.round()).abs() < 1e-6 {
        format!("{:.0}", x)
    } else if unit.is_empty() && a < 10.0 {
        format!("{x:.2}")
    } else {
        format!("{x:.1}")
    };
    format!("{t}{unit}")
}

pub(crate) fn err(path: &Path, e: impl std::fmt::Display) -> PlotError {
    PlotError { path: path.to_path_buf(), message: e.to_string() }
}

/// A plot that can be drawn on any plotters backend.
pub(crate) trait Paint {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String>;
}

impl Paint for Scatter {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_scatter(root, self)
    }
}

impl Paint for Bars {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        draw_bars(root, self)
    }
}

/// Checks that `path` can name a plot: it ends in .svg or .png and is not a directory. Commands
/// call it before long runs, so a typo costs nothing.
pub fn check_path(path: &Path) -> Result<(), PlotError> {
    if !matches!(path.extension().and_then(|e| e.to_str()), Some("svg" | "png")) {
        return Err(err(path, "the file must end in .svg or .png"));
    }
    if path.is_dir() {
        return Err(err(path, "it is a directory; give a file path inside it"));
    }
    Ok(())
}

/// Draws `p` on an SVG or PNG canvas chosen by `path`'s extension.
pub(crate) fn canvas(path: &Path, p: &impl Paint) -> Result<(), PlotError> {
    check_path(path)?;
    match path.extension().and_then(|e| e.to_str()) {
        Some("svg") => {
            let root = SVGBackend::new(path, SIZE).into_drawing_area();
            p.paint(&root).map_err(|e| err(path, e))?;
            root.present().map_err(|e| err(path, e))
        }
        Some("png") => {
            let root = BitMapBackend::new(path, SIZE).into_drawing_area();
            p.paint(&root).map_err(|e| err(path, e))?;
            root.present().map_err(|e| err(path, e))
        }
        _ => Err(err(path, "the file must end in .svg or .png")),
    }
}

fn range(values: impl Iterator<Item = f64>, log: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.filter(|v| v.is_finite() && (!log || *v > 0.0)) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    if log {
        (lo / 1.5, hi * 1.5)
    } else {
        let pad = ((hi - lo) * 0.08).max(hi.abs() * 0.01).max(1e-9);
        (lo - pad, hi + pad)
    }
}

fn draw_scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Scatter) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Debug| format!("{x:?}");
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let all = || s.series.iter().flat_map(|x| x.points.iter().copied());
    let (x0, x1) = range(all().map(|p| p.0), s.log_x);
    let (y0, y1) = range(all().map(|p| p.1), s.log_y);
    let mut b = ChartBuilder::on(root);
    b.caption(&s.title, ("sans-serif", 26)).margin(18).x_label_area_size(56).y_label_area_size(86);
    macro_rules! body {
        ($chart:expr) => {{
            let mut chart = $chart.map_err(|x| e(&x))?;
            chart
                .configure_mesh()
                .x_desc(&s.x_label)
                .y_desc(&s.y_label)
                .axis_desc_style(("sans-serif", 18))
                .label_style(("sans-serif", 15))
                .light_line_style(RGBColor(235, 235, 235))
                .x_label_formatter(&|v| short(*v))
                .y_label_formatter(&|v| short(*v))
                .draw()
                .map_err(|x| e(&x))?;
            // Series of one topology share their points, so each series has its own marker.
            for (i, ser) in s.series.iter().enumerate() {
                let c = PALETTE[i % PALETTE.len()];
                let pts = ser.points.iter().copied();
                let a = match i % 3 {
                    0 => chart.draw_series(pts.map(|p| Circle::new(p, 7, c.filled()).into_dyn())),
                    1 => chart
                        .draw_series(pts.map(|p| TriangleMarker::new(p, 6, c.stroke_width(2)).into_dyn())),
                    _ => chart.draw_series(pts.map(|p| Cross::new(p, 6, c.stroke_width(2)).into_dyn())),
                };
                a.map_err(|x| e(&x))?.label(ser.name.clone()).legend(move |(x, y)| match i % 3 {
                    0 => Circle::new((x + 10, y), 7, c.filled()).into_dyn(),
                    1 => TriangleMarker::new((x + 10, y), 7, c.stroke_width(2)).into_dyn(),
                    _ => Cross::new((x + 10, y), 6, c.stroke_width(2)).into_dyn(),
                });
            }
            if let Some(f) = &s.front {
                chart
                    .draw_series(f.points.iter().map(|&p| Circle::new(p, 9, BLACK.stroke_width(2))))
                    .map_err(|x| e(&x))?
                    .label(f.name.clone())
                    .legend(|(x, y)| Circle::new((x + 10, y), 8, BLACK.stroke_width(2)));
            }
            chart
                .configure_series_labels()
                .position(if s.legend_left {
                    SeriesLabelPosition::UpperLeft
                } else {
                    SeriesLabelPosition::LowerRight
                })
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(180, 180, 180))
                .label_font(("sans-serif", 16))
                .draw()
                .map_err(|x| e(&x))?;
        }};
    }
    match (s.log_x, s.log_y) {
        (true, true) => body!(b.build_cartesian_2d((x0..x1).log_scale(), (y0..y1).log_scale())),
        (true, false) => body!(b.build_cartesian_2d((x0..x1).log_scale(), y0..y1)),
        (false, true) => body!(b.build_cartesian_2d(x0..x1, (y0..y1).log_scale())),
        (false, false) => body!(b.build_cartesian_2d(x0..x1, y0..y1)),
    }
    Ok(())
}

fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Bars) -> Result<(), String> {
    let e = |x: &dyn std::fmt::Debug| format!("{x:?}");
    root.fill(&WHITE).map_err(|x| e(&x))?;
    let n = s.bars.len().max(1);
    let top = s.bars.iter().map(|b| b.1).fold(0.0, f64::max).max(1.0) * 1.25;
    let mut chart = ChartBuilder::on(root)
        .caption(&s.title, ("sans-serif", 26))
        .margin(18)
        .x_label_area_size(56)
        .y_label_area_size(86)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0.0..top)
        .map_err(|x| e(&x))?;
    let labels: Vec<String> = s.bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_desc("node")
        .y_desc(&s.y_label)
        .axis_desc_style(("sans-serif", 18))
        .label_style(("sans-serif", 15))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_label_formatter(&|v| short(*v))
        .draw()
        .map_err(|x| e(&x))?;
    let hi = s.highlight.as_ref().map(|h| h.0);
    chart
        .draw_series(s.bars.iter().enumerate().map(|(i, b)| {
            let style =
                TextStyle::from(("sans-serif", 15).into_font()).pos(Pos::new(HPos::Center, VPos::Bottom));
            Text::new(short(b.1), (SegmentValue::CenterOf(i), b.1 + top * 0.01), style)
        }))
        .map_err(|x| e(&x))?;
    let (base, warm) = (PALETTE[0], PALETTE[1]);
    chart
        .draw_series(s.bars.iter().enumerate().map(|(i, b)| {
            let c = if Some(i) == hi { warm } else { base };
            let mut r = Rectangle::new(
                [(SegmentValue::Exact(i), 0.0), (SegmentValue::Exact(i + 1), b.1)],
                c.filled(),
            );
            r.set_margin(0, 0, 6, 6);
            r
        }))
        .map_err(|x| e(&x))?;
    if let Some((_, text)) = &s.highlight {
        let text = text.clone();
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(SegmentValue::Exact(0), 0.0), (SegmentValue::Exact(0), 0.0)],
                warm.filled(),
            )))
            .map_err(|x| e(&x))?
            .label(text)
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 16, y + 6)], warm.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(180, 180, 180))
            .label_font(("sans-serif", 16))
            .draw()
            .map_err(|x| e(&x))?;
    }
    Ok(())
}

/// Draws a scatter plot to `path` (.svg or .png).
pub fn scatter(path: &Path, s: &Scatter) -> Result<(), PlotError> {
    canvas(path, s)
}

/// Draws a bar chart to `path` (.svg or .png).
pub fn bars(path: &Path, s: &Bars) -> Result<(), PlotError> {
    canvas(path, s)
}

/// The indices of the points no other point dominates. Each point is a vector of objectives, all
/// to be maximised (negate a cost): a point is dominated when another is at least as good in every
/// objective and better in one.
pub fn pareto(points: &[Vec<f64>]) -> Vec<usize> {
    let dominates =
        |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y);
    (0..points.len()).filter(|&i| !points.iter().any(|p| dominates(p, &points[i]))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers() {
        assert_eq!(short(950.0), "950");
        assert_eq!(short(12_000.0), "12k");
        assert_eq!(short(3_500_000.0), "3.5M");
        assert_eq!(short(0.25), "0.25");
    }

    #[test]
    fn pareto_keeps_undominated_points() {
        // Minimise the first (negated), maximise the second.
        let p: Vec<Vec<f64>> = [(1.0, 1.0), (2.0, 3.0), (3.0, 2.0), (4.0, 5.0), (2.0, 3.0)]
            .iter()
            .map(|&(a, b)| vec![-a, b])
            .collect();
        assert_eq!(pareto(&p), vec![0, 1, 3, 4]);
        // A third objective rescues a point dominated in the first two.
        let q = vec![vec![-1.0, 5.0, 90.0], vec![-2.0, 4.0, 95.0], vec![-2.0, 4.0, 90.0]];
        assert_eq!(pareto(&q), vec![0, 1]);
    }
}
