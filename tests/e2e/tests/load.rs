//! Load and abuse against a real lineaged (in this process, so its memory
//! is this process's resident set) over real HTTP/2 on loopback, with a
//! real nats-server feeding it, on a graph generated to be wide and deep: a
//! chain of dataset versions each derived from the one before, and a fan
//! of runs that all used one dataset version.
//!
//! - Stuck readers: clients that open replays and never read them (as many
//!   as there are replay slots), and a raw HTTP/2 peer that opens hundreds
//!   of streams asking for large answers and never reads one. Further
//!   replays are refused with RESOURCE_EXHAUSTED at once; ingest keeps
//!   applying events meanwhile; each stalled replay ends, after the stall
//!   time, with DEADLINE_EXCEEDED naming the record to resume from (never a
//!   silent end) and frees its slot; the resident set grows by a bounded
//!   amount.
//! - A storm of concurrent queries of every kind over several connections
//!   while events are ingested: every query gets a defined answer within
//!   its deadline (OK, or RESOURCE_EXHAUSTED when the queue for a query
//!   slot is full or no slot came free within 2 s; never CANCELLED,
//!   INTERNAL, UNKNOWN or no answer), ingest moves during the storm,
//!   memory stays bounded.
//! - Query bombs: the deepest and widest traversals, the largest pages,
//!   filter lists of 100,000 items, megabyte ids and page tokens of
//!   garbage, and a request over the 4 MiB limit, while a canary on
//!   another connection keeps asking small questions: each bomb is
//!   answered promptly, truncated or INVALID_ARGUMENT (the oversize one
//!   OUT_OF_RANGE), and the canary is never held up for long.
//!   (`request_fuzz.rs` covers the shapes of every field on a small graph;
//!   these are the size extremes on a large one.)
//!
//! The tests run one at a time (each measures the process's memory, which
//! includes this process's own clients). Default scale (CI): 4 unread
//! replays of 4,105 records, 1,000 raw streams; 5,000 queries over 10
//! connections while 3,000 events arrive; 19 kinds of bomb, 3 rounds at
//! once, on a chain of 5,000 and a fan of 20,000 runs. Larger by hand:
//!
//! ```text
//! cargo test -p lineage-e2e --test load
//! LINEAGE_LOAD_QUERIES=50000 LINEAGE_LOAD_CONNECTIONS=50 LINEAGE_LOAD_RAW_STREAMS=5000 \
//!   LINEAGE_LOAD_STUCK_FAN_OUT=20000 LINEAGE_LOAD_CHAIN=20000 LINEAGE_LOAD_FAN_OUT=100000 \
//!   LINEAGE_LOAD_BOMB_ROUNDS=10 \
//!   cargo test --release -p lineage-e2e --test load -- --nocapture
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_nats::jetstream;
use lineage_e2e::events::{artifact, dataset, event, inputs, registered, run_started};
use lineage_e2e::{Lineaged, NatsServer, entity};
use lineage_proto::v1;
use lineage_proto::v1::lineage_service_client::LineageServiceClient;
use prost::Message as _;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

/// The workspace of the generated graph.
const WS: &str = "load";

/// Reads a number from the environment (the full-scale knobs).
fn env_number(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={text:?} is not a number")),
        Err(_) => default,
    }
}

/// One test at a time: each measures the resident set of this process,
/// which the others' lineaged would share.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    SERIAL.lock().await
}

// ---------------------------------------------------------------------------
// The graph.

/// `chain` dataset versions `chain@0..chain`, each derived from the one
/// before; a dataset version `hub@1`; a run `run-main` that used the hub and
/// the chain's last version, produced `model.pkl` and registered
/// `model@1`; and `fan_out` runs `run-0..` that each used `hub@1`.
fn wide_and_deep(chain: usize, fan_out: usize) -> Vec<v1::Event> {
    let mut events = Vec::with_capacity(chain + fan_out + 5);
    let mut add = |id: String, payload| {
        let minute = events.len() as i64;
        events.push(event(&id, WS, minute, payload));
    };
    for version in 0..chain {
        let parent = version.checked_sub(1).map(|parent| parent.to_string());
        let parents: Vec<(&str, &str)> = parent.iter().map(|p| ("chain", p.as_str())).collect();
        add(
            format!("chain-{version}"),
            dataset("chain", &version.to_string(), &parents, ""),
        );
    }
    let last = chain.saturating_sub(1).to_string();
    add("hub".into(), dataset("hub", "1", &[], ""));
    add(
        "main-started".into(),
        run_started("run-main", "", &[("lr", "0.01")]),
    );
    add(
        "main-inputs".into(),
        inputs("run-main", &[("hub", "1"), ("chain", &last)]),
    );
    add("main-artifact".into(), artifact("run-main", "model.pkl"));
    add(
        "main-model".into(),
        registered("model", "1", "run-main", "model.pkl"),
    );
    for run in 0..fan_out {
        add(
            format!("fan-{run}"),
            inputs(&format!("run-{run}"), &[("hub", "1")]),
        );
    }
    events
}

