//! Time travel against a real nats-server and lineaged: a history published
//! in three stages, each waited for, in which later stages re-start a run in
//! another environment (its RAN_IN edge moves), read a dataset version from
//! a second and a third run, re-register a model version from another run,
//! register a new version, re-log a metric, change a tag, move a deployment
//! and erase a run's owner. Event times do not follow publication order: a
//! flag and a dataset version logged in the first stage happened last, and a
//! dataset version logged in the second stage happened first.
//!
//! Every query of the spine, asked `as_of` a stage's log sequence, a
//! recorded time between two stages, or an event time, answers what that
//! moment held: the facts and edges of then, NOT_FOUND for what came later,
//! the cut's sequence as `applied_seq`, erased values still erased. A
//! recorded time answers exactly as the last sequence stored by then; a
//! sequence not logged yet is DEADLINE_EXCEEDED within the request's
//! deadline; a malformed moment is INVALID_ARGUMENT naming its field; and a
//! restart, from the snapshot taken at shutdown and from the log alone,
//! answers every moment exactly as before.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_nats::jetstream;
use lineage_e2e::events::{
    artifact, dataset, deployed, event, flagged, inputs, map, metric, registered, run_finished,
    run_started, stage,
};
use lineage_e2e::{
    Lineaged, NatsServer, WAIT, entity, label, labels, nats_with_events_stream, publish, timestamp,
};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use lineage_proto::{prov, validate};
use prost::Message as _;
use tonic::transport::Channel;

type Client = LineageServiceClient<Channel>;

const WS: &str = "credit";
/// Run train-a's owner, erased by the third stage's redaction.
const OWNER: &str = "alice@lender.example";
const XGBOOST: (&str, &str) = ("xgboost", "2.0.3");
const LIGHTGBM: (&str, &str) = ("lightgbm", "4.1.0");

// ---------------------------------------------------------------------------
// The history.

fn started(run_id: &str, environment: (&str, &str), lr: &str) -> Payload {
    let mut payload = run_started(run_id, "", &[("lr", lr)]);
    if let Payload::RunStarted(started) = &mut payload {
        started.environment = Some(v1::EnvironmentRef {
            name: environment.0.into(),
            version: environment.1.into(),
        });
        started.tags = map(&[("team", "credit-risk"), ("owner", OWNER)]);
    }
    payload
}

fn risk_tier(version: &str, tier: &str) -> Payload {
    Payload::TagsSet(v1::TagsSet {
        entity: Some(model(version)),
        tags: map(&[("risk-tier", tier)]),
    })
}

fn redaction(run_id: &str, fields: &[&str]) -> Payload {
    Payload::RedactionRequested(v1::RedactionRequested {
        entity: Some(run(run_id)),
        fields: fields.iter().map(|field| (*field).to_owned()).collect(),
        reason: "GDPR erasure request #7".into(),
    })
}

/// One event of the history, at `minute` of event time.
fn at(minute: i64, id: &str, payload: Payload) -> v1::Event {
    event(id, WS, minute, payload)
}

/// Run train-a reads applications@1 in xgboost and is the source of
/// credit-risk@1, deployed to scoring-eu. Logged now, happened at minute
/// 200: a flag on applications@1 and the registration of bureau-scores@1.
fn first_stage() -> Vec<v1::Event> {
    vec![
        at(10, "app-1", dataset("applications", "1", &[], "")),
        at(20, "a-start", started("train-a", XGBOOST, "0.1")),
        at(21, "a-inputs", inputs("train-a", &[("applications", "1")])),
        at(22, "a-auc", metric("train-a", "auc", 0.71)),
        at(23, "a-model", artifact("train-a", "model.pkl")),
        at(24, "a-end", run_finished("train-a")),
        at(
            25,
            "m1-registered",
            registered("credit-risk", "1", "train-a", "model.pkl"),
        ),
        at(
            26,
            "m1-deployed",
            deployed("credit-risk", "1", "scoring-eu"),
        ),
        at(27, "m1-tier", risk_tier("1", "low")),
        at(
            28,
            "m1-staging",
            stage("credit-risk", "1", v1::ModelStage::Staging),
        ),
        at(
            200,
            "app-1-flagged",
            flagged(v1::EntityKind::DatasetVersion, "applications", "1"),
        ),
        at(200, "bureau-1", dataset("bureau-scores", "1", &[], "")),
    ]
}

/// train-a is re-started in lightgbm with another learning rate and its
/// AUC re-logged; train-b reads applications@1 and features@2 (logged now,
/// happened at minute 5), becomes credit-risk@1's source run and registers
/// credit-risk@2, which replaces @1 at scoring-eu.
fn second_stage() -> Vec<v1::Event> {
    vec![
        at(40, "a-restart", started("train-a", LIGHTGBM, "0.05")),
        at(41, "a-auc-again", metric("train-a", "auc", 0.74)),
        at(42, "m1-tier-2", risk_tier("1", "medium")),
        at(
            5,
            "features-2",
            dataset("features", "2", &[("applications", "1")], ""),
        ),
        at(43, "b-start", started("train-b", LIGHTGBM, "0.02")),
        at(
            44,
            "b-inputs",
            inputs("train-b", &[("applications", "1"), ("features", "2")]),
        ),
        at(45, "b-auc", metric("train-b", "auc", 0.79)),
        at(45, "b-model", artifact("train-b", "model.pkl")),
        at(46, "b-end", run_finished("train-b")),
        at(
            47,
            "m1-re-registered",
            registered("credit-risk", "1", "train-b", "model.pkl"),
        ),
        at(
            48,
            "m2-registered",
            registered("credit-risk", "2", "train-b", "model.pkl"),
        ),
        at(
            49,
            "m2-deployed",
            deployed("credit-risk", "2", "scoring-eu"),
        ),
        at(
            50,
            "m1-production",
            stage("credit-risk", "1", v1::ModelStage::Production),
        ),
    ]
}

