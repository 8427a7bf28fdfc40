//! How far a GPU result may lie from the CPU reference: one rule, `|got − want| ≤ atol +
//! rtol·|want|`, with the tolerance of each kernel stated once here and shared by the test
//! suite, `gpumlp check` and the checks gpumlp runs before it trusts a kernel on a driver.

use std::fmt;

/// An absolute and a relative tolerance.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Tolerance {
    /// Allowed absolute error.
    pub atol: f32,
    /// Allowed error relative to the reference value.
    pub rtol: f32,
}

/// Equal, bit for bit (NaN equal to NaN).
pub const EXACT: Tolerance = Tolerance::new(0.0, 0.0);
/// Matrix products: sums of k products of values in [-1, 1]; a GPU may contract to FMA or
/// reorder.
pub const MATMUL: Tolerance = Tolerance::new(1e-4, 1e-4);
/// Column sums of the bias gradient.
pub const BIAS_GRAD: Tolerance = Tolerance::new(1e-5, 1e-5);
/// Activations and their derivatives: exp and tanh differ between drivers by a few ulps.
pub const ACTIVATION: Tolerance = Tolerance::new(1e-6, 1e-5);
/// The loss gradient at the logits, w·(p − y)/batch with p ≤ 1: a driver's exp or division
/// may differ from the reference's by an ulp or two of 1 (1.2e-7) in p, before the row weight
/// and the batch scale it (NVIDIA's Vulkan driver, 580.159: 3e-8 at batch 2, where 1e-8
/// failed it).
pub const LOSS_GRAD: Tolerance = Tolerance::new(2.5e-7, 1e-5);
/// A batch's mean loss (the shader sums in f32 over a fixed tree, the reference in f64).
pub const LOSS: Tolerance = Tolerance::new(1e-6, 1e-5);
/// The parameters after an optimiser step.
pub const OPTIMIZER: Tolerance = Tolerance::new(1e-6, 1e-5);
/// Adam's first moment, or SGD's velocity.
pub const MOMENT: Tolerance = Tolerance::new(1e-7, 1e-5);
/// Adam's second moment.
pub const SECOND_MOMENT: Tolerance = Tolerance::new(1e-9, 1e-5);
/// Parameters after whole training runs: rounding differences (exp, tanh, FMA contraction,
/// another summation order) compound over the steps; loose enough for a real GPU, tight
/// enough that any wrong op fails.
pub const TRAINED_PARAMS: Tolerance = Tolerance::new(1e-4, 1e-3);
/// Epoch losses of whole training runs.
pub const EPOCH_LOSSES: Tolerance = Tolerance::new(1e-5, 1e-4);

impl Tolerance {
    /// `atol` and `rtol`.
    pub const fn new(atol: f32, rtol: f32) -> Tolerance {
        Tolerance { atol, rtol }
    }

    /// How far `got` lies from `want`, element by element, and where it lies farthest.
    pub fn compare(self, got: &[f32], want: &[f32]) -> Comparison {
        let mut out = Comparison {
            tolerance: self,
            len: (got.len(), want.len()),
            worst: None,
            max_abs: 0.0,
        };
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            let ratio = self.ratio(g, w);
            if out.worst.is_none_or(|(_, r, _, _)| ratio > r) {
                out.worst = Some((i, ratio, g, w));
            }
            let err = (g - w).abs();
            if err.is_finite() {
                out.max_abs = out.max_abs.max(err);
            }
        }
        out
    }

    /// The error as a multiple of what is allowed: ≤ 1 passes. A NaN where the reference has a
    /// number (or the other way round), and any value but the same infinity where the
    /// reference is infinite, count as infinitely wrong.
    fn ratio(self, got: f32, want: f32) -> f32 {
        if got.is_nan() || want.is_nan() {
            return if got.is_nan() && want.is_nan() {
                0.0
            } else {
                f32::INFINITY
            };
        }
        if want.is_infinite() || got.is_infinite() {
            return if got == want { 0.0 } else { f32::INFINITY };
        }
        let err = (got - want).abs();
        if err == 0.0 {
            return 0.0;
        }
        let allowed = self.atol + self.rtol * want.abs();
        if allowed == 0.0 {
            f32::INFINITY
        } else {
            err / allowed
        }
    }
}

