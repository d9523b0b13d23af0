//! `WatchImpact`: every entity that comes to be downstream of a root,
//! streamed as the graph applies it.
//!
//! What is downstream, since when and by which path is the domain's
//! (`lineage_core::watch`, pure and tested there); this file decides when
//! to look and streams what a look finds. A task per watch follows the
//! graph's applied sequence (the watch in `state.rs`): when it has moved
//! past what the watch has looked at, at most every [`LOOK_INTERVAL`]
//! (events applied meanwhile are taken in one look), the task takes a
//! query slot and looks, under the graph's read lock on the blocking pool,
//! then converts what it found [`CONVERT_CHUNK`] events at a time (a slot
//! each) into a channel of [`STREAM_BUFFER`] events that tonic drains as
//! fast as HTTP/2 flow control lets it. A watch holds a query slot only
//! while it computes; when none comes free it tries again after
//! [`BUSY_RETRY`], losing nothing. A look's work is bounded by the
//! traversal bounds (the server's `max_limit` nodes and `max_visits`), and
//! so is what it holds until sent.
//!
//! A client that takes nothing for the stall timeout (`--replay-stall-secs`)
//! gets, after what was buffered, DEADLINE_EXCEEDED naming the sequence to
//! resume after, and frees its watch slot; at shutdown a watch ends with
//! UNAVAILABLE naming it too. Resuming after `N` re-derives what became
//! downstream after `N` (what is downstream now and was not in the graph
//! as of `N`): nothing is lost, and what comes again is at most the
//! entities of the sequence after `N` that were sent before the cut (the
//! server names the sequence before the first event it could not send),
//! and rarely one whose sequence had to be raised (`lineage_core::watch`
//! says when). A `from_seq` the graph has not applied yet is waited for.
//! The root must exist when the watch starts (NOT_FOUND otherwise). At
//! most `--watch-concurrency` watches run at once; more answer
//! RESOURCE_EXHAUSTED.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::Stream;
use lineage_core::watch::{Arrival, ImpactWatch, Look};
use lineage_core::{AsOf, EdgeKinds, LineageGraph, NodeKinds, Walk};
use lineage_proto::convert::{self, View};
use lineage_proto::v1;
use lineage_proto::validate;
use tokio::sync::{OwnedSemaphorePermit, mpsc, oneshot, watch};
use tokio::time::Instant;
use tonic::{Request, Status};
use tracing::Instrument as _;

use super::{ApiError, Cost, LineageApi, find};
use crate::auth::{Role, caller};

/// Events queued for the client beyond the one being sent.
const STREAM_BUFFER: usize = 64;

/// The least time between two looks of one watch: events applied
/// meanwhile are found by one look rather than one each.
const LOOK_INTERVAL: Duration = Duration::from_millis(100);

/// How long a watch waits before asking again for a query slot the
/// service had none of.
const BUSY_RETRY: Duration = Duration::from_millis(250);

/// Events converted under one read lock (a page of basic entities).
const CONVERT_CHUNK: usize = 64;

/// How many reported entities a watch remembers (so as to report each
/// once), per entity its walk may reach.
const REPORTED_PER_NODE: usize = 2;

/// The stream of a watch.
pub type WatchImpactStream = Pin<Box<dyn Stream<Item = Result<v1::ImpactEvent, Status>> + Send>>;

/// Checks the request, the caller and the root, takes a watch slot and
/// starts the watch.
pub(super) async fn watch_impact(
    api: &LineageApi,
    request: Request<v1::WatchImpactRequest>,
) -> Result<WatchImpactStream, Status> {
    let caller = caller(&request)?;
    let request = request.into_inner();
    let key = validate::entity_key("root", request.root.as_ref()).map_err(ApiError::from)?;
    caller.may(Role::Reader, [&key.workspace])?;
    // The whole subgraph downstream is watched, up to the largest answer a
    // traversal may give.
    let spec = api.spec(
        Walk::Impact,
        request.max_depth,
        api.config.max_limit,
        EdgeKinds::lineage(),
        NodeKinds::all(),
    );
    let root = {
        let key = key.clone();
        api.query(None, Cost::Small, move |graph| find(&graph.present(), &key))
            .await?
    };
    let slot = api.watches.clone().try_acquire_owned().map_err(|_| {
        ApiError::Busy(format!(
            "all {} watch slots are taken; retry when a watch has ended",
            api.config.watch_concurrency
        ))
    })?;
    let watch = ImpactWatch::new(
        root,
        spec,
        request.from_seq,
        spec.max_nodes.saturating_mul(REPORTED_PER_NODE),
    );
    let span = tracing::info_span!("watch", root = %key, workspace = %key.workspace);
    Ok(start(api.clone(), watch, slot, span))
}

