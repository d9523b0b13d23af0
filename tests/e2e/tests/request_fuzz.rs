//! Arbitrary requests to every RPC of a real lineaged that holds the credit
//! story: field values drawn by proptest (empty, 100 KiB, unicode and
//! control-character strings; enum values in and out of range; integers at
//! 0 and MAX; repeated fields of thousands of items; `as_of` moments before
//! 1970 and past what nanoseconds can hold; forged page tokens), biased
//! towards the story's real names so that many requests get past
//! validation and are answered.
//!
//! Every call must come back within its deadline with OK or a status a
//! client can act on: INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED,
//! FAILED_PRECONDITION, or DEADLINE_EXCEEDED when (and only when) it waited
//! for a log sequence that never comes. Never UNKNOWN, INTERNAL or
//! UNAVAILABLE: those mean a handler panicked, a task was lost or the
//! service went away. Answers stay within the request's bounds, and once
//! every RPC has been fuzzed (all at once, one thread each) the service
//! still answers GetStatus with the same graph and stops cleanly.
//!
//! `PROPTEST_CASES` sets the cases per RPC for longer runs by hand.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Mutex;
use std::time::Duration;

use lineage_e2e::events::credit_story;
use lineage_e2e::{Lineaged, nats_with_events_stream, publish};
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

type Client = LineageServiceClient<Channel>;

/// The credit story's workspace.
const WS: &str = "lender";
/// The story's events, and so the graph's applied sequence.
const STORY_EVENTS: u64 = 27;

/// The client deadline of a request that does not wait for the future.
const DEADLINE: Duration = Duration::from_secs(5);
/// The client deadline of one that waits for a sequence that never comes:
/// short, so such cases do not dominate the run, and long enough that the
/// service's answer (at 90 % of it) beats the client's own timer.
const WAITING_DEADLINE: Duration = Duration::from_secs(1);
/// How much longer than its deadline a call may take before it counts as
/// a hang.
const HANG_MARGIN: Duration = Duration::from_secs(5);

/// A huge string: a fortieth of the service's 4 MiB request bound, so even
/// a request with several of them is decoded.
const HUGE: usize = 100 * 1024;
/// The longest repeated field drawn.
const MAX_LIST: usize = 3_000;
/// Replays are read this far, then dropped.
const REPLAY_MESSAGES: usize = 3;

/// Cases per RPC: `PROPTEST_CASES` when set, else a count that keeps the
/// test well under 40 seconds in a debug build.
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

const DEFAULT_CASES: u32 = 384;

// ---------------------------------------------------------------------------
// Field values.

/// Names the story uses, so requests built from them find entities.
const STORY_NAMES: &[&str] = &[
    WS,
    "prep-3",
    "applications-raw",
    "applications",
    "features",
    "bureau-scores",
    "sweep-1",
    "trial-1",
    "trial-2",
    "old-1",
    "trial-1/model.pkl",
    "old-1/model.pkl",
    "model.pkl",
    "credit-risk",
    "credit-risk-2026",
    "credit-scoring-eu",
    "xgboost",
    "2.0.3",
    "cpu-pool-a",
    "2",
    "3",
    "6",
    "7",
];

/// The story's entities, by kind, name and version.
const STORY_ENTITIES: &[(v1::EntityKind, &str, &str)] = &[
    (v1::EntityKind::Run, "prep-3", ""),
    (v1::EntityKind::Run, "trial-1", ""),
    (v1::EntityKind::Run, "sweep-1", ""),
    (v1::EntityKind::DatasetVersion, "applications-raw", "3"),
    (v1::EntityKind::DatasetVersion, "applications", "3"),
    (v1::EntityKind::DatasetVersion, "applications", "2"),
    (v1::EntityKind::DatasetVersion, "features", "3"),
    (v1::EntityKind::DatasetVersion, "bureau-scores", "2"),
    (v1::EntityKind::Artifact, "trial-1/model.pkl", ""),
    (v1::EntityKind::Artifact, "old-1/model.pkl", ""),
    (v1::EntityKind::ModelVersion, "credit-risk", "6"),
    (v1::EntityKind::ModelVersion, "credit-risk", "7"),
    (v1::EntityKind::Endpoint, "credit-scoring-eu", ""),
    (v1::EntityKind::Experiment, "credit-risk-2026", ""),
    (v1::EntityKind::Environment, "xgboost", "2.0.3"),
    (v1::EntityKind::Compute, "cpu-pool-a", ""),
];

