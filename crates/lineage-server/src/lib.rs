//! `lineaged`: consumes lineage events from NATS JetStream into a durable,
//! hash-chained log, projects the log into the lineage graph, and answers
//! gRPC queries (and, over HTTP, OpenLineage producers and Marquez-shaped
//! reads).
//!
//! - [`config`]: every setting, as flags, `LINEAGE_*` variables and keys
//!   of the `--config` TOML file.
//! - [`openlineage`]: the translator of OpenLineage events into lineage
//!   events, published like any producer's.
//! - [`nats_connect`]: the NATS server list, credentials and TLS.
//! - [`ingest`]: the two-stage JetStream consumer (append, then flush,
//!   apply and ack) and the replay of log records into the graph.
//! - [`snapshot`]: graph snapshots beside the log, and the restore at start.
//! - [`checkpoint`]: signed checkpoints of the log's head.
//! - [`redact`]: redactions carried out on the log, and the check of
//!   erased records that `VerifyLog` runs.
//! - [`grpc`]: the query service and the one error-to-status mapping.
//! - [`auth`]: principals, their tokens, roles and workspaces.
//! - [`state`]: what ingest and queries share.
//! - [`metrics`]: what is counted and timed, and the gRPC layer that times
//!   each call; [`http`]: `/metrics`, `/healthz`, `/readyz` and the
//!   HTTP API (`/api/v1`).
//!
//! [`run`] is the whole service as a function: the binary only parses flags,
//! sets up tracing and calls it; tests bind port 0 and call the same.

pub mod auth;
pub mod checkpoint;
pub mod config;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod nats_connect;
pub mod openlineage;
pub mod redact;
pub mod snapshot;
pub mod state;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lineage_log::Log;
use lineage_proto::server::lineage_service_server::LineageServiceServer;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{error, info};

pub use config::{Config, IngestPriority, LogFormat};

use crate::checkpoint::Checkpointer;
use crate::grpc::LineageApi;
use crate::ingest::{Ingest, Snapshotter};
use crate::snapshot::{Restored, SnapshotDecoding, SnapshotStore};
use crate::state::Shared;

/// The largest request the gRPC service decodes.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The largest response it encodes (bounded answers stay well below).
const MAX_RESPONSE_BYTES: usize = 64 * 1024 * 1024;
/// Requests handled at once on one connection, and HTTP/2 streams open on
/// it. An answer waits in memory until its client reads it, so without a
/// stream limit (tonic sets none) one connection that never reads could
/// pin any number of answers (tests/e2e/tests/load.rs: 3,000 streams of a
/// 180 KB answer held 550 MiB).
const STREAMS_PER_CONNECTION: u32 = 256;

/// Why the service could not start or stopped abnormally.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The log could not be opened (locked by another process, unreadable).
    #[error("opening the log in {dir}: {source}")]
    OpenLog {
        dir: String,
        source: lineage_log::LogError,
    },
    /// The log does not replay: it is damaged and must be looked at.
    #[error("replaying the log: {0}")]
    Replay(String),
    /// The NATS URL or options are unusable.
    #[error("nats: {0}")]
    Nats(String),
    /// A setting cannot be used (an unreadable signing key, say).
    #[error("configuration: {0}")]
    Config(String),
    /// gRPC serving failed.
    #[error("grpc: {0}")]
    Grpc(String),
}

/// The sockets the service answers on, bound by the caller (tests bind
/// port 0 and read the ports back).
#[derive(Debug)]
pub struct Listeners {
    /// The gRPC service.
    pub grpc: TcpListener,
    /// `/metrics`, `/healthz` and `/readyz`; none leaves them off.
    pub http: Option<TcpListener>,
}

/// Runs the service until `shutdown` completes, then stops consuming after
/// the batch in flight, flushes the log, and stops serving. The HTTP
/// listener is bound at `config.http_addr`, if set.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listeners = Listeners {
        grpc: listener,
        http: bind_http(config.http_addr).await?,
    };
    serve(config, listeners, shutdown).await
}

