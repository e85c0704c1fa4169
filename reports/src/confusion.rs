//! Confusion matrices: counts of (true label, predicted class) pairs, printed as an aligned text
//! table and drawn as a shaded grid (SVG or PNG by the file's extension, like [`crate::plot`]).

use crate::plot::{self, Paint, PlotError, PALETTE};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::fmt;
use std::path::Path;

/// Corner label of the text table: what its rows and columns are.
const CORNER: &str = "true \\ predicted";

/// A confusion matrix: `counts[t][p]` images of true label `t` predicted as class `p`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Confusion {
    classes: usize,
    counts: Vec<Vec<u64>>,
}

impl Confusion {
    /// An empty `classes x classes` matrix.
    pub fn new(classes: usize) -> Self {
        Confusion { classes, counts: vec![vec![0; classes]; classes] }
    }

    /// Counts one image of true label `label` predicted as `predicted`. A label or class beyond
    /// the matrix grows it to fit: a model may have more classes than its dataset, and losing a
    /// count would make the matrix disagree with the accuracy.
    pub fn add(&mut self, label: usize, predicted: usize) {
        let need = label.max(predicted) + 1;
        if need > self.classes {
            for row in &mut self.counts {
                row.resize(need, 0);
            }
            self.counts.resize(need, vec![0; need]);
            self.classes = need;
        }
        self.counts[label][predicted] += 1;
    }

    /// Number of classes (rows and columns).
    pub fn classes(&self) -> usize {
        self.classes
    }

    /// Images of true label `label` predicted as `predicted` (0 outside the matrix).
    pub fn count(&self, label: usize, predicted: usize) -> u64 {
        self.counts.get(label).and_then(|r| r.get(predicted)).copied().unwrap_or(0)
    }

    /// The counts, one row per true label, one column per predicted class.
    pub fn counts(&self) -> &[Vec<u64>] {
        &self.counts
    }

    /// Images counted.
    pub fn total(&self) -> u64 {
        self.counts.iter().flatten().sum()
    }

    /// Images on the diagonal: predicted as their label.
    pub fn correct(&self) -> u64 {
        self.counts.iter().enumerate().map(|(i, r)| r[i]).sum()
    }

    /// Fraction of the images predicted as their label (0 when none were counted).
    pub fn accuracy(&self) -> f64 {
        self.correct() as f64 / self.total().max(1) as f64
    }

    /// The largest count (0 when empty).
    fn max(&self) -> u64 {
        self.counts.iter().flatten().copied().max().unwrap_or(0)
    }
}

fn digits(n: u64) -> usize {
    n.to_string().len()
}

/// The matrix as a table: a header of predicted classes, then one row per true label, every
/// column right-aligned to one width so the table reads in a terminal.
impl fmt::Display for Confusion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let last = self.classes.saturating_sub(1) as u64;
        let w = digits(self.max()).max(digits(last));
        let lw = CORNER.len().max(digits(last));
        write!(f, "{CORNER:>lw$}")?;
        for p in 0..self.classes {
            write!(f, "  {p:>w$}")?;
        }
        for (t, row) in self.counts.iter().enumerate() {
            write!(f, "\n{t:>lw$}")?;
            for c in row {
                write!(f, "  {c:>w$}")?;
            }
        }
        Ok(())
    }
}

/// A confusion matrix with its title, ready to paint.
struct Chart<'a> {
    c: &'a Confusion,
    title: &'a str,
}

/// `a` blended towards `b` by `t` in 0..=1.
fn mix(a: RGBColor, b: RGBColor, t: f64) -> RGBColor {
    let l = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * t).round() as u8;
    RGBColor(l(a.0, b.0), l(a.1, b.1), l(a.2, b.2))
}

