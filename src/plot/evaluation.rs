//! Evaluation figures, as `gpumlp eval --plot` draws them: ROC and precision-recall curves
//! with their areas and the confusion matrix for binary models; the confusion matrix as counts
//! and row-normalised for multiclass models; predicted against true values and the residuals
//! for regression.

use std::fmt::Write as _;

use super::axis::{finite_range, Axis};
use super::{escape_xml, series_colour, shortened};
use crate::metrics::curves::{average_precision, pr_curve, roc_curve, trapezoid};

/// What a model predicted for labelled rows.
#[derive(Clone, Copy, Debug)]
pub enum Evaluation<'a> {
    /// Two classes: each row's true class (0 or 1) and its probability of class 1.
    Binary {
        /// True classes.
        y: &'a [usize],
        /// P(class 1) per row.
        p: &'a [f32],
        /// The two class names.
        classes: &'a [String],
        /// A row is predicted class 1 iff p ≥ threshold.
        threshold: f64,
    },
    /// Several classes: each row's true and predicted class.
    Multiclass {
        /// True classes.
        y: &'a [usize],
        /// Predicted classes.
        predicted: &'a [usize],
        /// The class names.
        classes: &'a [String],
    },
    /// Numbers, in the target's units.
    Regression {
        /// True values.
        y: &'a [f64],
        /// Predicted values.
        predicted: &'a [f64],
    },
}

/// A square plotting area this many units wide.
const PANEL: f64 = 300.0;
/// Room left of a panel (tick labels, axis title) and between panels.
const GUTTER: f64 = 84.0;
const TOP: f64 = 78.0;
const HEIGHT: f64 = TOP + PANEL + 64.0;
/// The most points a scatter draws; more rows are thinned evenly.
const MAX_POINTS: usize = 4000;
/// The most classes whose names label a confusion matrix's rows and columns.
const MAX_LABELLED_CLASSES: usize = 30;

/// The figure for `evaluation` as SVG, headed by `title`.
pub fn evaluation_svg(title: &str, evaluation: &Evaluation<'_>) -> String {
    let mut body = String::new();
    let panels = match *evaluation {
        Evaluation::Binary {
            y,
            p,
            classes,
            threshold,
        } => {
            roc_panel(&mut body, at(0), y, p, threshold);
            pr_panel(&mut body, at(1), y, p, threshold);
            let predicted: Vec<usize> = p
                .iter()
                .map(|&p| usize::from(f64::from(p) >= threshold))
                .collect();
            let heading = format!("confusion matrix at threshold {threshold}");
            confusion_panel(&mut body, at(2), &heading, y, &predicted, classes, false);
            3
        }
        Evaluation::Multiclass {
            y,
            predicted,
            classes,
        } => {
            let heading = "confusion matrix (counts)";
            confusion_panel(&mut body, at(0), heading, y, predicted, classes, false);
            let heading = "row-normalised (recall on the diagonal)";
            confusion_panel(&mut body, at(1), heading, y, predicted, classes, true);
            2
        }
        Evaluation::Regression { y, predicted } => {
            let shown = thinned(y.len());
            scatter_panel(&mut body, at(0), y, predicted, &shown);
            residual_panel(&mut body, at(1), y, predicted, &shown);
            2
        }
    };
    let width = panels as f64 * (PANEL + GUTTER) + 24.0;
    let mut svg = super::canvas(width, HEIGHT);
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="28" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        width / 2.0,
        escape_xml(&shortened(title, 120))
    );
    svg.push_str(&body);
    svg.push_str("</svg>\n");
    svg
}

/// The left edge of panel `i`.
fn at(i: usize) -> f64 {
    GUTTER + i as f64 * (PANEL + GUTTER)
}

/// The rows a scatter draws: all of them, or every k-th so that at most [`MAX_POINTS`] are.
fn thinned(rows: usize) -> Vec<usize> {
    let step = rows.div_ceil(MAX_POINTS).max(1);
    (0..rows).step_by(step).collect()
}

/// A square plotting area with its axes; turns data coordinates into SVG units.
struct Panel {
    left: f64,
    x: Axis,
    y: Axis,
}

impl Panel {
    fn px(&self, v: f64) -> f64 {
        self.x.map(v, self.left, self.left + PANEL)
    }

