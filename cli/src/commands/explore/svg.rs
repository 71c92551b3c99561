//! The SVG picture of a timeline (`timeline --svg FILE`), drawn with plotters: a header
//! (title and legend), then the chart (axes, the incidents shaded, the stacked bars).

use chrono::DateTime;
use plotters::coord::Shift;
use plotters::coord::types::{RangedCoordf64, RangedCoordi64};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use s3rewind_engine::explore::chart::{IncidentSpan, TimeBucket, TimelineReport, fmt_width};

/// Width and height of the picture, pixels.
const SIZE: (u32, u32) = (1000, 520);

/// The colours: puts, overwrites, deletes (a colour-blind-safe set), and incidents.
const PUT: RGBColor = RGBColor(0x00, 0x72, 0xB2);
const OVERWRITE: RGBColor = RGBColor(0xE6, 0x9F, 0x00);
const DELETE: RGBColor = RGBColor(0xD5, 0x5E, 0x00);
const INCIDENT: RGBColor = RGBColor(0xC0, 0x00, 0x00);

/// The three stacked series, bottom first.
const SERIES: [(&str, RGBColor); 3] = [
    ("puts (new keys)", PUT),
    ("overwrites", OVERWRITE),
    ("deletes (delete markers)", DELETE),
];

type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordi64>>;

/// A plotters error as text.
fn text(e: &dyn std::fmt::Display) -> String {
    e.to_string()
}

/// Where the buckets sit on the x axis: seconds from the first bucket's start.
struct Axis {
    /// The first bucket's start, unix seconds.
    x0: i64,
    /// A bucket's width, seconds.
    every: f64,
    /// From the first bucket's start to the last one's end, seconds.
    span: f64,
    /// The top of the y axis (room above the tallest bar for the incident labels).
    ymax: i64,
}

/// The SVG picture: stacked bars of puts, overwrites and deletes per bucket, with the
/// suspected incidents shaded and labelled.
pub fn render_svg(r: &TimelineReport) -> Result<String, String> {
    let (Some(first), Some(last)) = (r.buckets.first(), r.buckets.last()) else {
        return Err("nothing to draw".to_owned());
    };
    let x0 = first.start.timestamp();
    let every = r.every_secs as f64;
    let max = r.buckets.iter().map(TimeBucket::total).max().unwrap_or(0) as i64;
    let axis = Axis {
        x0,
        every,
        span: (last.start.timestamp() - x0) as f64 + every,
        ymax: ((max as f64 * 1.3).ceil() as i64).max(max + 2).max(4),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|x| text(&x))?;
        // A header with the title and a legend row, so the legend never covers a bar.
        let (header, body) = root.split_vertically(72);
        draw_header(&header, r)?;
        let mut chart = draw_axes(&body, r, &axis)?;
        draw_incidents(&mut chart, r, &axis)?;
        draw_bars(&mut chart, r, &axis)?;
        root.present().map_err(|x| text(&x))?;
    }
    Ok(svg)
}

/// The title, and the legend centred below it.
fn draw_header(
    header: &DrawingArea<SVGBackend<'_>, Shift>,
    r: &TimelineReport,
) -> Result<(), String> {
    header
        .draw(&Text::new(
            format!("Activity of {} per {}", r.source, fmt_width(r.every_secs)),
            (500, 12),
            TextStyle::from(("sans-serif", 22).into_font()).pos(Pos::new(HPos::Center, VPos::Top)),
        ))
        .map_err(|x| text(&x))?;
    let mut legend: Vec<(String, ShapeStyle)> = SERIES
        .iter()
        .map(|(name, color)| ((*name).to_owned(), color.filled()))
        .collect();
    if !r.incidents.is_empty() {
        legend.push(("suspected incident".to_owned(), INCIDENT.mix(0.25).filled()));
    }
    let label_font = TextStyle::from(("sans-serif", 14).into_font());
    let widths: Vec<i32> = legend
        .iter()
        .map(|(name, _)| {
            header
                .estimate_text_size(name, &label_font)
                .map_or(8 * name.len() as i32, |(w, _)| w as i32)
        })
        .collect();
    let total: i32 = widths.iter().map(|w| w + 14 + 6 + 28).sum::<i32>() - 28;
    let mut x = (1000 - total) / 2;
    for ((name, style), w) in legend.iter().zip(&widths) {
        header
            .draw(&Rectangle::new([(x, 45), (x + 14, 59)], *style))
            .map_err(|x| text(&x))?;
        header
            .draw(&Text::new(
                name.as_str(),
                (x + 20, 52),
                label_font.pos(Pos::new(HPos::Left, VPos::Center)),
            ))
            .map_err(|x| text(&x))?;
        x += w + 14 + 6 + 28;
    }
    Ok(())
}

