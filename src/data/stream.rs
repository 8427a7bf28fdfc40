//! A file's training rows epoch after epoch, for a file larger than memory: each epoch reads
//! the file's chunks in a seeded order of its own (a CSV file's chunks one by one, a Parquet
//! file's by row group, each group's slices in order), encodes their training rows and passes
//! them through a seeded [`ShuffleBuffer`], so no more than a chunk, the buffer and the rows
//! asked for are held at once. The validation rows (held out by row number, see
//! [`held_out`]) are never trained on; a bounded, seeded sample of them is kept in memory to
//! validate each epoch ([`FileRows::samples`]).

use super::chunks::{ChunkReader, ChunkStart, Chunks};
use super::prep::census::mix64;
use super::prep::streamed::{held_out, Encoded, FirstPass, Plan, Source};
use super::prep::{Preprocessor, TargetScale, Task};
use super::shuffle_buffer::ShuffleBuffer;
use super::Dataset;
use crate::error::{Error, Location, Result};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

/// Rows that arrive in order, epoch after epoch: what a trainer streams through its window
/// when the data does not fit in memory. Every epoch yields [`RowStream::rows`] rows.
pub trait RowStream {
    /// Rows each epoch yields.
    fn rows(&self) -> usize;
    /// Inputs per row.
    fn features(&self) -> usize;
    /// Targets per row (each row also carries its weight, as [`Dataset::targets`] does).
    fn outputs(&self) -> usize;
    /// Starts epoch `epoch` (from 0) from its first row. The same epoch always yields the
    /// same rows in the same order.
    fn start_epoch(&mut self, epoch: u64) -> Result<()>;
    /// Appends the epoch's next `n` rows: inputs to `x` (n, features), targets and weight to
    /// `t` (n, outputs + 1). An error if the epoch has fewer rows left.
    fn next_rows(&mut self, n: usize, x: &mut Vec<f32>, t: &mut Vec<f32>) -> Result<()>;
}

/// Which rows of a file validate: a `fraction`, by a hash of the row's number and `seed`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Split {
    /// Seeds the hash.
    pub seed: u64,
    /// The share held out, in [0, 1).
    pub fraction: f64,
}

impl Split {
    /// Whether row `row` of the file trains.
    pub fn is_train(&self, row: u64) -> bool {
        !held_out(self.seed, row, self.fraction)
    }
}

/// How a file is streamed: how much a chunk parses to, the shuffle buffer's rows, and the
/// seed of the chunk orders and buffers.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Streaming {
    /// Parsed bytes a chunk holds.
    pub chunk_bytes: u64,
    /// Rows the shuffle buffer holds.
    pub buffer_rows: usize,
    /// Seeds each epoch's chunk order and buffer.
    pub seed: u64,
}

/// A file's training rows, encoded and shuffled epoch after epoch (see the module).
pub struct FileRows {
    reader: ChunkReader,
    path: PathBuf,
    starts: Vec<ChunkStart>,
    /// The runs of chunks an epoch's order moves as one: each CSV chunk, each Parquet row
    /// group's slices.
    units: Vec<std::ops::Range<usize>>,
    plan: Plan,
    prep: Preprocessor,
    scale: Option<TargetScale>,
    class_weights: Option<Vec<f32>>,
    split: Split,
    streaming: Streaming,
    /// The epoch under way: its chunk order, the next chunk in it, the buffer, and rows
    /// ready to leave (those before `taken` have left).
    order: Vec<usize>,
    next_chunk: usize,
    buffer: ShuffleBuffer,
    ready: Encoded,
    taken: usize,
}

