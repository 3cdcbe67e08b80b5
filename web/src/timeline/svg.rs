//! The timeline as an SVG picture, self-contained (colours are attributes, not a stylesheet,
//! so it looks the same inline in a page under a strict content policy, in a report file, or
//! opened alone). maud escapes every text and attribute, phase keys and outcomes included.

use devflow_phase::view::time;
use maud::{Markup, html};

use super::{Bar, BarKind, Mark, MarkKind, Timeline};

const WIDTH: f64 = 960.0;
const LABEL_WIDTH: f64 = 150.0;
const ROW_HEIGHT: f64 = 30.0;
const BAR_HEIGHT: f64 = 16.0;
const AXIS_HEIGHT: f64 = 26.0;
const LEGEND_HEIGHT: f64 = 30.0;
const TICKS: i64 = 6;

/// The picture, to put inside a page.
pub fn svg(timeline: &Timeline) -> Markup {
    let height = AXIS_HEIGHT + ROW_HEIGHT * timeline.rows.len().max(1) as f64 + LEGEND_HEIGHT;
    let scale = Scale::of(timeline);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" class="timeline" id="timeline"
            width=(WIDTH) height=(height) viewBox={"0 0 " (WIDTH) " " (height)}
            role="img" aria-label={"timeline of run " (timeline.run_id)}
            font-family="system-ui, sans-serif" font-size="12" {
            title { "Timeline of run " (timeline.run_id) }
            rect x="0" y="0" width=(WIDTH) height=(height) fill="#ffffff" {}
            (axis(timeline, &scale, height))
            @for (index, row) in timeline.rows.iter().enumerate() {
                @let y = AXIS_HEIGHT + ROW_HEIGHT * index as f64;
                g class="row" data-phase=(row.phase_key) {
                    text x="6" y=(y + ROW_HEIGHT / 2.0 + 4.0) fill="#111827" { (row.phase_key) }
                    @if row.bars.is_empty() {
                        text x=(LABEL_WIDTH + 4.0) y=(y + ROW_HEIGHT / 2.0 + 4.0) fill="#9ca3af" { (row.phase_state) }
                    }
                    @for bar in &row.bars { (draw_bar(&row.phase_key, bar, &scale, y)) }
                    @for mark in &row.marks { (draw_mark(mark, &scale, y)) }
                }
            }
            (legend(height - LEGEND_HEIGHT + 18.0))
        }
    }
}

/// The picture as a file of its own (`devflow report --svg`).
pub fn svg_document(timeline: &Timeline) -> String {
    format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}\n", svg(timeline).into_string())
}

/// Milliseconds since the run began, to x.
struct Scale {
    start_ms: i64,
    span_ms: i64,
}

impl Scale {
    fn of(timeline: &Timeline) -> Scale {
        Scale { start_ms: timeline.start_ms, span_ms: (timeline.end_ms - timeline.start_ms).max(1) }
    }

    fn x(&self, at_ms: i64) -> f64 {
        let fraction = (at_ms - self.start_ms).clamp(0, self.span_ms) as f64 / self.span_ms as f64;
        LABEL_WIDTH + fraction * (WIDTH - LABEL_WIDTH - 10.0)
    }
}

fn axis(timeline: &Timeline, scale: &Scale, height: f64) -> Markup {
    let bottom = height - LEGEND_HEIGHT;
    html! {
        g class="axis" {
            text x="6" y="16" fill="#6b7280" { (time::local(timeline.start_ms)) }
            @for tick in 0..=TICKS {
                @let at = timeline.start_ms + scale.span_ms * tick / TICKS;
                @let x = scale.x(at);
                line x1=(x) y1=(AXIS_HEIGHT - 6.0) x2=(x) y2=(bottom) stroke="#e5e7eb" {}
                @if tick > 0 {
                    text x=(x) y="16" fill="#6b7280" text-anchor="end" { "+" (time::duration(at - timeline.start_ms)) }
                }
            }
        }
    }
}

