//! The gRPC adapter: `lineage.v1.LineageService` over the shared graph.
//!
//! Each handler parses its request into domain arguments (malformed input is
//! INVALID_ARGUMENT naming the field), then computes the answer on the
//! blocking pool under the graph's read lock, bounded by the query slots
//! (`slots`: a few at once, and a bounded queue for a slot, past which a
//! query is refused RESOURCE_EXHAUSTED) so a burst of heavy queries cannot
//! starve ingest or the runtime, nor queue without bound. Small queries
//! run inline instead, when the lock is free at once: one entity, a page of
//! at most 100 basic runs, and traversals and traces that finish within a
//! budget of visited nodes with a small answer (others are redone on the
//! pool, wasting at most that budget).
//!
//! Lists and subgraphs answer in the requested `EntityView`, BASIC unless
//! FULL is asked for; GetEntity, and a trace's model version and source
//! run, always answer FULL. Answers are written from the graph straight
//! into protobuf bytes under the read lock (`lineage_proto::encode`), which
//! is why the service trait is `lineage_proto::server`'s.
//!
//! `VerifyLog` and `Replay` read the log, not the graph: on the blocking
//! pool, one verification and a few replays at a time (`replay` says how a
//! replay is streamed).

mod compare;
mod error;
mod promotion;
mod replay;
mod search;
mod slots;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use lineage_core::diff::diff_model_versions;
use lineage_core::id;
use lineage_core::{
    AsOf, Cut, EdgeKinds, EntityKey, EventTime, LineageGraph, NodeKinds, Subgraph, TraversalSpec,
    Walk, Workspace,
};
use lineage_proto::convert::{self, EdgeForm, View};
use lineage_proto::encode::{
    self, EncodedEntity, EncodedModelTrace, EncodedRunsPage, EncodedSubgraph,
};
use lineage_proto::server::lineage_service_server::LineageService;
use lineage_proto::v1;
use lineage_proto::validate;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};
use tracing::instrument;

pub use error::ApiError;

use crate::auth::{Role, caller};
use crate::checkpoint;
use crate::config::Config;
use crate::redact;
use crate::state::Shared;
use lineage_log::LogReader;

/// The view of list and subgraph answers when a request leaves it
/// unspecified: a page of 100 full runs costs about 35 times more to build
/// (and far more to send and decode) than the names, markers and dates most
/// clients show (AIP-157).
const DEFAULT_LIST_VIEW: View = View::Basic;

/// The most kinds a request may list in a filter (there are fewer kinds than
/// this; longer lists are abuse, not intent).
const MAX_FILTER_ITEMS: usize = 32;

/// How much work a query's answer may take, which decides where it runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cost {
    /// Bounded to tens of microseconds by the request itself (one entity, or
    /// a page of at most [`SMALL_PAGE`] basic runs): runs inline on the
    /// runtime when the graph is free.
    Small,
    /// A traversal or anything else whose work the request does not bound
    /// tightly: always on the blocking pool.
    Large,
}

/// The largest page of basic runs answered inline (about 10 µs of work,
/// written from the graph).
const SMALL_PAGE: usize = 100;

/// The most nodes a traversal tried inline may visit (tens of
/// microseconds); one that needs more is redone on the blocking pool.
const INLINE_VISITS: usize = 256;

/// The most entities an answer converted inline may hold, by view.
fn inline_entities(view: View) -> usize {
    match view {
        View::Basic => SMALL_PAGE,
        View::Full => 10,
    }
}

/// Whether a traversal tried inline with a visit budget is the exact answer
/// to `spec` and small enough to convert on the runtime.
fn fits_inline(answer: &Subgraph, spec: &TraversalSpec, budget: usize, view: View) -> bool {
    let exact = answer.visits < budget || spec.max_visits <= budget;
    let small = inline_entities(view);
    exact && answer.nodes.len() <= small && answer.edges.len() <= 4 * small
}

/// `spec` with its visits capped at `budget`.
fn within(spec: &TraversalSpec, budget: usize) -> TraversalSpec {
    TraversalSpec {
        max_visits: spec.max_visits.min(budget),
        ..*spec
    }
}

/// The query service.
#[derive(Debug, Clone)]
pub struct LineageApi {
    /// The graph and ingest status.
    shared: Arc<Shared>,
    /// Limits and defaults for queries.
    config: Arc<Config>,
    /// Bounds the queries computed at once, and those waiting for a slot.
    slots: Arc<slots::QuerySlots>,
    /// The log, for verification.
    log: LogReader,
    /// One verification at a time: each reads the whole range it checks.
    verifying: Arc<Semaphore>,
    /// The replays streamed at once.
    replays: Arc<Semaphore>,
    /// The impact watches streamed at once.
    watches: Arc<Semaphore>,
    /// The key this service signs checkpoints and exports with, if any.
    signing_key: Option<Arc<ed25519_dalek::SigningKey>>,
    /// Its public half.
    checkpoint_key: Option<ed25519_dalek::VerifyingKey>,
}