/// Strings of every awkward sort, or a story name.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(STORY_NAMES).prop_map(str::to_owned),
        1 => Just(String::new()),
        2 => "[a-z0-9._/:+=-]{1,12}",
        2 => any::<String>(),
        1 => "[\\x00-\\x1f\\x7f]{1,8}",
        1 => "[a-z]{0,4}[\\x00\\n\\t\\x1b\\u{85}\\u{202e}\\u{feff}\\u{fffd}][a-z]{0,4}",
        1 => huge_text(),
    ]
    .boxed()
}

/// Strings at the identifier limits (64, 128, 256 bytes and one more)
/// and of 100 KiB.
fn huge_text() -> impl Strategy<Value = String> {
    select(vec![
        "a".repeat(65),
        "7".repeat(129),
        "a".repeat(256),
        "a".repeat(257),
        "a".repeat(HUGE),
        "é".repeat(HUGE / 2),
        "\u{1F600}".repeat(HUGE / 4),
        "\0".repeat(HUGE),
    ])
}

/// A short string, for lists of thousands.
fn short_text() -> impl Strategy<Value = String> + Clone {
    prop_oneof![
        select(STORY_NAMES).prop_map(str::to_owned),
        "[a-z0-9._-]{0,10}",
        "\\PC{0,6}",
    ]
}

fn workspace() -> BoxedStrategy<String> {
    prop_oneof![
        12 => Just(WS.to_owned()),
        1 => Just("other-workspace".to_owned()),
        3 => text(),
    ]
    .boxed()
}

/// An enum value: in `valid` mostly, else unspecified, out of range or
/// anything.
fn enum_value(valid: std::ops::RangeInclusive<i32>) -> impl Strategy<Value = i32> + Clone {
    let past = valid.end().saturating_add(1);
    prop_oneof![
        12 => valid,
        1 => Just(0),
        1 => any::<i32>(),
        1 => select(vec![-1, i32::MIN, i32::MAX, past]),
    ]
}

fn count() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0u32..=100,
        2 => select(vec![0, 1, 1_000, 1_001, 1_024, 1_025, 20_000, 20_001, u32::MAX]),
        1 => any::<u32>(),
    ]
}

/// A sequence that the service will never apply.
fn future_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        Just(STORY_EVENTS + 1),
        Just(u64::MAX),
        (STORY_EVENTS + 1)..=u64::MAX,
    ]
}

/// A sequence to wait for: one already applied, rarely one in the future
/// (each of those costs a [`WAITING_DEADLINE`]).
fn wait_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        10 => Just(0),
        30 => 1..=STORY_EVENTS,
        1 => future_seq(),
    ]
}

/// A sequence bounding a range (nothing waits for it).
fn range_seq() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => Just(0),
        8 => 0..=(STORY_EVENTS + 2),
        1 => select(vec![u64::MAX, u64::MAX - 1, 1 << 63]),
        1 => any::<u64>(),
    ]
}

fn timestamp() -> impl Strategy<Value = pbjson_types::Timestamp> {
    // The story happens from 2026-03-01T00:01Z, a minute an event.
    let story: i64 = 1_772_323_200;
    let plausible = (story - 3_600..story + 3_600, 0..1_000_000_000);
    let edge_seconds = select(vec![
        0,
        -1,
        1,
        // The end of the accepted event times (2200), and after it.
        7_258_118_400,
        7_258_118_401,
        // Where seconds stop fitting in i64 nanoseconds.
        i64::MAX / 1_000_000_000,
        i64::MAX / 1_000_000_000 + 1,
        i64::MIN / 1_000_000_000 - 1,
        i64::MIN,
        i64::MAX,
    ]);
    let edge_nanos = select(vec![999_999_999, 1_000_000_000, -1, i32::MIN, i32::MAX]);
    prop_oneof![
        6 => plausible,
        2 => (edge_seconds, Just(0)),
        1 => (Just(story), edge_nanos),
        1 => (any::<i64>(), any::<i32>()),
    ]
    .prop_map(|(seconds, nanos)| pbjson_types::Timestamp { seconds, nanos })
}

