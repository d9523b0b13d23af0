//! `WatchImpact` against a real lineaged fed through a real nats-server:
//! a watch of a flagged dataset version tells, as each event is applied,
//! what comes to depend on it (a run reading it, a model registered from
//! that run, the model's deployment) with the path and the log sequence,
//! and nothing unrelated; a watch resumed after a sequence gets what came
//! after it, and one from 0 everything downstream; a client that never
//! reads gets DEADLINE_EXCEEDED naming where to resume, and resuming there
//! loses nothing; watches beyond the limit are refused RESOURCE_EXHAUSTED
//! and a slot comes back when its client goes away; an unknown root is
//! NOT_FOUND; and a shutdown ends open watches, naming where to resume.
//!
//! Every wait is bounded ([`EVENT_WAIT`] for an event, the harness's
//! `WAIT` otherwise); nothing sleeps to assert.

use std::time::Duration;

use async_nats::jetstream;
use lineage_e2e::events::{self, dataset, deployed, flagged, inputs, registered, run_started};
use lineage_e2e::{Lineaged, NatsServer, WAIT, nats_with_events_stream, publish, wait_for};
use lineage_proto::v1;
use lineage_proto::v1::event::Payload;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use lineage_server::Config;
use prost::Message as _;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status, Streaming};

/// The workspace of every event here.
const WS: &str = "lender";

/// How long a watch may take to deliver an event once it is published.
const EVENT_WAIT: Duration = Duration::from_secs(10);

/// A lineaged, the broker it consumes, and how many events were published
/// (all valid and distinct, so the n-th is stored at sequence n).
struct Stack {
    lineaged: Lineaged,
    js: jetstream::Context,
    published: u64,
    /// Dropped after lineaged (fields drop in order).
    _data: tempfile::TempDir,
    _nats: NatsServer,
}

impl Stack {
    async fn start(tweak: impl FnOnce(&mut Config)) -> Self {
        let (nats, js) = nats_with_events_stream().await;
        let data = tempfile::tempdir().expect("data dir");
        let lineaged = Lineaged::start(&nats.url(), data.path(), tweak).await;
        Self {
            lineaged,
            js,
            published: 0,
            _data: data,
            _nats: nats,
        }
    }

    fn event(&mut self, payload: Payload) -> v1::Event {
        self.published += 1;
        let n = self.published;
        events::event(&format!("watch-{n:05}"), WS, n as i64, payload)
    }

    /// Publishes events one at a time and returns the sequence of the last.
    async fn publish(&mut self, payloads: Vec<Payload>) -> u64 {
        for payload in payloads {
            let event = self.event(payload);
            assert!(
                !publish(&self.js, &event).await,
                "{} is new",
                event.event_id
            );
        }
        self.published
    }

    /// Publishes events without waiting for each acknowledgement before the
    /// next (they are stored in order all the same); returns the sequence
    /// of the last.
    async fn publish_many(&mut self, payloads: Vec<Payload>) -> u64 {
        let mut acks = Vec::new();
        for payload in payloads {
            let event = self.event(payload);
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.event_id.as_str());
            let ack = self
                .js
                .publish_with_headers(
                    format!("lineage.events.{WS}"),
                    headers,
                    event.encode_to_vec().into(),
                )
                .await
                .expect("publish");
            acks.push(ack);
        }
        for ack in acks {
            assert!(!ack.await.expect("stored").duplicate);
        }
        self.published
    }

    async fn client(&self) -> LineageServiceClient<Channel> {
        self.lineaged.client().await
    }
}

fn reference(kind: v1::EntityKind, name: &str, version: &str) -> v1::EntityRef {
    v1::EntityRef {
        workspace: WS.into(),
        kind: kind as i32,
        name: name.into(),
        version: version.into(),
    }
}

fn applications() -> v1::EntityRef {
    reference(v1::EntityKind::DatasetVersion, "applications", "3")
}

fn watch_request(root: v1::EntityRef, from_seq: u64) -> v1::WatchImpactRequest {
    v1::WatchImpactRequest {
        root: Some(root),
        max_depth: 0,
        from_seq,
    }
}

