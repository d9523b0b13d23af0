//! What `lineaged` counts and times, and the Prometheus text it is scraped
//! as (`/metrics`, served by [`crate::http`]; deploy/README.md lists every
//! metric and what to alert on).
//!
//! Each figure is recorded where that is cheapest:
//! - Counted on the way. Ingest adds a batch's events applied and
//!   duplicates to atomic counters and its size to a histogram once per
//!   batch (never per event), counts each dead letter as it is recorded,
//!   and times its group flushes and commits: well under a microsecond
//!   per batch, against the ~27 µs of CPU each event costs.
//!   [`GrpcMetricsLayer`] counts and times every gRPC call around the whole
//!   service, so no handler carries timing code.
//! - Sampled in the background. The consumer's lag is asked of JetStream
//!   every [`LAG_SAMPLE_EVERY`] while ingest holds its consumer
//!   ([`ConsumerLagSampler`]), into the ingest status that `GetStatus`
//!   reports too.
//! - Read when scraped. The graph's size, the log's head, readiness, ingest
//!   health and the newest signed checkpoint already live elsewhere; they
//!   are copied into gauges just before the text is encoded
//!   ([`ServiceSample`]), so nothing keeps them up to date in between.
//!
//! Counters start at zero with the process, as Prometheus's `rate` and
//! `increase` expect; `GetStatus` reports the totals the log keeps.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer::pull};
use bytes::Bytes;
use lineage_proto::validate::RejectReason;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use prost::Message as _;
use tracing::debug;

use crate::state::{IngestStatus, Shared};

/// How often the consumer's lag is sampled: two small JetStream requests
/// (stream info, consumer info) each time.
pub const LAG_SAMPLE_EVERY: Duration = Duration::from_secs(2);

/// How long one lag sample may take before it is given up until the next.
const LAG_SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The `rpc` label of calls to a path no service registered: client
/// input must not create label values.
const OTHER_RPC: &str = "other";