/// More runs on the hub, for ingest to apply while the service is loaded.
fn more_runs(from: usize, count: usize) -> Vec<v1::Event> {
    (from..from + count)
        .map(|run| {
            event(
                &format!("late-{run}"),
                WS,
                1_000_000 + run as i64,
                inputs(&format!("late-run-{run}"), &[("hub", "1")]),
            )
        })
        .collect()
}

/// Publishes `events`, a thousand at a time before awaiting their acks.
async fn publish_all(js: &jetstream::Context, events: &[v1::Event]) {
    for chunk in events.chunks(1_000) {
        let mut acks = Vec::with_capacity(chunk.len());
        for event in chunk {
            let mut headers = async_nats::HeaderMap::new();
            headers.insert("Nats-Msg-Id", event.event_id.as_str());
            let ack = js
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
            ack.await.expect("the stream stores the event");
        }
    }
}

/// A nats-server, and a lineaged that has applied `events`.
struct Stack {
    js: jetstream::Context,
    lineaged: Lineaged,
    applied: u64,
    _data: tempfile::TempDir,
    _nats: NatsServer,
}

impl Stack {
    async fn start(events: &[v1::Event], tweak: impl FnOnce(&mut lineage_e2e::Config)) -> Self {
        let nats = NatsServer::start();
        let js = jetstream::new(nats.client().await);
        lineage_e2e::ensure_events_stream(&js).await;
        let data = tempfile::tempdir().expect("data dir");
        let lineaged = Lineaged::start(&nats.url(), data.path(), tweak).await;
        let started = Instant::now();
        publish_all(&js, events).await;
        let applied = events.len() as u64;
        lineaged
            .wait_status_within(
                Duration::from_secs(180),
                &format!("{applied} events applied"),
                |status| status.applied_seq >= applied,
            )
            .await;
        eprintln!(
            "{applied} events published and applied in {:?}",
            started.elapsed()
        );
        Self {
            js,
            lineaged,
            applied,
            _data: data,
            _nats: nats,
        }
    }

    /// A client on a connection of its own.
    async fn client(&self) -> LineageServiceClient<Channel> {
        LineageServiceClient::new(self.lineaged.channel().await)
            .max_decoding_message_size(64 * 1024 * 1024)
    }

    /// Publishes `count` more events and returns the sequence they bring
    /// the log to.
    async fn ingest_more(&mut self, count: usize) -> u64 {
        let events = more_runs(self.applied as usize, count);
        publish_all(&self.js, &events).await;
        self.applied += count as u64;
        self.applied
    }

    async fn applied_seq(&self) -> u64 {
        self.client()
            .await
            .get_status(v1::GetStatusRequest::default())
            .await
            .expect("status")
            .into_inner()
            .applied_seq
    }
}

// ---------------------------------------------------------------------------
// Memory.

/// This process's resident set, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Samples the resident set every 10 ms on a thread of its own (so a busy
/// runtime cannot skip the peak) until stopped; reports the peak.
struct PeakResident {
    before: u64,
    stop: Arc<AtomicBool>,
    sampler: std::thread::JoinHandle<u64>,
}

impl PeakResident {
    fn start() -> Self {
        let before = resident_bytes();
        let stop = Arc::new(AtomicBool::new(false));
        let sampler = std::thread::spawn({
            let stop = stop.clone();
            move || {
                let mut peak = resident_bytes();
                while !stop.load(Ordering::Relaxed) {
                    peak = peak.max(resident_bytes());
                    std::thread::sleep(Duration::from_millis(10));
                }
                peak
            }
        });
        Self {
            before,
            stop,
            sampler,
        }
    }

    /// The most the resident set grew by since [`PeakResident::start`].
    fn growth(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        let peak = self.sampler.join().expect("the sampler does not panic");
        peak.saturating_sub(self.before)
    }
}

const MIB: u64 = 1024 * 1024;

// ---------------------------------------------------------------------------
// A raw HTTP/2 peer.

/// A gRPC message as it goes on the wire: uncompressed, length-prefixed.
fn grpc_frame(message: &impl prost::Message) -> bytes::Bytes {
    let encoded = message.encode_to_vec();
    let mut frame = Vec::with_capacity(5 + encoded.len());
    frame.push(0);
    frame.extend_from_slice(&(encoded.len() as u32).to_be_bytes());
    frame.extend_from_slice(&encoded);
    frame.into()
}

/// An HTTP/2 connection that sends gRPC requests and never reads an
/// answer: its windows stay at the 64 KiB of the handshake, so the server
/// can hand it almost nothing of what it computed. tonic's client cannot
/// misbehave like this.
struct StuckPeer {
    addr: std::net::SocketAddr,
    requests: h2::client::SendRequest<bytes::Bytes>,
    connection: tokio::task::JoinHandle<()>,
    /// The open streams (dropping them would cancel them).
    held: Vec<(h2::client::ResponseFuture, h2::SendStream<bytes::Bytes>)>,
    /// The bodies of the answers whose headers came, never read.
    answered: Vec<(h2::RecvStream, h2::SendStream<bytes::Bytes>)>,
}