/// The tag changes again, train-c reads applications@1, and train-a's
/// owner is erased.
fn third_stage() -> Vec<v1::Event> {
    let mut erasure = at(
        80,
        "a-redacted",
        redaction("train-a", &["actor", "tags.owner"]),
    );
    erasure.actor = "dpo@lender.example".into();
    vec![
        at(60, "m1-tier-3", risk_tier("1", "high")),
        at(70, "c-start", started("train-c", LIGHTGBM, "0.3")),
        at(71, "c-inputs", inputs("train-c", &[("applications", "1")])),
        erasure,
    ]
}

/// The history published stage by stage against a running lineaged.
struct History {
    /// The service the history was published to, all of it applied.
    lineaged: Lineaged,
    /// The log sequence after each stage.
    seqs: [u64; 3],
    /// Wall-clock times between the stages: after every record of the
    /// stage before was stored, before any of the stage after.
    between: [pbjson_types::Timestamp; 2],
    /// The log and snapshots, for a restart on the same data.
    data: tempfile::TempDir,
    /// Kept running for a restart; stopped when dropped.
    nats: NatsServer,
}

impl History {
    async fn publish() -> Self {
        let (nats, js) = nats_with_events_stream().await;
        let data = tempfile::tempdir().expect("data dir");
        let lineaged = Lineaged::start(&nats.url(), data.path(), |config| {
            // Snapshots in the middle of the history too, not only at stop.
            config.snapshot_every = 4;
        })
        .await;
        let s1 = publish_stage(&js, &lineaged, &first_stage(), 0).await;
        let t1 = a_recorded_time_between_stages().await;
        let s2 = publish_stage(&js, &lineaged, &second_stage(), s1).await;
        let t2 = a_recorded_time_between_stages().await;
        let s3 = publish_stage(&js, &lineaged, &third_stage(), s2).await;
        lineaged
            .wait_status("the redaction carried out", |status| {
                status.redactions_pending == 0
            })
            .await;
        Self {
            lineaged,
            seqs: [s1, s2, s3],
            between: [t1, t2],
            data,
            nats,
        }
    }

    async fn client(&self) -> Client {
        self.lineaged.client().await
    }
}

/// Publishes a stage and waits until the graph has applied it; returns the
/// log sequence after it.
async fn publish_stage(
    js: &jetstream::Context,
    lineaged: &Lineaged,
    stage: &[v1::Event],
    before: u64,
) -> u64 {
    for event in stage {
        assert!(!publish(js, event).await, "{} is new", event.event_id);
    }
    let seq = before + stage.len() as u64;
    let status = lineaged.wait_applied(seq).await;
    assert_eq!((status.applied_seq, status.dead_lettered), (seq, 0));
    seq
}

/// A wall-clock time the log's recorded times fall clearly on either side
/// of.
async fn a_recorded_time_between_stages() -> pbjson_types::Timestamp {
    tokio::time::sleep(Duration::from_millis(50)).await;
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_nanos();
    tokio::time::sleep(Duration::from_millis(50)).await;
    timestamp(i64::try_from(nanos).expect("before 2262"))
}

// ---------------------------------------------------------------------------
// Moments and references.

fn moment(point: v1::as_of::Point) -> Option<v1::AsOf> {
    Some(v1::AsOf { point: Some(point) })
}

fn at_seq(seq: u64) -> Option<v1::AsOf> {
    moment(v1::as_of::Point::Seq(seq))
}

fn recorded_at(time: pbjson_types::Timestamp) -> Option<v1::AsOf> {
    moment(v1::as_of::Point::RecordedAt(time))
}

/// The event time of `minute` in the history, as the events state it.
fn event_time(minute: i64) -> pbjson_types::Timestamp {
    at(minute, "clock", run_finished("clock"))
        .occurred_at
        .expect("events carry their time")
}

fn occurred_by(minute: i64) -> Option<v1::AsOf> {
    moment(v1::as_of::Point::OccurredBy(event_time(minute)))
}

fn run(run_id: &str) -> v1::EntityRef {
    entity(WS, v1::EntityKind::Run, run_id, "")
}

fn model(version: &str) -> v1::EntityRef {
    entity(WS, v1::EntityKind::ModelVersion, "credit-risk", version)
}

fn dataset_version(name: &str, version: &str) -> v1::EntityRef {
    entity(WS, v1::EntityKind::DatasetVersion, name, version)
}

fn environment_ref((name, version): (&str, &str)) -> v1::EntityRef {
    entity(WS, v1::EntityKind::Environment, name, version)
}

fn endpoint() -> v1::EntityRef {
    entity(WS, v1::EntityKind::Endpoint, "scoring-eu", "")
}

fn ref_label(reference: &v1::EntityRef) -> String {
    label(&v1::Entity {
        r#ref: Some(reference.clone()),
        ..Default::default()
    })
}

fn strings(items: &[&str]) -> Vec<String> {
    let mut items: Vec<String> = items.iter().map(|item| (*item).to_owned()).collect();
    items.sort();
    items
}

// ---------------------------------------------------------------------------
// Questions.

async fn get(
    client: &mut Client,
    entity: v1::EntityRef,
    as_of: Option<v1::AsOf>,
) -> Result<v1::Entity, tonic::Status> {
    client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity),
            as_of,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// GetEntity of something that exists at that moment.
async fn known(client: &mut Client, entity: v1::EntityRef, as_of: Option<v1::AsOf>) -> v1::Entity {
    let what = format!("{} as of {as_of:?}", ref_label(&entity));
    get(client, entity, as_of)
        .await
        .unwrap_or_else(|status| panic!("{what}: {status:?}"))
}

fn traversal(root: v1::EntityRef, as_of: Option<v1::AsOf>) -> v1::TraversalRequest {
    v1::TraversalRequest {
        root: Some(root),
        view: v1::EntityView::Full as i32,
        as_of,
        ..Default::default()
    }
}

async fn provenance(client: &mut Client, request: v1::TraversalRequest) -> v1::Subgraph {
    client
        .provenance(request)
        .await
        .expect("provenance")
        .into_inner()
}

async fn impact(client: &mut Client, request: v1::TraversalRequest) -> v1::Subgraph {
    client.impact(request).await.expect("impact").into_inner()
}