/// Upper bounds of the gRPC latency buckets, in seconds: from a small
/// query answered inline (~100 µs) to the request timeout's range.
const GRPC_SECONDS_BUCKETS: [f64; 17] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0, 30.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabels {
    rpc: Arc<str>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcCodeLabels {
    rpc: Arc<str>,
    code: &'static str,
}

/// Every metric of the service, registered once; the handles are cheap to
/// update from any thread.
#[derive(Debug)]
pub struct Metrics {
    /// What `/metrics` encodes: every handle below, registered.
    registry: Registry,
    /// Events this process stored in the log and applied to the graph.
    events_applied: Counter,
    /// Events acknowledged as exact repeats of stored ones.
    duplicates: Counter,
    /// Dead letters, one counter per reason in the order of
    /// [`RejectReason::ALL`], created up front so that every reason is
    /// reported (as 0 until it happens) and counting one is an atomic add.
    dead_letters: [Counter; RejectReason::ALL.len()],
    /// OpenLineage events the translator published the translation of,
    /// and those it dead-lettered.
    openlineage_translated: Counter,
    openlineage_dead_lettered: Counter,
    /// Messages per appended batch.
    batch_messages: Histogram,
    /// The committer's group flush, which makes appended batches durable.
    log_flush_seconds: Histogram,
    /// A group of batches from its flush to its last acknowledgement.
    commit_seconds: Histogram,
    /// gRPC calls by RPC and status code, and their latency by RPC.
    grpc_requests: Family<RpcCodeLabels, Counter>,
    grpc_request_seconds: Family<RpcLabels, Histogram, fn() -> Histogram>,
    /// gRPC calls whose answer is not finished yet (for `Replay`, the
    /// replays streaming).
    grpc_in_flight: Family<RpcLabels, Gauge>,
    /// Figures that live elsewhere, set from a [`ServiceSample`] on scrape.
    sampled: SampledGauges,
}

/// The gauges [`Metrics::encode`] sets from a [`ServiceSample`], each
/// named after the figure it holds (the registry gives their metric names).
#[derive(Debug, Default)]
struct SampledGauges {
    ready: Gauge,
    graph_nodes: Gauge,
    graph_edges: Gauge,
    graph_applied_seq: Gauge,
    log_head_seq: Gauge,
    stream_last_seq: Gauge,
    consumer_acked_seq: Gauge,
    consumer_lag: Gauge,
    ingest_connected: Gauge,
    ingest_healthy: Gauge,
    redactions_pending: Gauge,
    checkpoint_seq: Gauge,
    checkpoint_signed_at: Gauge<f64, AtomicU64>,
}

/// The figures read when `/metrics` is scraped: they already exist in the
/// graph, the ingest status and the log.
#[derive(Debug, Default, Clone)]
pub struct ServiceSample {
    /// Whether the log has been replayed and queries are served.
    pub ready: bool,
    pub graph_nodes: u64,
    pub graph_edges: u64,
    /// The log sequence the graph has applied through.
    pub graph_applied_seq: u64,
    pub status: IngestStatus,
    /// The newest signed checkpoint: its record and when it was signed
    /// (Unix nanoseconds); none without a signing key.
    pub last_checkpoint: Option<(u64, i64)>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        // prometheus-client appends `_total` to counters' names.
        let events_applied = Counter::default();
        registry.register(
            "lineage_events_applied",
            "Events this process stored in the log and applied to the graph (the replay at start is not counted)",
            events_applied.clone(),
        );
        let duplicates = Counter::default();
        registry.register(
            "lineage_duplicates",
            "Events acknowledged without being stored again: exact repeats of an event id already in the log (redeliveries, producer retries)",
            duplicates.clone(),
        );
        let dead_letter_family = Family::<ReasonLabels, Counter>::default();
        let dead_letters = RejectReason::ALL.map(|reason| {
            dead_letter_family.get_or_create_owned(&ReasonLabels {
                reason: reason.code(),
            })
        });
        registry.register(
            "lineage_dead_letters",
            "Messages rejected and stored in the dead-letter stream, by reject reason",
            dead_letter_family,
        );
        let openlineage_events = Family::<OutcomeLabels, Counter>::default();
        let openlineage_translated = openlineage_events.get_or_create_owned(&OutcomeLabels {
            outcome: "translated",
        });
        let openlineage_dead_lettered = openlineage_events.get_or_create_owned(&OutcomeLabels {
            outcome: "dead_lettered",
        });
        registry.register(
            "lineage_openlineage_events",
            "OpenLineage events the translator handled: translated (their lineage events published) or dead_lettered",
            openlineage_events,
        );
        let batch_messages = Histogram::new(exponential_buckets(1.0, 2.0, 14));
        registry.register(
            "lineage_ingest_batch_messages",
            "Messages per batch appended to the log in one transaction",
            batch_messages.clone(),
        );
        let log_flush_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 16));
        registry.register(
            "lineage_log_flush_duration_seconds",
            "Time to flush the log, making a group of appended batches durable",
            log_flush_seconds.clone(),
        );
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 16));
        registry.register(
            "lineage_ingest_commit_duration_seconds",
            "Time to commit a group of appended batches: flush, apply to the graph, dead-letter the rejects, acknowledge",
            commit_seconds.clone(),
        );
        let grpc_requests = Family::<RpcCodeLabels, Counter>::default();
        registry.register(
            "lineage_grpc_requests",
            "gRPC calls answered, by RPC (its path) and status code (CANCELLED when the answer was abandoned before its status)",
            grpc_requests.clone(),
        );
        let grpc_request_seconds: Family<RpcLabels, Histogram, fn() -> Histogram> =
            Family::new_with_constructor(|| Histogram::new(GRPC_SECONDS_BUCKETS));
        registry.register(
            "lineage_grpc_request_duration_seconds",
            "Time from a gRPC call's arrival to the end of its answer (a stream's last message included), by RPC",
            grpc_request_seconds.clone(),
        );
        let grpc_in_flight = Family::<RpcLabels, Gauge>::default();
        registry.register(
            "lineage_grpc_requests_in_flight",
            "gRPC calls whose answer is not finished, by RPC (for Replay: the replays streaming)",
            grpc_in_flight.clone(),
        );

        let sampled = SampledGauges::default();
        let gauges: [(&str, &str, &Gauge); 12] = [
            (
                "lineage_ready",
                "1 once the log is replayed into the graph and queries are served",
                &sampled.ready,
            ),
            (
                "lineage_graph_nodes",
                "Entities in the lineage graph",
                &sampled.graph_nodes,
            ),
            (
                "lineage_graph_edges",
                "Active edges in the lineage graph",
                &sampled.graph_edges,
            ),
            (
                "lineage_graph_applied_sequence",
                "The log sequence the graph has applied through",
                &sampled.graph_applied_seq,
            ),
            (
                "lineage_log_head_sequence",
                "The log's last stored record",
                &sampled.log_head_seq,
            ),
            (
                "lineage_stream_last_sequence",
                "The events stream's last sequence, as last sampled",
                &sampled.stream_last_seq,
            ),
            (
                "lineage_consumer_acked_sequence",
                "The stream sequence through which lineaged has acknowledged every message (the consumer's ack floor), as last sampled",
                &sampled.consumer_acked_seq,
            ),
            (
                "lineage_consumer_lag_messages",
                "Messages in the events stream not acknowledged by lineaged yet (waiting for delivery, or delivered and in flight), as last sampled",
                &sampled.consumer_lag,
            ),
            (
                "lineage_ingest_connected",
                "1 while the ingest loop holds its JetStream consumer",
                &sampled.ingest_connected,
            ),
            (
                "lineage_ingest_healthy",
                "1 while ingest reports no error (GetStatus's ingest_error is empty)",
                &sampled.ingest_healthy,
            ),
            (
                "lineage_redactions_pending",
                "Redactions stored whose erasures from the log, stream and snapshots are not all done",
                &sampled.redactions_pending,
            ),
            (
                "lineage_checkpoint_last_sequence",
                "The log record of the newest signed checkpoint (0 if none)",
                &sampled.checkpoint_seq,
            ),
        ];
        for (name, help, gauge) in gauges {
            registry.register(name, help, gauge.clone());
        }
        registry.register(
            "lineage_checkpoint_last_signed_timestamp_seconds",
            "When the newest signed checkpoint was signed, in Unix seconds (0 if none)",
            sampled.checkpoint_signed_at.clone(),
        );

        Self {
            registry,
            events_applied,
            duplicates,
            dead_letters,
            openlineage_translated,
            openlineage_dead_lettered,
            batch_messages,
            log_flush_seconds,
            commit_seconds,
            grpc_requests,
            grpc_request_seconds,
            grpc_in_flight,
            sampled,
        }
    }
}

