//! The sweep drawn as an SVG: latency percentiles from the block (top) and deliveries per second
//! (bottom) for each row. Written by hand rather than with a plotting crate: a few categorical
//! rows need about a hundred lines of SVG text, and no new dependencies in the build.

use std::fmt::Write;

use crate::row::Outcome;
use crate::scenario::Channel;

const WIDTH: f64 = 860.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 150.0;
const PANEL: f64 = 220.0;
const TOP: [f64; 2] = [40.0, 320.0];
const SERIES: [(&str, f64, &str); 4] = [
    ("first", 0.0, "#1b9e77"),
    ("p50", 0.5, "#7570b3"),
    ("p99", 0.99, "#d95f02"),
    ("last", 1.0, "#e7298a"),
];

/// The bars' colour for a row's channel.
fn bar_colour(channel: Channel) -> &'static str {
    match channel {
        Channel::Webhook => "#66a61e",
        Channel::Push => "#e6ab02",
        Channel::Telegram => "#1f78b4",
        Channel::Discord => "#6a3d9a",
        Channel::Slack => "#b15928",
        Channel::Ntfy => "#33a02c",
        Channel::Matrix => "#a6761d",
        Channel::Email => "#666666",
    }
}

/// A round upper bound for an axis reaching `max`.
fn nice(max: f64) -> f64 {
    if max.is_nan() || max <= 0.0 {
        return 1.0;
    }
    let step = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * step)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * step)
}

/// The lowest latency drawn (a log axis has no zero).
const LOG_FLOOR: f64 = 0.01;

struct Panel {
    top: f64,
    max: f64,
    /// Decades from [`LOG_FLOOR`] to `max` instead of a linear axis from zero.
    log: bool,
}

impl Panel {
    fn y(&self, v: f64) -> f64 {
        let share = if self.log {
            (v.max(LOG_FLOOR) / LOG_FLOOR).log10() / (self.max / LOG_FLOOR).log10()
        } else {
            v / self.max
        };
        self.top + PANEL - share * PANEL
    }

    fn ticks(&self) -> Vec<f64> {
        if self.log {
            let decades = (self.max / LOG_FLOOR).log10().round() as i32;
            (0..=decades).map(|d| LOG_FLOOR * 10f64.powi(d)).collect()
        } else {
            (0..=4).map(|i| self.max * f64::from(i) / 4.0).collect()
        }
    }

    fn axes(&self, svg: &mut String, label: &str, unit: &str) {
        for v in self.ticks() {
            let y = self.y(v);
            let v = if v > 0.0 && v < 1.0 {
                format!("{v:.2}")
            } else {
                format!("{v:.0}")
            };
            let _ = write!(
                svg,
                r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{v}{unit}</text>"##,
                WIDTH - RIGHT,
                LEFT - 6.0,
                y + 4.0
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{LEFT}" y="{:.1}" font-weight="bold">{label}</text>"#,
            self.top - 12.0
        );
    }
}

pub fn svg(outcomes: &[Outcome]) -> String {
    let n = outcomes.len().max(1) as f64;
    let x = |i: usize| LEFT + (i as f64 + 0.5) * (WIDTH - LEFT - RIGHT) / n;
    let height = TOP[1] + PANEL + 76.0;
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="12"><rect width="100%" height="100%" fill="white"/>"#
    );
    let secs = |o: &Outcome, q: f64| o.latency(q).map(|d| d.as_secs_f64());
    let latency_max = outcomes
        .iter()
        .filter_map(|o| secs(o, 1.0))
        .fold(0.0, f64::max);
    let latency = Panel {
        top: TOP[0],
        max: LOG_FLOOR * 10f64.powf((latency_max / LOG_FLOOR).log10().ceil().max(1.0)),
        log: true,
    };
    latency.axes(
        &mut svg,
        "Latency from the block to each delivery (log scale)",
        " s",
    );
    for (s, (name, q, colour)) in SERIES.iter().enumerate() {
        let points: Vec<String> = outcomes
            .iter()
            .enumerate()
            .filter_map(|(i, o)| Some(format!("{:.1},{:.1}", x(i), latency.y(secs(o, *q)?))))
            .collect();
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.join(" ")
        );
        for point in &points {
            let (px, py) = point.split_once(',').unwrap_or_default();
            let _ = write!(
                svg,
                r#"<circle cx="{px}" cy="{py}" r="3.5" fill="{colour}"/>"#
            );
        }
        let ly = latency.top + 14.0 + 18.0 * s as f64;
        let _ = write!(
            svg,
            r#"<line x1="{:.1}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{colour}" stroke-width="2"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            WIDTH - RIGHT + 15.0,
            WIDTH - RIGHT + 40.0,
            WIDTH - RIGHT + 46.0,
            ly + 4.0
        );
    }
    let rate_max = outcomes
        .iter()
        .filter_map(Outcome::rate)
        .fold(0.0, f64::max);
    let rates = Panel {
        top: TOP[1],
        max: nice(rate_max),
        log: false,
    };
    rates.axes(
        &mut svg,
        "Deliveries per second (first to last arrival)",
        "",
    );
    let bar = 0.5 * (WIDTH - LEFT - RIGHT) / n;
    for (i, o) in outcomes.iter().enumerate() {
        if let Some(rate) = o.rate() {
            let y = rates.y(rate);
            let _ = write!(
                svg,
                r#"<rect x="{:.1}" y="{y:.1}" width="{bar:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}" text-anchor="middle">{rate:.0}/s</text>"#,
                x(i) - bar / 2.0,
                rates.y(0.0) - y,
                bar_colour(o.scenario.channel),
                x(i),
                y - 4.0
            );
        }
        let _ = write!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text><text x="{:.1}" y="{:.1}" text-anchor="middle">{}/{} arrived</text>"#,
            x(i),
            rates.y(0.0) + 18.0,
            o.scenario,
            x(i),
            rates.y(0.0) + 34.0,
            o.scenario.variant(),
            x(i),
            rates.y(0.0) + 50.0,
            o.arrived,
            o.expected
        );
    }
    // A legend entry for each channel the rows used, in the order first used.
    let mut channels: Vec<Channel> = Vec::new();
    for o in outcomes {
        if !channels.contains(&o.scenario.channel) {
            channels.push(o.scenario.channel);
        }
    }
    for (k, channel) in channels.into_iter().enumerate() {
        let ly = rates.top + 14.0 + 18.0 * k as f64;
        let _ = write!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="25" height="10" fill="{}"/><text x="{:.1}" y="{:.1}">{channel}</text>"#,
            WIDTH - RIGHT + 15.0,
            ly - 5.0,
            bar_colour(channel),
            WIDTH - RIGHT + 46.0,
            ly + 4.0
        );
    }
    let _ = write!(
        svg,
        r##"<text x="{LEFT}" y="{:.1}" fill="#555">N transfers in one block × M triggers @ the receiver's accept queue; +stored triggers that never fire; channel</text></svg>"##,
        height - 8.0
    );
    svg.push('\n');
    svg
}
