//! The HTTP listener beside gRPC (`--http-addr`, off unless set):
//! `/metrics` for Prometheus, `/healthz` (the process answers) and
//! `/readyz` (the log is replayed and queries are served) for supervisors
//! and load balancers; and the HTTP API tools of the OpenLineage ecosystem
//! speak: `POST /api/v1/lineage` and `GET /api/v1/events/lineage`
//! ([`openlineage_api`]), `GET /api/v1/lineage` in Marquez's shape
//! ([`marquez`]). The API authenticates like gRPC (a bearer token of the
//! access file); its errors are `{"code": <HTTP status>, "message": ...}`,
//! Marquez's shape, with the status [`ApiError::http_status`] gives.
//!
//! axum routes and hyper serves HTTP/1.1, both already built for tonic, so
//! no second server is compiled in. Everything is bounded: at most
//! [`MAX_CONNECTIONS`] at once (one more is closed at once; a scraper tries
//! again at its next interval), one request per connection (no keep-alive,
//! so nothing idles), [`HEADER_READ_TIMEOUT`] to send the request and
//! [`CONNECTION_TIMEOUT`] for the whole exchange. A scrape is a few
//! kilobytes of text encoded on the blocking pool. The listener stops with
//! the service: the accept loop ends at the stop signal, and connections
//! in flight get [`SHUTDOWN_GRACE`] to finish.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use lineage_core::chain::SignedCheckpoint;
use lineage_log::LogReader;
use prometheus_client::encoding::prometheus_text;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::auth::{Access, Principal};
use crate::config::Config;
use crate::grpc::ApiError;
use crate::metrics::ServiceSample;
use crate::state::Shared;

mod marquez;
mod openlineage_api;

/// Connections served at once: scrapers and probes are few.
pub const MAX_CONNECTIONS: usize = 16;
/// How long a client may take to send its request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last, request and answer included.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connections in flight at shutdown may take to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// The pause after a failed accept (out of file descriptors, say), so the
/// loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the routes read.
#[derive(Clone)]
pub(crate) struct HttpState {
    /// The graph, the ingest status and the metrics.
    pub shared: Arc<Shared>,
    /// For the newest signed checkpoint, which the log keeps.
    pub log: LogReader,
    pub config: Arc<Config>,
    /// Who may call the API.
    pub access: Access,
    /// The NATS connection, once made (after the log is replayed): the
    /// API publishes and reads OpenLineage events through it.
    pub nats: Arc<OnceLock<async_nats::Client>>,
}

impl HttpState {
    /// The caller of `headers`' request, by its bearer token (the HTTP
    /// listener has no TLS, so no client certificate names one).
    pub fn caller(&self, headers: &HeaderMap) -> Result<Arc<Principal>, ApiError> {
        let authorization = headers
            .get(header::AUTHORIZATION)
            .map(|value| value.as_bytes());
        self.access.principal_for(authorization, None)
    }

    /// The NATS connection; UNAVAILABLE until it is made.
    pub fn nats(&self) -> Result<&async_nats::Client, ApiError> {
        self.nats.get().ok_or_else(|| {
            ApiError::NotReady("not connected to NATS yet: the log is being replayed".into())
        })
    }
}

/// An API error as Marquez writes one: `{"code": 404, "message": "..."}`.
#[derive(Debug)]
pub(crate) struct HttpError(pub ApiError);

impl From<ApiError> for HttpError {
    fn from(error: ApiError) -> Self {
        HttpError(error)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let status = self.0.http_status();
        let body = serde_json::json!({
            "code": status.as_u16(),
            "message": self.0.to_string(),
        });
        (status, axum::Json(body)).into_response()
    }
}

