//! Restarts, redeliveries and a late broker: nothing lost, nothing applied
//! twice, the same answers and the same state digest.

use std::time::Duration;

use async_nats::jetstream;
use lineage_e2e::events::{credit_story, event, run_started};
use lineage_e2e::{Lineaged, NatsServer, entity, free_port, labels, publish, publish_with_msg_id};
use lineage_proto::v1;

async fn impact_labels(lineaged: &Lineaged) -> Vec<String> {
    let impact = lineaged
        .client()
        .await
        .impact(v1::TraversalRequest {
            root: Some(entity(
                "lender",
                v1::EntityKind::DatasetVersion,
                "applications",
                "3",
            )),
            ..Default::default()
        })
        .await
        .expect("impact")
        .into_inner();
    labels(&impact.nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_gives_the_same_answers_and_digest_and_applies_nothing_twice() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let story = credit_story();
    let total = story.len() as u64;

    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    for event in &story {
        publish(&js, event).await;
    }
    lineaged.wait_applied(total).await;
    let before = lineaged.status_with_digest().await;
    let answers_before = impact_labels(&lineaged).await;
    assert!(!before.state_digest.is_empty());
    lineaged.stop().await;

    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    lineaged.wait_applied(total).await;
    let after = lineaged.status_with_digest().await;
    assert_eq!(after.applied_seq, before.applied_seq);
    assert_eq!(after.head_hash, before.head_hash);
    assert_eq!(after.state_digest, before.state_digest);
    assert_eq!(impact_labels(&lineaged).await, answers_before);

    // The whole story again under new message ids (past JetStream's own
    // duplicate window): every event is recognised, none applied again.
    for event in &story {
        publish_with_msg_id(&js, event, &format!("again-{}", event.event_id)).await;
    }
    let status = lineaged
        .wait_status("the repeats are acknowledged", |s| s.duplicates >= total)
        .await;
    assert_eq!(status.applied_seq, total);
    assert_eq!(status.dead_lettered, 0);
    assert_eq!(
        lineaged.status_with_digest().await.state_digest,
        before.state_digest
    );
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_redelivery_of_the_stream_applies_nothing_twice() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let story = credit_story();
    let total = story.len() as u64;
    for event in &story {
        publish(&js, event).await;
    }
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    lineaged.wait_applied(total).await;
    let digest = lineaged.status_with_digest().await.state_digest;
    lineaged.stop().await;

    // A new durable consumer on the same log: JetStream delivers every
    // message again, as it would after losing the consumer's state.
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.consumer = "lineaged-replacement".into();
    })
    .await;
    let status = lineaged
        .wait_status("every message redelivered", |s| s.duplicates >= total)
        .await;
    assert_eq!(status.applied_seq, total);
    assert_eq!(lineaged.status_with_digest().await.state_digest, digest);
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lineaged_started_before_nats_serves_and_catches_up() {
    let port = free_port();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&format!("nats://127.0.0.1:{port}"), data.path(), |_| {}).await;

    // Without a broker the service still answers from its (empty) log.
    let status = lineaged
        .wait_status("ready without nats", |s| s.ready)
        .await;
    assert!(!status.ingest_connected);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let nats = NatsServer::start_on(port);
    let js = jetstream::new(nats.client().await);
    // lineaged creates the stream once it reaches the broker.
    lineage_e2e::wait_for("the events stream", || async {
        js.get_stream("LINEAGE_EVENTS").await.ok()
    })
    .await;
    for event in credit_story() {
        publish(&js, &event).await;
    }
    let status = lineaged.wait_applied(credit_story().len() as u64).await;
    assert!(status.ingest_connected);
    assert!(status.ingest_error.is_empty(), "{status:?}");
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_nothing_and_queries_keep_working() {
    let mut nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    {
        let js = jetstream::new(nats.client().await);
        lineage_e2e::ensure_events_stream(&js).await;
        for n in 0..20 {
            publish(
                &js,
                &event(
                    &format!("before-{n}"),
                    "w",
                    n,
                    run_started(&format!("a{n}"), "", &[]),
                ),
            )
            .await;
        }
    }
    lineaged.wait_applied(20).await;

    nats.stop();
    // Queries are answered while the broker is away.
    let status = lineaged
        .wait_status("the outage noticed", |s| !s.ingest_connected)
        .await;
    assert_eq!(status.applied_seq, 20);
    let run = lineaged
        .client()
        .await
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity("w", v1::EntityKind::Run, "a7", "")),
            ..Default::default()
        })
        .await;
    assert!(run.is_ok());

    nats.restart();
    let js = jetstream::new(nats.client().await);
    for n in 0..20 {
        publish(
            &js,
            &event(
                &format!("after-{n}"),
                "w",
                100 + n,
                run_started(&format!("b{n}"), "", &[]),
            ),
        )
        .await;
    }
    let status = lineaged.wait_applied(40).await;
    assert_eq!(status.applied_seq, 40);
    assert_eq!(status.dead_lettered, 0);
    lineaged.stop().await;
}

