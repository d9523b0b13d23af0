//! The charts of `runs compare --plot`: one self-contained SVG document with
//! a small chart per metric (step on x, value on y, one line per run and a
//! legend from colors to run ids), laid out two to a row.
//!
//! Written by hand rather than with a plotting crate: the document is a
//! few kinds of element, and what takes care is here: axes on round
//! numbers ([`nice_ticks`]), every text escaped for XML ([`escape`]), and
//! long series thinned to what a pixel column can show ([`thin`]), so a
//! run of a million steps still makes a file a browser opens at once.

use std::fmt::Write;

/// One run's points of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The legend's label and the line's tooltip.
    pub run_id: String,
    /// The run's position among those compared: a run has the same color
    /// in every chart.
    pub color: usize,
    /// (step, value), by step.
    pub points: Vec<(i64, f64)>,
}

/// One metric's chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    /// One line per run that has points of the metric.
    pub series: Vec<Series>,
}

/// Distinct colors for up to 16 runs (the most `CompareRuns` compares):
/// Tableau's ten, then six darker ones.
const PALETTE: [&str; 16] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf", "#393b79", "#ad494a", "#637939", "#de9ed6", "#843c39", "#3182bd",
];

/// Charts per row.
const COLUMNS: usize = 2;
/// The size of one chart, legend excluded, and where its plot area sits.
const CHART_WIDTH: f64 = 520.0;
const PLOT_LEFT: f64 = 72.0;
const PLOT_RIGHT: f64 = 20.0;
const PLOT_TOP: f64 = 40.0;
const PLOT_HEIGHT: f64 = 220.0;
/// Between the frame and the axes' ends, so that a line along an end or a
/// point in a corner is not drawn on the frame.
const INSET: f64 = 6.0;
/// Below the plot: the step ticks' labels and the axis name.
const X_AXIS_SPACE: f64 = 44.0;
/// One legend entry per line.
const LEGEND_ROW: f64 = 16.0;
/// Around and between charts.
const GAP: f64 = 12.0;
/// How many ticks an axis aims for.
const TARGET_TICKS: usize = 6;
/// Axes end within this magnitude, so that no tick overflows f64.
const AXIS_LIMIT: f64 = 1e300;
/// Pixel coordinates are held to this magnitude: a value far off the axis
/// is drawn off the chart, not as a number of hundreds of digits.
const PIXEL_LIMIT: f64 = 1e5;

