//! `GET /api/v1/lineage` in Marquez's shape, against a real lineaged and
//! nats-server over plain HTTP: the demo history loaded, then the lineage
//! of a dataset, a job and a run (the same graph of datasets and jobs),
//! a shallower walk, and Marquez-shaped `{"code", "message"}` errors for
//! a node that does not exist (404) and a malformed node id or depth
//! (400). With an access file, the bearer token decides: none is a 401, a
//! reader of another workspace does not find the node (404) and may not
//! name its workspace (403).

use std::collections::BTreeSet;
use std::net::SocketAddr;

use async_nats::jetstream;
use lineage_e2e::http::http_json;
use lineage_e2e::{Lineaged, NatsServer, demo_lines, publish_demo_history};
use serde_json::{Value, json};

/// The lineage connected to the demo's `applications` dataset: the
/// credit-lender workspace's data pipeline and its models.
const CREDIT_NODES: [&str; 6] = [
    "dataset:credit-lender:applications",
    "dataset:credit-lender:applications-features",
    "dataset:credit-lender:applications-raw",
    "dataset:credit-lender:bureau-scores",
    "job:credit-lender:credit-data-prep",
    "job:credit-lender:credit-risk-2026",
];

const CREDIT_EDGES: [&str; 8] = [
    "dataset:credit-lender:applications -> job:credit-lender:credit-data-prep",
    "dataset:credit-lender:applications -> job:credit-lender:credit-risk-2026",
    "dataset:credit-lender:applications-features -> job:credit-lender:credit-risk-2026",
    "dataset:credit-lender:applications-raw -> job:credit-lender:credit-data-prep",
    "dataset:credit-lender:bureau-scores -> job:credit-lender:credit-data-prep",
    "dataset:credit-lender:bureau-scores -> job:credit-lender:credit-risk-2026",
    "job:credit-lender:credit-data-prep -> dataset:credit-lender:applications",
    "job:credit-lender:credit-data-prep -> dataset:credit-lender:applications-features",
];

/// A lineaged with an HTTP listener and the demo history applied.
async fn demo_service(
    nats: &NatsServer,
    data: &std::path::Path,
    tweak: impl FnOnce(&mut lineage_e2e::Config),
) -> (Lineaged, SocketAddr) {
    let lineaged = Lineaged::start(&nats.url(), data, |config| {
        config.http_addr = Some(([127, 0, 0, 1], 0).into());
        tweak(config);
    })
    .await;
    let http = lineaged.http_addr.expect("an HTTP listener");
    let js = jetstream::new(nats.client().await);
    lineage_e2e::ensure_events_stream(&js).await;
    let published = publish_demo_history(&js).await;
    assert_eq!(published, demo_lines().len() as u64);
    (lineaged, http)
}

/// `GET /api/v1/lineage?<query>` with `headers`.
async fn lineage(http: SocketAddr, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    http_json(
        http,
        "GET",
        &format!("/api/v1/lineage?{query}"),
        headers,
        b"",
    )
    .await
}

/// The node ids of an answer, in its order, and its edges as
/// `origin -> destination`, each once, checking that every edge is listed
/// on both of its ends.
fn shape(answer: &Value) -> (Vec<String>, BTreeSet<String>) {
    let nodes = answer["graph"].as_array().expect("a graph array");
    let ids: Vec<String> = nodes
        .iter()
        .map(|node| node["id"].as_str().expect("an id").to_owned())
        .collect();
    let mut ins = BTreeSet::new();
    let mut outs = BTreeSet::new();
    for node in nodes {
        let id = node["id"].as_str().expect("an id");
        for (edges, side, end) in [
            (&node["inEdges"], &mut ins, "destination"),
            (&node["outEdges"], &mut outs, "origin"),
        ] {
            for edge in edges.as_array().expect("an edge array") {
                assert_eq!(edge[end], id, "{edge} is listed on {id}");
                side.insert(format!(
                    "{} -> {}",
                    edge["origin"].as_str().expect("an origin"),
                    edge["destination"].as_str().expect("a destination")
                ));
            }
        }
    }
    assert_eq!(ins, outs, "every edge is listed on both of its ends");
    (ids, ins)
}

