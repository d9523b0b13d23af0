//! The demo history the README loads is valid, applies completely, and tells
//! the stories it promises.

use async_nats::jetstream;
use lineage_e2e::{
    Lineaged, NatsServer, demo_lines, entity, in_production, label, publish_demo_history,
};
use lineage_proto::v1;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_history_loads_and_answers_the_domain_questions() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;

    let lines = demo_lines();
    assert!(lines.len() >= 300, "hundreds of events");
    assert_eq!(publish_demo_history(&js).await, lines.len() as u64);
    let status = lineaged.wait_applied(lines.len() as u64).await;
    assert_eq!(status.applied_seq, lines.len() as u64);
    assert_eq!(status.dead_lettered, 0);

    let mut client = lineaged.client().await;
    let trace = client
        .trace_model(v1::TraceModelRequest {
            workspace: "credit-lender".into(),
            model: "credit-risk".into(),
            version: "7".into(),
            ..Default::default()
        })
        .await
        .expect("trace credit-risk@7")
        .into_inner();
    assert_eq!(
        label(&trace.source_run.expect("source run")),
        "run:cr-sweep-0706-t08"
    );
    let upstream = trace.upstream.expect("upstream");
    let upstream_labels: Vec<String> = upstream.nodes.iter().map(label).collect();
    assert!(upstream_labels.contains(&"dataset:applications-raw@3".to_owned()));

    // Between the flag (2026-10-19) and credit-risk@8's promotion
    // (2026-11-10), credit-risk@7 is what is in production downstream.
    let incident: pbjson_types::Timestamp =
        serde_json::from_str("\"2026-11-01T00:00:00Z\"").expect("a timestamp");
    let impact = client
        .impact(v1::TraversalRequest {
            root: Some(entity(
                "credit-lender",
                v1::EntityKind::DatasetVersion,
                "applications",
                "3",
            )),
            as_of: Some(v1::AsOf {
                point: Some(v1::as_of::Point::OccurredBy(incident)),
            }),
            ..Default::default()
        })
        .await
        .expect("impact of applications@3")
        .into_inner();
    assert_eq!(in_production(&impact.nodes), ["model:credit-risk@7"]);
    let endpoints: Vec<String> = impact
        .nodes
        .iter()
        .map(label)
        .filter(|l| l.starts_with("endpoint:"))
        .collect();
    assert!(
        endpoints.contains(&"endpoint:credit-scoring-eu".to_owned()),
        "{endpoints:?}"
    );

    let claims = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: "insurer-fraud".into(),
            dataset: "claims".into(),
            version: "3".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .expect("runs using claims@3")
        .into_inner();
    assert!(claims.runs.len() >= 20, "the sweep used claims@3");
    lineaged.stop().await;
}