impl StuckPeer {
    async fn connect(addr: std::net::SocketAddr) -> Self {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connect to lineaged");
        let (requests, connection) = h2::client::Builder::new()
            .initial_window_size(65_535)
            .initial_connection_window_size(65_535)
            .handshake(tcp)
            .await
            .expect("HTTP/2 handshake");
        let connection = tokio::spawn(async move {
            // Ends when lineaged closes the connection or the test drops it.
            let _ = connection.await;
        });
        Self {
            addr,
            requests,
            connection,
            held: Vec::new(),
            answered: Vec::new(),
        }
    }

    /// Waits for the headers of the answers, in order, which the server
    /// sends once it has computed one, whatever the windows: then that
    /// answer is held by the server, unsent. Stops at the first that does
    /// not come within `quiet` of the one before (a stream the server did
    /// not let open waits in this client). Returns how many came.
    async fn wait_answered(&mut self, quiet: Duration) -> usize {
        for (response, stream) in std::mem::take(&mut self.held) {
            match tokio::time::timeout(quiet, response).await {
                // The body stays unread: no window is given back.
                Ok(Ok(response)) => self.answered.push((response.into_body(), stream)),
                Ok(Err(error)) => panic!("a stream was reset: {error}"),
                Err(_) => break,
            }
        }
        self.answered.len()
    }

    /// Opens up to `count` streams calling `path` with `message`; stops
    /// early when the server lets no more open within `wait`. Returns how
    /// many are open.
    async fn open(
        &mut self,
        path: &str,
        message: &impl prost::Message,
        count: usize,
        wait: Duration,
    ) -> usize {
        let body = grpc_frame(message);
        for _ in 0..count {
            let mut requests = match tokio::time::timeout(wait, self.requests.clone().ready()).await
            {
                Ok(Ok(requests)) => requests,
                // The server's stream limit is reached (or it closed
                // the connection): no more streams.
                _ => break,
            };
            let request = http::Request::builder()
                .method("POST")
                .uri(format!("http://{}{path}", self.addr))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .body(())
                .expect("a well-formed request");
            let Ok((response, mut stream)) = requests.send_request(request, false) else {
                break;
            };
            if stream.send_data(body.clone(), true).is_err() {
                break;
            }
            self.held.push((response, stream));
            self.requests = requests;
        }
        self.held.len()
    }
}

impl Drop for StuckPeer {
    fn drop(&mut self) {
        self.connection.abort();
    }
}

// ---------------------------------------------------------------------------
// Stuck readers.

/// The HTTP/2 streams lineaged lets one connection open.
const STREAMS_PER_CONNECTION: usize = 256;

/// Replay slots of the service under test, and how long a replay waits for
/// its client before giving up.
const REPLAY_SLOTS: u32 = 4;
const STALL_SECS: u64 = 3;

/// A client on its own connection whose HTTP/2 windows are the protocol's
/// 64 KiB, so that a replay it does not read stalls soon.
async fn small_window_client(addr: std::net::SocketAddr) -> LineageServiceClient<Channel> {
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("url")
        .initial_stream_window_size(65_535)
        .initial_connection_window_size(65_535)
        .connect()
        .await
        .expect("connect");
    LineageServiceClient::new(channel)
}

