//! Progress of a sweep, drawn from its driver's events: bars on a terminal (one for the sweep,
//! one per running run, fed from the runs' `metrics.jsonl`), plain lines otherwise.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use saescale_sweep::plan::format_duration;
use saescale_sweep::{Event, Plan, RunId, RunStore};
use tokio::sync::mpsc::UnboundedReceiver;

/// Draws the progress of `plan`'s sweep until the sender of `events` is dropped.
pub async fn show(plan: Plan, store: Arc<RunStore>, mut events: UnboundedReceiver<Event>, fancy: bool) {
    let mut display = Display::new(plan, store, fancy);
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(event) => display.event(event),
                None => break,
            },
            _ = tick.tick(), if fancy => display.refresh_bars(),
        }
    }
    display.overall.finish_and_clear();
}

/// The bars and what they stand for.
struct Display {
    plan: Plan,
    store: Arc<RunStore>,
    fancy: bool,
    multi: MultiProgress,
    overall: ProgressBar,
    run_style: ProgressStyle,
    bars: HashMap<RunId, ProgressBar>,
}

impl Display {
    fn new(plan: Plan, store: Arc<RunStore>, fancy: bool) -> Self {
        let multi = MultiProgress::with_draw_target(if fancy { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() });
        let overall = multi.add(ProgressBar::new(plan.runs.len() as u64));
        overall.set_style(style("{prefix:>8} [{bar:30}] {pos}/{len} runs done  {elapsed_precise}  {msg}"));
        overall.set_prefix("sweep");
        if fancy {
            overall.enable_steady_tick(Duration::from_secs(1));
        }
        let run_style = style("{prefix:>8} [{bar:30}] {pos}/{len} steps  {msg}");
        Display { plan, store, fancy, multi, overall, run_style, bars: HashMap::new() }
    }

    /// A run as the user knows it: id, F and steps (and k, which a sparsity axis varies).
    fn label(&self, id: &RunId) -> String {
        match self.plan.run(id) {
            Some(run) => match run.spec.sae.k {
                Some(k) => format!("{id} F={} k={k} S={}", run.features, run.steps),
                None => format!("{id} F={} S={}", run.features, run.steps),
            },
            None => id.to_string(),
        }
    }

    /// A line above the bars (or on its own without them).
    fn say(&self, line: String) {
        if self.fancy {
            self.multi.suspend(|| eprintln!("{line}"));
        } else {
            eprintln!("{line}");
        }
    }

    fn remove_bar(&mut self, id: &RunId) {
        if let Some(bar) = self.bars.remove(id) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Reconciled { total, done, failed, to_run } => {
                self.overall.set_position(done as u64);
                self.say(format!("{total} runs: {done} done, {failed} failed earlier, {to_run} to run"));
            }
            Event::Started { id, attempt, placement } => {
                let steps = self.plan.run(&id).map_or(0, |r| r.steps);
                let bar = self.multi.add(ProgressBar::new(steps));
                bar.set_style(self.run_style.clone());
                bar.set_prefix(id.as_str()[..8].to_string());
                self.bars.insert(id.clone(), bar);
                let again = if attempt > 1 { format!(" (attempt {attempt})") } else { String::new() };
                if !self.fancy {
                    self.say(format!("start   {}{again} on {}", self.label(&id), placement.device));
                }
            }
            Event::Done { id, seconds } => {
                self.overall.inc(1);
                self.remove_bar(&id);
                let loss = self.store.final_metrics(&id).ok().flatten().and_then(|m| m.loss);
                let loss = loss.map_or(String::new(), |l| format!(", held-out loss {l:.5}"));
                self.say(format!("done    {} in {}{loss}", self.label(&id), format_duration(seconds)));
            }
            Event::Retrying { id, attempt, reason } => {
                self.remove_bar(&id);
                self.say(format!("retry   {} after attempt {attempt} failed: {reason}", self.label(&id)));
            }
            Event::Failed { id, reason } => {
                self.remove_bar(&id);
                self.say(format!("FAILED  {}: {reason}", self.label(&id)));
            }
            Event::Interrupted { id } => {
                self.remove_bar(&id);
                self.say(format!("stopped {} (checkpointed; resumes next time)", self.label(&id)));
            }
            Event::Submitted { job, runs } => {
                let last = runs.len().saturating_sub(1);
                self.say(format!("submitted {} run(s) as Slurm job array {job} (tasks {job}_0..{job}_{last})", runs.len()));
            }
            Event::Stopping => self.say("stopping: trainers are checkpointing; press Ctrl-C again to kill them".into()),
            Event::Killing => self.say("killing trainers".into()),
        }
    }

    /// Moves each running run's bar to its last logged step.
    fn refresh_bars(&self) {
        for (id, bar) in &self.bars {
            if let Ok(Some(last)) = self.store.last_metrics(id) {
                bar.set_position(last.step);
                let loss = last.loss.map_or(String::new(), |l| format!("loss {l:.4}"));
                let rate = last.tokens_per_s.map_or(String::new(), |t| format!("  {t:.0} tok/s"));
                bar.set_message(format!("{loss}{rate}"));
            }
        }
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ")
}
