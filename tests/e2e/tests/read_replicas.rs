//! Read replicas: two lineaged reading one events stream, each with its
//! own durable consumer and its own log, answer every question the same
//! way. The second starts after the demo history is in the stream (and
//! in the first's log) and catches up from the stream; a few more events
//! then arrive while both run.
//!
//! "The same" is checked at every level a client could see: the same head
//! sequence, graph size and state digest (`GetStatus`); the same records
//! in the same order in each log (`Replay`: sequence, stream sequence,
//! key, payload digest, the event and its bytes); each replica's durable
//! consumer acknowledged the whole stream; and byte-identical answers
//! (their protobuf encoding) to a set of questions over all four
//! workspaces: entities, provenance, impact (now and as of a date), runs
//! using a dataset, model traces, run search and comparison, promotion
//! checks and a lineage diff.
//!
//! The logs are identical, hashes included: a record is stamped with the
//! time JetStream stored its message (the same for every consumer), and
//! both replicas are given one field secret (`--field-secret-file`), which
//! keys the content digests (ARCHITECTURE.md, "Erasure"). So both end with
//! the same head hash, and every record of one equals the other's.

use async_nats::jetstream;
use lineage_e2e::events::credit_story;
use lineage_e2e::{
    Lineaged, entity, nats_with_events_stream, publish, publish_demo_history, wait_for,
};
use lineage_proto::v1;
use lineage_proto::v1::EntityKind::{DatasetVersion, Endpoint, Experiment, ModelVersion, Run};
use prost::Message;

const REPLICA_A: &str = "replica-a";
const REPLICA_B: &str = "replica-b";
const EVENTS_STREAM: &str = "LINEAGE_EVENTS";

/// One question's answer from one replica.
#[derive(Debug)]
struct Answer {
    question: &'static str,
    /// The answer's protobuf encoding: what "identical" means.
    bytes: Vec<u8>,
    /// Its fields, to show what differs when the bytes do.
    fields: String,
}

impl Answer {
    fn of(question: &'static str, answer: &(impl Message + std::fmt::Debug)) -> Self {
        let bytes = answer.encode_to_vec();
        assert!(
            !bytes.is_empty(),
            "{question}: an empty answer proves nothing"
        );
        Self {
            question,
            bytes,
            fields: format!("{answer:#?}"),
        }
    }
}

fn get(workspace: &str, kind: v1::EntityKind, name: &str, version: &str) -> v1::GetEntityRequest {
    v1::GetEntityRequest {
        entity: Some(entity(workspace, kind, name, version)),
        ..Default::default()
    }
}

fn traversal(
    workspace: &str,
    kind: v1::EntityKind,
    name: &str,
    version: &str,
) -> v1::TraversalRequest {
    v1::TraversalRequest {
        root: Some(entity(workspace, kind, name, version)),
        view: v1::EntityView::Full as i32,
        ..Default::default()
    }
}

fn trace(workspace: &str, model: &str, version: &str) -> v1::TraceModelRequest {
    v1::TraceModelRequest {
        workspace: workspace.into(),
        model: model.into(),
        version: version.into(),
        view: v1::EntityView::Full as i32,
        ..Default::default()
    }
}

/// A moment of the demo history: after applications@3 was flagged,
/// before credit-risk@8 was promoted.
fn incident() -> v1::AsOf {
    v1::AsOf {
        point: Some(v1::as_of::Point::OccurredBy(
            serde_json::from_str("\"2026-11-01T00:00:00Z\"").expect("a timestamp"),
        )),
    }
}