impl Metrics {
    /// One batch applied to the graph: `messages` in it, `stored` of them
    /// new records, `duplicates` repeats.
    pub fn batch_applied(&self, messages: usize, stored: usize, duplicates: usize) {
        self.batch_messages.observe(messages as f64);
        self.events_applied.inc_by(stored as u64);
        self.duplicates.inc_by(duplicates as u64);
    }

    /// Records of interrupted batches the graph applied once the log was
    /// back (their messages were not acknowledged; their redeliveries
    /// count as duplicates).
    pub fn recovered_applied(&self, records: u64) {
        self.events_applied.inc_by(records);
    }

    /// A message stored in the dead-letter stream (once per message, not
    /// per redelivery).
    /// The translator published an OpenLineage event's translation.
    pub fn openlineage_translated(&self) {
        self.openlineage_translated.inc();
    }

    /// The translator dead-lettered an OpenLineage event.
    pub fn openlineage_dead_lettered(&self) {
        self.openlineage_dead_lettered.inc();
    }

    pub fn dead_lettered(&self, reason: RejectReason) {
        if let Some(index) = RejectReason::ALL.iter().position(|known| *known == reason) {
            self.dead_letters[index].inc();
        }
    }

    /// The committer's group flush took `elapsed`.
    pub fn log_flushed(&self, elapsed: Duration) {
        self.log_flush_seconds.observe(elapsed.as_secs_f64());
    }

    /// A group of batches was committed (flushed, applied, dead-lettered,
    /// acknowledged) in `elapsed`.
    pub fn group_committed(&self, elapsed: Duration) {
        self.commit_seconds.observe(elapsed.as_secs_f64());
    }