impl FileRows {
    /// Reads `source` twice (the statistics, see [`super::prep::streamed`]) and learns where
    /// its chunks start; the rows `split` keeps train, weighted by class where `balanced`.
    pub fn open(
        source: &Source<'_>,
        split: Split,
        balanced: bool,
        streaming: Streaming,
    ) -> Result<FileRows> {
        let path = source.path;
        let mut chunks = Chunks::open(path, source.chunk_bytes)?;
        let name = path.display().to_string();
        let columns = chunks.columns().to_vec();
        let mut first =
            FirstPass::new(&name, &columns, source.target, source.weight, source.budget)?;
        for chunk in chunks.by_ref() {
            first.add(&chunk?)?;
        }
        let starts = chunks.starts(path, source.chunk_bytes)?;
        let plan = first.finish(source.task, source.missing)?;
        let mut second = plan.second_pass(source.budget, source.seed);
        let is_train = |row| split.is_train(row);
        for chunk in Chunks::open(path, source.chunk_bytes)? {
            second.add(&chunk?, &is_train)?;
        }
        let (plan, prep, scale) = second.finish()?;
        let class_weights =
            (balanced && plan.task != Task::Regression).then(|| plan.balanced_weights());
        let outputs = plan.outputs();
        let width = prep.width();
        let mut units: Vec<std::ops::Range<usize>> = Vec::new();
        for (i, start) in starts.iter().enumerate() {
            match units.last_mut() {
                Some(unit)
                    if start.row_group().is_some()
                        && start.row_group() == starts[unit.start].row_group() =>
                {
                    unit.end = i + 1
                }
                _ => units.push(i..i + 1),
            }
        }
        Ok(FileRows {
            reader: ChunkReader::new(path, &columns, source.chunk_bytes),
            path: path.to_path_buf(),
            starts,
            units,
            plan,
            prep,
            scale,
            class_weights,
            split,
            streaming: Streaming {
                chunk_bytes: source.chunk_bytes,
                ..streaming
            },
            order: Vec::new(),
            next_chunk: 0,
            buffer: ShuffleBuffer::new(streaming.buffer_rows, width, outputs, streaming.seed),
            ready: Encoded::default(),
            taken: 0,
        })
    }

    /// What the first pass decided (task, classes, rows) and the second counted.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The preprocessing fitted on the training rows.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.prep
    }

    /// The regression target's scale.
    pub fn scale(&self) -> Option<TargetScale> {
        self.scale
    }

    /// The class weights, where balanced.
    pub fn class_weights(&self) -> Option<&[f32]> {
        self.class_weights.as_deref()
    }

    /// Sets the shuffle buffer's rows (from the next epoch on).
    pub fn set_buffer_rows(&mut self, rows: usize) {
        self.streaming.buffer_rows = rows.max(1);
    }

    /// Chunks an epoch reads.
    pub fn chunks(&self) -> usize {
        self.starts.len()
    }

    /// Chunk `i` of the file, its rows encoded and split into (training, held-out), weighted
    /// by class (as the in-memory run weighs both).
    fn encode(&mut self, i: usize) -> Result<(Encoded, Encoded)> {
        let start = &self.starts[i];
        let chunk = self.reader.read(start)?;
        let is_train = |row| self.split.is_train(row);
        let (mut train, mut held) = self
            .plan
            .encode(&self.prep, self.scale, &chunk, start.row, &is_train)?;
        if let Some(weights) = &self.class_weights {
            let outputs = self.plan.outputs();
            for rows in [&mut train, &mut held] {
                for (r, w) in rows.w.iter_mut().enumerate() {
                    *w *= weights[class_of(&rows.y[r * outputs..(r + 1) * outputs])];
                }
            }
        }
        Ok((train, held))
    }

    /// One pass over the file in order, keeping a seeded sample of at most `max_rows`
    /// held-out rows (validation), and, where `with_training` asks, of as many training
    /// rows (to score a run without validation): each in file order, as datasets.
    pub fn samples(
        &mut self,
        max_rows: usize,
        with_training: bool,
    ) -> Result<(Option<Dataset>, Option<Dataset>)> {
        let seed = mix64(self.streaming.seed ^ 0x5eed);
        let mut held = Reservoir::new(max_rows, seed);
        let mut train = Reservoir::new(if with_training { max_rows } else { 0 }, !seed);
        for i in 0..self.starts.len() {
            let (t, h) = self.encode(i)?;
            held.add(&h, self.plan.outputs());
            train.add(&t, self.plan.outputs());
        }
        let outputs = self.plan.outputs();
        let width = self.prep.width();
        Ok((
            held.dataset(width, outputs)?,
            train.dataset(width, outputs)?,
        ))
    }

    /// The error for an epoch that ran out of rows before it should.
    fn short(&self, wanted: usize) -> Error {
        Error::Input {
            at: Location::file(self.path.display().to_string()),
            message: format!("an epoch ended {wanted} rows early; the file changed during the run"),
        }
    }
}