fn as_of() -> impl Strategy<Value = Option<v1::AsOf>> {
    use v1::as_of::Point;
    prop_oneof![
        4 => Just(None),
        1 => Just(Some(v1::AsOf { point: None })),
        2 => wait_seq().prop_map(|seq| Some(v1::AsOf { point: Some(Point::Seq(seq)) })),
        2 => timestamp().prop_map(|t| Some(v1::AsOf { point: Some(Point::RecordedAt(t)) })),
        2 => timestamp().prop_map(|t| Some(v1::AsOf { point: Some(Point::OccurredBy(t)) })),
    ]
}

fn story_entity() -> impl Strategy<Value = v1::EntityRef> {
    select(STORY_ENTITIES).prop_map(|(kind, name, version)| v1::EntityRef {
        workspace: WS.to_owned(),
        kind: kind as i32,
        name: name.to_owned(),
        version: version.to_owned(),
    })
}

fn any_entity() -> impl Strategy<Value = v1::EntityRef> {
    (workspace(), enum_value(1..=8), text(), text()).prop_map(|(workspace, kind, name, version)| {
        v1::EntityRef {
            workspace,
            kind,
            name,
            version,
        }
    })
}

fn entity() -> impl Strategy<Value = Option<v1::EntityRef>> {
    prop_oneof![
        1 => Just(None),
        6 => story_entity().prop_map(Some),
        3 => any_entity().prop_map(Some),
    ]
}

/// A story model version mostly: what TraceModel and DiffLineage ask about.
fn model_entity() -> impl Strategy<Value = Option<v1::EntityRef>> {
    let model = |version: &str| v1::EntityRef {
        workspace: WS.to_owned(),
        kind: v1::EntityKind::ModelVersion as i32,
        name: "credit-risk".to_owned(),
        version: version.to_owned(),
    };
    prop_oneof![
        4 => select(vec![model("6"), model("7"), model("8")]).prop_map(Some),
        2 => entity(),
    ]
}

/// A repeated field: a few valid items mostly, sometimes any items,
/// past the service's filter bound (32), or thousands of them.
fn list<V, A>(valid: V, any_item: A) -> impl Strategy<Value = Vec<V::Value>>
where
    V: Strategy,
    A: Strategy<Value = V::Value> + Clone,
    V::Value: Debug,
{
    prop_oneof![
        12 => prop::collection::vec(valid, 0..=3),
        1 => prop::collection::vec(any_item.clone(), 0..=4),
        1 => prop::collection::vec(any_item.clone(), 5..=40),
        1 => prop::collection::vec(any_item, 0..=MAX_LIST),
    ]
}

fn page_token() -> impl Strategy<Value = String> {
    let runs = [
        "trial-1", "trial-2", "old-1", "prep-3", "zzz", "bad/run", "",
    ];
    prop_oneof![
        3 => Just(String::new()),
        2 => select(runs.to_vec()).prop_map(|run| hex::encode(format!("after:{run}"))),
        1 => text().prop_map(|raw| hex::encode(format!("after:{raw}"))),
        1 => "[0-9a-f]{0,64}",
        1 => text(),
    ]
}

fn public_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        // The ed25519 base point: a valid key that signed nothing here.
        1 => Just("5866666666666666666666666666666666666666666666666666666666666666".to_owned()),
        2 => "[0-9a-f]{64}",
        1 => "[0-9a-fA-F]{0,130}",
        1 => text(),
    ]
}

// ---------------------------------------------------------------------------
// Requests.

