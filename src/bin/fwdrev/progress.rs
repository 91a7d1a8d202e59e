//! A spinner on stderr for calls that run longer than a second: the library reports no
//! progress of its own, so a watcher thread draws the call's name and the time spent
//! until the call returns. Nothing is drawn when stderr is not a terminal (indicatif's
//! rule), and nothing at all for calls that end within the second.

use indicatif::{ProgressBar, ProgressStyle};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

/// Shows a spinner from one second after [`Progress::start`] until dropped.
pub struct Progress {
    done: Option<Sender<()>>,
    watcher: Option<JoinHandle<()>>,
}

/// How long a call runs before its spinner appears.
const DELAY: Duration = Duration::from_secs(1);

impl Progress {
    /// Watches the call that follows, named `what`.
    pub fn start(what: &str) -> Progress {
        // Quiet (an MPI rank other than 0): nothing to draw.
        if crate::quiet_now() {
            return Progress {
                done: None,
                watcher: None,
            };
        }
        let (done, wait) = mpsc::channel::<()>();
        let what = what.to_string();
        // A thread that cannot start (a tight memory limit) only costs the spinner.
        let watcher = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                if wait.recv_timeout(DELAY) != Err(RecvTimeoutError::Timeout) {
                    return;
                }
                let pb = ProgressBar::new_spinner().with_elapsed(DELAY);
                pb.set_style(
                    ProgressStyle::with_template("{spinner} [{elapsed_precise}] {msg}")
                        .expect("valid template"),
                );
                pb.set_message(what);
                while wait.recv_timeout(Duration::from_millis(100))
                    == Err(RecvTimeoutError::Timeout)
                {
                    pb.tick();
                }
                pb.finish_and_clear();
            })
            .ok();
        Progress {
            done: Some(done),
            watcher,
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// A call that ends at once is not held up by the watcher's second.
    #[test]
    fn a_quick_call_returns_at_once() {
        let start = Instant::now();
        drop(Progress::start("nothing"));
        assert!(start.elapsed() < DELAY / 2, "{:?}", start.elapsed());
    }
}
