//! Column statistics gathered one cell at a time, in memory bounded by a [`Budget`]: exact
//! while what they keep fits the budget (always, for data read whole: [`Budget::EXACT`]), and
//! estimates past it, for data streamed from a file larger than memory. The preprocessing
//! ([`super::Preprocessor::fit`]) computes every statistic through these, so a streamed pass
//! and a pass over a table in memory decide and fit columns by the same rules.

use crate::data::table::Cell;
use crate::error::Location;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet};

/// How much a column's statistics may keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    /// Distinct texts kept for counting categories and telling identifiers; past it,
    /// category counts are the Space-Saving sketch's and the distinct count an estimate.
    pub distinct: usize,
    /// Numbers kept for a median; past it, a uniform sample of this many (seeded).
    pub sample: usize,
}

impl Budget {
    /// Keeps everything: every statistic exact.
    pub const EXACT: Budget = Budget {
        distinct: usize::MAX,
        sample: usize::MAX,
    };
}

/// Mean and population standard deviation, one value at a time (Welford's update: large
/// values never overflow a running sum, and the result does not depend on a second pass).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Moments {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Moments {
    /// Adds one value.
    pub fn add(&mut self, v: f64) {
        self.n += 1;
        let delta = v - self.mean;
        self.mean += delta / self.n as f64;
        self.m2 += delta * (v - self.mean);
    }

    /// How many values were added.
    pub fn count(&self) -> u64 {
        self.n
    }

    /// The mean and population standard deviation (0 and 0 for no values).
    pub fn mean_std(&self) -> (f64, f64) {
        match self.n {
            0 => (0.0, 0.0),
            n => (self.mean, (self.m2 / n as f64).sqrt()),
        }
    }
}

/// Numbers for a median: every one while they fit the budget, then a uniform sample of
/// `budget` of them (reservoir sampling, seeded, so a run is reproducible).
#[derive(Clone, Debug)]
pub struct Sample {
    values: Vec<f64>,
    cap: usize,
    seen: u64,
    rng: ChaCha8Rng,
}