    /// The Prometheus text exposition (format 0.0.4) of every metric, the
    /// gauges set from `sample`.
    pub fn encode(&self, sample: &ServiceSample) -> String {
        self.sampled.set(sample);
        let mut text = String::with_capacity(16 * 1024);
        // Writing into a String cannot fail, and every metric encodes.
        let _ = prometheus_text::encode(&mut text, &self.registry);
        text
    }

    fn grpc_call_ended(&self, rpc: &Arc<str>, code: &'static str, elapsed: Duration) {
        self.grpc_requests
            .get_or_create(&RpcCodeLabels {
                rpc: rpc.clone(),
                code,
            })
            .inc();
        self.grpc_request_seconds
            .get_or_create(&RpcLabels { rpc: rpc.clone() })
            .observe(elapsed.as_secs_f64());
    }
}

impl SampledGauges {
    fn set(&self, sample: &ServiceSample) {
        let count = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let flag = |value: bool| i64::from(value);
        let status = &sample.status;
        self.ready.set(flag(sample.ready));
        self.graph_nodes.set(count(sample.graph_nodes));
        self.graph_edges.set(count(sample.graph_edges));
        self.graph_applied_seq.set(count(sample.graph_applied_seq));
        self.log_head_seq.set(count(status.head_seq));
        self.stream_last_seq.set(count(status.stream_last_seq));
        self.consumer_acked_seq
            .set(count(status.consumer_acked_seq));
        self.consumer_lag.set(count(status.consumer_lag));
        self.ingest_connected.set(flag(status.connected));
        self.ingest_healthy.set(flag(status.last_error.is_empty()));
        self.redactions_pending
            .set(count(status.redactions_pending));
        let (checkpoint_seq, signed_at_nanos) = sample.last_checkpoint.unwrap_or((0, 0));
        self.checkpoint_seq.set(count(checkpoint_seq));
        self.checkpoint_signed_at
            .set(signed_at_nanos as f64 / 1_000_000_000.0);
    }
}

/// Samples the consumer's lag into the ingest status every
/// [`LAG_SAMPLE_EVERY`] for as long as it lives: ingest holds one beside
/// its consumer, so the task ends whenever ingest lets go of the consumer
/// (a NATS outage, shutdown), however it does.
#[derive(Debug)]
pub struct ConsumerLagSampler(tokio::task::JoinHandle<()>);

impl ConsumerLagSampler {
    /// Starts sampling `consumer` of the stream `stream`.
    pub fn start(
        jetstream: jetstream::Context,
        stream: String,
        consumer: jetstream::consumer::Consumer<pull::Config>,
        shared: Arc<Shared>,
    ) -> Self {
        Self(tokio::spawn(async move {
            let mut ticks = tokio::time::interval(LAG_SAMPLE_EVERY);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let sampled = tokio::time::timeout(
                    LAG_SAMPLE_TIMEOUT,
                    sample_lag(&jetstream, &stream, &consumer),
                )
                .await;
                match sampled {
                    Ok(Ok(lag)) => shared.update_status(|status| {
                        status.stream_last_seq = lag.stream_last_seq;
                        status.consumer_acked_seq = lag.acked_seq;
                        status.consumer_lag = lag.unacknowledged;
                    }),
                    // The figures stay as last sampled; whatever is wrong
                    // with the connection, ingest reports it.
                    Ok(Err(error)) => debug!(%error, "consumer lag not sampled"),
                    Err(_) => debug!("consumer lag not sampled in time"),
                }
            }
        }))
    }
}

