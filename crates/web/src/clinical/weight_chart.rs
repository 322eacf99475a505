//! The chart's weight-over-time graph, laid out on the server: the page draws it as
//! inline SVG from these numbers (no script, no style attribute), so it shows in any
//! browser and in print.
//!
//! Weights are whole grams ([`WeightKg`]), so the scale is exact; only the pixel
//! positions are floating point.

use crate::format::day_short;
use chrono::{DateTime, Utc};
use paddock_domain::{PracticeZone, WeightKg};

/// The drawing's size in SVG user units (it scales to the card's width).
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 240.0;
/// Room for the kg labels on the left and the dates below.
const LEFT: f64 = 72.0;
const RIGHT: f64 = 24.0;
const TOP: f64 = 16.0;
const BOTTOM: f64 = 40.0;

/// A weight graph ready to draw.
pub struct WeightChart {
    /// `viewBox` width.
    pub width: String,
    /// `viewBox` height.
    pub height: String,
    /// The plot area's edges, for the axes.
    pub left: String,
    /// Right edge.
    pub right: String,
    /// Top edge.
    pub top: String,
    /// Bottom edge (the time axis).
    pub bottom: String,
    /// Where the kg labels end (right-aligned, left of the axis).
    pub y_label_x: String,
    /// The baseline of the date labels (below the axis).
    pub x_label_y: String,
    /// The polyline's `points`, oldest first.
    pub points: String,
    /// One marker per weighing, with its date and weight as its title.
    pub dots: Vec<Dot>,
    /// Horizontal grid lines with their kg labels, lightest first.
    pub y_ticks: Vec<Tick>,
    /// Dates along the time axis.
    pub x_ticks: Vec<Tick>,
    /// The graph in words, for screen readers and as its caption.
    pub summary: String,
}

/// One weighing on the graph.
pub struct Dot {
    /// Centre x.
    pub x: String,
    /// Centre y.
    pub y: String,
    /// `15 Mar 2027: 21.4 kg`.
    pub label: String,
}

/// A labelled position on an axis.
pub struct Tick {
    /// x for the time axis, y for the weight axis.
    pub pos: String,
    /// The label.
    pub label: String,
    /// `text-anchor`: the first date starts at its point, the last ends at it.
    pub anchor: &'static str,
}

/// Lays out the weighings (any order), dated on the practice's calendar; `None` when
/// there are none.
pub fn weight_chart(
    zone: &PracticeZone,
    weighings: &[(DateTime<Utc>, WeightKg)],
) -> Option<WeightChart> {
    let mut weighings = weighings.to_vec();
    weighings.sort_by_key(|(at, _)| *at);
    let (first_at, _) = *weighings.first()?;
    let (last_at, _) = *weighings.last()?;
    let lightest = weighings.iter().map(|(_, w)| w.grams()).min()?;
    let heaviest = weighings.iter().map(|(_, w)| w.grams()).max()?;
    let (low, high, step) = scale(lightest, heaviest);

    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let span = (last_at - first_at).num_seconds();
    let x_of = |at: DateTime<Utc>| {
        if span == 0 {
            LEFT + plot_width / 2.0
        } else {
            LEFT + plot_width * (at - first_at).num_seconds() as f64 / span as f64
        }
    };
    let y_of =
        |grams: u32| TOP + plot_height * (1.0 - f64::from(grams - low) / f64::from(high - low));

    let dots: Vec<Dot> = weighings
        .iter()
        .map(|(at, weight)| Dot {
            x: coordinate(x_of(*at)),
            y: coordinate(y_of(weight.grams())),
            label: format!(
                "{}: {} kg",
                day_short(zone.date_of(*at)),
                kilograms(weight.grams())
            ),
        })
        .collect();
    let points = dots
        .iter()
        .map(|d| format!("{},{}", d.x, d.y))
        .collect::<Vec<_>>()
        .join(" ");
    let y_ticks = (0..)
        .map(|i| low + i * step)
        .take_while(|grams| *grams <= high)
        .map(|grams| Tick {
            pos: coordinate(y_of(grams)),
            label: format!("{} kg", kilograms(grams)),
            anchor: "end",
        })
        .collect();
    let mut x_ticks = vec![Tick {
        pos: coordinate(x_of(first_at)),
        label: day_short(zone.date_of(first_at)),
        anchor: if span == 0 { "middle" } else { "start" },
    }];
    if span > 0 {
        x_ticks.push(Tick {
            pos: coordinate(x_of(last_at)),
            label: day_short(zone.date_of(last_at)),
            anchor: "end",
        });
    }
    let summary = match weighings.as_slice() {
        [(at, only)] => format!(
            "One weight: {} kg on {}.",
            kilograms(only.grams()),
            day_short(zone.date_of(*at))
        ),
        [(_, first), .., (_, last)] => format!(
            "{} weights from {} to {}: {} kg to {} kg (lightest {} kg, heaviest {} kg).",
            weighings.len(),
            day_short(zone.date_of(first_at)),
            day_short(zone.date_of(last_at)),
            kilograms(first.grams()),
            kilograms(last.grams()),
            kilograms(lightest),
            kilograms(heaviest)
        ),
        [] => String::new(),
    };
    Some(WeightChart {
        width: coordinate(WIDTH),
        height: coordinate(HEIGHT),
        left: coordinate(LEFT),
        right: coordinate(WIDTH - RIGHT),
        top: coordinate(TOP),
        bottom: coordinate(HEIGHT - BOTTOM),
        y_label_x: coordinate(LEFT - 8.0),
        x_label_y: coordinate(HEIGHT - BOTTOM + 22.0),
        points,
        dots,
        y_ticks,
        x_ticks,
        summary,
    })
}

