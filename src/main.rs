//! The `gpumlp` command: train, evaluate, predict and cross-validate from CSV files.

mod cli;

use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

fn main() -> ExitCode {
    let matches = cli::args::Cli::command().get_matches();
    let args = match cli::args::Cli::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    // The training settings the command line gives explicitly: a resumed run checks them
    // against its checkpoint (and ignores the defaults of those not given).
    let given = cli::args::given_settings(&matches);
    match cli::run(args, &given) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e @ gpumlp::Error::Interrupted { .. }) => {
            eprintln!("interrupted: {e}");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