async fn watch(
    client: &mut LineageServiceClient<Channel>,
    from_seq: u64,
) -> Result<Streaming<v1::ImpactEvent>, Status> {
    client
        .watch_impact(watch_request(applications(), from_seq))
        .await
        .map(tonic::Response::into_inner)
}

/// The next event of a watch, within [`EVENT_WAIT`].
async fn next(stream: &mut Streaming<v1::ImpactEvent>) -> v1::ImpactEvent {
    tokio::time::timeout(EVENT_WAIT, stream.message())
        .await
        .expect("the watch delivers within the wait bound")
        .expect("an event, not an error")
        .expect("an event, not the end")
}

/// What ends a watch (after the events before it, returned too).
async fn end(stream: &mut Streaming<v1::ImpactEvent>) -> (Vec<v1::ImpactEvent>, Status) {
    let mut received = Vec::new();
    loop {
        match tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("the watch delivers or ends within the wait bound")
        {
            Ok(Some(event)) => received.push(event),
            Ok(None) => panic!("a watch never ends without a status"),
            Err(status) => return (received, status),
        }
    }
}

/// An event as `@seq path`, `!` after the sequence while the root was
/// flagged, the path as `KIND name[@version] -EDGE-> ...`; checks that the
/// entity is the path's last.
fn describe(event: &v1::ImpactEvent) -> String {
    let name = |entity: &v1::EntityRef| {
        let kind = v1::EntityKind::try_from(entity.kind).expect("a kind");
        match entity.version.as_str() {
            "" => format!("{} {}", kind.as_str_name(), entity.name),
            version => format!("{} {}@{version}", kind.as_str_name(), entity.name),
        }
    };
    let entity = event.entity.as_ref().expect("the entity");
    assert_eq!(entity.r#ref.as_ref(), event.path.last(), "{event:?}");
    assert_eq!(event.edges.len() + 1, event.path.len(), "{event:?}");
    let mut text = name(&event.path[0]);
    for (edge, entity) in event.edges.iter().zip(&event.path[1..]) {
        let edge = v1::EdgeKind::try_from(*edge).expect("an edge kind");
        text.push_str(&format!(" -{}-> {}", edge.as_str_name(), name(entity)));
    }
    let flagged = if event.root_flagged { "!" } else { "" };
    format!("@{}{flagged} {text}", event.seq)
}

/// The sequence a status says to resume with.
fn resume_with(status: &Status) -> u64 {
    let (_, after) = status
        .message()
        .split_once("resume with from_seq ")
        .unwrap_or_else(|| panic!("{status:?} says where to resume"));
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("{status:?} names a sequence"))
}

const RUN: &str = "DATASET_VERSION applications@3 -INPUT-> RUN trial-1";
const MODEL: &str = "DATASET_VERSION applications@3 -INPUT-> RUN trial-1 \
                     -REGISTERED-> MODEL_VERSION credit-risk@7";
const ENDPOINT: &str = "DATASET_VERSION applications@3 -INPUT-> RUN trial-1 \
                        -REGISTERED-> MODEL_VERSION credit-risk@7 -DEPLOYED-> ENDPOINT scoring";
