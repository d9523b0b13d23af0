//! OpenLineage in, against a real lineaged and nats-server: events posted
//! to `POST /api/v1/lineage` and published on `openlineage.events.<ws>`
//! become runs, experiments and dataset versions in the graph (read back
//! over gRPC); a retry stores nothing new; bad events are refused with the
//! field named (400 over HTTP, dead-lettered over NATS); `GET
//! /api/v1/events/lineage` answers the events as received, by window; and
//! with an access file only a producer of the workspace may post.

use std::net::SocketAddr;

use async_nats::jetstream;
use lineage_e2e::http::{http_json, http_request};
use lineage_e2e::{Lineaged, NatsServer, entity, read_dead_letters, wait_for};
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use serde_json::{Value, json};
use tonic::transport::Channel;

const RUN: &str = "0190a0c0-0000-7000-8000-0000000000a1";
const FAILED_RUN: &str = "0190a0c0-0000-7000-8000-0000000000b2";

fn run_event(event_type: &str, run_id: &str, minute: u32) -> Value {
    // Without a version facet, a dataset's version is its facets' content:
    // two runs writing the same table alike would write one version (the
    // later its producer), so the failed run writes a table of its own.
    let output = if run_id == RUN {
        "orders_daily"
    } else {
        "orders_backfill"
    };
    let mut event = json!({
        "eventType": event_type,
        "eventTime": format!("2026-03-01T10:{minute:02}:00.000Z"),
        "producer": "https://github.com/OpenLineage/OpenLineage/tree/1.54.0/integration/airflow",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {}},
        "job": {"namespace": "food_delivery", "name": "etl_orders", "facets": {
            "sql": {"_producer": "p", "_schemaURL": "s", "query": "insert into orders_daily select ..."}
        }},
        "inputs": [{"namespace": "postgres://db:5432", "name": "public.orders", "facets": {
            "version": {"datasetVersion": "42"},
            "schema": {"fields": [{"name": "id", "type": "int"}, {"name": "placed_at", "type": "timestamp"}]}
        }}],
        "outputs": [{"namespace": "food_delivery", "name": output, "facets": {
            "schema": {"fields": [{"name": "day", "type": "date"}, {"name": "orders", "type": "int"}]}
        }}]
    });
    if event_type == "FAIL" {
        event["run"]["facets"]["errorMessage"] =
            json!({"message": "relation public.orders is locked", "programmingLanguage": "SQL"});
    }
    event
}

async fn post(http: SocketAddr, event: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let body = serde_json::to_vec(event).expect("serializes");
    http_json(http, "POST", "/api/v1/lineage", headers, &body).await
}

async fn get_entity(
    client: &mut LineageServiceClient<Channel>,
    kind: v1::EntityKind,
    name: &str,
    version: &str,
) -> Option<v1::Entity> {
    client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity("food_delivery", kind, name, version)),
            ..Default::default()
        })
        .await
        .ok()
        .map(|answer| answer.into_inner())
}

fn run_details(entity: &v1::Entity) -> &v1::RunDetails {
    match &entity.details {
        Some(v1::entity::Details::Run(run)) => run,
        other => panic!("not a run: {other:?}"),
    }
}