/// Every page of the runs that read applications@1, `page_size` at a time,
/// each page asked with the same `as_of`.
async fn runs_using(
    client: &mut Client,
    page_size: u32,
    as_of: Option<v1::AsOf>,
) -> Result<Vec<v1::RunsUsingDatasetResponse>, tonic::Status> {
    let mut pages = Vec::new();
    let mut page_token = String::new();
    for _ in 0..10 {
        let page = client
            .runs_using_dataset(v1::RunsUsingDatasetRequest {
                workspace: WS.into(),
                dataset: "applications".into(),
                version: "1".into(),
                page_size,
                page_token: page_token.clone(),
                view: v1::EntityView::Full as i32,
                as_of,
                ..Default::default()
            })
            .await?
            .into_inner();
        page_token = page.next_page_token.clone();
        pages.push(page);
        if page_token.is_empty() {
            return Ok(pages);
        }
    }
    panic!("more than 10 pages of at most three runs");
}

/// The run ids of each page.
fn page_runs(pages: &[v1::RunsUsingDatasetResponse]) -> Vec<Vec<String>> {
    pages
        .iter()
        .map(|page| {
            page.runs
                .iter()
                .map(|run| run.r#ref.as_ref().expect("a ref").name.clone())
                .collect()
        })
        .collect()
}

async fn trace(
    client: &mut Client,
    version: &str,
    as_of: Option<v1::AsOf>,
) -> Result<v1::ModelTrace, tonic::Status> {
    client
        .trace_model(v1::TraceModelRequest {
            workspace: WS.into(),
            model: "credit-risk".into(),
            version: version.into(),
            view: v1::EntityView::Full as i32,
            as_of,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

/// credit-risk@1 as of `a_as_of` against itself as of `b_as_of`.
async fn diff_with_itself(
    client: &mut Client,
    a_as_of: Option<v1::AsOf>,
    b_as_of: Option<v1::AsOf>,
) -> Result<v1::LineageDiff, tonic::Status> {
    client
        .diff_lineage(v1::DiffLineageRequest {
            a: Some(model("1")),
            b: Some(model("1")),
            a_as_of,
            b_as_of,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn export(
    client: &mut Client,
    root: v1::EntityRef,
    as_of: Option<v1::AsOf>,
) -> Result<v1::ExportProvResponse, tonic::Status> {
    client
        .export_prov(v1::ExportProvRequest {
            root: Some(root),
            as_of,
            ..Default::default()
        })
        .await
        .map(tonic::Response::into_inner)
}

// ---------------------------------------------------------------------------
// Reading answers.

fn run_details(entity: &v1::Entity) -> &v1::RunDetails {
    match &entity.details {
        Some(v1::entity::Details::Run(run)) => run,
        other => panic!("not a run: {other:?}"),
    }
}

fn model_details(entity: &v1::Entity) -> &v1::ModelVersionDetails {
    match &entity.details {
        Some(v1::entity::Details::ModelVersion(model)) => model,
        other => panic!("not a model version: {other:?}"),
    }
}

fn endpoint_details(entity: &v1::Entity) -> &v1::EndpointDetails {
    match &entity.details {
        Some(v1::entity::Details::Endpoint(endpoint)) => endpoint,
        other => panic!("not an endpoint: {other:?}"),
    }
}

fn environment(run: &v1::RunDetails) -> String {
    let environment = run.environment.as_ref().expect("an environment");
    format!("env:{}@{}", environment.name, environment.version)
}

fn latest(run: &v1::RunDetails, key: &str) -> Option<f64> {
    run.latest_metrics
        .iter()
        .find(|metric| metric.key == key)
        .map(|metric| metric.value)
}

/// The source run's id a model trace names.
fn source_run(trace: &v1::ModelTrace) -> String {
    trace
        .source_run
        .as_ref()
        .and_then(|run| run.r#ref.as_ref())
        .map(|r| r.name.clone())
        .expect("a trace with a source run")
}

#[track_caller]
fn assert_not_found(result: Result<v1::Entity, tonic::Status>, says: &str) {
    let status = result.expect_err("not there at that moment");
    assert_eq!(status.code(), tonic::Code::NotFound, "{status:?}");
    assert!(status.message().contains(says), "{status:?}");
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: Result<T, tonic::Status>, field: &str) {
    let status = result.expect_err("a malformed moment");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(&format!("{field}: ")),
        "{status:?}"
    );
}

// ---------------------------------------------------------------------------
// Every question at one moment, for comparing two moments or two starts.

/// One answer, or how it was refused, compared whole between two moments
/// or two starts of the service.
#[derive(Debug, PartialEq)]
enum Answer {
    Entity(Box<v1::Entity>),
    Subgraph(v1::Subgraph),
    Runs(Vec<v1::RunsUsingDatasetResponse>),
    Trace(Box<v1::ModelTrace>),
    Diff(Box<v1::LineageDiff>),
    Export(v1::ExportProvResponse),
    Refused(tonic::Code, String),
}

fn answer<T>(result: Result<T, tonic::Status>, wrap: impl FnOnce(T) -> Answer) -> Answer {
    match result {
        Ok(value) => wrap(value),
        Err(status) => Answer::Refused(status.code(), status.message().to_owned()),
    }
}

/// Every query of the spine about the history, at `as_of` (the diff
/// compares credit-risk@1 then with itself now).
async fn ask_everything(client: &mut Client, as_of: Option<v1::AsOf>) -> Vec<(String, Answer)> {
    let mut answers = Vec::new();
    for entity in [
        run("train-a"),
        run("train-b"),
        run("train-c"),
        model("1"),
        model("2"),
        dataset_version("applications", "1"),
        dataset_version("features", "2"),
        dataset_version("bureau-scores", "1"),
        endpoint(),
        environment_ref(XGBOOST),
        environment_ref(LIGHTGBM),
    ] {
        let what = format!("get {}", ref_label(&entity));
        let got = get(client, entity, as_of).await;
        answers.push((what, answer(got, |e| Answer::Entity(Box::new(e)))));
    }
    let upstream = client
        .provenance(traversal(model("1"), as_of))
        .await
        .map(tonic::Response::into_inner);
    answers.push(("provenance".into(), answer(upstream, Answer::Subgraph)));
    let downstream = client
        .impact(traversal(dataset_version("applications", "1"), as_of))
        .await
        .map(tonic::Response::into_inner);
    answers.push(("impact".into(), answer(downstream, Answer::Subgraph)));
    let runs = runs_using(client, 1, as_of).await;
    answers.push(("runs using".into(), answer(runs, Answer::Runs)));
    let traced = trace(client, "1", as_of).await;
    answers.push((
        "trace".into(),
        answer(traced, |t| Answer::Trace(Box::new(t))),
    ));
    let diff = diff_with_itself(client, as_of, None).await;
    answers.push(("diff".into(), answer(diff, |d| Answer::Diff(Box::new(d)))));
    let exported = export(client, model("1"), as_of).await;
    answers.push(("export".into(), answer(exported, Answer::Export)));
    answers
}

/// The moments the restart must answer the same at.
fn moments(history: &History) -> Vec<Option<v1::AsOf>> {
    let [s1, s2, s3] = history.seqs;
    vec![
        None,
        at_seq(s1),
        at_seq(s2),
        at_seq(s3),
        recorded_at(history.between[0]),
        recorded_at(history.between[1]),
        occurred_by(4),
        occurred_by(7),
        occurred_by(30),
        occurred_by(40),
        occurred_by(46),
        occurred_by(200),
    ]
}

// ---------------------------------------------------------------------------
// The tests.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_entity_as_of_each_stage_shows_that_stage_s_facts() {
    let history = History::publish().await;
    let mut client = history.client().await;
    let [s1, s2, s3] = history.seqs;

    struct Stage {
        seq: u64,
        environment: &'static str,
        lr: &'static str,
        auc: f64,
        source_run: &'static str,
        risk_tier: &'static str,
        registered_minute: i64,
        deployed_to: &'static [&'static str],
        model_stage: v1::ModelStage,
        stage_changes: usize,
        endpoint_serves: &'static str,
        redactions: usize,
    }
    let stages = [
        Stage {
            seq: s1,
            environment: "env:xgboost@2.0.3",
            lr: "0.1",
            auc: 0.71,
            source_run: "train-a",
            risk_tier: "low",
            registered_minute: 25,
            deployed_to: &["scoring-eu"],
            model_stage: v1::ModelStage::Staging,
            stage_changes: 1,
            endpoint_serves: "1",
            redactions: 0,
        },
        Stage {
            seq: s2,
            environment: "env:lightgbm@4.1.0",
            lr: "0.05",
            auc: 0.74,
            source_run: "train-b",
            risk_tier: "medium",
            registered_minute: 47,
            deployed_to: &[],
            model_stage: v1::ModelStage::Production,
            stage_changes: 2,
            endpoint_serves: "2",
            redactions: 0,
        },
        Stage {
            seq: s3,
            environment: "env:lightgbm@4.1.0",
            lr: "0.05",
            auc: 0.74,
            source_run: "train-b",
            risk_tier: "high",
            registered_minute: 47,
            deployed_to: &[],
            model_stage: v1::ModelStage::Production,
            stage_changes: 2,
            endpoint_serves: "2",
            redactions: 1,
        },
    ];
    for stage in &stages {
        let seq = stage.seq;
        let train_a = known(&mut client, run("train-a"), at_seq(seq)).await;
        assert_eq!(train_a.applied_seq, seq);
        let details = run_details(&train_a);
        assert_eq!(environment(details), stage.environment, "as of {seq}");
        assert_eq!(details.params["lr"], stage.lr, "as of {seq}");
        assert_eq!(latest(details, "auc"), Some(stage.auc), "as of {seq}");
        // Erased by the third stage, and erased in every view, the
        // redaction itself listed only from its own sequence on.
        assert_eq!(details.owner, "", "as of {seq}");
        assert_eq!(
            train_a.tags.get("owner").map(String::as_str),
            Some(""),
            "as of {seq}"
        );
        assert_eq!(train_a.tags["team"], "credit-risk");
        assert_eq!(train_a.redactions.len(), stage.redactions, "as of {seq}");

        let model_1 = known(&mut client, model("1"), at_seq(seq)).await;
        assert_eq!(model_1.applied_seq, seq);
        let details = model_details(&model_1);
        assert_eq!(details.source_run_id, stage.source_run, "as of {seq}");
        assert_eq!(
            details.registered_at,
            Some(event_time(stage.registered_minute))
        );
        assert_eq!(model_1.tags["risk-tier"], stage.risk_tier, "as of {seq}");
        assert_eq!(details.stage, stage.model_stage as i32, "as of {seq}");
        assert_eq!(
            details.stage_history.len(),
            stage.stage_changes,
            "as of {seq}"
        );
        let deployed_to: Vec<&str> = details
            .deployments
            .iter()
            .map(|d| d.endpoint.as_str())
            .collect();
        assert_eq!(deployed_to, stage.deployed_to, "as of {seq}");

        let scoring = known(&mut client, endpoint(), at_seq(seq)).await;
        let serves = endpoint_details(&scoring).model.as_ref().expect("a model");
        assert_eq!(
            (serves.model.as_str(), serves.version.as_str()),
            ("credit-risk", stage.endpoint_serves),
            "as of {seq}"
        );
    }

    // The present is the view as of the head, entity for entity.
    for (what, now) in ask_everything(&mut client, None).await {
        if let Answer::Entity(now) = now {
            assert_eq!(now.applied_seq, s3, "{what}");
        }
    }
    assert_eq!(
        ask_everything(&mut client, None).await,
        ask_everything(&mut client, at_seq(s3)).await
    );

    // What the second stage brought did not exist as of the first, and
    // says it came later; as of the second it does.
    for later in [
        run("train-b"),
        model("2"),
        dataset_version("features", "2"),
        environment_ref(LIGHTGBM),
    ] {
        assert_not_found(
            get(&mut client, later.clone(), at_seq(s1)).await,
            &format!("as of log sequence {s1} (it came later)"),
        );
        let then = known(&mut client, later, at_seq(s2)).await;
        assert_eq!(then.applied_seq, s2);
    }
    assert_not_found(
        get(&mut client, run("train-c"), at_seq(s2)).await,
        &format!("as of log sequence {s2} (it came later)"),
    );
    // Something that never existed is simply unknown.
    assert_not_found(
        get(&mut client, run("train-z"), at_seq(s1)).await,
        "no run:train-z",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversals_runs_and_traces_as_of_the_first_stage_show_the_first_stage() {
    let history = History::publish().await;
    let mut client = history.client().await;
    let [s1, s2, s3] = history.seqs;

    // Provenance of credit-risk@1: train-a's world then, train-b's now.
    let then = provenance(&mut client, traversal(model("1"), at_seq(s1))).await;
    assert_eq!(then.applied_seq, s1);
    assert_eq!(
        labels(&then.nodes),
        strings(&[
            "artifact:train-a/model.pkl",
            "compute:cpu-pool-a",
            "dataset:applications@1",
            "env:xgboost@2.0.3",
            "model:credit-risk@1",
            "run:train-a",
        ])
    );
    assert!(
        then.nodes.iter().all(|node| node.first_seq <= s1),
        "{then:?}"
    );
    assert!(
        then.edges.iter().all(|edge| edge.first_seq <= s1),
        "{then:?}"
    );
    let now = provenance(&mut client, traversal(model("1"), None)).await;
    assert_eq!(now.applied_seq, s3);
    assert_eq!(
        labels(&now.nodes),
        strings(&[
            "artifact:train-b/model.pkl",
            "compute:cpu-pool-a",
            "dataset:applications@1",
            "dataset:features@2",
            "env:lightgbm@4.1.0",
            "model:credit-risk@1",
            "run:train-b",
        ])
    );

    // Impact of applications@1: the second and third runs (and what they
    // made) only later.
    let first = strings(&[
        "artifact:train-a/model.pkl",
        "dataset:applications@1",
        "endpoint:scoring-eu",
        "model:credit-risk@1",
        "run:train-a",
    ]);
    let second = strings(&[
        "artifact:train-a/model.pkl",
        "artifact:train-b/model.pkl",
        "dataset:applications@1",
        "dataset:features@2",
        "endpoint:scoring-eu",
        "model:credit-risk@1",
        "model:credit-risk@2",
        "run:train-a",
        "run:train-b",
    ]);
    let mut third = second.clone();
    third.push("run:train-c".into());
    third.sort();
    for (as_of, seq, expected) in [
        (at_seq(s1), s1, &first),
        (at_seq(s2), s2, &second),
        (None, s3, &third),
    ] {
        let downstream = impact(
            &mut client,
            traversal(dataset_version("applications", "1"), as_of),
        )
        .await;
        assert_eq!(downstream.applied_seq, seq);
        assert_eq!(&labels(&downstream.nodes), expected, "as of {seq}");
    }

    // train-a's RAN_IN edge moved from xgboost to lightgbm.
    let ran_in = |root: v1::EntityRef, as_of| v1::TraversalRequest {
        edge_kinds: vec![v1::EdgeKind::RanIn as i32],
        ..traversal(root, as_of)
    };
    for (as_of, environment) in [
        (at_seq(s1), "env:xgboost@2.0.3"),
        (None, "env:lightgbm@4.1.0"),
    ] {
        let upstream = provenance(&mut client, ran_in(run("train-a"), as_of)).await;
        assert_eq!(
            labels(&upstream.nodes),
            strings(&[environment, "run:train-a"])
        );
        assert_eq!(upstream.edges.len(), 1);
    }
    let xgboost_then = impact(&mut client, ran_in(environment_ref(XGBOOST), at_seq(s1))).await;
    assert_eq!(
        labels(&xgboost_then.nodes),
        strings(&["env:xgboost@2.0.3", "run:train-a"])
    );
    let xgboost_now = impact(&mut client, ran_in(environment_ref(XGBOOST), None)).await;
    assert_eq!(labels(&xgboost_now.nodes), strings(&["env:xgboost@2.0.3"]));

    // The runs that read applications@1, a page of one at a time, every
    // page under the same moment.
    for (as_of, seq, expected) in [
        (at_seq(s1), s1, vec![vec!["train-a"]]),
        (at_seq(s2), s2, vec![vec!["train-a"], vec!["train-b"]]),
        (
            None,
            s3,
            vec![vec!["train-a"], vec!["train-b"], vec!["train-c"]],
        ),
    ] {
        let pages = runs_using(&mut client, 1, as_of).await.expect("runs using");
        assert_eq!(page_runs(&pages), expected, "as of {seq}");
        assert!(
            pages.iter().all(|page| page.applied_seq == seq),
            "{pages:?}"
        );
        // All at once: the same runs, in one page.
        let one_page = runs_using(&mut client, 10, as_of).await.expect("runs");
        assert_eq!(one_page.len(), 1);
        assert_eq!(
            page_runs(&one_page)[0],
            expected.concat(),
            "as of {seq} in one page"
        );
    }
    // Each run as it stood: train-a in xgboost as of the first stage.
    let pages = runs_using(&mut client, 1, at_seq(s1)).await.expect("runs");
    assert_eq!(
        environment(run_details(&pages[0].runs[0])),
        "env:xgboost@2.0.3"
    );
    // A dataset version that did not exist yet.
    let features_then = client
        .runs_using_dataset(v1::RunsUsingDatasetRequest {
            workspace: WS.into(),
            dataset: "features".into(),
            as_of: at_seq(s1),
            ..Default::default()
        })
        .await
        .expect_err("no version of features as of the first stage");
    assert_eq!(features_then.code(), tonic::Code::NotFound);

    // TraceModel: the first source run, its inputs and environment then;
    // the second now.
    let then = trace(&mut client, "1", at_seq(s1)).await.expect("trace");
    assert_eq!(then.applied_seq, s1);
    assert_eq!(source_run(&then), "train-a");
    assert_eq!(
        model_details(then.model.as_ref().expect("model")).source_run_id,
        "train-a"
    );
    assert_eq!(labels(&then.inputs), strings(&["dataset:applications@1"]));
    assert_eq!(
        then.environment.as_ref().map(label).as_deref(),
        Some("env:xgboost@2.0.3")
    );
    let upstream = then.upstream.as_ref().expect("upstream");
    assert!(
        !labels(&upstream.nodes).contains(&"run:train-b".to_owned()),
        "{upstream:?}"
    );
    let now = trace(&mut client, "1", None).await.expect("trace");
    assert_eq!(now.applied_seq, s3);
    assert_eq!(source_run(&now), "train-b");
    assert_eq!(
        labels(&now.inputs),
        strings(&["dataset:applications@1", "dataset:features@2"])
    );
    assert_eq!(
        now.environment.as_ref().map(label).as_deref(),
        Some("env:lightgbm@4.1.0")
    );
    let not_yet = trace(&mut client, "2", at_seq(s1))
        .await
        .expect_err("@2 came later");
    assert_eq!(not_yet.code(), tonic::Code::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_version_diffed_with_itself_and_exported_as_it_stood() {
    let history = History::publish().await;
    let mut client = history.client().await;
    let [s1, _, s3] = history.seqs;

    // credit-risk@1 as of the first stage against itself now.
    let diff = diff_with_itself(&mut client, at_seq(s1), None)
        .await
        .expect("a diff");
    assert_eq!(diff.applied_seq, s3);
    assert!(!diff.truncated);
    assert_eq!(
        diff.source_run_a.as_ref().map(ref_label).as_deref(),
        Some("run:train-a")
    );
    assert_eq!(
        diff.source_run_b.as_ref().map(ref_label).as_deref(),
        Some("run:train-b")
    );
    let added: Vec<String> = diff.datasets_added.iter().map(ref_label).collect();
    assert_eq!(added, ["dataset:features@2"]);
    assert!(diff.datasets_removed.is_empty(), "{diff:?}");
    assert_eq!(diff.datasets_unchanged, 1, "applications@1");
    let params: Vec<_> = diff
        .params
        .iter()
        .map(|c| (c.key.as_str(), c.a.as_deref(), c.b.as_deref()))
        .collect();
    assert_eq!(params, [("lr", Some("0.1"), Some("0.02"))]);
    let metrics: Vec<_> = diff
        .metrics
        .iter()
        .map(|c| (c.key.as_str(), c.a, c.b))
        .collect();
    assert_eq!(metrics, [("auc", Some(0.71), Some(0.79))]);
    let environment = diff.environment.as_ref().expect("the environment changed");
    assert_eq!(
        (
            environment.a.as_ref().map(ref_label),
            environment.b.as_ref().map(ref_label)
        ),
        (
            Some("env:xgboost@2.0.3".to_owned()),
            Some("env:lightgbm@4.1.0".to_owned())
        )
    );
    assert!(
        diff.code_version.is_none() && diff.compute.is_none(),
        "{diff:?}"
    );

    // The other way round, everything swaps sides.
    let back = diff_with_itself(&mut client, None, at_seq(s1))
        .await
        .expect("a diff");
    assert_eq!(back.source_run_a, diff.source_run_b);
    assert_eq!(back.datasets_removed, diff.datasets_added);
    assert!(back.datasets_added.is_empty());
    // The same moment on both sides: nothing differs.
    let same = diff_with_itself(&mut client, at_seq(s1), at_seq(s1))
        .await
        .expect("a diff");
    assert_eq!(same.source_run_a, same.source_run_b);
    assert!(same.datasets_added.is_empty() && same.datasets_removed.is_empty());
    assert!(same.params.is_empty() && same.metrics.is_empty());
    assert!(same.environment.is_none() && same.code_version.is_none());
    // By event time: still registered from train-a at minute 46, but
    // train-a had been re-started in lightgbm at minute 40.
    let by_event_time = diff_with_itself(&mut client, occurred_by(46), at_seq(s1))
        .await
        .expect("a diff");
    assert_eq!(by_event_time.source_run_a, diff.source_run_a);
    let environment = by_event_time.environment.expect("lightgbm then xgboost");
    assert_eq!(
        environment.a.as_ref().map(ref_label).as_deref(),
        Some("env:lightgbm@4.1.0")
    );

    // ExportProv as of the first stage: exactly the first stage's
    // provenance, and nothing of the second stage anywhere in it.
    let first_stage_ids: Vec<String> = first_stage().into_iter().map(|e| e.event_id).collect();
    let exported = export(&mut client, model("1"), at_seq(s1))
        .await
        .expect("an export");
    assert_eq!(exported.applied_seq, s1);
    let document: serde_json::Value = serde_json::from_str(&exported.document).expect("PROV-JSON");
    let upstream = provenance(&mut client, traversal(model("1"), at_seq(s1))).await;
    let (activities, entities) = prov_elements(&upstream);
    assert_eq!(element_ids(&document, "activity"), activities);
    assert_eq!(element_ids(&document, "entity"), entities);
    let mut cited = Vec::new();
    citations(&document, &mut cited);
    assert!(!cited.is_empty(), "{document}");
    for (seq, event_id) in &cited {
        if let Some(seq) = seq {
            assert!(*seq <= s1, "cites record {seq}: {document}");
        }
        assert!(
            first_stage_ids.contains(event_id),
            "cites {event_id}, not of the first stage: {document}"
        );
    }
    for later in ["train-b", "features", "lightgbm", "credit-risk/2"] {
        assert!(
            !exported.document.contains(later),
            "{later} in {}",
            exported.document
        );
    }
    // Now, the second stage is there.
    let now = export(&mut client, model("1"), None)
        .await
        .expect("an export");
    assert_eq!(now.applied_seq, s3);
    assert!(now.document.contains("train-b"), "{}", now.document);
}

/// The PROV identifiers of a subgraph's nodes: (activities, entities).
fn prov_elements(subgraph: &v1::Subgraph) -> (Vec<String>, Vec<String>) {
    let (mut activities, mut entities) = (Vec::new(), Vec::new());
    for node in &subgraph.nodes {
        let key = validate::entity_key("node", node.r#ref.as_ref()).expect("a valid ref");
        let id = prov::qualified(&key);
        if node.r#ref.as_ref().map(|r| r.kind) == Some(v1::EntityKind::Run as i32) {
            activities.push(id);
        } else {
            entities.push(id);
        }
    }
    activities.sort();
    entities.sort();
    (activities, entities)
}

fn element_ids(document: &serde_json::Value, kind: &str) -> Vec<String> {
    let mut ids: Vec<String> = document
        .get(kind)
        .and_then(|elements| elements.as_object())
        .map(|elements| elements.keys().cloned().collect())
        .unwrap_or_default();
    ids.sort();
    ids
}

/// Every (`lineage:seq`, `lineage:event_id`) an element or relation of a
/// PROV-JSON document cites.
fn citations(value: &serde_json::Value, found: &mut Vec<(Option<u64>, String)>) {
    match value {
        serde_json::Value::Object(object) => {
            if let Some(event_id) = object.get("lineage:event_id").and_then(|id| id.as_str()) {
                let seq = object.get("lineage:seq").and_then(|seq| seq.as_u64());
                found.push((seq, event_id.to_owned()));
            }
            for child in object.values() {
                citations(child, found);
            }
        }
        serde_json::Value::Array(items) => {
            for item in items {
                citations(item, found);
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_times_answer_as_sequences_and_event_times_as_what_had_happened() {
    let history = History::publish().await;
    let mut client = history.client().await;
    let [s1, s2, s3] = history.seqs;

    // A recorded time between two stages answers exactly as the sequence
    // of the stage before it, every question.
    // Of the 11 entities asked for, the first stage made 6 and the second
    // 4 more (train-c came in the third).
    for (between, seq, existing) in [(&history.between[0], s1, 6), (&history.between[1], s2, 10)] {
        let by_time = ask_everything(&mut client, recorded_at(*between)).await;
        let by_seq = ask_everything(&mut client, at_seq(seq)).await;
        assert_eq!(by_time, by_seq, "recorded by {between:?} and as of {seq}");
        let mut entities = 0;
        for ((what, by_time), (_, by_seq)) in by_time.iter().zip(&by_seq) {
            if let (Answer::Entity(by_time), Answer::Entity(by_seq)) = (by_time, by_seq) {
                assert_eq!(by_time.applied_seq, seq, "{what}");
                assert_eq!(by_time.encode_to_vec(), by_seq.encode_to_vec(), "{what}");
                entities += 1;
            }
        }
        assert_eq!(entities, existing, "entities as of {seq}");
    }
    // Before the first record, nothing; long after the last, everything.
    assert_not_found(
        get(
            &mut client,
            run("train-a"),
            recorded_at(timestamp(1_000_000_000)),
        )
        .await,
        "as of log sequence 0 (it came later)",
    );
    let far_future = timestamp(4_102_444_800 * 1_000_000_000);
    assert_eq!(
        ask_everything(&mut client, recorded_at(far_future)).await,
        ask_everything(&mut client, at_seq(s3)).await
    );

    // By event time. The flag on applications@1 and bureau-scores@1 were
    // logged in the first stage but happened at minute 200.
    let applications = dataset_version("applications", "1");
    let flags = known(&mut client, applications.clone(), at_seq(s1))
        .await
        .flags;
    assert_eq!(flags.len(), 1);
    for (minute, expected_flags) in [(30, 0), (199, 0), (200, 1)] {
        let then = known(&mut client, applications.clone(), occurred_by(minute)).await;
        assert_eq!(then.flags.len(), expected_flags, "by minute {minute}");
        assert_eq!(
            then.applied_seq, s3,
            "an event-time view stands at the head"
        );
    }
    known(
        &mut client,
        dataset_version("bureau-scores", "1"),
        at_seq(s1),
    )
    .await;
    assert_not_found(
        get(
            &mut client,
            dataset_version("bureau-scores", "1"),
            occurred_by(30),
        )
        .await,
        "by that event time (it happened later)",
    );
    known(
        &mut client,
        dataset_version("bureau-scores", "1"),
        occurred_by(200),
    )
    .await;
    // features@2 was logged in the second stage but happened at minute 5:
    // there by minute 30, not as of the first stage's sequence.
    let features = dataset_version("features", "2");
    assert_not_found(
        get(&mut client, features.clone(), at_seq(s1)).await,
        "(it came later)",
    );
    known(&mut client, features.clone(), occurred_by(30)).await;
    assert_not_found(
        get(&mut client, features, occurred_by(4)).await,
        "(it happened later)",
    );
    // By minute 7 applications@1 was only named (as features@2's parent);
    // it was registered at minute 10.
    let named = known(&mut client, applications.clone(), occurred_by(7)).await;
    assert!(named.placeholder, "{named:?}");
    let registered = known(&mut client, applications.clone(), occurred_by(10)).await;
    assert!(!registered.placeholder, "{registered:?}");

    // train-a by event time: re-started in lightgbm at minute 40, its AUC
    // re-logged at minute 41.
    for (minute, environment_then, lr, auc) in [
        (30, "env:xgboost@2.0.3", "0.1", 0.71),
        (40, "env:lightgbm@4.1.0", "0.05", 0.71),
        (41, "env:lightgbm@4.1.0", "0.05", 0.74),
    ] {
        let train_a = known(&mut client, run("train-a"), occurred_by(minute)).await;
        let details = run_details(&train_a);
        assert_eq!(environment(details), environment_then, "by minute {minute}");
        assert_eq!(details.params["lr"], lr, "by minute {minute}");
        assert_eq!(latest(details, "auc"), Some(auc), "by minute {minute}");
        assert_eq!(details.owner, "", "erased in every view");
    }
    for (minute, tier, model_stage) in [
        (27, "low", v1::ModelStage::Unspecified),
        (41, "low", v1::ModelStage::Staging),
        (42, "medium", v1::ModelStage::Staging),
        (50, "medium", v1::ModelStage::Production),
        (60, "high", v1::ModelStage::Production),
    ] {
        let model_1 = known(&mut client, model("1"), occurred_by(minute)).await;
        assert_eq!(model_1.tags["risk-tier"], tier, "by minute {minute}");
        let details = model_details(&model_1);
        assert_eq!(details.stage, model_stage as i32, "by minute {minute}");
    }

    // By minute 46 credit-risk@1 still came from train-a, which by then ran
    // in lightgbm: a state no log sequence ever showed.
    let then = trace(&mut client, "1", occurred_by(46))
        .await
        .expect("trace");
    assert_eq!(then.applied_seq, s3);
    assert_eq!(source_run(&then), "train-a");
    assert_eq!(
        then.environment.as_ref().map(label).as_deref(),
        Some("env:lightgbm@4.1.0")
    );
    let later = trace(&mut client, "1", occurred_by(47))
        .await
        .expect("trace");
    assert_eq!(source_run(&later), "train-b");

    // Impact of applications@1 by minute 30: features@2 (minute 5) is
    // there, though logged after everything else here.
    let downstream = impact(&mut client, traversal(applications, occurred_by(30))).await;
    assert_eq!(
        labels(&downstream.nodes),
        strings(&[
            "artifact:train-a/model.pkl",
            "dataset:applications@1",
            "dataset:features@2",
            "endpoint:scoring-eu",
            "model:credit-risk@1",
            "run:train-a",
        ])
    );
    let pages = runs_using(&mut client, 1, occurred_by(43))
        .await
        .expect("runs using");
    assert_eq!(
        page_runs(&pages),
        vec![vec!["train-a"]],
        "train-b read it at 44"
    );
    let pages = runs_using(&mut client, 1, occurred_by(44))
        .await
        .expect("runs using");
    assert_eq!(page_runs(&pages), vec![vec!["train-a"], vec!["train-b"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moment_not_logged_yet_times_out_and_a_malformed_one_is_refused() {
    let history = History::publish().await;
    let mut client = history.client().await;
    let [_, _, s3] = history.seqs;

    // A sequence beyond the log is waited for, up to the deadline.
    let beyond = s3 + 1_000;
    let mut request = tonic::Request::new(v1::GetEntityRequest {
        entity: Some(run("train-a")),
        as_of: at_seq(beyond),
        ..Default::default()
    });
    request.set_timeout(Duration::from_millis(300));
    let late = tokio::time::timeout(WAIT, client.get_entity(request))
        .await
        .expect("answered within the wait bound")
        .expect_err("the sequence never comes");
    assert_eq!(late.code(), tonic::Code::DeadlineExceeded, "{late:?}");
    assert!(
        late.message().contains(&format!(
            "{beyond}: the graph has applied the log up to {s3}"
        )),
        "{late:?}"
    );
    let mut request = tonic::Request::new(traversal(model("1"), at_seq(beyond)));
    request.set_timeout(Duration::from_millis(300));
    let late = tokio::time::timeout(WAIT, client.provenance(request))
        .await
        .expect("answered within the wait bound")
        .expect_err("the sequence never comes");
    assert_eq!(late.code(), tonic::Code::DeadlineExceeded, "{late:?}");

    // Nanos out of range: INVALID_ARGUMENT naming the field, everywhere.
    let bad_time = pbjson_types::Timestamp {
        seconds: event_time(30).seconds,
        nanos: 1_000_000_000,
    };
    let bad_occurred = moment(v1::as_of::Point::OccurredBy(bad_time));
    let bad_recorded = moment(v1::as_of::Point::RecordedAt(pbjson_types::Timestamp {
        nanos: -1,
        ..bad_time
    }));
    assert_invalid(
        get(&mut client, run("train-a"), bad_occurred).await,
        "as_of.occurred_by",
    );
    assert_invalid(
        get(&mut client, run("train-a"), bad_recorded).await,
        "as_of.recorded_at",
    );
    assert_invalid(
        client.provenance(traversal(model("1"), bad_occurred)).await,
        "as_of.occurred_by",
    );
    assert_invalid(
        client.impact(traversal(model("1"), bad_occurred)).await,
        "as_of.occurred_by",
    );
    assert_invalid(
        runs_using(&mut client, 1, bad_occurred).await,
        "as_of.occurred_by",
    );
    assert_invalid(
        trace(&mut client, "1", bad_occurred).await,
        "as_of.occurred_by",
    );
    assert_invalid(
        export(&mut client, model("1"), bad_occurred).await,
        "as_of.occurred_by",
    );
    assert_invalid(
        diff_with_itself(&mut client, bad_occurred, None).await,
        "a_as_of.occurred_by",
    );
    assert_invalid(
        diff_with_itself(&mut client, None, bad_occurred).await,
        "b_as_of.occurred_by",
    );
    assert_invalid(
        diff_with_itself(&mut client, at_seq(1), bad_recorded).await,
        "b_as_of.recorded_at",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_answers_every_moment_as_before() {
    let history = History::publish().await;
    let [_, _, s3] = history.seqs;
    let moments = moments(&history);
    let mut before = Vec::new();
    let mut client = history.client().await;
    for &as_of in &moments {
        before.push(ask_everything(&mut client, as_of).await);
    }
    let History {
        lineaged,
        data,
        nats,
        ..
    } = history;
    lineaged.stop().await;
    let snapshots = data.path().join("graph-snapshots");
    let written = std::fs::read_dir(&snapshots)
        .expect("a snapshot directory")
        .count();
    assert!(written > 0, "a snapshot was taken at shutdown");

    // From the snapshot taken at shutdown, then from the log alone.
    for from_the_log_alone in [false, true] {
        if from_the_log_alone {
            for file in std::fs::read_dir(&snapshots).expect("snapshot dir") {
                std::fs::remove_file(file.expect("entry").path()).expect("remove a snapshot");
            }
        }
        let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
        let status = lineaged.wait_applied(s3).await;
        assert_eq!(status.applied_seq, s3);
        let mut client = lineaged.client().await;
        for (&as_of, before) in moments.iter().zip(&before) {
            let after = ask_everything(&mut client, as_of).await;
            for ((what, before), (_, after)) in before.iter().zip(&after) {
                assert_eq!(
                    before, after,
                    "{what} as of {as_of:?}, restarted from the log alone: {from_the_log_alone}"
                );
            }
        }
        lineaged.stop().await;
    }
}