/// Asks `replica` every question, in a fixed order. Each must be answered:
/// two replicas that both fail would agree and prove nothing.
async fn ask_everything(replica: &Lineaged) -> Vec<Answer> {
    let mut client = replica.client().await;
    let mut answers = Vec::new();
    macro_rules! ask {
        ($question:literal, $rpc:ident, $request:expr) => {{
            let answer = client
                .$rpc($request)
                .await
                .unwrap_or_else(|status| panic!("{}: {status}", $question))
                .into_inner();
            answers.push(Answer::of($question, &answer));
        }};
    }

    let lender = "credit-lender";
    ask!(
        "model",
        get_entity,
        get(lender, ModelVersion, "credit-risk", "7")
    );
    ask!(
        "dataset",
        get_entity,
        get(lender, DatasetVersion, "applications", "3")
    );
    ask!("run", get_entity, get(lender, Run, "cr-sweep-0706-t08", ""));
    ask!(
        "endpoint",
        get_entity,
        get(lender, Endpoint, "credit-scoring-eu", "")
    );
    ask!(
        "experiment",
        get_entity,
        get(lender, Experiment, "credit-risk-2026", "")
    );
    ask!(
        "provenance",
        provenance,
        traversal(lender, ModelVersion, "credit-risk", "7")
    );
    ask!(
        "impact",
        impact,
        traversal(lender, DatasetVersion, "applications", "3")
    );
    ask!(
        "impact as of the incident",
        impact,
        v1::TraversalRequest {
            as_of: Some(incident()),
            ..traversal(lender, DatasetVersion, "applications", "3")
        }
    );
    ask!(
        "runs using any version",
        runs_using_dataset,
        v1::RunsUsingDatasetRequest {
            workspace: lender.into(),
            dataset: "applications".into(),
            page_size: 1000,
            view: v1::EntityView::Full as i32,
            ..Default::default()
        }
    );
    ask!("trace", trace_model, trace(lender, "credit-risk", "7"));
    ask!(
        "search",
        search_runs,
        v1::SearchRunsRequest {
            workspace: lender.into(),
            filter: "metrics.auc > 0.75 and uses dataset 'applications-features'".into(),
            order_by: vec!["metrics.auc DESC".into()],
            page_size: 100,
            ..Default::default()
        }
    );
    ask!(
        "compare",
        compare_runs,
        v1::CompareRunsRequest {
            workspace: lender.into(),
            run_ids: vec!["cr-sweep-0706-t08".into(), "cr-xgb-1022".into()],
            ..Default::default()
        }
    );
    ask!(
        "promotion",
        check_promotion,
        v1::CheckPromotionRequest {
            workspace: lender.into(),
            model: "credit-risk".into(),
            version: "7".into(),
            ..Default::default()
        }
    );
    ask!(
        "diff",
        diff_lineage,
        v1::DiffLineageRequest {
            a: Some(entity(lender, ModelVersion, "credit-risk", "7")),
            b: Some(entity(lender, ModelVersion, "credit-risk", "8")),
            ..Default::default()
        }
    );
    ask!(
        "fraud trace",
        trace_model,
        trace("insurer-fraud", "fraud", "10")
    );
    ask!(
        "runs using claims",
        runs_using_dataset,
        v1::RunsUsingDatasetRequest {
            workspace: "insurer-fraud".into(),
            dataset: "claims".into(),
            version: "3".into(),
            page_size: 1000,
            ..Default::default()
        }
    );
    ask!(
        "yield trace",
        trace_model,
        trace("agri-yield", "wheat-yield", "1")
    );
    ask!(
        "weather impact",
        impact,
        traversal("agri-yield", DatasetVersion, "weather-daily", "v10")
    );
    // The events published while both replicas ran.
    ask!(
        "story trace",
        trace_model,
        trace("lender", "credit-risk", "7")
    );
    ask!(
        "story endpoint",
        get_entity,
        get("lender", Endpoint, "credit-scoring-eu", "")
    );
    answers
}

/// What of a log record is the same in every replica's log.
fn replicated_part(record: &v1::LogRecord) -> impl PartialEq + std::fmt::Debug {
    (
        (record.seq, record.stream_seq, record.encoding),
        record.recorded_at_unix_nanos,
        (record.key.clone(), record.content_digest.clone()),
        record.payload_digest.clone(),
        (record.prev_hash.clone(), record.hash.clone()),
        record.event.clone(),
        record.original.clone(),
    )
}