/// The weight axis: a round bottom and top around the weighings, in a round step
/// (1, 2 or 5 times a power of ten grams) giving three to seven grid lines. A flat
/// history still gets a band around it, so one weight is not drawn on an edge.
fn scale(lightest: u32, heaviest: u32) -> (u32, u32, u32) {
    let spread = (heaviest - lightest).max(heaviest / 10).max(10);
    let mut step = 1;
    'search: for power in [1u32, 10, 100, 1_000, 10_000, 100_000, 1_000_000] {
        for factor in [1, 2, 5] {
            step = factor * power;
            if spread / step < 4 {
                break 'search;
            }
        }
    }
    let mut low = lightest / step * step;
    let mut high = heaviest.div_ceil(step) * step;
    if high == low {
        high += step;
    }
    // Keep the weighings off the very edges when there is room below zero to spare.
    if low == lightest && low >= step {
        low -= step;
    }
    if high == heaviest {
        high += step;
    }
    (low, high, step)
}

/// Grams as kilograms without trailing zeros: `21.4`, `0.035`, `20`.
pub fn kilograms(grams: u32) -> String {
    let text = format!("{}.{:03}", grams / 1000, grams % 1000);
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// One decimal is finer than a pixel.
fn coordinate(value: f64) -> String {
    format!("{value:.1}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(day: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 3, day, 9, 0, 0).unwrap()
    }

    fn kg(raw: &str) -> WeightKg {
        WeightKg::parse("w", raw).unwrap()
    }

    #[test]
    fn weighings_are_dated_on_the_practices_calendar() {
        // 23:30 UTC on 15 July is 00:30 on the 16th in London (BST).
        let late = Utc.with_ymd_and_hms(2026, 7, 15, 23, 30, 0).unwrap();
        let london = PracticeZone::parse("time_zone", "Europe/London").unwrap();
        let chart = weight_chart(&london, &[(late, kg("20"))]).unwrap();
        assert_eq!(chart.summary, "One weight: 20 kg on Thu 16 Jul 2026.");
        let utc = weight_chart(&PracticeZone::UTC, &[(late, kg("20"))]).unwrap();
        assert_eq!(utc.summary, "One weight: 20 kg on Wed 15 Jul 2026.");
    }

    #[test]
    fn no_weighings_draw_nothing() {
        assert!(weight_chart(&PracticeZone::UTC, &[]).is_none());
    }

    #[test]
    fn points_run_left_to_right_in_time_and_heavier_is_higher() {
        let chart = weight_chart(
            &PracticeZone::UTC,
            &[(at(15), kg("22.1")), (at(1), kg("20")), (at(8), kg("21.4"))],
        )
        .unwrap();
        let xs: Vec<f64> = chart.dots.iter().map(|d| d.x.parse().unwrap()).collect();
        let ys: Vec<f64> = chart.dots.iter().map(|d| d.y.parse().unwrap()).collect();
        assert_eq!(
            xs,
            [LEFT, LEFT + (WIDTH - LEFT - RIGHT) / 2.0, WIDTH - RIGHT]
        );
        assert!(ys[0] > ys[1] && ys[1] > ys[2], "{ys:?}");
        assert!(ys.iter().all(|y| (TOP..=HEIGHT - BOTTOM).contains(y)));
        assert_eq!(chart.points.split(' ').count(), 3);
        assert_eq!(chart.dots[0].label, "Mon 1 Mar 2027: 20 kg");
        assert_eq!(chart.x_ticks.len(), 2);
        assert!(chart.summary.starts_with("3 weights"), "{}", chart.summary);
    }

    #[test]
    fn the_weight_axis_is_labelled_in_round_kilograms() {
        let chart = weight_chart(
            &PracticeZone::UTC,
            &[(at(1), kg("20")), (at(8), kg("22.1"))],
        )
        .unwrap();
        let labels: Vec<&str> = chart.y_ticks.iter().map(|t| t.label.as_str()).collect();
        assert_eq!(labels, ["19 kg", "20 kg", "21 kg", "22 kg", "23 kg"]);
    }

    #[test]
    fn one_weighing_sits_in_the_middle_of_a_band() {
        let chart = weight_chart(&PracticeZone::UTC, &[(at(1), kg("0.035"))]).unwrap();
        assert_eq!(chart.dots.len(), 1);
        let y: f64 = chart.dots[0].y.parse().unwrap();
        assert!(y > TOP && y < HEIGHT - BOTTOM, "{y}");
        assert_eq!(chart.x_ticks.len(), 1);
        assert_eq!(chart.summary, "One weight: 0.035 kg on Mon 1 Mar 2027.");
        assert!(chart.y_ticks.len() >= 2);
    }

    #[test]
    fn kilograms_drop_trailing_zeros() {
        assert_eq!(kilograms(21_400), "21.4");
        assert_eq!(kilograms(20_000), "20");
        assert_eq!(kilograms(35), "0.035");
    }
}
