//! The HTML page: inline SVG charts drawn with `plotters`, tables, and a little CSS. Nothing is
//! fetched when the page is opened: no script, no font, no image outside the file.

use super::series::{CellPoint, Heatmap, Report};
use super::ReportError;
use crate::clock::{format_trace_time, unix_seconds};
use crate::trace::EventType;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Write as _;
use std::path::Path;

const WIDTH: u32 = 1120;
/// The right-hand panel of every chart (legend or colour scale): the same plot width for all,
/// so that their time axes line up on the page.
const PANEL: u32 = 150;
const FONT: &str = "sans-serif";
/// Tableau 10, the matplotlib default cycle: distinct, and readable on white.
const BLUE: RGBColor = RGBColor(31, 119, 180);
const ORANGE: RGBColor = RGBColor(255, 127, 14);
const GREEN: RGBColor = RGBColor(44, 160, 44);
const RED: RGBColor = RGBColor(214, 39, 40);
const PURPLE: RGBColor = RGBColor(148, 103, 189);
const BROWN: RGBColor = RGBColor(140, 86, 75);
const PINK: RGBColor = RGBColor(227, 119, 194);
const GREY: RGBColor = RGBColor(127, 127, 127);
const OLIVE: RGBColor = RGBColor(188, 189, 34);
const AXIS: RGBColor = RGBColor(60, 60, 60);

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

fn render_err<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> ReportError {
    move |e| ReportError::Render {
        chart,
        reason: e.to_string(),
    }
}

/// `05-02 01:00` (or `05-02` for whole days) from the trace clock's own formatting.
fn tick_label(trace_seconds: f64, days: bool) -> String {
    let s = format_trace_time((trace_seconds.max(0.0) * 1e6).round() as u64);
    let end = if days { 10 } else { 16 };
    s.get(5..end).unwrap_or(&s).to_string()
}

/// Ticks at round UTC times (multiples of a step in Unix time) between two trace times, in
/// trace seconds, and whether they are whole days.
fn time_ticks(from_s: f64, to_s: f64) -> (Vec<f64>, bool) {
    const STEPS: [u64; 13] = [
        60, 300, 600, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 172_800, 345_600, 604_800,
    ];
    let epoch = unix_seconds(0);
    let (u0, u1) = (epoch + from_s, epoch + to_s);
    let step = STEPS
        .iter()
        .copied()
        .find(|&s| (u1 - u0) / s as f64 <= 8.0)
        .unwrap_or(2_592_000) as f64;
    let mut ticks = Vec::new();
    let mut u = (u0 / step).ceil() * step;
    while u <= u1 {
        ticks.push(u - epoch);
        u += step;
    }
    (ticks, step >= 86_400.0)
}

/// 1234567 -> `1.2M`, 12345 -> `12k`, small values with the decimals they need.
fn si(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// 1234567 -> `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A linear axis with ticks chosen here (round UTC times, round ranks) rather than plotters'
/// round numbers. `from > to` is allowed (the heatmap's ranks grow downwards).
#[derive(Debug, Clone)]
struct Ticked {
    from: f64,
    to: f64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        let f = (v - self.from) / (self.to - self.from);
        limit.0 + (f64::from(limit.1 - limit.0) * f).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.from..self.to
    }
}

fn time_axis(from: f64, to: f64) -> (Ticked, bool) {
    let (ticks, days) = time_ticks(from, to);
    (Ticked { from, to, ticks }, days)
}

/// A line of a time chart: name, colour, one value per point.
struct LineSpec {
    name: String,
    color: RGBColor,
    values: Vec<f64>,
}

/// A time chart's x range (trace seconds) and the points' x (the middle of each bucket).
fn x_axis(report: &Report) -> (f64, f64, Vec<f64>) {
    let x0 = report.first_window_start() as f64 / 1e6;
    let x1 = report.last_window_end() as f64 / 1e6;
    let xs = report
        .points
        .iter()
        .map(|p: &CellPoint| (p.start_us + p.end_us) as f64 / 2e6)
        .collect();
    (x0, x1, xs)
}

