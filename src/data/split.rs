//! Seeded train/validation splits and k-fold cross-validation, stratified by class so that
//! small classes are represented on both sides, and reproducible from the seed alone.

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;

/// Positions grouped by class in class order, or one group of all positions when unstratified.
fn groups(n: usize, classes: Option<&[usize]>) -> Result<Vec<Vec<usize>>> {
    match classes {
        None => Ok(vec![(0..n).collect()]),
        Some(classes) => {
            if classes.len() != n {
                return Err(Error::InvalidData(format!(
                    "{} class indices for {n} rows",
                    classes.len()
                )));
            }
            let mut by_class: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (position, &class) in classes.iter().enumerate() {
                by_class.entry(class).or_default().push(position);
            }
            Ok(by_class.into_values().collect())
        }
    }
}

/// Holds out `fraction` of the rows for validation so training can be judged on rows it did
/// not see, stratified by class when `classes` is Some (the class index per position).
///
/// Per class, the validation count is `fraction` of its rows rounded, but every class with at
/// least 2 rows keeps at least one row on each side (one class-less group of all rows when
/// unstratified). Single-row classes stay in training. Returns (train, validation)
/// positions, each sorted ascending; fraction 0 puts every row in training. Errors
/// (InvalidConfig) if the fraction is not in [0, 1) or the validation set would be empty.
pub fn train_val_split(
    n: usize,
    classes: Option<&[usize]>,
    fraction: f64,
    seed: u64,
) -> Result<(Vec<usize>, Vec<usize>)> {
    if !(0.0..1.0).contains(&fraction) {
        return Err(Error::InvalidConfig(format!(
            "the validation fraction must be at least 0 and below 1, got {fraction}"
        )));
    }
    if n == 0 {
        return Err(Error::InvalidConfig("there are no rows to split".into()));
    }
    let groups = groups(n, classes)?;
    if fraction == 0.0 {
        return Ok(((0..n).collect(), Vec::new()));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut train = Vec::with_capacity(n);
    let mut validation = Vec::new();
    for mut group in groups {
        group.shuffle(&mut rng);
        let count = group.len();
        let held = if count < 2 {
            0
        } else {
            ((count as f64 * fraction).round() as usize).clamp(1, count - 1)
        };
        let (held_out, kept) = group.split_at(held);
        validation.extend_from_slice(held_out);
        train.extend_from_slice(kept);
    }
    if validation.is_empty() {
        return Err(Error::InvalidConfig(format!(
            "cannot hold out rows for validation from {n} row{}{}; use more data or set the \
             validation fraction to 0",
            if n == 1 { "" } else { "s" },
            if classes.is_some() && n > 1 {
                " (every class has a single row)"
            } else {
                ""
            }
        )));
    }
    train.sort_unstable();
    validation.sort_unstable();
    Ok((train, validation))
}

/// Splits the rows into k folds for cross-validation, so every row is tested exactly once.
///
/// Like scikit-learn's `StratifiedKFold(shuffle=True)` when `classes` is Some: each class's
/// rows are shuffled with the seed and dealt round-robin across the folds, the dealing
/// carrying on from one class to the next so fold sizes differ by at most one. Returns k
/// (train, test) pairs of positions, each sorted ascending. Errors if k < 2 or k > n
/// (InvalidConfig), or if a class has fewer than k rows (InvalidData).
pub fn k_fold(
    n: usize,
    classes: Option<&[usize]>,
    k: usize,
    seed: u64,
) -> Result<Vec<(Vec<usize>, Vec<usize>)>> {
    if k < 2 {
        return Err(Error::InvalidConfig(format!(
            "cross-validation needs at least 2 folds, got {k}"
        )));
    }
    if k > n {
        return Err(Error::InvalidConfig(format!(
            "{k} folds need at least {k} rows, but there are {n}"
        )));
    }
    let groups = groups(n, classes)?;
    if let Some(classes) = classes {
        let smallest = groups
            .iter()
            .filter_map(|g| Some((g.len(), *classes.get(*g.first()?)?)))
            .min();
        if let Some((count, class)) = smallest.filter(|(count, _)| *count < k) {
            let advice = if count >= 2 {
                format!("use at most {count} folds")
            } else {
                "cross-validation needs at least 2 rows of every class".into()
            };
            return Err(Error::InvalidData(format!(
                "class {class} has only {count} row{} but {k} folds need at least {k} rows of \
                 every class; {advice}",
                if count == 1 { "" } else { "s" }
            )));
        }
    }

    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut fold_of = vec![0; n];
    let mut next = 0;
    for mut group in groups {
        group.shuffle(&mut rng);
        for position in group {
            if let Some(fold) = fold_of.get_mut(position) {
                *fold = next;
            }
            next = (next + 1) % k;
        }
    }
    Ok((0..k)
        .map(|fold| {
            let (test, train): (Vec<usize>, Vec<usize>) =
                (0..n).partition(|&p| fold_of.get(p) == Some(&fold));
            (train, test)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(positions: &[usize], classes: &[usize], class: usize) -> usize {
        positions.iter().filter(|&&p| classes[p] == class).count()
    }

    #[test]
    fn stratified_split_keeps_class_proportions() {
        // 80 of class 0, 20 of class 1.
        let classes: Vec<usize> = (0..100).map(|i| usize::from(i % 5 == 0)).collect();
        let (train, val) = train_val_split(100, Some(&classes), 0.2, 7).unwrap();
        assert_eq!(val.len(), 20);
        assert_eq!(count(&val, &classes, 0), 16);
        assert_eq!(count(&val, &classes, 1), 4);
        assert_eq!(train.len(), 80);
        assert!(train.windows(2).all(|w| w[0] < w[1]));
        assert!(val.windows(2).all(|w| w[0] < w[1]));
        let mut all: Vec<usize> = train.iter().chain(&val).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..100).collect::<Vec<_>>());
        // Reproducible from the seed, different for another.
        assert_eq!(
            train_val_split(100, Some(&classes), 0.2, 7).unwrap(),
            (train.clone(), val.clone())
        );
        assert_ne!(train_val_split(100, Some(&classes), 0.2, 8).unwrap().1, val);
    }

    #[test]
    fn small_classes_get_a_row_on_each_side() {
        let classes = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2];
        let (train, val) = train_val_split(11, Some(&classes), 0.1, 1).unwrap();
        assert_eq!(count(&val, &classes, 1), 1);
        assert_eq!(count(&train, &classes, 1), 1);
        assert_eq!(
            count(&train, &classes, 2),
            1,
            "a single row stays in training"
        );
        assert_eq!(count(&val, &classes, 0), 1);
    }

    #[test]
    fn unstratified_and_edge_cases() {
        let (train, val) = train_val_split(10, None, 0.3, 3).unwrap();
        assert_eq!((train.len(), val.len()), (7, 3));
        let (train, val) = train_val_split(5, None, 0.0, 3).unwrap();
        assert_eq!(train, [0, 1, 2, 3, 4]);
        assert!(val.is_empty());
        let (train, val) = train_val_split(2, None, 0.01, 3).unwrap();
        assert_eq!((train.len(), val.len()), (1, 1));
        for bad in [-0.1, 1.0, f64::NAN] {
            let e = train_val_split(10, None, bad, 0).unwrap_err();
            assert!(matches!(e, Error::InvalidConfig(_)), "{bad}");
        }
        assert!(matches!(
            train_val_split(1, None, 0.2, 0),
            Err(Error::InvalidConfig(_))
        ));
        let e = train_val_split(2, Some(&[0, 1]), 0.5, 0).unwrap_err();
        assert!(
            e.to_string().contains("every class has a single row"),
            "{e}"
        );
    }

    #[test]
    fn k_fold_tests_every_position_once() {
        let classes: Vec<usize> = (0..23).map(|i| i % 3).collect();
        for stratify in [true, false] {
            let folds = k_fold(23, stratify.then_some(&classes[..]), 5, 11).unwrap();
            assert_eq!(folds.len(), 5);
            let mut tested = [0; 23];
            for (train, test) in &folds {
                assert_eq!(train.len() + test.len(), 23);
                assert!(test.len() == 4 || test.len() == 5, "{}", test.len());
                assert!(train.iter().all(|p| !test.contains(p)));
                assert!(test.windows(2).all(|w| w[0] < w[1]));
                assert!(train.windows(2).all(|w| w[0] < w[1]));
                for &p in test {
                    tested[p] += 1;
                }
                if stratify {
                    for class in 0..3 {
                        let c = count(test, &classes, class);
                        assert!(c == 1 || c == 2, "class {class}: {c}");
                    }
                }
            }
            assert!(tested.iter().all(|&t| t == 1));
        }
    }

    #[test]
    fn k_fold_errors() {
        assert!(matches!(
            k_fold(10, None, 1, 0),
            Err(Error::InvalidConfig(_))
        ));
        assert!(matches!(
            k_fold(3, None, 4, 0),
            Err(Error::InvalidConfig(_))
        ));
        let classes = [0, 0, 0, 0, 0, 1, 1, 1];
        let e = k_fold(8, Some(&classes), 4, 0).unwrap_err();
        assert!(matches!(e, Error::InvalidData(_)));
        let e = e.to_string();
        assert!(e.contains("class 1 has only 3 rows"), "{e}");
        assert!(e.contains("use at most 3 folds"), "{e}");
    }
}