/// One call of one RPC.
#[derive(Clone, Debug)]
enum Call {
    GetEntity(v1::GetEntityRequest),
    Provenance(v1::TraversalRequest),
    Impact(v1::TraversalRequest),
    RunsUsingDataset(v1::RunsUsingDatasetRequest),
    TraceModel(v1::TraceModelRequest),
    GetStatus(v1::GetStatusRequest),
    VerifyLog(v1::VerifyLogRequest),
    DiffLineage(v1::DiffLineageRequest),
    ExportProv(v1::ExportProvRequest),
    Replay(v1::ReplayRequest),
}

fn get_entity() -> impl Strategy<Value = Call> {
    (entity(), wait_seq(), as_of()).prop_map(|(entity, min_seq, as_of)| {
        Call::GetEntity(v1::GetEntityRequest {
            entity,
            min_seq,
            as_of,
        })
    })
}

fn traversal() -> impl Strategy<Value = v1::TraversalRequest> {
    (
        (
            entity(),
            count(),
            list(1..=10, enum_value(1..=10)),
            list(1..=8, enum_value(1..=8)),
        ),
        (
            count(),
            enum_value(0..=2),
            any::<bool>(),
            wait_seq(),
            as_of(),
        ),
    )
        .prop_map(
            |(
                (root, max_depth, edge_kinds, node_kinds),
                (limit, view, compact_edges, min_seq, as_of),
            )| v1::TraversalRequest {
                root,
                max_depth,
                edge_kinds,
                node_kinds,
                limit,
                view,
                compact_edges,
                min_seq,
                as_of,
            },
        )
}

fn runs_using_dataset() -> impl Strategy<Value = Call> {
    let dataset = prop_oneof![
        3 => select(vec!["applications", "features", "bureau-scores", "applications-raw"])
            .prop_map(str::to_owned),
        1 => text(),
    ];
    let version = prop_oneof![
        2 => Just(String::new()),
        2 => select(vec!["2", "3"]).prop_map(str::to_owned),
        1 => text(),
    ];
    (
        (workspace(), dataset, version, count()),
        (page_token(), enum_value(0..=2), wait_seq(), as_of()),
    )
        .prop_map(
            |((workspace, dataset, version, page_size), (page_token, view, min_seq, as_of))| {
                Call::RunsUsingDataset(v1::RunsUsingDatasetRequest {
                    workspace,
                    dataset,
                    version,
                    page_size,
                    page_token,
                    view,
                    min_seq,
                    as_of,
                })
            },
        )
}

fn trace_model() -> impl Strategy<Value = Call> {
    let model = prop_oneof![3 => Just("credit-risk".to_owned()), 1 => text()];
    let version = prop_oneof![
        3 => select(vec!["6", "7", "8"]).prop_map(str::to_owned),
        1 => text(),
    ];
    (
        (workspace(), model, version),
        (enum_value(0..=2), any::<bool>(), wait_seq(), as_of()),
    )
        .prop_map(
            |((workspace, model, version), (view, compact_edges, min_seq, as_of))| {
                Call::TraceModel(v1::TraceModelRequest {
                    workspace,
                    model,
                    version,
                    view,
                    compact_edges,
                    min_seq,
                    as_of,
                })
            },
        )
}

fn get_status() -> impl Strategy<Value = Call> {
    any::<bool>().prop_map(|include_state_digest| {
        Call::GetStatus(v1::GetStatusRequest {
            include_state_digest,
        })
    })
}

fn verify_log() -> impl Strategy<Value = Call> {
    (range_seq(), range_seq(), public_key()).prop_map(|(from_seq, to_seq, public_key)| {
        Call::VerifyLog(v1::VerifyLogRequest {
            from_seq,
            to_seq,
            public_key,
        })
    })
}

fn diff_lineage() -> impl Strategy<Value = Call> {
    (
        model_entity(),
        model_entity(),
        count(),
        wait_seq(),
        as_of(),
        as_of(),
    )
        .prop_map(|(a, b, max_depth, min_seq, a_as_of, b_as_of)| {
            Call::DiffLineage(v1::DiffLineageRequest {
                a,
                b,
                max_depth,
                min_seq,
                a_as_of,
                b_as_of,
            })
        })
}

