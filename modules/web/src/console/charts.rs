//! Charts drawn on the server as SVG, with nothing loaded from elsewhere
//! and no script: the geometry is computed here and the templates write
//! it out (askama escapes every label; the coordinates are numbers). Each
//! chart comes with its figures as a table for screen readers and print.
//!
//! - [`Sparkline`]: a 12-month trend beside an indicator.
//! - [`StackedBars`]: counts per hour, stacked by series (logins per hour
//!   by method).

/// A small line over evenly spaced slots; a slot without a value breaks
/// the line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sparkline {
    pub width: u32,
    pub height: u32,
    /// One `points` attribute per unbroken run of values.
    pub runs: Vec<String>,
    /// The last value's position (marked with a dot).
    pub last: Option<(f64, f64)>,
    /// What it shows, said in words (`aria-label`).
    pub label: String,
}

/// Horizontal step between two slots of a sparkline, and its height.
const SPARK_STEP: f64 = 12.0;
const SPARK_HEIGHT: f64 = 28.0;
const SPARK_PAD: f64 = 3.0;

impl Sparkline {
    /// Draws `values` (one per slot) on a scale from 0 to `top` (at least
    /// the largest value).
    pub fn new(values: &[Option<f64>], top: f64, label: String) -> Self {
        let top = values
            .iter()
            .flatten()
            .copied()
            .fold(top, f64::max)
            .max(f64::EPSILON);
        let inner = SPARK_HEIGHT - 2.0 * SPARK_PAD;
        let point = |i: usize, v: f64| {
            (
                SPARK_PAD + i as f64 * SPARK_STEP,
                SPARK_PAD + inner * (1.0 - v / top),
            )
        };
        let mut runs = Vec::new();
        let mut run: Vec<String> = Vec::new();
        let mut last = None;
        for (i, v) in values.iter().enumerate() {
            match v {
                Some(v) => {
                    let (x, y) = point(i, *v);
                    run.push(format!("{x:.1},{y:.1}"));
                    last = Some((x, y));
                }
                None if !run.is_empty() => runs.push(std::mem::take(&mut run).join(" ")),
                None => {}
            }
        }
        if !run.is_empty() {
            runs.push(run.join(" "));
        }
        Sparkline {
            width: (2.0 * SPARK_PAD + SPARK_STEP * values.len().saturating_sub(1) as f64).ceil()
                as u32,
            height: SPARK_HEIGHT as u32,
            runs,
            last,
            label,
        }
    }
}

/// One bar segment.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    /// The series' index (its colour).
    pub series: usize,
    /// `label: count` for the tooltip.
    pub title: String,
}

/// A tick on the value axis.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub y: f64,
    pub label: String,
}

/// A label under a slot.
#[derive(Debug, Clone, PartialEq)]
pub struct SlotLabel {
    pub x: f64,
    pub label: String,
}

/// Stacked bars, one per slot, one segment per series.
#[derive(Debug, Clone, PartialEq)]
pub struct StackedBars {
    pub width: u32,
    pub height: u32,
    pub segments: Vec<Segment>,
    pub ticks: Vec<Tick>,
    pub slots: Vec<SlotLabel>,
    /// The series' names, in colour order.
    pub series: Vec<String>,
    /// The plot's baseline and left edge.
    pub base_y: f64,
    pub left: f64,
    pub right: f64,
}

const BAR_SLOT: f64 = 26.0;
const BAR_PLOT_HEIGHT: f64 = 160.0;
const BAR_TOP: f64 = 10.0;
const BAR_LEFT: f64 = 40.0;

/// A round axis top at or above `max`: 1, 2 or 5 times a power of ten.
fn nice_top(max: i64) -> i64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if m * step >= max {
                return m * step;
            }
        }
        step *= 10;
    }
}