/// Waits until the replica's durable consumer has acknowledged the whole
/// stream, and returns its info.
async fn consumer_caught_up(js: &jetstream::Context, consumer: &str) -> jetstream::consumer::Info {
    wait_for(&format!("{consumer} acknowledged the stream"), || async {
        let mut stream = js.get_stream(EVENTS_STREAM).await.ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        let info = stream.consumer_info(consumer).await.ok()?;
        (info.ack_floor.stream_sequence == last).then_some(info)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_with_their_own_consumers_answer_alike() {
    let (nats, js) = nats_with_events_stream().await;
    let data_a = tempfile::tempdir().expect("data dir a");
    let data_b = tempfile::tempdir().expect("data dir b");

    let secret = tempfile::NamedTempFile::new().expect("secret file");
    std::fs::write(secret.path(), "5e".repeat(32)).expect("write the secret");
    let replica_a = Lineaged::start(&nats.url(), data_a.path(), |config| {
        config.consumer = REPLICA_A.into();
        config.field_secret_file = Some(secret.path().into());
    })
    .await;
    let history = publish_demo_history(&js).await;
    replica_a.wait_applied(history).await;

    // The second replica starts with the history already in the stream.
    let replica_b = Lineaged::start(&nats.url(), data_b.path(), |config| {
        config.consumer = REPLICA_B.into();
        config.field_secret_file = Some(secret.path().into());
    })
    .await;
    let story = credit_story();
    for event in &story {
        publish(&js, event).await;
    }
    let total = history + story.len() as u64;
    replica_a.wait_applied(total).await;
    replica_b.wait_applied(total).await;

    let status_a = replica_a.status_with_digest().await;
    let status_b = replica_b.status_with_digest().await;
    assert_eq!(status_a.head_seq, total);
    assert_eq!(status_b.head_seq, total);
    assert!(!status_a.head_hash.is_empty());
    assert_eq!(status_a.head_hash, status_b.head_hash, "identical logs");
    assert_eq!(status_a.applied_seq, status_b.applied_seq);
    assert_eq!(
        (status_a.nodes, status_a.edges),
        (status_b.nodes, status_b.edges)
    );
    assert_eq!(status_a.dead_lettered, 0);
    assert_eq!(status_b.dead_lettered, 0);
    assert!(!status_a.state_digest.is_empty());
    assert_eq!(status_a.state_digest, status_b.state_digest);

    // Each consumed the whole stream through a consumer of its own.
    let consumer_a = consumer_caught_up(&js, REPLICA_A).await;
    let consumer_b = consumer_caught_up(&js, REPLICA_B).await;
    assert_eq!(consumer_a.ack_floor.stream_sequence, total);
    assert_eq!(consumer_b.ack_floor.stream_sequence, total);

    let log_a = replica_a
        .replay(v1::ReplayRequest::default())
        .await
        .expect("replay a");
    let log_b = replica_b
        .replay(v1::ReplayRequest::default())
        .await
        .expect("replay b");
    assert_eq!(log_a.len() as u64, total);
    assert_eq!(log_b.len() as u64, total);
    for (record_a, record_b) in log_a.iter().zip(&log_b) {
        assert_eq!(
            replicated_part(record_a),
            replicated_part(record_b),
            "record {}",
            record_a.seq
        );
    }

    let answers_a = ask_everything(&replica_a).await;
    let answers_b = ask_everything(&replica_b).await;
    assert_eq!(answers_a.len(), answers_b.len());
    for (a, b) in answers_a.iter().zip(&answers_b) {
        assert_eq!(a.question, b.question);
        if a.bytes != b.bytes {
            assert_eq!(
                a.fields, b.fields,
                "{}: the replicas answer alike",
                a.question
            );
            panic!("{}: the same fields, encoded differently", a.question);
        }
    }

    replica_b.stop().await;
    replica_a.stop().await;
}