fn export_prov() -> impl Strategy<Value = Call> {
    (
        entity(),
        enum_value(0..=2),
        count(),
        count(),
        wait_seq(),
        as_of(),
    )
        .prop_map(|(root, direction, max_depth, limit, min_seq, as_of)| {
            Call::ExportProv(v1::ExportProvRequest {
                root,
                direction,
                max_depth,
                limit,
                min_seq,
                as_of,
            })
        })
}

fn replay() -> impl Strategy<Value = Call> {
    let time = prop_oneof![3 => Just(None), 1 => timestamp().prop_map(Some)];
    let workspaces = prop_oneof![
        8 => list(Just(WS.to_owned()), short_text()),
        1 => prop::collection::vec(workspace(), 1..=2),
    ];
    (
        (range_seq(), range_seq(), time.clone(), time),
        (workspaces, list(10..=23, enum_value(10..=23)), entity()),
    )
        .prop_map(
            |((from_seq, to_seq, from_time, to_time), (workspaces, kinds, entity))| {
                Call::Replay(v1::ReplayRequest {
                    from_seq,
                    to_seq,
                    from_time,
                    to_time,
                    workspaces,
                    kinds,
                    entity,
                })
            },
        )
}

/// Builds the strategy of one RPC's requests.
type CallStrategy = fn() -> BoxedStrategy<Call>;

/// Every RPC with the strategy of its requests (built on the thread that
/// draws from it: strategies are not `Send`).
fn every_rpc() -> Vec<(&'static str, CallStrategy)> {
    vec![
        ("GetEntity", || get_entity().boxed()),
        ("Provenance", || {
            traversal().prop_map(Call::Provenance).boxed()
        }),
        ("Impact", || traversal().prop_map(Call::Impact).boxed()),
        ("RunsUsingDataset", || runs_using_dataset().boxed()),
        ("TraceModel", || trace_model().boxed()),
        ("GetStatus", || get_status().boxed()),
        ("VerifyLog", || verify_log().boxed()),
        ("DiffLineage", || diff_lineage().boxed()),
        ("ExportProv", || export_prov().boxed()),
        ("Replay", || replay().boxed()),
    ]
}

// ---------------------------------------------------------------------------
// Calls and what their answers must be.

fn is_future(seq: u64) -> bool {
    seq > STORY_EVENTS
}

fn as_of_is_future(as_of: &Option<v1::AsOf>) -> bool {
    matches!(
        as_of,
        Some(v1::AsOf {
            point: Some(v1::as_of::Point::Seq(seq))
        }) if is_future(*seq)
    )
}

/// The most nodes a traversal may answer with: the request's limit within
/// the service's default (1,000) and maximum (20,000).
fn node_bound(limit: u32) -> usize {
    match limit {
        0 => 1_000,
        limit => limit.min(20_000) as usize,
    }
}

