//! SVG charts of benchmark results, drawn with plotters: rate and p99
//! latency against the connection count, grouped bars per row, and the
//! zcnet/baseline ratios. Medians are drawn, with min-max whiskers.

use super::summary::Summary;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

/// One line (or bar group) of a chart: a program's medians.
#[derive(Debug, Clone)]
pub struct Series {
    /// The legend text.
    pub name: String,
    /// (connections, summary) points, in increasing connections.
    pub points: Vec<(f64, Summary)>,
}

/// What a chart shows.
#[derive(Debug, Clone)]
pub enum Chart {
    /// Rate against connections (log scale) and, if any, p99 latency against connections.
    Curves { title: String, rate_label: String, rate: Vec<Series>, p99: Vec<Series> },
    /// One bar per series and category, with its min-max whisker.
    Bars { title: String, y_label: String, categories: Vec<String>, series: Vec<(String, Vec<Option<Summary>>)> },
    /// One horizontal bar per ratio on a log scale, with a line at 1.
    Ratios { title: String, entries: Vec<(String, f64)> },
}

/// The series colours: the baseline first (slate), zcnet second (orange).
const COLOURS: [RGBColor; 5] = [
    RGBColor(84, 110, 140),
    RGBColor(230, 120, 20),
    RGBColor(60, 150, 90),
    RGBColor(140, 80, 160),
    RGBColor(190, 60, 60),
];

fn colour(i: usize) -> RGBColor {
    COLOURS[i % COLOURS.len()]
}

type Error = Box<dyn std::error::Error>;

impl Chart {
    /// The chart as an SVG document.
    pub fn to_svg(&self) -> Result<String, Error> {
        let mut svg = String::new();
        {
            let size = match self {
                Chart::Curves { p99, .. } if !p99.is_empty() => (960, 400),
                Chart::Ratios { entries, .. } => (760, 60 + 26 * entries.len().max(1) as u32),
                _ => (720, 400),
            };
            let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            root.fill(&WHITE)?;
            match self {
                Chart::Curves { title, rate_label, rate, p99 } => {
                    if p99.is_empty() {
                        curves(&root, title, rate_label, rate, false)?;
                    } else {
                        let (left, right) = root.split_horizontally(480);
                        curves(&left, title, rate_label, rate, false)?;
                        curves(&right, "p99 latency (lower is better)", "p99 us (log)", p99, true)?;
                    }
                }
                Chart::Bars { title, y_label, categories, series } => bars(&root, title, y_label, categories, series)?,
                Chart::Ratios { title, entries } => ratios(&root, title, entries)?,
            }
            root.present()?;
        }
        Ok(svg)
    }
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().into()
}

/// The smallest and largest of the values `f` picks out of every point.
fn bounds(series: &[Series], f: impl Fn(&Summary) -> [f64; 2]) -> Option<(f64, f64)> {
    let all = series.iter().flat_map(|s| s.points.iter()).flat_map(|(_, p)| f(p));
    all.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

fn curves<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    series: &[Series],
    log_y: bool,
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let xs = series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let (x_lo, x_hi) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (x_lo, x_hi) = if x_lo > x_hi { (1.0, 10.0) } else { (x_lo, x_hi) };
    let x_range = (x_lo.max(0.5) / 1.6)..(x_hi.max(1.0) * 1.6);
    let (y_lo, y_hi) = bounds(series, |s| [s.min, s.max]).unwrap_or((0.0, 1.0));
    let mut builder = ChartBuilder::on(area);
    builder.caption(title, font(16)).margin(12).x_label_area_size(36).y_label_area_size(64);
    let x_fmt = |x: &f64| if *x >= 1000.0 { format!("{}k", (x / 1000.0).round()) } else { format!("{}", x.round()) };
    macro_rules! draw {
        ($chart:ident) => {
            $chart
                .configure_mesh()
                .max_light_lines(2)
                .x_desc("connections (log)")
                .y_desc(y_label)
                .x_label_formatter(&x_fmt)
                .y_label_formatter(&|y: &f64| axis(*y))
                .label_style(font(12))
                .draw()?;
            for (i, s) in series.iter().enumerate() {
                let c = colour(i);
                $chart
                    .draw_series(LineSeries::new(s.points.iter().map(|(x, p)| (*x, p.median)), c.stroke_width(2)))?
                    .label(s.name.as_str())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2)));
                $chart.draw_series(s.points.iter().map(|(x, p)| Circle::new((*x, p.median), 3, c.filled())))?;
                $chart.draw_series(
                    s.points
                        .iter()
                        .map(|(x, p)| ErrorBar::new_vertical(*x, p.min, p.median, p.max, c.stroke_width(1), 8)),
                )?;
            }
            $chart
                .configure_series_labels()
                // Latency rises with connections: its upper left is empty.
                .position(if log_y { SeriesLabelPosition::UpperLeft } else { SeriesLabelPosition::UpperRight })
                .label_font(font(12))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        };
    }
    if log_y {
        let lo = (y_lo.max(0.01)) / 1.5;
        let mut chart =
            builder.build_cartesian_2d(x_range.log_scale(), (lo..(y_hi.max(lo * 2.0) * 1.5)).log_scale())?;
        draw!(chart);
    } else {
        let mut chart = builder.build_cartesian_2d(x_range.log_scale(), 0.0..(y_hi.max(1e-9) * 1.15))?;
        draw!(chart);
    }
    Ok(())
}

