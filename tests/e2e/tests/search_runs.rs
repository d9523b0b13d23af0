//! `SearchRuns` over real gRPC, after a small credit-risk and fraud
//! workload arrived over real JetStream: every kind of term (the lineage
//! ones included), ranking by a metric, pages that follow their tokens,
//! and the errors a client gets for a filter that does not parse, a
//! promotion-only term and a forged page token.

use async_nats::jetstream;
use lineage_e2e::events::{dataset, event, inputs, map, metric, registered};
use lineage_e2e::{Lineaged, NatsServer, label, labels, nats_with_events_stream, publish};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use tonic::transport::Channel;

const WS: &str = "lender";

/// What a run's start states, beyond its id.
struct Start<'a> {
    experiment: &'a str,
    parent: &'a str,
    params: &'a [(&'a str, &'a str)],
    tags: &'a [(&'a str, &'a str)],
    environment: (&'a str, &'a str),
    compute: &'a str,
}

fn started(run_id: &str, start: Start<'_>) -> Payload {
    Payload::RunStarted(v1::RunStarted {
        run_id: run_id.into(),
        experiment: start.experiment.into(),
        name: run_id.into(),
        parent_run_id: start.parent.into(),
        code_version: "9f2c1e7".into(),
        environment: Some(v1::EnvironmentRef {
            name: start.environment.0.into(),
            version: start.environment.1.into(),
        }),
        compute_target: start.compute.into(),
        params: map(start.params),
        tags: map(start.tags),
    })
}

fn finished(run_id: &str, status: v1::RunStatus) -> Payload {
    Payload::RunFinished(v1::RunFinished {
        run_id: run_id.into(),
        status: status as i32,
        error: String::new(),
    })
}

fn uses_model(run_id: &str, model: &str, version: &str) -> Payload {
    Payload::RunInputsDeclared(v1::RunInputsDeclared {
        run_id: run_id.into(),
        datasets: Vec::new(),
        artifacts: Vec::new(),
        models: vec![v1::ModelVersionRef {
            model: model.into(),
            version: version.into(),
        }],
    })
}

fn logged(run_id: &str, name: &str) -> Payload {
    lineage_e2e::events::artifact(run_id, name)
}

/// A data preparation run feeding a sweep of three trials (the first
/// registers credit-risk@7), an older run that registered credit-risk@6
/// (which the third trial reads), and a fraud run. One event a minute
/// from 2026-03-01T00:01:00Z.
fn workload() -> Vec<v1::Event> {
    let credit = |parent, params, tags, environment, compute| Start {
        experiment: "credit-risk-2026",
        parent,
        params,
        tags,
        environment,
        compute,
    };
    let xgboost = ("xgboost", "2.0.3");
    let payloads = vec![
        dataset("applications", "2", &[], ""),
        dataset("applications", "3", &[], ""),
        started(
            "prep-1",
            Start {
                experiment: "data-prep",
                parent: "",
                params: &[],
                tags: &[],
                environment: ("pandas", "2.2"),
                compute: "cpu-pool-a",
            },
        ),
        inputs("prep-1", &[("applications", "3")]),
        dataset("features", "1", &[("applications", "3")], "prep-1"),
        finished("prep-1", v1::RunStatus::Completed),
        started(
            "old-1",
            credit("", &[("lr", "0.03")], &[], xgboost, "cpu-pool-a"),
        ),
        inputs("old-1", &[("applications", "2")]),
        metric("old-1", "auc", 0.70),
        logged("old-1", "model.pkl"),
        finished("old-1", v1::RunStatus::Completed),
        registered("credit-risk", "6", "old-1", "model.pkl"),
        started("sweep-1", credit("", &[], &[], xgboost, "cpu-pool-a")),
        started(
            "trial-1",
            credit(
                "sweep-1",
                &[("lr", "0.01"), ("depth", "6")],
                &[("region", "emea")],
                xgboost,
                "gpu-a100",
            ),
        ),
        inputs("trial-1", &[("features", "1")]),
        metric("trial-1", "auc", 0.81),
        logged("trial-1", "model.pkl"),
        finished("trial-1", v1::RunStatus::Completed),
        started(
            "trial-2",
            credit(
                "sweep-1",
                &[("lr", "0.1"), ("depth", "8")],
                &[("region", "apac")],
                xgboost,
                "gpu-a100",
            ),
        ),
        inputs("trial-2", &[("applications", "2")]),
        metric("trial-2", "auc", 0.77),
        finished("trial-2", v1::RunStatus::Failed),
        started(
            "trial-3",
            credit(
                "sweep-1",
                &[("lr", "0.01"), ("depth", "10")],
                &[("region", "emea")],
                xgboost,
                "gpu-a100",
            ),
        ),
        inputs("trial-3", &[("features", "1")]),
        uses_model("trial-3", "credit-risk", "6"),
        metric("trial-3", "auc", 0.84),
        registered("credit-risk", "7", "trial-1", "model.pkl"),
        started(
            "fraud-1",
            Start {
                experiment: "fraud-2026",
                parent: "",
                params: &[("lr", "0.001")],
                tags: &[("region", "emea")],
                environment: ("sklearn", "1.4"),
                compute: "cpu-pool-a",
            },
        ),
        metric("fraud-1", "auc", 0.90),
        finished("fraud-1", v1::RunStatus::Canceled),
        finished("sweep-1", v1::RunStatus::Completed),
    ];
    payloads
        .into_iter()
        .enumerate()
        .map(|(n, payload)| event(&format!("search-{n:03}"), WS, n as i64 + 1, payload))
        .collect()
}

