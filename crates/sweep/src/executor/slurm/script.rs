//! The batch script of one submission: a job array whose task `i` trains the `i`-th run.
//!
//! Each task appends to its run's `stdout.log`: a header line (attempt, Slurm job, node, time,
//! `CUDA_VISIBLE_DEVICES`), the setup preamble's and the trainer's output, and a trailer with
//! the trainer's exit code, which the manager reads when Slurm has forgotten the job.
//!
//! Signals: a cancel, requeue, preemption or the time limit itself sends SIGTERM to every
//! process of the job, the trainer included, which checkpoints and exits 75; the script must
//! then not send a second SIGTERM (the trainer's "exit now"). The warning before the time
//! limit (`--signal=B:USR1@N`) goes to this shell only, which passes it on as SIGTERM.

use std::fmt::Write;
use std::path::Path;

use saescale_spec::layout;

use super::ledger::Submission;
use super::SlurmConfig;
use crate::store::{self, ATTEMPT_HEADER};

/// Prefix of the trailer line the script appends after the trainer exits.
pub const TRAILER: &str = "=== saescale sweep: trainer exited with";

/// Renders the script for `submission` of the sweep in `dir` (an absolute path).
pub fn render(config: &SlurmConfig, dir: &Path, submission: &Submission) -> String {
    let mut s = String::new();
    let last = submission.tasks.len().saturating_sub(1);
    let throttle = config.throttle.map_or(String::new(), |n| format!("%{n}"));
    let logs = dir.join(super::ledger::DIR).join("logs");
    // Writing into a String cannot fail.
    let mut line = |text: String| writeln!(s, "{text}").expect("writing to a String");
    line("#!/bin/bash".into());
    line(format!("#SBATCH --job-name={}", submission.job_name));
    line(format!("#SBATCH --array=0-{last}{throttle}"));
    line(format!("#SBATCH --output={}", logs.join("%A_%a.out").display()));
    line("#SBATCH --open-mode=append".into());
    line(format!("#SBATCH --comment={}", submission.comment()));
    line("#SBATCH --requeue".into());
    line(format!("#SBATCH --cpus-per-task={}", config.cpus_per_run));
    if let Some(limit) = config.time_limit {
        line(format!("#SBATCH --time={}", limit.as_secs().div_ceil(60).max(1)));
    }
    if config.signal_seconds > 0 {
        line(format!("#SBATCH --signal=B:USR1@{}", config.signal_seconds));
    }
    if let Some(partition) = &config.partition {
        line(format!("#SBATCH --partition={partition}"));
    }
    if let Some(account) = &config.account {
        line(format!("#SBATCH --account={account}"));
    }
    if config.gpus_per_run > 0 {
        line(format!("#SBATCH --gres=gpu:{}", config.gpus_per_run));
    }
    if let Some(mem) = &config.mem {
        line(format!("#SBATCH --mem={mem}"));
    }
    for option in &config.sbatch {
        line(format!("#SBATCH {option}"));
    }
    line(String::new());
    line(format!("# Written by saescale for the sweep in {}: task i of this array trains runs[i].", dir.display()));
    line("set -u".into());
    line(format!("runs=({})", submission.tasks.iter().map(|t| t.run.as_str()).collect::<Vec<_>>().join(" ")));
    line(format!("attempts=({})", submission.tasks.iter().map(|t| t.attempt.to_string()).collect::<Vec<_>>().join(" ")));
    line("task=$SLURM_ARRAY_TASK_ID".into());
    line(format!("dir={}/\"${{runs[$task]}}\"", quote(&dir.join(store::layout::RUNS).display().to_string())));
    line("job=${SLURM_ARRAY_JOB_ID}_$task".into());
    line(format!("exec >>\"$dir/{}\" 2>&1", layout::STDOUT));
    line(format!(
        "echo \"{ATTEMPT_HEADER} ${{attempts[$task]}} as Slurm job $job (restart ${{SLURM_RESTART_COUNT:-0}}) on $(hostname) \
         at $(date -u +%Y-%m-%dT%H:%M:%SZ), CUDA_VISIBLE_DEVICES=${{CUDA_VISIBLE_DEVICES-unset}}\""
    ));
    if let Some(setup) = &config.setup {
        line("# setup from [executor.slurm]".into());
        line(setup.trim_end().to_string());
    }
    let device = if config.cuda { "cuda".to_string() } else { format!("cpu --threads {}", config.cpus_per_run) };
    line(format!(
        "{} train \"$dir/{}\" --out \"$dir\" --device {device} &",
        quote(&config.program.display().to_string()),
        layout::RUN_FILE
    ));
    line("trainer=$!".into());
    line("signalled=0".into());
    line("trap 'signalled=1; kill -TERM \"$trainer\" 2>/dev/null' USR1".into());
    line("trap 'signalled=1' TERM INT".into());
    line("# A trapped signal interrupts wait; wait again for the trainer's own exit status.".into());
    line("while :; do signalled=0; wait \"$trainer\"; code=$?; [ \"$signalled\" = 1 ] || break; done".into());
    line(format!("echo \"{TRAILER} $code (Slurm job $job)\""));
    line("exit \"$code\"".into());
    s
}

