//! Progress of one training run: a bar on a terminal, plain log lines otherwise.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};
use saescale_sae::Observer;
use saescale_spec::StepMetrics;

/// Shows a training run's progress on stderr.
pub struct TrainProgress {
    label: String,
    bar: Option<ProgressBar>,
    quiet: bool,
}

impl TrainProgress {
    /// A progress display; a bar when stderr is a terminal and not `quiet`.
    pub fn new(label: String, quiet: bool) -> Self {
        TrainProgress { label, bar: None, quiet }
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Observer for TrainProgress {
    fn started(&mut self, step: u64, total: u64) {
        if self.quiet {
            return;
        }
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(total).with_position(step);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} steps {msg} ({eta})")
                    .expect("static template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(self.label.clone());
            self.bar = Some(bar);
        } else if step > 0 {
            eprintln!("{}: resuming at step {step} of {total}", self.label);
        } else {
            eprintln!("{}: training {total} steps", self.label);
        }
    }

    fn stepped(&mut self, step: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(step);
        }
    }

    fn logged(&mut self, m: &StepMetrics) {
        // The trainer fills every field; a missing one would print as NaN.
        let value = |v: Option<f64>| v.unwrap_or(f64::NAN);
        let line = format!(
            "loss {:.5} fvu {:.4} l0 {:.1} dead {:.1}% {:.0} tok/s",
            value(m.loss),
            value(m.fvu),
            value(m.l0),
            100.0 * value(m.dead_fraction),
            value(m.tokens_per_s)
        );
        match &self.bar {
            Some(bar) => bar.set_message(line),
            None if !self.quiet => eprintln!("{}: step {} {line}", self.label, m.step),
            None => {}
        }
    }

    fn evaluating(&mut self) {
        match &self.bar {
            Some(bar) => bar.set_message("evaluating on held-out data"),
            None if !self.quiet => eprintln!("{}: evaluating on held-out data", self.label),
            None => {}
        }
    }
}