/// Starts the watch's task. `slot` is the watch's place among the
/// concurrent watches, held until the stream ends or its client goes away.
fn start(
    api: LineageApi,
    watch: ImpactWatch,
    slot: OwnedSemaphorePermit,
    span: tracing::Span,
) -> WatchImpactStream {
    let (events, receiver) = mpsc::channel(STREAM_BUFFER);
    let (ending, ended) = oneshot::channel();
    let watcher = Watcher {
        stall: api.config.replay_stall(),
        stopping: api.shared.subscribe_stopping(),
        api,
        watch: Arc::new(Mutex::new(watch)),
        events,
    };
    tokio::spawn(
        async move {
            let _slot = slot;
            let outcome = watcher.run().await;
            // Sent after the events already queued; the client may be gone.
            let _ = ending.send(outcome.err());
        }
        .instrument(span),
    );
    Box::pin(futures_util::stream::unfold(
        (receiver, Some(ended)),
        |(mut receiver, ended)| async move {
            if let Some(event) = receiver.recv().await {
                return Some((Ok(event), (receiver, ended)));
            }
            // Every event is sent: the status that ended the watch, if any.
            match ended?.await {
                Ok(Some(status)) => Some((Err(status), (receiver, None))),
                Ok(None) | Err(_) => None,
            }
        },
    ))
}

/// One watch's task.
struct Watcher {
    api: LineageApi,
    /// The domain's state of the watch: taken inside a look only, on the
    /// blocking pool (never across an `.await`).
    watch: Arc<Mutex<ImpactWatch>>,
    /// To the client's stream.
    events: mpsc::Sender<v1::ImpactEvent>,
    /// How long a full channel may wait for its client.
    stall: Duration,
    /// Turns true at shutdown.
    stopping: watch::Receiver<bool>,
}

/// Why a watch stopped before its end: the client went away (nothing to
/// tell it), or a status for it.
enum Stop {
    Gone,
    Status(Status),
}

impl Watcher {
    /// Looks whenever the graph moves and sends what is new, until the
    /// client goes away (`Ok`) or the watch must end (the status to end
    /// the stream with).
    async fn run(mut self) -> Result<(), Status> {
        match self.follow().await {
            Stop::Gone => Ok(()),
            Stop::Status(status) => Err(status),
        }
    }

