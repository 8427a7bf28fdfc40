//! Training curves: per-epoch values (losses, metrics) as lines, with the best epoch marked.

use std::fmt::Write as _;
use std::path::Path;

use super::axis::{finite_range, nice_step, ticks_within, Axis, TickFormat};
use super::{canvas, escape_xml, series_colour, series_dash, shortened};
use crate::error::Result;

/// One named line on a chart; borrowed so callers can plot their loss vectors as they are.
pub struct Series<'a> {
    /// Shown in the legend.
    pub name: &'a str,
    /// `values[i]` belongs to epoch i + 1; NaN and infinite values leave a gap.
    pub values: &'a [f32],
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 420.0;
/// The plotting area inside the margins (title above, tick labels left and below, legend right).
const PLOT_LEFT: f64 = 72.0;
const PLOT_RIGHT: f64 = 560.0;
const PLOT_TOP: f64 = 44.0;
const PLOT_BOTTOM: f64 = 364.0;
const LEGEND_LEFT: f64 = 576.0;
const LEGEND_ROW: f64 = 20.0;
const LEGEND_NAME_CHARS: usize = 17;
/// An SVG line chart (720 × 420) of per-epoch values, so a training run can be judged at a
/// glance: nice axis ticks, a legend, one colour per series, and an optional dashed marker at
/// `marker = (epoch, label)`, e.g. the best epoch (epoch 0 draws no marker).
pub fn line_chart_svg(
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    marker: Option<(usize, &str)>,
) -> String {
    let x_axis = epoch_axis(series, marker.map(|(epoch, _)| epoch));
    let y_axis = value_axis(series);
    let frame = Frame { x_axis, y_axis };

    let mut svg = canvas(WIDTH, HEIGHT);
    draw_titles(&mut svg, title, y_label);
    draw_y_axis(&mut svg, &frame);
    draw_x_axis(&mut svg, &frame);
    for (index, one) in series.iter().enumerate() {
        draw_series(&mut svg, &frame, one, index);
    }
    if let Some((epoch, label)) = marker.filter(|&(epoch, _)| epoch >= 1) {
        draw_marker(&mut svg, &frame, epoch, label);
    }
    draw_legend(&mut svg, series);
    svg.push_str("</svg>\n");
    svg
}