impl Paint for Chart<'_> {
    fn paint<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), String> {
        let e = |x: &dyn fmt::Debug| format!("{x:?}");
        let n = self.c.classes;
        if n == 0 {
            return Err("a confusion matrix needs at least one class".into());
        }
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let (width, height) = root.dim_in_pixel();
        let (width, height) = (width as i32, height as i32);
        let centered = |size: i32| {
            TextStyle::from(("sans-serif", size).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
        };
        root.draw(&Text::new(self.title.to_string(), (width / 2, 30), centered(26))).map_err(|x| e(&x))?;

        // Square cells: the grid takes the height left by the title and the column labels, and
        // sits in the middle so the row labels and the color scale fit on either side.
        let (top, bottom) = (64, 70);
        let side = (height - top - bottom).max(n as i32);
        let cell = side as f64 / n as f64;
        let left = (width - side) / 2;
        let at = |i: usize| (i as f64 * cell).round() as i32;
        let max = self.c.max().max(1);
        let (light, dark) = (RGBColor(255, 255, 255), PALETTE[0]);
        let grid = RGBColor(220, 220, 220);
        // Numbers only where they fit: past about 30 classes a cell is too small to read.
        let font = ((cell * 0.36).round() as i32).min(18);
        for (t, row) in self.c.counts.iter().enumerate() {
            for (p, &count) in row.iter().enumerate() {
                let (x0, y0) = (left + at(p), top + at(t));
                let (x1, y1) = (left + at(p + 1), top + at(t + 1));
                let shade = count as f64 / max as f64;
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], mix(light, dark, shade).filled()))
                    .map_err(|x| e(&x))?;
                root.draw(&Rectangle::new([(x0, y0), (x1, y1)], grid.stroke_width(1))).map_err(|x| e(&x))?;
                if font >= 8 {
                    // White on the dark half of the scale, where black would vanish.
                    let ink = if shade > 0.55 { WHITE } else { BLACK };
                    let style = centered(font).color(&ink);
                    root.draw(&Text::new(count.to_string(), ((x0 + x1) / 2, (y0 + y1) / 2), style))
                        .map_err(|x| e(&x))?;
                }
            }
        }
        root.draw(&Rectangle::new([(left, top), (left + side, top + side)], BLACK.stroke_width(1)))
            .map_err(|x| e(&x))?;

        // Class labels: every one while they fit (about 16 pixels each), else every k-th.
        let step = (16.0 / cell).ceil().max(1.0) as usize;
        let label = TextStyle::from(("sans-serif", 15).into_font());
        for i in (0..n).step_by(step) {
            let mid = (at(i) + at(i + 1)) / 2;
            let below = label.pos(Pos::new(HPos::Center, VPos::Top));
            root.draw(&Text::new(i.to_string(), (left + mid, top + side + 8), below)).map_err(|x| e(&x))?;
            let beside = label.pos(Pos::new(HPos::Right, VPos::Center));
            root.draw(&Text::new(i.to_string(), (left - 8, top + mid), beside)).map_err(|x| e(&x))?;
        }
        let axis = centered(18);
        root.draw(&Text::new("predicted", (left + side / 2, top + side + 44), axis.clone()))
            .map_err(|x| e(&x))?;
        let rotated = axis.transform(FontTransform::Rotate270);
        root.draw(&Text::new("true", (left - 56, top + side / 2), rotated)).map_err(|x| e(&x))?;

        // The color scale, so a shade reads as a count.
        let (sx, sw, steps) = (left + side + 40, 18, 64);
        for k in 0..steps {
            let y0 = top + side - side * (k + 1) / steps;
            let y1 = top + side - side * k / steps;
            let c = mix(light, dark, (f64::from(k) + 0.5) / f64::from(steps));
            root.draw(&Rectangle::new([(sx, y0), (sx + sw, y1)], c.filled())).map_err(|x| e(&x))?;
        }
        root.draw(&Rectangle::new([(sx, top), (sx + sw, top + side)], BLACK.stroke_width(1)))
            .map_err(|x| e(&x))?;
        let scale = label.pos(Pos::new(HPos::Left, VPos::Center));
        root.draw(&Text::new(max.to_string(), (sx + sw + 6, top), scale.clone())).map_err(|x| e(&x))?;
        root.draw(&Text::new("0", (sx + sw + 6, top + side), scale)).map_err(|x| e(&x))?;
        Ok(())
    }
}

