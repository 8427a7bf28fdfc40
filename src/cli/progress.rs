//! Feedback while training runs: a progress bar on a terminal, plain lines otherwise, nothing
//! with `--quiet`. Everything goes to stderr, so stdout stays the report (or JSON).

use gpumlp::EpochReport;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// How often plain lines are printed: about twenty in a run.
const LINES_PER_RUN: usize = 20;

pub struct Progress {
    bar: Option<ProgressBar>,
    lines: bool,
    every: usize,
}

impl Progress {
    pub fn new(quiet: bool, epochs: usize) -> Progress {
        let terminal = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new(epochs as u64);
            bar.set_style(
                ProgressStyle::with_template("{bar:30} epoch {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            lines: !quiet && !terminal,
            every: epochs.div_ceil(LINES_PER_RUN).max(1),
        }
    }

    pub fn epoch(&mut self, e: &EpochReport<'_>, metric: Option<(&'static str, f64)>) {
        let mut msg = format!("loss {:.4}", e.train_loss);
        if let Some(v) = e.val_loss {
            msg += &format!("  val loss {v:.4}");
        }
        if let Some((name, value)) = metric {
            msg += &format!("  val {name} {value:.4}");
        }
        msg += &format!("  {:.0} samples/s", e.samples_per_sec);
        if let Some(bar) = &self.bar {
            bar.set_position(e.epoch as u64);
            bar.set_message(msg);
        } else if self.lines && (e.epoch.is_multiple_of(self.every) || e.epoch == 1) {
            eprintln!("epoch {}/{}: {msg}", e.epoch, e.epochs);
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