impl LineageApi {
    pub fn new(
        shared: Arc<Shared>,
        config: Arc<Config>,
        log: LogReader,
        signing_key: Option<ed25519_dalek::SigningKey>,
    ) -> Self {
        let checkpoint_key = signing_key.as_ref().map(|key| key.verifying_key());
        let slots = Arc::new(slots::QuerySlots::new(
            config.query_concurrency as usize,
            config.request_timeout(),
        ));
        let replays = Arc::new(Semaphore::new(config.replay_concurrency.max(1) as usize));
        let watches = Arc::new(Semaphore::new(config.watch_concurrency.max(1) as usize));
        Self {
            shared,
            config,
            slots,
            log,
            verifying: Arc::new(Semaphore::new(1)),
            replays,
            watches,
            signing_key: signing_key.map(Arc::new),
            checkpoint_key,
        }
    }

    /// Read your writes: waits until the graph has applied `min_seq`, up to
    /// the request's deadline and the service's request timeout (a little
    /// less, so that this answer, which says how far the graph got, wins
    /// the race with the transport's own timeout).
    async fn caught_up(&self, min_seq: u64, deadline: Option<Duration>) -> Result<(), ApiError> {
        if min_seq == 0 {
            return Ok(());
        }
        let limit = deadline
            .map_or(self.config.request_timeout(), |deadline| {
                deadline.min(self.config.request_timeout())
            })
            .mul_f64(0.9);
        match tokio::time::timeout(limit, self.shared.wait_applied(min_seq)).await {
            Ok(()) => Ok(()),
            Err(_) => Err(ApiError::NotYet(format!(
                "min_seq {min_seq}: the graph has applied the log up to {} after {} ms",
                self.shared.graph_applied(),
                limit.as_millis()
            ))),
        }
    }

    /// The moment an `as_of` asks for. A log sequence, given or found as
    /// the last stored by a recorded time, is waited for as `min_seq` is:
    /// a view of records the graph has not applied would be short.
    async fn cut(
        &self,
        field: &str,
        as_of: Option<&v1::AsOf>,
        deadline: Option<Duration>,
    ) -> Result<Cut, ApiError> {
        let seq = match as_of.and_then(|as_of| as_of.point.as_ref()) {
            None => return Ok(Cut::Now),
            Some(v1::as_of::Point::Seq(seq)) => *seq,
            Some(v1::as_of::Point::OccurredBy(time)) => {
                let field = format!("{field}.occurred_by");
                let nanos = validate::request_time(&field, Some(time))?.unwrap_or_default();
                return Ok(Cut::Occurred(EventTime::from_unix_nanos(nanos)));
            }
            Some(v1::as_of::Point::RecordedAt(time)) => {
                let field = format!("{field}.recorded_at");
                let nanos = validate::request_time(&field, Some(time))?.unwrap_or_default();
                let log = self.log.clone();
                tokio::task::spawn_blocking(move || log.last_seq_recorded_by(nanos))
                    .await
                    .map_err(|error| ApiError::Internal(error.to_string()))?
                    .map_err(|error| ApiError::Storage(error.to_string()))?
            }
        };
        self.caught_up(seq, deadline).await?;
        Ok(Cut::Logged(seq))
    }

    /// The newest signed checkpoint stored, as sent.
    fn last_checkpoint(&self) -> Result<Option<v1::SignedCheckpoint>, ApiError> {
        let stored = self
            .log
            .last_checkpoint()
            .map_err(|error| ApiError::Storage(error.to_string()))?;
        Ok(stored.and_then(|(_, bytes)| {
            lineage_core::chain::SignedCheckpoint::from_bytes(&bytes)
                .ok()
                .map(|signed| convert::signed_checkpoint(&signed))
        }))
    }