    fn py(&self, v: f64) -> f64 {
        self.y.map(v, TOP + PANEL, TOP)
    }

    /// Gridlines, tick labels, the frame and the titles.
    fn axes(&self, svg: &mut String, heading: &str, x_label: &str, y_label: &str) {
        let (left, right, bottom) = (self.left, self.left + PANEL, TOP + PANEL);
        for &t in &self.y.ticks {
            let y = self.py(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{left:.1}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#e5e5e5"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
                left - 6.0,
                y + 4.0,
                self.y.labels.label(t)
            );
        }
        for &t in &self.x.ticks {
            let x = self.px(t);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{TOP:.1}" x2="{x:.1}" y2="{bottom:.1}" stroke="#e5e5e5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
                bottom + 17.0,
                self.x.labels.label(t)
            );
        }
        let _ = writeln!(
            svg,
            r##"<rect x="{left:.1}" y="{TOP:.1}" width="{PANEL}" height="{PANEL}" fill="none" stroke="#333"/>"##
        );
        titles(svg, left, heading, x_label, y_label);
    }

    /// A line through the finite points.
    fn line(&self, svg: &mut String, points: &[(f64, f64)], colour: &str, dashed: bool) {
        let mut d = String::new();
        let mut pen_up = true;
        for &(x, y) in points {
            if !(x.is_finite() && y.is_finite()) {
                pen_up = true;
                continue;
            }
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if pen_up { 'M' } else { 'L' },
                self.px(x),
                self.py(y)
            );
            pen_up = false;
        }
        if d.is_empty() {
            return;
        }
        let (width, dash) = match dashed {
            true => (1.2, r#" stroke-dasharray="5 4""#),
            false => (2.0, ""),
        };
        let _ = writeln!(
            svg,
            r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="{width}" stroke-linejoin="round"{dash}/>"#,
            d.trim_end()
        );
    }

    /// A dot per finite point, translucent so dense regions read darker.
    fn dots(&self, svg: &mut String, points: impl Iterator<Item = (f64, f64)>, colour: &str) {
        let _ = write!(svg, r#"<g fill="{colour}" fill-opacity="0.45">"#);
        for (x, y) in points.filter(|(x, y)| x.is_finite() && y.is_finite()) {
            let _ = write!(
                svg,
                r#"<circle cx="{:.1}" cy="{:.1}" r="2.2"/>"#,
                self.px(x),
                self.py(y)
            );
        }
        svg.push_str("</g>\n");
    }

    /// One marked point with a label beside it.
    fn point(&self, svg: &mut String, (x, y): (f64, f64), label: &str) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let (cx, cy) = (self.px(x), self.py(y));
        let (tx, anchor) = match cx > self.left + PANEL / 2.0 {
            true => (cx - 8.0, "end"),
            false => (cx + 8.0, "start"),
        };
        let _ = writeln!(
            svg,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="4.5" fill="white" stroke="#333" stroke-width="1.5"/><text x="{tx:.1}" y="{:.1}" text-anchor="{anchor}" fill="#333">{}</text>"##,
            cy + 16.0,
            escape_xml(label)
        );
    }

    /// Lines of (text, colour) in a box in the panel's lower right corner.
    fn legend(&self, svg: &mut String, lines: &[(String, &str)]) {
        let width = lines
            .iter()
            .map(|(t, _)| t.chars().count())
            .max()
            .unwrap_or(0) as f64
            * 6.8
            + 34.0;
        let height = lines.len() as f64 * 18.0 + 8.0;
        let (x, y) = (self.left + PANEL - width - 8.0, TOP + PANEL - height - 8.0);
        let _ = writeln!(
            svg,
            r##"<rect x="{x:.1}" y="{y:.1}" width="{width:.1}" height="{height:.1}" fill="white" fill-opacity="0.9" stroke="#bbb"/>"##
        );
        for (i, (text, colour)) in lines.iter().enumerate() {
            let row = y + 17.0 + i as f64 * 18.0;
            let _ = writeln!(
                svg,
                r#"<line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{colour}" stroke-width="3"/><text x="{:.1}" y="{row:.1}">{}</text>"#,
                x + 6.0,
                row - 4.0,
                x + 24.0,
                row - 4.0,
                x + 29.0,
                escape_xml(text)
            );
        }
    }
}

