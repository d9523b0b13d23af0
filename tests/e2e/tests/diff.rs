//! `DiffLineage` on the demo history, checked against what the other
//! queries say of each model version: the dataset versions upstream of
//! each (Provenance), and the source runs' facts (GetEntity).

use std::collections::BTreeMap;

use async_nats::jetstream;
use lineage_e2e::{Lineaged, NatsServer, entity, label, labels, publish_demo_history};
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use tonic::transport::Channel;

const WS: &str = "credit-lender";

fn model(version: &str) -> v1::EntityRef {
    entity(WS, v1::EntityKind::ModelVersion, "credit-risk", version)
}

/// The dataset versions upstream of a model version, as labels.
async fn upstream_datasets(
    client: &mut LineageServiceClient<Channel>,
    version: &str,
) -> Vec<String> {
    let subgraph = client
        .provenance(v1::TraversalRequest {
            root: Some(model(version)),
            node_kinds: vec![v1::EntityKind::DatasetVersion as i32],
            ..Default::default()
        })
        .await
        .expect("provenance")
        .into_inner();
    labels(subgraph.nodes.iter().skip(1))
}

/// A model version's source run, in full.
async fn source_run(client: &mut LineageServiceClient<Channel>, version: &str) -> v1::RunDetails {
    let trace = client
        .trace_model(v1::TraceModelRequest {
            workspace: WS.into(),
            model: "credit-risk".into(),
            version: version.into(),
            ..Default::default()
        })
        .await
        .expect("trace")
        .into_inner();
    match trace.source_run.and_then(|run| run.details) {
        Some(v1::entity::Details::Run(run)) => run,
        other => panic!("credit-risk@{version} has a source run: {other:?}"),
    }
}

fn differing<T: PartialEq + Clone>(
    a: &BTreeMap<String, T>,
    b: &BTreeMap<String, T>,
) -> Vec<(String, Option<T>, Option<T>)> {
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|key| a.get(*key) != b.get(*key))
        .map(|key| (key.clone(), a.get(key).cloned(), b.get(key).cloned()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diff_of_two_model_versions_agrees_with_their_provenance_and_source_runs() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let published = publish_demo_history(&js).await;
    lineaged.wait_applied(published).await;
    let mut client = lineaged.client().await;

    let diff = client
        .diff_lineage(v1::DiffLineageRequest {
            a: Some(model("5")),
            b: Some(model("7")),
            ..Default::default()
        })
        .await
        .expect("a diff")
        .into_inner();
    assert_eq!(diff.applied_seq, published);
    assert!(!diff.truncated);

    // Datasets: exactly the set differences of the two provenances.
    let (up_a, up_b) = (
        upstream_datasets(&mut client, "5").await,
        upstream_datasets(&mut client, "7").await,
    );
    let added: Vec<String> = up_b.iter().filter(|d| !up_a.contains(d)).cloned().collect();
    let removed: Vec<String> = up_a.iter().filter(|d| !up_b.contains(d)).cloned().collect();
    let ref_labels = |refs: &[v1::EntityRef]| -> Vec<String> {
        let mut labels: Vec<String> = refs
            .iter()
            .map(|r| {
                label(&v1::Entity {
                    r#ref: Some(r.clone()),
                    ..Default::default()
                })
            })
            .collect();
        labels.sort();
        labels
    };
    assert_eq!(ref_labels(&diff.datasets_added), added);
    assert_eq!(ref_labels(&diff.datasets_removed), removed);
    assert_eq!(diff.datasets_unchanged as usize, up_b.len() - added.len());
    assert!(
        !added.is_empty() || !removed.is_empty(),
        "the demo's versions 5 and 7 were trained on different data"
    );

    // Source runs: their parameters and latest metrics, as GetEntity has them.
    let (run_a, run_b) = (
        source_run(&mut client, "5").await,
        source_run(&mut client, "7").await,
    );
    let params: Vec<_> = diff
        .params
        .iter()
        .map(|c| (c.key.clone(), c.a.clone(), c.b.clone()))
        .collect();
    assert_eq!(params, differing(&run_a.params, &run_b.params));
    let latest = |run: &v1::RunDetails| -> BTreeMap<String, u64> {
        run.latest_metrics
            .iter()
            .map(|m| (m.key.clone(), m.value.to_bits()))
            .collect()
    };
    let metrics: Vec<_> = diff
        .metrics
        .iter()
        .map(|c| (c.key.clone(), c.a.map(f64::to_bits), c.b.map(f64::to_bits)))
        .collect();
    assert_eq!(metrics, differing(&latest(&run_a), &latest(&run_b)));
    match &diff.code_version {
        None => assert_eq!(run_a.code_version, run_b.code_version),
        Some(change) => {
            assert_eq!(change.a.as_deref(), Some(run_a.code_version.as_str()));
            assert_eq!(change.b.as_deref(), Some(run_b.code_version.as_str()));
        }
    }
    let environment = |run: &v1::RunDetails| {
        run.environment
            .as_ref()
            .map(|e| format!("env:{}@{}", e.name, e.version))
    };
    match &diff.environment {
        None => assert_eq!(environment(&run_a), environment(&run_b)),
        Some(change) => {
            let side = |r: &Option<v1::EntityRef>| {
                r.as_ref().map(|r| {
                    label(&v1::Entity {
                        r#ref: Some(r.clone()),
                        ..Default::default()
                    })
                })
            };
            assert_eq!(side(&change.a), environment(&run_a));
            assert_eq!(side(&change.b), environment(&run_b));
        }
    }

    // A version against itself: nothing differs.
    let same = client
        .diff_lineage(v1::DiffLineageRequest {
            a: Some(model("7")),
            b: Some(model("7")),
            ..Default::default()
        })
        .await
        .expect("a diff")
        .into_inner();
    assert!(same.datasets_added.is_empty() && same.datasets_removed.is_empty());
    assert!(same.params.is_empty() && same.metrics.is_empty());
    assert!(same.code_version.is_none() && same.environment.is_none() && same.compute.is_none());

    // Only model versions; unknown ones are NOT_FOUND.
    let not_a_model = client
        .diff_lineage(v1::DiffLineageRequest {
            a: Some(model("6")),
            b: Some(entity(
                WS,
                v1::EntityKind::DatasetVersion,
                "applications",
                "3",
            )),
            ..Default::default()
        })
        .await
        .expect_err("a dataset is not a model version");
    assert_eq!(not_a_model.code(), tonic::Code::InvalidArgument);
    assert!(
        not_a_model.message().starts_with("b.kind:"),
        "{not_a_model:?}"
    );
    let unknown = client
        .diff_lineage(v1::DiffLineageRequest {
            a: Some(model("6")),
            b: Some(model("999")),
            ..Default::default()
        })
        .await
        .expect_err("no such version");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    lineaged.stop().await;
}
