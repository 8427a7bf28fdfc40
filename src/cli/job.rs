//! The Ctrl-C handling that stops a run at the next step (the run itself, what its
//! checkpoint remembers and how it resumes, is the library's `gpumlp::job`).

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// Set by Ctrl-C: the trainer finishes the steps under way and the run is saved.
static STOP: AtomicBool = AtomicBool::new(false);

/// Makes the first Ctrl-C ask the run to stop; a second one exits at once, saying what is
/// on disk: `checkpoint` if this run wrote it (every write is atomic, so it is whole), or
/// the checkpoint the run resumed, or that nothing was saved.
pub fn install_ctrl_c(checkpoint: &Path, resumed_from: Option<&Path>) {
    let started = SystemTime::now();
    let checkpoint = checkpoint.to_path_buf();
    let resumed = resumed_from.map(Path::to_path_buf);
    let installed = ctrlc::set_handler(move || {
        if STOP.swap(true, Ordering::SeqCst) {
            let written = std::fs::metadata(&checkpoint)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= started);
            let state = match (written, &resumed) {
                (true, _) => format!(
                    "the last checkpoint this run wrote, {}, is whole",
                    checkpoint.display()
                ),
                (false, Some(from)) => format!(
                    "the checkpoint this run resumed, {}, is unchanged",
                    from.display()
                ),
                (false, None) => "this run saved no checkpoint".to_string(),
            };
            eprintln!("\nstopping at once; {state}");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after the steps under way; saving a checkpoint (Ctrl-C again to quit now)"
        );
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will not save a checkpoint: {e}");
    }
}

/// Whether Ctrl-C was pressed.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Makes the first Ctrl-C ask a search to stop after the candidates under way (its
/// leaderboard so far is then written); a second one exits at once.
pub fn install_ctrl_c_search() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping at once; no model was saved");
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping after the candidates under way; the leaderboard so far follows (Ctrl-C \
             again to quit now)"
        );
    });
    if let Err(e) = installed {
        eprintln!("warning: Ctrl-C will stop the search at once: {e}");
    }
}
