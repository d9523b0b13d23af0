//! The end-to-end harness: a real `nats-server` on a dynamic loopback port
//! with a temporary store, a real `lineaged` (the same `run` function the
//! binary calls) on a dynamic port with a temporary sled log, and helpers to
//! publish events and ask questions over real gRPC. [`store`] damages a
//! stopped service's store, for the tests that prove the damage is found.
//!
//! Everything started here is stopped and cleaned up on drop, and every wait
//! is bounded, so tests run in parallel and never hang.

pub mod events;
pub mod http;
mod nats;
pub mod rng;
pub mod store;
pub mod workload;

pub use nats::{NatsServer, free_port};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use futures_util::StreamExt;
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
pub use lineage_server::Config;
use prost::Message as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// How long any wait in a test may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(30);

/// More records than any replay in these tests sends; reaching it means a
/// stream did not end.
const MAX_REPLAY_RECORDS: usize = 100_000;

/// Polls `check` every 50 ms until it returns `Some`, or panics after [`WAIT`].
pub async fn wait_for<T, F, Fut>(what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    wait_within(WAIT, what, check).await
}

/// Like [`wait_for`] with an explicit bound (benchmarks wait longer).
pub async fn wait_within<T, F, Fut>(bound: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + bound;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A running lineaged, stopped gracefully by [`Lineaged::stop`] (or
/// aborted on drop).
#[derive(Debug)]
pub struct Lineaged {
    pub addr: SocketAddr,
    /// Where `/metrics`, `/healthz` and `/readyz` answer, when the test
    /// set `config.http_addr` (to `127.0.0.1:0` for any free port).
    pub http_addr: Option<SocketAddr>,
    pub data_dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), lineage_server::ServerError>>>,
}

impl Lineaged {
    /// Starts lineaged against `nats_url` with its log in `data_dir`;
    /// `tweak` adjusts the test defaults.
    pub async fn start(nats_url: &str, data_dir: &Path, tweak: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::for_tests(nats_url, data_dir.to_path_buf());
        // Short enough that messages prefetched by a stopped instance come
        // back quickly to the next one.
        config.ack_wait_secs = 2;
        tweak(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind gRPC port");
        let addr = listener.local_addr().expect("local addr");
        // Bound here, not by the service, so the port can be read back.
        let http = match config.http_addr {
            Some(http_addr) => Some(
                tokio::net::TcpListener::bind(http_addr)
                    .await
                    .expect("bind HTTP port"),
            ),
            None => None,
        };
        let http_addr = http
            .as_ref()
            .map(|http| http.local_addr().expect("local addr"));
        let listeners = lineage_server::Listeners {
            grpc: listener,
            http,
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(lineage_server::serve(config, listeners, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            http_addr,
            data_dir: data_dir.to_path_buf(),
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// A gRPC client, once the service answers.
    pub async fn client(&self) -> LineageServiceClient<Channel> {
        let url = format!("http://{}", self.addr);
        wait_for("the gRPC port", || {
            let url = url.clone();
            async move {
                let channel = tonic::transport::Endpoint::from_shared(url)
                    .ok()?
                    .connect()
                    .await
                    .ok()?;
                Some(LineageServiceClient::new(channel))
            }
        })
        .await
    }

    pub async fn channel(&self) -> Channel {
        tonic::transport::Endpoint::from_shared(format!("http://{}", self.addr))
            .expect("valid url")
            .connect()
            .await
            .expect("connect")
    }

    /// Waits until the log is replayed and `applied_seq` reaches `seq`.
    pub async fn wait_applied(&self, seq: u64) -> v1::StatusResponse {
        let client = self.client().await;
        wait_for(&format!("applied_seq >= {seq}"), || {
            let mut client = client.clone();
            async move {
                let status = client
                    .get_status(v1::GetStatusRequest::default())
                    .await
                    .ok()?
                    .into_inner();
                (status.ready && status.applied_seq >= seq).then_some(status)
            }
        })
        .await
    }

    /// Waits until the status satisfies `check`.
    pub async fn wait_status(
        &self,
        what: &str,
        check: impl Fn(&v1::StatusResponse) -> bool,
    ) -> v1::StatusResponse {
        self.wait_status_within(WAIT, what, check).await
    }

    /// Like [`Lineaged::wait_status`] with an explicit bound.
    pub async fn wait_status_within(
        &self,
        bound: Duration,
        what: &str,
        check: impl Fn(&v1::StatusResponse) -> bool,
    ) -> v1::StatusResponse {
        let client = self.client().await;
        let check = &check;
        wait_within(bound, what, || {
            let mut client = client.clone();
            async move {
                let status = client
                    .get_status(v1::GetStatusRequest::default())
                    .await
                    .ok()?
                    .into_inner();
                check(&status).then_some(status)
            }
        })
        .await
    }

    /// Asks VerifyLog to check the records `from_seq..=to_seq` (0 for either
    /// end of the log), and the checkpoints among them against the
    /// service's own key.
    pub async fn verify_log(&self, from_seq: u64, to_seq: u64) -> v1::VerifyLogResponse {
        self.verify_log_with_key(from_seq, to_seq, "").await
    }

    /// Like [`Lineaged::verify_log`], checking the checkpoints against
    /// `public_key` (hex; empty for the service's own key).
    pub async fn verify_log_with_key(
        &self,
        from_seq: u64,
        to_seq: u64,
        public_key: &str,
    ) -> v1::VerifyLogResponse {
        self.client()
            .await
            .verify_log(v1::VerifyLogRequest {
                from_seq,
                to_seq,
                public_key: public_key.to_owned(),
            })
            .await
            .expect("VerifyLog answers")
            .into_inner()
    }

    /// A whole replay: every record, or the status that refused or ended it.
    pub async fn replay(
        &self,
        request: v1::ReplayRequest,
    ) -> Result<Vec<v1::LogRecord>, tonic::Status> {
        let mut stream = self.client().await.replay(request).await?.into_inner();
        match read_replay_to_end(&mut stream).await {
            (records, None) => Ok(records),
            (_, Some(status)) => Err(status),
        }
    }

    pub async fn status_with_digest(&self) -> v1::StatusResponse {
        self.client()
            .await
            .get_status(v1::GetStatusRequest {
                include_state_digest: true,
            })
            .await
            .expect("status")
            .into_inner()
    }

    /// Stops gracefully and waits until the log is closed.
    pub async fn stop(self) {
        self.stop_within(WAIT).await
    }

    /// Stops gracefully and waits, at most `bound`, until the log is closed
    /// (the benchmark's 10 M-event graph takes longer to snapshot than a
    /// test's `WAIT`).
    pub async fn stop_within(mut self, bound: Duration) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(bound, task)
                .await
                .expect("lineaged stops within the wait bound")
                .expect("lineaged task did not panic")
                .expect("lineaged stopped cleanly");
        }
    }
}

impl Drop for Lineaged {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Asserts that a check of the whole log (`VerifyLog` from its start) found
/// `problem` at record `first_bad_seq`, and verified every record before it.
#[track_caller]
pub fn assert_log_broken_at(answer: &v1::VerifyLogResponse, first_bad_seq: u64, problem: &str) {
    assert!(!answer.ok);
    assert_eq!(answer.first_bad_seq, first_bad_seq);
    assert_eq!(answer.problem, problem);
    assert_eq!(answer.records_checked, first_bad_seq - 1);
    assert_eq!(answer.verified_seq, first_bad_seq - 1);
}

/// Reads a replay's stream to its end: the records, and the status that
/// ended it early, if one did.
pub async fn read_replay_to_end(
    stream: &mut tonic::Streaming<v1::LogRecord>,
) -> (Vec<v1::LogRecord>, Option<tonic::Status>) {
    let mut records = Vec::new();
    while records.len() <= MAX_REPLAY_RECORDS {
        let next = tokio::time::timeout(WAIT, stream.message())
            .await
            .expect("the replay sends its next record or its end within the wait bound");
        match next {
            Ok(Some(record)) => records.push(record),
            Ok(None) => return (records, None),
            Err(status) => return (records, Some(status)),
        }
    }
    panic!("a replay sent more than {MAX_REPLAY_RECORDS} records");
}

/// Starts a nats-server and creates the events stream on it, so that a
/// test can publish before lineaged has started.
pub async fn nats_with_events_stream() -> (NatsServer, jetstream::Context) {
    let nats = NatsServer::start();
    let js = jetstream::new(nats.client().await);
    ensure_events_stream(&js).await;
    (nats, js)
}

/// Publishes an event as binary protobuf with `Nats-Msg-Id` = event id and
/// waits for the stream's ack. Returns whether JetStream saw a duplicate.
pub async fn publish(js: &jetstream::Context, event: &v1::Event) -> bool {
    publish_with_msg_id(js, event, &event.event_id).await
}

/// Like [`publish`] with an explicit `Nats-Msg-Id`, so a test can get past
/// JetStream's own duplicate window and reach lineaged's idempotency.
pub async fn publish_with_msg_id(js: &jetstream::Context, event: &v1::Event, msg_id: &str) -> bool {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", msg_id);
    publish_raw(
        js,
        &format!("lineage.events.{}", event.workspace),
        headers,
        event.encode_to_vec(),
    )
    .await
}

/// Publishes an event in the proto3 JSON mapping.
pub async fn publish_json(js: &jetstream::Context, event: &v1::Event) -> bool {
    let json = serde_json::to_vec(event).expect("events serialize");
    publish_json_bytes(js, event, json).await
}

/// Publishes `json`, the JSON form of `event`, as `lineage emit` does: the
/// event's id as its message id, on its workspace's subject.
async fn publish_json_bytes(js: &jetstream::Context, event: &v1::Event, json: Vec<u8>) -> bool {
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", event.event_id.as_str());
    headers.insert("Content-Type", "application/json");
    publish_raw(
        js,
        &format!("lineage.events.{}", event.workspace),
        headers,
        json,
    )
    .await
}

/// The lines of the demo history the README loads (deploy/demo/history.jsonl).
pub fn demo_lines() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/demo/history.jsonl"
    );
    std::fs::read_to_string(path)
        .expect("the demo history is in the repository")
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(str::to_owned)
        .collect()
}

/// Publishes the demo history as `lineage emit` does (JSON, each event's
/// id as its message id) and returns how many events it holds.
pub async fn publish_demo_history(js: &jetstream::Context) -> u64 {
    let lines = demo_lines();
    for line in &lines {
        let event: v1::Event = serde_json::from_str(line).expect("each line is an Event");
        publish_json_bytes(js, &event, line.as_bytes().to_vec()).await;
    }
    lines.len() as u64
}

/// Publishes arbitrary bytes and waits for the ack. While the stream is
/// still being created (by the test and lineaged at once) JetStream answers
/// "no stream"; like a well-behaved producer, this retries for a while.
pub async fn publish_raw(
    js: &jetstream::Context,
    subject: &str,
    headers: async_nats::HeaderMap,
    payload: Vec<u8>,
) -> bool {
    let payload = bytes::Bytes::from(payload);
    let deadline = Instant::now() + WAIT;
    loop {
        let ack = js
            .publish_with_headers(subject.to_owned(), headers.clone(), payload.clone())
            .await
            .expect("publish")
            .await;
        match ack {
            Ok(ack) => return ack.duplicate,
            Err(error)
                if error.kind() == jetstream::context::PublishErrorKind::StreamNotFound
                    && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => panic!("publish ack: {error}"),
        }
    }
}

/// Creates the events stream the way lineaged does, so tests can publish
/// before lineaged has started. lineaged may be creating it at the same
/// moment; whoever loses that race finds the winner's stream.
pub async fn ensure_events_stream(js: &jetstream::Context) {
    wait_for("the events stream", || async {
        match js
            .get_or_create_stream(jetstream::stream::Config {
                name: "LINEAGE_EVENTS".into(),
                subjects: vec!["lineage.events.>".into()],
                storage: jetstream::stream::StorageType::File,
                num_replicas: 1,
                ..Default::default()
            })
            .await
        {
            Ok(stream) => Some(stream),
            Err(_) => js.get_stream("LINEAGE_EVENTS").await.ok(),
        }
    })
    .await;
}

/// A dead-lettered message as a test sees it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub subject: String,
    pub reason: String,
    pub detail: String,
    pub original_subject: String,
    pub original_stream_seq: u64,
    pub payload: Vec<u8>,
}

/// The most messages one fetch of the dead-letter stream asks for.
const FETCH_BATCH: usize = 1_000;

/// Reads exactly `count` messages from the dead-letter stream (fewer if
/// they do not all arrive within [`WAIT`]).
pub async fn read_dead_letters(js: &jetstream::Context, count: usize) -> Vec<DeadLetter> {
    let stream = wait_for("the dead-letter stream", || async {
        js.get_stream("LINEAGE_DLQ").await.ok()
    })
    .await;
    // No acks: a consumer waiting for them would stop at its cap of
    // unacknowledged messages (1,000 by default).
    let consumer = stream
        .create_consumer(jetstream::consumer::pull::Config {
            ack_policy: jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .expect("ephemeral consumer");
    let mut messages = consumer
        .fetch()
        .max_messages((count + 1).min(FETCH_BATCH))
        .expires(Duration::from_secs(2))
        .messages()
        .await
        .expect("fetch");
    let mut letters = Vec::new();
    let deadline = Instant::now() + WAIT;
    while letters.len() < count && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(1), messages.next()).await {
            Ok(Some(Ok(message))) => {
                let header = |name: &str| {
                    message
                        .headers
                        .as_ref()
                        .and_then(|h| h.get(name))
                        .map(|v| v.as_str().to_owned())
                        .unwrap_or_default()
                };
                letters.push(DeadLetter {
                    subject: message.subject.to_string(),
                    reason: header("Lineage-Reject-Reason"),
                    detail: header("Lineage-Reject-Detail"),
                    original_subject: header("Lineage-Original-Subject"),
                    original_stream_seq: header("Lineage-Original-Stream-Seq")
                        .parse()
                        .unwrap_or_default(),
                    payload: message.payload.to_vec(),
                });
            }
            // The fetch ended (expired or drained): ask again.
            Ok(None) | Ok(Some(Err(_))) | Err(_) => {
                messages = consumer
                    .fetch()
                    .max_messages((count + 1 - letters.len()).min(FETCH_BATCH))
                    .expires(Duration::from_secs(2))
                    .messages()
                    .await
                    .expect("fetch");
            }
        }
    }
    letters
}

/// A timestamp at `nanos` after the Unix epoch.
pub fn timestamp(nanos: i64) -> pbjson_types::Timestamp {
    pbjson_types::Timestamp {
        seconds: nanos.div_euclid(1_000_000_000),
        nanos: i32::try_from(nanos.rem_euclid(1_000_000_000)).expect("below a second"),
    }
}

/// A reference to an entity in a request.
pub fn entity(workspace: &str, kind: v1::EntityKind, name: &str, version: &str) -> v1::EntityRef {
    v1::EntityRef {
        workspace: workspace.into(),
        kind: kind as i32,
        name: name.into(),
        version: version.into(),
    }
}

/// `kind:name[@version]` of an entity in an answer, for readable assertions.
pub fn label(entity: &v1::Entity) -> String {
    let r = entity.r#ref.as_ref().expect("entities carry their ref");
    let kind = match v1::EntityKind::try_from(r.kind).expect("known kind") {
        v1::EntityKind::Experiment => "experiment",
        v1::EntityKind::Run => "run",
        v1::EntityKind::DatasetVersion => "dataset",
        v1::EntityKind::Artifact => "artifact",
        v1::EntityKind::ModelVersion => "model",
        v1::EntityKind::Environment => "env",
        v1::EntityKind::Compute => "compute",
        v1::EntityKind::Endpoint => "endpoint",
        v1::EntityKind::Unspecified => "unspecified",
    };
    if r.version.is_empty() {
        format!("{kind}:{}", r.name)
    } else {
        format!("{kind}:{}@{}", r.name, r.version)
    }
}

/// Sorted labels of a list of entities.
pub fn labels<'a>(entities: impl IntoIterator<Item = &'a v1::Entity>) -> Vec<String> {
    let mut labels: Vec<String> = entities.into_iter().map(label).collect();
    labels.sort();
    labels
}

/// Labels of the model versions in production among `entities`.
pub fn in_production<'a>(entities: impl IntoIterator<Item = &'a v1::Entity>) -> Vec<String> {
    entities
        .into_iter()
        .filter(|n| {
            matches!(&n.details, Some(v1::entity::Details::ModelVersion(m))
                if m.stage == v1::ModelStage::Production as i32)
        })
        .map(label)
        .collect()
}