const SECOND_RUN: &str = "DATASET_VERSION applications@3 -INPUT-> RUN trial-2";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_tells_what_comes_to_depend_on_a_flagged_dataset_as_it_happens() {
    let mut stack = Stack::start(|config| config.watch_concurrency = 3).await;
    let flagged_at = stack
        .publish(vec![
            dataset("applications", "3", &[], ""),
            flagged(v1::EntityKind::DatasetVersion, "applications", "3"),
        ])
        .await;
    stack.lineaged.wait_applied(flagged_at).await;
    let mut client = stack.client().await;

    // Malformed and unknown roots.
    let unknown = client
        .watch_impact(watch_request(
            reference(v1::EntityKind::DatasetVersion, "applications", "9"),
            0,
        ))
        .await
        .map(|_| ())
        .expect_err("no such dataset version");
    assert_eq!(unknown.code(), Code::NotFound, "{unknown:?}");
    let malformed = client
        .watch_impact(v1::WatchImpactRequest::default())
        .await
        .map(|_| ())
        .expect_err("no root");
    assert_eq!(malformed.code(), Code::InvalidArgument, "{malformed:?}");
    assert!(malformed.message().contains("root"), "{malformed:?}");

    // Each dependency is told as it is applied, with its path.
    let mut live = watch(&mut client, 0).await.expect("a watch starts");
    let run_seq = stack
        .publish(vec![
            run_started("trial-1", "", &[("lr", "0.01")]),
            inputs("trial-1", &[("applications", "3")]),
        ])
        .await;
    let first = next(&mut live).await;
    assert_eq!(describe(&first), format!("@{run_seq}! {RUN}"));
    let entity = first.entity.as_ref().expect("the entity");
    assert!(
        matches!(&entity.details, Some(v1::entity::Details::Run(run)) if run.params.is_empty()),
        "the BASIC view: {entity:?}"
    );
    let model_seq = stack
        .publish(vec![registered("credit-risk", "7", "trial-1", "")])
        .await;
    assert_eq!(
        describe(&next(&mut live).await),
        format!("@{model_seq}! {MODEL}")
    );
    let endpoint_seq = stack
        .publish(vec![deployed("credit-risk", "7", "scoring")])
        .await;
    assert_eq!(
        describe(&next(&mut live).await),
        format!("@{endpoint_seq}! {ENDPOINT}")
    );
    // An unrelated run is not told: the next event is the next dependency.
    stack
        .publish(vec![
            run_started("other", "", &[]),
            inputs("other", &[("bureau-scores", "2")]),
        ])
        .await;
    let second_run_seq = stack
        .publish(vec![
            run_started("trial-2", "", &[]),
            inputs("trial-2", &[("applications", "3")]),
        ])
        .await;
    assert_eq!(
        describe(&next(&mut live).await),
        format!("@{second_run_seq}! {SECOND_RUN}")
    );
    let expected = [
        format!("@{run_seq}! {RUN}"),
        format!("@{model_seq}! {MODEL}"),
        format!("@{endpoint_seq}! {ENDPOINT}"),
        format!("@{second_run_seq}! {SECOND_RUN}"),
    ];

    // Resumed after the first event: the rest, not the first.
    let mut resumed = watch(&mut client, first.seq)
        .await
        .expect("a resumed watch");
    for expected in &expected[1..] {
        assert_eq!(&describe(&next(&mut resumed).await), expected);
    }
    // From 0, after all that: everything downstream, in order.
    let mut everything = watch(&mut client, 0).await.expect("a third watch");
    for expected in &expected {
        assert_eq!(&describe(&next(&mut everything).await), expected);
    }

    // Three watches are the limit here; a client going away frees its slot.
    let busy = watch(&mut client, 0)
        .await
        .map(|_| ())
        .expect_err("a fourth");
    assert_eq!(busy.code(), Code::ResourceExhausted, "{busy:?}");
    drop(resumed);
    let mut fourth = wait_for("a watch slot freed by a client that went away", || {
        let mut client = client.clone();
        async move {
            match watch(&mut client, second_run_seq).await {
                Ok(stream) => Some(stream),
                Err(status) if status.code() == Code::ResourceExhausted => None,
                Err(status) => panic!("a watch answers {status:?}"),
            }
        }
    })
    .await;

    // A watch resumed at the head follows the graph from there.
    let scorer_seq = stack
        .publish(vec![Payload::RunInputsDeclared(v1::RunInputsDeclared {
            run_id: "scorer".into(),
            datasets: Vec::new(),
            artifacts: Vec::new(),
            models: vec![v1::ModelVersionRef {
                model: "credit-risk".into(),
                version: "7".into(),
            }],
        })])
        .await;
    let scorer = format!(
        "@{scorer_seq}! DATASET_VERSION applications@3 -INPUT-> RUN trial-1 \
         -REGISTERED-> MODEL_VERSION credit-risk@7 -INPUT-> RUN scorer"
    );
    assert_eq!(describe(&next(&mut fourth).await), scorer);
    assert_eq!(describe(&next(&mut live).await), scorer);

    // A shutdown ends open watches, naming where to resume.
    let ending = tokio::spawn(async move { end(&mut live).await });
    let status = stack.lineaged.wait_applied(scorer_seq).await;
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    stack.lineaged.stop().await;
    let (rest, status) = ending.await.expect("no panic");
    assert!(rest.is_empty(), "{rest:?}");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert_eq!(resume_with(&status), scorer_seq, "{status:?}");
}

