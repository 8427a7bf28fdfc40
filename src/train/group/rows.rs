//! Where a group's models read their rows on the device: rows of their own (one copy for
//! models given the same `&Dataset`), or rows shared by all of them (the folds of a
//! cross-validation: one copy in all), each model reading its positions through its own row
//! map (src/data/prep/shared.rs) inside the kernel.

use crate::data::prep::{RowMap, SharedRows};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::gpu::StepUniform;
use crate::model::Mlp;
use crate::train::TrainConfig;

/// Where a candidate's training rows are.
#[derive(Clone, Copy)]
pub enum Rows<'a> {
    /// Its own rows, encoded for it.
    Own(&'a Dataset),
    /// Rows shared with the other candidates, read through `map`: its training rows at
    /// positions `train` of `rows`, its validation rows at `val` (the candidate's `val` is
    /// them as `map` encodes them).
    Shared {
        /// The rows, encoded once.
        rows: &'a SharedRows,
        /// How this candidate reads them.
        map: &'a RowMap,
        /// Its training rows' positions.
        train: &'a [usize],
        /// Its validation rows' positions.
        val: &'a [usize],
    },
}

impl Rows<'_> {
    /// Training rows.
    pub fn len(&self) -> usize {
        match self {
            Rows::Own(data) => data.rows(),
            Rows::Shared { train, .. } => train.len(),
        }
    }

    /// Whether there are no training rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An error unless `config` can train `model` on these rows, validating on `val`.
    pub(super) fn validate(
        &self,
        config: &TrainConfig,
        model: &Mlp,
        val: Option<&Dataset>,
    ) -> Result<()> {
        if let Some(val) = val {
            config.validate(model, val)?;
        }
        let (rows, map, train, val_pos) = match *self {
            Rows::Own(data) => return config.validate(model, data),
            Rows::Shared {
                rows,
                map,
                train,
                val,
            } => (rows, map, train, val),
        };
        config.validate_for(model, rows.features(), rows.outputs())?;
        map.check(rows)?;
        if let Some(&p) = train.iter().chain(val_pos).find(|&&p| p >= rows.rows()) {
            return Err(Error::InvalidData(format!(
                "row {p} is out of range ({} shared rows)",
                rows.rows()
            )));
        }
        if train.is_empty() || val.map_or(0, Dataset::rows) != val_pos.len() {
            return Err(Error::InvalidData(format!(
                "{} training rows, {} validation rows given for {} positions",
                train.len(),
                val.map_or(0, Dataset::rows),
                val_pos.len()
            )));
        }
        Ok(())
    }
}

/// Where one model's rows sit in the group's buffers.
pub(super) struct Place {
    /// Its training rows: the first of a run of them, or each one's row.
    train: Pick,
    /// Its validation rows' rows, in order.
    pub val: Vec<u32>,
    /// Where its row map starts in `x`, or [`StepUniform::NO_MAP`].
    pub map_at: u32,
}

enum Pick {
    From(u32),
    List(Vec<u32>),
}

impl Place {
    /// The row of its training row `r`.
    pub fn row(&self, r: u32) -> u32 {
        match &self.train {
            Pick::From(base) => base + r,
            Pick::List(rows) => rows[r as usize],
        }
    }
}

/// The group's rows as the kernel binds them: `x` (rows, inputs) and then the row maps, `t`
/// (rows, outputs + 1); `rows` of them; where each model's are.
pub(super) struct Layout {
    pub x: Vec<f32>,
    pub t: Vec<f32>,
    pub rows: usize,
    pub places: Vec<Place>,
}

/// Lays out each model's `(rows, val)`: every distinct source once.
pub(super) fn layout(models: &[(Rows<'_>, Option<&Dataset>)], outputs: usize) -> Layout {
    let (mut x, mut t) = (Vec::new(), Vec::new());
    let mut maps = Vec::new();
    let mut rows_in = 0usize;
    // Sources already placed, with their first row.
    let mut own: Vec<(&Dataset, Option<&Dataset>, usize)> = Vec::new();
    let mut shared: Vec<(&SharedRows, usize)> = Vec::new();
    let mut places = Vec::with_capacity(models.len());
    for &(source, val) in models {
        match source {
            Rows::Own(data) => {
                let same = |&&(d, v, _): &&(&Dataset, Option<&Dataset>, usize)| {
                    std::ptr::eq(d, data)
                        && match (v, val) {
                            (Some(a), Some(b)) => std::ptr::eq(a, b),
                            (None, None) => true,
                            _ => false,
                        }
                };
                let base = match own.iter().find(same) {
                    Some(&(_, _, base)) => base,
                    None => {
                        let base = rows_in;
                        own.push((data, val, base));
                        x.extend_from_slice(data.x());
                        x.extend_from_slice(val.map_or(&[], Dataset::x));
                        t.extend_from_slice(data.targets());
                        // The validation rows' targets are never read: zeros keep the rows
                        // aligned.
                        let val_rows = val.map_or(0, Dataset::rows);
                        t.resize(t.len() + val_rows * (outputs + 1), 0.0);
                        rows_in += data.rows() + val_rows;
                        base
                    }
                };
                let first_val = base + data.rows();
                let val_rows = val.map_or(0, Dataset::rows);
                places.push(Place {
                    train: Pick::From(base as u32),
                    val: (first_val..first_val + val_rows)
                        .map(|r| r as u32)
                        .collect(),
                    map_at: StepUniform::NO_MAP,
                });
            }
            Rows::Shared {
                rows,
                map,
                train,
                val,
            } => {
                let base = match shared.iter().find(|(r, _)| std::ptr::eq(*r, rows)) {
                    Some(&(_, base)) => base,
                    None => {
                        let base = rows_in;
                        shared.push((rows, base));
                        x.extend_from_slice(rows.x());
                        t.extend_from_slice(rows.targets());
                        rows_in += rows.rows();
                        base
                    }
                };
                let at = |p: &usize| (base + p) as u32;
                // Its map's place in `maps`, made absolute once every row is in `x`.
                let map_at = maps.len() as u32;
                maps.extend(map.packed());
                places.push(Place {
                    train: Pick::List(train.iter().map(at).collect()),
                    val: val.iter().map(at).collect(),
                    map_at,
                });
            }
        }
    }
    let maps_at = x.len() as u32;
    for place in &mut places {
        if place.map_at != StepUniform::NO_MAP {
            place.map_at += maps_at;
        }
    }
    x.extend(maps);
    Layout {
        x,
        t,
        rows: rows_in,
        places,
    }
}
