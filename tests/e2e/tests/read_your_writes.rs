//! `min_seq` against a real lineaged: a query that names a log sequence
//! the graph has not applied yet waits for it (a producer reads its own
//! writes), answers with the sequence it reflects, and when the sequence
//! does not come within the request's deadline answers DEADLINE_EXCEEDED
//! saying how far the graph got.

use std::time::Duration;

use lineage_e2e::events::credit_story;
use lineage_e2e::{Lineaged, entity, nats_with_events_stream, publish};
use lineage_proto::v1;

fn model_version(version: &str) -> v1::GetEntityRequest {
    v1::GetEntityRequest {
        entity: Some(entity(
            "lender",
            v1::EntityKind::ModelVersion,
            "credit-risk",
            version,
        )),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_waits_for_the_sequence_it_names_up_to_its_deadline() {
    let (nats, js) = nats_with_events_stream().await;
    let data = tempfile::tempdir().expect("data dir");
    let story = credit_story();
    let total = story.len() as u64;
    // The registration of credit-risk@7 comes late in the story.
    let (first, rest) = story.split_at(10);

    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    for event in first {
        publish(&js, event).await;
    }
    lineaged.wait_applied(first.len() as u64).await;

    // Asked for a sequence not applied yet, the query waits; the rest of
    // the story arrives meanwhile, and the answer has all of it.
    let mut waiting_client = lineaged.client().await;
    let waiting = tokio::spawn(async move {
        let mut request = tonic::Request::new(v1::GetEntityRequest {
            min_seq: total,
            ..model_version("7")
        });
        request.set_timeout(Duration::from_secs(20));
        waiting_client.get_entity(request).await
    });
    for event in rest {
        publish(&js, event).await;
    }
    let answer = waiting
        .await
        .expect("the query task")
        .expect("answered once the sequence was applied")
        .into_inner();
    assert!(answer.applied_seq >= total, "{answer:?}");
    assert!(!answer.placeholder, "{answer:?}");

    // A sequence already applied answers at once, and says where it is.
    let mut client = lineaged.client().await;
    let now = client
        .get_entity(v1::GetEntityRequest {
            min_seq: 1,
            ..model_version("7")
        })
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(now.applied_seq, total);
    let trace = client
        .trace_model(v1::TraceModelRequest {
            workspace: "lender".into(),
            model: "credit-risk".into(),
            version: "7".into(),
            min_seq: total,
            ..Default::default()
        })
        .await
        .expect("answered")
        .into_inner();
    assert_eq!(trace.applied_seq, total);

    // A sequence that never comes: DEADLINE_EXCEEDED within the client's
    // deadline, saying how far the graph got.
    let mut request = tonic::Request::new(v1::TraversalRequest {
        root: model_version("7").entity,
        min_seq: total + 1_000,
        ..Default::default()
    });
    request.set_timeout(Duration::from_secs(1));
    let started = std::time::Instant::now();
    let late = client
        .provenance(request)
        .await
        .expect_err("the sequence never comes");
    assert_eq!(late.code(), tonic::Code::DeadlineExceeded, "{late:?}");
    assert!(
        late.message().contains(&format!(
            "min_seq {}: the graph has applied the log up to {total}",
            total + 1_000
        )),
        "{late:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    lineaged.stop().await;
}