fn hub() -> Option<v1::EntityRef> {
    Some(entity(WS, v1::EntityKind::DatasetVersion, "hub", "1"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_readers_cost_bounded_memory_free_their_slots_and_never_stop_ingest() {
    let _serial = one_at_a_time().await;
    let fan_out = env_number("LINEAGE_LOAD_STUCK_FAN_OUT", 4_000) as usize;
    let raw_streams = env_number("LINEAGE_LOAD_RAW_STREAMS", 1_000) as usize;
    let mut stack = Stack::start(&wide_and_deep(100, fan_out), |config| {
        config.replay_concurrency = REPLAY_SLOTS;
        config.replay_stall_secs = STALL_SECS;
    })
    .await;
    let addr = stack.lineaged.addr;
    let log_records = stack.applied;
    let memory = PeakResident::start();

    // Replays nobody reads, one connection each, as many as there are slots.
    let mut stuck = Vec::new();
    for _ in 0..REPLAY_SLOTS {
        let stream = small_window_client(addr)
            .await
            .replay(v1::ReplayRequest::default())
            .await
            .expect("a replay starts")
            .into_inner();
        stuck.push(stream);
    }
    let stuck_since = Instant::now();

    // While they hold the slots, every further replay is refused at once.
    let mut client = stack.client().await;
    for _ in 0..20 {
        let refused = client
            .replay(v1::ReplayRequest::default())
            .await
            .map(|_| ())
            .expect_err("every replay slot is taken");
        assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    }

    // Ingest goes on while they hang.
    let target = stack.ingest_more(500).await;
    stack
        .lineaged
        .wait_status_within(Duration::from_secs(60), "ingest applies more", |status| {
            status.applied_seq >= target
        })
        .await;
    let applied_while_stuck = stuck_since.elapsed();
    assert!(
        applied_while_stuck < Duration::from_secs(STALL_SECS),
        "the events were applied while the replays were still stuck ({applied_while_stuck:?})"
    );

    // A peer that asks for large answers on many streams and reads none.
    let large_impact = v1::TraversalRequest {
        root: hub(),
        limit: 2_000,
        view: v1::EntityView::Full as i32,
        ..Default::default()
    };
    let answer_bytes = client
        .impact(large_impact.clone())
        .await
        .expect("the large impact answers")
        .into_inner()
        .encoded_len();
    let mut peer = StuckPeer::connect(addr).await;
    let opened = peer
        .open(
            "/lineage.v1.LineageService/Impact",
            &large_impact,
            raw_streams,
            Duration::from_secs(2),
        )
        .await;
    let answered = peer.wait_answered(Duration::from_secs(5)).await;
    assert!(
        answered <= STREAMS_PER_CONNECTION,
        "{answered} streams answered on one connection (of {opened} sent)"
    );
    // Ingest goes on while the peer holds them.
    let target = stack.ingest_more(500).await;
    stack
        .lineaged
        .wait_status_within(Duration::from_secs(60), "ingest applies more", |status| {
            status.applied_seq >= target
        })
        .await;

    // After the stall time each stuck replay gives its slot back: a new
    // replay is served, whole.
    let freed = lineage_e2e::wait_for("a replay slot freed by a stalled replay", || {
        let mut client = client.clone();
        async move {
            match client.replay(v1::ReplayRequest::default()).await {
                Ok(stream) => Some(stream.into_inner()),
                Err(status) if status.code() == Code::ResourceExhausted => None,
                Err(status) => panic!("a replay answers {status:?}"),
            }
        }
    })
    .await;
    let freed_after = stuck_since.elapsed();
    assert!(
        freed_after >= Duration::from_secs(STALL_SECS),
        "a slot was freed only after the stall time ({freed_after:?})"
    );
    let mut freed = freed;
    let (records, ended) = lineage_e2e::read_replay_to_end(&mut freed).await;
    assert!(ended.is_none(), "the new replay is whole: {ended:?}");
    assert_eq!(
        records.len() as u64,
        target,
        "the new replay sends every record"
    );

    // The stuck clients, reading at last, get what was buffered and then
    // DEADLINE_EXCEEDED naming where to resume: never a silent end.
    for mut stream in stuck {
        let (records, ended) = lineage_e2e::read_replay_to_end(&mut stream).await;
        let ended = ended.expect("a stalled replay ends with an error");
        assert_eq!(ended.code(), Code::DeadlineExceeded, "{ended:?}");
        let resume_from = records.last().map_or(1, |record| record.seq + 1);
        assert!(
            ended
                .message()
                .ends_with(&format!("resume from record {resume_from}")),
            "{ended:?} after {} records",
            records.len()
        );
        assert!((records.len() as u64) < log_records, "it did stall");
    }

    let growth = memory.growth();
    eprintln!(
        "stuck readers: {REPLAY_SLOTS} replays unread ({log_records} records each), 20 refused, \
         freed after {freed_after:?}; a raw HTTP/2 peer sent {opened} streams \
         of a {answer_bytes}-byte answer and read none ({answered} answered, held unsent); 2 x 500 events applied meanwhile; \
         resident set grew by {} MiB",
        growth / MIB
    );
    // What the server may hold: the answers of one connection's streams,
    // and a few chunks per replay; not what the peer asked for.
    let bound = 64 * MIB + 2 * (STREAMS_PER_CONNECTION * answer_bytes) as u64;
    assert!(
        growth < bound,
        "the resident set grew by {} MiB, more than the {} MiB the stream limit allows",
        growth / MIB,
        bound / MIB
    );
    drop(peer);
}

// ---------------------------------------------------------------------------
// A storm of queries.

/// How long each query of the storm may take: its gRPC deadline.
const STORM_DEADLINE: Duration = Duration::from_secs(10);
/// How much later than its deadline an answer may come before it counts
/// as none (the machine is shared and noisy).
const ANSWER_MARGIN: Duration = Duration::from_secs(5);

/// The `n`-th query of the storm: every RPC that reads the graph, small
/// and large, in turn.
async fn storm_query(
    client: &mut LineageServiceClient<Channel>,
    n: usize,
    chain: usize,
    fan_out: usize,
) -> Result<(), tonic::Status> {
    fn request<T>(message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(STORM_DEADLINE);
        request
    }
    let last = (chain - 1).to_string();
    let full = v1::EntityView::Full as i32;
    match n % 8 {
        0 => client
            .get_entity(request(v1::GetEntityRequest {
                entity: Some(entity(
                    WS,
                    v1::EntityKind::Run,
                    &format!("run-{}", n % fan_out),
                    "",
                )),
                ..Default::default()
            }))
            .await
            .map(drop),
        1 => client
            .get_entity(request(v1::GetEntityRequest {
                entity: Some(entity(
                    WS,
                    v1::EntityKind::DatasetVersion,
                    "chain",
                    &(n % chain).to_string(),
                )),
                ..Default::default()
            }))
            .await
            .map(drop),
        2 => client
            .provenance(request(v1::TraversalRequest {
                root: Some(entity(WS, v1::EntityKind::DatasetVersion, "chain", &last)),
                ..Default::default()
            }))
            .await
            .map(drop),
        3 => client
            .impact(request(v1::TraversalRequest {
                root: hub(),
                ..Default::default()
            }))
            .await
            .map(drop),
        4 => client
            .runs_using_dataset(request(v1::RunsUsingDatasetRequest {
                workspace: WS.into(),
                dataset: "hub".into(),
                version: "1".into(),
                ..Default::default()
            }))
            .await
            .map(drop),
        5 => client
            .runs_using_dataset(request(v1::RunsUsingDatasetRequest {
                workspace: WS.into(),
                dataset: "hub".into(),
                page_size: 1_000,
                view: full,
                ..Default::default()
            }))
            .await
            .map(drop),
        6 => client
            .trace_model(request(v1::TraceModelRequest {
                workspace: WS.into(),
                model: "model".into(),
                version: "1".into(),
                ..Default::default()
            }))
            .await
            .map(drop),
        _ => client
            .get_status(request(v1::GetStatusRequest::default()))
            .await
            .map(drop),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_concurrent_queries_gets_defined_answers_while_ingest_moves() {
    let _serial = one_at_a_time().await;
    let queries = env_number("LINEAGE_LOAD_QUERIES", 5_000) as usize;
    let connections = env_number("LINEAGE_LOAD_CONNECTIONS", 10) as usize;
    let (chain, fan_out) = (1_000, 4_000);
    let mut stack = Stack::start(&wide_and_deep(chain, fan_out), |_| {}).await;
    let mut clients = Vec::with_capacity(connections);
    for _ in 0..connections {
        clients.push(stack.client().await);
    }
    let before = stack.applied_seq().await;
    let memory = PeakResident::start();

    // Events keep coming during the storm.
    let late_events = more_runs(stack.applied as usize, 3_000);
    stack.applied += late_events.len() as u64;
    let producer = tokio::spawn({
        let js = stack.js.clone();
        async move { publish_all(&js, &late_events).await }
    });

    let storm_started = Instant::now();
    let storm: Vec<_> = (0..queries)
        .map(|n| {
            let mut client = clients[n % connections].clone();
            tokio::spawn(async move {
                let asked = Instant::now();
                let answer = tokio::time::timeout(
                    STORM_DEADLINE + ANSWER_MARGIN,
                    storm_query(&mut client, n, chain, fan_out),
                )
                .await;
                (n, answer, asked.elapsed())
            })
        })
        .collect();
    // While it rages: is ingest applying?
    let mut applied_during = Vec::new();
    let mut watcher = stack.client().await;
    while !storm.iter().all(|query| query.is_finished()) {
        if let Ok(status) = tokio::time::timeout(
            Duration::from_secs(5),
            watcher.get_status(v1::GetStatusRequest::default()),
        )
        .await
        {
            applied_during.push(status.expect("status").into_inner().applied_seq);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut codes: BTreeMap<String, usize> = BTreeMap::new();
    let mut slowest = Duration::ZERO;
    for query in storm {
        let (n, answer, took) = query.await.expect("a query task does not panic");
        slowest = slowest.max(took);
        let code = match answer {
            Err(_) => panic!(
                "query {n} got no answer within {:?}",
                STORM_DEADLINE + ANSWER_MARGIN
            ),
            Ok(Ok(())) => Code::Ok,
            Ok(Err(status)) => status.code(),
        };
        // Nothing here waits for a log sequence (DEADLINE_EXCEEDED) and
        // the log was replayed before (UNAVAILABLE): OK, or refused as
        // overload. Never CANCELLED (tonic's own timeout: a queue that let
        // a query wait past its deadline), INTERNAL or UNKNOWN.
        assert!(
            matches!(code, Code::Ok | Code::ResourceExhausted),
            "query {n} ({}) answered {code:?}",
            n % 8
        );
        *codes.entry(format!("{code:?}")).or_default() += 1;
    }
    let storm_took = storm_started.elapsed();
    let growth = memory.growth();
    producer.await.expect("the producer finishes");
    let moved = applied_during.iter().any(|&applied| applied > before);
    eprintln!(
        "storm: {queries} queries over {connections} connections in {storm_took:?} \
         (slowest {slowest:?}): {codes:?}; applied during the storm {before} -> {:?}; \
         resident set grew by {} MiB",
        applied_during.last(),
        growth / MIB
    );
    assert!(
        codes.get("Ok").copied().unwrap_or(0) > 0,
        "some queries are answered"
    );
    assert!(
        moved,
        "ingest applied events during the storm: {applied_during:?}"
    );
    stack
        .lineaged
        .wait_status_within(
            Duration::from_secs(60),
            "every late event applied",
            |status| status.applied_seq >= stack.applied,
        )
        .await;
    // A sanity bound, well above what was measured (97 MiB at the default
    // scale, 318 MiB at 20,000 queries over 40 connections, this process's
    // clients included) and far below what queues without bound would
    // hold: a connection has at most 256 streams, and the query slots a
    // bounded queue.
    let bound = 256 * MIB + connections as u64 * 16 * MIB;
    assert!(
        growth < bound,
        "the resident set grew by {} MiB (bound {} MiB)",
        growth / MIB,
        bound / MIB
    );
}

// ---------------------------------------------------------------------------
// Query bombs.

/// How long a bomb may take to be answered, at most (the machine is shared
/// and noisy; a bounded answer on this graph takes well under a second).
const BOMB_WAIT: Duration = Duration::from_secs(30);
/// How long the canary's small question may take, at most, while bombs go
/// off beside it.
const CANARY_WAIT: Duration = Duration::from_secs(5);
/// The service's bounds (its defaults), which the answers must respect.
const MAX_DEPTH: usize = 1_024;
const MAX_NODES: usize = 20_000;
const MAX_PAGE: u32 = 1_000;

type Bomb = std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>;

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(answer: Result<T, tonic::Status>, field: &str) {
    let status = answer.expect_err("the request is refused");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status.message().starts_with(field),
        "the refusal names {field}: {}",
        &status.message()[..status.message().len().min(200)]
    );
}

/// A string of `len` copies of `c`.
fn long(c: char, len: usize) -> String {
    std::iter::repeat_n(c, len).collect()
}

/// The bombs, each a request at a size extreme and the check of its
/// answer.
fn bombs(
    client: &LineageServiceClient<Channel>,
    chain: usize,
    fan_out: usize,
    log: u64,
) -> Vec<(&'static str, Bomb)> {
    let last = (chain - 1).to_string();
    let deepest = Some(entity(WS, v1::EntityKind::DatasetVersion, "chain", &last));
    let first = Some(entity(WS, v1::EntityKind::DatasetVersion, "chain", "0"));
    let full = v1::EntityView::Full as i32;
    let every = |root: Option<v1::EntityRef>| v1::TraversalRequest {
        root,
        max_depth: u32::MAX,
        limit: u32::MAX,
        view: full,
        ..Default::default()
    };
    let mut bombs: Vec<(&'static str, Bomb)> = Vec::new();
    let mut add = |name: &'static str, bomb: Bomb| bombs.push((name, bomb));

    let mut c = client.clone();
    let request = every(deepest.clone());
    add(
        "provenance of the chain's end at the deepest depth",
        Box::pin(async move {
            let answer = c.provenance(request).await.expect("answered").into_inner();
            assert!(answer.truncated);
            assert_eq!(
                answer.nodes.len(),
                MAX_DEPTH + 1,
                "the root and 1,024 ancestors"
            );
        }),
    );
    let mut c = client.clone();
    let request = every(first);
    add(
        "impact of the chain's start at the deepest depth",
        Box::pin(async move {
            let answer = c.impact(request).await.expect("answered").into_inner();
            assert!(answer.truncated);
            assert_eq!(answer.nodes.len(), MAX_DEPTH + 1);
        }),
    );
    let mut c = client.clone();
    let request = every(hub());
    add(
        "impact of the hub, every node in full",
        Box::pin(async move {
            let answer = c.impact(request).await.expect("answered").into_inner();
            assert!(answer.truncated, "{} runs used the hub", fan_out + 1);
            assert_eq!(answer.nodes.len(), MAX_NODES);
            assert!(answer.edges.len() <= 4 * MAX_NODES);
        }),
    );
    let mut c = client.clone();
    add(
        "every page of runs that used the hub, the largest pages, in full",
        Box::pin(async move {
            let mut seen = std::collections::HashSet::new();
            let mut token = String::new();
            for _ in 0..=(fan_out / MAX_PAGE as usize + 1) {
                let page = c
                    .runs_using_dataset(v1::RunsUsingDatasetRequest {
                        workspace: WS.into(),
                        dataset: "hub".into(),
                        version: "1".into(),
                        page_size: MAX_PAGE,
                        page_token: token,
                        view: full,
                        ..Default::default()
                    })
                    .await
                    .expect("a page")
                    .into_inner();
                assert!(page.runs.len() <= MAX_PAGE as usize);
                for run in &page.runs {
                    assert!(seen.insert(lineage_e2e::label(run)), "a run on two pages");
                }
                token = page.next_page_token;
                if token.is_empty() {
                    break;
                }
            }
            assert!(token.is_empty(), "the pages end");
            assert_eq!(seen.len(), fan_out + 1, "every run, once");
        }),
    );
    for (name, page_size) in [
        ("a page one over the largest", MAX_PAGE + 1),
        ("a page of u32::MAX runs", u32::MAX),
    ] {
        let mut c = client.clone();
        add(
            name,
            Box::pin(async move {
                assert_invalid(
                    c.runs_using_dataset(v1::RunsUsingDatasetRequest {
                        workspace: WS.into(),
                        dataset: "hub".into(),
                        page_size,
                        ..Default::default()
                    })
                    .await,
                    "page_size",
                );
            }),
        );
    }
    let mut c = client.clone();
    add(
        "the trace of the model at the chain's end",
        Box::pin(async move {
            let trace = c
                .trace_model(v1::TraceModelRequest {
                    workspace: WS.into(),
                    model: "model".into(),
                    version: "1".into(),
                    view: full,
                    ..Default::default()
                })
                .await
                .expect("answered")
                .into_inner();
            let upstream = trace.upstream.expect("an upstream subgraph");
            assert!(
                upstream.truncated,
                "the chain is deeper than the default depth"
            );
        }),
    );
    let mut c = client.clone();
    add(
        "the diff of the model with itself at the deepest depth",
        Box::pin(async move {
            let model = Some(entity(WS, v1::EntityKind::ModelVersion, "model", "1"));
            c.diff_lineage(v1::DiffLineageRequest {
                a: model.clone(),
                b: model,
                max_depth: u32::MAX,
                ..Default::default()
            })
            .await
            .expect("answered");
        }),
    );
    let mut c = client.clone();
    let root = deepest.clone();
    add(
        "a PROV export of the deepest provenance",
        Box::pin(async move {
            let export = c
                .export_prov(v1::ExportProvRequest {
                    root,
                    max_depth: u32::MAX,
                    limit: u32::MAX,
                    ..Default::default()
                })
                .await
                .expect("answered")
                .into_inner();
            assert!(export.truncated);
            assert!(export.document.len() < 64 * 1024 * 1024);
        }),
    );
    let mut c = client.clone();
    add(
        "a replay filtered by 100,000 workspaces",
        Box::pin(async move {
            let request = v1::ReplayRequest {
                workspaces: (0..100_000).map(|n| format!("ws-{n}")).collect(),
                ..Default::default()
            };
            assert_invalid(c.replay(request).await.map(drop), "workspaces");
        }),
    );
    let mut c = client.clone();
    add(
        "a replay filtered by 100,000 kinds",
        Box::pin(async move {
            let request = v1::ReplayRequest {
                kinds: vec![10; 100_000],
                ..Default::default()
            };
            assert_invalid(c.replay(request).await.map(drop), "kinds");
        }),
    );
    let mut c = client.clone();
    let root = deepest.clone();
    add(
        "a traversal over 100,000 edge kinds",
        Box::pin(async move {
            let request = v1::TraversalRequest {
                root,
                edge_kinds: vec![1; 100_000],
                ..Default::default()
            };
            assert_invalid(c.provenance(request).await, "edge_kinds");
        }),
    );
    let mut c = client.clone();
    let root = deepest.clone();
    add(
        "a traversal over 100,000 node kinds",
        Box::pin(async move {
            let request = v1::TraversalRequest {
                root,
                node_kinds: vec![1; 100_000],
                ..Default::default()
            };
            assert_invalid(c.impact(request).await, "node_kinds");
        }),
    );
    let mut c = client.clone();
    add(
        "an entity name of a MiB",
        Box::pin(async move {
            let request = v1::GetEntityRequest {
                entity: Some(entity(WS, v1::EntityKind::Run, &long('r', 1 << 20), "")),
                ..Default::default()
            };
            assert_invalid(c.get_entity(request).await, "entity");
        }),
    );
    let mut c = client.clone();
    add(
        "a workspace of a MiB",
        Box::pin(async move {
            let request = v1::RunsUsingDatasetRequest {
                workspace: long('w', 1 << 20),
                dataset: "hub".into(),
                ..Default::default()
            };
            assert_invalid(c.runs_using_dataset(request).await, "workspace");
        }),
    );
    for (name, token) in [
        ("a page token of a MiB of garbage", long('%', 1 << 20)),
        ("a page token of a MiB of hex", long('a', 1 << 20)),
    ] {
        let mut c = client.clone();
        add(
            name,
            Box::pin(async move {
                let request = v1::RunsUsingDatasetRequest {
                    workspace: WS.into(),
                    dataset: "hub".into(),
                    page_token: token,
                    ..Default::default()
                };
                assert_invalid(c.runs_using_dataset(request).await, "page_token");
            }),
        );
    }
    let mut c = client.clone();
    add(
        "a verification of the whole log",
        Box::pin(async move {
            // One verification runs at a time: another round's may hold it.
            match c.verify_log(v1::VerifyLogRequest::default()).await {
                Ok(verified) => {
                    let verified = verified.into_inner();
                    assert!(verified.ok, "{verified:?}");
                    assert_eq!(verified.records_checked, log);
                }
                Err(status) => assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}"),
            }
        }),
    );
    let mut c = client.clone();
    add(
        "a replay of the whole log",
        Box::pin(async move {
            // A few replays stream at once: other rounds' may hold the slots.
            match c.replay(v1::ReplayRequest::default()).await {
                Ok(stream) => {
                    let (records, ended) =
                        lineage_e2e::read_replay_to_end(&mut stream.into_inner()).await;
                    assert!(ended.is_none(), "{ended:?}");
                    assert_eq!(records.len() as u64, log);
                }
                Err(status) => assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}"),
            }
        }),
    );
    bombs
}

/// Asks a small question over and over until `stop`; returns how many were
/// answered and the longest any took. Every one must be answered OK.
async fn canary(
    mut client: LineageServiceClient<Channel>,
    stop: Arc<AtomicBool>,
) -> (u64, Duration) {
    let (mut answered, mut slowest) = (0, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        let mut request = Request::new(v1::GetEntityRequest {
            entity: Some(entity(WS, v1::EntityKind::Run, "run-7", "")),
            ..Default::default()
        });
        request.set_timeout(CANARY_WAIT);
        let asked = Instant::now();
        tokio::time::timeout(CANARY_WAIT, client.get_entity(request))
            .await
            .expect("the canary is answered within its deadline")
            .expect("the canary is answered OK");
        slowest = slowest.max(asked.elapsed());
        answered += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (answered, slowest)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_bombs_are_bounded_and_never_hold_up_other_queries() {
    let _serial = one_at_a_time().await;
    let chain = env_number("LINEAGE_LOAD_CHAIN", 5_000) as usize;
    let fan_out = env_number("LINEAGE_LOAD_FAN_OUT", 20_000) as usize;
    let rounds = env_number("LINEAGE_LOAD_BOMB_ROUNDS", 3);
    assert!(
        chain > MAX_DEPTH + 1,
        "the chain is deeper than the deepest traversal"
    );
    assert!(
        fan_out >= MAX_NODES,
        "the fan is wider than the widest answer"
    );
    let stack = Stack::start(&wide_and_deep(chain, fan_out), |_| {}).await;
    let memory = PeakResident::start();

    let stop = Arc::new(AtomicBool::new(false));
    let canary = tokio::spawn(canary(stack.client().await, stop.clone()));
    let client = stack.client().await;
    let started = Instant::now();
    // Every bomb, several times over, all at once.
    let running: Vec<_> = (0..rounds)
        .flat_map(|_| bombs(&client, chain, fan_out, stack.applied))
        .map(|(name, bomb)| {
            (
                name,
                tokio::spawn(async move {
                    let asked = Instant::now();
                    bomb.await;
                    asked.elapsed()
                }),
            )
        })
        .collect();
    let count = running.len();
    let mut slowest = (Duration::ZERO, "");
    for (name, bomb) in running {
        let took = tokio::time::timeout(BOMB_WAIT, bomb)
            .await
            .unwrap_or_else(|_| panic!("{name}: no answer within {BOMB_WAIT:?}"))
            .unwrap_or_else(|panic| panic!("{name}: {panic}"));
        if took > slowest.0 {
            slowest = (took, name);
        }
    }
    let bombs_took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let (answered, canary_slowest) = canary.await.expect("the canary does not panic");
    assert!(answered > 0, "the canary asked");

    // A request over the 4 MiB the service decodes: tonic refuses it
    // before the handler, and the connection and the service go on.
    let mut client = client;
    let oversize = client
        .get_entity(v1::GetEntityRequest {
            entity: Some(entity(WS, v1::EntityKind::Run, &long('r', 5 << 20), "")),
            ..Default::default()
        })
        .await
        .expect_err("a 5 MiB request is refused");
    assert_eq!(oversize.code(), Code::OutOfRange, "{oversize:?}");
    assert!(oversize.message().contains("too large"), "{oversize:?}");
    for mut after in [client, stack.client().await] {
        after
            .get_entity(v1::GetEntityRequest {
                entity: Some(entity(WS, v1::EntityKind::Run, "run-7", "")),
                ..Default::default()
            })
            .await
            .expect("the service answers after the oversize request");
    }
    let growth = memory.growth();
    eprintln!(
        "bombs: {count} ({rounds} rounds) on a chain of {chain} and a fan of {fan_out} runs, all answered in \
         {bombs_took:?} (slowest {:?}: {}); the canary was answered {answered} times meanwhile, \
         slowest {canary_slowest:?}; resident set grew by {} MiB",
        slowest.0,
        slowest.1,
        growth / MIB
    );
    assert!(
        growth < 1024 * MIB,
        "the resident set grew by {} MiB",
        growth / MIB
    );
}