impl Sample {
    /// An empty sample keeping at most `cap` numbers, drawing with `seed`.
    pub fn new(cap: usize, seed: u64) -> Sample {
        Sample {
            values: Vec::new(),
            cap: cap.max(1),
            seen: 0,
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Adds one number.
    pub fn add(&mut self, v: f64) {
        self.seen += 1;
        if self.values.len() < self.cap {
            self.values.push(v);
        } else {
            let j = self.rng.random_range(0..self.seen);
            if let Some(slot) = self.values.get_mut(j as usize) {
                *slot = v;
            }
        }
    }

    /// Whether every number added is kept (the median is then exact).
    pub fn is_exact(&self) -> bool {
        self.seen == self.values.len() as u64
    }

    /// The median of the numbers kept (0 for none).
    pub fn median(mut self) -> f64 {
        super::scale::median(&mut self.values)
    }
}

/// How often each text occurs: exact counts while the distinct texts fit the budget, then
/// the Space-Saving sketch (a new text takes the place of the least counted one, inheriting
/// its count), whose most frequent entries are the most frequent texts when their counts
/// stand out.
#[derive(Clone, Debug)]
pub struct Counts {
    counts: HashMap<String, u64>,
    cap: usize,
    exact: bool,
}

impl Counts {
    /// Empty counts of at most `cap` texts.
    pub fn new(cap: usize) -> Counts {
        Counts {
            counts: HashMap::new(),
            cap: cap.max(1),
            exact: true,
        }
    }

    /// Counts one occurrence of `text`.
    pub fn add(&mut self, text: &str) {
        if let Some(n) = self.counts.get_mut(text) {
            *n += 1;
            return;
        }
        if self.counts.len() < self.cap {
            self.counts.insert(text.to_string(), 1);
            return;
        }
        self.exact = false;
        let least = self
            .counts
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
            .map(|(t, &n)| (t.clone(), n));
        if let Some((t, n)) = least {
            self.counts.remove(&t);
            self.counts.insert(text.to_string(), n + 1);
        }
    }

    /// Whether the counts are exact.
    pub fn is_exact(&self) -> bool {
        self.exact
    }

    /// The texts with their counts, most frequent first (ties in text order).
    pub fn ranked(self) -> Vec<(String, u64)> {
        let mut ranked: Vec<(String, u64)> = self.counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        ranked
    }
}

/// How many distinct texts: exact while they fit the budget (told apart by 64-bit hashes,
/// which collide once in about 2⁶⁴ / n² pairs), then estimated from the `k` smallest hashes
/// seen (k = the budget; relative error about 1/√k).
#[derive(Clone, Debug)]
pub struct Distinct {
    seen: HashSet<u64>,
    cap: usize,
    /// The smallest hashes, once `seen` overflowed (sorted, at most `cap`).
    smallest: Option<Vec<u64>>,
}

impl Distinct {
    /// No texts yet; at most `cap` kept.
    pub fn new(cap: usize) -> Distinct {
        Distinct {
            seen: HashSet::new(),
            cap: cap.max(2),
            smallest: None,
        }
    }

    /// One occurrence of `text`.
    pub fn add(&mut self, text: &str) {
        let h = hash(text);
        if self.smallest.is_none() {
            if self.seen.len() < self.cap || self.seen.contains(&h) {
                self.seen.insert(h);
                return;
            }
            let mut hashes: Vec<u64> = self.seen.drain().collect();
            hashes.sort_unstable();
            hashes.truncate(self.cap);
            self.smallest = Some(hashes);
        }
        if let Some(smallest) = &mut self.smallest {
            if let Err(at) = smallest.binary_search(&h) {
                if at < self.cap {
                    smallest.insert(at, h);
                    smallest.truncate(self.cap);
                }
            }
        }
    }

    /// Whether the count is exact.
    pub fn is_exact(&self) -> bool {
        self.smallest.is_none()
    }

    /// The number of distinct texts, or its estimate.
    pub fn count(&self) -> u64 {
        match &self.smallest {
            None => self.seen.len() as u64,
            Some(smallest) => match smallest.last() {
                Some(&kth) if smallest.len() >= self.cap => {
                    ((smallest.len() - 1) as f64 * (u64::MAX as f64 / kth.max(1) as f64)) as u64
                }
                _ => smallest.len() as u64,
            },
        }
    }
}

/// A 64-bit hash of `text` that is the same in every run (FNV-1a, then a SplitMix64
/// finaliser to spread it over the whole range).
fn hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix64(h)
}

/// SplitMix64's finaliser: every bit of `z` spread over the whole result, the same in every
/// run (the hashes of texts here, the held-out rows of a streamed run).
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// What one pass over a column's present cells found, to decide its kind: how many, how
/// many are numbers, the first that is text and the first infinite number (with where they
/// are), and how many distinct texts.
#[derive(Clone, Debug)]
pub struct Survey {
    /// Present cells.
    pub present: u64,
    /// Cells that are numbers, finite or not.
    pub numeric: u64,
    /// The first cell that is not a number, and where it is.
    pub first_text: Option<(Location, Cell)>,
    /// The first number that is not finite, and where it is.
    pub first_non_finite: Option<(Location, Cell)>,
    /// Distinct texts.
    pub distinct: Distinct,
}

impl Survey {
    /// Nothing seen yet.
    pub fn new(budget: Budget) -> Survey {
        Survey {
            present: 0,
            numeric: 0,
            first_text: None,
            first_non_finite: None,
            distinct: Distinct::new(budget.distinct),
        }
    }

    /// A present cell, `at` where it is (asked only for the first of its kind).
    pub fn add(&mut self, cell: &Cell, at: impl FnOnce() -> Location) {
        self.present += 1;
        self.distinct.add(&cell.text());
        if cell.number().is_some() {
            self.numeric += 1;
        } else if cell.non_finite() {
            self.numeric += 1;
            if self.first_non_finite.is_none() {
                self.first_non_finite = Some((at(), cell.clone()));
            }
        } else if self.first_text.is_none() {
            self.first_text = Some((at(), cell.clone()));
        }
    }