    /// Runs `answer` against the graph: on the blocking pool, or for a
    /// [`Cost::Small`] query inline when the graph's lock is free at once
    /// (handing a few microseconds of work to another thread costs more
    /// than the work; waiting for the lock on the runtime would stall it).
    /// `deadline` is the client's, if it set one: a query does not wait for
    /// a slot past it.
    async fn query<T: Send + 'static>(
        &self,
        deadline: Option<Duration>,
        cost: Cost,
        answer: impl FnOnce(&LineageGraph) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let mut answer = Some(answer);
        self.query_within(deadline, move |graph, budget| match (cost, budget) {
            (Cost::Large, Some(_)) => None,
            _ => answer.take().map(|answer| answer(graph)),
        })
        .await
    }

    /// Runs `answer` against the graph, first inline within a budget of
    /// [`INLINE_VISITS`] nodes when the graph's lock is free at once, then,
    /// if the answer said it did not fit (`None`), on the blocking pool
    /// without a budget (`budget` is `None`; the answer must be `Some`).
    /// Most traversals are small: this answers them without a thread
    /// handoff, and wastes at most a budget's work on the large ones.
    async fn query_within<T: Send + 'static>(
        &self,
        deadline: Option<Duration>,
        mut answer: impl FnMut(&LineageGraph, Option<usize>) -> Option<Result<T, ApiError>>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        if !self.shared.is_ready() {
            return Err(ApiError::NotReady(
                "lineaged is replaying its log; retry shortly".into(),
            ));
        }
        let _permit = self.slots.acquire(deadline).await?;
        if let Some(graph) = self.shared.try_graph()
            && let Some(result) = answer(&graph, Some(INLINE_VISITS))
        {
            return result;
        }
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            answer(&shared.graph(), None)
                .unwrap_or_else(|| Err(ApiError::Internal("a query gave no answer".into())))
        })
        .await
        .map_err(|error| ApiError::Internal(format!("query task failed: {error}")))?
    }

    fn traversal_spec(
        &self,
        walk: Walk,
        request: &v1::TraversalRequest,
    ) -> Result<(EntityKey, TraversalSpec), ApiError> {
        let root = validate::entity_key("root", request.root.as_ref())?;
        if request.edge_kinds.len() > MAX_FILTER_ITEMS {
            return Err(ApiError::invalid(
                "edge_kinds",
                format!(
                    "lists {} kinds, the limit is {MAX_FILTER_ITEMS}",
                    request.edge_kinds.len()
                ),
            ));
        }
        if request.node_kinds.len() > MAX_FILTER_ITEMS {
            return Err(ApiError::invalid(
                "node_kinds",
                format!(
                    "lists {} kinds, the limit is {MAX_FILTER_ITEMS}",
                    request.node_kinds.len()
                ),
            ));
        }
        let edge_kinds = if request.edge_kinds.is_empty() {
            EdgeKinds::lineage()
        } else {
            let kinds = request
                .edge_kinds
                .iter()
                .enumerate()
                .map(|(i, &raw)| {
                    convert::edge_kind_from_wire(raw).ok_or_else(|| {
                        ApiError::invalid(
                            &format!("edge_kinds[{i}]"),
                            format!("{raw} is not an edge kind"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            EdgeKinds::of(kinds)
        };
        let node_kinds = if request.node_kinds.is_empty() {
            NodeKinds::all()
        } else {
            let kinds = request
                .node_kinds
                .iter()
                .enumerate()
                .map(|(i, &raw)| validate::entity_kind(&format!("node_kinds[{i}]"), raw))
                .collect::<Result<Vec<_>, _>>()?;
            NodeKinds::of(kinds)
        };
        Ok((
            root,
            self.spec(
                walk,
                request.max_depth,
                request.limit,
                edge_kinds,
                node_kinds,
            ),
        ))
    }

    /// A traversal spec with the server's defaults and maxima applied.
    fn spec(
        &self,
        walk: Walk,
        max_depth: u32,
        limit: u32,
        edge_kinds: EdgeKinds,
        node_kinds: NodeKinds,
    ) -> TraversalSpec {
        let config = &self.config;
        let max_depth = match max_depth {
            0 => config.default_depth,
            depth => depth.min(config.max_depth),
        };
        let max_nodes = match limit {
            0 => config.default_limit,
            limit => limit.min(config.max_limit),
        } as usize;
        TraversalSpec {
            walk,
            max_depth,
            edge_kinds,
            node_kinds,
            max_nodes,
            // Lineage graphs are sparse; four edges per node is generous and
            // keeps the answer's size proportional to its node bound.
            max_edges: max_nodes.saturating_mul(4),
            max_visits: config.max_visits as usize,
        }
    }

    async fn traverse(
        &self,
        walk: Walk,
        request: Request<v1::TraversalRequest>,
    ) -> Result<EncodedSubgraph, ApiError> {
        let deadline = grpc_timeout(request.metadata());
        let caller = caller(&request)?;
        let request = request.into_inner();
        let (root, spec) = self.traversal_spec(walk, &request)?;
        caller.may(Role::Reader, [&root.workspace])?;
        let view = list_view("view", request.view)?;
        let form = EdgeForm::from_wire(request.compact_edges);
        self.caught_up(request.min_seq, deadline).await?;
        let cut = self.cut("as_of", request.as_of.as_ref(), deadline).await?;
        self.query_within(deadline, move |graph, budget| {
            let graph = &graph.as_of(cut);
            let node = match find(graph, &root) {
                Ok(node) => node,
                Err(error) => return Some(Err(error)),
            };
            let answer = match budget {
                None => graph.traverse(node, &spec),
                Some(budget) => {
                    let answer = graph.traverse(node, &within(&spec, budget));
                    if !fits_inline(&answer, &spec, budget, view) {
                        return None;
                    }
                    answer
                }
            };
            Some(Ok(encode::subgraph(graph, &answer, view, form)))
        })
        .await
    }
}

fn find(graph: &AsOf<'_>, key: &EntityKey) -> Result<lineage_core::NodeIndex, ApiError> {
    graph.find(key).ok_or_else(|| {
        let ws = &key.workspace;
        ApiError::NotFound(match (graph.cut(), graph.graph().find(key)) {
            (Cut::Now, _) | (_, None) => format!("no {key} in workspace {ws}"),
            (Cut::Logged(seq), Some(_)) => {
                format!("no {key} in workspace {ws} as of log sequence {seq} (it came later)")
            }
            (Cut::Occurred(_), Some(_)) => {
                format!("no {key} in workspace {ws} by that event time (it happened later)")
            }
        })
    })
}

/// The entity view a list or subgraph request asks for, or the default.
fn list_view(field: &str, raw: i32) -> Result<View, ApiError> {
    match convert::view_from_wire(raw) {
        Ok(view) => Ok(view.unwrap_or(DEFAULT_LIST_VIEW)),
        Err(_) => Err(ApiError::invalid(
            field,
            format!("{raw} is not an entity view (ENTITY_VIEW_BASIC or ENTITY_VIEW_FULL)"),
        )),
    }
}

fn workspace(field: &str, raw: &str) -> Result<Workspace, ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    Workspace::parse(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}

fn checked(
    field: &str,
    raw: &str,
    check: fn(&str) -> Result<(), id::IdError>,
) -> Result<(), ApiError> {
    if raw.is_empty() {
        return Err(ApiError::invalid(field, "is required"));
    }
    check(raw).map_err(|e| ApiError::invalid(field, e.to_string()))
}

const PAGE_TOKEN_PREFIX: &str = "after:";

/// The id of the event stored at `seq`, from its idempotency key
/// (workspace, NUL, id).
fn event_id_at(log: &LogReader, seq: u64) -> Option<String> {
    let record = log.record(seq).ok()??;
    let at = record.key.iter().position(|&byte| byte == 0)?;
    String::from_utf8(record.key[at + 1..].to_vec()).ok()
}

/// The deadline a client set (the `grpc-timeout` header: up to eight
/// digits and a unit), if any.
fn grpc_timeout(metadata: &tonic::metadata::MetadataMap) -> Option<Duration> {
    let raw = metadata.get("grpc-timeout")?.to_str().ok()?;
    let unit_at = raw.len().checked_sub(1)?;
    let (digits, unit) = raw.split_at(unit_at);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value * 3600),
        "M" => Duration::from_secs(value * 60),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// Page tokens are opaque to clients: hex of the last run id returned.
fn encode_page_token(last_run_id: &str) -> String {
    hex::encode(format!("{PAGE_TOKEN_PREFIX}{last_run_id}"))
}

fn decode_page_token(token: &str) -> Result<Option<String>, ApiError> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || ApiError::invalid("page_token", "is not a token this service issued");
    let bytes = hex::decode(token).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let run_id = text.strip_prefix(PAGE_TOKEN_PREFIX).ok_or_else(invalid)?;
    id::check_run_id(run_id).map_err(|_| invalid())?;
    Ok(Some(run_id.to_owned()))
}

fn into_response<T>(result: Result<T, ApiError>) -> Result<Response<T>, Status> {
    result.map(Response::new).map_err(Status::from)
}

#[tonic::async_trait]
impl LineageService for LineageApi {
    #[instrument(skip_all, fields(entity))]
    async fn get_entity(
        &self,
        request: Request<v1::GetEntityRequest>,
    ) -> Result<Response<EncodedEntity>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let caller = caller(&request);
        let request = request.into_inner();
        let result = async {
            let key = validate::entity_key("entity", request.entity.as_ref())?;
            tracing::Span::current().record("entity", tracing::field::display(&key));
            caller?.may(Role::Reader, [&key.workspace])?;
            self.caught_up(request.min_seq, deadline).await?;
            let cut = self.cut("as_of", request.as_of.as_ref(), deadline).await?;
            self.query(deadline, Cost::Small, move |graph| {
                let graph = &graph.as_of(cut);
                Ok(encode::entity(graph, find(graph, &key)?))
            })
            .await
        }
        .await;
        into_response(result)
    }

    #[instrument(skip_all)]
    async fn provenance(
        &self,
        request: Request<v1::TraversalRequest>,
    ) -> Result<Response<EncodedSubgraph>, Status> {
        into_response(self.traverse(Walk::Provenance, request).await)
    }

    #[instrument(skip_all)]
    async fn impact(
        &self,
        request: Request<v1::TraversalRequest>,
    ) -> Result<Response<EncodedSubgraph>, Status> {
        into_response(self.traverse(Walk::Impact, request).await)
    }

    #[instrument(skip_all, fields(workspace, dataset, version))]
    async fn runs_using_dataset(
        &self,
        request: Request<v1::RunsUsingDatasetRequest>,
    ) -> Result<Response<EncodedRunsPage>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let caller = caller(&request);
        let request = request.into_inner();
        let result = async {
            let ws = workspace("workspace", &request.workspace)?;
            caller?.may(Role::Reader, [&ws])?;
            checked("dataset", &request.dataset, id::check_name)?;
            let version = if request.version.is_empty() {
                None
            } else {
                checked("version", &request.version, id::check_version)?;
                Some(request.version.clone())
            };
            let page_size = match request.page_size {
                0 => self.config.default_page_size,
                size if size > self.config.max_page_size => {
                    return Err(ApiError::invalid(
                        "page_size",
                        format!("{size} is above the limit of {}", self.config.max_page_size),
                    ));
                }
                size => size,
            } as usize;
            let after = decode_page_token(&request.page_token)?;
            let view = list_view("view", request.view)?;
            let span = tracing::Span::current();
            span.record("workspace", ws.as_str());
            span.record("dataset", request.dataset.as_str());
            span.record("version", request.version.as_str());
            self.caught_up(request.min_seq, deadline).await?;
            let cut = self.cut("as_of", request.as_of.as_ref(), deadline).await?;
            let dataset = request.dataset;
            let cost = if view == View::Basic && page_size <= SMALL_PAGE {
                Cost::Small
            } else {
                Cost::Large
            };
            self.query(deadline, cost, move |graph| {
                let graph = &graph.as_of(cut);
                let versions = graph.graph().dataset_versions(&ws, &dataset);
                let known = match (&version, versions) {
                    (_, None) => false,
                    (None, Some(versions)) => versions.values().any(|&v| graph.contains(v)),
                    (Some(version), Some(versions)) => {
                        versions.get(version).is_some_and(|&v| graph.contains(v))
                    }
                };
                if !known {
                    let what = match &version {
                        Some(version) => format!("dataset:{dataset}@{version}"),
                        None => format!("any version of dataset {dataset}"),
                    };
                    return Err(ApiError::NotFound(format!("no {what} in workspace {ws}")));
                }
                let (runs, more) = graph.runs_using_dataset(
                    &ws,
                    &dataset,
                    version.as_deref(),
                    after.as_deref(),
                    page_size,
                );
                let next_page_token = match (more, runs.last()) {
                    (true, Some(&last)) => encode_page_token(&graph.key(last).name),
                    _ => String::new(),
                };
                Ok(encode::runs_page(graph, &runs, view, &next_page_token))
            })
            .await
        }
        .await;
        into_response(result)
    }

    #[instrument(skip_all, fields(workspace, model, version))]
    async fn trace_model(
        &self,
        request: Request<v1::TraceModelRequest>,
    ) -> Result<Response<EncodedModelTrace>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let caller = caller(&request);
        let request = request.into_inner();
        let result = async {
            let ws = workspace("workspace", &request.workspace)?;
            caller?.may(Role::Reader, [&ws])?;
            checked("model", &request.model, id::check_name)?;
            checked("version", &request.version, id::check_version)?;
            let view = list_view("view", request.view)?;
            let form = EdgeForm::from_wire(request.compact_edges);
            self.caught_up(request.min_seq, deadline).await?;
            let cut = self.cut("as_of", request.as_of.as_ref(), deadline).await?;
            let key = EntityKey::model_version(&ws, &request.model, &request.version);
            let spec = self.spec(
                Walk::Provenance,
                0,
                0,
                EdgeKinds::lineage(),
                NodeKinds::all(),
            );
            self.query_within(deadline, move |graph, budget| {
                let graph = &graph.as_of(cut);
                let traced = find(graph, &key).and_then(|model| {
                    let spec = budget.map_or(spec, |budget| within(&spec, budget));
                    graph.trace_model(model, &spec).ok_or_else(|| {
                        ApiError::NotFound(format!(
                            "{key} is referenced in workspace {} but was never registered",
                            key.workspace
                        ))
                    })
                });
                let trace = match traced {
                    Ok(trace) => trace,
                    Err(error) => return Some(Err(error)),
                };
                if let Some(budget) = budget
                    && !(fits_inline(&trace.upstream, &spec, budget, view)
                        && trace.inputs.len() <= inline_entities(view))
                {
                    return None;
                }
                Some(Ok(encode::model_trace(graph, &trace, view, form)))
            })
            .await
        }
        .await;
        into_response(result)
    }

    #[instrument(skip_all)]
    async fn get_status(
        &self,
        request: Request<v1::GetStatusRequest>,
    ) -> Result<Response<v1::StatusResponse>, Status> {
        caller(&request)?.may(Role::Admin, [])?;
        let deadline = grpc_timeout(request.metadata());
        let include_digest = request.into_inner().include_state_digest;
        let ingest = self.shared.status();
        let ready = self.shared.is_ready();
        let (applied_seq, nodes, edges, state_digest) = if include_digest && ready {
            self.query(deadline, Cost::Large, |graph| {
                Ok((
                    graph.applied_seq(),
                    graph.node_count(),
                    graph.active_edge_count(),
                    hex::encode(graph.state_digest()),
                ))
            })
            .await?
        } else {
            let graph = self.shared.graph();
            (
                graph.applied_seq(),
                graph.node_count(),
                graph.active_edge_count(),
                String::new(),
            )
        };
        Ok(Response::new(v1::StatusResponse {
            applied_seq,
            head_hash: hex::encode(ingest.head_hash),
            nodes: nodes as u64,
            edges: edges as u64,
            dead_lettered: ingest.dead_lettered,
            duplicates: ingest.duplicates,
            state_digest,
            ready,
            ingest_connected: ingest.connected,
            ingest_error: ingest.last_error,
            // A log closed after a storage error shows no checkpoint: the
            // status must still answer, and say why ingest stopped.
            last_checkpoint: self.last_checkpoint().ok().flatten(),
            redactions_pending: ingest.redactions_pending,
            head_seq: ingest.head_seq,
            stream_last_seq: ingest.stream_last_seq,
            consumer_acked_seq: ingest.consumer_acked_seq,
            consumer_lag: ingest.consumer_lag,
        }))
    }

    #[instrument(skip_all)]
    async fn verify_log(
        &self,
        request: Request<v1::VerifyLogRequest>,
    ) -> Result<Response<v1::VerifyLogResponse>, Status> {
        caller(&request)?.may(Role::Auditor, [])?;
        let request = request.into_inner();
        let from = request.from_seq.max(1);
        let to = match request.to_seq {
            0 => u64::MAX,
            to => to,
        };
        if to < from {
            return Err(
                ApiError::invalid("to_seq", format!("{to} is before from_seq {from}")).into(),
            );
        }
        let permit = self.verifying.clone().try_acquire_owned().map_err(|_| {
            ApiError::Busy(
                "a log verification is already running; retry when it has finished".into(),
            )
        })?;
        // What the log must reach: the record asked for, or every record
        // stored when the request came (visible to readers by then).
        let must_reach = match request.to_seq {
            0 => self.shared.status().head_seq,
            to => to,
        };
        let checkpoint_key = match request.public_key.as_str() {
            "" => self.checkpoint_key,
            raw => Some(validate::public_key("public_key", raw).map_err(ApiError::from)?),
        };
        let reader = self.log.clone();
        // The permit goes with the work: a verification whose caller gave
        // up still holds the slot until it ends.
        let (verification, checkpoints, erasure_problem) = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let verification = reader.verify_range(from, to)?;
            let checkpoints = checkpoint_key
                .map(|key| checkpoint::check_checkpoints(&reader, &key, from, to))
                .transpose()?
                .unwrap_or_default();
            // The chain check took erased payloads on trust; each must still
            // commit to its record's content digest.
            let erasure_problem = redact::check_erased(&reader, from, to)?;
            Ok::<_, lineage_log::LogError>((verification, checkpoints, erasure_problem))
        })
        .await
        .map_err(|error| ApiError::Internal(error.to_string()))?
        .map_err(|error| ApiError::Storage(error.to_string()))?;
        let head = verification.head;
        let chain_problem = match verification.first_problem {
            Some((seq, problem)) => Some((seq, problem.to_owned())),
            None if head.seq < must_reach => Some((
                head.seq + 1,
                format!(
                    "the log ends at record {}, before record {must_reach}",
                    head.seq
                ),
            )),
            None => None,
        };
        // The problem nearest the start: past it, nothing is proven.
        let problem = [chain_problem, checkpoints.problem.clone(), erasure_problem]
            .into_iter()
            .flatten()
            .min_by_key(|(seq, _)| *seq);
        let (first_bad_seq, problem) = problem.unwrap_or_default();
        Ok(Response::new(v1::VerifyLogResponse {
            ok: problem.is_empty(),
            records_checked: verification.records_checked,
            verified_seq: head.seq,
            verified_hash: hex::encode(head.hash),
            first_bad_seq,
            problem,
            checkpoints_checked: checkpoints.checked,
            last_checkpoint_seq: checkpoints.last_seq,
            checkpoint_key: checkpoint_key
                .map(|key| hex::encode(key.to_bytes()))
                .unwrap_or_default(),
        }))
    }

    #[instrument(skip_all)]
    async fn diff_lineage(
        &self,
        request: Request<v1::DiffLineageRequest>,
    ) -> Result<Response<v1::LineageDiff>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let caller = caller(&request);
        let request = request.into_inner();
        let result = async {
            let model = |field: &str, entity: Option<&v1::EntityRef>| {
                let key = validate::entity_key(field, entity)?;
                if key.kind != lineage_core::EntityKind::ModelVersion {
                    return Err(ApiError::invalid(
                        &format!("{field}.kind"),
                        "a diff compares model versions",
                    ));
                }
                Ok(key)
            };
            let a = model("a", request.a.as_ref())?;
            let b = model("b", request.b.as_ref())?;
            caller?.may(Role::Reader, [&a.workspace, &b.workspace])?;
            let (_, spec) = self.traversal_spec(
                Walk::Provenance,
                &v1::TraversalRequest {
                    root: request.a,
                    max_depth: request.max_depth,
                    ..Default::default()
                },
            )?;
            self.caught_up(request.min_seq, deadline).await?;
            let cut_a = self
                .cut("a_as_of", request.a_as_of.as_ref(), deadline)
                .await?;
            let cut_b = self
                .cut("b_as_of", request.b_as_of.as_ref(), deadline)
                .await?;
            self.query(deadline, Cost::Large, move |graph| {
                let (view_a, view_b) = (graph.as_of(cut_a), graph.as_of(cut_b));
                let (a, b) = (find(&view_a, &a)?, find(&view_b, &b)?);
                let diff = diff_model_versions((view_a, a), (view_b, b), &spec)
                    .ok_or_else(|| ApiError::Internal("a model version without facts".into()))?;
                Ok(convert::lineage_diff(&graph.present(), &diff))
            })
            .await
        }
        .await;
        into_response(result)
    }

    #[instrument(skip_all)]
    async fn export_prov(
        &self,
        request: Request<v1::ExportProvRequest>,
    ) -> Result<Response<v1::ExportProvResponse>, Status> {
        let deadline = grpc_timeout(request.metadata());
        let caller = caller(&request);
        let request = request.into_inner();
        let result = async {
            let walk = match v1::ProvDirection::try_from(request.direction) {
                Ok(v1::ProvDirection::Unspecified | v1::ProvDirection::Upstream) => {
                    Walk::Provenance
                }
                Ok(v1::ProvDirection::Downstream) => Walk::Impact,
                Err(_) => {
                    return Err(ApiError::invalid(
                        "direction",
                        format!("{} is not a direction", request.direction),
                    ));
                }
            };
            let traversal = v1::TraversalRequest {
                root: request.root,
                max_depth: request.max_depth,
                limit: request.limit,
                ..Default::default()
            };
            let (root, spec) = self.traversal_spec(walk, &traversal)?;
            caller?.may(Role::Auditor, [&root.workspace])?;
            self.caught_up(request.min_seq, deadline).await?;
            let cut = self.cut("as_of", request.as_of.as_ref(), deadline).await?;
            // The events behind the subgraph are read from the log with the
            // graph's lock released (a large export reads thousands of
            // records): the walk is done once to learn their sequences, and
            // again to write the document, looking up any sequence the
            // graph gained in between.
            let (walk_root, walk_spec) = (root.clone(), spec);
            let seqs = self
                .query(deadline, Cost::Large, move |graph| {
                    let graph = &graph.as_of(cut);
                    let answer = graph.traverse(find(graph, &walk_root)?, &walk_spec);
                    let nodes = answer
                        .nodes
                        .iter()
                        .map(|&node| graph.graph().node(node).first_seq);
                    let edges = answer
                        .edges
                        .iter()
                        .map(|&edge| graph.edge(edge).2.first_seq());
                    Ok(nodes.chain(edges).collect::<Vec<u64>>())
                })
                .await?;
            let log = self.log.clone();
            let known = tokio::task::spawn_blocking(move || {
                seqs.into_iter()
                    .filter_map(|seq| Some((seq, event_id_at(&log, seq)?)))
                    .collect::<std::collections::HashMap<u64, String>>()
            })
            .await
            .map_err(|error| ApiError::Internal(error.to_string()))?;
            let log = self.log.clone();
            let (document, truncated, applied_seq) = self
                .query(deadline, Cost::Large, move |graph| {
                    let graph = &graph.as_of(cut);
                    let answer = graph.traverse(find(graph, &root)?, &spec);
                    let event_id =
                        |seq| known.get(&seq).cloned().or_else(|| event_id_at(&log, seq));
                    let document = lineage_proto::prov::document(graph, &answer, &event_id);
                    Ok((document, answer.truncated, graph.answered_seq()))
                })
                .await?;
            let (signature, public_key) = match &self.signing_key {
                Some(key) => {
                    use ed25519_dalek::Signer as _;
                    (
                        hex::encode(key.sign(document.as_bytes()).to_bytes()),
                        hex::encode(key.verifying_key().to_bytes()),
                    )
                }
                None => (String::new(), String::new()),
            };
            Ok(v1::ExportProvResponse {
                document,
                truncated,
                applied_seq,
                signature,
                public_key,
            })
        }
        .await;
        into_response(result)
    }

    type ReplayStream = replay::ReplayStream;

    #[instrument(skip_all)]
    async fn replay(
        &self,
        request: Request<v1::ReplayRequest>,
    ) -> Result<Response<Self::ReplayStream>, Status> {
        let caller = caller(&request)?;
        caller.may(Role::Auditor, [])?;
        let filter = replay::ReplayFilter::parse(request.get_ref())?.within(&caller)?;
        let slot = replay::try_slot(&self.replays)?;
        // Records stored by now are visible to readers.
        let filter = filter.up_to(self.shared.status().head_seq);
        Ok(Response::new(replay::start(
            self.log.clone(),
            filter,
            self.config.replay_stall(),
            slot,
        )))
    }

    #[instrument(skip_all, fields(workspace))]
    async fn search_runs(
        &self,
        request: Request<v1::SearchRunsRequest>,
    ) -> Result<Response<v1::SearchRunsResponse>, Status> {
        into_response(search::search_runs(self, request).await)
    }

    #[instrument(skip_all, fields(workspace))]
    async fn compare_runs(
        &self,
        request: Request<v1::CompareRunsRequest>,
    ) -> Result<Response<v1::RunComparison>, Status> {
        into_response(compare::comparison(self, request).await)
    }

    #[instrument(skip_all, fields(workspace))]
    async fn get_metric_history(
        &self,
        request: Request<v1::GetMetricHistoryRequest>,
    ) -> Result<Response<v1::MetricHistory>, Status> {
        into_response(compare::metric_history(self, request).await)
    }

    #[instrument(skip_all, fields(workspace))]
    async fn check_promotion(
        &self,
        request: Request<v1::CheckPromotionRequest>,
    ) -> Result<Response<v1::PromotionCheck>, Status> {
        into_response(promotion::check_promotion(self, request).await)
    }

    type WatchImpactStream = watch::WatchImpactStream;

    #[instrument(skip_all)]
    async fn watch_impact(
        &self,
        request: Request<v1::WatchImpactRequest>,
    ) -> Result<Response<Self::WatchImpactStream>, Status> {
        watch::watch_impact(self, request).await.map(Response::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_deadlines_are_read_from_grpc_timeout() {
        let deadline = |raw: &str| {
            let mut metadata = tonic::metadata::MetadataMap::new();
            metadata.insert("grpc-timeout", raw.parse().expect("ascii"));
            grpc_timeout(&metadata)
        };
        assert_eq!(deadline("1500m"), Some(Duration::from_millis(1500)));
        assert_eq!(deadline("2S"), Some(Duration::from_secs(2)));
        assert_eq!(deadline("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            deadline("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        assert_eq!(deadline("123456789m"), None, "more than eight digits");
        assert_eq!(deadline("10x"), None);
        assert_eq!(deadline("S"), None);
        assert_eq!(grpc_timeout(&tonic::metadata::MetadataMap::new()), None);
    }

    #[test]
    fn page_tokens_round_trip_and_reject_forgeries() {
        let token = encode_page_token("run-42");
        assert_eq!(
            decode_page_token(&token).expect("valid"),
            Some("run-42".to_owned())
        );
        assert_eq!(
            decode_page_token("").expect("empty is the first page"),
            None
        );
        assert!(decode_page_token("zz").is_err());
        assert!(decode_page_token(&hex::encode("run-42")).is_err());
        assert!(decode_page_token(&hex::encode("after:bad/run")).is_err());
    }

    #[test]
    fn only_exact_small_answers_are_kept_from_an_inline_attempt() {
        let spec = TraversalSpec {
            walk: Walk::Impact,
            max_depth: 64,
            edge_kinds: EdgeKinds::lineage(),
            node_kinds: NodeKinds::all(),
            max_nodes: 1_000,
            max_edges: 4_000,
            max_visits: 500_000,
        };
        let answer = |nodes: usize, visits: usize| Subgraph {
            nodes: vec![lineage_core::NodeIndex::new(0); nodes],
            visits,
            ..Subgraph::default()
        };
        let budget = INLINE_VISITS;
        assert!(fits_inline(&answer(11, 11), &spec, budget, View::Basic));
        // The budget may have stopped the walk: redo it without one.
        assert!(!fits_inline(
            &answer(11, budget),
            &spec,
            budget,
            View::Basic
        ));
        // Exact, but too many entities to convert on the runtime.
        assert!(!fits_inline(&answer(101, 200), &spec, budget, View::Basic));
        assert!(!fits_inline(&answer(11, 11), &spec, budget, View::Full));
        // The request's own visit bound is below the budget: the answer is
        // exact whatever stopped it.
        let tight = TraversalSpec {
            max_visits: 10,
            ..spec
        };
        assert!(fits_inline(&answer(10, 10), &tight, budget, View::Basic));
        assert_eq!(within(&spec, budget).max_visits, budget);
        assert_eq!(within(&tight, budget).max_visits, 10);
    }

    #[test]
    fn views_default_to_basic_and_reject_unknown_values() {
        assert_eq!(list_view("view", 0).expect("unspecified"), View::Basic);
        assert_eq!(
            list_view("view", v1::EntityView::Basic as i32).expect("basic"),
            View::Basic
        );
        assert_eq!(
            list_view("view", v1::EntityView::Full as i32).expect("full"),
            View::Full
        );
        match list_view("view", 7) {
            Err(ApiError::InvalidArgument { field, .. }) => assert_eq!(field, "view"),
            other => panic!("expected an invalid argument, got {other:?}"),
        }
    }
}