/// Quotes a string for bash: `'…'` with every `'` written as `'\''`.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The trainer's exit code for Slurm job `job` (`ARRAY_TASK`), from the trailer of the
/// attempt section of `log` that this job started; `None` when that attempt did not get
/// to write one.
pub fn trailer_exit_code(log: &str, job: &str) -> Option<i32> {
    let start = log.rfind(&format!("as Slurm job {job} "))?;
    let suffix = format!(" (Slurm job {job})");
    log[start..].lines().rev().find_map(|l| l.strip_prefix(TRAILER)?.strip_suffix(&suffix)?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use super::*;
    use crate::executor::slurm::ledger::Task;
    use crate::RunId;

    fn config() -> SlurmConfig {
        SlurmConfig {
            program: PathBuf::from("/opt/sae scale/bin/saescale"),
            job_name: "saescale-demo".into(),
            partition: Some("gpu".into()),
            account: None,
            time_limit: Some(Duration::from_secs(90)),
            signal_seconds: 120,
            gpus_per_run: 1,
            cuda: true,
            cpus_per_run: 4,
            mem: Some("16G".into()),
            throttle: Some(2),
            sbatch: vec!["--qos=high".into()],
            setup: Some("module load cuda\n".into()),
            poll_min: Duration::from_secs(1),
            poll_max: Duration::from_secs(30),
        }
    }

    fn submission() -> Submission {
        let task = |run: &str, attempt| Task { run: RunId::parse(run).unwrap(), attempt, settled: false, restarts: 0 };
        Submission {
            job_id: None,
            token: "0123abcd".into(),
            job_name: "saescale-demo".into(),
            submitted_at: "2025-01-01T00:00:00Z".into(),
            script: "slurm/submit-0.sh".into(),
            tasks: vec![task("aaaaaaaaaaaa", 1), task("bbbbbbbbbbbb", 2), task("cccccccccccc", 1)],
        }
    }

    #[test]
    fn the_script_sets_the_array_resources_and_signals() {
        let script = render(&config(), Path::new("/sweeps/demo"), &submission());
        for expected in [
            "#SBATCH --array=0-2%2\n",
            "#SBATCH --output=/sweeps/demo/slurm/logs/%A_%a.out\n",
            "#SBATCH --comment=saescale:0123abcd\n",
            "#SBATCH --time=2\n",
            "#SBATCH --signal=B:USR1@120\n",
            "#SBATCH --partition=gpu\n",
            "#SBATCH --gres=gpu:1\n",
            "#SBATCH --cpus-per-task=4\n",
            "#SBATCH --mem=16G\n",
            "#SBATCH --qos=high\n",
            "runs=(aaaaaaaaaaaa bbbbbbbbbbbb cccccccccccc)\n",
            "attempts=(1 2 1)\n",
            "dir='/sweeps/demo/runs'/\"${runs[$task]}\"\n",
            "module load cuda\n",
            "'/opt/sae scale/bin/saescale' train \"$dir/run.toml\" --out \"$dir\" --device cuda &\n",
        ] {
            assert!(script.contains(expected), "missing {expected:?} in\n{script}");
        }
        assert!(!script.contains("--account"));
    }

    #[test]
    fn the_trailer_of_the_right_attempt_gives_the_exit_code() {
        let log = format!(
            "{ATTEMPT_HEADER} 1 as Slurm job 4_0 (restart 0) on n at t, CUDA_VISIBLE_DEVICES=unset\nstep 1\n\
             {TRAILER} 75 (Slurm job 4_0)\n{ATTEMPT_HEADER} 1 as Slurm job 9_1 (restart 0) on n at t, CUDA_VISIBLE_DEVICES=0\nstep 2\n"
        );
        assert_eq!(trailer_exit_code(&log, "4_0"), Some(75));
        assert_eq!(trailer_exit_code(&log, "9_1"), None);
        let done = format!("{log}{TRAILER} 3 (Slurm job 9_1)\n");
        assert_eq!(trailer_exit_code(&done, "9_1"), Some(3));
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