/// Writes [`line_chart_svg`] to `path` atomically, as SVG or PNG by its extension (see
/// [`super::save`]), tagged with `run_id` when given.
pub fn write_chart(
    path: &Path,
    title: &str,
    y_label: &str,
    series: &[Series<'_>],
    marker: Option<(usize, &str)>,
    run_id: Option<&str>,
) -> Result<()> {
    super::save(
        path,
        &line_chart_svg(title, y_label, series, marker),
        run_id,
    )
}

/// Both axes; turns data coordinates into SVG pixels.
struct Frame {
    x_axis: Axis,
    y_axis: Axis,
}

impl Frame {
    fn x(&self, epoch: f64) -> f64 {
        let Axis { min, max, .. } = self.x_axis;
        PLOT_LEFT + (epoch - min) / (max - min) * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn y(&self, value: f64) -> f64 {
        let Axis { min, max, .. } = self.y_axis;
        PLOT_BOTTOM - (value - min) / (max - min) * (PLOT_BOTTOM - PLOT_TOP)
    }
}

/// Epochs 1..=longest series (stretched to reach the marker); one epoch gets half an epoch
/// either side so its point sits in the middle. Ticks are whole epochs.
fn epoch_axis(series: &[Series<'_>], marker_epoch: Option<usize>) -> Axis {
    let longest = series.iter().map(|s| s.values.len()).max().unwrap_or(0);
    let last = longest.max(marker_epoch.unwrap_or(0)).max(1) as f64;
    let (min, max) = if last <= 1.0 { (0.5, 1.5) } else { (1.0, last) };
    let step = nice_step(min, max, 1.0, false);
    Axis {
        min,
        max,
        ticks: ticks_within(min, max, step),
        labels: TickFormat::Fixed(0),
    }
}

/// The finite values' range, padded when it is a single value and widened outwards to whole
/// ticks so the lines never touch the frame unlabelled.
fn value_axis(series: &[Series<'_>]) -> Axis {
    let values = series.iter().flat_map(|s| s.values.iter());
    Axis::fit(finite_range(values.map(|&v| f64::from(v))))
}

fn draw_titles(svg: &mut String, title: &str, y_label: &str) {
    let centre_x = (PLOT_LEFT + PLOT_RIGHT) / 2.0;
    let centre_y = (PLOT_TOP + PLOT_BOTTOM) / 2.0;
    let _ = writeln!(
        svg,
        r#"<text x="{centre_x:.1}" y="26" text-anchor="middle" font-size="16" font-weight="bold">{}</text>"#,
        escape_xml(title)
    );
    let _ = writeln!(
        svg,
        r#"<text x="{centre_x:.1}" y="{:.1}" text-anchor="middle">epoch</text>"#,
        HEIGHT - 14.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{centre_y:.1}" text-anchor="middle" transform="rotate(-90 18 {centre_y:.1})">{}</text>"#,
        escape_xml(y_label)
    );
}

/// Gridlines and labels at the value ticks, and the frame around the plot.
fn draw_y_axis(svg: &mut String, frame: &Frame) {
    for &tick in &frame.y_axis.ticks {
        let y = frame.y(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{PLOT_LEFT}" y1="{y:.1}" x2="{PLOT_RIGHT}" y2="{y:.1}" stroke="#e5e5e5"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            PLOT_LEFT - 6.0,
            y + 4.0,
            frame.y_axis.labels.label(tick)
        );
    }
    let _ = writeln!(
        svg,
        r##"<rect x="{PLOT_LEFT}" y="{PLOT_TOP}" width="{}" height="{}" fill="none" stroke="#333"/>"##,
        PLOT_RIGHT - PLOT_LEFT,
        PLOT_BOTTOM - PLOT_TOP
    );
}

/// Tick marks and labels at the epoch ticks.
fn draw_x_axis(svg: &mut String, frame: &Frame) {
    for &tick in &frame.x_axis.ticks {
        let x = frame.x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{PLOT_BOTTOM}" x2="{x:.1}" y2="{:.1}" stroke="#333"/>"##,
            PLOT_BOTTOM + 5.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            PLOT_BOTTOM + 19.0,
            frame.x_axis.labels.label(tick)
        );
    }
}

/// One `<path>` for the series (a new sub-path after each gap), plus a dot for each point that
/// has no finite neighbour, since a one-point sub-path draws nothing.
fn draw_series(svg: &mut String, frame: &Frame, series: &Series<'_>, index: usize) {
    let runs = finite_runs(series.values);
    if runs.is_empty() {
        return;
    }
    let colour = series_colour(index);
    let mut path = String::new();
    for run in &runs {
        for (i, &(epoch, value)) in run.iter().enumerate() {
            let command = if i == 0 { 'M' } else { 'L' };
            let _ = write!(
                path,
                "{command}{:.1},{:.1} ",
                frame.x(epoch),
                frame.y(value)
            );
        }
    }
    let _ = writeln!(
        svg,
        r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2" stroke-linejoin="round"{}/>"#,
        path.trim_end(),
        series_dash(index)
    );
    for run in runs.iter().filter(|run| run.len() == 1) {
        let (epoch, value) = run[0];
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
            frame.x(epoch),
            frame.y(value)
        );
    }
}

/// The stretches of consecutive finite values, as (epoch, value) points.
fn finite_runs(values: &[f32]) -> Vec<Vec<(f64, f64)>> {
    let mut runs = Vec::new();
    let mut current = Vec::new();
    for (i, &value) in values.iter().enumerate() {
        if value.is_finite() {
            current.push(((i + 1) as f64, f64::from(value)));
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs
}

/// A dashed vertical line at `epoch` with its label at the top, on whichever side has room.
fn draw_marker(svg: &mut String, frame: &Frame, epoch: usize, label: &str) {
    let x = frame.x(epoch as f64);
    let _ = writeln!(
        svg,
        r##"<line x1="{x:.1}" y1="{PLOT_TOP}" x2="{x:.1}" y2="{PLOT_BOTTOM}" stroke="#555" stroke-width="1.5" stroke-dasharray="5 4"/>"##
    );
    let (label_x, anchor) = if x > (PLOT_LEFT + PLOT_RIGHT) / 2.0 {
        (x - 5.0, "end")
    } else {
        (x + 5.0, "start")
    };
    let _ = writeln!(
        svg,
        r##"<text x="{label_x:.1}" y="{:.1}" text-anchor="{anchor}" fill="#555">{}</text>"##,
        PLOT_TOP + 14.0,
        escape_xml(label)
    );
}

fn draw_legend(svg: &mut String, series: &[Series<'_>]) {
    for (index, one) in series.iter().enumerate() {
        let y = PLOT_TOP + 10.0 + index as f64 * LEGEND_ROW;
        let _ = writeln!(
            svg,
            r#"<line x1="{LEGEND_LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{}" stroke-width="2"{}/>"#,
            LEGEND_LEFT + 22.0,
            series_colour(index),
            series_dash(index)
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{}</text>"#,
            LEGEND_LEFT + 28.0,
            y + 4.0,
            escape_xml(&shortened(one.name, LEGEND_NAME_CHARS))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::axis::decimals_for;
    use crate::Error;

    fn assert_well_formed(svg: &str) {
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    fn count(svg: &str, needle: &str) -> usize {
        svg.matches(needle).count()
    }

    #[test]
    fn one_path_per_non_empty_series() {
        let train = [0.9, 0.6, 0.4, 0.3, 0.25];
        let valid = [1.0, 0.7, 0.5, 0.45, 0.5];
        let svg = line_chart_svg(
            "loss",
            "cross-entropy",
            &[
                Series {
                    name: "train",
                    values: &train,
                },
                Series {
                    name: "valid",
                    values: &valid,
                },
                Series {
                    name: "empty",
                    values: &[],
                },
            ],
            Some((4, "best")),
        );
        assert_well_formed(&svg);
        assert_eq!(count(&svg, "<path"), 2);
        assert!(svg.contains("best") && svg.contains("empty"));
    }

    #[test]
    fn escapes_names_and_titles() {
        let svg = line_chart_svg(
            "a < b & c",
            "\"y\"",
            &[Series {
                name: "<x&y>",
                values: &[1.0, 2.0],
            }],
            Some((1, "m&m")),
        );
        assert_well_formed(&svg);
        assert!(svg.contains("&lt;x&amp;y&gt;"));
        assert!(svg.contains("a &lt; b &amp; c"));
        assert!(svg.contains("m&amp;m"));
        assert!(!svg.contains("<x&y>"));
    }

    #[test]
    fn constant_single_and_empty_series_give_finite_coordinates() {
        for values in [
            &[0.5f32; 6][..],
            &[0.0; 3],
            &[7.0],
            &[],
            &[f32::NAN, f32::INFINITY],
        ] {
            let svg = line_chart_svg("t", "y", &[Series { name: "s", values }], None);
            assert_well_formed(&svg);
        }
        let svg = line_chart_svg("no series", "y", &[], None);
        assert_well_formed(&svg);
        assert_eq!(count(&svg, "<path"), 0);
    }

    #[test]
    fn gaps_split_the_line_and_lone_points_get_dots() {
        let values = [1.0, 2.0, f32::NAN, 3.0, f32::NEG_INFINITY, 2.5, 2.0];
        let svg = line_chart_svg(
            "t",
            "y",
            &[Series {
                name: "s",
                values: &values,
            }],
            None,
        );
        assert_well_formed(&svg);
        assert_eq!(count(&svg, "<path"), 1);
        // Sub-paths start at epochs 1, 4 and 6; epoch 4 stands alone.
        assert_eq!(count(&svg, "M"), 3);
        assert_eq!(count(&svg, "<circle"), 1);
    }

    #[test]
    fn extreme_values_stay_finite() {
        let values = [f32::MAX, f32::MIN, 1e-40, -1e-40];
        let svg = line_chart_svg(
            "t",
            "y",
            &[Series {
                name: "s",
                values: &values,
            }],
            None,
        );
        assert_well_formed(&svg);
        let tiny = [1e-44f32, 2e-44];
        let svg = line_chart_svg(
            "t",
            "y",
            &[Series {
                name: "s",
                values: &tiny,
            }],
            None,
        );
        assert_well_formed(&svg);
    }

    #[test]
    fn nice_ticks_number_four_to_six() {
        for (low, high) in [
            (0.0, 1.0),
            (0.13, 0.97),
            (-3.0, 250.0),
            (0.2481, 0.2519),
            (1e3, 9e5),
        ] {
            let step = nice_step(low, high, 0.0, true);
            let min = (low / step).floor() * step;
            let max = (high / step).ceil() * step;
            let ticks = ticks_within(min, max, step).len();
            assert!(
                (4..=6).contains(&ticks),
                "{low}..{high}: step {step}, {ticks} ticks"
            );
        }
        let axis = epoch_axis(
            &[Series {
                name: "s",
                values: &[0.0; 100],
            }],
            None,
        );
        assert_eq!(axis.ticks, [20.0, 40.0, 60.0, 80.0, 100.0]);
        let axis = epoch_axis(
            &[Series {
                name: "s",
                values: &[0.0],
            }],
            None,
        );
        assert_eq!(axis.ticks, [1.0]);
        let axis = epoch_axis(
            &[Series {
                name: "s",
                values: &[0.0; 3],
            }],
            None,
        );
        assert_eq!(axis.ticks, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn tick_labels_are_clean() {
        assert_eq!(TickFormat::for_ticks(0.0, 1.0, 0.1).label(0.1 * 3.0), "0.3");
        assert_eq!(TickFormat::Fixed(0).label(-0.0), "0");
        assert_eq!(decimals_for(0.005), 3);
        assert_eq!(decimals_for(20.0), 0);
        let huge = TickFormat::for_ticks(-4e38, 4e38, 2e38);
        assert_eq!(huge.label(2e38), "2e38");
        let tiny = TickFormat::for_ticks(1e-44, 2e-44, 2e-45);
        assert_eq!(tiny.label(1.2e-44), "1.2e-44");
    }

    #[test]
    fn rejects_other_extensions() {
        let dir = tempfile::tempdir().unwrap();
        let series = [Series {
            name: "s",
            values: &[1.0, 2.0][..],
        }];
        for name in ["chart.jpg", "chart"] {
            let err =
                write_chart(&dir.path().join(name), "t", "y", &series, None, None).unwrap_err();
            assert!(
                matches!(&err, Error::InvalidConfig(m) if m.contains("plots are .svg or .png files")),
                "{err}"
            );
        }
    }

    #[test]
    fn writes_the_chart_and_reports_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.svg");
        let series = [Series {
            name: "s",
            values: &[1.0, 2.0][..],
        }];
        write_chart(&path, "t", "y", &series, None, Some("0123")).unwrap();
        let written = std::fs::read_to_string(&path).unwrap();
        let marked = written.replacen("<!-- gpumlp run 0123 -->\n", "", 1);
        assert_ne!(marked, written, "the run's marker is in the file");
        assert_eq!(marked, line_chart_svg("t", "y", &series, None));

        let missing = dir.path().join("no such dir").join("loss.svg");
        let err = write_chart(&missing, "t", "y", &series, None, None).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path, .. } if path.contains("no such dir")),
            "{err}"
        );
    }

    #[test]
    fn example_chart() {
        let train: Vec<f32> = (1..=40)
            .map(|e| 1.2 * (-(e as f32) / 9.0).exp() + 0.05)
            .collect();
        let mut valid: Vec<f32> = (1..=40)
            .map(|e| 1.25 * (-(e as f32) / 10.0).exp() + 0.1 + 0.0004 * (e as f32 - 22.0).powi(2))
            .collect();
        valid[30] = f32::NAN;
        let series = [
            Series {
                name: "train loss",
                values: &train,
            },
            Series {
                name: "validation <loss> & more text",
                values: &valid,
            },
        ];
        let svg = line_chart_svg(
            "Training & validation",
            "loss",
            &series,
            Some((22, "best epoch 22")),
        );
        assert_well_formed(&svg);
        let _ = std::fs::write(std::env::temp_dir().join("example.svg"), svg);
    }
}
