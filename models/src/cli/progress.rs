//! Renders a run's [`Event`]s: one progress bar over the whole run (total
//! steps, position, training loss, speed and ETA) when standard error is a
//! terminal, a line per log period when it is not, nothing with `--quiet`
//! (warnings and errors still print).

use super::output::note;
use crate::run::{Event, Reporter};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use std::io::IsTerminal;

const TEMPLATE: &str = "[{bar:30}] {pos}/{len} steps  {msg}  {speed}  eta {eta}";

/// The command line's [`Reporter`].
pub struct Terminal {
    quiet: bool,
    bar: Option<ProgressBar>,
    total: u64,
}

impl Terminal {
    /// A renderer; `quiet` hides progress.
    pub fn new(quiet: bool) -> Terminal {
        Terminal {
            quiet,
            bar: None,
            total: 0,
        }
    }

    fn say(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| note(text)),
            None => note(text),
        }
    }

    fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        self.clear();
    }
}

fn format_metrics(metrics: &[(String, f64)]) -> String {
    metrics
        .iter()
        .filter(|(n, _)| n != "epoch")
        .map(|(n, v)| format!("{n} {}", short(*v)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn short(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else if v.abs() >= 1e-2 && v.abs() < 1e5 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}

impl Reporter for Terminal {
    fn report(&mut self, event: Event) {
        match event {
            Event::Start {
                total_steps,
                start_step,
            } => {
                self.total = total_steps;
                if start_step > 0 {
                    self.say(&format!("resuming at step {start_step} of {total_steps}"));
                }
                if !self.quiet && std::io::stderr().is_terminal() {
                    let bar = ProgressBar::with_draw_target(
                        Some(total_steps),
                        ProgressDrawTarget::stderr(),
                    );
                    if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
                        bar.set_style(style.progress_chars("=> ").with_key(
                            "speed",
                            |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                                let _ = write!(w, "{:.0} steps/s", s.per_sec());
                            },
                        ));
                    }
                    bar.set_position(start_step);
                    bar.reset_eta();
                    self.bar = Some(bar);
                }
            }
            Event::Step { step, loss } => {
                if let Some(bar) = &self.bar {
                    bar.set_position(step);
                    if step % 10 == 0 || step == self.total {
                        bar.set_message(format!("loss {}", short(loss)));
                    }
                }
            }
            Event::Log { step, metrics } => {
                if self.bar.is_none() && !self.quiet {
                    let epoch = metrics
                        .iter()
                        .find(|(n, _)| n == "epoch")
                        .map(|(_, e)| format!(" (epoch {e})"))
                        .unwrap_or_default();
                    note(format!(
                        "step {step}/{}{epoch}: {}",
                        self.total,
                        format_metrics(&metrics)
                    ));
                }
            }
            Event::Warning(w) => self.say(&format!("warning: {w}")),
            Event::Finished { steps, seconds } => {
                self.clear();
                if !self.quiet {
                    note(format!("finished training: {steps} steps, {seconds:.1} s"));
                }
            }
            Event::Phase(p) => {
                if !self.quiet {
                    self.say(&format!("{p} …"));
                }
            }
        }
    }
}