impl fmt::Display for Tolerance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "atol {:e} + rtol {:e}", self.atol, self.rtol)
    }
}

/// The outcome of [`Tolerance::compare`].
#[derive(Clone, Copy, Debug)]
pub struct Comparison {
    /// The tolerance compared with.
    pub tolerance: Tolerance,
    /// Lengths of `got` and `want`.
    pub len: (usize, usize),
    /// The element farthest out of tolerance: index, error as a multiple of what is allowed,
    /// got, want. `None` for empty slices.
    pub worst: Option<(usize, f32, f32, f32)>,
    /// The largest finite |got − want|.
    pub max_abs: f32,
}

impl Comparison {
    /// Whether the lengths agree and every element lies within the tolerance.
    pub fn passed(&self) -> bool {
        self.len.0 == self.len.1 && self.worst.is_none_or(|(_, ratio, _, _)| ratio <= 1.0)
    }

    /// Of two comparisons, the one farther out of its tolerance (`self` on a tie).
    pub fn worse(self, other: Comparison) -> Comparison {
        if other.worst_ratio() > self.worst_ratio() {
            other
        } else {
            self
        }
    }

    /// The worst of several comparisons; `None` when there are none.
    pub fn worst_of(all: impl IntoIterator<Item = Comparison>) -> Option<Comparison> {
        all.into_iter().reduce(Comparison::worse)
    }

    /// The worst error as a multiple of what is allowed (0 when empty; infinite when the
    /// lengths differ).
    pub fn worst_ratio(&self) -> f32 {
        if self.len.0 != self.len.1 {
            return f32::INFINITY;
        }
        self.worst.map_or(0.0, |(_, ratio, _, _)| ratio)
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.len.0 != self.len.1 {
            return write!(
                f,
                "{} values where {} were expected",
                self.len.0, self.len.1
            );
        }
        match self.worst {
            None => write!(f, "no values"),
            Some((i, _, got, want)) => write!(
                f,
                "worst index {i}: got {got}, want {want}, |diff| = {:e} against {} ({} \
                 elements, largest finite |diff| {:e})",
                (got - want).abs(),
                self.tolerance,
                self.len.0,
                self.max_abs
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_and_its_edges() {
        let t = Tolerance::new(1e-3, 1e-2);
        assert!(t.compare(&[1.0, 2.0], &[1.005, 2.0]).passed());
        assert!(!t.compare(&[1.0], &[1.02]).passed());
        // The worst element is named, not the first.
        let c = t.compare(&[1.0, 5.0, 3.0], &[1.0, 4.0, 3.1]);
        assert_eq!(c.worst.unwrap().0, 1, "{c}");
        // NaN and infinities.
        assert!(!t.compare(&[f32::NAN], &[1.0]).passed());
        assert!(!t.compare(&[1.0], &[f32::NAN]).passed());
        assert!(t.compare(&[f32::NAN], &[f32::NAN]).passed());
        assert!(
            !t.compare(&[1e30], &[f32::INFINITY]).passed(),
            "a finite value for ∞"
        );
        assert!(!t.compare(&[f32::NEG_INFINITY], &[f32::INFINITY]).passed());
        assert!(!t.compare(&[f32::INFINITY], &[1.0]).passed());
        assert!(t.compare(&[f32::INFINITY], &[f32::INFINITY]).passed());
        // A NaN is the worst even after a large finite error.
        let c = t.compare(&[10.0, f32::NAN], &[1.0, 1.0]);
        assert_eq!(c.worst.unwrap().0, 1, "{c}");
        // Lengths.
        assert!(!t.compare(&[1.0], &[1.0, 2.0]).passed());
        // Exact means exact.
        assert!(!EXACT.compare(&[1.0], &[1.0 + f32::EPSILON]).passed());
        assert!(EXACT.compare(&[-0.0], &[0.0]).passed());
    }
}
