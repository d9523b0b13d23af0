//! Who may do what, against a real lineaged with an access file and real
//! gRPC: every RPC asked with no token, a token it does not know, and the
//! token of each principal, for its own workspace and for another.
//!
//! Two workspaces hold the same story (`lender` and `rival`: the credit
//! story and promotion criteria for its model). A reader of `lender` gets
//! its answers (an impact watch opens and delivers), PERMISSION_DENIED for
//! anything of `rival` and for the auditor's and admin's calls, and no
//! answer it gets names a `rival` entity; an auditor of `lender` replays
//! only `lender`'s records; the admin reads the status and nothing else;
//! the health service answers anyone.

use std::time::Duration;

use futures_util::StreamExt;
use lineage_e2e::events::{credit_story, event};
use lineage_e2e::{Lineaged, entity, nats_with_events_stream, publish, wait_for};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

const READER: &str = "lin_1111111111111111111111111111111111111111111111111111111111111111";
const AUDITOR: &str = "lin_2222222222222222222222222222222222222222222222222222222222222222";
const ADMIN: &str = "lin_3333333333333333333333333333333333333333333333333333333333333333";
const UNKNOWN: &str = "lin_4444444444444444444444444444444444444444444444444444444444444444";

type Client = LineageServiceClient<InterceptedService<Channel, Bearer>>;

/// Sends `authorization: Bearer <token>` (or nothing, or a raw header).
#[derive(Clone)]
struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

