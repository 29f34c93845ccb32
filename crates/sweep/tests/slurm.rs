//! The Slurm executor's readers against a real Slurm cluster (issue 8): what scontrol and
//! sacct print for ended array tasks is read the same way by both. Skipped (loudly) without a
//! cluster unless SAESCALE_REQUIRE_SLURM=1; see tests/support/slurm.rs.

#[path = "support/slurm.rs"]
mod support;

use std::time::Duration;

use saescale_sweep::executor::slurm::query::{self, Phase, Report, TaskInfo};

fn tasks(report: Report) -> Vec<TaskInfo> {
    match report {
        Report::Tasks(mut tasks) => {
            tasks.sort_by_key(|t| t.task);
            tasks
        }
        Report::Unknown => Vec::new(),
    }
}

#[tokio::test]
async fn scontrol_and_sacct_agree_on_how_array_tasks_ended() {
    if !support::cluster_or_skip("scontrol_and_sacct_agree_on_how_array_tasks_ended") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("%A_%a.out");
    let job = support::sbatch(&[
        "--job-name=saescale-probe",
        "--array=0-2",
        "--output",
        out.to_str().unwrap(),
        "--wrap",
        "case $SLURM_ARRAY_TASK_ID in 0) exit 0 ;; 1) exit 3 ;; *) sleep 60 ;; esac",
    ]);
    let third = format!("{job}_2");
    support::wait_until("task 2 to run", Duration::from_secs(30), || {
        support::scontrol_tasks(&third).iter().any(|t| support::field(t, "JobState") == "RUNNING")
    });
    query::run("scancel", [&third]).await.unwrap();
    let mut from_scontrol = Vec::new();
    for _ in 0..150 {
        from_scontrol = tasks(query::scontrol(&job).await.unwrap());
        if from_scontrol.len() == 3 && from_scontrol.iter().all(|t| t.phase() == Phase::Ended) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let seen: Vec<(u32, &str, Option<i32>)> = from_scontrol.iter().map(|t| (t.task, t.state.as_str(), t.exit_code)).collect();
    assert_eq!(seen[..2], [(0, "COMPLETED", Some(0)), (1, "FAILED", Some(3))], "{from_scontrol:#?}");
    assert_eq!(seen[2].1, "CANCELLED", "{from_scontrol:#?}");
    assert!(from_scontrol.iter().all(|t| t.name == "saescale-probe" && t.node.as_deref() == Some("localhost")));

    // Accounting records arrive asynchronously: wait until every task has its end.
    let mut from_sacct = Vec::new();
    for _ in 0..100 {
        match query::sacct(&job).await.unwrap() {
            None if support::required() => panic!("SAESCALE_REQUIRE_SLURM=1 needs a cluster with accounting (scripts/slurm-local.sh up --dbd)"),
            None => {
                eprintln!("no Slurm accounting here; sacct part skipped");
                return;
            }
            Some(report) => from_sacct = tasks(report),
        }
        if from_sacct.len() == 3 && from_sacct.iter().all(|t| t.phase() == Phase::Ended) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The cancelled task's signal differs: scontrol says `0:15` (its `sleep` died of SIGTERM),
    // sacct `0:0` (Slurm 22.05.8), so only states are compared for it.
    let read = |tasks: &[TaskInfo]| {
        tasks.iter().map(|t| (t.task, t.state.clone(), t.exit_code.filter(|_| t.task < 2), t.name.clone())).collect::<Vec<_>>()
    };
    assert_eq!(read(&from_sacct), read(&from_scontrol), "sacct: {from_sacct:#?}");
}
