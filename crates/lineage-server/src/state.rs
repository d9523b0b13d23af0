//! What the ingest loop and the query service share: the graph and the
//! ingest status.
//!
//! The graph sits behind a std `RwLock` that is only ever taken inside
//! synchronous code (a batch apply, a query on the blocking pool), never
//! across an `.await`, so queries and ingest interleave batch by batch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError};

use lineage_core::LineageGraph;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// Ingest figures for `GetStatus`.
#[derive(Debug, Clone, Default)]
pub struct IngestStatus {
    /// The log's head sequence and hash.
    pub head_seq: u64,
    pub head_hash: [u8; 32],
    /// Exact duplicates acknowledged, ever.
    pub duplicates: u64,
    /// Messages dead-lettered, ever.
    pub dead_lettered: u64,
    /// Whether the ingest loop currently holds its consumer.
    pub connected: bool,
    /// The last ingest problem; empty when healthy.
    pub last_error: String,
    /// Redactions stored whose erasures are not all done.
    pub redactions_pending: u64,
    /// The events stream's last sequence, the stream sequence through which
    /// every message is acknowledged (the consumer's ack floor), and the
    /// messages not acknowledged yet: how far ingest is behind, sampled
    /// from JetStream while the consumer is held
    /// ([`crate::metrics::ConsumerLagSampler`]); 0 before the first sample.
    pub stream_last_seq: u64,
    pub consumer_acked_seq: u64,
    pub consumer_lag: u64,
}

/// State shared by the ingest loop and the query service.
#[derive(Debug)]
pub struct Shared {
    /// The projection of the log.
    graph: RwLock<LineageGraph>,
    /// Set once the log has been replayed into the graph.
    ready: AtomicBool,
    /// Written by the ingest loop after each batch.
    status: Mutex<IngestStatus>,
    /// The graph's applied sequence, for requests that wait to read their
    /// own writes and for live watches.
    applied: watch::Sender<u64>,
    /// Turns true when the service begins to shut down, so that streams
    /// without an end of their own (`WatchImpact`) end and let the gRPC
    /// server finish.
    stopping: watch::Sender<bool>,
    /// What ingest and queries count and time, for `/metrics`.
    metrics: Metrics,
}

impl Default for Shared {
    fn default() -> Self {
        Self {
            graph: RwLock::default(),
            ready: AtomicBool::default(),
            status: Mutex::default(),
            applied: watch::Sender::new(0),
            stopping: watch::Sender::new(false),
            metrics: Metrics::default(),
        }
    }
}

impl Shared {
    /// Tells waiting requests that the graph has applied the log up to `seq`.
    pub fn publish_applied(&self, seq: u64) {
        self.applied.send_if_modified(|applied| {
            let moved = seq > *applied;
            *applied = (*applied).max(seq);
            moved
        });
    }

    /// The sequence last published by [`Shared::publish_applied`].
    pub fn graph_applied(&self) -> u64 {
        *self.applied.borrow()
    }

    /// Returns once the graph has applied the log up to `seq`.
    pub async fn wait_applied(&self, seq: u64) {
        let mut applied = self.applied.subscribe();
        // The sender lives as long as `self`, so this only ends by reaching `seq`.
        let _ = applied.wait_for(|applied| *applied >= seq).await;
    }

    /// The graph's applied sequence as it moves, for a stream that follows
    /// the graph (a new receiver has seen the current value).
    pub fn subscribe_applied(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Tells live streams that the service is shutting down.
    pub fn begin_shutdown(&self) {
        self.stopping.send_replace(true);
    }

    /// Turns true when the service begins to shut down.
    pub fn subscribe_stopping(&self) -> watch::Receiver<bool> {
        self.stopping.subscribe()
    }

    pub fn graph(&self) -> RwLockReadGuard<'_, LineageGraph> {
        // A panic while holding the lock would be a bug in the projection;
        // the graph is still the last consistent batch, so keep serving.
        self.graph
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The graph if it can be read without waiting (no batch is being
    /// applied): lets a small query run on the async runtime without ever
    /// blocking it.
    pub fn try_graph(&self) -> Option<RwLockReadGuard<'_, LineageGraph>> {
        match self.graph.try_read() {
            Ok(graph) => Some(graph),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    pub fn graph_mut(&self) -> RwLockWriteGuard<'_, LineageGraph> {
        self.graph
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn status(&self) -> IngestStatus {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn update_status(&self, update: impl FnOnce(&mut IngestStatus)) {
        update(
            &mut self
                .status
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
    }
}
