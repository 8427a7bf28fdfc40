//! A seeded shuffle buffer: rows streamed from a file larger than memory leave it in a random
//! order while it holds no more than its capacity, the way a streamed epoch shuffles
//! (beside the order of the chunks themselves). A row can leave at most `capacity` rows
//! before or after its place in the stream's order, less often the further it goes.

use super::prep::streamed::Encoded;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Rows in, rows out in a seeded random order; at most `capacity` held.
pub struct ShuffleBuffer {
    held: Encoded,
    x_cols: usize,
    y_cols: usize,
    capacity: usize,
    rng: ChaCha8Rng,
}

impl ShuffleBuffer {
    /// An empty buffer of `capacity` rows of `x_cols` inputs and `y_cols` targets, drawing
    /// with `seed`.
    pub fn new(capacity: usize, x_cols: usize, y_cols: usize, seed: u64) -> ShuffleBuffer {
        ShuffleBuffer {
            held: Encoded::default(),
            x_cols,
            y_cols,
            capacity: capacity.max(1),
            rng: ChaCha8Rng::seed_from_u64(seed),
        }
    }

    /// Rows held.
    pub fn len(&self) -> usize {
        self.held.rows.len()
    }

    /// Whether no row is held.
    pub fn is_empty(&self) -> bool {
        self.held.rows.is_empty()
    }

    /// Takes `rows` in; appends to `out` the rows that leave to make room (a random held row
    /// for each row that comes once the buffer is full).
    pub fn push(&mut self, rows: &Encoded, out: &mut Encoded) {
        for i in 0..rows.rows.len() {
            if self.len() < self.capacity {
                self.copy_in(rows, i, None);
                continue;
            }
            let j = self.rng.random_range(0..self.capacity);
            copy_row(&self.held, j, out, self.x_cols, self.y_cols);
            self.copy_in(rows, i, Some(j));
        }
    }

    /// Appends every held row to `out`, in a random order, leaving the buffer empty.
    pub fn drain(&mut self, out: &mut Encoded) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.random_range(0..=i);
            order.swap(i, j);
        }
        for j in order {
            copy_row(&self.held, j, out, self.x_cols, self.y_cols);
        }
        self.held = Encoded::default();
    }

    /// Row `i` of `rows` into the buffer: at the end, or in place of held row `at`.
    fn copy_in(&mut self, rows: &Encoded, i: usize, at: Option<usize>) {
        let (xc, yc) = (self.x_cols, self.y_cols);
        let (x, y) = (&rows.x[i * xc..(i + 1) * xc], &rows.y[i * yc..(i + 1) * yc]);
        match at {
            None => {
                self.held.x.extend_from_slice(x);
                self.held.y.extend_from_slice(y);
                self.held.w.push(rows.w[i]);
                self.held.rows.push(rows.rows[i]);
            }
            Some(j) => {
                self.held.x[j * xc..(j + 1) * xc].copy_from_slice(x);
                self.held.y[j * yc..(j + 1) * yc].copy_from_slice(y);
                self.held.w[j] = rows.w[i];
                self.held.rows[j] = rows.rows[i];
            }
        }
    }
}

/// Appends row `j` of `from` to `to`.
fn copy_row(from: &Encoded, j: usize, to: &mut Encoded, xc: usize, yc: usize) {
    to.x.extend_from_slice(&from.x[j * xc..(j + 1) * xc]);
    to.y.extend_from_slice(&from.y[j * yc..(j + 1) * yc]);
    to.w.push(from.w[j]);
    to.rows.push(from.rows[j]);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows numbered from `from`: x = (r, -r), y = r / 2, w = r.
    fn rows(from: u64, n: u64) -> Encoded {
        let mut e = Encoded::default();
        for r in from..from + n {
            e.x.extend([r as f32, -(r as f32)]);
            e.y.push(r as f32 / 2.0);
            e.w.push(r as f32);
            e.rows.push(r);
        }
        e
    }

    fn run(capacity: usize, seed: u64) -> Encoded {
        let mut buffer = ShuffleBuffer::new(capacity, 2, 1, seed);
        let mut out = Encoded::default();
        for chunk in 0..10 {
            buffer.push(&rows(chunk * 100, 100), &mut out);
            assert!(buffer.len() <= capacity, "bounded");
        }
        buffer.drain(&mut out);
        assert!(buffer.is_empty());
        out
    }

    #[test]
    fn every_row_leaves_once_whole_in_a_seeded_order_and_the_buffer_stays_bounded() {
        for capacity in [1, 64, 5000] {
            let out = run(capacity, 4);
            let mut seen = out.rows.clone();
            seen.sort_unstable();
            assert_eq!(seen, (0..1000).collect::<Vec<u64>>(), "capacity {capacity}");
            for (i, &r) in out.rows.iter().enumerate() {
                let r = r as f32;
                assert_eq!(
                    (out.x[2 * i], out.x[2 * i + 1], out.y[i], out.w[i]),
                    (r, -r, r / 2.0, r),
                    "a row leaves whole"
                );
            }
            assert_eq!(out, run(capacity, 4), "the same seed, the same order");
        }
        assert_eq!(
            run(1, 4).rows,
            (0..1000).collect::<Vec<u64>>(),
            "1 row: no shuffle"
        );
        assert_ne!(run(64, 4).rows, run(64, 5).rows);
        // A buffer holding everything shuffles the whole stream: rows move far.
        let moved = run(5000, 4)
            .rows
            .iter()
            .enumerate()
            .filter(|&(i, &r)| (i as i64 - r as i64).abs() > 100)
            .count();
        assert!(moved > 500, "{moved} rows moved more than 100 places");
    }
}