/// Runs that read the watched dataset version, in a burst: more events
/// than a client that never reads, the server's HTTP/2 buffers and the
/// watch's channel hold together (each event is about 400 bytes; the
/// client's stream window below is 1 KiB, and the server buffers at most
/// a frame, the channel and a converted chunk beyond it).
const BURST_RUNS: usize = 1_000;

/// A client on its own connection whose HTTP/2 stream window is tiny, so
/// that a watch it does not read stalls soon.
async fn small_window_client(addr: std::net::SocketAddr) -> LineageServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .initial_stream_window_size(1_024)
        .connect()
        .await
        .expect("connect");
    LineageServiceClient::new(channel)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_nobody_reads_ends_saying_where_to_resume_and_resuming_loses_nothing() {
    let mut stack = Stack::start(|config| {
        config.watch_concurrency = 1;
        config.replay_stall_secs = 1;
    })
    .await;
    let flagged_at = stack
        .publish(vec![
            dataset("applications", "3", &[], ""),
            flagged(v1::EntityKind::DatasetVersion, "applications", "3"),
        ])
        .await;
    stack.lineaged.wait_applied(flagged_at).await;
    let mut stalled = watch(&mut small_window_client(stack.lineaged.addr).await, 0)
        .await
        .expect("the watch takes the only slot");
    let mut client = stack.client().await;
    let busy = watch(&mut client, 0)
        .await
        .map(|_| ())
        .expect_err("one slot");
    assert_eq!(busy.code(), Code::ResourceExhausted, "{busy:?}");

    // Long run ids make large events.
    let run_id = |n: usize| format!("{}-{n:04}", "r".repeat(120));
    let last = stack
        .publish_many(
            (0..BURST_RUNS)
                .map(|n| inputs(&run_id(n), &[("applications", "3")]))
                .collect(),
        )
        .await;
    stack.lineaged.wait_applied(last).await;

    // The stalled watch holds the only slot until its stall timeout.
    let probe = wait_for("the stalled watch to give its slot back", || {
        let mut client = client.clone();
        async move {
            match watch(&mut client, last).await {
                Ok(stream) => Some(stream),
                Err(status) if status.code() == Code::ResourceExhausted => None,
                Err(status) => panic!("a watch answers {status:?}"),
            }
        }
    })
    .await;
    drop(probe);

    // It delivers what it had buffered, then where to resume.
    let (received, status) = end(&mut stalled).await;
    assert_eq!(status.code(), Code::DeadlineExceeded, "{status:?}");
    let resume = resume_with(&status);
    let seqs: Vec<u64> = received.iter().map(|event| event.seq).collect();
    assert_eq!(
        seqs,
        (flagged_at + 1..=resume).collect::<Vec<_>>(),
        "each run at its own sequence, in order, up to where to resume"
    );
    assert!(
        resume < last,
        "{resume}: the burst did not fit in the buffers"
    );
    assert!(received.iter().all(|event| event.root_flagged));

    // The service is healthy: resuming there delivers the rest, once each.
    let mut resumed = wait_for("the probe's slot to come back", || {
        let mut client = client.clone();
        async move {
            match watch(&mut client, resume).await {
                Ok(stream) => Some(stream),
                Err(status) if status.code() == Code::ResourceExhausted => None,
                Err(status) => panic!("a watch answers {status:?}"),
            }
        }
    })
    .await;
    let mut runs: Vec<String> = received
        .iter()
        .map(|event| event.path.last().expect("a path").name.clone())
        .collect();
    for seq in resume + 1..=last {
        let event = next(&mut resumed).await;
        assert_eq!(event.seq, seq);
        runs.push(event.path.last().expect("a path").name.clone());
    }
    assert_eq!(runs, (0..BURST_RUNS).map(run_id).collect::<Vec<_>>());
    let status = stack.lineaged.wait_applied(last).await;
    assert_eq!(status.dead_lettered, 0, "{status:?}");
    drop(resumed);
    stack.lineaged.stop().await;
}