/// The heading above a panel and its axis titles.
fn titles(svg: &mut String, left: f64, heading: &str, x_label: &str, y_label: &str) {
    let centre = left + PANEL / 2.0;
    let middle = TOP + PANEL / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        TOP - 14.0,
        escape_xml(heading)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        TOP + PANEL + 38.0,
        escape_xml(x_label)
    );
    let y = left - 52.0;
    let _ = writeln!(
        svg,
        r#"<text x="{y:.1}" y="{middle:.1}" text-anchor="middle" transform="rotate(-90 {y:.1} {middle:.1})">{}</text>"#,
        escape_xml(y_label)
    );
}

/// The row nearest to the threshold on a curve of per-threshold points: the point where the
/// rows at or above `threshold` are predicted positive.
fn operating_point(y: &[usize], p: &[f32], threshold: f64) -> (f64, f64, f64, f64) {
    let (mut tp, mut fp, mut pos, mut neg) = (0.0, 0.0, 0.0, 0.0);
    for (&y, &p) in y.iter().zip(p).filter(|(_, p)| !p.is_nan()) {
        let predicted = f64::from(p) >= threshold;
        match y == 1 {
            true => {
                pos += 1.0;
                tp += f64::from(u8::from(predicted));
            }
            false => {
                neg += 1.0;
                fp += f64::from(u8::from(predicted));
            }
        }
    }
    (tp, fp, pos, neg)
}

fn roc_panel(svg: &mut String, left: f64, y: &[usize], p: &[f32], threshold: f64) {
    let panel = Panel {
        left,
        x: Axis::unit(),
        y: Axis::unit(),
    };
    panel.axes(
        svg,
        "ROC curve",
        "false positive rate",
        "true positive rate",
    );
    panel.line(svg, &[(0.0, 0.0), (1.0, 1.0)], "#999", true);
    let curve = roc_curve(y, p);
    panel.line(svg, &curve, series_colour(0), false);
    let (tp, fp, pos, neg) = operating_point(y, p, threshold);
    panel.point(svg, (fp / neg, tp / pos), &format!("threshold {threshold}"));
    let area = match curve.is_empty() {
        true => "ROC AUC undefined (one class)".to_string(),
        false => format!("ROC AUC {:.4}", trapezoid(&curve)),
    };
    panel.legend(svg, &[(area, series_colour(0)), ("chance".into(), "#999")]);
}

fn pr_panel(svg: &mut String, left: f64, y: &[usize], p: &[f32], threshold: f64) {
    let panel = Panel {
        left,
        x: Axis::unit(),
        y: Axis::unit(),
    };
    panel.axes(svg, "precision-recall curve", "recall", "precision");
    let (tp, fp, pos, neg) = operating_point(y, p, threshold);
    let rate = pos / (pos + neg);
    panel.line(svg, &[(0.0, rate), (1.0, rate)], "#999", true);
    let curve = pr_curve(y, p);
    let start = curve.first().map(|&(_, precision)| (0.0, precision));
    let points: Vec<(f64, f64)> = start.into_iter().chain(curve.iter().copied()).collect();
    panel.line(svg, &points, series_colour(1), false);
    panel.point(
        svg,
        (tp / pos, tp / (tp + fp)),
        &format!("threshold {threshold}"),
    );
    panel.legend(
        svg,
        &[
            (
                format!("average precision {}", fixed(average_precision(y, p), 4)),
                series_colour(1),
            ),
            (format!("chance (positive rate {})", fixed(rate, 3)), "#999"),
        ],
    );
}

/// `confusion[true][predicted]` counts of the classes.
fn confusion(y: &[usize], predicted: &[usize], k: usize) -> Vec<Vec<u64>> {
    let mut counts = vec![vec![0u64; k]; k];
    for (&t, &p) in y.iter().zip(predicted) {
        if t < k && p < k {
            counts[t][p] += 1;
        }
    }
    counts
}

/// A sequential blue for a share in [0, 1] (white to dark blue).
fn blue(share: f64) -> String {
    let t = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.0
    };
    let mix = |light: f64, dark: f64| (light + (dark - light) * t).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(247.0, 8.0),
        mix(251.0, 48.0),
        mix(255.0, 107.0)
    )
}