impl Drop for ConsumerLagSampler {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How far the consumer is behind its stream.
struct ConsumerLag {
    /// The events stream's last sequence.
    stream_last_seq: u64,
    /// The consumer's ack floor: every message through it is acknowledged.
    acked_seq: u64,
    /// Messages not delivered yet plus those delivered and not acknowledged.
    unacknowledged: u64,
}

async fn sample_lag(
    jetstream: &jetstream::Context,
    stream: &str,
    consumer: &jetstream::consumer::Consumer<pull::Config>,
) -> Result<ConsumerLag, String> {
    let consumer = consumer.get_info().await.map_err(|e| e.to_string())?;
    // `get_stream` asks the server for the stream's info.
    let stream = jetstream
        .get_stream(stream)
        .await
        .map_err(|e| e.to_string())?;
    Ok(ConsumerLag {
        stream_last_seq: stream.cached_info().state.last_sequence,
        acked_seq: consumer.ack_floor.stream_sequence,
        unacknowledged: consumer
            .num_pending
            .saturating_add(consumer.num_ack_pending as u64),
    })
}

/// Counts and times every gRPC call by RPC and status code, around the
/// whole service (`Server::layer` in [`crate::serve`]).
///
/// A call is timed from its arrival until its answer's body ends (a
/// stream's last message included) or is dropped. Its code is the
/// `grpc-status` the service sent, in the headers of an error answered
/// before any message or in the trailers; `CANCELLED` when the answer was
/// abandoned before its status (the client went away, or the deadline
/// passed). Calls to a path no service registered are counted under
/// `rpc="other"`, so no client can make label values up.
#[derive(Clone, Debug)]
pub struct GrpcMetricsLayer {
    /// Where the metrics are.
    shared: Arc<Shared>,
    /// The label values calls may be counted under.
    rpcs: Arc<KnownRpcs>,
}

impl GrpcMetricsLayer {
    /// Knows the RPCs of the lineage service, health and reflection.
    pub fn new(shared: Arc<Shared>) -> Self {
        let rpcs = KnownRpcs::from_descriptor_sets(&[
            lineage_proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET,
            tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET,
        ]);
        Self {
            shared,
            rpcs: Arc::new(rpcs),
        }
    }
}

impl<S> tower_layer::Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            shared: self.shared.clone(),
            rpcs: self.rpcs.clone(),
        }
    }
}

/// The service [`GrpcMetricsLayer`] wraps around the gRPC routes.
#[derive(Clone, Debug)]
pub struct GrpcMetricsService<S> {
    /// The gRPC routes.
    inner: S,
    /// As in [`GrpcMetricsLayer`].
    shared: Arc<Shared>,
    rpcs: Arc<KnownRpcs>,
}

impl<S, RequestBody> tower_service::Service<http::Request<RequestBody>> for GrpcMetricsService<S>
where
    S: tower_service::Service<
            http::Request<RequestBody>,
            Response = http::Response<tonic::body::Body>,
        >,
    S::Future: Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<RequestBody>) -> Self::Future {
        let call = Call::start(self.shared.clone(), self.rpcs.label(request.uri().path()));
        let answering = self.inner.call(request);
        Box::pin(async move {
            // Dropped with this future if the answer is abandoned first.
            let mut call = call;
            match answering.await {
                Ok(response) => {
                    let (parts, body) = response.into_parts();
                    call.code = grpc_status(&parts.headers);
                    let body = tonic::body::Body::new(TimedBody { inner: body, call });
                    Ok(http::Response::from_parts(parts, body))
                }
                Err(error) => {
                    call.code = Some(tonic::Code::Unknown);
                    Err(error)
                }
            }
        })
    }
}

/// The paths of the RPCs the server registered, each as the `rpc` label
/// value it is counted under (and `other`), shared by every call's labels.
#[derive(Debug)]
struct KnownRpcs(HashSet<Arc<str>>);

impl KnownRpcs {
    /// `/package.Service/Method` for every method of every service in
    /// these encoded descriptor sets.
    fn from_descriptor_sets(sets: &[&[u8]]) -> Self {
        let mut paths = HashSet::new();
        for encoded in sets {
            let set = match prost_types::FileDescriptorSet::decode(*encoded) {
                Ok(set) => set,
                Err(error) => {
                    // Built into the binary, so this is a build problem;
                    // its calls are still counted, as `other`.
                    tracing::warn!(%error, "a service descriptor set does not decode");
                    continue;
                }
            };
            for file in &set.file {
                for service in &file.service {
                    let service_name = match file.package() {
                        "" => service.name().to_owned(),
                        package => format!("{package}.{}", service.name()),
                    };
                    for method in &service.method {
                        paths.insert(Arc::from(format!("/{service_name}/{}", method.name())));
                    }
                }
            }
        }
        paths.insert(Arc::from(OTHER_RPC));
        Self(paths)
    }