/// The whole document: every chart, two to a row.
pub fn document(charts: &[Chart]) -> String {
    let legend_rows = charts
        .iter()
        .map(|chart| chart.series.len())
        .max()
        .unwrap_or(0);
    let chart_height = PLOT_TOP + PLOT_HEIGHT + X_AXIS_SPACE + legend_rows as f64 * LEGEND_ROW;
    let columns = charts.len().clamp(1, COLUMNS);
    let rows = charts.len().div_ceil(COLUMNS).max(1);
    let width = GAP + columns as f64 * (CHART_WIDTH + GAP);
    let height = GAP + rows as f64 * (chart_height + GAP);
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    out.push_str("<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
    for (index, chart) in charts.iter().enumerate() {
        let x = GAP + (index % COLUMNS) as f64 * (CHART_WIDTH + GAP);
        let y = GAP + (index / COLUMNS) as f64 * (chart_height + GAP);
        let _ = writeln!(out, r#"<g transform="translate({x},{y})">"#);
        write_chart(&mut out, chart);
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

/// One chart at the origin: title, frame, grid and tick labels, a line per
/// series, and the legend under the axis.
fn write_chart(out: &mut String, chart: &Chart) {
    let plot_width = CHART_WIDTH - PLOT_LEFT - PLOT_RIGHT;
    let plot_bottom = PLOT_TOP + PLOT_HEIGHT;
    let _ = writeln!(
        out,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14" font-weight="bold">{}</text>"#,
        CHART_WIDTH / 2.0,
        escape(&chart.title)
    );
    let points = chart
        .series
        .iter()
        .flat_map(|series| &series.points)
        .filter(|(_, value)| value.is_finite());
    let bounds = points.fold(
        None,
        |bounds: Option<(i64, i64, f64, f64)>, &(step, value)| {
            Some(match bounds {
                None => (step, step, value, value),
                Some((x0, x1, y0, y1)) => {
                    (x0.min(step), x1.max(step), y0.min(value), y1.max(value))
                }
            })
        },
    );
    let _ = writeln!(
        out,
        r##"<rect x="{PLOT_LEFT}" y="{PLOT_TOP}" width="{plot_width}" height="{PLOT_HEIGHT}" fill="none" stroke="#888"/>"##
    );
    let Some((step_min, step_max, value_min, value_max)) = bounds else {
        let _ = writeln!(
            out,
            r##"<text x="{}" y="{}" text-anchor="middle" fill="#888">no finite values</text>"##,
            PLOT_LEFT + plot_width / 2.0,
            PLOT_TOP + PLOT_HEIGHT / 2.0
        );
        write_legend(out, chart, plot_bottom + X_AXIS_SPACE);
        return;
    };
    let x_ticks = nice_ticks(step_min as f64, step_max as f64, TARGET_TICKS, true);
    let y_ticks = nice_ticks(value_min, value_max, TARGET_TICKS, false);
    let scale = Scale {
        x: (x_ticks.first, x_ticks.last()),
        y: (y_ticks.first, y_ticks.last()),
        plot_width,
    };

    for value in y_ticks.values() {
        let y = scale.y_px(value);
        let _ = writeln!(
            out,
            r##"<line x1="{PLOT_LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#e5e5e5"/>"##,
            PLOT_LEFT + plot_width
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            PLOT_LEFT - 6.0,
            y + 4.0,
            escape(&tick_label(value, y_ticks.step))
        );
    }
    for value in x_ticks.values() {
        let x = scale.x_px(value);
        let _ = writeln!(
            out,
            r##"<line x1="{x:.1}" y1="{PLOT_TOP}" x2="{x:.1}" y2="{plot_bottom}" stroke="#e5e5e5"/>"##
        );
        let _ = writeln!(
            out,
            r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
            plot_bottom + 15.0,
            escape(&tick_label(value, x_ticks.step))
        );
    }
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="{}" text-anchor="middle">step</text>"#,
        PLOT_LEFT + plot_width / 2.0,
        plot_bottom + 31.0
    );

    for series in &chart.series {
        let color = PALETTE[series.color % PALETTE.len()];
        let pixels: Vec<(f64, f64)> = series
            .points
            .iter()
            .filter(|(_, value)| value.is_finite())
            .map(|&(step, value)| (scale.x_px(step as f64), scale.y_px(value)))
            .collect();
        let mut coordinates = String::new();
        for (x, y) in thin(&pixels) {
            let _ = write!(coordinates, "{x:.1},{y:.1} ");
        }
        let _ = writeln!(
            out,
            r#"<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{}"><title>{}</title></polyline>"#,
            coordinates.trim_end(),
            escape(&series.run_id)
        );
        // A line through one point draws nothing: mark it.
        if let [(x, y)] = pixels.as_slice() {
            let _ = writeln!(
                out,
                r#"<circle cx="{x:.1}" cy="{y:.1}" r="3" fill="{color}"/>"#
            );
        }
    }
    write_legend(out, chart, plot_bottom + X_AXIS_SPACE);
}

/// One line per series under the plot: its color, then its run id.
fn write_legend(out: &mut String, chart: &Chart, top: f64) {
    for (row, series) in chart.series.iter().enumerate() {
        let color = PALETTE[series.color % PALETTE.len()];
        let y = top + row as f64 * LEGEND_ROW;
        let _ = writeln!(
            out,
            r#"<line x1="{PLOT_LEFT}" y1="{y}" x2="{}" y2="{y}" stroke="{color}" stroke-width="3"/>"#,
            PLOT_LEFT + 18.0
        );
        let _ = writeln!(
            out,
            r#"<text x="{}" y="{}">{}</text>"#,
            PLOT_LEFT + 24.0,
            y + 4.0,
            escape(&series.run_id)
        );
    }
}

/// From data to the plot area's pixels.
struct Scale {
    x: (f64, f64),
    y: (f64, f64),
    plot_width: f64,
}

impl Scale {
    fn x_px(&self, step: f64) -> f64 {
        let width = self.plot_width - 2.0 * INSET;
        (PLOT_LEFT + INSET + fraction(step, self.x) * width).clamp(-PIXEL_LIMIT, PIXEL_LIMIT)
    }

    /// Larger values higher up.
    fn y_px(&self, value: f64) -> f64 {
        let height = PLOT_HEIGHT - 2.0 * INSET;
        (PLOT_TOP + PLOT_HEIGHT - INSET - fraction(value, self.y) * height)
            .clamp(-PIXEL_LIMIT, PIXEL_LIMIT)
    }
}

/// Where `value` lies between the ends of `range`, 0 to 1.
fn fraction(value: f64, (low, high): (f64, f64)) -> f64 {
    if high > low {
        (value - low) / (high - low)
    } else {
        0.5
    }
}

/// Evenly spaced round values covering an axis: `first`, `first + step`,
/// ... `count` of them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ticks {
    pub first: f64,
    pub step: f64,
    pub count: usize,
}

impl Ticks {
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        (0..self.count).map(|index| self.first + index as f64 * self.step)
    }

    pub fn last(&self) -> f64 {
        self.first + (self.count.saturating_sub(1)) as f64 * self.step
    }
}

/// Ticks on round numbers (a step of 1, 2 or 5 times a power of ten) from
/// at or below `min` to at or above `max`, about `target` of them (after
/// Heckbert's "nice numbers"). An empty range is widened around its value;
/// with `integer`, the step is at least 1 (steps of a series are
/// integers); beyond ±1e300 the axis is cut.
pub fn nice_ticks(min: f64, max: f64, target: usize, integer: bool) -> Ticks {
    let (low, high) = if min <= max { (min, max) } else { (max, min) };
    let (mut low, mut high) = if low.is_finite() && high.is_finite() {
        (
            low.clamp(-AXIS_LIMIT, AXIS_LIMIT),
            high.clamp(-AXIS_LIMIT, AXIS_LIMIT),
        )
    } else {
        (0.0, 1.0)
    };
    if low == high {
        let pad = if integer || low == 0.0 {
            1.0
        } else {
            low.abs() / 10.0
        };
        (low, high) = (low - pad, high + pad);
    }
    let target = target.max(2);
    let mut step = nice_number((high - low) / (target - 1) as f64);
    if integer {
        step = step.max(1.0);
    }
    let first = (low / step).floor() * step;
    let last = (high / step).ceil() * step;
    Ticks {
        first,
        step,
        count: ((last - first) / step).round() as usize + 1,
    }
}

/// The round number nearest `x` (> 0): 1, 2 or 5 times a power of ten.
fn nice_number(x: f64) -> f64 {
    let power = 10f64.powf(x.log10().floor());
    let nice = match x / power {
        fraction if fraction < 1.5 => 1.0,
        fraction if fraction < 3.0 => 2.0,
        fraction if fraction < 7.0 => 5.0,
        _ => 10.0,
    };
    nice * power
}

/// A tick's label, with as many decimals as its axis's step needs (`0.85`
/// on a step of 0.05, `1200` on a step of 200), in exponent form for very
/// large or small values (`1.5e-7`).
pub fn tick_label(value: f64, step: f64) -> String {
    // `first + i * step` lands a hair off zero: say 0, not -0.00 or 1e-17.
    let value = if (value / step).abs() < 1e-9 {
        0.0
    } else {
        value
    };
    if value.abs().max(step) >= 1e6 || step < 1e-4 {
        if value == 0.0 {
            return "0".to_owned();
        }
        let digits = (value.abs().log10().floor() - step.log10().floor()).max(0.0) as usize;
        return format!("{value:.digits$e}");
    }
    let decimals = (-step.log10() - 1e-9).ceil().max(0.0) as usize;
    format!("{value:.decimals$}")
}

/// Escapes text for XML content and attribute values; a character XML 1.0
/// cannot hold at all becomes U+FFFD.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Of the points (in pixels, by x) falling in each pixel column, keeps the
/// first, the lowest, the highest and the last, in their order: the line
/// looks the same, and its length follows the chart's width, not the
/// series'.
pub fn thin(points: &[(f64, f64)]) -> Vec<(f64, f64)> {
    let mut kept = Vec::new();
    let mut start = 0;
    while start < points.len() {
        let column = points[start].0.floor();
        let end = points[start..]
            .iter()
            .position(|(x, _)| x.floor() != column)
            .map_or(points.len(), |offset| start + offset);
        let group = &points[start..end];
        let by_y = |a: &&(f64, f64), b: &&(f64, f64)| a.1.total_cmp(&b.1);
        let lowest = group.iter().enumerate().min_by(|a, b| by_y(&a.1, &b.1));
        let highest = group.iter().enumerate().max_by(|a, b| by_y(&a.1, &b.1));
        let mut picks = vec![0, group.len() - 1];
        picks.extend(lowest.map(|(index, _)| index));
        picks.extend(highest.map(|(index, _)| index));
        picks.sort_unstable();
        picks.dedup();
        kept.extend(picks.into_iter().map(|index| group[index]));
        start = end;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ticks: Ticks) -> Vec<String> {
        ticks
            .values()
            .map(|value| tick_label(value, ticks.step))
            .collect()
    }

    #[test]
    fn ticks_fall_on_round_numbers_around_the_data() {
        assert_eq!(
            values(nice_ticks(0.612, 0.893, 6, false)),
            ["0.60", "0.65", "0.70", "0.75", "0.80", "0.85", "0.90"]
        );
        assert_eq!(
            values(nice_ticks(0.0, 1.0, 6, false)),
            ["0.0", "0.2", "0.4", "0.6", "0.8", "1.0"]
        );
        assert_eq!(
            values(nice_ticks(-3.2, 7.9, 6, false)),
            ["-4", "-2", "0", "2", "4", "6", "8"]
        );
        assert_eq!(
            values(nice_ticks(0.0, 1234.0, 6, true)),
            ["0", "200", "400", "600", "800", "1000", "1200", "1400"]
        );
        // Reversed bounds are the same axis.
        assert_eq!(
            nice_ticks(0.893, 0.612, 6, false),
            nice_ticks(0.612, 0.893, 6, false)
        );
    }

    #[test]
    fn steps_are_whole_and_a_flat_series_gets_room() {
        // Three steps would give ticks of 0.5 on a real axis.
        assert_eq!(values(nice_ticks(1.0, 3.0, 6, true)), ["1", "2", "3"]);
        // One step, one value: an axis around each.
        assert_eq!(values(nice_ticks(5.0, 5.0, 6, true)), ["4", "5", "6"]);
        let flat = nice_ticks(0.8, 0.8, 6, false);
        assert!(flat.first < 0.8 && flat.last() > 0.8, "{flat:?}");
        assert_eq!(values(nice_ticks(0.0, 0.0, 6, false))[0], "-1.0");
        // Nothing usable: a unit axis rather than a panic or NaN.
        assert_eq!(
            nice_ticks(f64::NAN, 1.0, 6, false),
            nice_ticks(0.0, 1.0, 6, false)
        );
        let huge = nice_ticks(-f64::MAX, f64::MAX, 6, false);
        assert!(huge.values().all(f64::is_finite), "{huge:?}");
        assert!(huge.first <= -1e300 && huge.last() >= 1e300, "{huge:?}");
    }

    #[test]
    fn labels_use_the_exponent_form_at_the_extremes() {
        assert_eq!(
            values(nice_ticks(1.2e-7, 3.9e-7, 4, false)),
            ["1e-7", "2e-7", "3e-7", "4e-7"]
        );
        assert_eq!(tick_label(2_500_000.0, 500_000.0), "2.5e6");
        assert_eq!(tick_label(1e-17, 0.1), "0.0");
        assert_eq!(tick_label(-0.0, 0.05), "0.00");
        assert_eq!(tick_label(1e-23, 1e-7), "0");
    }

    #[test]
    fn text_is_escaped_for_xml() {
        assert_eq!(
            escape(r#"a<b & c>"d" 'e'"#),
            "a&lt;b &amp; c&gt;&quot;d&quot; &apos;e&apos;"
        );
        assert_eq!(escape("tab\tok\u{1}\u{FFFF}"), "tab\tok\u{FFFD}\u{FFFD}");
        assert_eq!(escape("auc ↑"), "auc ↑");
    }

    #[test]
    fn thinning_keeps_each_columns_extremes_in_order() {
        let points = [
            (10.1, 5.0),
            (10.2, 9.0),
            (10.3, 1.0),
            (10.4, 4.0),
            (10.9, 3.0),
            (11.0, 2.0),
        ];
        assert_eq!(
            thin(&points),
            [
                (10.1, 5.0),
                (10.2, 9.0),
                (10.3, 1.0),
                (10.9, 3.0),
                (11.0, 2.0)
            ]
        );
        // A million points on a chart 428 pixels wide.
        let many: Vec<(f64, f64)> = (0..1_000_000)
            .map(|i| (f64::from(i) * 428.0 / 1e6, f64::from(i % 7)))
            .collect();
        assert!(thin(&many).len() <= 4 * 429);
        assert!(thin(&[]).is_empty());
    }

    #[test]
    fn a_document_has_a_line_per_series_and_a_legend() {
        let chart = |title: &str, runs: &[(&str, usize)]| Chart {
            title: title.to_owned(),
            series: runs
                .iter()
                .map(|&(run_id, color)| Series {
                    run_id: run_id.to_owned(),
                    color,
                    points: vec![(0, 0.5), (1, 0.7), (2, 0.75)],
                })
                .collect(),
        };
        let svg = document(&[
            chart("auc (higher is better)", &[("r-1", 0), ("r<2>", 1)]),
            chart("loss", &[("r-1", 0)]),
            Chart {
                title: "one point".to_owned(),
                series: vec![Series {
                    run_id: "r-3".to_owned(),
                    color: 2,
                    points: vec![(4, 1.0)],
                }],
            },
        ]);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>\n"));
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(svg.matches("<circle").count(), 1);
        assert_eq!(svg.matches("<g ").count(), 3);
        assert!(svg.contains(">r&lt;2&gt;</text>"), "{svg}");
        assert!(!svg.contains("r<2>"));
        // The same run, the same color, in every chart.
        assert_eq!(
            svg.matches(r##"stroke="#1f77b4" stroke-width="1.5""##)
                .count(),
            2
        );
        assert!(svg.contains("<title>r-1</title>"));
    }
}
