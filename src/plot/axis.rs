//! Axes: a data range, the ticks to label and how to write them; ticks are 1, 2 or 5 × 10^k
//! apart, four to six of them, so every chart reads the same way.

/// A data range shown along one axis, with the tick values to label.
pub(super) struct Axis {
    pub(super) min: f64,
    pub(super) max: f64,
    pub(super) ticks: Vec<f64>,
    /// How tick values are written.
    pub(super) labels: TickFormat,
}

/// Tick labels short enough for the margin, precise enough to tell neighbours apart.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum TickFormat {
    /// Plain notation with this many decimals.
    Fixed(usize),
    /// Scientific notation with this many mantissa decimals, for very large or tiny values.
    Scientific(usize),
}

impl TickFormat {
    pub(super) fn for_ticks(min: f64, max: f64, step: f64) -> TickFormat {
        let largest = min.abs().max(max.abs());
        if step < 1e-4 || largest >= 1e6 {
            let digits = largest.log10().floor() - step.log10().floor();
            TickFormat::Scientific(digits.clamp(0.0, 6.0) as usize)
        } else {
            TickFormat::Fixed(decimals_for(step))
        }
    }

    pub(super) fn label(self, value: f64) -> String {
        // `+ 0.0` turns -0.0 into 0.0 so no tick reads "-0".
        let value = value + 0.0;
        match self {
            TickFormat::Fixed(decimals) => format!("{value:.decimals$}"),
            TickFormat::Scientific(decimals) => format!("{value:.decimals$e}"),
        }
    }
}

impl Axis {
    /// An axis over the data range `range` (`None`: no data), padded when it is a single
    /// value and widened outwards to whole ticks so nothing touches the frame unlabelled.
    pub(super) fn fit(range: Option<(f64, f64)>) -> Axis {
        let (low, high) = padded_range(range);
        let step = nice_step(low, high, 0.0, true);
        let min = (low / step).floor() * step;
        let max = (high / step).ceil() * step;
        Axis {
            min,
            max,
            ticks: ticks_within(min, max, step),
            labels: TickFormat::for_ticks(min, max, step),
        }
    }

    /// [0, 1] in steps of 0.2: rates, precision and recall.
    pub(super) fn unit() -> Axis {
        Axis {
            min: 0.0,
            max: 1.0,
            ticks: ticks_within(0.0, 1.0, 0.2),
            labels: TickFormat::Fixed(1),
        }
    }

    /// Where `value` falls between `from` (at `min`) and `to` (at `max`).
    pub(super) fn map(&self, value: f64, from: f64, to: f64) -> f64 {
        from + (value - self.min) / (self.max - self.min) * (to - from)
    }
}

/// (lowest, highest) of the finite values, or None when there is none.
pub(super) fn finite_range(values: impl Iterator<Item = f64>) -> Option<(f64, f64)> {
    values
        .filter(|v| v.is_finite())
        .fold(None, |range, v| match range {
            None => Some((v, v)),
            Some((low, high)) => Some((low.min(v), high.max(v))),
        })
}

/// A range with room in it: [0, 1] for no data, ±10% (or ±1 around zero) for a constant.
pub(super) fn padded_range(range: Option<(f64, f64)>) -> (f64, f64) {
    match range {
        None => (0.0, 1.0),
        Some((low, high)) if low < high => (low, high),
        Some((0.0, _)) => (-1.0, 1.0),
        Some((value, _)) => (value - 0.1 * value.abs(), value + 0.1 * value.abs()),
    }
}

/// A step of 1, 2 or 5 × 10^k giving 4 to 6 ticks over [low, high] (as close to 5 as it gets),
/// at least `min_step`; `loose` counts ticks after widening the range to whole steps.
pub(super) fn nice_step(low: f64, high: f64, min_step: f64, loose: bool) -> f64 {
    let span = high - low;
    let base = span.log10().floor() as i32;
    let candidates = (base - 2..=base + 1)
        .flat_map(|k| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(k)))
        .filter(|&step| step >= min_step);
    let tick_count = |step: f64| {
        if loose {
            (high / step).ceil() - (low / step).floor() + 1.0
        } else {
            (high / step).floor() - (low / step).ceil() + 1.0
        }
    };
    // The candidate whose tick count is nearest 5, fewer ticks winning a tie; with a large
    // `min_step` (few epochs) that can fall short of 4.
    candidates
        .map(|step| {
            (
                step,
                (tick_count(step) - 5.0).abs() + tick_count(step) * 1e-3,
            )
        })
        .filter(|&(step, _)| tick_count(step) <= 6.0)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(min_step.max(span), |(step, _)| step)
}

/// Multiples of `step` inside [min, max], each computed from its index so errors never add up.
pub(super) fn ticks_within(min: f64, max: f64, step: f64) -> Vec<f64> {
    let first = (min / step - 1e-9).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

pub(super) fn decimals_for(step: f64) -> usize {
    (-step.log10().floor()).max(0.0) as usize
}