/// The routes, on their own so tests can call them without a socket.
fn router(state: HttpState) -> Router {
    // Bodies larger than an event may be are refused before they are read
    // whole.
    let body_limit = state.config.max_event_bytes;
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route(
            "/api/v1/lineage",
            get(marquez::lineage).post(openlineage_api::post_lineage),
        )
        .route(
            "/api/v1/events/lineage",
            get(openlineage_api::lineage_events),
        )
        .layer(axum::extract::DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

/// Serves the routes on `listener` until `stop` turns true (or its sender
/// is gone), then waits for the connections in flight, at most
/// [`SHUTDOWN_GRACE`].
pub(crate) async fn serve(
    listener: TcpListener,
    state: HttpState,
    mut stop: watch::Receiver<bool>,
) {
    let router = router(state);
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => accepted,
        };
        // Finished connections are reaped as new ones come, so the set
        // holds at most MAX_CONNECTIONS.
        while connections.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(error) => {
                warn!(%error, "HTTP accept failed");
                tokio::select! {
                    () = stopped(&mut stop) => break,
                    () = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            debug!(
                limit = MAX_CONNECTIONS,
                "HTTP connection closed: the limit is reached"
            );
            continue;
        };
        let service = TowerToHyperService::new(router.clone());
        let mut stop = stop.clone();
        connections.spawn(async move {
            let _slot = slot;
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            let served = tokio::time::timeout(CONNECTION_TIMEOUT, async {
                tokio::select! {
                    served = connection.as_mut() => served,
                    () = stopped(&mut stop) => {
                        connection.as_mut().graceful_shutdown();
                        connection.as_mut().await
                    }
                }
            })
            .await;
            match served {
                Ok(Ok(())) => {}
                Ok(Err(error)) => debug!(%error, "HTTP connection failed"),
                Err(_) => debug!("HTTP connection closed: it took too long"),
            }
        });
    }
    let finished = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if finished.is_err() {
        connections.shutdown().await;
    }
}

/// Completes when `stop` turns true or its sender is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is dropped here, never held across an
    // await (it would block the sender, and is not `Send`).
    let _ = stop.wait_for(|stop| *stop).await;
}

/// `/metrics`: the Prometheus text exposition, read and encoded on the
/// blocking pool (the graph's lock may be held by a batch being applied).
async fn metrics(State(state): State<HttpState>) -> Response {
    let encoded = tokio::task::spawn_blocking(move || {
        let sample = sample(&state);
        state.shared.metrics().encode(&sample)
    })
    .await;
    match encoded {
        Ok(text) => (
            [(header::CONTENT_TYPE, prometheus_text::CONTENT_TYPE)],
            text,
        )
            .into_response(),
        Err(error) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the metrics could not be encoded: {error}\n"),
        )
            .into_response(),
    }
}

/// `/healthz`: the process is up and its runtime answers.
async fn healthz() -> &'static str {
    "ok\n"
}

/// `/readyz`: 200 once the log is replayed into the graph and queries are
/// served, 503 before.
async fn readyz(State(state): State<HttpState>) -> (StatusCode, &'static str) {
    if state.shared.is_ready() {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the log is being replayed\n",
        )
    }
}

/// The figures `/metrics` reads from where they live.
fn sample(state: &HttpState) -> ServiceSample {
    let (graph_nodes, graph_edges, graph_applied_seq) = {
        let graph = state.shared.graph();
        (
            graph.node_count() as u64,
            graph.active_edge_count() as u64,
            graph.applied_seq(),
        )
    };
    let last_checkpoint = match state.log.last_checkpoint() {
        Ok(Some((_, bytes))) => SignedCheckpoint::from_bytes(&bytes)
            .ok()
            .map(|signed| (signed.checkpoint.seq, signed.checkpoint.signed_at)),
        Ok(None) => None,
        Err(error) => {
            debug!(%error, "the last checkpoint could not be read");
            None
        }
    };
    ServiceSample {
        ready: state.shared.is_ready(),
        graph_nodes,
        graph_edges,
        graph_applied_seq,
        status: state.shared.status(),
        last_checkpoint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_service::Service as _;

    async fn get(router: &mut Router, path: &str) -> (StatusCode, String) {
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .expect("a valid request");
        let response = router.call(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("a body");
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn ready_only_once_the_log_is_replayed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = lineage_log::Log::open(dir.path(), lineage_log::LogOptions::default())
            .expect("log opens");
        let shared = Arc::new(Shared::default());
        let mut router = router(HttpState {
            shared: shared.clone(),
            log: log.reader(),
            config: Arc::new(Config::for_tests("nats://127.0.0.1:1", dir.path().into())),
            access: Access::open(),
            nats: Arc::default(),
        });

        assert_eq!(get(&mut router, "/healthz").await.0, StatusCode::OK);
        assert_eq!(
            get(&mut router, "/readyz").await.0,
            StatusCode::SERVICE_UNAVAILABLE
        );
        let (status, text) = get(&mut router, "/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("\nlineage_ready 0\n"), "{text}");

        shared.set_ready();
        assert_eq!(get(&mut router, "/readyz").await.0, StatusCode::OK);
        let (_, text) = get(&mut router, "/metrics").await;
        assert!(text.contains("\nlineage_ready 1\n"), "{text}");
        assert_eq!(get(&mut router, "/nope").await.0, StatusCode::NOT_FOUND);
    }
}