    async fn follow(&mut self) -> Stop {
        let mut applied = self.api.shared.subscribe_applied();
        let mut last_look: Option<Instant> = None;
        let mut warned_truncated = false;
        loop {
            let (next_seq, processed) = {
                let watch = self.lock();
                (watch.next_seq(), watch.processed())
            };
            let moved = async {
                // The sender lives as long as the service's shared state.
                let _ = applied.wait_for(|&seq| seq >= next_seq).await;
                if let Some(last) = last_look {
                    tokio::time::sleep_until(last + LOOK_INTERVAL).await;
                }
            };
            if let Some(stop) = self.unless_ended(moved, processed).await {
                return stop;
            }
            last_look = Some(Instant::now());
            let look = match self.look(processed).await {
                Ok(look) => Arc::new(look),
                Err(stop) => return stop,
            };
            if look.truncated && !warned_truncated {
                warned_truncated = true;
                tracing::warn!(
                    "the subgraph downstream passes the traversal bounds; \
                     entities past them are not watched"
                );
            }
            for first in (0..look.arrivals.len()).step_by(CONVERT_CHUNK) {
                let resume = look.arrivals[first].seq.saturating_sub(1);
                let chunk = match self.convert(&look, first, resume).await {
                    Ok(chunk) => chunk,
                    Err(stop) => return stop,
                };
                for event in chunk {
                    if let Err(stop) = self.send(event).await {
                        return stop;
                    }
                }
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ImpactWatch> {
        self.watch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for `until`, unless the client goes away or the service shuts
    /// down first (then what ends the watch; `resume` is the sequence the
    /// client resumes after).
    async fn unless_ended(&mut self, until: impl Future<Output = ()>, resume: u64) -> Option<Stop> {
        tokio::select! {
            () = until => None,
            () = self.events.closed() => Some(Stop::Gone),
            _ = self.stopping.wait_for(|&stopping| stopping) => Some(Stop::Status(
                Status::unavailable(format!(
                    "lineaged is shutting down; resume with from_seq {resume}"
                )),
            )),
        }
    }

    /// Runs `answer` on the graph in a query slot (as a query of `cost`),
    /// waiting and asking again while the service has none free.
    async fn on_graph<T: Send + 'static>(
        &mut self,
        resume: u64,
        cost: Cost,
        answer: impl Fn(&LineageGraph) -> T + Clone + Send + 'static,
    ) -> Result<T, Stop> {
        loop {
            let attempt = answer.clone();
            match self
                .api
                .query(None, cost, move |graph| Ok(attempt(graph)))
                .await
            {
                Ok(answer) => return Ok(answer),
                Err(ApiError::Busy(_)) => {
                    if let Some(stop) = self
                        .unless_ended(tokio::time::sleep(BUSY_RETRY), resume)
                        .await
                    {
                        return Err(stop);
                    }
                }
                Err(error) => return Err(Stop::Status(error.into())),
            }
        }
    }

    /// One look at the graph (the domain's; a look that did not run leaves
    /// the watch as it was).
    async fn look(&mut self, processed: u64) -> Result<Look, Stop> {
        let watch = self.watch.clone();
        self.on_graph(processed, Cost::Large, move |graph| {
            watch
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .look(graph)
        })
        .await
    }

    /// The events of a look's arrivals from `first`, at most a chunk.
    async fn convert(
        &mut self,
        look: &Arc<Look>,
        first: usize,
        resume: u64,
    ) -> Result<Vec<v1::ImpactEvent>, Stop> {
        let look = look.clone();
        // A page of basic entities: inline when the graph is free.
        self.on_graph(resume, Cost::Small, move |graph| {
            let present = graph.present();
            let end = (first + CONVERT_CHUNK).min(look.arrivals.len());
            look.arrivals[first..end]
                .iter()
                .map(|arrival| impact_event(&present, &look, arrival))
                .collect()
        })
        .await
    }

    /// Queues an event for the client, waiting for room at most the stall
    /// timeout.
    async fn send(&mut self, event: v1::ImpactEvent) -> Result<(), Stop> {
        // Every event before this one is queued: those of its sequence may
        // not all be.
        let resume = event.seq.saturating_sub(1);
        let stall = self.stall;
        let events = &self.events;
        let sent = async {
            match tokio::time::timeout(stall, events.send(event)).await {
                Ok(Ok(())) => Ok(()),
                Ok(Err(_)) => Err(Stop::Gone),
                Err(_) => Err(Stop::Status(Status::deadline_exceeded(format!(
                    "the client took no event for {} s; resume with from_seq {resume}",
                    stall.as_secs()
                )))),
            }
        };
        tokio::select! {
            sent = sent => sent,
            _ = self.stopping.wait_for(|&stopping| stopping) => Err(Stop::Status(
                Status::unavailable(format!(
                    "lineaged is shutting down; resume with from_seq {resume}"
                )),
            )),
        }
    }
}

/// An arrival as sent: the entity BASIC, its path as references and edge
/// kinds.
fn impact_event(graph: &AsOf<'_>, look: &Look, arrival: &Arrival) -> v1::ImpactEvent {
    let path = look.path(arrival);
    v1::ImpactEvent {
        entity: Some(convert::entity_in_view(graph, arrival.node, View::Basic)),
        path: path
            .nodes
            .iter()
            .map(|&node| convert::entity_ref(graph.key(node)))
            .collect(),
        edges: path
            .edges
            .iter()
            .map(|&edge| convert::edge_kind(graph.graph().edge(edge).2.kind()) as i32)
            .collect(),
        seq: arrival.seq,
        root_flagged: arrival.root_flagged,
    }
}
