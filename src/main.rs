//! The `gpumlp` command: train, evaluate, predict and cross-validate from CSV files.

mod cli;

use clap::Parser;
use std::process::ExitCode;

/// Shows the library's warnings (it prints nothing itself) as `warning: ...` lines on stderr.
struct Warnings;

impl log::Log for Warnings {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Warn
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && record.target().starts_with("gpumlp") {
            eprintln!("warning: {}", record.args());
        }
    }

    fn flush(&self) {}
}

static WARNINGS: Warnings = Warnings;

fn main() -> ExitCode {
    // Rust ignores SIGPIPE, so a closed pipe (`gpumlp predict … | head`) would turn the next
    // print into a panic; with the default action the process ends quietly, as `cat` does.
    #[cfg(unix)]
    // SAFETY: setting a signal's disposition to the default, before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if log::set_logger(&WARNINGS).is_ok() {
        log::set_max_level(log::LevelFilter::Warn);
    }
    let args = cli::args::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ (gpumlp::Error::Interrupted { .. } | gpumlp::Error::SearchStopped { .. })) => {
            eprintln!("interrupted: {e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