async fn stack_with_workload() -> (NatsServer, tempfile::TempDir, Lineaged) {
    let (nats, js): (NatsServer, jetstream::Context) = nats_with_events_stream().await;
    let events = workload();
    for event in &events {
        publish(&js, event).await;
    }
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
    let status = lineaged.wait_applied(events.len() as u64).await;
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    (nats, data, lineaged)
}

fn request(filter: &str) -> v1::SearchRunsRequest {
    v1::SearchRunsRequest {
        workspace: WS.into(),
        filter: filter.into(),
        ..Default::default()
    }
}

async fn search(
    client: &mut LineageServiceClient<Channel>,
    request: v1::SearchRunsRequest,
) -> v1::SearchRunsResponse {
    let filter = request.filter.clone();
    client
        .search_runs(request)
        .await
        .unwrap_or_else(|status| panic!("{filter:?}: {status}"))
        .into_inner()
}

/// The runs a filter finds, as sorted labels.
async fn found(client: &mut LineageServiceClient<Channel>, filter: &str) -> Vec<String> {
    let answer = search(client, request(filter)).await;
    assert!(answer.next_page_token.is_empty(), "{filter}: one page");
    labels(&answer.runs)
}

fn runs(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| format!("run:{name}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_term_finds_its_runs() {
    let (_nats, _data, lineaged) = stack_with_workload().await;
    let mut client = lineaged.client().await;
    let cases: &[(&str, &[&str])] = &[
        (
            "",
            &[
                "fraud-1", "old-1", "prep-1", "sweep-1", "trial-1", "trial-2", "trial-3",
            ],
        ),
        (
            "params.lr = '0.01' and metrics.auc > 0.8",
            &["trial-1", "trial-3"],
        ),
        ("params.lr < '0.02'", &["fraud-1", "trial-1", "trial-3"]),
        ("params.depth >= 8", &["trial-2", "trial-3"]),
        (
            "tags.region = 'emea' and environment = 'xgboost@2.0.3'",
            &["trial-1", "trial-3"],
        ),
        ("tags.region ilike 'AP%'", &["trial-2"]),
        ("metrics.auc >= 0.9", &["fraud-1"]),
        (
            "metrics.auc != 0.81",
            &["fraud-1", "old-1", "trial-2", "trial-3"],
        ),
        ("status = 'FAILED'", &["trial-2"]),
        ("status = 'STARTED'", &["trial-3"]),
        ("status != 'COMPLETED'", &["fraud-1", "trial-2", "trial-3"]),
        ("experiment = 'fraud-2026'", &["fraud-1"]),
        ("environment = 'sklearn'", &["fraud-1"]),
        (
            "compute = 'gpu-a100' and parent = 'sweep-1'",
            &["trial-1", "trial-2", "trial-3"],
        ),
        ("code_version = '9f2c1e7' and name = 'old-1'", &["old-1"]),
        // fraud-1 started at minute 28, the last to start before it at 23.
        ("started_at >= '2026-03-01T00:28:00Z'", &["fraud-1"]),
        ("ended_at < '2026-03-01T00:12:00Z'", &["old-1", "prep-1"]),
        // The lineage terms.
        ("uses dataset 'applications@2'", &["old-1", "trial-2"]),
        (
            "uses dataset 'applications'",
            &["old-1", "prep-1", "trial-2"],
        ),
        (
            "uses dataset 'features@1' and status = 'COMPLETED'",
            &["trial-1"],
        ),
        ("uses model 'credit-risk@6'", &["trial-3"]),
        // The source run, its sweep, and the run that produced its features.
        (
            "upstream of model 'credit-risk@7'",
            &["prep-1", "sweep-1", "trial-1"],
        ),
        (
            "upstream of model 'credit-risk@6' and metrics.auc < 0.75",
            &["old-1"],
        ),
        ("produced dataset 'features@1'", &["prep-1"]),
        ("produced dataset 'applications'", &[]),
    ];
    for (filter, expected) in cases {
        assert_eq!(found(&mut client, filter).await, runs(expected), "{filter}");
    }

    // The experiments of the request narrow the search.
    let fraud_only = search(
        &mut client,
        v1::SearchRunsRequest {
            experiments: vec!["fraud-2026".into(), "data-prep".into()],
            ..request("tags.region = 'emea'")
        },
    )
    .await;
    assert_eq!(labels(&fraud_only.runs), runs(&["fraud-1"]));

    // A selective search examines only its most selective term's runs,
    // and the full view carries each run's facts.
    let selective = search(
        &mut client,
        v1::SearchRunsRequest {
            view: v1::EntityView::Full as i32,
            ..request("metrics.auc > 0.5 and params.lr = '0.1'")
        },
    )
    .await;
    assert_eq!(labels(&selective.runs), runs(&["trial-2"]));
    assert_eq!(selective.candidates, 1);
    assert_eq!(selective.applied_seq, workload().len() as u64);
    match &selective.runs[0].details {
        Some(v1::entity::Details::Run(run)) => {
            assert_eq!(run.params.get("lr").map(String::as_str), Some("0.1"));
            assert_eq!(run.status, v1::RunStatus::Failed as i32);
        }
        other => panic!("run details expected: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_rank_by_a_metric_and_pages_follow_their_tokens() {
    let (_nats, _data, lineaged) = stack_with_workload().await;
    let mut client = lineaged.client().await;
    let ranked = |page_size: u32, page_token: String| v1::SearchRunsRequest {
        order_by: vec!["metrics.auc DESC".into()],
        page_size,
        page_token,
        ..request("experiment = 'credit-risk-2026'")
    };
    let whole = search(&mut client, ranked(0, String::new())).await;
    let in_order: Vec<String> = whole.runs.iter().map(label).collect();
    // The sweep logged no auc: last, whatever the direction.
    assert_eq!(
        in_order,
        runs(&["trial-3", "trial-1", "trial-2", "old-1", "sweep-1"])
    );
    assert!(whole.next_page_token.is_empty());

    let mut pages = Vec::new();
    let mut token = String::new();
    loop {
        let page = search(&mut client, ranked(2, token)).await;
        pages.push(page.runs.iter().map(label).collect::<Vec<_>>());
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages.len() < 5, "pages end");
        token = page.next_page_token;
    }
    assert_eq!(
        pages,
        [
            runs(&["trial-3", "trial-1"]),
            runs(&["trial-2", "old-1"]),
            runs(&["sweep-1"]),
        ]
    );

    // Ties are broken by run id; ascending puts the missing auc last too.
    let ascending = search(
        &mut client,
        v1::SearchRunsRequest {
            order_by: vec!["params.lr".into(), "metrics.auc asc".into()],
            ..request("")
        },
    )
    .await;
    assert_eq!(
        ascending.runs.iter().map(label).collect::<Vec<_>>(),
        runs(&[
            "fraud-1", "trial-1", "trial-3", "old-1", "trial-2", "prep-1", "sweep-1"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_say_which_field_and_why() {
    let (_nats, _data, lineaged) = stack_with_workload().await;
    let mut client = lineaged.client().await;
    let prober = client.clone();
    let refused = move |request: v1::SearchRunsRequest| {
        let mut client = prober.clone();
        async move {
            match client.search_runs(request).await {
                Ok(answer) => panic!("expected INVALID_ARGUMENT, got {answer:?}"),
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status}");
                    status.message().to_owned()
                }
            }
        }
    };

    let syntax = refused(request("metrics.auc >> 0.8")).await;
    assert_eq!(
        syntax,
        "filter: at column 13: expected a comparison operator after metrics.auc, found '>>'"
    );
    let promotion = refused(request("status = 'COMPLETED' and no flagged upstream")).await;
    assert!(
        promotion.starts_with("filter: at column 26: `no flagged upstream` is a promotion criterion, not a search term"),
        "{promotion}"
    );
    let sort = refused(v1::SearchRunsRequest {
        order_by: vec!["metrics.auc desc".into(), "sideways".into()],
        ..request("")
    })
    .await;
    assert!(sort.starts_with("order_by[1]: "), "{sort}");
    let forged = refused(v1::SearchRunsRequest {
        page_token: "not-a-token".into(),
        ..request("")
    })
    .await;
    assert!(forged.starts_with("page_token: "), "{forged}");
    // A token of another question is refused, not misread.
    let first = search(
        &mut client,
        v1::SearchRunsRequest {
            page_size: 1,
            ..request("status = 'COMPLETED'")
        },
    )
    .await;
    assert!(!first.next_page_token.is_empty());
    let mismatched = refused(v1::SearchRunsRequest {
        page_size: 1,
        page_token: first.next_page_token,
        ..request("status = 'FAILED'")
    })
    .await;
    assert!(mismatched.contains("another question"), "{mismatched}");
    let oversized = refused(v1::SearchRunsRequest {
        page_size: 1_000_000,
        ..request("")
    })
    .await;
    assert!(oversized.starts_with("page_size: "), "{oversized}");

    // Nothing found is an empty answer, not an error.
    assert!(
        found(&mut client, "uses dataset 'nowhere@1'")
            .await
            .is_empty()
    );
}