    fn label(&self, path: &str) -> Arc<str> {
        match self.0.get(path) {
            Some(known) => known.clone(),
            None => self
                .0
                .get(OTHER_RPC)
                .cloned()
                .unwrap_or_else(|| Arc::from(OTHER_RPC)),
        }
    }
}

/// One gRPC call being answered; recorded when dropped.
struct Call {
    /// Where the metrics are, when the call ends.
    shared: Arc<Shared>,
    /// The `rpc` label: a registered path, or `other`.
    rpc: Arc<str>,
    started: Instant,
    /// This RPC's in-flight gauge, held so the end needs no lookup.
    in_flight: Gauge,
    /// The status the answer carries, once seen.
    code: Option<tonic::Code>,
}

impl Call {
    fn start(shared: Arc<Shared>, rpc: Arc<str>) -> Self {
        let in_flight = shared
            .metrics()
            .grpc_in_flight
            .get_or_create_owned(&RpcLabels { rpc: rpc.clone() });
        in_flight.inc();
        Self {
            shared,
            rpc,
            started: Instant::now(),
            in_flight,
            code: None,
        }
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        self.in_flight.dec();
        let code = self.code.map_or("CANCELLED", code_name);
        self.shared
            .metrics()
            .grpc_call_ended(&self.rpc, code, self.started.elapsed());
    }
}

/// An answer's body, watched for the status in its trailers; the call is
/// recorded when the body is dropped (after its end, or abandoned).
struct TimedBody {
    /// The service's answer, passed on frame by frame.
    inner: tonic::body::Body,
    /// Recorded when this body is dropped.
    call: Call,
}

impl http_body::Body for TimedBody {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, tonic::Status>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    this.call.code = Some(code);
                }
            }
            Poll::Ready(Some(Err(status))) => this.call.code = Some(status.code()),
            Poll::Ready(None) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<i32>()
        .ok()?;
    Some(tonic::Code::from_i32(code))
}