/// The chart's axes: time (labelled by what changes between ticks) and changes per
/// bucket.
fn draw_axes<'a, 'b>(
    body: &'a DrawingArea<SVGBackend<'b>, Shift>,
    r: &TimelineReport,
    axis: &Axis,
) -> Result<Chart<'a, 'b>, String> {
    let (first, last) = (&r.buckets[0], &r.buckets[r.buckets.len() - 1]);
    let one_day = first.start.date_naive()
        == (last.start + chrono::TimeDelta::seconds(r.every_secs - 1)).date_naive();
    let tick_fmt = match (axis.span, one_day) {
        (s, true) if s <= 3600.0 * 2.0 => "%H:%M:%S",
        (_, true) => "%H:%M",
        (s, false) if s <= 86_400.0 * 4.0 => "%m-%d %H:%M",
        _ => "%Y-%m-%d",
    };
    let x_desc = if one_day {
        format!("time (UTC), {}", first.start.format("%Y-%m-%d"))
    } else {
        "time (UTC)".to_owned()
    };
    let x0 = axis.x0;
    let mut chart = ChartBuilder::on(body)
        .margin(18)
        .margin_top(6)
        .x_label_area_size(50)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..axis.span, 0i64..axis.ymax)
        .map_err(|x| text(&x))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&|x| {
            DateTime::from_timestamp(x0 + x.round() as i64, 0)
                .map(|t| t.format(tick_fmt).to_string())
                .unwrap_or_default()
        })
        .y_label_formatter(&|y| y.to_string())
        .x_desc(x_desc)
        .y_desc(format!("changes per {}", fmt_width(r.every_secs)))
        .axis_desc_style(("sans-serif", 15))
        .label_style(("sans-serif", 13))
        .draw()
        .map_err(|x| text(&x))?;
    Ok(chart)
}

/// The incidents, drawn before the bars so that the bars are over the shading. Each
/// spans from the start of the bucket it starts in to the end of the bucket it ends in,
/// so a one-second incident is still visible.
fn draw_incidents(
    chart: &mut Chart<'_, '_>,
    r: &TimelineReport,
    axis: &Axis,
) -> Result<(), String> {
    let (x0, every, span, ymax) = (axis.x0, axis.every, axis.span, axis.ymax);
    let spans: Vec<(f64, f64, &IncidentSpan)> = r
        .incidents
        .iter()
        .map(|i| {
            let s = (i.start.timestamp() - x0).div_euclid(r.every_secs) as f64 * every;
            let t = ((i.end.timestamp() - x0).div_euclid(r.every_secs) + 1) as f64 * every;
            (s.clamp(0.0, span), t.clamp(0.0, span), i)
        })
        .collect();
    chart
        .draw_series(
            spans
                .iter()
                .map(|&(s, t, _)| Rectangle::new([(s, 0), (t, ymax)], INCIDENT.mix(0.14).filled())),
        )
        .map_err(|x| text(&x))?;
    chart
        .draw_series(
            spans
                .iter()
                .map(|&(s, t, _)| Rectangle::new([(s, 0), (t, ymax)], INCIDENT.mix(0.6))),
        )
        .map_err(|x| text(&x))?;
    chart
        .draw_series(spans.iter().map(|&(s, t, i)| {
            // Labels of incidents in the right quarter hang to the left of the end.
            let (at, dx, h) = if s > span * 0.75 {
                (t, -4, HPos::Right)
            } else {
                (s, 4, HPos::Left)
            };
            EmptyElement::at((at, ymax))
                + Text::new(
                    i.label(),
                    (dx, 4),
                    TextStyle::from(("sans-serif", 14).into_font())
                        .color(&INCIDENT)
                        .pos(Pos::new(h, VPos::Top)),
                )
        }))
        .map_err(|x| text(&x))?;
    Ok(())
}

/// The stacked bars: puts at the bottom, then overwrites, then deletes.
fn draw_bars(chart: &mut Chart<'_, '_>, r: &TimelineReport, axis: &Axis) -> Result<(), String> {
    let (x0, every) = (axis.x0, axis.every);
    let inset = every * 0.12;
    for (n, (_, color)) in SERIES.iter().enumerate() {
        chart
            .draw_series(r.buckets.iter().filter_map(|b| {
                let (lo, hi) = b.stack()[n];
                (hi > lo).then(|| {
                    let x = (b.start.timestamp() - x0) as f64;
                    Rectangle::new(
                        [(x + inset, lo as i64), (x + every - inset, hi as i64)],
                        color.filled(),
                    )
                })
            }))
            .map_err(|x| text(&x))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::explore::timeline::tests::{report, t};
    use s3rewind_engine::detect::{Confidence, DamageKind};

    #[test]
    fn svg_has_bars_legend_and_incident_shading() {
        let r = report(vec![IncidentSpan {
            id: 1,
            start: t(1_800_000_030),
            end: t(1_800_000_030),
            kinds: vec![DamageKind::Encrypted, DamageKind::Planted],
            confidence: Confidence::Medium,
            score: 0.7,
            keys: 30,
        }]);
        let svg = render_svg(&r).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for needle in [
            "incident 1: encrypted, planted",
            "suspected incident",
            "overwrites",
            "puts (new keys)",
            "deletes (delete markers)",
        ] {
            assert!(svg.contains(needle), "missing {needle:?}");
        }
        assert!(render_svg(&report(Vec::new())).unwrap().contains("<rect"));
    }
}