impl Call {
    /// Whether the call waits for a log sequence the service never
    /// applies, and so may (must, once its request is valid) end in
    /// DEADLINE_EXCEEDED.
    fn waits_for_the_future(&self) -> bool {
        match self {
            Call::GetEntity(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::Provenance(r) | Call::Impact(r) => {
                is_future(r.min_seq) || as_of_is_future(&r.as_of)
            }
            Call::RunsUsingDataset(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::TraceModel(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::DiffLineage(r) => {
                is_future(r.min_seq) || as_of_is_future(&r.a_as_of) || as_of_is_future(&r.b_as_of)
            }
            Call::ExportProv(r) => is_future(r.min_seq) || as_of_is_future(&r.as_of),
            Call::GetStatus(_) | Call::VerifyLog(_) | Call::Replay(_) => false,
        }
    }

    /// Sends the call with `deadline` and checks what an OK answer holds.
    async fn send(&self, client: &mut Client, deadline: Duration) -> Result<(), Status> {
        fn request<T>(message: &T, deadline: Duration) -> Request<T>
        where
            T: Clone,
        {
            let mut request = Request::new(message.clone());
            request.set_timeout(deadline);
            request
        }
        match self {
            Call::GetEntity(r) => {
                let entity = client.get_entity(request(r, deadline)).await?.into_inner();
                assert!(entity.r#ref.is_some(), "an entity names itself");
                assert!(entity.applied_seq <= STORY_EVENTS);
            }
            Call::Provenance(r) | Call::Impact(r) => {
                let answer = match self {
                    Call::Provenance(_) => client.provenance(request(r, deadline)).await?,
                    _ => client.impact(request(r, deadline)).await?,
                }
                .into_inner();
                let bound = node_bound(r.limit);
                assert!(!answer.nodes.is_empty(), "the root is in its subgraph");
                assert!(answer.nodes.len() <= bound, "{} nodes", answer.nodes.len());
                assert!(
                    answer.edges.len() <= 4 * bound,
                    "{} edges",
                    answer.edges.len()
                );
            }
            Call::RunsUsingDataset(r) => {
                let page = client
                    .runs_using_dataset(request(r, deadline))
                    .await?
                    .into_inner();
                let size = match r.page_size {
                    0 => 100,
                    size => size as usize,
                };
                assert!(page.runs.len() <= size, "{} runs", page.runs.len());
            }
            Call::TraceModel(r) => {
                let trace = client.trace_model(request(r, deadline)).await?.into_inner();
                assert!(trace.model.is_some(), "a trace holds its model version");
            }
            Call::GetStatus(r) => {
                let status = client.get_status(request(r, deadline)).await?.into_inner();
                assert!(status.ready);
                assert_eq!(status.applied_seq, STORY_EVENTS);
                assert_eq!(status.state_digest.is_empty(), !r.include_state_digest);
            }
            Call::VerifyLog(r) => {
                let answer = client.verify_log(request(r, deadline)).await?.into_inner();
                assert!(answer.records_checked <= STORY_EVENTS);
            }
            Call::DiffLineage(r) => {
                client.diff_lineage(request(r, deadline)).await?;
            }
            Call::ExportProv(r) => {
                let export = client.export_prov(request(r, deadline)).await?.into_inner();
                serde_json::from_str::<serde_json::Value>(&export.document)
                    .expect("a PROV export is JSON");
            }
            Call::Replay(r) => {
                let mut stream = client.replay(request(r, deadline)).await?.into_inner();
                for _ in 0..REPLAY_MESSAGES {
                    match stream.message().await? {
                        Some(record) => assert!((1..=STORY_EVENTS).contains(&record.seq)),
                        None => break,
                    }
                }
                // Dropped here, mid-stream or not.
            }
        }
        Ok(())
    }
}

/// What one call came back with: OK or a status code.
type Outcome = Option<Code>;

/// Sends `call` and checks its outcome.
async fn check(mut client: Client, call: &Call) -> Result<Outcome, TestCaseError> {
    let waits = call.waits_for_the_future();
    let deadline = if waits { WAITING_DEADLINE } else { DEADLINE };
    let answer = tokio::time::timeout(deadline + HANG_MARGIN, call.send(&mut client, deadline))
        .await
        .map_err(|_| {
            TestCaseError::fail(format!(
                "no answer within {:?} of a {deadline:?} deadline",
                HANG_MARGIN
            ))
        })?;
    let Err(status) = answer else {
        prop_assert!(!waits, "OK, though it waited for a sequence never applied");
        return Ok(None);
    };
    let code = status.code();
    let allowed = match code {
        Code::InvalidArgument
        | Code::NotFound
        | Code::ResourceExhausted
        | Code::FailedPrecondition => true,
        Code::DeadlineExceeded => waits,
        _ => false,
    };
    prop_assert!(
        allowed,
        "answered {code:?} ({}), waits for the future: {waits}",
        status.message()
    );
    if waits {
        // Requests are validated, then wait: nothing else can come back.
        prop_assert!(
            matches!(code, Code::InvalidArgument | Code::DeadlineExceeded),
            "answered {code:?} ({}) while waiting for the future",
            status.message()
        );
    }
    Ok(Some(code))
}

/// At most `max` characters of `text`.
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}... ({} bytes in all)", &text[..at], text.len()),
        None => text.to_owned(),
    }
}

/// How many calls of an RPC came back with each outcome (`Ok` or a code).
type Outcomes = BTreeMap<String, usize>;

/// Fuzzes one RPC; the outcomes seen, or the minimal failing call.
fn fuzz_rpc(
    runtime: &tokio::runtime::Handle,
    client: &Client,
    strategy: CallStrategy,
) -> Result<Outcomes, String> {
    let strategy = strategy();
    let mut runner = TestRunner::new(RunnerConfig {
        cases: cases(),
        failure_persistence: None,
        // A failing case shrinks for a bounded time: each try is a call.
        max_shrink_time: 30_000,
        ..RunnerConfig::default()
    });
    let outcomes = Mutex::new(Outcomes::new());
    runner
        .run(&strategy, |call| {
            let outcome = runtime.block_on(check(client.clone(), &call))?;
            let name = outcome.map_or_else(|| "Ok".to_owned(), |code| format!("{code:?}"));
            *outcomes
                .lock()
                .expect("no case panics holding the lock")
                .entry(name)
                .or_default() += 1;
            Ok(())
        })
        .map_err(|error| shortened(&error.to_string(), 4_000))?;
    Ok(outcomes.into_inner().expect("the lock is free"))
}

#[test]
fn every_rpc_answers_arbitrary_requests_with_a_status_a_client_can_act_on() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (nats, js) = runtime.block_on(nats_with_events_stream());
    let data = tempfile::tempdir().expect("data dir");
    let (lineaged, client, before) = runtime.block_on(async {
        let lineaged = Lineaged::start(&nats.url(), data.path(), |_| {}).await;
        for event in credit_story() {
            publish(&js, &event).await;
        }
        lineaged.wait_applied(STORY_EVENTS).await;
        let before = lineaged.status_with_digest().await;
        let client = lineaged.client().await;
        (lineaged, client, before)
    });
    assert_eq!(before.applied_seq, STORY_EVENTS);
    assert_eq!(before.dead_lettered, 0);