/// Draws `c` to `path` (.svg or .png) as a grid shaded by count with the counts written in the
/// cells (while they fit), rows the true labels, columns the predicted classes.
pub fn draw(path: &Path, c: &Confusion, title: &str) -> Result<(), PlotError> {
    plot::canvas(path, &Chart { c, title })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Confusion {
        let mut c = Confusion::new(10);
        for t in 0..10 {
            for _ in 0..(t + 3) {
                c.add(t, t);
            }
            c.add(t, (t + 1) % 10);
        }
        for _ in 0..120 {
            c.add(4, 9);
        }
        c
    }

    #[test]
    fn counts_and_accuracy() {
        let c = sample();
        assert_eq!(c.classes(), 10);
        assert_eq!(c.count(3, 3), 6);
        assert_eq!(c.count(3, 4), 1);
        assert_eq!(c.count(4, 9), 120);
        assert_eq!(c.count(4, 5), 1);
        assert_eq!(c.count(9, 0), 1);
        assert_eq!(c.count(0, 9), 0);
        assert_eq!(c.count(11, 0), 0);
        // Diagonal 3 + 4 + ... + 12 = 75; off it 10 + 120.
        assert_eq!(c.correct(), 75);
        assert_eq!(c.total(), 205);
        assert!((c.accuracy() - 75.0 / 205.0).abs() < 1e-12);
        assert_eq!(c.counts()[4].iter().sum::<u64>(), 7 + 1 + 120);
        assert_eq!(Confusion::new(3).accuracy(), 0.0);
    }

    #[test]
    fn a_class_beyond_the_matrix_grows_it() {
        let mut c = Confusion::new(2);
        c.add(1, 1);
        c.add(0, 3);
        assert_eq!(c.classes(), 4);
        assert!(c.counts().iter().all(|r| r.len() == 4) && c.counts().len() == 4);
        assert_eq!((c.count(1, 1), c.count(0, 3), c.total(), c.correct()), (1, 1, 2, 1));
    }

    /// The end offset of each of the last `n` whitespace-separated fields of `line`.
    fn field_ends(line: &str, n: usize) -> Vec<usize> {
        let mut ends = Vec::new();
        let b = line.as_bytes();
        for i in 0..b.len() {
            if b[i] != b' ' && (i + 1 == b.len() || b[i + 1] == b' ') {
                ends.push(i + 1);
            }
        }
        ends.split_off(ends.len() - n)
    }

    #[test]
    fn the_table_is_aligned_for_ten_classes() {
        let c = sample();
        let text = c.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 11, "{text}");
        assert!(lines[0].starts_with(CORNER), "{text}");
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "ragged:\n{text}");
        // Every column ends where its header does, three wide for the count 120.
        let header = field_ends(lines[0], 10);
        for (t, line) in lines[1..].iter().enumerate() {
            assert_eq!(field_ends(line, 11)[1..], header[..], "row {t}:\n{text}");
            let fields: Vec<u64> = line.split_whitespace().map(|f| f.parse().expect("number")).collect();
            assert_eq!(fields[0], t as u64);
            assert_eq!(fields[1..], c.counts()[t][..], "row {t}");
        }
        assert_eq!(
            lines[5],
            format!("{:>16}  {:>3}  {:>3}  {:>3}  {:>3}    7    1    0    0    0  120", 4, 0, 0, 0, 0)
        );
        let heads: Vec<&str> = lines[0][CORNER.len()..].split_whitespace().collect();
        assert_eq!(heads, ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    }
}
