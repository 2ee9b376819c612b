//! A progress bar for training loops that never fails and stays silent
//! where nobody watches.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::fmt;
use std::io::{IsTerminal, Write as _};

const TEMPLATE: &str = "{prefix} [{bar:30}] {pos}/{len} {msg} {speed} eta {eta}";

/// A terminal progress bar (on stderr) over `total` steps showing the
/// epoch, the latest loss and the speed in steps per second.
///
/// It is hidden, and every method a cheap no-op, when `quiet` is asked for
/// or when stderr is not a terminal (logs, CI, tests). Nothing here returns
/// an error or panics.
///
/// ```
/// use ferrograd_nn::train::Progress;
/// let mut bar = Progress::new(100, true); // quiet
/// bar.set_epoch(1, Some(10));
/// for _ in 0..100 {
///     bar.set_loss(0.5);
///     bar.inc(1);
/// }
/// bar.finish();
/// assert_eq!(bar.position(), 100);
/// ```
#[derive(Debug)]
pub struct Progress {
    bar: ProgressBar,
    visible: bool,
    asked_quiet: bool,
    loss: Option<f64>,
}

impl Progress {
    /// A bar over `total` steps; hidden if `quiet` or stderr is not a
    /// terminal.
    pub fn new(total: u64, quiet: bool) -> Progress {
        let visible = !quiet && std::io::stderr().is_terminal();
        let target = if visible {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(total), target);
        let style = ProgressStyle::with_template(TEMPLATE)
            .map(|s| {
                s.progress_chars("=> ").with_key(
                    "speed",
                    |state: &ProgressState, w: &mut dyn fmt::Write| {
                        let _ = write!(w, "{:.1} steps/s", state.per_sec());
                    },
                )
            })
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        Progress {
            bar,
            visible,
            asked_quiet: quiet,
            loss: None,
        }
    }

    /// Whether the bar is hidden.
    pub fn is_hidden(&self) -> bool {
        !self.visible
    }

    /// Shows `epoch` (and `of` epochs, if known) and restarts the count for
    /// the new epoch.
    pub fn set_epoch(&mut self, epoch: u64, of: Option<u64>) {
        if !self.visible {
            self.bar.set_position(0);
            return;
        }
        let prefix = match of {
            Some(n) => format!("epoch {epoch}/{n}"),
            None => format!("epoch {epoch}"),
        };
        self.bar.set_prefix(prefix);
        self.bar.reset();
    }

    /// Shows `loss` as the latest loss.
    pub fn set_loss(&mut self, loss: f64) {
        self.loss = Some(loss);
        if self.visible {
            self.bar.set_message(format!("loss {loss:.4}"));
        }
    }

    /// The latest loss given to [`Progress::set_loss`].
    pub fn loss(&self) -> Option<f64> {
        self.loss
    }

    /// Advances by `steps`.
    pub fn inc(&self, steps: u64) {
        self.bar.inc(steps);
    }

    /// Steps done in the current epoch.
    pub fn position(&self) -> u64 {
        self.bar.position()
    }

    /// Changes the number of steps (for example for a new epoch length).
    pub fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    /// Prints `message` above the bar (or to stderr when the bar is hidden
    /// because stderr is not a terminal; nothing when `quiet` was asked).
    pub fn println(&self, message: &str) {
        if self.visible {
            self.bar.println(message);
        } else if !self.asked_quiet {
            let _ = writeln!(std::io::stderr(), "{message}");
        }
    }

    /// Leaves the bar at its final state.
    pub fn finish(&self) {
        self.bar.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quiet_bar_counts_and_never_fails() {
        let mut p = Progress::new(5, true);
        assert!(p.is_hidden());
        p.set_epoch(2, None);
        p.set_loss(f64::NAN);
        p.inc(3);
        p.set_total(10);
        p.println("hello");
        assert_eq!(p.position(), 3);
        assert!(p.loss().unwrap().is_nan());
        p.set_epoch(3, Some(4));
        assert_eq!(p.position(), 0);
        p.finish();
    }

    #[test]
    fn not_a_terminal_means_hidden() {
        // Test harness output is captured, so stderr is not a terminal here
        // unless run with --nocapture in a terminal.
        let p = Progress::new(5, false);
        assert_eq!(p.is_hidden(), !std::io::stderr().is_terminal());
    }
}
