//! `--ingest-priority`: the ingest threads are scheduled as configured, and
//! ingest works the same either way.
//!
//! One test in its own binary, because it inspects the threads of this
//! process (where `lineaged` runs), which other tests would add to.

use std::time::Duration;

use async_nats::jetstream;
use lineage_e2e::events::credit_story;
use lineage_e2e::{Lineaged, NatsServer, publish};
use lineage_server::IngestPriority;

/// Linux's `SCHED_IDLE` policy number.
const SCHED_IDLE: u32 = 5;

/// (nice, policy) of every thread of this process named `lineaged-ingest`,
/// from /proc/self/task/*/stat.
fn ingest_threads() -> Vec<(i32, u32)> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let Ok(stat) = std::fs::read_to_string(task.expect("task").path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        // "tid (comm) state ..."; comm may hold spaces, so split at the parentheses.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if &stat[open + 1..close] != "lineaged-ingest" {
            continue;
        }
        // Fields from the state (field 3) on: nice is field 19, policy 41.
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let nice = fields[16].parse().expect("nice");
        let policy = fields[38].parse().expect("policy");
        threads.push((nice, policy));
    }
    threads
}

async fn ingest_with(priority: IngestPriority, nats: &NatsServer) -> Vec<(i32, u32)> {
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.ingest_priority = priority;
        // Each run consumes the whole stream from the start.
        config.consumer = format!("lineaged-{priority:?}").to_lowercase();
    })
    .await;
    let status = lineaged.wait_applied(credit_story().len() as u64).await;
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    let threads = ingest_threads();
    lineaged.stop().await;
    // The runtime's threads end shortly after it is shut down.
    lineage_e2e::wait_within(
        Duration::from_secs(10),
        "the ingest threads gone",
        || async { ingest_threads().is_empty().then_some(()) },
    )
    .await;
    threads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ingest_threads_run_at_the_configured_priority() {
    let nats = NatsServer::start();
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    for event in credit_story() {
        publish(&js, &event).await;
    }

    let low = ingest_with(IngestPriority::Low, &nats).await;
    assert!(!low.is_empty(), "no ingest threads seen");
    assert!(
        low.iter().all(|&(nice, policy)| nice == 10 && policy == 0),
        "low: nice 10 under SCHED_OTHER expected, got {low:?}"
    );

    let idle = ingest_with(IngestPriority::Idle, &nats).await;
    assert!(!idle.is_empty(), "no ingest threads seen");
    assert!(
        idle.iter().all(|&(_, policy)| policy == SCHED_IDLE),
        "idle: SCHED_IDLE expected, got {idle:?}"
    );
}