fn bars<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_label: &str,
    categories: &[String],
    series: &[(String, Vec<Option<Summary>>)],
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let n = categories.len().max(1) as i32;
    // n segments: 0..=n-1 (and 40% headroom above the tallest whisker for
    // the legend). A single category sits in the middle of three,
    // since a one-value discrete range has no width.
    let keys = if n == 1 { -1..1 } else { 0..n - 1 };
    let y_hi = series.iter().flat_map(|(_, v)| v.iter().flatten()).map(|s| s.max).fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(16))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d(keys.clone().into_segmented(), 0.0..(y_hi.max(1e-9) * 1.4))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(2)
        .x_labels(categories.len() + 2)
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if *i >= 0 => categories.get(*i as usize).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc(y_label)
        .y_label_formatter(&|y: &f64| axis(*y))
        .label_style(font(12))
        .draw()?;
    let segments = keys.len() + 1;
    let segment_px = chart.plotting_area().dim_in_pixel().0 as f64 / segments as f64;
    let k = series.len().max(1) as f64;
    let pad = segment_px * 0.12;
    let bar_px = (segment_px - 2.0 * pad) / k;
    for (j, (name, values)) in series.iter().enumerate() {
        let c = colour(j);
        let left = pad + j as f64 * bar_px;
        let right = segment_px - left - bar_px;
        let mid = left + bar_px / 2.0;
        let bar = |i: usize, lo: f64, hi: f64, l: f64, r: f64, style: ShapeStyle| {
            let at = |x| SegmentValue::Exact(x as i32);
            let mut rect = Rectangle::new([(at(i), lo), (at(i + 1), hi)], style);
            rect.set_margin(0, 0, l.max(0.0) as u32, r.max(0.0) as u32);
            rect
        };
        let present = || values.iter().enumerate().filter_map(|(i, v)| v.map(|s| (i, s)));
        chart
            .draw_series(present().map(|(i, s)| bar(i, 0.0, s.median, left + 1.0, right + 1.0, c.filled())))?
            .label(name.as_str())
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        chart.draw_series(
            present().map(|(i, s)| bar(i, s.min, s.max, mid - 1.0, segment_px - mid - 1.0, BLACK.mix(0.6).filled())),
        )?;
        chart.draw_series(present().map(|(i, s)| {
            EmptyElement::at((SegmentValue::Exact(i as i32), s.max))
                + Text::new(short(s.median), (left as i32 + 2, -14), font(11))
        }))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(font(12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

fn ratios<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    entries: &[(String, f64)],
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    let n = entries.len().max(1) as f64;
    let (lo, hi) = entries.iter().fold((1.0f64, 1.0f64), |(lo, hi), (_, r)| (lo.min(*r), hi.max(*r)));
    let x_range = (lo.max(1e-3) / 2.0)..(hi * 6.0);
    let x_start = x_range.start;
    let mut chart = ChartBuilder::on(area)
        .caption(title, font(16))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(8)
        .build_cartesian_2d(x_range.log_scale(), 0.0..n)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .max_light_lines(2)
        .y_labels(0)
        .y_label_formatter(&|_| String::new())
        .x_desc("zcnet / baseline (log scale; 1 = parity)")
        .label_style(font(12))
        .draw()?;
    let c = colour(1);
    chart.draw_series(entries.iter().enumerate().map(|(i, (_, r))| {
        let y = n - 1.0 - i as f64;
        Rectangle::new([(x_start, y + 0.18), (*r, y + 0.82)], if *r >= 1.0 { c.filled() } else { colour(0).filled() })
    }))?;
    chart.draw_series(entries.iter().enumerate().map(|(i, (label, r))| {
        EmptyElement::at((*r, n - 1.0 - i as f64 + 0.5)) + Text::new(format!("{r:.2}  {label}"), (6, -6), font(12))
    }))?;
    chart.draw_series(LineSeries::new([(1.0, 0.0), (1.0, n)], BLACK.stroke_width(1)))?;
    Ok(())
}

/// An axis label: `short` without trailing zeros (`10k`, `2.5`, `0`).
fn axis(v: f64) -> String {
    let s = short(v);
    let (number, unit) = s.split_at(s.trim_end_matches(['k', 'M']).len());
    let number = if number.contains('.') { number.trim_end_matches('0').trim_end_matches('.') } else { number };
    format!("{number}{unit}")
}

/// A bar's value label: three significant figures, k/M for large values.
fn short(v: f64) -> String {
    let (v, unit) = match v.abs() {
        a if a >= 1e6 => (v / 1e6, "M"),
        a if a >= 1e3 => (v / 1e3, "k"),
        _ => (v, ""),
    };
    match v.abs() {
        a if a >= 100.0 => format!("{v:.0}{unit}"),
        a if a >= 10.0 => format!("{v:.1}{unit}"),
        _ => format!("{v:.2}{unit}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::page::default_setup;
    use crate::report::pair::Pair;
    use crate::report::runs::Runs;

    /// zcnet's orange as the SVG backend writes it.
    const ZCNET_FILL: &str = "fill=\"#E67814\"";

    #[test]
    fn rr_chart_from_recorded_runs_has_both_series_at_every_connection_count() {
        let runs = Runs::parse(include_str!("testdata/rr-runs.log")).unwrap();
        let chart = Pair::named("rr").unwrap().page(&runs, &default_setup()).chart;
        assert!(matches!(&chart, Chart::Curves { rate, p99, .. } if rate.len() == 2 && p99.len() == 2));
        let svg = chart.to_svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        // A dot per program and connection count (1, 32, 256), in each panel
        // (the whiskers' own circles are larger).
        assert_eq!(svg.matches("r=\"3\"").count(), 2 * 3 * 2, "{svg}");
        for text in ["rr: k req/s", "p99 latency", "tokio", "zcnet", "connections (log)"] {
            assert!(svg.contains(text), "no {text:?} in the chart");
        }
    }

    #[test]
    fn bar_chart_draws_one_bar_per_series_and_category() {
        let s = |median: f64| Some(Summary { median, min: median * 0.9, max: median * 1.1, n: 3 });
        let chart = Chart::Bars {
            title: "http".into(),
            y_label: "k req/s".into(),
            categories: vec!["wrk -c32".into(), "wrk -c256".into(), "wrk -c1024".into()],
            series: vec![
                ("nginx".into(), vec![s(130.0), s(122.0), None]),
                ("zcnet".into(), vec![s(58.0), s(48.0), s(40.0)]),
            ],
        };
        let svg = chart.to_svg().unwrap();
        // zcnet: three bars and its legend swatch; the missing nginx bar is not drawn.
        assert_eq!(svg.matches(ZCNET_FILL).count(), 3 + 1, "{svg}");
        for text in ["wrk -c32", "wrk -c256", "wrk -c1024", "130", "48.0"] {
            assert!(svg.contains(text), "no {text:?} in the chart");
        }
        // One category alone still gets a visible bar (the first series is slate).
        let one = Chart::Bars {
            title: "t".into(),
            y_label: "y".into(),
            categories: vec!["a".into()],
            series: vec![("zcnet".into(), vec![s(1.0)])],
        };
        let svg = one.to_svg().unwrap();
        assert_eq!(svg.matches("fill=\"#546E8C\"").count(), 2, "{svg}");
    }

    #[test]
    fn axis_labels_drop_trailing_zeros() {
        let labels: Vec<String> = [0.0, 2.5, 80.0, 140.0, 1000.0, 10_000.0, 2_500_000.0].map(axis).into();
        assert_eq!(labels, ["0", "2.5", "80", "140", "1k", "10k", "2.5M"]);
    }

    #[test]
    fn ratio_chart_labels_every_ratio() {
        let chart = Chart::Ratios {
            title: "all".into(),
            entries: vec![("rr 32 conns".into(), 6.94), ("http wrk -c32".into(), 0.45)],
        };
        let svg = chart.to_svg().unwrap();
        assert!(svg.contains("6.94  rr 32 conns") && svg.contains("0.45  http wrk -c32"), "{svg}");
        assert_eq!(svg.matches(ZCNET_FILL).count(), 1, "only the ratio above 1 is orange");
    }
}