fn access_file() -> String {
    let entry = |name: &str, token: &str, roles: &str, workspaces: &str| {
        format!(
            "[[principal]]\nname = \"{name}\"\ntoken_hash = \"blake3:{}\"\nroles = {roles}\nworkspaces = {workspaces}\n\n",
            blake3::hash(token.as_bytes()).to_hex()
        )
    };
    entry("lender-analysts", READER, r#"["reader"]"#, r#"["lender"]"#)
        + &entry("lender-audit", AUDITOR, r#"["auditor"]"#, r#"["lender"]"#)
        + &entry("operators", ADMIN, r#"["admin"]"#, r#"["*"]"#)
}

async fn client(lineaged: &Lineaged, authorization: Option<&str>) -> Client {
    let header = authorization.map(|raw| raw.parse().expect("ascii header"));
    LineageServiceClient::with_interceptor(lineaged.channel().await, Bearer(header))
}

async fn as_token(lineaged: &Lineaged, token: &str) -> Client {
    client(lineaged, Some(&format!("Bearer {token}"))).await
}

/// How long an authorized watch may take to deliver its first event (what
/// is downstream of its root already, found by its first look).
const FIRST_WATCH_EVENT: Duration = Duration::from_secs(10);

/// The credit story, then promotion criteria for its model (so that
/// CheckPromotion answers from the stored criteria).
fn lender_story() -> Vec<v1::Event> {
    let mut story = credit_story();
    let minute = story.len() as i64 + 1;
    story.push(event(
        &format!("lender-{minute:03}"),
        "lender",
        minute,
        Payload::PromotionCriteriaSet(v1::PromotionCriteriaSet {
            model: "credit-risk".into(),
            criteria: "metrics.auc >= 0.8 and no flagged upstream and approved".into(),
        }),
    ));
    story
}

/// The same story in another workspace, under other event ids.
fn rival_story() -> Vec<v1::Event> {
    lender_story()
        .into_iter()
        .map(|mut event| {
            event.workspace = "rival".into();
            event.event_id = event.event_id.replace("lender", "rival");
            event
        })
        .collect()
}

fn model(ws: &str) -> v1::EntityRef {
    entity(ws, v1::EntityKind::ModelVersion, "credit-risk", "7")
}

fn dataset(ws: &str) -> v1::EntityRef {
    entity(ws, v1::EntityKind::DatasetVersion, "applications", "3")
}

/// Every RPC once, about workspace `ws`: the name of the call and its
/// status code (OK when it answered), plus what it answered in bytes.
async fn every_rpc(client: &mut Client, ws: &str) -> Vec<(&'static str, Code, Vec<u8>)> {
    use prost::Message as _;
    fn outcome<T: prost::Message>(
        name: &'static str,
        answer: Result<tonic::Response<T>, tonic::Status>,
    ) -> (&'static str, Code, Vec<u8>) {
        match answer {
            Ok(answer) => (name, Code::Ok, answer.into_inner().encode_to_vec()),
            Err(status) => (name, status.code(), status.message().as_bytes().to_vec()),
        }
    }
    let traversal = |root: v1::EntityRef| v1::TraversalRequest {
        root: Some(root),
        view: v1::EntityView::Full as i32,
        ..Default::default()
    };
    let mut outcomes = vec![
        outcome(
            "GetEntity",
            client
                .get_entity(v1::GetEntityRequest {
                    entity: Some(model(ws)),
                    ..Default::default()
                })
                .await,
        ),
        outcome("Provenance", client.provenance(traversal(model(ws))).await),
        outcome("Impact", client.impact(traversal(dataset(ws))).await),
        outcome(
            "RunsUsingDataset",
            client
                .runs_using_dataset(v1::RunsUsingDatasetRequest {
                    workspace: ws.into(),
                    dataset: "applications".into(),
                    view: v1::EntityView::Full as i32,
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "TraceModel",
            client
                .trace_model(v1::TraceModelRequest {
                    workspace: ws.into(),
                    model: "credit-risk".into(),
                    version: "7".into(),
                    view: v1::EntityView::Full as i32,
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "DiffLineage",
            client
                .diff_lineage(v1::DiffLineageRequest {
                    a: Some(model(ws)),
                    b: Some(entity(ws, v1::EntityKind::ModelVersion, "credit-risk", "6")),
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "ExportProv",
            client
                .export_prov(v1::ExportProvRequest {
                    root: Some(model(ws)),
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "VerifyLog",
            client.verify_log(v1::VerifyLogRequest::default()).await,
        ),
        outcome(
            "GetStatus",
            client.get_status(v1::GetStatusRequest::default()).await,
        ),
        outcome(
            "SearchRuns",
            client
                .search_runs(v1::SearchRunsRequest {
                    workspace: ws.into(),
                    filter: "metrics.auc > 0.8 and uses dataset 'features@3'".into(),
                    view: v1::EntityView::Full as i32,
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "CompareRuns",
            client
                .compare_runs(v1::CompareRunsRequest {
                    workspace: ws.into(),
                    run_ids: vec!["trial-1".into(), "old-1".into()],
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "GetMetricHistory",
            client
                .get_metric_history(v1::GetMetricHistoryRequest {
                    workspace: ws.into(),
                    run_id: "trial-1".into(),
                    key: "auc".into(),
                    ..Default::default()
                })
                .await,
        ),
        outcome(
            "CheckPromotion",
            client
                .check_promotion(v1::CheckPromotionRequest {
                    workspace: ws.into(),
                    model: "credit-risk".into(),
                    version: "7".into(),
                    ..Default::default()
                })
                .await,
        ),
    ];
    // A watch: opened, its first event taken (or its error), then dropped.
    let watch = client
        .watch_impact(v1::WatchImpactRequest {
            root: Some(dataset(ws)),
            ..Default::default()
        })
        .await;
    outcomes.push(match watch {
        Ok(stream) => {
            let mut stream = stream.into_inner();
            match tokio::time::timeout(FIRST_WATCH_EVENT, stream.message()).await {
                Ok(Ok(Some(event))) => ("WatchImpact", Code::Ok, event.encode_to_vec()),
                Ok(Ok(None)) => panic!("a watch never ends without a status"),
                Ok(Err(status)) => ("WatchImpact", status.code(), Vec::new()),
                // Open, and nothing yet.
                Err(_) => ("WatchImpact", Code::Ok, Vec::new()),
            }
        }
        Err(status) => (
            "WatchImpact",
            status.code(),
            status.message().as_bytes().to_vec(),
        ),
    });
    let replay = client
        .replay(v1::ReplayRequest {
            workspaces: vec![ws.into()],
            ..Default::default()
        })
        .await;
    outcomes.push(match replay {
        Ok(stream) => {
            let records: Vec<_> = stream.into_inner().collect().await;
            let mut bytes = Vec::new();
            for record in records {
                match record {
                    Ok(record) => bytes.extend(record.encode_to_vec()),
                    Err(status) => return vec![("Replay", status.code(), Vec::new())],
                }
            }
            ("Replay", Code::Ok, bytes)
        }
        Err(status) => ("Replay", status.code(), Vec::new()),
    });
    outcomes
}

fn codes(outcomes: &[(&'static str, Code, Vec<u8>)]) -> Vec<(&'static str, Code)> {
    outcomes
        .iter()
        .map(|(name, code, _)| (*name, *code))
        .collect()
}

/// `expected` for the calls named, `otherwise` for the rest.
fn expect(ok: &[&'static str], expected: Code, otherwise: Code) -> Vec<(&'static str, Code)> {
    [
        "GetEntity",
        "Provenance",
        "Impact",
        "RunsUsingDataset",
        "TraceModel",
        "DiffLineage",
        "ExportProv",
        "VerifyLog",
        "GetStatus",
        "SearchRuns",
        "CompareRuns",
        "GetMetricHistory",
        "CheckPromotion",
        "WatchImpact",
        "Replay",
    ]
    .into_iter()
    .map(|name| {
        (
            name,
            if ok.contains(&name) {
                expected
            } else {
                otherwise
            },
        )
    })
    .collect()
}

const READER_CALLS: &[&str] = &[
    "GetEntity",
    "Provenance",
    "Impact",
    "RunsUsingDataset",
    "TraceModel",
    "DiffLineage",
    "SearchRuns",
    "CompareRuns",
    "GetMetricHistory",
    "CheckPromotion",
    "WatchImpact",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_principal_gets_its_roles_in_its_workspaces_and_nothing_else() {
    let (nats, js) = nats_with_events_stream().await;
    let data = tempfile::tempdir().expect("temp dir");
    let access = data.path().join("access.toml");
    std::fs::write(&access, access_file()).expect("write the access file");
    let lineaged = Lineaged::start(&nats.url(), &data.path().join("log"), |config| {
        config.access_file = Some(access.clone());
    })
    .await;
    let story: Vec<v1::Event> = lender_story().into_iter().chain(rival_story()).collect();
    for event in &story {
        publish(&js, event).await;
    }
    let mut admin = as_token(&lineaged, ADMIN).await;
    wait_for("both stories applied", || {
        let mut admin = admin.clone();
        let want = story.len() as u64;
        async move {
            let status = admin
                .get_status(v1::GetStatusRequest::default())
                .await
                .ok()?;
            (status.into_inner().applied_seq == want).then_some(())
        }
    })
    .await;

    // Without credentials, or with ones it does not know: nothing at all.
    for authorization in [
        None,
        Some(format!("Bearer {UNKNOWN}")),
        Some(format!("Basic {READER}")),
        Some(format!("Bearer {}", &READER[..READER.len() - 1])),
        Some("Bearer ".to_owned()),
    ] {
        let mut anonymous = client(&lineaged, authorization.as_deref()).await;
        for ws in ["lender", "rival"] {
            assert_eq!(
                codes(&every_rpc(&mut anonymous, ws).await),
                expect(&[], Code::Ok, Code::Unauthenticated),
                "{authorization:?} asking about {ws}"
            );
        }
    }

    // A reader of lender: its questions about lender, nothing of rival.
    let mut reader = as_token(&lineaged, READER).await;
    let answers = every_rpc(&mut reader, "lender").await;
    assert_eq!(
        codes(&answers),
        expect(READER_CALLS, Code::Ok, Code::PermissionDenied)
    );
    for (name, code, bytes) in &answers {
        if *code == Code::Ok {
            assert!(
                !bytes.windows(5).any(|w| w == b"rival"),
                "{name} for lender mentions the other workspace"
            );
            // A metric's history names its run, not its workspace.
            let answered: &[u8] = match *name {
                "GetMetricHistory" => b"trial-1",
                _ => b"lender",
            };
            assert!(
                bytes.windows(answered.len()).any(|w| w == answered),
                "{name} answered (a watch: its first event within {FIRST_WATCH_EVENT:?})"
            );
        }
    }
    let denied = every_rpc(&mut reader, "rival").await;
    assert_eq!(
        codes(&denied),
        expect(&[], Code::Ok, Code::PermissionDenied)
    );
    let reason = |outcomes: &[(&str, Code, Vec<u8>)], call: &str| {
        let (_, _, message) = outcomes
            .iter()
            .find(|(name, ..)| *name == call)
            .expect("asked");
        String::from_utf8_lossy(message).into_owned()
    };
    for call in [
        "GetEntity",
        "SearchRuns",
        "CompareRuns",
        "GetMetricHistory",
        "CheckPromotion",
        "WatchImpact",
    ] {
        assert!(
            reason(&denied, call).contains("may not read workspace rival"),
            "{call}: {}",
            reason(&denied, call)
        );
    }
    assert!(reason(&denied, "ExportProv").contains("auditor"));
    assert!(reason(&denied, "GetStatus").contains("admin"));
    // A diff across the two workspaces needs both.
    let across = reader
        .diff_lineage(v1::DiffLineageRequest {
            a: Some(model("lender")),
            b: Some(model("rival")),
            ..Default::default()
        })
        .await
        .expect_err("one side is out of scope");
    assert_eq!(across.code(), Code::PermissionDenied);

    // An auditor of lender: replay, verify and export of lender only.
    let mut auditor = as_token(&lineaged, AUDITOR).await;
    assert_eq!(
        codes(&every_rpc(&mut auditor, "lender").await),
        expect(
            &["ExportProv", "VerifyLog", "Replay"],
            Code::Ok,
            Code::PermissionDenied
        )
    );
    assert_eq!(
        codes(&every_rpc(&mut auditor, "rival").await),
        expect(&["VerifyLog"], Code::Ok, Code::PermissionDenied),
        "verifying the chain reveals no workspace's content"
    );
    // A replay that names no workspace is narrowed to the auditor's.
    let everything: Vec<v1::LogRecord> = auditor
        .replay(v1::ReplayRequest::default())
        .await
        .expect("replay")
        .into_inner()
        .map(|record| record.expect("record"))
        .collect()
        .await;
    assert_eq!(everything.len(), lender_story().len());
    assert!(everything.iter().all(|record| {
        record
            .event
            .as_ref()
            .is_some_and(|event| event.workspace == "lender")
    }));
    let mixed = auditor
        .replay(v1::ReplayRequest {
            workspaces: vec!["lender".into(), "rival".into()],
            ..Default::default()
        })
        .await
        .expect_err("rival is out of scope");
    assert_eq!(mixed.code(), Code::PermissionDenied);

    // The admin: the status, and no lineage.
    assert_eq!(
        codes(&every_rpc(&mut admin, "lender").await),
        expect(&["GetStatus"], Code::Ok, Code::PermissionDenied)
    );

    // Probes need no token.
    let mut health = tonic_health::pb::health_client::HealthClient::new(lineaged.channel().await);
    let serving = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "lineage.v1.LineageService".into(),
        })
        .await
        .expect("health answers anyone")
        .into_inner();
    assert_eq!(
        serving.status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    lineaged.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_access_file_stops_the_start_with_the_reason() {
    let nats = lineage_e2e::NatsServer::start();
    let data = tempfile::tempdir().expect("temp dir");
    let access = data.path().join("access.toml");
    std::fs::write(
        &access,
        "[[principal]]\nname = \"x\"\ntoken_hash = \"sha1:abc\"\nroles = [\"reader\"]\nworkspaces = [\"*\"]\n",
    )
    .expect("write");
    let mut config = lineage_e2e::Config::for_tests(&nats.url(), data.path().join("log"));
    config.access_file = Some(access);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let started = tokio::time::timeout(
        lineage_e2e::WAIT,
        lineage_server::run(config, listener, std::future::pending()),
    )
    .await
    .expect("refused at once");
    let error = started
        .expect_err("a bad access file is refused")
        .to_string();
    assert!(error.contains("access.toml"), "{error}");
    assert!(error.contains("blake3:"), "{error}");
}