fn draw_bar(phase_key: &str, bar: &Bar, scale: &Scale, y: f64) -> Markup {
    let (x1, x2) = (scale.x(bar.start_ms), scale.x(bar.end_ms));
    let width = (x2 - x1).max(3.0);
    let top = y + (ROW_HEIGHT - BAR_HEIGHT) / 2.0;
    let (fill, stroke, kind) = colours(bar);
    let took = time::duration(bar.end_ms - bar.start_ms);
    let what = match bar.kind {
        BarKind::Gate => "gate wait".to_owned(),
        BarKind::Repair => format!("attempt {} (repair)", bar.attempt),
        BarKind::Attempt => format!("attempt {}", bar.attempt),
    };
    html! {
        rect class={"bar " (kind)} data-phase=(phase_key) data-attempt=(bar.attempt) data-kind=(kind)
            x=(x1) y=(top) width=(width) height=(BAR_HEIGHT) rx="3"
            fill=(fill) stroke=(stroke) stroke-width="1.5"
            stroke-dasharray=[(bar.kind == BarKind::Repair).then_some("4 2")]
            fill-opacity=[(bar.kind == BarKind::Gate).then_some("0.35")] {
            title { (phase_key) " " (what) ": " (took) ", " (bar.outcome) @if bar.open { " (going on)" } }
        }
    }
}

/// Fill, outline and class of a bar: green done, red failed, blue going on, amber superseded,
/// purple a wait at a gate.
fn colours(bar: &Bar) -> (&'static str, &'static str, &'static str) {
    match bar.kind {
        BarKind::Gate => ("#a855f7", "#7e22ce", "gate"),
        _ if bar.open => ("#3b82f6", "#1d4ed8", "running"),
        _ if bar.outcome.starts_with("failed") || bar.outcome.starts_with("run failed") => {
            ("#ef4444", "#b91c1c", "failed")
        }
        _ if bar.outcome.starts_with("superseded") || bar.outcome.starts_with("run aborted") => {
            ("#f59e0b", "#b45309", "superseded")
        }
        _ => ("#22c55e", "#15803d", "done"),
    }
}

fn draw_mark(mark: &Mark, scale: &Scale, y: f64) -> Markup {
    let x = scale.x(mark.at_ms);
    let top = y + 3.0;
    let shape = match mark.kind {
        MarkKind::Timeout => format!("M{x} {} l-5 -8 h10 z", top + 8.0),
        MarkKind::Crashed => format!("M{} {top} l8 8 m0 -8 l-8 8", x - 4.0),
        MarkKind::Recovered => format!("M{} {} a4 4 0 1 0 8 0 a4 4 0 1 0 -8 0", x - 4.0, top + 4.0),
        MarkKind::Invalid | MarkKind::Gate => format!("M{x} {top} l4 4 l-4 4 l-4 -4 z"),
        MarkKind::Paused => format!("M{} {top} v8 M{} {top} v8", x - 2.0, x + 2.0),
    };
    let colour = mark_colour(mark.kind);
    html! {
        path class={"mark " (mark.kind.as_str())} data-kind=(mark.kind.as_str()) d=(shape)
            fill=(if matches!(mark.kind, MarkKind::Crashed | MarkKind::Paused) { "none" } else { colour })
            stroke=(colour) stroke-width="2" {
            title { (mark.label) " at " (time::local(mark.at_ms)) }
        }
    }
}

fn mark_colour(kind: MarkKind) -> &'static str {
    match kind {
        MarkKind::Timeout => "#ea580c",
        MarkKind::Crashed | MarkKind::Invalid => "#dc2626",
        MarkKind::Recovered => "#0d9488",
        MarkKind::Gate | MarkKind::Paused => "#7e22ce",
    }
}

fn legend(y: f64) -> Markup {
    let items: [(&str, &str); 5] = [
        ("#22c55e", "done"),
        ("#3b82f6", "going on"),
        ("#f59e0b", "superseded"),
        ("#ef4444", "failed"),
        ("#a855f7", "waiting at a gate"),
    ];
    let marks = [MarkKind::Timeout, MarkKind::Crashed, MarkKind::Recovered, MarkKind::Invalid];
    html! {
        g class="legend" {
            @for (index, (fill, label)) in items.iter().enumerate() {
                @let x = 6.0 + 120.0 * index as f64;
                rect x=(x) y=(y - 9.0) width="12" height="10" rx="2" fill=(fill) {}
                text x=(x + 16.0) y=(y) fill="#374151" { (label) }
            }
            @for (index, kind) in marks.iter().enumerate() {
                @let x = 620.0 + 85.0 * index as f64;
                circle cx=(x) cy=(y - 4.0) r="4" fill=(mark_colour(*kind)) {}
                text x=(x + 8.0) y=(y) fill="#374151" { (kind.as_str()) }
            }
        }
    }
}