/// The snapshot files of a data directory, oldest first.
fn snapshot_files(data_dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(data_dir.join("graph-snapshots"))
        .map(|entries| entries.map(|entry| entry.expect("entry").path()).collect())
        .unwrap_or_default();
    files.retain(|path| path.extension().is_some_and(|ext| ext == "bin"));
    files.sort();
    files
}

/// What lineaged would restore from `data_dir` at start.
fn restore(data_dir: &std::path::Path) -> lineage_server::snapshot::Restored {
    let log = lineage_log::Log::open(data_dir, lineage_log::LogOptions::default()).expect("log");
    let snapshots = lineage_server::snapshot::SnapshotStore::new(data_dir);
    lineage_server::snapshot::restore(&log.reader(), &snapshots).expect("restore")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_start_from_a_snapshot_and_never_from_a_wrong_one() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let story = credit_story();
    let total = story.len() as u64;
    let half = story.len() / 2;

    // Periodic snapshots every 5 records while ingesting, one at shutdown.
    let every_five = |config: &mut lineage_server::config::Config| config.snapshot_every = 5;
    let lineaged = Lineaged::start(&nats.url(), data.path(), every_five).await;
    for event in &story[..half] {
        publish(&js, event).await;
    }
    lineaged.wait_applied(half as u64).await;
    for event in &story[half..] {
        publish(&js, event).await;
    }
    lineaged.wait_applied(total).await;
    let digest = lineaged.status_with_digest().await.state_digest;
    lineaged.stop().await;
    let files = snapshot_files(data.path());
    assert_eq!(files.len(), 2, "the newest two are kept: {files:?}");

    // The restart replays nothing: the shutdown snapshot is at the head.
    let restored = restore(data.path());
    assert_eq!(restored.snapshot_seq, Some(total));
    assert_eq!(restored.replayed, 0);
    assert_eq!(hex(restored.graph.state_digest()), digest);

    // A damaged newest snapshot is passed over for the one before it.
    let newest = files.last().expect("a snapshot");
    let mut bytes = std::fs::read(newest).expect("read");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(newest, &bytes).expect("damage");
    let restored = restore(data.path());
    let older = restored.snapshot_seq.expect("the older snapshot is used");
    assert!(older < total);
    assert_eq!(restored.replayed, total - older);
    assert_eq!(hex(restored.graph.state_digest()), digest);

    // Snapshots of another log (same events, other recorded times, so other
    // hashes) are refused: a full replay, with the same answer.
    let other = tempfile::tempdir().expect("other data dir");
    let lineaged = Lineaged::start(&nats.url(), other.path(), |config| {
        config.consumer = "another-instance".into();
    })
    .await;
    lineaged.wait_applied(total).await;
    lineaged.stop().await;
    for file in snapshot_files(data.path()) {
        std::fs::remove_file(file).expect("remove");
    }
    let target = data.path().join("graph-snapshots");
    for file in snapshot_files(other.path()) {
        std::fs::copy(&file, target.join(file.file_name().expect("name"))).expect("copy");
    }
    let restored = restore(data.path());
    assert_eq!(restored.snapshot_seq, None);
    assert_eq!(restored.replayed, total);
    assert_eq!(hex(restored.graph.state_digest()), digest);

    // And lineaged itself starts on it and answers as before.
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    lineaged.wait_applied(total).await;
    assert_eq!(lineaged.status_with_digest().await.state_digest, digest);
    lineaged.stop().await;
}

fn hex(bytes: [u8; 32]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}