/// Draws a line chart over trace time. Values above `y_max` are drawn at the top (the caller
/// states which).
fn line_chart(
    id: &'static str,
    report: &Report,
    y_desc: &str,
    lines: &[LineSpec],
    y_max: f64,
    y_fmt: &dyn Fn(&f64) -> String,
) -> Result<String, ReportError> {
    let err = render_err(id);
    let (x0, x1, xs) = x_axis(report);
    let (x_axis, days) = time_axis(x0, x1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (main, panel) = root.split_horizontally(WIDTH - PANEL);
        let mut chart = ChartBuilder::on(&main)
            .margin_top(12)
            .margin_right(8)
            .margin_left(8)
            .x_label_area_size(46)
            .y_label_area_size(78)
            .build_cartesian_2d(x_axis, 0.0..y_max)
            .map_err(&err)?;
        chart
            .configure_mesh()
            .x_label_formatter(&|x| tick_label(*x, days))
            .y_label_formatter(y_fmt)
            .y_labels(6)
            .x_desc("trace time, 2011 (UTC, month-day hour:minute)")
            .y_desc(y_desc)
            .axis_desc_style((FONT, 14).into_font().color(&AXIS))
            .label_style((FONT, 13).into_font().color(&AXIS))
            .bold_line_style(RGBColor(222, 222, 222))
            .light_line_style(TRANSPARENT)
            .axis_style(AXIS)
            .draw()
            .map_err(&err)?;
        for l in lines {
            chart
                .draw_series(LineSeries::new(
                    xs.iter().zip(&l.values).map(|(&x, &y)| (x, y.min(y_max))),
                    l.color.stroke_width(2),
                ))
                .map_err(&err)?;
        }
        // The legend, in the panel beside the plot, where it hides no line.
        for (i, l) in lines.iter().enumerate() {
            let y = 22 + 24 * i as i32;
            panel
                .draw(&PathElement::new(
                    vec![(10, y), (34, y)],
                    l.color.stroke_width(3),
                ))
                .map_err(&err)?;
            panel
                .draw(&Text::new(
                    l.name.clone(),
                    (40, y - 7),
                    (FONT, 13).into_font().color(&AXIS),
                ))
                .map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// A y range that leaves room above the top value; 1.0 when everything is 0.
fn headroom(max: f64) -> f64 {
    if max > 0.0 && max.is_finite() {
        max * 1.1
    } else {
        1.0
    }
}

/// The y top for event rates: the largest value, unless a few points (such as the trace's
/// first minute, which holds the initial state) dwarf the rest; then the 99th percentile, and
/// the points above it are listed under the chart.
fn robust_max(lines: &[LineSpec]) -> (f64, bool) {
    let mut all: Vec<f64> = lines
        .iter()
        .flat_map(|l| l.values.iter().copied())
        .collect();
    all.sort_by(f64::total_cmp);
    let Some(&max) = all.last() else {
        return (1.0, false);
    };
    let p99 = all[(all.len() - 1) * 99 / 100];
    if p99 > 0.0 && max > 3.0 * p99 {
        (p99 * 1.25, true)
    } else {
        (headroom(max), false)
    }
}

/// `SUBMIT at 05-01 22:50: 123,456/min` for the points above `y_max`, largest first (at most 3).
fn clipped_note(report: &Report, lines: &[LineSpec], y_max: f64) -> String {
    let mut over: Vec<(f64, &str, u64)> = Vec::new();
    for l in lines {
        for (p, &v) in report.points.iter().zip(&l.values) {
            if v > y_max {
                over.push((v, &l.name, p.start_us));
            }
        }
    }
    over.sort_by(|a, b| b.0.total_cmp(&a.0));
    let n = over.len();
    let shown: Vec<String> = over
        .iter()
        .take(3)
        .map(|(v, name, t)| {
            format!(
                "{name} at {}: {}/min",
                &format_trace_time(*t)[5..16],
                thousands(v.round() as u64)
            )
        })
        .collect();
    format!(
        "The y axis is cut at {}/min so that the rest is readable; {n} point{} above it, drawn at the top: {}{}.",
        si(y_max),
        if n == 1 { " is" } else { "s are" },
        shown.join("; "),
        if n > 3 { "; ..." } else { "" }
    )
}

/// Viridis at 9 stops, interpolated: perceptually uniform and readable by the colour-blind.
fn viridis(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 9] = [
        (68, 1, 84),
        (71, 44, 122),
        (59, 81, 139),
        (44, 113, 142),
        (33, 144, 141),
        (39, 173, 129),
        (92, 200, 99),
        (170, 220, 50),
        (253, 231, 37),
    ];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Colour levels of the heatmap: neighbouring cells of one level are drawn as one rectangle.
const LEVELS: f64 = 48.0;

fn heatmap_chart(report: &Report) -> Result<String, ReportError> {
    let err = render_err("heatmap");
    let h: &Heatmap = &report.heatmap;
    let rows = h.values.len().max(1);
    let height = 150 + (rows as u32 * 3).clamp(300, 480);
    let machines = h.machines.max(1) as f64;
    let x0 = report.first_window_start() as f64 / 1e6;
    let x1 = report.last_window_end() as f64 / 1e6;
    let (x_axis, days) = time_axis(x0, x1);
    // The colour scale tops at the 99th percentile of the cells, so that a few very full rows
    // do not squeeze the rest into a few colours; cells above it get the top colour.
    let mut cells: Vec<f32> = h.values.iter().flatten().copied().collect();
    cells.sort_by(f32::total_cmp);
    let p99 = cells
        .get(cells.len().saturating_sub(1) * 99 / 100)
        .copied()
        .unwrap_or(0.0);
    let vmax = if p99 > 0.0 {
        f64::from(p99)
    } else if h.max > 0.0 {
        f64::from(h.max)
    } else {
        1.0
    };
    let capped = f64::from(h.max) > vmax;
    let mut svg = String::new();
    {
        let root: Area<'_> = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let (main, bar) = root.split_horizontally(WIDTH - PANEL);
        let mut chart = ChartBuilder::on(&main)
            .margin_top(28)
            .margin_left(8)
            .margin_right(8)
            .x_label_area_size(46)
            .y_label_area_size(78)
            .build_cartesian_2d(
                x_axis,
                Ticked {
                    from: machines,
                    to: 0.0,
                    ticks: rank_ticks(h.machines),
                },
            )
            .map_err(&err)?;
        chart
            .configure_mesh()
            .disable_mesh()
            .x_label_formatter(&|x| tick_label(*x, days))
            .y_label_formatter(&|y| thousands(y.round() as u64 + 1))
            .x_desc("trace time, 2011 (UTC, month-day hour:minute)")
            .y_desc(if report.utilisation {
                "machine rank by mean allocated CPU / capacity"
            } else {
                "machine rank by mean allocated CPU"
            })
            .axis_desc_style((FONT, 14).into_font().color(&AXIS))
            .label_style((FONT, 13).into_font().color(&AXIS))
            .axis_style(AXIS)
            .draw()
            .map_err(&err)?;
        let per_row = h.machines_per_row as f64;
        let cols: Vec<(f64, f64)> = h
            .columns
            .iter()
            .map(|&(a, b)| (a as f64 / 1e6, b as f64 / 1e6))
            .collect();
        let mut rects = Vec::new();
        for (r, row) in h.values.iter().enumerate() {
            let top = r as f64 * per_row;
            let bottom = ((r + 1) as f64 * per_row).min(machines);
            let level = |v: f32| ((f64::from(v) / vmax).min(1.0) * LEVELS).round();
            let mut c = 0;
            while c < row.len() {
                let l = level(row[c]);
                let mut e = c + 1;
                while e < row.len() && level(row[e]) == l {
                    e += 1;
                }
                rects.push(Rectangle::new(
                    [(cols[c].0, top), (cols[e - 1].1, bottom)],
                    viridis(l / LEVELS).filled(),
                ));
                c = e;
            }
        }
        chart.draw_series(rects).map_err(&err)?;

        // The colour scale.
        let mut scale = ChartBuilder::on(&bar)
            .margin_top(28)
            .margin_left(10)
            .margin_right(90)
            .x_label_area_size(46)
            .build_cartesian_2d(0.0..1.0, 0.0..vmax)
            .map_err(&err)?;
        scale
            .draw_series((0..64).map(|i| {
                let (a, b) = (f64::from(i) / 64.0, f64::from(i + 1) / 64.0);
                Rectangle::new([(0.0, a * vmax), (1.0, b * vmax)], viridis(a).filled())
            }))
            .map_err(&err)?;
        let area = scale.plotting_area();
        let base = bar.get_base_pixel();
        for i in 0..=4 {
            let v = vmax * f64::from(i) / 4.0;
            let (px, py) = area.map_coordinate(&(1.0, v));
            let label = if i == 4 && capped {
                format!("\u{2265} {v:.2}")
            } else {
                format!("{v:.2}")
            };
            bar.draw(&Text::new(
                label,
                (px - base.0 + 6, py - base.1 - 7),
                (FONT, 13).into_font().color(&AXIS),
            ))
            .map_err(&err)?;
        }
        bar.draw(&Text::new(
            if report.utilisation {
                "allocated CPU / capacity"
            } else {
                "allocated CPU"
            },
            (4, 6),
            (FONT, 13).into_font().color(&AXIS),
        ))
        .map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// Rank ticks (0-based positions) at round numbers, at most about 8.
fn rank_ticks(machines: u64) -> Vec<f64> {
    let n = machines.max(1);
    let raw = n as f64 / 8.0;
    let mag = 10f64.powf(raw.log10().floor().max(0.0));
    let step = [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * mag)
        .max(1.0);
    let mut ticks = vec![0.0];
    let mut t = step;
    while t < n as f64 {
        ticks.push(t - 1.0);
        t += step;
    }
    ticks
}

/// The page.
pub(crate) fn html(report: &Report, title: &str, windows: &Path) -> Result<String, ReportError> {
    let span_hours = (report.last_window_end() - report.first_window_start()) as f64 / 3.6e9;
    let per_point = report.windows_per_point;
    let width_min = report.width_us as f64 / 60e6;
    let point_note = if per_point == 1 {
        format!("Each point is one window ({} min).", fmt_num(width_min))
    } else {
        format!(
            "Each point is the mean of {per_point} windows ({} min); the lines are means, the peaks within a point are in the summary.",
            fmt_num(width_min * per_point as f64)
        )
    };

    let u = report.utilisation;
    let cpu = LineSpec {
        name: if u { "CPU / capacity" } else { "allocated CPU" }.into(),
        color: BLUE,
        values: report.points.iter().map(|p| p.cpu_mean).collect(),
    };
    let mem = LineSpec {
        name: if u {
            "memory / capacity"
        } else {
            "allocated memory"
        }
        .into(),
        color: ORANGE,
        values: report.points.iter().map(|p| p.memory_mean).collect(),
    };
    let alloc_max = cpu
        .values
        .iter()
        .chain(&mem.values)
        .copied()
        .fold(0.0, f64::max);
    let alloc_svg = line_chart(
        "allocation",
        report,
        if u {
            "allocated / capacity of the machines up (1 = full)"
        } else {
            "sum over machines (1 = largest machine)"
        },
        &[cpu, mem],
        headroom(alloc_max),
        &|v| si(*v),
    )?;

    let running = LineSpec {
        name: "running tasks".into(),
        color: GREEN,
        values: report.points.iter().map(|p| p.running_mean).collect(),
    };
    let pending = LineSpec {
        name: "pending tasks".into(),
        color: RED,
        values: report.points.iter().map(|p| p.pending_mean).collect(),
    };
    let tasks_max = running
        .values
        .iter()
        .chain(&pending.values)
        .copied()
        .fold(0.0, f64::max);
    let tasks_svg = line_chart(
        "tasks",
        report,
        "tasks",
        &[running, pending],
        headroom(tasks_max),
        &|v| si(*v),
    )?;

    let rate = |t: EventType, color: RGBColor| LineSpec {
        name: t.name().into(),
        color,
        values: report
            .points
            .iter()
            .map(|p| p.task_per_minute[usize::from(t.code())])
            .collect(),
    };
    let flow = [
        rate(EventType::Submit, BLUE),
        rate(EventType::Schedule, GREEN),
        rate(EventType::Finish, GREY),
        rate(EventType::UpdateRunning, PURPLE),
        rate(EventType::UpdatePending, OLIVE),
    ];
    let (flow_max, flow_cut) = robust_max(&flow);
    let flow_svg = line_chart(
        "events",
        report,
        "task events per minute",
        &flow,
        flow_max,
        &|v| si(*v),
    )?;
    let trouble = [
        rate(EventType::Evict, RED),
        rate(EventType::Fail, ORANGE),
        rate(EventType::Kill, BROWN),
        rate(EventType::Lost, PINK),
    ];
    let (trouble_max, trouble_cut) = robust_max(&trouble);
    let trouble_svg = line_chart(
        "evictions",
        report,
        "task events per minute",
        &trouble,
        trouble_max,
        &|v| si(*v),
    )?;
    let heat_svg = heatmap_chart(report)?;

    let h = &report.heatmap;
    let heat_note = format!(
        "{} machines in {} rows: each row is the mean of {} machine{} ranked by mean allocated CPU{} over the whole span (rank 1, the busiest, at the top{}); each column is {} window{} ({} min). A machine counts as 0 before its first line{}.",
        thousands(h.machines),
        h.values.len(),
        thousands(h.machines_per_row),
        if h.machines_per_row == 1 { "" } else { "s" },
        if u { " / capacity" } else { "" },
        if !h.machines.is_multiple_of(h.machines_per_row.max(1)) { "; the last row has fewer" } else { "" },
        report.windows_per_column,
        if report.windows_per_column == 1 { "" } else { "s" },
        fmt_num(width_min * report.windows_per_column as f64),
        if u { " and while its capacity is unknown; above 1 (100 %) the machine is over-committed" } else { "" },
    );

    let mut o = String::with_capacity(
        alloc_svg.len()
            + tasks_svg.len()
            + flow_svg.len()
            + trouble_svg.len()
            + heat_svg.len()
            + 20_000,
    );
    let _ = write!(
        o,
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>
body {{ font-family: sans-serif; color: #222; background: #f6f6f4; margin: 0; }}
main {{ max-width: 1160px; margin: 0 auto; padding: 16px 20px 40px; }}
h1 {{ font-size: 26px; margin: 8px 0 2px; }}
h2 {{ font-size: 18px; margin: 0 0 6px; }}
p.sub {{ color: #555; margin: 0 0 16px; }}
section {{ background: #fff; border: 1px solid #ddd; border-radius: 6px; padding: 14px 18px; margin: 0 0 16px; }}
p.note {{ color: #555; font-size: 14px; margin: 2px 0 8px; }}
table {{ border-collapse: collapse; font-size: 14px; }}
th, td {{ padding: 3px 12px 3px 0; text-align: left; }}
td.n, th.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
table.grid th {{ border-bottom: 1px solid #bbb; }}
table.grid td {{ border-bottom: 1px solid #eee; }}
.cols {{ display: flex; gap: 48px; flex-wrap: wrap; }}
svg {{ display: block; max-width: 100%; height: auto; }}
</style>
</head>
<body>
<main>
<h1>{t}</h1>
<p class="sub">Windows file <code>{file}</code>, read by <code>tracepipe report</code>. Trace time is the trace's own clock as UTC dates of 2011.</p>
"#,
        t = escape(title),
        file = escape(&windows.display().to_string()),
    );

    // Summary.
    let date = |us: u64| escape(&format_trace_time(us));
    let _ = write!(
        o,
        r#"<section id="summary">
<h2>Summary</h2>
<div class="cols">
<table>
<tr><th>span</th><td>{from} &rarr; {to} ({hours} h)</td></tr>
<tr><th>windows</th><td>{windows} windows of {width} min with events ({lines} lines)</td></tr>
<tr><th>machines</th><td>{machines} ({machine_lines} machine lines)</td></tr>
<tr><th>task events</th><td>{task_events}</td></tr>
<tr><th>job events</th><td>{job_events}</td></tr>
<tr><th>{peak_cpu_name}</th><td>{peak_cpu:.2} at {peak_cpu_at}</td></tr>{machine_rows}
<tr><th>peak running tasks</th><td>{peak_running} at {peak_running_at}</td></tr>
<tr><th>peak pending tasks</th><td>{peak_pending} at {peak_pending_at}</td></tr>
</table>
<table class="grid">
<tr><th>event type</th><th class="n">task events</th><th class="n">job events</th></tr>
"#,
        from = date(report.first_window_start()),
        to = date(report.last_window_end()),
        hours = fmt_num(span_hours),
        windows = thousands(report.windows),
        width = fmt_num(width_min),
        lines = thousands(report.lines),
        machines = thousands(report.machines),
        machine_lines = thousands(report.machine_lines),
        task_events = thousands(report.task_events_total()),
        job_events = thousands(report.job_events_total()),
        peak_cpu_name = if u {
            "peak allocated CPU / capacity"
        } else {
            "peak allocated CPU"
        },
        machine_rows = if u {
            format!(
                "\n<tr><th>machines up</th><td>{} at the end</td></tr>\n<tr><th>over-committed machines</th><td>at most {} (allocation above capacity), at {}</td></tr>",
                thousands(report.machines_up),
                thousands(report.peak_overcommitted.0),
                date(report.peak_overcommitted.1)
            )
        } else {
            String::new()
        },
        peak_cpu = report.peak_cell_cpu.0,
        peak_cpu_at = date(report.peak_cell_cpu.1),
        peak_running = thousands(report.peak_running.0),
        peak_running_at = date(report.peak_running.1),
        peak_pending = thousands(report.peak_pending.0),
        peak_pending_at = date(report.peak_pending.1),
    );
    for t in EventType::ALL {
        let i = usize::from(t.code());
        let _ = writeln!(
            o,
            r#"<tr><td>{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            t.name(),
            thousands(report.task_events_by_type[i]),
            thousands(report.job_events_by_type[i])
        );
    }
    o.push_str("</table>\n</div>\n</section>\n");

    let section = |o: &mut String, id: &str, h2: &str, note: &str, svg: &str| {
        let _ = write!(
            o,
            "<section class=\"chart\" id=\"{id}\">\n<h2>{h2}</h2>\n<p class=\"note\">{note}</p>\n{svg}\n</section>\n"
        );
    };
    section(
        &mut o,
        "chart-allocation",
        if u {
            "Cell allocated CPU and memory / capacity"
        } else {
            "Cell allocated CPU and memory"
        },
        &if u {
            format!(
                "What the running tasks were given at each window end, divided by the summed capacity of the machines up (machine_events): 1 is a full cell, above 1 the cell is over-committed. {point_note}"
            )
        } else {
            format!(
                "What the running tasks were given, summed over the machines at each window end, in the trace's normalised unit (1 = the largest machine's capacity). {point_note}"
            )
        },
        &alloc_svg,
    );
    section(
        &mut o,
        "chart-tasks",
        "Running and pending tasks",
        &format!("Tasks in each state at the window ends. {point_note}"),
        &tasks_svg,
    );
    let cut = |is_cut: bool, lines: &[LineSpec], max: f64| {
        if is_cut {
            format!(" {}", escape(&clipped_note(report, lines, max)))
        } else {
            String::new()
        }
    };
    section(
        &mut o,
        "chart-events",
        "Task events per minute by type",
        &format!(
            "Submissions, schedules, finishes and updates. {point_note}{}",
            cut(flow_cut, &flow, flow_max)
        ),
        &flow_svg,
    );
    section(
        &mut o,
        "chart-evictions",
        "Evictions, failures, kills and lost tasks per minute",
        &format!(
            "The events that end a task early, on their own scale. {point_note}{}",
            cut(trouble_cut, &trouble, trouble_max)
        ),
        &trouble_svg,
    );
    section(
        &mut o,
        "chart-heatmap",
        if u {
            "Allocated CPU / capacity per machine"
        } else {
            "Allocated CPU per machine"
        },
        &escape(&heat_note),
        &heat_svg,
    );

    // Top machines.
    let _ = write!(
        o,
        r#"<section id="top-machines">
<h2>Top machines by peak allocated CPU</h2>
<p class="note">The highest allocated CPU within a window (<code>peak_allocated_cpu</code>), with the first window that reached it; mean over the whole span.</p>
<table class="grid">
<tr><th class="n">#</th><th class="n">machine ID</th><th class="n">peak CPU</th><th>at</th><th class="n">{mean}</th><th class="n">peak memory</th><th class="n">task events</th><th class="n">evictions</th><th class="n">failures</th><th class="n">kills</th></tr>
"#,
        mean = if u { "mean CPU / capacity" } else { "mean CPU" }
    );
    for (i, m) in report.top.iter().enumerate() {
        let _ = writeln!(
            o,
            r#"<tr><td class="n">{}</td><td class="n">{}</td><td class="n">{:.4}</td><td>{}</td><td class="n">{:.4}</td><td class="n">{:.4}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
            i + 1,
            m.machine_id,
            m.peak_cpu,
            date(m.peak_at_us),
            m.mean_cpu,
            m.peak_memory,
            thousands(m.task_events),
            thousands(m.evictions),
            thousands(m.failures),
            thousands(m.kills),
        );
    }
    o.push_str("</table>\n</section>\n</main>\n</body>\n</html>\n");
    Ok(o)
}

/// `1`, `1.5`, `0.25`: a plain number without trailing zeros.
fn fmt_num(v: f64) -> String {
    let s = format!("{v:.2}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_fall_on_round_utc_times() {
        // Trace 0 = 22:50 UTC; over 3 hours, ticks every 30 minutes from 23:00.
        let (ticks, days) = time_ticks(0.0, 3.0 * 3600.0);
        assert!(!days);
        assert_eq!(ticks[0], 600.0);
        assert_eq!(tick_label(ticks[0], false), "05-01 23:00");
        assert_eq!(tick_label(ticks[1], false), "05-01 23:30");
        // Over 29 days: every 4 days at midnight UTC.
        let (ticks, days) = time_ticks(0.0, 29.0 * 86_400.0);
        assert!(days);
        assert!(ticks.len() <= 8);
        for t in &ticks {
            let full = format_trace_time((t * 1e6) as u64);
            assert!(full.ends_with(" 00:00:00 UTC"), "{full}");
        }
        assert_eq!(ticks[1] - ticks[0], 4.0 * 86_400.0);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(si(1_500_000.0), "1.5M");
        assert_eq!(si(12_345.0), "12k");
        assert_eq!(si(0.25), "0.25");
        assert_eq!(fmt_num(1.0), "1");
        assert_eq!(escape("<a & 'b'>"), "&lt;a &amp; &#39;b&#39;&gt;");
    }
}