/// The class a row's targets name: its index (binary), or the hot one (several classes).
fn class_of(y: &[f32]) -> usize {
    match y {
        [class] => *class as usize,
        hot => hot.iter().position(|&v| v == 1.0).unwrap_or(0),
    }
}

impl RowStream for FileRows {
    fn rows(&self) -> usize {
        self.plan.train_rows as usize
    }

    fn features(&self) -> usize {
        self.prep.width()
    }

    fn outputs(&self) -> usize {
        self.plan.outputs()
    }

    fn start_epoch(&mut self, epoch: u64) -> Result<()> {
        let seed = mix64(self.streaming.seed ^ epoch.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let mut units = self.units.clone();
        units.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
        self.order = units.into_iter().flatten().collect();
        self.next_chunk = 0;
        let (width, outputs) = (self.prep.width(), self.plan.outputs());
        let rows = self.streaming.buffer_rows;
        self.buffer = ShuffleBuffer::new(rows, width, outputs, mix64(seed));
        self.ready = Encoded::default();
        self.taken = 0;
        Ok(())
    }

    fn next_rows(&mut self, n: usize, x: &mut Vec<f32>, t: &mut Vec<f32>) -> Result<()> {
        let (width, outputs) = (self.prep.width(), self.plan.outputs());
        while self.ready.rows.len() - self.taken < n {
            // Forget the rows that have left before more come.
            self.ready.x.drain(..self.taken * width);
            self.ready.y.drain(..self.taken * outputs);
            self.ready.w.drain(..self.taken);
            self.ready.rows.drain(..self.taken);
            self.taken = 0;
            match self.order.get(self.next_chunk) {
                Some(&i) => {
                    let (train, _) = self.encode(i)?;
                    self.buffer.push(&train, &mut self.ready);
                    self.next_chunk += 1;
                }
                None if !self.buffer.is_empty() => self.buffer.drain(&mut self.ready),
                None => return Err(self.short(n - self.ready.rows.len())),
            }
        }
        for r in self.taken..self.taken + n {
            x.extend_from_slice(&self.ready.x[r * width..(r + 1) * width]);
            t.extend_from_slice(&self.ready.y[r * outputs..(r + 1) * outputs]);
            t.push(self.ready.w[r]);
        }
        self.taken += n;
        Ok(())
    }
}

/// A seeded uniform sample of at most `capacity` rows (Algorithm R), kept in file order.
struct Reservoir {
    capacity: usize,
    seen: u64,
    kept: Encoded,
    rng: ChaCha8Rng,
}

impl Reservoir {
    fn new(capacity: usize, seed: u64) -> Reservoir {
        Reservoir {
            capacity,
            seen: 0,
            kept: Encoded::default(),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Offers each row of `rows` (of `outputs` targets).
    fn add(&mut self, rows: &Encoded, outputs: usize) {
        if self.capacity == 0 {
            return;
        }
        let width = rows.x.len() / rows.rows.len().max(1);
        for r in 0..rows.rows.len() {
            let (x, y) = (
                &rows.x[r * width..(r + 1) * width],
                &rows.y[r * outputs..(r + 1) * outputs],
            );
            self.seen += 1;
            let kept = &mut self.kept;
            if kept.rows.len() < self.capacity {
                kept.x.extend_from_slice(x);
                kept.y.extend_from_slice(y);
                kept.w.push(rows.w[r]);
                kept.rows.push(rows.rows[r]);
                continue;
            }
            let j = self.rng.random_range(0..self.seen) as usize;
            if j < kept.rows.len() {
                kept.x[j * width..(j + 1) * width].copy_from_slice(x);
                kept.y[j * outputs..(j + 1) * outputs].copy_from_slice(y);
                kept.w[j] = rows.w[r];
                kept.rows[j] = rows.rows[r];
            }
        }
    }

    /// The rows kept, in file order; `None` if none.
    fn dataset(self, width: usize, outputs: usize) -> Result<Option<Dataset>> {
        let kept = self.kept;
        if kept.rows.is_empty() {
            return Ok(None);
        }
        let mut order: Vec<usize> = (0..kept.rows.len()).collect();
        order.sort_by_key(|&i| kept.rows[i]);
        let mut sorted = Encoded::default();
        for i in order {
            sorted
                .x
                .extend_from_slice(&kept.x[i * width..(i + 1) * width]);
            sorted
                .y
                .extend_from_slice(&kept.y[i * outputs..(i + 1) * outputs]);
            sorted.w.push(kept.w[i]);
        }
        Dataset::with_targets(sorted.x, sorted.y, width, outputs, Some(sorted.w)).map(Some)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::prep::census::Budget;
    use crate::data::prep::{label, Labelled, MissingPolicy};
    use crate::data::table::Table;

    /// The rows held out: a fifth, by a hash seeded with 5.
    const SPLIT: Split = Split {
        seed: 5,
        fraction: 0.2,
    };

    /// Numbers (some missing), a category, a quoted field over two lines, CRLF endings, and
    /// a yes/no target with a rare class.
    fn text(rows: usize) -> String {
        let mut text = String::from("x,colour,note,y\r\n");
        for r in 0..rows {
            let x = match r % 13 {
                4 => String::new(),
                _ => format!("{}", (r * 31 % 97) as f64 / 9.0),
            };
            let colour = ["red", "green", "blue", ""][r % 4];
            let note = match r % 10 {
                3 => "\"two\nlines\"".to_string(),
                _ => format!("n{}", r % 5),
            };
            let y = if r % 5 == 0 { "yes" } else { "no" };
            text.push_str(&format!("{x},{colour},{note},{y}\r\n"));
        }
        text
    }

    fn open(
        path: &std::path::Path,
        chunk_bytes: u64,
        missing: MissingPolicy,
        balanced: bool,
    ) -> FileRows {
        let source = Source {
            path,
            target: "y",
            weight: None,
            task: None,
            budget: Budget::EXACT,
            chunk_bytes,
            seed: 5,
            missing,
        };
        let streaming = Streaming {
            chunk_bytes,
            buffer_rows: 40,
            seed: 5,
        };
        FileRows::open(&source, SPLIT, balanced, streaming).unwrap()
    }

    /// An epoch's rows, `piece` at a time: (x, t) per row, as bits.
    fn epoch(rows: &mut FileRows, e: u64, piece: usize) -> Vec<Vec<u32>> {
        rows.start_epoch(e).unwrap();
        let (w, o) = (rows.features(), rows.outputs() + 1);
        let (mut x, mut t) = (Vec::new(), Vec::new());
        let mut left = rows.rows();
        while left > 0 {
            let n = piece.min(left);
            rows.next_rows(n, &mut x, &mut t).unwrap();
            left -= n;
        }
        (0..rows.rows())
            .map(|r| {
                let row = x[r * w..(r + 1) * w].iter().chain(&t[r * o..(r + 1) * o]);
                row.map(|v| v.to_bits()).collect()
            })
            .collect()
    }

    /// `text(rows)` as a file, its table labelled with `missing`, and the labelled positions
    /// [`SPLIT`] trains on; the folder holds the file until it is dropped.
    fn labelled_file(
        rows: usize,
        missing: MissingPolicy,
    ) -> (
        tempfile::TempDir,
        std::path::PathBuf,
        Table,
        Labelled,
        Vec<usize>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rows.csv");
        std::fs::write(&path, text(rows)).unwrap();
        let table = Table::read(&path).unwrap();
        let lab = label(&table, "y", None, missing).unwrap();
        let train: Vec<usize> = (0..lab.rows.len())
            .filter(|&p| SPLIT.is_train(lab.rows[p] as u64))
            .collect();
        (dir, path, table, lab, train)
    }

    #[test]
    fn every_training_row_comes_once_an_epoch_in_an_order_of_the_epoch_s_own() {
        let (_dir, path, table, lab, train) = labelled_file(600, MissingPolicy::Impute);
        for chunk_bytes in [400, 5000, 1 << 20] {
            let mut rows = open(&path, chunk_bytes, MissingPolicy::Impute, false);
            assert_eq!(rows.rows(), train.len());
            // The rows in memory, encoded by the same preprocessing, with weight 1.
            let table_rows: Vec<usize> = train.iter().map(|&p| lab.rows[p]).collect();
            let x = rows.preprocessor().transform(&table, &table_rows).unwrap();
            let y = crate::data::prep::targets(&lab, &train, None);
            let w = rows.features();
            let mut want: Vec<Vec<u32>> = (0..train.len())
                .map(|r| {
                    let row = x[r * w..(r + 1) * w].iter().chain([&y[r], &1.0]);
                    row.map(|v| v.to_bits()).collect()
                })
                .collect();
            want.sort();
            let first = epoch(&mut rows, 0, 7);
            let second = epoch(&mut rows, 1, 64);
            for got in [&first, &second] {
                let mut sorted = got.clone();
                sorted.sort();
                assert_eq!(sorted, want, "chunks of {chunk_bytes} bytes");
            }
            assert_ne!(first, second, "each epoch has an order of its own");
            assert_eq!(epoch(&mut rows, 0, 3), first, "and the same one again");
            if chunk_bytes == 400 {
                assert!(rows.chunks() > 10, "{} chunks", rows.chunks());
            }
            // Past the epoch's end is an error, not rows of the next.
            rows.start_epoch(2).unwrap();
            let err = rows
                .next_rows(rows.rows() + 1, &mut Vec::new(), &mut Vec::new())
                .unwrap_err();
            assert!(err.to_string().contains("1 rows early"), "{err}");
        }
    }

    #[cfg(feature = "parquet")]
    #[test]
    fn a_parquet_file_streams_by_row_group_the_rows_its_csv_streams() {
        use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray};
        use std::sync::Arc;
        let dir = tempfile::tempdir().unwrap();
        let (csv, pq) = (dir.path().join("rows.csv"), dir.path().join("rows.bin"));
        std::fs::write(&csv, text(600)).unwrap();
        let table = Table::read(&csv).unwrap();
        let column = |c: usize| -> ArrayRef {
            let cells = table.rows.iter().map(|row| row[c].as_ref());
            match c {
                0 => Arc::new(Float64Array::from(
                    cells
                        .map(|v| v.and_then(|v| v.number()))
                        .collect::<Vec<_>>(),
                )),
                _ => Arc::new(StringArray::from(
                    cells
                        .map(|v| v.map(|v| v.text().into_owned()))
                        .collect::<Vec<_>>(),
                )),
            }
        };
        let names = ["x", "colour", "note", "y"];
        let batch = RecordBatch::try_from_iter((0..4).map(|c| (names[c], column(c)))).unwrap();
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(250))
            .build();
        let file = std::fs::File::create(&pq).unwrap();
        let mut writer =
            parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        // Slices of a few rows: each row group read in many chunks.
        let mut from_pq = open(&pq, 2000, MissingPolicy::Impute, false);
        let mut from_csv = open(&csv, 2000, MissingPolicy::Impute, false);
        assert!(from_pq.chunks() > 9, "{} chunks", from_pq.chunks());
        assert_eq!(from_pq.units.len(), 3, "an epoch moves whole row groups");
        assert_eq!(from_pq.rows(), from_csv.rows());
        for e in 0..2 {
            let (mut a, mut b) = (epoch(&mut from_pq, e, 9), epoch(&mut from_csv, e, 9));
            a.sort();
            b.sort();
            assert_eq!(a, b, "epoch {e}: the same rows, encoded the same");
        }
    }

    #[test]
    fn the_drop_policy_and_balanced_class_weights_follow_the_in_memory_run() {
        let (_dir, path, _, lab, train) = labelled_file(500, MissingPolicy::Drop);
        let mut rows = open(&path, 700, MissingPolicy::Drop, true);
        assert!(train.len() < 400, "rows with a missing cell are dropped");
        assert_eq!(rows.rows(), train.len());
        // Balanced: rows / (classes × rows of the class).
        let yes = train.iter().filter(|&&p| lab.y[p] == 1.0).count();
        let n = train.len() as f32;
        let want = [
            n / (2.0 * (train.len() - yes) as f32),
            n / (2.0 * yes as f32),
        ];
        assert_eq!(rows.class_weights().unwrap(), &want[..]);
        let rows_seen = epoch(&mut rows, 0, 50);
        let w = rows.features();
        for row in rows_seen {
            let (y, weight) = (f32::from_bits(row[w]), f32::from_bits(row[w + 1]));
            assert_eq!(weight, want[y as usize]);
        }
        // The held-out sample: every held-out row fits, in file order.
        let (val, train_sample) = rows.samples(1000, false).unwrap();
        assert!(train_sample.is_none());
        assert_eq!(val.unwrap().rows(), lab.rows.len() - train.len());
        let (val, train_sample) = rows.samples(10, true).unwrap();
        assert_eq!(
            (val.unwrap().rows(), train_sample.unwrap().rows()),
            (10, 10)
        );
    }
}
