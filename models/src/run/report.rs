//! How a run tells the outside what it is doing. Library code prints
//! nothing: the training driver and the families send [`Event`]s to a
//! [`Reporter`], which the command line renders as a progress bar (or as
//! plain lines when the output is not a terminal) and tests collect.

/// Something a run reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// Training starts (or resumes at `start_step`) towards `total_steps`.
    Start {
        /// Optimizer steps of the whole run.
        total_steps: u64,
        /// Steps already done (0 unless resumed).
        start_step: u64,
    },
    /// One optimizer step finished (or was skipped): the bar moves.
    Step {
        /// Steps done so far.
        step: u64,
        /// The step's training loss (NaN where it was not finite).
        loss: f64,
    },
    /// A log period's metrics, as written to `metrics.jsonl`.
    Log {
        /// Steps done so far.
        step: u64,
        /// The logged values, in order.
        metrics: Vec<(String, f64)>,
    },
    /// Something the user should know that does not stop the run (a skipped
    /// step, early stopping).
    Warning(String),
    /// Training finished; evaluation and plots may follow.
    Finished {
        /// Steps done.
        steps: u64,
        /// Wall time of this process's training, in seconds.
        seconds: f64,
    },
    /// A phase after training ("evaluating the best checkpoint").
    Phase(String),
}

/// Receives a run's [`Event`]s.
pub trait Reporter {
    /// Handles one event; must not fail.
    fn report(&mut self, event: Event);
}

/// Drops every event.
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Reporter for Silent {
    fn report(&mut self, _event: Event) {}
}

/// Keeps every event except [`Event::Step`] (for tests).
#[derive(Clone, Debug, Default)]
pub struct Collect(pub Vec<Event>);

impl Reporter for Collect {
    fn report(&mut self, event: Event) {
        if !matches!(event, Event::Step { .. }) {
            self.0.push(event);
        }
    }
}