/// The HTTP listener at `addr`, if one is configured.
async fn bind_http(addr: Option<std::net::SocketAddr>) -> Result<Option<TcpListener>, ServerError> {
    let Some(addr) = addr else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.map_err(|error| {
        ServerError::Config(format!("binding the HTTP address {addr}: {error}"))
    })?;
    Ok(Some(listener))
}

/// [`run`] on listeners the caller bound (`config.http_addr` is not read).
pub async fn serve(
    config: Config,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let Listeners {
        grpc: listener,
        http: http_listener,
    } = listeners;
    let config = Arc::new(config);
    let signing_key = config.load_signing_key().map_err(ServerError::Config)?;
    let listening_on = listener
        .local_addr()
        .map_err(|e| ServerError::Grpc(e.to_string()))?;
    let mut access = config
        .load_access(listening_on)
        .map_err(ServerError::Config)?;
    let tls = auth::server_tls(&config).map_err(ServerError::Config)?;
    if config.tls_client_ca.is_some() {
        access = access.with_verified_certificates();
    } else if access.names_certificates() {
        return Err(ServerError::Config(
            "the access file names principals by client certificate, which needs \
             --tls-client-ca (so that the TLS handshake proves them)"
                .into(),
        ));
    }
    if access.is_open() {
        tracing::warn!(
            addr = %listening_on,
            "no access file: every caller may read every workspace"
        );
    }
    let shared = Arc::new(Shared::default());
    // Checked before the log is replayed, which can take minutes: a wrong
    // path or file stops the service at once.
    let nats_servers = nats_connect::server_addrs(&config.nats_url)
        .map_err(|e| ServerError::Nats(e.to_string()))?;
    let nats_options = nats_connect::connect_options(&config.nats_connect, shared.clone())
        .map_err(|e| ServerError::Nats(e.to_string()))?;
    let (stop_sender, stop) = watch::channel(false);

    // The newest snapshot is decoded while the log opens: the two take
    // about as long as each other, and there are two cores to do them on.
    let snapshots = SnapshotStore::new(&config.data_dir);
    let decoding = SnapshotDecoding::start(&snapshots);
    let data_dir = config.data_dir.clone();
    let log_options = config.log_options().map_err(ServerError::Config)?;
    let log = tokio::task::spawn_blocking(move || Log::open(&data_dir, log_options))
        .await
        .map_err(|e| ServerError::Replay(e.to_string()))?
        .map_err(|source| ServerError::OpenLog {
            dir: config.data_dir.display().to_string(),
            source,
        })?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_not_serving::<LineageServiceServer<LineageApi>>()
        .await;
    // SERVING once ingest consumes; see `ingest::INGEST_HEALTH_SERVICE`.
    health_reporter
        .set_service_status(
            ingest::INGEST_HEALTH_SERVICE,
            tonic_health::ServingStatus::NotServing,
        )
        .await;
    // Both reflection versions: v1alpha is what many deployed tools
    // (older grpcurl, Postman) still ask for.
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(lineage_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .map_err(|e| ServerError::Grpc(e.to_string()))?;
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .map_err(|e| ServerError::Grpc(e.to_string()))?;
    let http_access = access.clone();
    let api = tonic::service::interceptor::InterceptedService::new(
        LineageServiceServer::new(LineageApi::new(
            shared.clone(),
            config.clone(),
            log.reader(),
            signing_key.clone(),
        ))
        .max_decoding_message_size(MAX_REQUEST_BYTES)
        .max_encoding_message_size(MAX_RESPONSE_BYTES),
        auth::Authenticate(access),
    );
    let local_addr = listener.local_addr().ok();
    // Without TCP_NODELAY, answers larger than one segment wait on the
    // client's delayed ACK (tens of milliseconds each).
    let incoming = tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)));
    let mut grpc_stop = stop.clone();
    let mut grpc_server = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        grpc_server = grpc_server
            .tls_config(tls)
            .map_err(|e| ServerError::Config(format!("the TLS certificate or key: {e}")))?;
    }
    let grpc = tokio::spawn(
        grpc_server
            .timeout(config.request_timeout())
            .concurrency_limit_per_connection(STREAMS_PER_CONNECTION as usize)
            .max_concurrent_streams(STREAMS_PER_CONNECTION)
            .layer(metrics::GrpcMetricsLayer::new(shared.clone()))
            .add_service(health_service)
            .add_service(reflection_v1)
            .add_service(reflection_v1alpha)
            .add_service(api)
            .serve_with_incoming_shutdown(incoming, async move {
                let _ = grpc_stop.wait_for(|stop| *stop).await;
            }),
    );
    info!(addr = ?local_addr, "gRPC listening (not serving until the log is replayed)");
    // Set once NATS is connected; the HTTP API answers UNAVAILABLE before.
    let nats_client: Arc<std::sync::OnceLock<async_nats::Client>> = Arc::default();
    let http = http_listener.map(|http_listener| {
        if let Ok(addr) = http_listener.local_addr() {
            info!(%addr, "HTTP listening (/metrics, /healthz, /readyz, /api/v1)");
        }
        let state = http::HttpState {
            shared: shared.clone(),
            log: log.reader(),
            config: config.clone(),
            access: http_access,
            nats: nats_client.clone(),
        };
        tokio::spawn(http::serve(http_listener, state, stop.clone()))
    });

    // The shutdown future may complete at any time from here on.
    let signal = tokio::spawn({
        let stop_sender = stop_sender.clone();
        async move {
            shutdown.await;
            let _ = stop_sender.send(true);
        }
    });

    let reader = log.reader();
    let started = std::time::Instant::now();
    let restored = tokio::task::spawn_blocking(move || {
        snapshot::restore_decoded(&reader, &snapshots, decoding)
    })
    .await
    .map_err(|e| ServerError::Replay(e.to_string()))?
    .map_err(ServerError::Replay)?;
    let Restored {
        graph,
        snapshot_seq,
        replayed,
    } = restored;
    info!(
        records = graph.applied_seq(),
        snapshot_seq,
        replayed,
        nodes = graph.node_count(),
        edges = graph.active_edge_count(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "log replayed"
    );
    let applied = graph.applied_seq();
    *shared.graph_mut() = graph;
    shared.publish_applied(applied);
    let head = log.head();
    // Carried out by the ingest once it holds its consumer.
    let redactions_pending = log
        .reader()
        .pending_redactions()
        .map_err(|e| ServerError::Replay(e.to_string()))?
        .len() as u64;
    shared.update_status(|status| {
        status.head_seq = head.seq;
        status.head_hash = head.hash;
        status.duplicates = log.duplicates();
        status.dead_lettered = log.rejected();
        status.redactions_pending = redactions_pending;
    });
    shared.set_ready();
    health_reporter
        .set_serving::<LineageServiceServer<LineageApi>>()
        .await;

    let checkpoints = match signing_key {
        Some(key) => {
            let checkpointer =
                Checkpointer::new(key, log.sync_handle(), log.reader(), shared.clone())
                    .map_err(|e| ServerError::Replay(e.to_string()))?;
            Some(tokio::spawn(
                checkpointer.run(config.checkpoint_every(), stop.clone()),
            ))
        }
        None => None,
    };

    let ingest_runtime = IngestRuntime(Some(
        ingest_runtime(config.ingest_priority).map_err(|e| ServerError::Replay(e.to_string()))?,
    ));
    // The client's connection task runs on the runtime it is created on:
    // NATS traffic is ingest work, so it is scheduled like the rest of it.
    let connecting = nats_options.connect(nats_servers);
    let client = ingest_runtime
        .spawn(connecting)
        .await
        .map_err(|e| ServerError::Nats(e.to_string()))?
        .map_err(|e| ServerError::Nats(e.to_string()))?;
    let _ = nats_client.set(client.clone());
    let translator = ingest_runtime.spawn(
        openlineage::Translator {
            config: config.clone(),
            client: client.clone(),
            shared: shared.clone(),
        }
        .run(stop.clone()),
    );
    let ingest = ingest_runtime.spawn(
        Ingest {
            config: config.clone(),
            shared: shared.clone(),
            client: client.clone(),
            health: health_reporter.clone(),
        }
        .run(log, Snapshotter::new(&config, snapshot_seq), stop.clone()),
    );

    // Wait for the stop signal, then for every task to finish its part.
    let mut stopped = stop.clone();
    let _ = stopped.wait_for(|stop| *stop).await;
    info!("shutting down");
    // Live watches end (the gRPC server waits for its streams).
    shared.begin_shutdown();
    if let Err(e) = ingest.await {
        error!(error = %e, "ingest task failed");
    }
    if let Err(e) = translator.await {
        error!(error = %e, "OpenLineage translator task failed");
    }
    // The last head, now that ingest has stopped, is signed too.
    if let Some(checkpoints) = checkpoints {
        match checkpoints.await {
            Ok(mut checkpointer) => {
                if let Err(e) = checkpointer.sign_head().await {
                    error!(error = %e, "could not sign the last checkpoint");
                }
            }
            Err(e) => error!(error = %e, "checkpoint task failed"),
        }
    }
    health_reporter
        .set_not_serving::<LineageServiceServer<LineageApi>>()
        .await;
    health_reporter
        .set_service_status(
            ingest::INGEST_HEALTH_SERVICE,
            tonic_health::ServingStatus::NotServing,
        )
        .await;
    drop(ingest_runtime);
    let served = grpc.await;
    if let Some(http) = http
        && let Err(error) = http.await
    {
        error!(%error, "HTTP task failed");
    }
    signal.abort();
    drop(client);
    match served {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServerError::Grpc(e.to_string())),
        Err(e) => Err(ServerError::Grpc(e.to_string())),
    }
}

