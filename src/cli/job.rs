//! The Ctrl-C handling that stops a run at the next step (the run itself, what its
//! checkpoint remembers and how it resumes, is the library's `gpumlp::job`).

use std::sync::atomic::{AtomicBool, Ordering};

/// Set by Ctrl-C: the trainer finishes the steps under way and the run is saved.
static STOP: AtomicBool = AtomicBool::new(false);

/// Makes the first Ctrl-C ask the run to stop; a second one exits at once (the last
/// checkpoint on disk stays whole: every write is atomic).
pub fn install_ctrl_c() {
    let installed = ctrlc::set_handler(|| {
        if STOP.swap(true, Ordering::SeqCst) {
            eprintln!("\nstopping at once; the last checkpoint written is intact");
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