fn confusion_panel(
    svg: &mut String,
    left: f64,
    heading: &str,
    y: &[usize],
    predicted: &[usize],
    classes: &[String],
    normalised: bool,
) {
    let k = classes.len().max(1);
    let counts = confusion(y, predicted, k);
    let cell = PANEL / k as f64;
    let largest = counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let font = (cell * 0.3).clamp(7.0, 14.0);
    let labelled = k <= MAX_LABELLED_CLASSES;
    for (t, row) in counts.iter().enumerate() {
        let total: u64 = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let share = match normalised {
                true => count as f64 / total.max(1) as f64,
                false => count as f64 / largest,
            };
            let (x, y) = (left + p as f64 * cell, TOP + t as f64 * cell);
            let _ = writeln!(
                svg,
                r##"<rect x="{x:.2}" y="{y:.2}" width="{cell:.2}" height="{cell:.2}" fill="{}" stroke="white" stroke-width="{}"/>"##,
                blue(share),
                if k <= 40 { 1.0 } else { 0.0 }
            );
            if cell >= 22.0 {
                let text = match (normalised, k <= 2) {
                    (true, _) => format!("{:.0}%", 100.0 * share),
                    (false, true) => {
                        format!(
                            "{count} ({:.0}%)",
                            100.0 * count as f64 / total.max(1) as f64
                        )
                    }
                    (false, false) => count.to_string(),
                };
                let _ = writeln!(
                    svg,
                    r#"<text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{font:.1}" fill="{}">{text}</text>"#,
                    x + cell / 2.0,
                    y + cell / 2.0 + font / 3.0,
                    if share > 0.55 { "white" } else { "#222" }
                );
            }
        }
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{left:.1}" y="{TOP:.1}" width="{PANEL}" height="{PANEL}" fill="none" stroke="#333"/>"##
    );
    if labelled {
        let label_font = (cell * 0.45).clamp(7.0, 12.0);
        let longest = if k > 8 { 6 } else { 10 };
        for (i, name) in classes.iter().enumerate() {
            let centre = i as f64 * cell + cell / 2.0;
            let name = escape_xml(&shortened(name, longest));
            let _ = writeln!(
                svg,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-size="{label_font:.1}">{name}</text><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="{label_font:.1}">{name}</text>"#,
                left - 5.0,
                TOP + centre + label_font / 3.0,
                left + centre,
                TOP + PANEL + 15.0
            );
        }
    }
    titles(svg, left, heading, "predicted class", "true class");
}

fn scatter_panel(svg: &mut String, left: f64, y: &[f64], predicted: &[f64], shown: &[usize]) {
    let range = finite_range(y.iter().chain(predicted).copied());
    let panel = Panel {
        left,
        x: Axis::fit(range),
        y: Axis::fit(range),
    };
    panel.axes(
        svg,
        "predicted against true",
        "true value",
        "predicted value",
    );
    let (low, high) = (panel.x.min, panel.x.max);
    panel.line(svg, &[(low, low), (high, high)], "#999", true);
    let points = shown
        .iter()
        .filter_map(|&i| Some((*y.get(i)?, *predicted.get(i)?)));
    panel.dots(svg, points, series_colour(0));
    let m = crate::metrics::regression(y, predicted);
    let mut legend = vec![
        (
            format!("R² {}, RMSE {}", fixed(m.r2, 4), short(m.rmse)),
            series_colour(0),
        ),
        ("predicted = true".to_string(), "#999"),
    ];
    if shown.len() < y.len() {
        legend.push((format!("{} of {} rows shown", shown.len(), y.len()), "#fff"));
    }
    panel.legend(svg, &legend);
}

fn residual_panel(svg: &mut String, left: f64, y: &[f64], predicted: &[f64], shown: &[usize]) {
    let residual = |i: usize| Some((*predicted.get(i)?, y.get(i)? - predicted.get(i)?));
    let points: Vec<(f64, f64)> = shown.iter().filter_map(|&i| residual(i)).collect();
    let all = (0..y.len()).filter_map(residual);
    let spread = finite_range(all.clone().map(|(_, r)| r))
        .map(|(low, high)| low.abs().max(high.abs()))
        .filter(|&s| s > 0.0)
        .map(|s| (-s, s));
    let panel = Panel {
        left,
        x: Axis::fit(finite_range(predicted.iter().copied())),
        y: Axis::fit(spread),
    };
    panel.axes(svg, "residuals", "predicted value", "true − predicted");
    let (low, high) = (panel.x.min, panel.x.max);
    panel.line(svg, &[(low, 0.0), (high, 0.0)], "#999", true);
    panel.dots(svg, points.into_iter(), series_colour(1));
    let mae = crate::metrics::regression(y, predicted).mae;
    panel.legend(
        svg,
        &[(format!("mean |residual| {}", short(mae)), series_colour(1))],
    );
}