fn node<'a>(answer: &'a Value, id: &str) -> &'a Value {
    answer["graph"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|node| node["id"] == id))
        .unwrap_or_else(|| panic!("{id} in {answer:#}"))
}

/// A Marquez-shaped error: `code` is the status, `message` says `why`.
#[track_caller]
fn assert_error((status, body): &(u16, Value), code: u16, why: &str) {
    assert_eq!(*status, code, "{body}");
    assert_eq!(body["code"], code, "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(message.contains(why), "{message:?} mentions {why:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_lineage_reads_in_marquez_shape() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let (lineaged, http) = demo_service(&nats, data.path(), |_| {}).await;
    lineaged.wait_applied(demo_lines().len() as u64).await;

    let (status, dataset) = lineage(http, "nodeId=dataset:credit-lender:applications", &[]).await;
    assert_eq!(status, 200, "{dataset}");
    let (ids, edges) = shape(&dataset);
    assert_eq!(ids, CREDIT_NODES);
    assert_eq!(
        edges,
        CREDIT_EDGES.iter().map(|edge| edge.to_string()).collect()
    );
    assert_eq!(dataset["truncated"], false);
    assert_eq!(dataset["appliedSeq"], demo_lines().len() as u64);

    let applications = &node(&dataset, "dataset:credit-lender:applications");
    assert_eq!(applications["type"], "DATASET");
    let data = &applications["data"];
    assert_eq!(
        data["id"],
        json!({"namespace": "credit-lender", "name": "applications"})
    );
    assert_eq!(data["type"], "DB_TABLE");
    assert_eq!(data["versions"], json!(["4", "3", "2", "1"]));
    assert_eq!(data["version"], "4");

    let training = &node(&dataset, "job:credit-lender:credit-risk-2026")["data"];
    assert_eq!(training["type"], "BATCH");
    assert_eq!(training["latestRun"]["id"], "cr-xgb-1022");
    assert_eq!(training["latestRun"]["state"], "COMPLETED");
    assert_eq!(training["latestRun"]["startedAt"], "2026-10-22T10:00:00Z");
    assert_eq!(training["latestRun"]["endedAt"], "2026-10-22T10:47:00Z");
    assert_eq!(
        training["inputs"],
        json!([
            {"namespace": "credit-lender", "name": "applications"},
            {"namespace": "credit-lender", "name": "applications-features"},
            {"namespace": "credit-lender", "name": "bureau-scores"},
        ])
    );
    assert_eq!(training["outputs"], json!([]));

    // The same connected lineage from the job, from one of its runs (a
    // run stands for its job), and from the dataset with its workspace
    // named (percent-encoded, as a browser sends it).
    for query in [
        "nodeId=job:credit-lender:credit-risk-2026",
        "nodeId=run:cr-sweep-0706-t08",
        "nodeId=dataset%3Acredit-lender%3Aapplications&workspace=credit-lender&depth=20",
    ] {
        let (status, answer) = lineage(http, query, &[]).await;
        assert_eq!(status, 200, "{query}: {answer}");
        assert_eq!(shape(&answer), shape(&dataset), "{query}");
    }

    // One hop: the dataset and the jobs that wrote and read it.
    let (status, near) = lineage(
        http,
        "nodeId=dataset:credit-lender:applications&depth=1",
        &[],
    )
    .await;
    assert_eq!(status, 200, "{near}");
    let (ids, edges) = shape(&near);
    assert_eq!(
        ids,
        [
            "dataset:credit-lender:applications",
            "job:credit-lender:credit-data-prep",
            "job:credit-lender:credit-risk-2026",
        ]
    );
    assert_eq!(edges.len(), 3, "{edges:?}");

    let missing = lineage(http, "nodeId=dataset:credit-lender:no-such-table", &[]).await;
    assert_error(&missing, 404, "dataset:credit-lender:no-such-table");
    let missing_run = lineage(http, "nodeId=run:no-such-run", &[]).await;
    assert_error(&missing_run, 404, "run:no-such-run");
    assert_error(
        &lineage(http, "nodeId=table:credit-lender:applications", &[]).await,
        400,
        "nodeId",
    );
    assert_error(
        &lineage(http, "nodeId=dataset:applications", &[]).await,
        400,
        "nodeId",
    );
    assert_error(&lineage(http, "", &[]).await, 400, "nodeId");
    assert_error(
        &lineage(
            http,
            "nodeId=dataset:credit-lender:applications&depth=-3",
            &[],
        )
        .await,
        400,
        "depth",
    );
    assert_error(
        &lineage(
            http,
            "nodeId=dataset:credit-lender:applications&depth=deep",
            &[],
        )
        .await,
        400,
        "depth",
    );

    lineaged.stop().await;
}

const READER: &str = "lin_5555555555555555555555555555555555555555555555555555555555555555";
const FRAUD_READER: &str = "lin_6666666666666666666666666666666666666666666666666666666666666666";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_token_decides_what_the_lineage_shows() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let config_dir = tempfile::tempdir().expect("config dir");
    let entry = |name: &str, token: &str, workspace: &str| {
        format!(
            "[[principal]]\nname = \"{name}\"\ntoken_hash = \"blake3:{}\"\nroles = [\"reader\"]\nworkspaces = [\"{workspace}\"]\n\n",
            blake3::hash(token.as_bytes()).to_hex()
        )
    };
    let access = config_dir.path().join("access.toml");
    std::fs::write(
        &access,
        entry("credit-analysts", READER, "credit-lender")
            + &entry("fraud-analysts", FRAUD_READER, "insurer-fraud"),
    )
    .expect("write the access file");
    let (lineaged, http) = demo_service(&nats, data.path(), |config| {
        config.access_file = Some(access)
    })
    .await;
    let reader = format!("Bearer {READER}");
    let fraud_reader = format!("Bearer {FRAUD_READER}");
    let query = "nodeId=dataset:credit-lender:applications";
    // The status RPC needs a token too; wait through the API itself.
    let answer = lineage_e2e::wait_for("the demo lineage", || {
        let reader = reader.clone();
        async move {
            let (status, answer) =
                lineage(http, query, &[("Authorization", reader.as_str())]).await;
            (status == 200 && answer["appliedSeq"] == demo_lines().len() as u64).then_some(answer)
        }
    })
    .await;
    assert_eq!(shape(&answer).0, CREDIT_NODES);

    assert_error(&lineage(http, query, &[]).await, 401, "");
    assert_error(
        &lineage(
            http,
            query,
            &[(
                "Authorization",
                "Bearer lin_0000000000000000000000000000000000000000000000000000000000000000",
            )],
        )
        .await,
        401,
        "",
    );
    // Another workspace's reader: the node is not where it may look...
    assert_error(
        &lineage(http, query, &[("Authorization", fraud_reader.as_str())]).await,
        404,
        "dataset:credit-lender:applications",
    );
    // ...and naming its workspace is refused.
    assert_error(
        &lineage(
            http,
            &format!("{query}&workspace=credit-lender"),
            &[("Authorization", fraud_reader.as_str())],
        )
        .await,
        403,
        "credit-lender",
    );
    // Its own workspace's lineage it reads.
    let (status, claims) = lineage(
        http,
        "nodeId=dataset:insurer-fraud:claims",
        &[("Authorization", fraud_reader.as_str())],
    )
    .await;
    assert_eq!(status, 200, "{claims}");
    assert!(
        shape(&claims)
            .0
            .iter()
            .all(|id| id.contains(":insurer-fraud:")),
        "{claims}"
    );

    lineaged.stop().await;
}