async fn status(client: &mut LineageServiceClient<Channel>) -> v1::StatusResponse {
    client
        .get_status(v1::GetStatusRequest::default())
        .await
        .expect("status")
        .into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openlineage_events_become_lineage_over_http_and_nats() {
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
        config.http_addr = Some(([127, 0, 0, 1], 0).into());
    })
    .await;
    let http = lineaged.http_addr.expect("an HTTP listener");
    let mut client = lineaged.client().await;
    wait_for("the service to be ready", || {
        let mut client = client.clone();
        async move { status(&mut client).await.ingest_connected.then_some(()) }
    })
    .await;

    // A run that starts and completes, and one that fails.
    let (code, answer) = post(http, &run_event("START", RUN, 0), &[]).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["workspace"], "food_delivery");
    assert_eq!(answer["duplicate"], false);
    let id = answer["id"].as_str().expect("an id").to_owned();
    assert!(id.starts_with("ol-"), "{id}");
    let complete = run_event("COMPLETE", RUN, 5);
    assert_eq!(post(http, &complete, &[]).await.0, 201);
    assert_eq!(
        post(http, &run_event("START", FAILED_RUN, 6), &[]).await.0,
        201
    );
    assert_eq!(
        post(http, &run_event("FAIL", FAILED_RUN, 7), &[]).await.0,
        201
    );

    let run = wait_for("the completed run", || {
        let mut client = client.clone();
        async move {
            let run = get_entity(&mut client, v1::EntityKind::Run, RUN, "").await?;
            let details = run_details(&run);
            // The translation's events are published together, so they
            // may be applied in any order.
            (details.status == v1::RunStatus::Completed as i32
                && !details.input_datasets.is_empty()
                && !details.output_datasets.is_empty())
            .then_some(run)
        }
    })
    .await;
    let details = run_details(&run);
    assert_eq!(details.experiment, "etl_orders");
    assert_eq!(
        details.started_at.map(|t| t.seconds),
        Some(1_772_359_200),
        "started at the START's eventTime"
    );
    assert_eq!(
        details.input_datasets,
        vec![v1::DatasetVersionRef {
            dataset: "postgres://db:5432/public.orders".into(),
            version: "42".into(),
        }]
    );
    let [output] = &details.output_datasets[..] else {
        panic!("one output: {details:?}");
    };
    assert_eq!(output.dataset, "food_delivery/orders_daily");
    assert!(output.version.starts_with("c-"), "{output:?}");

    // The output's provenance reaches the run and its input.
    let provenance = client
        .provenance(v1::TraversalRequest {
            root: Some(entity(
                "food_delivery",
                v1::EntityKind::DatasetVersion,
                &output.dataset,
                &output.version,
            )),
            ..Default::default()
        })
        .await
        .expect("provenance")
        .into_inner();
    let labels = lineage_e2e::labels(&provenance.nodes);
    assert!(labels.contains(&format!("run:{RUN}")), "{labels:?}");
    assert!(
        labels.contains(&"dataset:postgres://db:5432/public.orders@42".to_owned()),
        "{labels:?}"
    );

    // Facets and names are kept on the entities.
    let experiment = get_entity(&mut client, v1::EntityKind::Experiment, "etl_orders", "")
        .await
        .expect("the experiment");
    assert_eq!(experiment.tags["openlineage.namespace"], "food_delivery");
    assert_eq!(experiment.tags["openlineage.name"], "etl_orders");
    assert!(experiment.tags["openlineage.facet.sql"].contains("insert into orders_daily"));
    let dataset = get_entity(
        &mut client,
        v1::EntityKind::DatasetVersion,
        &output.dataset,
        &output.version,
    )
    .await
    .expect("the output");
    assert!(dataset.tags["openlineage.facet.schema"].contains("\"orders\""));

    let failed = wait_for("the failed run", || {
        let mut client = client.clone();
        async move {
            let run = get_entity(&mut client, v1::EntityKind::Run, FAILED_RUN, "").await?;
            (run_details(&run).status == v1::RunStatus::Failed as i32).then_some(run)
        }
    })
    .await;
    assert_eq!(
        run_details(&failed).error,
        "relation public.orders is locked"
    );

    // A retry, even with its keys in another order, is the same event:
    // JetStream drops it, and the log would too.
    let before = status(&mut client).await;
    let reordered: String = {
        let Value::Object(object) = &complete else {
            unreachable!()
        };
        let fields: Vec<String> = object
            .iter()
            .rev()
            .map(|(key, value)| format!("{}:{value}", Value::String(key.clone())))
            .collect();
        format!("{{{}}}", fields.join(","))
    };
    let (code, answer) =
        http_json(http, "POST", "/api/v1/lineage", &[], reordered.as_bytes()).await;
    assert_eq!(code, 201, "{answer}");
    assert_eq!(answer["duplicate"], true, "{answer}");

    // Over NATS: one good event and one that cannot be translated.
    let js = jetstream::new(nats.client().await);
    let dataset_event = json!({
        "eventTime": "2026-03-01T11:00:00Z",
        "producer": "catalog-sync",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
        "dataset": {"namespace": "postgres://db:5432", "name": "public.orders", "facets": {
            "version": {"datasetVersion": "42"},
            "ownership": {"owners": [{"name": "team:orders"}]}
        }}
    });
    js.publish(
        "openlineage.events.food_delivery",
        serde_json::to_vec(&dataset_event).expect("json").into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
    js.publish(
        "openlineage.events.food_delivery",
        br#"{"eventTime": "2026-03-01T11:00:00Z", "run": {"runId": "x"}}"#
            .to_vec()
            .into(),
    )
    .await
    .expect("publish")
    .await
    .expect("stored");
    let owned = wait_for("the dataset event's facets", || {
        let mut client = client.clone();
        async move {
            let dataset = get_entity(
                &mut client,
                v1::EntityKind::DatasetVersion,
                "postgres://db:5432/public.orders",
                "42",
            )
            .await?;
            dataset.tags.get("openlineage.facet.ownership").cloned()
        }
    })
    .await;
    assert!(owned.contains("team:orders"), "{owned}");
    let letters = read_dead_letters(&js, 1).await;
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].reason, "invalid_value");
    assert!(
        letters[0].detail.contains("job: is required"),
        "{letters:?}"
    );
    assert_eq!(
        letters[0].original_subject,
        "openlineage.events.food_delivery"
    );

    // Everything was stored once: 4 posted events, 1 over NATS; the retry
    // added nothing.
    let after = status(&mut client).await;
    let run_events_then = before.head_seq;
    assert!(
        after.head_seq > run_events_then,
        "the dataset event was stored"
    );
    let replayed = lineaged
        .replay(v1::ReplayRequest::default())
        .await
        .expect("replay");
    let ids: Vec<String> = replayed
        .iter()
        .filter_map(|record| record.event.as_ref().map(|event| event.event_id.clone()))
        .collect();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(ids.len(), unique.len(), "no event stored twice: {ids:?}");
    let translated: std::collections::BTreeSet<&str> =
        ids.iter().filter_map(|id| id.split('.').next()).collect();
    assert_eq!(
        translated.len(),
        5,
        "five OpenLineage events: {translated:?}"
    );
    assert!(translated.contains(id.as_str()));

    // What an operator sees: each OpenLineage event translated once (the
    // retry was dropped before the translator), the bad one dead-lettered.
    let (code, metrics) = http_request(http, "GET", "/metrics", &[], b"").await;
    assert_eq!(code, 200);
    let metrics = String::from_utf8(metrics).expect("text");
    for line in [
        "lineage_openlineage_events_total{outcome=\"translated\"} 5",
        "lineage_openlineage_events_total{outcome=\"dead_lettered\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} in\n{metrics}");
    }

    // Tools built for Marquez read the same lineage back by OpenLineage's
    // names.
    let (code, marquez) = http_json(
        http,
        "GET",
        "/api/v1/lineage?nodeId=dataset:food_delivery:orders_daily&depth=2",
        &[],
        b"",
    )
    .await;
    assert_eq!(code, 200, "{marquez}");
    let nodes = marquez["graph"].as_array().expect("a graph");
    let ids: Vec<&str> = nodes
        .iter()
        .filter_map(|node| node["id"].as_str())
        .collect();
    for expected in [
        "dataset:food_delivery:orders_daily",
        "job:food_delivery:etl_orders",
        "dataset:postgres://db:5432:public.orders",
    ] {
        assert!(ids.contains(&expected), "{expected} in {ids:?}");
    }
    let job = nodes
        .iter()
        .find(|node| node["id"] == "job:food_delivery:etl_orders")
        .expect("the job");
    assert!(
        job["outEdges"]
            .as_array()
            .expect("edges")
            .iter()
            .any(|edge| edge["destination"] == "dataset:food_delivery:orders_daily"),
        "{job}"
    );

    // Bad events over HTTP: 400 naming the field, nothing published.
    for (body, expected) in [
        (b"{not json".to_vec(), "not JSON"),
        (br#"[1, 2]"#.to_vec(), "must be a JSON object"),
        (
            serde_json::to_vec(&{
                let mut event = run_event("START", RUN, 0);
                event["eventType"] = json!("EXPLODED");
                event
            })
            .expect("json"),
            "eventType",
        ),
        (
            serde_json::to_vec(&{
                let mut event = run_event("START", RUN, 0);
                event["run"]["runId"] = json!("a/b");
                event
            })
            .expect("json"),
            "run.runId",
        ),
        (
            serde_json::to_vec(&{
                let mut event = run_event("START", RUN, 0);
                event["job"]["namespace"] = json!("!!!");
                event
            })
            .expect("json"),
            "namespace",
        ),
    ] {
        let (code, answer) = http_json(http, "POST", "/api/v1/lineage", &[], &body).await;
        assert_eq!(code, 400, "{answer}");
        assert_eq!(answer["code"], 400);
        let message = answer["message"].as_str().expect("a message");
        assert!(
            message.contains(expected),
            "{message} should name {expected}"
        );
    }
    let (code, _) = http_request(
        http,
        "POST",
        "/api/v1/lineage",
        &[("Content-Type", "application/json")],
        &vec![b' '; 2 * 1024 * 1024],
    )
    .await;
    assert_eq!(code, 413, "a body over --max-event-bytes");

    // The events as received, by event time.
    let (code, answer) = http_json(http, "GET", "/api/v1/events/lineage", &[], b"").await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["totalCount"], 5, "{answer}");
    let times: Vec<&str> = answer["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| event["eventTime"].as_str().expect("a time"))
        .collect();
    assert_eq!(times[0], "2026-03-01T11:00:00Z", "newest first: {times:?}");
    let (_, window) = http_json(
        http,
        "GET",
        "/api/v1/events/lineage?after=2026-03-01T10:04:00Z&before=2026-03-01T10:06:30Z&sortDirection=asc",
        &[],
        b"",
    )
    .await;
    let in_window: Vec<(&str, &str)> = window["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|event| {
            (
                event["eventType"].as_str().expect("type"),
                event["run"]["runId"].as_str().expect("run"),
            )
        })
        .collect();
    assert_eq!(in_window, [("COMPLETE", RUN), ("START", FAILED_RUN)]);
    let (_, limited) = http_json(
        http,
        "GET",
        "/api/v1/events/lineage?limit=2&offset=1",
        &[],
        b"",
    )
    .await;
    assert_eq!(limited["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(limited["totalCount"], 5);
    for query in [
        "limit=0",
        "limit=100000",
        "after=yesterday",
        "sortDirection=sideways",
    ] {
        let (code, answer) = http_json(
            http,
            "GET",
            &format!("/api/v1/events/lineage?{query}"),
            &[],
            b"",
        )
        .await;
        assert_eq!(code, 400, "{query}: {answer}");
    }
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_producer_of_the_workspace_may_post() {
    const PRODUCER: &str = "producer-token-food";
    const READER: &str = "reader-token-food";
    let nats = NatsServer::start();
    let data = tempfile::tempdir().expect("data dir");
    let entry = |name: &str, token: &str, roles: &str, workspaces: &str| {
        format!(
            "[[principal]]\nname = \"{name}\"\ntoken_hash = \"blake3:{}\"\nroles = {roles}\nworkspaces = {workspaces}\n\n",
            blake3::hash(token.as_bytes()).to_hex()
        )
    };
    let access = data.path().join("access.toml");
    std::fs::write(
        &access,
        entry("airflow", PRODUCER, "[\"producer\"]", "[\"food_delivery\"]")
            + &entry("analyst", READER, "[\"reader\"]", "[\"food_delivery\"]"),
    )
    .expect("write the access file");
    let lineaged = Lineaged::start(&nats.url(), &data.path().join("log"), |config| {
        config.http_addr = Some(([127, 0, 0, 1], 0).into());
        config.access_file = Some(access.clone());
    })
    .await;
    let http = lineaged.http_addr.expect("an HTTP listener");
    let event = run_event("START", RUN, 0);

    let (code, answer) = post(http, &event, &[]).await;
    assert_eq!(
        (code, answer["code"].clone()),
        (401, json!(401)),
        "{answer}"
    );
    let (code, answer) = post(http, &event, &[("Authorization", "Bearer not-a-token")]).await;
    assert_eq!(code, 401, "{answer}");
    let reader = format!("Bearer {READER}");
    let (code, answer) = post(http, &event, &[("Authorization", &reader)]).await;
    assert_eq!(code, 403, "{answer}");
    assert!(
        answer["message"]
            .as_str()
            .unwrap_or("")
            .contains("producer"),
        "{answer}"
    );
    let producer = format!("Bearer {PRODUCER}");
    let mut elsewhere = event.clone();
    elsewhere["job"]["namespace"] = json!("payments");
    let (code, answer) = post(http, &elsewhere, &[("Authorization", &producer)]).await;
    assert_eq!(code, 403, "another workspace: {answer}");
    // Until lineaged has connected to NATS (after its log is replayed), a
    // post is 503, which a client retries.
    let answer = wait_for("a post once NATS is connected", || {
        let (event, producer) = (&event, &producer);
        async move {
            let (code, answer) = post(http, event, &[("Authorization", producer)]).await;
            (code != 503).then_some((code, answer))
        }
    })
    .await;
    assert_eq!(answer.0, 201, "{}", answer.1);

    // The reader may read the events back; without a token nobody may.
    let (code, _) = http_json(http, "GET", "/api/v1/events/lineage", &[], b"").await;
    assert_eq!(code, 401);
    let (code, answer) = http_json(
        http,
        "GET",
        "/api/v1/events/lineage",
        &[("Authorization", &reader)],
        b"",
    )
    .await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["totalCount"], 1, "{answer}");
    lineaged.stop().await;
}