    // Every RPC at once, a thread each, all on the one service.
    let handle = runtime.handle();
    let rpcs = every_rpc();
    let results: Vec<(&str, Result<Outcomes, String>)> = std::thread::scope(|scope| {
        let threads: Vec<_> = rpcs
            .iter()
            .map(|(name, strategy)| {
                let client = &client;
                (
                    *name,
                    scope.spawn(move || fuzz_rpc(handle, client, *strategy)),
                )
            })
            .collect();
        threads
            .into_iter()
            .map(|(name, thread)| (name, thread.join().expect("a fuzzing thread ends")))
            .collect()
    });
    let failures: Vec<String> = results
        .iter()
        .filter_map(|(name, result)| {
            result
                .as_ref()
                .err()
                .map(|error| format!("{name}: {error}"))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));

    // The fuzzing reached both sides of every RPC: answers, and (but for
    // GetStatus, which has nothing to refuse) refusals.
    if cases() >= DEFAULT_CASES {
        for (name, result) in &results {
            let outcomes = result.as_ref().expect("checked above");
            assert!(
                outcomes.contains_key("Ok"),
                "{name} never answered: {outcomes:?}"
            );
            if *name != "GetStatus" {
                assert!(
                    outcomes.keys().any(|outcome| outcome != "Ok"),
                    "{name} never refused: {outcomes:?}"
                );
            }
        }
    }

    // Still there, with the same graph, and it stops cleanly.
    runtime.block_on(async {
        let after = lineaged.status_with_digest().await;
        assert!(after.ready);
        assert_eq!(after.applied_seq, before.applied_seq);
        assert_eq!(after.state_digest, before.state_digest);
        assert_eq!(after.dead_lettered, 0);
        lineaged.stop().await;
    });
    drop(data);
    drop(nats);
}