/// The ingest runtime, shut down without blocking when dropped: `run`
/// holds it inside another runtime, where a `Runtime`'s blocking drop
/// panics, and `run` may be dropped early (cancelled by whoever awaits it)
/// as well as finish.
struct IngestRuntime(Option<tokio::runtime::Runtime>);

impl std::ops::Deref for IngestRuntime {
    type Target = tokio::runtime::Runtime;

    fn deref(&self) -> &Self::Target {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for IngestRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// Ingest runs on a runtime of its own whose threads the OS schedules
/// after the query threads ([`IngestPriority`]): when ingest at full speed
/// and queries compete for a small machine, queries are answered first and
/// ingest falls behind in JetStream, durably, not in memory. `Low` (nice
/// 10) still lets a running ingest thread finish its time slice before a
/// woken query thread runs (the kernel's EEVDF scheduler protects a slice
/// whatever the thread's weight); `Idle` (`SCHED_IDLE`) gives the core to
/// the query at once, at the cost of ingest nearly stopping while queries
/// keep every core busy.
fn ingest_runtime(priority: IngestPriority) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("lineaged-ingest")
        .on_thread_start(move || {
            use thread_priority::{
                NormalThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue,
                ThreadSchedulePolicy,
            };
            let lowered = match priority {
                // 21 % of the platform's range maps to nice 10 on Linux.
                IngestPriority::Low => ThreadPriorityValue::try_from(21u8)
                    .map_err(|e| e.to_string())
                    .and_then(|value| {
                        ThreadPriority::Crossplatform(value)
                            .set_for_current()
                            .map_err(|e| format!("{e:?}"))
                    }),
                IngestPriority::Idle => thread_priority::set_thread_priority_and_policy(
                    thread_priority::thread_native_id(),
                    ThreadPriority::Min,
                    ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle),
                )
                .map_err(|e| format!("{e:?}")),
            };
            if let Err(error) = lowered {
                tracing::warn!(%error, "ingest runs at normal priority");
            }
        })
        .enable_all()
        .build()
}