/// `v` with `decimals` decimals, or "n/a" where there is no value (no rows of a class).
fn fixed(v: f64, decimals: usize) -> String {
    match v.is_finite() {
        true => format!("{v:.decimals$}"),
        false => "n/a".into(),
    }
}

/// `v` as messages print it, or "n/a".
/// A legend's number: four significant digits.
fn short(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".into();
    }
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e6).contains(&a) {
        return format!("{v:.3e}");
    }
    let decimals = match a {
        a if a >= 1000.0 => 0,
        a if a >= 100.0 => 1,
        a if a >= 10.0 => 2,
        a if a >= 1.0 => 3,
        _ => 4,
    };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legend_numbers_have_four_significant_digits() {
        assert_eq!(short(2.0413134433699174), "2.041");
        assert_eq!(short(1376.94), "1377");
        assert_eq!(short(0.012345), "0.0123");
        assert_eq!(short(f64::NAN), "n/a");
    }

    fn well_formed(svg: &str) {
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    }

    fn names(k: usize) -> Vec<String> {
        (0..k).map(|c| format!("class {c}")).collect()
    }

    #[test]
    fn every_kind_draws_even_from_awkward_data() {
        let classes = names(2);
        for (y, p) in [
            (vec![0, 1, 1, 0, 1], vec![0.1, 0.8, 0.6, 0.4, f32::NAN]),
            (vec![1, 1], vec![0.3, 0.9]),
            (vec![], vec![]),
        ] {
            let e = Evaluation::Binary {
                y: &y,
                p: &p,
                classes: &classes,
                threshold: 0.5,
            };
            well_formed(&evaluation_svg("binary", &e));
        }
        for k in [3, 12, 100] {
            let classes = names(k);
            let y: Vec<usize> = (0..500).map(|i| i % k).collect();
            let predicted: Vec<usize> = (0..500).map(|i| (i * 7 / 5) % k).collect();
            let e = Evaluation::Multiclass {
                y: &y,
                predicted: &predicted,
                classes: &classes,
            };
            let svg = evaluation_svg("multiclass", &e);
            well_formed(&svg);
            assert_eq!(svg.matches("<rect").count(), 2 * k * k + 2 + 1, "k = {k}");
        }
        let y: Vec<f64> = (0..10_000).map(|i| i as f64 / 100.0).collect();
        let predicted: Vec<f64> = y.iter().map(|v| v * 1.1 - 2.0).collect();
        let e = Evaluation::Regression {
            y: &y,
            predicted: &predicted,
        };
        let svg = evaluation_svg("regression", &e);
        well_formed(&svg);
        assert_eq!(svg.matches("<circle").count(), 2 * 3334);
        assert!(svg.contains("3334 of 10000 rows shown"));
        for (y, predicted) in [
            (vec![1.0], vec![1.0]),
            (vec![], vec![]),
            (vec![2.0, 2.0], vec![f64::NAN, 1.0]),
        ] {
            let e = Evaluation::Regression {
                y: &y,
                predicted: &predicted,
            };
            well_formed(&evaluation_svg("regression", &e));
        }
    }

    #[test]
    fn the_binary_figure_states_the_areas_scikit_learn_gives() {
        let (y, p) = ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]);
        let classes = names(2);
        let svg = evaluation_svg(
            "t",
            &Evaluation::Binary {
                y: &y,
                p: &p,
                classes: &classes,
                threshold: 0.5,
            },
        );
        assert!(svg.contains("ROC AUC 0.7500"), "{svg}");
        assert!(svg.contains("average precision 0.8333"), "{svg}");
        // At 0.5 one row is predicted positive, and it is right: 1 (50%) in the 1-1 cell.
        assert!(
            svg.contains(">1 (50%)<") && svg.contains(">2 (100%)<"),
            "{svg}"
        );
    }
}