    /// Whether every present cell has a text of its own (an identifier, when there are
    /// enough rows to tell): exactly, or, past the budget, when the estimate of the distinct
    /// texts is within four times its error (1/√k) of the present cells.
    pub fn all_distinct(&self) -> bool {
        let distinct = self.distinct.count();
        match self.distinct.is_exact() {
            true => distinct == self.present,
            false => {
                let error = 1.0 / (self.distinct.cap as f64).sqrt();
                distinct as f64 >= (1.0 - 4.0 * error).max(0.5) * self.present as f64
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_those_of_the_values_and_a_sample_that_fits_gives_the_exact_median() {
        let values = [3.0, -1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0];
        let mut m = Moments::default();
        let mut s = Sample::new(100, 1);
        for v in values {
            m.add(v);
            s.add(v);
        }
        let mean = values.iter().sum::<f64>() / 8.0;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / 8.0;
        let (got_mean, got_std) = m.mean_std();
        assert!((got_mean - mean).abs() <= 1e-12 && (got_std - var.sqrt()).abs() <= 1e-12);
        assert!(s.is_exact());
        assert_eq!(s.median(), 3.5);
        assert_eq!(Moments::default().mean_std(), (0.0, 0.0));
    }

    #[test]
    fn a_sample_past_its_budget_is_seeded_and_its_median_close() {
        let run = |seed| {
            let mut s = Sample::new(2001, seed);
            for i in 0..100_000u64 {
                // A permutation of 0..100000, so the true median is 49999.5.
                s.add(((i * 7919) % 100_000) as f64);
            }
            assert!(!s.is_exact());
            s.median()
        };
        let (a, b) = (run(7), run(7));
        assert_eq!(a, b, "the same seed gives the same median");
        assert!((a - 49_999.5).abs() < 100_000.0 * 0.05, "median {a}");
    }

    #[test]
    fn counts_are_exact_within_the_budget_and_keep_the_frequent_texts_past_it() {
        let mut exact = Counts::new(10);
        for t in ["b", "a", "b", "c", "a", "b"] {
            exact.add(t);
        }
        assert!(exact.is_exact());
        let ranked = exact.ranked();
        assert_eq!(
            ranked,
            vec![("b".into(), 3), ("a".into(), 2), ("c".into(), 1)]
        );
        // Three frequent texts among 10,000 rare ones, 16 slots.
        let mut sketch = Counts::new(16);
        for i in 0..10_000 {
            sketch.add(&format!("rare{i}"));
            if i % 4 == 0 {
                sketch.add(["x", "y", "z"][i % 3]);
            }
        }
        assert!(!sketch.is_exact());
        let top: Vec<String> = sketch
            .ranked()
            .into_iter()
            .take(3)
            .map(|(t, _)| t)
            .collect();
        let mut top = top;
        top.sort();
        assert_eq!(top, vec!["x", "y", "z"]);
    }

    #[test]
    fn distinct_counts_are_exact_within_the_budget_and_estimated_past_it() {
        let mut d = Distinct::new(100);
        for t in ["a", "b", "a"] {
            d.add(t);
        }
        assert!(d.is_exact());
        assert_eq!(d.count(), 2);
        let mut d = Distinct::new(1024);
        for i in 0..50_000 {
            d.add(&format!("id-{i}"));
            d.add(&format!("id-{}", i / 2));
        }
        assert!(!d.is_exact());
        let n = d.count() as f64;
        assert!((n - 50_000.0).abs() < 50_000.0 * 0.1, "estimate {n}");
    }

    #[test]
    fn a_survey_tells_identifiers_exactly_and_past_its_budget() {
        for (cap, rows) in [(usize::MAX, 500), (1024, 20_000)] {
            let budget = Budget {
                distinct: cap,
                sample: cap,
            };
            let (mut ids, mut labels) = (Survey::new(budget), Survey::new(budget));
            let at = |r: u64| move || Location::file("t.csv").line(r + 2);
            for r in 0..rows {
                ids.add(&Cell::Text(format!("user{r}")), at(r));
                labels.add(&Cell::Text(format!("group{}", r % 7)), at(r));
            }
            assert!(ids.all_distinct(), "identifiers, budget {cap}");
            assert!(!labels.all_distinct(), "labels, budget {cap}");
            assert_eq!(ids.numeric, 0);
            let first = ids.first_text.as_ref().map(|(at, _)| at.to_string());
            assert_eq!(first.as_deref(), Some("t.csv, line 2"));
        }
    }
}
