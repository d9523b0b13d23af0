//! DOMAIN.md questions 1-3 asked of a real lineaged over gRPC, after the
//! credit lender's story arrived over real JetStream (half protobuf, half
//! JSON).

use async_nats::jetstream;
use lineage_e2e::events::credit_story;
use lineage_e2e::{
    Lineaged, NatsServer, entity, in_production, label, labels, publish, publish_json,
};
use lineage_proto::v1;
use lineage_proto::v1::EntityKind as K;

const WS: &str = "lender";

async fn stack_with_story() -> (NatsServer, tempfile::TempDir, Lineaged) {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    for (i, event) in credit_story().iter().enumerate() {
        if i % 2 == 0 {
            publish(&js, event).await;
        } else {
            publish_json(&js, event).await;
        }
    }
    let status = lineaged.wait_applied(credit_story().len() as u64).await;
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    (nats, data, lineaged)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_1_which_runs_used_a_dataset() {
    let (_nats, _data, lineaged) = stack_with_story().await;
    let mut client = lineaged.client().await;

    let exact = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "applications".into(),
            version: "3".into(),
            ..Default::default()
        })
        .await
        .expect("runs using applications@3")
        .into_inner();
    assert_eq!(labels(&exact.runs), ["run:trial-2"]);
    assert!(exact.next_page_token.is_empty());

    // Any version, one run per page: old-1 (used @2) then trial-2 (used @3).
    let first = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "applications".into(),
            page_size: 1,
            ..Default::default()
        })
        .await
        .expect("first page")
        .into_inner();
    assert_eq!(labels(&first.runs), ["run:old-1"]);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "applications".into(),
            page_size: 1,
            page_token: first.next_page_token,
            ..Default::default()
        })
        .await
        .expect("second page")
        .into_inner();
    assert_eq!(labels(&second.runs), ["run:trial-2"]);
    assert!(second.next_page_token.is_empty());

    let unknown = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "applications".into(),
            version: "99".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown version");
    assert_eq!(unknown.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_2_where_did_a_model_come_from() {
    let (_nats, _data, lineaged) = stack_with_story().await;
    let mut client = lineaged.client().await;

    let trace = client
        .trace_model(v1::TraceModelRequest {
            workspace: WS.into(),
            model: "credit-risk".into(),
            version: "7".into(),
            ..Default::default()
        })
        .await
        .expect("trace")
        .into_inner();
    let source = trace.source_run.expect("source run");
    assert_eq!(label(&source), "run:trial-1");
    let Some(v1::entity::Details::Run(run)) = &source.details else {
        panic!("run details expected: {source:?}");
    };
    assert_eq!(run.status, v1::RunStatus::Completed as i32);
    assert_eq!(run.params.get("lr").map(String::as_str), Some("0.01"));
    assert_eq!(run.code_version, "9f2c1e7");
    assert_eq!(run.parent_run_id, "sweep-1");
    assert_eq!(run.latest_metrics.len(), 1);
    assert_eq!(run.latest_metrics[0].key, "auc");
    assert_eq!(run.latest_metrics[0].value, 0.81);
    assert_eq!(
        labels(&trace.inputs),
        ["dataset:bureau-scores@2", "dataset:features@3"]
    );
    assert_eq!(
        label(&trace.environment.expect("environment")),
        "env:xgboost@2.0.3"
    );
    assert_eq!(
        label(&trace.compute.expect("compute")),
        "compute:cpu-pool-a"
    );
    let upstream = trace.upstream.expect("upstream");
    assert!(!upstream.truncated);
    assert_eq!(
        labels(&upstream.nodes),
        [
            "artifact:trial-1/model.pkl",
            "compute:cpu-pool-a",
            "dataset:applications-raw@3",
            "dataset:applications@3",
            "dataset:bureau-scores@2",
            "dataset:features@3",
            "env:xgboost@2.0.3",
            "model:credit-risk@7",
            "run:prep-3",
            "run:sweep-1",
            "run:trial-1",
        ]
    );
    // The bureau scores were referenced but never registered.
    let bureau = upstream
        .nodes
        .iter()
        .find(|n| label(n) == "dataset:bureau-scores@2")
        .expect("bureau scores upstream");
    assert!(bureau.placeholder);

    let shallow = client
        .provenance(v1::TraversalRequest {
            root: Some(entity(WS, K::ModelVersion, "credit-risk", "7")),
            max_depth: 1,
            ..Default::default()
        })
        .await
        .expect("provenance")
        .into_inner();
    assert_eq!(
        labels(&shallow.nodes),
        [
            "artifact:trial-1/model.pkl",
            "model:credit-risk@7",
            "run:trial-1"
        ]
    );
    assert!(shallow.truncated, "the walk stopped at depth 1");
    assert_eq!(shallow.edges.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn question_3_what_a_corrupt_dataset_touched() {
    let (_nats, _data, lineaged) = stack_with_story().await;
    let mut client = lineaged.client().await;
    let root = entity(WS, K::DatasetVersion, "applications", "3");

    let flagged = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(root.clone()),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    assert_eq!(flagged.flags.len(), 1);
    assert_eq!(flagged.flags[0].severity, v1::Severity::High as i32);

    let impact = client
        .impact(v1::TraversalRequest {
            root: Some(root.clone()),
            ..Default::default()
        })
        .await
        .expect("impact")
        .into_inner();
    assert!(!impact.truncated);
    assert_eq!(
        labels(&impact.nodes),
        [
            "artifact:trial-1/model.pkl",
            "dataset:applications@3",
            "dataset:features@3",
            "endpoint:credit-scoring-eu",
            "model:credit-risk@7",
            "run:trial-1",
            "run:trial-2",
        ]
    );
    assert_eq!(in_production(&impact.nodes), ["model:credit-risk@7"]);
    let model = impact
        .nodes
        .iter()
        .find(|n| label(n) == "model:credit-risk@7")
        .expect("model in impact");
    // The basic view says where it is served; its history is in the full one.
    let Some(v1::entity::Details::ModelVersion(details)) = &model.details else {
        panic!("model details expected");
    };
    assert_eq!(details.deployments.len(), 1);
    assert_eq!(details.deployments[0].endpoint, "credit-scoring-eu");
    let full = client
        .impact(v1::TraversalRequest {
            root: Some(root.clone()),
            view: v1::EntityView::Full as i32,
            ..Default::default()
        })
        .await
        .expect("impact, full view")
        .into_inner();
    assert_eq!(labels(&full.nodes), labels(&impact.nodes));
    let model = full
        .nodes
        .iter()
        .find(|n| label(n) == "model:credit-risk@7")
        .expect("model in impact");
    let Some(v1::entity::Details::ModelVersion(details)) = &model.details else {
        panic!("model details expected");
    };
    assert_eq!(details.source_run_id, "trial-1");
    assert_eq!(details.stage_history.len(), 2);

    // Only model versions, found through runs and artifacts.
    let models_only = client
        .impact(v1::TraversalRequest {
            root: Some(root),
            node_kinds: vec![K::ModelVersion as i32],
            ..Default::default()
        })
        .await
        .expect("impact")
        .into_inner();
    assert_eq!(
        labels(&models_only.nodes),
        ["dataset:applications@3", "model:credit-risk@7"]
    );
}

/// The run details of an entity, or a panic naming what came instead.
fn run_details(entity: &v1::Entity) -> &v1::RunDetails {
    match &entity.details {
        Some(v1::entity::Details::Run(run)) => run,
        other => panic!("run details expected for {}: {other:?}", label(entity)),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_answer_basic_entities_unless_full_is_asked_for() {
    let (_nats, _data, lineaged) = stack_with_story().await;
    let mut client = lineaged.client().await;
    let runs_using = |view: v1::EntityView| v1::RunsUsingDatasetRequest {
        workspace: WS.into(),
        dataset: "applications".into(),
        version: "3".into(),
        view: view as i32,
        ..Default::default()
    };

    // Unspecified and BASIC are the same answer: what a table of runs shows.
    let default = client
        .runs_using_dataset(runs_using(v1::EntityView::Unspecified))
        .await
        .expect("runs, default view")
        .into_inner();
    let basic = client
        .runs_using_dataset(runs_using(v1::EntityView::Basic))
        .await
        .expect("runs, basic view")
        .into_inner();
    assert_eq!(default, basic);
    let [run] = basic.runs.as_slice() else {
        panic!("one run expected: {basic:?}");
    };
    assert_eq!(label(run), "run:trial-2");
    assert!(!run.placeholder);
    assert!(run.first_seq > 0);
    assert!(run.tags.is_empty(), "tags are full-view only");
    let details = run_details(run);
    assert_eq!(details.status, v1::RunStatus::Completed as i32);
    assert_eq!(details.experiment, "credit-risk-2026");
    assert!(details.started_at.is_some() && details.ended_at.is_some());
    assert!(details.params.is_empty() && details.input_datasets.is_empty());
    assert!(details.name.is_empty() && details.parent_run_id.is_empty());

    // FULL carries every fact, as GetEntity does.
    let full = client
        .runs_using_dataset(runs_using(v1::EntityView::Full))
        .await
        .expect("runs, full view")
        .into_inner();
    let [run] = full.runs.as_slice() else {
        panic!("one run expected: {full:?}");
    };
    let details = run_details(run);
    assert_eq!(details.params.get("lr").map(String::as_str), Some("0.1"));
    assert_eq!(details.parent_run_id, "sweep-1");
    assert_eq!(details.input_datasets.len(), 1);
    assert_eq!(
        run.tags.get("team").map(String::as_str),
        Some("credit-risk")
    );
    let single = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(WS, K::Run, "trial-2", "")),
            ..Default::default()
        })
        .await
        .expect("get")
        .into_inner();
    // GetEntity's answer says how far the graph had got; a list's entities
    // leave that to the list.
    assert!(single.applied_seq > 0, "{single:?}");
    assert_eq!(
        run,
        &v1::Entity {
            applied_seq: 0,
            ..single
        }
    );

    // Flags are in both views: they are what makes an entity matter.
    let provenance = |view: v1::EntityView| v1::TraversalRequest {
        root: Some(entity(WS, K::Run, "trial-2", "")),
        view: view as i32,
        ..Default::default()
    };
    let basic = client
        .provenance(provenance(v1::EntityView::Unspecified))
        .await
        .expect("provenance, default view")
        .into_inner();
    let applications = basic
        .nodes
        .iter()
        .find(|n| label(n) == "dataset:applications@3")
        .expect("the input upstream");
    assert_eq!(applications.flags.len(), 1);
    let Some(v1::entity::Details::DatasetVersion(dataset)) = &applications.details else {
        panic!("dataset details expected: {applications:?}");
    };
    assert!(dataset.registered_at.is_some());
    assert!(dataset.produced_by_run_id.is_empty() && dataset.derived_from.is_empty());
    let full = client
        .provenance(provenance(v1::EntityView::Full))
        .await
        .expect("provenance, full view")
        .into_inner();
    assert_eq!(labels(&full.nodes), labels(&basic.nodes));
    assert_eq!(full.edges, basic.edges);

    // Compact edges name their ends by position in `nodes`, and the same
    // ends as full edges do.
    let compact = client
        .provenance(v1::TraversalRequest {
            compact_edges: true,
            ..provenance(v1::EntityView::Unspecified)
        })
        .await
        .expect("provenance, compact edges")
        .into_inner();
    assert_eq!(compact.nodes, basic.nodes);
    assert_eq!(compact.edges.len(), basic.edges.len());
    assert!(!compact.edges.is_empty());
    for (compact_edge, full_edge) in compact.edges.iter().zip(&basic.edges) {
        assert!(compact_edge.from.is_none() && compact_edge.to.is_none());
        let end = |at: u32| compact.nodes[at as usize].r#ref.clone();
        assert_eq!(end(compact_edge.from_node), full_edge.from);
        assert_eq!(end(compact_edge.to_node), full_edge.to);
        assert_eq!(
            (compact_edge.kind, compact_edge.first_seq),
            (full_edge.kind, full_edge.first_seq)
        );
    }
    let applications = full
        .nodes
        .iter()
        .find(|n| label(n) == "dataset:applications@3")
        .expect("the input upstream");
    let Some(v1::entity::Details::DatasetVersion(dataset)) = &applications.details else {
        panic!("dataset details expected: {applications:?}");
    };
    assert_eq!(dataset.produced_by_run_id, "prep-3");
    assert_eq!(dataset.derived_from.len(), 1);

    // A trace's model version and source run are full in either view; its
    // inputs and upstream nodes follow the view.
    let trace = |view: v1::EntityView| v1::TraceModelRequest {
        workspace: WS.into(),
        model: "credit-risk".into(),
        version: "7".into(),
        view: view as i32,
        compact_edges: false,
        ..Default::default()
    };
    let basic = client
        .trace_model(trace(v1::EntityView::Unspecified))
        .await
        .expect("trace, default view")
        .into_inner();
    let full = client
        .trace_model(trace(v1::EntityView::Full))
        .await
        .expect("trace, full view")
        .into_inner();
    assert_eq!(basic.model, full.model);
    assert_eq!(basic.source_run, full.source_run);
    let source = basic.source_run.as_ref().expect("source run");
    assert_eq!(run_details(source).code_version, "9f2c1e7");
    assert_eq!(labels(&basic.inputs), labels(&full.inputs));
    let upstream_run = |trace: &v1::ModelTrace| {
        let upstream = trace.upstream.as_ref().expect("upstream");
        upstream
            .nodes
            .iter()
            .find(|n| label(n) == "run:trial-1")
            .cloned()
            .expect("the source run upstream")
    };
    assert!(run_details(&upstream_run(&basic)).params.is_empty());
    assert_eq!(
        run_details(&upstream_run(&full))
            .params
            .get("lr")
            .map(String::as_str),
        Some("0.01")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_views_are_invalid_arguments_naming_the_field() {
    let (_nats, _data, lineaged) = stack_with_story().await;
    let mut client = lineaged.client().await;
    let assert_names_view = |status: tonic::Status| {
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(
            status.message().starts_with("view:"),
            "{}",
            status.message()
        );
    };

    let traversal = v1::TraversalRequest {
        root: Some(entity(WS, K::DatasetVersion, "applications", "3")),
        view: 3,
        ..Default::default()
    };
    assert_names_view(
        client
            .impact(traversal.clone())
            .await
            .expect_err("unknown view"),
    );
    assert_names_view(
        client
            .provenance(traversal)
            .await
            .expect_err("unknown view"),
    );
    assert_names_view(
        client
            .runs_using_dataset(v1::RunsUsingDatasetRequest {
                workspace: WS.into(),
                dataset: "applications".into(),
                view: -1,
                ..Default::default()
            })
            .await
            .expect_err("unknown view"),
    );
    assert_names_view(
        client
            .trace_model(v1::TraceModelRequest {
                workspace: WS.into(),
                model: "credit-risk".into(),
                version: "7".into(),
                view: 42,
                compact_edges: false,
                ..Default::default()
            })
            .await
            .expect_err("unknown view"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_say_which_field_and_why() {
    let (_nats, _data, lineaged) = stack_with_story().await;
    let mut client = lineaged.client().await;

    let missing = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(WS, K::DatasetVersion, "applications", "42")),
            ..Default::default()
        })
        .await
        .expect_err("unknown entity");
    assert_eq!(missing.code(), tonic::Code::NotFound);
    assert!(
        missing.message().contains("dataset:applications@42"),
        "{}",
        missing.message()
    );

    let no_workspace = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity("", K::Run, "trial-1", "")),
            ..Default::default()
        })
        .await
        .expect_err("no workspace");
    assert_eq!(no_workspace.code(), tonic::Code::InvalidArgument);
    assert!(
        no_workspace.message().contains("entity.workspace"),
        "{}",
        no_workspace.message()
    );

    let no_version = client
        .impact(v1::TraversalRequest {
            root: Some(entity(WS, K::ModelVersion, "credit-risk", "")),
            ..Default::default()
        })
        .await
        .expect_err("no version");
    assert_eq!(no_version.code(), tonic::Code::InvalidArgument);
    assert!(
        no_version.message().contains("root.version"),
        "{}",
        no_version.message()
    );

    let bad_kind = client
        .provenance(v1::TraversalRequest {
            root: Some(entity(WS, K::Run, "trial-1", "")),
            edge_kinds: vec![99],
            ..Default::default()
        })
        .await
        .expect_err("unknown edge kind");
    assert_eq!(bad_kind.code(), tonic::Code::InvalidArgument);
    assert!(
        bad_kind.message().contains("edge_kinds[0]"),
        "{}",
        bad_kind.message()
    );

    let bad_token = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "applications".into(),
            page_token: "not-a-token".into(),
            ..Default::default()
        })
        .await
        .expect_err("forged token");
    assert_eq!(bad_token.code(), tonic::Code::InvalidArgument);
    assert!(
        bad_token.message().contains("page_token"),
        "{}",
        bad_token.message()
    );

    let huge_page = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "applications".into(),
            page_size: 1_000_000,
            ..Default::default()
        })
        .await
        .expect_err("page too large");
    assert_eq!(huge_page.code(), tonic::Code::InvalidArgument);

    let never_registered = client
        .trace_model(v1::TraceModelRequest {
            workspace: WS.into(),
            model: "credit-risk".into(),
            version: "99".into(),
            ..Default::default()
        })
        .await
        .expect_err("unknown model");
    assert_eq!(never_registered.code(), tonic::Code::NotFound);

    // Other workspaces see nothing of this one.
    let other = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity("insurer", K::Run, "trial-1", "")),
            ..Default::default()
        })
        .await
        .expect_err("other workspace");
    assert_eq!(other.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_describe_the_whole_schema() {
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let (_nats, _data, lineaged) = stack_with_story().await;
    let channel = lineaged.channel().await;

    let health = HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lineage.v1.LineageService".into(),
        })
        .await
        .expect("health")
        .into_inner();
    assert_eq!(
        health.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );

    let mut reflection = ServerReflectionClient::new(channel);
    let requests = vec![
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        },
        ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(
                "lineage.v1.Event".into(),
            )),
        },
    ];
    let mut responses = reflection
        .server_reflection_info(futures_util::stream::iter(requests))
        .await
        .expect("reflection")
        .into_inner();
    let mut services = Vec::new();
    let mut event_files = 0;
    while let Some(response) = responses.message().await.expect("reflection response") {
        match response.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                services = list.service.into_iter().map(|s| s.name).collect();
            }
            Some(MessageResponse::FileDescriptorResponse(files)) => {
                event_files = files.file_descriptor_proto.len();
            }
            other => panic!("unexpected reflection answer {other:?}"),
        }
    }
    assert!(
        services.iter().any(|s| s == "lineage.v1.LineageService"),
        "{services:?}"
    );
    assert!(
        services.iter().any(|s| s == "grpc.health.v1.Health"),
        "{services:?}"
    );
    assert!(
        event_files >= 1,
        "the file declaring lineage.v1.Event is served"
    );
}
