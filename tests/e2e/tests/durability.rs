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