impl StackedBars {
    /// `counts[slot][series]`, slots labelled `slot_labels` (one in
    /// `label_every` shown), series named `series`.
    pub fn new(
        counts: &[Vec<i64>],
        slot_labels: &[String],
        series: Vec<String>,
        label_every: usize,
    ) -> Self {
        let max = counts
            .iter()
            .map(|c| c.iter().sum::<i64>())
            .max()
            .unwrap_or(0);
        let top = nice_top(max.max(1));
        let base_y = BAR_TOP + BAR_PLOT_HEIGHT;
        let scale = BAR_PLOT_HEIGHT / top as f64;
        let mut segments = Vec::new();
        for (slot, c) in counts.iter().enumerate() {
            let x = BAR_LEFT + slot as f64 * BAR_SLOT + 3.0;
            let mut y = base_y;
            for (s, n) in c.iter().enumerate().filter(|(_, n)| **n > 0) {
                let h = *n as f64 * scale;
                y -= h;
                segments.push(Segment {
                    x,
                    y,
                    width: BAR_SLOT - 6.0,
                    height: h,
                    series: s,
                    title: format!(
                        "{} · {}: {n}",
                        slot_labels.get(slot).map(String::as_str).unwrap_or(""),
                        series.get(s).map(String::as_str).unwrap_or("")
                    ),
                });
            }
        }
        let ticks = [0, top / 2, top]
            .into_iter()
            .map(|v| Tick {
                y: base_y - v as f64 * scale,
                label: v.to_string(),
            })
            .collect();
        let slots = slot_labels
            .iter()
            .enumerate()
            .filter(|(i, _)| i % label_every.max(1) == 0)
            .map(|(i, l)| SlotLabel {
                x: BAR_LEFT + i as f64 * BAR_SLOT + BAR_SLOT / 2.0,
                label: l.clone(),
            })
            .collect();
        let right = BAR_LEFT + counts.len() as f64 * BAR_SLOT;
        StackedBars {
            width: (right + 8.0) as u32,
            height: (base_y + 22.0) as u32,
            segments,
            ticks,
            slots,
            series,
            base_y,
            left: BAR_LEFT,
            right,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_breaks_where_a_month_is_missing() {
        let s = Sparkline::new(
            &[Some(50.0), Some(100.0), None, Some(0.0)],
            100.0,
            "t".into(),
        );
        assert_eq!(s.runs, vec!["3.0,14.0 15.0,3.0", "39.0,25.0"]);
        assert_eq!(s.last, Some((39.0, 25.0)));
        assert_eq!(s.width, 42);
        // Nothing recorded: nothing drawn.
        let empty = Sparkline::new(&[None, None], 100.0, "t".into());
        assert!(empty.runs.is_empty() && empty.last.is_none());
        // A count above the scale stretches it.
        let big = Sparkline::new(&[Some(10.0), Some(20.0)], 1.0, "t".into());
        assert_eq!(big.runs, vec!["3.0,14.0 15.0,3.0"]);
    }

    #[test]
    fn stacked_bars_stack_by_series_on_a_round_scale() {
        let labels: Vec<String> = (0..3).map(|h| format!("{h:02}h")).collect();
        let b = StackedBars::new(
            &[vec![3, 1], vec![0, 0], vec![0, 8]],
            &labels,
            vec!["badge".into(), "clé".into()],
            2,
        );
        assert_eq!(nice_top(8), 10);
        assert_eq!(nice_top(11), 20);
        assert_eq!(nice_top(1), 1);
        // Scale 10: 16 px per login.
        assert_eq!(b.segments.len(), 3);
        let s = &b.segments[0];
        assert_eq!((s.series, s.height, s.y), (0, 48.0, 122.0));
        assert_eq!(b.segments[1].y, 122.0 - 16.0, "stacked on the first");
        assert_eq!(b.segments[2].title, "02h · clé: 8");
        assert_eq!(
            b.slots.iter().map(|s| s.label.as_str()).collect::<Vec<_>>(),
            ["00h", "02h"]
        );
        assert_eq!(
            b.ticks.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(),
            ["0", "5", "10"]
        );
    }
}