/// The canonical name of a gRPC status code, as gRPC's own tools print it.
fn code_name(code: tonic::Code) -> &'static str {
    match code {
        tonic::Code::Ok => "OK",
        tonic::Code::Cancelled => "CANCELLED",
        tonic::Code::Unknown => "UNKNOWN",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        tonic::Code::NotFound => "NOT_FOUND",
        tonic::Code::AlreadyExists => "ALREADY_EXISTS",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        tonic::Code::FailedPrecondition => "FAILED_PRECONDITION",
        tonic::Code::Aborted => "ABORTED",
        tonic::Code::OutOfRange => "OUT_OF_RANGE",
        tonic::Code::Unimplemented => "UNIMPLEMENTED",
        tonic::Code::Internal => "INTERNAL",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::DataLoss => "DATA_LOSS",
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_line<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
            .map(|line| &line[series.len() + 1..])
    }

    #[test]
    fn batches_and_dead_letters_are_counted_by_reason() {
        let metrics = Metrics::default();
        metrics.batch_applied(5, 3, 2);
        metrics.batch_applied(1, 1, 0);
        metrics.dead_lettered(RejectReason::Undecodable);
        metrics.dead_lettered(RejectReason::Undecodable);
        metrics.dead_lettered(RejectReason::WorkspaceMismatch);
        let text = metrics.encode(&ServiceSample::default());

        assert_eq!(
            sample_line(&text, "lineage_events_applied_total"),
            Some("4")
        );
        assert_eq!(sample_line(&text, "lineage_duplicates_total"), Some("2"));
        assert_eq!(
            sample_line(&text, "lineage_dead_letters_total{reason=\"undecodable\"}"),
            Some("2")
        );
        assert_eq!(
            sample_line(
                &text,
                "lineage_dead_letters_total{reason=\"workspace_mismatch\"}"
            ),
            Some("1")
        );
        // Every reason is reported, even before it happens.
        for reason in RejectReason::ALL {
            let series = format!("lineage_dead_letters_total{{reason=\"{}\"}}", reason.code());
            assert!(sample_line(&text, &series).is_some(), "{series} in\n{text}");
        }
        assert_eq!(
            sample_line(&text, "lineage_ingest_batch_messages_count"),
            Some("2")
        );
        assert_eq!(
            sample_line(&text, "lineage_ingest_batch_messages_sum"),
            Some("6.0")
        );
        assert!(
            text.contains("# TYPE lineage_events_applied_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP lineage_events_applied_total Events"),
            "{text}"
        );
    }

    #[test]
    fn sampled_figures_are_the_gauges_values() {
        let metrics = Metrics::default();
        let sample = ServiceSample {
            ready: true,
            graph_nodes: 7,
            graph_edges: 9,
            graph_applied_seq: 12,
            status: IngestStatus {
                head_seq: 12,
                stream_last_seq: 20,
                consumer_acked_seq: 15,
                consumer_lag: 5,
                connected: true,
                last_error: "storage: disk full".into(),
                ..IngestStatus::default()
            },
            last_checkpoint: Some((10, 1_700_000_000_500_000_000)),
        };
        let text = metrics.encode(&sample);
        for (series, value) in [
            ("lineage_ready", "1"),
            ("lineage_graph_nodes", "7"),
            ("lineage_graph_edges", "9"),
            ("lineage_graph_applied_sequence", "12"),
            ("lineage_log_head_sequence", "12"),
            ("lineage_stream_last_sequence", "20"),
            ("lineage_consumer_acked_sequence", "15"),
            ("lineage_consumer_lag_messages", "5"),
            ("lineage_ingest_connected", "1"),
            ("lineage_ingest_healthy", "0"),
            ("lineage_checkpoint_last_sequence", "10"),
            (
                "lineage_checkpoint_last_signed_timestamp_seconds",
                "1700000000.5",
            ),
        ] {
            assert_eq!(
                sample_line(&text, series),
                Some(value),
                "{series} in\n{text}"
            );
        }
    }

    #[test]
    fn calls_are_labelled_by_registered_paths_only() {
        let layer = GrpcMetricsLayer::new(Arc::new(Shared::default()));
        assert_eq!(
            &*layer.rpcs.label("/lineage.v1.LineageService/GetStatus"),
            "/lineage.v1.LineageService/GetStatus"
        );
        assert_eq!(
            &*layer.rpcs.label("/grpc.health.v1.Health/Check"),
            "/grpc.health.v1.Health/Check"
        );
        assert_eq!(
            &*layer
                .rpcs
                .label("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
        );
        assert_eq!(
            &*layer.rpcs.label("/lineage.v1.LineageService/Nope"),
            "other"
        );
        assert_eq!(&*layer.rpcs.label("/made.up/Path"), "other");
    }

    #[test]
    fn an_abandoned_call_counts_as_cancelled() {
        let shared = Arc::new(Shared::default());
        let rpc: Arc<str> = Arc::from("/lineage.v1.LineageService/GetEntity");
        let answered = Call::start(shared.clone(), rpc.clone());
        let abandoned = Call::start(shared.clone(), rpc);
        let text = shared.metrics().encode(&ServiceSample::default());
        let in_flight =
            "lineage_grpc_requests_in_flight{rpc=\"/lineage.v1.LineageService/GetEntity\"}";
        assert_eq!(sample_line(&text, in_flight), Some("2"));

        let mut answered = answered;
        answered.code = Some(tonic::Code::NotFound);
        drop(answered);
        drop(abandoned);
        let text = shared.metrics().encode(&ServiceSample::default());
        assert_eq!(sample_line(&text, in_flight), Some("0"));
        for code in ["NOT_FOUND", "CANCELLED"] {
            let series = format!(
                "lineage_grpc_requests_total{{rpc=\"/lineage.v1.LineageService/GetEntity\",code=\"{code}\"}}"
            );
            assert_eq!(
                sample_line(&text, &series),
                Some("1"),
                "{series} in\n{text}"
            );
        }
        assert_eq!(
            sample_line(
                &text,
                "lineage_grpc_request_duration_seconds_count{rpc=\"/lineage.v1.LineageService/GetEntity\"}"
            ),
            Some("2")
        );
    }
}
